// Reciprocal rank fusion: scores, weights, union, ties and bad options.
import { describe, expect, it } from "vitest";
import { reciprocalRankFusion } from "./fusion.js";

const id = (s: string) => s;

describe("reciprocalRankFusion", () => {
  it("scores each item by the sum of 1 / (k + rank) over the lists that have it", () => {
    const fused = reciprocalRankFusion(
      [
        ["a", "b", "c"],
        ["c", "a"],
      ],
      id,
      { k: 60 },
    );
    expect(fused.map((f) => f.item)).toEqual(["a", "c", "b"]);
    expect(fused[0]!.score).toBeCloseTo(1 / 61 + 1 / 62, 12);
    expect(fused[1]!.score).toBeCloseTo(1 / 63 + 1 / 61, 12);
    expect(fused.map((f) => f.ranks)).toEqual([
      [1, 2],
      [3, 1],
      [2, null],
    ]);
  });

  it("an item both lists rank second beats one that only one list ranks first", () => {
    expect(
      reciprocalRankFusion(
        [
          ["x", "both"],
          ["y", "both"],
        ],
        id,
        { k: 60 },
      )[0]!.item,
    ).toBe("both");
  });

  it("weights a list's votes; a small k favours the top ranks", () => {
    expect(
      reciprocalRankFusion(
        [
          ["a", "b"],
          ["b", "a"],
        ],
        id,
        { k: 60, weights: [1, 2] },
      )[0]!.item,
    ).toBe("b");
    // a: 1/(k+1) from one list; b: 1/(k+2) + 1/(k+29) — with k = 0 one first place wins, with k = 60 two mid places do.
    const lists = [
      ["a", "b"],
      [...Array.from({ length: 28 }, (_, i) => `f${i}`), "b"],
    ];
    expect(reciprocalRankFusion(lists, id, { k: 0 })[0]!.item).toBe("a");
    expect(reciprocalRankFusion(lists, id, { k: 60 })[0]!.item).toBe("b");
  });

  it("keeps first-seen order on ties, counts a duplicate within a list once, handles empty lists", () => {
    expect(reciprocalRankFusion([["a"], ["b"]], id, { k: 60 }).map((f) => f.item)).toEqual(["a", "b"]);
    const dup = reciprocalRankFusion([["a", "a", "b"]], id, { k: 60 });
    expect(dup.map((f) => [f.item, f.ranks[0]])).toEqual([
      ["a", 1],
      ["b", 3],
    ]);
    expect(reciprocalRankFusion([[], []], id)).toEqual([]);
    expect(reciprocalRankFusion([[], ["z"]], id).map((f) => f.ranks)).toEqual([[null, 1]]);
  });

  it("identifies items by key, keeping the first list's object", () => {
    const a = [{ k: "1", from: "bm25" }],
      b = [{ k: "1", from: "dense" }];
    expect(reciprocalRankFusion([a, b], (x) => x.k)[0]!.item.from).toBe("bm25");
  });

  it("refuses a negative offset and a weight count that does not match the lists", () => {
    expect(() => reciprocalRankFusion([["a"]], id, { k: -1 })).toThrow(/offset k must be >= 0/);
    expect(() => reciprocalRankFusion([["a"], ["b"]], id, { k: 60, weights: [1] })).toThrow(
      /1 fusion weights for 2 lists/,
    );
  });
});
