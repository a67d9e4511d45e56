// What the real-browser scripts share (passkey_browser.mjs, console_browser.mjs): Debian's
// Chromium launched headless through playwright-core (never its browser download), one JSON
// result with the steps done and the screenshots taken, and a check that fails the run.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
// Generous: CI runs these beside the rest of the suite on two cores.
export const TIMEOUT = 45_000;

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

// A run's result (printed as one JSON line at the end) and its screenshot helper.
export function run(shotDir, extra = {}) {
  mkdirSync(shotDir, { recursive: true });
  const result = { ok: false, steps: [], screenshots: [], ...extra };
  return {
    result,
    step: (name) => result.steps.push(name),
    async shot(page, name) {
      const path = resolve(join(shotDir, name));
      await page.screenshot({ path, fullPage: true });
      result.screenshots.push(path);
    },
  };
}

export async function launch(result) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  result.browser = browser.version();
  return browser;
}

// Prints the result and exits: 0 when the run got to the end, 1 otherwise.
export async function finish(browser, result) {
  if (browser) await browser.close().catch(() => {});
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}
