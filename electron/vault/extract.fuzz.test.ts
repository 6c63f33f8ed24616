// Fuzzing the PDF extractor for a bounded time: a valid PDF with random bytes flipped, cut or
// inserted must come back as text or as a clear EXTRACTION_FAILED error, never a crash or a hang.
import { describe, expect, it } from "vitest";
import { AppError } from "../shared/errors.js";
import { seededRandom } from "../core/sampler.js";
import { makePdf } from "../bench/pdf-fixtures.js";
import { extract } from "./extract.js";

const BUDGET_MS = 5000;

describe("PDF extraction under mutated input", () => {
  it("returns text or a clear error for every mutation", async () => {
    const base = await makePdf(
      ["The first page of a report about bridges.", "The second page: costs rose by 12% in 2024."],
      "Report",
    );
    const r = seededRandom(99);
    const t0 = Date.now();
    let ok = 0,
      failed = 0;
    while (Date.now() - t0 < BUDGET_MS) {
      const bytes = Uint8Array.from(base);
      const kind = Math.floor(r() * 3);
      let mutated: Uint8Array = bytes;
      if (kind === 0)
        for (let i = 0; i < 1 + r() * 20; i++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      else if (kind === 1) mutated = bytes.subarray(0, Math.floor(r() * bytes.length));
      else {
        const at = Math.floor(r() * bytes.length),
          junk = Uint8Array.from({ length: 1 + Math.floor(r() * 64) }, () => Math.floor(r() * 256));
        mutated = Uint8Array.from([...bytes.subarray(0, at), ...junk, ...bytes.subarray(at)]);
      }
      try {
        const out = await extract(mutated, "pdf", "fuzz.pdf");
        expect(out.pages.length).toBeGreaterThan(0);
        ok++;
      } catch (e) {
        expect(e).toBeInstanceOf(AppError);
        expect((e as AppError).code).toBe("EXTRACTION_FAILED");
        expect((e as AppError).message).toMatch(/fuzz\.pdf/);
        failed++;
      }
    }
    expect(ok + failed).toBeGreaterThan(20);
  }, 30_000);
});
