'use strict';
// Issue 19, what is left of findings 2 and 3 and the gateway's figures, in
// Chromium at 1280 px and 390 px against the real `vexil serve` (the
// scheduler ticking every 100 ms, impact metrics posted with a client
// token to /api/client/impact):
//
// - the flag list and the flag page show that a release plan controls a
//   strategy (its state, the percentage in force, "time-based, unguarded");
//   editing that strategy by hand first asks, in words, to pause the plan
//   (cancel changes nothing; confirming saves with ?pausePlan=true and the
//   plan is paused, audited); a plan that takes the strategy over while
//   its editor is open is said in the editor, not saved silently;
// - after the guard rolled a flag back, the list and the flag page say
//   "rolled back at 5 % because …" where the percentage is shown;
// - the rollouts page is live: a rollback appears without Refresh (the
//   same page, not redrawn by navigation), at the step where it happened
//   ("rolled back here", not "not reached"); a metric without data says
//   "no data yet" and shows no p-value; per-variant results are shown;
// - plans are created from the rollouts page (steps, metrics with the
//   effect to detect, an explicit "time-based, unguarded", webhooks),
//   refused next to the field, before sending or by the server;
// - per-variant results of a plain A/B flag on the flag page, with rates
//   in percent, latency in ms, intervals and "not enough data yet";
// - the model gateway's page: latency, time to first token, tokens per
//   second, errors and feedback per variant.
// Every flow ends with an axe-core scan and a screenshot in
// build/ui-artifacts/.
//
//   tests/ui/run.sh tests/ui/plans_live.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, clientSecret, request, show } = require('../integration/server');
const { startModelServer } = require('../support/model_server');
const { launch, screenshot, VIEWPORTS } = require('./browser');
const ui = require('./helpers');
const traffic = require('../support/plan_traffic');

const { FEAT, ENV } = ui;
const CLIENT = clientSecret('default', 'production');
const STEADY = { milestones: [{ percent: 20, minDurationSeconds: 3600 }, { percent: 100 }], metrics: [{ kind: 'error_rate' }] };

let srv;
let model;

test.before(async () => {
  model = await startModelServer({ models: ['small', 'large'], latencyMs: 5 });
  srv = await startServer({ clientTokens: [CLIENT], env: { VEXIL_SCHEDULER_INTERVAL_MS: '100' } });
});

test.after(async () => {
  if (srv) {
    await srv.stop();
    // Under a sanitized build (build-asan) the server leaves no report.
    assert.doesNotMatch(srv.stderr, /(Address|Leak|Thread|UndefinedBehavior)Sanitizer|runtime error/);
  }
  if (model) await model.close();
});

const ok = (method, p, body) => ui.ok(srv, method, p, body);
const plan = (flag) => traffic.planOf(srv, flag);
const strategies = (flag) => ok('GET', `${ENV(flag)}/strategies`);

// Opens a browser at `vp`, signed in; runs fn(page); checks page errors,
// CSP and axe at the end.
async function withPage(vp, fn, token = srv.adminToken) {
  const b = await launch({ viewport: vp });
  const problems = [];
  ui.watchProblems(b.page, problems);
  try {
    await ui.signInWith(b.page, srv, token);
    await fn(b.page);
    assert.deepEqual(await ui.axeViolations(b.page), [], 'serious or critical axe violations');
    if (vp.width < 500) {
      const reach = await ui.outOfReach(b.page);
      assert.deepEqual(reach.out, [], 'controls outside the screen');
      assert.equal(reach.sideways, false, 'the page scrolls sideways');
    }
    assert.deepEqual(problems, []);
  } finally {
    await b.close();
  }
}

// The flag list's cell of `flag` in production (after a search).
async function listCell(page, flag) {
  await ui.open(page, srv, `/flags?q=${encodeURIComponent(flag)}`, 'Flags');
  const row = page.getByRole('row').filter({ has: page.getByRole('link', { name: flag, exact: true }) });
  await row.waitFor();
  return row.getByRole('cell').last();
}

