// The CLI end to end on the tiny bundle (compiled output: `npm test` runs tsc -b first).
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import path from "node:path";

const repo = path.resolve(import.meta.dirname, "../..");
const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(repo, "out/cli/main.js"), ...args], { cwd: repo, encoding: "utf8" });
const tiny = ["--bundle", "models/bundles/tiny-random"];

describe("mnemo ask", () => {
  it("answers with sources and timings as JSON", () => {
    const r = cli("ask", ...tiny, "--json", "--doc", "resources/samples/eiffel-tower.md", "--doc", "resources/samples/marie-curie.md", "When was it completed?");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(typeof out.answer).toBe("string");
    expect(out.sources.map((s: { document: string }) => s.document).sort()).toEqual(["eiffel-tower.md", "marie-curie.md"]);
    expect(out.timings.totalMs).toBeGreaterThan(0);
  });

  it("streams the same answer as text", () => {
    const args = ["--doc", "resources/samples/eiffel-tower.md", "When was it completed?"];
    const json = JSON.parse(cli("ask", ...tiny, "--json", ...args).stdout);
    const text = cli("ask", ...tiny, ...args);
    expect(text.stdout.split("\n")[0]!.trim()).toBe(json.answer);
    expect(text.stdout).toMatch(/sources: eiffel-tower\.md \(\d+\.\d%\)/);
  });

  it("gives clear errors for a missing bundle, an unreadable file and an empty question", () => {
    expect(cli("ask", "--bundle", "/no/such/bundle", "q").stderr).toMatch(/no model bundle at \/no\/such\/bundle/);
    const unreadable = cli("ask", ...tiny, "--doc", "/no/such.md", "q");
    expect(unreadable.status).toBe(2);
    expect(unreadable.stderr).toMatch(/cannot read \/no\/such\.md: ENOENT/);
    expect(cli("ask", ...tiny, "  ").stderr).toMatch(/the question is empty/);
    expect(cli("ask", ...tiny, "--provider", "tpu", "q").stderr).toMatch(/--provider must be cpu, cuda or dml, got tpu/);
  });

  it("falls back to CPU with a warning when a GPU provider is not available", () => {
    const r = cli("ask", ...tiny, "--provider", "cuda", "--doc", "resources/samples/eiffel-tower.md", "When?");
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/warning: execution provider cuda is not available .*using CPU/);
  });
});
