// Retrieval through the application service, with the real sentence encoder (the setup-built
// bundle's, beside the tiny random LM: electron/bench/encoder-bundle.ts): vectors stored at ingest
// with the encoder's identity, dense search finding a passage in other words than the document's,
// hybrid fusion, the answer policy, vaults without vectors (schema 2, another encoder) filled in with
// progress, the engine's index kept current on ingest and removal, and MAC pre-selection by retrieval.
// Required in CI; skipped elsewhere when setup has not built the bundle. Runs on the compiled output.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { IngestProgress } from "../shared/api.js";
import { encoderSource, makeEncoderBundle } from "../bench/encoder-bundle.js";
import type { MnemoApp as App } from "./app.js";

const repo = path.resolve(import.meta.dirname, "../..");
const { MnemoApp } = (await import(path.join(repo, "out/app/app.js"))) as { MnemoApp: typeof App };
const source = encoderSource();
const root = mkdtempSync(path.join(os.tmpdir(), "mnemo-retrieval-"));
const docs = path.join(root, "docs");
const NOTES: Record<string, string> = {
  "curie.md": "# Marie Curie\n\nMarie Curie discovered polonium and radium and won two Nobel Prizes.",
  "tower.md": "# The Eiffel Tower\n\nThe Eiffel Tower in Paris was completed in 1889 and is 330 metres tall.",
  "heart.md": "# Clinic notes\n\nThe cardiologist recommended a low-salt diet to bring down hypertension.",
};
const progress: IngestProgress[] = [];
let bundle = "",
  app: App;
const open = () =>
  new MnemoApp({
    dataDir: path.join(root, "data"),
    bundleDir: bundle,
    threads: 2,
    onProgress: (p) => progress.push(p),
  });

beforeAll(() => {
  if (!source) return;
  bundle = makeEncoderBundle(path.join(root, "bundle"), source);
  mkdirSync(docs);
  for (const [name, text] of Object.entries(NOTES)) writeFileSync(path.join(docs, name), text);
  app = open();
});
afterAll(async () => {
  await app?.close();
  rmSync(root, { recursive: true, force: true });
});

const count = (app: App, vault: string, sql: string) =>
  app.vault(vault).then((v) => (v.db.prepare(sql).get() as { n: number }).n);

