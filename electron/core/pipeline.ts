// The MAC pipeline over abstract sessions: amortize documents into modulations (from token ids, or
// from the frozen LM's tap with an lm_tap reader, reader.ts), encode a question, aggregate the bank
// (one-shot or hierarchical), expand the latent into the LM's prefix, and decode.
// Every model fact comes from the manifest; nothing here knows about files or onnxruntime.
import { AppError } from "../shared/errors.js";
import {
  NEW_KEY_VALUES,
  takesLayerCache,
  type BundleManifest,
  type MemoryFacts,
  type ReaderFacts,
} from "../shared/manifest.js";
import { asStored } from "../shared/modulation-codec.js";
import { beamSearch } from "./beam.js";
import { generate, type GenerateEnd, type GenerateOptions } from "./generate.js";
import { aggregateHierarchical, type Aggregated } from "./hierarchy.js";
import { packedPastAdapter } from "./layer-cache.js";
import { collapseWhitespace, leadingIds, maxNewTokens, renderPrompt, stopIds, type PromptContext } from "./prompt.js";
import { clipQuestion, leadingPositions, readerBatch, windowRows } from "./reader.js";
import { floatTensor, floats, int64Tensor, output, type Sessions, type Tensor } from "./session.js";

export interface TextTokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
}

/** The LM graph's input that, set to 1, computes only the tap (half the blocks, no output layer). */
export const TAP_ONLY = "tap_only";
const flag = (on: boolean): Tensor => ({ type: "int64", data: BigInt64Array.of(on ? 1n : 0n), dims: [1] });

export class MacPipeline {
  /** Slots per modulation (0 without memory heads) and the LM's width. */
  readonly T: number;
  readonly D: number;

  private readonly sessions: Sessions;
  /** Whether the LM graph can stop at the reader's tap (input tap_only; models/mnemo_models/onnx_tap.py). */
  readonly stopsAtTap: boolean;
  /**
   * How decoding keeps its cache for this LM graph: a buffer per layer with free slots (layer-cache.ts),
   * one packed buffer grown from each step's new keys/values alone (kv-cache.ts), or the graph's present.
   */
  readonly decodeCache: Pick<GenerateOptions, "layerCache" | "newKeyValues">;

  constructor(
    readonly manifest: BundleManifest,
    sessions: Sessions,
    readonly tokenizer: TextTokenizer,
  ) {
    this.T = manifest.mac?.n_slots ?? 0;
    this.D = manifest.architecture.lm.n_embd;
    this.stopsAtTap = manifest.graphs.lm.inputs.some((i) => i.name === TAP_ONLY);
    // Every call but the reader's runs the whole LM: tap_only = 0 unless a caller says otherwise.
    const full = { [TAP_ONLY]: flag(false) },
      perLayer = takesLayerCache(manifest.graphs.lm.inputs);
    // Everything but decoding speaks the packed cache (a MAC prefix, beam search): split at the graph.
    const lm = perLayer ? packedPastAdapter(sessions.lm) : sessions.lm;
    this.sessions = {
      ...sessions,
      lm: this.stopsAtTap ? { run: (feeds, fetches) => lm.run({ ...full, ...feeds }, fetches) } : lm,
    };
    const grows = manifest.graphs.lm.outputs.some((o) => o.name === NEW_KEY_VALUES);
    this.decodeCache = grows ? { newKeyValues: NEW_KEY_VALUES, ...(perLayer ? { layerCache: true } : {}) } : {};
  }

  /** Whether this bundle has MAC heads (format-2 bundles of a new LM may not, until they are trained). */
  get hasMemory(): boolean {
    return this.manifest.mac !== null;
  }

  /** The memory heads' facts; throws MEMORY_UNAVAILABLE (naming the bundle) when it has none. */
  requireMemory(): MemoryFacts {
    return this.mac;
  }

  private get mac(): MemoryFacts {
    if (!this.manifest.mac) {
      throw new AppError(
        "MEMORY_UNAVAILABLE",
        `the model bundle ${this.manifest.name} has no memory heads yet; ` +
          "answer in keyword mode (passages in the prompt) or without documents",
      );
    }
    return this.manifest.mac;
  }

  private session(name: keyof Sessions): Sessions[keyof Sessions] & object {
    const s = this.sessions[name];
    if (!s) throw new AppError("MEMORY_UNAVAILABLE", `the model bundle ${this.manifest.name} has no ${name} graph`);
    return s;
  }

  /** How the heads read (null: token ids, format 1); undefined without memory heads. */
  get reader(): ReaderFacts | null | undefined {
    return this.manifest.mac && (this.manifest.mac.reader ?? null);
  }

