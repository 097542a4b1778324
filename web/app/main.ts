/**
 * The page (main thread): buttons, the Web Bluetooth connection (GATT objects can only live here), the phone's
 * battery (navigator.getBattery exists on the main thread only), the service worker, and the rendering of what the
 * worker posts. Decoding, features, inference and the battery-aware mode policy run in the worker (worker.js).
 */
import type { AppConfig, FromWorker, ModeView, ToWorker } from '../protocol.js';
import { requestHeadband, type BluetoothLike } from '../../firmware-bridge/transports/web-bluetooth.js';
import { browserBattery, type NavigatorWithBattery } from '../../runtime/battery/browser.js';
import type { BatteryReading } from '../../runtime/battery/monitor.js';
import { PeripheralHost } from './peripheral-host.js';
import { View } from './view.js';

const view = new View();
const button = (id: string) => document.getElementById(id) as HTMLButtonElement;
let host: PeripheralHost | null = null;
let running = false;
let source = '';
let windows = 0;
let mode: ModeView | null = null;

/**
 * Reads the phone's battery through the runtime's Battery API source now and on every change; false when the
 * browser has none (Battery Status API: Chromium, secure contexts).
 */
async function watchPhoneBattery(onReading: (r: BatteryReading) => void): Promise<boolean> {
  const nav = navigator as Navigator & NavigatorWithBattery;
  const battery = browserBattery(nav);
  if (!battery) return false;
  try {
    // The same BatteryManager the reader holds (getBattery returns one promise): only its events are used here.
    const manager = (await nav.getBattery!()) as Partial<EventTarget>;
    const read = () =>
      void battery.read().then(
        ([r]) => r && onReading(r),
        () => undefined,
      );
    manager.addEventListener?.('levelchange', read);
    manager.addEventListener?.('chargingchange', read);
    const [r] = await battery.read();
    if (r) onReading(r);
    return true;
  } catch {
    return false;
  }
}

function runningStatus(): string {
  const paused = mode?.paused ? ` — classification paused (${mode.to}): battery watch only` : '';
  return `${source}: ${windows} window${windows === 1 ? '' : 's'}${paused}`;
}

function setRunning(on: boolean): void {
  running = on;
  button('stop').disabled = !on;
}

async function registerServiceWorker(): Promise<void> {
  if (!('serviceWorker' in navigator)) return view.offline('this browser cannot work offline (no service worker)');
  try {
    await navigator.serviceWorker.register('sw.js', { scope: './' });
    await navigator.serviceWorker.ready;
    view.offline('available offline');
    document.body.dataset.offlineReady = 'true';
  } catch (e) {
    view.offline(`offline mode unavailable (${e instanceof Error ? e.message : String(e)})`);
  }
}

function install(): void {
  // Chromium offers installation through beforeinstallprompt; other browsers use their own menu.
  window.addEventListener('beforeinstallprompt', (ev) => {
    ev.preventDefault();
    const b = button('install');
    b.hidden = false;
    b.onclick = () => void (ev as Event & { prompt(): Promise<void> }).prompt();
  });
}

