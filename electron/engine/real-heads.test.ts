// The setup-built bundle's MAC heads, once models/ exports them into it (export_mac_gemma.py, with
// PyTorch fixtures named by architecture.mac.fixtures): each head's ONNX outputs against PyTorch's,
// and one memory answer through the lm_tap reader. Skipped while the bundle has no heads.
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { packedPastAdapter } from "../core/layer-cache.js";
import { argmax } from "../core/sampler.js";
import { windowRows } from "../core/reader.js";
import { floatTensor, floats, int64Tensor, type Tensor } from "../core/session.js";
import { defaultBundleDir } from "../app/paths.js";
import { takesLayerCache } from "../shared/manifest.js";
import { loadBundle } from "./bundle.js";
import { createSession } from "./ort-session.js";

const dir = defaultBundleDir();
const repo = path.resolve(import.meta.dirname, "../..");
const manifestFile = path.join(dir, "manifest.json");
const raw = existsSync(manifestFile) ? JSON.parse(readFileSync(manifestFile, "utf8")) : null;
const fixturesFile: string | undefined = raw?.architecture?.mac?.fixtures;

interface HeadsFixtures {
  features: number[];
  features_shape: [number, number, number];
  attention_mask: number[][];
  modulation: number[];
  query: number[];
  entry_weights: number[];
  latent: number[];
  prefix_kv_sample: number[];
  prefix_kv_shape: number[];
}

const relErr = (a: ArrayLike<number>, b: readonly number[]) => {
  let num = 0,
    den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
};
/** float32 ONNX against float32 PyTorch on the same weights, fixtures rounded to 6 decimals. */
const TOL = 1e-3;
/**
 * The reader graph's tap and modulations against the LM graph's (exact Q8_0 blocks): 1.6-1.7%
 * and 1.9-2.0% on these two samples (2026-12-03); 2.5% on average and 3.7% at most for the
 * modulations of 64 valid paragraphs (npm run bench:reader, docs/bench/README.md). The bounds leave
 * room for another CPU's integer kernels, not for a wrong graph (a layer misplaced or unscaled is
 * off by far more).
 */
const FAST_TAP_TOL = 0.05,
  FAST_MODULATION_TOL = 0.05;

