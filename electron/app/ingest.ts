// An ingest run over one vault: every queued document, in order, through read -> extract -> chunk ->
// amortize -> one transaction. A document that fails gets its error and the run goes on; a crash
// leaves the document queued, and the next run (any process) picks it up where the vault stands.
import path from "node:path";
import type { DocumentOutcome, IngestProgress, IngestSummary } from "../shared/api.js";
import { AppError } from "../shared/errors.js";
import { chunkPages } from "../vault/chunker.js";
import { extract } from "../vault/extract.js";
import { readLimited, sha256 } from "../vault/files.js";
import type { Vault } from "../vault/vault.js";
import type { Model } from "./model.js";

const AMORTIZE_CALL = 32;          // chunks per engine call: progress granularity vs per-call overhead

export interface IngestHooks {
  signal?: AbortSignal;
  maxFileBytes: number;
  onProgress?: (p: IngestProgress) => void;
  onOutcome?: (o: DocumentOutcome) => void;
  /** Called after a document commits, with the chunk ids it replaced and its new entries. */
  onCommitted?: (vault: Vault, oldChunkIds: number[], entries: { chunkId: number; modulation: Float32Array }[]) => Promise<void>;
}

export async function ingestQueued(vault: Vault, model: Model, hooks: IngestHooks): Promise<IngestSummary> {
  const store = vault.store;
  const summary: IngestSummary = { vaultId: vault.id, ready: 0, unchanged: 0, duplicates: 0, errors: 0, removed: 0, skipped: 0, cancelled: false };
  const progress: IngestProgress = { vaultId: vault.id, total: store.queuedIds().length, done: 0, failed: 0, current: null };
  const tell = () => hooks.onProgress?.({ ...progress, current: progress.current && { ...progress.current } });
  const outcome = (o: Omit<DocumentOutcome, "vaultId">) => hooks.onOutcome?.({ vaultId: vault.id, ...o });
  tell();
  for (let id = store.queuedIds()[0]; id !== undefined; id = store.queuedIds()[0]) {
    if (hooks.signal?.aborted) {
      store.cancelQueued();
      summary.cancelled = true;
      break;
    }
    progress.total = Math.max(progress.total, progress.done + store.queuedIds().length);
    const row = store.document(id)!;
    progress.current = { documentId: id, name: row.name, stage: "reading", chunksDone: 0, chunksTotal: 0 };
    tell();
    try {
      const file = row.source ?? (row.storedFile ? vault.resolve(row.storedFile) : null);
      if (!file) throw new AppError("IO_ERROR", `${row.name} has neither a source file nor a stored copy`);
      const bytes = await readLimited(file, hooks.maxFileBytes);
      const hash = sha256(bytes);
      const chunkIds = store.chunkIdsOf(id);
      if (row.contentHash === hash && chunkIds.length) {
        store.touch(id);                                   // only the mtime moved
        summary.unchanged++;
        outcome({ documentId: id, name: row.name, result: "unchanged", chunks: chunkIds.length });
      } else if (store.duplicateOf(hash, id)) {
        const dup = store.duplicateOf(hash, id)!;
        store.remove([id]);
        summary.duplicates++;
        outcome({ documentId: id, name: row.name, result: "duplicate", message: `same content as ${dup.name}, already in this vault` });
      } else {
        const n = await ingestOne(vault, model, id, row.name, row.type, bytes, hash, chunkIds, hooks, progress, tell);
        summary.ready++;
        outcome({ documentId: id, name: row.name, result: "ready", chunks: n });
      }
    } catch (e) {
      if (e instanceof AppError && e.code === "ABORTED") continue;     // the loop head cancels
      const message = e instanceof AppError ? e.message : `${row.name}: unexpected error: ${(e as Error).message}`;
      store.fail(id, message);
      summary.errors++;
      progress.failed++;
      outcome({ documentId: id, name: row.name, result: "error", message });
    }
    progress.done++;
    progress.current = null;
    tell();
  }
  return summary;
}

async function ingestOne(vault: Vault, model: Model, id: number, name: string, type: Parameters<typeof extract>[1],
  bytes: Uint8Array, hash: string, oldChunkIds: number[], hooks: IngestHooks, progress: IngestProgress, tell: () => void): Promise<number> {
  const current = progress.current!;
  current.stage = "extracting";
  tell();
  const doc = await extract(bytes, type, path.basename(name));
  const chunks = chunkPages(doc.pages, (t) => model.tokenizer.encode(t).length, model.chunking);
  if (!chunks.length) throw new AppError("EXTRACTION_FAILED", `${name} contains no text`);
  current.stage = "amortizing";
  current.chunksTotal = chunks.length;
  tell();
  const modulations: Float32Array[] = [];
  for (let s = 0; s < chunks.length; s += AMORTIZE_CALL) {
    if (hooks.signal?.aborted) throw new AppError("ABORTED", "ingestion cancelled");
    modulations.push(...(await model.engine.amortize(chunks.slice(s, s + AMORTIZE_CALL).map((c) => c.text))).modulations);
    current.chunksDone = modulations.length;
    tell();
  }
  current.stage = "saving";
  tell();
  const storedFile = await vault.storeFile(bytes, type, hash);
  vault.store.commit(id, { contentHash: hash, title: doc.title, pages: doc.pages.length, warning: doc.warning ?? null, storedFile,
    chunks, bundleId: model.manifest.id, slots: model.slots, width: model.width, modulations });
  const newIds = vault.store.chunkIdsOf(id);
  await hooks.onCommitted?.(vault, oldChunkIds, newIds.map((chunkId, k) => ({ chunkId, modulation: modulations[k]! })));
  return chunks.length;
}
