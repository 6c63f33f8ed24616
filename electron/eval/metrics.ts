// SQuAD metrics as the official script computes them, the MAC paper's lenient EM, and seeded
// bootstrap intervals (numpy's linear percentile), matching models/mnemo_models/metrics.py.
import { seededRandom } from "../core/sampler.js";

const PUNCT = new Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");

/** Lower-case, drop ASCII punctuation and articles, squeeze whitespace. */
export function normalize(text: string): string {
  const noPunct = [...text.toLowerCase()].filter((c) => !PUNCT.has(c)).join("");
  return noPunct
    .replace(/\b(a|an|the)\b/g, " ")
    .split(/\s+/)
    .filter(Boolean)
    .join(" ");
}

export const exactMatch = (pred: string, golds: readonly string[]) =>
  golds.some((g) => normalize(pred) === normalize(g)) ? 1 : 0;

/** The paper's EM: the normalised prediction starts with a (non-empty) normalised gold answer. */
export function lenientMatch(pred: string, golds: readonly string[]): number {
  const p = normalize(pred);
  return golds.some((g) => {
    const n = normalize(g);
    return n !== "" && p.startsWith(n);
  })
    ? 1
    : 0;
}

/** Token F1 against the best of the gold answers. */
export function f1(pred: string, golds: readonly string[]): number {
  const p = normalize(pred).split(" ").filter(Boolean);
  let best = 0;
  for (const g of golds) {
    const gt = normalize(g).split(" ").filter(Boolean);
    const counts = new Map<string, number>();
    for (const t of gt) counts.set(t, (counts.get(t) ?? 0) + 1);
    let common = 0;
    for (const t of p) {
      const c = counts.get(t) ?? 0;
      if (c > 0) {
        common++;
        counts.set(t, c - 1);
      }
    }
    if (common) {
      const prec = common / p.length,
        rec = common / gt.length;
      best = Math.max(best, (2 * prec * rec) / (prec + rec));
    } else if (!p.length && !gt.length) best = Math.max(best, 1);
  }
  return best;
}

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);

/** Linear-interpolated percentile of sorted values (numpy's default). */
function percentile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q,
    lo = Math.floor(pos),
    hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** 95% percentile-bootstrap interval of the mean; for paired deltas pass per-item differences. */
export function bootstrapCI(values: readonly number[], resamples = 2000, seed = 0): [number, number] {
  if (!values.length) return [NaN, NaN];
  const random = seededRandom(seed),
    n = values.length;
  const means: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += values[Math.floor(random() * n)]!;
    means.push(s / n);
  }
  means.sort((a, b) => a - b);
  return [percentile(means, 0.025), percentile(means, 0.975)];
}

export interface ModeScore {
  n: number;
  em: number;
  em_lenient: number;
  f1: number;
  f1_ci95: [number, number];
}

/** Scores in percent, and the per-item F1 for paired comparisons. */
export function score(
  preds: readonly string[],
  golds: readonly (readonly string[])[],
): ModeScore & { items: number[] } {
  const items = preds.map((p, i) => f1(p, golds[i]!));
  const [lo, hi] = bootstrapCI(items);
  return {
    n: preds.length,
    em: 100 * mean(preds.map((p, i) => exactMatch(p, golds[i]!))),
    em_lenient: 100 * mean(preds.map((p, i) => lenientMatch(p, golds[i]!))),
    f1: 100 * mean(items),
    f1_ci95: [100 * lo, 100 * hi],
    items,
  };
}

/** Mean and 95% interval of paired differences a - b (percent points); excludesZero when the interval does. */
export function pairedDelta(
  a: readonly number[],
  b: readonly number[],
): { f1: number; ci95: [number, number]; n: number; excludes_zero: boolean } {
  const diffs = a.map((x, i) => 100 * (x - b[i]!));
  const [lo, hi] = bootstrapCI(diffs);
  return { f1: mean(diffs), ci95: [lo, hi], n: diffs.length, excludes_zero: lo > 0 || hi < 0 };
}
