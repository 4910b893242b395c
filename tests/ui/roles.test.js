'use strict';
// Controls follow the role, at 1280 px and at 390 px: a viewer walks every
// page and finds no control that would change anything (no switch, no
// create, edit, delete, archive, revive, revoke or plan button), and no
// API tokens page; an editor is told in words, never with an internal
// code such as ENV_ON, when the server refuses; a destructive confirmation
// opens with the focus on Cancel, so Enter does not delete.
//
//   tests/ui/run.sh tests/ui/roles.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../integration/server');
const { launch, screenshot, VIEWPORTS } = require('./browser');
const ui = require('./helpers');

let srv;
let tokens;

// Buttons and links whose words change something.
const CHANGES = /^(\+ ?New|\+ ?Add|Add |Create|Edit|Delete|Archive|Revive|Mark|Not stale|Revoke|Remove|Save|Apply|Start|Pause|Resume|Approve|Skip|Roll back|Variants|Ask the advisor|Propose|×)/;

test.before(async () => {
  srv = await startServer();
  tokens = await ui.standardData(srv);
});

test.after(async () => {
  if (srv) await srv.stop();
});

for (const vp of VIEWPORTS) {
  test(`a viewer sees no control that changes anything, on any page (${vp.width} px)`, async () => {
    const b = await launch({ viewport: vp });
    const problems = [];
    ui.watchProblems(b.page, problems);
    const page = b.page;
    try {
      await ui.signInWith(page, srv, tokens.viewer);
      assert.match(await page.locator('#who').innerText(), /Signed in as vera\s*viewer · read only/);
      const navLinks = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allInnerTexts();
      assert.ok(!navLinks.includes('API tokens'), `no API tokens page in the navigation: ${navLinks}`);
      const found = {};
      for (const [name, p, heading] of ui.ALL_PAGES) {
        if (name === 'tokens') continue;
        await ui.open(page, srv, p, heading);
        const controls = await page.locator('main').evaluate((m, re) => {
          const rx = new RegExp(re);
          return [...m.querySelectorAll('button, a.button, [role="switch"]')]
            .filter((el) => el.offsetParent !== null)
            .map((el) => (el.getAttribute('role') === 'switch' ? `switch ${el.getAttribute('aria-label')}` : el.textContent.trim()))
            .filter((t) => t.startsWith('switch ') || rx.test(t));
        }, CHANGES.source);
        if (controls.length) found[name] = controls;
        await screenshot(page, `roles-${vp.name}-viewer-${name}`);
      }
      assert.deepEqual(found, {}, 'edit controls shown to a viewer');
      // The flag page still answers questions: the playground works.
      await ui.open(page, srv, '/flags/default/new-checkout', 'new-checkout');
      const form = page.locator('form').filter({ has: page.getByRole('heading', { name: /Playground/ }) });
      await form.getByLabel('userId').fill('u1');
      await form.getByRole('button', { name: 'Evaluate' }).click();
      await form.locator('.why').getByText('new-checkout is ON in production').waitFor();
      // The tokens page, reached by its address, says why it is not there.
      await page.goto(`${srv.url}/tokens`);
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.match(await alert.innerText(), /Your role does not allow this page\. You are signed in as vera with the viewer role; api tokens need the admin role/i);
      assert.deepEqual(problems, []);
    } finally {
      await b.close();
    }
  });

  test(`a refusal is said in words, never with an internal code (${vp.width} px)`, async () => {
    const b = await launch({ viewport: vp });
    const page = b.page;
    try {
      await ui.signInWith(page, srv, tokens.editor);
      // The server answers a refusal as an older one did, naming its
      // operation: the page must not show the code.
      await page.route('**/environments/production/off', (route) => route.fulfill({
        status: 403, contentType: 'application/json',
        body: JSON.stringify({ message: 'the viewer role may not call ENV_OFF', details: [{ path: '', message: 'the viewer role may not call ENV_OFF' }] }),
      }));
      await ui.open(page, srv, '/flags/default/new-checkout', 'new-checkout');
      await page.getByRole('region', { name: 'Environment production' }).getByRole('switch').click();
      await page.getByRole('dialog').getByRole('button', { name: 'Disable in production' }).click();
      const alert = page.getByRole('alert');
      await alert.waitFor();
      const text = await alert.innerText();
      assert.match(text, /Your role does not allow this/);
      assert.match(text, /signed in as eddie with the editor role/);
      assert.doesNotMatch(text, /ENV_OFF|[A-Z]{2,}_[A-Z]{2,}/);
      await screenshot(page, `roles-${vp.name}-refused-in-words`);
      await page.unroute('**/environments/production/off');
    } finally {
      await b.close();
    }
  });

  test(`a destructive confirmation starts on Cancel: Enter keeps the strategy (${vp.width} px)`, async () => {
    const b = await launch({ viewport: vp });
    const page = b.page;
    try {
      await ui.signInWith(page, srv, tokens.editor);
      await ui.open(page, srv, '/flags/default/new-checkout', 'new-checkout');
      const prod = page.getByRole('region', { name: 'Environment production' });
      const del = prod.getByRole('button', { name: 'Delete strategy Thai users in production' });
      await del.focus();
      await page.keyboard.press('Enter');
      const dlg = page.getByRole('dialog', { name: 'Delete the strategy “Thai users”?' });
      await dlg.waitFor();
      const focused = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
      assert.equal(focused, 'Cancel', 'the focus starts on the safe button');
      await screenshot(page, `roles-${vp.name}-confirm-delete`);
      await page.keyboard.press('Enter');
      await dlg.waitFor({ state: 'detached' });
      let list = await ui.ok(srv, 'GET', `${ui.FEAT}/new-checkout/environments/production/strategies`);
      assert.ok(list.some((s) => s.title === 'Thai users'), 'Enter did not delete');
      assert.ok(await ui.focused(del), 'the focus returns to the Delete button');
      // Deleting takes a deliberate move to the red button.
      await page.keyboard.press('Enter');
      await dlg.waitFor();
      await page.keyboard.press('Tab');
      await page.keyboard.press('Enter');
      await dlg.waitFor({ state: 'detached' });
      await page.getByRole('status').getByText('Strategy deleted.').waitFor();
      list = await ui.ok(srv, 'GET', `${ui.FEAT}/new-checkout/environments/production/strategies`);
      assert.ok(!list.some((s) => s.title === 'Thai users'), 'deleted on purpose');
      await ui.ok(srv, 'POST', `${ui.FEAT}/new-checkout/environments/production/strategies`, { name: 'default', title: 'Thai users', constraints: [{ contextName: 'country', operator: 'IN', values: ['TH'] }] });
    } finally {
      await b.close();
    }
  });
}
