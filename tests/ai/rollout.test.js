'use strict';
// Rollout analysis, rollout plans and incident summaries end to end
// (docs/ai.md): the deterministic advisors, the model path with its checks
// (the guard is the authority), the auto-apply policy (INCREASE is never
// applied), the stored recommendations, the CLI, and what reaches the model.
// The plan status and the rollback event are fixtures in the shape of the
// plan API's documents, with the guard's decision report
// (src/guard/report.h) as their statistics.
//
//   tests/integration/run.sh tests/ai/rollout.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { startServer, allEvents, exportState, show, tempDir, vexilBin, clientSecret } = require('../integration/server');
const { startModelServer } = require('../support/model_server');
const { FEAT, ENV: ENVP, planOf, drive } = require('../support/plan_traffic');

const SECRETS = ['alice-owner@example.com', 'user-4417-secret', '10.9.8.7'];

function metric(kind, control, treatment, p, regression = false, direction = 'higher_is_worse') {
  return { kind, direction, tolerance: 0, alpha: 0.025, evaluated: true, regression, control, treatment,
    diff: treatment - control, margin: 0, excess: 0, variance: 1e-6, tau: 0.005, logLikelihoodRatio: 0, csLow: -0.01, csHigh: 0.01,
    harmBound: treatment - control - 0.002, p };
}

function report(action, metrics, extra = {}) {
  return { action, reason: `guard ${action}`, milestone: 1, elapsedSeconds: 900,
    srm: { evaluated: true, mismatch: false, chi2: 0.3, p: 0.58, pAlwaysValid: 1 }, metrics, ...extra };
}

// A plan status as the plan status GET answers it, plus members that must
// never reach a prompt.
function status(state, rep, milestone = 1) {
  return { flag: 'checkout', environment: 'production', state, milestone,
    createdBy: SECRETS[0], targetUsers: [SECRETS[1]], lastClient: SECRETS[2],
    plan: { milestones: [{ percent: 1 }, { percent: 5 }, { percent: 25 }, { percent: 100 }], note: SECRETS[1] },
    statistics: rep };
}

const HEALTHY = report('advance', [metric('error_rate', 0.0101, 0.0099, 1), metric('conversion', 0.1, 0.101, 1, false, 'lower_is_worse')]);
const ROLLED = report('rollback', [metric('error_rate', 0.0100, 0.0213, 0.0004, true), metric('conversion', 0.1, 0.099, 0.8, false, 'lower_is_worse')], { rollback: 'zero', culprit: 0 });
const EVENT = { id: 991, type: 'release-plan-rollback', featureName: 'checkout', environment: 'production',
  createdBy: SECRETS[0], createdAt: '2026-11-30T04:00:00Z', data: { percent: 25, decision: ROLLED } };

const withLlm = (ms, extra = {}) => ({ env: { VEXIL_LLM_URL: ms.url, VEXIL_LLM_MODEL: 'test-model', VEXIL_LLM_TIMEOUT_MS: '2000', ...extra } });

function userData(req) {
  const user = req.json.messages.find((m) => m.role === 'user').content;
  return JSON.parse(user.slice('<data>\n'.length, user.indexOf('\n</data>')));
}

const post = (srv, what, body) => srv.api('POST', `/api/admin/advisor/${what}`, { body });

