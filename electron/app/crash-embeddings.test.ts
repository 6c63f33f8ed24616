// Crash safety of the dense vectors, with the real sentence encoder beside the tiny LM: `mnemo add`
// killed with SIGKILL at random moments, while ingesting and while filling in the vectors a vault
// lacks (as after opening a vault from before schema 3). After each kill the vault is intact and
// every chunk that has a vector has the right one; resuming ends with every chunk embedded, equal to
// an uninterrupted run's. Required in CI; skipped elsewhere when setup has not built the bundle.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { unpack, type EmbeddingFormat } from "../vault/embeddings.js";
import { VaultStore } from "../vault/store.js";
import { encoderSource, makeEncoderBundle } from "../bench/encoder-bundle.js";
import { seededRandom } from "../core/sampler.js";

const repo = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(repo, "out/cli/main.js");
const source = encoderSource();
const root = mkdtempSync(path.join(os.tmpdir(), "mnemo-crash-emb-"));
const docs = path.join(root, "docs");
let base: string[] = [];
const cli = (data: string, ...args: string[]) =>
  spawnSync(process.execPath, [CLI, "--data-dir", data, ...base, ...args], { encoding: "utf8" });

type Vectors = Map<string, Float32Array>;
/** The vault's problems, chunks without a vector, and every vector by chunk (document name # seq). */
function inspect(data: string): { problems: string[]; missing: number; vectors: Vectors } {
  const [id] = readdirSync(path.join(data, "vaults")).filter((d) => !d.startsWith("."));
  const db = new Database(path.join(data, "vaults", id!, "vault.db"));
  try {
    const problems = new VaultStore(db).integrityProblems();
    const missing = (
      db
        .prepare(
          "SELECT count(*) AS n FROM chunks c LEFT JOIN embeddings e ON e.chunk_id = c.id WHERE e.chunk_id IS NULL",
        )
        .get() as { n: number }
    ).n;
    const rows = db
      .prepare(
        `SELECT d.name || '#' || c.seq AS chunk, e.format, e.dim, e.scale, e.data FROM embeddings e
      JOIN chunks c ON c.id = e.chunk_id JOIN documents d ON d.id = c.document_id`,
      )
      .all() as { chunk: string; format: EmbeddingFormat; dim: number; scale: number; data: Buffer }[];
    return { problems, missing, vectors: new Map(rows.map((r) => [r.chunk, unpack(r)])) };
  } finally {
    db.close();
  }
}

/** Vectors equal up to int8 rounding (documents embedded in other batches differ in the last float bits). */
function expectSameVectors(got: Vectors, want: Vectors, what: string): void {
  for (const [chunk, v] of got) {
    const w = want.get(chunk);
    expect(w, `${what}: a vector for a chunk the reference does not have`).toBeDefined();
    const cos = v.reduce((s, x, i) => s + x * w![i]!, 0) / (Math.hypot(...v) * Math.hypot(...w!));
    expect(cos, `${what}: vector of ${chunk}`).toBeGreaterThan(0.9999);
  }
}

let reference: Vectors = new Map(),
  fullRunMs = 0;
