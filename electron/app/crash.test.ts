// Crash safety: kill -9 the CLI at random moments while it ingests a batch (20 times), then check the
// vault is intact (SQLite integrity, no chunk without its modulation, no ready document without
// chunks, the keyword index in sync) and that resuming ends exactly where an uninterrupted run does.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { fromBlob, VaultStore } from "../vault/store.js";
import { makePdf } from "../bench/pdf-fixtures.js";
import { seededRandom } from "../core/sampler.js";

const repo = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(repo, "out/cli/main.js");
const root = mkdtempSync(path.join(os.tmpdir(), "mnemo-crash-"));
const docs = path.join(root, "docs");
const base = ["--bundle", path.join(repo, "models/bundles/tiny-random"), "--threads", "1"];
const cli = (data: string, ...args: string[]) =>
  spawnSync(process.execPath, [CLI, "--data-dir", data, ...base, ...args], { encoding: "utf8" });

/** Everything a user could observe in the vault, in a stable order. */
function snapshot(data: string): unknown {
  const [id] = readdirSync(path.join(data, "vaults")).filter((d) => !d.startsWith("."));
  const db = new Database(path.join(data, "vaults", id!, "vault.db")); // writable: the FTS check is an INSERT command
  try {
    const store = new VaultStore(db);
    const problems = store.integrityProblems();
    const documents = db
      .prepare("SELECT source, status, content_hash, title, pages, error FROM documents ORDER BY source")
      .all();
    const chunks = db
      .prepare(
        `SELECT d.source, c.seq, c.text, c.page_start, c.page_end, c.char_start, c.char_end, c.token_count, m.bundle_id, m.data
      FROM chunks c JOIN documents d ON d.id = c.document_id LEFT JOIN modulations m ON m.chunk_id = c.id ORDER BY d.source, c.seq`,
      )
      .all() as Record<string, unknown>[];
    for (const c of chunks) c.data = c.data ? Array.from(fromBlob(c.data as Buffer)) : null;
    const queued = (db.prepare("SELECT count(*) AS n FROM documents WHERE status = 'queued'").get() as { n: number }).n;
    return { problems, queued, documents, chunks };
  } finally {
    db.close();
  }
}

type Snapshot = { problems: string[]; queued: number; chunks: Record<string, unknown>[] };
let reference: Snapshot;

/**
 * Equal rows, and modulations equal up to float rounding: small documents share amortizer batches,
 * and a resumed run groups them differently.
 */
function expectSameVault(got: Snapshot, want: Snapshot, run: number): void {
  const strip = (s: Snapshot) => ({ ...s, chunks: s.chunks.map((c) => ({ ...c, data: null })) });
  expect(strip(got), `run ${run}: resumed result differs`).toEqual(strip(want));
  got.chunks.forEach((c, i) => {
    const a = c.data as number[],
      b = want.chunks[i]!.data as number[];
    const worst = a.reduce((m, x, k) => Math.max(m, Math.abs(x - b[k]!)), 0);
    expect(worst, `run ${run}: modulation of chunk ${i} differs by ${worst}`).toBeLessThan(1e-4);
  });
}
let fullRunMs = 0;

beforeAll(async () => {
  mkdirSync(docs);
  const samples = readdirSync(path.join(repo, "resources/samples")).map((f) =>
    readFileSync(path.join(repo, "resources/samples", f), "utf8"),
  );
  for (let i = 0; i < 8; i++) {
    const pages = Array.from({ length: 4 }, (_, p) =>
      samples[(i + p) % samples.length]!.replace(/^#.*$/gm, "")
        .trim()
        .slice(p * 200, p * 200 + 1400),
    );
    writeFileSync(path.join(docs, `report-${i}.pdf`), await makePdf(pages, `Report ${i}`));
    writeFileSync(
      path.join(docs, `note-${i}.md`),
      `# Note ${i}\n\n${samples[i % samples.length]}\n\nNote number ${i}.`,
    );
  }
  writeFileSync(path.join(docs, "broken.pdf"), "%PDF-1.4 not really");
  const ref = path.join(root, "ref");
  expect(cli(ref, "vault", "create", "V").status).toBe(0);
  const t0 = performance.now();
  const r = cli(ref, "add", "V", docs);
  fullRunMs = performance.now() - t0;
  expect(r.stderr).toMatch(/failed broken\.pdf/);
  reference = snapshot(ref) as Snapshot;
  expect(reference.problems).toEqual([]);
  expect(reference.queued).toBe(0);
}, 120_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("ingestion killed at random moments", () => {
  it("leaves a consistent vault every time, and resuming gives the uninterrupted result", async () => {
    const random = seededRandom(7);
    let interrupted = 0,
      midQueue = 0;
    for (let run = 0; run < 20; run++) {
      const data = path.join(root, `run-${run}`);
      expect(cli(data, "vault", "create", "V").status).toBe(0);
      const child = spawn(process.execPath, [CLI, "--data-dir", data, ...base, "add", "V", docs], { stdio: "ignore" });
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      await new Promise((r) => setTimeout(r, 100 + random() * fullRunMs));
      if (child.kill("SIGKILL")) interrupted++;
      await exited;
      const after = snapshot(data) as { problems: string[]; queued: number };
      expect(after.problems, `run ${run}: vault damaged by the kill`).toEqual([]);
      if (after.queued > 0) {
        midQueue++;
        cli(data, "add", "V"); // no paths: finish what was queued
        expect((snapshot(data) as { queued: number }).queued).toBe(0);
      }
      cli(data, "add", "V", docs); // the user runs the command again

      expectSameVault(snapshot(data) as Snapshot, reference, run);
      rmSync(data, { recursive: true, force: true });
    }
    expect(interrupted).toBeGreaterThanOrEqual(15); // most kills landed before the run ended
    expect(midQueue).toBeGreaterThanOrEqual(5); // and many with documents still queued
  }, 300_000);
});
