/**
 * The `--publish` / `--subscribe` URL of fleet telemetry: mqtt[s]://[user:password@]host[:port]/<prefix>, with
 * credentials from CMCRD_MQTT_USERNAME / CMCRD_MQTT_PASSWORD when the URL has none. Parsing only (no client is
 * loaded), so a CLI can check the option while it parses the command line.
 */
export interface MqttTarget {
  /** The broker's URL without the topic prefix or password (for messages). */
  display: string;
  brokerUrl: string;
  prefix: string;
  username?: string;
  password?: string;
  tls: boolean;
}

/** Parse `mqtt[s]://[user:password@]host[:port]/<prefix>`; the error says what is wrong. */
export function parseMqttUrl(text: string, env: NodeJS.ProcessEnv = process.env): MqttTarget {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(`not a URL: ${JSON.stringify(text)} (expected mqtt://host:port/<prefix>)`);
  }
  if (u.protocol !== 'mqtt:' && u.protocol !== 'mqtts:')
    throw new Error(`${JSON.stringify(text)}: the scheme must be mqtt:// or mqtts:// (TLS), got ${u.protocol}//`);
  if (!u.hostname) throw new Error(`${JSON.stringify(text)}: no host`);
  const prefix = decodeURIComponent(u.pathname.replace(/^\/+|\/+$/g, ''));
  if (!prefix) throw new Error(`${JSON.stringify(text)}: no topic prefix (mqtt://host:port/<prefix>, e.g. mqtt://broker:1883/lab)`);
  if (/[+#]/.test(prefix) || prefix.includes('//'))
    throw new Error(`${JSON.stringify(text)}: the topic prefix may not contain + or # or an empty level, got ${JSON.stringify(prefix)}`);
  const username = u.username ? decodeURIComponent(u.username) : env.CMCRD_MQTT_USERNAME;
  const password = u.password ? decodeURIComponent(u.password) : env.CMCRD_MQTT_PASSWORD;
  const port = u.port || (u.protocol === 'mqtts:' ? '8883' : '1883');
  return {
    display: `${u.protocol}//${u.hostname}:${port}/${prefix}`,
    brokerUrl: `${u.protocol}//${u.hostname}:${port}`,
    prefix,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    tls: u.protocol === 'mqtts:',
  };
}

/** A device id as one topic level: MQTT's wildcards and separators replaced. */
export function deviceTopic(device: string): string {
  const s = device.replace(/[+#/\u0000]/g, '_').trim();
  return s || 'device';
}
