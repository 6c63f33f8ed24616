// The application service end to end on the tiny random bundle (compiled output: the engine worker
// must be JavaScript; `npm test` runs tsc -b first): ingest, dedupe, re-ingest, removal, watched
// folders, bad input, asking across vaults with pages, a bundle change.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import { DEFAULT_MEMORY_CANDIDATES, type DocumentOutcome } from "../shared/api.js";
import type { MnemoApp as App } from "./app.js";
import { makePdf } from "../bench/pdf-fixtures.js";

/** More memory candidates than these small vaults hold: the bank is every entry in scope. */
const ALL = 64;

const repo = path.resolve(import.meta.dirname, "../..");
const { MnemoApp } = (await import(path.join(repo, "out/app/app.js"))) as { MnemoApp: typeof App };
const TINY = path.join(repo, "models/bundles/tiny-random");

const root = mkdtempSync(path.join(os.tmpdir(), "mnemo-app-"));
const docs = path.join(root, "docs");
const outcomes: DocumentOutcome[] = [];
const app = new MnemoApp({
  dataDir: path.join(root, "data"),
  bundleDir: TINY,
  maxFileBytes: 50 * 1024 * 1024,
  onOutcome: (o) => outcomes.push(o),
});
const results = () =>
  outcomes
    .splice(0)
    .map((o) => `${path.basename(o.name)}:${o.result}`)
    .sort();

beforeAll(async () => {
  mkdirSync(path.join(docs, "sub"), { recursive: true });
  writeFileSync(
    path.join(docs, "tower.pdf"),
    await makePdf(
      [
        "Paris has many monuments. This first page is about the city's bridges over the Seine.",
        "The Eiffel Tower was completed in 1889 for the World's Fair. It is 330 metres tall.",
      ],
      "Towers of Paris",
    ),
  );
  writeFileSync(
    path.join(docs, "sub/curie.md"),
    "# Marie Curie\n\nMarie Curie discovered polonium and radium with Pierre Curie.\n",
  );
});
afterAll(async () => {
  await app.close();
  rmSync(root, { recursive: true, force: true });
});