beforeAll(() => {
  if (!source) return;
  base = ["--bundle", makeEncoderBundle(path.join(root, "bundle"), source), "--threads", "2"];
  mkdirSync(docs);
  const samples = readdirSync(path.join(repo, "resources/samples")).map((f) =>
    readFileSync(path.join(repo, "resources/samples", f), "utf8"),
  );
  // More chunks than one fill-in transaction (64), so a kill can land between two of them.
  for (let i = 0; i < 45; i++)
    writeFileSync(path.join(docs, `note-${i}.md`), `# Note ${i}\n\n${samples.join("\n\n")}\n\nNote number ${i}.`);
  const ref = path.join(root, "ref");
  cli(ref, "vault", "create", "V");
  const t0 = performance.now();
  expect(cli(ref, "add", "V", docs).status).toBe(0);
  fullRunMs = performance.now() - t0;
  const r = inspect(ref);
  expect(r).toMatchObject({ problems: [], missing: 0 });
  expect(r.vectors.size).toBeGreaterThan(2 * 64);
  reference = r.vectors;
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Starts `mnemo add` and kills it at a random moment; true when the kill landed before it finished. */
async function killDuring(data: string, args: string[], random: () => number): Promise<boolean> {
  const child = spawn(process.execPath, [CLI, "--data-dir", data, ...base, "add", "V", ...args], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  await new Promise((r) => setTimeout(r, 300 + random() * fullRunMs));
  const killed = child.kill("SIGKILL");
  await exited;
  return killed;
}

/**
 * Starts `mnemo add` on a vault and kills it right after its first fill-in transaction commits (64
 * vectors written, more to come), so one kill surely lands mid-way whatever the machine's speed.
 */
async function killAfterFirstCommit(data: string): Promise<void> {
  const [id] = readdirSync(path.join(data, "vaults")).filter((d) => !d.startsWith("."));
  const file = path.join(data, "vaults", id!, "vault.db");
  const child = spawn(process.execPath, [CLI, "--data-dir", data, ...base, "add", "V"], { stdio: "ignore" });
  let running = true;
  const exited = new Promise<void>((resolve) =>
    child.on("exit", () => {
      running = false;
      resolve();
    }),
  );
  const db = new Database(file, { readonly: true });
  try {
    const count = db.prepare("SELECT count(*) AS n FROM embeddings");
    while (running && (count.get() as { n: number }).n === 0) await new Promise((r) => setTimeout(r, 5));
  } finally {
    db.close();
  }
  child.kill("SIGKILL");
  await exited;
}

describe.skipIf(!source && !process.env.CI)("vectors through kill -9", () => {
  it("ingest killed at random: every committed chunk has its vector; resuming gives the reference", async () => {
    const random = seededRandom(11);
    let interrupted = 0;
    for (let run = 0; run < 4; run++) {
      const data = path.join(root, `ingest-${run}`);
      cli(data, "vault", "create", "V");
      if (await killDuring(data, [docs], random)) interrupted++;
      const after = inspect(data);
      expect(after.problems, `run ${run}`).toEqual([]);
      expect(after.missing, `run ${run}: chunks committed without their vector`).toBe(0);
      expectSameVectors(after.vectors, reference, `run ${run}`);
      cli(data, "add", "V", docs);
      const done = inspect(data);
      expect(done.vectors.size).toBe(reference.size);
      expectSameVectors(done.vectors, reference, `run ${run}, resumed`);
    }
    expect(interrupted).toBeGreaterThanOrEqual(2);
  }, 240_000);

  it("filling in missing vectors killed at random: what was written is right, resuming completes it", async () => {
    const random = seededRandom(12);
    let partial = 0;
    for (let run = 0; run < 4; run++) {
      const data = path.join(root, `fill-${run}`);
      cpSync(path.join(root, "ref"), data, { recursive: true });
      const [id] = readdirSync(path.join(data, "vaults")).filter((d) => !d.startsWith("."));
      const db = new Database(path.join(data, "vaults", id!, "vault.db"));
      db.exec("DELETE FROM embeddings"); // as a vault from before schema 3
      db.close();
      // no paths: catch up on the vault. The first run is killed just after a commit (timing-free),
      // the others at random moments (before the model loads, mid-way, or after the end).
      if (run === 0) await killAfterFirstCommit(data);
      else await killDuring(data, [], random);
      const after = inspect(data);
      expect(after.problems, `run ${run}`).toEqual([]);
      if (after.missing > 0 && after.vectors.size > 0) partial++;
      expectSameVectors(after.vectors, reference, `run ${run}`);
      expect(cli(data, "add", "V").status).toBe(0);
      const done = inspect(data);
      expect(done.missing).toBe(0);
      expectSameVectors(done.vectors, reference, `run ${run}, resumed`);
    }
    expect(partial, "no kill landed mid-way through the fill-in").toBeGreaterThanOrEqual(1);
  }, 240_000);
});
