// The bundle manifest: the only contract with the Python pipeline (models/mnemo_models/build_bundle.py
// for format 2, export.py for the tiny format-1 test bundle). Parsed with zod, upgraded to one shape
// (format 1 is format 2 with memory heads and no chat template), then cross-checked: graph shapes
// must agree with the architecture facts.
import { z } from "zod";
import { ANSWER_MODES, DEFAULT_ANSWER_MODE, type AnswerMode } from "./api.js";
import { AppError } from "./errors.js";
import type { ModulationStorage } from "./modulation-codec.js";

export const BUNDLE_FORMAT = "mnemo-mac-bundle";
export const SUPPORTED_MAJORS = [1, 2] as const;
/** The LM graph's optional output of the new positions' keys/values alone (models/mnemo_models/export_llm.py). */
export const NEW_KEY_VALUES = "new_key_values";

/** The per-layer cache inputs of an LM graph that takes one (core/layer-cache.ts), in graph order:
 * past_key_values.0.key, past_key_values.0.value, past_key_values.1.key, … */
export function layerCacheNames(layers: number): string[] {
  return Array.from({ length: 2 * layers }, (_, i) => `past_key_values.${i >> 1}.${i % 2 ? "value" : "key"}`);
}

/** Whether an LM graph with these inputs takes its cache per layer. */
export function takesLayerCache(inputs: readonly { name: string }[]): boolean {
  return inputs.some((i) => i.name === "past_key_values.0.key");
}

const dim = z.union([z.number().int().nonnegative(), z.string().min(1)]);
const tensorSpec = z.object({ name: z.string().min(1), dtype: z.enum(["int64", "float32"]), shape: z.array(dim) });
const graphSpec = z.object({
  file: z.string().regex(/^[\w.-]+\.onnx$/),
  inputs: z.array(tensorSpec),
  outputs: z.array(tensorSpec),
});
const positive = z.number().int().positive();
const id = z.number().int().nonnegative();
const template = (...slots: string[]) =>
  slots.reduce((s, slot) => s.refine((t) => t.includes(slot), `must contain ${slot}`), z.string());

/**
 * What the amortizer and question encoder read. Absent: LM token ids (format-1 heads). "lm_tap": the
 * frozen LM's residual stream after `layer` blocks (the LM graph's output named `output`, (batch,
 * seq, D)); a document window is read after `prefix_ids` (the gold prompt's opening, where training
 * put the passage) and only the window's rows are kept. fast_tap: the tap comes from graphs.reader,
 * which runs other kernels than the LM graph (onnx_fast_tap.py: int8 rows x int8 columns), so the
 * two taps are near, not equal; what it says is for whoever reads the manifest.
 */
const readerSchema = z.object({
  kind: z.literal("lm_tap"),
  output: z.string().min(1),
  layer: z.number().int().nonnegative(),
  prefix_ids: z.array(id).min(1),
  fast_tap: z
    .object({ activations: z.string(), weights: z.string(), smoothing: z.number(), calibration: z.string() })
    .optional(),
});

const macSchema = z.object({
  n_slots: positive,
  prefix_len: positive,
  aggregator_layers: positive,
  max_doc_tokens: positive,
  max_question_tokens: positive,
  reader: readerSchema.optional(),
  /** How vaults keep modulations (modulation-codec.ts); float32 when absent. */
  storage: z.enum(["int8", "float32"]).optional(),
  /** A one-entry bank's latent is the entry's modulation itself (pipeline.oneEntryDirect). */
  one_entry_direct: z.boolean().optional(),
  // Informative (benchmarks' FLOP counts); the graphs themselves carry the structure.
  amortizer_enc_layers: positive.optional(),
  amortizer_dec_layers: positive.optional(),
});

const manifestSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  version: z.object({ major: z.number().int(), minor: z.number().int().nonnegative() }),
  id: z.string().min(1),
  name: z.string(),
  architecture: z.object({
    lm: z.object({
      type: z.enum(["gpt2", "llama", "qwen2", "gemma3"]),
      vocab_size: positive,
      n_positions: positive,
      n_embd: positive,
      n_layer: positive,
      n_head: positive,
      n_kv_head: positive.optional(),
      head_dim: positive,
    }),
    mac: macSchema.optional(),
    encoder: z
      .object({ hidden: positive, max_tokens: positive, tokenizer: z.string().min(1) })
      .passthrough()
      .optional(),
  }),
  memory: z
    .object({
      trained: z.boolean(),
      note: z.string().optional(),
      gates: z.unknown().optional(),
      /** The answer mode this bundle's measurements favour (docs/eval.md); the app's default when set. */
      default_mode: z.enum(ANSWER_MODES as [AnswerMode, ...AnswerMode[]]).optional(),
    })
    .optional(),
  prefix: z.object({ length: positive, position_offset: z.number().int().nonnegative() }).optional(),
  special_ids: z.object({
    bos: id,
    eos: id,
    pad: id,
    unk: id.optional(),
    newline: id.optional(),
    end_of_turn: id.optional(),
  }),
  prompt: z.object({
    question: template("{question}"),
    gold: template("{passage}", "{question}"),
    keyword: template("{passage}", "{question}").optional(),
    /** The instruct model's chat template, applied once around the user message. */
    chat: template("{user}").optional(),
    system: z.string().optional(),
    long: z
      .object({
        question: template("{question}"),
        gold: template("{passage}", "{question}"),
        keyword: template("{passage}", "{question}"),
        chat: template("{user}").optional(),
        system: z.string().optional(),
      })
      .optional(),
    passage_separator: z.string().optional(),
    /** After a memory prefix that opens the gold prompt (its frame): the rest of that prompt. */
    memory: z.object({ question: template("{question}"), keyword: template("{passage}", "{question}") }).optional(),
  }),
  generation: z.object({
    max_new_tokens: positive,
    max_new_tokens_long: positive.optional(),
    stop_ids: z.array(id),
    stop_at_newline: z.boolean().optional(),
    hier_group: positive.optional(),
    /** Every token whose text holds a line break (a SentencePiece vocabulary has many): short answers end there. */
    newline_ids: z.array(id).optional(),
    /** Tokens that end a long answer besides stop_ids (a base model's paragraph break). */
    stop_ids_long: z.array(id).optional(),
  }),
  retrieval: z.object({ chunk_tokens: positive, overlap_tokens: z.number().int().nonnegative() }).optional(),
  tokenizer: z.string().min(1),
  /** How the graphs store their weights, e.g. "GGUF Q4_1 blocks as MatMulNBits ...". */
  weights: z.string().optional(),
  fixtures: z.string().min(1),
  graphs: z.object({
    lm: graphSpec,
    amortizer: graphSpec.optional(),
    question_encoder: graphSpec.optional(),
    memory_kv: graphSpec.optional(),
    aggregator: graphSpec.optional(),
    prefix: graphSpec.optional(),
    encoder: graphSpec.optional(),
    /** The lm_tap reader's own graph (the LM's first blocks, faster kernels): the tap without the LM graph. */
    reader: graphSpec.optional(),
  }),
  files: z.record(
    z.string(),
    z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().nonnegative() }),
  ),
  sources: z
    .array(
      z
        .object({
          role: z.string(),
          package: z.string(),
          file: z.string(),
          sha256: z.string(),
          licence: z.string(),
          model: z.string(),
        })
        .passthrough(),
    )
    .optional(),
  build: z.unknown().optional(),
  training: z.unknown().optional(),
  evaluation: z.unknown().optional(),
});

type Parsed = z.infer<typeof manifestSchema>;
export const MEMORY_GRAPHS = ["amortizer", "question_encoder", "memory_kv", "aggregator", "prefix"] as const;
export type GraphName = keyof Parsed["graphs"];

