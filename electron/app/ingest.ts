// An ingest run over one vault: queued documents, in order, through read -> extract -> chunk ->
// amortize and embed -> one transaction per document (chunks, modulations, vectors, keyword index).
// Small documents share amortizer calls (a batch of 16 windows costs ~40% of 16 single calls). A
// document that fails gets its error and the run goes on; a crash leaves uncommitted documents
// queued, and the next run (any process) picks them up.
import path from "node:path";
import type { DocumentOutcome, IngestProgress, IngestSummary } from "../shared/api.js";
import { AppError } from "../shared/errors.js";
import { chunkPages, type Chunk } from "../vault/chunker.js";
import { extract, type DocType, type Extracted } from "../vault/extract.js";
import { readLimited, sha256 } from "../vault/files.js";
import { pack, type Packed } from "../vault/embeddings.js";
import type { DocumentRow } from "../vault/store.js";
import type { Vault } from "../vault/vault.js";
import { embedMissing } from "./embed.js";
import type { Model } from "./model.js";

/** Windows per engine call, and the most a group of small documents gathers before amortizing. */
const AMORTIZE_CALL = 32;
const GROUP_DOCUMENTS = 16;

export interface IngestHooks {
  signal?: AbortSignal;
  maxFileBytes: number;
  onProgress?: (p: IngestProgress) => void;
  onOutcome?: (o: DocumentOutcome) => void;
  /**
   * Called after a document commits, with the chunk ids it replaced
   * and its new entries (vector: when the bundle has an encoder).
   */
  onCommitted?: (
    vault: Vault,
    oldChunkIds: number[],
    entries: { chunkId: number; modulation: Float32Array; vector?: Packed }[],
  ) => Promise<void>;
  /**
   * Called when chunks that had no vector got one after the fact
   * (the engine's copy of the vault's vectors is out of date).
   */
  onReindexed?: (vault: Vault) => void;
}

interface Prepared {
  row: DocumentRow;
  bytes: Uint8Array;
  hash: string;
  doc: Extracted;
  chunks: Chunk[];
  oldChunkIds: number[];
}

