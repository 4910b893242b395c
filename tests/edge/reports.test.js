'use strict';
// What SDKs report through `vexil edge` (docs/edge.md, "Reports"):
//   - impact metrics (per-unit entries, variants) through an edge give the
//     results direct traffic gives, to the same figures (exposures, rates,
//     intervals, the per-unit design effect);
//   - a release plan counts what arrives through an edge as it counts
//     direct traffic; usage metrics and registrations arrive too;
//   - the edge answers bad reports as the server does (same status, same
//     field path);
//   - reports are never lost: not when the edge is killed (kill -9) before
//     forwarding them, not while the upstream is down.
//
//   tests/edge/run.sh tests/edge/reports.test.js   (VEXIL_BIN set)

const test = require('node:test');
const assert = require('node:assert/strict');
const S = require('../integration/server');
const E = require('./edge');

const FEAT = '/api/admin/projects/default/features';
const ENVP = (f) => `${FEAT}/${f}/environments/production`;

async function must(srv, method, p, body, status = 200) {
  const r = await srv.api(method, p, body === undefined ? {} : { body });
  assert.equal(r.status, status, `${method} ${p}: ${S.show(r)}`);
  return r.json;
}

async function post(url, token, p, body, status = 202) {
  const r = await S.request(url, 'POST', p, { token, body });
  assert.equal(r.status, status, `POST ${url}${p}: ${S.show(r)}`);
  return r;
}

// Waits until the edge has forwarded everything it holds.
async function drained(edge) {
  await E.until(async () => (await E.metric(edge.url, 'vexil_edge_reports_queued_bytes')) === 0 &&
    (await E.metric(edge.url, 'vexil_edge_reports_batches')) === 0 &&
    (await E.metric(edge.url, 'vexil_edge_reports_forwarded_total')) > 0, 20000,
  async () => `the edge's queue to drain: ${(await S.request(edge.url, 'GET', '/metrics')).text.split('\n').filter((l) => l.startsWith('vexil_edge_reports')).join(' ')}`, 100);
}

// Two flags alike with variants x and y.
async function twins(srv, names) {
  for (const name of names) {
    await must(srv, 'POST', FEAT, { name }, 201);
    await must(srv, 'PUT', `${ENVP(name)}/variants`, [
      { name: 'x', weightType: 'variable', weight: 500, stickiness: 'default' },
      { name: 'y', weightType: 'variable', weight: 500, stickiness: 'default' },
    ]);
    await must(srv, 'POST', `${ENVP(name)}/on`);
  }
}

// Per-unit traffic for `flag`: 200 users per variant, 20 requests each; in
// x every tenth user's requests all fail (clustered), in y errors are
// spread evenly.
function unitTraffic(flag) {
  const metrics = [];
  for (let u = 0; u < 200; u++) {
    metrics.push({ flag, enabled: true, variant: 'x', unit: `x-${u}`, requests: 20, errors: u % 10 === 0 ? 10 : 0, conversions: u % 5 === 0 ? 10 : 0, latencyMs: [100 + (u % 7)] });
    metrics.push({ flag, enabled: true, variant: 'y', unit: `y-${u}`, requests: 20, errors: 1, conversions: u % 25 < 7 ? 10 : 0, latencyMs: [100 + (u % 5)] });
  }
  return metrics;
}

// A results answer without what names the flag or the time.
function comparable(res) {
  const { from: _f, to: _t, flag: _g, feature: _h, ...rest } = res;
  return JSON.parse(JSON.stringify(rest).replaceAll('"ab-edge"', '"F"').replaceAll('"ab-direct"', '"F"'));
}

