'use strict';
// The Unleash frontend API (/api/frontend) against the real binary: which
// toggles a context gets (GET query string and POST context, compared
// with the admin playground for many random contexts), the toggle shape,
// the token rules (frontend tokens only, their environment and projects),
// ETag and 304, Cache-Control, CORS (default "*" and a configured list),
// the metrics and register posts, Unleash's deliberate 405s and the
// field-path errors.
//
//   node --test tests/integration/frontend.test.js     (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, clientSecret, frontendSecret, show } = require('./server');

const ENV = 'production';
const FP = (f, p = 'default') => `/api/admin/projects/${p}/features/${f}`;
const EP = (f, p = 'default') => `${FP(f, p)}/environments/${ENV}`;

let srv;
let fe; // frontend token (default project, production)
let client; // client token (must be refused)

async function admin(method, path, body) {
  const r = await srv.api(method, path, body === undefined ? {} : { body });
  assert.ok(r.status >= 200 && r.status < 300, `setup ${method} ${path}: ${show(r)}`);
  return r.json;
}

async function flag(name, { project = 'default', on = true, strategies = [], variants, impressionData } = {}) {
  await admin('POST', `/api/admin/projects/${project}/features`, { name, ...(impressionData ? { impressionData } : {}) });
  for (const s of strategies) await admin('POST', `${EP(name, project)}/strategies`, s);
  if (variants) await admin('PUT', `${EP(name, project)}/variants`, variants);
  if (on) await admin('POST', `${EP(name, project)}/on`);
}

const get = (query = '', o = {}) =>
  srv.api('GET', `/api/frontend${query}`, { token: fe, ...o });
const post = (body, o = {}) =>
  srv.api('POST', '/api/frontend', { token: fe, body, ...o });
const names = (r) => r.json.toggles.map((t) => t.name).sort();

test.before(async () => {
  fe = frontendSecret('default', ENV);
  client = clientSecret('default', ENV);
  srv = await startServer({ clientTokens: [client], frontendTokens: [fe] });
  await admin('POST', '/api/admin/projects', { id: 'other' });
  await flag('always');
  await flag('pro-only', {
    impressionData: true,
    strategies: [{ name: 'default', constraints: [{ contextName: 'plan', operator: 'IN', values: ['pro'] }] }],
  });
  await flag('u1-only', { strategies: [{ name: 'userWithId', parameters: { userIds: 'u1' } }] });
  await flag('local-only', { strategies: [{ name: 'remoteAddress', parameters: { IPs: '127.0.0.1' } }] });
  await flag('half', {
    strategies: [{ name: 'flexibleRollout', parameters: { rollout: '50', stickiness: 'userId', groupId: 'half' } }],
  });
  await flag('colors', {
    variants: [
      { name: 'red', weight: 500, weightType: 'variable', stickiness: 'userId', payload: { type: 'json', value: '{"c":"red"}' } },
      { name: 'blue', weight: 500, weightType: 'variable', stickiness: 'userId', payload: { type: 'string', value: 'b"l\\ue' } },
    ],
  });
  await flag('tenant', { strategies: [{ name: 'default', constraints: [{ contextName: 'tenant', operator: 'IN', values: ['acme'] }] }] });
  await flag('switched-off', { on: false });
  await flag('elsewhere', { project: 'other' });
});

test.after(async () => { if (srv) await srv.stop(); });

test('GET: only the toggles that are on, in the Unleash shape', async () => {
  const r = await get('?userId=u1&properties%5Bplan%5D=pro&remoteAddress=10.9.9.9');
  assert.equal(r.status, 200, show(r));
  assert.match(r.headers.get('content-type'), /application\/json/);
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  const got = names(r);
  assert.ok(got.includes('always') && got.includes('pro-only') && got.includes('u1-only'), got.join());
  assert.ok(!got.includes('switched-off'), 'a flag that is off is not listed');
  assert.ok(!got.includes('elsewhere'), 'another project is not visible to this token');
  assert.ok(!got.includes('local-only'), 'remoteAddress given: the client address is not used');
  const pro = r.json.toggles.find((t) => t.name === 'pro-only');
  assert.deepEqual(pro, {
    name: 'pro-only', enabled: true, impressionData: true,
    variant: { name: 'disabled', enabled: false, feature_enabled: true, featureEnabled: true },
  });
  const colors = r.json.toggles.find((t) => t.name === 'colors');
  assert.equal(colors.variant.enabled, true);
  assert.equal(colors.variant.feature_enabled, true);
  const want = colors.variant.name === 'red'
    ? { type: 'json', value: '{"c":"red"}' } : { type: 'string', value: 'b"l\\ue' };
  assert.deepEqual(colors.variant.payload, want);

  const other = await get('?userId=u2');
  assert.deepEqual(names(other).filter((n) => ['pro-only', 'u1-only'].includes(n)), []);
  // The client's own address fills remoteAddress when none is given.
  assert.ok(names(other).includes('local-only'));
});