export async function ingestQueued(vault: Vault, model: Model, hooks: IngestHooks): Promise<IngestSummary> {
  const store = vault.store;
  const summary: IngestSummary = {
    vaultId: vault.id,
    ready: 0,
    unchanged: 0,
    duplicates: 0,
    errors: 0,
    removed: 0,
    skipped: 0,
    cancelled: false,
  };
  const progress: IngestProgress = {
    vaultId: vault.id,
    total: store.queuedIds().length,
    done: 0,
    failed: 0,
    current: null,
  };
  const tell = () => hooks.onProgress?.({ ...progress, current: progress.current && { ...progress.current } });
  const outcome = (o: Omit<DocumentOutcome, "vaultId">) => hooks.onOutcome?.({ vaultId: vault.id, ...o });
  const finish = (failed = false) => {
    progress.done++;
    if (failed) progress.failed++;
    progress.current = null;
    tell();
  };
  const fail = (row: DocumentRow, e: unknown) => {
    const message = e instanceof AppError ? e.message : `${row.name}: unexpected error: ${(e as Error).message}`;
    store.fail(row.id, message);
    summary.errors++;
    outcome({ documentId: row.id, name: row.name, result: "error", message });
    finish(true);
  };

  /** Reads, dedupes and chunks one document; null when it needed no amortizing (or failed). */
  const prepare = async (row: DocumentRow): Promise<Prepared | null> => {
    progress.current = { documentId: row.id, name: row.name, stage: "reading", chunksDone: 0, chunksTotal: 0 };
    tell();
    try {
      const file = row.source ?? (row.storedFile ? vault.resolve(row.storedFile) : null);
      if (!file) throw new AppError("IO_ERROR", `${row.name} has neither a source file nor a stored copy`);
      const bytes = await readLimited(file, hooks.maxFileBytes);
      const hash = sha256(bytes);
      const oldChunkIds = store.chunkIdsOf(row.id);
      if (row.contentHash === hash && oldChunkIds.length) {
        store.touch(row.id); // only the mtime moved
        summary.unchanged++;
        outcome({ documentId: row.id, name: row.name, result: "unchanged", chunks: oldChunkIds.length });
        finish();
        return null;
      }
      const dup = store.duplicateOf(hash, row.id);
      if (dup) {
        store.remove([row.id]);
        summary.duplicates++;
        outcome({
          documentId: row.id,
          name: row.name,
          result: "duplicate",
          message: `same content as ${dup.name}, already in this vault`,
        });
        finish();
        return null;
      }
      progress.current.stage = "extracting";
      tell();
      const doc = await extract(bytes, row.type as DocType, path.basename(row.name));
      const chunks = chunkPages(doc.pages, (t) => model.tokenizer.encode(t).length, model.chunking);
      if (!chunks.length) throw new AppError("EXTRACTION_FAILED", `${row.name} contains no text`);
      return { row, bytes, hash, doc, chunks, oldChunkIds };
    } catch (e) {
      fail(row, e);
      return null;
    }
  };

  const commit = async (p: Prepared, modulations: Float32Array[], vectors: Packed[] | null) => {
    progress.current = {
      documentId: p.row.id,
      name: p.row.name,
      stage: "saving",
      chunksDone: p.chunks.length,
      chunksTotal: p.chunks.length,
    };
    tell();
    const storedFile = await vault.storeFile(p.bytes, p.row.type as DocType, p.hash);
    const committed = store.commit(p.row.id, {
      contentHash: p.hash,
      title: p.doc.title,
      pages: p.doc.pages.length,
      warning: p.doc.warning ?? null,
      storedFile,
      chunks: p.chunks,
      bundleId: model.manifest.id,
      slots: model.slots,
      width: model.width,
      modulations,
      storage: model.storage,
      ...(vectors && model.encoder ? { embeddings: { encoder: model.encoder.id, vectors } } : {}),
    });
    if (!committed) {
      // removed by the user while it was being read
      outcome({ documentId: p.row.id, name: p.row.name, result: "removed" });
      finish();
      return;
    }
    const newIds = store.chunkIdsOf(p.row.id);
    await hooks.onCommitted?.(
      vault,
      p.oldChunkIds,
      newIds.map((chunkId, k) => ({
        chunkId,
        modulation: modulations[k]!,
        ...(vectors ? { vector: vectors[k]! } : {}),
      })),
    );
    summary.ready++;
    outcome({
      documentId: p.row.id,
      name: p.row.name,
      result: "ready",
      chunks: p.chunks.length,
      ...(p.doc.warning ? { message: p.doc.warning } : {}),
    });
    finish();
  };

  tell();
  for (let ids = store.queuedIds(); ids.length; ids = store.queuedIds()) {
    progress.total = Math.max(progress.total, progress.done + ids.length);
    // Gather documents until the group has a full call's worth of windows.
    const group: Prepared[] = [];
    let windows = 0;
    for (const id of ids) {
      if (hooks.signal?.aborted || group.length >= GROUP_DOCUMENTS || windows >= AMORTIZE_CALL) break;
      const row = store.document(id);
      if (!row) continue; // removed while queued
      const p = await prepare(row);
      if (p) {
        group.push(p);
        windows += p.chunks.length;
      }
    }
    if (hooks.signal?.aborted) {
      store.cancelQueued();
      summary.cancelled = true;
      break;
    }
    if (!group.length) continue;
    const texts = group.flatMap((p) => p.chunks.map((c) => c.text));
    const modulations: Float32Array[] = [],
      vectors: Packed[] = [];
    const groupName = group.length > 1 ? `${group[0]!.row.name} and ${group.length - 1} more` : group[0]!.row.name;
    const stage = (stage: "amortizing" | "embedding", chunksDone: number) => {
      progress.current = {
        documentId: group[0]!.row.id,
        name: groupName,
        stage,
        chunksDone,
        chunksTotal: texts.length,
      };
      tell();
    };
    try {
      // Each call's windows are amortized, then embedded by the sentence encoder (when the bundle has one).
      for (let s = 0; s < texts.length; s += AMORTIZE_CALL) {
        if (hooks.signal?.aborted) throw new AppError("ABORTED", "ingestion cancelled");
        const slice = texts.slice(s, s + AMORTIZE_CALL);
        stage("amortizing", s);
        modulations.push(...(await model.engine.amortize(slice)).modulations);
        if (!model.encoder) continue;
        stage("embedding", s);
        vectors.push(...(await model.engine.embed(slice)).map((v) => pack(v)));
      }
    } catch (e) {
      if (e instanceof AppError && e.code === "ABORTED") continue; // the loop head cancels what is queued
      for (const p of group) fail(p.row, e);
      continue;
    }
    let at = 0;
    for (const p of group) {
      try {
        await commit(
          p,
          modulations.slice(at, at + p.chunks.length),
          model.encoder ? vectors.slice(at, at + p.chunks.length) : null,
        );
      } catch (e) {
        fail(p.row, e);
      }
      at += p.chunks.length;
    }
  }
  // Chunks still without a vector from this encoder (a vault from before vectors, another encoder's,
  // a document left unchanged): caught up here, so a finished run leaves the whole vault searchable.
  if (!summary.cancelled && model.encoder) {
    const n = await embedMissing(vault, model, {
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      onProgress: (done, total) => hooks.onProgress?.({ ...progress, current: null, reindex: { done, total } }),
    });
    if (n) hooks.onReindexed?.(vault);
  }
  return summary;
}
