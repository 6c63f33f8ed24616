// How a modulation [T, D] is kept on disk and in the engine's banks. float32: T*D little-endian floats
// (format-1 bundles, vaults from before int8). int8: per slot row one float32 scale = max|x|/127, then
// T*D int8 codes round(x / scale): T*(4 + D) bytes (16 KB instead of 40 KB for T = 16, D = 640).
// A blob's size tells the two apart (T*D*4 = T*(D+4) only for D = 4/3), so old blobs stay readable.
// The int8 rows are int8-rows.ts's codec, shared with the vault's embeddings.
import { dequantizeRow, quantizeRow } from "./int8-rows.js";

export type ModulationStorage = "int8" | "float32";

/** Every platform Mnemo ships on is little-endian; the DataView loops only serve a big-endian one. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes of one stored modulation of T slots × D values. */
export function modulationBytes(storage: ModulationStorage, T: number, D: number): number {
  return storage === "int8" ? T * (4 + D) : T * D * 4;
}

/** Encodes x (T*D floats, slot-major) for storage; little-endian whatever the platform. */
export function encodeModulation(x: Float32Array, T: number, D: number, storage: ModulationStorage): Uint8Array {
  if (x.length !== T * D) throw new RangeError(`a modulation of ${T}×${D} needs ${T * D} values, got ${x.length}`);
  const out = new Uint8Array(modulationBytes(storage, T, D));
  const view = new DataView(out.buffer);
  if (storage === "float32") {
    if (LITTLE_ENDIAN) out.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
    else for (let i = 0; i < x.length; i++) view.setFloat32(i * 4, x[i]!, true);
    return out;
  }
  const codes = new Int8Array(out.buffer, T * 4, T * D);
  for (let t = 0; t < T; t++)
    view.setFloat32(t * 4, quantizeRow(x, t * D, D, codes, t * D, "float32", `modulation slot ${t}`), true);
  return out;
}

/** Decodes a stored modulation of T×D, in either storage (told apart by its size). */
export function decodeModulation(blob: Uint8Array, T: number, D: number): Float32Array {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const out = new Float32Array(T * D);
  if (blob.byteLength === modulationBytes("float32", T, D)) {
    if (LITTLE_ENDIAN)
      new Uint8Array(out.buffer).set(blob); // a copy: aligned, owns its memory
    else for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  if (blob.byteLength !== modulationBytes("int8", T, D)) {
    throw new RangeError(
      `a stored modulation of ${T}×${D} has ${T * D * 4} (float32) or ${T * (4 + D)} (int8) bytes, got ${blob.byteLength}`,
    );
  }
  const codes = new Int8Array(blob.buffer, blob.byteOffset + T * 4, T * D);
  for (let t = 0; t < T; t++) dequantizeRow(codes, t * D, D, view.getFloat32(t * 4, true), out, t * D);
  return out;
}

/** x as it comes back from storage: what the engine should attend over so a bank loaded later agrees. */
export function asStored(x: Float32Array, T: number, D: number, storage: ModulationStorage): Float32Array {
  return storage === "float32" ? x : decodeModulation(encodeModulation(x, T, D, storage), T, D);
}
