// Choosing the next token from logits: greedy, or temperature + nucleus (top-p) sampling with a seed.

export interface SamplingOptions {
  /** 0 = greedy. */
  temperature: number;
  /** Keep the smallest set of tokens whose probability reaches topP (1 = all). */
  topP: number;
  seed: number;
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/** mulberry32: a small, fast, seedable PRNG so sampled answers are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function makeSampler(opts: SamplingOptions): (logits: ArrayLike<number>) => number {
  if (!(opts.temperature >= 0)) throw new RangeError(`temperature must be ≥ 0, got ${opts.temperature}`);
  if (!(opts.topP > 0 && opts.topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${opts.topP}`);
  if (opts.temperature === 0) return argmax;
  const random = seededRandom(opts.seed);
  return (logits) => {
    const max = logits[argmax(logits)]!;
    const probs = Array.from(logits, (l, id) => ({ id, p: Math.exp((l - max) / opts.temperature) }));
    const total = probs.reduce((a, b) => a + b.p, 0);
    probs.sort((a, b) => b.p - a.p);
    const kept: typeof probs = [];
    let mass = 0;
    for (const x of probs) {
      kept.push(x);
      mass += x.p / total;
      if (mass >= opts.topP) break;
    }
    let r = random() * kept.reduce((a, b) => a + b.p, 0);
    for (const x of kept) if ((r -= x.p) <= 0) return x.id;
    return kept[kept.length - 1]!.id;
  };
}
