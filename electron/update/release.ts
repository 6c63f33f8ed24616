// Release-time signing of update feeds (docs/RELEASING.md). Run on the release machine, never shipped:
//   node out/update/release.js keygen   once: the public key goes in the repository, the private key in a secret
//   node out/update/release.js sign     after `npm run dist`: adds a signature to every file entry of dist/latest*.yml
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { parse, stringify } from "yaml";
import {
  generateSigningKeys,
  privateKeyFrom,
  publicKeyFrom,
  sha512File,
  signatureValid,
  signRelease,
} from "./signature.js";

export const PUBLIC_KEY_FILE = "build/update-signing-key.pem";
export const PRIVATE_KEY_ENV = "MNEMO_UPDATE_SIGNING_KEY";

/**
 * Writes a new public key (refusing to replace one: installed apps trust only the old key) and returns the private key.
 */
export function keygen(publicKeyFile: string, force = false): string {
  if (existsSync(publicKeyFile) && !force) {
    throw new Error(
      `${publicKeyFile} exists; installed copies of Mnemo trust only that key. Pass --force to rotate it (they will stop updating).`,
    );
  }
  const { publicKeyPem, privateKeyPem } = generateSigningKeys();
  writeFileSync(publicKeyFile, publicKeyPem);
  return privateKeyPem;
}

interface FeedFile {
  url: string;
  sha512: string;
  signature?: string;
}

/**
 * Signs every file each dist/latest*.yml lists, after checking the file is there, its SHA-512 is
 * what the feed says, and the private key pairs with the public key the app ships (an update
 * signed by any other key would be refused by every installed copy). Returns the files signed.
 */
export async function signFeeds(dist: string, privateKeyPem: string, publicKeyPem: string): Promise<string[]> {
  const privateKey = privateKeyFrom(privateKeyPem),
    publicKey = publicKeyFrom(publicKeyPem);
  const feeds = readdirSync(dist).filter((f) => /^latest.*\.yml$/.test(f));
  if (!feeds.length) throw new Error(`no latest*.yml in ${dist}: run npm run dist first`);
  const signed: string[] = [];
  for (const feed of feeds) {
    const doc = parse(readFileSync(path.join(dist, feed), "utf8")) as { version?: unknown; files?: FeedFile[] };
    if (typeof doc.version !== "string" || !Array.isArray(doc.files) || !doc.files.length)
      throw new Error(`${feed}: no version or no files`);
    for (const entry of doc.files) {
      if (typeof entry.url !== "string" || path.basename(entry.url) !== entry.url)
        throw new Error(`${feed}: file ${JSON.stringify(entry.url)} is not a plain file name`);
      const file = path.join(dist, entry.url);
      if (!existsSync(file)) throw new Error(`${feed} lists ${entry.url}, which is not in ${dist}`);
      const sha512 = await sha512File(file);
      if (sha512 !== entry.sha512)
        throw new Error(`${feed}: ${entry.url} has SHA-512 ${sha512}, the feed says ${entry.sha512}`);
      entry.signature = signRelease(privateKey, doc.version, sha512);
      if (!signatureValid(publicKey, doc.version, sha512, entry.signature)) {
        throw new Error(
          `the signing key does not pair with the app's public key: ${entry.url} would not carry a valid Mnemo signature`,
        );
      }
      signed.push(entry.url);
    }
    writeFileSync(path.join(dist, feed), stringify(doc, { lineWidth: 0 }));
  }
  return signed;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      public: { type: "string", default: PUBLIC_KEY_FILE },
      dist: { type: "string", default: "dist" },
      force: { type: "boolean", default: false },
    },
  });
  const [command] = positionals;
  if (command === "keygen") {
    const privateKeyPem = keygen(values.public, values.force);
    process.stdout.write(
      `Wrote the public key to ${values.public}: commit it.\nThe private key follows. Store it as the secret ${PRIVATE_KEY_ENV} ` +
        `and nowhere else; it is shown once.\n\n${privateKeyPem}`,
    );
  } else if (command === "sign") {
    const privateKeyPem = process.env[PRIVATE_KEY_ENV];
    if (!privateKeyPem) throw new Error(`set ${PRIVATE_KEY_ENV} to the release's private key (PEM)`);
    if (!existsSync(values.public)) throw new Error(`no public key at ${values.public}: run keygen once`);
    const signed = await signFeeds(values.dist, privateKeyPem, readFileSync(values.public, "utf8"));
    process.stdout.write(`Signed ${signed.length} file(s): ${signed.join(", ")}\n`);
  } else {
    throw new Error("usage: release.js keygen [--public FILE] [--force] | sign [--dist DIR] [--public FILE]");
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main().catch((e: Error) => {
    process.stderr.write(`release: ${e.message}\n`);
    process.exit(1);
  });
}
