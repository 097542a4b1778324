/**
 * The systemd unit of a Pi bundle. install.sh fills @PREFIX@ (where the bundle is installed) and @NODE@ (the node
 * binary) when it installs the unit. Notes on the choices:
 * - noble reaches the adapter over raw HCI sockets, which need CAP_NET_RAW and CAP_NET_ADMIN: given as ambient
 *   capabilities to an unprivileged user, bounded to exactly those two.
 * - No MemoryDenyWriteExecute: V8's JIT needs writable-executable memory. No PrivateNetwork or PrivateDevices: the
 *   radio (AF_BLUETOOTH) and --serve need the host's. System calls outside @system-service fail with EPERM rather
 *   than killing the process (libuv falls back from io_uring on EPERM).
 * - Restarts are bounded (StartLimit…): a headband out of reach at boot is retried for a while, then the unit
 *   fails visibly instead of looping for ever (`systemctl reset-failed` + `restart` to retry).
 */
export interface UnitOptions {
  /** Service (and unit file) name, also the system user's and the state folder's. */
  name: string;
  user: string;
}

export const UNIT_PLACEHOLDERS = { prefix: '@PREFIX@', node: '@NODE@' } as const;

export function systemdUnit(o: UnitOptions): string {
  const state = `/var/lib/${o.name}`;
  return `# ${o.name}: cmcrd run as a service (written by cmcrd deploy pi; install.sh fills the paths).
[Unit]
Description=cmcrd run: EEG emotion predictions from a BLE headband (${o.name})
Documentation=file:@PREFIX@/README.md
Wants=bluetooth.target
After=bluetooth.target network.target
StartLimitIntervalSec=600
StartLimitBurst=10

[Service]
Type=simple
User=${o.user}
Group=${o.user}
WorkingDirectory=@PREFIX@
# Saved headbands (cmcrd pair's allow-list) and any --out files live in the state folder.
Environment=NODE_ENV=production
Environment=XDG_CONFIG_HOME=${state}/config
# CMCRD_DEVICE, CMCRD_CALIBRATION, CMCRD_ORT and CMCRD_ARGS (extra run options, e.g. --serve 0.0.0.0:8787).
EnvironmentFile=-/etc/default/${o.name}
ExecStart=@NODE@ @PREFIX@/main.js $CMCRD_ARGS
Restart=on-failure
RestartSec=20
TimeoutStopSec=20
StandardOutput=journal
StandardError=journal
SyslogIdentifier=${o.name}

AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN
CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN
NoNewPrivileges=yes
ProtectSystem=strict
StateDirectory=${o.name}
ReadWritePaths=${state}
ProtectHome=yes
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
ProtectProc=invisible
PrivateMounts=yes
RemoveIPC=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_BLUETOOTH
UMask=0027

[Install]
WantedBy=multi-user.target
`;
}
