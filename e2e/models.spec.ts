// Settings › Model as a user meets it: the models listed with size, licence and speed, one not built
// saying how to build it; switching to another bundle and answering with it, then back to the
// default and answering right (on the real model: 1889). The server runs without --bundle over a
// cache folder made here (the real bundle and the tiny random one, linked), as the app finds models.
import { expect, test, type Page } from "@playwright/test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { realBundle, repo, startServer } from "./server.js";

const cache = mkdtempSync(path.join(os.tmpdir(), "mnemo-e2e-cache-"));
let url = "",
  stop = () => {};

test.beforeAll(async () => {
  mkdirSync(path.join(cache, "bundles"));
  const tiny = path.join(repo, "models/bundles/tiny-random");
  symlinkSync(realBundle ?? tiny, path.join(cache, "bundles", "gemma3-270m-q8"));
  symlinkSync(tiny, path.join(cache, "bundles", "tiny-random"));
  const env: NodeJS.ProcessEnv = { ...process.env, MNEMO_CACHE_DIR: cache };
  delete env.MNEMO_BUNDLE;
  ({ url, stop } = await startServer({ bundle: null, env }));
});
test.afterAll(() => {
  stop();
  rmSync(cache, { recursive: true, force: true });
});

async function ask(page: Page, question: string): Promise<string> {
  await page.getByLabel("Question").fill(question);
  await page.getByRole("button", { name: "Ask" }).click();
  await expect(page.getByRole("article")).toHaveAttribute("aria-busy", "false", { timeout: 90_000 });
  await expect(page.getByTestId("answer")).not.toBeEmpty();
  return (await page.getByTestId("answer").textContent())!.trim();
}

async function useModel(page: Page, name: string): Promise<void> {
  await page.getByRole("button", { name: "Settings (Ctrl+,)" }).click();
  const card = page.locator(`[data-testid="model"][data-name="${name}"]`);
  await card.getByRole("button", { name: "Use this model" }).click();
  await expect(card.getByTestId("in-use")).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId("in-use")).toHaveCount(1);
  await page.getByRole("button", { name: "Done" }).click();
}

test("switching model in Settings, answering with each", async ({ page }) => {
  await page.goto(url);
  await page.getByLabel("New vault name").fill("Towers");
  await page.getByRole("button", { name: "Create" }).click();
  const note = "# The Eiffel Tower\n\nThe Eiffel Tower in Paris was completed in 1889 for the World's Fair.\n";
  await page
    .getByTestId("file-input")
    .setInputFiles([{ name: "tower.md", mimeType: "text/markdown", buffer: Buffer.from(note) }]);
  await expect(page.locator('[data-testid="doc"][data-status="ready"]')).toHaveCount(1, { timeout: 90_000 });

  await page.getByRole("button", { name: "Settings (Ctrl+,)" }).click();
  const cards = page.getByTestId("model");
  await expect(cards.first()).toBeVisible();
  const gemma = page.locator('[data-testid="model"][data-name="gemma3-270m"]');
  await expect(gemma.getByTestId("in-use")).toBeVisible();
  await expect(gemma).toContainText("Licence: Gemma Terms of Use");
  await expect(gemma.getByTestId("speed")).toContainText("tokens a second");
  const qwen = page.locator('[data-testid="model"][data-name="qwen2.5-coder-0.5b-instruct"]');
  await expect(qwen).toContainText("npm run setup -- --model qwen2.5-coder-0.5b-instruct");
  await expect(qwen.getByRole("button", { name: "Build" })).toBeVisible();
  await expect(page.locator('[data-testid="model"][data-name="tiny-random"]')).toBeVisible();
  await expect(page.getByTestId("recommended")).toHaveCount(1);
  await page.getByRole("dialog").screenshot({ path: path.join(repo, "out/e2e-screenshots/07-models.png") });
  await page.getByRole("button", { name: "Done" }).click();

  await useModel(page, "tiny-random");
  expect(await ask(page, "When was the Eiffel Tower completed?")).not.toBe(""); // the random LM's words
  await expect(page.getByTestId("sources")).toContainText("The Eiffel Tower");

  await useModel(page, "gemma3-270m");
  await page.reload(); // the choice is the backend's: a reload finds Gemma in use
  await page.getByRole("button", { name: "Settings (Ctrl+,)" }).click();
  await expect(page.locator('[data-testid="model"][data-name="gemma3-270m"]').getByTestId("in-use")).toBeVisible();
  await page.getByRole("button", { name: "Done" }).click();
  const answer = await ask(page, "When was the Eiffel Tower completed?");
  if (realBundle) expect(answer).toContain("1889");
});
