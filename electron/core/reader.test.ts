// The lm_tap reader through MacPipeline with fake sessions: what the LM is fed for a batch of windows,
// which tap rows reach the amortizer, the question encoder's short prompt and its <bos>-keeping cut,
// and decoding behind the memory prefix at prefix.position_offset.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { parseManifest } from "../shared/manifest.js";
import {
  fakeTap,
  FakeTapLM,
  readerManifestJson,
  Recorder,
  zeros,
  type ReaderOptions,
} from "./fake-reader.test-helpers.js";
import { MacPipeline } from "./pipeline.js";
import { renderPrompt, type PromptContext } from "./prompt.js";
import { argmax } from "./sampler.js";
import { floatTensor, floats, type Tensor } from "./session.js";

const tiny = JSON.parse(
  readFileSync(new URL("../../models/bundles/tiny-random/manifest.json", import.meta.url), "utf8"),
);
const [T, D, P, L, H, hs, V, PAD] = [4, 32, 2, 2, 2, 16, 8192, 3];
/** One token per character (ids < 128 < vocab): windows and prompts are easy to read back. */
const chars = {
  encode: (t: string) => [...t].map((c) => c.charCodeAt(0)),
  decode: (ids: number[]) => String.fromCharCode(...ids),
};
const ints = (t: Tensor) => Array.from(t.data as BigInt64Array, Number);
const iota = (dims: number[]) => {
  const n = dims.reduce((a, b) => a * b, 1);
  return floatTensor(
    Float32Array.from({ length: n }, (_, i) => i),
    dims,
  );
};
const rows = (t: Tensor) => {
  const [B, S] = t.dims as [number, number];
  return Array.from({ length: B }, (_, b) => ints(t).slice(b * S, (b + 1) * S));
};

function setup(o: ReaderOptions = {}) {
  const raw = readerManifestJson(tiny, { maxDoc: 6, maxQuestion: 8, ...o }) as unknown as Record<
    string,
    Record<string, unknown>
  >;
  raw.prompt = {
    ...raw.prompt,
    long: { question: "LONG {question}", gold: "LG {passage} {question}", keyword: "LK {passage} {question}" },
  };
  const manifest = parseManifest(raw);
  // After "?" the LM says "!" then stops at eos (2): a two-step decode.
  const lm = new FakeTapLM(V, { 58: { 33: 1 }, 33: { 2: 1 } }, D);
  const amortizer = new Recorder((f) => {
    const B = f.features!.dims[0]!;
    return { modulation: zeros([B, T, D]) };
  });
  const question_encoder = new Recorder(() => ({ query: zeros([1, T, D]) }));
  const memory_kv = new Recorder((f) => ({ memory_kv: zeros([2, 2, f.modulations!.dims[0]! * T, D]) }));
  const aggregator = new Recorder((f) => {
    const E = f.memory_kv!.dims[2]! / T;
    return { latent: zeros([1, T, D]), entry_weights: zeros([1, E]) };
  });
  const prefix = new Recorder(() => ({ prefix_kv: zeros([L, 2, 1, H, P, hs]) }));
  const reader = o.readerGraph ? new Recorder((f) => ({ tap: fakeTap(f, D) })) : undefined;
  const p = new MacPipeline(
    manifest,
    { lm, amortizer, question_encoder, memory_kv, aggregator, prefix, ...(reader ? { reader } : {}) },
    chars,
  );
  return { p, lm, amortizer, question_encoder, memory_kv, aggregator, reader };
}

