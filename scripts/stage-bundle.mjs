#!/usr/bin/env node
// Stages the setup-built default bundle in build/bundle for electron-builder (extraResources ships it
// beside the app as resources/bundle). Every file is checked against the manifest's sha256 first, so
// a half-built or tampered bundle never ships; the copy is byte for byte.
import { createHash } from "node:crypto";
import { cpSync, existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { defaultBundleDir } from "../out/app/paths.js"; // `npm run dist` builds out/ first

const repo = path.resolve(import.meta.dirname, "..");
const src = defaultBundleDir();
const dest = path.join(repo, "build", "bundle");
if (!existsSync(path.join(src, "manifest.json"))) {
  console.error(`stage-bundle: no bundle at ${src}; run npm run setup first`);
  process.exit(1);
}
const manifest = JSON.parse(readFileSync(path.join(src, "manifest.json"), "utf8"));
for (const [name, { sha256 }] of Object.entries(manifest.files)) {
  const got = createHash("sha256")
    .update(readFileSync(path.join(src, name)))
    .digest("hex");
  if (got !== sha256) {
    console.error(`stage-bundle: ${name} does not match its sha256; rebuild with npm run setup -- --force`);
    process.exit(1);
  }
}
rmSync(dest, { recursive: true, force: true });
cpSync(src, dest, { recursive: true, dereference: true });
console.log(`staged ${manifest.id} in ${path.relative(repo, dest)}`);
