import { describe, expect, it } from "vitest";
import { beamSearch, selectRows } from "./beam.js";
import { FakeLM, emptyPast } from "./fake-lm.test-helpers.js";
import { generate } from "./generate.js";
import { argmax } from "./sampler.js";
import { floatTensor, type Session } from "./session.js";

// Vocabulary: 0 = stop. After 5 (the prompt): A=1 (0.6) or B=2 (0.4). After A: ten tokens 10..19 at
// 0.1 each. After any of 10..19: stop. After B: stop (0.9). Greedy says A..., beam search says B.
const table: Record<number, Record<number, number>> = {
  5: { 1: 0.6, 2: 0.4 },
  1: {},
  2: { 0: 0.9, 3: 0.1 },
  3: { 0: 1 },
};
for (let t = 10; t < 20; t++) {
  table[1]![t] = 0.1;
  table[t] = { 0: 1 };
}
const collect = async (it: AsyncIterable<number>) => {
  const out: number[] = [];
  for await (const t of it) out.push(t);
  return out;
};

describe("generate", () => {
  it("decodes greedily and stops at a stop id", async () => {
    const lm = new FakeLM(20, table);
    expect(
      await collect(generate(lm, [5], emptyPast(), 0, 20, { maxNewTokens: 8, stopIds: new Set([0]), sample: argmax })),
    ).toEqual([1, 10]);
    expect(lm.calls).toBe(3);
  });

  it("stops after maxNewTokens", async () => {
    const loop = new FakeLM(4, { 5: { 1: 1 }, 1: { 1: 1 } });
    expect(
      await collect(generate(loop, [5], emptyPast(), 0, 4, { maxNewTokens: 3, stopIds: new Set([0]), sample: argmax })),
    ).toEqual([1, 1, 1]);
  });

  it("returns how it ended: 'stop' at a stop id, 'length' when the budget ran out", async () => {
    const end = async (it: AsyncGenerator<number, string>) => {
      for (let r = await it.next(); ; r = await it.next()) if (r.done) return r.value;
    };
    const endWith = (maxNewTokens: number) =>
      end(
        generate(new FakeLM(20, table), [5], emptyPast(), 0, 20, {
          maxNewTokens,
          stopIds: new Set([0]),
          sample: argmax,
        }),
      );
    expect(await endWith(8)).toBe("stop");
    // Two tokens, then the stop would come third: a budget of two cuts the answer off.
    expect(await endWith(2)).toBe("length");
  });

  it("skips a leading line-break stop (fed to the model, not yielded), then stops at the next one", async () => {
    const lm = new FakeLM(6, { 5: { 3: 1 }, 3: { 1: 1 }, 1: { 3: 1 } });
    const opts = { maxNewTokens: 8, stopIds: new Set([0, 3]), sample: argmax };
    expect(await collect(generate(lm, [5], emptyPast(), 0, 6, opts))).toEqual([]);
    expect(await collect(generate(lm, [5], emptyPast(), 0, 6, { ...opts, leadingIds: new Set([3]) }))).toEqual([1]);
    const ends = new FakeLM(6, { 5: { 0: 1 } }); // a hard stop still ends at once
    expect(await collect(generate(ends, [5], emptyPast(), 0, 6, { ...opts, leadingIds: new Set([3]) }))).toEqual([]);
  });

  it("checks the abort signal before every step", async () => {
    const loop = new FakeLM(4, { 5: { 1: 1 }, 1: { 1: 1 } });
    const signal = { aborted: false };
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const t of generate(loop, [5], emptyPast(), 0, 4, {
          maxNewTokens: 50,
          stopIds: new Set([0]),
          sample: argmax,
          signal,
        })) {
          got.push(t);
          if (got.length === 2) signal.aborted = true;
        }
      })(),
    ).rejects.toThrow(/aborted/);
    expect(got).toEqual([1, 1]);
    expect(loop.calls).toBe(2);
  });
});

describe("beamSearch", () => {
  const TWO_BEAMS = { beams: 2, maxNewTokens: 8, stopIds: new Set([0]), lengthPenalty: 0 };
  it("finds the sequence with the best total probability where greedy does not", async () => {
    const lm = new FakeLM(20, table);
    expect(await beamSearch(lm, [5], emptyPast(), 0, 20, TWO_BEAMS)).toEqual([2]);
  });

  it("builds the present itself from graphs that return only the new positions (new_key_values)", async () => {
    const inner = new FakeLM(20, table),
      pasts: number[][] = [];
    const newOnly: Session = {
      run: async (feeds) => {
        pasts.push([...feeds["past_key_values"]!.dims]);
        const { logits, present_key_values: present } = await inner.run(feeds);
        const [L, two, B, H, , hs] = present!.dims as number[],
          S = feeds["input_ids"]!.dims[1]!;
        return {
          logits: logits!,
          new_key_values: floatTensor(new Float32Array(L! * two! * B! * H! * S * hs!), [L!, two!, B!, H!, S, hs!]),
        };
      },
    };
    expect(await beamSearch(newOnly, [5], emptyPast(), 0, 20, TWO_BEAMS)).toEqual([2]);
    // Each step's past is one position longer, with a row per beam kept.
    expect(pasts.map((d) => `${d[2]}x${d[4]}`)).toEqual(["1x0", "2x1"]);
  });

  it("with one beam equals greedy", async () => {
    const lm = new FakeLM(20, table);
    expect(
      await beamSearch(lm, [5], emptyPast(), 0, 20, {
        beams: 1,
        maxNewTokens: 8,
        stopIds: new Set([0]),
        lengthPenalty: 0,
      }),
    ).toEqual([1, 10]);
  });

  it("reorders cache rows to follow their beams", () => {
    const t = floatTensor(
      Float32Array.from({ length: 2 * 2 * 3 * 2 }, (_, i) => i),
      [2, 2, 3, 1, 1, 2],
    );
    expect(Array.from(selectRows(t, [2, 0]).data as Float32Array)).toEqual([
      4, 5, 0, 1, 10, 11, 6, 7, 16, 17, 12, 13, 22, 23, 18, 19,
    ]);
  });
});
