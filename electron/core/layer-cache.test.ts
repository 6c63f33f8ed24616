import { describe, expect, it } from "vitest";
import { layerCacheNames } from "../shared/manifest.js";
import { generate } from "./generate.js";
import { appendPositions } from "./kv-cache.js";
import { LayerKvCache, packedPastAdapter, unpackPast } from "./layer-cache.js";
import { argmax } from "./sampler.js";
import { floats, floatTensor, type Session, type Tensor } from "./session.js";

let counter = 0;
const filled = (dims: number[]) =>
  floatTensor(
    Float32Array.from({ length: dims.reduce((x, y) => x * y, 1) }, () => ++counter),
    dims,
  );

/** The first `held` slots of every layer's (B, Hkv, C, hd) feed, packed as (L, 2, B, Hkv, held, hd). */
function heldPacked(feeds: Record<string, Tensor>, layers: number, held: number): Tensor {
  const slabs = layerCacheNames(layers).map((n) => feeds[n]!);
  const [B, H, C, hd] = slabs[0]!.dims as number[];
  const out: number[] = [];
  for (const t of slabs) {
    for (let r = 0; r < B! * H!; r++) out.push(...floats(t).subarray(r * C! * hd!, (r * C! + held) * hd!));
  }
  return floatTensor(Float32Array.from(out), [layers, 2, B!, H!, held, hd!]);
}

describe("layer cache names", () => {
  it("follow the graph's order: each layer's key, then its value", () => {
    expect(layerCacheNames(2)).toEqual([
      "past_key_values.0.key",
      "past_key_values.0.value",
      "past_key_values.1.key",
      "past_key_values.1.value",
    ]);
  });
});

describe("unpackPast", () => {
  it("views each slab of the packed past as a layer's (B, Hkv, P, hd), without copying", () => {
    const past = filled([2, 2, 1, 2, 3, 4]);
    const layers = unpackPast(past);
    expect(Object.keys(layers)).toEqual(layerCacheNames(2));
    const v1 = layers["past_key_values.1.value"]!;
    expect(v1.dims).toEqual([1, 2, 3, 4]);
    expect(floats(v1).buffer).toBe(floats(past).buffer);
    expect(Array.from(floats(v1))).toEqual(Array.from(floats(past).subarray(3 * 24, 4 * 24)));
  });
});

describe("LayerKvCache", () => {
  it("holds its start and every append in the first slots of each row, across a regrowth", () => {
    const start = filled([3, 2, 2, 2, 4, 5]);
    const before = Array.from(floats(start));
    const cache = new LayerKvCache(start, 6); // 4 + 1 + 3 + 1 + 7 positions: grows twice
    let reference = start;
    for (const S of [1, 3, 1, 7]) {
      const feeds = cache.feeds(S);
      const C = feeds["past_key_values.0.key"]!.dims[2]!;
      expect(C).toBeGreaterThanOrEqual(cache.positions + S); // room for the run's new positions
      expect(heldPacked(feeds, 3, cache.positions)).toEqual(reference);
      const fresh = filled([3, 2, 2, 2, S, 5]);
      cache.append(fresh);
      reference = appendPositions(reference, fresh);
    }
    expect(cache.positions).toBe(16);
    expect(heldPacked(cache.feeds(0), 3, 16)).toEqual(reference);
    expect(Array.from(floats(start))).toEqual(before); // a shared prefix is never written
  });

  it("starts from an empty past and refuses new key/values of another shape", () => {
    const cache = new LayerKvCache(floatTensor(new Float32Array(0), [2, 2, 1, 1, 0, 4]), 3);
    expect(cache.feeds(1)["past_key_values.1.value"]!.dims).toEqual([1, 1, 3, 4]);
    expect(() => cache.append(filled([2, 2, 1, 1, 1, 8]))).toThrow(/do not fit/u);
    expect(() => cache.append(filled([3, 2, 1, 1, 1, 4]))).toThrow(/do not fit/u);
  });
});

