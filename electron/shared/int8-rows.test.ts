// The shared per-row int8 codec: scales, rounding, zero rows and non-finite values. That vaults
// store the same bytes through it as before it existed: vault/stored-bytes.test.ts.
import { describe, expect, it } from "vitest";
import { dequantizeRow, quantizeRow } from "./int8-rows.js";

describe("int8 rows", () => {
  it("maps the largest magnitude to ±127 and rounds the rest to the nearest code, halves up (Math.round)", () => {
    const codes = new Int8Array(6);
    const scale = quantizeRow([0, 2, -1, 0.5, 1, 0.3], 1, 4, codes, 2, "float64");
    expect(scale).toBe(2 / 127);
    expect(Array.from(codes)).toEqual([0, 0, 127, -63, 32, 64]); // -63.5 and 63.5
    expect(Array.from(dequantizeRow(codes, 2, 4, scale))).toEqual(
      [127, -63, 32, 64].map((c) => Math.fround(c * scale)),
    );
  });

  it("rounds the scale to float32 first when it is stored as one", () => {
    const codes = new Int8Array(2);
    expect(quantizeRow([1, -0.5], 0, 2, codes, 0, "float32")).toBe(Math.fround(1 / 127));
    expect(quantizeRow([1, -0.5], 0, 2, codes, 0, "float64")).toBe(1 / 127);
  });

  it("gives an all-zero row scale 0 and leaves its codes alone; refuses non-finite values by name", () => {
    const codes = new Int8Array(3);
    expect(quantizeRow([0, 0, 0], 0, 3, codes, 0, "float32")).toBe(0);
    expect(Array.from(codes)).toEqual([0, 0, 0]);
    expect(() => quantizeRow([1, Infinity], 0, 2, codes, 0, "float32", "slot 4")).toThrow(
      /slot 4 holds a non-finite value/,
    );
    expect(() => quantizeRow([NaN, 1], 0, 2, codes, 0, "float64")).toThrow(/a row holds a non-finite value/);
  });
});
