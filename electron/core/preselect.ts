// Candidate pre-selection for large banks: before aggregating, keep the k entries whose modulation
// is most similar (cosine) to the question's own modulation (the question amortized like a
// document). Linear in the bank with T*D multiply-adds per entry, versus the aggregator's
// attention over every entry's T slots in every block.

/** Indices of the k entries most similar to probe, in bank order. All of them when the bank is small. */
export function selectCandidates(probe: Float32Array, entries: readonly Float32Array[], k: number): number[] {
  if (entries.length <= k) return entries.map((_, i) => i);
  const probeNorm = Math.sqrt(dot(probe, probe)) || 1;
  const scores = entries.map((e, i) => ({ i, s: dot(probe, e) / ((Math.sqrt(dot(e, e)) || 1) * probeNorm) }));
  return scores
    .sort((a, b) => b.s - a.s || a.i - b.i)
    .slice(0, k)
    .map((x) => x.i)
    .sort((a, b) => a - b);
}

/**
 * Indices of the entries owned by the given (bank, key) pairs, in bank order: the pre-selection made
 * by the app's retrieval (BM25 and dense search fused), which finds the passage far more often than
 * modulation similarity does on the bundles measured so far (docs/retrieval.md).
 */
export function selectByKeys(
  owners: readonly { bank: string; key: string }[],
  keys: readonly { bank: string; key: string }[],
): number[] {
  const wanted = new Set(keys.map((k) => `${k.bank}\u0000${k.key}`));
  return owners.flatMap((o, i) => (wanted.has(`${o.bank}\u0000${o.key}`) ? [i] : []));
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * Whether a memory question over a bank of `entries` (after pre-selection) may skip encoding the
 * question and aggregating: one entry is left and the bundle says a lone entry is its own latent
 * (pipeline.oneEntryDirect). An empty bank still runs the aggregator (its null entry, or the frame alone).
 */
export function oneEntryIsDirect(entries: number, oneEntryDirect: boolean): boolean {
  return oneEntryDirect && entries === 1;
}
