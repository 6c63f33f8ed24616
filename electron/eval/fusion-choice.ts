// Choosing how BM25 and dense ranks are fused, on SQuAD valid only: a grid of reciprocal-rank-fusion
// offsets and BM25 weights, the winner being the highest recall@5 (then recall@1). Chosen on one half
// of the articles and measured on the other, the held-out figures say how much of the gain is the
// choice fitting these questions.
import type { FusionOptions } from "../core/fusion.js";

export const FUSION_GRID: { name: string; o: FusionOptions }[] = [1, 2, 3, 5, 10, 20, 30, 60].flatMap((k) =>
  [1, 1.25, 1.5, 2].map((w) => ({
    name: `rrf k=${k}${w === 1 ? "" : ` bm25 x${w}`}`,
    o: w === 1 ? { k } : { k, weights: [w, 1] },
  })),
);

/** Per-question hits (0/1) at k = 1 and 5 for one fusion setting. */
export interface Hits {
  r1: readonly number[];
  r5: readonly number[];
}

const mean = (xs: readonly number[], keep: (i: number) => boolean) => {
  let s = 0,
    n = 0;
  xs.forEach((x, i) => {
    if (keep(i)) {
      s += x;
      n++;
    }
  });
  return n ? s / n : 0;
};
const pct = (x: number) => Math.round(1000 * x) / 10;

/** The best setting on the questions keep() selects: recall@5 first, recall@1 on ties, grid order last. */
export function best(hits: ReadonlyMap<string, Hits>, keep: (i: number) => boolean = () => true): string {
  let winner = "",
    w5 = -1,
    w1 = -1;
  for (const [name, h] of hits) {
    const r5 = mean(h.r5, keep),
      r1 = mean(h.r1, keep);
    if (r5 > w5 + 1e-12 || (Math.abs(r5 - w5) <= 1e-12 && r1 > w1 + 1e-12)) {
      winner = name;
      w5 = r5;
      w1 = r1;
    }
  }
  return winner;
}

/** The setting chosen on all questions, and on each fold with its recall on the other fold. */
export function chooseFusion(hits: ReadonlyMap<string, Hits>, fold: readonly number[]) {
  const heldOut = [0, 1].map((f) => {
    const chosen = best(hits, (i) => fold[i] === f),
      h = hits.get(chosen)!,
      other = (i: number) => fold[i] !== f;
    return { chosen_on_fold: f, chosen, "r@1": pct(mean(h.r1, other)), "r@5": pct(mean(h.r5, other)) };
  });
  return { chosen: best(hits), held_out: heldOut };
}
