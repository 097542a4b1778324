/**
 * Fleet telemetry on a real mosquitto (started here): topics, QoS 1, the retained status and the last will of a
 * publisher killed with SIGKILL, what `cmcrd fleet` shows, and the bounded buffer across a broker restart.
 */
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMqttPublisher, parseMqttUrl } from '../../../runtime/telemetry/mqtt.node.js';
import { cmcrd, killChildren, nodeChild, startMosquitto, type Server } from './servers.js';
import { modelDir, parseLines } from '../../runtime/run/helpers.js';

let broker: Server;

type Got = { topic: string; body: Record<string, unknown>; qos: number; retain: boolean };

async function subscriber(
  topic: string,
  opts: mqtt.IClientOptions = {},
): Promise<{ client: MqttClient; got: Got[]; until(pred: (g: Got[]) => boolean, ms?: number): Promise<void> }> {
  const client = mqtt.connect(broker.url, { reconnectPeriod: 200, ...opts });
  const got: Got[] = [];
  const waiters: Array<() => void> = [];
  client.on('message', (t, payload, packet: IPublishPacket) => {
    got.push({ topic: t, body: JSON.parse(payload.toString()), qos: packet.qos, retain: packet.retain });
    for (const w of [...waiters]) w();
  });
  await new Promise<void>((resolve, reject) =>
    client.once('connect', () => client.subscribe(topic, { qos: 1 }, (e) => (e ? reject(e) : resolve()))),
  );
  return {
    client,
    got,
    until: (pred, ms = 15_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out; got ${JSON.stringify(got.map((g) => [g.topic, g.body.type ?? g.body.state, g.body.seq]))}`)),
          ms,
        );
        const check = () => {
          if (!pred(got)) return;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          resolve();
        };
        waiters.push(check);
        check();
      }),
  };
}

const end = (c: MqttClient) => new Promise<void>((r) => c.end(false, {}, () => r()));

beforeAll(async () => {
  broker = await startMosquitto();
});
afterAll(async () => {
  killChildren();
  await broker?.dispose();
});

describe('MQTT fleet telemetry', () => {
  it('publishes predictions and events with QoS 1, a retained online status, the last will on SIGKILL; cmcrd fleet shows the device', async () => {
    const url = `${broker.url}/lab`;
    const fleet = cmcrd(['fleet', '--subscribe', url, '--json', '--once-after', '6']);
    const live = await subscriber('lab/#');
    await fleet.waitFor(/fleet: subscribed to lab\/\+\/status/);
    const pub = nodeChild(['--import', 'tsx', 'test/src/scale/fixtures/publish.ts', url, 'band/1']);
    await pub.waitFor(/delivered 11/);
    const on = (topic: string) => live.got.filter((g) => g.topic === topic);
    await live.until((g) => g.filter((x) => x.topic !== 'lab/band_1/status').length === 11);
    // The device id is one topic level ("/" replaced); each topic gets its events, in order, at QoS 1.
    expect(on('lab/band_1/predictions').map((g) => g.body.label)).toEqual(['neutral', 'sad', 'sad', 'fear', 'neutral', 'happy']);
    expect(on('lab/band_1/events').map((g) => g.body.type)).toEqual(['connect', 'mode', 'battery', 'gap', 'battery']);
    expect(live.got.every((g) => g.qos === 1)).toBe(true);
    const seqs = live.got.filter((g) => g.topic !== 'lab/band_1/status').map((g) => g.body.seq as number);
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    expect(new Set(live.got.map((g) => g.body.session)).size).toBe(1);
    // A late subscriber gets the retained status: online, with the last mode and battery.
    const late = await subscriber('lab/+/status');
    await late.until((g) => g.length > 0);
    expect(late.got[0]).toMatchObject({
      topic: 'lab/band_1/status',
      retain: true,
      qos: 1,
      body: { state: 'online', device: 'band_1', mode: 'full', battery: { percent: 80 } },
    });
    await end(late.client);
    // Killed without a goodbye: the broker publishes the last will, retained.
    pub.proc.kill('SIGKILL');
    await live.until((g) => g.some((x) => x.topic === 'lab/band_1/status' && x.body.state === 'offline'));
    const will = on('lab/band_1/status').at(-1)!;
    expect(will.body).toMatchObject({ state: 'offline', reason: 'connection lost' });
    const late2 = await subscriber('lab/+/status');
    await late2.until((g) => g.length > 0);
    expect(late2.got[0]).toMatchObject({ retain: true, body: { state: 'offline' } });
    await end(late2.client);
    await end(live.client);
    const { code } = await fleet.exited;
    expect(code, fleet.stderr()).toBe(0);
    const rows = JSON.parse(fleet.stdout().trim().split('\n').at(-1)!);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      device: 'band_1',
      state: 'offline',
      label: 'happy',
      battery: 80,
      mode: 'full',
      gaps: 1,
      lostSamples: 12,
      predictions: 6,
    });
    // The table form.
    const table = cmcrd(['fleet', '--subscribe', url, '--once-after', '1']);
    expect((await table.exited).code).toBe(0);
    expect(table.stdout()).toMatch(
      /^device\s+state\s+label\s+battery\s+mode\s+gaps\s+last seen\nband_1\s+offline\s+-\s+-\s+-\s+0\s+\d+ s ago$/m,
    );
  });

  it('buffers while the broker is away, up to its bound, dropping the oldest and counting them; the rest arrive after the restart', async () => {
    const url = `${broker.url}/lab`;
    // A durable subscriber (persistent session, QoS 1): the broker keeps its messages across the restart.
    const sub = await subscriber('lab/band-2/events', { clean: false, clientId: 'cmcrd-test-durable' });
    const pub = createMqttPublisher(url, { device: 'band-2', bufferLimit: 5, reconnectMs: 200 });
    const waitFor = async (pred: () => boolean, what: string) => {
      const until = Date.now() + 15_000;
      while (!pred()) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(pub.stats)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const ev = (i: number) => ({
      type: 'battery',
      t: i,
      source: 'headband',
      percent: 90 - i,
      charging: false,
      drainPerHour: null,
      hoursToEmpty: null,
      mode: 'full',
    });
    await waitFor(() => pub.stats.connected, 'the connection');
    pub.publish(ev(1));
    pub.publish(ev(2));
    await waitFor(() => pub.stats.delivered === 2, 'two deliveries');
    await broker.stop();
    await waitFor(() => !pub.stats.connected, 'the broker to be gone');
    for (let i = 3; i <= 10; i++) pub.publish(ev(i));
    expect(pub.stats).toMatchObject({ pending: 5, dropped: 3, connected: false });
    await broker.start();
    await waitFor(() => pub.stats.connected && pub.stats.pending === 0, 'the buffer to drain');
    await sub.until((g) => g.length >= 7);
    expect(sub.got.map((g) => g.body.seq)).toEqual([1, 2, 6, 7, 8, 9, 10]);
    expect(sub.got.map((g) => g.body.t)).toEqual([1, 2, 6, 7, 8, 9, 10]);
    const stats = await pub.close();
    expect(stats).toMatchObject({ delivered: 7, dropped: 3, pending: 0, disconnects: 1 });
    await end(sub.client);
    expect(() => parseMqttUrl('mqtt://host:1883')).toThrow(/no topic prefix/);
    expect(() => parseMqttUrl('http://host/x')).toThrow(/scheme must be mqtt:\/\/ or mqtts:\/\//);
    expect(parseMqttUrl('mqtts://h/lab/a', { CMCRD_MQTT_USERNAME: 'u', CMCRD_MQTT_PASSWORD: 'p' })).toMatchObject({
      brokerUrl: 'mqtts://h:8883',
      prefix: 'lab/a',
      username: 'u',
      password: 'p',
      tls: true,
    });
  });

  it('cmcrd run --publish sends every line it writes: predictions on /predictions, the rest on /events, and an online status', async () => {
    const url = `${broker.url}/ward`;
    const live = await subscriber('ward/#');
    const dir = await modelDir();
    const device = 'sim:muse?emotion=happy&seed=4';
    const r = cmcrd(['run', '--model', dir, '--device', device, '--duration', '40', '--speed', '200', '--publish', url]);
    const { code } = await r.exited;
    expect(code, r.stderr()).toBe(0);
    const lines = parseLines(r.stdout());
    const predictions = lines.filter((e) => e.type === 'prediction');
    expect(predictions.length).toBeGreaterThan(3);
    expect(r.stderr()).toMatch(
      new RegExp(`published to ${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${lines.length} messages delivered`),
    );
    const topic = (t: string) => live.got.filter((g) => g.topic.endsWith(t) && g.topic.startsWith('ward/'));
    await live.until(() => topic('/predictions').length + topic('/events').length >= lines.length);
    expect(topic('/predictions').length).toBe(predictions.length);
    expect(topic('/events').map((g) => g.body.type)).toEqual(lines.filter((e) => e.type !== 'prediction').map((e) => e.type));
    expect(topic('/events').at(-1)!.body.type).toBe('summary');
    expect(topic('/status').some((g) => g.body.state === 'online')).toBe(true);
    await end(live.client);
  });
});
