// mnemo eval end to end on the tiny random bundle (compiled output: the engine worker must be
// JavaScript; `npm test` runs tsc -b first). Its numbers mean nothing; the plumbing is what is tested.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { runEval as Run } from "./run.js";

const repo = path.resolve(import.meta.dirname, "../..");
const { runEval } = (await import(path.join(repo, "out/eval/run.js"))) as { runEval: typeof Run };
const dir = mkdtempSync(path.join(os.tmpdir(), "mnemo-eval-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const TINY = path.join(repo, "models/bundles/tiny-random");

const para = (context: string, qas: [string, string][]) => ({
  context,
  qas: qas.map(([question, text], i) => ({
    id: `${context.slice(0, 5)}${i}`,
    question,
    answers: [{ text, answer_start: context.indexOf(text) }],
  })),
});
const data = path.join(dir, "mini.json");
writeFileSync(
  data,
  JSON.stringify({
    data: [
      {
        title: "Tower",
        paragraphs: [
          para("The Eiffel Tower was completed in 1889. It is 330 metres tall.", [
            ["When was the tower completed?", "1889"],
            ["How tall is it?", "330 metres"],
          ]),
        ],
      },
      {
        title: "Curie",
        paragraphs: [
          para("Marie Curie won the Nobel Prize in Physics in 1903.", [
            ["Which prize did Curie win?", "Nobel Prize in Physics"],
          ]),
          para("Curie was born in Warsaw in 1867.", [["Where was Curie born?", "Warsaw"]]),
        ],
      },
      {
        title: "Amazon",
        paragraphs: [
          para("The Amazon rainforest covers most of the Amazon basin.", [
            ["What does the rainforest cover?", "most of the Amazon basin"],
          ]),
        ],
      },
    ],
  }),
);

describe("mnemo eval", () => {
  it("streams the file through a vault and scores every mode, with paired deltas, retention and a report", () => {
    const json = path.join(dir, "out.json"),
      report = path.join(dir, "report");
    const r = spawnSync(
      process.execPath,
      [
        path.join(repo, "out/cli/main.js"),
        "eval",
        "--data",
        data,
        "--bundle",
        TINY,
        "--retention-docs",
        "2",
        "--retention-points",
        "2",
        "--json",
        json,
        "--report",
        report,
      ],
      { encoding: "utf8" },
    );
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const out = JSON.parse(readFileSync(json, "utf8"));
    expect(out).toMatchObject({ complete: true, stream: { docs: 4, questions: 5 }, ingest: { docs: 4 } });
    expect(Object.keys(out.modes)).toEqual(["mac", "question-only", "irrelevant", "bm25", "mac+bm25", "gold", "lm"]);
    for (const m of Object.values(out.modes) as { n: number; f1: number; f1_ci95: number[] }[]) {
      expect(m.n).toBe(5);
      expect(m.f1_ci95[0]).toBeLessThanOrEqual(m.f1);
      expect(m.f1_ci95[1]).toBeGreaterThanOrEqual(m.f1);
    }
    expect(Object.keys(out.deltas).sort()).toEqual([
      "bm25-lm",
      "gold-bm25",
      "gold-lm",
      "mac+bm25-bm25",
      "mac-irrelevant",
      "mac-question-only",
    ]);
    expect(out.retention.map((p: { stream_docs: number }) => p.stream_docs)).toEqual([2, 4]);
    expect(out.retention[1].vault_entries).toBeGreaterThan(out.retention[0].vault_entries);
    // The memory attends over retrieval's best chunk (the default candidates), however big the vault.
    expect(out.retention.map((p: { bank_size: number }) => p.bank_size)).toEqual([1, 1]);
    expect(out.latency.total_ms_p50).toBeGreaterThan(0);
    expect(readFileSync(path.join(report, "report.md"), "utf8")).toMatch(/\| mac \| 5 \|/);
    for (const f of ["f1.svg", "retention.svg", "latency.svg"])
      expect(readFileSync(path.join(report, f), "utf8")).toMatch(/^<svg[\s\S]*<\/svg>$/);
    expect(r.stdout).toMatch(/^mac {12}F1 /m);
  }, 120_000);

  it("returns a partial report marked incomplete when cancelled", async () => {
    const controller = new AbortController();
    const report = await runEval(
      {
        data,
        bundleDir: TINY,
        modes: ["question-only", "gold"],
        seed: 0,
        passages: 3,
        retentionDocs: 0,
        retentionPoints: 1,
        retentionQuestions: 0,
        signal: controller.signal,
        onProgress: (phase, done) => {
          if (phase === "gold" && done === 2) controller.abort();
        },
      },
      "test",
    );
    expect(report.complete).toBe(false);
    expect(report.modes["question-only"]!.n).toBe(5);
    expect(report.modes.gold!.n).toBe(2);
    // every question's F1 is kept, in order, so runs with the same seed can be paired
    const items = report.modes["question-only"]!.f1_items;
    expect(items).toHaveLength(5);
    expect((100 * items.reduce((a, b) => a + b, 0)) / items.length).toBeCloseTo(report.modes["question-only"]!.f1, 1);
  }, 60_000);

  it("refuses a file that is not SQuAD with the offending record named", () => {
    const bad = path.join(dir, "bad.json");
    writeFileSync(
      bad,
      JSON.stringify({ data: [{ title: "x", paragraphs: [para("Short text.", [["Q?", "Short"]])] }] }).replace(
        '"Short"',
        '"Long"',
      ),
    );
    const r = spawnSync(
      process.execPath,
      [path.join(repo, "out/cli/main.js"), "eval", "--data", bad, "--bundle", TINY],
      { encoding: "utf8" },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers\[0\]: "Long" is not in its paragraph/);
  });
});
