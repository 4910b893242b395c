'use strict';
// The advisor's release-plan features in the browser, against the real
// `vexil serve` without a model (the deterministic advisor; scheduler every
// 100 ms, synthetic impact metrics posted with a client token to
// /api/client/impact): on the Rollouts page "Ask for an analysis" shows the
// recommendation and changes nothing; a plan the guard rolled back gets an
// incident summary naming the metric; on the Advisor page a described
// change becomes a draft plan, started through the plan API only once
// confirmed. Each step is checked in the admin API. Screenshots go to
// build/ui-artifacts/.
//
//   tests/ui/run.sh tests/ui/advisor_plans.test.js

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

const nav = (label) => ui.nav(page, label);

const region = (flag) => page.getByRole('region', { name: `Release plan of ${flag} in production` });

test.before(async () => {
  srv = await startServer({ clientTokens: [CLIENT], env: { VEXIL_SCHEDULER_INTERVAL_MS: '100' } });
  browser = await launch();
  page = browser.page;
  ui.watchProblems(page, problems);
  for (const f of ['pricing-v2', 'search-v3', 'payments-v2', 'banner-v3']) await must('POST', FEAT, { name: f }, 201);
  await ui.signIn(page, srv);
});

test.after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test('an analysis of a healthy plan waiting for approval: INCREASE to the next step, and nothing is applied', async () => {
  await must('PUT', `${ENV('pricing-v2')}/release-plan`, {
    milestones: [{ percent: 10, minExposures: 200 }, { percent: 100 }], metrics: [{ kind: 'error_rate' }], mode: 'approval',
  });
  await drive('pricing-v2', (p) => p.state === 'waiting-approval');
  const before = await plan('pricing-v2');
  await nav('Rollouts');
  const box = region('pricing-v2');
  // By keyboard: focus the button and press Enter.
  await box.getByRole('button', { name: 'Ask for an analysis' }).focus();
  await page.keyboard.press('Enter');
  const a = box.getByRole('region', { name: 'Analysis of pricing-v2 in production' });
  await a.waitFor();
  const text = await a.innerText();
  assert.match(text, /Recommendation\s+INCREASE raise the rollout/);
  assert.match(text, /Next percentage\s+100%/);
  assert.match(text, /Confidence\s+\d+%/);
  assert.match(text, /Every guard metric is healthy \(error_rate: treatment/);
  assert.match(text, /Answered by the deterministic advisor/);
  assert.match(text, /Nothing was changed\. To act on it, use the buttons above/);
  assert.doesNotMatch(text, /\bnull\b|\bundefined\b|NaN/);
  assert.deepEqual(await unlabelled(), [], 'controls without a label');
  await screenshot(page, '40-rollouts-analysis');
  // The advice changed nothing: still waiting, not approved, same log.
  const after = await plan('pricing-v2');
  assert.equal(after.state, 'waiting-approval');
  assert.equal(after.approved, false);
  assert.equal(after.log.length, before.log.length);
  // The buttons are still there for a person to act.
  await box.getByRole('button', { name: 'Approve', exact: true }).waitFor();
});

test('a guard rollback: the analysis says ROLLBACK, and the incident summary names the metric', async () => {
  await must('PUT', `${ENV('search-v3')}/release-plan`, {
    milestones: [{ percent: 5, minExposures: 20000 }, { percent: 25 }, { percent: 100 }],
    metrics: [{ kind: 'error_rate' }], rollback: 'rollout-zero',
  });
  await drive('search-v3', (p) => p.state === 'rolled-back', { ctl: 0.01, trt: 0.02 });
  await nav('Rollouts');
  const box = region('search-v3');
  await box.locator('.panel-head').getByText('rolled back', { exact: true }).waitFor();
  // A plan rolled back by hand has no summary to offer; this one does.
  await box.getByRole('button', { name: 'Ask for an analysis' }).click();
  const a = box.getByRole('region', { name: 'Analysis of search-v3 in production' });
  assert.match(await a.innerText(), /Recommendation\s+ROLLBACK roll back to 0%\s+Next percentage\s+0%/);
  assert.match(await a.innerText(), /This plan is finished/);

  await box.getByRole('button', { name: 'Summarize the incident' }).click();
  const inc = box.getByRole('region', { name: 'Incident summary of search-v3 in production' });
  await inc.waitFor();
  assert.equal(await a.count(), 0, 'the summary replaces the analysis');
  const text = await inc.innerText();
  assert.match(text, /The guard rolled back search-v3 in production/);
  assert.match(text, /error_rate was worse in the treatment/);
  assert.match(text, /Impact: Users in the rollout/);
  assert.match(text, /Next steps/);
  assert.match(text, /Written by the deterministic advisor .* from audit event #\d+/);
  // The event it was written from is the guard's rollback in the audit log.
  const id = Number(/audit event #(\d+)/.exec(text)[1]);
  const ev = (await must('GET', '/api/admin/search/events?feature=search-v3&type=release-plan-rolled-back')).events;
  assert.deepEqual(ev.map((e) => Number(e.id)), [id]);
  assert.equal((await plan('search-v3')).state, 'rolled-back', 'the rollback stands');
  await screenshot(page, '41-rollouts-incident');
});

test('a rollback by hand offers no incident summary (its event has no statistics)', async () => {
  await must('PUT', `${ENV('payments-v2')}/release-plan`, { milestones: [{ percent: 20, minDurationSeconds: 3600 }, { percent: 100 }], guard: 'none' });
  await must('POST', `${ENV('payments-v2')}/release-plan/rollback`);
  await nav('Rollouts');
  const box = region('payments-v2');
  await box.getByRole('button', { name: 'Ask for an analysis' }).waitFor();
  assert.equal(await box.getByRole('button', { name: 'Summarize the incident' }).count(), 0);
});

test('an analysis of a plan removed meanwhile says so in words', async () => {
  await must('PUT', `${ENV('banner-v3')}/release-plan`, { milestones: [{ percent: 20, minDurationSeconds: 3600 }, { percent: 100 }], guard: 'none' });
  await nav('Rollouts');
  const box = region('banner-v3');
  await box.getByRole('button', { name: 'Ask for an analysis' }).waitFor();
  // The page is live: a deleted plan leaves it at the next event. The
  // race it cannot see coming is a plan deleted while its analysis is
  // asked for: the request waits here until the plan is gone, then goes to
  // the server as it was sent.
  await page.route('**/api/admin/advisor/rollout', async (route) => {
    await must('DELETE', `${ENV('banner-v3')}/release-plan`);
    await route.continue();
  });
  await box.getByRole('button', { name: 'Ask for an analysis' }).click();
  const alert = box.getByRole('alert');
  await alert.waitFor();
  const said = await alert.innerText();
  process.stdout.write(`# analysis of a removed plan: ${said.replace(/\s+/g, ' ')}\n`);
  assert.match(said, /release plan/i);
  assert.doesNotMatch(said, /\bnull\b|\bundefined\b|HTTP 404/);
  assert.equal(await box.getByRole('region', { name: /^Analysis of/ }).count(), 0);
  // The live page then says the plan is gone, and the answer stays.
  await box.getByText('The release plan of banner-v3 in production was deleted.').waitFor();
  assert.match(await alert.innerText(), /release plan/i);
  await page.unroute('**/api/admin/advisor/rollout');
});

test('the advisor drafts a release plan from a description; it starts only after the confirmation', async () => {
  // payments-v2's plan was rolled back: a new one replaces it only when started.
  await nav('Advisor');
  const form = page.getByRole('form', { name: 'Draft a release plan' });
  // An empty description is refused at the field, nothing is asked.
  await form.getByRole('button', { name: 'Draft a release plan' }).click();
  await form.getByText('Write what the flag changes first.', { exact: true }).waitFor();
  // Too long: the server's refusal is shown at the field, nothing is proposed.
  await form.getByLabel('What changes?').fill('a change '.repeat(250));
  await form.getByRole('button', { name: 'Draft a release plan' }).click();
  await form.getByText('description is longer than 2000 bytes', { exact: true }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('data-path')), '/description');
  assert.equal(await form.getByRole('region', { name: 'Proposed release plan' }).count(), 0);
  await form.getByLabel('What changes?').fill('A new payment provider in the checkout');
  await form.getByLabel('Risk').selectOption('high');
  await form.getByRole('button', { name: 'Draft a release plan' }).click();
  const prop = form.getByRole('region', { name: 'Proposed release plan' });
  await prop.waitFor();
  const text = await prop.innerText();
  assert.match(text, /Proposed by the deterministic advisor/);
  const steps = await prop.locator('ol.plan-steps > li strong').allInnerTexts();
  assert.deepEqual(steps, ['1%', '2%', '5%', '10%', '25%', '50%', '100%']);
  assert.match(text, /1% of users, for at least 1 h and at least 1,000 treatment exposures/);
  assert.match(text, /Error rate \(higher is worse/);
  assert.match(text, /Conversion \(lower is worse/);
  assert.match(text, /A person approves each step\. On a regression the flag is turned off in the environment\./);
  assert.doesNotMatch(text, /\bnull\b|\bundefined\b|NaN/);
  await prop.getByLabel('Flag').selectOption('payments-v2');
  await prop.getByLabel('Environment').selectOption('production');
  assert.deepEqual(await unlabelled(), [], 'controls without a label');
  await screenshot(page, '42-advisor-plan');

  // Escape cancels and starts nothing; the focus goes back to the button.
  const start = prop.getByRole('button', { name: 'Start this plan…' });
  await start.click();
  let dlg = page.getByRole('dialog', { name: 'Start this release plan for payments-v2 in production?' });
  await dlg.waitFor();
  await page.keyboard.press('Escape');
  await dlg.waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Start this plan…');
  assert.equal((await plan('payments-v2')).state, 'rolled-back');

  await start.click();
  dlg = page.getByRole('dialog', { name: 'Start this release plan for payments-v2 in production?' });
  const said = await dlg.innerText();
  assert.match(said, /Steps: 1% → 2% → 5% → 10% → 25% → 50% → 100%\. The guard watches error rate, latency \(geometric mean\), conversion\. A person approves each step\./);
  assert.match(said, /payments-v2 is turned on in production and its rollout strategy set to 1%/);
  assert.match(said, /payments-v2 already has a release plan in production \(rolled back\); this one replaces it\./);
  await screenshot(page, '43-advisor-plan-confirm');
  await dlg.getByRole('button', { name: 'Start plan' }).click();
  await dlg.waitFor({ state: 'detached' });
  await prop.getByRole('status').getByText('Started.').waitFor();

  const p = await plan('payments-v2');
  assert.ok(['running', 'waiting-approval'].includes(p.state), p.state);
  assert.deepEqual(p.plan.milestones.map((m) => m.percent), [1, 2, 5, 10, 25, 50, 100]);
  assert.equal(p.plan.mode, 'approval');
  assert.equal(p.plan.rollback, 'disable');
  assert.deepEqual(p.plan.metrics.map((m) => m.kind).sort(), ['conversion', 'error_rate', 'latency']);
  const f = await must('GET', `${FEAT}/payments-v2`);
  const s = f.environments.find((e) => e.name === 'production').strategies.find((x) => x.name === 'flexibleRollout');
  assert.equal(s.parameters.rollout, '1');

  await prop.getByRole('link', { name: 'Follow payments-v2 on the Rollouts page' }).click();
  await page.waitForURL(/\/rollouts\?feature=payments-v2$/);
  await region('payments-v2').getByText('1%').first().waitFor();
});

test('no script error and no Content-Security-Policy violation on the way', () => {
  assert.deepEqual(problems, []);
});
