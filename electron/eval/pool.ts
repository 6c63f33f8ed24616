// Pooling `mnemo eval` reports: several seeded samples of the same bundle's questions read as one
// larger sample. Each report keeps every question's F1 in question order (f1_items); pooling joins
// those rows by question id, keeps a question once when two samples drew it, and recomputes each
// mode's F1 and the paired differences with the same bootstrap as a single run (metrics.ts).
import { bootstrapCI, pairedDelta } from "./metrics.js";
import { EVAL_DELTAS, sampleSorted, type EvalMode, type EvalReport } from "./run.js";
import type { Paragraph } from "./squad.js";

export interface PoolInput {
  file: string;
  report: EvalReport;
  ids: string[];
}

export interface PoolResult {
  bundle: string;
  sources: { file: string; seed: number; questions: number; kept: number }[];
  /** Questions in the pool, each once; duplicates: rows dropped because an earlier report had them. */
  questions: number;
  duplicates: number;
  modes: Record<string, { n: number; f1: number; f1_ci95: [number, number] }>;
  deltas: Record<
    string,
    { f1: number; ci95: [number, number]; n: number; excludes_zero: boolean; better: number; worse: number }
  >;
}

/**
 * The ids of a report's questions, in its order: its own list when it has one, or the same seeded
 * sample `mnemo eval` drew (runEval), rebuilt from the data file. The examples each mode kept (the
 * first five questions' gold answers) must match, so a different file or version is refused.
 */
export function questionIds(report: EvalReport, paragraphs: readonly Paragraph[]): string[] {
  if (report.question_ids) return report.question_ids;
  if (report.stream.sampled_docs)
    throw new Error("a report over a sample of documents cannot be rebuilt: rerun it to record its question ids");
  const all = paragraphs.flatMap((p) => p.questions);
  const n = report.stream.questions;
  const ids = report.stream.sampled_questions ? sampleSorted(all.length, n, report.seed + 1).map((i) => all[i]!) : all;
  for (const mode of Object.values(report.modes)) {
    mode.examples.forEach(([, gold], k) => {
      if (JSON.stringify(gold) !== JSON.stringify(ids[k]?.answers)) {
        throw new Error(
          `the data file does not rebuild this report's sample (question ${k}'s answers differ): pass the file it was run on`,
        );
      }
    });
  }
  return ids.map((q) => q.id);
}

/** Modes every report ran to the end, pooled; the paired differences of EVAL_DELTAS over them. */
export function poolReports(inputs: readonly PoolInput[]): PoolResult {
  if (inputs.length < 1) throw new Error("no reports to pool");
  const bundle = inputs[0]!.report.bundle;
  for (const { file, report } of inputs) {
    // Rows from different bundles do not pair: the same question answered by different weights.
    if (report.bundle !== bundle)
      throw new Error(`${file} is from ${report.bundle}, not ${bundle}: pool one bundle's reports`);
  }
  const modeNames = (Object.keys(inputs[0]!.report.modes) as EvalMode[]).filter((m) =>
    inputs.every(({ report, ids }) => report.modes[m]?.f1_items.length === ids.length),
  );
  const seen = new Set<string>();
  const rows: Record<string, number[]> = Object.fromEntries(modeNames.map((m) => [m, []]));
  const sources = inputs.map(({ file, report, ids }) => {
    if (new Set(ids).size !== ids.length) throw new Error(`${file} asks a question twice`);
    let kept = 0;
    ids.forEach((id, i) => {
      if (seen.has(id)) return;
      seen.add(id);
      kept++;
      for (const m of modeNames) rows[m]!.push(report.modes[m]!.f1_items[i]!);
    });
    return { file, seed: report.seed, questions: ids.length, kept };
  });
  const total = sources.reduce((s, x) => s + x.questions, 0);
  const modes: PoolResult["modes"] = {};
  for (const m of modeNames) {
    const xs = rows[m]!,
      [lo, hi] = bootstrapCI(xs);
    modes[m] = { n: xs.length, f1: (100 * xs.reduce((s, x) => s + x, 0)) / xs.length, f1_ci95: [100 * lo, 100 * hi] };
  }
  const deltas: PoolResult["deltas"] = {};
  for (const [a, b] of EVAL_DELTAS) {
    const x = rows[a],
      y = rows[b];
    if (!x || !y) continue;
    deltas[`${a}-${b}`] = {
      ...pairedDelta(x, y),
      better: x.filter((v, i) => v > y[i]!).length,
      worse: x.filter((v, i) => v < y[i]!).length,
    };
  }
  return { bundle, sources, questions: seen.size, duplicates: total - seen.size, modes, deltas };
}
