// Loading a bundle folder: manifest validation, sha256 of every file, tokenizer, one session per graph.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { AppError } from "../shared/errors.js";
import { parseManifest, type BundleManifest, type GraphName } from "../shared/manifest.js";
import { MacPipeline, type TextTokenizer } from "../core/pipeline.js";
import type { Sessions } from "../core/session.js";
import { createSession, type SessionSettings } from "./ort-session.js";

export const DEFAULT_SETTINGS: SessionSettings = { executionProvider: "cpu", threads: 0 };

export async function readManifest(dir: string): Promise<BundleManifest> {
  const file = path.join(dir, "manifest.json");
  if (!existsSync(file)) {
    throw new AppError(
      "BUNDLE_NOT_FOUND",
      `no model bundle at ${dir} (manifest.json missing); ` +
        "`npm run setup` builds the default one, or pass --bundle DIR",
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, "utf8"));
  } catch (e) {
    throw new AppError("BUNDLE_INVALID", `${file} is not valid JSON: ${(e as Error).message}`);
  }
  return parseManifest(raw);
}

/** Refuses a bundle whose files are missing or differ from the manifest's sha256 (tampered or corrupt). */
export async function verifyFiles(dir: string, manifest: BundleManifest): Promise<void> {
  for (const [name, { sha256 }] of Object.entries(manifest.files)) {
    const file = path.join(dir, name);
    if (path.dirname(path.resolve(file)) !== path.resolve(dir))
      throw new AppError("BUNDLE_INVALID", `manifest.json: file ${name} is outside the bundle`);
    if (!existsSync(file)) throw new AppError("BUNDLE_INVALID", `bundle file ${name} is missing from ${dir}`);
    const digest = createHash("sha256")
      .update(await readFile(file))
      .digest("hex");
    if (digest !== sha256)
      throw new AppError("BUNDLE_HASH_MISMATCH", `bundle file ${name} does not match its sha256 in manifest.json`);
  }
}

export function hfTokenizer(json: object): TextTokenizer {
  const tok = new Tokenizer(json, {});
  return {
    encode: (text) => (text.length ? tok.encode(text, { add_special_tokens: false }).ids : []),
    // The model's text as it is: the library's default "clean-up" would join " ." and " 's" (Python's
    // tokenizers, which made the fixtures, does not).
    decode: (ids) => (ids.length ? tok.decode(ids, { clean_up_tokenization_spaces: false }) : ""),
  };
}

export async function loadBundle(dir: string, settings: SessionSettings = DEFAULT_SETTINGS): Promise<MacPipeline> {
  const manifest = await readManifest(dir);
  await verifyFiles(dir, manifest);
  const tokenizer = hfTokenizer(JSON.parse(await readFile(path.join(dir, manifest.tokenizer), "utf8")));
  // The encoder graph has its own loader (engine/encoder.ts); the pipeline runs the LM and memory graphs.
  const names = (Object.keys(manifest.graphs) as GraphName[]).filter((n) => n !== "encoder" && manifest.graphs[n]);
  const sessions = Object.fromEntries(
    await Promise.all(
      names.map(
        async (n) => [n, await createSession(path.join(dir, manifest.graphs[n]!.file), settings, n === "lm")] as const,
      ),
    ),
  ) as Sessions;
  return new MacPipeline(manifest, sessions, tokenizer);
}
