'use strict';
// The rollouts page end to end: release plans on the real `vexil serve`
// (scheduler every 100 ms) fed with synthetic impact metrics posted with a
// client token to /api/client/impact, watched and steered from the browser:
// a plan waiting for approval is paused, resumed and approved with the
// buttons (each confirmed), then completes; a regressed plan shows the
// guard's rollback with its statistics, charts and decision log; a person
// rolls a third plan back by hand. Each step is checked in the admin API.
// Screenshots go to build/ui-artifacts/.
//
//   tests/ui/run.sh tests/ui/rollouts.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, clientSecret } = require('../integration/server');
const { launch, screenshot } = require('./browser');
const ui = require('./helpers');
const traffic = require('../support/plan_traffic');
const { FEAT, ENV } = ui;

const CLIENT = clientSecret('default', 'production');

let srv;
let browser;
let page;
const problems = [];

const must = (method, path, body, status) => ui.must(srv, method, path, body, status);
const plan = (flag) => traffic.planOf(srv, flag);
const drive = (flag, until, opts) => traffic.drive(srv, CLIENT, flag, { ...opts, until });
const unlabelled = () => ui.unlabelled(page, 'input, select, textarea, button, progress');

async function openRollouts() {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Rollouts', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Rollouts' }).waitFor();
}

const region = (flag) => page.getByRole('region', { name: `Release plan of ${flag} in production` });

// One metric's row of the latest statistics as {column: text}, with the
// bound and the margin read back as numbers (in the unit shown).
async function statsRow(box, metric) {
  const table = box.getByRole('table').first();
  const heads = await table.locator('thead th').allTextContents();
  const cells = await table.getByRole('row').filter({ hasText: metric }).first().getByRole('cell').allTextContents();
  const row = Object.fromEntries(heads.map((x, i) => [x, cells[i]]));
  const num = (t) => Number(String(t).replace('−', '-').replace(/ pt$/, ''));
  const m = /^(at least|at most) (\S+(?: pt)?)$/.exec(row['Bound (always valid)']);
  assert.ok(m, `a bound in words: ${row['Bound (always valid)']}`);
  return { row, side: m[1], bound: num(m[2]), margin: num(row['Harm margin']) };
}

async function press(flag, button, confirmLabel) {
  await region(flag).getByRole('button', { name: button, exact: true }).click();
  const dlg = page.getByRole('dialog', { name: new RegExp(`the rollout of ${flag} in production\\?`) });
  await dlg.getByRole('button', { name: confirmLabel || button, exact: true }).click();
  await dlg.waitFor({ state: 'detached' });
}

test.before(async () => {
  srv = await startServer({ clientTokens: [CLIENT], env: { VEXIL_SCHEDULER_INTERVAL_MS: '100' } });
  browser = await launch();
  page = browser.page;
  ui.watchProblems(page, problems);
  for (const f of ['checkout-v2', 'search-v2', 'banner-v2']) await must('POST', FEAT, { name: f }, 201);
  await ui.signIn(page, srv);
});

test.after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test('a plan waiting for approval: pause, resume and approve from the page, then it completes', async () => {
  await must('PUT', `${ENV('checkout-v2')}/release-plan`, {
    milestones: [{ percent: 10, minExposures: 200 }, { percent: 100 }],
    metrics: [{ kind: 'error_rate' }, { kind: 'latency', tolerance: 0.2 }], mode: 'approval',
  });
  await drive('checkout-v2', (p) => p.state === 'waiting-approval');
  await openRollouts();
  const box = region('checkout-v2');
  await box.locator('.panel-head').getByText('waiting for approval', { exact: true }).waitFor();
  await page.getByText(new RegExp(`Plans are checked by the scheduler of .*:${srv.proc.pid}:`)).waitFor();
  assert.equal(await box.getByRole('list', { name: 'Milestones' }).locator('[aria-current="step"]').innerText(), '10%\nnow');
  const stats = box.getByRole('table').first();
  assert.match(await stats.getByRole('row').filter({ hasText: 'Error rate' }).innerText(), /1%\s+1%.*no harm shown/s);
  // No harm shown: the one-sided bound has not reached the margin.
  const ok = await statsRow(box, 'Error rate');
  assert.equal(ok.side, 'at least');
  assert.ok(Number.isFinite(ok.bound) && ok.bound < ok.margin, JSON.stringify(ok));
  await box.getByRole('img', { name: /Rollout \(% of users on the new variant\): rollout last 10%/ }).waitFor();
  await box.getByRole('img', { name: /Error rate per variant/ }).waitFor();
  assert.deepEqual(await unlabelled(), [], 'controls without a label');
  await screenshot(page, '30-rollouts-waiting');

  await press('checkout-v2', 'Pause');
  await box.locator('.panel-head').getByText('paused', { exact: true }).waitFor();
  assert.equal((await plan('checkout-v2')).state, 'paused');
  await press('checkout-v2', 'Resume');
  await box.getByRole('button', { name: 'Pause', exact: true }).waitFor();
  assert.notEqual((await plan('checkout-v2')).state, 'paused');

  // Cancelling the approval changes nothing.
  await box.getByRole('button', { name: 'Approve', exact: true }).click();
  const dlg = page.getByRole('dialog', { name: /Approve: the rollout of checkout-v2/ });
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await dlg.waitFor({ state: 'detached' });
  assert.equal((await plan('checkout-v2')).approved, false);

  await press('checkout-v2', 'Approve');
  const done = await drive('checkout-v2', (p) => p.state === 'completed');
  const by = done.log.filter((e) => ['pause', 'resume', 'approve'].includes(e.action)).map((e) => e.action);
  assert.deepEqual(by, ['pause', 'resume', 'approve']);
  await openRollouts();
  await box.locator('.panel-head').getByText('complete', { exact: true }).waitFor();
  assert.equal(await box.getByRole('button', { name: 'Roll back' }).count(), 0, 'no actions on a finished plan');
  assert.doesNotMatch(await box.innerText(), /\bnull\b|\bundefined\b|NaN/);
  const log = await box.locator('details').innerText();
  assert.match(log, /approve\s+1\s+10%\s+approved by hand/);
  assert.match(log, /complete/);
});

