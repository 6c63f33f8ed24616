// The sentence encoder: texts -> unit-length embeddings through the all-MiniLM-L6-v2 graph that
// models/mnemo_models/minilm.py exports (encoder.onnx; mean pooling and L2 normalisation are inside it).
// Tokenisation is sentence-transformers': WordPiece with [CLS] ... [SEP], at most maxTokens tokens with
// [SEP] kept last; a batch is right-padded with id 0 and attention_mask 0, which the graph ignores.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { floats, int64Tensor, output, type Session } from "../core/session.js";
import { createSession, type SessionSettings } from "./ort-session.js";

export const ENCODER_FILES = { graph: "encoder.onnx", tokenizer: "encoder-tokenizer.json" } as const;

export interface EncoderOptions {
  /** Tokens per text, [CLS] and [SEP] included: the export's architecture.max_tokens (256). */
  maxTokens?: number;
  /**
   * Texts per graph run (4), after sorting by length. Small runs keep activations in cache: 128 train
   * paragraphs took 14 ms each in runs of 2-4 against 24 ms in runs of 16 (2 threads, 2026-12-03).
   */
  batchSize?: number;
}

const PAD_ID = 0;

export class SentenceEncoder {
  readonly maxTokens: number;
  readonly batchSize: number;
  private readonly sepId: number;

  constructor(
    private readonly session: Session,
    private readonly tokenizer: Tokenizer,
    options: EncoderOptions = {},
  ) {
    this.maxTokens = options.maxTokens ?? 256;
    this.batchSize = options.batchSize ?? 4;
    if (!Number.isInteger(this.maxTokens) || this.maxTokens < 2)
      throw new Error(`maxTokens must be an integer >= 2, got ${this.maxTokens}`);
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1)
      throw new Error(`batchSize must be an integer >= 1, got ${this.batchSize}`);
    const sep = tokenizer.token_to_id("[SEP]");
    if (sep === undefined) throw new Error("the encoder's tokenizer has no [SEP] token");
    this.sepId = sep;
  }

  /** Token ids with [CLS] and [SEP]; a longer text is cut to maxTokens, [SEP] kept last. */
  tokenize(text: string): number[] {
    const ids = this.tokenizer.encode(text, { add_special_tokens: true }).ids;
    return ids.length <= this.maxTokens ? ids : [...ids.slice(0, this.maxTokens - 1), this.sepId];
  }

  /** One unit-length embedding per text, in the texts' order. */
  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const rows = texts.map((t) => this.tokenize(t));
    // Batches of similar lengths waste little work on padding (the results do not depend on it).
    const order = rows.map((_, i) => i).sort((a, b) => rows[a]!.length - rows[b]!.length);
    const out = new Array<Float32Array>(texts.length);
    for (let start = 0; start < order.length; start += this.batchSize) {
      const batch = order.slice(start, start + this.batchSize);
      const vectors = await this.run(batch.map((i) => rows[i]!));
      batch.forEach((i, j) => {
        out[i] = vectors[j]!;
      });
    }
    return out;
  }

  /** rows of token ids -> input_ids, attention_mask (B, T) -> embedding (B, D), split per row. */
  private async run(rows: readonly number[][]): Promise<Float32Array[]> {
    const width = Math.max(...rows.map((r) => r.length));
    const ids = rows.map((r) => [...r, ...new Array<number>(width - r.length).fill(PAD_ID)]);
    const mask = rows.map((r) => Array.from({ length: width }, (_, j) => (j < r.length ? 1 : 0)));
    const emb = output(
      await this.session.run({ input_ids: int64Tensor(ids), attention_mask: int64Tensor(mask) }),
      "embedding",
    );
    const [batch, dim] = emb.dims;
    if (batch !== rows.length || !dim || emb.dims.length !== 2)
      throw new Error(`encoder embedding has shape [${emb.dims.join(", ")}], expected [${rows.length}, D]`);
    const data = floats(emb);
    return rows.map((_, i) => data.slice(i * dim, (i + 1) * dim));
  }
}

/** An encoder folder as the export writes it: encoder.onnx and encoder-tokenizer.json. */
export async function loadSentenceEncoder(
  dir: string,
  settings: SessionSettings,
  options?: EncoderOptions,
): Promise<SentenceEncoder> {
  const tokenizer = new Tokenizer(JSON.parse(await readFile(path.join(dir, ENCODER_FILES.tokenizer), "utf8")), {});
  return new SentenceEncoder(await createSession(path.join(dir, ENCODER_FILES.graph), settings), tokenizer, options);
}
