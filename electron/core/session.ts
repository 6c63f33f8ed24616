// The abstract inference session the MAC pipeline runs on. electron/engine adapts onnxruntime-node to
// it; tests use fakes. No runtime, Node or DOM types here.
import type { GraphName } from "../shared/manifest.js";

export type DType = "float32" | "int64";

export interface Tensor {
  readonly type: DType;
  readonly data: Float32Array | BigInt64Array;
  readonly dims: readonly number[];
}

export interface Session {
  /** fetches: the outputs wanted (default: all); a session may return more (fakes do). */
  run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>>;
}

/** The LM always; the memory graphs and the encoder when the bundle has them. */
export type Sessions = { lm: Session } & Partial<Record<Exclude<GraphName, "lm">, Session>>;

/** The part of AbortSignal the pipeline needs (core compiles without DOM or Node types). */
export interface AbortLike {
  readonly aborted: boolean;
}

export function floatTensor(data: Float32Array, dims: readonly number[]): Tensor {
  return { type: "float32", data, dims };
}

export function int64Tensor(rows: readonly (readonly number[])[]): Tensor {
  const width = rows[0]?.length ?? 0;
  const data = new BigInt64Array(rows.length * width);
  rows.forEach((r, i) =>
    r.forEach((v, j) => {
      data[i * width + j] = BigInt(v);
    }),
  );
  return { type: "int64", data, dims: [rows.length, width] };
}

export function output(outputs: Record<string, Tensor>, name: string): Tensor {
  const t = outputs[name];
  if (!t) throw new Error(`graph output ${name} missing (outputs: ${Object.keys(outputs).join(", ")})`);
  return t;
}

export function floats(t: Tensor): Float32Array {
  if (!(t.data instanceof Float32Array)) throw new Error(`expected a float32 tensor, got ${t.type}`);
  return t.data;
}
