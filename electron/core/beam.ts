// Beam search behind a prefix: the k best continuations advance as one batch through the LM; the KV
// cache rows are reordered to follow their beams. Returns the best finished sequence (stop id dropped).
import { AbortedError } from "./generate.js";
import { NEW_KEY_VALUES } from "../shared/manifest.js";
import { appendPositions } from "./kv-cache.js";
import { floatTensor, floats, int64Tensor, output, type AbortLike, type Session, type Tensor } from "./session.js";

export interface BeamOptions {
  beams: number;
  maxNewTokens: number;
  stopIds: ReadonlySet<number>;
  /** Score = sum log p / length^lengthPenalty (1 = mean log-probability). */
  lengthPenalty?: number;
  signal?: AbortLike;
}

interface Beam {
  tokens: number[];
  logp: number;
}

/** Rows `index` of a (L, 2, B, ...) cache, as a new (L, 2, index.length, ...) tensor. */
export function selectRows(t: Tensor, index: readonly number[]): Tensor {
  const [L, two, B, ...rest] = t.dims as number[];
  const row = rest.reduce((a, b) => a * b, 1),
    src = floats(t);
  const out = new Float32Array(L! * two! * index.length * row);
  for (let ls = 0; ls < L! * two!; ls++) {
    index.forEach((b, j) =>
      out.set(src.subarray((ls * B! + b) * row, (ls * B! + b + 1) * row), (ls * index.length + j) * row),
    );
  }
  return floatTensor(out, [L!, two!, index.length, ...rest]);
}

function logSoftmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return logits.map((v) => v - lse);
}

export async function beamSearch(
  lm: Session,
  prompt: readonly number[],
  past: Tensor,
  positionOffset: number,
  vocabSize: number,
  opts: BeamOptions,
): Promise<number[]> {
  const score = (b: Beam) => b.logp / Math.max(1, b.tokens.length) ** (opts.lengthPenalty ?? 1);
  let beams: Beam[] = [{ tokens: [], logp: 0 }];
  const finished: Beam[] = [];
  let cache = past,
    inputs: number[][] = [[...prompt]];
  let position = positionOffset + prompt.length - 1;
  for (let step = 0; step < opts.maxNewTokens && beams.length; step++) {
    if (opts.signal?.aborted) throw new AbortedError();
    const S = inputs[0]!.length,
      pastLen = cache.dims[4] ?? 0;
    const out = await lm.run({
      input_ids: int64Tensor(inputs),
      position_ids: int64Tensor(inputs.map(() => Array.from({ length: S }, (_, i) => position - S + 1 + i))),
      attention_mask: int64Tensor(inputs.map(() => Array<number>(pastLen + S).fill(1))),
      past_key_values: cache,
    });
    // (beams, S, V) or (beams, 1, V): graphs may return only the last position's logits.
    const logitsT = output(out, "logits"),
      rows = logitsT.dims[1] ?? S,
      logits = floats(logitsT);
    const candidates: { from: number; token: number; logp: number }[] = [];
    beams.forEach((b, i) => {
      const lp = logSoftmax(logits.subarray(((i + 1) * rows - 1) * vocabSize, (i + 1) * rows * vocabSize));
      const top = Array.from(lp.keys())
        .sort((x, y) => lp[y]! - lp[x]!)
        .slice(0, 2 * opts.beams);
      for (const token of top) candidates.push({ from: i, token, logp: b.logp + lp[token]! });
    });
    candidates.sort((a, b) => b.logp - a.logp);
    const next: { from: number; beam: Beam }[] = [];
    for (const c of candidates) {
      const beam = { tokens: [...beams[c.from]!.tokens, c.token], logp: c.logp };
      if (opts.stopIds.has(c.token)) finished.push({ tokens: beam.tokens.slice(0, -1), logp: beam.logp });
      else if (next.length < opts.beams) next.push({ from: c.from, beam });
      if (next.length === opts.beams && finished.length >= opts.beams) break;
    }
    const bestDone = Math.max(...finished.map(score));
    beams = next.map((n) => n.beam).filter((b) => score(b) > bestDone || finished.length < opts.beams);
    const keep = next.filter((n) => beams.includes(n.beam)).map((n) => n.from);
    // Graphs that return only the new positions (new_key_values, Gemma's) leave the present to us.
    const present = out["present_key_values"] ?? appendPositions(cache, output(out, NEW_KEY_VALUES));
    cache = selectRows(present, keep);
    inputs = beams.map((b) => [b.tokens[b.tokens.length - 1]!]);
    position += 1;
  }
  const best = [...finished, ...beams].sort((a, b) => score(b) - score(a))[0];
  return best?.tokens ?? [];
}
