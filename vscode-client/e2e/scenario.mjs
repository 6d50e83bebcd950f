// End-to-end scenario in real VS Code (code-server) driven through headless Chromium with
// playwright-core. Run by tests/editors/test_vscode.py, which starts code-server, installs the
// .vsix and checks the file on disk afterwards.
//
//   node e2e/scenario.mjs CONFIG.json
//
// CONFIG: { mode, url, chromium, playwrightCore, profileDir, artifactsDir, fileName, line,
//           functionName, timeoutsMs: { workbench, status, lens, step } }
// mode "optimize": status bar item, light bulb "Optimize", lens with the speedup, apply through
//   the lens and save, palette "Show Report" (preview opens), palette "Restart Server".
// mode "quit-during-job": as "optimize" up to the running job (required here), then stops, so
//   that the test can quit the editor while the job runs; with `readyFile` and `quitFile` it
//   creates the first then keeps the window open until the test creates the second.
// mode "profile": status bar item, then "PerfRL: Profile" from the palette and the hot-spot lens.
// mode "broken-server": the server cannot start; expects the red status item and the error
//   notification about `brokenInterpreter` (the configured path) with its buttons, then clicks
//   "Open Settings". With `fixInterpreter` (a path) it types that into the setting and waits
//   for the server to come up.
// Every step saves a screenshot (NN-name.png) in artifactsDir; result.json there records what
// was seen. Exit status 0 only when every step passed; on failure the last screenshot is
// "failure.png" and the error goes to stderr.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const { chromium } = await import(pathToFileURL(join(config.playwrightCore, "index.mjs")).href);
const timeouts = { workbench: 90_000, status: 90_000, lens: 300_000, step: 30_000, quit: 180_000, ...config.timeoutsMs };
mkdirSync(config.artifactsDir, { recursive: true });

const result = { steps: [], statusTexts: [], actionTitles: [], lensTexts: [] };
let page;
let shot = 0;

