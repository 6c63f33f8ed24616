// `mnemo models` end to end (compiled CLI) over a cache of two tiny bundles made here: list as text
// and JSON, use (remembered: the next `mnemo ask` without --bundle answers with it), and bad calls.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { listText, speedText } from "./models-command.js";

const repo = path.resolve(import.meta.dirname, "../..");
const root = mkdtempSync(path.join(os.tmpdir(), "mnemo-models-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const bundles = path.join(root, "cache", "bundles");
mkdirSync(bundles, { recursive: true });
for (const name of ["tiny-a", "tiny-b"]) {
  cpSync(path.join(repo, "models/bundles/tiny-random"), path.join(bundles, name), { recursive: true });
  const file = path.join(bundles, name, "manifest.json");
  const m = JSON.parse(readFileSync(file, "utf8"));
  writeFileSync(file, JSON.stringify({ ...m, id: `${m.id}-${name}` }));
}
const env: NodeJS.ProcessEnv = { ...process.env, MNEMO_CACHE_DIR: path.join(root, "cache") };
delete env.MNEMO_BUNDLE;
const data = ["--data-dir", path.join(root, "data")];
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, "out/cli/main.js"), ...args], { cwd: repo, encoding: "utf8", env });

describe("mnemo models", () => {
  it("lists every model with its state, size, licence and how to build it", () => {
    const r = cli("models", "list", ...data, "--bundle", path.join(bundles, "tiny-a"));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\* tiny-a {2}\[in use\]/m);
    expect(r.stdout).toMatch(/qwen2\.5-coder-0\.5b-instruct[\s\S]*not built[\s\S]*npm run setup -- --model qwen2\.5/);
    expect(r.stdout).toMatch(/licence: Gemma Terms of Use/);
    const json = JSON.parse(cli("models", "--json", ...data, "--bundle", path.join(bundles, "tiny-a")).stdout);
    expect(json.map((m: { name: string }) => m.name)).toContain("tiny-b");
    expect(json.filter((m: { recommended: boolean }) => m.recommended)).toHaveLength(1);
  });

  it("use switches and is remembered by the next command without --bundle", () => {
    cli("vault", "create", "Notes", ...data);
    const note = path.join(root, "note.md");
    writeFileSync(note, "# Tower\n\nThe tower was completed in 1889 and is 330 metres tall.\n");
    expect(cli("add", "Notes", note, ...data, "--bundle", path.join(bundles, "tiny-a")).status).toBe(0);
    const use = cli("models", "use", "tiny-b", ...data);
    expect(use.status).toBe(0);
    expect(use.stdout).toMatch(/now answering with/);
    expect(use.stderr).toMatch(/re-reading vault .* for the new model: \d+\/\d+ chunks/);
    const list = JSON.parse(cli("models", "--json", ...data).stdout) as { name: string; inUse: boolean }[];
    expect(list.find((m) => m.inUse)?.name).toBe("tiny-b");
  });

  it("refuses unknown subcommands, missing names and models that are not built", () => {
    expect(cli("models", "fly", "x", ...data).status).toBe(2);
    expect(cli("models", "use", ...data).stderr).toMatch(/missing model name/);
    const r = cli("models", "use", "qwen2.5-coder-1.5b-instruct", ...data);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/not built yet/);
    expect(cli("models", "use", "../etc", ...data).stderr).toMatch(/not a model name/);
  });
});

describe("the words", () => {
  it("say whether a speed was measured here or estimated", () => {
    expect(speedText(null)).toBe("speed unknown");
    expect(speedText({ firstTokenMs: 2400, decodeTokS: 19.2, threads: 2, measuredAt: "2026-12-08" })).toBe(
      "first word 2.4 s, 19 tokens/s (measured 2026-12-08)",
    );
    expect(speedText({ firstTokenMs: 320, decodeTokS: 45, threads: 2, measuredAt: "estimate" })).toMatch(/estimated/);
    expect(listText([])).toBe("");
  });
});
