// The lm_tap reader contract through real onnxruntime sessions: a reader bundle at the tiny bundle's
// sizes (onnx-fixture.test-helpers.ts: a tap LM, feature heads, the tiny bundle's aggregator and prefix) loaded by
// loadBundle, then driven through the engine worker as the app does (compiled output: the worker must
// be JavaScript; `npm test` runs tsc -b first): ingest, amortize, bank, ask with sources.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { argmax } from "../core/sampler.js";
import { floats } from "../core/session.js";
import { asStored } from "../shared/modulation-codec.js";
import { loadBundle } from "./bundle.js";
import type { EngineClient as Client } from "./engine-client.js";
import { writeReaderBundle } from "./onnx-fixture.test-helpers.js";

const repo = path.resolve(import.meta.dirname, "../..");
const TINY = path.join(repo, "models/bundles/tiny-random");
const { EngineClient } = (await import(path.join(repo, "out/engine/engine-client.js"))) as {
  EngineClient: typeof Client;
};
const dir = mkdtempSync(path.join(os.tmpdir(), "mnemo-reader-"));
writeReaderBundle(TINY, dir);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe("a reader bundle on onnxruntime", async () => {
  const mac = await loadBundle(dir);
  const [T, D] = [mac.T, mac.D];

  it("loads, with its reader and int8 storage", () => {
    expect(mac.reader).toMatchObject({ kind: "lm_tap", output: "tap", prefix_ids: [1, 40, 41] });
    expect(mac.manifest.mac?.storage).toBe("int8");
    expect(mac.cachesEntryKV).toBe(false);
  });

  it("amortizes a window the same alone and padded in a batch (only its own tap rows are read)", async () => {
    const [a, b] = [mac.chunkIds("The tower was completed in 1889 for the fair.")[0]!, mac.chunkIds("Curie won.")[0]!];
    expect(a.length).toBeGreaterThan(b.length);
    const [alone] = await mac.amortize([b]);
    const [, padded] = await mac.amortize([a, b]);
    expect(alone!.length).toBe(T * D);
    expect(maxDiff(alone!, padded!)).toBeLessThan(1e-5);
    const [other] = await mac.amortize([a]);
    expect(maxDiff(alone!, other!)).toBeGreaterThan(1e-3);
  });

  it("answers behind the memory prefix from the question's tap", async () => {
    const mods = mac.asStored(await mac.amortize(mac.chunkIds("The tower was completed in 1889.")));
    const { promptIds, query } = await mac.encodeQuestion(
      "When was the tower completed?",
      { kind: "keyword", passages: ["x"] },
      true,
    );
    expect(query!.dims).toEqual([1, T, D]);
    const agg = await mac.aggregate(query!, mods);
    expect(agg.weights).toHaveLength(mods.length);
    const past = await mac.prefix(agg.latent);
    expect(past.dims[4]).toBe(mac.manifest.mac!.prefix.length);
    const out: number[] = [];
    for await (const t of mac.decode(promptIds, past, { sample: argmax, maxNewTokens: 3 })) out.push(t);
    expect(out.length).toBeGreaterThan(0);
    expect(floats(query!).every(Number.isFinite)).toBe(true);
  });
});

describe("EngineClient on a reader bundle", () => {
  const engine = new EngineClient();
  afterAll(() => engine.close());

  it("returns modulations as int8 storage keeps them, and answers over a bank of them with sources", async () => {
    await engine.load(dir);
    const { modulations, truncated } = await engine.amortize([
      "The tower was completed in 1889.",
      "Marie Curie won two Nobel Prizes.",
    ]);
    expect(truncated).toBe(0);
    for (const m of modulations)
      expect(maxDiff(asStored(m, 4, 32, "int8"), m)).toBeLessThanOrEqual(1e-6 * Math.max(...m.map(Math.abs)));
    expect(
      await engine.bankPut(
        "v",
        modulations.map((modulation, i) => ({ key: String(i + 1), modulation })),
      ),
    ).toEqual({ size: 2 });
    const pieces: string[] = [];
    const r = await engine.ask("When was the tower completed?", { maxNewTokens: 4 }, (t) => pieces.push(t), undefined, [
      "v",
    ]);
    expect(pieces.join("").trim()).toBe(r.answer);
    expect(r.bankSize).toBe(2);
    expect(r.sources.map((s) => s.key).sort()).toEqual(["1", "2"]);
    const some = await engine.ask(
      "When?",
      { maxNewTokens: 2, candidates: 1, candidateKeys: [{ bank: "v", key: "2" }] },
      () => {},
      undefined,
      ["v"],
    );
    expect(some.bankSize).toBe(1);
    expect(some.sources.map((s) => s.key)).toEqual(["2"]);
    // the learned null entry alone
    const none = await engine.ask("When?", { maxNewTokens: 2 }, () => {}, undefined, []);
    expect(none).toMatchObject({ bankSize: 0, sources: [] });
  });

  it("ingests ad-hoc documents into its own bank and refuses a modulation of the wrong size", async () => {
    expect(await engine.ingest("a.md", "The tower was completed in 1889.")).toEqual({ entries: 1 });
    const r = await engine.ask("When?", { maxNewTokens: 2 }, () => {}, undefined, ["docs"]);
    expect(r.sources.map((s) => s.key)).toEqual(["a.md"]);
    await expect(engine.bankPut("v", [{ key: "x", modulation: new Float32Array(5) }])).rejects.toThrow(
      /has 5 values; this bundle needs 128/,
    );
  });
});
