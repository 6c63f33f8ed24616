// The CLI end to end on the tiny bundle (compiled output: `npm test` runs tsc -b first), and `mnemo
// ask` on the setup-built real bundle (required in CI, skipped elsewhere when setup has not built it).
import { afterAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { defaultBundleDir } from "../app/paths.js";

const repo = path.resolve(import.meta.dirname, "../..");
const data = mkdtempSync(path.join(os.tmpdir(), "mnemo-cli-"));
afterAll(() => rmSync(data, { recursive: true, force: true }));
const tiny = ["--bundle", "models/bundles/tiny-random", "--data-dir", data];
const real = ["--bundle", defaultBundleDir(), "--data-dir", data, "--threads", "2"];
const realBuilt = existsSync(path.join(defaultBundleDir(), "manifest.json"));
/** Whether setup has put the trained MAC heads into the real bundle (models/ exports them once trained). */
const realHasMemory =
  realBuilt &&
  JSON.parse(readFileSync(path.join(defaultBundleDir(), "manifest.json"), "utf8")).graphs.amortizer !== undefined;
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [path.join(repo, "out/cli/main.js"), ...args], { cwd: repo, encoding: "utf8" });
/** `mnemo ask --json --mode memory` over the two sample documents outside any vault. */
const SAMPLES = ["--doc", "resources/samples/eiffel-tower.md", "--doc", "resources/samples/marie-curie.md"];
const askSamples = (bundle: string[], question: string) =>
  cli("ask", ...bundle, "--json", "--mode", "memory", ...SAMPLES, question);

describe("mnemo ask --doc (documents outside any vault)", () => {
  it("answers with sources and timings as JSON", () => {
    const r = askSamples(tiny, "When was it completed?");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(typeof out.answer).toBe("string");
    // A scratch vault like any other: the memory reads the retrieval's best chunk, which is the sources' first.
    expect(out.sources[0]).toMatchObject({ name: "eiffel-tower.md", title: "The Eiffel Tower", vaultName: "" });
    expect(out.sources[0].memoryWeight).toBeGreaterThan(0);
    for (const s of out.sources) expect(["eiffel-tower.md", "marie-curie.md"]).toContain(s.name);
    expect(out.timings.totalMs).toBeGreaterThan(0);
    // The random test LM never says its end-of-turn within the budget: the answer is marked as cut off.
    expect(out.truncated).toBe(true);
  });

  it("streams the same answer as text", () => {
    const args = ["--mode", "memory", "--doc", "resources/samples/eiffel-tower.md", "When was it completed?"];
    const json = JSON.parse(cli("ask", ...tiny, "--json", ...args).stdout);
    const text = cli("ask", ...tiny, ...args);
    expect(text.stdout.split("\n")[0]!.trim()).toBe(json.answer);
    expect(text.stdout).toMatch(
      /\n\(cut off at the short answers' length; --long for a longer answer\)\nsources:\n {2}The Eiffel Tower \(p\. 1\) memory \d+\.\d%/,
    );
  });

  it("gives clear errors for a missing bundle, an unreadable file and an empty question", () => {
    expect(cli("ask", "--bundle", "/no/such/bundle", "--doc", "resources/samples/eiffel-tower.md", "q").stderr).toMatch(
      /no model bundle at \/no\/such\/bundle/,
    );
    const unreadable = cli("ask", ...tiny, "--doc", "/no/such.md", "q");
    expect(unreadable.status).toBe(2);
    expect(unreadable.stderr).toMatch(/cannot read \/no\/such\.md: ENOENT/);
    expect(cli("ask", ...tiny, "  ").stderr).toMatch(/the question is empty/);
    expect(cli("ask", ...tiny, "--provider", "tpu", "q").stderr).toMatch(
      /--provider must be cpu, cuda or dml, got tpu/,
    );
    expect(cli("frobnicate").stderr).toMatch(/unknown command frobnicate\nusage: mnemo/);
    expect(cli("ask", "--no-such-flag", "q").stderr).toMatch(/Unknown option '--no-such-flag'/);
  });

  it("falls back to CPU with a warning when a GPU provider is not available", () => {
    const r = cli("ask", ...tiny, "--provider", "cuda", "--doc", "resources/samples/eiffel-tower.md", "When?");
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/warning: execution provider cuda is not available .*using CPU/);
  });
});

