// The packaging configuration, checked where Electron cannot run: a directory build with a stub
// Electron distribution (electron-builder --dir, no native rebuild) must put the app's code in the
// asar, the default model bundle beside it, the native modules outside it, and no development files.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import asar from "@electron/asar";
import { generateSigningKeys } from "../electron/update/signature.js";
import { defaultBundleDir } from "../electron/app/paths.js";

const repo = path.resolve(import.meta.dirname, "..");
const work = mkdtempSync(path.join(os.tmpdir(), "mnemo-pack-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const config = JSON.parse(readFileSync(path.join(repo, "build/electron-builder.json"), "utf8"));
const pkg = JSON.parse(readFileSync(path.join(repo, "package.json"), "utf8"));

describe("packaging", () => {
  it("configures signed, hardened builds for every platform", () => {
    expect(config.linux.target).toEqual(["AppImage", "deb"]);
    expect(config.win.target).toEqual(["nsis"]);
    expect(config.mac).toMatchObject({ target: ["dmg", "zip"], hardenedRuntime: true, notarize: true });
    expect(existsSync(path.join(repo, config.mac.entitlements))).toBe(true);
    expect(config.asarUnpack).toEqual(
      expect.arrayContaining(["node_modules/onnxruntime-node/**", "node_modules/better-sqlite3/**"]),
    );
    // What the app loads at run time must ship: runtime dependencies, not devDependencies.
    for (const dep of [
      "onnxruntime-node",
      "better-sqlite3",
      "@huggingface/tokenizers",
      "pdfjs-dist",
      "zod",
      "ws",
      "electron-updater",
    ])
      expect(pkg.dependencies).toHaveProperty(dep);
    // Updates come from the configured feed; the release key's
    // public half ships beside the app when the repository has it.
    expect(config.publish[0]).toMatchObject({ provider: "generic" });
    expect(config.extraResources).toContainEqual({ from: "build", to: ".", filter: ["update-signing-key.pem"] });
    expect(pkg.main).toBe("out/main/main.js");
  });

  it("lays out a directory build: code in the asar, bundle beside it, native modules unpacked, no dev files", () => {
    const stub = path.join(work, "electron-dist");
    rmSync(stub, { recursive: true, force: true });
    spawnSync("mkdir", ["-p", stub]);
    writeFileSync(path.join(stub, "electron"), "");
    chmodSync(path.join(stub, "electron"), 0o755);
    const out = path.join(work, "dist");
    // The repository holds no release key (RELEASING.md: the release team makes one); a test key stands in for it.
    const keyDir = path.join(work, "key");
    spawnSync("mkdir", ["-p", keyDir]);
    writeFileSync(path.join(keyDir, "update-signing-key.pem"), generateSigningKeys().publicKeyPem);
    const testConfig = path.join(work, "electron-builder.json");
    // `npm run dist` stages the setup-built bundle in build/bundle
    // (scripts/stage-bundle.mjs); here it comes straight from the cache.
    const staged = (from: string) => (from === "build" ? keyDir : from === "build/bundle" ? defaultBundleDir() : from);
    writeFileSync(
      testConfig,
      JSON.stringify({
        ...config,
        extraResources: config.extraResources.map((r: { from: string }) => ({ ...r, from: staged(r.from) })),
      }),
    );
    const r = spawnSync(
      path.join(repo, "node_modules/.bin/electron-builder"),
      [
        "--dir",
        "--linux",
        "--config",
        testConfig,
        `-c.electronDist=${stub}`,
        `-c.electronVersion=${pkg.devDependencies.electron}`,
        "-c.npmRebuild=false",
        `-c.directories.output=${out}`,
        "--publish",
        "never",
      ],
      { cwd: repo, encoding: "utf8", env: { ...process.env, CSC_IDENTITY_AUTO_DISCOVERY: "false" } },
    );
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const resources = path.join(out, "linux-unpacked/resources");
    const files = asar
      .listPackage(path.join(resources, "app.asar"), { isPack: false })
      .map((f) => f.replaceAll("\\", "/"));
    for (const f of [
      "/package.json",
      "/out/main/main.js",
      "/out/preload/preload.cjs",
      "/out/backend/backend.js",
      "/out/app/app.js",
      "/out/engine/engine-worker.js",
      "/out/renderer/index.html",
      "/out/update/controller.js",
      "/out/update/signature.js",
      "/node_modules/electron-updater/package.json",
    ])
      expect(files).toContain(f);
    expect(files).not.toContain("/out/update/release.js"); // the release signer stays on the release machine
    expect(files.filter((f) => f.startsWith("/node_modules/yaml/"))).toEqual([]);
    expect(readFileSync(path.join(resources, "update-signing-key.pem"), "utf8")).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    // electron-updater reads the feed's address from here (main/updates.ts refuses to update without it).
    expect(readFileSync(path.join(resources, "app-update.yml"), "utf8")).toContain(`provider: generic`);
    expect(files.filter((f) => /\.(map|ts|tsbuildinfo)$/.test(f) && !f.includes("/node_modules/"))).toEqual([]);
    expect(
      files.filter((f) => /^\/(electron|models|e2e|scripts|docs|renderer\/src)\//.test(f) || /\.test\.js$/.test(f)),
    ).toEqual([]);
    // The default bundle ships as an extra resource, byte for byte what its manifest hashes.
    const manifest = JSON.parse(readFileSync(path.join(resources, "bundle/manifest.json"), "utf8"));
    expect(readFileSync(path.join(resources, "bundle/manifest.json"))).toEqual(
      readFileSync(path.join(defaultBundleDir(), "manifest.json")),
    );
    expect(manifest.version.major).toBe(2);
    for (const [name, { sha256 }] of Object.entries(manifest.files as Record<string, { sha256: string }>)) {
      expect(
        createHash("sha256")
          .update(readFileSync(path.join(resources, "bundle", name)))
          .digest("hex"),
      ).toBe(sha256);
    }
    // Native modules load from disk, outside the asar.
    const unpacked = path.join(resources, "app.asar.unpacked/node_modules");
    expect(existsSync(path.join(unpacked, "better-sqlite3/build/Release/better_sqlite3.node"))).toBe(true);
    expect(
      readdirSync(path.join(unpacked, "onnxruntime-node/bin"), { recursive: true }).some((f) =>
        String(f).endsWith(".node"),
      ),
    ).toBe(true);
    // Only this platform's and architecture's ONNX Runtime binaries ship (build/after-pack.cjs; all of them
    // would add ~240 MB), and no evaluation-only packages.
    expect(readdirSync(path.join(unpacked, "onnxruntime-node/bin/napi-v6"))).toEqual(["linux"]);
    expect(readdirSync(path.join(unpacked, "onnxruntime-node/bin/napi-v6/linux"))).toEqual([process.arch]);
    // better-sqlite3 ships its compiled binding, not its C sources and object files.
    expect(readdirSync(path.join(unpacked, "better-sqlite3")).sort()).toEqual([
      "LICENSE",
      "build",
      "lib",
      "package.json",
    ]);
    expect(files.filter((f) => /^\/node_modules\/vega/.test(f))).toEqual([]);
  }, 240_000);
});
