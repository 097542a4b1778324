/**
 * `cmcrd fleet --subscribe mqtt://host:port/<prefix>`: a live table of the headbands that `cmcrd run --publish`
 * sends to that broker and prefix: last label, battery, mode, gaps, last seen (src/scale/fleet.ts). On a terminal
 * the table is redrawn every second; otherwise each change is a line (at most one per device per second), or with
 * --json one JSON object per change. --once-after S prints the table (or, with --json, the rows) after S seconds and
 * exits, for scripts and checks.
 */
import { Option, type Command } from 'commander';
import { parseMqttUrl } from '../../../runtime/telemetry/mqtt-url.node.js';
import { CliError } from '../errors.js';
import { numberOption } from '../options.js';
import { Interrupt } from '../progress.js';

type FleetFlags = { subscribe: string; json?: boolean; onceAfter?: number };

export function registerFleet(program: Command): void {
  program
    .command('fleet')
    .description('show the headbands publishing to an MQTT broker (cmcrd run --publish): last label, battery, mode, gaps, last seen')
    .addOption(
      new Option(
        '--subscribe <mqtt-url>',
        'broker and topic prefix: mqtt://host:port/<prefix> (mqtts:// for TLS; credentials in the URL or CMCRD_MQTT_USERNAME/PASSWORD)',
      )
        .makeOptionMandatory()
        .argParser((v: string) => {
          try {
            parseMqttUrl(v);
          } catch (e) {
            throw new CliError(`--subscribe: ${(e as Error).message}`);
          }
          return v;
        }),
    )
    .option('--json', 'one JSON object per device change on stdout (with --once-after: one array of the devices)')
    .addOption(
      numberOption('--once-after <s>', 'print the devices after this many seconds and exit', 'a positive number of seconds', (x) => x > 0),
    )
    .action(async (f: FleetFlags) => {
      const { watchFleet, fleetTable, fleetLine } = await import('../../scale/fleet.js');
      const out = process.stdout;
      const live = f.onceAfter === undefined;
      const tty = out.isTTY === true && !f.json;
      const lastPrinted = new Map<string, number>();
      const errors = new Set<string>();
      const watch = watchFleet(
        f.subscribe,
        (row) => {
          if (!live || tty) return;
          if (f.json) {
            out.write(JSON.stringify(row) + '\n');
            return;
          }
          const now = Date.now();
          if (now - (lastPrinted.get(row.device) ?? 0) < 1000) return;
          lastPrinted.set(row.device, now);
          out.write(fleetLine(row) + '\n');
        },
        process.env,
        (message) => {
          if (!errors.has(message)) process.stderr.write(`fleet: ${message}\n`);
          errors.add(message);
        },
        (topics) => process.stderr.write(`fleet: subscribed to ${topics.join(', ')} on ${parseMqttUrl(f.subscribe).display}\n`),
      );
      const interrupt = new Interrupt();
      const redraw = tty
        ? setInterval(() => out.write(`\x1b[H\x1b[2J${parseMqttUrl(f.subscribe).display}\n\n${fleetTable(watch.rows.values())}\n`), 1000)
        : null;
      await new Promise<void>((resolve) => {
        interrupt.onInterrupt(resolve);
        if (!live) setTimeout(resolve, f.onceAfter! * 1000);
      });
      if (redraw) clearInterval(redraw);
      interrupt.dispose();
      await watch.close();
      if (!live) out.write(f.json ? JSON.stringify([...watch.rows.values()]) + '\n' : fleetTable(watch.rows.values()) + '\n');
    });
}