describe("mnemo --help", () => {
  it("prints the usage to stdout and exits 0 for --help, -h (anywhere) and the help command", () => {
    for (const args of [["--help"], ["-h"], ["help"], ["ask", "--help"], ["vault", "list", ...tiny, "-h"]]) {
      const r = cli(...args);
      expect(r.status, args.join(" ")).toBe(0);
      expect(r.stdout, args.join(" ")).toMatch(/^usage: mnemo <command> \[options\]\n[^]*ask: --mode/);
      expect(r.stderr, args.join(" ")).toBe("");
    }
    expect(cli().status).toBe(2); // no command at all is still a wrong call
  });

  it("prints eval's own usage for mnemo eval --help, -h and mnemo help eval", () => {
    for (const args of [
      ["eval", "--help"],
      ["eval", "-h"],
      ["eval", "--data", "/no/such.json", "--help"],
      ["help", "eval"],
    ]) {
      const r = cli(...args);
      expect(r.status, args.join(" ")).toBe(0);
      expect(r.stdout, args.join(" ")).toMatch(
        /^usage: mnemo eval --data FILE .*\n.*--report DIR\]\n(  --[a-z-]+ .*\n)+$/,
      );
      expect(r.stderr, args.join(" ")).toBe("");
    }
  });
});

describe("mnemo vaults", () => {
  it("creates a vault, adds a folder with progress, lists, searches and answers with page sources", () => {
    expect(cli("vault", "list", ...tiny).stdout).toMatch(/no vaults yet/);
    expect(cli("vault", "create", ...tiny, "Travel", "notes").stdout).toMatch(
      /created vault "Travel notes" \([0-9a-f]{12}\)/,
    );
    const add = cli("add", ...tiny, "Travel notes", "resources/samples");
    expect(add.status).toBe(0);
    expect(add.stderr).toMatch(/added eiffel-tower\.md \(1 chunks\)/);
    expect(add.stdout).toBe("3 added\n");
    expect(cli("add", ...tiny, "travel notes", "resources/samples").stdout).toBe("0 added, 3 unchanged\n");
    expect(cli("vault", "list", ...tiny).stdout).toMatch(/^Travel notes\t3 documents, 3 chunks$/m);
    expect(cli("docs", ...tiny, "Travel notes").stdout).toMatch(/^\d+\tready\tThe Eiffel Tower \(1 p\.\)\t1 chunks$/m);
    expect(cli("search", ...tiny, "Travel notes", "radioactivity").stdout).toMatch(/^Marie Curie \(p\. 1\)\t/);
    const ask = cli(
      "ask",
      ...tiny,
      "--mode",
      "memory+keyword",
      "--vault",
      "Travel notes",
      "When was the Eiffel Tower completed?",
    );
    expect(ask.status).toBe(0);
    expect(ask.stdout).toMatch(
      /sources:\n {2}The Eiffel Tower \(p\. 1\) \[Travel notes\] memory \d+\.\d%, keywords (<0\.01|[\d.]+)/,
    );
    const json = JSON.parse(cli("ask", ...tiny, "--json", "--vault", "Travel notes", "radioactivity").stdout);
    expect(json.sources[0]).toMatchObject({ title: "Marie Curie", pageStart: 1, vaultName: "Travel notes" });
  });

  it("exports, imports, removes documents and vaults; refuses unknown names", () => {
    const file = path.join(data, "travel.mnemo");
    expect(cli("vault", "export", ...tiny, "Travel notes", file).status).toBe(0);
    expect(cli("vault", "import", ...tiny, file, "--name", "Copy").stdout).toMatch(
      /imported vault "Copy" \(3 documents\)/,
    );
    const id = cli("docs", ...tiny, "Copy").stdout.split("\t")[0]!;
    expect(cli("rm", ...tiny, "Copy", id).stdout).toMatch(/removed 1 document/);
    expect(cli("rm", ...tiny, "Copy", "999").stderr).toMatch(/no document with id 999 in "Copy"/);
    expect(cli("vault", "remove", ...tiny, "Copy").status).toBe(0);
    expect(cli("add", ...tiny, "Nowhere", "resources/samples").stderr).toMatch(/no vault named "Nowhere"/);
    expect(cli("vault", "create", ...tiny, "travel NOTES").stderr).toMatch(
      /a vault named "travel NOTES" already exists/,
    );
  });
});

