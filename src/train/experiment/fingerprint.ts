/** Content fingerprints: of a dataset (the teacher cache key, the check that `resume` continues on the same data) and of a supplied teacher. */
import type { Checkpoint } from '../../../export/checkpoint.js';
import type { EmotionDataset } from '../../datasets/types.js';

/**
 * FNV-1a over the dataset's labels, ids and feature bytes: the data part of the teacher cache key and of the
 * check that `resume` continues a run on the same data. Not memoised: a caller may edit a dataset in place.
 */
export function datasetFingerprint(ds: EmotionDataset): string {
  const enc = new TextEncoder();
  return fingerprint((feed) => {
    feed(enc.encode(JSON.stringify([ds.meta.dataset, ds.meta.channelNames, ds.meta.bandNames, ds.meta.eyeFeatures, ds.meta.feature])));
    for (const t of ds.trials) {
      feed(enc.encode(`${t.subject}/${t.session}/${t.trial}/${t.label}/${t.windows}`));
      feed(new Uint8Array(t.eeg.buffer, t.eeg.byteOffset, t.eeg.byteLength));
      if (t.eye) feed(new Uint8Array(t.eye.buffer, t.eye.byteOffset, t.eye.byteLength));
    }
  });
}

/** A supplied teacher's architecture and weights, so `resume` notices a different teacher. */
export function checkpointFingerprint(ck: Checkpoint): string {
  const enc = new TextEncoder();
  return fingerprint((feed) => {
    feed(enc.encode(JSON.stringify(ck.arch)));
    for (const name of Object.keys(ck.weights).sort()) {
      const w = ck.weights[name]!.data;
      feed(enc.encode(name));
      feed(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
    }
  });
}

/** Two FNV-1a streams over the bytes `body` feeds: 64 bits, as 16 hex digits. */
function fingerprint(body: (feed: (u: Uint8Array) => void) => void): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ 0x5bd1e995;
  body((u) => {
    for (let i = 0; i < u.length; i++) {
      h1 = Math.imul(h1 ^ u[i]!, 0x01000193) >>> 0;
      h2 = Math.imul(h2 ^ u[i]!, 0x01000193 ^ 0x2f) >>> 0;
    }
  });
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

/** FNV-1a of a string, 8 hex digits (cache file names). */
export function hashString(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}
