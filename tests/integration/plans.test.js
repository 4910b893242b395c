'use strict';
// Guarded release plans end to end (docs/guard.md, "Release plans"): whole
// rollouts driven through the HTTP API with synthetic traffic posted to
// /api/client/impact while the server's scheduler ticks every 100 ms.
// A healthy plan reaches 100 % by itself; a 2x error-rate regression is
// rolled back with the statistics in the audit event and a webhook call; a
// restart in the middle resumes the plan; approval mode waits; a scheduled
// change fires; bad input is refused with the field path.
//
//   node --test tests/integration/plans.test.js     (VEXIL_BIN: the binary)

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

// One "minute" of traffic at the plan's current percentage: `total`
// requests split exactly by the rollout, errors at the given rates
// (deterministic counts: the statistics are tested in the unit tests; this
// test checks what the server does with their verdict).
function batch(flag, percent, total, ctlRate, trtRate, id, at) {
  const t = Math.round((total * percent) / 100);
  const c = total - t;
  const metrics = [];
  if (c > 0) metrics.push({ flag, at, enabled: false, requests: c, errors: Math.round(c * ctlRate), latencyMs: [100, 120, 150] });
  if (t > 0) metrics.push({ flag, at, variant: 'on', enabled: true, requests: t, errors: Math.round(t * trtRate), latencyMs: [100, 121, 149] });
  return id ? { batchId: id, metrics } : { metrics };
}

async function plan(srv, flag) {
  return must(srv, 'GET', `${ENV(flag)}/release-plan`, undefined, 200);
}

function rolloutOf(featureJson) {
  const env = featureJson.environments.find((e) => e.name === 'production');
  const s = env.strategies.find((x) => x.name === 'flexibleRollout');
  return { enabled: env.enabled, rollout: s ? s.parameters.rollout : null };
}

// Posts traffic until the plan leaves `running`/`waiting-approval` or
// `until(plan)` holds; returns the last plan seen.
async function drive(srv, client, flag, { ctl = 0.01, trt = 0.01, total = 4000, until, timeoutMs = 30000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let seen = new Date().toISOString();
  let p = await plan(srv, flag);
  while (Date.now() < deadline) {
    if (until ? until(p) : !['running', 'waiting-approval'].includes(p.state)) return p;
    // The traffic was served at the percentage read at `seen`: its "at"
    // puts it in that epoch even if the plan advanced meanwhile. An
    // audience stage (segments, constraints) serves its audience, here a
    // tenth of the traffic: the rest is the control.
    const ms = p.plan.milestones[p.milestone];
    const pct = ms.segments || ms.constraints ? 10 : ms.percent;
    const r = await request(srv.url, 'POST', '/api/client/impact', { token: client, body: batch(flag, pct, total, ctl, trt, undefined, seen) });
    assert.equal(r.status, 202, show(r));
    await sleep(60);
    seen = new Date().toISOString();
    p = await plan(srv, flag);
  }
  throw new Error(`plan of ${flag} did not finish: ${JSON.stringify({ state: p.state, milestone: p.milestone, last: p.last })}`);
}

function receiver() {
  const calls = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      calls.push({ method: req.method, type: req.headers['content-type'], body: JSON.parse(body) });
      res.writeHead(204);
      res.end();
    });
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ srv, calls, url: `http://127.0.0.1:${srv.address().port}/hook` })));
}

