// The answer policy: say "Not found in your documents" instead of letting the model guess when the
// retrieval found nothing relevant. Decided from retrieval scores before the language model runs.
// The threshold is chosen on SQuAD valid (docs/retrieval.md: questions asked of a vault without their
// article vs. ordinary ones), never on anything else. Once MAC's memory works, its attention can join
// the evidence here.

export interface Evidence {
  /** Chunks in the vaults asked. */
  chunks: number;
  /** The best dense cosine between the question and a passage; null when dense search did not run. */
  bestDense: number | null;
  /** The best BM25 score; 0 when no passage shares a word with the question; null when keyword search did not run. */
  bestKeyword: number | null;
}

export interface PolicyThresholds {
  /** Below this best cosine, nothing in the documents is about the question. */
  minCosine: number;
}

/**
 * Chosen on SQuAD valid (docs/retrieval.md, `npm run eval:retrieval`): the highest threshold that
 * abstains on at most 3% of ordinary questions; it stops about two thirds of the foreign ones.
 */
export const DEFAULT_THRESHOLDS: PolicyThresholds = { minCosine: 0.36 };

export type Verdict = { abstain: false } | { abstain: true; reason: string };

export function judge(e: Evidence, t: PolicyThresholds = DEFAULT_THRESHOLDS): Verdict {
  if (e.chunks === 0) return { abstain: true, reason: "the vaults asked have no documents yet" };
  if (e.bestDense !== null) {
    return e.bestDense < t.minCosine
      ? {
          abstain: true,
          reason: `no passage is close in meaning to the question (best similarity ${e.bestDense.toFixed(2)}, needs ${t.minCosine.toFixed(2)})`,
        }
      : { abstain: false };
  }
  // Without an encoder only keywords can tell: abstain when no passage shares a single word with the question.
  if (e.bestKeyword !== null && e.bestKeyword <= 0)
    return { abstain: true, reason: "no passage shares a word with the question" };
  return { abstain: false };
}
