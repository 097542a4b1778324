/**
 * Fleet telemetry: `cmcrd run … --publish mqtt://host:port/<prefix>` hands every JSON-lines event of the run to
 * this publisher (MQTT.js), which sends
 *   <prefix>/<device>/predictions   the `prediction` events                         QoS 1
 *   <prefix>/<device>/events        every other event (connect, gap, mode, battery, …, summary)   QoS 1
 *   <prefix>/<device>/status        retained: online with the last mode and battery; the last will
 *                                   (offline) when the connection drops without a goodbye
 * Each message is the event's JSON with `device`, `session` (this publisher's random id) and `seq` (1, 2, … per
 * session) added: QoS 1 delivers at least once, so consumers drop repeats by (session, seq).
 *
 * While the broker is away, messages wait in a bounded buffer (oldest dropped first when it is full, and every
 * drop counted) and go out in order once it is back. MQTT.js's own offline queue is not used for new messages, as
 * it has no bound; what it already holds in flight (sent, not yet acknowledged) it resends itself.
 *
 * TLS: mqtts:// (the system's CAs, or CMCRD_MQTT_CA: a PEM file). Credentials: user:password in the URL, or
 * CMCRD_MQTT_USERNAME / CMCRD_MQTT_PASSWORD. Node only (TLS files, the environment).
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { deviceTopic, parseMqttUrl, type MqttTarget } from './mqtt-url.node.js';

export { deviceTopic, parseMqttUrl, type MqttTarget } from './mqtt-url.node.js';

/** A `cmcrd run` event: a JSON object with a `type` (prediction, connect, gap, mode, battery, summary, …). */
export interface TelemetryEvent {
  type: string;
  [key: string]: unknown;
}

/** The connection options both the publisher and `cmcrd fleet` use (credentials, TLS, reconnect). */
export function clientOptions(t: MqttTarget, env: NodeJS.ProcessEnv, extra: IClientOptions): IClientOptions {
  const ca = t.tls && env.CMCRD_MQTT_CA ? readFileSync(env.CMCRD_MQTT_CA) : undefined;
  return {
    protocolVersion: 4,
    ...(t.username ? { username: t.username } : {}),
    ...(t.password ? { password: t.password } : {}),
    ...(ca ? { ca } : {}),
    ...extra,
  };
}

export interface MqttPublisherOptions {
  /** The device's id (a topic level; `/`, `+`, `#` are replaced). */
  device: string;
  env?: NodeJS.ProcessEnv;
  /** Most messages kept while the broker is away (default 10 000); older ones are dropped first. */
  bufferLimit?: number;
  /** Reconnect period and keep-alive (defaults 1000 ms, 15 s). */
  reconnectMs?: number;
  keepaliveS?: number;
}

export interface PublisherStats {
  /** Messages the broker acknowledged. */
  delivered: number;
  /** Waiting for the broker now (buffered while it is away, or sent and not acknowledged). */
  pending: number;
  /** Dropped because the buffer was full while the broker was away, or still buffered when the publisher closed. */
  dropped: number;
  connected: boolean;
  /** Times the connection was lost. */
  disconnects: number;
  lastError: string | null;
}

export interface MqttPublisher {
  readonly topics: { predictions: string; events: string; status: string };
  readonly stats: PublisherStats;
  /** Queue an event (an object, or one JSON line) for publishing; never throws for a broker problem. */
  publish(event: TelemetryEvent | string): void;
  /**
   * Wait (up to `timeoutMs`, default 5 s) for the buffer to drain, mark the device offline (retained) and
   * disconnect cleanly. Returns the final stats.
   */
  close(timeoutMs?: number): Promise<PublisherStats>;
}

interface Outgoing {
  topic: string;
  payload: string;
}

