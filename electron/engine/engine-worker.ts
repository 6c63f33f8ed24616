// The engine worker: owns the onnxruntime sessions and the memory banks, so forward passes never
// block the caller's event loop. One request at a time runs; "cancel" aborts a running answer.
import { parentPort } from "node:worker_threads";
import { AppError } from "../shared/errors.js";
import { AbortedError, type GenerateEnd } from "../core/generate.js";
import type { MacPipeline } from "../core/pipeline.js";
import { encodeModulation } from "../shared/modulation-codec.js";
import { oneEntryIsDirect, selectByKeys, selectCandidates } from "../core/preselect.js";
import { makeSampler } from "../core/sampler.js";
import { TextStream } from "../core/text-stream.js";
import { loadBundle } from "./bundle.js";
import { loadSentenceEncoder, type SentenceEncoder } from "./encoder.js";
import type { AskResult, BankPutEntry, EngineMessage, EngineRequest } from "./engine-protocol.js";
import { cachedKV, MemoryBanks, modulationOf, weightsByOwner, type BankEntry } from "./memory-bank.js";
import type { SessionSettings } from "./ort-session.js";
import { VectorBanks } from "./vector-index.js";

/**
 * Windows amortized per forward pass (sorted by length first). Small batches keep each layer's
 * activations in cache: with the reader graph, 64 train paragraphs took 28-31 ms per window in
 * batches of 2-4 against 40 ms in batches of 16 (2 threads, 2026-12-03; docs/bench/README.md).
 */
const AMORTIZE_BATCH = 4;
const port = parentPort!;
const send = (m: EngineMessage) => port.postMessage(m);
let mac: MacPipeline | undefined;
const banks = new MemoryBanks();
const vectors = new VectorBanks();
let loaded: { dir: string; settings: SessionSettings } | undefined;
let encoder: Promise<SentenceEncoder> | undefined;
const running = new Map<number, { aborted: boolean }>();

function pipeline(): MacPipeline {
  if (!mac) throw new AppError("INVALID_ARGUMENT", "no bundle loaded");
  return mac;
}

/** The bundle's sentence encoder, loaded on first use (ingest or search), so answering alone never pays for it. */
function sentenceEncoder(): Promise<SentenceEncoder> {
  const p = pipeline(),
    spec = p.manifest.architecture.encoder;
  if (!p.manifest.graphs.encoder || !spec || !loaded) {
    throw new AppError(
      "ENCODER_UNAVAILABLE",
      `the model ${p.manifest.name} has no sentence encoder, so meaning (dense) search is unavailable; use bm25`,
    );
  }
  const { dir, settings } = loaded;
  encoder ??= loadSentenceEncoder(dir, settings, { maxTokens: spec.max_tokens }).catch((e: unknown) => {
    encoder = undefined;
    throw e;
  });
  return encoder;
}