/** The MAC heads' facts, present only in bundles that carry memory graphs. */
export type MemoryFacts = Omit<z.infer<typeof macSchema>, "storage"> & {
  storage: ModulationStorage;
  prefix: { length: number; position_offset: number };
  hier_group: number;
  trained: boolean;
};
export type ReaderFacts = z.infer<typeof readerSchema>;

/** One shape for every supported version: defaults filled in, memory facts grouped. */
export type BundleManifest = Omit<Parsed, "architecture"> & {
  architecture: {
    lm: Parsed["architecture"]["lm"] & { n_kv_head: number };
    encoder?: Parsed["architecture"]["encoder"];
  };
  /** null: this bundle has no memory heads (keyword and none modes only). */
  mac: MemoryFacts | null;
  retrieval: { chunk_tokens: number; overlap_tokens: number };
};

/** Validate a parsed manifest.json; every error names the field that is wrong. */
export function parseManifest(raw: unknown): BundleManifest {
  const fmt = (raw as { format?: unknown; version?: { major?: unknown } } | null) ?? {};
  const major = fmt.version?.major;
  if (
    fmt.format === BUNDLE_FORMAT &&
    typeof major === "number" &&
    !(SUPPORTED_MAJORS as readonly number[]).includes(major)
  ) {
    throw new AppError(
      "BUNDLE_UNSUPPORTED_VERSION",
      `bundle format version ${major}.x is not supported; this build reads ${BUNDLE_FORMAT} ${SUPPORTED_MAJORS.join(".x and ")}.x`,
    );
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AppError("BUNDLE_INVALID", `manifest.json: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  const m = normalize(parsed.data);
  checkShapes(m);
  const mode = m.memory?.default_mode;
  if ((mode === "memory" || mode === "memory+keyword") && !m.mac) {
    throw new AppError(
      "BUNDLE_INVALID",
      `manifest.json: memory.default_mode ${mode} needs memory heads (architecture.mac)`,
    );
  }
  return m;
}

/** The answer mode a question gets when it names none: the bundle's measured choice, else keyword. */
export function defaultMode(m: BundleManifest): AnswerMode {
  return m.memory?.default_mode ?? DEFAULT_ANSWER_MODE;
}

function normalize(p: Parsed): BundleManifest {
  const { architecture, ...rest } = p;
  const lm = { ...architecture.lm, n_kv_head: architecture.lm.n_kv_head ?? architecture.lm.n_head };
  const present = MEMORY_GRAPHS.filter((g) => p.graphs[g]);
  if (present.length && present.length < MEMORY_GRAPHS.length) {
    throw new AppError(
      "BUNDLE_INVALID",
      `manifest.json: graphs: memory needs all of ${MEMORY_GRAPHS.join(", ")}; ` +
        `missing ${MEMORY_GRAPHS.filter((g) => !p.graphs[g]).join(", ")}`,
    );
  }
  if (p.graphs.reader && (!present.length || !architecture.mac?.reader)) {
    throw new AppError(
      "BUNDLE_INVALID",
      "manifest.json: graphs.reader is the memory's lm_tap reader: it needs the memory graphs and architecture.mac.reader",
    );
  }
  let mac: MemoryFacts | null = null;
  if (present.length) {
    if (!architecture.mac || !p.prefix)
      throw new AppError("BUNDLE_INVALID", "manifest.json: memory graphs need architecture.mac and prefix");
    mac = {
      ...architecture.mac,
      storage: architecture.mac.storage ?? "float32",
      prefix: p.prefix,
      hier_group: p.generation.hier_group ?? 16,
      trained: p.memory?.trained ?? true,
    };
  }
  const chunk =
    p.retrieval ??
    (architecture.mac
      ? {
          chunk_tokens: architecture.mac.max_doc_tokens,
          overlap_tokens: Math.floor(architecture.mac.max_doc_tokens / 8),
        }
      : { chunk_tokens: 192, overlap_tokens: 24 });
  return {
    ...rest,
    architecture: { lm, ...(architecture.encoder ? { encoder: architecture.encoder } : {}) },
    mac,
    retrieval: chunk,
  };
}

function expectShape(
  m: BundleManifest,
  graph: GraphName,
  tensor: string,
  expected: (number | null)[],
  where: "inputs" | "outputs" | "either" = "either",
  dtype?: "int64" | "float32",
): void {
  const g = m.graphs[graph]!;
  const spec = (where === "either" ? [...g.inputs, ...g.outputs] : g[where]).find((t) => t.name === tensor);
  if (!spec) {
    throw new AppError(
      "BUNDLE_INVALID",
      `manifest.json: graphs.${graph} has no ${where === "either" ? "tensor" : where.slice(0, -1)} named ${tensor}`,
    );
  }
  const ok = spec.shape.length === expected.length && expected.every((e, i) => e === null || spec.shape[i] === e);
  if (!ok) {
    throw new AppError(
      "BUNDLE_INVALID",
      `manifest.json: graphs.${graph}.${tensor} has shape [${spec.shape.join(", ")}], ` +
        `expected [${expected.map((e) => e ?? "*").join(", ")}] from the architecture`,
    );
  }
  if (dtype && spec.dtype !== dtype)
    throw new AppError(
      "BUNDLE_INVALID",
      `manifest.json: graphs.${graph}.${tensor} is ${spec.dtype}, expected ${dtype}`,
    );
}

/**
 * The heads' inputs: token ids (format 1), or with an lm_tap reader the LM's tap (batch, seq, D),
 * which the LM graph must output, and prefix ids the LM can embed.
 */
function checkReader(m: BundleManifest, mac: MemoryFacts): void {
  const { n_embd: D, vocab_size } = m.architecture.lm;
  const heads = ["amortizer", "question_encoder"] as const;
  if (!mac.reader) {
    for (const g of heads) expectShape(m, g, "input_ids", [null, null], "inputs", "int64");
    return;
  }
  if (mac.reader.layer > m.architecture.lm.n_layer) {
    throw new AppError(
      "BUNDLE_INVALID",
      `manifest.json: architecture.mac.reader.layer ${mac.reader.layer} is past the LM's ${m.architecture.lm.n_layer} blocks`,
    );
  }
  expectShape(m, "lm", mac.reader.output, [null, null, D], "outputs", "float32");
  if (m.graphs.reader) {
    expectShape(m, "reader", mac.reader.output, [null, null, D], "outputs", "float32");
    for (const t of ["input_ids", "position_ids", "attention_mask"])
      expectShape(m, "reader", t, [null, null], "inputs", "int64");
    // Anything else it reads is an attention cache the engine feeds empty (nothing is cached when reading).
    const other = m.graphs.reader.inputs.find(
      (i) => !/^(input_ids|position_ids|attention_mask|past_key_values\.\d+\.(key|value))$/.test(i.name),
    );
    if (other)
      throw new AppError(
        "BUNDLE_INVALID",
        `manifest.json: graphs.reader.${other.name}: a reader reads ids, positions, a mask and empty caches only`,
      );
  }
  for (const g of heads) {
    expectShape(m, g, "features", [null, null, D], "inputs", "float32");
    expectShape(m, g, "attention_mask", [null, null], "inputs", "int64");
  }
  const bad = mac.reader.prefix_ids.findIndex((t) => t >= vocab_size);
  if (bad >= 0) {
    throw new AppError(
      "BUNDLE_INVALID",
      `manifest.json: architecture.mac.reader.prefix_ids.${bad}: ` +
        `${mac.reader.prefix_ids[bad]} is not below vocab_size ${vocab_size}`,
    );
  }
}

