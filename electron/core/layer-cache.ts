// A key/value cache per layer, for LM graphs that take one (Gemma's since recipe 17,
// models/mnemo_models/export_llm.py): inputs past_key_values.{i}.key/value (B, Hkv, C, hd), of which
// the first T - S slots are the past (T = the attention mask's width, S the new positions), and the
// output new_key_values (L, 2, B, Hkv, S, hd), the new positions alone.
//
// Why: the graph's attention kernels read these buffers directly, and the cache only ever grows by
// writing the new positions into free slots. The packed past (L, 2, B, Hkv, P, hd) cost a copy of the
// whole cache twice per token: the graph's Split of it into layers, and the engine's append, which
// moves every slab to its new stride (~11 MB each at 300 positions of Gemma 3 270M,
// docs/bench/README.md).
//
// The packed layout stays the engine's currency elsewhere (a MAC prefix, beam search, the reader's
// tap): packedPastAdapter hands a packed past to the graph as per-layer views, so only decoding knows.
import { layerCacheNames } from "../shared/manifest.js";
import { floats, floatTensor, type Session, type Tensor } from "./session.js";

const PACKED_PAST = "past_key_values";

/** The packed past's 2L slabs as per-layer tensors (B, Hkv, P, hd): views, no copy. */
export function unpackPast(past: Tensor): Record<string, Tensor> {
  const [L, two, B, H, P, hd] = past.dims as number[];
  if (past.dims.length !== 6 || two !== 2)
    throw new RangeError(`a packed cache is (L, 2, B, Hkv, P, hd), got ${past.dims.join("×")}`);
  const data = floats(past),
    slab = B! * H! * P! * hd!;
  return Object.fromEntries(
    layerCacheNames(L!).map((name, i) => [
      name,
      floatTensor(data.subarray(i * slab, (i + 1) * slab), [B!, H!, P!, hd!]),
    ]),
  );
}

/**
 * The LM session as callers of the packed layout see it: a packed past_key_values feed goes in as
 * the per-layer inputs (views). Runs that already feed per-layer caches pass through untouched.
 */
export function packedPastAdapter(lm: Session): Session {
  return {
    run(feeds, fetches) {
      const past = feeds[PACKED_PAST];
      if (!past) return lm.run(feeds, fetches);
      const { [PACKED_PAST]: _, ...rest } = feeds;
      return lm.run({ ...rest, ...unpackPast(past) }, fetches);
    },
  };
}

/**
 * One buffer per layer and kind (B, Hkv, C, hd) holding the first `positions` slots, fed as the
 * layer's past; each step's new positions are written into the next free slots. Grows (one copy)
 * when a run would pass C.
 */
export class LayerKvCache {
  private buffers: Float32Array[];
  private capacity = 0;
  private held: number;
  private readonly B: number;
  private readonly H: number;
  private readonly hd: number;
  private readonly names: string[];

  /** past: the starting cache, packed (L, 2, B, Hkv, P, hd); copied, so a shared prefix is never written. */
  constructor(past: Tensor, capacityPositions: number) {
    const [L, , B, H, P, hd] = past.dims as number[];
    [this.B, this.H, this.hd, this.held] = [B!, H!, hd!, P!];
    this.names = layerCacheNames(L!);
    this.buffers = Object.values(unpackPast(past)).map(floats);
    this.resize(Math.max(capacityPositions, P!), P!);
  }

  /** P: the positions held. */
  get positions(): number {
    return this.held;
  }

  /** The feeds for a run adding `fresh` positions: each layer's buffer as its past (room made first). */
  feeds(fresh: number): Record<string, Tensor> {
    if (this.held + fresh > this.capacity) this.resize(Math.max(this.held + fresh, 2 * this.capacity), this.capacity);
    return Object.fromEntries(
      this.names.map((n, i) => [n, floatTensor(this.buffers[i]!, [this.B, this.H, this.capacity, this.hd])]),
    );
  }

  /** Writes a run's new positions (L, 2, B, Hkv, S, hd) into the next free slots. */
  append(fresh: Tensor): void {
    const [L, two, B, H, S, hd] = fresh.dims as number[];
    if (L! * two! !== this.buffers.length || B !== this.B || H !== this.H || hd !== this.hd) {
      throw new RangeError(
        `new key/values ${fresh.dims.join("×")} do not fit ${this.buffers.length / 2} layers of ${this.B}×${this.H}×*×${this.hd}`,
      );
    }
    if (this.held + S! > this.capacity) this.resize(this.held + S!, this.capacity);
    const data = floats(fresh),
      rows = this.B * this.H,
      width = S! * this.hd;
    this.buffers.forEach((buffer, i) => {
      for (let r = 0; r < rows; r++) {
        const from = (i * rows + r) * width;
        buffer.set(data.subarray(from, from + width), (r * this.capacity + this.held) * this.hd);
      }
    });
    this.held += S!;
  }

  /** New buffers of `capacity` slots keeping the first `held` of each row; rows were `stride` slots. */
  private resize(capacity: number, stride: number): void {
    const rows = this.B * this.H,
      hd = this.hd;
    this.buffers = this.buffers.map((src) => {
      const dst = new Float32Array(rows * capacity * hd);
      for (let r = 0; r < rows; r++)
        dst.set(src.subarray(r * stride * hd, (r * stride + this.held) * hd), r * capacity * hd);
      return dst;
    });
    this.capacity = capacity;
  }
}