test('healthy and regressed rollouts, webhooks, approval, validation', async () => {
  const client = clientSecret('default', 'production');
  const srv = await startServer({ adminTokens: [adminSecret()], clientTokens: [client],
    env: { ...TICK_ENV, VEXIL_EGRESS_ALLOW: '127.0.0.1' } });
  const hook = await receiver();
  try {
    for (const f of ['healthy', 'regressed', 'approve']) await must(srv, 'POST', FEAT, { name: f }, 201);

    // Bad input names the field.
    let r = await srv.api('PUT', `${ENV('healthy')}/release-plan`, { body: { milestones: [{ percent: 50 }, { percent: 10 }] } });
    assert.equal(r.status, 400, show(r));
    assert.equal(r.json.details[0].path, '/milestones/1/percent');
    r = await srv.api('PUT', `${ENV('healthy')}/release-plan`, { body: { milestones: [{ percent: 10 }], metrics: [{ kind: 'nope' }] } });
    assert.equal(r.status, 400);
    assert.equal(r.json.details[0].path, '/metrics/0/kind');
    r = await srv.api('PUT', `${ENV('healthy')}/release-plan`, { body: { milestones: [{ percent: 10 }], webhooks: ['ftp://x'] } });
    assert.equal(r.json.details[0].path, '/webhooks/0');
    r = await request(srv.url, 'POST', '/api/client/impact', { token: client, body: { metrics: [{ flag: 'healthy', enabled: true, requests: 5, errors: 6 }] } });
    assert.equal(r.status, 400, show(r));
    assert.equal(r.json.details[0].path, '/metrics/0/errors');
    r = await request(srv.url, 'POST', '/api/client/impact', { token: client, body: { metrics: [{ flag: 'healthy', requests: 5 }] } });
    assert.equal(r.json.details[0].path, '/metrics/0/enabled');
    r = await request(srv.url, 'POST', '/api/client/impact', { token: srv.adminToken, body: { metrics: [] } });
    assert.equal(r.status, 403, show(r));
    r = await srv.api('GET', `${ENV('healthy')}/release-plan`);
    assert.equal(r.status, 404);

    // Healthy: 5 -> 25 -> 50 -> 100 by itself.
    const healthy = await must(srv, 'PUT', `${ENV('healthy')}/release-plan`, {
      milestones: [{ percent: 5, minExposures: 600 }, { percent: 25, minExposures: 1500 }, { percent: 50, minExposures: 2500 }, { percent: 100 }],
      metrics: [{ kind: 'error_rate' }, { kind: 'latency', tolerance: 0.2 }],
      webhooks: [hook.url],
    }, 200);
    assert.equal(healthy.state, 'running');
    assert.deepEqual(rolloutOf(await must(srv, 'GET', `${FEAT}/healthy`, undefined, 200)), { enabled: true, rollout: '5' });
    const hp = await drive(srv, client, 'healthy');
    assert.equal(hp.state, 'completed', JSON.stringify(hp.log));
    assert.deepEqual(hp.log.filter((e) => e.action === 'advance').map((e) => e.percent), [25, 50, 100]);
    assert.deepEqual(rolloutOf(await must(srv, 'GET', `${FEAT}/healthy`, undefined, 200)), { enabled: true, rollout: '100' });
    assert.ok(hp.last.treatment.requests > 0 && hp.last.control.requests > 0);
    assert.equal(hp.epochs.length, 4);

    // Idempotent batch ids: a repeat is accepted and ignored.
    const before = (await plan(srv, 'healthy')).last.treatment.requests;
    for (let i = 0; i < 2; i++) {
      r = await request(srv.url, 'POST', '/api/client/impact', { token: client, body: batch('healthy', 50, 1000, 0, 0, 'dup-1') });
      assert.equal(r.status, 202);
    }
    assert.equal((await plan(srv, 'healthy')).last.treatment.requests, before, 'a completed plan no longer counts');

    // Regressed: the treatment's error rate is twice the control's.
    await must(srv, 'PUT', `${ENV('regressed')}/release-plan`, {
      milestones: [{ percent: 5, minExposures: 20000 }, { percent: 25 }, { percent: 100 }],
      metrics: [{ kind: 'error_rate' }],
      rollback: 'rollout-zero',
      webhooks: [hook.url],
    }, 200);
    const rp = await drive(srv, client, 'regressed', { ctl: 0.01, trt: 0.02 });
    assert.equal(rp.state, 'rolled-back', JSON.stringify(rp.log));
    assert.equal(rp.milestone, 0, 'rolled back before passing 5 %');
    assert.deepEqual(rolloutOf(await must(srv, 'GET', `${FEAT}/regressed`, undefined, 200)), { enabled: true, rollout: '0' });
    const evs = await allEvents(srv, 'type=release-plan-rolled-back&feature=regressed');
    assert.equal(evs.length, 1);
    const stats = evs[0].data.statistics;
    assert.equal(stats.action, 'rollback');
    assert.equal(stats.metrics[0].kind, 'error_rate');
    assert.equal(stats.metrics[0].regression, true);
    assert.ok(stats.metrics[0].treatment > stats.metrics[0].control, JSON.stringify(stats.metrics[0]));
    assert.ok(stats.metrics[0].p < 0.05);
    // The one-sided bound that goes with the rollback is beyond the margin
    // (the two-sided csLow/csHigh stay for compatibility).
    const m0 = stats.metrics[0];
    assert.ok(m0.harmBound >= m0.margin && m0.harmBound <= m0.diff, JSON.stringify(m0));
    assert.ok(Number.isFinite(m0.csLow) && Number.isFinite(m0.csHigh));
    assert.equal(evs[0].createdBy, 'scheduler');
    for (let i = 0; i < 50 && !hook.calls.some((c) => c.body.event === 'release-plan-rolled-back'); i++) await sleep(100);
    const call = hook.calls.find((c) => c.body.event === 'release-plan-rolled-back');
    assert.ok(call, `webhook calls: ${JSON.stringify(hook.calls.map((c) => c.body.event))}`);
    assert.equal(call.type, 'application/json');
    assert.equal(call.body.feature, 'regressed');
    assert.equal(call.body.statistics.metrics[0].kind, 'error_rate');
    assert.ok(hook.calls.some((c) => c.body.event === 'release-plan-completed' && c.body.feature === 'healthy'));

    // Approval mode waits at each milestone until a person approves.
    await must(srv, 'PUT', `${ENV('approve')}/release-plan`, {
      milestones: [{ percent: 10, minExposures: 200 }, { percent: 100 }], metrics: [{ kind: 'error_rate' }], mode: 'approval',
    }, 200);
    let ap = await drive(srv, client, 'approve', { until: (p) => p.state !== 'running' });
    assert.equal(ap.state, 'waiting-approval');
    await sleep(500);
    ap = await plan(srv, 'approve');
    assert.equal(ap.state, 'waiting-approval');
    assert.equal(ap.milestone, 0);
    assert.equal(rolloutOf(await must(srv, 'GET', `${FEAT}/approve`, undefined, 200)).rollout, '10');
    await must(srv, 'POST', `${ENV('approve')}/release-plan/approve`, undefined, 200);
    ap = await drive(srv, client, 'approve');
    assert.equal(ap.state, 'completed');
    assert.ok(ap.log.some((e) => e.action === 'approve'));

    // Manual actions: pause/resume/rollback are audited; unknown actions 404.
    r = await srv.api('POST', `${ENV('approve')}/release-plan/pause`);
    assert.equal(r.status, 409, show(r));
    r = await srv.api('POST', `${ENV('approve')}/release-plan/explode`);
    assert.equal(r.status, 404, show(r));
    const list = await must(srv, 'GET', '/api/admin/release-plans', undefined, 200);
    assert.equal(list.plans.length, 3);
  } finally {
    hook.srv.close();
    await srv.stop();
    removeTempDir(srv.dir);
  }
});

