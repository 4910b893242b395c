'use strict';
// Launching Debian's chromium for the browser tests through playwright-core
// (which downloads no browser): headless, no sandbox (root, containers), no
// GPU, no QUIC, nothing fetched in the background, and a fresh profile in a
// temporary directory removed at exit.
//
// Environment: VEXIL_CHROMIUM (default /usr/bin/chromium),
// VEXIL_UI_ARTIFACTS (default build/ui-artifacts): where screenshots go.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { REPO_ROOT } = require('../integration/server');

const CHROMIUM = process.env.VEXIL_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.resolve(REPO_ROOT, process.env.VEXIL_UI_ARTIFACTS || path.join('build', 'ui-artifacts'));

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage'];

// The two widths every flow is walked at: a desktop and a phone.
const VIEWPORTS = [
  { name: '1280', width: 1280, height: 860 },
  { name: '390', width: 390, height: 844 },
];

// Returns {context, page, close()}; the profile directory is removed on close.
// opts.viewport ({width, height}), opts.colorScheme ('light' | 'dark').
async function launch(opts = {}) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`chromium not found at ${CHROMIUM}: run scripts/deps.sh test (or set VEXIL_CHROMIUM)`);
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vexil-ui-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: opts.viewport ? { width: opts.viewport.width, height: opts.viewport.height } : { width: 1280, height: 860 },
    colorScheme: opts.colorScheme || 'light',
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  context.setDefaultTimeout(10000);
  const page = context.pages()[0] || await context.newPage();
  return {
    context,
    page,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Saves a PNG under the artifacts folder and returns its path.
// A page with a modal dialog open is taken as the viewport (the backdrop
// covers only that).
async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  const modal = await page.locator('dialog[open]').count();
  // Transient notices would hide what the page shows (the CSP forbids the
  // inline style Playwright's own `style` option would inject).
  await page.evaluate(() => { const t = document.getElementById('toasts'); if (t) t.replaceChildren(); });
  await page.screenshot({ path: file, fullPage: modal === 0 });
  return file;
}

module.exports = { launch, screenshot, ARTIFACTS, CHROMIUM, VIEWPORTS };
