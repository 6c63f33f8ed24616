// Rows of one vault: documents and their ingestion state, chunks with page spans, modulations,
// the FTS5 keyword index and watched folders. Every multi-row change is one transaction.
import { AppError } from "../shared/errors.js";
import { decodeModulation, encodeModulation, type ModulationStorage } from "../shared/modulation-codec.js";
import type { Chunk } from "./chunker.js";
import { EmbeddingStore, type Packed } from "./embeddings.js";
import type { DocType } from "./extract.js";
import type { Db } from "./schema.js";
import { STOPWORDS } from "./stopwords.js";

export type DocStatus = "queued" | "ready" | "error";

export interface DocumentRow {
  id: number;
  source: string | null;
  name: string;
  title: string;
  type: DocType;
  size: number;
  mtimeMs: number;
  contentHash: string | null;
  storedFile: string | null;
  status: DocStatus;
  error: string | null;
  warning: string | null;
  pages: number | null;
  chunks: number;
  addedAt: number;
  updatedAt: number;
}

export interface FileFacts {
  source: string | null;
  name: string;
  type: DocType;
  size: number;
  mtimeMs: number;
  storedFile?: string;
}

export interface ChunkHit {
  chunkId: number;
  documentId: number;
  title: string;
  name: string;
  pageStart: number;
  pageEnd: number;
  charStart: number;
  charEnd: number;
  text: string;
  score: number;
}

export interface Ingested {
  contentHash: string;
  title: string;
  pages: number;
  warning: string | null;
  storedFile: string | null;
  chunks: Chunk[];
  bundleId: string;
  slots: number;
  width: number;
  modulations: Float32Array[];
  /** How the bundle keeps modulations (float32 when absent). */
  storage?: ModulationStorage;
  /** One vector per chunk from the bundle's sentence encoder (absent when the bundle has none). */
  embeddings?: { encoder: string; vectors: Packed[] };
}

const DOC_COLUMNS = `d.id, d.source, d.name, d.title, d.type, d.size, d.mtime_ms AS mtimeMs, d.content_hash AS contentHash,
  d.stored_file AS storedFile, d.status, d.error, d.warning, d.pages, d.added_at AS addedAt, d.updated_at AS updatedAt,
  (SELECT count(*) FROM chunks c WHERE c.document_id = d.id) AS chunks`;

const toBlob = (f: Float32Array, slots: number, width: number, storage: ModulationStorage = "float32") => {
  const b = encodeModulation(f, slots, width, storage);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
};
/** A float32 blob as a copy, so the Float32Array is aligned and owns its memory (SQLite's buffer may be reused). */
export const fromBlob = (b: Buffer) => new Float32Array(new Uint8Array(b).buffer);

/**
 * A stored modulation in either storage (float32 from format-1 bundles and older vaults, or int8), told apart by size.
 */
function readModulation(chunkId: number, slots: number, width: number, data: Buffer): Float32Array {
  try {
    return decodeModulation(data, slots, width);
  } catch (e) {
    throw new AppError("VAULT_CORRUPT", `the modulation of chunk ${chunkId} is damaged: ${(e as Error).message}`);
  }
}

export class VaultStore {
  readonly embeddings: EmbeddingStore;

  constructor(readonly db: Db) {
    this.embeddings = new EmbeddingStore(db);
  }