test('a restart in the middle of a plan resumes it; manual pause, resume, skip', async () => {
  const client = clientSecret('default', 'production');
  const admin = adminSecret();
  let srv = await startServer({ adminTokens: [admin], clientTokens: [client], env: TICK_ENV });
  const { dbPath, dir } = srv;
  try {
    await must(srv, 'POST', FEAT, { name: 'durable' }, 201);
    const started = await must(srv, 'PUT', `${ENV('durable')}/release-plan`, {
      milestones: [{ percent: 10, minExposures: 800 }, { percent: 30, minExposures: 2000 }, { percent: 60, minExposures: 4000 }, { percent: 100 }],
      metrics: [{ kind: 'error_rate' }],
    }, 200);
    let p = await drive(srv, client, 'durable', { until: (x) => x.milestone >= 1 });
    assert.equal(p.milestone, 1);
    await srv.stop();
    srv = await startServer({ dbPath, adminTokens: [admin], clientTokens: [client], env: TICK_ENV });
    p = await plan(srv, 'durable');
    assert.equal(p.run, started.run, 'the same plan run continues');
    assert.equal(p.milestone, 1);
    assert.equal(p.state, 'running');

    // Pause by hand: no advance while paused, whatever the traffic.
    await must(srv, 'POST', `${ENV('durable')}/release-plan/pause`, undefined, 200);
    for (let i = 0; i < 5; i++) {
      await request(srv.url, 'POST', '/api/client/impact', { token: client, body: batch('durable', 30, 4000, 0.01, 0.01) });
      await sleep(100);
    }
    p = await plan(srv, 'durable');
    assert.equal(p.state, 'paused');
    assert.equal(p.milestone, 1);
    await must(srv, 'POST', `${ENV('durable')}/release-plan/resume`, undefined, 200);
    // Skip jumps a milestone by hand.
    p = await must(srv, 'POST', `${ENV('durable')}/release-plan/skip`, undefined, 200);
    assert.equal(p.milestone, 2);
    p = await drive(srv, client, 'durable');
    assert.equal(p.state, 'completed', JSON.stringify(p.log));
    const actions = p.log.map((e) => e.action);
    for (const a of ['start', 'advance', 'pause', 'resume', 'complete']) assert.ok(actions.includes(a), actions.join(','));
    const types = (await allEvents(srv, 'feature=durable')).map((e) => e.type);
    for (const t of ['release-plan-started', 'release-plan-advanced', 'release-plan-paused', 'release-plan-resumed', 'release-plan-completed']) {
      assert.ok(types.includes(t), `${t} in ${types.join(',')}`);
    }
    // The CLI shows the plan and rolls it back by hand (rollout 0).
    const cli = (...args) => execFileSync(srv.bin, [...args, '--server', srv.url, '--token', admin], { encoding: 'utf8' });
    const shown = cli('plans', 'show', 'durable', '--env', 'production');
    assert.match(shown, /durable in production: completed, milestone 4 of 4 \(100 %\)/);
    assert.match(shown, /advance at 30 % by scheduler: the milestone is done with no regression/);
    assert.match(shown, /advance at 60 % by init-admin: milestone skipped by hand/);
    assert.match(cli('plans', 'list'), /durable\s+production\s+completed\s+100/);
    assert.match(cli('plans', 'rollback', 'durable', '--env', 'production'), /rolled-back/);
    assert.equal(rolloutOf(await must(srv, 'GET', `${FEAT}/durable`, undefined, 200)).rollout, '0');
    assert.throws(() => cli('plans', 'resume', 'durable', '--env', 'production'), /not paused/);
    // `plans start` reads the plan from standard input; errors name the field.
    const started2 = execFileSync(srv.bin, ['plans', 'start', 'durable', '--env', 'production', '--json', '--server', srv.url, '--token', admin],
      { encoding: 'utf8', input: JSON.stringify({ preset: 'percentage-steps', minDurationSeconds: 3600, guard: 'none' }) });
    const sp = JSON.parse(started2);
    assert.deepEqual(sp.plan.milestones.map((m) => m.percent), [1, 5, 10, 25, 50, 75, 100]);
    assert.equal(sp.plan.milestones[2].minDurationSeconds, 3600);
    assert.notEqual(sp.run, started.run, 'a new run');
    assert.equal(rolloutOf(await must(srv, 'GET', `${FEAT}/durable`, undefined, 200)).rollout, '1');
    assert.throws(() => execFileSync(srv.bin, ['plans', 'start', 'durable', '--env', 'production', '--server', srv.url, '--token', admin],
      { encoding: 'utf8', input: '{"milestones":[{"percent":0}]}', stdio: ['pipe', 'pipe', 'pipe'] }), /\/milestones\/0\/percent/);
    await must(srv, 'DELETE', `${ENV('durable')}/release-plan`, undefined, 200);
    assert.equal((await srv.api('GET', `${ENV('durable')}/release-plan`)).status, 404);
  } finally {
    await srv.stop();
    removeTempDir(dir);
  }
});

