import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { AppError } from "./errors.js";
import { parseManifest } from "./manifest.js";

const tiny = () => JSON.parse(readFileSync(new URL("../../models/bundles/tiny-random/manifest.json", import.meta.url), "utf8"));

function codeOf(fn: () => unknown): string {
  try { fn(); } catch (e) { if (e instanceof AppError) return `${e.code}: ${e.message}`; throw e; }
  return "no error";
}

describe("parseManifest", () => {
  it("accepts the exported tiny bundle", () => {
    const m = parseManifest(tiny());
    expect(m.mac?.n_slots).toBe(4);
    expect(m.architecture.lm.n_kv_head).toBe(m.architecture.lm.n_head);     // format 1: no grouped-query attention
    expect(m.graphs.lm.inputs.map((t) => t.name)).toEqual(["input_ids", "position_ids", "attention_mask", "past_key_values"]);
  });

  it("refuses an unknown major version, naming the versions", () => {
    expect(codeOf(() => parseManifest({ ...tiny(), version: { major: 3, minor: 0 } })))
      .toMatch(/^BUNDLE_UNSUPPORTED_VERSION: bundle format version 3\.x .* reads mnemo-mac-bundle 1\.x and 2\.x/);
  });

  it("names a missing or wrong field", () => {
    const m = tiny();
    delete m.special_ids.eos;
    expect(codeOf(() => parseManifest(m))).toMatch(/^BUNDLE_INVALID: manifest\.json: special_ids\.eos/);
    expect(codeOf(() => parseManifest({ ...tiny(), format: "other" }))).toMatch(/^BUNDLE_INVALID: manifest\.json: format/);
  });

  it("refuses graph shapes that disagree with the architecture", () => {
    const m = tiny();
    m.graphs.prefix.outputs[0].shape[4] = 3;            // P = 3 but prefix.length = 2
    expect(codeOf(() => parseManifest(m))).toMatch(/graphs\.prefix\.prefix_kv has shape \[2, 2, batch, 2, 3, 16\], expected \[2, 2, \*, 2, 2, 16\]/);
  });

  it("refuses graph files outside the bundle folder", () => {
    const m = tiny();
    m.graphs.lm.file = "../escape.onnx";
    expect(codeOf(() => parseManifest(m))).toMatch(/^BUNDLE_INVALID: manifest\.json: graphs\.lm\.file/);
  });
});
