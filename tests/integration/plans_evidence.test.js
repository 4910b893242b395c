'use strict';
// Release plans that never move without evidence, against the real server
// (docs/guard.md, "The evidence gate", "Plans own their strategy",
// "Results"): a plan without traffic holds, then alerts (state, audit
// event, webhook) and advances once the data comes; impact data under a
// misspelled flag, variant or field is refused, naming it; a hand edit of
// the strategy a running plan controls is a 409 naming the plan unless the
// request pauses it; a regression in one of two variants rolls back that
// variant only; the results endpoint and `vexil plans results` show each
// variant against the control with its always-valid interval, for a plan
// and for plain A/B traffic. The scheduler ticks every 100 ms.
//
//   node --test tests/integration/plans_evidence.test.js   (VEXIL_BIN set)

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { execFileSync } = require('node:child_process');
const { startServer, adminSecret, clientSecret, allEvents, request, sleep, show, removeTempDir } = require('./server');

const FEAT = '/api/admin/projects/default/features';
const ENV = (flag) => `${FEAT}/${flag}/environments/production`;
const TICK_ENV = { VEXIL_SCHEDULER_INTERVAL_MS: '100' };

async function must(srv, method, path, body, status) {
  const r = await srv.api(method, path, body === undefined ? {} : { body });
  assert.equal(r.status, status, `${method} ${path}: ${show(r)}`);
  return r.json;
}

const plan = (srv, flag) => must(srv, 'GET', `${ENV(flag)}/release-plan`, undefined, 200);

function strategyOf(featureJson) {
  const env = featureJson.environments.find((e) => e.name === 'production');
  return { env, s: env.strategies.find((x) => x.name === 'flexibleRollout') };
}

// Waits (bounded) until pred(plan) holds; returns the plan.
async function until(srv, flag, pred, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let p = await plan(srv, flag);
  while (!pred(p)) {
    if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify({ state: p.state, milestone: p.milestone, last: p.last && p.last.decision && p.last.decision.reason })}`);
    await sleep(100);
    p = await plan(srv, flag);
  }
  return p;
}

// One batch of traffic: `arms` maps an arm label ("disabled" = control,
// variant names, or "on" for a flag without variants) to [requests, error
// rate]. Exact counts, stamped with `at`.
function batch(flag, arms, at) {
  const metrics = [];
  for (const [label, [n, rate]] of Object.entries(arms)) {
    if (n <= 0) continue;
    const e = { flag, at, requests: n, errors: Math.round(n * rate), latencyMs: [100, 120, 150] };
    if (label === 'disabled') e.enabled = false;
    else Object.assign(e, { enabled: true, variant: label });
    metrics.push(e);
  }
  return { metrics };
}

async function post(srv, client, body, status = 202) {
  const r = await request(srv.url, 'POST', '/api/client/impact', { token: client, body });
  assert.equal(r.status, status, show(r));
  return r;
}

function receiver() {
  const calls = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      calls.push(JSON.parse(body));
      res.writeHead(204);
      res.end();
    });
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ srv, calls, url: `http://127.0.0.1:${srv.address().port}/hook` })));
}

