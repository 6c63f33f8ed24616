// Asking across vaults: make sure each vault's modulations are in the engine's memory (re-amortizing
// any made by another bundle), stream the answer, then name the passages it drew on: the memory's
// attention per chunk, merged with BM25 keyword hits, each with its document and page.
import { DEFAULT_ANSWER_MODE, type AskRequest, type AskResponse, type Source } from "../shared/api.js";
import { AppError } from "../shared/errors.js";
import type { AskOptions } from "../engine/engine-protocol.js";
import type { ChunkHit } from "../vault/store.js";
import type { Vault } from "../vault/vault.js";
import type { Model } from "./model.js";

const BANK_LOAD_BATCH = 1024;
const KEYWORD_HITS = 5;
const MAX_SOURCES = 5;

/** Brings a vault's modulations up to the model's bundle: never mixes two bundles' entries. */
export async function reamortizeStale(vault: Vault, model: Model, onProgress?: (done: number) => void): Promise<number> {
  let done = 0;
  for (let batch = vault.store.staleChunks(model.manifest.id, 256); batch.length; batch = vault.store.staleChunks(model.manifest.id, 256)) {
    const { modulations } = await model.engine.amortize(batch.map((c) => c.text));
    vault.store.replaceModulations(model.manifest.id, model.slots, model.width, batch.map((c, i) => ({ chunkId: c.chunkId, modulation: modulations[i]! })));
    done += batch.length;
    onProgress?.(done);
  }
  return done;
}

export async function loadBank(vault: Vault, model: Model, loaded: Set<string>): Promise<void> {
  if (loaded.has(vault.id)) return;
  await reamortizeStale(vault, model);
  await model.engine.bankDrop(vault.id);
  let batch: { key: string; modulation: Float32Array }[] = [];
  for (const m of vault.store.modulations(model.manifest.id)) {
    batch.push({ key: String(m.chunkId), modulation: m.modulation });
    if (batch.length === BANK_LOAD_BATCH) { await model.engine.bankPut(vault.id, batch); batch = []; }
  }
  if (batch.length) await model.engine.bankPut(vault.id, batch);
  loaded.add(vault.id);
}

export function askOptions(req: AskRequest): AskOptions {
  return { ...(req.temperature !== undefined ? { temperature: req.temperature } : {}), ...(req.topP !== undefined ? { topP: req.topP } : {}),
    ...(req.seed !== undefined ? { seed: req.seed } : {}), ...(req.beams !== undefined ? { beams: req.beams } : {}),
    ...(req.maxNewTokens !== undefined ? { maxNewTokens: req.maxNewTokens } : {}), ...(req.candidates ? { candidates: req.candidates } : {}),
    ...(req.long ? { long: true } : {}) };
}

export async function askVaults(model: Model, vaults: Vault[], loaded: Set<string>, req: AskRequest,
  onToken: (text: string) => void, signal?: AbortSignal): Promise<AskResponse> {
  const question = req.question.trim();
  if (!question) throw new AppError("INVALID_ARGUMENT", "the question is empty");
  const mode = req.mode ?? DEFAULT_ANSWER_MODE;
  const useMemory = mode === "memory" || mode === "memory+keyword";
  if (useMemory && !model.manifest.mac) {
    throw new AppError("MEMORY_UNAVAILABLE", `the model ${model.manifest.name} has no memory heads yet, so "${mode}" mode is unavailable; ` +
      `use keyword mode (the default)`);
  }
  const t0 = performance.now();
  if (useMemory) for (const v of vaults) await loadBank(v, model, loaded);
  const bankMs = performance.now() - t0;
  const hits = vaults.flatMap((vault) => vault.store.search(question, Math.max(KEYWORD_HITS, req.passages ?? 3)).map((hit) => ({ vault, hit })))
    .sort((a, b) => b.hit.score - a.hit.score);
  const passages = mode === "keyword" || mode === "memory+keyword" ? hits.slice(0, req.passages ?? 3).map((h) => h.hit.text) : [];
  // No keyword hit: nothing to read, so the question goes alone (as in "none" mode).
  const context = passages.length ? { kind: "keyword" as const, passages } : undefined;
  const options = { ...askOptions(req), ...(context !== undefined ? { context } : {}) };
  const r = await model.engine.ask(question, options, onToken, signal, vaults.map((v) => v.id), useMemory);
  const byId = new Map(vaults.map((v) => [v.id, v]));
  const memory = new Map<string, number>();
  for (const s of r.sources) memory.set(`${s.bank}:${s.key}`, s.weight);
  const candidates = new Map<string, { vault: Vault; hit: ChunkHit }>();
  for (const s of r.sources.slice(0, MAX_SOURCES * 2)) {
    const vault = byId.get(s.bank);
    const [hit] = vault ? vault.store.chunks([Number(s.key)]) : [];
    if (vault && hit) candidates.set(`${s.bank}:${s.key}`, { vault, hit });
  }
  const keyword = new Map<string, number>();
  // Hits on common words alone ("the", "was") score near zero: keep those within 10x of the best.
  const best = Math.max(0, ...hits.map((h) => h.hit.score));
  for (const { vault, hit } of hits.slice(0, KEYWORD_HITS).filter((h) => h.hit.score >= best / 10)) {
    keyword.set(`${vault.id}:${hit.chunkId}`, hit.score);
    candidates.set(`${vault.id}:${hit.chunkId}`, { vault, hit });
  }
  const maxMemory = Math.max(1e-9, ...memory.values()), maxKeyword = Math.max(1e-9, ...keyword.values());
  const sources: Source[] = [...candidates].map(([key, { vault, hit }]) => ({
    vaultId: vault.id, vaultName: vault.name, documentId: hit.documentId, title: hit.title, name: hit.name,
    pageStart: hit.pageStart, pageEnd: hit.pageEnd, passage: hit.text, charStart: hit.charStart, charEnd: hit.charEnd,
    memoryWeight: memory.get(key) ?? 0, keywordScore: keyword.get(key) ?? 0,
  }));
  // Each signal scaled to its strongest passage, then averaged: a passage both find ranks first.
  const rank = (s: Source) => s.memoryWeight / maxMemory + s.keywordScore / maxKeyword;
  sources.sort((a, b) => rank(b) - rank(a));
  for (const v of vaults) v.store.addQuestion(question, r.answer, mode);
  return { answer: r.answer, sources: sources.slice(0, MAX_SOURCES), bankSize: r.bankSize,
    timings: { bankMs, questionMs: r.timings.questionMs, firstTokenMs: r.timings.firstTokenMs, totalMs: performance.now() - t0 } };
}