  meta(key: string): string | undefined {
    return (this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.db
      .prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
      .run(key, value);
  }

  /**
   * Queues files for ingestion in one transaction: new files get a row, changed ones (size or mtime)
   * go back to "queued" keeping their old chunks until the new ones commit; unchanged ready ones are skipped.
   */
  enqueue(files: readonly FileFacts[], now = Date.now()): { queued: number[]; unchanged: number } {
    const queued: number[] = [];
    let unchanged = 0;
    const bySource = this.db.prepare("SELECT id, size, mtime_ms AS mtimeMs, status FROM documents WHERE source = ?");
    const insert = this.db
      .prepare(`INSERT INTO documents (source, name, title, type, size, mtime_ms, stored_file, status, added_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?)`);
    const requeue = this.db.prepare(
      "UPDATE documents SET status = 'queued', error = NULL, size = ?, mtime_ms = ?, updated_at = ? WHERE id = ?",
    );
    this.db.transaction(() => {
      for (const f of files) {
        const old =
          f.source === null
            ? undefined
            : (bySource.get(f.source) as { id: number; size: number; mtimeMs: number; status: DocStatus } | undefined);
        if (!old) {
          queued.push(
            Number(
              insert.run(
                f.source,
                f.name,
                f.name,
                f.type,
                f.size,
                Math.round(f.mtimeMs),
                f.storedFile ?? null,
                now,
                now,
              ).lastInsertRowid,
            ),
          );
        } else if (old.status === "ready" && old.size === f.size && old.mtimeMs === Math.round(f.mtimeMs)) {
          unchanged++;
        } else {
          requeue.run(f.size, Math.round(f.mtimeMs), now, old.id);
          queued.push(old.id);
        }
      }
    })();
    return { queued, unchanged };
  }

  /** Puts failed documents back in the queue. */
  requeue(ids: readonly number[], now = Date.now()): void {
    const q = this.db.prepare(
      "UPDATE documents SET status = 'queued', error = NULL, updated_at = ? WHERE id = ? AND status = 'error'",
    );
    this.db.transaction(() => {
      for (const id of ids) q.run(now, id);
    })();
  }

  queuedIds(): number[] {
    return (
      this.db.prepare("SELECT id FROM documents WHERE status = 'queued' ORDER BY id").all() as { id: number }[]
    ).map((r) => r.id);
  }

  document(id: number): DocumentRow | undefined {
    return this.db.prepare(`SELECT ${DOC_COLUMNS} FROM documents d WHERE d.id = ?`).get(id) as DocumentRow | undefined;
  }

  documents(): DocumentRow[] {
    return this.db.prepare(`SELECT ${DOC_COLUMNS} FROM documents d ORDER BY d.id`).all() as DocumentRow[];
  }

  /** Another ready document with these exact bytes, if any (dedupe by content). */
  duplicateOf(contentHash: string, exceptId: number): DocumentRow | undefined {
    const row = this.db
      .prepare("SELECT id FROM documents WHERE content_hash = ? AND status = 'ready' AND id != ? ORDER BY id LIMIT 1")
      .get(contentHash, exceptId) as { id: number } | undefined;
    return row && this.document(row.id);
  }

  /**
   * Replaces a document's chunks, modulations, embeddings and keyword index with a new extraction:
   * one transaction. False when the document was removed meanwhile (nothing is written then).
   */
  commit(id: number, r: Ingested, now = Date.now()): boolean {
    if (r.embeddings && r.embeddings.vectors.length !== r.chunks.length) {
      throw new Error(`${r.embeddings.vectors.length} embeddings for ${r.chunks.length} chunks`);
    }
    const putEmbedding = r.embeddings && this.embeddings.writer(r.embeddings.encoder);
    const insChunk = this.db
      .prepare(`INSERT INTO chunks (document_id, seq, text, page_start, page_end, char_start, char_end, token_count)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    const insMod = this.db.prepare(
      "INSERT INTO modulations (chunk_id, bundle_id, slots, width, data) VALUES (?, ?, ?, ?, ?)",
    );
    return this.db.transaction(() => {
      if (!this.db.prepare("SELECT 1 FROM documents WHERE id = ?").get(id)) return false;
      this.db.prepare("DELETE FROM chunks WHERE document_id = ?").run(id);
      r.chunks.forEach((c, k) => {
        const chunkId = insChunk.run(
          id,
          c.seq,
          c.text,
          c.pageStart,
          c.pageEnd,
          c.charStart,
          c.charEnd,
          c.tokenCount,
        ).lastInsertRowid;
        insMod.run(chunkId, r.bundleId, r.slots, r.width, toBlob(r.modulations[k]!, r.slots, r.width, r.storage));
        putEmbedding?.(Number(chunkId), r.embeddings!.vectors[k]!);
      });
      this.db
        .prepare(
          `UPDATE documents SET status = 'ready', error = NULL, content_hash = ?, title = ?, pages = ?, warning = ?,
        stored_file = ?, updated_at = ? WHERE id = ?`,
        )
        .run(r.contentHash, r.title, r.pages, r.warning, r.storedFile, now, id);
      return true;
    })();
  }

  /** A document that failed keeps any chunks it had from an earlier version, so nothing is lost. */
  fail(id: number, message: string, now = Date.now()): void {
    this.db
      .prepare("UPDATE documents SET status = 'error', error = ?, updated_at = ? WHERE id = ?")
      .run(message, now, id);
  }

  /** Marks a queued document unchanged after all (same bytes, new mtime): ready again, nothing re-done. */
  touch(id: number, now = Date.now()): void {
    this.db.prepare("UPDATE documents SET status = 'ready', error = NULL, updated_at = ? WHERE id = ?").run(now, id);
  }

  chunkIdsOf(documentId: number): number[] {
    return (
      this.db.prepare("SELECT id FROM chunks WHERE document_id = ? ORDER BY seq").all(documentId) as { id: number }[]
    ).map((r) => r.id);
  }

  remove(ids: readonly number[]): void {
    const del = this.db.prepare("DELETE FROM documents WHERE id = ?");
    this.db.transaction(() => {
      for (const id of ids) del.run(id);
    })();
  }

  /** Queued documents that never had content are dropped; changed ones go back to their last good state. */
  cancelQueued(): number {
    return this.db.transaction(() => {
      const dropped = this.db
        .prepare("DELETE FROM documents WHERE status = 'queued' AND content_hash IS NULL")
        .run().changes;
      this.db.prepare("UPDATE documents SET status = 'ready' WHERE status = 'queued'").run();
      return dropped;
    })();
  }

  /** Documents whose source lies under dir (for a watched folder's deletions). */
  documentsUnder(dir: string): DocumentRow[] {
    const prefix = dir.endsWith("/") || dir.endsWith("\\") ? dir : dir + (dir.includes("\\") ? "\\" : "/");
    return this.db
      .prepare(`SELECT ${DOC_COLUMNS} FROM documents d WHERE substr(d.source, 1, ?) = ?`)
      .all(prefix.length, prefix) as DocumentRow[];
  }

  /**
   * BM25 keyword search over chunk text; every word of the query is optional (OR), rarer words weigh
   * more. English function words are left out (stopwords.ts) unless the query has nothing else.
   */
  search(query: string, limit = 10, o: { keepStopwords?: boolean } = {}): ChunkHit[] {
    const all = query.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
    const content = o.keepStopwords ? all : all.filter((w) => !STOPWORDS.has(w));
    const words = content.length ? content : all;
    if (!words.length) return [];
    const match = [...new Set(words)].map((w) => `"${w}"`).join(" OR ");
    return this.db
      .prepare(
        `SELECT c.id AS chunkId, c.document_id AS documentId, d.title, d.name, c.page_start AS pageStart,
        c.page_end AS pageEnd, c.char_start AS charStart, c.char_end AS charEnd, c.text, -bm25(chunks_fts) AS score
      FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid JOIN documents d ON d.id = c.document_id
      WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?`,
      )
      .all(match, limit) as ChunkHit[];
  }

  chunks(ids: readonly number[]): ChunkHit[] {
    const get = this.db
      .prepare(`SELECT c.id AS chunkId, c.document_id AS documentId, d.title, d.name, c.page_start AS pageStart,
      c.page_end AS pageEnd, c.char_start AS charStart, c.char_end AS charEnd, c.text, 0 AS score
      FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ?`);
    return ids.map((id) => get.get(id) as ChunkHit | undefined).filter((c): c is ChunkHit => c !== undefined);
  }

  /**
   * Every modulation made by bundleId, in chunk order: what the engine's memory bank holds. Read a page
   * at a time, so no statement stays open while the caller awaits between rows (better-sqlite3 refuses
   * every other statement on a connection with an open iterator, e.g. an ingest committing meanwhile).
   */
  *modulations(bundleId: string, page = 1024): Generator<{ chunkId: number; modulation: Float32Array }> {
    const next = this.db
      .prepare(`SELECT chunk_id AS chunkId, slots, width, data FROM modulations WHERE bundle_id = ? AND chunk_id > ?
      ORDER BY chunk_id LIMIT ?`);
    for (let after = 0; ;) {
      const rows = next.all(bundleId, after, page) as { chunkId: number; slots: number; width: number; data: Buffer }[];
      if (!rows.length) return;
      for (const r of rows)
        yield { chunkId: r.chunkId, modulation: readModulation(r.chunkId, r.slots, r.width, r.data) };
      after = rows[rows.length - 1]!.chunkId;
    }
  }

  /** Chunks whose modulation came from another bundle (or is missing): re-amortized, never mixed. */
  staleChunks(bundleId: string, limit: number): { chunkId: number; text: string }[] {
    return this.db
      .prepare(
        `SELECT c.id AS chunkId, c.text FROM chunks c LEFT JOIN modulations m ON m.chunk_id = c.id
      WHERE m.chunk_id IS NULL OR m.bundle_id != ? ORDER BY c.id LIMIT ?`,
      )
      .all(bundleId, limit) as { chunkId: number; text: string }[];
  }

  /** How many chunks staleChunks would hand back in all: a re-amortization's total, for its progress. */
  staleCount(bundleId: string): number {
    const sql = `SELECT count(*) AS n FROM chunks c LEFT JOIN modulations m ON m.chunk_id = c.id
      WHERE m.chunk_id IS NULL OR m.bundle_id != ?`;
    return (this.db.prepare(sql).get(bundleId) as { n: number }).n;
  }

  replaceModulations(
    bundleId: string,
    slots: number,
    width: number,
    rows: readonly { chunkId: number; modulation: Float32Array }[],
    storage: ModulationStorage = "float32",
  ): void {
    const put = this.db
      .prepare(`INSERT INTO modulations (chunk_id, bundle_id, slots, width, data) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT(chunk_id) DO UPDATE SET bundle_id = excluded.bundle_id, slots = excluded.slots, width = excluded.width, data = excluded.data`);
    this.db.transaction(() => {
      for (const r of rows) put.run(r.chunkId, bundleId, slots, width, toBlob(r.modulation, slots, width, storage));
    })();
  }

  /** Bytes of the stored modulations (their blobs alone): what memory costs on disk. */
  modulationBytes(bundleId?: string): number {
    const sql =
      "SELECT coalesce(sum(length(data)), 0) AS n FROM modulations" +
      (bundleId === undefined ? "" : " WHERE bundle_id = ?");
    return (this.db.prepare(sql).get(...(bundleId === undefined ? [] : [bundleId])) as { n: number }).n;
  }

  stats(): { documents: number; ready: number; queued: number; errors: number; chunks: number } {
    const s = this.db
      .prepare(
        `SELECT count(*) AS documents, coalesce(sum(status = 'ready'), 0) AS ready,
      coalesce(sum(status = 'queued'), 0) AS queued, coalesce(sum(status = 'error'), 0) AS errors FROM documents`,
      )
      .get() as Record<string, number>;
    const chunks = (this.db.prepare("SELECT count(*) AS n FROM chunks").get() as { n: number }).n;
    return { documents: s.documents!, ready: s.ready!, queued: s.queued!, errors: s.errors!, chunks };
  }

  storedFiles(): Set<string> {
    return new Set(
      (
        this.db.prepare("SELECT stored_file AS f FROM documents WHERE stored_file IS NOT NULL").all() as { f: string }[]
      ).map((r) => r.f),
    );
  }

  addQuestion(question: string, answer: string, mode: string, now = Date.now()): void {
    this.db
      .prepare("INSERT INTO questions (question, answer, mode, asked_at) VALUES (?, ?, ?, ?)")
      .run(question, answer, mode, now);
  }

  questions(limit = 50): { question: string; answer: string; mode: string; askedAt: number }[] {
    return this.db
      .prepare("SELECT question, answer, mode, asked_at AS askedAt FROM questions ORDER BY id DESC LIMIT ?")
      .all(limit) as { question: string; answer: string; mode: string; askedAt: number }[];
  }

  watches(): { id: number; dir: string }[] {
    return this.db.prepare("SELECT id, dir FROM watches ORDER BY id").all() as { id: number; dir: string }[];
  }

  addWatch(dir: string, now = Date.now()): void {
    this.db.prepare("INSERT OR IGNORE INTO watches (dir, added_at) VALUES (?, ?)").run(dir, now);
  }

  removeWatch(dir: string): boolean {
    return this.db.prepare("DELETE FROM watches WHERE dir = ?").run(dir).changes > 0;
  }

  /** Problems found: SQLite's own check, chunks without documents, chunks without modulations, FTS drift. */
  integrityProblems(): string[] {
    const problems: string[] = [];
    const check = (this.db.pragma("integrity_check") as { integrity_check: string }[]).map((r) => r.integrity_check);
    if (check.join() !== "ok") problems.push(...check);
    const fk = this.db.pragma("foreign_key_check") as unknown[];
    if (fk.length) problems.push(`${fk.length} rows break foreign keys`);
    const count = (sql: string) => (this.db.prepare(sql).get() as { n: number }).n;
    const missing = count(
      "SELECT count(*) AS n FROM chunks c LEFT JOIN modulations m ON m.chunk_id = c.id WHERE m.chunk_id IS NULL",
    );
    if (missing) problems.push(`${missing} chunks have no modulation`);
    const readyEmpty = count(
      "SELECT count(*) AS n FROM documents d WHERE status = 'ready' AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = d.id)",
    );
    if (readyEmpty) problems.push(`${readyEmpty} ready documents have no chunks`);
    const badVectors = count(
      `SELECT count(*) AS n FROM embeddings
      WHERE length(data) != dim * (CASE format WHEN 'int8' THEN 1 WHEN 'f16' THEN 2 ELSE 4 END)`,
    );
    if (badVectors) problems.push(`${badVectors} embeddings do not have the size their format says`);
    const badMods = count(
      `SELECT count(*) AS n FROM modulations
      WHERE length(data) != slots * width * 4 AND length(data) != slots * (width + 4)`,
    );
    if (badMods) problems.push(`${badMods} modulations have neither the float32 nor the int8 size of their shape`);
    try {
      this.db.prepare("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)").run();
    } catch (e) {
      problems.push(`keyword index out of sync: ${(e as Error).message}`);
    }
    return problems;
  }
}
