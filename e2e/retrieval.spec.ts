// Retrieval as a user meets it, in Chromium through the local server on the real bundle (its sentence
// encoder finds passages by meaning): a question in other words than the document finds the right
// source, marked as found by meaning; a question no document answers gets "Not found in your
// documents" until the policy is turned off in Settings; the PDF viewer highlights the cited passage
// on its page, and its backdrop covers the whole window even when the page is taller than the window.
import { expect, test, type Page } from "@playwright/test";
import path from "node:path";
import { makePdf } from "../electron/bench/pdf-fixtures.js";
import { NEEDS_REAL_MODEL, realBundle, repo, startServer } from "./server.js";

let url = "",
  stop = () => {};
test.beforeAll(async () => {
  ({ url, stop } = await startServer());
});
test.afterAll(() => stop());
test.skip(!realBundle, NEEDS_REAL_MODEL);

async function ask(page: Page, question: string): Promise<void> {
  await page.getByLabel("Question").fill(question);
  await page.getByRole("button", { name: "Ask" }).click();
  await expect(page.getByRole("article")).toHaveAttribute("aria-busy", "false", { timeout: 60_000 });
  await expect(page.getByTestId("answer")).not.toBeEmpty();
}

test("a vault of a PDF and two notes", async ({ page }) => {
  await page.goto(url);
  await page.getByLabel("New vault name").fill("Library");
  await page.getByRole("button", { name: "Create" }).click();
  const pdf = await makePdf(
    [
      "Paris has many bridges over the Seine. This first page is about them.",
      "The Eiffel Tower was completed in 1889 for the World's Fair. It is 330 metres tall.",
    ],
    "Towers of Paris",
  );
  await page.getByTestId("file-input").setInputFiles([
    { name: "towers.pdf", mimeType: "application/pdf", buffer: Buffer.from(pdf) },
    {
      name: "curie.md",
      mimeType: "text/markdown",
      buffer: Buffer.from("# Marie Curie\n\nMarie Curie discovered polonium and radium.\n"),
    },
    {
      name: "clinic.md",
      mimeType: "text/markdown",
      buffer: Buffer.from(
        "# Clinic notes\n\nThe cardiologist recommended a low-salt diet to bring down hypertension.\n",
      ),
    },
  ]);
  await expect(page.locator('[data-testid="doc"][data-status="ready"]')).toHaveCount(3, { timeout: 90_000 });
});

test("a question in other words than the document finds the right source, by meaning", async ({ page }) => {
  await page.goto(url);
  // Not one content word in common with the note: keyword search alone has nothing to go on.
  await ask(page, "Which doctor told the patient to eat less sodium for high blood pressure?");
  await expect(page.getByTestId("not-found")).toHaveCount(0);
  const first = page.getByTestId("source").first();
  await expect(first).toContainText("Clinic notes");
  await expect(first.getByTestId("found-by")).toHaveText("meaning");
  await page.screenshot({ path: path.join(repo, "out/e2e-screenshots/21-meaning.png"), fullPage: true });
});

test("a question no document answers: 'Not found in your documents', unless the policy is turned off", async ({
  page,
}) => {
  await page.goto(url);
  await ask(page, "What is the boiling point of tungsten?");
  await expect(page.getByTestId("answer")).toHaveText("Not found in your documents.");
  await expect(page.getByTestId("not-found")).toContainText("no passage is close in meaning to the question");
  await expect(page.getByRole("heading", { name: "Closest passages" })).toBeVisible();
  await page.screenshot({ path: path.join(repo, "out/e2e-screenshots/22-not-found.png"), fullPage: true });

  await page.getByRole("button", { name: /^Settings/ }).click();
  const policy = page.getByRole("dialog").getByLabel(/Only answer from my documents/);
  await expect(policy).toBeChecked();
  await policy.uncheck();
  await page.getByRole("dialog").getByRole("button", { name: "Done" }).click();
  await page.reload(); // the choice is kept
  await ask(page, "What is the boiling point of tungsten?");
  await expect(page.getByTestId("answer")).not.toHaveText("Not found in your documents.");
  await expect(page.getByTestId("not-found")).toHaveCount(0);
  await page.getByRole("button", { name: /^Settings/ }).click();
  await page
    .getByRole("dialog")
    .getByLabel(/Only answer from my documents/)
    .check();
  await page.getByRole("dialog").getByRole("button", { name: "Done" }).click();
});

test("the PDF viewer highlights the cited passage on its page; its backdrop covers the whole window", async ({
  page,
}) => {
  await page.setViewportSize({ width: 1280, height: 600 }); // shorter than the page: the bottom used to stay undimmed
  await page.goto(url);
  await ask(page, "When was the Eiffel Tower completed?");
  const first = page.getByTestId("source").first();
  await expect(first.getByTestId("source-page")).toHaveText("p. 2");
  expect(await page.evaluate(() => document.documentElement.scrollHeight)).toBeGreaterThan(600);
  await page.mouse.wheel(0, 200);
  await page.waitForFunction(() => window.scrollY > 0);
  const scrolled = await page.evaluate(() => window.scrollY);
  await first.getByRole("button", { name: "Open at p. 2" }).click();
  await expect(page.getByTestId("pdf-page")).toHaveText("Page 2 of 2");
  await expect(page.getByTestId("pdf-cited")).toBeVisible();
  const cited = page.locator("[data-testid=pdf-text] span.cited");
  await expect(cited.first()).toBeVisible();
  expect((await cited.allTextContents()).join(" ")).toContain("completed in 1889");
  // Nothing of the page reaches below the window while the modal is open, so the backdrop covers all of it.
  expect(await page.evaluate(() => document.documentElement.scrollHeight)).toBeLessThanOrEqual(600);
  const shot = await page.screenshot({
    path: path.join(repo, "out/e2e-screenshots/23-pdf-highlight.png"),
    fullPage: true,
  });
  expect(shot.readUInt32BE(20)).toBe(600); // PNG height: the full page is the window
  await page.getByRole("button", { name: "Close" }).click();
  await expect(page.getByRole("dialog")).toHaveCount(0);
  await expect.poll(() => page.evaluate(() => window.scrollY)).toBe(scrolled);
});
