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
  const { bundle, sources, order, rows, total } = pooledRows(inputs);
  const modes: PoolResult["modes"] = {};
  for (const [m, xs] of Object.entries(rows)) {
    const [lo, hi] = bootstrapCI(xs);
    modes[m] = { n: xs.length, f1: (100 * xs.reduce((s, x) => s + x, 0)) / xs.length, f1_ci95: [100 * lo, 100 * hi] };
  }
  const deltas: PoolResult["deltas"] = {};
  for (const [a, b] of EVAL_DELTAS) {
    const x = rows[a],
      y = rows[b];
    if (x && y) deltas[`${a}-${b}`] = delta(x, y);
  }
  return { bundle, sources, questions: order.length, duplicates: total - order.length, modes, deltas };
}

/** Two bundles on the same questions: for each mode both ran, B's F1 minus A's, paired by question id
 *  over the questions both pools hold (e.g. a new reader against the default, seed for seed). */
export function compareBundles(
  a: readonly PoolInput[],
  b: readonly PoolInput[],
): {
  a: string;
  b: string;
  questions: number;
  modes: Record<string, PoolResult["deltas"][string] & { a: number; b: number }>;
} {
  const A = pooledRows(a),
    B = pooledRows(b);
  const at = new Map(B.order.map((id, i) => [id, i]));
  const shared = A.order.flatMap((id, i) => (at.has(id) ? [[i, at.get(id)!] as const] : []));
  const modes: Record<string, PoolResult["deltas"][string] & { a: number; b: number }> = {};
  for (const m of Object.keys(A.rows).filter((m) => m in B.rows)) {
    const x = shared.map(([, j]) => B.rows[m]![j]!),
      y = shared.map(([i]) => A.rows[m]![i]!);
    const avg = (v: number[]) => (100 * v.reduce((s, z) => s + z, 0)) / v.length;
    modes[m] = { a: avg(y), b: avg(x), ...delta(x, y) };
  }
  return { a: A.bundle, b: B.bundle, questions: shared.length, modes };
}

const delta = (x: number[], y: number[]) => ({
  ...pairedDelta(x, y),
  better: x.filter((v, i) => v > y[i]!).length,
  worse: x.filter((v, i) => v < y[i]!).length,
});

/** One bundle's reports joined by question id: each question once, in first-seen order, per mode. */
function pooledRows(inputs: readonly PoolInput[]) {
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
  return { bundle, sources, order: [...seen], rows, total };
}
