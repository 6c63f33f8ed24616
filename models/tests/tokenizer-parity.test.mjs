// @huggingface/tokenizers in Node must give exactly SentencePiece's ids (Python) on >= 1 MB of varied
// text: prose, code, digits, whitespace runs, many scripts, emoji, byte-fallback characters.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { Tokenizer } from "@huggingface/tokenizers";

const modelsDir = path.resolve(import.meta.dirname, "..");

const python = process.env.MNEMO_PYTHON ?? path.join(modelsDir, ".venv", "bin", "python");

/** Python's ids for the corpus (parity_text.py) and Node's from the same tokenizer.json must agree. */
function compare(tokenizerJson, extraArgs) {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mnemo-parity-")), "parity.jsonl");
  execFileSync(python, ["-m", "mnemo_models.parity_text", "--out", out, ...extraArgs], { cwd: modelsDir });
  const tok = new Tokenizer(JSON.parse(fs.readFileSync(tokenizerJson, "utf8")), {});
  const rows = fs.readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  let bytes = 0, mismatches = [];
  for (const { text, ids } of rows) {
    bytes += Buffer.byteLength(text);
    const got = text.length ? tok.encode(text, { add_special_tokens: false }).ids : [];
    if (JSON.stringify(got) !== JSON.stringify(ids)) mismatches.push({ text: text.slice(0, 80), got: got.slice(0, 12), want: ids.slice(0, 12) });
  }
  assert.ok(bytes >= 1_000_000, `only ${bytes} bytes compared`);
  assert.deepEqual(mismatches.slice(0, 3), [], `${mismatches.length} of ${rows.length} texts differ`);
}

test("tokenizer.json in Node reproduces SentencePiece ids on >= 1 MB of varied text", () => {
  compare(path.join(modelsDir, "tokenizer", "tokenizer.json"), []);
});

// The real bundle's tokenizer, rebuilt from the GGUF vocabulary: Node's @huggingface/tokenizers
// against the Rust `tokenizers` library, chat markers and non-ASCII included. Setup builds the
// bundle; in CI its absence is a failure, elsewhere the test says it skipped.
const { defaultBundleDir } = await import("../../out/app/paths.js");        // test.sh compiles out/ first
const real = path.join(defaultBundleDir(), "tokenizer.json");
test("the real bundle's tokenizer.json: Node ids equal the tokenizers library's on >= 1 MB", { skip: !fs.existsSync(real) && !process.env.CI && "no real bundle built (npm run setup)" }, () => {
  compare(real, ["--hf-tokenizer", real]);
});
