// Watched folders: chokidar events (subfolders included, symlinks not followed) gathered into debounced
// batches of changed and removed files, so a burst of saves becomes one ingest job.
import path from "node:path";
import { watch, type FSWatcher } from "chokidar";
import { docTypeOf } from "./extract.js";

export interface WatchBatch {
  changed: string[];
  removed: string[];
}

export interface FolderWatch {
  /** Resolves once the initial scan is done and events are flowing. */
  ready: Promise<void>;
  close(): Promise<void>;
}

export function watchFolder(
  dir: string,
  onBatch: (batch: WatchBatch) => void,
  opts: { debounceMs?: number; onError?: (e: Error) => void } = {},
): FolderWatch {
  const debounceMs = opts.debounceMs ?? 750;
  const changed = new Set<string>(),
    removed = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    if (!changed.size && !removed.size) return;
    const batch = { changed: [...changed], removed: [...removed] };
    changed.clear();
    removed.clear();
    onBatch(batch);
  };
  const note = (set: Set<string>, other: Set<string>) => (file: string) => {
    const abs = path.resolve(file);
    other.delete(abs);
    set.add(abs);
    clearTimeout(timer);
    timer = setTimeout(flush, debounceMs);
  };
  const watcher: FSWatcher = watch(dir, {
    ignoreInitial: true,
    followSymlinks: false,
    // Hidden entries and files Mnemo cannot read never produce events; folders are always descended.
    ignored: (p, stats) =>
      (p !== dir && path.basename(p).startsWith(".")) || (stats?.isFile() === true && docTypeOf(p) === null),
    // Wait for a file to stop growing before reading it (a PDF being downloaded or copied).
    awaitWriteFinish: { stabilityThreshold: Math.min(500, debounceMs), pollInterval: 50 },
  });
  watcher.on("add", note(changed, removed)).on("change", note(changed, removed)).on("unlink", note(removed, changed));
  watcher.on("error", (e) => opts.onError?.(e as Error));
  const ready = new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  return {
    ready,
    close: async () => {
      clearTimeout(timer);
      flush();
      await watcher.close();
    },
  };
}
