'use strict';
// Signing in to the console, at 1280 px and at 390 px: one sign-in serves
// every tab, reloads and links opened from bookmarks (the session is an
// HttpOnly cookie; no token or session is readable by the page); the
// header always says who is signed in and with which role; signing out in
// one tab signs the others out and they say so; a session the server
// refuses (token revoked, idle too long) brings back the sign-in page with
// the reason, and the header no longer claims anyone is signed in.
//
//   tests/ui/run.sh tests/ui/session.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, sleep } = require('../integration/server');
const { launch, screenshot, VIEWPORTS } = require('./browser');
const ui = require('./helpers');

let srv;
let tokens;

test.before(async () => {
  srv = await startServer();
  tokens = await ui.standardData(srv);
});

test.after(async () => {
  if (srv) await srv.stop();
});

const who = (page) => page.locator('#who');

for (const vp of VIEWPORTS) {
  test(`one sign-in serves new tabs, reloads and deep links; the header says who and which role (${vp.width} px)`, async () => {
    const b = await launch({ viewport: vp });
    const problems = [];
    ui.watchProblems(b.page, problems);
    try {
      const page = b.page;
      await ui.signInWith(page, srv, tokens.editor);
      assert.match(await who(page).innerText(), /Signed in as eddie\s*editor/);
      assert.deepEqual(await page.evaluate(() => [sessionStorage.length, localStorage.length, document.cookie]), [0, 0, '']);
      // A second tab, straight to a deep link: no sign-in.
      const tab = await b.context.newPage();
      await tab.goto(`${srv.url}/flags/default/new-checkout`);
      await tab.getByRole('heading', { level: 1, name: 'new-checkout' }).waitFor();
      assert.match(await who(tab).innerText(), /Signed in as eddie/);
      // A reload keeps it.
      await tab.reload();
      await tab.getByRole('heading', { level: 1, name: 'new-checkout' }).waitFor();
      // An edit from the second tab carries the CSRF token and is saved.
      await tab.getByRole('region', { name: 'Environment development' }).getByRole('switch').click();
      await tab.getByRole('status').getByText('new-checkout is now off in development.').waitFor();
      const f = await ui.ok(srv, 'GET', `${ui.FEAT}/new-checkout`);
      assert.equal(f.environments.find((e) => e.name === 'development').enabled, false);
      await ui.ok(srv, 'POST', `${ui.FEAT}/new-checkout/environments/development/on`);
      await screenshot(tab, `session-${vp.name}-second-tab`);
      await tab.close();
      assert.deepEqual(problems, []);
    } finally {
      await b.close();
    }
  });

  test(`signing out in one tab signs the other out, which says so (${vp.width} px)`, async () => {
    const b = await launch({ viewport: vp });
    try {
      const one = b.page;
      await ui.signInWith(one, srv, srv.adminToken);
      const two = await b.context.newPage();
      await two.goto(`${srv.url}/segments`);
      await two.getByRole('heading', { level: 1, name: 'Segments' }).waitFor();
      await one.getByRole('button', { name: 'Sign out' }).click();
      await one.getByRole('status').filter({ hasText: 'You signed out.' }).waitFor();
      await two.getByRole('status').filter({ hasText: 'You signed out in another tab or window.' }).waitFor();
      assert.equal(await who(two).innerText(), '', 'the other tab no longer says signed in');
      assert.match(two.url(), /\/signin\?next=%2Fsegments$/);
      await screenshot(two, `session-${vp.name}-signed-out-elsewhere`);
      // Signing in again in the second tab brings the first one back.
      await two.getByLabel('Admin token').fill(srv.adminToken);
      await two.getByLabel('Admin token').press('Enter');
      await two.getByRole('heading', { level: 1, name: 'Segments' }).waitFor();
      await one.locator('#who').getByText('Signed in as init-admin').waitFor();
    } finally {
      await b.close();
    }
  });

  test(`a session whose token is revoked is refused, and the sign-in page says why (${vp.width} px)`, async () => {
    const b = await launch({ viewport: vp });
    try {
      const page = b.page;
      const t = await ui.ok(srv, 'POST', '/api/admin/api-tokens', { tokenName: `temp-${vp.name}`, type: 'admin', role: 'editor' });
      await ui.signInWith(page, srv, t.secret);
      await ui.nav(page, 'Segments');
      await ui.ok(srv, 'DELETE', `/api/admin/api-tokens/${t.id}`);
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Projects' }).click();
      await page.getByRole('status').filter({ hasText: 'The token you signed in with has been revoked.' }).waitFor();
      assert.equal(await who(page).innerText(), '');
      assert.match(page.url(), /\/signin\?next=%2Fprojects$/);
      await screenshot(page, `session-${vp.name}-token-revoked`);
    } finally {
      await b.close();
    }
  });
}

test('an idle session ends, and the page says so (1280 and 390 px)', async () => {
  const short = await startServer({ env: { VEXIL_SESSION_IDLE_SECS: '2' } });
  try {
    for (const vp of VIEWPORTS) {
      const b = await launch({ viewport: vp });
      try {
        const page = b.page;
        await ui.signInWith(page, short, short.adminToken);
        await sleep(3000);
        await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Segments' }).click();
        await page.getByRole('status').filter({ hasText: 'Your session ended because it was not used for a while.' }).waitFor();
        assert.equal(await who(page).innerText(), '');
        await screenshot(page, `session-${vp.name}-idle`);
      } finally {
        await b.close();
      }
    }
  } finally {
    await short.stop();
  }
});
