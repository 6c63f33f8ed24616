import { describe, expect, it } from "vitest";
import { oneEntryIsDirect, selectCandidates } from "./preselect.js";

const v = (...xs: number[]) => Float32Array.from(xs);

describe("selectCandidates", () => {
  it("keeps the k entries closest in direction to the probe, in bank order", () => {
    const bank = [v(1, 0), v(0, 1), v(10, 1), v(-1, 0), v(1, 1)];
    expect(selectCandidates(v(1, 0), bank, 2)).toEqual([0, 2]); // cosine, so the long vector does not win by length
    expect(selectCandidates(v(0, 1), bank, 2)).toEqual([1, 4]);
  });

  it("keeps everything when the bank is no larger than k, and survives zero vectors", () => {
    expect(selectCandidates(v(1, 0), [v(0, 0), v(1, 0)], 5)).toEqual([0, 1]);
    expect(selectCandidates(v(0, 0), [v(0, 0), v(1, 0), v(2, 0)], 1)).toEqual([0]);
  });
});

describe("oneEntryIsDirect", () => {
  it("skips the question's encoding for one entry under a direct bundle only", () => {
    expect(oneEntryIsDirect(1, true)).toBe(true);
    expect(oneEntryIsDirect(1, false)).toBe(false);
    expect(oneEntryIsDirect(0, true)).toBe(false); // the empty bank's control keeps its aggregator run
    expect(oneEntryIsDirect(5, true)).toBe(false);
  });
});
