import { describe, expect, it } from "vitest";
import { bootstrapCI, exactMatch, f1, lenientMatch, normalize, pairedDelta, score } from "./metrics.js";

describe("SQuAD metrics", () => {
  it("normalizes as the official script: case, punctuation, articles, whitespace", () => {
    expect(normalize("  The Denver   Broncos! ")).toBe("denver broncos");
    expect(normalize("an apple, a pear & the end.")).toBe("apple pear end");
    expect(normalize("Theatre")).toBe("theatre"); // "the" only as a word
  });

  it("scores exact, lenient and F1 against the best gold answer", () => {
    expect(exactMatch("the Broncos", ["Denver Broncos", "Broncos"])).toBe(1);
    expect(exactMatch("Broncos won", ["Broncos"])).toBe(0);
    expect(lenientMatch("Broncos won the game", ["Broncos"])).toBe(1);
    expect(lenientMatch("They were the Broncos", ["Broncos"])).toBe(0);
    expect(lenientMatch("anything", ["the"])).toBe(0); // an answer that normalizes to nothing never matches
    // pred {denver, broncos, team} vs gold {denver, broncos}: P 2/3, R 1, F1 0.8
    expect(f1("Denver Broncos team", ["Carolina", "Denver Broncos"])).toBeCloseTo(0.8, 10);
    expect(f1("x b b", ["b b c"])).toBeCloseTo(2 / 3, 10); // repeated tokens count as often as they occur in both
    expect(f1("", ["the"])).toBe(1); // both empty after normalization
    expect(f1("", ["Paris"])).toBe(0);
  });

  it("bootstraps deterministic intervals that contain the mean", () => {
    const xs = Array.from({ length: 200 }, (_, i) => (i % 5 === 0 ? 1 : 0));
    const [lo, hi] = bootstrapCI(xs);
    expect(bootstrapCI(xs)).toEqual([lo, hi]);
    expect(lo).toBeLessThan(0.2);
    expect(hi).toBeGreaterThan(0.2);
    expect(hi - lo).toBeGreaterThan(0.05);
    expect(hi - lo).toBeLessThan(0.25);
    expect(bootstrapCI([0.5, 0.5, 0.5])).toEqual([0.5, 0.5]);
  });

  it("reports percentages and paired differences", () => {
    const s = score(["Paris", "London", "x"], [["Paris"], ["Paris"], ["x"]]);
    expect(s).toMatchObject({ n: 3, items: [1, 0, 1] });
    expect(s.em).toBeCloseTo(200 / 3, 10);
    expect(s.f1).toBeCloseTo(200 / 3, 10);
    const d = pairedDelta([1, 1, 1, 1], [0, 0, 0, 0]);
    expect(d).toEqual({ f1: 100, ci95: [100, 100], n: 4, excludes_zero: true });
    expect(pairedDelta([1, 0], [0, 1]).excludes_zero).toBe(false);
  });
});
