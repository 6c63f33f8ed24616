// Reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009): each ranked list gives an item
// weight / (k + rank), the sums rank the union. It needs no score calibration, which matters here:
// BM25 scores depend on each vault's statistics and cosines on the encoder, and neither is
// comparable with the other. k and the weights are chosen on SQuAD valid (docs/retrieval.md).

export interface FusionOptions {
  /** The rank offset: larger flattens the difference between the top ranks (60 in the paper). */
  k: number;
  /** One weight per list (default 1 each). */
  weights?: readonly number[];
}

/**
 * k = 5, equal weights: of offsets 1-60 and BM25 weights 1-2, the best recall@5 on SQuAD valid
 * (docs/retrieval.md; the paper's k = 60 was 2 points lower). A small k trusts each list's top ranks.
 */
export const DEFAULT_FUSION: FusionOptions = { k: 5 };

export interface Fused<T> {
  item: T;
  score: number;
  /** The item's 1-based rank in each list, null where the list does not have it. */
  ranks: (number | null)[];
}

/**
 * Fuses ranked lists (best first) of items identified by key(item). The result holds every item
 * of every list, best first; ties keep the order in which items first appear (list 0 first).
 */
export function reciprocalRankFusion<T>(
  lists: readonly (readonly T[])[],
  key: (item: T) => string,
  o: FusionOptions = DEFAULT_FUSION,
): Fused<T>[] {
  if (!(o.k >= 0)) throw new Error(`the fusion offset k must be >= 0, got ${o.k}`);
  if (o.weights && o.weights.length !== lists.length)
    throw new Error(`${o.weights.length} fusion weights for ${lists.length} lists`);
  const byKey = new Map<string, Fused<T> & { first: number }>();
  let seen = 0;
  lists.forEach((list, l) => {
    const w = o.weights?.[l] ?? 1;
    list.forEach((item, i) => {
      const id = key(item);
      let f = byKey.get(id);
      if (!f) byKey.set(id, (f = { item, score: 0, ranks: lists.map(() => null), first: seen++ }));
      if (f.ranks[l] !== null) return; // a duplicate within one list counts once, at its best rank
      f.ranks[l] = i + 1;
      f.score += w / (o.k + i + 1);
    });
  });
  return [...byKey.values()]
    .sort((a, b) => b.score - a.score || a.first - b.first)
    .map(({ item, score, ranks }) => ({ item, score, ranks }));
}
