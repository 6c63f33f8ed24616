// npm run bench:reader [-- --bundle DIR --paragraphs N --threads N --out DIR]: MAC's reader, the LM
// pass that ingestion makes over every chunk: the bundle's reader graph (graphs.reader: the pre-tap
// blocks on int8 rows x int8 columns, models/mnemo_models/onnx_fast_tap.py) against the same tap from
// the LM graph alone (tap_only = 1: the exact Q8_0 blocks that answers use), in the same process:
// ms per window, and how far the modulations the memory keeps move (relative L2 error, mean and max)
// over SQuAD valid paragraphs.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { gunzipSync } from "node:zlib";
import { packedPastAdapter } from "../core/layer-cache.js";
import { readerBatch, windowRows } from "../core/reader.js";
import { floats, type Session, type Tensor } from "../core/session.js";
import { DEFAULT_BUNDLE } from "../app/paths.js";
import { loadBundle } from "../engine/bundle.js";
import { createSession } from "../engine/ort-session.js";
import { takesLayerCache } from "../shared/manifest.js";
import { AppError } from "../shared/errors.js";
import { record } from "./record.js";

const repo = path.resolve(import.meta.dirname, "../..");

export const relativeError = (a: Float32Array, b: Float32Array) => {
  let num = 0,
    den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
};

function validParagraphs(n: number): string[] {
  const file = path.join(repo, "../shared/data/squad/valid-v1.1.json.gz");
  if (!existsSync(file))
    throw new AppError("INVALID_ARGUMENT", `${file} is missing: the reader benchmark reads SQuAD valid paragraphs`);
  const data = JSON.parse(gunzipSync(readFileSync(file)).toString("utf8")) as {
    data: { paragraphs: { context: string }[] }[];
  };
  return data.data.flatMap((a) => a.paragraphs.map((p) => p.context)).slice(0, n);
}

export async function benchReader(o: { bundle: string; paragraphs: number; threads: number }) {
  const mac = await loadBundle(o.bundle, { executionProvider: "cpu", threads: o.threads });
  const reader = mac.reader;
  if (!reader || !mac.stopsAtTap)
    throw new AppError("INVALID_ARGUMENT", `${mac.manifest.id} has no LM-tap reader with a tap_only input`);
  const spec = mac.manifest.graphs.reader;
  if (!spec)
    throw new AppError(
      "INVALID_ARGUMENT",
      `${mac.manifest.id} has no reader graph: the LM graph's tap is the only one`,
    );
  const settings = { executionProvider: "cpu" as const, threads: o.threads };
  const raw = await createSession(path.join(o.bundle, mac.manifest.graphs.lm.file), settings, true);
  const lm: Session = takesLayerCache(mac.manifest.graphs.lm.inputs) ? packedPastAdapter(raw) : raw;
  const own = await createSession(path.join(o.bundle, spec.file), settings);
  const amortizer = await createSession(path.join(o.bundle, mac.manifest.graphs.amortizer!.file), settings);
  const windows = validParagraphs(o.paragraphs).map((t) => mac.chunkIds(t)[0]!);
  const tapOf = async (window: number[], fast: boolean): Promise<Tensor> => {
    const feeds = readerBatch(reader.prefix_ids, [window], mac.manifest.special_ids.pad);
    const out = fast
      ? await own.run({ ...feeds, ...mac.readerCaches() }, [reader.output])
      : await lm.run(
          {
            ...feeds,
            past_key_values: mac.emptyPast(),
            tap_only: { type: "int64", data: BigInt64Array.of(1n), dims: [1] },
          },
          [reader.output],
        );
    return out[reader.output]!;
  };
  const modulation = async (tap: Tensor, n: number) =>
    floats((await amortizer.run(windowRows(tap, reader.prefix_ids.length, [n]))).modulation!);
  await tapOf(windows[0]!, true); // warm-up: each graph once
  await tapOf(windows[0]!, false);
  const ms = { reader: 0, lm: 0 },
    errors: number[] = [];
  for (const w of windows) {
    let t = performance.now();
    const fast = await tapOf(w, true);
    ms.reader += performance.now() - t;
    t = performance.now();
    const exact = await tapOf(w, false);
    ms.lm += performance.now() - t;
    errors.push(relativeError(await modulation(fast, w.length), await modulation(exact, w.length)));
  }
  const n = windows.length,
    tokens = windows.reduce((s, w) => s + w.length + reader.prefix_ids.length, 0) / n;
  return {
    bundle: mac.manifest.id,
    fast_tap: reader.fast_tap ?? null,
    windows: n,
    mean_tokens: tokens,
    reader_graph_ms_per_window: ms.reader / n,
    lm_graph_tap_only_ms_per_window: ms.lm / n,
    modulation_rel_error_mean: errors.reduce((a, b) => a + b, 0) / n,
    modulation_rel_error_max: Math.max(...errors),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bundle: { type: "string", default: DEFAULT_BUNDLE },
      paragraphs: { type: "string", default: "64" },
      threads: { type: "string", default: "2" },
      out: { type: "string", default: "docs/bench" },
    },
  });
  const r = await benchReader({
    bundle: values.bundle,
    paragraphs: Number(values.paragraphs),
    threads: Number(values.threads),
  });
  const f = (v: number, d = 1) => v.toFixed(d);
  record({
    out: values.out,
    name: "reader",
    title: "Reader benchmark",
    script: "bench:reader",
    bundle: r.bundle,
    data: r,
    body: [
      `${r.windows} SQuAD valid paragraphs, one window each (${f(r.mean_tokens, 0)} tokens with the reader's frame), one at a time, ` +
        "alternating the two graphs.",
      "",
      "| the tap from | ms per window |",
      "|---|---:|",
      `| the reader graph (${r.fast_tap ? `${r.fast_tap.activations}; ${r.fast_tap.weights}` : "as the manifest describes it"}): what ingestion runs | ${f(r.reader_graph_ms_per_window)} |`,
      `| the LM graph alone, tap_only = 1 (the exact Q8_0 blocks answers use) | ${f(r.lm_graph_tap_only_ms_per_window)} |`,
      "",
      `Modulations from the reader graph's tap against the LM graph's: relative L2 error ${f(100 * r.modulation_rel_error_mean, 2)}% on average, ` +
        `${f(100 * r.modulation_rel_error_max, 2)}% at most.`,
    ],
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