  /**
   * Whether per-entry aggregator K/V is worth caching beside each modulation. Not for reader
   * bundles: (blocks, 2, T, D) float32 is 80 KB per chunk for Gemma, eight times its int8
   * modulation; their memory_kv is computed per question for the entries aggregated.
   */
  get cachesEntryKV(): boolean {
    return this.reader === null;
  }

  /**
   * A document's token ids for the amortizer. A reader reads " " + text: in training the passage
   * followed "Passage:", so its first word carries a leading space.
   */
  documentIds(text: string): number[] {
    const clean = collapseWhitespace(text);
    if (!clean) return [];
    return this.tokenizer.encode(this.mac.reader ? " " + clean : clean);
  }

  /** Token windows of a document that fit the amortizer (max_doc_tokens each, no overlap). */
  chunkIds(text: string): number[][] {
    const ids = this.documentIds(text);
    const max = this.mac.max_doc_tokens;
    const out: number[][] = [];
    for (let s = 0; s < ids.length; s += max) out.push(ids.slice(s, s + max));
    return out;
  }

  /**
   * Modulations (T*D floats each, the graph's own output) of a batch of token windows. Format 1:
   * the amortizer reads the ids, right-padded with a mask. lm_tap: the LM reads prefix_ids ++ window
   * and the amortizer reads the window's tap rows (B, W, D) with their mask.
   */
  async amortize(batch: readonly (readonly number[])[]): Promise<Float32Array[]> {
    if (batch.length === 0) return [];
    const width = Math.max(...batch.map((r) => r.length));
    if (width === 0 || batch.some((r) => r.length === 0)) throw new RangeError("cannot amortize an empty document");
    const pad = this.manifest.special_ids.pad,
      reader = this.mac.reader;
    let feeds: Record<string, Tensor>;
    if (reader) {
      const tap = await this.tap(readerBatch(reader.prefix_ids, batch, pad), reader);
      feeds = windowRows(
        tap,
        reader.prefix_ids.length,
        batch.map((r) => r.length),
      );
    } else {
      const ids = batch.map((r) => [...r, ...Array<number>(width - r.length).fill(pad)]);
      const mask = batch.map((r) => [...Array<number>(r.length).fill(1), ...Array<number>(width - r.length).fill(0)]);
      feeds = { input_ids: int64Tensor(ids), attention_mask: int64Tensor(mask) };
    }
    const data = floats(output(await this.session("amortizer").run(feeds), "modulation"));
    const size = this.T * this.D;
    return batch.map((_, i) => data.slice(i * size, (i + 1) * size));
  }

  /**
   * Modulations as the bundle's storage gives them back (int8: rounded
   * per slot row), so a bank is the same before and after a restart.
   */
  asStored(modulations: readonly Float32Array[]): Float32Array[] {
    const { storage } = this.mac;
    return modulations.map((m) => asStored(m, this.T, this.D, storage));
  }

  /**
   * The LM's tap (B, S, D) over a batch from position 0 (empty past): from the bundle's reader graph
   * when it has one (graphs.reader: the pre-tap blocks on int8 kernels, onnx_fast_tap.py; its only
   * other inputs are the empty per-layer caches its attention reads), else from the LM graph, whose
   * logits and cache are dropped.
   */
  private async tap(
    inputs: { input_ids: Tensor; attention_mask: Tensor; position_ids: Tensor },
    reader: ReaderFacts,
  ): Promise<Tensor> {
    const own = this.sessions.reader;
    if (own && this.manifest.graphs.reader) {
      return output(
        await own.run({ ...inputs, ...this.readerCaches(inputs.input_ids.dims[0]) }, [reader.output]),
        reader.output,
      );
    }
    const out = await this.sessions.lm.run(
      {
        ...inputs,
        past_key_values: this.emptyPast(inputs.input_ids.dims[0]),
        ...(this.stopsAtTap ? { [TAP_ONLY]: flag(true) } : {}),
      },
      [reader.output],
    );
    return output(out, reader.output);
  }

