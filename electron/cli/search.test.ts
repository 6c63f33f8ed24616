// `mnemo search` and the answer policy's flags, end to end through the compiled CLI: on the tiny
// bundle (keyword search only: it has no encoder), then with the real sentence encoder (hybrid and
// dense search as JSON, "Not found in your documents" and --no-abstain), skipped like the other
// real-bundle tests when setup has not built it.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { encoderSource, makeEncoderBundle } from "../bench/encoder-bundle.js";

const repo = path.resolve(import.meta.dirname, "../..");
const root = mkdtempSync(path.join(os.tmpdir(), "mnemo-cli-search-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, "out/cli/main.js"), ...args], { cwd: repo, encoding: "utf8" });
const source = encoderSource();

describe("mnemo search on a bundle without an encoder", () => {
  const tiny = ["--bundle", "models/bundles/tiny-random", "--data-dir", path.join(root, "tiny")];

  it("searches by keyword as JSON, says which signal found each hit, and refuses dense search clearly", () => {
    cli("vault", "create", ...tiny, "Samples");
    expect(cli("add", ...tiny, "Samples", "resources/samples").status).toBe(0);
    const r = JSON.parse(cli("search", ...tiny, "--json", "Samples", "radioactivity").stdout);
    // hybrid was asked (the default); without an encoder it runs as bm25, and says so
    expect(r).toMatchObject({
      query: "radioactivity",
      mode: "bm25",
      hits: [{ rank: 1, title: "Marie Curie", foundBy: "keyword", dense: null, pageStart: 1 }],
    });
    expect(r.hits[0].keyword.rank).toBe(1);
    expect(r.hits[0].score).toBe(r.hits[0].keyword.score);
    const dense = cli("search", ...tiny, "--mode", "dense", "Samples", "radioactivity");
    expect(dense.status).toBe(2);
    expect(dense.stderr).toMatch(/has no sentence encoder, so dense search is unavailable; use bm25/);
    expect(cli("search", ...tiny, "--mode", "fuzzy", "Samples", "x").stderr).toMatch(
      /--mode must be one of bm25, dense, hybrid, got fuzzy/,
    );
    expect(cli("search", ...tiny, "--limit", "0", "Samples", "x").stderr).toMatch(
      /--limit must be a whole number from 1 to 1000, got 0/,
    );
    expect(cli("ask", ...tiny, "--search", "nope", "q").stderr).toMatch(
      /--search must be one of bm25, dense, hybrid, got nope/,
    );
  });
});

describe.skipIf(!source && !process.env.CI)("mnemo search and ask with the real sentence encoder", () => {
  const args = () => [
    "--bundle",
    makeEncoderBundle(path.join(root, "bundle"), source!),
    "--data-dir",
    path.join(root, "real"),
    "--threads",
    "2",
  ];

  it("finds a passage in other words (dense, hybrid) and lists the top ones as text", () => {
    const a = args();
    cli("vault", "create", ...a, "Samples");
    expect(cli("add", ...a, "Samples", "resources/samples").status).toBe(0);
    const q = "Which scientist worked on radioactive elements?";
    for (const mode of ["dense", "hybrid"]) {
      const r = JSON.parse(cli("search", ...a, "--json", "--mode", mode, "--limit", "2", "Samples", q).stdout);
      expect(r.mode).toBe(mode);
      expect(r.hits).toHaveLength(2);
      expect(r.hits[0]).toMatchObject({ rank: 1, title: "Marie Curie" });
      expect(r.hits[0].dense.rank).toBe(1);
      expect(r.hits[0].dense.score).toBeGreaterThan(r.hits[1].dense.score);
    }
    expect(cli("search", ...a, "Samples", q).stdout).toMatch(/^Marie Curie \(p\. 1\)\t(meaning|both)\t/);
  });

  it("says 'Not found in your documents' with the reason, and answers anyway with --no-abstain", () => {
    const a = args();
    const r = cli("ask", ...a, "--vault", "Samples", "What is the boiling point of tungsten?");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^Not found in your documents\.\n\(no passage is close in meaning to the question \(best similarity 0\.\d\d, needs 0\.\d\d\); --no-abstain answers anyway\)\n/,
    );
    const json = JSON.parse(
      cli(
        "ask",
        ...a,
        "--json",
        "--no-abstain",
        "--vault",
        "Samples",
        "--passages",
        "1",
        "What is the boiling point of tungsten?",
      ).stdout,
    );
    expect(json.notFound).toBeUndefined();
    expect(json.answer).not.toBe("Not found in your documents.");
  });
});