test('no traffic: the plan holds, then alerts; a time-based plan says so; data lets it advance', async () => {
  const client = clientSecret('default', 'production');
  const admin = adminSecret();
  const srv = await startServer({ adminTokens: [admin], clientTokens: [client], env: TICK_ENV });
  const hook = await receiver();
  const cli = (...args) => execFileSync(srv.bin, [...args, '--server', srv.url, '--token', admin], { encoding: 'utf8' });
  try {
    for (const f of ['quiet', 'timed']) await must(srv, 'POST', FEAT, { name: f }, 201);
    // A plan needs metrics, or must say it has none.
    let r = await srv.api('PUT', `${ENV('quiet')}/release-plan`, { body: { milestones: [{ percent: 10 }, { percent: 100 }] } });
    assert.equal(r.status, 400, show(r));
    assert.equal(r.json.details[0].path, '/metrics');
    assert.match(r.json.message, /"guard": "none"/);
    r = await srv.api('PUT', `${ENV('quiet')}/release-plan`, { body: { milestones: [{ percent: 10 }], metrics: [{ kind: 'error_rate' }], guard: 'none' } });
    assert.equal(r.json.details[0].path, '/guard');
    r = await srv.api('PUT', `${ENV('quiet')}/release-plan`, { body: { milestones: [{ percent: 10 }], metrics: [{ kind: 'error_rate', mde: -1 }] } });
    assert.equal(r.json.details[0].path, '/metrics/0/mde');
    r = await srv.api('PUT', `${ENV('quiet')}/release-plan`, { body: { milestones: [{ percent: 10 }], metrics: [{ kind: 'error_rate' }], evidence: { onTimeout: 'shrug' } } });
    assert.equal(r.json.details[0].path, '/evidence/onTimeout');

    const timed = await must(srv, 'PUT', `${ENV('timed')}/release-plan`, { milestones: [{ percent: 20, minDurationSeconds: 3600 }, { percent: 100 }], guard: 'none' }, 200);
    assert.equal(timed.plan.guard, 'none');
    assert.equal(timed.summary.guard, 'time-based, unguarded');

    // Guarded, no traffic at all: it may wait 1 s past its duration for
    // evidence, then holds and alerts. It never advances.
    const started = await must(srv, 'PUT', `${ENV('quiet')}/release-plan`, {
      milestones: [{ percent: 10, minDurationSeconds: 0 }, { percent: 100 }],
      metrics: [{ kind: 'error_rate' }],
      evidence: { maxWaitSeconds: 1 },
      webhooks: [hook.url],
    }, 200);
    assert.equal(started.plan.evidence.maxWaitSeconds, 1);
    assert.equal(started.plan.metrics[0].mde, 1, 'the default MDE: the error rate doubles');
    assert.match(started.summary.guard, /guarded by error_rate/);
    let p = await until(srv, 'quiet', (x) => x.state === 'held', 'the plan holds and alerts');
    assert.equal(p.milestone, 0, 'no advance without evidence');
    assert.match(p.holdReason, /insufficient data/);
    assert.match(p.holdReason, /error_rate/);
    assert.match(p.summary.status, /^held at 10 %/);
    assert.equal((await must(srv, 'GET', `${FEAT}/quiet`, undefined, 200)).environments.find((e) => e.name === 'production').strategies[0].parameters.rollout, '10');
    const held = await allEvents(srv, 'type=release-plan-held&feature=quiet');
    assert.equal(held.length, 1, 'alerted once');
    assert.equal(held[0].createdBy, 'scheduler');
    assert.equal(held[0].data.statistics.insufficient, true);
    for (let i = 0; i < 50 && !hook.calls.some((c) => c.event === 'release-plan-held'); i++) await sleep(100);
    const call = hook.calls.find((c) => c.event === 'release-plan-held');
    assert.ok(call, JSON.stringify(hook.calls.map((c) => c.event)));
    assert.equal(call.feature, 'quiet');
    assert.equal(call.state, 'held');
    assert.match(call.detail, /error_rate/);
    await sleep(500);
    assert.equal((await allEvents(srv, 'type=release-plan-held&feature=quiet')).length, 1, 'no repeated alert');
    // Visible everywhere: the flag, the list, the CLI.
    const fenv = (await must(srv, 'GET', `${FEAT}/quiet`, undefined, 200)).environments.find((e) => e.name === 'production');
    assert.equal(fenv.releasePlan.state, 'held');
    assert.equal(fenv.releasePlan.guard, 'guarded by error_rate');
    const list = cli('plans', 'list');
    assert.match(list, /quiet\s+production\s+held\s+10\s+guarded by error_rate\s+held at 10 % because/);
    assert.match(list, /timed\s+production\s+running\s+20\s+time-based, unguarded/);
    const shown = cli('plans', 'show', 'quiet', '--env', 'production');
    assert.match(shown, /guard: guarded by error_rate/);
    assert.match(shown, /evidence pending: 0 units here/);

    // The data comes: the held plan advances to 100 % once the 10 %
    // milestone can detect a doubling of the error rate.
    const deadline = Date.now() + 30000;
    while (p.state !== 'completed') {
      assert.ok(Date.now() < deadline, `did not complete: ${JSON.stringify(p.last && p.last.detail)}`);
      await post(srv, client, batch('quiet', { disabled: [3600, 0.01], on: [400, 0.01] }, new Date().toISOString()));
      await sleep(50);
      p = await plan(srv, 'quiet');
    }
    const acts = p.log.map((e) => [e.action, e.percent]);
    assert.deepEqual(acts.filter(([a]) => a !== 'start'), [['hold', 10], ['advance', 100], ['complete', 100]]);
  } finally {
    hook.srv.close();
    await srv.stop();
    removeTempDir(srv.dir);
  }
});

