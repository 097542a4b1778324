/**
 * A small builder for ONNX graphs on top of onnx-proto (protobufjs static code of onnx.proto). Target:
 * IR 8, opset 17 — accepted by onnxruntime ≥ 1.14 in Node and on the web.
 */
import onnxProto from 'onnx-proto';

// onnx-proto is CommonJS: in native ESM its namespace arrives as the default export.
export const onnx = (onnxProto as unknown as { onnx: typeof import('onnx-proto').onnx }).onnx;

export const IR_VERSION = 8;
export const OPSET = 17;

/** What a GraphBuilder recorded, for emitters of other formats (the tfjs GraphModel writer). */
export interface GraphIR {
  nodes: { opType: string; inputs: string[]; output: string; attrs: Record<string, number | number[]> }[];
  floats: Map<string, { dims: number[]; data: Float32Array }>;
  ints: Map<string, { dims: number[]; values: number[] }>;
  inputs: { name: string; dims: number[] }[];
  outputs: { name: string; dims: number[] }[];
}

export class GraphBuilder {
  /** The graph as recorded (same content as the ModelProto that build() encodes). */
  readonly ir: GraphIR = { nodes: [], floats: new Map(), ints: new Map(), inputs: [], outputs: [] };
  private readonly nodes: import('onnx-proto').onnx.INodeProto[] = [];
  private readonly initializers: import('onnx-proto').onnx.ITensorProto[] = [];
  private readonly inputs: import('onnx-proto').onnx.IValueInfoProto[] = [];
  private readonly outputs: import('onnx-proto').onnx.IValueInfoProto[] = [];
  private counter = 0;

  /** Float32 input or output: [N, ...dims] with a symbolic batch dimension N, or exactly `dims` (batch false). */
  private valueInfo(name: string, dims: number[], batch: boolean) {
    const fixed = dims.map((d) => ({ dimValue: d }));
    return {
      name,
      type: {
        tensorType: {
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: { dim: batch ? [{ dimParam: 'N' }, ...fixed] : fixed },
        },
      },
    };
  }

  input(name: string, dims: number[], batch = true): string {
    this.ir.inputs.push({ name, dims });
    this.inputs.push(this.valueInfo(name, dims, batch));
    return name;
  }

  output(name: string, dims: number[], batch = true): void {
    this.ir.outputs.push({ name, dims });
    this.outputs.push(this.valueInfo(name, dims, batch));
  }

  /** An int64 constant (axes, shapes, indices). */
  int64Initializer(name: string, dims: number[], values: number[]): string {
    this.ir.ints.set(name, { dims, values: [...values] });
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.INT64, int64Data: values });
    return name;
  }

  initializer(name: string, dims: number[], data: Float32Array): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`initializer ${name}: ${data.length} values for shape [${dims}]`);
    const copy = new Float32Array(data); // own, aligned, little-endian buffer for rawData
    this.ir.floats.set(name, { dims, data: copy });
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(copy.buffer) });
    return name;
  }

  /** A node; numeric attributes are INT when integral, else FLOAT; arrays are INTS. */
  node(opType: string, inputs: string[], attrs: Record<string, number | number[]> = {}, outName?: string): string {
    const out = outName ?? `${opType.toLowerCase()}_${this.counter++}`;
    const attribute = Object.entries(attrs).map(([name, v]) =>
      Array.isArray(v)
        ? { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v }
        : Number.isInteger(v)
          ? { name, type: onnx.AttributeProto.AttributeType.INT, i: v }
          : { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v },
    );
    this.nodes.push({ opType, input: inputs, output: [out], name: out, attribute });
    this.ir.nodes.push({ opType, inputs: [...inputs], output: out, attrs });
    return out;
  }

  build(name: string, metadata: Record<string, string>, producer = 'cmcrd-edge'): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: producer,
      producerVersion: '0.1.0',
      graph: { name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
