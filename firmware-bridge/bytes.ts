/** Small byte helpers shared by codecs and capture files (browser-safe: no Buffer). */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function bytesToHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!];
  return s;
}

/** Parse lowercase or uppercase hex (even length, no separators); returns null when malformed. */
export function hexToBytes(hex: string): Uint8Array | null {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Short hex preview for error messages. */
export function hexPreview(bytes: Uint8Array, max = 24): string {
  const h = bytesToHex(bytes.subarray(0, max));
  return bytes.length > max ? `${h}… (${bytes.length} bytes)` : h;
}
