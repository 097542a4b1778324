/** A loaded classifier: raw feature vectors in, class probabilities out. Backends: onnxruntime-node, -web. */
export interface Classifier {
  readonly inputSize: number;
  readonly classes: readonly string[];
  /** rows: one feature vector each (length inputSize). Returns probabilities [rows][classes]. */
  run(rows: Float32Array[]): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}
