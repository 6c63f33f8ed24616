// Where things live: the bundle that ships with Mnemo (relative to the compiled code, out/<layer>/ in a
// checkout) and the data folder, which is where Electron's app.getPath("userData") would put it so
// the CLI, the local server and the desktop app share vaults.
import os from "node:os";
import path from "node:path";

export const DEFAULT_BUNDLE = path.resolve(import.meta.dirname, "../../models/bundles/default");

export function defaultDataDir(env = process.env, platform = process.platform, home = os.homedir()): string {
  if (env.MNEMO_DATA_DIR) return path.resolve(env.MNEMO_DATA_DIR);
  if (platform === "win32") return path.join(env.APPDATA ?? path.join(home, "AppData", "Roaming"), "Mnemo");
  if (platform === "darwin") return path.join(home, "Library", "Application Support", "Mnemo");
  return path.join(env.XDG_CONFIG_HOME ?? path.join(home, ".config"), "Mnemo");
}
