// Dense embeddings of chunks, kept in the vault beside their text: one row per chunk, tagged with the
// encoder that made it (the sha256 of its graph) so vectors of two encoders are never compared.
// Stored as int8 with one scale per vector: a quarter of float32's bytes for the same recall on SQuAD
// valid (docs/retrieval.md measures int8, f16 and f32). The float formats stay readable for vaults
// or experiments that use them.
import { AppError } from "../shared/errors.js";
import { dequantizeRow, quantizeRow } from "../shared/int8-rows.js";
import type { Db } from "./schema.js";

export type EmbeddingFormat = "int8" | "f16" | "f32";
export const EMBEDDING_FORMATS: readonly EmbeddingFormat[] = ["int8", "f16", "f32"];
/** The format new embeddings are written in (chosen in docs/retrieval.md). */
export const EMBEDDING_FORMAT: EmbeddingFormat = "int8";

/** One stored vector: value[i] = decode(data)[i] * scale. */
export interface Packed {
  format: EmbeddingFormat;
  dim: number;
  scale: number;
  data: Uint8Array;
}

/** Several vectors as the engine's vector index holds them: int8 rows back to back, one scale each. */
export interface Int8Rows {
  chunkIds: number[];
  dim: number;
  data: Int8Array;
  scales: Float32Array;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export function pack(v: Float32Array, format: EmbeddingFormat = EMBEDDING_FORMAT): Packed {
  if (!v.length) throw new AppError("INVALID_ARGUMENT", "cannot store an empty embedding");
  if (!v.every(Number.isFinite))
    throw new AppError("INVALID_ARGUMENT", "the encoder produced a non-finite embedding value");
  if (format === "f32") return { format, dim: v.length, scale: 1, data: bytesOf(Float32Array.from(v)) };
  if (format === "f16") return { format, dim: v.length, scale: 1, data: bytesOf(Uint16Array.from(v, toHalf)) };
  // One int8 row (shared/int8-rows.ts), its scale kept as a REAL; an all-zero vector gets scale 1.
  const codes = new Int8Array(v.length);
  const scale = quantizeRow(v, 0, v.length, codes, 0, "float64") || 1;
  return { format, dim: v.length, scale, data: bytesOf(codes) };
}

export function unpack(p: Packed): Float32Array {
  const copy = new Uint8Array(p.data).buffer; // aligned, and ours (SQLite may reuse its buffer)
  const raw =
    p.format === "f32"
      ? new Float32Array(copy)
      : p.format === "f16"
        ? Float32Array.from(new Uint16Array(copy), fromHalf)
        : dequantizeRow(new Int8Array(copy), 0, copy.byteLength, p.scale);
  if (raw.length !== p.dim)
    throw new AppError("VAULT_CORRUPT", `an embedding has ${raw.length} values where its row says ${p.dim}`);
  return raw;
}

/** The int8 form of a stored vector (a float one is quantized as pack would). */
export function toInt8(p: Packed): { q: Int8Array; scale: number } {
  const i8 = p.format === "int8" ? p : pack(unpack(p), "int8");
  if (i8.data.length !== p.dim)
    throw new AppError("VAULT_CORRUPT", `an int8 embedding has ${i8.data.length} bytes where its row says ${p.dim}`);
  return { q: new Int8Array(new Uint8Array(i8.data).buffer), scale: i8.scale };
}

/** IEEE 754 binary16 of a number, rounded to nearest even (Node 20 has no Float16Array). */
export function toHalf(x: number): number {
  const f = new Float32Array([x]),
    u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000,
    exp = (u >>> 23) & 0xff,
    mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // too large: infinity
  if (e <= 0) {
    // subnormal half (or zero)
    if (e < -10) return sign;
    const m = mant | 0x800000,
      shift = 14 - e;
    const half = m >>> shift,
      rest = m & ((1 << shift) - 1),
      mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mant >>> 13),
    rest = mant & 0x1fff;
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1,
    exp = (h >>> 10) & 0x1f,
    mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

interface Row {
  chunkId: number;
  format: EmbeddingFormat;
  dim: number;
  scale: number;
  data: Buffer;
}

export class EmbeddingStore {
  constructor(private readonly db: Db) {}

  /**
   * A writer for one encoder's vectors, for use inside the caller's transaction (an ingest commit
   * writes a document's chunks and their embeddings together). Returns false when the chunk is gone
   * (removed or re-ingested while its vector was being computed): nothing is written then.
   */
  writer(encoder: string): (chunkId: number, p: Packed) => boolean {
    const put = this.db.prepare(`INSERT INTO embeddings (chunk_id, encoder, format, dim, scale, data)
      SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM chunks WHERE id = ?)
      ON CONFLICT(chunk_id) DO UPDATE SET encoder = excluded.encoder, format = excluded.format, dim = excluded.dim,
        scale = excluded.scale, data = excluded.data`);
    return (chunkId, p) =>
      put.run(chunkId, encoder, p.format, p.dim, p.scale, Buffer.from(p.data), chunkId).changes > 0;
  }

  /** Stores vectors in one transaction; returns how many chunks still existed to receive one. */
  put(encoder: string, rows: readonly { chunkId: number; vector: Float32Array }[], format = EMBEDDING_FORMAT): number {
    const write = this.writer(encoder);
    return this.db.transaction(() => rows.filter((r) => write(r.chunkId, pack(r.vector, format))).length)();
  }

  /** Chunks with no vector from this encoder (new, from before schema 3, or made by another encoder), oldest first. */
  missing(encoder: string, limit: number): { chunkId: number; text: string }[] {
    return this.db
      .prepare(
        `SELECT c.id AS chunkId, c.text FROM chunks c LEFT JOIN embeddings e ON e.chunk_id = c.id
      WHERE e.chunk_id IS NULL OR e.encoder != ? ORDER BY c.id LIMIT ?`,
      )
      .all(encoder, limit) as { chunkId: number; text: string }[];
  }

  countMissing(encoder: string): number {
    return (
      this.db
        .prepare(
          `SELECT count(*) AS n FROM chunks c LEFT JOIN embeddings e ON e.chunk_id = c.id
      WHERE e.chunk_id IS NULL OR e.encoder != ?`,
        )
        .get(encoder) as { n: number }
    ).n;
  }

  /**
   * Every vector of this encoder as int8 rows, in chunk order, `batch` chunks at a time. Each page is
   * its own query (by chunk id), so no statement stays open while the caller awaits between pages:
   * better-sqlite3 refuses other statements on a connection with an open iterator.
   */
  *int8Rows(encoder: string, batch = 8192): Generator<Int8Rows> {
    const page = this.db.prepare(`SELECT chunk_id AS chunkId, format, dim, scale, data FROM embeddings
      WHERE encoder = ? AND chunk_id > ? ORDER BY chunk_id LIMIT ?`);
    let dim = 0;
    for (let after = 0; ;) {
      const rows = page.all(encoder, after, batch) as Row[];
      if (!rows.length) return;
      dim ||= rows[0]!.dim;
      const bad = rows.find((r) => r.dim !== dim);
      if (bad)
        throw new AppError(
          "VAULT_CORRUPT",
          `embeddings of encoder ${encoder.slice(0, 12)} have two sizes (${dim} and ${bad.dim})`,
        );
      const data = new Int8Array(rows.length * dim),
        scales = new Float32Array(rows.length);
      rows.forEach((r, i) => {
        const { q, scale } = toInt8(r);
        data.set(q, i * dim);
        scales[i] = scale;
      });
      yield { chunkIds: rows.map((r) => r.chunkId), dim, data, scales };
      after = rows[rows.length - 1]!.chunkId;
    }
  }

  /** The stored vector of one chunk, if it has one from this encoder. */
  get(encoder: string, chunkId: number): Float32Array | undefined {
    const r = this.db
      .prepare(
        "SELECT chunk_id AS chunkId, format, dim, scale, data FROM embeddings WHERE encoder = ? AND chunk_id = ?",
      )
      .get(encoder, chunkId) as Row | undefined;
    return r && unpack(r);
  }
}
