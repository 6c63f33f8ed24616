// A decoding cache that grows in place: the packed key/value layout (L, 2, B, Hkv, P, hd) the LM
// graph reads, kept in one reusable buffer and extended by each step's new positions.
//
// Why: returning the whole present (L, 2, B, Hkv, P + 1, hd) from every step means onnxruntime-node
// copies ~11 MB into a fresh ArrayBuffer per token at 300 positions (Gemma 3 270M). V8 counts those
// as external memory and answers with garbage collections whose cost grows with the heap; with the
// 262k-piece tokenizer loaded, decoding ran at less than half its speed (docs/bench/README.md).
// Graphs that also output new_key_values (L, 2, B, Hkv, S, hd) let the engine fetch only that.
import { floats, floatTensor, type Tensor } from "./session.js";

export class GrowingKvCache {
  private buffer: Float32Array;
  private readonly dims: number[];

  /** past: the starting cache (copied, so a shared memory prefix is never written to). */
  constructor(past: Tensor, capacityPositions: number) {
    if (past.dims.length !== 6) throw new RangeError(`a key/value cache has 6 dimensions, got ${past.dims.length}`);
    this.dims = [...past.dims];
    const perPosition = this.slabs * this.headDim;
    this.buffer = new Float32Array(perPosition * Math.max(capacityPositions, this.positions));
    this.buffer.set(floats(past));
  }

  private get slabs(): number {
    return this.dims[0]! * this.dims[1]! * this.dims[2]! * this.dims[3]!;
  }

  private get headDim(): number {
    return this.dims[5]!;
  }

  /** P: the positions held. */
  get positions(): number {
    return this.dims[4]!;
  }

  /** The cache as the graph's past_key_values: a view of the buffer, valid until the next append. */
  view(): Tensor {
    return floatTensor(this.buffer.subarray(0, this.slabs * this.positions * this.headDim), this.dims);
  }

  /** Appends S new positions (L, 2, B, Hkv, S, hd), moving each slab to its new stride in place. */
  append(fresh: Tensor): void {
    const [L, two, B, H, S, hd] = fresh.dims;
    if (L !== this.dims[0] || two !== this.dims[1] || B !== this.dims[2] || H !== this.dims[3] || hd !== this.headDim) {
      throw new RangeError(`new key/values ${fresh.dims.join("×")} do not fit a cache of ${this.dims.join("×")}`);
    }
    const P = this.positions,
      next = P + S!,
      width = hd!,
      data = floats(fresh);
    if (this.slabs * next * width > this.buffer.length) {
      const grown = new Float32Array(this.slabs * Math.max(next, 2 * P) * width);
      grown.set(this.buffer.subarray(0, this.slabs * P * width));
      this.buffer = grown;
    }
    // Last slab first: slab i moves from i·P·hd to i·(P + S)·hd, never over a slab not yet moved.
    for (let i = this.slabs - 1; i >= 0; i--) {
      const to = i * next * width;
      if (i > 0 && P > 0) this.buffer.copyWithin(to, i * P * width, (i + 1) * P * width);
      this.buffer.set(data.subarray(i * S! * width, (i + 1) * S! * width), to + P * width);
    }
    this.dims[4] = next;
  }
}

/**
 * past (L, 2, B, Hkv, P, hd) followed by fresh (L, 2, B, Hkv, S, hd) along the positions, as a new
 * tensor: the present of graphs that return only new_key_values (beam search reorders its rows).
 */
export function appendPositions(past: Tensor, fresh: Tensor): Tensor {
  const cache = new GrowingKvCache(past, (past.dims[4] ?? 0) + (fresh.dims[4] ?? 0));
  cache.append(fresh);
  return cache.view();
}