  /**
   * The prompt ids for a question (renderPrompt), and with memory heads the question's query slots
   * (1, T, D) from the question-only template. A prompt too long for the LM loses passage text from
   * the end of the passages, never the question or the chat template's closing turn.
   */
  // memory: the answer is decoded behind a memory prefix (the framed prompt, and the query); pass
  // false when decoding without one, or a framed bundle's prompt would lack its opening.
  // slots: false skips the query (a one-entry bank under oneEntryDirect needs none).
  async encodeQuestion(
    question: string,
    context?: PromptContext,
    long = false,
    memory = this.hasMemory,
    slots = true,
  ): Promise<{ promptIds: number[]; query: Tensor | null; truncated: boolean }> {
    const budget =
      this.manifest.architecture.lm.n_positions -
      maxNewTokens(this.manifest, long) -
      (this.manifest.mac?.prefix.position_offset ?? 0);
    const framed = memory && !!this.manifest.mac;
    let passages = context?.passages ?? [],
      promptIds = this.tokenizer.encode(renderPrompt(this.manifest, question, context, long, framed));
    let truncated = false;
    while (promptIds.length > budget && context && passages.join("").length > 0) {
      const over = promptIds.length - budget,
        all = passages.join("\u0000");
      const keep = Math.max(0, all.length - Math.max(16, Math.ceil(over * 3))); // ~3+ characters per token
      passages = all.slice(0, keep).split("\u0000").filter(Boolean);
      promptIds = this.tokenizer.encode(renderPrompt(this.manifest, question, { ...context, passages }, long, framed));
      truncated = true;
    }
    if (promptIds.length > budget) {
      promptIds = promptIds.slice(-budget);
      truncated = true;
    }
    if (!memory || !this.manifest.mac || !slots) return { promptIds, query: null, truncated };
    return { promptIds, query: await this.query(question, long), truncated };
  }

  /**
   * The question's query slots (1, T, D). Format 1: ids of the question-only prompt in the answer's
   * style, the last max_question_tokens. lm_tap: always the short question-only prompt (what the
   * heads were trained on, whatever the answer's style or passages), cut keeping its <bos>; the LM
   * reads it from position 0 and the encoder reads its tap.
   */
  async query(question: string, long = false): Promise<Tensor> {
    const { reader, max_question_tokens: max } = this.mac;
    if (!reader) {
      const ids = this.tokenizer.encode(renderPrompt(this.manifest, question, undefined, long)).slice(-max);
      const out = await this.session("question_encoder").run({
        input_ids: int64Tensor([ids]),
        attention_mask: int64Tensor([ids.map(() => 1)]),
      });
      return output(out, "query");
    }
    const ids = clipQuestion(this.tokenizer.encode(renderPrompt(this.manifest, question)), max);
    const ones = int64Tensor([ids.map(() => 1)]);
    const features = await this.tap(
      { input_ids: int64Tensor([ids]), attention_mask: ones, position_ids: int64Tensor([ids.map((_, i) => i)]) },
      reader,
    );
    return output(await this.session("question_encoder").run({ features, attention_mask: ones }), "query");
  }

  /**
   * Whether a one-entry bank's latent is that entry's modulation as it is. True for heads whose
   * aggregation only scales each slot of a lone entry (slot-wise, with a near-zero null entry) and
   * whose prefix RMS-norms every slot first, so the scale is gone: the build measures the prefix
   * both ways and sets architecture.mac.one_entry_direct only when they agree (models/README.md).
   */
  get oneEntryDirect(): boolean {
    return this.manifest.mac?.one_entry_direct === true;
  }

  /** Question-independent K/V of entries (blocks, 2, entries*T, D): cacheable at ingest. */
  async memoryKV(entries: readonly Float32Array[]): Promise<Tensor> {
    // An empty bank (the question-only control): no K/V rows, and no graph run over a zero-size input.
    if (entries.length === 0) return this.concatKV([]);
    const flat = new Float32Array(entries.length * this.T * this.D);
    entries.forEach((e, i) => flat.set(e, i * this.T * this.D));
    return output(
      await this.session("memory_kv").run({ modulations: floatTensor(flat, [entries.length, this.T, this.D]) }),
      "memory_kv",
    );
  }

  /** Per-entry K/V, each (blocks, 2, T, D) flattened: what a vault stores beside each modulation. */
  async entryKV(entries: readonly Float32Array[]): Promise<Float32Array[]> {
    if (entries.length === 0) return [];
    const kv = floats(await this.memoryKV(entries));
    const rows = this.mac.aggregator_layers * 2,
      slot = this.T * this.D;
    return entries.map((_, e) => {
      const out = new Float32Array(rows * slot);
      for (let r = 0; r < rows; r++)
        out.set(kv.subarray((r * entries.length + e) * slot, (r * entries.length + e + 1) * slot), r * slot);
      return out;
    });
  }

  /** Stacks cached per-entry K/V back into the aggregator's (blocks, 2, entries*T, D) input. */
  concatKV(cached: readonly Float32Array[]): Tensor {
    const blocks = this.mac.aggregator_layers,
      slot = this.T * this.D,
      n = cached.length;
    const out = new Float32Array(blocks * 2 * n * slot);
    for (let r = 0; r < blocks * 2; r++)
      cached.forEach((c, e) => out.set(c.subarray(r * slot, (r + 1) * slot), (r * n + e) * slot));
    return floatTensor(out, [blocks, 2, n * this.T, this.D]);
  }

