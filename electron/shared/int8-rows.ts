// The per-row int8 codec behind every vector Mnemo stores quantized: a modulation's slot rows
// (modulation-codec.ts) and a chunk's embedding (vault/embeddings.ts). Symmetric, one scale per row:
// scale = max|x| / 127, so the largest magnitude maps to ±127 and nothing clips; code = round(x / scale).

/**
 * How the row's scale is kept: a float32 in a modulation blob (rounded before encoding, so encoding
 * divides by exactly what decoding multiplies by), a float64 (SQLite REAL) beside an embedding.
 */
export type ScaleWidth = "float32" | "float64";

/**
 * Quantizes the n values x[from ..] into codes[at ..] and returns the row's scale: 0 for an all-zero
 * row, whose codes are left as they are (0 in a fresh array). A non-finite value is a RangeError
 * naming `what`.
 */
export function quantizeRow(
  x: ArrayLike<number>,
  from: number,
  n: number,
  codes: Int8Array,
  at: number,
  width: ScaleWidth,
  what = "a row",
): number {
  let max = 0;
  for (let j = from; j < from + n; j++) max = Math.max(max, Math.abs(x[j]!));
  if (!Number.isFinite(max)) throw new RangeError(`${what} holds a non-finite value`);
  const scale = width === "float32" ? Math.fround(max / 127) : max / 127;
  if (scale === 0) return 0;
  for (let j = 0; j < n; j++) codes[at + j] = Math.max(-127, Math.min(127, Math.round(x[from + j]! / scale)));
  return scale;
}

/** Decodes n codes from codes[at ..] into out[outAt ..] (a new array by default): code × scale. */
export function dequantizeRow(
  codes: Int8Array,
  at: number,
  n: number,
  scale: number,
  out = new Float32Array(n),
  outAt = 0,
): Float32Array {
  for (let j = 0; j < n; j++) out[outAt + j] = codes[at + j]! * scale;
  return out;
}