test('impact through an edge gives the results of direct traffic, per unit and per variant', async () => {
  const client = S.clientSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [client] });
  const edge = await E.startEdge(srv, [client], { args: ['--forward-ms', '300'] });
  try {
    await twins(srv, ['ab-edge', 'ab-direct']);
    const viaEdge = unitTraffic('ab-edge');
    const direct = unitTraffic('ab-direct');
    // The same SDK batches, one side through the edge (which merges
    // entries of one unit, variant and time), the other straight in.
    for (let i = 0; i < viaEdge.length; i += 100) {
      const at = new Date(Date.now() - 60000).toISOString();
      await post(edge.url, client, '/api/client/impact', { metrics: viaEdge.slice(i, i + 100).map((m) => ({ ...m, at })) });
      await post(srv.url, client, '/api/client/impact', { metrics: direct.slice(i, i + 100).map((m) => ({ ...m, at })) });
    }
    // Repeats of one unit's entry merge at the edge; a repeated batch id is
    // ignored on both sides.
    const rep = { batchId: 'sdk-batch-1', metrics: [{ flag: 'ab-edge', enabled: true, variant: 'x', unit: 'x-1', requests: 3, errors: 0 }] };
    await post(edge.url, client, '/api/client/impact', rep);
    await post(edge.url, client, '/api/client/impact', rep);
    const repD = { batchId: 'sdk-batch-1', metrics: [{ flag: 'ab-direct', enabled: true, variant: 'x', unit: 'x-1', requests: 3, errors: 0 }] };
    await post(srv.url, client, '/api/client/impact', repD);
    await post(srv.url, client, '/api/client/impact', repD);
    await drained(edge);
    const a = await must(srv, 'GET', `${ENVP('ab-edge')}/results?baseline=x`);
    const b = await must(srv, 'GET', `${ENVP('ab-direct')}/results?baseline=x`);
    assert.deepEqual(a.arms.map((x) => [x.variant, x.exposures]), [['x', 4003], ['y', 4000]]);
    assert.deepEqual(comparable(a), comparable(b));
    const err = a.comparisons.find((c) => c.metric === 'error_rate');
    assert.ok(err.designEffect > 3, `units kept through the edge: ${JSON.stringify(err)}`);
  } finally {
    await edge.stop();
    await srv.stop();
  }
});

test('a release plan counts traffic through an edge as direct traffic; usage and registrations arrive', async () => {
  const client = S.clientSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [client], env: { VEXIL_SCHEDULER_INTERVAL_MS: '100' } });
  const edge = await E.startEdge(srv, [client], { args: ['--forward-ms', '300'] });
  try {
    const variants = [{ name: 'a', weightType: 'variable', weight: 500, stickiness: 'default' }, { name: 'b', weightType: 'variable', weight: 500, stickiness: 'default' }];
    for (const f of ['plan-edge', 'plan-direct']) {
      await must(srv, 'POST', FEAT, { name: f }, 201);
      await must(srv, 'POST', `${ENVP(f)}/strategies`, { name: 'flexibleRollout', parameters: { rollout: '0', stickiness: 'default', groupId: f }, variants });
      await must(srv, 'PUT', `${ENVP(f)}/release-plan`, {
        milestones: [{ percent: 20, minDurationSeconds: 3600 }, { percent: 100 }],
        metrics: [{ kind: 'error_rate' }],
      });
    }
    // The edge must know the plan's strategy before it forwards (it checks
    // variants as the server does).
    await E.until(async () => {
      const r = await S.request(edge.url, 'GET', '/api/client/features/plan-edge', { token: client });
      return r.status === 200 && r.json.strategies[0].parameters.rollout === '20';
    }, 10000, 'the plan\'s first step on the edge');
    const traffic = (flag) => ({
      metrics: [
        { flag, enabled: false, requests: 800, errors: 8 },
        { flag, enabled: true, variant: 'a', requests: 100, errors: 1 },
        { flag, enabled: true, variant: 'b', requests: 100, errors: 2 },
      ],
    });
    await post(edge.url, client, '/api/client/impact', traffic('plan-edge'));
    await post(srv.url, client, '/api/client/impact', traffic('plan-direct'));
    // Usage (Unleash metrics) and a registration, through the edge and not.
    const usage = (flag) => ({
      appName: 'shop', instanceId: 'i-1',
      bucket: { start: new Date(Date.now() - 30000).toISOString(), stop: new Date().toISOString(), toggles: { [flag]: { yes: 7, no: 3, variants: { a: 4, b: 3 } } } },
    });
    await post(edge.url, client, '/api/client/metrics', usage('plan-edge'));
    await post(srv.url, client, '/api/client/metrics', usage('plan-direct'));
    await post(edge.url, client, '/api/client/register', { appName: 'edge-shop', instanceId: 'e-1', strategies: ['default'] });
    await drained(edge);
    const counts = (res) => res.arms.map((x) => [x.variant, x.exposures, x.errorRate]);
    let a;
    let b;
    await E.until(async () => {
      a = await must(srv, 'GET', `${ENVP('plan-edge')}/results`);
      b = await must(srv, 'GET', `${ENVP('plan-direct')}/results`);
      return JSON.stringify(counts(a)) === JSON.stringify(counts(b)) && a.arms.length > 0;
    }, 10000, () => `the plan's counts: edge ${JSON.stringify(counts(a))} direct ${JSON.stringify(counts(b))}`, 200);
    assert.equal(a.source, 'release-plan');
    assert.ok(a.arms.find((x) => x.variant === 'disabled').exposures >= 800, JSON.stringify(counts(a)));
    const ua = await must(srv, 'GET', '/api/admin/client-metrics/features/plan-edge');
    const ub = await must(srv, 'GET', '/api/admin/client-metrics/features/plan-direct');
    const sum = (u) => u.usage.reduce((s, r) => [s[0] + (r.yes || 0), s[1] + (r.no || 0)], [0, 0]);
    assert.deepEqual(sum(ua), [7, 3], JSON.stringify(ua));
    assert.deepEqual(sum(ua), sum(ub));
    const apps = await must(srv, 'GET', '/api/admin/metrics/applications');
    assert.ok(JSON.stringify(apps).includes('edge-shop'), JSON.stringify(apps).slice(0, 400));
  } finally {
    await edge.stop();
    await srv.stop();
  }
});

