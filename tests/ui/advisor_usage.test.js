'use strict';
// The advisor and usage pages end to end, as a person uses them, against
// the real `vexil serve` without a model (the deterministic advisor):
// a sentence becomes a proposal shown as a diff, applied only after the
// confirmation, and the strategy then exists in the admin API; a sentence
// the advisor cannot use is refused with a clear message and nothing is
// offered; a changelog is drafted. SDK metrics posted with a client token
// show up as numbers and a chart on the usage page and on the flag page,
// with the registered SDK instance. Screenshots go to build/ui-artifacts/.
//
//   tests/ui/run.sh tests/ui/advisor_usage.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { startServer, show } = require('../integration/server');
const { launch, screenshot } = require('./browser');
const ui = require('./helpers');

const FLAG = 'new-checkout';
const F = `/api/admin/projects/default/features/${FLAG}`;
const CLIENT = `default:production.${crypto.randomBytes(32).toString('hex')}`;

let srv;
let browser;
let page;
const problems = [];

async function apiJson(method, path, body, token) {
  const o = body === undefined ? {} : { body };
  if (token) o.token = token;
  const r = await srv.api(method, path, o);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${show(r)}`);
  return r.json;
}

const unlabelled = () => ui.unlabelled(page);

const checkPage = (name) => ui.checkPage(page, name);

const nav = (label) => ui.nav(page, label);

test.before(async () => {
  srv = await startServer({ clientTokens: [CLIENT] });
  browser = await launch();
  page = browser.page;
  ui.watchProblems(page, problems);
  await apiJson('POST', '/api/admin/projects/default/features', { name: FLAG, description: 'one-page checkout' });
  await ui.signIn(page, srv);
});

test.after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test('the flag page opens the advisor prefilled; a sentence becomes a diff, applied only on confirmation', async () => {
  await page.getByRole('link', { name: FLAG, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: FLAG }).waitFor();
  await page.getByRole('link', { name: 'Ask the advisor' }).click();
  await page.getByRole('heading', { level: 1, name: 'Advisor' }).waitFor();
  assert.match(page.url(), /\/advisor\?project=default&flag=new-checkout$/);
  assert.equal(await page.getByLabel('Flag', { exact: true }).inputValue(), FLAG);
  assert.equal(await page.getByLabel('Environment').first().inputValue(), 'production');

  await page.getByLabel('Who should get it?').fill('10% of pro users in Thailand and Vietnam on version 2.3 or newer');
  await page.getByRole('button', { name: 'Propose a strategy' }).click();
  const proposal = page.getByRole('region', { name: 'Proposal' });
  await proposal.waitFor();
  const text = await proposal.innerText();
  assert.match(text, /Proposed by the deterministic advisor/);
  assert.doesNotMatch(text, /Not understood/);
  const diff = proposal.getByRole('group', { name: /Strategies of new-checkout in production after applying/ });
  const lines = await diff.locator('div').evaluateAll((ds) => ds.map((d) => `${d.className} ${d.textContent}`));
  assert.deepEqual(lines, [
    'keep (no strategies yet)',
    'add Gradual rollout: 10% of users (group new-checkout)',
    'add     and country is one of TH, VN',
    'add     and plan is one of pro',
    'add     and appVersion ≥ 2.3.0',
  ]);
  await checkPage('20-advisor-proposal');
  // Nothing is written by asking.
  assert.equal((await apiJson('GET', `${F}/environments/production/strategies`)).length, 0);

  // Cancelling the confirmation changes nothing.
  const apply = proposal.getByRole('button', { name: 'Apply to new-checkout in production…' });
  await apply.click();
  const dlg = page.getByRole('dialog', { name: 'Add this strategy to new-checkout in production?' });
  await dlg.waitFor();
  await screenshot(page, '21-advisor-confirm');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await dlg.waitFor({ state: 'detached' });
  assert.equal((await apiJson('GET', `${F}/environments/production/strategies`)).length, 0, 'cancelled: nothing added');

  await apply.click();
  await dlg.getByRole('button', { name: 'Add strategy' }).click();
  await proposal.getByRole('status').filter({ hasText: 'Applied.' }).waitFor();
  const list = await apiJson('GET', `${F}/environments/production/strategies`);
  assert.equal(list.length, 1);
  assert.equal(list[0].name, 'flexibleRollout');
  assert.equal(list[0].parameters.rollout, '10');
  assert.deepEqual(list[0].constraints.map((c) => [c.contextName, c.operator, c.values || c.value]),
    [['country', 'IN', ['TH', 'VN']], ['plan', 'IN', ['pro']], ['appVersion', 'SEMVER_GTE', '2.3.0']]);
  // The change went through the ordinary, audited strategy POST.
  const ev = await apiJson('GET', `/api/admin/search/events?feature=${FLAG}&type=feature-strategy-add`);
  assert.equal(ev.total, 1);

  // Asked again, the diff shows the applied strategy as kept.
  await page.getByRole('button', { name: 'Propose a strategy' }).click();
  await proposal.getByText('OR', { exact: true }).waitFor();
  const again = await proposal.getByRole('group', { name: /after applying/ }).locator('div.keep').allInnerTexts();
  assert.equal(again[0], 'Gradual rollout: 10% of users (group new-checkout)');
});

test('a sentence the advisor cannot use is refused in words, and nothing is offered', async () => {
  const sentence = page.getByLabel('Who should get it?');
  await sentence.fill('whoever feels lucky');
  await page.getByRole('button', { name: 'Propose a strategy' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'The advisor did not understand this sentence' });
  await alert.waitFor();
  assert.match(await alert.innerText(), /“whoever feels lucky” could not be read as a rule/s);
  assert.equal(await page.getByRole('button', { name: /^Apply to/ }).count(), 0, 'no apply button');
  await checkPage('22-advisor-rejected');

  // An empty sentence: the field says what is missing, and gets the focus.
  await sentence.fill('   ');
  await page.getByRole('button', { name: 'Propose a strategy' }).click();
  await page.getByRole('alert').filter({ hasText: 'This was not saved' }).waitFor();
  assert.equal(await sentence.getAttribute('aria-invalid'), 'true');
  assert.ok(await ui.focused(sentence));

  // A sentence over the server's limit: the server's reason, next to the field.
  await sentence.fill('10% of users in Thailand '.repeat(100));
  await page.getByRole('button', { name: 'Propose a strategy' }).click();
  const big = page.getByRole('alert').filter({ hasText: /sentence is longer than 2000 bytes/ });
  await big.waitFor();
  assert.equal(await sentence.getAttribute('aria-invalid'), 'true');
  assert.equal((await apiJson('GET', `${F}/environments/production/strategies`)).length, 1, 'nothing more was added');
});

test('a changelog is drafted from the audit log, ready to copy', async () => {
  await page.getByLabel('Period').selectOption('24');
  await page.getByRole('button', { name: 'Draft a changelog' }).click();
  const area = page.getByLabel('Changelog', { exact: true });
  await area.waitFor();
  const text = await area.inputValue();
  assert.match(text, /^2 changes to 1 flag between .* and now\./);
  // The flag's creation and the strategy applied from the advisor above.
  assert.match(text, /- new-checkout: Created \(release\); flexibleRollout strategy added in production \(rollout 10%, 3 constraints\)/);
  await page.getByText(/Drafted by the deterministic advisor/).waitFor();
  await checkPage('23-advisor-changelog');
});

// The current hour and three hours ago, as bucket times.
function hourAgo(n) {
  return new Date(Date.now() - n * 3600000).toISOString();
}

test('usage: SDK metrics show as numbers and charts on the usage page and the flag page', async () => {
  const reg = await srv.api('POST', '/api/client/register', {
    token: CLIENT,
    body: { appName: 'shop-web', instanceId: 'web-1', sdkVersion: 'unleash-client-node:6.1.0', strategies: ['default', 'flexibleRollout'], started: hourAgo(5), interval: 10000 },
  });
  assert.equal(reg.status, 202, show(reg));
  const post = async (app, at, yes, no, variants) => {
    const r = await srv.api('POST', '/api/client/metrics', {
      token: CLIENT,
      body: { appName: app, instanceId: `${app}-1`, bucket: { start: at, stop: at, toggles: { [FLAG]: { yes, no, variants } } } },
    });
    assert.equal(r.status, 202, show(r));
  };
  await post('shop-web', hourAgo(3), 40, 10, { blue: 30, green: 10 });
  await post('shop-web', hourAgo(0), 120, 30, { blue: 80, green: 40 });
  await post('checkout-api', hourAgo(0), 5, 45, {});

  await nav('Usage');
  const flag = page.getByLabel('Flag', { exact: true });
  assert.equal(await flag.inputValue(), FLAG, 'the most recently seen flag is chosen');
  const panel = page.getByRole('region', { name: `Evaluations of ${FLAG}` });
  await panel.waitFor();
  const stats = await panel.locator('.stat').allInnerTexts();
  assert.deepEqual(stats.map((s) => s.replace(/\s+/g, ' ').trim()),
    ['250 evaluations', '165 on', '85 off', '66% on, of all', '2 applications']);
  const chart = panel.getByRole('img', { name: /evaluations per hour, last 24 hours/ });
  assert.match(await chart.getAttribute('aria-label'), /250 in total over 24 intervals, at most 200 in one/);
  await panel.getByRole('img', { name: /Variants per hour/ }).waitFor();
  const rows = await panel.getByRole('row').allInnerTexts();
  assert.match(rows[1], /shop-web\s+production\s+160\s+40\s+blue 110\s*green 50/);
  assert.match(rows[2], /checkout-api\s+production\s+5\s+45/);
  const inst = page.getByRole('region', { name: 'SDK instances' }).getByRole('row').filter({ hasText: 'web-1' });
  assert.match(await inst.innerText(), /shop-web\s+web-1\s+production\s+unleash-client-node:6\.1\.0\s+2/);
  await checkPage('24-usage');

  await page.getByLabel('Period').selectOption('168');
  await page.waitForURL(/hours=168/);
  const week = page.getByRole('img', { name: /last 7 days/ });
  assert.match(await week.getAttribute('aria-label'), /250 in total over 168 intervals/);
  // An environment without metrics shows none.
  await page.getByLabel('Environment').selectOption('development');
  await page.waitForURL(/environment=development/);
  await page.getByText(`No SDK reported evaluating ${FLAG} in this period.`).waitFor();

  await page.goto(`${srv.url}/flags/default/${FLAG}`);
  const usage = page.getByRole('region', { name: 'Usage, last 24 hours' });
  await usage.getByRole('img', { name: /evaluations per hour/ }).waitFor();
  assert.match((await usage.locator('.stat').first().innerText()).replace(/\s+/g, ' '), /250 evaluations/);
  await checkPage('25-flag-usage');
});

test('no script error and no Content-Security-Policy violation on the way', () => {
  assert.deepEqual(problems, []);
});
