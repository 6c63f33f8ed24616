import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { AppError } from "./errors.js";
import { defaultMode, layerCacheNames, parseManifest, takesLayerCache } from "./manifest.js";
import { readerManifestJson } from "../core/fake-reader.test-helpers.js";

const tiny = () =>
  JSON.parse(readFileSync(new URL("../../models/bundles/tiny-random/manifest.json", import.meta.url), "utf8"));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof AppError) return `${e.code}: ${e.message}`;
    throw e;
  }
  return "no error";
}

describe("parseManifest", () => {
  it("accepts the exported tiny bundle", () => {
    const m = parseManifest(tiny());
    expect(m.mac?.n_slots).toBe(4);
    expect(m.architecture.lm.n_kv_head).toBe(m.architecture.lm.n_head); // format 1: no grouped-query attention
    expect(m.graphs.lm.inputs.map((t) => t.name)).toEqual([
      "input_ids",
      "position_ids",
      "attention_mask",
      "past_key_values",
    ]);
  });

  it("takes the default answer mode from memory.default_mode, keyword when absent, never memory without heads", () => {
    expect(defaultMode(parseManifest(tiny()))).toBe("keyword");
    const m = tiny();
    m.memory = { ...m.memory, trained: true, default_mode: "memory+keyword" };
    expect(defaultMode(parseManifest(m))).toBe("memory+keyword");
    m.memory.default_mode = "telepathy";
    expect(codeOf(() => parseManifest(m))).toMatch(/^BUNDLE_INVALID: manifest\.json: memory\.default_mode/);
    const plain = tiny();
    for (const g of ["amortizer", "question_encoder", "memory_kv", "aggregator", "prefix"]) delete plain.graphs[g];
    delete plain.architecture.mac;
    delete plain.prefix;
    plain.memory = { trained: false, default_mode: "memory" };
    expect(codeOf(() => parseManifest(plain))).toMatch(/default_mode memory needs memory heads/);
  });

  it("takes an LM that returns the present, the new positions alone, or both, and refuses one with neither", () => {
    const m = tiny(),
      present = m.graphs.lm.outputs.find((o: { name: string }) => o.name === "present_key_values");
    const fresh = {
      ...present,
      name: "new_key_values",
      shape: [...present.shape.slice(0, 4), "seq", present.shape[5]],
    };
    m.graphs.lm.outputs = [m.graphs.lm.outputs[0], fresh];
    expect(parseManifest(m).graphs.lm.outputs.map((o) => o.name)).toEqual(["logits", "new_key_values"]);
    m.graphs.lm.outputs = [m.graphs.lm.outputs[0]];
    expect(codeOf(() => parseManifest(m))).toMatch(
      /^BUNDLE_INVALID: manifest\.json: graphs\.lm must output present_key_values or new_key_values/,
    );
  });

  it("takes an LM with a cache per layer, which must return the new positions and fit the architecture", () => {
    const m = tiny(),
      lm = m.graphs.lm,
      packed = lm.inputs.pop(),
      present = lm.outputs.pop();
    const [L, , , Hkv, , hd] = packed.shape as [number, number, string, number, string, number];
    lm.inputs.push(
      ...layerCacheNames(L).map((name) => ({ name, dtype: "float32", shape: ["batch", Hkv, "past", hd] })),
    );
    lm.outputs.push({ ...present, name: "new_key_values", shape: [L, 2, "batch", Hkv, "seq", hd] });
    expect(takesLayerCache(parseManifest(m).graphs.lm.inputs)).toBe(true);
    lm.inputs[4].shape[3] = hd + 1;
    expect(codeOf(() => parseManifest(m))).toMatch(/graphs\.lm\.past_key_values\.0\.value has shape/);
    lm.inputs[4].shape[3] = hd;
    lm.inputs.pop(); // the last layer's value: missing
    expect(codeOf(() => parseManifest(m))).toMatch(/graphs\.lm has no input named past_key_values\.\d+\.value/);
    lm.inputs.push({ name: `past_key_values.${L - 1}.value`, dtype: "float32", shape: ["batch", Hkv, "past", hd] });
    lm.outputs.pop();
    expect(codeOf(() => parseManifest(m))).toMatch(/graphs\.lm has no output named new_key_values/);
  });

  it("refuses an unknown major version, naming the versions", () => {
    expect(codeOf(() => parseManifest({ ...tiny(), version: { major: 3, minor: 0 } }))).toMatch(
      /^BUNDLE_UNSUPPORTED_VERSION: bundle format version 3\.x .* reads mnemo-mac-bundle 1\.x and 2\.x/,
    );
  });

  it("names a missing or wrong field", () => {
    const m = tiny();
    delete m.special_ids.eos;
    expect(codeOf(() => parseManifest(m))).toMatch(/^BUNDLE_INVALID: manifest\.json: special_ids\.eos/);
    expect(codeOf(() => parseManifest({ ...tiny(), format: "other" }))).toMatch(
      /^BUNDLE_INVALID: manifest\.json: format/,
    );
  });

  it("refuses graph shapes that disagree with the architecture", () => {
    const m = tiny();
    m.graphs.prefix.outputs[0].shape[4] = 3; // P = 3 but prefix.length = 2
    expect(codeOf(() => parseManifest(m))).toMatch(
      /graphs\.prefix\.prefix_kv has shape \[2, 2, batch, 2, 3, 16\], expected \[2, 2, \*, 2, 2, 16\]/,
    );
  });

  it("refuses graph files outside the bundle folder", () => {
    const m = tiny();
    m.graphs.lm.file = "../escape.onnx";
    expect(codeOf(() => parseManifest(m))).toMatch(/^BUNDLE_INVALID: manifest\.json: graphs\.lm\.file/);
  });

  describe("an lm_tap reader bundle (format 2, the Gemma heads' contract)", () => {
    const reader = () => readerManifestJson(tiny());

    it("is accepted, with its reader, storage, prefix offset and memory facts", () => {
      const m = parseManifest(reader());
      expect(m.version).toEqual({ major: 2, minor: 1 });
      expect(m.mac?.reader).toEqual({ kind: "lm_tap", output: "tap", layer: 1, prefix_ids: [1, 40, 41] });
      expect(m.mac?.storage).toBe("int8");
      expect(m.mac?.prefix).toEqual({ length: 2, position_offset: 2 });
      expect(m.mac?.trained).toBe(true);
      expect(parseManifest(tiny()).mac?.storage).toBe("float32"); // absent: float32
    });

    it("refuses an LM without the tap output the reader names", () => {
      const m = reader();
      m.graphs.lm!.outputs = m.graphs.lm!.outputs.filter((t) => t.name !== "tap");
      expect(codeOf(() => parseManifest(m))).toMatch(
        /^BUNDLE_INVALID: manifest\.json: graphs\.lm has no output named tap/,
      );
      const wide = reader();
      wide.graphs.lm!.outputs.at(-1)!.shape = ["batch", "seq", 64];
      expect(codeOf(() => parseManifest(wide))).toMatch(
        /graphs\.lm\.tap has shape \[batch, seq, 64\], expected \[\*, \*, 32\]/,
      );
    });

    it("refuses heads whose features are not (batch, seq, D), or that still read ids", () => {
      const m = reader();
      m.graphs.question_encoder!.inputs[0]!.shape = ["batch", 32];
      expect(codeOf(() => parseManifest(m))).toMatch(
        /graphs\.question_encoder\.features has shape \[batch, 32\], expected \[\*, \*, 32\]/,
      );
      const ids = reader();
      ids.graphs.amortizer = tiny().graphs.amortizer;
      expect(codeOf(() => parseManifest(ids))).toMatch(/graphs\.amortizer has no input named features/);
      const f1 = tiny();
      f1.graphs.amortizer = reader().graphs.amortizer; // features in, but no reader declared
      expect(codeOf(() => parseManifest(f1))).toMatch(/graphs\.amortizer has no input named input_ids/);
    });

    it("refuses bad prefix_ids, an unknown reader kind and an unknown storage, naming the field", () => {
      type Mac = { reader: { prefix_ids: unknown; kind: unknown; layer: unknown }; storage?: unknown };
      const at = (edit: (mac: Mac) => void) => {
        const m = reader();
        edit(m.architecture.mac as unknown as Mac);
        return codeOf(() => parseManifest(m));
      };
      expect(
        at((mac) => {
          mac.reader.prefix_ids = [];
        }),
      ).toMatch(/^BUNDLE_INVALID: manifest\.json: architecture\.mac\.reader\.prefix_ids:/);
      expect(
        at((mac) => {
          mac.reader.prefix_ids = [1, 2.5];
        }),
      ).toMatch(/architecture\.mac\.reader\.prefix_ids\.1/);
      expect(
        at((mac) => {
          mac.reader.prefix_ids = [1, 9000];
        }),
      ).toMatch(/architecture\.mac\.reader\.prefix_ids\.1: 9000 is not below vocab_size 8192/);
      expect(
        at((mac) => {
          mac.reader.kind = "encoder";
        }),
      ).toMatch(/architecture\.mac\.reader\.kind/);
      expect(
        at((mac) => {
          mac.reader.layer = 7;
        }),
      ).toMatch(/reader\.layer 7 is past the LM's 2 blocks/);
      expect(
        at((mac) => {
          mac.storage = "int4";
        }),
      ).toMatch(/architecture\.mac\.storage/);
    });

    it("still refuses half the memory graphs", () => {
      const m = reader();
      delete (m.graphs as Record<string, unknown>).prefix;
      expect(codeOf(() => parseManifest(m))).toMatch(/memory needs all of .*; missing prefix/);
    });
  });
});