test('without a model: the deterministic advisors', async (t) => {
  const srv = await startServer();
  t.after(() => srv.stop());

  await t.test('rollout: healthy and the guard would advance: INCREASE, not applied', async () => {
    const before = await exportState(srv);
    const r = await post(srv, 'rollout', { status: status('running', HEALTHY) });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.advisor, 'deterministic');
    assert.equal(r.json.recommendation, 'INCREASE');
    assert.equal(r.json.nextPercent, 25);
    assert.match(r.json.explanation, /0\.0099/);
    assert.ok(r.json.confidence > 0 && r.json.confidence <= 1);
    assert.equal(r.json.autoApply.applied, false);
    assert.equal(r.json.autoApply.policy, 'none');
    assert.deepEqual((await exportState(srv)).features, before.features);
    const ev = (await allEvents(srv, 'type=advisor-recommendation')).find((e) => e.id === r.json.recommendationId);
    assert.equal(ev.data.kind, 'rollout');
    assert.equal(ev.data.input.status.percent, 5);
    for (const s of SECRETS) assert.ok(!JSON.stringify(ev.data).includes(s), `${s} stored`);
  });

  await t.test('rollout: after a guard rollback, ROLLBACK to 0', async () => {
    const r = await post(srv, 'rollout', { status: status('rolled_back', ROLLED) });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.recommendation, 'ROLLBACK');
    assert.equal(r.json.nextPercent, 0);
    assert.match(r.json.explanation, /0\.0213/);
  });

  await t.test('rollout: bad status names the field', async () => {
    let r = await post(srv, 'rollout', {});
    assert.equal(r.status, 400, show(r));
    assert.equal(r.json.details[0].path, '/flag');
    r = await post(srv, 'rollout', { flag: 'no-such-flag' });
    assert.equal(r.status, 404, show(r));
    const s = status('running', HEALTHY, 9);
    r = await post(srv, 'rollout', { status: s });
    assert.equal(r.status, 400, show(r));
    assert.equal(r.json.details[0].path, '/status/milestone');
  });

  await t.test('plan: a high-risk plan, checked by the guard, not applied', async () => {
    const r = await post(srv, 'plan', { description: 'Rewrite of the checkout payment service', risk: 'high' });
    assert.equal(r.status, 200, show(r));
    const p = r.json.plan;
    assert.ok(p.milestones[0].percent <= 5);
    assert.equal(p.milestones.at(-1).percent, 100);
    assert.equal(p.mode, 'approval');
    assert.ok(p.metrics.some((m) => m.kind === 'conversion' && m.direction === 'lower-is-worse'));
    assert.match(r.json.apply.note, /nothing was changed/);
    const bad = await post(srv, 'plan', { description: 'x', risk: 'extreme' });
    assert.equal(bad.status, 400, show(bad));
    assert.equal(bad.json.details[0].path, '/risk');
  });

  await t.test('incident: from the rollback event, inline or by id', async () => {
    const r = await post(srv, 'incident', { event: EVENT });
    assert.equal(r.status, 200, show(r));
    assert.match(r.json.incident.summary, /error_rate/);
    assert.match(r.json.incident.summary, /0\.0213/);
    assert.match(r.json.incident.summary, /checkout/);
    assert.ok(!JSON.stringify(r.json).includes(SECRETS[0]), 'the actor is not in the summary');
    // An ordinary audit event is not a guard rollback.
    const f = await srv.api('POST', '/api/admin/projects/default/features', { body: { name: 'inc-flag' } });
    assert.equal(f.status, 201, show(f));
    const created = (await allEvents(srv, 'type=feature-created'))[0];
    const notRb = await post(srv, 'incident', { eventId: created.id });
    assert.equal(notRb.status, 400, show(notRb));
    assert.equal(notRb.json.details[0].path, '/eventId');
    const missing = await post(srv, 'incident', { eventId: 987654 });
    assert.equal(missing.status, 404, show(missing));
  });

  await t.test('the CLI asks and prints', async () => {
    const env = { ...process.env, VEXIL_TOKEN: srv.adminToken, VEXIL_SERVER: srv.url };
    const dir = tempDir('vexil-advise-');
    const file = path.join(dir, 'status.json');
    fs.writeFileSync(file, JSON.stringify(status('running', HEALTHY)));
    let r = spawnSync(srv.bin, ['advise', 'rollout', file], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^recommendation: INCREASE to 25% /m);
    assert.match(r.stdout, /^applied automatically: no/m);
    r = spawnSync(srv.bin, ['advise', 'plan', 'a new search ranking', '--risk', 'low'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /not applied/);
    assert.match(r.stdout, /"percent": 100/);
    fs.writeFileSync(path.join(dir, 'event.json'), JSON.stringify(EVENT));
    r = spawnSync(srv.bin, ['advise', 'incident', path.join(dir, 'event.json')], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^title: The guard rolled back checkout in production$/m);
    r = spawnSync(srv.bin, ['advise', 'plan', 'x', '--risk', 'extreme'], { env, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\/risk/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

test('the auto-apply policy', async (t) => {
  await t.test('increase is refused as a setting', () => {
    const r = spawnSync(vexilBin(), ['serve', '--port', '0', '--database', 'sqlite::memory:', '--advisor-auto-apply', 'hold,increase'], { encoding: 'utf8', timeout: 10000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /increase always needs a person/);
  });

  const srv = await startServer({ env: { VEXIL_ADVISOR_AUTO_APPLY: 'hold,rollback' } });
  t.after(() => srv.stop());
  await t.test('INCREASE is never applied, even with hold and rollback allowed', async () => {
    const before = await exportState(srv);
    const r = await post(srv, 'rollout', { status: status('running', HEALTHY) });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.recommendation, 'INCREASE');
    assert.equal(r.json.autoApply.policy, 'hold,rollback');
    assert.equal(r.json.autoApply.applied, false);
    assert.match(r.json.autoApply.reason, /never applied automatically/);
    assert.deepEqual((await exportState(srv)).features, before.features);
  });
  await t.test('a guard rollback is not applied again', async () => {
    const r = await post(srv, 'rollout', { status: status('rolled_back', ROLLED) });
    assert.equal(r.json.recommendation, 'ROLLBACK');
    assert.equal(r.json.autoApply.applied, false);
    assert.match(r.json.autoApply.reason, /already rolled/);
  });
});

for (const dialect of ['openai', 'ollama']) {
  test(`with a model (${dialect} protocol)`, async (t) => {
    const ms = await startModelServer();
    const url = dialect === 'openai' ? `${ms.url}/v1` : `${ms.url}/api`;
    const srv = await startServer(withLlm(ms, { VEXIL_LLM_URL: url }));
    t.after(async () => { await srv.stop(); await ms.close(); });

    await t.test('rollout: an INCREASE against the guard\'s rollback is refused, then ROLLBACK', async () => {
      ms.reset();
      ms.script(
        { kind: 'answer', content: { recommendation: 'INCREASE', nextPercent: 50, explanation: 'Looks fine at 25%.', confidence: 0.9 } },
        { kind: 'answer', content: { recommendation: 'ROLLBACK', nextPercent: 0, explanation: 'error_rate 0.0213 vs 0.0100: the guard rolled back.', confidence: 0.95 } },
      );
      const r = await post(srv, 'rollout', { status: status('rolled_back', ROLLED) });
      assert.equal(r.status, 200, show(r));
      assert.equal(r.json.advisor, 'model:test-model');
      assert.equal(r.json.recommendation, 'ROLLBACK');
      assert.equal(r.json.attempts, 2);
      const retry = ms.chats()[1].json.messages.find((m) => m.role === 'user').content;
      assert.match(retry, /only ROLLBACK is possible/);
      const data = userData(ms.chats()[0]);
      assert.equal(data.statistics.metrics[0].treatment, 0.0213);
      // The one-sided bound that agrees with the verdict reaches the model.
      assert.ok(Math.abs(data.statistics.metrics[0].harmBound - (0.0213 - data.statistics.metrics[0].control - 0.002)) < 1e-12);
    });

    await t.test('rollout: an INCREASE past the next milestone is refused twice: 502, nothing stored', async () => {
      ms.reset();
      const before = (await allEvents(srv, 'type=advisor-recommendation')).length;
      const bad = { kind: 'answer', content: { recommendation: 'INCREASE', nextPercent: 100, explanation: 'All good at 0.0099.', confidence: 0.9 } };
      ms.script(bad, bad);
      const r = await post(srv, 'rollout', { status: status('running', HEALTHY) });
      assert.equal(r.status, 502, show(r));
      assert.equal(r.json.details[0].path, '/nextPercent');
      assert.equal((await allEvents(srv, 'type=advisor-recommendation')).length, before);
    });

    await t.test('rollout: a valid model answer', async () => {
      ms.reset();
      ms.script({ kind: 'answer', content: { recommendation: 'INCREASE', nextPercent: 25, explanation: 'error_rate 0.0099 vs 0.0101, conversion steady: go to 25%.', confidence: 0.8 } });
      const r = await post(srv, 'rollout', { status: status('running', HEALTHY) });
      assert.equal(r.status, 200, show(r));
      assert.equal(r.json.nextPercent, 25);
      assert.equal(r.json.autoApply.applied, false);
    });

    await t.test('plan: a high-risk plan starting at 50% is refused, then a careful one', async () => {
      ms.reset();
      const metrics = [{ kind: 'error_rate', direction: 'higher-is-worse', tolerance: 0 }];
      ms.script(
        { kind: 'answer', content: { milestones: [{ percent: 50, minDurationSeconds: 600 }, { percent: 100, minDurationSeconds: 0 }], metrics, mode: 'approval', rollback: 'disable', explanation: 'Fast.' } },
        { kind: 'answer', content: { milestones: [{ percent: 1, minDurationSeconds: 3600 }, { percent: 10, minDurationSeconds: 3600 }, { percent: 100, minDurationSeconds: 0 }], metrics, mode: 'approval', rollback: 'disable', explanation: 'Careful.' } },
      );
      const r = await post(srv, 'plan', { description: 'Payment rewrite; owner carol@corp.example at 10.9.8.7', risk: 'high' });
      assert.equal(r.status, 200, show(r));
      assert.equal(r.json.attempts, 2);
      assert.equal(r.json.plan.milestones[0].percent, 1);
      const data = userData(ms.chats()[0]);
      assert.equal(data.description, 'Payment rewrite; owner [redacted] at [redacted]');
      assert.equal(data.risk, 'high');
    });

    await t.test('incident: a summary that does not name the culprit is refused once', async () => {
      ms.reset();
      ms.script(
        { kind: 'answer', content: { title: 'Rollback', summary: 'Something went wrong.', impact: 'Some users.', nextSteps: ['Look.'] } },
        { kind: 'answer', content: { title: 'checkout rolled back', summary: 'The error rate doubled (0.0213 vs 0.0100).', impact: '25% of users.', nextSteps: ['Find the cause.'] } },
      );
      const r = await post(srv, 'incident', { event: EVENT });
      assert.equal(r.status, 200, show(r));
      assert.equal(r.json.attempts, 2);
      assert.match(r.json.incident.summary, /error rate/);
      const data = userData(ms.chats()[0]);
      assert.equal(data.culprit.kind, 'error_rate');
      assert.ok(!('createdBy' in data));
    });

    await t.test('a model that cannot be reached: the deterministic advisor answers', async () => {
      ms.reset();
      ms.script({ kind: 'status', code: 500 }, { kind: 'status', code: 500 }, { kind: 'status', code: 500 });
      const r = await post(srv, 'incident', { event: EVENT });
      assert.equal(r.status, 200, show(r));
      assert.equal(r.json.advisor, 'deterministic');
      assert.ok(r.json.modelError);
    });

    await t.test('nothing identifying reached the model server', () => {
      const all = ms.allText();
      for (const s of [...SECRETS, 'carol@corp.example']) assert.ok(!all.includes(s), `${s} was sent`);
    });
  });
}

// Against the real plan API (src/service/plans.c): the scheduler ticks every
// 100 ms over synthetic traffic posted to /api/client/impact, as in
// tests/integration/plans.test.js.
test('against the plan API: proposals it accepts, advice on live plans, the policy acting', async (t) => {
  const client = clientSecret('default', 'production');
  const srv = await startServer({ clientTokens: [client], env: { VEXIL_SCHEDULER_INTERVAL_MS: '100', VEXIL_ADVISOR_AUTO_APPLY: 'hold,rollback' } });
  t.after(() => srv.stop());
  for (const f of ['proposed', 'regressed', 'fresh', 'approval']) {
    const r = await srv.api('POST', FEAT, { body: { name: f } });
    assert.equal(r.status, 201, show(r));
  }

  await t.test('a proposed plan is accepted by the plan API as it is', async () => {
    for (const risk of ['low', 'medium', 'high']) {
      const a = await post(srv, 'plan', { description: 'New checkout with a faster search API', risk });
      assert.equal(a.status, 200, show(a));
      const r = await srv.api('PUT', `${ENVP('proposed')}/release-plan`, { body: a.json.plan });
      assert.equal(r.status, 200, `${risk}: ${show(r)}`);
      assert.equal(r.json.plan.milestones.length, a.json.plan.milestones.length);
      assert.equal((await srv.api('DELETE', `${ENVP('proposed')}/release-plan`)).status, 200);
    }
  });

  await t.test('a guard rollback: ROLLBACK advice, not applied again; the incident from its audit event', async () => {
    let r = await srv.api('PUT', `${ENVP('regressed')}/release-plan`, { body: {
      milestones: [{ percent: 5, minExposures: 600 }, { percent: 25, minExposures: 1500 }, { percent: 100 }],
      metrics: [{ kind: 'error_rate' }] } });
    assert.equal(r.status, 200, show(r));
    const p = await drive(srv, client, 'regressed', { trt: 0.05, until: (x) => x.state === 'rolled-back' });
    assert.equal(p.state, 'rolled-back');
    const before = await allEvents(srv, 'type=release-plan-rolled-back');
    r = await post(srv, 'rollout', { flag: 'regressed' });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.recommendation, 'ROLLBACK');
    assert.equal(r.json.autoApply.applied, false);
    assert.match(r.json.autoApply.reason, /already rolled/);
    assert.equal((await allEvents(srv, 'type=release-plan-rolled-back')).length, before.length, 'no second rollback');

    const ev = before.find((e) => e.featureName === 'regressed');
    assert.ok(ev, 'the guard audited its rollback');
    r = await post(srv, 'incident', { eventId: ev.id });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.facts.culprit.kind, 'error_rate');
    assert.match(r.json.incident.summary, /rolled back regressed in production/);
    assert.match(r.json.incident.summary, /error_rate was worse in the treatment/);

    const env = { ...process.env, VEXIL_TOKEN: srv.adminToken, VEXIL_SERVER: srv.url };
    let c = spawnSync(srv.bin, ['advise', 'rollout', 'regressed'], { env, encoding: 'utf8' });
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /^recommendation: ROLLBACK to 0% /m);
    c = spawnSync(srv.bin, ['advise', 'incident', String(ev.id)], { env, encoding: 'utf8' });
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /^title: The guard rolled back regressed in production$/m);
  });

  await t.test('HOLD while the guard itself holds: nothing to apply', async () => {
    let r = await srv.api('PUT', `${ENVP('fresh')}/release-plan`, { body: { milestones: [{ percent: 10 }, { percent: 100 }], guard: 'none' } });
    assert.equal(r.status, 200, show(r));
    r = await post(srv, 'rollout', { flag: 'fresh' });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.recommendation, 'HOLD');
    assert.equal(r.json.autoApply.applied, false);
    assert.match(r.json.autoApply.reason, /holding this plan already/);
    assert.equal((await planOf(srv, 'fresh')).state, 'running');
  });

  await t.test('INCREASE on a plan waiting for approval is never applied', async () => {
    let r = await srv.api('PUT', `${ENVP('approval')}/release-plan`, { body: {
      milestones: [{ percent: 5, minExposures: 600 }, { percent: 50 }, { percent: 100 }], metrics: [{ kind: 'error_rate' }], mode: 'approval' } });
    assert.equal(r.status, 200, show(r));
    const p = await drive(srv, client, 'approval', { until: (x) => x.state === 'waiting-approval' });
    r = await post(srv, 'rollout', { flag: 'approval' });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.recommendation, 'INCREASE');
    assert.equal(r.json.nextPercent, 50);
    assert.equal(r.json.autoApply.applied, false);
    const after = await planOf(srv, 'approval');
    assert.equal(after.state, 'waiting-approval');
    assert.equal(after.milestone, p.milestone);
  });
});

