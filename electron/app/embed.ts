// A vault's dense vectors: filling in the ones missing (a vault from before schema 3, chunks whose
// vector another encoder made, documents ingested by a bundle without an encoder) and loading them
// into the engine's vector index. New documents get theirs at ingest, in the same transaction as their
// chunks (ingest.ts); this catches up on everything else, a batch per transaction, so a crash loses at
// most the batch in flight and the next call picks up where it stopped.
import { toInt8, type Packed } from "../vault/embeddings.js";
import type { Vault } from "../vault/vault.js";
import type { Model } from "./model.js";

/** Chunks embedded per engine call and per transaction. */
const EMBED_BATCH = 64;
/** Vectors sent to the engine per message when loading a vault (8192 × 384 bytes = 3 MB). */
const LOAD_BATCH = 8192;

export interface EmbedHooks {
  signal?: AbortSignal;
  /** Chunks embedded so far out of those that were missing. */
  onProgress?: (done: number, total: number) => void;
}

/** Embeds every chunk of the vault that has no vector from the model's encoder; returns how many were done. */
export async function embedMissing(vault: Vault, model: Model, hooks: EmbedHooks = {}): Promise<number> {
  const encoder = model.encoder;
  if (!encoder) return 0;
  const store = vault.store.embeddings;
  const total = store.countMissing(encoder.id);
  if (!total) return 0;
  let done = 0;
  hooks.onProgress?.(0, total);
  for (
    let batch = store.missing(encoder.id, EMBED_BATCH);
    batch.length && !hooks.signal?.aborted;
    batch = store.missing(encoder.id, EMBED_BATCH)
  ) {
    const vectors = await model.engine.embed(batch.map((c) => c.text));
    // Chunks removed meanwhile are skipped by put, and missing() no longer returns them: no loop.
    store.put(
      encoder.id,
      batch.map((c, i) => ({ chunkId: c.chunkId, vector: vectors[i]! })),
    );
    done += batch.length;
    hooks.onProgress?.(Math.min(done, total), total);
  }
  return done;
}

/**
 * Loads the vault's vectors into the engine (bank = vault id), once; later ingests and removals keep
 * it current through the app's hooks. The vault counts as loaded before the rows are sent, and rows
 * are read a page at a time by chunk id, so a document committed or removed while loading is right
 * either way: its new rows arrive through the hook (and again in a later page), its old ones are gone.
 */
export async function loadVectors(
  vault: Vault,
  model: Model,
  loaded: Set<string>,
  hooks: EmbedHooks = {},
): Promise<void> {
  if (!model.encoder || loaded.has(vault.id)) return;
  await embedMissing(vault, model, hooks);
  loaded.add(vault.id);
  try {
    await model.engine.vectorsDrop(vault.id);
    for (const rows of vault.store.embeddings.int8Rows(model.encoder.id, LOAD_BATCH)) {
      await model.engine.vectorsPut(vault.id, rows.dim, rows.chunkIds.map(String), rows.data, rows.scales);
    }
  } catch (e) {
    loaded.delete(vault.id);
    await model.engine.vectorsDrop(vault.id).catch(() => {});
    throw e;
  }
}

/**
 * Keeps the engine's copy of a loaded vault's vectors current after a document commits: old chunks out, new ones in.
 */
export async function updateVectors(
  model: Model,
  vaultId: string,
  oldChunkIds: readonly number[],
  entries: readonly { chunkId: number; vector?: Packed }[],
): Promise<void> {
  if (!model.encoder) return;
  if (oldChunkIds.length) await model.engine.vectorsDrop(vaultId, oldChunkIds.map(String));
  const fresh = entries.filter((e) => e.vector);
  if (!fresh.length) return;
  const dim = model.encoder.dim,
    data = new Int8Array(fresh.length * dim),
    scales = new Float32Array(fresh.length);
  fresh.forEach((e, i) => {
    const { q, scale } = toInt8(e.vector!);
    data.set(q, i * dim);
    scales[i] = scale;
  });
  await model.engine.vectorsPut(
    vaultId,
    dim,
    fresh.map((e) => String(e.chunkId)),
    data,
    scales,
  );
}
