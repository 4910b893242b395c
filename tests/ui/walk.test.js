'use strict';
// Every page of the console, walked as the issue was walked: at 1280 px
// and at 390 px, in light and in dark mode. On each page an axe-core scan
// (pinned in package-lock.json) finds no serious or critical violation;
// at 390 px every control lies within the screen's width and the page does
// not scroll sideways; the strategy dialog fits the phone and its own
// content does not overflow; chart labels are drawn at a readable size.
// A screenshot of each page lands in VEXIL_UI_ARTIFACTS.
//
//   tests/ui/run.sh tests/ui/walk.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, clientSecret, request } = require('../integration/server');
const { launch, screenshot, VIEWPORTS } = require('./browser');
const ui = require('./helpers');

const CLIENT = clientSecret();
let srv;

test.before(async () => {
  srv = await startServer({ clientTokens: [CLIENT] });
  await ui.standardData(srv);
  // Some SDK usage, so the usage page and the flag page draw charts.
  const now = Date.now();
  for (const [h, yes, no] of [[2, 30, 10], [1, 50, 25]]) {
    const start = new Date(now - h * 3600000).toISOString();
    const stop = new Date(now - h * 3600000 + 60000).toISOString();
    const r = await request(srv.url, 'POST', '/api/client/metrics', {
      token: CLIENT,
      body: { appName: 'shop', instanceId: 'i-1', bucket: { start, stop, toggles: { 'new-checkout': { yes, no, variants: { blue: yes } } } } },
    });
    assert.ok(r.status < 300, `metrics: ${r.status} ${r.text}`);
  }
});

test.after(async () => {
  if (srv) await srv.stop();
});

for (const vp of VIEWPORTS) {
  for (const scheme of ['light', 'dark']) {
    test(`every page at ${vp.width} px in ${scheme} mode: no serious accessibility violation${vp.width < 500 ? ', every control in reach' : ''}`, async () => {
      const b = await launch({ viewport: vp, colorScheme: scheme });
      const problems = [];
      ui.watchProblems(b.page, problems);
      const page = b.page;
      try {
        await page.goto(srv.url + '/signin');
        assert.deepEqual(await ui.axeViolations(page), [], 'sign-in page');
        await screenshot(page, `walk-${vp.name}-${scheme}-signin`);
        await ui.signInWith(page, srv, srv.adminToken);
        const found = {};
        for (const [name, p, heading] of ui.ALL_PAGES) {
          await ui.open(page, srv, p, heading);
          const v = await ui.axeViolations(page);
          if (v.length) found[name] = v;
          if (vp.width < 500) {
            const reach = await ui.outOfReach(page);
            assert.deepEqual(reach.out, [], `${name}: controls outside the ${vp.width} px screen`);
            assert.equal(reach.sideways, false, `${name}: the page scrolls sideways (${reach.width} px wide)`);
          }
          await screenshot(page, `walk-${vp.name}-${scheme}-${name}`);
        }
        assert.deepEqual(found, {}, 'serious or critical axe violations');

        // A dialog: the strategy editor with a constraint, scanned and
        // measured.
        await ui.open(page, srv, '/flags/default/new-checkout', 'new-checkout');
        await page.getByRole('region', { name: 'Environment production' }).getByRole('button', { name: '+ Add strategy' }).click();
        const dlg = page.getByRole('dialog', { name: /Add a strategy/ });
        await dlg.getByRole('button', { name: '+ Add constraint' }).click();
        await dlg.getByRole('group', { name: 'Constraint 1', exact: true }).getByLabel('Field type').selectOption('ip');
        assert.deepEqual(await ui.axeViolations(page), [], 'the strategy dialog');
        const fit = await dlg.evaluate((d) => {
          const r = d.getBoundingClientRect();
          const inner = d.firstElementChild;
          return { left: r.left, right: r.right, W: window.innerWidth, overflow: inner.scrollWidth - inner.clientWidth };
        });
        assert.ok(fit.left >= 0 && fit.right <= fit.W, `the dialog fits the screen: ${JSON.stringify(fit)}`);
        assert.ok(fit.overflow <= 1, `nothing in the dialog sticks out sideways: ${JSON.stringify(fit)}`);
        if (vp.width < 500) {
          const reach = await ui.outOfReach(page);
          assert.deepEqual(reach.out.filter((x) => !x.startsWith('<a')), [], 'dialog controls in reach');
        }
        await screenshot(page, `walk-${vp.name}-${scheme}-strategy-dialog`);
        await page.keyboard.press('Escape');
        await dlg.waitFor({ state: 'detached' });

        // Charts: the tick labels are drawn at 10 px or more on screen.
        await ui.open(page, srv, '/usage?flag=new-checkout', 'Usage');
        const sizes = await page.locator('.chart svg').first().evaluate((svg) => {
          const t = svg.querySelector('text.tick');
          return { font: t.getBoundingClientRect().height, ticks: svg.querySelectorAll('text.tick').length };
        });
        assert.ok(sizes.font >= 10, `chart labels are ${sizes.font.toFixed(1)} px high`);
        assert.deepEqual(problems, []);
      } finally {
        await b.close();
      }
    });
  }
}