for (const vp of VIEWPORTS) {
  test(`a plan's strategy: the list and the flag page say who controls it; a hand edit asks to pause the plan (${vp.width} px)`, async () => {
    const own = `own-${vp.name}`;
    const tb = `timed-${vp.name}`;
    const late = `late-${vp.name}`;
    for (const f of [own, tb, late]) await ok('POST', FEAT, { name: f });
    await ok('PUT', `${ENV(own)}/release-plan`, STEADY);
    await ok('PUT', `${ENV(tb)}/release-plan`, { milestones: [{ percent: 10, minDurationSeconds: 3600 }, { percent: 100 }], guard: 'none' });
    await ok('POST', `${ENV(late)}/strategies`, { name: 'flexibleRollout', title: 'Early users', parameters: { rollout: '10', stickiness: 'default', groupId: late } });
    await ok('POST', `${ENV(late)}/on`);

    await withPage(vp, async (page) => {
      // The list: the plan under the switch, with its percentage and guard.
      const cell = await listCell(page, own);
      assert.match(await cell.innerText(), /Plan running at 20 %/);
      const timed = await listCell(page, tb);
      assert.match(await timed.innerText(), /Plan running at 10 %.*time-based, unguarded/s);
      await screenshot(page, `plans-${vp.name}-list`);

      // The flag page: the environment says it, the strategy says it.
      await ui.open(page, srv, `/flags/default/${own}`, own);
      const prod = page.getByRole('region', { name: 'Environment production' });
      const note = prod.getByRole('note', { name: 'Release plan in production' });
      assert.match(await note.innerText(), /running\s+Release plan: running at 20 %\.\s+guarded by error_rate/);
      const card = prod.locator('.strategy').filter({ hasText: 'controlled by its release plan' });
      assert.match(await card.innerText(), /running at 20 %\); an edit by hand pauses the plan first/);
      const [s] = await strategies(own);
      const edit = prod.getByRole('button', { name: /^Edit strategy / });

      // Cancel: nothing changes, the focus comes back.
      await edit.click();
      let ask = page.getByRole('dialog', { name: /Pause the release plan to edit/ });
      assert.match(await ask.innerText(), /controlled by the release plan of own-\d+ \(running at 20 %\)/);
      await ask.getByRole('button', { name: 'Cancel' }).click();
      await ask.waitFor({ state: 'detached' });
      assert.ok(await ui.focused(edit), 'the focus is back on Edit');
      assert.equal((await plan(own)).state, 'running');

      // Confirm: the editor says saving pauses the plan; it does, audited.
      await edit.click();
      ask = page.getByRole('dialog', { name: /Pause the release plan to edit/ });
      await ask.getByRole('button', { name: 'Pause the plan and edit' }).click();
      const editor = page.getByRole('dialog', { name: /Edit strategy · production/ });
      await editor.getByText('Saving pauses the release plan.').waitFor();
      assert.equal((await plan(own)).state, 'running', 'opening the editor pauses nothing');
      await editor.getByLabel('Rollout (%)').fill('40');
      await screenshot(page, `plans-${vp.name}-edit-pauses`);
      await editor.getByRole('button', { name: 'Pause the plan and save' }).click();
      await editor.waitFor({ state: 'detached' });
      const p = await plan(own);
      assert.equal(p.state, 'paused');
      assert.equal(p.pauseReason, 'paused to let a person edit its strategy');
      assert.equal((await strategies(own)).find((x) => x.id === s.id).parameters.rollout, '40');
      const ev = (await ok('GET', `/api/admin/search/events?type=release-plan-paused&feature=${own}`)).events[0];
      assert.equal(ev.data.strategyId, s.id);
      await note.filter({ hasText: /Release plan: paused at 20 %/ }).waitFor();
      assert.match(await note.innerText(), /Resuming it \(on the Rollouts page\) sets the rollout back/);

      // A plan that takes a strategy over while its editor is open: the
      // save is refused, said in the editor, and only a click pauses it.
      await ui.open(page, srv, `/flags/default/${late}`, late);
      const lateProd = page.getByRole('region', { name: 'Environment production' });
      await lateProd.getByRole('button', { name: 'Edit strategy Early users in production' }).click();
      const ed2 = page.getByRole('dialog', { name: /Edit strategy · production/ });
      await ok('PUT', `${ENV(late)}/release-plan`, STEADY);
      await ed2.getByLabel('Rollout (%)').fill('30');
      await ed2.getByRole('button', { name: 'Save strategy' }).click();
      await ed2.getByText('Saving pauses the release plan.').waitFor();
      assert.match(await ed2.innerText(), /release plan of late-\d+ in production \(running at 20 %\)/);
      assert.equal((await plan(late)).state, 'running', 'nothing was saved');
      assert.equal((await strategies(late))[0].parameters.rollout, '20');
      await ed2.getByRole('button', { name: 'Pause the plan and save' }).click();
      await ed2.waitFor({ state: 'detached' });
      assert.equal((await plan(late)).state, 'paused');
      assert.equal((await strategies(late))[0].parameters.rollout, '30');
      await screenshot(page, `plans-${vp.name}-flag-paused`);
    });
  });

  test(`after the guard rolled a flag back, the list and the flag page say so where the percentage is (${vp.width} px)`, async () => {
    const rb = `rolled-${vp.name}`;
    await ok('POST', FEAT, { name: rb });
    await ok('PUT', `${ENV(rb)}/release-plan`, { milestones: [{ percent: 5, minExposures: 20000 }, { percent: 25 }, { percent: 100 }], metrics: [{ kind: 'error_rate' }] });
    await traffic.drive(srv, CLIENT, rb, { until: (p) => p.state === 'rolled-back', ctl: 0.01, trt: 0.02 });
    await withPage(vp, async (page) => {
      const cell = await listCell(page, rb);
      const text = await cell.innerText();
      assert.match(text, /Plan rolled back at 5 %/);
      assert.match(text, /because a guard metric is significantly worse/);
      assert.equal(await cell.getByRole('switch').getAttribute('aria-checked'), 'true', 'the environment is on: the words say why nobody gets it');
      assert.match(await cell.getByRole('link', { name: /rolled back/ }).getAttribute('href'), new RegExp(`/rollouts\\?feature=${rb}$`));
      await screenshot(page, `plans-${vp.name}-list-rolled-back`);

      await ui.open(page, srv, `/flags/default/${rb}`, rb);
      const prod = page.getByRole('region', { name: 'Environment production' });
      assert.match(await prod.locator('.env-head').innerText(), /on\s*rolled back: 0 %/);
      const note = prod.getByRole('note', { name: 'Release plan in production' });
      assert.match(await note.innerText(), /Release plan: rolled back at 5 % because a guard metric is significantly worse.*error_rate/s);
      assert.match(await note.innerText(), /The rollout in force is 0 %/);
      assert.match(await prod.locator('.strategy').first().innerText(), /its release plan is rolled back\s+rolled back at 5 % because/);
      await screenshot(page, `plans-${vp.name}-flag-rolled-back`);
    });
  });

  test(`the rollouts page is live: a rollback appears without Refresh, at its step; a metric without data says so (${vp.width} px)`, async () => {
    const flag = `live-${vp.name}`;
    await ok('POST', FEAT, { name: flag });
    await ok('PUT', `${ENV(flag)}/release-plan`, {
      milestones: [{ percent: 5, minExposures: 20000 }, { percent: 25 }, { percent: 100 }],
      metrics: [{ kind: 'error_rate' }, { kind: 'latency_quantile', quantile: 0.99 }],
    });
    await withPage(vp, async (page) => {
      await ui.open(page, srv, `/rollouts?feature=${flag}`, 'Rollouts');
      await page.getByText('Live: changes appear here as they happen.').waitFor();
      const box = page.getByRole('region', { name: `Release plan of ${flag} in production` });
      await box.locator('.panel-head').getByText('running', { exact: true }).waitFor();
      // No traffic yet: no data, and no p-value that could read as evidence.
      const stats = box.getByRole('table').first();
      await stats.getByRole('row').filter({ hasText: 'Error rate' }).getByText('no data yet').waitFor();
      const rows = await stats.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
      for (const r of rows) {
        assert.equal(r[r.length - 1], 'no data yet', JSON.stringify(r));
        assert.equal(r[r.length - 2], '—', `no p-value without data: ${JSON.stringify(r)}`);
      }
      await screenshot(page, `plans-${vp.name}-rollouts-no-data`);
      // The box the page drew; navigation (Refresh) would replace it.
      await box.evaluate((b) => { window.__planBox = b; });

      await traffic.drive(srv, CLIENT, flag, { until: (p) => p.state === 'rolled-back', ctl: 0.01, trt: 0.02 });
      await box.locator('.panel-head').getByText('rolled back', { exact: true }).waitFor({ timeout: 8000 });
      assert.equal(await page.evaluate(() => window.__planBox.isConnected), true, 'redrawn in place, not by a Refresh');
      // The page redraws itself on every scheduler tick: an item read just
      // as it is replaced gives its text without the line break, so the
      // percentage and its note are split here rather than by layout.
      const steps = await box.getByRole('list', { name: 'Milestones' }).getByRole('listitem').allTextContents();
      assert.deepEqual(steps.map((t) => t.replace(/\s+/g, ' ').trim().replace(/^(\d+%)\s*/, '$1 ')), ['5% rolled back here', '25% not reached', '100% not reached']);
      assert.match(await box.getByRole('note').first().innerText(), /Rolled back\. Rolled back at 5 % because a guard metric is significantly worse/);
      const err = await stats.getByRole('row').filter({ hasText: 'Error rate' }).innerText();
      assert.match(err, /1%\s*2%.*worse/s);
      // The p99 guard cannot judge a few samples: it says so, no p-value.
      const p99 = await stats.getByRole('row').filter({ hasText: 'Latency p99' }).getByRole('cell').allInnerTexts();
      assert.match(p99[p99.length - 1], /^(no data yet|not enough data yet)/);
      assert.equal(p99[p99.length - 2], '—');
      // Per-variant results of the run, readable.
      const results = box.locator('table.results-arms');
      await results.waitFor();
      assert.match(await results.innerText(), /control \(disabled\)[\s\S]*1 %[\s\S]*\bon\b[\s\S]*2 %/);
      assert.match(await results.innerText(), /ms/);
      assert.doesNotMatch(await box.innerText(), /\bnull\b|\bundefined\b|NaN/);
      await screenshot(page, `plans-${vp.name}-rollouts-live-rollback`);
    });
  });

  test(`plans are created from the rollouts page: steps, metrics, "time-based, unguarded", webhooks (${vp.width} px)`, async () => {
    const guarded = `made-${vp.name}`;
    const timed = `made-timed-${vp.name}`;
    for (const f of [guarded, timed]) await ok('POST', FEAT, { name: f });
    await withPage(vp, async (page) => {
      // The empty page speaks in words, not curl.
      await ui.open(page, srv, '/rollouts?feature=nothing-here', 'Rollouts');
      const empty = await page.locator('main .empty').innerText();
      assert.match(empty, /nothing-here has no release plan\./);
      assert.match(empty, /Start one with New release plan/);
      assert.doesNotMatch(empty, /curl|PUT |release-plan/);

      await ui.open(page, srv, '/rollouts', 'Rollouts');
      await page.getByRole('link', { name: '+ New release plan' }).click();
      await page.getByRole('heading', { level: 1, name: 'New release plan' }).waitFor();
      const form = page.locator('form.plan-form');
      await form.getByLabel('Flag', { exact: true }).fill(guarded);
      await form.getByLabel('Environment').selectOption('production');
      // Refused before sending: a step below the one before.
      await form.getByRole('group', { name: 'Step 2' }).getByLabel('Rollout (%)').fill('3');
      await form.getByRole('button', { name: 'Start the plan…' }).click();
      await form.getByRole('alert').getByText('This cannot be started yet.').waitFor();
      assert.match(await form.getByRole('group', { name: 'Step 2' }).innerText(), /Above the step before \(5 %\)/);
      assert.equal(await page.getByRole('dialog').count(), 0, 'nothing asked, nothing sent');
      await form.getByRole('group', { name: 'Step 2' }).getByLabel('Rollout (%)').fill('25');
      // Conversion too, with its smallest effect; a webhook the operator
      // does not allow: the server's refusal lands next to the field.
      await form.getByLabel(/^Conversion/).check();
      const conv = form.locator('.metric-row').filter({ hasText: 'Conversion' });
      await conv.getByLabel('Smallest worsening to detect (%)').fill('10');
      await form.getByLabel('Webhooks (one URL a line)').fill('http://10.9.9.9:8080/hook');
      await form.getByRole('button', { name: 'Start the plan…' }).click();
      let dlg = page.getByRole('dialog', { name: `Start the release plan of ${guarded} in production?` });
      assert.match(await dlg.innerText(), /5 % → 25 % → 50 % → 100 %/);
      assert.match(await dlg.innerText(), /Guarded by error rate, conversion/);
      await dlg.getByRole('button', { name: 'Start the plan' }).click();
      const hookErr = form.locator('.field').filter({ has: page.getByLabel('Webhooks (one URL a line)') }).locator('.field-error');
      await hookErr.waitFor();
      assert.match(await hookErr.innerText(), /egress-allow/);
      assert.equal((await srv.api('GET', `${ENV(guarded)}/release-plan`)).status, 404, 'nothing was started');
      await screenshot(page, `plans-${vp.name}-new-refused`);
      await form.getByLabel('Webhooks (one URL a line)').fill('http://127.0.0.1:9/hook');
      await form.getByRole('button', { name: 'Start the plan…' }).click();
      dlg = page.getByRole('dialog', { name: `Start the release plan of ${guarded} in production?` });
      await dlg.getByRole('button', { name: 'Start the plan' }).click();
      await page.waitForURL(new RegExp(`/rollouts\\?feature=${guarded}$`));
      await page.getByRole('region', { name: `Release plan of ${guarded} in production` }).waitFor();
      const made = await plan(guarded);
      assert.deepEqual(made.plan.milestones.map((m) => [m.percent, m.minDurationSeconds || 0]), [[5, 600], [25, 600], [50, 600], [100, 0]]);
      assert.deepEqual(made.plan.metrics.map((m) => [m.kind, m.mde]), [['error_rate', made.plan.metrics[0].mde], ['conversion', 0.1]]);
      assert.deepEqual(made.plan.webhooks, ['http://127.0.0.1:9/hook']);

      // Time-based, said explicitly, and shown so.
      await page.goto(`${srv.url}/rollouts/new?feature=${timed}&environment=production`);
      await page.getByRole('heading', { level: 1, name: 'New release plan' }).waitFor();
      await page.getByLabel('Error rate (higher is worse)').uncheck();
      await page.getByRole('button', { name: 'Start the plan…' }).click();
      await page.locator('form.plan-form').getByText(/Choose at least one metric for the guard, or say that the plan is time-based and unguarded/).first().waitFor();
      await page.getByLabel('Time-based, unguarded').check();
      await page.getByRole('note').getByText('Time-based, unguarded.').waitFor();
      await screenshot(page, `plans-${vp.name}-new-timed`);
      await page.getByRole('button', { name: 'Start the plan…' }).click();
      dlg = page.getByRole('dialog', { name: `Start the release plan of ${timed} in production?` });
      assert.match(await dlg.innerText(), /Time-based, unguarded: nothing rolls it back by itself/);
      await dlg.getByRole('button', { name: 'Start the plan' }).click();
      const box = page.getByRole('region', { name: `Release plan of ${timed} in production` });
      await box.locator('.panel-head').getByText('time-based, unguarded').waitFor();
      const t = await plan(timed);
      assert.equal(t.plan.guard, 'none');
      assert.equal(t.summary.guard, 'time-based, unguarded');
    });
  });

  test(`per-variant results of an A/B flag on its page: percentages, milliseconds, intervals, "not enough data yet" (${vp.width} px)`, async () => {
    const ab = `ab-${vp.name}`;
    const few = `ab-few-${vp.name}`;
    for (const f of [ab, few]) {
      await ok('POST', FEAT, { name: f });
      await ok('PUT', `${ENV(f)}/variants`, [{ name: 'blue', weightType: 'variable' }, { name: 'green', weightType: 'variable' }]);
      await ok('POST', `${ENV(f)}/on`);
    }
    const lat = (n, base) => Array.from({ length: n }, (_, i) => base + (i % 10));
    const post = async (metrics) => {
      const r = await request(srv.url, 'POST', '/api/client/impact', { token: CLIENT, body: { metrics } });
      assert.equal(r.status, 202, show(r));
    };
    await post([
      { flag: ab, variant: 'blue', requests: 4000, errors: 40, conversions: 400, latencyMs: lat(400, 100) },
      { flag: ab, variant: 'green', requests: 4000, errors: 160, conversions: 400, latencyMs: lat(400, 150) },
      { flag: few, variant: 'blue', requests: 8, errors: 0, latencyMs: [100] },
      { flag: few, variant: 'green', requests: 8, errors: 1, latencyMs: [120] },
    ]);
    await withPage(vp, async (page) => {
      await ui.open(page, srv, `/flags/default/${ab}`, ab);
      const box = page.getByRole('group', { name: 'Results in production' });
      const arms = box.locator('table.results-arms');
      await arms.waitFor();
      const blue = await arms.getByRole('row').filter({ hasText: 'blue' }).innerText();
      assert.match(blue, /4,000[\s\S]*40[\s\S]*1 %[\s\S]*400[\s\S]*10 %[\s\S]*1\d\d ms/);
      const green = await arms.getByRole('row').filter({ hasText: 'green' }).innerText();
      assert.match(green, /4 %/);
      const errRow = await box.locator('table.results-cmp').getByRole('row').filter({ hasText: 'Error rate' }).innerText();
      assert.match(errRow, /green[\s\S]*1 %[\s\S]*4 %[\s\S]*\+3 pt[\s\S]*\+\d[\d.]* pt to \+\d[\d.]* pt[\s\S]*worse/);
      const latRow = await box.locator('table.results-cmp').getByRole('row').filter({ hasText: 'Latency' }).innerText();
      assert.match(latRow, /ms[\s\S]*ms[\s\S]*\+\d+ %/);
      assert.doesNotMatch(await box.innerText(), /\bnull\b|\bundefined\b|NaN/);
      await screenshot(page, `plans-${vp.name}-flag-results`);

      await ui.open(page, srv, `/flags/default/${few}`, few);
      const fewBox = page.getByRole('group', { name: 'Results in production' });
      const cmp = fewBox.locator('table.results-cmp');
      await cmp.waitFor();
      for (const row of await cmp.locator('tbody tr').allInnerTexts()) assert.match(row, /not enough data yet/);
      assert.doesNotMatch(await cmp.innerText(), /worse|better|\bpt\b/);
    });
  });

  test(`the model gateway's page: latency, time to first token, tokens per second, errors and feedback per variant (${vp.width} px)`, async () => {
    const flag = `model.chat${vp.name}`;
    const alias = `chat${vp.name}`;
    const value = (o) => ({ type: 'json', value: JSON.stringify(o) });
    await ok('POST', FEAT, { name: flag });
    await ok('PUT', `${ENV(flag)}/variants`, [
      { name: 'control', weight: 500, weightType: 'fix', stickiness: 'default', payload: value({ base_url: `${model.url}/v1`, model: 'small' }) },
      { name: 'candidate', weight: 500, weightType: 'fix', stickiness: 'default', payload: value({ base_url: `${model.url}/v1`, model: 'large' }) }]);
    await ok('POST', `${ENV(flag)}/on`);
    let served = 0;
    for (let i = 0; i < 12; i++) {
      const r = await fetch(`${srv.url}/v1/chat/completions`, {
        method: 'POST', headers: { Authorization: `Bearer ${CLIENT}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: alias, user: `u${i}`, stream: i % 2 === 0, messages: [{ role: 'user', content: 'hello there' }] }),
      });
      const text = await r.text();
      assert.equal(r.status, 200, text);
      served++;
      if (i < 4) {
        const id = r.headers.get('x-vexil-response-id');
        const fb = await request(srv.url, 'POST', '/v1/feedback', { token: CLIENT, body: { response_id: id, score: i % 2 ? 'down' : 'up' } });
        assert.equal(fb.status, 202, show(fb));
      }
    }
    await withPage(vp, async (page) => {
      await ui.open(page, srv, '/gateway?environment=production', 'Model gateway');
      const box = page.getByRole('region', { name: `Gateway figures of ${flag}` });
      const table = box.getByRole('table').first();
      await table.waitFor();
      const rows = await table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
      assert.deepEqual(rows.map((r) => r[0]).sort(), ['candidate', 'control']);
      assert.equal(rows.reduce((a, r) => a + Number(r[1]), 0), served);
      for (const r of rows) {
        assert.match(r[2], /^0 \(0 %\)$/, 'no errors');
        assert.match(r[5], / ms$/, 'latency in ms');
        assert.match(r[6], / ms$|no data yet/, 'time to first token');
        assert.match(r[7], /\/s$|no data yet/, 'tokens per second');
      }
      assert.ok(rows.some((r) => / ms$/.test(r[6])), 'streamed answers have a time to first token');
      const feedback = rows.map((r) => r[9]).join(' ');
      assert.match(feedback, /up\)/, 'feedback is counted');
      assert.match(await box.innerText(), /Results over the last 24 hours/);
      await screenshot(page, `plans-${vp.name}-gateway`);
    });
  });
}

test('a viewer sees plans and results but cannot start one', async () => {
  const viewer = (await ok('POST', '/api/admin/api-tokens', { tokenName: 'vic', type: 'admin', role: 'viewer' })).secret;
  await withPage(VIEWPORTS[0], async (page) => {
    await ui.open(page, srv, '/rollouts', 'Rollouts');
    assert.equal(await page.getByRole('link', { name: '+ New release plan' }).count(), 0);
    await page.goto(`${srv.url}/rollouts/new`);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /Your role does not allow this page\. .*viewer role; a new release plan needs the editor or admin role/);
  }, viewer);
});
