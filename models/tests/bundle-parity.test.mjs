// Export round-trip: every ONNX graph of a bundle, run in onnxruntime-node, reproduces the PyTorch
// golden fixtures (relative error <= manifest tolerance) and greedy decoding gives the same tokens.
// Bundle: MNEMO_BUNDLE or models/bundles/tiny-random (and models/bundles/default when present).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import ort from "onnxruntime-node";

const root = path.resolve(import.meta.dirname, "..", "bundles");
const bundles = process.env.MNEMO_BUNDLE ? [process.env.MNEMO_BUNDLE]
  : ["tiny-random", "default"].map((b) => path.join(root, b)).filter((d) => fs.existsSync(path.join(d, "manifest.json")));

const tensor = (fx, type = "float32") =>
  new ort.Tensor(type, type === "int64" ? BigInt64Array.from(fx.data.map(BigInt)) : Float32Array.from(fx.data), fx.shape);

function relErr(actual, expected) {
  let num = 0, den = 0;
  for (let i = 0; i < expected.length; i++) { num += (actual[i] - expected[i]) ** 2; den += expected[i] ** 2; }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

function argmax(a, from, to) { let best = from; for (let i = from; i < to; i++) if (a[i] > a[best]) best = i; return best - from; }

for (const dir of bundles) {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
  const fx = JSON.parse(fs.readFileSync(path.join(dir, manifest.fixtures), "utf8"));
  const tol = fx.tolerance.relative;
  const sessions = {};
  const run = async (name, feeds) => {
    sessions[name] ??= await ort.InferenceSession.create(path.join(dir, manifest.graphs[name].file));
    return sessions[name].run(feeds);
  };
  const close = (name, actual, expected) => {
    assert.deepEqual(Array.from(actual.dims), expected.shape, `${name} shape`);
    const err = relErr(actual.data, expected.data);
    assert.ok(err <= tol, `${name}: relative error ${err} > ${tol}`);
  };

  test(`${manifest.id}: manifest hashes match the files`, () => {
    for (const [file, { sha256 }] of Object.entries(manifest.files)) {
      const digest = createHash("sha256").update(fs.readFileSync(path.join(dir, file))).digest("hex");
      assert.equal(digest, sha256, file);
    }
  });

  test(`${manifest.id}: graphs reproduce the PyTorch fixtures`, async () => {
    const a = await run("amortizer", { input_ids: tensor(fx.amortizer.input_ids, "int64"), attention_mask: tensor(fx.amortizer.attention_mask, "int64") });
    close("modulation", a.modulation, fx.amortizer.modulation);
    const qIds = { data: fx.question_ids, shape: [1, fx.question_ids.length] };
    const q = await run("question_encoder", { input_ids: tensor(qIds, "int64"), attention_mask: tensor({ data: fx.question_ids.map(() => 1), shape: qIds.shape }, "int64") });
    close("query", q.query, fx.question_encoder.query);
    const kv = await run("memory_kv", { modulations: a.modulation });
    close("memory_kv", kv.memory_kv, fx.memory_kv.memory_kv);
    const agg = await run("aggregator", { query: q.query, memory_kv: kv.memory_kv });
    close("latent", agg.latent, fx.aggregator.latent);
    close("entry_weights", agg.entry_weights, fx.aggregator.entry_weights);
    const pre = await run("prefix", { latent: agg.latent });
    close("prefix_kv", pre.prefix_kv, fx.prefix.prefix_kv);
  });

  test(`${manifest.id}: greedy decoding behind the prefix gives the fixture tokens`, async () => {
    const stop = new Set(manifest.generation.stop_ids);
    const prefix = tensor(fx.prefix.prefix_kv);
    const P = manifest.prefix.length, off = manifest.prefix.position_offset, V = manifest.architecture.lm.vocab_size;
    let ids = fx.question_ids, pos = ids.map((_, i) => i + off), past = prefix, out = [];
    for (let step = 0; step < fx.lm.max_new_tokens; step++) {
      const S = ids.length, total = past.dims[4] + S;
      const r = await run("lm", {
        input_ids: tensor({ data: ids, shape: [1, S] }, "int64"), position_ids: tensor({ data: pos, shape: [1, S] }, "int64"),
        attention_mask: tensor({ data: Array(total).fill(1), shape: [1, total] }, "int64"), past_key_values: past });
      if (step === 0) {
        const last = r.logits.data.slice((S - 1) * V, S * V);
        assert.ok(relErr(last, fx.lm.first_logits_last.data) <= tol, "first-step logits");
        assert.equal(past.dims[4], P);
      }
      const tok = argmax(r.logits.data, (S - 1) * V, S * V);
      if (stop.has(tok)) break;
      out.push(tok);
      past = r.present_key_values; pos = [pos[pos.length - 1] + 1]; ids = [tok];
    }
    assert.deepEqual(out, fx.lm.greedy_with_prefix);
  });
}
