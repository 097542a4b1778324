/**
 * The web app's icons, drawn at build time so no binary asset sits in the repository: a headband arc with two
 * ear pods over a line of EEG on the app's blue, anti-aliased by 4×4 supersampling, written as RGBA PNG with a
 * minimal encoder (IHDR, one zlib IDAT of unfiltered rows, IEND). Maskable icons keep the drawing inside the
 * central 80 % safe zone on a full-bleed background.
 */
import { deflateSync } from 'node:zlib';

type Rgba = [number, number, number, number];

const BG: Rgba = [0x1d, 0x35, 0x57, 255];
const BAND: Rgba = [0xf4, 0xf6, 0xfa, 255];
const WAVE: Rgba = [0x2a, 0x9d, 0x8f, 255];

/** Distance from p to the segment a–b. */
function segDist(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - ax - t * dx, py - ay - t * dy);
}

const WAVE_POINTS: [number, number][] = Array.from({ length: 49 }, (_, i) => {
  const x = 0.26 + (0.48 * i) / 48;
  const s = (x - 0.26) / 0.48;
  return [x, 0.66 + 0.07 * Math.sin(s * Math.PI * 5) * Math.sin(s * Math.PI) + 0.02 * Math.sin(s * Math.PI * 17)];
});

/** Colour at (x, y) in unit coordinates (0..1), or null for transparent. */
function shade(x: number, y: number, maskable: boolean): Rgba | null {
  if (!maskable) {
    // Rounded square background.
    const r = 0.2;
    const qx = Math.max(Math.abs(x - 0.5) - (0.5 - r), 0);
    const qy = Math.max(Math.abs(y - 0.5) - (0.5 - r), 0);
    if (Math.hypot(qx, qy) > r) return null;
  } else {
    // Content scaled into the safe zone.
    x = 0.5 + (x - 0.5) / 0.8;
    y = 0.5 + (y - 0.5) / 0.8;
  }
  const cx = 0.5;
  const cy = 0.6;
  const d = Math.hypot(x - cx, y - cy);
  if (y <= cy && Math.abs(d - 0.31) < 0.045) return BAND;
  for (const px of [cx - 0.31, cx + 0.31]) if (Math.hypot(x - px, y - (cy + 0.02)) < 0.075) return BAND;
  // The wave's points are evenly spaced in x (0.01 apart, the stroke is 0.022 wide): only segments near x can reach.
  const k = Math.floor(((x - 0.26) / 0.48) * (WAVE_POINTS.length - 1));
  for (let i = Math.max(1, k - 2); i <= Math.min(WAVE_POINTS.length - 1, k + 4); i++) {
    const [ax, ay] = WAVE_POINTS[i - 1]!;
    const [bx, by] = WAVE_POINTS[i]!;
    if (segDist(x, y, ax, ay, bx, by) < 0.022) return WAVE;
  }
  return BG;
}

/** RGBA pixels (row-major) of the icon at `size` × `size`. */
export function drawIcon(size: number, maskable = false): Uint8Array {
  const px = new Uint8Array(size * size * 4);
  const S = 4;
  for (let j = 0; j < size; j++) {
    for (let i = 0; i < size; i++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sj = 0; sj < S; sj++) {
        for (let si = 0; si < S; si++) {
          const c = shade((i + (si + 0.5) / S) / size, (j + (sj + 0.5) / S) / size, maskable);
          if (!c) continue;
          // Premultiplied accumulation, so edges against transparency keep their colour.
          r += c[0] * c[3];
          g += c[1] * c[3];
          b += c[2] * c[3];
          a += c[3];
        }
      }
      const o = (j * size + i) * 4;
      if (a > 0) {
        px[o] = Math.round(r / a);
        px[o + 1] = Math.round(g / a);
        px[o + 2] = Math.round(b / a);
      }
      px[o + 3] = Math.round(a / (S * S));
    }
  }
  return px;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** A PNG (8-bit RGBA, no interlace) of `rgba` pixels, row-major. */
export function encodePng(width: number, height: number, rgba: Uint8Array): Uint8Array {
  if (rgba.length !== width * height * 4) throw new RangeError(`encodePng: ${rgba.length} bytes for ${width}×${height} RGBA`);
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr.set([8, 6, 0, 0, 0], 8); // bit depth 8, colour type RGBA, deflate, adaptive filtering, no interlace
  const raw = new Uint8Array(height * (1 + width * 4));
  for (let y = 0; y < height; y++) raw.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), y * (1 + width * 4) + 1); // filter byte 0: none
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
