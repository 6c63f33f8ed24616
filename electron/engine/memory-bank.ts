// The engine's in-memory banks: named groups (a vault, or the CLI's ad-hoc documents) of entries,
// each a modulation [T*D] with (format-1 heads) its question-independent aggregator K/V cached at
// insertion, or (int8 storage) the modulation's int8 blob alone, decoded when it is aggregated.
// A key names what an entry came from (a chunk id, a file name); attention is reported per key.
import { decodeModulation } from "../shared/modulation-codec.js";

/**
 * float32 with cached K/V: format-1 heads, (blocks, 2, T, D) beside the modulation. A blob: reader
 * bundles with int8 storage, whose K/V would be 80 KB per chunk for Gemma; theirs is computed per
 * question for the entries aggregated, and the modulation stays ~10 KB instead of 40 KB.
 */
export type BankEntry = { modulation: Float32Array; kv?: Float32Array } | { blob: Uint8Array };

/** An entry's modulation [T*D] as float32. */
export function modulationOf(e: BankEntry, T: number, D: number): Float32Array {
  return "blob" in e ? decodeModulation(e.blob, T, D) : e.modulation;
}

/** The entries' cached K/V, when every one of them has it (an empty bank's is empty). */
export function cachedKV(entries: readonly BankEntry[]): Float32Array[] | undefined {
  const kvs = entries.map((e) => ("kv" in e ? e.kv : undefined));
  return kvs.every((k): k is Float32Array => k !== undefined) ? kvs : undefined;
}

export class MemoryBanks {
  private readonly banks = new Map<string, Map<string, BankEntry[]>>();

  /** Adds entries under key, replacing whatever the key held before. */
  put(bank: string, key: string, entries: BankEntry[]): void {
    let b = this.banks.get(bank);
    if (!b) this.banks.set(bank, (b = new Map()));
    b.set(key, entries);
  }

  /** Appends entries to a key (a document ingested in several windows). */
  append(bank: string, key: string, entries: BankEntry[]): void {
    const b = this.banks.get(bank);
    const old = b?.get(key) ?? [];
    this.put(bank, key, [...old, ...entries]);
  }

  /** Drops the given keys, or the whole bank when keys is undefined. */
  drop(bank: string, keys?: readonly string[]): void {
    if (!keys) {
      this.banks.delete(bank);
      return;
    }
    const b = this.banks.get(bank);
    for (const k of keys) b?.delete(k);
  }

  size(bank?: string): number {
    let n = 0;
    for (const [name, b] of this.banks)
      if (bank === undefined || name === bank) for (const e of b.values()) n += e.length;
    return n;
  }

  /** The entries in scope (all banks when scope is undefined), flat, with who each belongs to. */
  gather(scope?: readonly string[]): { entries: BankEntry[]; owners: { bank: string; key: string }[] } {
    const entries: BankEntry[] = [],
      owners: { bank: string; key: string }[] = [];
    for (const name of scope ?? [...this.banks.keys()]) {
      for (const [key, list] of this.banks.get(name) ?? []) {
        for (const e of list) {
          entries.push(e);
          owners.push({ bank: name, key });
        }
      }
    }
    return { entries, owners };
  }
}

/** Sums attention weights per (bank, key), heaviest first; keeps the top `limit`. */
export function weightsByOwner(
  weights: readonly number[],
  owners: readonly { bank: string; key: string }[],
  limit = 32,
) {
  const sums = new Map<string, { bank: string; key: string; weight: number }>();
  weights.forEach((w, i) => {
    const o = owners[i]!;
    const id = `${o.bank}\u0000${o.key}`;
    const s = sums.get(id);
    if (s) s.weight += w;
    else sums.set(id, { ...o, weight: w });
  });
  return [...sums.values()].sort((a, b) => b.weight - a.weight).slice(0, limit);
}
