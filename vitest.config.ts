import { defineConfig } from "vitest/config";

// Many tests spawn the CLI or load ONNX sessions; on a loaded 2-core CI machine those take seconds.
// The timeout guards against hangs only: speed is measured by the benchmarks, never asserted here.
export default defineConfig({
  test: { include: ["electron/**/*.test.ts", "build/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 120_000 },
});