/**
 * A fake per-layer LM: its new keys/values are its input token ids (layer i's keys +i, values -i) and
 * its next token is the sum of every real key of every layer (mod 7), read from the first T - S slots
 * of each fed buffer. It refuses a packed past. generate must give the same tokens as the packed path.
 */
class SummingLayerLM implements Session {
  constructor(private readonly layers: number) {}
  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    if (feeds["past_key_values"]) throw new Error("a packed past reached a per-layer graph");
    const ids = Array.from(feeds["input_ids"]!.data as BigInt64Array, Number),
      S = ids.length;
    const P = feeds["attention_mask"]!.dims[1]! - S;
    let sum = 0;
    layerCacheNames(this.layers).forEach((n, i) => {
      if (i % 2 === 0)
        sum += floats(feeds[n]!)
          .subarray(0, P)
          .reduce((a, b) => a + b, 0);
    });
    const fresh = new Float32Array(2 * this.layers * S);
    for (let i = 0; i < 2 * this.layers; i++)
      ids.forEach((t, s) => {
        fresh[i * S + s] = i % 2 ? -t : t + (i >> 1);
      });
    for (let l = 0; l < this.layers; l++) sum += ids.reduce((a, t) => a + t + l, 0);
    const logits = new Float32Array(7).fill(-1);
    logits[((sum % 7) + 7) % 7] = 1;
    return { logits: floatTensor(logits, [1, 1, 7]), new_key_values: floatTensor(fresh, [this.layers, 2, 1, 1, S, 1]) };
  }
}

/** The same model on the packed layout: the reference for generate's per-layer path. */
class SummingPackedLM implements Session {
  constructor(private readonly layers: number) {}
  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const { past_key_values: past, ...rest } = feeds;
    const inner = new SummingLayerLM(this.layers);
    const out = await inner.run({ ...rest, ...unpackPast(past!) });
    return { ...out, present_key_values: appendPositions(past!, out["new_key_values"]!) };
  }
}

describe("generate with a per-layer cache", () => {
  const collect = async (it: AsyncIterable<number>) => {
    const out: number[] = [];
    for await (const t of it) out.push(t);
    return out;
  };
  const prefix = floatTensor(Float32Array.of(2, 3, -2, -3, 5, 1, -5, -1), [2, 2, 1, 1, 2, 1]);
  const opts = { maxNewTokens: 12, stopIds: new Set<number>(), sample: argmax };

  it("decodes the same tokens as with packed presents, and never writes the prefix", async () => {
    const packed = await collect(generate(new SummingPackedLM(2), [1, 4], prefix, 2, 7, opts));
    const layered = await collect(
      generate(new SummingLayerLM(2), [1, 4], prefix, 2, 7, {
        ...opts,
        newKeyValues: "new_key_values",
        layerCache: true,
      }),
    );
    expect(layered).toEqual(packed);
    expect(new Set(packed).size).toBeGreaterThan(2); // the sums move: the test can fail
    expect(Array.from(floats(prefix))).toEqual([2, 3, -2, -3, 5, 1, -5, -1]);
  });

  it("needs the graph's new_key_values output", async () => {
    await expect(
      generate(new SummingLayerLM(2), [1], prefix, 2, 7, { ...opts, layerCache: true }).next(),
    ).rejects.toThrow(/newKeyValues/u);
  });
});

describe("packedPastAdapter", () => {
  it("feeds a packed past as per-layer views and passes per-layer feeds through", async () => {
    const seen: Record<string, Tensor>[] = [];
    const lm = packedPastAdapter({
      run: async (feeds) => {
        seen.push(feeds);
        return {};
      },
    });
    const past = filled([2, 2, 1, 1, 3, 2]);
    await lm.run({ input_ids: filled([1, 1]), past_key_values: past });
    expect(Object.keys(seen[0]!)).toEqual(["input_ids", ...layerCacheNames(2)]);
    expect(floats(seen[0]!["past_key_values.1.key"]!)).toEqual(floats(past).subarray(12, 18));
    const direct = { input_ids: filled([1, 1]), ...unpackPast(past) };
    await lm.run(direct);
    expect(seen[1]).toEqual(direct);
  });
});
