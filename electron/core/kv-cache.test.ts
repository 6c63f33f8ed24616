import { describe, expect, it } from "vitest";
import { generate } from "./generate.js";
import { appendPositions, GrowingKvCache } from "./kv-cache.js";
import { argmax } from "./sampler.js";
import { floats, floatTensor, type Session, type Tensor } from "./session.js";

/** Reference: concatenation along the position axis (4) of (L, 2, B, H, P, hd) tensors. */
function concat(a: Tensor, b: Tensor): Tensor {
  const [L, two, B, H, P, hd] = a.dims as number[],
    S = b.dims[4]!;
  const out = new Float32Array(L! * two! * B! * H! * (P! + S) * hd!);
  const slabs = L! * two! * B! * H!;
  for (let i = 0; i < slabs; i++) {
    out.set(floats(a).subarray(i * P! * hd!, (i + 1) * P! * hd!), i * (P! + S) * hd!);
    out.set(floats(b).subarray(i * S * hd!, (i + 1) * S * hd!), i * (P! + S) * hd! + P! * hd!);
  }
  return floatTensor(out, [L!, two!, B!, H!, P! + S, hd!]);
}

let counter = 0;
const filled = (dims: number[]) =>
  floatTensor(
    Float32Array.from({ length: dims.reduce((x, y) => x * y, 1) }, () => ++counter),
    dims,
  );

describe("GrowingKvCache", () => {
  it("holds exactly the concatenation of its start and every append, across a regrowth", () => {
    const start = filled([3, 2, 2, 2, 4, 5]);
    const cache = new GrowingKvCache(start, 6); // 4 + 1 + 3 + 1 + 7 positions: grows twice
    let reference = start;
    for (const S of [1, 3, 1, 7]) {
      const fresh = filled([3, 2, 2, 2, S, 5]);
      cache.append(fresh);
      reference = concat(reference, fresh);
      expect(cache.view().dims).toEqual(reference.dims);
      expect(Array.from(floats(cache.view()))).toEqual(Array.from(floats(reference)));
    }
  });

  it("starts from an empty past and never writes into the tensor it started from", () => {
    const prefix = filled([1, 2, 1, 1, 2, 3]);
    const before = Array.from(floats(prefix));
    const cache = new GrowingKvCache(prefix, 2);
    cache.append(filled([1, 2, 1, 1, 1, 3]));
    expect(Array.from(floats(prefix))).toEqual(before);
    const empty = new GrowingKvCache(floatTensor(new Float32Array(0), [1, 2, 1, 1, 0, 3]), 0);
    const one = filled([1, 2, 1, 1, 1, 3]);
    empty.append(one);
    expect(Array.from(floats(empty.view()))).toEqual(Array.from(floats(one)));
  });

  it("refuses new key/values of another shape", () => {
    const cache = new GrowingKvCache(filled([2, 2, 1, 1, 1, 4]), 4);
    expect(() => cache.append(filled([2, 2, 1, 1, 1, 8]))).toThrow(/do not fit/u);
  });
});

/**
 * A fake LM whose new keys/values are its input token ids and whose next token is the sum of every
 * key in the past it was fed (mod vocab): generate gives the same tokens only if, with new_key_values,
 * each step's past is exactly what concatenating the full presents would have been.
 */
class SummingLM implements Session {
  fetched: (readonly string[] | undefined)[] = [];
  async run(feeds: Record<string, Tensor>, fetches?: readonly string[]): Promise<Record<string, Tensor>> {
    this.fetched.push(fetches);
    const ids = Array.from(feeds["input_ids"]!.data as BigInt64Array, Number),
      past = feeds["past_key_values"]!;
    const S = ids.length,
      fresh = floatTensor(new Float32Array(2 * S), [1, 2, 1, 1, S, 1]);
    ids.forEach((t, i) => {
      floats(fresh)[i] = t;
      floats(fresh)[S + i] = -t;
    });
    const present = concat(past, fresh);
    const keys = floats(present).subarray(0, present.dims[4]!); // kv index 0: the keys
    const next = keys.reduce((a, b) => a + b, 0) % 7;
    const logits = new Float32Array(7).fill(-1);
    logits[next] = 1;
    return { logits: floatTensor(logits, [1, 1, 7]), present_key_values: present, new_key_values: fresh };
  }
}

describe("generate with new_key_values", () => {
  const collect = async (it: AsyncIterable<number>) => {
    const out: number[] = [];
    for await (const t of it) out.push(t);
    return out;
  };
  const prefix = floatTensor(Float32Array.of(2, 3, -2, -3), [1, 2, 1, 1, 2, 1]);
  const opts = { maxNewTokens: 12, stopIds: new Set<number>(), sample: argmax };

  it("decodes the same tokens as with full presents, fetching only logits and new_key_values", async () => {
    const full = new SummingLM(),
      grown = new SummingLM();
    const a = await collect(generate(full, [1, 4], prefix, 2, 7, opts));
    const b = await collect(generate(grown, [1, 4], prefix, 2, 7, { ...opts, newKeyValues: "new_key_values" }));
    expect(b).toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(2); // the sums move: the test can fail
    expect(full.fetched.every((f) => f === undefined)).toBe(true);
    expect(grown.fetched.every((f) => f?.join() === "logits,new_key_values")).toBe(true);
    expect(Array.from(floats(prefix))).toEqual([2, 3, -2, -3]); // the shared prefix is untouched
  });
});

describe("appendPositions", () => {
  it("equals concatenation along the positions, for several rows, leaving the past untouched", () => {
    const past = floatTensor(
      Float32Array.from({ length: 2 * 2 * 2 * 3 * 2 }, (_, i) => i),
      [2, 2, 2, 1, 3, 2],
    );
    const fresh = floatTensor(
      Float32Array.from({ length: 2 * 2 * 2 * 1 * 2 }, (_, i) => -1 - i),
      [2, 2, 2, 1, 1, 2],
    );
    const before = Array.from(floats(past));
    const out = appendPositions(past, fresh);
    expect(out.dims).toEqual([2, 2, 2, 1, 4, 2]);
    expect(Array.from(floats(out))).toEqual(Array.from(floats(concat(past, fresh))));
    expect(Array.from(floats(past))).toEqual(before);
  });
});
