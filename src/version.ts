import { createRequire } from 'node:module';

/**
 * This toolkit's version (package.json's): `cmcrd --version` and checkpoint provenance. Read through the package's
 * own "exports" entry for ./package.json, which resolves the same from src/ (tsx, vitest), dist/ and an installed copy.
 */
export const TOOLKIT_VERSION: string = (() => {
  try {
    const v = (createRequire(import.meta.url)('cmcrd-edge/package.json') as { version?: unknown }).version;
    return typeof v === 'string' ? v : 'unknown';
  } catch {
    return 'unknown';
  }
})();
