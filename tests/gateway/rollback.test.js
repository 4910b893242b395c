'use strict';
// A guarded rollout of a new model through the gateway, end to end
// (docs/gateway.md, walk-through; docs/guard.md, release plans): the
// official `openai` client sends chat requests for many distinct users; the
// gateway routes each by the flag, measures each variant and hands its
// batches to the guard's impact metrics; the scheduler (ticking every
// 100 ms) compares the plan's arms and acts.
//
//   * model.chat: control = a good upstream, candidate = a bad one (slower,
//     25 % of its answers are 500s). The plan is rolled back by itself: its
//     state, the flag's rollout at 0, a `release-plan-rolled-back` audit
//     event with the statistics, and from then on every request is served by
//     the control (X-Vexil-Variant), none reaches the bad upstream.
//   * model.next: a model that never fails but is slower, under a plan that
//     guards the (geometric-mean) latency only and rolls back by disabling
//     the flag: the flag is off, the control serves everyone.
//   * model.twin: a candidate as good as the control advances.
//
//   tests/gateway/run.sh tests/gateway/rollback.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const OpenAI = require('openai');
const { startModelServer } = require('../support/model_server');
const { startServer, clientSecret, allEvents, sleep } = require('../integration/server');
const { gatewayHelpers, stopAll } = require('./support');

const FEAT = '/api/admin/projects/default/features';
const ENV = (flag) => `${FEAT}/${flag}/environments/production`;

let good;
let bad;
let twin;
let slow;
let srv;
let client;

const { admin } = gatewayHelpers(() => ({ srv }));

function upstream(ms, model) {
  return { type: 'json', value: JSON.stringify({ base_url: `${ms.url}/v1`, model, timeout_ms: 5000 }) };
}

// A gateway flag as the walk-through sets it up: every user the flag is on
// for gets the candidate (weight 1000), everyone else the control.
async function gatewayFlag(flag, control, candidate) {
  await admin('POST', FEAT, { name: flag });
  await admin('PUT', `${ENV(flag)}/variants`, [
    { name: 'control', weight: 0, weightType: 'fix', stickiness: 'default', payload: control },
    { name: 'candidate', weight: 1000, weightType: 'fix', stickiness: 'default', payload: candidate },
  ]);
}

async function chat(alias, user) {
  const { data, response } = await client.chat.completions
    .create({ model: alias, user, messages: [{ role: 'user', content: 'hello' }] })
    .withResponse();
  return {
    model: data.model,
    variant: response.headers.get('x-vexil-variant'),
    from: response.headers.get('x-vexil-fallback-from'),
  };
}

function rolloutOf(feature) {
  const env = feature.environments.find((e) => e.name === 'production');
  const s = env.strategies.find((x) => x.name === 'flexibleRollout');
  return { enabled: env.enabled, rollout: s ? s.parameters.rollout : null };
}

// Sends rounds of requests from fresh users until `done(plan)` holds.
async function drive(alias, flag, done, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  const seen = { control: 0, candidate: 0, fallbacks: 0 };
  let n = 0;
  let p;
  while (Date.now() < deadline) {
    p = await admin('GET', `${ENV(flag)}/release-plan`);
    if (done(p)) return { plan: p, seen };
    const got = await Promise.all(Array.from({ length: 40 }, () => chat(alias, `${alias}-user-${n++}`)));
    for (const g of got) {
      seen[g.from || g.variant]++;
      if (g.from) seen.fallbacks++;
    }
  }
  throw new Error(`plan of ${flag}: ${JSON.stringify({ state: p.state, milestone: p.milestone, last: p.last, seen })}`);
}

test.before(async () => {
  good = await startModelServer({ models: ['llama3.2:1b'] });
  bad = await startModelServer({ models: ['qwen2.5:1.5b'], latencyMs: 40, failRate: 0.25, seed: 11 });
  twin = await startModelServer({ models: ['llama3.2:1b-q8'] });
  slow = await startModelServer({ models: ['qwen2.5:3b'], latencyMs: 40 });
  const token = clientSecret('default', 'production');
  srv = await startServer({
    clientTokens: [token],
    env: { VEXIL_GATEWAY_FLUSH_MS: '200', VEXIL_SCHEDULER_INTERVAL_MS: '100', VEXIL_EGRESS_ALLOW: '127.0.0.1' },
  });
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: token, maxRetries: 0 });
});

test.after(() => stopAll(srv, good, bad, twin, slow));

