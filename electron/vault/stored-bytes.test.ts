// What a vault writes, byte for byte: modulation blobs and embedding rows (codes + REAL scale) made
// through shared/int8-rows.ts must be those of the two codecs it replaced, so existing vaults read on
// and new rows match old ones. The expected bytes and hashes were computed with the previous code
// (modulation-codec.ts's own loop and embeddings.ts's pack, commit d396c6d).
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decodeModulation, encodeModulation } from "../shared/modulation-codec.js";
import { pack, unpack } from "./embeddings.js";

/** Seeded values in (-amp, amp) (mulberry32), the same on every run and platform. */
function seeded(n: number, seed: number, amp: number): Float32Array {
  let a = seed;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Float32Array.from({ length: n }, () => (next() * 2 - 1) * amp);
}
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("stored bytes are those of the codecs before int8-rows.ts", () => {
  it("modulations: a small one byte for byte (a zero row, ties, tiny values), and a 16 × 640 one by hash", () => {
    const small = Float32Array.of(
      1.27,
      -0.635,
      0.005,
      0.015,
      -0.025,
      0,
      0.3,
      -1.27,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      -3,
      2.5,
      -1.5,
      0.75,
      1e-3,
      -2e-3,
      3,
      -0.0117,
    );
    const blob = encodeModulation(small, 3, 8, "int8");
    expect(hex(blob)).toBe("0ad7233c000000000683c13c7fc00102fd001e810000000000000000816ac02000007f00");
    expect(sha(encodeModulation(small, 3, 8, "float32"))).toBe(
      "21ef09c258fd6af50e1b18a4ce98f499d345d2bc549f18e879168f1b3b2513b7",
    );
    expect(sha(encodeModulation(seeded(16 * 640, 7, 3), 16, 640, "int8"))).toBe(
      "efccf731e8bf52041bda230779756c53e9a74dbfeed939057b4ad750224e9a05",
    );
    const back = decodeModulation(blob, 3, 8);
    expect(back[0]).toBe(Math.fround(127 * Math.fround(1.27 / 127)));
    expect(Array.from(back.subarray(8, 16))).toEqual(Array(8).fill(0));
  });

  it("embeddings: codes and scale (a float64 REAL) of a small vector, a zero vector (scale 1), and a 384-value one by hash", () => {
    const p = pack(Float32Array.of(0.5, -0.25, 0.125, 0.01, -0.9, 0.333, 0.0039, -0.0039));
    expect([hex(p.data), p.scale]).toEqual(["47dd1201812f01ff", 0.0070866139854971815]);
    expect(unpack(p)[4]).toBe(Math.fround(-127 * p.scale));
    const zero = pack(new Float32Array(4));
    expect([hex(zero.data), zero.scale]).toEqual(["00000000", 1]);
    expect(Array.from(unpack(zero))).toEqual([0, 0, 0, 0]);
    const big = pack(seeded(384, 11, 0.2));
    expect([sha(big.data), big.scale]).toEqual([
      "245ad1bfee006b4ff0adfb0a7f63647536fac186bf0e126327f7f607f4e64b0f",
      0.0015722676290301826,
    ]);
  });
});
