// Fuzzing the wire contract for a bounded time: random methods and random JSON-ish parameters must
// either validate to exactly the schema's shape or be refused with an Error naming the method; no
// input may crash the validator or slip an unknown key through.
import { describe, expect, it } from "vitest";
import { seededRandom } from "../core/sampler.js";
import { METHODS, validateCall } from "./ipc.js";

const BUDGET_MS = 3000;

function randomValue(r: () => number, depth = 0): unknown {
  const k = Math.floor(r() * (depth > 2 ? 6 : 9));
  switch (k) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return Math.floor((r() - 0.5) * 2 ** (r() * 40));
    case 3:
      return r() * 1e6 - 5e5;
    case 4:
      return ["", "x", "../../etc/passwd", "a".repeat(300), "__proto__", "constructor", "\u0000", "memory"][
        Math.floor(r() * 8)
      ];
    case 5:
      return undefined;
    case 6:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: {
      const keys = [
        "name",
        "vault",
        "ids",
        "question",
        "askId",
        "mode",
        "paths",
        "data",
        "title",
        "text",
        "dir",
        "__proto__",
        "extra",
      ];
      return Object.fromEntries(
        Array.from({ length: Math.floor(r() * 5) }, () => [
          keys[Math.floor(r() * keys.length)]!,
          randomValue(r, depth + 1),
        ]),
      );
    }
  }
}

describe("validateCall under random input", () => {
  it("accepts only schema-shaped parameters and refuses the rest with an Error", () => {
    const r = seededRandom(1234),
      methods = [...Object.keys(METHODS), "nope", "toString", "__proto__", ""];
    const t0 = Date.now();
    let accepted = 0,
      refused = 0;
    while (Date.now() - t0 < BUDGET_MS) {
      const method = methods[Math.floor(r() * methods.length)]!;
      const params = randomValue(r);
      try {
        const v = validateCall(method, params);
        accepted++;
        // Whatever passed has only the schema's keys.
        const allowed = Object.keys((METHODS[v.method] as unknown as { shape: Record<string, unknown> }).shape);
        expect(Object.keys(v.params as object).every((key) => allowed.includes(key))).toBe(true);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
        expect((e as Error).message.length).toBeGreaterThan(0);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(100);
    expect(accepted).toBeGreaterThan(0);
  });
});