async function main(): Promise<void> {
  install();
  void registerServiceWorker();
  let phone: BatteryReading | null = null;
  let toWorker: ((m: ToWorker) => void) | null = null;
  void watchPhoneBattery((r) => {
    phone = r;
    view.battery('phone', r.percent, r.charging);
    toWorker?.({ type: 'phone-battery', reading: r });
  }).then((ok) => {
    if (!ok) view.battery('phone', null);
  });
  const config = (await (await fetch('app.json')).json()) as AppConfig;
  document.title = config.title;
  const worker = new Worker(new URL('worker.js', location.href), { type: 'module', name: 'cmcrd-worker' });
  const send = (m: ToWorker) => worker.postMessage(m);
  toWorker = send;
  if (phone) send({ type: 'phone-battery', reading: phone });

  worker.addEventListener('message', (ev: MessageEvent<FromWorker>) => {
    const m = ev.data;
    if (host?.handle(m)) return;
    switch (m.type) {
      case 'ready':
        view.setModel(m.model, m.engine);
        view.status(`Model ready (${Math.round(m.loadMs)} ms). Connect a headband, or try the demo.`, 'ready');
        button('demo').disabled = false;
        button('connect').disabled = false;
        document.body.dataset.ready = 'true';
        break;
      case 'started':
        setRunning(true);
        mode = null;
        source = m.mode === 'demo' ? `Demo (virtual ${m.kind})` : `${m.device} (${m.kind})`;
        windows = 0;
        view.status(
          m.mode === 'demo'
            ? `Demo: a virtual ${m.kind} headband (${m.device}). The first window takes a moment…`
            : `Streaming from ${m.device} (${m.kind}). The first window takes a few seconds…`,
          'running',
        );
        break;
      case 'prediction':
        if (m.p.headbandBattery !== null) view.battery('headband', m.p.headbandBattery);
        view.prediction(m.p);
        windows++;
        view.status(
          `${runningStatus()}, ${Math.round(m.p.t)} s${m.p.skipped ? ` — last window skipped (${m.p.skipped === 'gap' ? 'lost samples' : m.p.skipped === 'quality' ? 'poor signal' : 'the model failed'})` : ''}`,
          'running',
        );
        break;
      case 'mode':
        mode = m.m;
        view.mode(m.m);
        if (running) view.status(runningStatus(), 'running');
        break;
      case 'battery':
        if (m.b.source === 'headband') view.battery('headband', m.b.percent, m.b.charging);
        if (m.b.source === 'headband' || m.b.source === 'phone') view.drain(m.b.source, m.b);
        break;
      case 'link':
        view.status(`${source}: ${m.text}`, 'running');
        break;
      case 'warning':
        console.warn(m.message);
        break;
      case 'error':
        setRunning(false);
        view.status(m.message, 'error');
        break;
      case 'stopped':
        setRunning(false);
        void host?.close();
        host = null;
        view.status(`Stopped (${m.reason}).`, 'stopped');
        break;
      default:
        break;
    }
  });
  worker.addEventListener('error', (ev) => view.status(`the worker failed: ${ev.message}`, 'error'));

  button('demo').onclick = () => {
    view.reset();
    // ?demo=<sim URI>, last in the query, overrides the built-in virtual headband, encoded or not (e.g.
    // ?demo=sim:muse?battery=30&drain=600&speed=10: everything after "demo=" belongs to the URI).
    const raw = /[?&]demo=(.*)$/.exec(location.search)?.[1];
    let uri = raw;
    try {
      uri = raw ? decodeURIComponent(raw) : undefined;
    } catch {
      // not percent-encoded after all: the worker names what is wrong with the URI itself
    }
    send({ type: 'start-demo', ...(uri ? { uri } : {}) });
    view.status('Starting the demo…', 'running');
  };
  button('connect').onclick = async () => {
    view.reset();
    try {
      if (running) send({ type: 'stop' });
      // Must run inside the click: browsers only show the device chooser for a user gesture.
      const bluetooth = (navigator as Navigator & { bluetooth?: BluetoothLike }).bluetooth;
      view.status('Choose your headband…', 'running');
      const peripheral = await requestHeadband(bluetooth);
      host = new PeripheralHost(peripheral, worker);
      send({ type: 'start-remote', table: host.table });
      view.status(`Connected to ${peripheral.name}; starting…`, 'running');
    } catch (e) {
      view.status(`Could not connect: ${e instanceof Error ? e.message : String(e)}`, 'error');
    }
  };
  button('stop').onclick = () => send({ type: 'stop' });
}

main().catch((e: unknown) => view.status(`The app did not start: ${e instanceof Error ? e.message : String(e)}`, 'error'));
