/**
 * `cmcrd fleet`: the devices that publish under one MQTT prefix (runtime/telemetry/mqtt.node.ts), as a table kept
 * up to date from their status (retained), prediction and event topics. Repeats of a QoS 1 message are dropped by
 * (session, seq).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { clientOptions, parseMqttUrl } from '../../runtime/telemetry/mqtt.node.js';

export interface DeviceRow {
  device: string;
  /** online / offline (the last will, or a clean stop) from the retained status; null before any status. */
  state: string | null;
  label: string | null;
  battery: number | null;
  mode: string | null;
  /** Gap events seen, and the samples they lost. */
  gaps: number;
  lostSamples: number;
  predictions: number;
  /** When this device's last message arrived (ms since the epoch, this machine's clock). */
  lastSeen: number;
}

export interface FleetWatch {
  readonly rows: Map<string, DeviceRow>;
  /** Repeated QoS 1 deliveries dropped. */
  readonly duplicates: number;
  close(): Promise<void>;
}

const SEEN_KEPT = 4096;

export function watchFleet(
  url: string,
  onChange: (row: DeviceRow) => void,
  env: NodeJS.ProcessEnv = process.env,
  onError: (message: string) => void = () => {},
  onSubscribed: (topics: string[]) => void = () => {},
): FleetWatch {
  const t = parseMqttUrl(url, env);
  const rows = new Map<string, DeviceRow>();
  const seen = new Set<string>();
  const order: string[] = [];
  let duplicates = 0;
  const client: MqttClient = mqtt.connect(
    t.brokerUrl,
    clientOptions(t, env, { clean: true, reconnectPeriod: 1000, connectTimeout: 10_000 }),
  );
  const levels = t.prefix.split('/').length;
  client.on('connect', () => {
    const topics = [`${t.prefix}/+/status`, `${t.prefix}/+/predictions`, `${t.prefix}/+/events`];
    client.subscribe(topics, { qos: 1 }, (err) => {
      if (err) onError(`subscribe: ${err.message}`);
      else onSubscribed(topics);
    });
  });
  client.on('error', (e) => onError(e.message));
  client.on('message', (topic, payload) => {
    const parts = topic.split('/');
    const device = parts[levels];
    const kind = parts[levels + 1];
    if (!device || !kind) return;
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
    } catch {
      return;
    }
    if (kind !== 'status' && typeof m.session === 'string' && typeof m.seq === 'number') {
      const key = `${device}/${m.session}/${m.seq}`;
      if (seen.has(key)) {
        duplicates++;
        return;
      }
      seen.add(key);
      order.push(key);
      if (order.length > SEEN_KEPT) seen.delete(order.shift()!);
    }
    let row = rows.get(device);
    if (!row) {
      row = { device, state: null, label: null, battery: null, mode: null, gaps: 0, lostSamples: 0, predictions: 0, lastSeen: 0 };
      rows.set(device, row);
    }
    row.lastSeen = Date.now();
    if (kind === 'status') {
      if (typeof m.state === 'string') row.state = m.state;
      if (typeof m.mode === 'string') row.mode = m.mode;
      const b = m.battery as { percent?: unknown } | null | undefined;
      if (b && typeof b.percent === 'number') row.battery = b.percent;
    } else if (m.type === 'prediction') {
      row.predictions++;
      if (typeof m.label === 'string') row.label = m.label;
      if (typeof m.mode === 'string') row.mode = m.mode;
    } else if (m.type === 'gap') {
      row.gaps++;
      if (typeof m.lostSamples === 'number') row.lostSamples += m.lostSamples;
    } else if (m.type === 'mode' && typeof m.to === 'string') row.mode = m.to;
    else if (m.type === 'battery' && typeof m.percent === 'number') row.battery = m.percent;
    if (kind !== 'status' && row.state === null) row.state = 'online';
    onChange(row);
  });
  return {
    rows,
    get duplicates() {
      return duplicates;
    },
    close: () => new Promise<void>((resolve) => client.end(false, {}, () => resolve())),
  };
}

const ago = (ms: number, now: number) => {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : `${Math.floor(s / 3600)} h ago`;
};

/** The devices as an aligned text table, sorted by id. */
export function fleetTable(rows: Iterable<DeviceRow>, now = Date.now()): string {
  const head = ['device', 'state', 'label', 'battery', 'mode', 'gaps', 'last seen'];
  const body = [...rows]
    .sort((a, b) => a.device.localeCompare(b.device))
    .map((r) => [
      r.device,
      r.state ?? '?',
      r.label ?? '-',
      r.battery === null ? '-' : `${Math.round(r.battery)} %`,
      r.mode ?? '-',
      r.gaps ? `${r.gaps} (${r.lostSamples} samples)` : '0',
      ago(r.lastSeen, now),
    ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  return [head, ...body]
    .map((row) =>
      row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** One device as a line (not a TTY). */
export function fleetLine(r: DeviceRow): string {
  return `${r.device}: ${r.state ?? '?'}, label ${r.label ?? '-'}, battery ${r.battery === null ? '-' : `${Math.round(r.battery)} %`}, mode ${r.mode ?? '-'}, ${r.gaps} gap(s), ${r.predictions} prediction(s)`;
}