async function ask(
  id: number,
  question: string,
  o: Extract<EngineRequest, { op: "ask" }>["options"],
  scope?: string[],
  memory = true,
): Promise<AskResult> {
  const p = pipeline();
  const signal = { aborted: false };
  running.set(id, signal);
  const t0 = performance.now();
  if (memory) p.requireMemory();
  let { entries, owners } = memory ? banks.gather(scope) : { entries: [], owners: [] };
  const mod = (e: BankEntry) => modulationOf(e, p.T, p.D);
  if (o.candidates && entries.length > o.candidates) {
    const keep = o.candidateKeys?.length
      ? selectByKeys(owners, o.candidateKeys)
      : selectCandidates((await amortize(p, windows(p, [question]).ids))[0]!, entries.map(mod), o.candidates);
    entries = keep.map((i) => entries[i]!);
    owners = keep.map((i) => owners[i]!);
  }
  // One entry under a scale-free prefix: its latent is its own modulation, so the question's
  // encoding is not needed at all (no tap, encoder or aggregator run; pipeline.oneEntryDirect).
  const direct = memory && oneEntryIsDirect(entries.length, p.oneEntryDirect);
  const { promptIds, query } = await p.encodeQuestion(question, o.context, o.long ?? false, memory, !direct);
  // Without cached K/V (reader bundles) the aggregation computes memory_kv for these entries only.
  const agg = !memory
    ? null
    : direct
      ? { latent: mod(entries[0]!), weights: [1] }
      : query
        ? await p.aggregate(query, entries.map(mod), undefined, cachedKV(entries))
        : null;
  const past = agg ? await p.memoryPast(agg, entries.length) : p.emptyPast();
  const questionMs = performance.now() - t0;
  const stream = new TextStream((ids) => p.tokenizer.decode(ids));
  const sample = makeSampler({ temperature: o.temperature ?? 0, topP: o.topP ?? 1, seed: o.seed ?? 0 });
  let firstTokenMs: number | null = null;
  const long = o.long ?? false;
  const onToken = (token: number) => {
    firstTokenMs ??= performance.now() - t0;
    const delta = stream.push(token);
    if (delta) send({ id, kind: "token", text: delta });
  };
  let end: GenerateEnd | undefined; // beam search does not say why it ended
  if ((o.beams ?? 1) > 1) for (const token of await p.beam(promptIds, past, o.beams!, signal, long)) onToken(token);
  else {
    const tokens = p.decode(promptIds, past, {
      sample,
      signal,
      long,
      ...(o.maxNewTokens ? { maxNewTokens: o.maxNewTokens } : {}),
    });
    for (let r = await tokens.next(); ; r = await tokens.next()) {
      if (r.done) {
        end = r.value;
        break;
      }
      onToken(r.value);
    }
  }
  const tail = stream.flush();
  if (tail) send({ id, kind: "token", text: tail });
  const sources = agg ? weightsByOwner(agg.weights, owners) : [];
  return {
    answer: stream.text.trim(),
    sources,
    bankSize: entries.length,
    ...(end === "length" ? { truncated: true } : {}),
    timings: { questionMs, firstTokenMs, totalMs: performance.now() - t0 },
  };
}

/** Token windows of texts, each cut to the amortizer's input size; counts how many were cut. */
function windows(p: MacPipeline, texts: readonly string[]): { ids: number[][]; truncated: number } {
  const max = p.manifest.mac?.max_doc_tokens ?? 0;
  let truncated = 0;
  const ids = texts.map((t) => {
    const all = p.documentIds(t);
    if (all.length > max) truncated++;
    return all.slice(0, max);
  });
  if (ids.some((r) => r.length === 0)) throw new AppError("INVALID_ARGUMENT", "cannot amortize an empty text");
  return { ids, truncated };
}

/** Batches windows of similar length together (padding to a batch's longest costs compute), keeps input order. */
async function amortize(p: MacPipeline, ids: readonly number[][]): Promise<Float32Array[]> {
  const order = ids.map((_, i) => i).sort((a, b) => ids[a]!.length - ids[b]!.length);
  const out = new Array<Float32Array>(ids.length);
  for (let s = 0; s < order.length; s += AMORTIZE_BATCH) {
    const batch = order.slice(s, s + AMORTIZE_BATCH);
    (await p.amortize(batch.map((i) => ids[i]!))).forEach((m, k) => {
      out[batch[k]!] = m;
    });
  }
  return out;
}

/** Bank entries of modulations: with their cached K/V (format 1), or as int8 blobs (int8 storage). */
async function bankEntries(p: MacPipeline, mods: Float32Array[]): Promise<BankEntry[]> {
  if (!p.cachesEntryKV) {
    const { storage } = p.requireMemory();
    return mods.map((m) => (storage === "int8" ? { blob: encodeModulation(m, p.T, p.D, storage) } : { modulation: m }));
  }
  const kvs: Float32Array[] = [];
  // question-independent: once, at insertion
  for (let s = 0; s < mods.length; s += 256) kvs.push(...(await p.entryKV(mods.slice(s, s + 256))));
  return mods.map((modulation, i) => ({ modulation, kv: kvs[i]! }));
}

