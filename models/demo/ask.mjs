// Reference runner for a MAC bundle: amortize documents, aggregate under a question, decode behind
// the prefix. It exists to prove the bundle contract end to end from Node until the TypeScript engine
// (electron/core + electron/engine) replaces it; it reads every model fact from manifest.json.
//   node models/demo/ask.mjs --bundle models/bundles/default --doc a.md --doc b.md [--question "..."]
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import ort from "onnxruntime-node";
import { Tokenizer } from "@huggingface/tokenizers";

const { values, positionals } = parseArgs({ allowPositionals: true, options: {
  bundle: { type: "string" }, doc: { type: "string", multiple: true, default: [] }, question: { type: "string" } } });
const docs = [...values.doc, ...positionals.filter((p) => fs.existsSync(p))];
const question = values.question ?? "When was the Eiffel Tower completed?";
const fail = (msg) => { console.error(`error: ${msg}`); process.exit(2); };
if (!values.bundle) fail("--bundle DIR is required");
if (!docs.length) fail("give at least one --doc FILE");

const manifestPath = path.join(values.bundle, "manifest.json");
if (!fs.existsSync(manifestPath)) fail(`no bundle at ${values.bundle} (manifest.json missing)`);
const manifest = JSON.parse(fs.readFileSync(manifestPath, "utf8"));
if (manifest.format !== "mnemo-mac-bundle" || manifest.version?.major !== 1)
  fail(`unsupported bundle format ${manifest.format} v${manifest.version?.major}; this runner reads mnemo-mac-bundle v1`);
for (const [file, { sha256 }] of Object.entries(manifest.files)) {
  const got = createHash("sha256").update(fs.readFileSync(path.join(values.bundle, file))).digest("hex");
  if (got !== sha256) fail(`${file} does not match its sha256 in the manifest (tampered or corrupt bundle)`);
}
const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(values.bundle, manifest.tokenizer), "utf8")), {});
const encode = (text) => tok.encode(text.split(/\s+/).join(" ").trim(), { add_special_tokens: false }).ids;
const sessions = {};
const run = async (name, feeds) => {
  sessions[name] ??= await ort.InferenceSession.create(path.join(values.bundle, manifest.graphs[name].file));
  return sessions[name].run(feeds);
};
const i64 = (rows) => new ort.Tensor("int64", BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);
const { mac, lm } = manifest.architecture;
const [T, D] = [mac.n_slots, lm.n_embd];

// Ingest: each document is cut into windows of max_doc_tokens and amortized into (T, D) modulations.
const entries = [];   // { doc, mod: Float32Array(T*D) }
for (const file of docs) {
  const ids = encode(fs.readFileSync(file, "utf8"));
  for (let s = 0; s < ids.length; s += mac.max_doc_tokens) {
    const chunk = ids.slice(s, s + mac.max_doc_tokens);
    const { modulation } = await run("amortizer", { input_ids: i64([chunk]), attention_mask: i64([chunk.map(() => 1)]) });
    entries.push({ doc: path.basename(file), mod: modulation.data });
  }
}
const qIds = encode(manifest.prompt.question.replace("{question}", question)).slice(-mac.max_question_tokens);
const { query } = await run("question_encoder", { input_ids: i64([qIds]), attention_mask: i64([qIds.map(() => 1)]) });

// Aggregate: one shot when the bank fits a group, else hierarchically (groups of M, recursively).
async function aggregate(mods) {   // mods: Float32Array[] -> { latent, weights: number[] }
  const group = manifest.generation.hier_group;
  const once = async (ms) => {
    const flat = new Float32Array(ms.length * T * D);
    ms.forEach((m, i) => flat.set(m, i * T * D));
    const { memory_kv } = await run("memory_kv", { modulations: new ort.Tensor("float32", flat, [ms.length, T, D]) });
    const r = await run("aggregator", { query, memory_kv });
    return { latent: r.latent.data, weights: Array.from(r.entry_weights.data) };
  };
  if (mods.length <= group) return once(mods);
  const parts = [];
  for (let g = 0; g < mods.length; g += group) parts.push(await once(mods.slice(g, g + group)));
  const top = await aggregate(parts.map((p) => p.latent));
  return { latent: top.latent, weights: parts.flatMap((p, i) => p.weights.map((w) => w * top.weights[i])) };
}
const t0 = performance.now();
const { latent, weights } = await aggregate(entries.map((e) => e.mod));
const { prefix_kv } = await run("prefix", { latent: new ort.Tensor("float32", latent, [1, T, D]) });

// Decode greedily behind the prefix with a KV cache and explicit positions.
const stop = new Set(manifest.generation.stop_ids);
let ids = qIds, pos = qIds.map((_, i) => i + manifest.prefix.position_offset), past = prefix_kv;
const out = [];
for (let step = 0; step < manifest.generation.max_new_tokens; step++) {
  const total = past.dims[4] + ids.length;
  const r = await run("lm", { input_ids: i64([ids]), position_ids: i64([pos]), attention_mask: i64([Array(total).fill(1)]), past_key_values: past });
  const V = lm.vocab_size, last = r.logits.data.subarray((ids.length - 1) * V, ids.length * V);
  let best = 0;
  for (let v = 1; v < V; v++) if (last[v] > last[best]) best = v;
  if (stop.has(best)) break;
  out.push(best);
  past = r.present_key_values; ids = [best]; pos = [pos[pos.length - 1] + 1];
}
const byDoc = {};
entries.forEach((e, i) => { byDoc[e.doc] = (byDoc[e.doc] ?? 0) + weights[i]; });
console.log(`bundle ${manifest.id}; ${entries.length} memory entries from ${docs.length} documents`);
console.log(`Q: ${question}`);
console.log(`A: ${out.length ? tok.decode(out).trim() : "(no answer)"}`);
console.log("sources (memory attention):", Object.entries(byDoc).sort((a, b) => b[1] - a[1])
  .map(([d, w]) => `${d} ${(100 * w).toFixed(1)}%`).join(", "));
console.log(`answered in ${(performance.now() - t0).toFixed(0)} ms`);