  async aggregateOnce(query: Tensor, memoryKv: Tensor): Promise<Aggregated> {
    const out = await this.session("aggregator").run({ query, memory_kv: memoryKv });
    return { latent: floats(output(out, "latent")).slice(), weights: Array.from(floats(output(out, "entry_weights"))) };
  }

  /**
   * Aggregate a bank of any size under the question (groups of `group` entries when it is larger).
   * cachedKV (from entryKV, one per entry) skips recomputing the bank's K/V; exact for every leaf group.
   */
  aggregate(
    query: Tensor,
    entries: readonly Float32Array[],
    group = this.mac.hier_group,
    cachedKV?: readonly Float32Array[],
  ): Promise<Aggregated> {
    return aggregateHierarchical(entries, group, async (part, leafStart) =>
      this.aggregateOnce(
        query,
        cachedKV && leafStart !== null
          ? this.concatKV(cachedKV.slice(leafStart, leafStart + part.length))
          : await this.memoryKV(part),
      ),
    );
  }

  /** The LM's initial past: (L, 2, 1, kv heads, P, head_dim) key/values from the latent. */
  async prefix(latent: Float32Array): Promise<Tensor> {
    return output(await this.session("prefix").run({ latent: floatTensor(latent, [1, this.T, this.D]) }), "prefix_kv");
  }

  /**
   * Positions at the start of a framed prefix that hold the frame (the LM's own K/V of the gold
   * prompt's opening, reader.prefix_ids); the memory's slots follow. 0 for an unframed bundle.
   */
  get frameLength(): number {
    const reader = this.manifest.mac?.reader;
    return this.manifest.prompt.memory && reader ? reader.prefix_ids.length : 0;
  }

  /**
   * The past for answering from an aggregated bank. An empty bank remembers nothing: a framed
   * bundle then gets its frame alone (the question asked in the memory's own prompt, no slots;
   * slots from no document would be noise the LM attends to), an unframed one the null entry's prefix.
   */
  async memoryPast(agg: Aggregated, bankSize: number): Promise<Tensor> {
    const full = await this.prefix(agg.latent);
    return bankSize === 0 && this.frameLength > 0 ? leadingPositions(full, this.frameLength) : full;
  }

  /**
   * An empty past, for answering without memory or reading for a reader (P = 0): (L, 2, batch, kv heads, 0, head_dim).
   */
  emptyPast(batch = 1): Tensor {
    const { n_layer, n_kv_head, head_dim } = this.manifest.architecture.lm;
    return floatTensor(new Float32Array(0), [n_layer, 2, batch, n_kv_head, 0, head_dim]);
  }
  /**
   * The reader graph's empty per-layer caches (batch, kv heads,
   * 0, head_dim), one per past_key_values.* input it declares.
   */
  readerCaches(batch = 1): Record<string, Tensor> {
    const { n_kv_head, head_dim } = this.manifest.architecture.lm;
    const empty = floatTensor(new Float32Array(0), [batch, n_kv_head, 0, head_dim]);
    const inputs = this.manifest.graphs.reader?.inputs ?? [];
    return Object.fromEntries(inputs.filter((i) => i.name.startsWith("past_key_values.")).map((i) => [i.name, empty]));
  }

  // A full prefix: the manifest's offset. The frame alone: the prompt continues right after it.
  private offset(past: Tensor): number {
    const P = past.dims[4] ?? 0;
    return P === 0 ? 0 : P === this.frameLength ? P : (this.manifest.mac?.prefix.position_offset ?? 0);
  }

  decode(
    promptIds: readonly number[],
    past: Tensor,
    opts: Omit<GenerateOptions, "stopIds" | "maxNewTokens"> &
      Partial<Pick<GenerateOptions, "maxNewTokens">> & { long?: boolean },
  ): AsyncGenerator<number, GenerateEnd, undefined> {
    const { long, ...rest } = opts;
    return generate(this.sessions.lm, promptIds, past, this.offset(past), this.manifest.architecture.lm.vocab_size, {
      ...rest,
      maxNewTokens: opts.maxNewTokens ?? maxNewTokens(this.manifest, long),
      stopIds: stopIds(this.manifest, long),
      leadingIds: leadingIds(this.manifest, long),
      ...this.decodeCache,
    });
  }

  /** Beam search with `beams` beams; returns the best answer's token ids. */
  beam(
    promptIds: readonly number[],
    past: Tensor,
    beams: number,
    signal?: GenerateOptions["signal"],
    long = false,
  ): Promise<number[]> {
    return beamSearch(this.sessions.lm, promptIds, past, this.offset(past), this.manifest.architecture.lm.vocab_size, {
      beams,
      maxNewTokens: maxNewTokens(this.manifest, long),
      stopIds: stopIds(this.manifest, long),
      ...(signal ? { signal } : {}),
    });
  }
}