test('against the plan API with a model: the policy pauses and rolls back, for editors only', async (t) => {
  const ms = await startModelServer();
  const client = clientSecret('default', 'production');
  const srv = await startServer({ clientTokens: [client], env: {
    VEXIL_SCHEDULER_INTERVAL_MS: '100', VEXIL_ADVISOR_AUTO_APPLY: 'hold,rollback',
    VEXIL_LLM_URL: ms.url, VEXIL_LLM_MODEL: 'test-model', VEXIL_LLM_TIMEOUT_MS: '2000' } });
  t.after(async () => { await srv.stop(); await ms.close(); });
  let r = await srv.api('POST', FEAT, { body: { name: 'held' } });
  assert.equal(r.status, 201, show(r));
  r = await srv.api('PUT', `${ENVP('held')}/release-plan`, { body: {
    milestones: [{ percent: 5, minExposures: 600 }, { percent: 50 }, { percent: 100 }], metrics: [{ kind: 'error_rate' }], mode: 'approval' } });
  assert.equal(r.status, 200, show(r));
  await drive(srv, client, 'held', { until: (x) => x.state === 'waiting-approval' });
  const viewer = await srv.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'adv-viewer', type: 'admin', role: 'viewer' } });
  assert.equal(viewer.status, 201, show(viewer));
  const HOLD = { kind: 'answer', content: { recommendation: 'HOLD', nextPercent: 5, explanation: 'error_rate 0.0101 vs 0.0099: hold at 5% one more day.', confidence: 0.6 } };

  await t.test('a viewer asking: the policy does not act', async () => {
    ms.reset();
    ms.script(HOLD);
    const v = await srv.api('POST', '/api/admin/advisor/rollout', { token: viewer.json.secret, body: { flag: 'held' } });
    assert.equal(v.status, 200, show(v));
    assert.equal(v.json.advisor, 'model:test-model');
    assert.equal(v.json.autoApply.applied, false);
    assert.match(v.json.autoApply.reason, /role/);
    assert.equal((await planOf(srv, 'held')).state, 'waiting-approval');
    // The model saw the plan's statistics, not its actor or log.
    const data = userData(ms.chats()[0]);
    assert.equal(data.flag, 'held');
    assert.equal(data.state, 'waiting-approval');
    assert.equal(data.statistics.action, 'wait_approval');
    assert.ok(!JSON.stringify(ms.chats()[0].json).includes(srv.adminToken.slice(0, 16)));
  });

  await t.test('HOLD or ROLLBACK against a healthy guard: the model alone changes nothing', async () => {
    for (const answer of [HOLD, { kind: 'answer', content: { recommendation: 'ROLLBACK', nextPercent: 0, explanation: 'Roll back: error_rate 0.0101 vs 0.0099 is fine but the change is suspect.', confidence: 0.5 } }]) {
      ms.reset();
      ms.script(answer);
      const h = await post(srv, 'rollout', { flag: 'held' });
      assert.equal(h.status, 200, show(h));
      assert.equal(h.json.autoApply.applied, false, JSON.stringify(h.json.autoApply));
      assert.match(h.json.autoApply.reason, /guard does not agree/);
      assert.equal(h.json.autoApply.guard.agrees, false);
      assert.equal((await planOf(srv, 'held')).state, 'waiting-approval');
    }
    const ev = (await allEvents(srv, 'type=advisor-recommendation')).filter((e) => e.featureName === 'held');
    assert.ok(ev.length >= 2, 'advisor events name their flag');
  });

  await t.test('ROLLBACK with the guard\'s data missing longer than the plan allows: rolled back, labelled', async () => {
    let r = await srv.api('POST', FEAT, { body: { name: 'silent' } });
    assert.equal(r.status, 201, show(r));
    r = await srv.api('PUT', `${ENVP('silent')}/release-plan`, { body: {
      milestones: [{ percent: 5, minDurationSeconds: 1, minExposures: 600 }, { percent: 100 }], metrics: [{ kind: 'error_rate' }] } });
    assert.equal(r.status, 200, show(r));
    await new Promise((res) => setTimeout(res, 2500)); // no traffic at all
    ms.reset();
    ms.script({ kind: 'answer', content: { recommendation: 'ROLLBACK', nextPercent: 0, explanation: 'No data at 5% for too long: roll back.', confidence: 0.5 } });
    const b = await post(srv, 'rollout', { flag: 'silent' });
    assert.equal(b.status, 200, show(b));
    assert.equal(b.json.autoApply.applied, true, JSON.stringify(b.json.autoApply));
    assert.match(b.json.autoApply.guard.why, /missing for \d+ s, longer than the 1 s the plan allows/);
    assert.equal((await planOf(srv, 'silent')).state, 'rolled-back');
    const ev = (await allEvents(srv, 'type=release-plan-rolled-back')).find((e) => e.featureName === 'silent');
    assert.equal(ev.createdBy, 'advisor-policy');
    assert.match(ev.data.reason, /^rolled back by the advisor-auto-apply policy \(hold,rollback\) on the advice ROLLBACK for silent in production: /);
    assert.ok(!/by hand/.test(ev.data.reason));
    const f = await srv.api('GET', `${FEAT}/silent`);
    const s = f.json.environments.find((e) => e.name === 'production').strategies.find((x) => x.name === 'flexibleRollout');
    assert.equal(s.parameters.rollout, '0');
  });
});
