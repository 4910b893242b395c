'use strict';
// The audit log, the archive and the stale report, at 1280 px and 390 px:
// the audit log shows a change as a readable diff (what it was, what it
// became) and its type filter offers every event type, release plans and
// the advisor included; archived flags are listed and can be revived or,
// after a confirmation that starts on Cancel, deleted for good; the stale
// page shows the server's report with its reasons in words.
//
//   tests/ui/run.sh tests/ui/lists.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../integration/server');
const { launch, screenshot, VIEWPORTS } = require('./browser');
const ui = require('./helpers');

let srv;

test.before(async () => {
  srv = await startServer();
  await ui.standardData(srv);
  // An edit: the quarter becomes a third.
  const strategies = await ui.ok(srv, 'GET', `${ui.FEAT}/new-checkout/environments/production/strategies`);
  const q = strategies.find((s) => s.title === 'A quarter of users');
  await ui.ok(srv, 'PUT', `${ui.FEAT}/new-checkout/environments/production/strategies/${q.id}`,
    { ...q, title: 'A third of users', parameters: { ...q.parameters, rollout: '33' } });
});

test.after(async () => {
  if (srv) await srv.stop();
});

for (const vp of VIEWPORTS) {
  test(`the audit log shows a change as a diff and filters by every event type (${vp.width} px)`, async () => {
    const b = await launch({ viewport: vp });
    const problems = [];
    ui.watchProblems(b.page, problems);
    const page = b.page;
    try {
      await ui.signInWith(page, srv, srv.adminToken);
      await ui.open(page, srv, '/audit', 'Audit log');
      const types = await page.getByLabel('Event type').locator('option').evaluateAll((os) => os.map((o) => o.value));
      for (const t of ['release-plan-started', 'release-plan-rolled-back', 'release-plan-paused', 'scheduled-change-applied',
        'advisor-recommendation', 'feature-strategy-update', 'api-token-deleted', 'segment-created', 'state-imported']) {
        assert.ok(types.includes(t), `${t} in the type filter`);
      }
      // The plan's start is found by its type.
      await page.getByLabel('Event type').selectOption('release-plan-started');
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.getByText('Events 1–1 of 1').waitFor();
      // The strategy edit, as a diff.
      await page.getByLabel('Event type').selectOption('feature-strategy-update');
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.getByText('Events 1–1 of 1').waitFor();
      await page.getByText('Show change').click();
      const diff = page.getByRole('list', { name: 'What changed' });
      // Each line: where, what it was (del), what it became (ins).
      const items = await diff.getByRole('listitem').evaluateAll((lis) => lis.map((li) => [
        li.querySelector('.diff-where').textContent, li.querySelector('del') && li.querySelector('del').textContent,
        li.querySelector('ins') && li.querySelector('ins').textContent]));
      assert.deepEqual(items.sort(), [['parameters › rollout: ', '25', '33'], ['title: ', 'A quarter of users', 'A third of users']],
        'only what changed, before and after');
      // Read aloud, a line says "was ... became ...", not an arrow.
      const spoken = await diff.getByRole('listitem').first().evaluate((li) => [...li.childNodes]
        .filter((n) => !(n.getAttribute && n.getAttribute('aria-hidden'))).map((n) => n.textContent).join(''));
      assert.match(spoken, / became /);
      await screenshot(page, `lists-${vp.name}-audit-diff`);
      assert.deepEqual(await ui.axeViolations(page), []);
      assert.deepEqual(problems, []);
    } finally {
      await b.close();
    }
  });

  test(`archived flags are listed, revived, or deleted for good after a confirmation (${vp.width} px)`, async () => {
    const keep = `keep-${vp.name}`;
    const drop = `drop-${vp.name}`;
    for (const n of [keep, drop]) {
      await ui.ok(srv, 'POST', ui.FEAT, { name: n, description: `archived at ${vp.width}` });
      await ui.ok(srv, 'DELETE', `${ui.FEAT}/${n}`);
    }
    const b = await launch({ viewport: vp });
    const page = b.page;
    try {
      await ui.signInWith(page, srv, srv.adminToken);
      await ui.nav(page, 'Archived');
      await page.getByRole('row').filter({ hasText: keep }).waitFor();
      await page.getByRole('row').filter({ hasText: drop }).waitFor();
      await screenshot(page, `lists-${vp.name}-archive`);
      await page.getByRole('button', { name: `Revive ${keep}` }).click();
      await page.getByRole('status').getByText(`${keep} revived`).waitFor();
      await page.getByRole('row').filter({ hasText: keep }).waitFor({ state: 'detached' });
      const f = await ui.ok(srv, 'GET', `${ui.FEAT}/${keep}`);
      assert.equal(f.archived, false);
      // Delete for good: Enter on the confirmation keeps it.
      const del = page.getByRole('button', { name: `Delete for good: ${drop}` });
      await del.click();
      const dlg = page.getByRole('dialog', { name: `Delete ${drop} for good?` });
      await dlg.waitFor();
      await page.keyboard.press('Enter');
      await dlg.waitFor({ state: 'detached' });
      assert.equal((await srv.api('GET', '/api/admin/archive/features')).json.features.some((x) => x.name === drop), true);
      await del.click();
      await dlg.getByRole('button', { name: 'Delete for good' }).click();
      await page.getByRole('status').getByText(`${drop} deleted for good.`).waitFor();
      assert.equal((await srv.api('GET', '/api/admin/archive/features')).json.features.some((x) => x.name === drop), false);
      // Search within the archive, on the server.
      await page.getByLabel('Search').fill('gone');
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByText('Archived flags 1–1 of 1').waitFor();
    } finally {
      await b.close();
    }
  });

  test(`the stale page shows the server's report with its reasons (${vp.width} px)`, async () => {
    const b = await launch({ viewport: vp });
    const page = b.page;
    try {
      await ui.signInWith(page, srv, srv.adminToken);
      await ui.nav(page, 'Stale flags');
      const row = page.getByRole('row').filter({ hasText: 'old-banner' });
      await row.getByText('marked stale').waitFor();
      // With no delay, new-checkout (on for every user in development) and
      // every flag no SDK evaluated count too.
      await page.getByLabel('On for everyone for at least (days)').fill('0');
      await page.getByLabel('Not evaluated for (days)').fill('0');
      await page.getByRole('button', { name: 'Show' }).click();
      await page.waitForURL(/fullDays=0&unseenDays=0/);
      const nc = page.getByRole('row').filter({ hasText: 'new-checkout' });
      await nc.getByText(/on for everyone in development since \d{4}-\d{2}-\d{2}/).waitFor();
      await nc.getByText('never evaluated by an SDK').waitFor();
      await screenshot(page, `lists-${vp.name}-stale`);
      // Marking a flag stale from here goes to the server.
      await page.getByRole('button', { name: 'Mark stale: new-checkout' }).click();
      await nc.getByText('marked stale').waitFor();
      const f = await ui.ok(srv, 'GET', `${ui.FEAT}/new-checkout`);
      assert.equal(f.stale, true);
      await ui.ok(srv, 'PUT', `${ui.FEAT}/new-checkout`, { stale: false });
    } finally {
      await b.close();
    }
  });
}