test('GET: unknown top-level keys are properties; POST gives the same answer', async () => {
  const a = await get('?userId=u7&tenant=acme&plan=pro');
  assert.equal(a.status, 200, show(a));
  assert.ok(names(a).includes('tenant') && names(a).includes('pro-only'), names(a).join());
  const b = await post({ context: { userId: 'u7', tenant: 'acme', properties: { plan: 'pro' } } });
  assert.equal(b.status, 200, show(b));
  assert.deepEqual(b.json, a.json);
  assert.equal(b.headers.get('cache-control'), 'no-cache');
  // No context at all: an anonymous caller.
  const c = await post({});
  assert.equal(c.status, 200, show(c));
  assert.ok(names(c).includes('always'));
});

test('answers equal the admin playground for random contexts', async () => {
  const plans = ['pro', 'free', undefined];
  for (let i = 0; i < 120; i++) {
    const userId = `user-${i * 7919 % 1000}`;
    const plan = plans[i % 3];
    const tenant = i % 5 === 0 ? 'acme' : 'other';
    const ctx = { userId, sessionId: `s${i}`, remoteAddress: '10.0.0.1', properties: { tenant, ...(plan ? { plan } : {}) } };
    const q = new URLSearchParams({ userId, sessionId: `s${i}`, remoteAddress: '10.0.0.1', 'properties[tenant]': tenant });
    if (plan) q.set('properties[plan]', plan);
    const [g, p, pg] = await Promise.all([
      get(`?${q}`),
      post({ context: ctx }),
      srv.api('POST', '/api/admin/playground', { body: { environment: ENV, projects: ['default'], context: ctx } }),
    ]);
    assert.equal(g.status, 200, show(g));
    assert.equal(pg.status, 200, show(pg));
    const expected = pg.json.features.filter((f) => f.isEnabled)
      .map((f) => ({ name: f.name, variant: f.variant.name })).sort((x, y) => x.name.localeCompare(y.name));
    const actual = g.json.toggles.map((t) => ({ name: t.name, variant: t.variant.name }))
      .sort((x, y) => x.name.localeCompare(y.name));
    assert.deepEqual(actual, expected, `context ${JSON.stringify(ctx)}`);
    assert.deepEqual(p.json, g.json, 'POST and GET agree');
  }
});

test('only frontend tokens; each sees its environment and projects', async () => {
  assert.equal((await get('', { token: null })).status, 401);
  assert.equal((await get('', { token: 'default:production.nope' })).status, 401);
  assert.equal((await get('', { token: client })).status, 403);
  assert.equal((await get('', { token: srv.adminToken })).status, 403);
  const made = await admin('POST', '/api/admin/api-tokens', {
    tokenName: 'fe-dev-all', type: 'frontend', environment: 'development', projects: ['*'],
  });
  const dev = await get('', { token: made.secret });
  assert.equal(dev.status, 200, show(dev));
  assert.deepEqual(names(dev), [], 'nothing is on in development');
  await admin('POST', `${FP('elsewhere', 'other')}/environments/development/on`);
  const dev2 = await get('', { token: made.secret });
  assert.deepEqual(names(dev2), ['elsewhere'], 'a "*" token sees every project');
});

test('ETag: the same answer revalidates with 304 until the answer changes', async () => {
  const q = '?userId=etag-user&properties%5Bplan%5D=free';
  const a = await get(q);
  const etag = a.headers.get('etag');
  assert.match(etag, /^W\/".+"$/);
  const again = await get(q);
  assert.equal(again.headers.get('etag'), etag);
  const nm = await get(q, { headers: { 'If-None-Match': etag } });
  assert.equal(nm.status, 304);
  assert.equal(nm.text, '');
  // Another context with another answer: a 200.
  const pro = await get('?userId=etag-user&properties%5Bplan%5D=pro', { headers: { 'If-None-Match': etag } });
  assert.equal(pro.status, 200);
  // A change through the admin API changes the answer and the ETag.
  await flag('late-arrival');
  const changed = await get(q, { headers: { 'If-None-Match': etag } });
  assert.equal(changed.status, 200, show(changed));
  assert.ok(names(changed).includes('late-arrival'));
  assert.notEqual(changed.headers.get('etag'), etag);
  // POST is never 304.
  const p = await post({ context: { userId: 'etag-user' } }, { headers: { 'If-None-Match': '*' } });
  assert.equal(p.status, 200);
});

