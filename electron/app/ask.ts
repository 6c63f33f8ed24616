// Asking across vaults: find the passages (hybrid search: BM25 and dense fused, retrieve.ts), decide
// whether they can answer at all (the answer policy, before the model runs), make sure each vault's
// modulations are in the engine's memory (re-amortizing any made by another bundle), stream the
// answer, then name the passages it drew on, each with its document, page and the signal that found it.
import {
  DEFAULT_MEMORY_CANDIDATES,
  DEFAULT_SEARCH_MODE,
  NOT_FOUND_ANSWER,
  type AskRequest,
  type AskResponse,
  type Source,
} from "../shared/api.js";
import { AppError } from "../shared/errors.js";
import { defaultMode } from "../shared/manifest.js";
import { judge } from "../core/answer-policy.js";
import type { AskOptions, SourceWeight } from "../engine/engine-protocol.js";
import type { Vault } from "../vault/vault.js";
import type { EmbedHooks } from "./embed.js";
import type { Model } from "./model.js";
import { retrieve, type Retrieval } from "./retrieve.js";

const BANK_LOAD_BATCH = 1024;
const MAX_SOURCES = 5;

/** What the engine holds already: vault ids whose modulations (banks) and vectors are loaded. */
export interface Loaded {
  banks: Set<string>;
  vectors: Set<string>;
  embedHooks?: (vault: Vault) => EmbedHooks;
}

/** Brings a vault's modulations up to the model's bundle: never mixes two bundles' entries. */
export async function reamortizeStale(
  vault: Vault,
  model: Model,
  onProgress?: (done: number) => void,
): Promise<number> {
  let done = 0;
  for (
    let batch = vault.store.staleChunks(model.manifest.id, 256);
    batch.length;
    batch = vault.store.staleChunks(model.manifest.id, 256)
  ) {
    const { modulations } = await model.engine.amortize(batch.map((c) => c.text));
    vault.store.replaceModulations(
      model.manifest.id,
      model.slots,
      model.width,
      batch.map((c, i) => ({ chunkId: c.chunkId, modulation: modulations[i]! })),
      model.storage,
    );
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
    if (batch.length === BANK_LOAD_BATCH) {
      await model.engine.bankPut(vault.id, batch);
      batch = [];
    }
  }
  if (batch.length) await model.engine.bankPut(vault.id, batch);
  loaded.add(vault.id);
}

export function askOptions(req: AskRequest): AskOptions {
  return {
    ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    ...(req.topP !== undefined ? { topP: req.topP } : {}),
    ...(req.seed !== undefined ? { seed: req.seed } : {}),
    ...(req.beams !== undefined ? { beams: req.beams } : {}),
    ...(req.maxNewTokens !== undefined ? { maxNewTokens: req.maxNewTokens } : {}),
    ...(req.candidates ? { candidates: req.candidates } : {}),
    ...(req.long ? { long: true } : {}),
  };
}

