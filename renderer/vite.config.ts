// The renderer's build: Svelte 5 through Vite into out/renderer, served by the local server or loaded
// by Electron from disk. Relative asset paths work for both.
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

export default defineConfig({
  root: import.meta.dirname,
  base: "./",
  plugins: [svelte()],
  build: { outDir: "../out/renderer", emptyOutDir: true, sourcemap: false, target: "chrome120" },
});
