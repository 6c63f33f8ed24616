// Decoding behind a prefix: an async generator of token ids with a KV cache and explicit positions.
// It checks the abort signal before every step and stops at a stop id or after maxNewTokens; its
// return value says which ("stop" or "length": an answer cut off by the token budget).
import { GrowingKvCache } from "./kv-cache.js";
import { LayerKvCache } from "./layer-cache.js";
import { floats, int64Tensor, output, type AbortLike, type Session, type Tensor } from "./session.js";

export interface GenerateOptions {
  maxNewTokens: number;
  stopIds: ReadonlySet<number>;
  /**
   * Stop ids that do not count before the answer has begun: a leading one is fed to the model but
   * neither yielded nor a stop (a base model often opens with a line break; it must not end the
   * answer empty). Ids outside stopIds are ignored here.
   */
  leadingIds?: ReadonlySet<number>;
  /** Picks the next token from the last position's logits (see sampler.ts). */
  sample: (logits: Float32Array) => number;
  signal?: AbortLike;
  /**
   * The LM graph's output holding only the new positions' keys/values (L, 2, B, Hkv, S, hd), when it
   * has one: the cache then grows in place (kv-cache.ts) and the full present is never fetched.
   */
  newKeyValues?: string;
  /**
   * The LM graph takes its cache per layer (layer-cache.ts) and returns the new positions as
   * newKeyValues: one buffer per layer, each step's positions written into free slots.
   */
  layerCache?: boolean;
}

/** How decoding ended: at a stop id, or because maxNewTokens ran out. */
export type GenerateEnd = "stop" | "length";

export class AbortedError extends Error {
  override readonly name = "AbortError";
  constructor() {
    super("generation aborted");
  }
}

/**
 * prompt: token ids after the prefix; past: the prefix as (L, 2, 1, heads, P, head_dim) key/values
 * (P may be 0); positions of the prompt start at positionOffset.
 */
export async function* generate(
  lm: Session,
  prompt: readonly number[],
  past: Tensor,
  positionOffset: number,
  vocabSize: number,
  opts: GenerateOptions,
): AsyncGenerator<number, GenerateEnd, undefined> {
  if (prompt.length === 0) throw new RangeError("prompt must hold at least one token");
  let ids = [...prompt];
  let positions = ids.map((_, i) => i + positionOffset);
  let cache = past,
    begun = false;
  const capacity = (past.dims[4] ?? 0) + prompt.length + opts.maxNewTokens;
  const grow = opts.newKeyValues;
  if (opts.layerCache && !grow) throw new RangeError("a per-layer cache needs the graph's newKeyValues output");
  const layers = opts.layerCache ? new LayerKvCache(past, capacity) : null;
  const growing = grow && !layers ? new GrowingKvCache(past, capacity) : null;
  for (let step = 0; step < opts.maxNewTokens; step++) {
    if (opts.signal?.aborted) throw new AbortedError();
    if (growing) cache = growing.view();
    const pastLen = layers ? layers.positions : (cache.dims[4] ?? 0);
    const base = {
      input_ids: int64Tensor([ids]),
      position_ids: int64Tensor([positions]),
      attention_mask: int64Tensor([Array<number>(pastLen + ids.length).fill(1)]),
    };
    const out = await lm.run(
      { ...base, ...(layers ? layers.feeds(ids.length) : { past_key_values: cache }) },
      grow ? ["logits", grow] : undefined,
    );
    // (1, S, V), or (1, 1, V) from graphs that return only the last position (no wasted output layer).
    const logitsT = output(out, "logits"),
      rows = logitsT.dims[1] ?? ids.length;
    const token = opts.sample(floats(logitsT).subarray((rows - 1) * vocabSize, rows * vocabSize));
    const leading = !begun && opts.leadingIds?.has(token) === true;
    if (opts.stopIds.has(token) && !leading) return "stop";
    if (!leading) {
      begun = true;
      yield token;
    }
    if (layers) layers.append(output(out, grow!));
    else if (growing) growing.append(output(out, grow!));
    else cache = output(out, "present_key_values");
    positions = [positions[positions.length - 1]! + 1];
    ids = [token];
  }
  return "length";
}
