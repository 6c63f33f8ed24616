// Lint for the TypeScript sources. Layering (which folder may import which) is enforced by
// electron/fence.test.ts and by each layer's tsconfig (core and shared compile without Node types).
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["out/**", "node_modules/**", "models/**", "**/*.js", "!eslint.config.js"] },
  ...tseslint.configs.recommended,
  // Lines stay within Prettier's printWidth: Prettier wraps code, this catches comments (which it
  // never wraps). Long strings, template literals, regular expressions and URLs are left whole.
  {
    rules: {
      "max-len": [
        "error",
        { code: 120, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true },
      ],
    },
  },
  {
    files: ["electron/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-restricted-imports": [
        "error",
        { patterns: [{ group: ["electron"], message: "only electron/main and electron/preload may import electron" }] },
      ],
      eqeqeq: "error",
    },
  },
  { files: ["electron/main/**/*.ts", "electron/preload/**/*.cts"], rules: { "no-restricted-imports": "off" } },
  // Sandboxed preloads must be CommonJS: `import x = require()` is how TypeScript writes that.
  { files: ["electron/preload/**/*.cts"], rules: { "@typescript-eslint/no-require-imports": "off" } },
  // electron-builder loads its hooks with require(): they are CommonJS.
  { files: ["build/**/*.cjs"], rules: { "@typescript-eslint/no-require-imports": "off" } },
);
