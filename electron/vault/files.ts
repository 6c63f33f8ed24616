// Files on the way in: which paths to ingest (folders walked, symlinks kept inside the folder),
// size limits, content hashes. Reading only: the vault folder is the one place Mnemo writes.
import { createHash } from "node:crypto";
import { lstat, readdir, readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { AppError } from "../shared/errors.js";
import { docTypeOf, type DocType } from "./extract.js";

/** Larger files are refused before they are read (a 200 MB PDF is almost always a scan or a mistake). */
export const DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024;

export interface InputFile {
  path: string;
  type: DocType;
  size: number;
  mtimeMs: number;
}
export interface Skipped {
  path: string;
  reason: string;
}

export const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** True when target is root itself or lies inside it (both absolute, already resolved). */
export function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/**
 * The files to ingest for the paths a user gave: files as named, folders walked recursively (hidden
 * entries skipped). Inside a folder, a symlink that leads outside it is refused, never followed.
 */
export async function collectInputs(paths: readonly string[]): Promise<{ files: InputFile[]; skipped: Skipped[] }> {
  const files: InputFile[] = [],
    skipped: Skipped[] = [];
  for (const given of paths) {
    const abs = path.resolve(given);
    let real: string;
    try {
      real = await realpath(abs);
    } catch (e) {
      skipped.push({
        path: abs,
        reason: (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or folder" : (e as Error).message,
      });
      continue;
    }
    const st = await stat(real);
    if (st.isDirectory()) await walk(real, real, files, skipped);
    else await addFile(abs, real, files, skipped, true);
  }
  return { files, skipped };
}

async function walk(dir: string, root: string, files: InputFile[], skipped: Skipped[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    skipped.push({
      path: dir,
      reason: `cannot read folder: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    });
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith(".")) continue;
    const full = path.join(dir, e.name);
    let real = full;
    if (e.isSymbolicLink()) {
      try {
        real = await realpath(full);
      } catch {
        skipped.push({ path: full, reason: "broken symlink" });
        continue;
      }
      if (!isInside(root, real)) {
        skipped.push({ path: full, reason: `symlink to ${real}, outside the folder being added; not followed` });
        continue;
      }
    }
    const st = await lstat(real);
    if (st.isDirectory()) {
      // linked folders inside root are walked via their real path
      if (!e.isSymbolicLink()) await walk(full, root, files, skipped);
    } else if (st.isFile()) await addFile(full, real, files, skipped, false);
  }
}

async function addFile(
  shown: string,
  real: string,
  files: InputFile[],
  skipped: Skipped[],
  explicit: boolean,
): Promise<void> {
  const type = docTypeOf(real);
  if (!type) {
    if (explicit)
      skipped.push({
        path: shown,
        reason: `unsupported file type ${path.extname(real) || "(no extension)"}; Mnemo reads PDF, Word (.docx), Markdown, HTML and text`,
      });
    return;
  }
  const st = await stat(real);
  if (!st.isFile()) {
    skipped.push({ path: shown, reason: "not a regular file" });
    return;
  }
  files.push({ path: real, type, size: st.size, mtimeMs: st.mtimeMs });
}

/** Reads a file whole, refusing one over maxBytes before reading a byte of it. */
export async function readLimited(file: string, maxBytes: number): Promise<Uint8Array> {
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    throw new AppError(
      "IO_ERROR",
      `${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (st.size > maxBytes) {
    throw new AppError(
      "FILE_TOO_LARGE",
      `${path.basename(file)} is ${(st.size / 2 ** 20).toFixed(0)} MB; the limit is ${(maxBytes / 2 ** 20).toFixed(0)} MB`,
    );
  }
  try {
    return await readFile(file);
  } catch (e) {
    throw new AppError(
      "IO_ERROR",
      `${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}
