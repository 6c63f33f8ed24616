// The MAC pipeline over abstract sessions: amortize documents into modulations, encode a question,
// aggregate the bank (one-shot or hierarchical), expand the latent into the LM's prefix, and decode.
// Every model fact comes from the manifest; nothing here knows about files or onnxruntime.
import type { BundleManifest } from "../shared/manifest.js";
import { beamSearch } from "./beam.js";
import { generate, type GenerateOptions } from "./generate.js";
import { aggregateHierarchical, type Aggregated } from "./hierarchy.js";
import { floatTensor, floats, int64Tensor, output, type Sessions, type Tensor } from "./session.js";

export interface TextTokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
}

/** Whitespace runs become one space, as in the Python prompt template (squad.prompt). */
export const collapseWhitespace = (text: string): string => text.split(/\s+/u).filter(Boolean).join(" ");

export class MacPipeline {
  readonly T: number;
  readonly D: number;

  constructor(readonly manifest: BundleManifest, private readonly sessions: Sessions, readonly tokenizer: TextTokenizer) {
    this.T = manifest.architecture.mac.n_slots;
    this.D = manifest.architecture.lm.n_embd;
  }

  /** Token windows of a document that fit the amortizer (max_doc_tokens each, no overlap). */
  chunkIds(text: string): number[][] {
    const ids = this.tokenizer.encode(collapseWhitespace(text));
    const max = this.manifest.architecture.mac.max_doc_tokens;
    const out: number[][] = [];
    for (let s = 0; s < ids.length; s += max) out.push(ids.slice(s, s + max));
    return out;
  }

  /** Modulations (T*D floats each) of a batch of token windows, right-padded with a mask. */
  async amortize(batch: readonly (readonly number[])[]): Promise<Float32Array[]> {
    if (batch.length === 0) return [];
    const width = Math.max(...batch.map((r) => r.length));
    if (width === 0) throw new RangeError("cannot amortize an empty document");
    const pad = this.manifest.special_ids.pad;
    const ids = batch.map((r) => [...r, ...Array<number>(width - r.length).fill(pad)]);
    const mask = batch.map((r) => [...Array<number>(r.length).fill(1), ...Array<number>(width - r.length).fill(0)]);
    const out = await this.sessions.amortizer.run({ input_ids: int64Tensor(ids), attention_mask: int64Tensor(mask) });
    const data = floats(output(out, "modulation"));
    const size = this.T * this.D;
    return batch.map((_, i) => data.slice(i * size, (i + 1) * size));
  }

  /**
   * The prompt ids for a question (the manifest's question template, or its passage template when
   * `context` is given), and the question's query slots (1, T, D) from the question-only template.
   * A prompt too long for the LM loses its oldest tokens, as in the Python evaluation.
   */
  async encodeQuestion(question: string, context?: string): Promise<{ promptIds: number[]; query: Tensor; truncated: boolean }> {
    const q = collapseWhitespace(question);
    const questionIds = this.tokenizer.encode(this.manifest.prompt.question.replace("{question}", q));
    const full = context === undefined ? questionIds
      : this.tokenizer.encode(this.manifest.prompt.gold.replace("{passage}", collapseWhitespace(context)).replace("{question}", q));
    const budget = this.manifest.architecture.lm.n_positions - this.manifest.generation.max_new_tokens - this.manifest.prefix.position_offset;
    const promptIds = full.slice(-budget);
    const qIds = questionIds.slice(-this.manifest.architecture.mac.max_question_tokens);
    const out = await this.sessions.question_encoder.run({ input_ids: int64Tensor([qIds]), attention_mask: int64Tensor([qIds.map(() => 1)]) });
    return { promptIds, query: output(out, "query"), truncated: promptIds.length < full.length };
  }

  /** Question-independent K/V of entries (blocks, 2, entries*T, D): cacheable at ingest. */
  async memoryKV(entries: readonly Float32Array[]): Promise<Tensor> {
    const flat = new Float32Array(entries.length * this.T * this.D);
    entries.forEach((e, i) => flat.set(e, i * this.T * this.D));
    return output(await this.sessions.memory_kv.run({ modulations: floatTensor(flat, [entries.length, this.T, this.D]) }), "memory_kv");
  }

