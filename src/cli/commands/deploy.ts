/**
 * `cmcrd deploy <target>`: from a model directory (`cmcrd export --out`) to something that runs on a device. Each
 * target is a subcommand added by its own module: `pi` (./deploy-pi.ts).
 */
import type { Command } from 'commander';
import { addDeployPi } from './deploy-pi.js';

export function registerDeploy(program: Command): void {
  const deploy = program.command('deploy').description('deploy a model directory to a device (pi: a Raspberry Pi service)');
  addDeployPi(deploy);
}