test('CORS: "*" by default, preflight answered without a token', async () => {
  const pre = await srv.api('OPTIONS', '/api/frontend', {
    token: null,
    headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization,if-none-match' },
  });
  assert.ok(pre.status === 204 || pre.status === 200, show(pre));
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  const allowHeaders = pre.headers.get('access-control-allow-headers').toLowerCase();
  for (const h of ['authorization', 'content-type', 'if-none-match', 'unleash-appname', 'unleash-sdk', 'unleash-connection-id']) {
    assert.ok(allowHeaders.includes(h), `${h} in ${allowHeaders}`);
  }
  assert.match(pre.headers.get('access-control-allow-methods'), /GET/);
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
  const r = await get('', { headers: { Origin: 'https://app.example' } });
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  assert.match(r.headers.get('access-control-expose-headers'), /etag/i);
  // Errors carry CORS too, so a browser can read them.
  const denied = await get('', { token: null, headers: { Origin: 'https://app.example' } });
  assert.equal(denied.status, 401);
  assert.equal(denied.headers.get('access-control-allow-origin'), '*');
});

test('CORS: a configured origin list', async () => {
  const token = frontendSecret('default', ENV);
  const s2 = await startServer({ frontendTokens: [token], env: { VEXIL_FRONTEND_ORIGINS: 'https://a.example, https://b.example' } });
  try {
    const ok = await s2.api('GET', '/api/frontend', { token, headers: { Origin: 'https://b.example' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://b.example');
    assert.match(ok.headers.get('vary') || '', /origin/i);
    const bad = await s2.api('GET', '/api/frontend', { token, headers: { Origin: 'https://evil.example' } });
    assert.equal(bad.headers.get('access-control-allow-origin'), null);
    const pre = await s2.api('OPTIONS', '/api/frontend', { token: null, headers: { Origin: 'https://a.example' } });
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://a.example');
  } finally {
    await s2.stop();
  }
});

test('metrics and register posts are accepted; bad metrics name the field', async () => {
  const now = new Date().toISOString();
  const m = await srv.api('POST', '/api/frontend/client/metrics', {
    token: fe,
    body: { appName: 'web', instanceId: 'browser', impactMetrics: [], bucket: { start: now, stop: now, toggles: { always: { yes: 5, no: 2, variants: {} } } } },
  });
  assert.equal(m.status, 200, show(m));
  const usage = await srv.api('GET', '/api/admin/client-metrics/features/always');
  assert.equal(usage.status, 200, show(usage));
  const row = usage.json.usage.find((u) => u.appName === 'web' && u.environment === ENV);
  assert.ok(row, JSON.stringify(usage.json));
  assert.equal(row.yes, 5);
  assert.equal(row.no, 2);
  const bad = await srv.api('POST', '/api/frontend/client/metrics', { token: fe, body: { appName: 'web', bucket: { start: 'soon', stop: now, toggles: {} } } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.details[0].path, '/bucket/start');
  const reg = await srv.api('POST', '/api/frontend/client/register', { token: fe, body: { appName: 'web', instanceId: 'browser', sdkVersion: 'unleash-js-sdk:3.8.2' } });
  assert.equal(reg.status, 200, show(reg));
  const noauth = await srv.api('POST', '/api/frontend/client/metrics', { token: null, body: {} });
  assert.equal(noauth.status, 401);
});

test('routes Unleash does not implement are 405; unknown ones 404', async () => {
  for (const p of ['/api/frontend/client/features', '/api/frontend/health', '/api/frontend/internal-backstage/prometheus']) {
    const r = await srv.api('GET', p, { token: fe });
    assert.equal(r.status, 405, `${p}: ${show(r)}`);
  }
  assert.equal((await srv.api('GET', '/api/frontend/nope', { token: fe })).status, 404);
  assert.equal((await srv.api('GET', '/api/frontendx', { token: fe })).status, 404);
  const put = await srv.api('PUT', '/api/frontend', { token: fe, body: {} });
  assert.equal(put.status, 405);
  assert.match(put.headers.get('allow'), /GET/);
  assert.equal((await srv.api('GET', '/api/frontend/client/metrics', { token: fe })).status, 405);
});

test('bad contexts are 400 naming the field', async () => {
  const many = new URLSearchParams();
  for (let i = 0; i < 70; i++) many.set(`properties[k${i}]`, 'v');
  const r = await get(`?${many}`);
  assert.equal(r.status, 400, show(r));
  assert.match(r.json.details[0].path, /^\/query/);
  const props = {};
  for (let i = 0; i < 70; i++) props[`k${i}`] = 'v';
  const p = await post({ context: { properties: props } });
  assert.equal(p.status, 400, show(p));
  assert.match(p.json.details[0].path, /^\/context\/properties\/k\d+$/);
  assert.match(p.json.message, /64/);
  const c = await post({ context: 'me' });
  assert.equal(c.status, 400);
  assert.equal(c.json.details[0].path, '/context');
  const u = await post({ context: { userId: { id: 1 } } });
  assert.equal(u.status, 400);
  assert.equal(u.json.details[0].path, '/context/userId');
  const arr = await post([1]);
  assert.equal(arr.status, 400);
});