describe.skipIf(!source && !process.env.CI)("retrieval with the real sentence encoder", () => {
  it("stores one int8 vector per chunk at ingest, tagged with the encoder graph's sha256", async () => {
    const v = await app.vault((await app.createVault("Notes")).id);
    await app.addPaths(v, [docs]);
    const model = await app.model();
    expect(model.encoder).toEqual({ id: model.manifest.files["encoder.onnx"]!.sha256, dim: 384 });
    const rows = v.db.prepare("SELECT encoder, format, dim, length(data) AS bytes FROM embeddings").all();
    expect(rows).toEqual(Array(3).fill({ encoder: model.encoder!.id, format: "int8", dim: 384, bytes: 384 }));
    expect(progress.some((p) => p.current?.stage === "embedding")).toBe(true);
  });

  it("dense search finds a passage asked in other words; BM25 does not; hybrid keeps it first", async () => {
    const v = await app.vault("Notes");
    const q = "Which doctor advised eating less sodium for high blood pressure?";
    const bm25 = await app.search([v], q, "bm25", 3),
      dense = await app.search([v], q, "dense", 3),
      hybrid = await app.search([v], q, "hybrid", 3);
    expect(bm25.hits.map((h) => h.hit.name)).not.toContain("heart.md");
    expect(dense.hits[0]!.hit.name).toBe("heart.md");
    expect(dense.hits[0]!.dense!.score).toBeGreaterThan(dense.hits[1]!.dense!.score);
    expect(hybrid.hits[0]).toMatchObject({ foundBy: "meaning", hit: { name: "heart.md" } });
    expect(bm25.bestDense).toBeNull();
    const both = await app.search([v], "When was the Eiffel Tower completed?", "hybrid", 3);
    expect(both.hits[0]).toMatchObject({
      foundBy: "both",
      keyword: { rank: 1 },
      dense: { rank: 1 },
      hit: { name: "tower.md" },
    });
  });

  it("answers 'Not found in your documents' when nothing is close, unless the policy is off", async () => {
    const tokens: string[] = [];
    const r = await app.ask({ question: "What is the capital of Mongolia?", vaults: ["Notes"] }, (t) => tokens.push(t));
    expect(r.answer).toBe("Not found in your documents.");
    expect(tokens.join("")).toBe(r.answer);
    expect(r.notFound!.reason).toMatch(
      /^no passage is close in meaning to the question \(best similarity 0\.\d\d, needs 0\.\d\d\)$/,
    );
    const on = await app.ask(
      {
        question: "Which doctor advised eating less sodium for high blood pressure?",
        vaults: ["Notes"],
        maxNewTokens: 2,
      },
      () => {},
    );
    expect(on.notFound).toBeUndefined();
    expect(on.sources[0]).toMatchObject({ name: "heart.md", foundBy: "meaning" });
    expect(on.sources[0]!.denseScore).toBeGreaterThan(0.3);
    const off = await app.ask(
      { question: "What is the capital of Mongolia?", vaults: ["Notes"], abstain: false, maxNewTokens: 2 },
      () => {},
    );
    expect(off.notFound).toBeUndefined();
    expect(off.answer).not.toBe("Not found in your documents.");
  });

  it("keeps the engine's vectors current: a new document is found, a removed one is not", async () => {
    const v = await app.vault("Notes");
    writeFileSync(
      path.join(docs, "bees.md"),
      "# Bees\n\nHoneybees communicate the location of flowers with a waggle dance.",
    );
    await app.addPaths(v, [docs]);
    expect(
      (await app.search([v], "How do insects tell each other where the nectar is?", "dense", 1)).hits[0]!.hit.name,
    ).toBe("bees.md");
    await app.removeDocuments(v, [app.documents(v).find((d) => d.name === "bees.md")!.id]);
    const after = await app.search([v], "How do insects tell each other where the nectar is?", "dense", 5);
    expect(after.hits.map((h) => h.hit.name)).not.toContain("bees.md");
    expect(after.hits).toHaveLength(3);
  });

  it("fills in vectors a vault lacks (from before schema 3, or another encoder's) with progress, then finds the same", async () => {
    const v = await app.vault("Notes");
    const before = (await app.search([v], "radioactive elements", "dense", 3)).hits.map((h) => [
      h.hit.name,
      h.score.toFixed(3),
    ]);
    await app.close();
    progress.length = 0;
    // As a vault opened by a Mnemo that kept no vectors, and one whose vectors another encoder made.
    const direct = open();
    const vault = await direct.vault("Notes");
    vault.db.prepare("DELETE FROM embeddings WHERE chunk_id = (SELECT min(chunk_id) FROM embeddings)").run();
    vault.db.prepare("UPDATE embeddings SET encoder = 'another-encoder'").run();
    await direct.close();
    app = open();
    const again = await app.search([await app.vault("Notes")], "radioactive elements", "dense", 3);
    expect(again.hits.map((h) => [h.hit.name, h.score.toFixed(3)])).toEqual(before);
    expect(progress.filter((p) => p.reindex).map((p) => p.reindex)).toEqual([
      { done: 0, total: 3 },
      { done: 3, total: 3 },
    ]);
    expect(await count(app, "Notes", "SELECT count(*) AS n FROM embeddings WHERE encoder = 'another-encoder'")).toBe(0);
    expect(await count(app, "Notes", "SELECT count(*) AS n FROM embeddings")).toBe(3);
  });

  it("pre-selects MAC's candidates with the hybrid search", async () => {
    const r = await app.ask(
      { question: "Who discovered polonium?", vaults: ["Notes"], mode: "memory", candidates: 1, maxNewTokens: 2 },
      () => {},
    );
    expect(r.bankSize).toBe(1);
    // the memory saw only the search's best
    expect(r.sources.filter((s) => s.memoryWeight > 0).map((s) => s.name)).toEqual(["curie.md"]);
  });
});
