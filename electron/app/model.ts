// The model the app runs: a bundle's manifest, its tokenizer in this process (for chunking) and the
// engine worker that holds its sessions. Chunk sizes come from the manifest, never from constants.
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { BundleManifest } from "../shared/manifest.js";
import type { ModulationStorage } from "../shared/modulation-codec.js";
import type { TextTokenizer } from "../core/pipeline.js";
import { hfTokenizer, readManifest } from "../engine/bundle.js";
import { EngineClient } from "../engine/engine-client.js";
import type { SessionSettings } from "../engine/ort-session.js";
import type { ChunkOptions } from "../vault/chunker.js";

export interface Model {
  dir: string;
  manifest: BundleManifest;
  tokenizer: TextTokenizer;
  engine: EngineClient;
  chunking: ChunkOptions;
  /** [n_slots, n_embd]: the shape of one modulation. */
  slots: number;
  width: number;
  /** How the vault keeps this bundle's modulations (the manifest's mac.storage; float32 without it). */
  storage: ModulationStorage;
  /**
   * The bundle's sentence encoder: its identity (the sha256 of its graph, which every stored vector is
   * tagged with, so a changed encoder means re-embedding) and its width; null when the bundle has none.
   */
  encoder: { id: string; dim: number } | null;
}

export function encoderOf(manifest: BundleManifest): Model["encoder"] {
  const graph = manifest.graphs.encoder,
    spec = manifest.architecture.encoder;
  const file = graph && manifest.files[graph.file];
  return file && spec ? { id: file.sha256, dim: spec.hidden } : null;
}

export async function loadModel(
  dir: string,
  settings: Omit<SessionSettings, "onWarning">,
  onWarning: (m: string) => void,
): Promise<Model> {
  const manifest = await readManifest(dir);
  const tokenizer = hfTokenizer(JSON.parse(await readFile(path.join(dir, manifest.tokenizer), "utf8")));
  const engine = new EngineClient(onWarning);
  try {
    await engine.load(dir, settings);
  } catch (e) {
    await engine.close();
    throw e;
  }
  const { chunk_tokens, overlap_tokens } = manifest.retrieval;
  // Without memory heads a chunk has no modulation: its shape is [0, 0] and nothing is stored for it.
  return {
    dir,
    manifest,
    tokenizer,
    engine,
    chunking: { maxTokens: chunk_tokens, overlapTokens: overlap_tokens },
    slots: manifest.mac?.n_slots ?? 0,
    width: manifest.mac ? manifest.architecture.lm.n_embd : 0,
    storage: manifest.mac?.storage ?? "float32",
    encoder: encoderOf(manifest),
  };
}
