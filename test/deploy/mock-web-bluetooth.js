// A mocked navigator.bluetooth for the browser tests, injected with page.addInitScript (plain browser JavaScript:
// it is sent to the page as text). It behaves like Chrome where the app depends on it: requestDevice matches the
// filters and grants only the services listed in filters + optionalServices; one GATT operation at a time ("GATT
// operation already in progress" otherwise); a characteristic without the write property refuses writes with
// response; notifications set `value` and fire 'characteristicvaluechanged'. The device is a Muse that, once the
// start command "d" is written to its control characteristic, plays back recorded notifications in real time
// (DATA: { service, control, characteristics, notifications: [ms after start, uuid, hex] }); "h" stops it.
// What the page did is kept in window.__bluetooth for the test to read.
(function install(DATA) {
  const log = { requests: [], writes: [], notifying: [], delivered: 0, busyErrors: 0 };
  window.__bluetooth = log;
  const CONTROL = DATA.control;
  const fromHex = (h) => new Uint8Array(h.match(/../g).map((x) => parseInt(x, 16)));
  const domError = (name, message) => new DOMException(message, name);
  let busy = false;
  // Every GATT operation goes through here: overlapping ones fail as in Chrome.
  const gattOp = (fn) => {
    if (busy) {
      log.busyErrors++;
      return Promise.reject(domError('NetworkError', 'GATT operation already in progress.'));
    }
    busy = true;
    return new Promise((resolve, reject) =>
      setTimeout(() => {
        busy = false;
        try {
          resolve(fn());
        } catch (e) {
          reject(e);
        }
      }, 2),
    );
  };

  let granted = [];
  let timer = null;
  const chars = new Map();

  function play() {
    const t0 = performance.now();
    let i = 0;
    clearInterval(timer);
    timer = setInterval(() => {
      const now = performance.now() - t0;
      while (i < DATA.notifications.length && DATA.notifications[i][0] <= now) {
        const [, uuid, h] = DATA.notifications[i++];
        const c = chars.get(uuid);
        if (!c || !c.notifying || !device.gatt.connected) continue;
        const b = fromHex(h);
        c.value = new DataView(b.buffer);
        c.dispatchEvent(new Event('characteristicvaluechanged'));
        log.delivered++;
      }
      if (i >= DATA.notifications.length) clearInterval(timer);
    }, 10);
  }

  class Characteristic extends EventTarget {
    constructor(uuid) {
      super();
      this.uuid = uuid;
      this.value = null;
      this.notifying = false;
      this.properties =
        uuid === CONTROL
          ? { read: false, write: false, writeWithoutResponse: true, notify: true }
          : { read: false, write: false, writeWithoutResponse: false, notify: true };
    }
    readValue() {
      return Promise.reject(domError('NotSupportedError', 'GATT operation not permitted.'));
    }
    startNotifications() {
      return gattOp(() => {
        this.notifying = true;
        log.notifying.push(this.uuid);
        return this;
      });
    }
    stopNotifications() {
      return gattOp(() => {
        this.notifying = false;
        return this;
      });
    }
    writeValueWithResponse() {
      return Promise.reject(domError('NotSupportedError', 'GATT operation not permitted.'));
    }
    writeValueWithoutResponse(buf) {
      const b = new Uint8Array(buf instanceof ArrayBuffer ? buf : buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      return gattOp(() => {
        if (!this.properties.writeWithoutResponse) throw domError('NotSupportedError', 'GATT operation not permitted.');
        const cmd = String.fromCharCode(...b.slice(1, b.length - 1));
        log.writes.push(cmd);
        if (this.uuid === CONTROL && cmd === 'd') play();
        if (this.uuid === CONTROL && cmd === 'h') clearInterval(timer);
      });
    }
  }

  for (const u of DATA.characteristics) chars.set(u, new Characteristic(u));
  const service = { uuid: DATA.service, getCharacteristics: () => gattOp(() => [...chars.values()]) };

  const device = new EventTarget();
  device.id = 'mock-muse-1';
  device.name = 'Muse-MOCK';
  device.gatt = {
    connected: false,
    connect() {
      return gattOp(() => {
        device.gatt.connected = true;
        return device.gatt;
      });
    },
    disconnect() {
      if (!device.gatt.connected) return;
      device.gatt.connected = false;
      clearInterval(timer);
      device.dispatchEvent(new Event('gattserverdisconnected'));
    },
    getPrimaryServices() {
      return gattOp(() => (granted.includes(DATA.service) ? [service] : []));
    },
  };

  const bluetooth = {
    getAvailability: () => Promise.resolve(true),
    requestDevice(options) {
      log.requests.push(JSON.parse(JSON.stringify(options)));
      const filters = (options && options.filters) || [];
      const matches = filters.some(
        (f) => (f.services || []).includes(DATA.service) || (f.namePrefix && device.name.startsWith(f.namePrefix)),
      );
      if (!matches) return Promise.reject(domError('NotFoundError', 'User cancelled the requestDevice() chooser.'));
      granted = [...filters.flatMap((f) => f.services || []), ...((options && options.optionalServices) || [])];
      return Promise.resolve(device);
    },
  };
  Object.defineProperty(navigator, 'bluetooth', { value: bluetooth, configurable: true });
})(__DATA__);
