import { afterEach, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Chunk } from "./chunker.js";
import { VaultRegistry } from "./registry.js";
import { migrate, openDb } from "./schema.js";
import type { Ingested } from "./store.js";
import type { Vault } from "./vault.js";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), "mnemo-vault-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const chunk = (seq: number, text: string, page = 1): Chunk => ({
  seq,
  text,
  charStart: 0,
  charEnd: text.length,
  pageStart: page,
  pageEnd: page,
  tokenCount: 3,
});
const ingested = (texts: string[], hash = "h-" + texts.join()): Ingested => ({
  contentHash: hash,
  title: "T",
  pages: texts.length,
  warning: null,
  storedFile: null,
  bundleId: "b1",
  slots: 2,
  width: 2,
  chunks: texts.map((t, i) => chunk(i, t, i + 1)),
  modulations: texts.map((_, i) => new Float32Array([i, i, i, i])),
});
const file = (source: string, size = 10, mtimeMs = 1000) => ({
  source,
  name: path.basename(source),
  type: "txt" as const,
  size,
  mtimeMs,
});

async function newVault(): Promise<Vault> {
  return new VaultRegistry(tmp()).create("Test");
}

describe("schema", () => {
  it("migrates an older database forward and refuses one from a newer Mnemo", () => {
    const f = path.join(tmp(), "v.db");
    const v1 = ["CREATE TABLE a (x)"],
      v2 = [...v1, "ALTER TABLE a ADD COLUMN y"];
    openDb(f, { migrations: v1 }).close();
    const db = openDb(f, { migrations: v2 });
    expect(db.pragma("user_version", { simple: true })).toBe(2);
    expect(db.prepare("INSERT INTO a (x, y) VALUES (1, 2)").run().changes).toBe(1);
    expect(() => migrate(db, v1)).toThrow(/written by a newer Mnemo \(schema 2, this one knows 1\)/);
    db.close();
  });

  it("a migration that fails leaves the database at its old version", () => {
    const f = path.join(tmp(), "v.db");
    openDb(f, { migrations: ["CREATE TABLE a (x)"] }).close();
    expect(() => openDb(f, { migrations: ["CREATE TABLE a (x)", "CREATE TABLE b (x); CREATE TABLE a (x)"] })).toThrow();
    const db = openDb(f, { migrations: ["CREATE TABLE a (x)"] });
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'b'").get()).toBeUndefined();
    db.close();
  });

  it("refuses a file that is not a database", () => {
    const f = path.join(tmp(), "junk.db");
    writeFileSync(f, "this is not sqlite ".repeat(100));
    expect(() => openDb(f)).toThrow(/not a readable vault/);
  });
});

