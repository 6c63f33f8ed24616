// Exact nearest-neighbour search over int8 vectors, in the engine worker: one index per bank (a
// vault), rows packed back to back in one Int8Array with a float scale each, so a search is one pass
// of multiply-adds over contiguous memory. Scores are dot products with a unit-length query, i.e.
// cosines for unit-length documents (the encoder normalizes). docs/retrieval.md measures it at 10k
// and 100k chunks; exact search is kept while that stays within an answer's budget.

export interface VectorHit {
  bank: string;
  key: string;
  score: number;
}

export class VectorIndex {
  private data: Int8Array;
  private scales: Float32Array;
  private keys: string[] = [];
  private readonly rowOf = new Map<string, number>();

  constructor(
    readonly dim: number,
    capacity = 1024,
  ) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`a vector index needs a positive dimension, got ${dim}`);
    this.data = new Int8Array(capacity * dim);
    this.scales = new Float32Array(capacity);
  }

  get size(): number {
    return this.keys.length;
  }

  /** Adds rows (data holds keys.length × dim values), replacing any row a key already had. */
  put(keys: readonly string[], data: Int8Array, scales: Float32Array): void {
    if (data.length !== keys.length * this.dim || scales.length !== keys.length) {
      throw new Error(
        `vectors for ${keys.length} keys need ${keys.length * this.dim} values and ${keys.length} scales, got ${data.length} and ${scales.length}`,
      );
    }
    this.reserve(this.size + keys.length);
    keys.forEach((key, i) => {
      let row = this.rowOf.get(key);
      if (row === undefined) {
        row = this.keys.length;
        this.keys.push(key);
        this.rowOf.set(key, row);
      }
      this.data.set(data.subarray(i * this.dim, (i + 1) * this.dim), row * this.dim);
      this.scales[row] = scales[i]!;
    });
  }

  /** Removes keys; the last row moves into each hole, so rows stay contiguous. */
  drop(keys: readonly string[]): void {
    for (const key of keys) {
      const row = this.rowOf.get(key);
      if (row === undefined) continue;
      const last = this.keys.length - 1,
        lastKey = this.keys[last]!;
      if (row !== last) {
        this.data.copyWithin(row * this.dim, last * this.dim, (last + 1) * this.dim);
        this.scales[row] = this.scales[last]!;
        this.keys[row] = lastKey;
        this.rowOf.set(lastKey, row);
      }
      this.keys.pop();
      this.rowOf.delete(key);
    }
  }

  /** The k rows with the largest dot product with query, best first (ties: earlier row first). */
  search(query: Float32Array, k: number, into = new TopK(k), bank = ""): TopK {
    if (query.length !== this.dim)
      throw new Error(`the query has ${query.length} values; this index holds ${this.dim}-value vectors`);
    const d = this.data,
      dim = this.dim,
      q = query;
    for (let row = 0, off = 0; row < this.keys.length; row++, off += dim) {
      // Four partial sums: independent chains the CPU can overlap (about 1.6x over one in V8).
      let s0 = 0,
        s1 = 0,
        s2 = 0,
        s3 = 0,
        j = 0;
      for (; j + 3 < dim; j += 4) {
        s0 += q[j]! * d[off + j]!;
        s1 += q[j + 1]! * d[off + j + 1]!;
        s2 += q[j + 2]! * d[off + j + 2]!;
        s3 += q[j + 3]! * d[off + j + 3]!;
      }
      for (; j < dim; j++) s0 += q[j]! * d[off + j]!;
      into.offer((s0 + s1 + s2 + s3) * this.scales[row]!, bank, this.keys[row]!);
    }
    return into;
  }

  private reserve(rows: number): void {
    if (rows <= this.scales.length) return;
    const capacity = Math.max(rows, this.scales.length * 2);
    const data = new Int8Array(capacity * this.dim),
      scales = new Float32Array(capacity);
    data.set(this.data);
    scales.set(this.scales);
    this.data = data;
    this.scales = scales;
  }
}

/** The k best scores offered so far: a sorted array, since k (tens) is tiny next to the rows scanned. */
export class TopK {
  private readonly hits: VectorHit[] = [];
  constructor(readonly k: number) {}

  offer(score: number, bank: string, key: string): void {
    const h = this.hits;
    if (h.length === this.k && !(score > h[h.length - 1]!.score)) return;
    let i = h.length;
    while (i > 0 && h[i - 1]!.score < score) i--;
    h.splice(i, 0, { bank, key, score });
    if (h.length > this.k) h.pop();
  }

  get results(): VectorHit[] {
    return [...this.hits];
  }
}

/** One index per bank; a search spans the banks in scope. */
export class VectorBanks {
  private readonly banks = new Map<string, VectorIndex>();

  put(bank: string, dim: number, keys: readonly string[], data: Int8Array, scales: Float32Array): number {
    let index = this.banks.get(bank);
    if (index && index.dim !== dim) throw new Error(`bank ${bank} holds ${index.dim}-value vectors, not ${dim}`);
    if (!index) this.banks.set(bank, (index = new VectorIndex(dim)));
    index.put(keys, data, scales);
    return index.size;
  }

  /** Drops keys, or the whole bank when keys is undefined. */
  drop(bank: string, keys?: readonly string[]): number {
    if (!keys) {
      this.banks.delete(bank);
      return 0;
    }
    const index = this.banks.get(bank);
    index?.drop(keys);
    return index?.size ?? 0;
  }

  size(bank: string): number {
    return this.banks.get(bank)?.size ?? 0;
  }

  search(query: Float32Array, scope: readonly string[], k: number): VectorHit[] {
    const top = new TopK(k);
    for (const bank of scope) this.banks.get(bank)?.search(query, k, top, bank);
    return top.results;
  }
}
