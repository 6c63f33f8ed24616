// Node @huggingface/tokenizers against the ids in JSONL files ({text, ids} per line, e.g. from
// python -m mnemo_models.parity_text --hf-tokenizer T): node models/bench/tokenizer_parity_node.mjs T FILE...
import fs from "node:fs";
import { Tokenizer } from "@huggingface/tokenizers";
const [tokFile, ...files] = process.argv.slice(2);
const tok = new Tokenizer(JSON.parse(fs.readFileSync(tokFile, "utf8")), {});
let n = 0, bytes = 0, bad = [];
for (const f of files) for (const line of fs.readFileSync(f, "utf8").trim().split("\n")) {
  const { text, ids } = JSON.parse(line); n++; bytes += Buffer.byteLength(text);
  const got = text.length ? tok.encode(text, { add_special_tokens: false }).ids : [];
  if (JSON.stringify(got) !== JSON.stringify(ids)) bad.push(text.slice(0, 60));
}
console.log(JSON.stringify({ texts: n, bytes, mismatches: bad.length, examples: bad.slice(0, 5) }));
