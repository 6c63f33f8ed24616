import { describe, expect, it } from "vitest";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { int64Tensor } from "../core/session.js";
import { createSession, sessionOptions } from "./ort-session.js";

const tinyLm = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../models/bundles/tiny-random/lm.onnx");

describe("session options", () => {
  it("stop every session's threads spinning when its run ends, except the one asked to keep spinning (the LM)", () => {
    expect(sessionOptions(false).extra).toEqual({ session: { force_spinning_stop: "1" } });
    expect(sessionOptions(true).extra).toBeUndefined();
    for (const spin of [false, true]) expect(sessionOptions(spin).graphOptimizationLevel).toBe("all");
  });

  it("are accepted by onnxruntime-node, spinning or not", async () => {
    for (const spin of [false, true]) {
      const lm = await createSession(tinyLm, { executionProvider: "cpu", threads: 1 }, spin);
      const out = await lm.run(
        {
          input_ids: int64Tensor([[1, 2]]),
          position_ids: int64Tensor([[0, 1]]),
          attention_mask: int64Tensor([[1, 1]]),
          past_key_values: { type: "float32", data: new Float32Array(0), dims: [2, 2, 1, 2, 0, 16] },
        },
        ["logits"],
      );
      expect(out["logits"]!.dims[0]).toBe(1);
    }
  });
});