describe.skipIf(!fixturesFile)("the setup-built bundle's MAC heads", async () => {
  // Vitest collects a skipped suite's body too: nothing is read unless the heads are there.
  const fx0 = fixturesFile ? (JSON.parse(readFileSync(path.join(dir, fixturesFile), "utf8")) as HeadsFixtures) : null;
  const mac0 = fixturesFile ? await loadBundle(dir, { executionProvider: "cpu", threads: 2 }) : null;
  const session = (g: "amortizer" | "question_encoder") =>
    createSession(path.join(dir, mac0!.manifest.graphs[g]!.file), { executionProvider: "cpu", threads: 2 });

  /** The LM graph's tap over ids from position 0: alone (tap_only = 1) or within the whole forward. */
  const lmTap = async (ids: number[], alone: boolean) => {
    const mac = mac0!;
    const raw = await createSession(path.join(dir, mac.manifest.graphs.lm.file), {
      executionProvider: "cpu",
      threads: 2,
    });
    // a packed past, split per layer
    const lm = takesLayerCache(mac.manifest.graphs.lm.inputs) ? packedPastAdapter(raw) : raw;
    return lm.run({
      input_ids: int64Tensor([ids]),
      position_ids: int64Tensor([ids.map((_, i) => i)]),
      attention_mask: int64Tensor([ids.map(() => 1)]),
      past_key_values: mac.emptyPast(),
      tap_only: { type: "int64", data: BigInt64Array.of(alone ? 1n : 0n), dims: [1] },
    });
  };

  it("read the LM's tap, and the vault keeps their modulations in int8", () => {
    const mac = mac0!;
    expect(mac.reader?.kind).toBe("lm_tap");
    expect(mac.manifest.mac?.storage).toBe("int8");
    expect(mac.cachesEntryKV).toBe(false);
  });

  it("give PyTorch's outputs: amortizer, question encoder, memory K/V + aggregator, prefix", async () => {
    const [mac, fx] = [mac0!, fx0!],
      [B, S, D] = fx.features_shape;
    const features = floatTensor(Float32Array.from(fx.features), [B, S, D]);
    const mods = floats(
      (await (await session("amortizer")).run({ features, attention_mask: int64Tensor(fx.attention_mask) }))
        .modulation!,
    );
    expect(relErr(mods, fx.modulation)).toBeLessThan(TOL);
    // The fixture's query is the first row's first five positions.
    const q5 = floatTensor(Float32Array.from(fx.features.slice(0, 5 * D)), [1, 5, D]);
    const query: Tensor = (
      await (
        await session("question_encoder")
      ).run({ features: q5, attention_mask: int64Tensor([fx.attention_mask[0]!.slice(0, 5)]) })
    ).query!;
    expect(relErr(floats(query), fx.query)).toBeLessThan(TOL);
    const T = mac.T,
      entries = [0, 1].map((e) => mods.slice(e * T * D, (e + 1) * T * D));
    const once = await mac.aggregateOnce(
      floatTensor(Float32Array.from(fx.query), [1, T, D]),
      await mac.memoryKV(entries),
    );
    expect(relErr(once.latent, fx.latent)).toBeLessThan(TOL);
    expect(relErr(once.weights, fx.entry_weights)).toBeLessThan(TOL);
    const prefix = floats(await mac.prefix(Float32Array.from(fx.latent)));
    const n = fx.prefix_kv_shape.reduce((a, b) => a * b, 1),
      step = Math.max(1, Math.floor(n / 4096));
    expect(
      relErr(
        Array.from({ length: fx.prefix_kv_sample.length }, (_, i) => prefix[i * step]!),
        fx.prefix_kv_sample,
      ),
    ).toBeLessThan(TOL);
  });

  it("read a tap the LM graph computes alone (tap_only = 1) exactly as within its whole forward", async () => {
    const mac = mac0!;
    expect(mac.stopsAtTap).toBe(true);
    const ids = [...mac.reader!.prefix_ids, ...mac.chunkIds("The Eiffel Tower was completed in 1889.")[0]!];
    const [alone, whole] = [await lmTap(ids, true), await lmTap(ids, false)];
    expect(alone.tap!.dims).toEqual(whole.tap!.dims);
    expect(relErr(floats(alone.tap!), Array.from(floats(whole.tap!)))).toBeLessThan(1e-6);
    expect(alone.logits!.dims[0]).toBe(0); // nothing past the tap was computed
    expect(whole.logits!.dims).toEqual([1, 1, mac.manifest.architecture.lm.vocab_size]);
  });

  it("read with the reader graph, when there is one, near the LM's own tap: within the fast kernels' error", async () => {
    const mac = mac0!;
    const spec = mac.manifest.graphs.reader;
    expect(!!spec).toBe(!!mac.reader!.fast_tap);
    if (!spec) return;
    const reader = await createSession(path.join(dir, spec.file), { executionProvider: "cpu", threads: 2 });
    const amortizer = await session("amortizer");
    for (const doc of ["eiffel-tower.md", "marie-curie.md"]) {
      const window = mac.chunkIds(readFileSync(path.join(repo, "resources/samples", doc), "utf8"))[0]!;
      const ids = [...mac.reader!.prefix_ids, ...window];
      const fast = (
        await reader.run({
          input_ids: int64Tensor([ids]),
          position_ids: int64Tensor([ids.map((_, i) => i)]),
          attention_mask: int64Tensor([ids.map(() => 1)]),
          ...mac.readerCaches(),
        })
      ).tap!;
      const exact = (await lmTap(ids, true)).tap!;
      expect(fast.dims).toEqual(exact.dims);
      const tapErr = relErr(floats(fast), Array.from(floats(exact)));
      expect(tapErr).toBeGreaterThan(1e-6); // other kernels: near, not equal
      expect(tapErr).toBeLessThan(FAST_TAP_TOL);
      // What the memory keeps: the modulation read from either tap.
      const modulation = async (tap: Tensor) =>
        floats((await amortizer.run(windowRows(tap, mac.reader!.prefix_ids.length, [window.length]))).modulation!);
      expect(relErr(await modulation(fast), Array.from(await modulation(exact)))).toBeLessThan(FAST_MODULATION_TOL);
    }
  });

  it("answer a question from an amortized passage behind the memory prefix", async () => {
    const mac = mac0!;
    const mods = mac.asStored(
      await mac.amortize(mac.chunkIds("The Eiffel Tower was completed in 1889 for the World's Fair in Paris.")),
    );
    const { promptIds, query } = await mac.encodeQuestion("When was the Eiffel Tower completed?");
    const agg = await mac.aggregate(query!, mods);
    expect(agg.weights[0]).toBeGreaterThan(0);
    const past = await mac.prefix(agg.latent);
    const out: number[] = [];
    for await (const t of mac.decode(promptIds, past, { sample: argmax, maxNewTokens: 8 })) out.push(t);
    expect(out.length).toBeGreaterThan(0); // what it says is the evaluation's to measure (npm run eval)
  });

  it("make a lone entry's prefix from its modulation alone when the manifest says one_entry_direct", async () => {
    const mac = mac0!;
    expect(mac.oneEntryDirect).toBe(true); // the shipped heads are slot-wise (models/README.md)
    const [mod] = mac.asStored(
      await mac.amortize(mac.chunkIds("Marie Curie was born in Warsaw, in the Kingdom of Poland.")),
    );
    const { query } = await mac.encodeQuestion("Where was Marie Curie born?");
    const viaQuestion = floats(await mac.prefix((await mac.aggregate(query!, [mod!])).latent));
    const direct = floats(await mac.prefix(mod!));
    expect(relErr(direct, Array.from(viaQuestion))).toBeLessThan(1e-3);
  });
});
