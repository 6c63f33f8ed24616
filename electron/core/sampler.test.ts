import { describe, expect, it } from "vitest";
import { argmax, makeSampler } from "./sampler.js";

describe("sampler", () => {
  const logits = [0.1, 3.0, 2.9, -1, 0];

  it("greedy picks the largest logit", () => {
    expect(argmax(logits)).toBe(1);
    expect(makeSampler({ temperature: 0, topP: 1, seed: 1 })(logits)).toBe(1);
  });

  it("is reproducible for a seed and varies across seeds", () => {
    const draw = (seed: number) => {
      const s = makeSampler({ temperature: 1, topP: 1, seed });
      return Array.from({ length: 20 }, () => s(logits));
    };
    expect(draw(7)).toEqual(draw(7));
    expect(new Set([1, 2, 3, 4, 5].map((s) => draw(s).join())).size).toBeGreaterThan(1);
  });

  it("top-p keeps only the nucleus", () => {
    const s = makeSampler({ temperature: 1, topP: 0.4, seed: 3 });
    const seen = new Set(Array.from({ length: 200 }, () => s(logits)));
    expect([...seen]).toEqual([1]); // token 1 alone holds ≥ 40% (≈ 49%)
  });

  it("rejects bad settings", () => {
    expect(() => makeSampler({ temperature: -1, topP: 1, seed: 0 })).toThrow(/temperature/);
    expect(() => makeSampler({ temperature: 1, topP: 0, seed: 0 })).toThrow(/topP/);
  });
});