describe("MnemoApp", () => {
  it("ingests a folder with pages kept, then answers with a source on the right page", async () => {
    const v = await app.vault((await app.createVault("Research")).id);
    const { summary } = await app.addPaths(v, [docs]);
    expect(summary).toMatchObject({ ready: 2, errors: 0 });
    expect(results()).toEqual(["curie.md:ready", "tower.pdf:ready"]);
    const pdf = app.documents(v).find((d) => d.type === "pdf")!;
    expect(pdf).toMatchObject({ title: "Towers of Paris", pages: 2, status: "ready" });
    const tokens: string[] = [];
    const r = await app.ask(
      {
        mode: "memory+keyword",
        question: "When was the Eiffel Tower completed?",
        vaults: ["research"],
        candidates: ALL,
      },
      (t) => tokens.push(t),
    );
    expect(tokens.join("").trim()).toBe(r.answer);
    expect(r.bankSize).toBe(app.documents(v).reduce((n, d) => n + d.chunks, 0));
    const top = r.sources[0]!;
    expect(top).toMatchObject({ title: "Towers of Paris", pageStart: 2, vaultName: "Research" });
    expect(top.passage).toContain("completed in 1889");
    expect(top.keywordScore).toBeGreaterThan(0);
    expect(r.sources.every((s) => s.memoryWeight >= 0 && s.memoryWeight <= 1)).toBe(true);
    expect(r.sources.some((s) => s.memoryWeight > 0)).toBe(true);
  });

  it("skips unchanged files, dedupes identical bytes, re-ingests a changed file, removes a deleted one", async () => {
    const v = await app.vault("Research");
    writeFileSync(
      path.join(docs, "copy.md"),
      "# Marie Curie\n\nMarie Curie discovered polonium and radium with Pierre Curie.\n",
    );
    await app.addPaths(v, [docs]);
    expect(results()).toEqual(["copy.md:duplicate"]);
    unlinkSync(path.join(docs, "copy.md"));
    appendFileSync(path.join(docs, "sub/curie.md"), "\nShe won two Nobel Prizes.\n");
    const { summary } = await app.addPaths(v, [docs]);
    expect(summary).toMatchObject({ ready: 1, unchanged: 1 });
    expect(
      (await app.ask({ mode: "memory+keyword", question: "How many Nobel Prizes?", vaults: [v.id] }, () => {}))
        .sources[0]!.passage,
    ).toContain("two Nobel Prizes");
    const curie = app.documents(v).find((d) => d.name === "curie.md")!;
    await app.removeDocuments(v, [curie.id]);
    expect(app.documents(v).map((d) => d.name)).toEqual(["tower.pdf"]);
    // No remaining passage shares a word with the question: the policy says so instead of answering...
    const policy = await app.ask({ mode: "memory+keyword", question: "Nobel Prizes radium", vaults: [v.id] }, () => {});
    expect(policy).toMatchObject({
      answer: "Not found in your documents.",
      notFound: { reason: "no passage shares a word with the question" },
      sources: [],
    });
    // ...and with the policy off the memory still attends over what is left, and only that.
    const after = await app.ask(
      { mode: "memory+keyword", question: "Nobel Prizes radium", vaults: [v.id], abstain: false, candidates: ALL },
      () => {},
    );
    expect([...new Set(after.sources.map((s) => s.name))]).toEqual(["tower.pdf"]);
    expect(after.bankSize).toBe(app.documents(v)[0]!.chunks);
    outcomes.length = 0;
  });

  it("gives bad files a clear per-document error and ingests the rest of the batch", async () => {
    const bad = path.join(root, "bad");
    mkdirSync(bad);
    writeFileSync(path.join(bad, "corrupt.pdf"), "%PDF-1.4\n this is not really a pdf");
    writeFileSync(path.join(bad, "empty.md"), "");
    writeFileSync(path.join(bad, "binary.txt"), Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 1]));
    writeFileSync(path.join(bad, "latin1.txt"), Buffer.from("Caf\xe9 au lait is served at noon.", "latin1"));
    writeFileSync(path.join(bad, "huge.pdf"), "");
    truncateSync(path.join(bad, "huge.pdf"), 200 * 1024 * 1024);
    writeFileSync(path.join(bad, "good.md"), "The meeting moved to Thursday.");
    symlinkSync("/etc/hostname", path.join(bad, "escape.txt"));
    const v = await app.vault((await app.createVault("Inbox")).id);
    const { summary } = await app.addPaths(v, [bad]);
    expect(summary).toMatchObject({ ready: 2, errors: 4, skipped: 1 });
    const byName = Object.fromEntries(app.documents(v).map((d) => [d.name, d]));
    expect(byName["corrupt.pdf"]!.error).toMatch(/not a valid PDF|could not be read as a PDF/);
    expect(byName["empty.md"]!.error).toMatch(/empty \(0 bytes\)/);
    expect(byName["binary.txt"]!.error).toMatch(/looks binary/);
    expect(byName["huge.pdf"]!.error).toMatch(/200 MB; the limit is 50 MB/);
    expect(byName["latin1.txt"]).toMatchObject({
      status: "ready",
      warning: expect.stringMatching(/read as Windows-1252/),
    });
    expect(byName["good.md"]!.status).toBe("ready");
    expect(outcomes.find((o) => o.result === "skipped")!.message).toMatch(
      /outside the folder being added; not followed/,
    );
    expect(
      (await app.ask({ mode: "memory+keyword", question: "café", vaults: ["inbox"] }, () => {})).sources[0]!.passage,
    ).toContain("Café au lait");
    outcomes.length = 0;
  });

  it("keeps a vault in sync with a watched folder", async () => {
    const dir = path.join(root, "watched");
    mkdirSync(path.join(dir, "nested"), { recursive: true });
    writeFileSync(path.join(dir, "first.md"), "The first note is about apples.");
    const v = await app.vault((await app.createVault("Watched")).id);
    const w = await app.watch(v, dir, { debounceMs: 100 });
    expect(w.initial.ready).toBe(1);
    const settled = (pred: () => boolean) =>
      new Promise<void>((resolve, reject) => {
        const t0 = Date.now();
        const tick = () =>
          pred()
            ? resolve()
            : Date.now() - t0 > 10_000
              ? reject(new Error("timed out waiting for the watcher"))
              : setTimeout(tick, 50);
        tick();
      });
    writeFileSync(path.join(dir, "nested/second.md"), "The second note is about pears.");
    await settled(() => app.documents(v).some((d) => d.name === "second.md" && d.status === "ready"));
    unlinkSync(path.join(dir, "first.md"));
    await settled(() => !app.documents(v).some((d) => d.name === "first.md"));
    await w.close();
    expect(app.documents(v).map((d) => d.name)).toEqual(["second.md"]);
    expect((await app.listVaults()).find((s) => s.id === v.id)!.watches).toEqual([dir]);
    outcomes.length = 0;
  });

  it("asks across every vault when none is named, and notes typed in the app are documents too", async () => {
    const v = await app.vault("Inbox");
    await app.addNote(v, "Groceries", "Buy oat milk and lemons on Friday.");
    const r = await app.ask(
      { mode: "memory+keyword", question: "What should I buy on Friday?", candidates: ALL },
      () => {},
    );
    expect(new Set(r.sources.map((s) => s.vaultName)).size).toBeGreaterThan(0);
    expect(r.sources[0]).toMatchObject({ title: "Groceries", vaultName: "Inbox" });
    expect(r.bankSize).toBe((await app.listVaults()).reduce((n, s) => n + s.chunks, 0));
  });

  it("re-amortizes modulations made by another bundle instead of mixing them", async () => {
    const v = await app.vault("Research");
    const n = v.store.stats().chunks;
    v.store.db.prepare("UPDATE modulations SET bundle_id = 'some-older-bundle'").run();
    const fresh = new MnemoApp({ dataDir: path.join(root, "data"), bundleDir: TINY });
    try {
      const r = await fresh.ask(
        { mode: "memory+keyword", question: "Eiffel", vaults: ["Research"], candidates: ALL },
        () => {},
      );
      expect(r.bankSize).toBe(n);
      expect(v.store.staleChunks((await fresh.model()).manifest.id, 100)).toEqual([]);
    } finally {
      await fresh.close();
    }
  });

  it("cancels a run between documents: unread ones leave the queue, committed ones stay", async () => {
    const dir = path.join(root, "many");
    mkdirSync(dir);
    for (let i = 0; i < 40; i++)
      writeFileSync(path.join(dir, `n${String(i).padStart(2, "0")}.md`), `Note ${i} says the number is ${i * 7}.`);
    const v = await app.vault((await app.createVault("Many")).id);
    const cancelling = new MnemoApp({
      dataDir: path.join(root, "data"),
      bundleDir: TINY,
      onOutcome: (o) => {
        if (o.result === "ready") cancelling.cancel(o.vaultId);
      },
    });
    try {
      const { summary } = await cancelling.addPaths(await cancelling.vault(v.id), [dir]);
      expect(summary.cancelled).toBe(true);
      expect(summary.ready).toBeGreaterThan(0);
      expect(summary.ready).toBeLessThan(40);
      const listed = cancelling.documents(await cancelling.vault(v.id));
      expect(listed.every((d) => d.status === "ready")).toBe(true);
      expect(listed).toHaveLength(summary.ready);
    } finally {
      await cancelling.close();
    }
  });

  it("answers in every mode: memory, memory with keyword passages, passages alone, the LM alone", async () => {
    const q = { question: "When was the Eiffel Tower completed?", vaults: ["Research"] };
    const memory = await app.ask({ ...q, mode: "memory" }, () => {});
    const both = await app.ask({ ...q, mode: "memory+keyword", passages: 1 }, () => {});
    const keyword = await app.ask({ ...q, mode: "keyword" }, () => {});
    const none = await app.ask({ ...q, mode: "none" }, () => {});
    expect([memory.bankSize, both.bankSize, keyword.bankSize, none.bankSize]).toEqual([
      memory.bankSize,
      memory.bankSize,
      0,
      0,
    ]);
    expect(memory.bankSize).toBeGreaterThan(0);
    // A passage in the prompt changes what the (random) LM sees, so its answer differs from the bare LM's.
    expect(keyword.answer).not.toBe(none.answer);
    expect(keyword.sources[0]!.passage).toContain("completed in 1889");
    expect(memory.bankSize).toBe(DEFAULT_MEMORY_CANDIDATES); // by default the retrieval's best chunk alone
    const wider = await app.ask({ ...q, mode: "memory", candidates: 2 }, () => {});
    expect(wider.bankSize).toBe(2); // the two entries nearest the question
  });

  it("switches model settings, keeping the old model when the new bundle is bad", async () => {
    await expect(app.configure({ bundleDir: "/no/such/bundle" })).rejects.toMatchObject({ code: "BUNDLE_NOT_FOUND" });
    expect(
      (await app.ask({ mode: "memory+keyword", question: "Eiffel", vaults: ["Research"] }, () => {})).bankSize,
    ).toBeGreaterThan(0);
    const m = await app.configure({ threads: 1 });
    expect(m.manifest.id).toMatch(/^tiny-random/);
    expect(app.config.threads).toBe(1);
    expect(
      (await app.ask({ mode: "memory+keyword", question: "Eiffel", vaults: ["Research"] }, () => {})).bankSize,
    ).toBeGreaterThan(0); // banks reload on demand
  });

  it("refuses an empty question and an unknown vault clearly", async () => {
    await expect(app.ask({ mode: "memory+keyword", question: "  " }, () => {})).rejects.toThrow(
      /the question is empty/,
    );
    await expect(app.ask({ mode: "memory+keyword", question: "q", vaults: ["Nope"] }, () => {})).rejects.toThrow(
      /no vault named "Nope"/,
    );
  });
});