function log(message) {
  process.stderr.write(`[scenario ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/**
 * Saves NN-name.png (the whole window) and, with `detail` (a locator), NN-name-detail.png: the
 * part of the window around it, small enough for the README.
 */
async function screenshot(name, detail) {
  shot += 1;
  const base = join(config.artifactsDir, `${String(shot).padStart(2, "0")}-${name}`);
  await page.screenshot({ path: `${base}.png` });
  const step = { name, screenshot: `${base}.png` };
  if (detail !== undefined) {
    const box = await detail.first().boundingBox();
    if (box !== null) {
      const viewport = page.viewportSize();
      const x = Math.max(0, box.x - detail.padLeft);
      const y = Math.max(0, box.y - detail.padTop);
      const clip = {
        x,
        y,
        width: Math.min(viewport.width - x, box.width + detail.padLeft + detail.padRight),
        height: Math.min(viewport.height - y, box.height + detail.padTop + detail.padBottom),
      };
      await page.screenshot({ path: `${base}-detail.png`, clip });
      step.detail = `${base}-detail.png`;
    }
  }
  result.steps.push(step);
  log(`step ${name}: ${base}.png`);
}

/** A locator with the margins to keep around it in a detail screenshot. */
function around(locator, padTop, padRight, padBottom, padLeft) {
  return Object.assign(locator, { padTop, padRight, padBottom, padLeft });
}

/** Runs a command from the command palette (F1) by its title. */
async function runPaletteCommand(title) {
  await page.keyboard.press("F1");
  await page.locator(".quick-input-widget").waitFor({ state: "visible" });
  await page.keyboard.type(title);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: title }).first().waitFor();
  await page.keyboard.press("Enter");
  await page.locator(".quick-input-widget").waitFor({ state: "hidden" });
}

// The extension's status bar item: VS Code gives it the id "<extension id>.<item id>".
const STATUS_ITEM = '[id="perfrl.perfrl.perfrl.status"]';

async function statusText() {
  const item = page.locator(STATUS_ITEM);
  return (await item.count()) > 0 ? (await item.innerText()).trim() : "";
}

// How long "server not running" may show at start-up before the scenario fails. Seen once in
// CI on a loaded machine: the extension activated before the user settings reached its host,
// started the default "python3" (no server there) and reported so. A setting that arrives
// later is a configuration change, on which serverController restarts the server; that this
// is what happens then is expected, not yet observed (the flake has not recurred).
const NOT_RUNNING_GRACE_MS = 20_000;
let notRunningSince = null;

/** Throws when `text` has said "server not running" for longer than the grace period. */
function failIfStillNotRunning(text) {
  if (!/server not running/.test(text)) {
    notRunningSince = null;
    return;
  }
  notRunningSince ??= Date.now();
  if (Date.now() - notRunningSince > NOT_RUNNING_GRACE_MS) {
    throw new Error(`the extension reports: ${text}`);
  }
}

/** Waits for `predicate` (polled in Node, not in the page) to return a truthy value. */
async function waitFor(what, timeoutMs, predicate) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    }
    await page.waitForTimeout(250);
  }
}

/** Opens the quick-fix menu (Ctrl+.) and runs the entry whose title matches `pattern`. */
async function runCodeAction(pattern, screenshotName) {
  const rows = page.locator(".action-widget .monaco-list-row");
  // On a loaded machine the first request can come back empty ("No code actions available",
  // seen once in CI with the server just started): ask again, as a user would, within the
  // step's time.
  const deadline = Date.now() + timeouts.step;
  for (let attempt = 1; ; attempt += 1) {
    await page.keyboard.press("Control+.");
    try {
      await rows.first().waitFor({ state: "visible", timeout: Math.min(10_000, timeouts.step) });
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        throw error;
      }
      log(`code actions: none shown on attempt ${attempt}; asking again`);
      await page.keyboard.press("Escape");
      await page.waitForTimeout(1_000);
    }
  }
  const titles = (await rows.allInnerTexts()).map((t) => t.trim());
  result.actionTitles.push(titles);
  log(`code actions: ${JSON.stringify(titles)}`);
  if (!titles.some((t) => pattern.test(t))) {
    throw new Error(`no code action matching ${pattern} in ${JSON.stringify(titles)}`);
  }
  // A click on a row is swallowed by the widget; move the focus with the arrow keys instead.
  for (let i = 0; i <= titles.length; i += 1) {
    const focused = page.locator(".action-widget .monaco-list-row.focused");
    if ((await focused.count()) > 0 && pattern.test(await focused.first().innerText())) {
      break;
    }
    await page.keyboard.press("ArrowDown");
  }
  if (screenshotName) {
    await screenshot(screenshotName, around(page.locator(".action-widget"), 60, 40, 20, 80));
  }
  await page.keyboard.press("Enter");
  await rows.first().waitFor({ state: "hidden", timeout: timeouts.step });
}

async function editorText() {
  return page.locator(".editor-instance .view-lines").first().innerText();
}

let failed = false;
let context;
try {
context = await chromium.launchPersistentContext(config.profileDir, {
    executablePath: config.chromium,
    headless: true,
    viewport: { width: 1280, height: 760 },
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
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(timeouts.step);
  await page.goto(config.url, { timeout: timeouts.workbench });
  await page.locator(".monaco-workbench").waitFor({ state: "visible", timeout: timeouts.workbench });
  // The explorer shows the workspace once the remote file system is up.
  await page.locator(".explorer-folders-view").first().waitFor({ timeout: timeouts.workbench });

  // 1. Open the file (Quick Open) and wait for the extension's status bar item.
  await page.locator(".monaco-workbench").click({ position: { x: 640, y: 300 } });
  await page.keyboard.press("Control+P");
  await page.locator(".quick-input-widget").waitFor({ state: "visible" });
  await page.keyboard.type(config.fileName);
  await page.locator(".quick-input-list .monaco-list-row", { hasText: config.fileName }).first().waitFor();
  await page.keyboard.press("Enter");
  await page.locator(".tabs-container .tab.active", { hasText: config.fileName }).waitFor();
  if (config.mode === "broken-server") {
    // The server cannot start: the user must get a red status item and an error with actions.
    const failedText = await waitFor("the 'server not running' status", timeouts.status, async () => {
      const text = await statusText();
      return /server not running/.test(text) ? text : "";
    });
    result.statusTexts.push(failedText);
    // The toast about the configured interpreter: one about another (say a default tried before
    // the user's settings reached the extension host) would not be the error under test.
    const toast = page
      .locator(".notifications-toasts .notification-toast", { hasText: "PerfRL" })
      .filter({ hasText: config.brokenInterpreter ?? "PerfRL" })
      .first();
    await toast.waitFor({ timeout: timeouts.step });
    result.allNotifications = (
      await page.locator(".notifications-toasts .notification-toast", { hasText: "PerfRL" }).allInnerTexts()
    ).map((t) => t.trim());
    result.notification = (await toast.innerText()).trim();
    result.buttons = (await toast.locator(".monaco-button").allInnerTexts()).map((t) => t.trim());
    await screenshot("server-error", around(toast, 10, 10, 10, 10));
    // The "Open Settings" action opens the settings editor on perfrl.server.interpreter.
    await toast.locator(".monaco-button", { hasText: "Open Settings" }).click();
    const setting = page.locator(".settings-editor .setting-item-contents", { hasText: "Interpreter" }).first();
    await setting.waitFor({ timeout: timeouts.step });
    result.settingShown = (await setting.innerText()).trim();
    await screenshot("open-settings");
    if (config.fixInterpreter !== undefined) {
      // The user types a working interpreter into the setting's text box: the extension
      // restarts the server without a window reload.
      const input = setting.locator("input").first();
      await input.fill(config.fixInterpreter);
      await input.press("Tab");
      result.statusTexts.push(
        await waitFor("the server to start after the fix", timeouts.status, async () => {
          const text = await statusText();
          return /PerfRL: (model|loading)/.test(text) ? text : "";
        }),
      );
      await screenshot("fixed");

      // The palette's "PerfRL: Optimize Function at Cursor" on the now running server.
      await page.locator(".tabs-container .tab", { hasText: config.fileName }).first().click();
      await page.keyboard.press("Control+G");
      await page.locator(".quick-input-widget").waitFor({ state: "visible" });
      await page.keyboard.type(String(config.line));
      await page.keyboard.press("Enter");
      await page.locator(".quick-input-widget").waitFor({ state: "hidden" });
      await runPaletteCommand("PerfRL: Optimize Function at Cursor");
      result.paletteJob = await waitFor("the job started from the palette", timeouts.status, async () => {
        const text = await statusText();
        if (/job.? running|queued/.test(text)) {
          return text;
        }
        const lenses = await page.locator(".codelens-decoration").allInnerTexts();
        return lenses.find((t) => /PerfRL|× faster/.test(t)) ?? "";
      });
      await screenshot("palette-optimize");
    }
  } else if (config.mode === "profile") {
    // The palette's "PerfRL: Profile": the server profiles the workspace's tests, then the hot
    // functions of the open file get a "hot: N% of test time · Optimize" lens.
    const ready = await waitFor("the PerfRL status bar item", timeouts.status, async () => {
      const text = await statusText();
      failIfStillNotRunning(text);
      return /PerfRL: (model|loading)/.test(text) ? text : "";
    });
    result.statusTexts.push(ready);
    await runPaletteCommand("PerfRL: Profile");
    const hot = await waitFor("a hot-spot code lens", timeouts.lens, async () => {
      const texts = (await page.locator(".codelens-decoration").allInnerTexts()).map((t) => t.trim());
      return texts.find((t) => /hot: \d+% of test time/.test(t)) ?? "";
    });
    result.lensTexts.push(hot);
    await screenshot("hot-spot-lens", around(page.locator(".codelens-decoration"), 8, 420, 64, 70));
  } else {
    const ready = await waitFor("the PerfRL status bar item", timeouts.status, async () => {
      const text = await statusText();
      failIfStillNotRunning(text);
      return /PerfRL: (model|loading)/.test(text) ? text : "";
    });
    result.statusTexts.push(ready);

    await screenshot("extension-active", around(page.locator(STATUS_ITEM), 6, 120, 2, 40));

    // 2. Put the cursor in the function (Ctrl+G) and run "Optimize" from the light bulb menu.
    await page.keyboard.press("Control+G");
    await page.locator(".quick-input-widget").waitFor({ state: "visible" });
    await page.keyboard.type(String(config.line));
    await page.keyboard.press("Enter");
    await page.locator(".quick-input-widget").waitFor({ state: "hidden" });
    await runCodeAction(new RegExp(`Optimize .?${config.functionName}.? with PerfRL`), "lightbulb-optimize");

    // 3. The job runs: the status bar counts it (best effort: a fast job may already be done).
    try {
      const busy = await waitFor("a running job in the status bar", 15_000, async () => {
        const text = await statusText();
        return /job.? running|queued/.test(text) ? text : "";
      });
      result.statusTexts.push(busy);
      await screenshot(
        "job-running",
        around(page.locator(STATUS_ITEM), 6, 120, 2, 40),
      );
    } catch (error) {
      log(`no running job seen: ${error.message}`);
      if (config.mode === "quit-during-job") {
        throw error;
      }
    }

    if (config.mode === "quit-during-job") {
      // The user quits while the job runs: the test stops code-server and checks that the
      // language server and everything it started are gone.
      if (!result.statusTexts.some((t) => /job.? running|queued/.test(t))) {
        throw new Error("the job was not seen running");
      }
      if (config.readyFile) {
        // Hold the window open while the test quits the editor: closing it first ends the
        // extension host, and with it the server, before the quit the test is about (a race
        // a busy machine lost).
        writeFileSync(config.readyFile, "");
        await waitFor("the test to quit the editor", timeouts.quit, async () => existsSync(config.quitFile));
      }
    } else {
      // 4. Wait for the code lens with the measured speedup.
      const lens = page.locator(".codelens-decoration a", { hasText: /× faster.*apply/ }).first();
      await waitFor("the code lens with the measured speedup", timeouts.lens, async () => {
        const texts = (await page.locator(".codelens-decoration").allInnerTexts()).map((t) => t.trim());
        const failure = texts.find((t) => /PerfRL: (no faster|failed)/.test(t));
        if (failure) {
          throw new Error(`the job ended without a faster rewrite: ${failure}`);
        }
        return (await lens.count()) > 0;
      });
      result.lensTexts.push(await lens.innerText());
      result.statusTexts.push(await statusText());
      await screenshot("lens-speedup", around(page.locator(".codelens-decoration"), 8, 420, 64, 70));

      // 5. Apply through the lens, save, and wait until the editor is clean again.
      await lens.click();
      await waitFor("the rewrite in the editor", timeouts.step, async () =>
        (await page.locator(".tabs-container .tab.active.dirty").count()) > 0,
      );
      await page.keyboard.press("Control+S");
      await waitFor("the file to be saved", timeouts.step, async () =>
        (await page.locator(".tabs-container .tab.active.dirty").count()) === 0,
      );
      result.editorText = await editorText();
      // The server then marks the function as rewritten (best effort: the file on disk is what the
      // test checks).
      try {
        const applied = await waitFor("the 'applied' code lens", 10_000, async () => {
          const texts = await page.locator(".codelens-decoration").allInnerTexts();
          return texts.find((t) => /applied/.test(t)) ?? "";
        });
        result.lensTexts.push(applied.trim());
      } catch (error) {
        log(error.message);
      }
      await screenshot("rewrite-applied", around(page.locator(".codelens-decoration"), 8, 420, 64, 70));

      // 6. The palette's "PerfRL: Show Report": the server opens the report, the extension its preview.
      await runPaletteCommand("PerfRL: Show Report");
      const preview = page.locator(".tabs-container .tab", { hasText: /Preview/ }).first();
      await preview.waitFor({ timeout: timeouts.step });
      result.reportTab = (await preview.innerText()).trim();
      await page.waitForTimeout(1000); // let the preview render before the picture
      await screenshot("report", around(page.locator(".editor-group-container").last(), 0, 0, 0, 0));

      // 7. "PerfRL: Restart Server": the status bar goes through a restart and comes back.
      await runPaletteCommand("PerfRL: Restart Server");
      // Stopping, probing the interpreter and initializing take more than a second: seen by polling.
      result.statusTexts.push(
        await waitFor("the restart to begin", 15_000, async () => {
          const text = await statusText();
          return /stopped|starting/.test(text) ? text : "";
        }),
      );
      const restarted = await waitFor("the server to come back after a restart", timeouts.status, async () => {
        const text = await statusText();
        if (/server not running/.test(text)) {
          throw new Error(`the restart failed: ${text}`);
        }
        return /PerfRL: (model|loading)/.test(text) ? text : "";
      });
      result.statusTexts.push(restarted);
    }
  }
} catch (error) {
  failed = true;
  result.error = String(error && error.stack ? error.stack : error);
  log(`FAILED: ${result.error}`);
  if (page) {
    await page.screenshot({ path: join(config.artifactsDir, "failure.png") }).catch(() => undefined);
  }
} finally {
  writeFileSync(join(config.artifactsDir, "result.json"), JSON.stringify(result, null, 2));
  await context?.close().catch(() => undefined);
}
process.exit(failed ? 1 : 0);
