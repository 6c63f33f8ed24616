// The engine worker: owns the onnxruntime sessions and an in-memory bank, so forward passes never
// block the caller's event loop. One request at a time runs; "cancel" aborts a running answer.
import { parentPort } from "node:worker_threads";
import { AppError } from "../shared/errors.js";
import { AbortedError } from "../core/generate.js";
import type { MacPipeline } from "../core/pipeline.js";
import { makeSampler } from "../core/sampler.js";
import { TextStream } from "../core/text-stream.js";
import { loadBundle } from "./bundle.js";
import type { AskResult, EngineMessage, EngineRequest } from "./engine-protocol.js";

const port = parentPort!;
const send = (m: EngineMessage) => port.postMessage(m);
let mac: MacPipeline | undefined;
const bank: { document: string; modulation: Float32Array; kv: Float32Array }[] = [];
const running = new Map<number, { aborted: boolean }>();

function pipeline(): MacPipeline {
  if (!mac) throw new AppError("INVALID_ARGUMENT", "no bundle loaded");
  return mac;
}

async function ask(id: number, question: string, o: Extract<EngineRequest, { op: "ask" }>["options"]): Promise<AskResult> {
  const p = pipeline();
  const signal = { aborted: false };
  running.set(id, signal);
  const t0 = performance.now();
  const { promptIds, query } = await p.encodeQuestion(question);
  const agg = bank.length ? await p.aggregate(query, bank.map((e) => e.modulation), undefined, bank.map((e) => e.kv)) : null;
  const past = agg ? await p.prefix(agg.latent) : p.emptyPast();
  const questionMs = performance.now() - t0;
  const stream = new TextStream((ids) => p.tokenizer.decode(ids));
  const sample = makeSampler({ temperature: o.temperature ?? 0, topP: o.topP ?? 1, seed: o.seed ?? 0 });
  let firstTokenMs: number | null = null;
  const tokens = (o.beams ?? 1) > 1 ? p.beam(promptIds, past, o.beams!, signal).then((ids) => ids[Symbol.iterator]())
    : Promise.resolve(p.decode(promptIds, past, { sample, signal, ...(o.maxNewTokens ? { maxNewTokens: o.maxNewTokens } : {}) }));
  for await (const token of await tokens) {
    firstTokenMs ??= performance.now() - t0;
    const delta = stream.push(token);
    if (delta) send({ id, kind: "token", text: delta });
  }
  const tail = stream.flush();
  if (tail) send({ id, kind: "token", text: tail });
  const byDoc = new Map<string, number>();
  agg?.weights.forEach((w, i) => byDoc.set(bank[i]!.document, (byDoc.get(bank[i]!.document) ?? 0) + w));
  const sources = [...byDoc].map(([document, weight]) => ({ document, weight })).sort((a, b) => b.weight - a.weight);
  return { answer: stream.text.trim(), sources, timings: { questionMs, firstTokenMs, totalMs: performance.now() - t0 } };
}

async function handle(req: EngineRequest): Promise<unknown> {
  switch (req.op) {
    case "load":
      mac = await loadBundle(req.dir, { ...req.settings, onWarning: (message) => send({ id: -1, kind: "warning", message }) });
      return { id: mac.manifest.id };
    case "ingest": {
      const p = pipeline();
      const chunks = p.chunkIds(req.text);
      if (!chunks.length) throw new AppError("INVALID_ARGUMENT", `${req.document} has no text`);
      const mods = await p.amortize(chunks);
      const kvs = await p.entryKV(mods);              // question-independent: computed once, at ingest
      mods.forEach((modulation, i) => bank.push({ document: req.document, modulation, kv: kvs[i]! }));
      return { entries: chunks.length };
    }
    case "ask":
      return ask(req.id, req.question, req.options);
    case "cancel":
      if (running.has(req.target)) running.get(req.target)!.aborted = true;
      return null;
  }
}

let queue = Promise.resolve();
port.on("message", (req: EngineRequest) => {
  if (req.op === "cancel") { void handle(req); return; }    // must not wait behind the answer it cancels
  queue = queue.then(async () => {
    try {
      send({ id: req.id, kind: "ok", value: await handle(req) });
    } catch (e) {
      const code = e instanceof AppError ? e.code : e instanceof AbortedError ? "ABORTED" : "ENGINE_ERROR";
      send({ id: req.id, kind: "error", code, message: (e as Error).message });
    } finally {
      running.delete(req.id);
    }
  });
});