describe("MacPipeline with an lm_tap reader", () => {
  it("reads a document as ' ' + its collapsed text, in windows of max_doc_tokens", () => {
    const { p } = setup();
    expect(p.reader?.prefix_ids).toEqual([1, 40, 41]);
    expect(p.cachesEntryKV).toBe(false);
    expect(p.chunkIds("ab  cd\nefgh")).toEqual([chars.encode(" ab cd"), chars.encode(" efgh")]);
    expect(p.chunkIds(" \n ")).toEqual([]);
  });

  it("feeds the LM prefix_ids ++ window, right-padded, from position 0 with an empty past", async () => {
    const { p, lm } = setup();
    const windows = [chars.encode(" abcd"), chars.encode(" xy")];
    await p.amortize(windows);
    expect(lm.feeds).toHaveLength(1);
    const f = lm.feeds[0]!;
    expect(rows(f.input_ids!)).toEqual([
      [1, 40, 41, ...windows[0]!],
      [1, 40, 41, ...windows[1]!, PAD, PAD],
    ]);
    expect(rows(f.attention_mask!)).toEqual([
      [1, 1, 1, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 1, 0, 0],
    ]);
    expect(rows(f.position_ids!)).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7],
      [0, 1, 2, 3, 4, 5, 6, 7],
    ]);
    expect(f.past_key_values!.dims).toEqual([L, 2, 2, H, 0, hs]);
  });

  it("gives the amortizer exactly the window's tap rows, right-padded with zeros, and their mask", async () => {
    const { p, amortizer } = setup();
    const windows = [chars.encode(" abcd"), chars.encode(" xy")];
    const mods = await p.amortize(windows);
    expect(mods.map((m) => m.length)).toEqual([T * D, T * D]);
    const { features, attention_mask } = amortizer.feeds[0]!;
    expect(features!.dims).toEqual([2, 5, D]);
    expect(rows(attention_mask!)).toEqual([
      [1, 1, 1, 1, 1],
      [1, 1, 1, 0, 0],
    ]);
    const x = floats(features!);
    const row = (b: number, j: number) => Array.from(x.subarray((b * 5 + j) * D, (b * 5 + j) * D + 4));
    // tap row (b, s) = [b, s, id, position]: window token j sits at LM position 3 + j (after the 3 prefix ids)
    windows.forEach((w, b) => w.forEach((id, j) => expect(row(b, j)).toEqual([b, 3 + j, id, 3 + j])));
    expect(row(1, 3)).toEqual([0, 0, 0, 0]);
    expect(x.subarray((1 * 5 + 3) * D, 2 * 5 * D).every((v) => v === 0)).toBe(true);
    expect(amortizer.feeds[0]!["input_ids"]).toBeUndefined();
  });

  it("encodes the question from the short question-only prompt, whatever the answer's style or passages", async () => {
    const { p, lm, question_encoder } = setup({ maxQuestion: 64 });
    const short = chars.encode(renderPrompt(p.manifest, "Why?"));
    const cases: [PromptContext | undefined, boolean][] = [
      [undefined, false],
      [undefined, true],
      [{ kind: "keyword", passages: ["some passage"] }, true],
    ];
    for (const [context, long] of cases) {
      lm.feeds.length = 0;
      const { promptIds, query } = await p.encodeQuestion("Why?", context, long);
      expect(query).not.toBeNull();
      expect(promptIds).toEqual(chars.encode(renderPrompt(p.manifest, "Why?", context, long)));
      expect(rows(lm.feeds[0]!.input_ids!)).toEqual([short]);
      expect(rows(lm.feeds[0]!.position_ids!)).toEqual([short.map((_, i) => i)]);
      expect(lm.feeds[0]!.past_key_values!.dims[4]).toBe(0);
      const f = question_encoder.feeds.at(-1)!;
      expect(f.features!.dims).toEqual([1, short.length, D]);
      expect(Array.from(floats(f.features!).subarray(0, 3))).toEqual([0, 0, short[0]!]);
      expect(rows(f.attention_mask!)).toEqual([short.map(() => 1)]);
    }
  });

  it("cuts a long question prompt to its first token and its last max_question_tokens - 1", async () => {
    const { p, lm } = setup({ maxQuestion: 8 });
    const ids = chars.encode(renderPrompt(p.manifest, "What is the longest river?"));
    await p.encodeQuestion("What is the longest river?");
    expect(rows(lm.feeds[0]!.input_ids!)).toEqual([[ids[0]!, ...ids.slice(-7)]]);
  });

  it("decodes behind the memory prefix with the prompt's positions starting at prefix.position_offset", async () => {
    const { p, lm, memory_kv, aggregator } = setup();
    const mods = p.asStored(await p.amortize(p.chunkIds("The tower was completed in 1889.")));
    const { promptIds, query } = await p.encodeQuestion("When?");
    const agg = await p.aggregate(query!, mods);
    expect(memory_kv.feeds).toHaveLength(1); // computed for this question's entries: nothing cached
    expect(aggregator.feeds[0]!.memory_kv!.dims).toEqual([2, 2, mods.length * T, D]);
    const past = await p.prefix(agg.latent);
    lm.feeds.length = 0;
    const out: number[] = [];
    for await (const t of p.decode(promptIds, past, { sample: argmax })) out.push(t);
    expect(out).toEqual([33]);
    expect(rows(lm.feeds[0]!.position_ids!)).toEqual([promptIds.map((_, i) => P + i)]);
    expect(lm.feeds[0]!.past_key_values!.dims[4]).toBe(P);
    expect(rows(lm.feeds[1]!.position_ids!)).toEqual([[P + promptIds.length]]);
  });

  it("answers an empty framed bank behind the frame alone, continuing right after it", async () => {
    // A framed bundle: prompt.memory set, the prefix = the 2 reader prefix ids' K/V, then T slots.
    const R = 2,
      PF = R + T;
    type Raw = {
      prompt: object;
      prefix: object;
      architecture: { mac: Record<string, unknown> };
      graphs: Record<string, { outputs: { shape: unknown[] }[] }>;
    };
    const raw = readerManifestJson(tiny, { prefixIds: [1, 40] }) as unknown as Raw;
    raw.prompt = { ...raw.prompt, memory: { question: " Q: {question}", keyword: " {passage} Q: {question}" } };
    raw.prefix = { length: PF, position_offset: PF };
    raw.architecture.mac.prefix_len = PF;
    raw.graphs.prefix!.outputs[0]!.shape[4] = PF;
    const p = new MacPipeline(
      parseManifest(raw),
      { lm: new FakeTapLM(V, {}, D), prefix: new Recorder(() => ({ prefix_kv: iota([L, 2, 1, H, PF, hs]) })) },
      chars,
    );
    expect(p.frameLength).toBe(R);
    const agg = { latent: new Float32Array(T * D), weights: [] };
    const full = await p.memoryPast(agg, 3),
      frame = await p.memoryPast(agg, 0);
    expect(full.dims[4]).toBe(PF);
    expect(frame.dims).toEqual([L, 2, 1, H, R, hs]);
    // row r of the frame is row r of the full prefix, first R positions
    const f = floats(frame),
      g = floats(full);
    for (let r = 0; r < L * 2 * H; r++)
      expect(Array.from(f.subarray(r * R * hs, (r + 1) * R * hs))).toEqual(
        Array.from(g.subarray(r * PF * hs, (r * PF + R) * hs)),
      );
    const lm = new FakeTapLM(V, { 58: { 2: 1 } }, D);
    const q = new MacPipeline(parseManifest(raw), { lm }, chars);
    const { promptIds } = await q.encodeQuestion("When:", undefined, false, false);
    for await (const _ of q.decode(promptIds, frame, { sample: argmax })) {
      /* drain */
    }
    expect(rows(lm.feeds[0]!.position_ids!)).toEqual([promptIds.map((_, i) => R + i)]);
    // a manifest whose framed prefix is not frame + slots is refused
    raw.prefix = { length: PF + 1, position_offset: PF + 1 };
    raw.architecture.mac.prefix_len = PF + 1;
    raw.graphs.prefix!.outputs[0]!.shape[4] = PF + 1;
    expect(() => parseManifest(raw)).toThrow(/framed prefix/);
  });

  it("stops the LM at the tap when reading, and runs it whole to answer, when the graph can", async () => {
    const flagOf = (f: Record<string, Tensor>) => (f.tap_only ? ints(f.tap_only) : null);
    const { p, lm } = setup({ tapOnly: true });
    expect(p.stopsAtTap).toBe(true);
    await p.amortize(p.chunkIds("The tower."));
    const { promptIds, query } = await p.encodeQuestion("When?");
    expect(lm.feeds.map(flagOf)).toEqual([[1], [1]]); // the window, then the question encoder's tap
    lm.feeds.length = 0;
    for await (const _ of p.decode(promptIds, await p.prefix((await p.aggregate(query!, [])).latent), {
      sample: argmax,
    })) {
      /* drain */
    }
    expect(lm.feeds.length).toBeGreaterThan(0);
    expect(lm.feeds.map(flagOf).every((f) => f?.[0] === 0)).toBe(true);
    const plain = setup();
    expect(plain.p.stopsAtTap).toBe(false);
    await plain.p.amortize(plain.p.chunkIds("The tower."));
    expect(plain.lm.feeds.map(flagOf)).toEqual([null]); // an older graph is fed as before
  });

  it("reads with the bundle's reader graph when it has one, feeding it only its own inputs, and answers with the LM", async () => {
    const { p, lm, reader, amortizer } = setup({ tapOnly: true, readerGraph: true });
    const windows = [chars.encode(" abcd"), chars.encode(" xy")];
    await p.amortize(windows);
    const { promptIds, query } = await p.encodeQuestion("When?");
    expect(lm.feeds).toHaveLength(0); // neither the windows nor the question went to the LM
    expect(reader!.feeds).toHaveLength(2);
    const f = reader!.feeds[0]!;
    expect(Object.keys(f).sort()).toEqual([
      "attention_mask",
      "input_ids",
      "past_key_values.0.key",
      "past_key_values.0.value",
      "position_ids",
    ]);
    expect(f["past_key_values.0.key"]!.dims).toEqual([2, H, 0, hs]); // (B, Hkv, 0, hd): nothing cached
    expect(rows(f.input_ids!)).toEqual([
      [1, 40, 41, ...windows[0]!],
      [1, 40, 41, ...windows[1]!, PAD, PAD],
    ]);
    // The amortizer reads the same rows it would have read from the LM graph's tap.
    const viaLm = setup({ tapOnly: true });
    await viaLm.p.amortize(windows);
    expect(floats(amortizer.feeds[0]!.features!)).toEqual(floats(viaLm.amortizer.feeds[0]!.features!));
    for await (const _ of p.decode(promptIds, await p.prefix((await p.aggregate(query!, [])).latent), {
      sample: argmax,
    })) {
      /* drain */
    }
    expect(lm.feeds.length).toBeGreaterThan(0);
    expect(reader!.feeds).toHaveLength(2);
  });

  it("refuses a reader graph without the memory's lm_tap reader", () => {
    const raw = readerManifestJson(tiny, { readerGraph: true }) as unknown as {
      architecture: { mac: Record<string, unknown> };
    };
    delete raw.architecture.mac.reader;
    expect(() => parseManifest(raw)).toThrow(/graphs.reader is the memory's lm_tap reader/);
    const noTap = readerManifestJson(tiny, { readerGraph: true }) as unknown as {
      graphs: { reader: { outputs: unknown[] } };
    };
    noTap.graphs.reader.outputs = [];
    expect(() => parseManifest(noTap)).toThrow(/graphs.reader has no output named tap/);
    const extra = readerManifestJson(tiny, { readerGraph: true }) as unknown as {
      graphs: { reader: { inputs: unknown[] } };
    };
    extra.graphs.reader.inputs.push({ name: "tap_only", dtype: "int64", shape: [1] });
    expect(() => parseManifest(extra)).toThrow(
      /graphs.reader.tap_only: a reader reads ids, positions, a mask and empty caches only/,
    );
  });

  it("keeps format-1 heads on token ids, unchanged", async () => {
    const manifest = parseManifest(tiny);
    const amortizer = new Recorder((f) => ({ modulation: zeros([f.input_ids!.dims[0]!, T, D]) }));
    const lm = new FakeTapLM(V, {}, D);
    const p = new MacPipeline(manifest, { lm, amortizer }, chars);
    expect(p.reader).toBeNull();
    expect(p.cachesEntryKV).toBe(true);
    expect(p.chunkIds("ab  cd")).toEqual([chars.encode("ab cd")]);
    await p.amortize([[5, 6, 7], [8]]);
    expect(lm.feeds).toHaveLength(0);
    expect(rows(amortizer.feeds[0]!.input_ids!)).toEqual([
      [5, 6, 7],
      [8, PAD, PAD],
    ]);
    const m = Float32Array.from({ length: T * D }, (_, i) => i / 7);
    expect(p.asStored([m])[0]).toBe(m); // float32 storage: as amortized
  });
});
