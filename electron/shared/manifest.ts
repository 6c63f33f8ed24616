// The bundle manifest: the only contract with the Python pipeline (models/mnemo_models/export.py).
// Parsed with zod, then cross-checked: graph shapes must agree with the architecture facts.
import { z } from "zod";
import { AppError } from "./errors.js";

export const BUNDLE_FORMAT = "mnemo-mac-bundle";
export const SUPPORTED_MAJOR = 1;

const dim = z.union([z.number().int().nonnegative(), z.string().min(1)]);
const tensorSpec = z.object({ name: z.string().min(1), dtype: z.enum(["int64", "float32"]), shape: z.array(dim) });
const graphSpec = z.object({ file: z.string().regex(/^[\w.-]+\.onnx$/), inputs: z.array(tensorSpec), outputs: z.array(tensorSpec) });
const positive = z.number().int().positive();

const manifestSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  version: z.object({ major: z.number().int(), minor: z.number().int().nonnegative() }),
  id: z.string().min(1),
  name: z.string(),
  architecture: z.object({
    lm: z.object({ type: z.literal("gpt2"), vocab_size: positive, n_positions: positive, n_embd: positive,
      n_layer: positive, n_head: positive, head_dim: positive }),
    mac: z.object({ n_slots: positive, prefix_len: positive, aggregator_layers: positive,
      max_doc_tokens: positive, max_question_tokens: positive,
      // Informative (benchmarks' FLOP counts); the graphs themselves carry the structure.
      amortizer_enc_layers: positive.optional(), amortizer_dec_layers: positive.optional() }),
  }),
  prefix: z.object({ length: positive, position_offset: z.number().int().nonnegative() }),
  special_ids: z.object({ unk: z.number().int(), bos: z.number().int(), eos: z.number().int(), pad: z.number().int(), newline: z.number().int() }),
  prompt: z.object({ question: z.string().includes("{question}"), gold: z.string().includes("{passage}") }),
  generation: z.object({ max_new_tokens: positive, stop_ids: z.array(z.number().int()), hier_group: positive }),
  tokenizer: z.string().min(1),
  /** How the graphs store their weights, e.g. "float32 compute; weights ... stored as fp16 initializers". */
  weights: z.string().optional(),
  fixtures: z.string().min(1),
  graphs: z.object({ amortizer: graphSpec, question_encoder: graphSpec, memory_kv: graphSpec, aggregator: graphSpec,
    prefix: graphSpec, lm: graphSpec }),
  files: z.record(z.string(), z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number().int().nonnegative() })),
  training: z.unknown().optional(),
  evaluation: z.unknown().optional(),
});

export type BundleManifest = z.infer<typeof manifestSchema>;
export type GraphName = keyof BundleManifest["graphs"];

/** Validate a parsed manifest.json; every error names the field that is wrong. */
export function parseManifest(raw: unknown): BundleManifest {
  const fmt = (raw as { format?: unknown; version?: { major?: unknown } } | null) ?? {};
  if (fmt.format === BUNDLE_FORMAT && typeof fmt.version?.major === "number" && fmt.version.major !== SUPPORTED_MAJOR) {
    throw new AppError("BUNDLE_UNSUPPORTED_VERSION",
      `bundle format version ${fmt.version.major}.x is not supported; this build reads ${BUNDLE_FORMAT} ${SUPPORTED_MAJOR}.x`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new AppError("BUNDLE_INVALID", `manifest.json: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  checkShapes(parsed.data);
  return parsed.data;
}

function expectShape(m: BundleManifest, graph: GraphName, tensor: string, expected: (number | null)[]): void {
  const spec = [...m.graphs[graph].inputs, ...m.graphs[graph].outputs].find((t) => t.name === tensor);
  if (!spec) throw new AppError("BUNDLE_INVALID", `manifest.json: graphs.${graph} has no tensor named ${tensor}`);
  const ok = spec.shape.length === expected.length && expected.every((e, i) => e === null || spec.shape[i] === e);
  if (!ok) {
    throw new AppError("BUNDLE_INVALID", `manifest.json: graphs.${graph}.${tensor} has shape [${spec.shape.join(", ")}], ` +
      `expected [${expected.map((e) => e ?? "*").join(", ")}] from the architecture`);
  }
}

/** Shapes the engine relies on, derived from the architecture facts (null = dynamic). */
function checkShapes(m: BundleManifest): void {
  const { lm, mac } = m.architecture;
  const [T, D, L, H, P, hs] = [mac.n_slots, lm.n_embd, lm.n_layer, lm.n_head, m.prefix.length, lm.head_dim];
  if (lm.n_head * hs !== D) throw new AppError("BUNDLE_INVALID", `manifest.json: architecture.lm: n_head × head_dim ≠ n_embd`);
  if (P !== mac.prefix_len) throw new AppError("BUNDLE_INVALID", "manifest.json: prefix.length ≠ architecture.mac.prefix_len");
  expectShape(m, "amortizer", "modulation", [null, T, D]);
  expectShape(m, "question_encoder", "query", [null, T, D]);
  expectShape(m, "memory_kv", "memory_kv", [mac.aggregator_layers, 2, null, D]);
  expectShape(m, "aggregator", "latent", [null, T, D]);
  expectShape(m, "aggregator", "entry_weights", [null, null]);
  expectShape(m, "prefix", "prefix_kv", [L, 2, null, H, P, hs]);
  expectShape(m, "lm", "past_key_values", [L, 2, null, H, null, hs]);
  expectShape(m, "lm", "logits", [null, null, lm.vocab_size]);
  for (const [name, g] of Object.entries(m.graphs)) {
    if (!(g.file in m.files)) throw new AppError("BUNDLE_INVALID", `manifest.json: graphs.${name}.file ${g.file} is not listed in files`);
  }
  for (const f of [m.tokenizer, m.fixtures]) {
    if (!(f in m.files)) throw new AppError("BUNDLE_INVALID", `manifest.json: ${f} is not listed in files`);
  }
}
