// Settings › Updates in the UI. Through the local server it must say plainly that this copy does not
// update itself. The desktop updater lives in Electron's main process, which cannot run here, so the
// second test stands in for it on the WebSocket: every other call still reaches the real backend, and
// updates.* calls get what electron/update/controller.ts sends (its behaviour is tested in Node, with
// the real electron-updater, in electron/update/*.test.ts). What is checked here is the renderer's part.
import { expect, test } from "@playwright/test";
import type { UpdateStatus } from "../electron/shared/api.js";
import path from "node:path";
import { repo, startServer } from "./server.js";

let url = "",
  stop = () => {};
test.beforeAll(async () => {
  ({ url, stop } = await startServer());
});
test.afterAll(() => stop());

test("the local server says it does not update itself", async ({ page }) => {
  await page.goto(url);
  await page.getByRole("button", { name: /^Settings/ }).click();
  await expect(page.getByTestId("update-status")).toHaveText(/Updates come with the installed desktop app/);
  await expect(page.getByTestId("update-status")).toHaveAttribute("data-state", "unsupported");
  await expect(page.getByRole("button", { name: "Check now" })).toHaveCount(0);
});

test("with the desktop updater: off/auto, check now with progress, and restart into a verified update", async ({
  page,
}) => {
  const calls: string[] = [];
  let pause: () => Promise<void>,
    advance: (() => void) | null = null;
  const step = async () => {
    await expect.poll(() => advance).not.toBeNull();
    const go = advance!;
    advance = null;
    go();
  };
  let status: UpdateStatus = { mode: "auto", state: "up-to-date", currentVersion: "0.1.0", lastChecked: Date.now() };
  await page.routeWebSocket(/\/api/, (ws) => {
    const backend = ws.connectToServer();
    const push = (s: UpdateStatus) => {
      status = s;
      ws.send(JSON.stringify({ event: { type: "updates.status", data: s } }));
    };
    pause = () =>
      new Promise<void>((r) => {
        advance = r;
      }); // the test moves the update along, step by step
    ws.onMessage(async (m) => {
      const msg = JSON.parse(String(m)) as { id: number; method: string; params: { mode?: "auto" | "off" } };
      if (!msg.method.startsWith("updates.")) return backend.send(m);
      calls.push(msg.method + (msg.params.mode ? `:${msg.params.mode}` : ""));
      if (msg.method === "updates.configure") status = { ...status, mode: msg.params.mode! };
      if (msg.method === "updates.check") {
        push({ ...status, state: "checking" });
        await pause();
        for (const percent of [30, 80]) {
          push({ ...status, state: "downloading", version: "0.2.0", percent });
          await pause();
        }
        push({ ...status, state: "verifying" });
        await pause();
        status = { ...status, state: "ready", percent: 100 };
      }
      ws.send(JSON.stringify({ id: msg.id, ok: true, value: status }));
    });
  });
  await page.goto(url);
  await page.getByRole("button", { name: /^Settings/ }).click();
  await expect(page.getByTestId("update-version")).toHaveText("Version 0.1.0");
  await expect(page.getByTestId("update-status")).toHaveText(/Mnemo is up to date/);

  const mode = page.getByLabel("When to update");
  await mode.selectOption("off");
  await expect.poll(() => calls).toContain("updates.configure:off");
  await expect(mode).toHaveValue("off");

  await page.getByRole("button", { name: "Check now" }).click();
  await expect(page.getByTestId("update-status")).toHaveText("Checking for updates…");
  await expect(page.getByRole("button", { name: "Check now" })).toBeDisabled();
  await step();
  await expect(page.getByTestId("update-status")).toHaveText("Downloading Mnemo 0.2.0… 30%");
  await expect(page.getByRole("progressbar", { name: "Update download" })).toHaveAttribute("value", "30");
  await step();
  await expect(page.getByTestId("update-status")).toHaveText("Downloading Mnemo 0.2.0… 80%");
  await step();
  await expect(page.getByTestId("update-status")).toHaveText(/Checking the signature of Mnemo 0\.2\.0/);
  await step();
  await expect(page.getByTestId("update-status")).toHaveText(
    /Mnemo 0\.2\.0 is downloaded and its signature verified\.$/,
  );
  // the real model loads on first use
  await expect(page.getByRole("dialog").getByText("Loading the model…")).toHaveCount(0, { timeout: 60_000 });
  // below the model's facts
  await page.getByRole("dialog").getByRole("button", { name: "Restart to update" }).scrollIntoViewIfNeeded();
  await page.getByRole("dialog").screenshot({ path: path.join(repo, "docs/screenshots/06-update-ready.png") });
  await page.getByRole("dialog").getByRole("button", { name: "Restart to update" }).click();
  await expect.poll(() => calls).toContain("updates.install");
  await page.getByRole("button", { name: "Done" }).click();
  await expect(page.getByText("Mnemo 0.2.0 is ready to install.")).toBeVisible(); // the banner stays until the restart
});
