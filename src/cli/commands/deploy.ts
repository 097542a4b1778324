/**
 * `cmcrd deploy <target>`: from a model directory (`cmcrd export --out`) to something that runs on a device. Each
 * target is a subcommand whose builder lives in its own module: `web` (an installable phone web app,
 * ./deploy-web.ts) and `pi` (a Raspberry Pi service folder, ./deploy-pi.ts).
 */
import type { Command } from 'commander';
import { choiceOption } from '../options.js';
import { buildWebApp, WEB_ENGINES, type WebEngine } from './deploy-web.js';
import { addDeployPi } from './deploy-pi.js';

const kb = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`);

export function registerDeploy(program: Command): void {
  const deploy = program
    .command('deploy')
    .description('deploy a model directory to a device (web: an installable phone web app; pi: a Raspberry Pi service)');
  deploy
    .command('web')
    .description('build an installable, offline-capable phone web app (PWA) with Web Bluetooth and a demo mode')
    .requiredOption('--model <dir>', 'model directory (cmcrd export <checkpoint> --out <dir>)')
    .requiredOption('--out <dir>', 'folder for the app (serve it with cmcrd serve <dir>)')
    .addOption(
      choiceOption(
        '--engine <engine>',
        'inference engine: ort (onnxruntime-web) or tfjs (GraphModel on tfjs wasm; a much smaller download)',
        WEB_ENGINES,
      ).default('ort'),
    )
    .option('--force', 'replace a non-empty --out')
    .option('--json', 'print the build summary as JSON')
    .action(async (o: { model: string; out: string; engine: WebEngine; force?: boolean; json?: boolean }) => {
      const b = await buildWebApp({ model: o.model, out: o.out, engine: o.engine, ...(o.force ? { force: true } : {}) });
      if (o.json) {
        process.stdout.write(JSON.stringify(b) + '\n');
        return;
      }
      const w = Math.max(...b.files.map((f) => f.path.length));
      const lines = [
        `wrote ${b.out}/ (engine ${b.engine}, model variant ${b.variant})`,
        `  ${'file'.padEnd(w)}  ${'size'.padStart(9)}  ${'gzip'.padStart(9)}`,
      ];
      for (const f of b.files)
        lines.push(
          `  ${f.path.padEnd(w)}  ${kb(f.bytes).padStart(9)}  ${kb(f.gzipBytes).padStart(9)}${f.firstLoad ? '' : '  (only if needed)'}`,
        );
      lines.push(`  first load: ${kb(b.firstLoad.bytes)} (${kb(b.firstLoad.gzipBytes)} gzip)`);
      for (const n of b.notes) lines.push(`note: ${n}`);
      lines.push(`serve it: cmcrd serve ${o.out}   (a phone on the LAN: cmcrd serve ${o.out} --host 0.0.0.0 --https)`);
      process.stdout.write(lines.join('\n') + '\n');
    });
  addDeployPi(deploy);
}
