// Fakes for the lm_tap reader's tests: a reader manifest made from the tiny bundle's (the shapes the
// Python side writes for Gemma, at the tiny bundle's sizes), an LM whose tap rows say where they came
// from, and heads that record what they were fed.
import { FakeLM } from "./fake-lm.test-helpers.js";
import { floatTensor, type Session, type Tensor } from "./session.js";

type Spec = { name: string; dtype: "int64" | "float32"; shape: (number | string)[] };
export interface RawManifest {
  version: { major: number; minor: number };
  architecture: { lm: { n_embd: number }; mac: Record<string, unknown> };
  prefix: { length: number; position_offset: number };
  memory?: unknown;
  graphs: Record<string, { file?: string; inputs: Spec[]; outputs: Spec[] }>;
  files: Record<string, { sha256: string; bytes: number }>;
}

export interface ReaderOptions {
  prefixIds?: number[];
  storage?: "int8" | "float32";
  maxDoc?: number;
  maxQuestion?: number;
  layer?: number;
  /** The LM graph declares tap_only (it can stop at the tap). */
  tapOnly?: boolean;
  /** The bundle has a reader graph of its own (graphs.reader, onnx_fast_tap.py). */
  readerGraph?: boolean;
}

/**
 * A format-2 reader manifest from the tiny bundle's manifest.json: the LM gains a tap output (batch,
 * seq, D), the amortizer and question encoder take features (batch, seq, D) + attention_mask, and
 * the prompt starts at position P (prefix.position_offset = P).
 */
export function readerManifestJson(tiny: unknown, o: ReaderOptions = {}): RawManifest {
  const m = JSON.parse(JSON.stringify(tiny)) as RawManifest; // a deep copy (core has no structuredClone types)
  const D = m.architecture.lm.n_embd;
  m.version = { major: 2, minor: 1 };
  m.architecture.mac = {
    ...m.architecture.mac,
    reader: { kind: "lm_tap", output: "tap", layer: o.layer ?? 1, prefix_ids: o.prefixIds ?? [1, 40, 41] },
    storage: o.storage ?? "int8",
    ...(o.maxDoc ? { max_doc_tokens: o.maxDoc } : {}),
    ...(o.maxQuestion ? { max_question_tokens: o.maxQuestion } : {}),
  };
  m.prefix = { ...m.prefix, position_offset: m.prefix.length };
  m.memory = { trained: true, note: "test heads", gates: { per_layer: [0.5, 0.5] } };
  m.graphs.lm!.outputs.push({ name: "tap", dtype: "float32", shape: ["batch", "seq", D] });
  if (o.tapOnly) m.graphs.lm!.inputs.push({ name: "tap_only", dtype: "int64", shape: [1] });
  if (o.readerGraph) {
    // the tap's own graph: the LM's inputs, the first layer's cache, the tap
    const ids = (n: string) => ({ name: n, dtype: "int64" as const, shape: ["batch", "seq"] });
    const cache = (n: string) => ({
      name: n,
      dtype: "float32" as const,
      shape: ["batch", "kv_heads", "past", "head_dim"],
    });
    m.graphs.reader = {
      file: "reader.onnx",
      inputs: [
        ids("input_ids"),
        ids("position_ids"),
        ids("attention_mask"),
        cache("past_key_values.0.key"),
        cache("past_key_values.0.value"),
      ],
      outputs: [{ name: "tap", dtype: "float32" as const, shape: ["batch", "seq", D] }],
    };
    m.files["reader.onnx"] = { sha256: "0".repeat(64), bytes: 0 };
  }
  for (const g of ["amortizer", "question_encoder"]) {
    m.graphs[g]!.inputs = [
      { name: "features", dtype: "float32", shape: ["batch", "seq", D] },
      { name: "attention_mask", dtype: "int64", shape: ["batch", "seq"] },
    ];
  }
  return m;
}

/**
 * FakeLM's scripted logits and growing cache, plus a tap (B, S, D) whose row (b, s) is
 * [b, s, input id, position id, 0, ...]: a test can see exactly which rows reached the amortizer.
 * Records every call's feeds.
 */
export class FakeTapLM extends FakeLM {
  readonly feeds: Record<string, Tensor>[] = [];
  constructor(
    vocab: number,
    table: Record<number, Record<number, number>>,
    readonly D: number,
  ) {
    super(vocab, table);
  }

  override async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    this.feeds.push(feeds);
    return { ...(await super.run(feeds)), tap: fakeTap(feeds, this.D) };
  }
}

/** The fake tap (B, S, D): row (b, s) is [b, s, input id, position id, 0, ...]. */
export function fakeTap(feeds: Record<string, Tensor>, D: number): Tensor {
  const ids = feeds["input_ids"]!,
    pos = feeds["position_ids"]!;
  const [B, S] = ids.dims as [number, number];
  const tap = new Float32Array(B * S * D);
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < S; s++)
      tap.set([b, s, Number(ids.data[b * S + s]!), Number(pos.data[b * S + s]!)], (b * S + s) * D);
  }
  return floatTensor(tap, [B, S, D]);
}

/** A graph stand-in that records its feeds and answers with make(feeds). */
export class Recorder implements Session {
  readonly feeds: Record<string, Tensor>[] = [];
  constructor(private readonly make: (feeds: Record<string, Tensor>) => Record<string, Tensor>) {}

  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    this.feeds.push(feeds);
    return this.make(feeds);
  }
}

/** Zeros of a shape. */
export const zeros = (dims: number[]): Tensor => floatTensor(new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
