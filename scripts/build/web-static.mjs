// Copies the web app's static files (page, stylesheet) next to its compiled scripts in dist/web/, so that
// `cmcrd deploy web` from an installed package (which ships dist/ only) finds them where a checkout has web/static/.
import { cpSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = join(root, 'dist', 'web', 'static');
rmSync(out, { recursive: true, force: true });
cpSync(join(root, 'web', 'static'), out, { recursive: true });
