import { describe, expect, it } from "vitest";
import { asStored, decodeModulation, encodeModulation, modulationBytes } from "./modulation-codec.js";

/** A deterministic modulation with rows of very different magnitudes (Gemma's reach 1e4). */
function sample(T: number, D: number): Float32Array {
  let s = 12345;
  const next = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  return Float32Array.from({ length: T * D }, (_, i) => next() * 10 ** ((Math.floor(i / D) % 5) - 1));
}

describe("modulation codec", () => {
  it("sizes: int8 is T scales + T*D codes, within 16 KB for Gemma's 16 × 640", () => {
    expect(modulationBytes("float32", 16, 640)).toBe(40960);
    expect(modulationBytes("int8", 16, 640)).toBe(16 * 4 + 16 * 640);
    expect(modulationBytes("int8", 16, 640)).toBeLessThanOrEqual(16 * 1024);
    expect(encodeModulation(sample(4, 32), 4, 32, "int8").byteLength).toBe(4 * 36);
    expect(encodeModulation(sample(4, 32), 4, 32, "float32").byteLength).toBe(4 * 32 * 4);
  });

  it("round-trips int8 within half a step of each row's scale", () => {
    const [T, D] = [16, 640],
      x = sample(T, D);
    const blob = encodeModulation(x, T, D, "int8");
    const view = new DataView(blob.buffer);
    const y = decodeModulation(blob, T, D);
    for (let t = 0; t < T; t++) {
      let max = 0;
      for (let j = 0; j < D; j++) max = Math.max(max, Math.abs(x[t * D + j]!));
      const scale = view.getFloat32(t * 4, true);
      expect(scale).toBeCloseTo(max / 127, 5);
      for (let j = 0; j < D; j++) {
        const i = t * D + j;
        // scale/2 from rounding to a code, plus float32's own rounding of code × scale
        expect(Math.abs(y[i]! - x[i]!)).toBeLessThanOrEqual(scale / 2 + 1e-6 * Math.abs(x[i]!));
      }
    }
  });

  it("lays out T little-endian float32 scales, then the int8 codes", () => {
    const x = Float32Array.from([1, -0.5, 0, 0.25, -2, 2, 1, 0]);
    const blob = encodeModulation(x, 2, 4, "int8");
    const view = new DataView(blob.buffer);
    expect(view.getFloat32(0, true)).toBe(Math.fround(1 / 127));
    expect(view.getFloat32(4, true)).toBe(Math.fround(2 / 127));
    expect(Array.from(new Int8Array(blob.buffer, 8))).toEqual([127, -64, 0, 32, -127, 127, 64, 0]);
  });

  it("keeps an all-zero row zero (scale 0, no division by it)", () => {
    const x = new Float32Array(8);
    x.set([3, -3, 1, 0], 4);
    const y = decodeModulation(encodeModulation(x, 2, 4, "int8"), 2, 4);
    expect(Array.from(y.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    expect(y[4]).toBeCloseTo(3, 5);
    expect(Array.from(decodeModulation(encodeModulation(new Float32Array(0), 0, 0, "int8"), 0, 0))).toEqual([]);
  });

  it("reads float32 blobs exactly (format-1 bundles, older vaults), told apart by size", () => {
    const x = sample(4, 32);
    const blob = encodeModulation(x, 4, 32, "float32");
    expect(Array.from(decodeModulation(blob, 4, 32))).toEqual(Array.from(x));
    // An unaligned view (SQLite's buffer may start anywhere) decodes the same.
    const shifted = new Uint8Array(blob.byteLength + 1);
    shifted.set(blob, 1);
    expect(Array.from(decodeModulation(shifted.subarray(1), 4, 32))).toEqual(Array.from(x));
  });

  it("refuses a blob of neither size, a wrong length, and non-finite values", () => {
    expect(() => decodeModulation(new Uint8Array(100), 4, 32)).toThrow(
      /512 \(float32\) or 144 \(int8\) bytes, got 100/,
    );
    expect(() => encodeModulation(new Float32Array(3), 4, 32, "int8")).toThrow(/needs 128 values, got 3/);
    expect(() => encodeModulation(Float32Array.from([NaN, 1]), 1, 2, "int8")).toThrow(/non-finite/);
  });

  it("asStored is what a vault gives back, and storing it again changes nothing", () => {
    const x = sample(4, 32);
    expect(asStored(x, 4, 32, "float32")).toBe(x);
    const once = asStored(x, 4, 32, "int8"),
      twice = asStored(once, 4, 32, "int8");
    for (let i = 0; i < once.length; i++)
      expect(Math.abs(twice[i]! - once[i]!)).toBeLessThanOrEqual(1e-6 * Math.abs(once[i]!));
  });
});
