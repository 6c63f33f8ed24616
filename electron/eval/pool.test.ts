import { describe, expect, it } from "vitest";
import { compareBundles, poolReports, questionIds } from "./pool.js";
import { sampleSorted, type EvalReport } from "./run.js";
import type { Paragraph } from "./squad.js";

type Modes = Record<string, number[]>;
function report(
  seed: number,
  ids: string[] | undefined,
  items: Modes,
  bundle = "b-1",
  golds: string[][] = [],
): EvalReport {
  const n = Object.values(items)[0]!.length;
  const modes = Object.fromEntries(
    Object.entries(items).map(([m, xs]) => [
      m,
      {
        n,
        em: 0,
        em_lenient: 0,
        f1: 0,
        f1_ci95: [0, 0],
        first_token_ms_p50: 1,
        total_ms_p50: 1,
        examples: golds.map((g) => ["x", g]),
        f1_items: xs,
      },
    ]),
  );
  return {
    complete: true,
    command: "t",
    bundle,
    data: "d",
    seed,
    date: "",
    question_ids: ids,
    stream: { docs: 3, questions: n, sampled_docs: false, sampled_questions: true },
    modes,
    unavailable: {},
    deltas: {},
    ingest: { docs: 0, chunks: 0, ms_per_doc: 0, bytes_per_doc: 0, modulation_bytes_per_doc: 0 },
    latency: { first_token_ms_p50: null, total_ms_p50: 0 },
    retention: [],
  } as EvalReport;
}

describe("poolReports", () => {
  it("joins samples by question id, keeps a question drawn twice once, and pairs the modes", () => {
    const a = report(0, ["q1", "q2", "q3"], { mac: [1, 0, 1], "question-only": [0, 0, 1], gold: [1, 1, 1] });
    const b = report(1, ["q3", "q4"], { mac: [0, 1], "question-only": [0, 0] });
    const pool = poolReports([
      { file: "a", report: a, ids: a.question_ids! },
      { file: "b", report: b, ids: b.question_ids! },
    ]);
    expect(pool.questions).toBe(4);
    expect(pool.duplicates).toBe(1);
    expect(pool.sources.map((s) => s.kept)).toEqual([3, 1]);
    // gold ran in only one report: left out; q3 is taken from the first report (mac 1, not 0)
    expect(Object.keys(pool.modes)).toEqual(["mac", "question-only"]);
    expect(pool.modes.mac!.f1).toBeCloseTo(75);
    expect(pool.modes["question-only"]!.f1).toBeCloseTo(25);
    const d = pool.deltas["mac-question-only"]!;
    expect(d).toMatchObject({ n: 4, better: 2, worse: 0 });
    expect(d.f1).toBeCloseTo(50);
    expect(d.ci95[0]).toBeLessThanOrEqual(d.f1);
    expect(Object.keys(pool.deltas)).toEqual(["mac-question-only"]);
  });

  it("refuses reports of different bundles and a report that repeats a question", () => {
    const a = report(0, ["q1"], { mac: [1] }),
      b = report(1, ["q2"], { mac: [0] }, "b-2");
    expect(() =>
      poolReports([
        { file: "a", report: a, ids: ["q1"] },
        { file: "b", report: b, ids: ["q2"] },
      ]),
    ).toThrow(/from b-2, not b-1/);
    const c = report(0, ["q1", "q1"], { mac: [1, 0] });
    expect(() => poolReports([{ file: "c", report: c, ids: ["q1", "q1"] }])).toThrow(/asks a question twice/);
  });
});

describe("questionIds", () => {
  const paragraphs: Paragraph[] = [0, 1, 2].map((p) => ({
    index: p,
    article: "A",
    context: "c",
    questions: [0, 1, 2].map((k) => ({ id: `p${p}q${k}`, question: "?", answers: [`ans ${p}.${k}`] })),
  }));
  const all = paragraphs.flatMap((p) => p.questions);

  it("rebuilds an older report's seeded sample from the data, checked against its examples", () => {
    const picked = sampleSorted(all.length, 4, 7 + 1).map((i) => all[i]!);
    const old = report(
      7,
      undefined,
      { mac: [1, 0, 0, 1] },
      "b-1",
      picked.map((q) => q.answers),
    );
    expect(questionIds(old, paragraphs)).toEqual(picked.map((q) => q.id));
  });

  it("refuses data that does not rebuild the sample", () => {
    const old = report(7, undefined, { mac: [1, 0, 0, 1] }, "b-1", [["something else"]]);
    expect(() => questionIds(old, paragraphs)).toThrow(/does not rebuild this report's sample/);
  });
});

describe("compareBundles", () => {
  it("pairs two bundles' answers to the same questions by id, over the questions both hold", () => {
    const old = report(0, ["q1", "q2", "q3"], { gold: [0, 0.5, 1], bm25: [0, 0, 1] }, "gemma");
    const next = report(0, ["q3", "q2", "q9"], { gold: [1, 1, 0], lm: [1, 1, 1] }, "qwen");
    const r = compareBundles(
      [{ file: "a", report: old, ids: old.question_ids! }],
      [{ file: "b", report: next, ids: next.question_ids! }],
    );
    expect(r).toMatchObject({ a: "gemma", b: "qwen", questions: 2 });
    expect(Object.keys(r.modes)).toEqual(["gold"]); // only gold ran in both
    const g = r.modes.gold!;
    expect([g.a, g.b, g.f1]).toEqual([75, 100, 25]); // q2: 0.5 -> 1, q3: 1 -> 1
    expect(g).toMatchObject({ n: 2, better: 1, worse: 0 });
  });
});
