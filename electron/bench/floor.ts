// This machine's physical floor for the engine's figures: decoding one token reads every LM weight
// once (batch 1), so tokens/s <= memory bandwidth / weight bytes; amortizing a window costs its
// matmul FLOPs, so windows/s <= matmul throughput / FLOPs per window. Both throughputs are measured.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { MacPipeline } from "../core/pipeline.js";
import { floatTensor } from "../core/session.js";
import { createSession } from "../engine/ort-session.js";

export interface Floor {
  memory_gb_per_s: number;
  lm_weight_bytes: number;
  decode_tokens_per_s_floor: number;
  matmul_gflop_per_s: number | null;
  amortizer_gflop_per_window: number | null;
  windows_per_s_floor: number | null;
}

/** Copy bandwidth of a 256 MB array (bytes read + written per second), best of five. */
function memoryBandwidth(): number {
  const src = new Float64Array(32 * 2 ** 20).fill(1),
    dst = new Float64Array(src.length);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    dst.set(src);
    best = Math.min(best, performance.now() - t);
  }
  return (2 * src.byteLength) / (best / 1000);
}

/** onnxruntime's best fp32 MatMul throughput over a square shape and the amortizer's own shapes
 * (B*S x D by D x 4D and back), on graphs written by Python's onnx package; null without Python/onnx. */
async function matmulThroughput(threads: number, D: number, S: number): Promise<number | null> {
  const shapes: [number, number, number][] = [
    [1024, 1024, 1024],
    [16 * S, D, 4 * D],
    [16 * S, 4 * D, D],
  ];
  let best: number | null = null;
  for (const [m, k, n] of shapes) {
    const g = await oneMatmul(threads, m, k, n);
    if (g !== null) best = Math.max(best ?? 0, g);
  }
  return best;
}

async function oneMatmul(threads: number, m: number, k: number, n: number): Promise<number | null> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mnemo-floor-"));
  const file = path.join(dir, "matmul.onnx");
  try {
    const py = spawnSync(
      process.env.MNEMO_PYTHON ?? "/usr/bin/python3",
      [
        "-c",
        `import onnx
from onnx import helper, TensorProto as T
g = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "mm",
    [helper.make_tensor_value_info("a", T.FLOAT, [${m}, ${k}]), helper.make_tensor_value_info("b", T.FLOAT, [${k}, ${n}])],
    [helper.make_tensor_value_info("c", T.FLOAT, [${m}, ${n}])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), "${file}")`,
      ],
      { encoding: "utf8" },
    );
    if (py.status !== 0) return null;
    const session = await createSession(file, { executionProvider: "cpu", threads });
    const a = floatTensor(new Float32Array(m * k).fill(0.5), [m, k]),
      b = floatTensor(new Float32Array(k * n).fill(0.5), [k, n]);
    await session.run({ a, b });
    let bestMs = Infinity;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await session.run({ a, b });
      bestMs = Math.min(bestMs, performance.now() - t);
    }
    return (2 * m * k * n) / (bestMs / 1000) / 1e9;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Matmul FLOPs of one amortizer window of S tokens: encoder blocks 24*S*D^2 (QKV, output, 4x MLP)
 * plus 4*S^2*D attention; slot-decoder blocks on T slots: 24*T*D^2, 4*S*D^2 for keys and values of
 * the S tokens, 4*T*S*D cross-attention. Embedding lookups are free.
 */
export function amortizerFlops(mac: MacPipeline, S: number): number | null {
  const a = mac.manifest.mac,
    D = mac.D,
    T = mac.T;
  if (!a?.amortizer_enc_layers || !a.amortizer_dec_layers) return null;
  return (
    a.amortizer_enc_layers * (24 * S * D * D + 4 * S * S * D) +
    a.amortizer_dec_layers * (24 * T * D * D + 4 * S * D * D + 4 * T * S * D)
  );
}

export async function measureFloor(
  mac: MacPipeline,
  bundleDir: string,
  windowTokens: number,
  threads = 0,
): Promise<Floor> {
  const bandwidth = memoryBandwidth();
  // fp16-stored initializers are widened to fp32 when onnxruntime loads the graph.
  const stored = statSync(path.join(bundleDir, mac.manifest.graphs.lm.file)).size;
  const lmBytes = /fp16/.test(mac.manifest.weights ?? "") ? 2 * stored : stored;
  const gflops = await matmulThroughput(threads, mac.D, windowTokens);
  const flops = amortizerFlops(mac, windowTokens);
  return {
    memory_gb_per_s: bandwidth / 1e9,
    lm_weight_bytes: lmBytes,
    decode_tokens_per_s_floor: bandwidth / lmBytes,
    matmul_gflop_per_s: gflops,
    amortizer_gflop_per_window: flops && flops / 1e9,
    windows_per_s_floor: gflops && flops ? (gflops * 1e9) / flops : null,
  };
}
