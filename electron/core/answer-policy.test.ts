// The answer policy's decision from retrieval evidence.
import { describe, expect, it } from "vitest";
import { DEFAULT_THRESHOLDS, judge } from "./answer-policy.js";

describe("judge", () => {
  const t = { minCosine: 0.4 };

  it("abstains below the cosine threshold and answers at or above it, naming the score", () => {
    const no = judge({ chunks: 10, bestDense: 0.39, bestKeyword: 12 }, t);
    expect(no).toEqual({
      abstain: true,
      reason: "no passage is close in meaning to the question (best similarity 0.39, needs 0.40)",
    });
    expect(judge({ chunks: 10, bestDense: 0.4, bestKeyword: 0 }, t)).toEqual({ abstain: false });
  });

  it("abstains on an empty scope whatever the scores", () => {
    expect(judge({ chunks: 0, bestDense: null, bestKeyword: 0 }, t)).toMatchObject({
      abstain: true,
      reason: "the vaults asked have no documents yet",
    });
  });

  it("without dense search, abstains only when no passage shares a word with the question", () => {
    expect(judge({ chunks: 3, bestDense: null, bestKeyword: 0 }, t)).toMatchObject({
      abstain: true,
      reason: "no passage shares a word with the question",
    });
    expect(judge({ chunks: 3, bestDense: null, bestKeyword: 0.001 }, t)).toEqual({ abstain: false });
    expect(judge({ chunks: 3, bestDense: null, bestKeyword: null }, t)).toEqual({ abstain: false });
  });

  it("ships a threshold inside the cosine range", () => {
    expect(DEFAULT_THRESHOLDS.minCosine).toBeGreaterThan(0);
    expect(DEFAULT_THRESHOLDS.minCosine).toBeLessThan(1);
  });
});
