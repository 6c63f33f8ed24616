// Finding passages across vaults: BM25 over each vault's FTS5 index, dense cosine over the engine's
// vector index (the bundle's sentence encoder), and the two fused by reciprocal rank (hybrid, the
// default). Used for keyword-mode passages, the sources list, MAC's candidate pre-selection, the
// answer policy's evidence and `mnemo search`.
import { SEARCH_MODES, type SearchMode } from "../shared/api.js";
import { AppError } from "../shared/errors.js";
import { DEFAULT_FUSION, reciprocalRankFusion, type FusionOptions } from "../core/fusion.js";
import type { ChunkHit } from "../vault/store.js";
import type { Vault } from "../vault/vault.js";
import { loadVectors, type EmbedHooks } from "./embed.js";
import type { Model } from "./model.js";

export { SEARCH_MODES, type SearchMode };

/** How deep each list goes before fusion: fusion can only promote what a list found. */
export const CANDIDATES = 50;
/** A signal counts as having "found" a passage when it ranks it this high (the UI's keyword / meaning / both). */
const FOUND_WITHIN = 10;

export interface Retrieved {
  vault: Vault;
  hit: ChunkHit;
  /** The fused score in hybrid mode; otherwise the one signal's own (BM25 score or cosine). */
  score: number;
  keyword: { rank: number; score: number } | null;
  dense: { rank: number; score: number } | null;
  foundBy: "keyword" | "meaning" | "both";
}

export interface Retrieval {
  /** The mode that ran: hybrid falls back to bm25 on a bundle without an encoder. */
  mode: SearchMode;
  hits: Retrieved[];
  /** The evidence the answer policy weighs: the best score of each signal (null: the signal did not run). */
  bestKeyword: number | null;
  bestDense: number | null;
  /** Chunks searched (all vaults in scope). */
  chunks: number;
  timings: { keywordMs: number; embedMs: number; denseMs: number };
}

export interface RetrieveOptions {
  mode?: SearchMode;
  /** Hits returned (each list goes max(k, CANDIDATES) deep). */
  k?: number;
  /** Vault ids whose vectors are in the engine already. */
  loaded: Set<string>;
  fusion?: FusionOptions;
  embedHooks?: (vault: Vault) => EmbedHooks;
}

export async function retrieve(
  model: Model,
  vaults: readonly Vault[],
  query: string,
  o: RetrieveOptions,
): Promise<Retrieval> {
  const asked = o.mode ?? "hybrid";
  if (!SEARCH_MODES.includes(asked))
    throw new AppError("INVALID_ARGUMENT", `search mode must be one of ${SEARCH_MODES.join(", ")}, got ${asked}`);
  if (asked === "dense" && !model.encoder) {
    throw new AppError(
      "ENCODER_UNAVAILABLE",
      `the model ${model.manifest.name} has no sentence encoder, so dense search is unavailable; use bm25`,
    );
  }
  const mode: SearchMode = asked === "hybrid" && !model.encoder ? "bm25" : asked;
  const k = o.k ?? 10,
    depth = Math.max(k, CANDIDATES);
  const chunks = vaults.reduce((n, v) => n + v.store.stats().chunks, 0);
  const t0 = performance.now();
  // BM25 scores come from each vault's own statistics: merged by score, they compare only roughly.
  const keyword =
    mode === "dense"
      ? []
      : vaults
          .flatMap((vault) => vault.store.search(query, depth).map((hit) => ({ vault, hit })))
          .sort((a, b) => b.hit.score - a.hit.score)
          .slice(0, depth);
  const t1 = performance.now();
  let dense: { vault: Vault; hit: ChunkHit }[] = [],
    embedMs = 0;
  if (mode !== "bm25" && vaults.length) {
    for (const v of vaults) await loadVectors(v, model, o.loaded, o.embedHooks?.(v));
    const r = await model.engine.vectorSearch(
      query,
      vaults.map((v) => v.id),
      depth,
    );
    embedMs = r.embedMs;
    const byId = new Map(vaults.map((v) => [v.id, v]));
    dense = r.hits.flatMap((h) => {
      const vault = byId.get(h.bank),
        [hit] = vault ? vault.store.chunks([Number(h.key)]) : [];
      return vault && hit ? [{ vault, hit: { ...hit, score: h.score } }] : []; // a chunk removed since: skipped
    });
  }
  const t2 = performance.now();
  const id = (h: { vault: Vault; hit: ChunkHit }) => `${h.vault.id}:${h.hit.chunkId}`;
  const lists = mode === "hybrid" ? [keyword, dense] : mode === "bm25" ? [keyword] : [dense];
  const fused = reciprocalRankFusion(lists, id, o.fusion ?? DEFAULT_FUSION);
  const kwScore = new Map(keyword.map((h) => [id(h), h.hit.score])),
    dnScore = new Map(dense.map((h) => [id(h), h.hit.score]));
  const hits = fused.slice(0, k).map((f): Retrieved => {
    const kr = mode === "dense" ? null : (f.ranks[0] ?? null),
      dr = mode === "hybrid" ? (f.ranks[1] ?? null) : mode === "dense" ? (f.ranks[0] ?? null) : null;
    const kw = kr === null ? null : { rank: kr, score: kwScore.get(id(f.item))! };
    const dn = dr === null ? null : { rank: dr, score: dnScore.get(id(f.item))! };
    const byKeyword = kw !== null && kw.rank <= FOUND_WITHIN,
      byMeaning = dn !== null && dn.rank <= FOUND_WITHIN;
    const foundBy =
      byKeyword && byMeaning
        ? "both"
        : byKeyword
          ? "keyword"
          : byMeaning
            ? "meaning"
            : (kw?.rank ?? Infinity) <= (dn?.rank ?? Infinity)
              ? "keyword"
              : "meaning";
    return {
      vault: f.item.vault,
      hit: f.item.hit,
      score: mode === "hybrid" ? f.score : (kw ?? dn)!.score,
      keyword: kw,
      dense: dn,
      foundBy,
    };
  });
  return {
    mode,
    hits,
    chunks,
    bestKeyword: mode === "dense" ? null : (keyword[0]?.hit.score ?? 0),
    bestDense: mode === "bm25" ? null : (dense[0]?.hit.score ?? null),
    timings: { keywordMs: t1 - t0, embedMs, denseMs: t2 - t1 - embedMs },
  };
}
