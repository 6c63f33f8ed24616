// Hierarchical aggregation over a memory bank of any size (mac-method.md §4): groups of M entries are
// each aggregated under the question into one entry, recursively, until one group remains. It loops
// over the bank, never over the question, and multiplies entry weights down the tree for citations.

/**
 * One aggregation over at most `group` entries: a latent (T*D floats) and one weight per entry.
 * `leafStart` is the index of the first entry in the bank when the entries are the bank's own (so
 * cached per-entry key/values can be used), and null for the tree's inner nodes.
 */
export type AggregateOnce = (
  entries: readonly Float32Array[],
  leafStart: number | null,
) => Promise<{ latent: Float32Array; weights: number[] }>;

export interface Aggregated {
  latent: Float32Array;
  /** Attention mass per original entry (the null entry's share is left out, so the sum is ≤ 1). */
  weights: number[];
}

export async function aggregateHierarchical(
  entries: readonly Float32Array[],
  group: number,
  once: AggregateOnce,
  leaves = true,
): Promise<Aggregated> {
  if (!Number.isInteger(group) || group < 2) throw new RangeError(`group must be an integer ≥ 2, got ${group}`);
  if (entries.length <= group) return once(entries, leaves ? 0 : null);
  const nodes: Aggregated[] = [];
  for (let start = 0; start < entries.length; start += group) {
    nodes.push(await once(entries.slice(start, start + group), leaves ? start : null));
  }
  const top = await aggregateHierarchical(
    nodes.map((n) => n.latent),
    group,
    once,
    false,
  );
  return { latent: top.latent, weights: nodes.flatMap((n, i) => n.weights.map((w) => w * top.weights[i]!)) };
}
