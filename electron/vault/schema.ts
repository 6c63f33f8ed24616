// The vault database: one SQLite file per vault (WAL), its schema and forward-only migrations.
// PRAGMA user_version is the schema version; a file from a newer Mnemo is refused, never downgraded.
import Database from "better-sqlite3";
import { AppError } from "../shared/errors.js";

export type Db = Database.Database;

/** Migration i takes a database at version i to version i + 1; each runs in one transaction. */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE documents (
     id INTEGER PRIMARY KEY,
     source TEXT UNIQUE,                -- absolute path it came from; NULL for notes and uploads
     name TEXT NOT NULL,                -- file name shown to the user
     title TEXT NOT NULL,
     type TEXT NOT NULL,                -- pdf | md | txt | html
     size INTEGER NOT NULL,
     mtime_ms INTEGER NOT NULL,
     content_hash TEXT,                 -- sha256 of the bytes last ingested
     stored_file TEXT,                  -- the vault's own copy, relative to the vault folder
     status TEXT NOT NULL CHECK (status IN ('queued', 'ready', 'error')),
     error TEXT,
     warning TEXT,
     pages INTEGER,
     added_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX documents_status ON documents(status);
   CREATE INDEX documents_hash ON documents(content_hash);
   CREATE TABLE chunks (
     id INTEGER PRIMARY KEY,
     document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
     seq INTEGER NOT NULL,
     text TEXT NOT NULL,
     page_start INTEGER NOT NULL,
     page_end INTEGER NOT NULL,
     char_start INTEGER NOT NULL,
     char_end INTEGER NOT NULL,
     token_count INTEGER NOT NULL,
     UNIQUE (document_id, seq)
   );
   -- One modulation per chunk: [n_slots, n_embd] little-endian float32, tagged with the bundle that made it.
   CREATE TABLE modulations (
     chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
     bundle_id TEXT NOT NULL,
     slots INTEGER NOT NULL,
     width INTEGER NOT NULL,
     data BLOB NOT NULL
   );
   CREATE INDEX modulations_bundle ON modulations(bundle_id);
   CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks', content_rowid='id', tokenize='porter unicode61');
   CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
     INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
   END;
   CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
     INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
   END;
   CREATE TABLE watches (id INTEGER PRIMARY KEY, dir TEXT NOT NULL UNIQUE, added_at INTEGER NOT NULL);`,
  // 2: the vault's question history, kept with the vault (it moves with an export, any client sees it).
  `CREATE TABLE questions (id INTEGER PRIMARY KEY, question TEXT NOT NULL, answer TEXT NOT NULL, mode TEXT NOT NULL, asked_at INTEGER NOT NULL);
   CREATE INDEX questions_time ON questions(asked_at);`,
  // 3: one dense embedding per chunk from the bundle's sentence encoder (vault/embeddings.ts), tagged with
  // the encoder that made it (sha256 of its graph) so another encoder's vectors are never compared with
  // these. Vaults from before this version start with none; the app fills them in (app/embed.ts).
  `CREATE TABLE embeddings (
     chunk_id INTEGER PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
     encoder TEXT NOT NULL,
     format TEXT NOT NULL CHECK (format IN ('int8', 'f16', 'f32')),
     dim INTEGER NOT NULL,
     scale REAL NOT NULL,              -- int8: value = byte * scale; 1 for the float formats
     data BLOB NOT NULL
   );
   CREATE INDEX embeddings_encoder ON embeddings(encoder);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function openDb(file: string, opts: { readonly?: boolean; migrations?: readonly string[] } = {}): Db {
  let db: Db;
  try {
    db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  } catch (e) {
    throw new AppError("VAULT_CORRUPT", `cannot open ${file}: ${(e as Error).message}`);
  }
  try {
    if (!opts.readonly) db.pragma("journal_mode = WAL");
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    // WAL + NORMAL keeps every committed transaction across a process crash (only an OS crash can
    // lose the last ones), which is the durability a vault needs at a fraction of FULL's fsyncs.
    db.pragma("synchronous = NORMAL");
    migrate(db, opts.migrations ?? MIGRATIONS);
    return db;
  } catch (e) {
    db.close();
    if (e instanceof AppError) throw e;
    throw new AppError("VAULT_CORRUPT", `${file} is not a readable vault: ${(e as Error).message}`);
  }
}

export function migrate(db: Db, migrations: readonly string[]): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > migrations.length) {
    throw new AppError(
      "VAULT_TOO_NEW",
      `this vault was written by a newer Mnemo (schema ${version}, this one knows ${migrations.length})`,
    );
  }
  for (let v = version; v < migrations.length; v++) {
    db.transaction(() => {
      db.exec(migrations[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
