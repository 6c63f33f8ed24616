// The renderer as it runs inside the desktop app: talking through the preload's bridge
// (window.mnemo: call, onEvent, pathForFile) instead of its own WebSocket. Electron cannot run here,
// so an init script installs a bridge with the preload's exact contract, carried to the real backend
// over the local server; pathForFile maps a file to where the test put it on disk, as
// webUtils.getPathForFile would. Checked: dropped files and a dropped folder are added by path (a
// folder cannot be uploaded as bytes), a file with no path still uploads, a skipped file is reported;
// the native folder picker (answered here as main would) starts watching the folder picked.
import { expect, test, type Page } from "@playwright/test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer } from "./server.js";

let url = "",
  stop = () => {},
  disk = "";
test.beforeAll(async () => {
  ({ url, stop } = await startServer());
  disk = mkdtempSync(path.join(os.tmpdir(), "mnemo-e2e-disk-"));
  mkdirSync(path.join(disk, "papers"));
  writeFileSync(path.join(disk, "papers", "rivers.md"), "# Rivers\n\nThe Danube flows through ten countries.\n");
  writeFileSync(path.join(disk, "papers", "lakes.txt"), "Lake Baikal is the deepest lake on Earth.\n");
  writeFileSync(path.join(disk, "notes.md"), "# Notes\n\nThe Amazon carries more water than any other river.\n");
  writeFileSync(path.join(disk, "song.mp3"), "ID3 not a document");
});
test.afterAll(() => {
  stop();
  rmSync(disk, { recursive: true, force: true });
});

/** The preload's bridge, over the local server's WebSocket. Runs in the page before Mnemo's scripts. */
function installBridge(diskDir: string) {
  const token = new URLSearchParams(location.search).get("token") ?? "";
  const ws = new WebSocket(`ws://${location.host}/api?token=${encodeURIComponent(token)}`);
  const opened = new Promise((resolve) => {
    ws.onopen = resolve;
  });
  const pending = new Map<number, (reply: unknown) => void>();
  const listeners: ((e: unknown) => void)[] = [];
  let nextId = 0;
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data as string);
    if (msg.event) listeners.forEach((l) => l(msg.event));
    else {
      pending.get(msg.id)?.(msg);
      pending.delete(msg.id);
    }
  };
  (window as unknown as { mnemo: unknown }).mnemo = {
    call: async (method: string, params: unknown) => {
      // Electron's main process answers the folder picker itself; here the "user" picks the papers folder.
      if (method === "dialog.chooseFolder") return { ok: true, value: `${diskDir}/papers` };
      await opened;
      const id = ++nextId;
      return new Promise((r) => {
        pending.set(id, r);
        ws.send(JSON.stringify({ id, method, params }));
      });
    },
    onEvent: (l: (e: unknown) => void) => {
      listeners.push(l);
    },
    pathForFile: (file: File) => (file.name.startsWith("clipboard-") ? "" : `${diskDir}/${file.name}`),
  };
}

/** Opens the app with the bridge installed, as the desktop app would, and creates a vault. */
async function openWithBridge(page: Page, vault: string): Promise<void> {
  await page.addInitScript(installBridge, disk);
  await page.goto(url);
  await page.getByLabel("New vault name").fill(vault);
  await page.getByRole("button", { name: "Create" }).click();
  await expect(page.getByRole("heading", { name: vault })).toBeVisible();
}

test("in the desktop app, drops are added by path: files, a whole folder, and bytes when there is no path", async ({
  page,
}) => {
  await openWithBridge(page, "Geography");
  const zone = page.getByRole("region", { name: "Drop files here" });
  await expect(zone).toContainText("or a whole folder");
  const dropped = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    // a dropped folder is a File too
    for (const name of ["papers", "notes.md", "song.mp3"]) dt.items.add(new File([""], name));
    dt.items.add(
      new File(["# From the clipboard\n\nThe Nile is about 6,650 km long.\n"], "clipboard-nile.md", {
        type: "text/markdown",
      }),
    );
    return dt;
  });
  await zone.dispatchEvent("drop", { dataTransfer: dropped });
  await expect(page.locator('[data-testid="doc"][data-status="ready"]')).toHaveCount(4, { timeout: 60_000 });
  for (const name of ["rivers.md", "lakes.txt", "notes.md", "clipboard-nile.md"])
    await expect(page.getByTestId("doc").filter({ hasText: name })).toHaveCount(1);
  await expect(page.getByRole("alert")).toContainText("song.mp3: unsupported file type .mp3");
});

test("in the desktop app, Choose folder… keeps a vault in sync with the folder picked", async ({ page }) => {
  await openWithBridge(page, "Synced");
  await page.getByRole("button", { name: "Choose folder…" }).click();
  await expect(page.getByText(`Watching ${disk}/papers`)).toBeVisible();
  await expect(page.locator('[data-testid="doc"][data-status="ready"]')).toHaveCount(2, { timeout: 60_000 });
});
