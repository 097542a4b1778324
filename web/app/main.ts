/**
 * The page (main thread): buttons, the Web Bluetooth connection (GATT objects can only live here), batteries and
 * the battery-aware mode, the service worker, and the rendering of what the worker posts. Decoding, features and
 * inference run in the worker (worker.js).
 */
import type { AppConfig, FromWorker, ToWorker } from '../protocol.js';
import { decideMode, watchPhoneBattery, type BatteryReading } from './battery-mode.js';
import { requestHeadband, type BluetoothLike } from '../../firmware-bridge/transports/web-bluetooth.js';
import { PeripheralHost } from './peripheral-host.js';
import { View } from './view.js';

const view = new View();
const button = (id: string) => document.getElementById(id) as HTMLButtonElement;
const batteries: Record<'headband' | 'phone', BatteryReading> = {
  headband: { percent: null, charging: null },
  phone: { percent: null, charging: null },
};
let host: PeripheralHost | null = null;
let running = false;
let source = '';
let windows = 0;

const updateMode = () => view.mode(decideMode(batteries));

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
  updateMode();
  void watchPhoneBattery(navigator, (r) => {
    batteries.phone = r;
    view.battery('phone', r.percent, r.charging);
    updateMode();
  }).then((ok) => {
    if (!ok) view.battery('phone', null);
  });
  const config = (await (await fetch('app.json')).json()) as AppConfig;
  document.title = config.title;
  const worker = new Worker(new URL('worker.js', location.href), { type: 'module', name: 'cmcrd-worker' });
  const send = (m: ToWorker) => worker.postMessage(m);

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
        if (m.p.headbandBattery !== null) {
          batteries.headband = { percent: m.p.headbandBattery, charging: null };
          view.battery('headband', m.p.headbandBattery);
          updateMode();
        }
        view.prediction(m.p);
        windows++;
        view.status(
          `${source}: ${windows} window${windows === 1 ? '' : 's'}, ${Math.round(m.p.t)} s${m.p.skipped ? ` — last window skipped (${m.p.skipped === 'gap' ? 'lost samples' : 'poor signal'})` : ''}`,
          'running',
        );
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
    // ?demo=<sim URI> overrides the built-in virtual headband (e.g. sim:muse?drop=0.05&battery=20).
    const uri = new URLSearchParams(location.search).get('demo') ?? undefined;
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