/** Connect to the broker of `url` and return a publisher for `opts.device` (it connects and reconnects in the background). */
export function createMqttPublisher(url: string, opts: MqttPublisherOptions): MqttPublisher {
  const env = opts.env ?? process.env;
  const target = parseMqttUrl(url, env);
  const device = deviceTopic(opts.device);
  const base = `${target.prefix}/${device}`;
  const topics = { predictions: `${base}/predictions`, events: `${base}/events`, status: `${base}/status` };
  const session = randomBytes(6).toString('hex');
  const limit = Math.max(1, opts.bufferLimit ?? 10_000);
  const stats: PublisherStats = { delivered: 0, pending: 0, dropped: 0, connected: false, disconnects: 0, lastError: null };
  const buffer: Outgoing[] = [];
  let inFlight = 0;
  let seq = 0;
  let closing = false;
  const status: Record<string, unknown> = { state: 'online', device, session, mode: null, battery: null, since: Date.now() };
  const offline = (reason: string) => JSON.stringify({ state: 'offline', device, session, reason, t: Date.now() });

  const client: MqttClient = mqtt.connect(
    target.brokerUrl,
    clientOptions(target, env, {
      clientId: `cmcrd-${device}-${session}`.slice(0, 64),
      clean: true,
      keepalive: opts.keepaliveS ?? 15,
      reconnectPeriod: opts.reconnectMs ?? 1000,
      connectTimeout: 10_000,
      queueQoSZero: false,
      will: { topic: topics.status, payload: Buffer.from(offline('connection lost')), qos: 1, retain: true },
    }),
  );
  const sync = () => {
    stats.pending = buffer.length + inFlight;
  };
  const send = (m: Outgoing, retain = false) => {
    inFlight++;
    client.publish(m.topic, m.payload, { qos: 1, retain }, (err) => {
      inFlight--;
      if (err) {
        stats.lastError = err.message;
        if (!closing) buffer.unshift(m); // not acknowledged: try again after reconnecting
      } else stats.delivered++;
      sync();
      drained();
    });
  };
  const flush = () => {
    while (stats.connected && buffer.length) send(buffer.shift()!);
    sync();
  };
  const publishStatus = () => {
    if (stats.connected) client.publish(topics.status, JSON.stringify({ ...status, t: Date.now() }), { qos: 1, retain: true }, () => {});
  };
  client.on('connect', () => {
    stats.connected = true;
    publishStatus();
    flush();
  });
  client.on('close', () => {
    if (stats.connected && !closing) stats.disconnects++;
    stats.connected = false;
  });
  client.on('error', (e) => {
    stats.lastError = e.message;
  });

  let waiters: Array<() => void> = [];
  const drained = () => {
    if (buffer.length + inFlight > 0) return;
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };

  return {
    topics,
    stats,
    publish(event) {
      if (closing) return;
      let e: TelemetryEvent;
      try {
        e = typeof event === 'string' ? (JSON.parse(event) as TelemetryEvent) : event;
      } catch {
        return; // not one of run's lines: nothing to publish
      }
      if (!e || typeof e.type !== 'string') return;
      let statusChanged = false;
      if (e.type === 'mode' && typeof e.to === 'string') {
        status.mode = e.to;
        statusChanged = true;
      } else if (e.type === 'prediction' && typeof e.mode === 'string' && status.mode !== e.mode) {
        status.mode = e.mode;
        statusChanged = true;
      } else if (e.type === 'battery' && (typeof e.percent === 'number' || e.percent === null)) {
        status.battery = { source: e.source ?? null, percent: e.percent, hoursToEmpty: e.hoursToEmpty ?? null };
        statusChanged = true;
      }
      const payload = JSON.stringify({ ...e, device, session, seq: ++seq });
      const m: Outgoing = { topic: e.type === 'prediction' ? topics.predictions : topics.events, payload };
      if (stats.connected && buffer.length === 0) send(m);
      else {
        buffer.push(m);
        while (buffer.length + inFlight > limit && buffer.length) {
          buffer.shift();
          stats.dropped++;
        }
        flush();
      }
      if (statusChanged) publishStatus();
      sync();
    },
    async close(timeoutMs = 5000) {
      if (closing) return stats;
      if (buffer.length + inFlight > 0 && stats.connected) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      closing = true;
      if (stats.connected)
        await new Promise<void>((resolve) => client.publish(topics.status, offline('stopped'), { qos: 1, retain: true }, () => resolve()));
      await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
      stats.connected = false;
      // What never reached the broker is lost now: counted with the drops.
      stats.dropped += buffer.length;
      buffer.length = 0;
      sync();
      return stats;
    },
  };
}
