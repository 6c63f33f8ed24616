// The layering fence (../shared/design/architecture.md): each folder may import only the layers below
// it, test helpers stay out of shipped code, and no files import each other in a circle. A wrong-way
// import fails here, naming the file and the import; a circle, naming its files in order.
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const ALLOWED: Record<string, { layers: string[]; packages: RegExp }> = {
  shared: { layers: [], packages: /^zod$/ },
  core: { layers: ["shared"], packages: /^$/ },
  engine: { layers: ["shared", "core"], packages: /^(onnxruntime-node|@huggingface\/tokenizers|node:.*)$/ },
  vault: {
    layers: ["shared"],
    packages: /^(better-sqlite3|pdfjs-dist\/.*|marked|html-to-text|mammoth|chokidar|node:.*)$/,
  },
  app: { layers: ["shared", "core", "engine", "vault"], packages: /^node:.*$/ },
  eval: { layers: ["shared", "core", "vault", "app"], packages: /^(vega|vega-lite|node:.*)$/ },
  cli: { layers: ["shared", "app", "eval"], packages: /^(cli-progress|node:.*)$/ },
  server: { layers: ["shared", "app"], packages: /^(ws|node:.*)$/ },
  backend: { layers: ["shared", "app"], packages: /^node:.*$/ },
  // Updates: electron-updater only through update/electron-port.ts, yaml only in the release-time signer.
  update: { layers: ["shared"], packages: /^(electron-updater|yaml|node:.*)$/ },
  main: { layers: ["shared", "update"], packages: /^(electron|node:.*)$/ },
  preload: { layers: [], packages: /^electron$/ },
  // Benchmarks measure every layer directly, below the app when that is what is being timed.
  bench: { layers: ["shared", "core", "engine", "vault", "app"], packages: /^(pdf-lib|jszip|node:.*)$/ },
};
/** Packages one file alone may import: the runtime behind a seam, or a build-time tool that must not ship. */
const ONLY_IMPORTER: Record<string, string> = {
  "onnxruntime-node": "engine/ort-session.ts",
  "electron-updater": "update/electron-port.ts",
  yaml: "update/release.ts",
};

/** Test doubles and fixtures beside the tests that use them: fenced like their layer, never built into out/. */
const TEST_HELPER = /\.test-helpers\.ts$/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(path.join(dir, e.name))
      : /\.c?ts$/.test(e.name) && !e.name.endsWith(".test.ts")
        ? [path.join(dir, e.name)]
        : [],
  );
}

/** Relative imports of a file, static, re-exported, side-effect only and dynamic, as source paths. */
function relativeImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [
    ...text.matchAll(/(?:^\s*(?:import|export)[^"']*?from\s*|^\s*import\s*|\bimport\(\s*)["'](\.{1,2}\/[^"']+)["']/gm),
  ].map((m) => m[1]!);
  return specs.map((spec) =>
    path
      .resolve(path.dirname(file), spec)
      .replace(/\.js$/, ".ts")
      .replace(/\.cjs$/, ".cts"),
  );
}

/**
 * Every import circle among the files, each as its files in
 * import order, the first repeated at the end (Tarjan's SCCs).
 */
function importCircles(files: string[], importsOfFile: (f: string) => string[]): string[][] {
  const known = new Set(files),
    edges = new Map(files.map((f) => [f, importsOfFile(f).filter((t) => known.has(t))]));
  const index = new Map<string, number>(),
    low = new Map<string, number>(),
    stack: string[] = [],
    onStack = new Set<string>();
  const circles: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    for (let w = stack.pop()!; ; w = stack.pop()!) {
      onStack.delete(w);
      scc.push(w);
      if (w === v) break;
    }
    if (scc.length > 1 || edges.get(v)!.includes(v)) circles.push(circleThrough(new Set(scc), v, edges));
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return circles;
}

/** One concrete circle inside a strongly connected set, from `start` back to it (breadth-first). */
function circleThrough(scc: Set<string>, start: string, edges: Map<string, string[]>): string[] {
  const from = new Map<string, string>(),
    queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of edges.get(v)!.filter((t) => scc.has(t))) {
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = from.get(u)!) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!from.has(w)) {
        from.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

const importsOf = (file: string) =>
  [...readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)[^"']*?from\s+["']([^"']+)["']/gm)].map((m) => m[1]!);

describe("layering", () => {
  const root = import.meta.dirname;
  for (const [layer, rule] of Object.entries(ALLOWED)) {
    it(`${layer}/ imports only ${rule.layers.join(", ") || "itself"} and its allowed packages`, () => {
      const bad: string[] = [];
      for (const file of sources(path.join(root, layer))) {
        const rel = path.relative(root, file);
        for (const spec of importsOf(file)) {
          if (spec.startsWith(".")) {
            const target = path.relative(root, path.resolve(path.dirname(file), spec)).split(path.sep)[0]!;
            if (target !== layer && !rule.layers.includes(target)) bad.push(`${rel} imports ${spec}`);
          } else if (!rule.packages.test(spec) || (spec in ONLY_IMPORTER && rel !== ONLY_IMPORTER[spec])) {
            bad.push(`${rel} imports ${spec}`);
          }
        }
      }
      expect(bad).toEqual([]);
    });
  }

  it("shipped code never imports a test helper, and no layer's build includes one", () => {
    const root = import.meta.dirname;
    const bad = sources(root)
      .filter((f) => !TEST_HELPER.test(f))
      .flatMap((file) =>
        importsOf(file)
          .filter((spec) => /\.test-helpers\.js$/.test(spec))
          .map((spec) => `${path.relative(root, file)} imports ${spec}`),
      );
    expect(bad).toEqual([]);
    for (const layer of Object.keys(ALLOWED)) {
      const config = JSON.parse(readFileSync(path.join(root, layer, "tsconfig.json"), "utf8")) as {
        include: string[];
        exclude?: string[];
      };
      if (config.include.includes("*.ts"))
        expect(config.exclude, `${layer}/tsconfig.json`).toContain("*.test-helpers.ts");
    }
  });

  it("has no import circle among electron/'s sources (any length, type-only imports included)", () => {
    const root = import.meta.dirname;
    const circles = importCircles(sources(root), relativeImports).map((c) =>
      c.map((f) => path.relative(root, f)).join(" -> "),
    );
    expect(circles).toEqual([]);
  });

  it("finds a circle when there is one, and names its files in order", () => {
    const graph: Record<string, string[]> = { a: ["b"], b: ["c"], c: ["a", "d"], d: [], e: ["e"] };
    expect(importCircles(Object.keys(graph), (f) => graph[f]!)).toEqual([
      ["a", "b", "c", "a"],
      ["e", "e"],
    ]);
  });

  it("every folder under electron/ has a rule", () => {
    const folders = readdirSync(import.meta.dirname, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    expect(folders.filter((f) => !(f in ALLOWED))).toEqual([]);
  });
});
