/**
 * Idealised electrode positions for the synthetic wearer: every 10-10 site name maps to a point on a
 * 95-mm sphere, so the generative model gives any electrode (cap or headband) a signal consistent with
 * its neighbours. This is a geometric idealisation for simulation only (the accurate 10-05 template used
 * for montage mapping lives in firmware-bridge/montage).
 *
 * Model: each coronal row has a midline point (polar angle from the vertex along the sagittal plane) and
 * an equator point (the 10% circumference line) at a fixed azimuth; a site's lateral rank k (1,2 → 1;
 * 3,4 → 2; 5,6 → 3; 7,8 → 4 = equator; 9,10 → 5 = below it) places it along the great circle from the
 * midline point (k = 0) to the equator point (k = 4).
 */
export type Vec3 = readonly [number, number, number];

const HEAD_RADIUS_MM = 95;
// row: [midline polar angle from vertex (deg, + = front), equator azimuth from nasion (deg)]
const ROWS: Record<string, readonly [number, number]> = {
  FP: [90, 18],
  AF: [67.5, 36],
  F: [45, 54],
  FC: [22.5, 72],
  FT: [22.5, 72],
  C: [0, 90],
  T: [0, 90],
  CP: [-22.5, 108],
  TP: [-22.5, 108],
  P: [-45, 126],
  PO: [-67.5, 144],
  O: [-90, 162],
  CB: [-90, 162],
  I: [-112.5, 162],
};

function slerp(a: Vec3, b: Vec3, t: number): Vec3 {
  const dot = Math.min(1, Math.max(-1, a[0] * b[0] + a[1] * b[1] + a[2] * b[2]));
  const omega = Math.acos(dot);
  if (omega < 1e-9) return a;
  const sa = Math.sin((1 - t) * omega) / Math.sin(omega);
  const sb = Math.sin(t * omega) / Math.sin(omega);
  return [sa * a[0] + sb * b[0], sa * a[1] + sb * b[1], sa * a[2] + sb * b[2]];
}

/** Position (mm; x right, y front, z up) of a 10-10 site name such as "FP1", "AF7", "TP10", "CZ", "CB2". */
export function idealisedPosition(site: string): Vec3 {
  const m = /^([A-Z]+?)(Z|\d+)$/.exec(site.toUpperCase());
  if (!m) throw new RangeError(`unknown electrode site "${site}"`);
  const [, row, idx] = m as unknown as [string, string, string];
  const r = ROWS[row];
  if (!r) throw new RangeError(`unknown electrode row "${row}" in site "${site}"`);
  const [thetaDeg, phiDeg] = r;
  const theta = (thetaDeg * Math.PI) / 180;
  const midline: Vec3 = [0, Math.sin(theta), Math.cos(theta)];
  if (idx === 'Z') return scale(midline);
  const n = Number(idx);
  const side = n % 2 === 1 ? -1 : 1;
  let k = Math.ceil(n / 2);
  // Rows whose odd numbers start on the equator (Fp1, O1) or below it (CB1).
  if (row === 'FP' || row === 'O') k = 4;
  if (row === 'CB') k = 5;
  const phi = (phiDeg * Math.PI) / 180;
  const equator: Vec3 = [side * Math.sin(phi), Math.cos(phi), 0];
  if (thetaDeg === 90 || thetaDeg === -90) {
    // Midline point already on the equator: move along the equator, then below it.
    const p = slerp(midline, equator, 1);
    return scale(k > 4 ? slerp(p, [0, 0, -1], 0.25 * (k - 4)) : p);
  }
  return scale(slerp(midline, equator, k / 4));
}

function scale(v: Vec3): Vec3 {
  const n = Math.hypot(v[0], v[1], v[2]);
  return [(v[0] / n) * HEAD_RADIUS_MM, (v[1] / n) * HEAD_RADIUS_MM, (v[2] / n) * HEAD_RADIUS_MM];
}

export function distanceMm(a: Vec3, b: Vec3): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}