export async function askVaults(
  model: Model,
  vaults: Vault[],
  loaded: Loaded,
  req: AskRequest,
  onToken: (text: string) => void,
  signal?: AbortSignal,
): Promise<AskResponse> {
  const question = req.question.trim();
  if (!question) throw new AppError("INVALID_ARGUMENT", "the question is empty");
  const mode = req.mode ?? defaultMode(model.manifest);
  const useMemory = mode === "memory" || mode === "memory+keyword";
  if (useMemory && !model.manifest.mac) {
    throw new AppError(
      "MEMORY_UNAVAILABLE",
      `the model ${model.manifest.name} has no memory heads yet, so "${mode}" mode is unavailable; ` +
        `use keyword mode`,
    );
  }
  const t0 = performance.now();
  const candidates = req.candidates ?? (useMemory ? DEFAULT_MEMORY_CANDIDATES : undefined);
  const depth = Math.max(MAX_SOURCES * 2, req.passages ?? 3, candidates ?? 0);
  const found = await retrieve(model, vaults, question, {
    mode: req.search ?? DEFAULT_SEARCH_MODE,
    k: depth,
    loaded: loaded.vectors,
    ...(loaded.embedHooks ? { embedHooks: loaded.embedHooks } : {}),
  });
  const searchMs = performance.now() - t0;
  const verdict =
    mode === "none" || req.abstain === false
      ? { abstain: false as const }
      : judge({ chunks: found.chunks, bestDense: found.bestDense, bestKeyword: found.bestKeyword });
  if (verdict.abstain) {
    // Nothing relevant: the model is not asked. The closest passages still come back, for the user to judge.
    onToken(NOT_FOUND_ANSWER);
    for (const v of vaults) v.store.addQuestion(question, NOT_FOUND_ANSWER, mode);
    const totalMs = performance.now() - t0;
    return {
      answer: NOT_FOUND_ANSWER,
      notFound: { reason: verdict.reason },
      sources: sources(found, []),
      bankSize: 0,
      timings: { bankMs: 0, questionMs: totalMs, firstTokenMs: totalMs, totalMs, searchMs },
    };
  }
  const t1 = performance.now();
  if (useMemory) for (const v of vaults) await loadBank(v, model, loaded.banks);
  const bankMs = performance.now() - t1;
  const passages =
    mode === "keyword" || mode === "memory+keyword"
      ? found.hits.slice(0, req.passages ?? 3).map((h) => h.hit.text)
      : [];
  // No passage at all (an empty vault with the policy off): the question goes alone, as in "none" mode.
  // Behind the memory the best passage goes last, next to the question: +5.1 and +1.6 F1 over best
  // first on two samples of valid questions, pooled +3.4 [+0.7, +5.9]; keyword mode alone keeps best
  // first (best last there: -0.9 [-3.1, +1.4]; docs/eval.md).
  const context = passages.length
    ? { kind: "keyword" as const, passages, ...(mode === "memory+keyword" ? { bestLast: true } : {}) }
    : undefined;
  // Large banks: the memory attends over the retrieval's best candidates instead of every entry.
  const candidateKeys =
    useMemory && candidates
      ? found.hits.slice(0, candidates).map((h) => ({ bank: h.vault.id, key: String(h.hit.chunkId) }))
      : [];
  const options = {
    ...askOptions({ ...req, ...(candidates ? { candidates } : {}) }),
    ...(context !== undefined ? { context } : {}),
    ...(candidateKeys.length ? { candidateKeys } : {}),
  };
  const r = await model.engine.ask(
    question,
    options,
    onToken,
    signal,
    vaults.map((v) => v.id),
    useMemory,
  );
  for (const v of vaults) v.store.addQuestion(question, r.answer, mode);
  return {
    answer: r.answer,
    sources: sources(found, r.sources, vaults),
    bankSize: r.bankSize,
    ...(r.truncated ? { truncated: true } : {}),
    timings: {
      bankMs,
      questionMs: r.timings.questionMs,
      firstTokenMs: r.timings.firstTokenMs,
      totalMs: performance.now() - t0,
      searchMs,
    },
  };
}

/**
 * The passages shown as sources: the retrieval's, merged with the memory's attention per chunk. Each
 * signal is scaled to its strongest passage and the two are added, so a passage both find ranks first.
 */
function sources(found: Retrieval, memory: readonly SourceWeight[], vaults: readonly Vault[] = []): Source[] {
  const byId = new Map(vaults.map((v) => [v.id, v]));
  const out = new Map<string, Source & { retrieval: number }>();
  const source = (vault: Vault, hit: Retrieval["hits"][number]["hit"]): Source & { retrieval: number } => ({
    vaultId: vault.id,
    vaultName: vault.name,
    documentId: hit.documentId,
    title: hit.title,
    name: hit.name,
    pageStart: hit.pageStart,
    pageEnd: hit.pageEnd,
    passage: hit.text,
    charStart: hit.charStart,
    charEnd: hit.charEnd,
    memoryWeight: 0,
    keywordScore: 0,
    denseScore: 0,
    foundBy: "memory",
    retrieval: 0,
  });
  for (const h of found.hits) {
    out.set(`${h.vault.id}:${h.hit.chunkId}`, {
      ...source(h.vault, h.hit),
      keywordScore: h.keyword?.score ?? 0,
      denseScore: h.dense?.score ?? 0,
      foundBy: h.foundBy,
      retrieval: h.score,
    });
  }
  for (const s of memory.slice(0, MAX_SOURCES * 2)) {
    const key = `${s.bank}:${s.key}`,
      known = out.get(key);
    if (known) {
      known.memoryWeight = s.weight;
      continue;
    }
    const vault = byId.get(s.bank),
      [hit] = vault ? vault.store.chunks([Number(s.key)]) : [];
    if (vault && hit) out.set(key, { ...source(vault, hit), memoryWeight: s.weight });
  }
  const all = [...out.values()];
  const maxMemory = Math.max(1e-9, ...all.map((s) => s.memoryWeight)),
    maxRetrieval = Math.max(1e-9, ...all.map((s) => s.retrieval));
  const rank = (s: (typeof all)[number]) => s.memoryWeight / maxMemory + s.retrieval / maxRetrieval;
  return all
    .sort((a, b) => rank(b) - rank(a))
    .slice(0, MAX_SOURCES)
    .map(({ retrieval: _, ...s }) => s);
}
