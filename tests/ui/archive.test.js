'use strict';
// The archive page and custom strategies in the console, end to end: an
// archived flag is listed, revived (it comes back off in every
// environment) and deleted for good after a confirmation; a custom strategy defined
// through the API is offered in the strategy editor with an input per
// typed parameter, and the playground says it cannot decide it. Each step
// is checked in the admin API. Screenshots go to build/ui-artifacts/.
//
//   tests/ui/run.sh tests/ui/archive.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../integration/server');
const { launch } = require('./browser');
const ui = require('./helpers');

let srv;
let browser;
let page;
const problems = [];
const must = (method, path, body, status) => ui.must(srv, method, path, body, status);
const F = (f) => `/api/admin/projects/default/features/${f}`;

test.before(async () => {
  srv = await startServer();
  browser = await launch();
  page = browser.page;
  ui.watchProblems(page, problems);
  for (const n of ['old-banner', 'old-search']) {
    await must('POST', '/api/admin/projects/default/features', { name: n }, 201);
    await must('POST', `${F(n)}/environments/production/on`);
    await must('DELETE', F(n));
  }
  await must('POST', '/api/admin/strategies', { name: 'tenant', parameters: [
    { name: 'tenants', type: 'list', required: true, description: 'who gets it' },
    { name: 'beta', type: 'boolean' }] }, 201);
  await must('POST', '/api/admin/projects/default/features', { name: 'by-tenant' }, 201);
  await ui.signIn(page, srv);
});

test.after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

const row = (name) => page.getByRole('row').filter({ hasText: name });

test('the archive lists archived flags; revive brings one back, off', async () => {
  await ui.nav(page, 'Archived');
  await row('old-banner').waitFor();
  await row('old-search').waitFor();
  await ui.checkPage(page, '20-archive');
  await page.getByRole('button', { name: 'Revive old-banner' }).click();
  await row('old-banner').waitFor({ state: 'detached' });
  const f = await must('GET', F('old-banner'));
  assert.equal(f.archived, false);
  assert.ok(f.environments.every((e) => e.enabled === false), 'revived off everywhere');
});

test('delete for good, after a confirmation; cancel keeps it', async () => {
  await page.getByRole('button', { name: 'Delete for good: old-search' }).click();
  let dlg = page.getByRole('dialog', { name: 'Delete old-search for good?' });
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await must('GET', '/api/admin/archive/features')).features.length, 1);
  await page.getByRole('button', { name: 'Delete for good: old-search' }).click();
  dlg = page.getByRole('dialog', { name: 'Delete old-search for good?' });
  await dlg.getByRole('button', { name: 'Delete for good' }).click();
  await page.getByText('No archived flags.').waitFor();
  assert.equal((await must('GET', '/api/admin/archive/features')).features.length, 0);
  assert.equal((await srv.api('GET', F('old-search'))).status, 404);
});

test('a custom strategy in the strategy editor, and in the playground', async () => {
  await page.goto(srv.url + '/flags/default/by-tenant');
  await page.getByRole('heading', { level: 1, name: 'by-tenant' }).waitFor();
  const prod = page.getByRole('region', { name: 'Environment production' });
  await prod.getByRole('button', { name: '+ Add strategy' }).click();
  const dlg = page.getByRole('dialog', { name: /Add a strategy/ });
  await dlg.getByLabel('Strategy').selectOption('tenant');
  // Required and missing: the server's answer lands on the field.
  await dlg.getByRole('button', { name: 'Add strategy' }).click();
  await dlg.getByText(/needs the parameter tenants/).first().waitFor();
  await dlg.getByLabel('tenants (required)').fill('acme, globex');
  await dlg.getByLabel('beta').selectOption('true');
  assert.deepEqual(await ui.unlabelled(page), [], 'custom strategy editor: controls without a label');
  await dlg.getByRole('button', { name: 'Add strategy' }).click();
  await dlg.waitFor({ state: 'detached' });
  const list = await must('GET', `${F('by-tenant')}/environments/production/strategies`);
  assert.deepEqual(list.map((s) => [s.name, s.parameters]), [['tenant', { tenants: 'acme,globex', beta: 'true' }]]);
  await must('POST', `${F('by-tenant')}/environments/production/on`);
  await page.reload();
  const play = page.getByRole('region', { name: /Playground/ });
  await play.getByRole('button', { name: /Evaluate|Explain|Run/ }).first().click();
  await play.getByText(/unknown: a custom strategy only the application evaluates/).waitFor();
});

test('no script error and no Content-Security-Policy violation on the way', () => {
  assert.deepEqual(problems, []);
});
