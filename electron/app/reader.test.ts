// A vault moving to a reader bundle with int8 storage (compiled output: the engine worker must be
// JavaScript; `npm test` runs tsc -b first): its float32 modulations from the tiny bundle are
// re-amortized into int8 blobs, never read as the new bundle's, and memory answers over them.
import { afterAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { MnemoApp as App } from "./app.js";
import { writeReaderBundle } from "../engine/onnx-fixture.test-helpers.js";

const repo = path.resolve(import.meta.dirname, "../..");
const { MnemoApp } = (await import(path.join(repo, "out/app/app.js"))) as { MnemoApp: typeof App };
const TINY = path.join(repo, "models/bundles/tiny-random");
const root = mkdtempSync(path.join(os.tmpdir(), "mnemo-app-reader-"));
const [reader, docs, data] = ["reader", "docs", "data"].map((d) => path.join(root, d)) as [string, string, string];
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("a vault re-amortized for a reader bundle", () => {
  it("turns the older bundle's float32 modulations into int8 ones and answers from memory", async () => {
    mkdirSync(reader);
    mkdirSync(docs);
    writeReaderBundle(TINY, reader);
    writeFileSync(path.join(docs, "tower.md"), "The Eiffel Tower was completed in 1889 for the World's Fair.");
    writeFileSync(path.join(docs, "curie.md"), "Marie Curie discovered polonium and radium with Pierre Curie.");
    type Vault = Awaited<ReturnType<App["vault"]>>;
    const sizes = (vault: Vault) =>
      vault.store.db.prepare("SELECT bundle_id AS b, length(data) AS n FROM modulations ORDER BY chunk_id").all();
    const old = new MnemoApp({ dataDir: data, bundleDir: TINY });
    const v = await old.vault((await old.createVault("Research")).id);
    try {
      await old.addPaths(v, [docs]);
      expect(sizes(v)).toEqual([1, 2].map(() => ({ b: expect.any(String), n: 4 * 32 * 4 }))); // float32 [4, 32]
    } finally {
      await old.close();
    }

    const app = new MnemoApp({ dataDir: data, bundleDir: reader });
    try {
      const model = await app.model(),
        w = await app.vault("Research");
      expect(model.storage).toBe("int8");
      expect(w.store.staleChunks(model.manifest.id, 10)).toHaveLength(2);
      // Both chunks are re-amortized on the first ask; candidates 2 makes the bank hold both.
      const r = await app.ask(
        {
          mode: "memory",
          question: "When was the tower completed?",
          vaults: ["Research"],
          maxNewTokens: 3,
          candidates: 2,
        },
        () => {},
      );
      expect(r.bankSize).toBe(2);
      expect(sizes(w)).toEqual([1, 2].map(() => ({ b: model.manifest.id, n: 4 * (4 + 32) }))); // int8 [4, 32]
      expect(r.sources.some((s) => s.memoryWeight > 0)).toBe(true);
      const both = await app.ask(
        { mode: "memory+keyword", question: "Who discovered polonium?", vaults: ["Research"], maxNewTokens: 3 },
        () => {},
      );
      expect(both.sources[0]!.passage).toContain("polonium");
    } finally {
      await app.close();
    }
  });
});
