// End-to-end tests of the UI in Debian's Chromium through the local server (no Electron binary can
// be installed on these machines). Never `npx playwright install`: the browser is /usr/bin/chromium.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: ".",
  testMatch: "*.spec.ts",
  timeout: 120_000,
  workers: 1,
  reporter: [["list"]],
  outputDir: "../out/e2e-results",
  use: {
    browserName: "chromium",
    viewport: { width: 1280, height: 860 },
    launchOptions: {
      executablePath: process.env.MNEMO_CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
});