test('impact data for a misspelled flag, variant or field is refused, naming it, and nothing is written', async () => {
  const client = clientSecret('default', 'production');
  const srv = await startServer({ clientTokens: [client], env: TICK_ENV });
  try {
    await must(srv, 'POST', FEAT, { name: 'checkout' }, 201);
    await must(srv, 'PUT', `${ENV('checkout')}/variants`, [{ name: 'blue', weightType: 'variable', weight: 500, stickiness: 'default' }, { name: 'red', weightType: 'variable', weight: 500, stickiness: 'default' }], 200);
    const ok = { flag: 'checkout', enabled: true, variant: 'blue', requests: 10, errors: 1 };
    let r = await post(srv, client, { metrics: [ok, { flag: 'chekout', enabled: true, requests: 5 }] }, 404);
    assert.equal(r.json.details[0].path, '/metrics/1/flag');
    assert.match(r.json.message, /chekout/);
    r = await post(srv, client, { metrics: [{ ...ok, variant: 'green' }] }, 404);
    assert.equal(r.json.details[0].path, '/metrics/0/variant');
    assert.match(r.json.message, /no variant 'green'/);
    r = await post(srv, client, { metrics: [{ flag: 'checkout', enabled: true, requests: 5 }] }, 400);
    assert.equal(r.json.details[0].path, '/metrics/0/variant', 'a flag with variants needs the variant');
    r = await post(srv, client, { metrics: [{ ...ok, erors: 1 }] }, 400);
    assert.equal(r.json.details[0].path, '/metrics/0/erors');
    r = await post(srv, client, { metrics: [ok], batchid: 'x' }, 400);
    assert.equal(r.json.details[0].path, '/batchid');
    r = await post(srv, client, { metrics: [{ ...ok, unit: '' }] }, 400);
    assert.equal(r.json.details[0].path, '/metrics/0/unit');
    // None of the refused batches wrote anything (the valid first entry
    // of the first batch included).
    let res = await must(srv, 'GET', `${ENV('checkout')}/results`, undefined, 200);
    assert.equal(res.source, 'traffic');
    assert.deepEqual(res.arms, []);
    await post(srv, client, { metrics: [ok, { ...ok, variant: 'red', unit: 'u-1' }, { flag: 'checkout', enabled: false, requests: 20 }] });
    res = await must(srv, 'GET', `${ENV('checkout')}/results`, undefined, 200);
    assert.deepEqual(res.arms.map((a) => [a.variant, a.exposures]).sort(), [['blue', 10], ['disabled', 20], ['red', 10]]);
    // An Unleash SDK names "no variant" 'disabled': with the flag on, that
    // is the treatment, not the control.
    await must(srv, 'POST', FEAT, { name: 'plain' }, 201);
    await post(srv, client, { metrics: [{ flag: 'plain', enabled: true, variant: 'disabled', requests: 7 }, { flag: 'plain', enabled: false, variant: 'disabled', requests: 3 }] });
    res = await must(srv, 'GET', `${ENV('plain')}/results`, undefined, 200);
    assert.deepEqual(res.arms.map((a) => [a.variant, a.exposures]).sort(), [['disabled', 3], ['enabled', 7]]);
  } finally {
    await srv.stop();
    removeTempDir(srv.dir);
  }
});

