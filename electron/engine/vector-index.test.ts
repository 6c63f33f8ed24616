// Exact int8 vector search: the same top-k as a brute-force float search over the dequantized rows,
// replacement and removal keeping rows contiguous, several banks, and clear errors.
import { describe, expect, it } from "vitest";
import { seededRandom } from "../core/sampler.js";
import { TopK, VectorBanks, VectorIndex } from "./vector-index.js";

function randomRows(n: number, dim: number, seed: number): { data: Int8Array; scales: Float32Array } {
  const r = seededRandom(seed);
  return {
    data: Int8Array.from({ length: n * dim }, () => Math.round(r() * 254 - 127)),
    scales: Float32Array.from({ length: n }, () => 0.001 + r() * 0.01),
  };
}

function bruteForce(q: Float32Array, rows: { data: Int8Array; scales: Float32Array }, keys: string[], k: number) {
  const dim = q.length;
  return keys
    .map((key, i) => {
      let s = 0;
      for (let j = 0; j < dim; j++) s += q[j]! * rows.data[i * dim + j]!;
      return { key, score: s * rows.scales[i]! };
    })
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

describe("VectorIndex", () => {
  it("finds the same top k as a brute-force search, best first, for several dimensions (odd ones too)", () => {
    for (const dim of [384, 7, 1]) {
      const rows = randomRows(500, dim, dim),
        keys = Array.from({ length: 500 }, (_, i) => `c${i}`);
      const index = new VectorIndex(dim, 16); // grows past its first capacity
      index.put(keys, rows.data, rows.scales);
      const r = seededRandom(99),
        q = Float32Array.from({ length: dim }, () => r() - 0.5);
      const got = index.search(q, 10).results,
        want = bruteForce(q, rows, keys, 10);
      expect(got.map((h) => h.key)).toEqual(want.map((h) => h.key));
      got.forEach((h, i) => expect(h.score).toBeCloseTo(want[i]!.score, 4));
    }
  });

  it("replaces a key's row in place and drops keys by moving the last row into the hole", () => {
    const index = new VectorIndex(2);
    index.put(["a", "b", "c"], Int8Array.from([1, 0, 0, 1, -1, 0]), Float32Array.from([1, 1, 1]));
    index.put(["a"], Int8Array.from([0, 2]), Float32Array.from([1]));
    expect(index.size).toBe(3);
    expect(index.search(Float32Array.from([0, 1]), 3).results.map((h) => [h.key, h.score])).toEqual([
      ["a", 2],
      ["b", 1],
      ["c", 0],
    ]);
    index.drop(["a", "nope"]);
    expect(index.size).toBe(2);
    expect(index.search(Float32Array.from([-1, 0]), 3).results.map((h) => [h.key, h.score])).toEqual([
      ["c", 1],
      ["b", 0],
    ]);
    index.drop(["c", "b"]);
    expect(index.search(Float32Array.from([1, 1]), 3).results).toEqual([]);
  });

  it("refuses vectors or queries of the wrong size", () => {
    const index = new VectorIndex(3);
    expect(() => index.put(["a"], new Int8Array(2), new Float32Array(1))).toThrow(
      /need 3 values and 1 scales, got 2 and 1/,
    );
    expect(() => index.search(new Float32Array(4), 1)).toThrow(
      /the query has 4 values; this index holds 3-value vectors/,
    );
    expect(() => new VectorIndex(0)).toThrow(/positive dimension/);
  });
});

describe("TopK", () => {
  it("keeps the k best, earlier offers first on ties", () => {
    const top = new TopK(3);
    for (const [s, k] of [
      [1, "a"],
      [5, "b"],
      [3, "c"],
      [5, "d"],
      [0, "e"],
      [4, "f"],
    ] as const)
      top.offer(s, "bank", k);
    expect(top.results.map((h) => h.key)).toEqual(["b", "d", "f"]);
  });
});

describe("VectorBanks", () => {
  it("searches across the banks in scope only, naming each hit's bank", () => {
    const banks = new VectorBanks();
    banks.put("v1", 2, ["x"], Int8Array.from([1, 0]), Float32Array.from([0.5]));
    banks.put("v2", 2, ["x", "y"], Int8Array.from([0, 1, 1, 1]), Float32Array.from([1, 1]));
    expect(banks.search(Float32Array.from([1, 0]), ["v1", "v2", "missing"], 2)).toEqual([
      { bank: "v2", key: "y", score: 1 },
      { bank: "v1", key: "x", score: 0.5 },
    ]);
    expect(banks.search(Float32Array.from([1, 0]), ["v1"], 5).map((h) => h.bank)).toEqual(["v1"]);
    expect(banks.drop("v2", ["y"])).toBe(1);
    expect(banks.drop("v2")).toBe(0);
    expect(banks.size("v2")).toBe(0);
    expect(() => banks.put("v1", 3, ["z"], new Int8Array(3), new Float32Array(1))).toThrow(
      /bank v1 holds 2-value vectors, not 3/,
    );
  });
});
