import { afterEach, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { collectInputs, isInside, readLimited } from "./files.js";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), "mnemo-files-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("collectInputs", () => {
  it("walks folders recursively, skipping hidden entries and files it cannot read", async () => {
    const root = tmp();
    mkdirSync(path.join(root, "sub/deeper"), { recursive: true });
    mkdirSync(path.join(root, ".git"));
    for (const f of ["a.md", "sub/b.pdf", "sub/deeper/c.txt", ".hidden.md", ".git/d.md", "e.exe"])
      writeFileSync(path.join(root, f), "x");
    const { files, skipped } = await collectInputs([root]);
    expect(files.map((f) => path.relative(root, f.path))).toEqual(["a.md", "sub/b.pdf", "sub/deeper/c.txt"]);
    expect(skipped).toEqual([]);
  });

  it("does not follow a symlink out of the folder being added, and says so", async () => {
    const root = tmp(),
      outside = tmp();
    writeFileSync(path.join(outside, "secret.txt"), "x");
    writeFileSync(path.join(root, "inside.txt"), "x");
    symlinkSync(path.join(outside, "secret.txt"), path.join(root, "link.txt"));
    symlinkSync(outside, path.join(root, "linkdir"));
    symlinkSync(path.join(root, "inside.txt"), path.join(root, "alias.txt"));
    symlinkSync(path.join(root, "missing.txt"), path.join(root, "broken.txt"));
    const { files, skipped } = await collectInputs([root]);
    expect(files.map((f) => path.basename(f.path))).toEqual(["inside.txt", "inside.txt"]); // the alias resolves inside
    expect(skipped.map((s) => [path.basename(s.path), s.reason.split(",")[0]])).toEqual([
      ["broken.txt", "broken symlink"],
      ["link.txt", `symlink to ${path.join(outside, "secret.txt")}`],
      ["linkdir", `symlink to ${outside}`],
    ]);
  });

  it("explains files named explicitly that cannot be added", async () => {
    const root = tmp();
    writeFileSync(path.join(root, "a.pages"), "x");
    const { files, skipped } = await collectInputs([path.join(root, "a.pages"), path.join(root, "nope.md")]);
    expect(files).toEqual([]);
    expect(skipped.map((s) => s.reason)).toEqual([
      expect.stringMatching(/unsupported file type \.pages/),
      "no such file or folder",
    ]);
  });
});

describe("readLimited", () => {
  it("refuses a huge file before reading it", async () => {
    const f = path.join(tmp(), "huge.pdf");
    writeFileSync(f, "");
    truncateSync(f, 200 * 1024 * 1024); // sparse: 200 MB on paper, nothing on disk
    await expect(readLimited(f, 100 * 1024 * 1024)).rejects.toThrow("huge.pdf is 200 MB; the limit is 100 MB");
  });

  it("names a missing file", async () => {
    await expect(readLimited("/no/such/file.md", 10)).rejects.toMatchObject({
      code: "IO_ERROR",
      message: expect.stringMatching(/ENOENT/),
    });
  });
});

describe("isInside", () => {
  it("accepts the root and its descendants only", () => {
    expect(isInside("/a/b", "/a/b")).toBe(true);
    expect(isInside("/a/b", "/a/b/c/d")).toBe(true);
    expect(isInside("/a/b", "/a/bc")).toBe(false);
    expect(isInside("/a/b", "/a")).toBe(false);
    expect(isInside("/a/b", "/a/b/../c")).toBe(false);
  });
});