test('a regression is rolled back by the guard; the page shows why, with its statistics over time', async () => {
  await must('PUT', `${ENV('search-v2')}/release-plan`, {
    milestones: [{ percent: 5, minExposures: 20000 }, { percent: 25 }, { percent: 100 }],
    metrics: [{ kind: 'error_rate' }], rollback: 'rollout-zero',
  });
  await drive('search-v2', (p) => p.state === 'rolled-back', { ctl: 0.01, trt: 0.02 });
  await openRollouts();
  const box = region('search-v2');
  await box.locator('.panel-head').getByText('rolled back', { exact: true }).waitFor();
  assert.match(await box.getByRole('row').filter({ hasText: 'Error rate' }).first().innerText(), /1%\s+2%.*worse/s);
  // "worse" next to a bound beyond the margin, as displayed, and no
  // two-sided interval that could cross it.
  const bad = await statsRow(box, 'Error rate');
  assert.equal(bad.row.Verdict, 'worse');
  assert.equal(bad.side, 'at least');
  assert.ok(Number.isFinite(bad.bound) && bad.bound >= bad.margin && bad.bound > 0, JSON.stringify(bad));
  assert.doesNotMatch(bad.row.Difference, /–/);
  const band = box.getByRole('img', { name: /Error rate: treatment − control, with its confidence sequence/ });
  await band.waitFor();
  assert.ok(await band.locator('circle').count() >= 1, 'at least one recorded look');
  const log = await box.locator('details').innerText();
  assert.match(log, /rollback\s+1\s+5%\s+a guard metric is significantly worse.*\s+scheduler/);
  assert.match(await box.getByRole('img', { name: /^Rollout/ }).getAttribute('aria-label'), /rollout last 0%/);
  assert.equal(await box.getByRole('button', { name: 'Pause' }).count(), 0);
  await screenshot(page, '31-rollouts-rolled-back');
});

test('a person rolls a plan back from the page; the flag goes to 0%', async () => {
  await must('PUT', `${ENV('banner-v2')}/release-plan`, { milestones: [{ percent: 20, minDurationSeconds: 3600 }, { percent: 100 }], guard: 'none' });
  await openRollouts();
  const box = region('banner-v2');
  await box.getByText('Time in this step:', { exact: false }).waitFor();
  await press('banner-v2', 'Roll back');
  await box.locator('.panel-head').getByText('rolled back', { exact: true }).waitFor();
  const p = await plan('banner-v2');
  assert.equal(p.state, 'rolled-back');
  const f = await must('GET', `${FEAT}/banner-v2`);
  const s = f.environments.find((e) => e.name === 'production').strategies.find((x) => x.name === 'flexibleRollout');
  assert.equal(s.parameters.rollout, '0');
  await screenshot(page, '32-rollouts');

  // The flag page leads to its own plans only.
  await page.goto(`${srv.url}/flags/default/banner-v2`);
  await page.getByRole('heading', { level: 1, name: 'banner-v2' }).waitFor();
  await page.getByRole('main').getByRole('link', { name: 'Rollouts', exact: true }).click();
  await page.waitForURL(/\/rollouts\?feature=banner-v2$/);
  await region('banner-v2').waitFor();
  assert.equal(await page.getByRole('region', { name: /^Release plan of / }).count(), 1);
  await page.getByRole('link', { name: 'All plans' }).click();
  for (const f of ['checkout-v2', 'search-v2', 'banner-v2']) await region(f).waitFor();
  assert.equal(await page.getByRole('region', { name: /^Release plan of / }).count(), 3);
});

test('no script error and no Content-Security-Policy violation on the way', () => {
  assert.deepEqual(problems, []);
});
