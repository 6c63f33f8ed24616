// A bundle for tests and benchmarks of retrieval: the committed tiny random-weights LM (loads in
// milliseconds, answers nonsense) with the real sentence encoder of the setup-built bundle, linked,
// not copied. Ingest, dense search and the answer policy then run exactly as on the real model.
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { defaultBundleDir } from "../app/paths.js";

const repo = path.resolve(import.meta.dirname, "../..");
export const TINY_BUNDLE = path.join(repo, "models/bundles/tiny-random");

/** The setup-built bundle when it has an encoder, else null (then the tests that need one skip). */
export function encoderSource(dir = defaultBundleDir()): string | null {
  const file = path.join(dir, "manifest.json");
  if (!existsSync(file)) return null;
  const m = JSON.parse(readFileSync(file, "utf8")) as { graphs?: { encoder?: unknown } };
  return m.graphs?.encoder ? dir : null;
}

/**
 * Writes <out>/manifest.json (the tiny bundle's, plus the encoder's graph, architecture and file
 * entries) and links every file of both into out. `id` names the result (a different id is a
 * different bundle to the app). Returns out.
 */
export function makeEncoderBundle(out: string, source: string, id = "tiny-random-with-encoder"): string {
  const tiny = JSON.parse(readFileSync(path.join(TINY_BUNDLE, "manifest.json"), "utf8"));
  const real = JSON.parse(readFileSync(path.join(source, "manifest.json"), "utf8"));
  const enc = real.architecture.encoder as { tokenizer: string; fixtures?: string };
  const encoderFiles = [real.graphs.encoder.file as string, enc.tokenizer, ...(enc.fixtures ? [enc.fixtures] : [])];
  const manifest = {
    ...tiny,
    id,
    graphs: { ...tiny.graphs, encoder: real.graphs.encoder },
    architecture: { ...tiny.architecture, encoder: enc },
    files: { ...tiny.files, ...Object.fromEntries(encoderFiles.map((f) => [f, real.files[f]])) },
  };
  mkdirSync(out, { recursive: true });
  for (const f of Object.keys(tiny.files))
    if (!existsSync(path.join(out, f))) symlinkSync(path.join(TINY_BUNDLE, f), path.join(out, f));
  for (const f of encoderFiles)
    if (!existsSync(path.join(out, f))) symlinkSync(path.join(source, f), path.join(out, f));
  writeFileSync(path.join(out, "manifest.json"), JSON.stringify(manifest, null, 1));
  return out;
}