/** Shapes the engine relies on, derived from the architecture facts (null = dynamic). */
function checkShapes(m: BundleManifest): void {
  const { lm } = m.architecture;
  const [D, L, Hkv, hs] = [lm.n_embd, lm.n_layer, lm.n_kv_head, lm.head_dim];
  // Gemma's heads are wider than D / H (4 × 256 for D = 640); every other family splits D evenly.
  if (lm.type !== "gemma3" && lm.n_head * hs !== D)
    throw new AppError("BUNDLE_INVALID", `manifest.json: architecture.lm: n_head × head_dim ≠ n_embd`);
  if (lm.n_head % Hkv !== 0)
    throw new AppError("BUNDLE_INVALID", "manifest.json: architecture.lm: n_head is not a multiple of n_kv_head");
  if (m.mac) {
    const { n_slots: T, aggregator_layers } = m.mac,
      P = m.mac.prefix.length;
    if (P !== m.mac.prefix_len)
      throw new AppError("BUNDLE_INVALID", "manifest.json: prefix.length ≠ architecture.mac.prefix_len");
    // A framed prefix (prompt.memory) is the frame, the reader's prefix_ids, then the T slots.
    const frame = m.prompt.memory && m.mac.reader ? m.mac.reader.prefix_ids.length : 0;
    if (frame && P !== frame + T) {
      throw new AppError(
        "BUNDLE_INVALID",
        "manifest.json: a framed prefix must be reader.prefix_ids then n_slots positions",
      );
    }
    expectShape(m, "amortizer", "modulation", [null, T, D]);
    expectShape(m, "question_encoder", "query", [null, T, D]);
    expectShape(m, "memory_kv", "memory_kv", [aggregator_layers, 2, null, D]);
    expectShape(m, "aggregator", "latent", [null, T, D]);
    expectShape(m, "aggregator", "entry_weights", [null, null]);
    expectShape(m, "prefix", "prefix_kv", [L, 2, null, Hkv, P, hs]);
    checkReader(m, m.mac);
  }
  expectShape(m, "lm", "logits", [null, null, lm.vocab_size]);
  // A cache per layer in (B, Hkv, C, hd), the new positions out (core/layer-cache.ts).
  if (takesLayerCache(m.graphs.lm.inputs)) {
    for (const name of layerCacheNames(L)) expectShape(m, "lm", name, [null, Hkv, null, hs], "inputs", "float32");
    expectShape(m, "lm", NEW_KEY_VALUES, [L, 2, null, Hkv, null, hs], "outputs", "float32");
    return checkFiles(m);
  }
  expectShape(m, "lm", "past_key_values", [L, 2, null, Hkv, null, hs]);
  // The cache comes back whole (present_key_values), or as the new positions alone (new_key_values),
  // which decoding appends to its own cache in place; a graph may return both.
  const lmOutputs = new Set(m.graphs.lm.outputs.map((o) => o.name));
  if (lmOutputs.has(NEW_KEY_VALUES))
    expectShape(m, "lm", NEW_KEY_VALUES, [L, 2, null, Hkv, null, hs], "outputs", "float32");
  if (lmOutputs.has("present_key_values"))
    expectShape(m, "lm", "present_key_values", [L, 2, null, Hkv, null, hs], "outputs", "float32");
  else if (!lmOutputs.has(NEW_KEY_VALUES)) {
    throw new AppError(
      "BUNDLE_INVALID",
      `manifest.json: graphs.lm must output present_key_values or ${NEW_KEY_VALUES}`,
    );
  }
  checkFiles(m);
}

/** Every graph, tokenizer and fixture the manifest names is among its files; an encoder has its facts. */
function checkFiles(m: BundleManifest): void {
  if (m.graphs.encoder && !m.architecture.encoder)
    throw new AppError("BUNDLE_INVALID", "manifest.json: graphs.encoder needs architecture.encoder");
  for (const [name, g] of Object.entries(m.graphs)) {
    if (g && !(g.file in m.files))
      throw new AppError("BUNDLE_INVALID", `manifest.json: graphs.${name}.file ${g.file} is not listed in files`);
  }
  for (const f of [m.tokenizer, m.fixtures, ...(m.architecture.encoder ? [m.architecture.encoder.tokenizer] : [])]) {
    if (!(f in m.files)) throw new AppError("BUNDLE_INVALID", `manifest.json: ${f} is not listed in files`);
  }
}