test('a hand edit of the strategy a running plan controls is a 409 naming the plan, unless it pauses the plan; the flag shows the rollback', async () => {
  const client = clientSecret('default', 'production');
  const admin = adminSecret();
  const srv = await startServer({ adminTokens: [admin], clientTokens: [client], env: TICK_ENV });
  const cli = (...args) => execFileSync(srv.bin, [...args, '--server', srv.url, '--token', admin], { encoding: 'utf8' });
  try {
    await must(srv, 'POST', FEAT, { name: 'owned' }, 201);
    await must(srv, 'PUT', `${ENV('owned')}/release-plan`, {
      milestones: [{ percent: 5, minDurationSeconds: 3600 }, { percent: 100 }], metrics: [{ kind: 'error_rate' }],
    }, 200);
    let { s } = strategyOf(await must(srv, 'GET', `${FEAT}/owned`, undefined, 200));
    assert.equal(s.parameters.rollout, '5');
    const path = `${ENV('owned')}/strategies/${s.id}`;
    const edited = { ...s, parameters: { ...s.parameters, rollout: '80' } };
    for (const [method, body] of [['PUT', edited], ['PATCH', [{ op: 'replace', path: '/parameters/rollout', value: '80' }]], ['DELETE', undefined]]) {
      const r = await srv.api(method, path, body === undefined ? {} : { body });
      assert.equal(r.status, 409, `${method}: ${show(r)}`);
      assert.match(r.json.message, /controlled by its release plan \(running at 5 %\)/);
      assert.match(r.json.message, /pausePlan=true/);
    }
    ({ s } = strategyOf(await must(srv, 'GET', `${FEAT}/owned`, undefined, 200)));
    assert.equal(s.parameters.rollout, '5', 'nothing was written');
    // Other strategies of the flag stay editable.
    const other = await must(srv, 'POST', `${ENV('owned')}/strategies`, { name: 'default', constraints: [{ contextName: 'userId', operator: 'IN', values: ['qa'] }] }, 200);
    await must(srv, 'PUT', `${ENV('owned')}/strategies/${other.id}`, { name: 'default', constraints: [{ contextName: 'userId', operator: 'IN', values: ['qa', 'ops'] }] }, 200);

    // The request says to pause the plan: the edit goes through, the plan
    // is paused, both audited.
    await must(srv, 'PATCH', `${path}?pausePlan=true`, [{ op: 'replace', path: '/parameters/rollout', value: '80' }], 200);
    let p = await plan(srv, 'owned');
    assert.equal(p.state, 'paused');
    assert.match(p.pauseReason, /edit its strategy/);
    const paused = await allEvents(srv, 'type=release-plan-paused&feature=owned');
    assert.equal(paused.length, 1);
    assert.equal(paused[0].data.strategyId, s.id);
    assert.equal(strategyOf(await must(srv, 'GET', `${FEAT}/owned`, undefined, 200)).s.parameters.rollout, '80');
    // Paused: edits are allowed; resuming takes the strategy back.
    await must(srv, 'PUT', path, { ...edited, parameters: { ...edited.parameters, rollout: '60' } }, 200);
    await must(srv, 'POST', `${ENV('owned')}/release-plan/resume`, undefined, 200);
    assert.equal(strategyOf(await must(srv, 'GET', `${FEAT}/owned`, undefined, 200)).s.parameters.rollout, '5');
    assert.equal((await srv.api('PUT', path, { body: edited })).status, 409);

    // After a rollback the flag, the API and the CLI say so: 0 %, why.
    await must(srv, 'POST', `${ENV('owned')}/release-plan/rollback`, undefined, 200);
    const fenv = strategyOf(await must(srv, 'GET', `${FEAT}/owned`, undefined, 200)).env;
    assert.equal(fenv.enabled, true);
    assert.equal(fenv.releasePlan.state, 'rolled-back');
    assert.equal(fenv.releasePlan.percent, 0);
    assert.match(fenv.releasePlan.status, /^rolled back at 5 % because rolled back by hand/);
    const listed = (await must(srv, 'GET', '/api/admin/release-plans', undefined, 200)).plans.find((x) => x.feature === 'owned');
    assert.equal(listed.summary.percent, 0);
    assert.match(listed.summary.lastDecision, /rolled back at 5 % because rolled back by hand/);
    assert.match(cli('plans', 'list'), /owned\s+production\s+rolled-back\s+0\s+guarded by error_rate\s+rolled back at 5 % because rolled back by hand/);
    // A finished plan owns nothing any more.
    await must(srv, 'PUT', path, edited, 200);
  } finally {
    await srv.stop();
    removeTempDir(srv.dir);
  }
});

