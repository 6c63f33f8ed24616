// electron-builder afterPack hook (before signing and before the installers are made): keeps only
// the target platform's and architecture's ONNX Runtime binaries. onnxruntime-node carries prebuilt binaries for Linux,
// Windows and macOS (~290 MB); a platform's build needs its own (45-86 MB). A platform-level "files"
// pattern cannot do this: it replaces the top-level file list instead of adding to it.
const { existsSync, readdirSync, rmSync } = require("node:fs");
const path = require("node:path");

/** electron-builder's Arch enum (builder-util), by value. A universal macOS build keeps every architecture. */
const ARCH_NAMES = ["ia32", "x64", "armv7l", "arm64", "universal"];

exports.default = async function afterPack({ appOutDir, electronPlatformName, packager, arch }) {
  const resources =
    electronPlatformName === "darwin" || electronPlatformName === "mas"
      ? path.join(appOutDir, `${packager.appInfo.productFilename}.app`, "Contents", "Resources")
      : path.join(appOutDir, "resources");
  const bin = path.join(resources, "app.asar.unpacked", "node_modules", "onnxruntime-node", "bin");
  if (!existsSync(bin))
    throw new Error(`afterPack: no ONNX Runtime binaries at ${bin}; is onnxruntime-node still unpacked from the asar?`);
  const keep = electronPlatformName === "mas" ? "darwin" : electronPlatformName;
  const archName = ARCH_NAMES[arch];
  for (const napi of readdirSync(bin)) {
    for (const platform of readdirSync(path.join(bin, napi))) {
      const dir = path.join(bin, napi, platform);
      if (platform !== keep) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      // unknown: keep all rather than break the app
      if (!archName || archName === "universal" || !existsSync(path.join(dir, archName))) continue;
      for (const a of readdirSync(dir)) if (a !== archName) rmSync(path.join(dir, a), { recursive: true, force: true });
    }
  }
};
