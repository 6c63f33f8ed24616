// Parity with the golden fixtures exported by the Python pipeline: token ids, every graph's outputs
// within the fixture tolerance, hierarchical aggregation, and identical greedy tokens with and without
// the prefix. Runs on models/bundles/tiny-random (format 1, memory heads); the real format-2 bundle
// built by setup has its own parity test (real-bundle.test.ts).
import { describe, expect, it } from "vitest";
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { argmax } from "../core/sampler.js";
import { floats } from "../core/session.js";
import { loadBundle } from "./bundle.js";

const root = path.resolve(import.meta.dirname, "../../models/bundles");
const bundles = ["tiny-random"].map((b) => path.join(root, b)).filter((d) => existsSync(path.join(d, "manifest.json")));

interface Fx {
  shape: number[];
  data: number[];
}
const relErr = (a: ArrayLike<number>, b: Fx) => {
  let num = 0,
    den = 0;
  for (let i = 0; i < b.data.length; i++) {
    num += (a[i]! - b.data[i]!) ** 2;
    den += b.data[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
};

for (const dir of bundles) {
  const fx = JSON.parse(readFileSync(path.join(dir, "fixtures.json"), "utf8"));
  const tol: number = fx.tolerance.relative;

  describe(`bundle ${path.basename(dir)}`, async () => {
    const mac = await loadBundle(dir);

    it("tokenizes documents and the question as Python did", () => {
      expect(fx.documents.map((d: string) => mac.chunkIds(d)[0])).toEqual(fx.document_ids);
      expect(mac.tokenizer.encode(fx.question_prompt)).toEqual(fx.question_ids);
    });

    it("reproduces amortizer, question encoder, aggregator and prefix outputs", async () => {
      const mods = await mac.amortize(fx.document_ids);
      expect(
        relErr(
          mods.flatMap((m) => Array.from(m)),
          fx.amortizer.modulation,
        ),
      ).toBeLessThanOrEqual(tol);
      const { promptIds, query: q } = await mac.encodeQuestion(fx.question);
      const query = q!;
      expect(promptIds).toEqual(fx.question_ids);
      expect(relErr(floats(query), fx.question_encoder.query)).toBeLessThanOrEqual(tol);
      expect(relErr(floats(await mac.memoryKV(mods)), fx.memory_kv.memory_kv)).toBeLessThanOrEqual(tol);
      const once = await mac.aggregate(query, mods);
      expect(relErr(once.latent, fx.aggregator.latent)).toBeLessThanOrEqual(tol);
      expect(relErr(once.weights, fx.aggregator.entry_weights)).toBeLessThanOrEqual(tol);
      const tree = await mac.aggregate(query, mods, fx.hierarchical.group);
      expect(relErr(tree.latent, fx.hierarchical.latent)).toBeLessThanOrEqual(tol);
      expect(relErr(tree.weights, fx.hierarchical.entry_weights)).toBeLessThanOrEqual(tol);
      expect(relErr(floats(await mac.prefix(once.latent)), fx.prefix.prefix_kv)).toBeLessThanOrEqual(tol);
      const cached = await mac.entryKV(mods);
      for (const group of [16, fx.hierarchical.group]) {
        const fresh = await mac.aggregate(query, mods, group),
          reused = await mac.aggregate(query, mods, group, cached);
        expect(relErr(reused.latent, { shape: [], data: Array.from(fresh.latent) })).toBeLessThan(1e-6);
        expect(relErr(reused.weights, { shape: [], data: fresh.weights })).toBeLessThan(1e-6);
      }
    });

    it("decodes the same greedy tokens with and without the prefix", async () => {
      const { promptIds, query: q } = await mac.encodeQuestion(fx.question);
      const query = q!;
      const past = await mac.prefix((await mac.aggregate(query, await mac.amortize(fx.document_ids))).latent);
      const collect = async (it: AsyncIterable<number>) => {
        const out: number[] = [];
        for await (const t of it) out.push(t);
        return out;
      };
      expect(await collect(mac.decode(promptIds, past, { sample: argmax }))).toEqual(fx.lm.greedy_with_prefix);
      expect(await collect(mac.decode(promptIds, mac.emptyPast(), { sample: argmax }))).toEqual(
        fx.lm.greedy_without_prefix,
      );
      expect(await mac.beam(promptIds, past, 1)).toEqual(fx.lm.greedy_with_prefix); // one beam = greedy, cache and all
      const wide = await mac.beam(promptIds, past, 4);
      expect(wide.length).toBeLessThanOrEqual(fx.lm.max_new_tokens);
    });

    it("stops when aborted", async () => {
      const { promptIds } = await mac.encodeQuestion(fx.question);
      const signal = { aborted: true };
      await expect(mac.decode(promptIds, mac.emptyPast(), { sample: argmax, signal }).next()).rejects.toThrow(
        /aborted/,
      );
    });
  });
}

describe("loadBundle refuses bad bundles", () => {
  const copy = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), "mnemo-bundle-"));
    cpSync(path.join(root, "tiny-random"), d, { recursive: true });
    return d;
  };

  it("names a missing bundle", async () => {
    await expect(loadBundle(path.join(os.tmpdir(), "no-such-bundle"))).rejects.toThrow(
      /no model bundle at .*manifest\.json missing/,
    );
  });

  it("refuses a tampered graph", async () => {
    const d = copy();
    const f = path.join(d, "prefix.onnx");
    const bytes = readFileSync(f);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 10) ^ 0xff, bytes.length - 10);
    writeFileSync(f, bytes);
    await expect(loadBundle(d)).rejects.toThrow(/prefix\.onnx does not match its sha256/);
  });

  it("refuses a missing file", async () => {
    const d = copy();
    copyFileSync(path.join(d, "lm.onnx"), path.join(d, "lm.bak"));
    writeFileSync(
      path.join(d, "manifest.json"),
      readFileSync(path.join(d, "manifest.json"), "utf8").replace('"lm.onnx"', '"lm2.onnx"'),
    );
    await expect(loadBundle(d)).rejects.toThrow(/lm2\.onnx/);
  });
});