test('a regression in one of two variants rolls back that variant only; results per variant in the API and the CLI', async () => {
  const client = clientSecret('default', 'production');
  const admin = adminSecret();
  const srv = await startServer({ adminTokens: [admin], clientTokens: [client], env: TICK_ENV });
  const hook = await receiver();
  try {
    await must(srv, 'POST', FEAT, { name: 'twins' }, 201);
    const variants = [{ name: 'a', weightType: 'variable', weight: 500, stickiness: 'default' }, { name: 'b', weightType: 'variable', weight: 500, stickiness: 'default' }];
    await must(srv, 'POST', `${ENV('twins')}/strategies`, { name: 'flexibleRollout', parameters: { rollout: '0', stickiness: 'default', groupId: 'twins' }, variants }, 200);
    const started = await must(srv, 'PUT', `${ENV('twins')}/release-plan`, {
      milestones: [{ percent: 20, minDurationSeconds: 3600 }, { percent: 100 }],
      metrics: [{ kind: 'error_rate' }],
      webhooks: [hook.url],
    }, 200);
    assert.deepEqual(started.arms, ['a', 'b']);
    assert.match(started.summary.guard, /per variant \(2\)/);
    // Variant b fails three times as often as the control; a is healthy.
    let p = started;
    const deadline = Date.now() + 30000;
    while (!(p.retiredArms || []).length) {
      assert.ok(Date.now() < deadline, `no variant rollback: ${JSON.stringify(p.last && p.last.decision)}`);
      await post(srv, client, batch('twins', { disabled: [3200, 0.01], a: [400, 0.01], b: [400, 0.03] }, new Date().toISOString()));
      await sleep(50);
      p = await plan(srv, 'twins');
    }
    assert.deepEqual(p.retiredArms, ['b']);
    assert.equal(p.state, 'running', 'the plan goes on with variant a');
    assert.equal(p.milestone, 0);
    const rb = p.log.find((e) => e.action === 'rollback-variant');
    assert.equal(rb.variant, 'b');
    assert.match(rb.detail, /error_rate of variant 'b' is worse/);
    assert.match(p.summary.lastDecision, /rolled back a variant 'b' at 20 %/);
    const evs = await allEvents(srv, 'type=release-plan-variant-rolled-back&feature=twins');
    assert.equal(evs.length, 1);
    assert.equal(evs[0].data.variant, 'b');
    const culprit = evs[0].data.statistics.metrics[evs[0].data.statistics.culprit];
    assert.equal(culprit.variant, 'b');
    assert.equal(culprit.regression, true);
    assert.equal(evs[0].data.statistics.culpritVariant, 'b');
    assert.ok(evs[0].data.statistics.metrics.some((m) => m.variant === 'a' && !m.regression));
    // b now gets no one: weight 0 in the plan's strategy, a takes it all.
    const { s } = strategyOf(await must(srv, 'GET', `${FEAT}/twins`, undefined, 200));
    assert.deepEqual(s.variants.map((v) => [v.name, v.weight]), [['a', 1000], ['b', 0]]);
    assert.equal(s.parameters.rollout, '20', 'the rollout itself stays');
    assert.ok((await allEvents(srv, 'type=feature-strategy-update&feature=twins')).length >= 1, 'the weight change is audited');
    for (let i = 0; i < 50 && !hook.calls.some((c) => c.event === 'release-plan-variant-rolled-back'); i++) await sleep(100);
    assert.equal(hook.calls.find((c) => c.event === 'release-plan-variant-rolled-back').variant, 'b');

    // Results of the run: each variant against the control.
    const res = await must(srv, 'GET', `${ENV('twins')}/results`, undefined, 200);
    assert.equal(res.source, 'release-plan');
    assert.equal(res.run, started.run);
    const arm = (v) => res.arms.find((x) => x.variant === v);
    assert.equal(arm('disabled').baseline, true);
    assert.ok(arm('a').exposures > 0 && arm('b').exposures > 0);
    assert.ok(Math.abs(arm('b').errorRate - 0.03) < 0.002, JSON.stringify(arm('b')));
    const cb = res.comparisons.find((x) => x.variant === 'b' && x.metric === 'error_rate');
    const ca = res.comparisons.find((x) => x.variant === 'a' && x.metric === 'error_rate');
    assert.equal(cb.baseline, 'disabled');
    assert.equal(cb.interval.alwaysValid, true);
    assert.ok(cb.interval.low < cb.difference && cb.interval.high > cb.difference, JSON.stringify(cb));
    // The one-sided bound the guard decided with is beyond the margin (the
    // two-sided interval may still hold 0 right at the crossing).
    assert.equal(cb.harm, true);
    assert.ok(cb.harmBound >= cb.margin && cb.harmBound < cb.difference, JSON.stringify(cb));
    assert.equal(cb.crossed, true);
    assert.ok(cb.estimate < cb.difference && cb.estimate > 0, 'corrected for stopping at the crossing');
    assert.ok(ca.interval.low < 0 && ca.interval.high > 0, JSON.stringify(ca));
    assert.ok(ca.harmBound < ca.margin, JSON.stringify(ca));
    assert.equal(ca.estimate, ca.difference);
    const text = execFileSync(srv.bin, ['plans', 'results', 'twins', '--env', 'production', '--server', srv.url, '--token', admin], { encoding: 'utf8' });
    assert.match(text, /the release plan's run \(running\)/);
    assert.match(text, /disabled \(baseline\)/);
    assert.match(text, /\nb\s+error_rate\s+0\.03\s+0\.01\s+0\.02\s+\[-?0\.\d+(e-\d+)?, 0\.0\d+\]\s+0\.0\d+ \(corrected\)/);
    assert.match(text, /always valid/);
  } finally {
    hook.srv.close();
    await srv.stop();
    removeTempDir(srv.dir);
  }
});

test('results of plain A/B variants, with a chosen baseline; errors clustered per unit widen the interval', async () => {
  const client = clientSecret('default', 'production');
  const admin = adminSecret();
  const srv = await startServer({ adminTokens: [admin], clientTokens: [client], env: TICK_ENV });
  try {
    await must(srv, 'POST', FEAT, { name: 'ab' }, 201);
    await must(srv, 'PUT', `${ENV('ab')}/variants`, [{ name: 'x', weightType: 'variable', weight: 500, stickiness: 'default' }, { name: 'y', weightType: 'variable', weight: 500, stickiness: 'default' }], 200);
    // 200 users per variant, 20 requests each; in x every tenth user's
    // requests all fail (clustered), in y errors are spread evenly. Both
    // 5 %; conversions 10 % against 14 %.
    const metrics = [];
    for (let u = 0; u < 200; u++) {
      metrics.push({ flag: 'ab', enabled: true, variant: 'x', unit: `x-${u}`, requests: 20, errors: u % 10 === 0 ? 10 : 0, conversions: u % 5 === 0 ? 10 : 0, latencyMs: [100 + (u % 7)] });
      metrics.push({ flag: 'ab', enabled: true, variant: 'y', unit: `y-${u}`, requests: 20, errors: 1, conversions: u % 25 < 7 ? 10 : 0, latencyMs: [100 + (u % 5)] });
    }
    for (let i = 0; i < metrics.length; i += 200) await post(srv, client, { metrics: metrics.slice(i, i + 200) });
    let r = await srv.api('GET', `${ENV('ab')}/results?baseline=nope`);
    assert.equal(r.status, 404, show(r));
    assert.equal(r.json.details[0].path, '/query/baseline');
    r = await srv.api('GET', `${ENV('ab')}/results?alpha=2`);
    assert.equal(r.json.details[0].path, '/query/alpha');
    const res = await must(srv, 'GET', `${ENV('ab')}/results?baseline=x`, undefined, 200);
    assert.equal(res.source, 'traffic');
    assert.ok(res.from && res.to);
    assert.deepEqual(res.arms.map((a) => [a.variant, a.exposures, a.baseline]), [['x', 4000, true], ['y', 4000, false]]);
    const conv = res.comparisons.find((c) => c.metric === 'conversion');
    assert.equal(conv.variant, 'y');
    assert.ok(Math.abs(conv.difference - 0.04) < 1e-9, JSON.stringify(conv));
    assert.ok(conv.interval.low < conv.difference && conv.difference < conv.interval.high);
    const err = res.comparisons.find((c) => c.metric === 'error_rate');
    assert.ok(Math.abs(err.difference) < 1e-12);
    // x's errors come in clusters of whole users: the group variance is
    // far above the binomial one.
    assert.ok(err.designEffect > 3, JSON.stringify(err));
    const text = execFileSync(srv.bin, ['plans', 'results', 'ab', '--env', 'production', '--server', srv.url, '--token', admin], { encoding: 'utf8' });
    assert.match(text, /ab in production: traffic from/);
    assert.match(text, /x \(baseline\)\s+4000\s+200\s+0\.05/);
    assert.match(text, /y\s+conversion\s+0\.14\s+0\.1\s+0\.04/);
  } finally {
    await srv.stop();
    removeTempDir(srv.dir);
  }
});