test('a scheduled change fires at its time, audited; the stale report', async () => {
  const srv = await startServer({ env: TICK_ENV });
  try {
    await must(srv, 'POST', FEAT, { name: 'launch' }, 201);
    let r = await srv.api('POST', `${ENV('launch')}/scheduled-changes`, { body: { at: 'tomorrow', action: 'enable' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.details[0].path, '/at');
    r = await srv.api('POST', `${ENV('launch')}/scheduled-changes`, { body: { at: new Date().toISOString(), action: 'rollout' } });
    assert.equal(r.json.details[0].path, '/percent');
    r = await srv.api('POST', `${ENV('launch')}/scheduled-changes`, { body: { at: new Date().toISOString(), action: 'enable', repeat: 'hourly' } });
    assert.equal(r.json.details[0].path, '/repeat');
    const at = new Date(Date.now() + 700).toISOString();
    const later = new Date(Date.now() + 3600e3).toISOString();
    await must(srv, 'POST', `${ENV('launch')}/scheduled-changes`, { at, action: 'enable' }, 201);
    await must(srv, 'POST', `${ENV('launch')}/scheduled-changes`, { at: later, action: 'disable' }, 201);
    // A recurring change (half of a business-hours window) moves to the
    // next day once it has run.
    const dailyAt = Date.now() + 500;
    const daily = await must(srv, 'POST', `${ENV('launch')}/scheduled-changes`, { at: new Date(dailyAt).toISOString(), action: 'rollout', percent: 100, repeat: 'daily' }, 201);
    let f = await must(srv, 'GET', `${FEAT}/launch`, undefined, 200);
    assert.equal(f.environments.find((e) => e.name === 'production').enabled, false);
    for (let i = 0; i < 50; i++) {
      f = await must(srv, 'GET', `${FEAT}/launch`, undefined, 200);
      if (f.environments.find((e) => e.name === 'production').enabled) break;
      await sleep(100);
    }
    assert.equal(f.environments.find((e) => e.name === 'production').enabled, true);
    const applied = await allEvents(srv, 'type=scheduled-change-applied&feature=launch');
    assert.ok(applied.length >= 1);
    assert.equal(applied[0].createdBy, 'scheduler');
    let pending;
    for (let i = 0; i < 50; i++) {
      pending = await must(srv, 'GET', `${ENV('launch')}/scheduled-changes`, undefined, 200);
      if (pending.scheduledChanges.every((x) => x.action !== 'enable' && x.atMs > Date.now())) break;
      await sleep(100);
    }
    assert.deepEqual(pending.scheduledChanges.map((x) => x.action).sort(), ['disable', 'rollout']);
    const next = pending.scheduledChanges.find((x) => x.id === daily.id);
    assert.equal(next.atMs, dailyAt + 86400000, 'the same time tomorrow');
    assert.equal((await allEvents(srv, 'type=scheduled-change-applied&feature=launch')).length, 2);

    // A plan or a scheduled change whose flag is archived meanwhile: the
    // plan pauses with its reason, the change is dropped, both audited.
    await must(srv, 'POST', FEAT, { name: 'gone' }, 201);
    // A step of an hour: the plan is still running when its flag goes,
    // however slow the machine (a time-based plan with no wait would
    // complete within two ticks).
    await must(srv, 'PUT', `${ENV('gone')}/release-plan`, { milestones: [{ percent: 10, minDurationSeconds: 3600 }, { percent: 100 }], guard: 'none' }, 200);
    await must(srv, 'POST', `${ENV('gone')}/scheduled-changes`, { at: new Date(Date.now() + 300).toISOString(), action: 'enable' }, 201);
    await must(srv, 'DELETE', `${FEAT}/gone`, undefined, 200);
    let goneTypes = [];
    for (let i = 0; i < 50 && !(goneTypes.includes('scheduled-change-failed') && goneTypes.includes('release-plan-paused')); i++) {
      await sleep(100);
      goneTypes = (await allEvents(srv, 'feature=gone')).map((e) => e.type);
    }
    assert.ok(goneTypes.includes('scheduled-change-failed') && goneTypes.includes('release-plan-paused'), goneTypes.join(','));
    const gp = (await must(srv, 'GET', '/api/admin/release-plans', undefined, 200)).plans.find((x) => x.feature === 'gone');
    assert.equal(gp.state, 'paused');
    assert.match(gp.pauseReason, /could not apply the plan: flag 'gone' is archived/);

    // Stale report: a flag fully on is reported once the window is 0 days.
    const rep = await must(srv, 'GET', '/api/admin/stale-report?fullDays=0&unseenDays=3650', undefined, 200);
    const row = rep.flags.find((x) => x.name === 'launch');
    assert.ok(row && row.reasons.some((x) => x.reason === 'fully-rolled-out'), JSON.stringify(rep));
    const table = execFileSync(srv.bin, ['flags', 'stale', '--server', srv.url, '--token', srv.adminToken], { encoding: 'utf8' });
    assert.match(table, /no potentially stale flags/, 'nothing is a week old yet');
    r = await srv.api('GET', '/api/admin/stale-report?fullDays=-1');
    assert.equal(r.status, 400);
    assert.equal(r.json.details[0].path, '/query/fullDays');
  } finally {
    await srv.stop();
    removeTempDir(srv.dir);
  }
});

test('two servers on one database: one schedules; the lease moves when it dies', async () => {
  const client = clientSecret('default', 'production');
  const admin = adminSecret();
  const a = await startServer({ adminTokens: [admin], clientTokens: [client], env: TICK_ENV });
  let b;
  try {
    b = await startServer({ dbPath: a.dbPath, adminTokens: [admin], clientTokens: [client], env: TICK_ENV });
    await sleep(300);
    let l = await must(b, 'GET', '/api/admin/release-plans', undefined, 200);
    assert.ok(l.scheduler && l.scheduler.owner.includes(`:${a.proc.pid}:`), JSON.stringify(l.scheduler));
    await must(a, 'POST', FEAT, { name: 'shared' }, 201);
    await must(a, 'PUT', `${ENV('shared')}/release-plan`, {
      milestones: [{ percent: 20, minExposures: 500 }, { percent: 100 }], metrics: [{ kind: 'error_rate' }],
    }, 200);
    await a.kill9();
    // B takes the lease over (three missed ticks, at least a second) and
    // finishes the plan that A started.
    const p = await drive(b, client, 'shared', { timeoutMs: 20000 });
    assert.equal(p.state, 'completed');
    l = await must(b, 'GET', '/api/admin/release-plans', undefined, 200);
    assert.ok(l.scheduler.owner.includes(`:${b.proc.pid}:`), JSON.stringify(l.scheduler));
    const adv = await allEvents(b, 'type=release-plan-advanced&feature=shared');
    assert.equal(adv.length, 1, 'advanced exactly once');
  } finally {
    await a.stop();
    if (b) await b.stop();
    removeTempDir(a.dir);
  }
});

test('presets: canary by segments, user targeting, then everyone', async () => {
  const client = clientSecret('default', 'production');
  const srv = await startServer({ clientTokens: [client], env: TICK_ENV });
  try {
    const internal = await must(srv, 'POST', '/api/admin/segments', { name: 'internal', constraints: [{ contextName: 'email', operator: 'STR_ENDS_WITH', values: ['@example.com'] }] }, 201);
    const beta = await must(srv, 'POST', '/api/admin/segments', { name: 'beta', constraints: [{ contextName: 'plan', operator: 'IN', values: ['beta'] }] }, 201);
    for (const f of ['canary', 'targeted']) await must(srv, 'POST', FEAT, { name: f }, 201);
    let r = await srv.api('PUT', `${ENV('canary')}/release-plan`, { body: { preset: 'canary', segments: [internal.id, 999] } });
    assert.equal(r.status, 400, show(r));
    assert.equal(r.json.details[0].path, '/segments/1');
    r = await srv.api('PUT', `${ENV('canary')}/release-plan`, { body: { milestones: [{ percent: 10 }, { percent: 100, segments: [internal.id] }] } });
    assert.equal(r.json.details[0].path, '/milestones/1');
    r = await srv.api('PUT', `${ENV('canary')}/release-plan`, { body: { preset: 'rollercoaster' } });
    assert.equal(r.json.details[0].path, '/preset');

    const p0 = await must(srv, 'PUT', `${ENV('canary')}/release-plan`, {
      preset: 'canary', segments: [internal.id, beta.id], minDurationSeconds: 0, minExposures: 300, metrics: [{ kind: 'error_rate' }],
    }, 200);
    assert.deepEqual(p0.plan.milestones.map((m) => [m.percent, m.segments || []]), [[100, [internal.id]], [100, [beta.id]], [100, []]]);
    const strat = async (flag) => (await must(srv, 'GET', `${FEAT}/${flag}`, undefined, 200))
      .environments.find((e) => e.name === 'production').strategies.find((x) => x.name === 'flexibleRollout');
    let s = await strat('canary');
    assert.deepEqual([s.parameters.rollout, s.segments], ['100', [internal.id]]);
    // Audience stages have no expected split (no SRM check); they advance
    // on exposures and guards like any milestone.
    const audienceDrive = (flag) => drive(srv, client, flag, { until: (p) => p.state !== 'running' || !(p.plan.milestones[p.milestone].segments || p.plan.milestones[p.milestone].constraints) });
    let p = await drive(srv, client, 'canary', { until: (x) => x.milestone >= 1 });
    s = await strat('canary');
    assert.deepEqual(s.segments, [beta.id]);
    p = await audienceDrive('canary');
    assert.equal(p.milestone, 2);
    s = await strat('canary');
    assert.deepEqual([s.parameters.rollout, s.segments, s.constraints], ['100', [], []]);
    p = await drive(srv, client, 'canary');
    assert.equal(p.state, 'completed');
    const rings = await must(srv, 'PUT', `${ENV('canary')}/release-plan`, { preset: 'rings', segments: [internal.id, beta.id], guard: 'none' }, 200);
    assert.deepEqual(rings.plan.milestones.map((m) => (m.segments || ['everyone'])[0]), [internal.id, beta.id, 'everyone']);
    assert.equal(rings.plan.milestones[0].minDurationSeconds, 600);

    // User targeting: the listed users first, then everyone.
    const t0 = await must(srv, 'PUT', `${ENV('targeted')}/release-plan`, { preset: 'targeting', userIds: ['u1', 'u2'], minDurationSeconds: 0, guard: 'none' }, 200);
    assert.equal(t0.plan.milestones.length, 2);
    s = await strat('targeted');
    assert.equal(s.constraints[0].contextName, 'userId');
    assert.deepEqual(s.constraints[0].values, ['u1', 'u2']);
    // The SDK document serves it to u1 only.
    const doc = await request(srv.url, 'GET', '/api/client/features', { token: client });
    const served = doc.json.features.find((f) => f.name === 'targeted');
    assert.equal(served.strategies[0].constraints[0].operator, 'IN');
    p = await drive(srv, client, 'targeted');
    assert.equal(p.state, 'completed');
    s = await strat('targeted');
    assert.deepEqual(s.constraints, []);
  } finally {
    await srv.stop();
    removeTempDir(srv.dir);
  }
});
