// The fusion choice: recall@5 decides, recall@1 breaks ties, and each fold's choice is scored on the other.
import { describe, expect, it } from "vitest";
import { best, chooseFusion, FUSION_GRID, type Hits } from "./fusion-choice.js";

describe("choosing the fusion", () => {
  const hits = new Map<string, Hits>([
    ["a", { r1: [1, 0, 0, 0], r5: [1, 1, 0, 0] }],
    ["b", { r1: [1, 1, 0, 0], r5: [1, 1, 0, 0] }], // same r@5 as a, better r@1: wins over a
    ["c", { r1: [0, 0, 1, 1], r5: [0, 0, 1, 1] }], // best on fold 1 only
  ]);

  it("picks the best recall@5, then recall@1", () => {
    expect(best(hits)).toBe("b");
    expect(best(hits, (i) => i >= 2)).toBe("c");
  });

  it("scores each fold's choice on the other fold", () => {
    expect(chooseFusion(hits, [0, 0, 1, 1])).toEqual({
      chosen: "b",
      held_out: [
        { chosen_on_fold: 0, chosen: "b", "r@1": 0, "r@5": 0 },
        { chosen_on_fold: 1, chosen: "c", "r@1": 0, "r@5": 0 },
      ],
    });
  });

  it("spans offsets and BM25 weights, with the paper's k = 60 equal weights among them", () => {
    expect(FUSION_GRID).toHaveLength(32);
    expect(FUSION_GRID.find((f) => f.name === "rrf k=60")!.o).toEqual({ k: 60 });
    expect(FUSION_GRID.find((f) => f.name === "rrf k=10 bm25 x1.5")!.o).toEqual({ k: 10, weights: [1.5, 1] });
  });
});
