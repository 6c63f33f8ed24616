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

test("tokenizer.json in Node reproduces SentencePiece ids on >= 1 MB of varied text", () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mnemo-parity-")), "parity.jsonl");
  execFileSync(process.env.MNEMO_PYTHON ?? "/usr/bin/python3", ["-m", "mnemo_models.parity_text", "--out", out], { cwd: modelsDir });
  const tok = new Tokenizer(JSON.parse(fs.readFileSync(path.join(modelsDir, "tokenizer", "tokenizer.json"), "utf8")), {});
  const rows = fs.readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  let bytes = 0, mismatches = [];
  for (const { text, ids } of rows) {
    bytes += Buffer.byteLength(text);
    const got = text.length ? tok.encode(text, { add_special_tokens: false }).ids : [];
    if (JSON.stringify(got) !== JSON.stringify(ids)) mismatches.push({ text: text.slice(0, 80), got: got.slice(0, 12), want: ids.slice(0, 12) });
  }
  assert.ok(bytes >= 1_000_000, `only ${bytes} bytes compared`);
  assert.deepEqual(mismatches.slice(0, 3), [], `${mismatches.length} of ${rows.length} texts differ`);
});