describe("VaultStore", () => {
  it("queues new files, skips unchanged ones and re-queues changed ones keeping their chunks", async () => {
    const { store } = await newVault();
    const { queued } = store.enqueue([file("/a.txt"), file("/b.txt")]);
    expect(queued).toHaveLength(2);
    store.commit(queued[0]!, ingested(["alpha one", "alpha two"]));
    expect(store.enqueue([file("/a.txt")])).toEqual({ queued: [], unchanged: 1 });
    expect(store.enqueue([file("/a.txt", 11)]).queued).toEqual([queued[0]]);
    expect(store.document(queued[0]!)).toMatchObject({ status: "queued", chunks: 2 });
    store.commit(queued[0]!, ingested(["alpha three"]));
    expect(store.document(queued[0]!)).toMatchObject({ status: "ready", chunks: 1 });
    expect(store.integrityProblems()).toEqual([]);
  });

  it("keeps the keyword index in step with chunks, ranking rarer words higher", async () => {
    const { store } = await newVault();
    const [a, b] = store.enqueue([file("/a.txt"), file("/b.txt")]).queued;
    store.commit(a!, ingested(["the eiffel tower was completed in 1889", "the tower is in paris"]));
    store.commit(b!, ingested(["marie curie discovered radium"]));
    expect(store.search("When was the Eiffel Tower completed?").map((h) => h.text)[0]).toBe(
      "the eiffel tower was completed in 1889",
    );
    expect(store.search("radium")[0]).toMatchObject({ documentId: b, pageStart: 1 });
    expect(store.search("  ?! ")).toEqual([]);
    store.remove([a!]);
    expect(store.search("tower")).toEqual([]);
    expect(store.integrityProblems()).toEqual([]);
  });

  it("does not write chunks for a document removed while it was being read", async () => {
    const { store } = await newVault();
    const [a] = store.enqueue([file("/a.txt")]).queued;
    store.remove([a!]);
    expect(store.commit(a!, ingested(["orphan text"]))).toBe(false);
    expect(store.stats().chunks).toBe(0);
    expect(store.integrityProblems()).toEqual([]);
  });

  it("cancel drops never-ingested documents and restores changed ones", async () => {
    const { store } = await newVault();
    const [a, b] = store.enqueue([file("/a.txt"), file("/b.txt")]).queued;
    store.commit(a!, ingested(["kept text"]));
    store.enqueue([file("/a.txt", 99)]);
    expect(store.cancelQueued()).toBe(1);
    expect(store.document(b!)).toBeUndefined();
    expect(store.document(a!)).toMatchObject({ status: "ready", chunks: 1 });
  });

  it("finds documents with the same bytes, documents under a folder, and stale modulations", async () => {
    const { store } = await newVault();
    const [a, b] = store.enqueue([file("/docs/a.txt"), file("/docs-old/b.txt")]).queued;
    store.commit(a!, ingested(["x"], "same"));
    expect(store.duplicateOf("same", b!)?.id).toBe(a);
    expect(store.duplicateOf("same", a!)).toBeUndefined();
    expect(store.documentsUnder("/docs").map((d) => d.id)).toEqual([a]);
    expect(store.staleChunks("b1", 10)).toEqual([]);
    expect(store.staleChunks("b2", 10)).toHaveLength(1);
    store.replaceModulations("b2", 2, 2, [{ chunkId: store.chunkIdsOf(a!)[0]!, modulation: new Float32Array(4) }]);
    expect([...store.modulations("b2")]).toHaveLength(1);
  });

  it("reads modulations in pages, so a commit may run between two of them (as while a bank loads)", async () => {
    const { store } = await newVault();
    const [a] = store.enqueue([file("/a.txt")]).queued;
    store.commit(a!, ingested(["one", "two", "three"]));
    const seen: number[] = [];
    for (const m of store.modulations("b1", 2)) {
      seen.push(m.modulation[0]!);
      if (seen.length > 2) continue;
      // writes between two rows: no "connection is busy"
      const [b] = store.enqueue([file(`/new-${seen.length}.txt`)]).queued;
      store.commit(b!, ingested([`new ${seen.length}`], `h${seen.length}`));
    }
    expect(seen).toEqual([0, 1, 2, 0, 0]); // the rows committed meanwhile come in later pages
  });

  it("reports damage: a chunk without its modulation, a keyword index out of sync", async () => {
    const { store } = await newVault();
    const [a] = store.enqueue([file("/a.txt")]).queued;
    store.commit(a!, ingested(["one", "two"]));
    store.db.prepare("DELETE FROM modulations WHERE chunk_id = ?").run(store.chunkIdsOf(a!)[0]);
    expect(store.integrityProblems()).toEqual(["1 chunks have no modulation"]);
    store.db.exec("DROP TRIGGER chunks_ad; DELETE FROM chunks");
    expect(store.integrityProblems().join()).toMatch(/keyword index out of sync/);
  });

  it("keeps int8 modulations at T*(4+D) bytes and gives them back within half a step", async () => {
    const { store } = await newVault();
    const [T, D] = [16, 640];
    const mods = [0, 1].map((k) =>
      Float32Array.from({ length: T * D }, (_, i) => Math.sin(i * 0.37 + k) * (1 + (i % 7))),
    );
    const [a] = store.enqueue([file("/a.txt")]).queued;
    store.commit(a!, {
      ...ingested(["one", "two"]),
      bundleId: "gemma",
      slots: T,
      width: D,
      modulations: mods,
      storage: "int8",
    });
    const sizes = store.db.prepare("SELECT length(data) AS n FROM modulations ORDER BY chunk_id").all() as {
      n: number;
    }[];
    expect(sizes.map((r) => r.n)).toEqual([T * (4 + D), T * (4 + D)]);
    expect(T * (4 + D)).toBeLessThanOrEqual(16 * 1024);
    expect(store.modulationBytes("gemma")).toBe(2 * T * (4 + D));
    const back = [...store.modulations("gemma")].map((m) => m.modulation);
    back.forEach((m, k) => {
      for (let t = 0; t < T; t++) {
        const row = mods[k]!.subarray(t * D, (t + 1) * D),
          step = Math.max(...row.map(Math.abs)) / 127;
        for (let j = 0; j < D; j++)
          expect(Math.abs(m[t * D + j]! - row[j]!)).toBeLessThanOrEqual(step / 2 + 1e-6 * Math.abs(row[j]!));
      }
    });
    expect(store.integrityProblems()).toEqual([]);
  });

  it("reads float32 modulations of an older bundle by their size, and marks them stale for an int8 bundle", async () => {
    const { store } = await newVault();
    const [a] = store.enqueue([file("/a.txt")]).queued;
    store.commit(a!, ingested(["one", "two"])); // bundle b1, float32 [2, 2]
    const [c0, c1] = store.chunkIdsOf(a!);
    expect([...store.modulations("b1")].map((m) => Array.from(m.modulation))).toEqual([
      [0, 0, 0, 0],
      [1, 1, 1, 1],
    ]);
    expect(store.staleChunks("gemma", 10).map((c) => c.chunkId)).toEqual([c0, c1]);
    store.replaceModulations("gemma", 2, 2, [{ chunkId: c0!, modulation: Float32Array.from([1, -1, 0.5, 0]) }], "int8");
    expect(store.staleChunks("gemma", 10).map((c) => c.chunkId)).toEqual([c1]);
    const [m] = [...store.modulations("gemma")];
    expect(m!.modulation[0]).toBeCloseTo(1, 6);
    expect(m!.modulation[2]).toBeCloseTo(0.5, 2);
    expect(store.modulationBytes("gemma")).toBe(2 * (4 + 2));
    expect(store.modulationBytes()).toBe(2 * (4 + 2) + 2 * 2 * 4);
  });

  it("refuses a modulation blob of neither size, naming the chunk, and reports it as damage", async () => {
    const { store } = await newVault();
    const [a] = store.enqueue([file("/a.txt")]).queued;
    store.commit(a!, ingested(["one"]));
    const [c] = store.chunkIdsOf(a!);
    store.db.prepare("UPDATE modulations SET data = ? WHERE chunk_id = ?").run(Buffer.alloc(5), c);
    expect(() => [...store.modulations("b1")]).toThrow(new RegExp(`modulation of chunk ${c} is damaged`));
    expect(store.integrityProblems()).toEqual([
      "1 modulations have neither the float32 nor the int8 size of their shape",
    ]);
  });
});