test('a guarded rollout of a bad model is rolled back by itself', async () => {
  await gatewayFlag('model.chat', upstream(good, 'llama3.2:1b'), upstream(bad, 'qwen2.5:1.5b'));
  const started = await admin('PUT', `${ENV('model.chat')}/release-plan`, {
    milestones: [{ percent: 20, minExposures: 2000 }, { percent: 50 }, { percent: 100 }],
    metrics: [{ kind: 'error_rate' }],
    mode: 'auto',
    rollback: 'rollout-zero',
  });
  assert.equal(started.state, 'running');
  assert.deepEqual(rolloutOf(await admin('GET', `${FEAT}/model.chat`)), { enabled: true, rollout: '20' });

  // The first requests after the start count in the plan's first epoch as
  // soon as the gateway's next batch is in (a batch stamped with the start
  // of its minute fell before the plan and counted nowhere).
  const first = await Promise.all(Array.from({ length: 40 }, (_, i) => chat('chat', `first-${i}`)));
  assert.equal(first.filter((g) => (g.from || g.variant) === 'candidate').length > 0, true);
  let counted = 0;
  for (let i = 0; i < 30 && counted < first.length; i++) {
    await sleep(100);
    const p = await admin('GET', `${ENV('model.chat')}/release-plan`);
    counted = p.last.treatment.requests + p.last.control.requests;
  }
  assert.equal(counted, first.length, 'the first requests of the plan are in its first epoch');

  const { plan, seen } = await drive('chat', 'model.chat', (p) => p.state !== 'running');
  assert.equal(plan.state, 'rolled-back', JSON.stringify(plan.log));
  assert.equal(plan.milestone, 0, 'rolled back before leaving 20 %');
  assert.ok(seen.candidate > 0 && seen.fallbacks > 0, JSON.stringify(seen));
  // The arms the guard compared are the gateway's: the candidate's errors
  // (answered by the control's fallback) against the control's.
  assert.ok(plan.last.treatment.requests >= 100 && plan.last.control.requests >= 100, JSON.stringify(plan.last));
  assert.ok(plan.last.treatment.errors > 0, JSON.stringify(plan.last.treatment));
  assert.equal(plan.last.control.errors, 0);
  assert.deepEqual(rolloutOf(await admin('GET', `${FEAT}/model.chat`)), { enabled: true, rollout: '0' });

  const evs = await allEvents(srv, 'type=release-plan-rolled-back&feature=model.chat');
  assert.equal(evs.length, 1);
  assert.equal(evs[0].createdBy, 'scheduler');
  const m = evs[0].data.statistics.metrics[0];
  assert.equal(evs[0].data.statistics.action, 'rollback');
  assert.equal(m.kind, 'error_rate');
  assert.equal(m.regression, true);
  assert.ok(m.treatment > m.control, JSON.stringify(m));
  assert.ok(m.p < 0.05, JSON.stringify(m));
  assert.equal(evs[0].data.statistics.srm.mismatch, false, 'the arms had the plan\'s split');
  // The gateway's latency reached the plan too: the bad model is slower.
  assert.ok(plan.last.treatment.latencyMeanMs > plan.last.control.latencyMeanMs + 20, JSON.stringify(plan.last));

  // From now on the control serves everyone, the candidate's users too,
  // without a fallback: the bad upstream gets nothing more.
  const calls = bad.chats().length;
  const after = await Promise.all(Array.from({ length: 200 }, (_, i) => chat('chat', `chat-user-${i}`)));
  for (const a of after) {
    assert.equal(a.variant, 'control');
    assert.equal(a.from, null);
    assert.equal(a.model, 'llama3.2:1b');
  }
  assert.equal(bad.chats().length, calls);
});

test('a slower model is rolled back on latency, by disabling the flag', async () => {
  await gatewayFlag('model.next', upstream(good, 'llama3.2:1b'), upstream(slow, 'qwen2.5:3b'));
  await admin('PUT', `${ENV('model.next')}/release-plan`, {
    milestones: [{ percent: 30, minExposures: 5000 }, { percent: 100 }],
    metrics: [{ kind: 'latency', tolerance: 0.2 }],
    rollback: 'disable',
  });
  const { plan, seen } = await drive('next', 'model.next', (p) => p.state !== 'running');
  assert.equal(plan.state, 'rolled-back', JSON.stringify(plan.log));
  assert.equal(seen.fallbacks, 0, 'no errors: only the latency is worse');
  assert.equal(rolloutOf(await admin('GET', `${FEAT}/model.next`)).enabled, false);
  const evs = await allEvents(srv, 'type=release-plan-rolled-back&feature=model.next');
  assert.equal(evs.length, 1);
  assert.equal(evs[0].data.rollback, 'disable');
  const m = evs[0].data.statistics.metrics[0];
  assert.equal(m.kind, 'latency');
  assert.equal(m.evaluated, true);
  assert.equal(m.regression, true, JSON.stringify(m));
  const calls = slow.chats().length;
  const after = await Promise.all(Array.from({ length: 100 }, (_, i) => chat('next', `next-user-${i}`)));
  assert.ok(after.every((a) => a.variant === 'control' && a.from === null), JSON.stringify(after[0]));
  assert.equal(slow.chats().length, calls);
});

test('a candidate as good as the control advances', async () => {
  await gatewayFlag('model.twin', upstream(good, 'llama3.2:1b'), upstream(twin, 'llama3.2:1b-q8'));
  await admin('PUT', `${ENV('model.twin')}/release-plan`, {
    milestones: [{ percent: 20, minExposures: 150 }, { percent: 60, minExposures: 400 }, { percent: 100 }],
    metrics: [{ kind: 'error_rate' }],
    mode: 'auto',
    rollback: 'rollout-zero',
  });
  const { plan } = await drive('twin', 'model.twin', (p) => p.state !== 'running' || p.milestone >= 1);
  assert.equal(plan.state === 'running' || plan.state === 'completed', true, JSON.stringify(plan.log));
  assert.ok(plan.milestone >= 1, JSON.stringify(plan.log));
  assert.deepEqual(plan.log.filter((e) => e.action === 'advance').map((e) => e.percent)[0], 60);
  const pct = rolloutOf(await admin('GET', `${FEAT}/model.twin`)).rollout;
  assert.ok(Number(pct) >= 60, `rollout ${pct}`);
  assert.equal((await allEvents(srv, 'type=release-plan-rolled-back&feature=model.twin')).length, 0);
  // The users the flag is on for now include the candidate's.
  const got = await Promise.all(Array.from({ length: 100 }, (_, i) => chat('twin', `twin-user-${i}`)));
  assert.ok(got.some((g) => g.variant === 'candidate' && g.model === 'llama3.2:1b-q8'));
  assert.ok(got.some((g) => g.variant === 'control'));
});
