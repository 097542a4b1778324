/**
 * install.sh of a Pi bundle (POSIX sh, runs on Pi OS / Debian): installs the locked native packages, prunes
 * onnxruntime-node's binaries to this host's platform and architecture, and installs the systemd service. Its last
 * line says what became of the service (`service: started | installed | skipped`), which `cmcrd deploy pi --ssh`
 * reads.
 */
export interface InstallScriptOptions {
  name: string;
  user: string;
  /** e.g. onnxruntime-web@1.30.0: installed on 32-bit ARM, where onnxruntime-node has no binary. */
  wasmRuntime: string;
  /** A device was baked into main.js, so the service can start without /etc/default/<name>. */
  hasDevice: boolean;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function installScript(o: InstallScriptOptions): string {
  return `#!/bin/sh
# Installs this cmcrd Pi bundle (written by cmcrd deploy pi). Usage: sh install.sh [--no-service]
#   1. npm ci --omit=dev: the locked native packages (onnxruntime-node, @stoprocent/noble)
#   2. 32-bit ARM (or CMCRD_ORT=web): onnxruntime-web (wasm), since onnxruntime-node has no armv7 build
#   3. removes onnxruntime-node's binaries for other platforms and architectures
#   4. with systemd: a system user, a copy in $CMCRD_PREFIX (default /opt/<name>), the unit, started
# Environment: CMCRD_PREFIX (install folder of the service), CMCRD_NO_SERVICE=1 (same as --no-service);
# CMCRD_SYSTEMD_RUN, CMCRD_UNIT_DIR, CMCRD_DEFAULTS_DIR (systemd's paths, for tests and unusual layouts).
set -eu
NAME=${q(o.name)}
SERVICE_USER=${q(o.user)}
WASM_RUNTIME=${q(o.wasmRuntime)}
HAS_DEVICE=${o.hasDevice ? 1 : 0}
PREFIX=\${CMCRD_PREFIX:-/opt/$NAME}
NO_SERVICE=\${CMCRD_NO_SERVICE:-}
SYSTEMD_RUN=\${CMCRD_SYSTEMD_RUN:-/run/systemd/system}
UNIT_DIR=\${CMCRD_UNIT_DIR:-/etc/systemd/system}
DEFAULTS_DIR=\${CMCRD_DEFAULTS_DIR:-/etc/default}
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"

say() { printf 'install.sh: %s\\n' "$*"; }
die() { printf 'install.sh: error: %s\\n' "$*" >&2; exit 1; }

for a in "$@"; do
  case "$a" in
    --no-service) NO_SERVICE=1 ;;
    -h | --help) sed -n '2,7p' "$0"; exit 0 ;;
    *) die "unknown option $a (usage: sh install.sh [--no-service])" ;;
  esac
done

command -v node >/dev/null 2>&1 || die "node is not installed: Node.js 20 or newer is needed (Pi OS: apt install nodejs npm, or NodeSource)"
command -v npm >/dev/null 2>&1 || die "npm is not installed (apt install npm)"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 20 ] || die "Node.js $(node --version) is too old: 20 or newer is needed"
PLATFORM=$(node -p process.platform)
ARCH=$(node -p process.arch)
say "node $(node --version) on $PLATFORM/$ARCH"

# onnxruntime-node's installer would try to download CUDA binaries; the CPU build ships in the package. The other
# install scripts (noble's, usb's, serialport's node-gyp-build) only compile when no prebuilt binding fits, and
# every Pi target has one: scripts stay off, so npm 9-11 all install the same files and nothing is downloaded or
# compiled (the checks below load the bindings instead).
export ONNXRUNTIME_NODE_INSTALL=skip ONNXRUNTIME_NODE_INSTALL_CUDA=skip
if [ -f package-lock.json ]; then
  npm ci --omit=dev --ignore-scripts --no-audit --no-fund
else
  say "no package-lock.json (the bundle was built offline): resolving the versions in package.json"
  npm install --omit=dev --ignore-scripts --no-audit --no-fund
fi
WANT_WEB=
case "\${CMCRD_ORT:-}" in web | wasm) WANT_WEB="CMCRD_ORT=\${CMCRD_ORT}" ;; esac
[ "$ARCH" = arm ] && WANT_WEB="32-bit ARM: onnxruntime-node has no build here"
if [ -n "$WANT_WEB" ]; then
  say "$WANT_WEB: installing $WASM_RUNTIME (main.js runs the model on its wasm build)"
  npm install --no-save --omit=dev --ignore-scripts --no-audit --no-fund "$WASM_RUNTIME"
  # Node loads dist/ort.node.min.* and the plain SIMD wasm build; the browser bundles, WebGPU/JSEP builds, source
  # maps and sources are 85 % of the package.
  for f in node_modules/onnxruntime-web/dist/*; do
    case "$(basename "$f")" in
      ort.node.min.mjs | ort.node.min.js | ort-wasm-simd-threaded.mjs | ort-wasm-simd-threaded.wasm) ;;
      *) rm -rf "$f" ;;
    esac
  done
  rm -rf node_modules/onnxruntime-web/lib node_modules/onnxruntime-web/docs
fi

# Keep only this host's onnxruntime-node binaries (the package ships ~6 platform/architecture builds).
before=$(du -sk node_modules | cut -f1)
for p in node_modules/onnxruntime-node/bin/napi-v*/*; do
  [ -d "$p" ] || continue
  if [ "$(basename "$p")" != "$PLATFORM" ]; then rm -rf "$p"; continue; fi
  for a in "$p"/*; do [ "$(basename "$a")" = "$ARCH" ] || rm -rf "$a"; done
done
# Prebuilt bindings of noble, usb, serialport (node-gyp-build folders such as linux-arm64, darwin-x64+arm64).
find node_modules -type d -name prebuilds | while read -r pb; do
  for d in "$pb"/*; do
    [ -d "$d" ] || continue
    case "$(basename "$d")" in
      "$PLATFORM-$ARCH" | "$PLATFORM-$ARCH+"* | "$PLATFORM-"*"+$ARCH") ;;
      *) rm -rf "$d" ;;
    esac
  done
done
after=$(du -sk node_modules | cut -f1)
say "node_modules: $before kB -> $after kB after keeping only $PLATFORM/$ARCH binaries"

# main.js loads the inference engine when it starts: --version proves the native binding loads here.
node main.js --version >/dev/null || die "main.js does not start on this host (see the error above)"
say "main.js starts (engine: $([ -n "$WANT_WEB" ] && echo onnxruntime-web || echo onnxruntime-node))"
if [ -d node_modules/@stoprocent/bluetooth-hci-socket ]; then
  if node -e "require('node-gyp-build')(require('path').resolve('node_modules/@stoprocent/bluetooth-hci-socket'))" 2>/dev/null; then
    say "noble's HCI socket binding loads"
  else
    say "warning: noble's HCI socket binding does not load on $PLATFORM/$ARCH: real headbands will not connect (sim: and replay: devices still work)"
  fi
fi

if [ -n "$NO_SERVICE" ]; then
  say "service step skipped (--no-service); run it in the foreground: node $HERE/main.js"
  say "done (service: skipped)"
  exit 0
fi
if [ ! -d "$SYSTEMD_RUN" ]; then
  say "systemd is not running on this host (no $SYSTEMD_RUN): service step skipped; run it in the foreground: node $HERE/main.js"
  say "done (service: skipped)"
  exit 0
fi

SUDO=
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO='sudo -n'; else die "the service step needs root: sudo sh $HERE/install.sh"; fi
fi
if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
  $SUDO useradd --system --user-group --home-dir "/var/lib/$NAME" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
  say "created system user $SERVICE_USER"
fi
# BlueZ's D-Bus policy lets the bluetooth group talk to the adapter (noble's D-Bus bindings).
if getent group bluetooth >/dev/null 2>&1; then $SUDO usermod -a -G bluetooth "$SERVICE_USER"; fi

if [ "$HERE" != "$PREFIX" ]; then
  if [ -e "$PREFIX" ] && ! grep -q '"bundle": "pi"' "$PREFIX/package.json" 2>/dev/null; then
    die "$PREFIX exists and is not a cmcrd Pi bundle; choose another CMCRD_PREFIX or remove it"
  fi
  $SUDO rm -rf "$PREFIX.new"
  $SUDO mkdir -p "$(dirname "$PREFIX")"
  $SUDO cp -a "$HERE" "$PREFIX.new"
  $SUDO systemctl stop "$NAME" 2>/dev/null || true
  $SUDO rm -rf "$PREFIX"
  $SUDO mv "$PREFIX.new" "$PREFIX"
fi
$SUDO chown -R root:root "$PREFIX"
$SUDO chmod -R u=rwX,go=rX "$PREFIX"

NODE_BIN=$(command -v node)
sed -e "s#@PREFIX@#$PREFIX#g" -e "s#@NODE@#$NODE_BIN#g" "$HERE/$NAME.service" | $SUDO tee "$UNIT_DIR/$NAME.service" >/dev/null
if [ ! -f "$DEFAULTS_DIR/$NAME" ]; then
  printf '%s\\n' "# Environment of the $NAME service (see $PREFIX/README.md); restart it after a change." \\
    "#CMCRD_DEVICE=sim:muse" "#CMCRD_CALIBRATION=" "#CMCRD_ORT=web" "#CMCRD_ARGS=--serve 0.0.0.0:8787" | $SUDO tee "$DEFAULTS_DIR/$NAME" >/dev/null
fi
$SUDO systemctl daemon-reload
$SUDO systemctl enable "$NAME" >/dev/null 2>&1
if [ "$HAS_DEVICE" = 1 ] || grep -q '^CMCRD_DEVICE=.' "$DEFAULTS_DIR/$NAME" 2>/dev/null; then
  $SUDO systemctl reset-failed "$NAME" 2>/dev/null || true
  $SUDO systemctl restart "$NAME"
  say "service $NAME installed in $PREFIX and (re)started; logs: journalctl -u $NAME -f"
  say "done (service: started)"
else
  say "service $NAME installed in $PREFIX but not started: no headband yet. Set CMCRD_DEVICE in $DEFAULTS_DIR/$NAME, then: sudo systemctl restart $NAME"
  say "done (service: installed)"
fi
`;
}
