import { describe, expect, it } from "vitest";
import { aggregateHierarchical, type AggregateOnce } from "./hierarchy.js";

// A fake aggregator: softmax over each entry's first value (the "relevance"); latent = weighted mean.
const fakeOnce =
  (calls: number[]): AggregateOnce =>
  async (entries) => {
    calls.push(entries.length);
    const scores = entries.map((e) => Math.exp(e[0]!));
    const total = scores.reduce((a, b) => a + b, 0) + 1; // + 1: the null entry
    const weights = scores.map((s) => s / total);
    const latent = new Float32Array(entries[0]?.length ?? 1);
    entries.forEach((e, i) =>
      e.forEach((v, j) => {
        latent[j]! += v * weights[i]!;
      }),
    );
    return { latent, weights };
  };

describe("aggregateHierarchical", () => {
  it("aggregates a small bank in one call", async () => {
    const calls: number[] = [];
    const r = await aggregateHierarchical([new Float32Array([1]), new Float32Array([2])], 4, fakeOnce(calls));
    expect(calls).toEqual([2]);
    expect(r.weights).toHaveLength(2);
  });

  it("loops over the bank in groups, recursively, and multiplies weights down the tree", async () => {
    const calls: number[] = [];
    const bank = Array.from({ length: 10 }, (_, i) => new Float32Array([i === 7 ? 5 : 0]));
    const r = await aggregateHierarchical(bank, 3, fakeOnce(calls));
    expect(calls).toEqual([3, 3, 3, 1, 3, 1, 2]); // 10 entries -> 4 nodes -> 2 nodes -> top
    expect(r.weights).toHaveLength(10);
    const best = r.weights.indexOf(Math.max(...r.weights));
    expect(best).toBe(7);
    expect(r.weights.reduce((a, b) => a + b, 0)).toBeLessThan(1);
  });

  it("rejects a group size that cannot shrink the bank", async () => {
    await expect(aggregateHierarchical([], 1, fakeOnce([]))).rejects.toThrow(/group must be an integer ≥ 2/);
  });
});
