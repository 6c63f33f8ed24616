// Stored embeddings: the three formats' round trip, binary16 conversion, the commit that writes a
// document's vectors with its chunks, catching up on missing ones, paging them out as int8, and the
// migration of a schema-2 vault (written before embeddings existed).
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fromHalf, pack, toHalf, toInt8, unpack, type EmbeddingFormat } from "./embeddings.js";
import { MIGRATIONS, openDb } from "./schema.js";
import { VaultStore, type Ingested } from "./store.js";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), "mnemo-emb-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A unit vector with a seeded spread of values (what the encoder returns). */
function unit(seed: number, dim = 384): Float32Array {
  const v = Float32Array.from({ length: dim }, (_, i) => (Math.sin(seed * 12.9898 + i * 78.233) * 43758.5453) % 1);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

const ingested = (texts: string[], vectors?: Float32Array[]): Ingested => ({
  contentHash: "h" + texts.join(),
  title: "T",
  pages: 1,
  warning: null,
  storedFile: null,
  bundleId: "b",
  slots: 0,
  width: 0,
  chunks: texts.map((text, seq) => ({
    seq,
    text,
    charStart: 0,
    charEnd: text.length,
    pageStart: 1,
    pageEnd: 1,
    tokenCount: 3,
  })),
  modulations: texts.map(() => new Float32Array(0)),
  ...(vectors ? { embeddings: { encoder: "enc-a", vectors: vectors.map((v) => pack(v)) } } : {}),
});

function store(migrations = MIGRATIONS): VaultStore {
  return new VaultStore(openDb(path.join(tmp(), "v.db"), { migrations }));
}

function addDoc(s: VaultStore, source: string, texts: string[], vectors?: Float32Array[]): number {
  const [id] = s.enqueue([{ source, name: source, type: "txt", size: 1, mtimeMs: 1 }]).queued;
  expect(s.commit(id!, ingested(texts, vectors))).toBe(true);
  return id!;
}

describe("embedding formats", () => {
  it.each([
    ["int8", 384, 0.01],
    ["f16", 768, 0.0005],
    ["f32", 1536, 0],
  ] as const)("%s: %i bytes for 384 values, cosine to the original > 1 - %f", (format, bytes, loss) => {
    const v = unit(1),
      p = pack(v, format as EmbeddingFormat),
      back = unpack(p);
    expect(p.data.byteLength).toBe(bytes);
    const cos = back.reduce((s, x, i) => s + x * v[i]!, 0) / Math.hypot(...back);
    expect(cos).toBeGreaterThanOrEqual(1 - loss - 1e-6); // float32 rounding of the unit vector itself
    if (format === "f32") expect(Array.from(back)).toEqual(Array.from(v));
    else expect(Array.from(back)).not.toEqual(Array.from(v)); // lossy: a test that reads back floats must see it
  });

  it("int8 maps the largest magnitude to ±127 and never clips", () => {
    const p = pack(Float32Array.from([0.5, -1, 0.25, 0]), "int8");
    expect(Array.from(new Int8Array(p.data.buffer, p.data.byteOffset, 4))).toEqual([64, -127, 32, 0]);
    expect(p.scale).toBeCloseTo(1 / 127, 9);
    expect(pack(new Float32Array(3), "int8").scale).toBe(1); // all zeros: a scale that divides
    expect(toInt8(pack(Float32Array.from([0.5, -1]), "f32")).q).toEqual(Int8Array.from([64, -127]));
  });

  it("refuses empty and non-finite vectors, and a blob that does not match its row", () => {
    expect(() => pack(new Float32Array(0))).toThrow(/empty embedding/);
    expect(() => pack(Float32Array.from([1, NaN]))).toThrow(/non-finite/);
    expect(() => unpack({ ...pack(unit(2), "f16"), dim: 10 })).toThrow(/384 values where its row says 10/);
  });

  it("binary16 matches IEEE 754 on exact, rounded, subnormal and out-of-range values", () => {
    const cases: [number, number][] = [
      [0, 0],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [1e6, 0x7c00],
      [-1e6, 0xfc00],
      [2 ** -24, 0x0001],
      [2 ** -14, 0x0400],
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
      [2 ** -26, 0],
    ];
    for (const [x, h] of cases) expect(toHalf(x), String(x)).toBe(h);
    expect(Number.isNaN(fromHalf(toHalf(NaN)))).toBe(true);
    for (const x of [0.1, -0.333, 1e-5, 3.14159])
      expect(Math.abs(fromHalf(toHalf(x)) - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11 + 2 ** -25);
  });
});

describe("EmbeddingStore", () => {
  it("a commit writes each chunk's vector with it, tagged with its encoder; re-ingesting replaces them", () => {
    const s = store();
    const id = addDoc(s, "/a.txt", ["one", "two"], [unit(1), unit(2)]);
    const [, c2] = s.chunkIdsOf(id);
    expect(s.embeddings.countMissing("enc-a")).toBe(0);
    expect(s.embeddings.countMissing("enc-b")).toBe(2); // another encoder's vectors do not count
    expect(Array.from(s.embeddings.get("enc-a", c2!)!)).toEqual(Array.from(unpack(pack(unit(2)))));
    s.enqueue([{ source: "/a.txt", name: "a.txt", type: "txt", size: 2, mtimeMs: 2 }]);
    expect(s.commit(id, ingested(["three"], [unit(3)]))).toBe(true);
    // The old chunks and their vectors are gone; SQLite may hand the new chunk a freed id, so compare by content.
    const [c3] = s.chunkIdsOf(id);
    expect(s.embeddings.get("enc-a", c2!) === undefined || c2 === c3).toBe(true);
    expect(Array.from(s.embeddings.get("enc-a", c3!)!)).toEqual(Array.from(unpack(pack(unit(3)))));
    expect((s.db.prepare("SELECT count(*) AS n FROM embeddings").get() as { n: number }).n).toBe(1);
    expect(s.integrityProblems()).toEqual([]);
  });

  it("refuses a commit whose vectors do not match its chunks, writing nothing", () => {
    const s = store();
    const [id] = s.enqueue([{ source: "/a.txt", name: "a.txt", type: "txt", size: 1, mtimeMs: 1 }]).queued;
    expect(() => s.commit(id!, ingested(["one", "two"], [unit(1)]))).toThrow(/1 embeddings for 2 chunks/);
    expect(s.stats().chunks).toBe(0);
  });

  it("lists chunks missing a vector oldest first; put skips chunks removed meanwhile", () => {
    const s = store();
    const a = addDoc(s, "/a.txt", ["a1", "a2"]),
      b = addDoc(s, "/b.txt", ["b1"]);
    expect(s.embeddings.missing("enc-a", 10).map((c) => c.text)).toEqual(["a1", "a2", "b1"]);
    const [b1] = s.chunkIdsOf(b);
    s.remove([b]);
    const rows = [...s.chunkIdsOf(a), b1!].map((chunkId, i) => ({ chunkId, vector: unit(i) }));
    expect(s.embeddings.put("enc-a", rows)).toBe(2);
    expect(s.embeddings.missing("enc-a", 10)).toEqual([]);
    expect(s.embeddings.missing("enc-new", 1).map((c) => c.text)).toEqual(["a1"]); // a new encoder: everything again
    expect(s.embeddings.put("enc-new", rows.slice(0, 1))).toBe(1);
    expect(s.embeddings.countMissing("enc-a")).toBe(1); // a1 now belongs to enc-new
  });

  it("pages every vector out as int8 rows in chunk order, with their scales", () => {
    const s = store();
    const vectors = [0, 1, 2, 3, 4].map((i) => unit(i, 8));
    addDoc(s, "/a.txt", ["0", "1", "2"], vectors.slice(0, 3));
    addDoc(s, "/b.txt", ["3", "4"], vectors.slice(3));
    const pages = [...s.embeddings.int8Rows("enc-a", 2)];
    expect(pages.map((p) => p.chunkIds.length)).toEqual([2, 2, 1]);
    const all = pages.flatMap((p) =>
      p.chunkIds.map((id, i) => ({ id, q: Array.from(p.data.subarray(i * 8, (i + 1) * 8)), scale: p.scales[i]! })),
    );
    expect(all.map((r) => r.id)).toEqual([1, 2, 3, 4, 5]);
    all.forEach((r, i) => {
      const p = pack(vectors[i]!, "int8");
      expect(r.q).toEqual(Array.from(new Int8Array(p.data.buffer, p.data.byteOffset, 8)));
      expect(r.scale).toBeCloseTo(p.scale, 7);
    });
    expect([...s.embeddings.int8Rows("enc-other")]).toEqual([]);
  });

  it("reports a stored vector whose size does not fit its format", () => {
    const s = store();
    const id = addDoc(s, "/a.txt", ["one"], [unit(1, 4)]);
    s.db.prepare("UPDATE embeddings SET dim = 5 WHERE chunk_id = ?").run(s.chunkIdsOf(id)[0]);
    expect(s.integrityProblems()).toContain("1 embeddings do not have the size their format says");
  });
});

describe("migration to schema 3", () => {
  it("opens a vault written before embeddings existed: its chunks are kept and all listed as missing a vector", () => {
    const dir = tmp(),
      file = path.join(dir, "v.db");
    const old = new VaultStore(openDb(file, { migrations: MIGRATIONS.slice(0, 2) }));
    expect(old.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'embeddings'").get()).toBeUndefined();
    const insDoc = old.db.prepare(
      "INSERT INTO documents (source, name, title, type, size, mtime_ms, status, added_at, updated_at) VALUES ('/o.txt', 'o.txt', 'O', 'txt', 1, 1, 'ready', 0, 0)",
    );
    const docId = insDoc.run().lastInsertRowid;
    old.db
      .prepare(
        "INSERT INTO chunks (document_id, seq, text, page_start, page_end, char_start, char_end, token_count) VALUES (?, 0, 'old text', 1, 1, 0, 8, 2)",
      )
      .run(docId);
    old.db.close();
    const s = new VaultStore(openDb(file));
    expect(s.db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    expect(s.embeddings.missing("enc-a", 10).map((c) => c.text)).toEqual(["old text"]);
    expect(s.search("old")[0]!.text).toBe("old text");
    s.db.close();
  });
});
