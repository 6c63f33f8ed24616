// A scripted language model for logic tests: next-token probabilities depend only on the last input
// token (a table), and the KV cache is a zero tensor that grows like a real one. Counts its calls.
import { floatTensor, type Session, type Tensor } from "./session.js";

export class FakeLM implements Session {
  calls = 0;
  constructor(
    readonly vocab: number,
    private readonly table: Record<number, Record<number, number>>,
  ) {}

  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    this.calls++;
    const ids = feeds["input_ids"]!,
      past = feeds["past_key_values"]!;
    const [B, S] = ids.dims as [number, number];
    const logits = new Float32Array(B * S * this.vocab).fill(-30);
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++) {
        const last = Number((ids.data as BigInt64Array)[b * S + s]);
        for (const [tok, p] of Object.entries(this.table[last] ?? {}))
          logits[(b * S + s) * this.vocab + Number(tok)] = Math.log(p);
      }
    }
    const [L, two, , H, P, hs] = past.dims as number[];
    const present = floatTensor(new Float32Array(L! * two! * B * H! * (P! + S) * hs!), [L!, two!, B, H!, P! + S, hs!]);
    return { logits: floatTensor(logits, [B, S, this.vocab]), present_key_values: present };
  }
}

export const emptyPast = (): Tensor => floatTensor(new Float32Array(0), [1, 2, 1, 1, 0, 1]);
