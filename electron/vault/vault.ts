// One vault on disk: <root>/<id>/vault.db (SQLite, WAL) and <root>/<id>/files/ (the vault's own copy
// of every document, content-addressed). All writes of a vault go through here or VaultStore.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { AppError } from "../shared/errors.js";
import type { DocType } from "./extract.js";
import { isInside, sha256 } from "./files.js";
import { openDb, type Db } from "./schema.js";
import { VaultStore } from "./store.js";

export const DB_FILE = "vault.db";
const FILES = "files";
/** A stored file or temp file younger than this may belong to an ingest in flight in another process. */
const GC_GRACE_MS = 60 * 60 * 1000;

export interface VaultInfo {
  id: string;
  name: string;
  dir: string;
  createdAt: number;
}

export class Vault {
  private constructor(
    readonly dir: string,
    readonly store: VaultStore,
  ) {}

  get id(): string {
    return this.store.meta("id")!;
  }
  get name(): string {
    return this.store.meta("name")!;
  }
  get db(): Db {
    return this.store.db;
  }

  info(): VaultInfo {
    return { id: this.id, name: this.name, dir: this.dir, createdAt: Number(this.store.meta("created_at")) };
  }

  static async create(dir: string, id: string, name: string, now = Date.now()): Promise<Vault> {
    await mkdir(path.join(dir, FILES), { recursive: true });
    const vault = new Vault(dir, new VaultStore(openDb(path.join(dir, DB_FILE))));
    vault.store.db.transaction(() => {
      vault.store.setMeta("id", id);
      vault.store.setMeta("name", name);
      vault.store.setMeta("created_at", String(now));
    })();
    return vault;
  }

  static async open(dir: string): Promise<Vault> {
    const file = path.join(dir, DB_FILE);
    if (!existsSync(file)) throw new AppError("VAULT_NOT_FOUND", `no vault at ${dir}`);
    await mkdir(path.join(dir, FILES), { recursive: true });
    const vault = new Vault(dir, new VaultStore(openDb(file)));
    if (!vault.store.meta("id") || !vault.store.meta("name")) {
      vault.close();
      throw new AppError("VAULT_CORRUPT", `${file} has no vault id or name`);
    }
    return vault;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Keeps a copy of a document's bytes (write to a temp file, then rename: never a torn file). */
  async storeFile(bytes: Uint8Array, type: DocType, hash = sha256(bytes)): Promise<string> {
    const rel = `${FILES}/${hash}.${type}`;
    const target = this.resolve(rel);
    if (existsSync(target)) return rel;
    const tmp = this.resolve(`${FILES}/.tmp-${randomBytes(8).toString("hex")}`);
    await writeFile(tmp, bytes);
    await rename(tmp, target);
    return rel;
  }

  /** Absolute path of a path relative to the vault folder; refuses anything that would leave it. */
  resolve(rel: string): string {
    const abs = path.resolve(this.dir, rel);
    if (!isInside(this.dir, abs)) throw new AppError("PATH_OUTSIDE", `${rel} is outside the vault`);
    return abs;
  }

  /** Deletes stored copies no document refers to and temp files left by a crash (after a grace period). */
  async collectGarbage(now = Date.now()): Promise<number> {
    const used = this.store.storedFiles();
    let removed = 0;
    for (const name of await readdir(this.resolve(FILES))) {
      const rel = `${FILES}/${name}`;
      if (used.has(rel)) continue;
      const file = this.resolve(rel);
      if (now - (await stat(file)).mtimeMs < GC_GRACE_MS) continue;
      await unlink(file);
      removed++;
    }
    return removed;
  }

  /** Everything in one SQLite file: a consistent snapshot of the database plus the stored copies. */
  async exportTo(file: string): Promise<void> {
    const tmp = `${file}.partial-${randomBytes(4).toString("hex")}`;
    await this.db.backup(tmp);
    const out = openDb(tmp);
    try {
      out.exec("CREATE TABLE export_files (name TEXT PRIMARY KEY, data BLOB NOT NULL)");
      const put = out.prepare("INSERT INTO export_files (name, data) VALUES (?, ?)");
      for (const rel of new VaultStore(out).storedFiles()) {
        put.run(rel, await readFile(this.resolve(rel)));
      }
      out.pragma("journal_mode = DELETE"); // one self-contained file, no -wal beside it
    } finally {
      out.close();
    }
    await rename(tmp, file);
  }

  /** Builds a vault from an export in a hidden folder, then renames it into place (all or nothing). */
  static async importFrom(
    file: string,
    dir: string,
    id: string,
    chooseName: (exportedName: string) => string,
  ): Promise<Vault> {
    const staging = path.join(path.dirname(dir), `.importing-${id}`);
    await rm(staging, { recursive: true, force: true });
    await mkdir(path.join(staging, FILES), { recursive: true });
    try {
      await copyFile(file, path.join(staging, DB_FILE));
      const db = openDb(path.join(staging, DB_FILE));
      try {
        const store = new VaultStore(db);
        if (!store.meta("id")) throw new AppError("VAULT_CORRUPT", `${file} is not a Mnemo vault export`);
        const hasFiles = db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'export_files'").get();
        if (hasFiles) {
          for (const row of db.prepare("SELECT name, data FROM export_files").iterate() as Iterable<{
            name: string;
            data: Buffer;
          }>) {
            const target = path.resolve(staging, row.name);
            if (!isInside(path.join(staging, FILES), target))
              throw new AppError("PATH_OUTSIDE", `export entry ${row.name} points outside the vault`);
            await writeFile(target, row.data);
          }
          db.exec("DROP TABLE export_files");
        }
        const problems = store.integrityProblems();
        if (problems.length) throw new AppError("VAULT_CORRUPT", `${file} is damaged: ${problems[0]}`);
        db.transaction(() => {
          store.setMeta("id", id);
          store.setMeta("name", chooseName(store.meta("name") ?? "Imported"));
        })();
        db.exec("VACUUM");
      } finally {
        db.close();
      }
      await rename(staging, dir);
    } catch (e) {
      await rm(staging, { recursive: true, force: true });
      if (e instanceof AppError) throw e;
      throw new AppError("VAULT_CORRUPT", `${file} could not be imported: ${(e as Error).message}`);
    }
    return Vault.open(dir);
  }
}
