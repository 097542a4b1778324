/** README.md of a Pi bundle: what is in it, how to install, run, override and look after it, and the 32-bit path. */
export interface ReadmeOptions {
  name: string;
  user: string;
  toolkit: string;
  model: string;
  device?: string;
  calibration?: string;
  onnxruntimeNode: string;
  noble: string;
  wasmRuntime: string;
  /** The bundle folder's name (cmcrd deploy pi --out). */
  folder: string;
}

export function bundleReadme(o: ReadmeOptions): string {
  const dev = o.device ? `\`${o.device}\`` : 'none (set `CMCRD_DEVICE` or pass `--device`)';
  return `# ${o.name}: cmcrd run on a Raspberry Pi

Built by \`cmcrd deploy pi\` (cmcrd-edge ${o.toolkit}). \`main.js\` is \`cmcrd run\` with these options baked in:
model \`${o.model}\` (from this folder), device ${dev}${o.calibration ? `, calibration \`${o.calibration}\`` : ''}.

| file | what |
|---|---|
| \`main.js\` | the runtime (commands \`run\`, \`calibrate\`) bundled with esbuild: no tfjs, no training code |
| \`model/\` | the model directory (card.json, model.onnx, …) |
| \`package.json\`, \`package-lock.json\` | only the native packages: onnxruntime-node ${o.onnxruntimeNode}, @stoprocent/noble ${o.noble} |
| \`install.sh\` | \`npm ci\`, prune foreign binaries, system user \`${o.user}\`, systemd service \`${o.name}\` |
| \`${o.name}.service\` | the unit (paths filled in by install.sh) |

## Install

Needs Node.js 20 or newer and npm on the Pi (64-bit Pi OS: \`sudo apt install nodejs npm\` if its Node is ≥ 20,
otherwise NodeSource). From the machine with the toolkit: \`cmcrd deploy pi … --ssh pi@raspberrypi.local\` copies
this folder, runs install.sh and prints the service's status. By hand:

\`\`\`sh
scp -r ${o.folder} pi@raspberrypi.local:     # or any other copy
ssh pi@raspberrypi.local 'sudo sh ${o.folder}/install.sh'
\`\`\`

install.sh runs \`npm ci --omit=dev\` (with \`ONNXRUNTIME_NODE_INSTALL=skip\`: nothing is downloaded beyond the npm
registry), keeps only this host's onnxruntime-node and noble binaries, checks that \`main.js\` starts, then — when
systemd runs — copies the folder to \`/opt/${o.name}\` (\`CMCRD_PREFIX\` to change), creates the system user
\`${o.user}\`, installs and starts \`${o.name}.service\`. Without systemd (a container, a chroot) or with
\`--no-service\` it stops after the check and says "service step skipped".

## Run and override

\`\`\`sh
node main.js                                    # the baked options
node main.js --device 'sim:muse' --duration 60 --speed 10    # argv wins over the baked options
node main.js --serve 0.0.0.0:8787               # any cmcrd run option (node main.js run --help)
node main.js calibrate --seconds 60 --out calib.json         # a per-user baseline (then CMCRD_CALIBRATION)
\`\`\`

Precedence: command line > environment > baked. Environment: \`CMCRD_DEVICE\`, \`CMCRD_MODEL\`,
\`CMCRD_CALIBRATION\` (empty: none), \`CMCRD_ORT\` (\`node\` or \`web\`); for the service also \`CMCRD_ARGS\` (extra run
options). Predictions are JSON Lines on stdout (one per window, then a summary).

## The service

\`\`\`sh
systemctl status ${o.name}
journalctl -u ${o.name} -f                       # predictions and events (JSON Lines)
sudoedit /etc/default/${o.name}                  # CMCRD_DEVICE=…, CMCRD_ARGS=--serve 0.0.0.0:8787, …
sudo systemctl restart ${o.name}
\`\`\`

It runs as \`${o.user}\` with only \`CAP_NET_RAW\` and \`CAP_NET_ADMIN\` (what noble needs for raw HCI sockets), a
read-only system (\`ProtectSystem=strict\`) except \`/var/lib/${o.name}\`, which is its \`XDG_CONFIG_HOME\` parent:
saved headbands go to \`/var/lib/${o.name}/config/cmcrd/devices.json\`. It restarts on failure, at most 10 times in
10 minutes; then \`sudo systemctl reset-failed ${o.name}\` and restart it. To run \`node main.js\` in the foreground as
a normal user with a real headband, give node the same capabilities:
\`sudo setcap cap_net_raw,cap_net_admin+eip "$(readlink -f "$(command -v node)")"\`.

Uninstall: \`sudo systemctl disable --now ${o.name}; sudo rm -rf /opt/${o.name} /etc/systemd/system/${o.name}.service
/etc/default/${o.name} /var/lib/${o.name}; sudo userdel ${o.user}\`.

## 32-bit Pi OS (armv7)

onnxruntime-node publishes no 32-bit ARM build. On such a host (\`node -p process.arch\` prints \`arm\`) install.sh
also installs \`${o.wasmRuntime}\` (pruned to what Node loads: its Node entry and the SIMD wasm build, ~14 MB of
~150 MB) and main.js runs the model on onnxruntime-web's WebAssembly build inside Node, on one thread. Any host can
do the same: \`CMCRD_ORT=web sh install.sh\` installs it, \`CMCRD_ORT=web\` (in the shell, or in
/etc/default/${o.name} for the service) makes main.js use it; \`CMCRD_ORT=node\` forces the native engine. The
wasm build needs WebAssembly SIMD, i.e. an ARMv7 CPU with NEON (Pi 2, 3, 4, Zero 2 on 32-bit Pi OS); ARMv6 boards
(Pi 1, Zero) have neither NEON nor an official Node.js 20 build. The wasm engine is slower than the native one, and
int8 models can be slower than fp32 on it: if the card names an int8 variant as the faster one, compare
\`--policy fixed:performance\` (model.onnx) with the default.
`;
}