test('the edge refuses bad reports as the server does', async () => {
  const client = S.clientSecret('default', 'production');
  const front = S.frontendSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [client], frontendTokens: [front] });
  const edge = await E.startEdge(srv, [client]);
  try {
    await twins(srv, ['known']);
    await E.until(async () => (await S.request(edge.url, 'GET', '/api/client/features/known', { token: client })).status === 200,
      5000, 'the flag on the edge');
    const cases = [
      ['/api/client/impact', client, { metrics: [{ flag: 'missing', enabled: true, requests: 1 }] }],
      ['/api/client/impact', client, { metrics: [{ flag: 'known', enabled: true, requests: 1 }] }],
      ['/api/client/impact', client, { metrics: [{ flag: 'known', variant: 'nope', enabled: true, requests: 1 }] }],
      ['/api/client/impact', client, { metrics: [{ flag: 'known', variant: 'x', requests: 2, errors: 3 }] }],
      ['/api/client/impact', client, { metrics: [{ flag: 'known', variant: 'x', requests: 1, erors: 0 }] }],
      ['/api/client/impact', front, { metrics: [] }],
      ['/api/client/metrics', client, { appName: 'a', bucket: { toggles: { known: { yes: -1 } } } }],
      ['/api/client/metrics', client, { bucket: { toggles: {} } }],
      ['/api/client/register', client, { instanceId: 'x' }],
      ['/api/frontend/client/metrics', front, { appName: 'a', bucket: { toggles: { known: { no: 'x' } } } }],
    ];
    for (const [p, token, body] of cases) {
      const a = await S.request(edge.url, 'POST', p, { token, body });
      const b = await S.request(srv.url, 'POST', p, { token, body });
      assert.equal(a.status, b.status, `${p} ${JSON.stringify(body)}: edge ${S.show(a)} server ${S.show(b)}`);
      assert.ok(a.status >= 400, `${p} ${JSON.stringify(body)}: ${S.show(a)}`);
      assert.deepEqual(a.json && a.json.details, b.json && b.json.details, `${p} ${JSON.stringify(body)}`);
    }
  } finally {
    await edge.stop();
    await srv.stop();
  }
});