for (const vp of VIEWPORTS) {
  test(`keyboard only, in dark mode: sign in, move around, switch a flag, cancel a dialog (${vp.width} px)`, async () => {
    const b = await launch({ viewport: vp, colorScheme: 'dark' });
    const page = b.page;
    try {
      await page.goto(srv.url + '/flags');
      await page.waitForURL(/\/signin/);
      // The token field has the focus: type it and press Enter.
      assert.equal(await page.evaluate(() => document.activeElement.name), 'token');
      await page.keyboard.type(srv.adminToken);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { level: 1, name: 'Flags' }).waitFor();
      // The focus moves to the heading once the page has loaded its list.
      assert.ok(await ui.focused(page.getByRole('heading', { level: 1, name: 'Flags' }), 5000), 'the focus moves to the heading');
      // On a fresh load the skip link comes first, with a visible focus.
      await page.reload();
      await page.getByRole('heading', { level: 1, name: 'Flags' }).waitFor();
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
      const ring = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
      assert.notEqual(ring, 'none', 'the focus is visible');
      // Tab to the development switch of dark-mode, then Space.
      const sw = page.getByRole('switch', { name: 'dark-mode in development' });
      let reached = false;
      for (let i = 0; i < 80 && !reached; i++) {
        await page.keyboard.press('Tab');
        reached = await ui.focused(sw, 0);
      }
      assert.ok(reached, 'the switch is reachable with Tab');
      await page.keyboard.press('Space');
      await page.getByRole('status').getByText('dark-mode is now on in development.').waitFor();
      // Production asks first; Escape cancels and the focus comes back.
      const prod = page.getByRole('switch', { name: 'dark-mode in production' });
      await page.keyboard.press('Tab');
      assert.ok(await ui.focused(prod), 'Tab moves to the production switch');
      await page.keyboard.press('Enter');
      const dlg = page.getByRole('dialog', { name: 'Enable dark-mode in production?' });
      await dlg.waitFor();
      await page.keyboard.press('Escape');
      await dlg.waitFor({ state: 'detached' });
      const back = await ui.focused(prod);
      const where = back ? '' : await page.evaluate(() => { const a = document.activeElement; return a ? `${a.tagName} ${a.getAttribute('aria-label') || ''} ${(a.textContent || '').slice(0, 40)}` : 'none'; });
      assert.ok(back, `the focus returns to the switch (it is on: ${where})`);
      assert.equal(await prod.getAttribute('aria-checked'), 'false');
      await screenshot(page, `walk-${vp.name}-dark-keyboard`);
    } finally {
      await b.close();
      await ui.ok(srv, 'POST', `${ui.FEAT}/dark-mode/environments/development/off`);
    }
  });
}

// The flags list follows changes live: a row whose flag changed elsewhere
// is read again and redrawn. When that read is still on its way as the
// production dialog opens, the row waits for the dialog to close (else the
// dialog would hand the focus back to a switch no longer in the page).
test('a flag changed elsewhere while its production dialog is open: the row waits, the focus comes back to its switch', async () => {
  const b = await launch({ viewport: VIEWPORTS[0] });
  const page = b.page;
  const one = '**/api/admin/projects/default/features/dark-mode';
  try {
    await ui.signInWith(page, srv, srv.adminToken, '/flags');
    const prod = page.getByRole('switch', { name: 'dark-mode in production' });
    const dev = page.getByRole('switch', { name: 'dark-mode in development' });
    await prod.waitFor();
    assert.equal(await dev.getAttribute('aria-checked'), 'false');
    const { asked: reading, release } = await ui.holdRequests(page, one);
    // Someone else switches dark-mode on in development: the page hears it
    // and starts reading the flag, and that read is held here.
    await ui.ok(srv, 'POST', `${ui.FEAT}/dark-mode/environments/development/on`);
    await reading;
    await prod.focus();
    await page.keyboard.press('Enter');
    const dlg = page.getByRole('dialog', { name: 'Enable dark-mode in production?' });
    await dlg.waitFor();
    // The read comes back while the dialog is open.
    const answered = page.waitForResponse((res) => new URL(res.url()).pathname.endsWith('/features/dark-mode'));
    release();
    await answered;
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50))));
    assert.equal(await dev.getAttribute('aria-checked'), 'false', 'the row is not redrawn under the dialog');
    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'detached' });
    assert.ok(await ui.focused(prod), 'the focus returns to the production switch');
    // Once the dialog is closed, the row shows the change.
    await page.waitForFunction(() => document.querySelector('[aria-label="dark-mode in development"]').getAttribute('aria-checked') === 'true');
    assert.ok(await ui.focused(prod), 'the focus stays on the production switch through the redraw');
    assert.equal(await prod.getAttribute('aria-checked'), 'false');
  } finally {
    await page.unroute(one).catch(() => {});
    await b.close();
    await ui.ok(srv, 'POST', `${ui.FEAT}/dark-mode/environments/development/off`);
  }
});

// After a navigation the focus moves to the new page's heading once the
// page has loaded, but not away from someone who already went into the
// page while it loaded: what they type goes where they are typing.
test('typing into a page that is still loading: its heading does not take the focus away', async () => {
  const b = await launch({ viewport: VIEWPORTS[0] });
  const page = b.page;
  const list = (url) => url.pathname === '/api/admin/features';
  try {
    await ui.signInWith(page, srv, srv.adminToken, '/segments');
    await page.getByRole('heading', { level: 1, name: 'Segments' }).waitFor();
    const { asked: reading, release } = await ui.holdRequests(page, list);
    await page.getByRole('navigation').getByRole('link', { name: 'Flags', exact: true }).click();
    const search = page.getByRole('searchbox', { name: 'Search' });
    await search.waitFor();
    await reading;
    // The list is still on its way: the person goes to the search box.
    await search.focus();
    await page.keyboard.type('dark');
    const answered = page.waitForResponse((res) => list(new URL(res.url())));
    release();
    await answered;
    await page.getByRole('switch', { name: 'dark-mode in production' }).waitFor();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50))));
    assert.ok(await ui.focused(search, 0), 'the focus stays in the search box once the list has loaded');
    await page.keyboard.type('-mode');
    assert.equal(await search.inputValue(), 'dark-mode', 'all that was typed is in the search box');
  } finally {
    await page.unroute(list).catch(() => {});
    await b.close();
  }
});