async function bankPut(p: MacPipeline, bank: string, entries: BankPutEntry[]): Promise<{ size: number }> {
  if (!p.hasMemory) return { size: 0 }; // nothing to attend over without memory heads
  const size = p.T * p.D;
  const bad = entries.find((e) => e.modulation.length !== size);
  if (bad)
    throw new AppError(
      "INVALID_ARGUMENT",
      `modulation for ${bad.key} has ${bad.modulation.length} values; this bundle needs ${size}`,
    );
  const made = await bankEntries(
    p,
    entries.map((e) => e.modulation),
  );
  entries.forEach((e, i) => banks.put(bank, e.key, [made[i]!]));
  return { size: banks.size(bank) };
}

async function handle(req: EngineRequest): Promise<unknown> {
  switch (req.op) {
    case "load": {
      const settings: SessionSettings = {
        ...req.settings,
        onWarning: (message) => send({ id: -1, kind: "warning", message }),
      };
      mac = await loadBundle(req.dir, settings);
      loaded = { dir: req.dir, settings };
      encoder = undefined;
      return { id: mac.manifest.id };
    }
    case "ingest": {
      const p = pipeline();
      const chunks = p.chunkIds(req.text);
      if (!chunks.length) throw new AppError("INVALID_ARGUMENT", `${req.document} has no text`);
      banks.append("docs", req.document, await bankEntries(p, p.asStored(await amortize(p, chunks))));
      return { entries: chunks.length };
    }
    case "amortize": {
      const p = pipeline();
      // No memory heads: a chunk's modulation is empty ([0, 0]); vaults keep text and keyword index only.
      if (!p.hasMemory) return { modulations: req.texts.map(() => new Float32Array(0)), truncated: 0 };
      const { ids, truncated } = windows(p, req.texts);
      // As the vault will store them (int8: rounded), so the engine's bank is the same before and after a reload.
      return { modulations: p.asStored(await amortize(p, ids)), truncated };
    }
    case "bankPut":
      return bankPut(pipeline(), req.bank, req.entries);
    case "bankDrop":
      banks.drop(req.bank, req.keys);
      return { size: banks.size(req.bank) };
    case "ask":
      return ask(req.id, req.question, req.options, req.banks, req.memory);
    case "cancel":
      if (running.has(req.target)) running.get(req.target)!.aborted = true;
      return null;
    case "embed":
      return { embeddings: await (await sentenceEncoder()).embed(req.texts) };
    case "vectorsPut":
      return { size: vectors.put(req.bank, req.dim, req.keys, req.data, req.scales) };
    case "vectorsDrop":
      return { size: vectors.drop(req.bank, req.keys) };
    case "vectorSearch": {
      const t0 = performance.now();
      const [query] = await (await sentenceEncoder()).embed([req.query]);
      const t1 = performance.now();
      const hits = vectors.search(query!, req.banks, req.k);
      return {
        hits,
        rows: req.banks.reduce((n, b) => n + vectors.size(b), 0),
        embedMs: t1 - t0,
        searchMs: performance.now() - t1,
      };
    }
  }
}

let queue = Promise.resolve();
port.on("message", (req: EngineRequest) => {
  if (req.op === "cancel") {
    void handle(req);
    return;
  } // must not wait behind the answer it cancels
  queue = queue.then(async () => {
    try {
      const value = await handle(req);
      const transfer =
        req.op === "amortize"
          ? (value as { modulations: Float32Array[] }).modulations.map((m) => m.buffer as ArrayBuffer)
          : req.op === "embed"
            ? (value as { embeddings: Float32Array[] }).embeddings.map((m) => m.buffer as ArrayBuffer)
            : [];
      port.postMessage({ id: req.id, kind: "ok", value } satisfies EngineMessage, transfer);
    } catch (e) {
      const code = e instanceof AppError ? e.code : e instanceof AbortedError ? "ABORTED" : "ENGINE_ERROR";
      send({ id: req.id, kind: "error", code, message: (e as Error).message });
    } finally {
      running.delete(req.id);
    }
  });
});
