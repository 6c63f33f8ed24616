// Where things live: the default model bundle (built by `npm run setup` into the cache, or shipped
// beside the packaged app), the cache, and the data folder, which is where Electron's
// app.getPath("userData") would put it so the CLI, the local server and the desktop app share vaults.
import os from "node:os";
import path from "node:path";

/** The bundle setup builds by default (models/mnemo_models/build_bundle.py; chosen in docs/eval.md). */
export const DEFAULT_BUNDLE_NAME = "gemma3-270m-q8";

/** Same rule as models/mnemo_models/sources.py: MNEMO_CACHE_DIR, else $XDG_CACHE_HOME/mnemo, else ~/.cache/mnemo. */
export function cacheDir(env = process.env, home = os.homedir()): string {
  if (env.MNEMO_CACHE_DIR) return path.resolve(env.MNEMO_CACHE_DIR);
  return path.join(env.XDG_CACHE_HOME || path.join(home, ".cache"), "mnemo");
}

/** MNEMO_BUNDLE, else the setup-built default bundle in the cache. */
export function defaultBundleDir(env = process.env, home = os.homedir()): string {
  if (env.MNEMO_BUNDLE) return path.resolve(env.MNEMO_BUNDLE);
  return path.join(cacheDir(env, home), "bundles", DEFAULT_BUNDLE_NAME);
}

export const DEFAULT_BUNDLE = defaultBundleDir();

export function defaultDataDir(env = process.env, platform = process.platform, home = os.homedir()): string {
  if (env.MNEMO_DATA_DIR) return path.resolve(env.MNEMO_DATA_DIR);
  if (platform === "win32") return path.join(env.APPDATA ?? path.join(home, "AppData", "Roaming"), "Mnemo");
  if (platform === "darwin") return path.join(home, "Library", "Application Support", "Mnemo");
  return path.join(env.XDG_CONFIG_HOME ?? path.join(home, ".config"), "Mnemo");
}
