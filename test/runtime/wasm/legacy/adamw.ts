// The old AdamW kernel builder (src/train/optim.ts before the assembler), kept for the parity test only.
import { encodeModule, F32, I32, V128 } from './encoder.js';
import { F4, op, V_LOAD, V_STORE } from './columns.js';

// The SIMD kernel: one exported function `update(g, w, m, v, bytes, c1, b2, c2, bc2Sqrt, eps, decay, negStep)`
// over byte offsets into its own memory; `bytes` is a multiple of 16 (arrays are padded to 4 floats).
function kernelModule(): Uint8Array<ArrayBuffer> {
  const { get, set, tee } = op;
  const [G, W, M, V, N] = [0, 1, 2, 3, 4]; // i32 params
  const SC = [5, 6, 7, 8, 9, 10, 11]; // f32 params c1, b2, c2, bc2Sqrt, eps, decay, negStep
  const I = 12; // i32 local: byte index
  const [C1, B2, C2, BC, EPS, DEC, NEG, GV, MV, VV] = [13, 14, 15, 16, 17, 18, 19, 20, 21, 22]; // v128 locals
  const at = (base: number) => [...get(base), ...get(I), 0x6a]; // base + i
  const load = (base: number) => [...at(base), ...V_LOAD];
  const body = [
    ...SC.flatMap((p, j) => [...get(p), ...F4.splat, ...set(C1 + j)]),
    ...op.i32(0),
    ...set(I),
    0x02,
    0x40,
    0x03,
    0x40, // block, loop
    ...get(I),
    ...get(N),
    0x4f,
    0x0d,
    1, // if i >= bytes: break
    ...load(G),
    ...set(GV),
    // m = m + c1·(g − m)
    ...at(M),
    ...load(M),
    ...get(C1),
    ...get(GV),
    ...load(M),
    ...F4.sub,
    ...F4.mul,
    ...F4.add,
    ...tee(MV),
    ...V_STORE,
    // v = v·β2 + (c2·g)·g
    ...at(V),
    ...load(V),
    ...get(B2),
    ...F4.mul,
    ...get(C2),
    ...get(GV),
    ...F4.mul,
    ...get(GV),
    ...F4.mul,
    ...F4.add,
    ...tee(VV),
    ...V_STORE,
    // w = w·decay + (negStep·m) / (√v / bc + eps)
    ...at(W),
    ...load(W),
    ...get(DEC),
    ...F4.mul,
    ...get(NEG),
    ...get(MV),
    ...F4.mul,
    ...get(VV),
    ...F4.sqrt,
    ...get(BC),
    ...F4.div,
    ...get(EPS),
    ...F4.add,
    ...F4.div,
    ...F4.add,
    ...V_STORE,
    ...get(I),
    ...op.i32(16),
    0x6a,
    ...set(I), // i += 16
    0x0c,
    0,
    0x0b,
    0x0b, // br loop; end loop; end block
  ];
  return encodeModule([
    {
      name: 'update',
      params: [I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32],
      locals: [
        [1, I32],
        [10, V128],
      ],
      body,
    },
  ]);
}

export const legacyAdamW = kernelModule;