  /** Per-entry K/V, each (blocks, 2, T, D) flattened: what a vault stores beside each modulation. */
  async entryKV(entries: readonly Float32Array[]): Promise<Float32Array[]> {
    if (entries.length === 0) return [];
    const kv = floats(await this.memoryKV(entries));
    const rows = this.manifest.architecture.mac.aggregator_layers * 2, slot = this.T * this.D;
    return entries.map((_, e) => {
      const out = new Float32Array(rows * slot);
      for (let r = 0; r < rows; r++) out.set(kv.subarray((r * entries.length + e) * slot, (r * entries.length + e + 1) * slot), r * slot);
      return out;
    });
  }

  /** Stacks cached per-entry K/V back into the aggregator's (blocks, 2, entries*T, D) input. */
  concatKV(cached: readonly Float32Array[]): Tensor {
    const blocks = this.manifest.architecture.mac.aggregator_layers, slot = this.T * this.D, n = cached.length;
    const out = new Float32Array(blocks * 2 * n * slot);
    for (let r = 0; r < blocks * 2; r++) cached.forEach((c, e) => out.set(c.subarray(r * slot, (r + 1) * slot), (r * n + e) * slot));
    return floatTensor(out, [blocks, 2, n * this.T, this.D]);
  }

  async aggregateOnce(query: Tensor, memoryKv: Tensor): Promise<Aggregated> {
    const out = await this.sessions.aggregator.run({ query, memory_kv: memoryKv });
    return { latent: floats(output(out, "latent")).slice(), weights: Array.from(floats(output(out, "entry_weights"))) };
  }

  /**
   * Aggregate a bank of any size under the question (groups of `group` entries when it is larger).
   * cachedKV (from entryKV, one per entry) skips recomputing the bank's K/V; exact for every leaf group.
   */
  aggregate(query: Tensor, entries: readonly Float32Array[], group = this.manifest.generation.hier_group,
    cachedKV?: readonly Float32Array[]): Promise<Aggregated> {
    return aggregateHierarchical(entries, group, async (part, leafStart) => this.aggregateOnce(query,
      cachedKV && leafStart !== null ? this.concatKV(cachedKV.slice(leafStart, leafStart + part.length)) : await this.memoryKV(part)));
  }

  /** The LM's initial past: (L, 2, 1, heads, P, head_dim) key/values from the latent. */
  async prefix(latent: Float32Array): Promise<Tensor> {
    return output(await this.sessions.prefix.run({ latent: floatTensor(latent, [1, this.T, this.D]) }), "prefix_kv");
  }

  /** An empty past, for answering without memory (P = 0). */
  emptyPast(): Tensor {
    const { n_layer, n_head, head_dim } = this.manifest.architecture.lm;
    return floatTensor(new Float32Array(0), [n_layer, 2, 1, n_head, 0, head_dim]);
  }

  decode(promptIds: readonly number[], past: Tensor, opts: Omit<GenerateOptions, "stopIds" | "maxNewTokens"> &
    Partial<Pick<GenerateOptions, "maxNewTokens">>): AsyncGenerator<number, void, undefined> {
    const g = this.manifest.generation;
    const offset = past.dims[4] === 0 ? 0 : this.manifest.prefix.position_offset;
    return generate(this.sessions.lm, promptIds, past, offset, this.manifest.architecture.lm.vocab_size,
      { ...opts, maxNewTokens: opts.maxNewTokens ?? g.max_new_tokens, stopIds: new Set(g.stop_ids) });
  }

  /** Beam search with `beams` beams; returns the best answer's token ids. */
  beam(promptIds: readonly number[], past: Tensor, beams: number, signal?: GenerateOptions["signal"]): Promise<number[]> {
    const g = this.manifest.generation;
    const offset = past.dims[4] === 0 ? 0 : this.manifest.prefix.position_offset;
    return beamSearch(this.sessions.lm, promptIds, past, offset, this.manifest.architecture.lm.vocab_size,
      { beams, maxNewTokens: g.max_new_tokens, stopIds: new Set(g.stop_ids), ...(signal ? { signal } : {}) });
  }
}
