/**
 * The service worker: after the first load the app works offline. On install it caches every file of the build
 * (page, scripts, model, engine wasm: the list and a cache name that changes with the build's contents are written
 * in by `cmcrd deploy web`); requests are then answered cache-first, and anything else of this origin fetched
 * once (e.g. the non-SIMD wasm on an old browser) is cached as it passes. A new build installs a new cache and
 * removes the old one.
 */

declare const __PRECACHE__: string[];
declare const __CACHE_NAME__: string;

// The part of ServiceWorkerGlobalScope used here (tsconfig's lib is DOM, not WebWorker).
interface ExtendableEventLike extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface FetchEventLike extends ExtendableEventLike {
  readonly request: Request;
  respondWith(r: Promise<Response>): void;
}
interface ServiceWorkerScope {
  readonly location: Location;
  readonly clients: { claim(): Promise<void> };
  skipWaiting(): Promise<void>;
  addEventListener(type: 'install' | 'activate', l: (e: ExtendableEventLike) => void): void;
  addEventListener(type: 'fetch', l: (e: FetchEventLike) => void): void;
}

const sw = self as unknown as ServiceWorkerScope;
const CACHE = __CACHE_NAME__;
const PREFIX = CACHE.replace(/-[^-]*$/, '-');

sw.addEventListener('install', (e) => {
  e.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(__PRECACHE__.map((p) => new URL(p, sw.location.href).href)))
      .then(() => sw.skipWaiting()),
  );
});

sw.addEventListener('activate', (e) => {
  e.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith(PREFIX) && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => sw.clients.claim()),
  );
});

sw.addEventListener('fetch', (e) => {
  const req = e.request;
  if (req.method !== 'GET' || new URL(req.url).origin !== sw.location.origin) return;
  e.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      // ignoreSearch: the page takes options in its query (?demo=…), the cached page is the same file.
      const hit = await cache.match(req, { ignoreSearch: true });
      if (hit) return hit;
      const res = await fetch(req);
      if (res.ok && res.type === 'basic') await cache.put(req, res.clone());
      return res;
    })(),
  );
});
