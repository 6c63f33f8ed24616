import { describe, expect, it } from "vitest";
import type { Source } from "../shared/api.js";
import { sourceLine } from "./commands.js";

const source = (over: Partial<Source>): Source => ({
  vaultId: "v",
  vaultName: "Notes",
  documentId: 1,
  title: "The Eiffel Tower",
  name: "eiffel-tower.md",
  pageStart: 2,
  pageEnd: 2,
  passage: "",
  charStart: 0,
  charEnd: 0,
  memoryWeight: 0,
  keywordScore: 0,
  denseScore: 0,
  foundBy: "both",
  ...over,
});

describe("sourceLine", () => {
  it("names the page, the vault and each signal that found the passage", () => {
    expect(sourceLine(source({ memoryWeight: 0.5, keywordScore: 2.2, denseScore: 0.75 }))).toBe(
      "  The Eiffel Tower (p. 2) [Notes] memory 50.0%, keywords 2.20, meaning 0.75",
    );
    expect(sourceLine(source({ pageEnd: 3, vaultName: "", denseScore: 0.4 }))).toBe(
      "  The Eiffel Tower (pp. 2-3) meaning 0.40",
    );
  });

  it("writes a near-zero keyword score as <0.01, and says so when no signal found the passage", () => {
    expect(sourceLine(source({ keywordScore: 1e-6 }))).toBe("  The Eiffel Tower (p. 2) [Notes] keywords <0.01");
    expect(sourceLine(source({ denseScore: -0.1 }))).toBe(
      "  The Eiffel Tower (p. 2) [Notes] (ranked last: no keyword or meaning match)",
    );
  });
});