test('reports are never lost: not to an edge killed before forwarding, not while the upstream is down', async () => {
  const client = S.clientSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [client] });
  await twins(srv, ['kept', 'later']);
  let edge = await E.startEdge(srv, [client], { args: ['--forward-ms', '3600000'] });
  const { dataDir, port } = edge;
  try {
    await E.until(async () => (await S.request(edge.url, 'GET', '/api/client/features/later', { token: client })).status === 200,
      5000, 'the flags on the edge');
    await post(edge.url, client, '/api/client/impact', { metrics: [{ flag: 'kept', enabled: true, variant: 'x', unit: 'u1', requests: 11, errors: 1 }] });
    await post(edge.url, client, '/api/client/metrics', { appName: 'app', bucket: { start: new Date().toISOString(), toggles: { kept: { yes: 4, no: 1 } } } });
    await edge.kill9(); // no clean stop: the journal alone keeps them
    edge = await E.startEdge(srv, [client], { dataDir, port, args: ['--forward-ms', '300'] });
    await drained(edge);
    const res = await must(srv, 'GET', `${ENVP('kept')}/results`);
    // The usage counts stand for exposures of its arms too (docs/sdk-api.md).
    assert.deepEqual(res.arms.map((x) => [x.variant, x.exposures]).sort(),
      [['disabled', 1], ['enabled', 4], ['x', 11]]);
    const u = await must(srv, 'GET', '/api/admin/client-metrics/features/kept');
    assert.deepEqual(u.usage.reduce((s, r) => [s[0] + r.yes, s[1] + r.no], [0, 0]), [4, 1]);

    // The upstream down: reports are taken (202), kept, then forwarded.
    await srv.stop();
    await post(edge.url, client, '/api/client/impact', { metrics: [{ flag: 'later', enabled: true, variant: 'y', requests: 5 }] });
    await S.sleep(1000); // a forward fails meanwhile
    const again = await E.restartServer(srv);
    await drained(edge);
    const r2 = await must(again, 'GET', `${ENVP('later')}/results`);
    assert.deepEqual(r2.arms.map((x) => [x.variant, x.exposures]), [['y', 5]]);
    await again.stop();
  } finally {
    await edge.stop();
    await srv.stop();
  }
});

test('forwarded reports count at the edge\'s arrival time, and once', async () => {
  const client = S.clientSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [client] });
  const edge = await E.startEdge(srv, [client], { args: ['--forward-ms', '2500'] });
  try {
    await post(edge.url, client, '/api/client/register', { appName: 'late-app', instanceId: 'l-1' });
    const arrived = Date.now();
    await drained(edge);
    const forwarded = Date.now();
    const apps = await must(srv, 'GET', '/api/admin/metrics/applications');
    const text = JSON.stringify(apps);
    const m = /"late-app"[^}]*"lastSeen":"([^"]+)"/.exec(text) || /"lastSeen":"([^"]+)"[^}]*"late-app"/.exec(text);
    assert.ok(m, text.slice(0, 600));
    const seen = Date.parse(m[1]);
    assert.ok(seen <= arrived + 200, `lastSeen ${m[1]} is the arrival at the edge (${new Date(arrived).toISOString()}), not the forward (${new Date(forwarded).toISOString()})`);
    // A forward repeated after a lost answer counts once.
    await must(srv, 'POST', FEAT, { name: 'once' }, 201);
    const batch = {
      batchId: 'edge-test-1',
      items: [{ receivedAt: Date.now(), metrics: { appName: 'a', bucket: { start: new Date().toISOString(), toggles: { once: { yes: 2, no: 0 } } } } }],
    };
    for (let i = 0; i < 2; i++) {
      const r = await post(srv.url, client, '/api/edge/metrics', batch);
      assert.equal(r.json.accepted, 1);
    }
    const u = await must(srv, 'GET', '/api/admin/client-metrics/features/once');
    assert.equal(u.usage.reduce((s, r) => s + r.yes, 0), 2, JSON.stringify(u));
  } finally {
    await edge.stop();
    await srv.stop();
  }
});
