// The answer policy's measurement: each question asked of a vault with half of the articles, once
// where its article is there (ordinary) and once where it is not (foreign). A foreign question that is
// answered at all gets an answer its documents do not hold (a wrong answer); an ordinary one that is
// abstained on is an answer lost. The threshold on the best dense cosine is chosen to stop as many
// foreign questions as possible while losing at most MAX_LOSS of the ordinary ones; choosing on one
// half and measuring on the other gives the held-out figures.

export interface Scored {
  /** Which half of the articles the vault held. */
  fold: number;
  foreign: boolean;
  bestDense: number;
  bestKeyword: number;
  /** The hybrid search's first three passages include the question's own paragraph (it can be answered). */
  goldInTop3: boolean;
}

/**
 * The largest share of ordinary questions the policy may abstain on when its threshold is chosen (under the 5% aim).
 */
export const MAX_LOSS = 0.03;
const GRID = Array.from({ length: 81 }, (_, i) => i / 100);

const share = (xs: readonly Scored[], pred: (s: Scored) => boolean) =>
  xs.length ? xs.filter(pred).length / xs.length : 0;
const pct = (x: number) => Math.round(1000 * x) / 10;

export interface PolicyRow {
  threshold: number;
  /** Foreign questions abstained on (%): the wrong answers the policy prevents. */
  foreign_abstained: number;
  /** Ordinary questions abstained on (%). */
  ordinary_abstained: number;
  /** Ordinary questions whose paragraph the search put in the top 3, abstained on (%): answerable ones lost. */
  answerable_lost: number;
}

export function rowAt(xs: readonly Scored[], threshold: number): PolicyRow {
  const abstains = (s: Scored) => s.bestDense < threshold;
  const ordinary = xs.filter((s) => !s.foreign);
  return {
    threshold,
    foreign_abstained: pct(
      share(
        xs.filter((s) => s.foreign),
        abstains,
      ),
    ),
    ordinary_abstained: pct(share(ordinary, abstains)),
    answerable_lost: pct(
      share(
        ordinary.filter((s) => s.goldInTop3),
        abstains,
      ),
    ),
  };
}

/** The threshold that abstains on the most foreign questions while losing at most maxLoss of the ordinary ones. */
export function chooseThreshold(xs: readonly Scored[], maxLoss = MAX_LOSS): number {
  let best = 0;
  for (const t of GRID) if (rowAt(xs, t).ordinary_abstained <= 100 * maxLoss) best = t;
  return best;
}

export function abstention(scored: readonly Scored[], fullVault: readonly { bestDense: number }[]) {
  const threshold = chooseThreshold(scored);
  const heldOut = [0, 1].map((h) => {
    const t = chooseThreshold(scored.filter((s) => s.fold === h));
    return {
      chosen_on_fold: h,
      ...rowAt(
        scored.filter((s) => s.fold !== h),
        t,
      ),
    };
  });
  return {
    max_loss: MAX_LOSS,
    threshold,
    in_sample: rowAt(scored, threshold),
    held_out: heldOut,
    /** Every question against the whole valid vault (nothing foreign): the share the policy would turn away. */
    full_vault_abstained: pct(fullVault.filter((s) => s.bestDense < threshold).length / Math.max(1, fullVault.length)),
    curve: GRID.filter((_, i) => i % 5 === 0).map((t) => rowAt(scored, t)),
  };
}
