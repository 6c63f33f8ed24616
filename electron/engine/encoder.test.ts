// The sentence encoder. Batching, padding, truncation and order on a fake session with a six-token
// WordPiece vocabulary (always runs); then parity with the Python export (models/mnemo_models/minilm.py):
// token ids equal Python's `tokenizers` ids, ONNX outputs equal PyTorch's, a paraphrase is closer than an
// unrelated sentence. That part runs on the encoder inside the setup-built bundle (or MNEMO_ENCODER_DIR,
// e.g. `python -m mnemo_models.minilm --src SOURCES --out DIR`); required in CI, skipped elsewhere when absent.
import { describe, expect, it } from "vitest";
import { defaultBundleDir } from "../app/paths.js";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { floats, floatTensor, int64Tensor, output, type Session, type Tensor } from "../core/session.js";
import { ENCODER_FILES, SentenceEncoder, loadSentenceEncoder } from "./encoder.js";
import { createSession } from "./ort-session.js";

const special = (id: string, ids: number[]) => ({ id, ids, tokens: [id] });
const tinyTokenizer = new Tokenizer(
  {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].map((content, id) => ({
      id,
      content,
      special: true,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
    })),
    normalizer: {
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [
        { SpecialToken: { id: "[CLS]", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "[SEP]", type_id: 0 } },
      ],
      pair: [],
      special_tokens: { "[CLS]": special("[CLS]", [2]), "[SEP]": special("[SEP]", [3]) },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab: { "[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, a: 4, b: 5 },
    },
  },
  {},
);

/** Records every run; row i's embedding is [real tokens, sum of the real ids]. */
class FakeSession implements Session {
  runs: { ids: number[][]; mask: number[][] }[] = [];
  async run(feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
    const rows = (t: Tensor) =>
      Array.from({ length: t.dims[0]! }, (_, i) =>
        Array.from(t.data.slice(i * t.dims[1]!, (i + 1) * t.dims[1]!), Number),
      );
    const ids = rows(feeds.input_ids!),
      mask = rows(feeds.attention_mask!);
    this.runs.push({ ids, mask });
    const emb = ids.flatMap((r, i) => [
      mask[i]!.reduce((a, b) => a + b, 0),
      r.reduce((a, v, j) => a + v * mask[i]![j]!, 0),
    ]);
    return { embedding: floatTensor(Float32Array.from(emb), [ids.length, 2]) };
  }
}

describe("SentenceEncoder on a fake session", () => {
  it("adds [CLS]/[SEP], truncates keeping [SEP], right-pads with a mask and batches similar lengths in order", async () => {
    const session = new FakeSession();
    const enc = new SentenceEncoder(session, tinyTokenizer, { maxTokens: 5, batchSize: 2 });
    expect(enc.tokenize("A b")).toEqual([2, 4, 5, 3]);
    expect(enc.tokenize("a b a b a b")).toEqual([2, 4, 5, 4, 3]);
    const out = await enc.embed(["a b a b a b", "b", "", "a a"]);
    expect(out.map((e) => Array.from(e))).toEqual([
      [5, 18],
      [3, 10],
      [2, 5],
      [4, 13],
    ]);
    expect(session.runs).toEqual([
      {
        ids: [
          [2, 3, 0],
          [2, 5, 3],
        ],
        mask: [
          [1, 1, 0],
          [1, 1, 1],
        ],
      },
      {
        ids: [
          [2, 4, 4, 3, 0],
          [2, 4, 5, 4, 3],
        ],
        mask: [
          [1, 1, 1, 1, 0],
          [1, 1, 1, 1, 1],
        ],
      },
    ]);
    expect(await enc.embed([])).toEqual([]);
    expect(() => new SentenceEncoder(session, tinyTokenizer, { maxTokens: 1 })).toThrow(/maxTokens/);
  });
});

interface Fixtures {
  max_tokens: number;
  texts: string[];
  ids: number[][];
  embeddings: number[][];
  token_states: { text: number; shape: number[]; data: number[] };
}
const dir = process.env.MNEMO_ENCODER_DIR ?? defaultBundleDir();
const built = existsSync(path.join(dir, ENCODER_FILES.graph)) && existsSync(path.join(dir, "encoder-fixtures.json"));
if (!built && process.env.CI)
  throw new Error(`CI: no encoder at ${dir} (npm run setup builds the bundle that holds it)`);
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  return Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
};
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);

describe.skipIf(!built)(`the exported encoder (${dir})`, async () => {
  const fx: Fixtures = built ? JSON.parse(readFileSync(path.join(dir, "encoder-fixtures.json"), "utf8")) : null!;
  const session = built
    ? await createSession(path.join(dir, ENCODER_FILES.graph), { executionProvider: "cpu", threads: 2 })
    : null!;
  const tokenizer = built
    ? new Tokenizer(JSON.parse(readFileSync(path.join(dir, ENCODER_FILES.tokenizer), "utf8")), {})
    : null!;
  const enc = built ? new SentenceEncoder(session, tokenizer, { maxTokens: fx.max_tokens }) : null!;

  it("tokenizes as Python's tokenizers did: accents, CJK, other scripts, emoji, odd spaces, empty, truncation", () => {
    expect(fx.texts.map((t) => enc.tokenize(t))).toEqual(fx.ids);
  });

  it("gives PyTorch's embeddings within 1e-4, in one padded batch and in small batches", async () => {
    for (const e of [enc, new SentenceEncoder(session, tokenizer, { maxTokens: fx.max_tokens, batchSize: 3 })]) {
      const got = await e.embed(fx.texts);
      expect(Math.max(...got.map((g, i) => maxAbsDiff(g, fx.embeddings[i]!)))).toBeLessThan(1e-4);
      for (const g of got) expect(Math.abs(Math.sqrt(dot(g, g)) - 1)).toBeLessThan(1e-5);
    }
  });

  it("gives PyTorch's token_states within 1e-4", async () => {
    const ids = fx.ids[fx.token_states.text]!;
    const out = await session.run({ input_ids: int64Tensor([ids]), attention_mask: int64Tensor([ids.map(() => 1)]) });
    expect(output(out, "token_states").dims).toEqual([1, ...fx.token_states.shape]);
    expect(maxAbsDiff(floats(output(out, "token_states")), fx.token_states.data)).toBeLessThan(1e-4);
  });

  it("puts a paraphrase closer than an unrelated sentence", async () => {
    const [q, para, other] = await enc.embed([
      "Where was Marie Curie born?",
      "Marie Curie was born in Warsaw.",
      "The Eiffel Tower is in Paris.",
    ]);
    expect(dot(q!, para!)).toBeGreaterThan(dot(q!, other!) + 0.3);
  });

  it("loads from its folder", async () => {
    const loaded = await loadSentenceEncoder(dir, { executionProvider: "cpu", threads: 1 });
    expect(maxAbsDiff((await loaded.embed([fx.texts[0]!]))[0]!, fx.embeddings[0]!)).toBeLessThan(1e-4);
  });
});
