/**
 * Headless Chromium for the console's browser tests: Debian's `/usr/bin/chromium` driven by
 * npm `playwright-core` (never a downloaded browser), with a fresh profile directory per
 * launch. Screenshots go to `tests/output/console/` (git-ignored).
 *
 * @module
 */
import fs from "node:fs";
import type { BrowserContext, Page } from "playwright-core";

// playwright-core probes `/proc/sys/fs/binfmt_misc/WSLInterop` while loading (is this WSL?).
// Deno refuses even an existence check under /proc/sys without --allow-all and throws
// NotCapable instead of answering; `deno task test` grants named permissions only, so the
// probe is answered "no" here. Nothing else changes: other errors are rethrown.
const existsSync = fs.existsSync;
fs.existsSync = ((path: fs.PathLike) => {
  try {
    return existsSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return false;
    throw error;
  }
}) as typeof fs.existsSync;
const { chromium } = await import("playwright-core");

/** Where Debian installs Chromium (override with CHROMIUM_PATH). */
export const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";

/** Whether the browser is installed; the browser tests are skipped (with a message) if not. */
export const CHROMIUM_AVAILABLE = (() => {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
})();
if (!CHROMIUM_AVAILABLE) {
  console.warn(
    `SKIPPING console browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium)`,
  );
}

/** Folder for screenshots people can look at. */
export const SCREENSHOTS = new URL("../output/console/", import.meta.url);

/** Flags every launch uses: headless, offline-quiet, no sandbox (tests run as root). */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A running browser with one page. */
export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Console errors and failed requests the page reported. */
  problems: string[];
  /** Every URL the page requested. */
  requests: string[];
  /** Saves a screenshot under {@linkcode SCREENSHOTS}; returns its path. */
  screenshot(name: string, options?: { fullPage?: boolean }): Promise<string>;
  close(): Promise<void>;
}

/** Launches Chromium with a fresh `--user-data-dir` and opens a page. */
export async function launchBrowser(
  viewport = { width: 1280, height: 900 },
): Promise<TestBrowser> {
  const profileDir = await Deno.makeTempDir({ prefix: "console-chromium-" });
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport,
    timeout: 60_000,
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(30_000);
  const problems: string[] = [];
  const requests: string[] = [];
  page.on("console", (m) => {
    // Failed responses are reported with their URL below.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      problems.push(`console: ${m.text()}`);
    }
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("request", (r) => requests.push(r.url()));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
  });
  page.on("requestfailed", (r) => {
    // An EventSource closed by navigation is not a problem.
    if (!r.url().endsWith("/console/api/live")) problems.push(`request failed: ${r.url()}`);
  });
  await Deno.mkdir(SCREENSHOTS, { recursive: true });
  return {
    context,
    page,
    problems,
    requests,
    async screenshot(name, options = {}) {
      const path = new URL(`${name}.png`, SCREENSHOTS).pathname;
      // From the top: a full-page capture of a scrolled page draws the sticky header mid-page.
      await page.evaluate("window.scrollTo(0, 0)");
      await page.screenshot({ path, fullPage: options.fullPage ?? true });
      return path;
    },
    async close() {
      await context.close();
      await Deno.remove(profileDir, { recursive: true }).catch(() => {});
    },
  };
}