describe("mnemo watch", () => {
  it("adds files dropped into the folder until Ctrl-C", async () => {
    const dir = path.join(data, "inbox");
    mkdirSync(dir);
    writeFileSync(path.join(dir, "first.md"), "The first note is about apples.");
    cli("vault", "create", ...tiny, "Inbox");
    const child = spawn(process.execPath, [path.join(repo, "out/cli/main.js"), "watch", ...tiny, "Inbox", dir], {
      cwd: repo,
    });
    let stderr = "";
    const waitFor = (re: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re}; stderr: ${stderr}`)), 20_000);
        const check = () => {
          if (re.test(stderr)) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stderr.on("data", (d: Buffer) => {
          stderr += d.toString();
          check();
        });
        check();
      });
    await waitFor(/watching .*inbox for "Inbox"/);
    expect(stderr).toMatch(/added first\.md/);
    writeFileSync(path.join(dir, "second.md"), "The second note is about pears.");
    await waitFor(/added second\.md/);
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(cli("docs", ...tiny, "Inbox").stdout).toMatch(/\tready\tsecond \(1 p\.\)\t1 chunks/);
  }, 30_000);
});

describe.skipIf(!realBuilt && !process.env.CI)("mnemo ask on the real bundle (the default LM and mode)", () => {
  it("answers the samples' questions from the right passage", () => {
    const docs = [
      "--doc",
      "resources/samples/eiffel-tower.md",
      "--doc",
      "resources/samples/marie-curie.md",
      "--doc",
      "resources/samples/amazon-rainforest.md",
    ];
    const eiffel = JSON.parse(cli("ask", ...real, "--json", ...docs, "When was the Eiffel Tower completed?").stdout);
    expect(eiffel.answer).toMatch(/1889/);
    expect(eiffel.sources[0].name).toBe("eiffel-tower.md");
    const curie = JSON.parse(cli("ask", ...real, "--json", ...docs, "Where was Marie Curie born?").stdout);
    expect(curie.answer).toMatch(/Warsaw/);
    expect(curie.sources[0].name).toBe("marie-curie.md");
  }, 120_000);

  it.skipIf(realHasMemory)(
    "refuses memory mode clearly: this model has no memory heads yet",
    () => {
      const r = cli(
        "ask",
        ...real,
        "--mode",
        "memory",
        "--doc",
        "resources/samples/eiffel-tower.md",
        "When was it completed?",
      );
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/has no memory heads yet, so "memory" mode is unavailable; use keyword mode/);
    },
    60_000,
  );

  it.skipIf(!realHasMemory)(
    "answers in memory mode through the heads that read the LM, citing the document",
    () => {
      const r = askSamples(real, "When was the Eiffel Tower completed?");
      expect(r.status).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.sources[0]).toMatchObject({ name: "eiffel-tower.md", foundBy: "both" });
      expect(out.sources[0].memoryWeight).toBeGreaterThan(0);
    },
    120_000,
  );
});
