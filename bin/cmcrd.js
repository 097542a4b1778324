#!/usr/bin/env node
// The compiled CLI (dist/, built by `npm run build`, which `npm install` runs through `prepare`).
try {
  await import('../dist/src/cli/bin.js');
} catch (e) {
  if (e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/src/cli/bin.js')) {
    process.stderr.write('cmcrd: the compiled CLI is missing (dist/); run `npm run build` in the package folder\n');
    process.exit(2);
  }
  throw e;
}
