// The vaults of one data folder: <dataDir>/vaults/<id>/. Names are what users type; ids (random hex)
// are what touches the disk, so no user string ever becomes a path.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { AppError } from "../shared/errors.js";
import { isInside } from "./files.js";
import { DB_FILE, Vault, type VaultInfo } from "./vault.js";

export function validateVaultName(name: string): string {
  const trimmed = name.trim();
  if (!trimmed) throw new AppError("INVALID_ARGUMENT", "a vault name cannot be empty");
  if (trimmed.length > 100) throw new AppError("INVALID_ARGUMENT", "a vault name has at most 100 characters");
  if (/\p{Cc}/u.test(trimmed)) throw new AppError("INVALID_ARGUMENT", "a vault name cannot contain control characters");
  return trimmed;
}

export class VaultRegistry {
  readonly root: string;
  private readonly open = new Map<string, Vault>();

  constructor(dataDir: string) {
    this.root = path.join(dataDir, "vaults");
  }

  async list(): Promise<VaultInfo[]> {
    if (!existsSync(this.root)) return [];
    const out: VaultInfo[] = [];
    for (const e of await readdir(this.root, { withFileTypes: true })) {
      if (!e.isDirectory() || e.name.startsWith(".") || !existsSync(path.join(this.root, e.name, DB_FILE))) continue;
      out.push((await this.vault(e.name)).info());
    }
    return out.sort((a, b) => a.createdAt - b.createdAt || a.name.localeCompare(b.name));
  }

  /** A vault by id or by (case-insensitive) name. */
  async get(idOrName: string): Promise<Vault> {
    if (/^[0-9a-f]{12}$/.test(idOrName) && existsSync(path.join(this.root, idOrName, DB_FILE)))
      return this.vault(idOrName);
    const match = (await this.list()).find((v) => v.name.toLowerCase() === idOrName.trim().toLowerCase());
    if (!match) throw new AppError("VAULT_NOT_FOUND", `no vault named "${idOrName}"`);
    return this.vault(match.id);
  }

  async create(name: string): Promise<Vault> {
    const clean = await this.freeName(name);
    await mkdir(this.root, { recursive: true });
    const id = randomBytes(6).toString("hex");
    const vault = await Vault.create(path.join(this.root, id), id, clean);
    this.open.set(id, vault);
    return vault;
  }

  async rename(idOrName: string, name: string): Promise<Vault> {
    const vault = await this.get(idOrName);
    const clean = validateVaultName(name);
    if (clean.toLowerCase() !== vault.name.toLowerCase()) await this.freeName(clean);
    vault.store.setMeta("name", clean);
    return vault;
  }

  async remove(idOrName: string): Promise<VaultInfo> {
    const vault = await this.get(idOrName);
    const info = vault.info();
    vault.close();
    this.open.delete(info.id);
    if (!isInside(this.root, info.dir) || info.dir === this.root)
      throw new AppError("PATH_OUTSIDE", `refusing to delete ${info.dir}`);
    await rm(info.dir, { recursive: true, force: true });
    return info;
  }

  async importVault(file: string, name?: string): Promise<Vault> {
    await mkdir(this.root, { recursive: true });
    const id = randomBytes(6).toString("hex");
    const taken = new Set((await this.list()).map((v) => v.name.toLowerCase()));
    const vault = await Vault.importFrom(file, path.join(this.root, id), id, (exported) =>
      uniqueName(name ?? exported, taken),
    );
    this.open.set(id, vault);
    return vault;
  }

  closeAll(): void {
    for (const v of this.open.values()) v.close();
    this.open.clear();
  }

  private async vault(id: string): Promise<Vault> {
    let v = this.open.get(id);
    if (!v || !v.db.open) {
      v = await Vault.open(path.join(this.root, id));
      this.open.set(id, v);
    }
    return v;
  }

  private async freeName(name: string): Promise<string> {
    const clean = validateVaultName(name);
    if ((await this.list()).some((v) => v.name.toLowerCase() === clean.toLowerCase())) {
      throw new AppError("VAULT_EXISTS", `a vault named "${clean}" already exists`);
    }
    return clean;
  }
}

/** name, or "name (2)", "name (3)"... whichever is not taken (case-insensitive). */
function uniqueName(name: string, taken: Set<string>): string {
  const base = validateVaultName(name);
  let candidate = base;
  for (let k = 2; taken.has(candidate.toLowerCase()); k++) candidate = `${base} (${k})`;
  return candidate;
}
