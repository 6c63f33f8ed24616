// Parity of the setup-built real bundle (the default LM, format 2) with its PyTorch fixtures: the chat
// template rendered in one place gives Python's prompt, the same token ids, the ONNX logits match
// PyTorch's, and greedy decoding gives the same tokens and stops at the end-of-turn token.
// Setup builds the bundle; in CI a missing one fails, elsewhere these tests are skipped.
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { packedPastAdapter } from "../core/layer-cache.js";
import { renderPrompt } from "../core/prompt.js";
import { argmax } from "../core/sampler.js";
import { floats, int64Tensor } from "../core/session.js";
import { defaultBundleDir } from "../app/paths.js";
import { takesLayerCache } from "../shared/manifest.js";
import { loadBundle } from "./bundle.js";
import { createSession } from "./ort-session.js";

const dir = defaultBundleDir();
const built = existsSync(path.join(dir, "manifest.json"));
if (!built && process.env.CI) throw new Error(`CI: the real bundle is missing at ${dir} (npm run setup builds it)`);

interface Case {
  kind: "gold" | "question";
  passage: string | null;
  question: string;
  prompt: string;
  ids: number[];
  greedy: number[];
  logits: { ids: number[]; values: number[] };
}

describe.skipIf(!built)("the setup-built real bundle", async () => {
  const fx = built
    ? (JSON.parse(readFileSync(path.join(dir, "fixtures.json"), "utf8")).lm as { cases: Case[]; new_tokens: number })
    : null;
  const mac = built ? await loadBundle(dir, { executionProvider: "cpu", threads: 2 }) : null;

  it("is format 2 with grouped-query attention, and memory heads only if they read the LM's tap", () => {
    const m = mac!.manifest;
    expect(m.version.major).toBe(2);
    expect(m.architecture.lm.n_kv_head).toBeLessThan(m.architecture.lm.n_head);
    // None until the Gemma heads are trained (models/mnemo_models/train_mac_gemma.py); then lm_tap heads.
    if (m.mac) expect(m.mac.reader?.kind).toBe("lm_tap");
    expect(m.sources?.map((s) => s.licence)).toContain("Apache-2.0");
  });

  it("renders Python's prompts and tokenizes them to the same ids", () => {
    for (const c of fx!.cases) {
      const context = c.passage ? { kind: "gold" as const, passages: [c.passage] } : undefined;
      expect(renderPrompt(mac!.manifest, c.question, context)).toBe(c.prompt);
      expect(mac!.tokenizer.encode(c.prompt)).toEqual(c.ids);
    }
  });

  // 8-bit MatMulNBits runs on int8 activations, so ONNX Runtime's logits differ a little from
  // PyTorch's float product: measured max |diff| / logit range 0.004 (SmolLM2 q4, 0.18 of ~40) and
  // 0.010 (Gemma 3 q8, every layer 8-bit: 0.36 of ~37). The bound is 2% of the range, and the argmax must agree.
  it("gives PyTorch's logits at the first step (within 2% of their range) and the same top token", async () => {
    const raw = await createSession(path.join(dir, mac!.manifest.graphs.lm.file), {
      executionProvider: "cpu",
      threads: 2,
    });
    // a packed past, split per layer
    const lm = takesLayerCache(mac!.manifest.graphs.lm.inputs) ? packedPastAdapter(raw) : raw;
    for (const c of fx!.cases) {
      const out = await lm.run({
        input_ids: int64Tensor([c.ids]),
        position_ids: int64Tensor([c.ids.map((_, i) => i)]),
        attention_mask: int64Tensor([c.ids.map(() => 1)]),
        past_key_values: mac!.emptyPast(),
        ...(mac!.stopsAtTap ? { tap_only: { type: "int64", data: BigInt64Array.of(0n), dims: [1] } } : {}),
      });
      const V = mac!.manifest.architecture.lm.vocab_size,
        rows = out.logits!.dims[1]!;
      expect(rows).toBe(1); // the graph returns the last position only
      const last = floats(out.logits!).subarray((rows - 1) * V, rows * V);
      const diff = Math.max(...c.logits.ids.map((id, k) => Math.abs(last[id]! - c.logits.values[k]!)));
      const range = Math.max(...c.logits.values) - Math.min(...c.logits.values);
      expect(diff / range).toBeLessThan(0.02);
      expect(argmax(last)).toBe(c.logits.ids[c.logits.values.indexOf(Math.max(...c.logits.values))]);
    }
  });

  it("decodes PyTorch's greedy tokens with the KV cache", async () => {
    for (const c of fx!.cases) {
      const got: number[] = [];
      for await (const t of mac!.decode(c.ids, mac!.emptyPast(), { sample: argmax, maxNewTokens: fx!.new_tokens }))
        got.push(t);
      expect(got).toEqual(c.greedy);
    }
  });

  it("stops at the end-of-turn token and answers from the passage", async () => {
    const c = fx!.cases[0]!;
    const { promptIds } = await mac!.encodeQuestion(c.question, { kind: "gold", passages: [c.passage!] }, false, false);
    const ids: number[] = [];
    for await (const t of mac!.decode(promptIds, mac!.emptyPast(), { sample: argmax, maxNewTokens: 64, long: true }))
      ids.push(t);
    expect(ids.length).toBeLessThan(64); // ended by a stop token (end of turn, paragraph), not the budget
    expect(mac!.tokenizer.decode(ids)).toMatch(/1889/);
  });
});
