// The lm_tap reader's tensor plumbing (manifest architecture.mac.reader): the frozen LM reads each
// document window after the reader's prefix ids, and the amortizer gets the LM's tap rows of the
// window alone; the question encoder gets the tap of the question-only prompt. Pure array work.
import { floatTensor, floats, int64Tensor, type Tensor } from "./session.js";

/**
 * The LM's inputs for a batch of windows read after `prefix`: ids (B, S) = prefix ++ window,
 * right-padded with `pad` to S = prefix + longest window; mask 1 on real tokens; positions 0..S-1
 * (each row starts at 0: the empty past, P = 0).
 */
export function readerBatch(
  prefix: readonly number[],
  windows: readonly (readonly number[])[],
  pad: number,
): { input_ids: Tensor; attention_mask: Tensor; position_ids: Tensor } {
  const S = prefix.length + Math.max(...windows.map((w) => w.length));
  const rows = windows.map((w) => [...prefix, ...w]);
  return {
    input_ids: int64Tensor(rows.map((r) => [...r, ...Array<number>(S - r.length).fill(pad)])),
    attention_mask: int64Tensor(
      rows.map((r) => [...Array<number>(r.length).fill(1), ...Array<number>(S - r.length).fill(0)]),
    ),
    position_ids: int64Tensor(rows.map(() => Array.from({ length: S }, (_, i) => i))),
  };
}

/**
 * The window rows of a tap (B, S, D): rows [offset, offset + lengths[b]) of each batch row, right-
 * padded with zeros into (B, W, D), W the longest window, with the amortizer's mask (B, W).
 */
export function windowRows(
  tap: Tensor,
  offset: number,
  lengths: readonly number[],
): { features: Tensor; attention_mask: Tensor } {
  const [B, S, D] = tap.dims as [number, number, number];
  if (B !== lengths.length) throw new Error(`tap has ${B} rows for ${lengths.length} windows`);
  const W = Math.max(...lengths),
    src = floats(tap),
    out = new Float32Array(B * W * D);
  lengths.forEach((n, b) => {
    if (offset + n > S) throw new Error(`tap has ${S} positions, window ${b} needs ${offset + n}`);
    out.set(src.subarray((b * S + offset) * D, (b * S + offset + n) * D), b * W * D);
  });
  return {
    features: floatTensor(out, [B, W, D]),
    attention_mask: int64Tensor(lengths.map((n) => [...Array<number>(n).fill(1), ...Array<number>(W - n).fill(0)])),
  };
}

/** A question prompt cut to the encoder's budget: its first token (<bos>) and its last max - 1. */
export function clipQuestion(ids: readonly number[], max: number): number[] {
  return ids.length <= max ? [...ids] : [ids[0]!, ...ids.slice(ids.length - (max - 1))];
}

/** The first n positions of a past (L, 2, B, H, P, hd) along P. */
export function leadingPositions(past: Tensor, n: number): Tensor {
  const [L, two, B, H, P, hd] = past.dims as [number, number, number, number, number, number];
  if (n > P) throw new RangeError(`cannot keep ${n} of ${P} prefix positions`);
  const src = floats(past),
    out = new Float32Array(L * two * B * H * n * hd);
  for (let r = 0; r < L * two * B * H; r++) out.set(src.subarray(r * P * hd, (r * P + n) * hd), r * n * hd);
  return floatTensor(out, [L, two, B, H, n, hd]);
}