describe("Vault folder", () => {
  it("stores document copies inside the vault and refuses paths that leave it", async () => {
    const v = await newVault();
    const rel = await v.storeFile(new TextEncoder().encode("hello"), "txt");
    expect(rel).toMatch(/^files\/[0-9a-f]{64}\.txt$/);
    expect(existsSync(v.resolve(rel))).toBe(true);
    expect(() => v.resolve("../../etc/passwd")).toThrow(/outside the vault/);
    expect(() => v.resolve("/etc/passwd")).toThrow(/outside the vault/);
  });

  it("collects copies no document uses and crash leftovers, after a grace period", async () => {
    const v = await newVault();
    const kept = await v.storeFile(new TextEncoder().encode("kept"), "txt");
    const [id] = v.store.enqueue([{ ...file("/k.txt"), storedFile: kept }]).queued;
    v.store.commit(id!, { ...ingested(["k"]), storedFile: kept });
    const orphan = await v.storeFile(new TextEncoder().encode("orphan"), "txt");
    writeFileSync(v.resolve("files/.tmp-deadbeef"), "torn");
    expect(await v.collectGarbage()).toBe(0); // too young: may be an ingest in flight
    const old = Date.now() / 1000 - 2 * 3600;
    for (const f of [orphan, kept, "files/.tmp-deadbeef"]) utimesSync(v.resolve(f), old, old);
    expect(await v.collectGarbage()).toBe(2);
    expect(readdirSync(v.resolve("files"))).toEqual([path.basename(kept)]);
  });

  it("exports to one file and imports it back as a new vault with the same content", async () => {
    const reg = new VaultRegistry(tmp());
    const v = await reg.create("Papers");
    const stored = await v.storeFile(new TextEncoder().encode("pdf bytes"), "pdf");
    const [id] = v.store.enqueue([{ ...file("/p.pdf"), storedFile: stored }]).queued;
    v.store.commit(id!, { ...ingested(["attention is all you need"]), storedFile: stored });
    const out = path.join(tmp(), "papers.mnemo");
    await v.exportTo(out);
    expect(readdirSync(path.dirname(out))).toEqual(["papers.mnemo"]);
    const copy = await reg.importVault(out);
    expect(copy.name).toBe("Papers (2)");
    expect(copy.id).not.toBe(v.id);
    expect(copy.store.search("attention")[0]?.text).toBe("attention is all you need");
    expect(existsSync(copy.resolve(stored))).toBe(true);
    expect(copy.store.integrityProblems()).toEqual([]);
    const junk = path.join(tmp(), "junk.mnemo");
    writeFileSync(junk, "not a vault");
    await expect(reg.importVault(junk)).rejects.toMatchObject({ code: "VAULT_CORRUPT" });
    expect((await reg.list()).map((x) => x.name)).toEqual(["Papers", "Papers (2)"]);
  });
});

describe("VaultRegistry", () => {
  it("creates, finds, renames and removes vaults by name; ids are what touch the disk", async () => {
    const reg = new VaultRegistry(tmp());
    const a = await reg.create("  Work / ../../x  ");
    expect(a.name).toBe("Work / ../../x");
    expect(path.dirname(a.dir)).toBe(reg.root);
    await expect(reg.create("work / ../../X")).rejects.toMatchObject({ code: "VAULT_EXISTS" });
    await expect(reg.create(" ")).rejects.toThrow(/cannot be empty/);
    expect((await reg.get("WORK / ../../x")).id).toBe(a.id);
    await reg.rename(a.id, "Research");
    expect((await reg.list()).map((v) => v.name)).toEqual(["Research"]);
    await reg.remove("research");
    expect(existsSync(a.dir)).toBe(false);
    await expect(reg.get("Research")).rejects.toMatchObject({ code: "VAULT_NOT_FOUND" });
  });
});
