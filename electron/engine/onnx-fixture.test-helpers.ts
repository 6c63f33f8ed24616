// Test support: writes tiny ONNX graphs (a hand-rolled protobuf writer for the few ModelProto fields
// needed) and from them a reader bundle at the tiny bundle's sizes, so the lm_tap contract runs through
// real onnxruntime sessions and the engine worker without a trained Gemma bundle. Not used by the app.
import { createHash } from "node:crypto";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { readerManifestJson, type ReaderOptions } from "../core/fake-reader.test-helpers.js";

/** Protobuf wire format: varints, length-delimited fields, little-endian fixed32. */
class Pb {
  private readonly chunks: Uint8Array[] = [];
  private varint(n: number): void {
    const out: number[] = [];
    for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
    out.push(n);
    this.chunks.push(Uint8Array.from(out));
  }
  int(field: number, v: number): this {
    this.varint(field * 8);
    this.varint(v);
    return this;
  }
  bytes(field: number, b: Uint8Array): this {
    this.varint(field * 8 + 2);
    this.varint(b.length);
    this.chunks.push(b);
    return this;
  }
  str(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  msg(field: number, m: Pb): this {
    return this.bytes(field, m.finish());
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

const FLOAT = 1,
  INT64 = 7;
type Dim = number | string;
export interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, number>;
}
export interface Init {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

function tensor(t: Init): Pb {
  const pb = new Pb();
  for (const d of t.dims) pb.int(1, d);
  return pb
    .int(2, t.data instanceof Float32Array ? FLOAT : INT64)
    .str(8, t.name)
    .bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

function valueInfo(name: string, type: number, shape: Dim[]): Pb {
  const dims = new Pb();
  for (const d of shape) dims.msg(1, typeof d === "number" ? new Pb().int(1, d) : new Pb().str(2, d));
  return new Pb().str(1, name).msg(2, new Pb().msg(1, new Pb().int(1, type).msg(2, dims)));
}

/** A model of one graph (opset 17); inputs and outputs as [name, float32 | int64, shape]. */
export function onnxModel(
  nodes: Node[],
  inits: Init[],
  inputs: [string, "float32" | "int64", Dim[]][],
  outputs: [string, Dim[]][],
): Uint8Array {
  const g = new Pb();
  nodes.forEach((n, k) => {
    const pb = new Pb();
    n.inputs.forEach((i) => pb.str(1, i));
    n.outputs.forEach((o) => pb.str(2, o));
    pb.str(3, `n${k}`).str(4, n.op);
    // type INT
    for (const [name, v] of Object.entries(n.attrs ?? {})) pb.msg(5, new Pb().str(1, name).int(3, v).int(20, 2));
    g.msg(1, pb);
  });
  g.str(2, "g");
  inits.forEach((t) => g.msg(5, tensor(t)));
  inputs.forEach(([name, type, shape]) => g.msg(11, valueInfo(name, type === "float32" ? FLOAT : INT64, shape)));
  outputs.forEach(([name, shape]) => g.msg(12, valueInfo(name, FLOAT, shape)));
  return new Pb().int(1, 8).msg(7, g).msg(8, new Pb().str(1, "").int(2, 17)).finish();
}

const i64 = (name: string, values: number[]): Init => ({
  name,
  dims: [values.length],
  data: BigInt64Array.from(values.map(BigInt)),
});
/** Deterministic values in [-scale, scale). */
function random(name: string, dims: number[], seed: number, scale = 1): Init {
  let s = seed;
  const data = Float32Array.from(
    { length: dims.reduce((a, b) => a * b, 1) },
    () => (((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1) * scale,
  );
  return { name, dims, data };
}

/**
 * A stand-in LM with the real one's interface plus a tap: tap = embedding[ids] + positions[pos]
 * (batch, seq, D); logits = tap @ W (batch, seq, V); present = past ++ zeros along the positions.
 */
export function tapLM(V: number, D: number, L: number, H: number, hs: number, maxPos: number): Uint8Array {
  return onnxModel(
    [
      { op: "Gather", inputs: ["emb", "input_ids"], outputs: ["e"] },
      { op: "Gather", inputs: ["pos", "position_ids"], outputs: ["p"] },
      { op: "Add", inputs: ["e", "p"], outputs: ["tap"] },
      { op: "MatMul", inputs: ["tap", "w_out"], outputs: ["logits"] },
      { op: "Shape", inputs: ["input_ids"], outputs: ["bs"] },
      { op: "Gather", inputs: ["bs", "i0"], outputs: ["b"], attrs: { axis: 0 } },
      { op: "Gather", inputs: ["bs", "i1"], outputs: ["s"], attrs: { axis: 0 } },
      { op: "Concat", inputs: ["l2", "b", "h", "s", "hs"], outputs: ["kv_shape"], attrs: { axis: 0 } },
      { op: "ConstantOfShape", inputs: ["kv_shape"], outputs: ["new_kv"] },
      { op: "Concat", inputs: ["past_key_values", "new_kv"], outputs: ["present_key_values"], attrs: { axis: 4 } },
    ],
    [
      random("emb", [V, D], 1),
      random("pos", [maxPos, D], 2, 0.1),
      random("w_out", [D, V], 3),
      i64("i0", [0]),
      i64("i1", [1]),
      i64("l2", [L, 2]),
      i64("h", [H]),
      i64("hs", [hs]),
    ],
    [
      ["input_ids", "int64", ["batch", "seq"]],
      ["position_ids", "int64", ["batch", "seq"]],
      ["attention_mask", "int64", ["batch", "past_plus_seq"]],
      ["past_key_values", "float32", [L, 2, "batch", H, "past", hs]],
    ],
    [
      ["logits", ["batch", "seq", V]],
      ["present_key_values", [L, 2, "batch", H, "past_plus_seq", hs]],
      ["tap", ["batch", "seq", D]],
    ],
  );
}

/**
 * A stand-in head over features (batch, seq, D) + mask: the masked mean, scaled and shifted per slot -> (batch, T, D).
 */
export function featureHead(output: string, T: number, D: number, seed: number): Uint8Array {
  return onnxModel(
    [
      { op: "Cast", inputs: ["attention_mask"], outputs: ["m"], attrs: { to: FLOAT } },
      { op: "Unsqueeze", inputs: ["m", "ax2"], outputs: ["m3"] },
      { op: "Mul", inputs: ["features", "m3"], outputs: ["fm"] },
      { op: "ReduceSum", inputs: ["fm", "ax1"], outputs: ["num"], attrs: { keepdims: 1 } },
      { op: "ReduceSum", inputs: ["m3", "ax1"], outputs: ["den"], attrs: { keepdims: 1 } },
      { op: "Div", inputs: ["num", "den"], outputs: ["mean"] },
      { op: "Mul", inputs: ["mean", "slot_scale"], outputs: ["scaled"] },
      { op: "Add", inputs: ["scaled", "slot_bias"], outputs: [output] },
    ],
    [i64("ax1", [1]), i64("ax2", [2]), random("slot_scale", [T, 1], seed), random("slot_bias", [T, D], seed + 1, 0.1)],
    [
      ["features", "float32", ["batch", "seq", D]],
      ["attention_mask", "int64", ["batch", "seq"]],
    ],
    [[output, ["batch", T, D]]],
  );
}

/**
 * A reader bundle in dir: the tiny bundle's tokenizer, memory_kv, aggregator and prefix graphs, a
 * tap LM and feature heads, and readerManifestJson's manifest with every file's sha256.
 */
export function writeReaderBundle(tinyDir: string, dir: string, o: ReaderOptions = {}): void {
  const manifest = readerManifestJson(
    JSON.parse(readFileSync(path.join(tinyDir, "manifest.json"), "utf8")),
    o,
  ) as ReturnType<typeof readerManifestJson> & {
    id: string;
    name: string;
    architecture: {
      lm: {
        vocab_size: number;
        n_embd: number;
        n_layer: number;
        n_head: number;
        head_dim: number;
        n_positions: number;
      };
      mac: { n_slots: number };
    };
    files: Record<string, { sha256: string; bytes: number }>;
  };
  const { vocab_size: V, n_embd: D, n_layer: L, n_head: H, head_dim: hs, n_positions } = manifest.architecture.lm;
  const T = manifest.architecture.mac.n_slots;
  for (const f of ["tokenizer.json", "fixtures.json", "memory_kv.onnx", "aggregator.onnx", "prefix.onnx"])
    copyFileSync(path.join(tinyDir, f), path.join(dir, f));
  writeFileSync(path.join(dir, "lm.onnx"), tapLM(V, D, L, H, hs, n_positions));
  writeFileSync(path.join(dir, "amortizer.onnx"), featureHead("modulation", T, D, 10));
  writeFileSync(path.join(dir, "question_encoder.onnx"), featureHead("query", T, D, 20));
  manifest.id = `tiny-reader-${o.storage ?? "int8"}`;
  manifest.name = "tiny-reader";
  manifest.files = Object.fromEntries(
    Object.keys(manifest.files).map((f) => {
      const bytes = readFileSync(path.join(dir, f));
      return [f, { sha256: createHash("sha256").update(bytes).digest("hex"), bytes: bytes.length }];
    }),
  );
  writeFileSync(path.join(dir, "manifest.json"), JSON.stringify(manifest, null, 1));
}
