'use strict';
// The authorization matrix of every route family (docs/admin-api.md "Token
// kinds and roles", docs/sdk-api.md, docs/ofrep.md, docs/gateway.md,
// docs/ai.md): admin, client, frontend, OFREP, streaming, delta,
// metrics/register, gateway, advisor and the open endpoints (health,
// ready, metrics, the console), each called by every kind of caller: no
// token, an unknown one, a revoked one, an expired one, admin tokens of
// each role, and client and frontend tokens of every project scope ("*",
// one project, several) and of another environment. Each cell checks the
// status, and where the call lists or evaluates flags, that the answer
// holds only flags of the caller's projects and environment (asking for
// another project with ?project= must not widen it). Admin routes in depth
// (every route × role) are tests/integration/auth.test.js.
//
//   node --test tests/integration/auth_matrix.test.js     (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { startServer, adminSecret, clientSecret, frontendSecret, sleep, show, removeTempDir } = require('./server');
const { startModelServer } = require('../support/model_server');

let srv;
let model; // the gateway's upstream
const tok = {}; // caller -> Authorization value (null: none)
const FEAT = (p) => `/api/admin/projects/${p}/features`;
const EP = (p, f, env) => `${FEAT(p)}/${f}/environments/${env}`;

// The flags of the fixture: name -> {project, environments it is on in}.
const FLAGS = {
  'mx-default': { project: 'default', on: ['production'] },
  'mx-shop': { project: 'shop', on: ['production'] },
  'mx-blog': { project: 'blog', on: ['production'] },
  'mx-dev-only': { project: 'default', on: ['development'] },
  'model.mxa': { project: 'default', on: ['production'] },
  'model.mxb': { project: 'shop', on: ['production'] },
};

// Callers: kind, the projects they may see, their environment.
const CALLERS = {
  none: { kind: 'none' },
  unknown: { kind: 'none' },
  revoked: { kind: 'none' },
  expired: { kind: 'none' },
  admin: { kind: 'admin', role: 'admin' },
  editor: { kind: 'admin', role: 'editor' },
  viewer: { kind: 'admin', role: 'viewer' },
  'client:*': { kind: 'client', projects: '*', env: 'production' },
  'client:shop': { kind: 'client', projects: ['shop'], env: 'production' },
  'client:shop+blog': { kind: 'client', projects: ['shop', 'blog'], env: 'production' },
  'client:dev': { kind: 'client', projects: '*', env: 'development' },
  'frontend:*': { kind: 'frontend', projects: '*', env: 'production' },
  'frontend:shop': { kind: 'frontend', projects: ['shop'], env: 'production' },
  'frontend:dev': { kind: 'frontend', projects: '*', env: 'development' },
};

const sees = (c, name) => {
  const f = FLAGS[name];
  return c.projects === '*' || c.projects.includes(f.project);
};
const visible = (c) => Object.keys(FLAGS).filter((n) => sees(c, n));

// What each kind may call, per family. 'ok' = the route's own success.
const ALLOWED = {
  public: ['none', 'admin', 'client', 'frontend'],
  admin: ['admin'],
  client: ['client'],
  frontend: ['frontend'],
  ofrep: ['client', 'frontend'],
  gateway: ['client'],
  advisor: ['admin'],
};

// Names in an answer, per route, for the scope checks.
const names = {
  features: (j) => j.features.map((f) => f.name),
  delta: (j) => j.events.filter((e) => e.type === 'hydration').flatMap((e) => e.features.map((f) => f.name)),
  frontend: (j) => j.toggles.map((t) => t.name),
  ofrep: (j) => j.flags.map((f) => f.key),
  models: (j) => j.data.map((m) => `model.${m.id}`),
  tags: (j) => j.models.map((m) => `model.${m.name}`),
  stats: (j) => [...j.series.map((s) => s.flag), ...j.batches.flatMap((b) => b.metrics.map((m) => m.flag))],
};

const metricsBody = () => ({ appName: 'mx', instanceId: 'i1', bucket: { start: new Date(Date.now() - 1000).toISOString(), stop: new Date().toISOString(), toggles: { 'mx-default': { yes: 1, no: 0 } } } });

// [family, label, method, path, body?, success status, names fn?, env-check?]
const ROUTES = [
  ['public', 'GET /health', 'GET', '/health', undefined, 200],
  ['public', 'GET /ready', 'GET', '/ready', undefined, 200],
  ['public', 'GET /metrics', 'GET', '/metrics', undefined, 200],
  ['public', 'GET / (console)', 'GET', '/', undefined, 200],
  ['admin', 'GET /api/admin/projects', 'GET', '/api/admin/projects', undefined, 200],
  ['admin', 'GET /api/admin/features', 'GET', '/api/admin/features', undefined, 200],
  ['admin', 'GET /api/admin/api-tokens', 'GET', '/api/admin/api-tokens', undefined, 200],
  ['client', 'GET /api/client/features', 'GET', '/api/client/features', undefined, 200, names.features],
  ['client', 'GET /api/client/features?project=default', 'GET', '/api/client/features?project=default', undefined, 200, names.features],
  ['client', 'GET /api/client/features/mx-default', 'GET', '/api/client/features/mx-default', undefined, 200],
  ['client', 'GET /api/client/delta (delta)', 'GET', '/api/client/delta', undefined, 200, names.delta],
  ['client', 'GET /api/client/streaming (streaming)', 'STREAM', '/api/client/streaming', undefined, 200, names.delta],
  ['client', 'POST /api/client/register', 'POST', '/api/client/register', { appName: 'mx', instanceId: 'i1', strategies: [], started: new Date().toISOString(), interval: 15000 }, 202],
  ['client', 'POST /api/client/metrics', 'POST', '/api/client/metrics', metricsBody(), 202],
  ['frontend', 'GET /api/frontend', 'GET', '/api/frontend?userId=u1', undefined, 200, names.frontend],
  ['frontend', 'POST /api/frontend', 'POST', '/api/frontend', { context: { userId: 'u1' } }, 200, names.frontend],
  ['frontend', 'POST /api/frontend/client/register', 'POST', '/api/frontend/client/register', { appName: 'mx' }, 200],
  ['frontend', 'POST /api/frontend/client/metrics', 'POST', '/api/frontend/client/metrics', metricsBody(), 200],
  ['ofrep', 'POST /ofrep/v1/evaluate/flags', 'POST', '/ofrep/v1/evaluate/flags', { context: { targetingKey: 'u1' } }, 200, names.ofrep],
  ['ofrep', 'POST /ofrep/v1/evaluate/flags/mx-default', 'POST', '/ofrep/v1/evaluate/flags/mx-default', { context: { targetingKey: 'u1' } }, 200],
  ['gateway', 'GET /v1/models', 'GET', '/v1/models', undefined, 200, names.models],
  ['gateway', 'GET /api/tags', 'GET', '/api/tags', undefined, 200, names.tags],
  ['gateway', 'GET /v1/gateway/stats', 'GET', '/v1/gateway/stats', undefined, 200, names.stats],
  // model.mxa is in project default, and has its upstream in production only.
  ['gateway', 'POST /v1/chat/completions', 'POST', '/v1/chat/completions', { model: 'mxa', messages: [{ role: 'user', content: 'hi' }] }, 200,
    undefined, (c) => (!sees(c, 'model.mxa') ? 404 : c.env !== 'production' ? 503 : undefined)],
  ['advisor', 'POST /api/admin/advisor/changelog', 'POST', '/api/admin/advisor/changelog', {}, 200],
];

// One call; a stream is read until its first event (the hydration) and
// closed. Returns {status, json}.
function call(method, path, token, body) {
  if (method !== 'STREAM') {
    return srv.api(method, path, { token, ...(body !== undefined ? { body } : {}) });
  }
  return new Promise((resolve) => {
    const headers = token ? { Authorization: token } : {};
    const req = http.get(srv.url + path, { headers }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      const done = (json) => { req.destroy(); resolve({ status: res.statusCode, json, text: buf }); };
      if (res.statusCode !== 200) {
        res.on('data', (d) => { buf += d; });
        res.on('end', () => { let j; try { j = JSON.parse(buf); } catch (_e) { /* not JSON */ } done(j); });
        return;
      }
      res.on('data', (d) => {
        buf += d;
        const m = /data: (.*)\n\n/.exec(buf);
        if (m) done(JSON.parse(m[1]));
      });
    });
    req.on('error', (e) => resolve({ status: 0, text: e.message }));
    req.setTimeout(5000, () => req.destroy());
  });
}

// The one flag the route named is outside the caller's projects.
const namedOutside = (path, c) => {
  const m = /\/(mx-[a-z-]+)(?:$|\?)/.exec(path);
  return m && c.projects && !sees(c, m[1]);
};

test.before(async () => {
  const seeded = {};
  for (const [name, c] of Object.entries(CALLERS)) {
    if ((c.kind === 'client' || c.kind === 'frontend') && c.projects === '*') {
      seeded[name] = (c.kind === 'client' ? clientSecret : frontendSecret)('*', c.env);
    }
  }
  model = await startModelServer({ models: ['m1'] });
  srv = await startServer({
    env: { VEXIL_EGRESS_ALLOW: `127.0.0.1:${new URL(model.url).port}`, VEXIL_GATEWAY_FLUSH_MS: '200' },
    adminTokens: [adminSecret()],
    clientTokens: Object.entries(seeded).filter(([n]) => n.startsWith('client')).map(([, s]) => s),
    frontendTokens: Object.entries(seeded).filter(([n]) => n.startsWith('frontend')).map(([, s]) => s),
  });
  Object.assign(tok, seeded);
  tok.none = null;
  tok.unknown = clientSecret('*', 'production');
  tok.admin = srv.adminToken;
  const mk = async (body) => {
    const r = await srv.api('POST', '/api/admin/api-tokens', { body });
    assert.equal(r.status, 201, show(r));
    return r.json;
  };
  for (const p of ['shop', 'blog']) assert.equal((await srv.api('POST', '/api/admin/projects', { body: { id: p } })).status, 201);
  tok.editor = (await mk({ tokenName: 'mx-editor', type: 'admin', role: 'editor' })).secret;
  tok.viewer = (await mk({ tokenName: 'mx-viewer', type: 'admin', role: 'viewer' })).secret;
  for (const [name, c] of Object.entries(CALLERS)) {
    if (Array.isArray(c.projects)) {
      tok[name] = (await mk({ tokenName: `mx-${name.replace(/[^a-z]/g, '-')}`, type: c.kind, environment: c.env, projects: c.projects })).secret;
    }
  }
  const rv = await mk({ tokenName: 'mx-revoked', type: 'client', environment: 'production', projects: ['*'] });
  tok.revoked = rv.secret;
  const exAt = Date.now() + 1500;
  tok.expired = (await mk({ tokenName: 'mx-expired', type: 'client', environment: 'production', expiresAt: new Date(exAt).toISOString() })).secret;
  // Both work before, so a 401 later means revoked or expired.
  for (const k of ['revoked', 'expired']) {
    assert.equal((await srv.api('GET', '/api/client/features', { token: tok[k] })).status, 200, k);
  }
  assert.equal((await srv.api('DELETE', `/api/admin/api-tokens/${rv.id}`)).status, 200);

  for (const [name, f] of Object.entries(FLAGS)) {
    assert.equal((await srv.api('POST', FEAT(f.project), { body: { name } })).status, 201, name);
    for (const env of f.on) {
      assert.equal((await srv.api('POST', `${EP(f.project, name, env)}/strategies`, { body: { name: 'default' } })).status, 200);
      assert.equal((await srv.api('POST', `${EP(f.project, name, env)}/on`)).status, 200);
    }
  }
  // The gateway's flags get an upstream in production, and traffic, so
  // that its stats have series of both projects.
  for (const name of ['model.mxa', 'model.mxb']) {
    const payload = { type: 'json', value: JSON.stringify({ base_url: `${model.url}/v1`, model: 'm1' }) };
    const r = await srv.api('PUT', `${EP(FLAGS[name].project, name, 'production')}/variants`,
      { body: [{ name: 'control', weight: 1000, weightType: 'variable', stickiness: 'default', payload }] });
    assert.equal(r.status, 200, show(r));
    const chat = await srv.api('POST', '/v1/chat/completions', {
      token: tok['client:*'], body: { model: name.slice(6), messages: [{ role: 'user', content: 'hi' }] },
    });
    assert.equal(chat.status, 200, show(chat));
  }
  const st = await srv.api('GET', '/v1/gateway/stats', { token: tok['client:*'] });
  assert.deepEqual(st.json.series.map((x) => x.flag).sort(), ['model.mxa', 'model.mxb']);
  const wait = exAt - Date.now() + 200;
  if (wait > 0) await sleep(wait);
});

test.after(async () => {
  if (srv) {
    await srv.stop();
    removeTempDir(srv.dir);
  }
  if (model) await model.close();
});

for (const [family, label, method, path, body, ok, namesOf, special] of ROUTES) {
  test(`${family}: ${label}`, async () => {
    const failures = [];
    for (const [name, c] of Object.entries(CALLERS)) {
      const r = await call(method, path, tok[name], body);
      let want;
      if (family === 'public') want = ok;
      else if (c.kind === 'none') want = 401;
      else if (!ALLOWED[family].includes(c.kind)) want = 403;
      else if (c.kind === 'admin' && family === 'admin' && /api-tokens/.test(path) && c.role !== 'admin') want = 403;
      else if (namedOutside(path, c)) want = 404;
      else want = (special && special(c)) || ok;
      if (r.status !== want) {
        failures.push(`${name}: expected ${want}, got ${r.status} ${(r.text || '').slice(0, 160)}`);
        continue;
      }
      if (want >= 400 && method !== 'STREAM' && !(r.json && (typeof r.json.message === 'string' || typeof r.json.errorCode === 'string'))) {
        failures.push(`${name}: ${want} without a JSON error body`);
      }
      if (!namesOf || want !== ok || family === 'public' || c.kind === 'admin') continue;
      // Scope: only the caller's projects; the environment's flags only.
      const got = namesOf(r.json).filter((n) => n in FLAGS);
      const outside = got.filter((n) => !sees(c, n));
      if (outside.length) failures.push(`${name}: sees ${outside.join(', ')} outside its projects`);
      if (/project=default/.test(path) && !sees(c, 'mx-default') && got.length) {
        failures.push(`${name}: ?project=default widened its scope: ${got.join(', ')}`);
      }
      const evaluating = family === 'frontend';
      if (evaluating) {
        // Only flags on in the caller's environment are listed.
        const wantOn = visible(c).filter((n) => FLAGS[n].on.includes(c.env) && !n.startsWith('model.'));
        const gotNonModel = got.filter((n) => !n.startsWith('model.'));
        if (JSON.stringify(gotNonModel.sort()) !== JSON.stringify(wantOn.sort())) {
          failures.push(`${name}: frontend lists ${gotNonModel.join(',')} instead of ${wantOn.join(',')}`);
        }
      }
      if (namesOf === names.features && !/project=/.test(path)) {
        const feats = r.json.features;
        for (const f of feats.filter((x) => x.name in FLAGS)) {
          const onHere = FLAGS[f.name].on.includes(c.env);
          if (f.enabled !== onHere) failures.push(`${name}: ${f.name} enabled=${f.enabled} in ${c.env}`);
        }
        const wantAll = visible(c).sort();
        if (JSON.stringify(got.sort()) !== JSON.stringify(wantAll)) failures.push(`${name}: lists ${got.join(',')} instead of ${wantAll.join(',')}`);
      }
    }
    assert.deepEqual(failures, [], `${label}:\n  ${failures.join('\n  ')}`);
  });
}

test('the token list says what the revoked and expired tokens are', async () => {
  const r = await srv.api('GET', '/api/admin/api-tokens');
  assert.equal(r.status, 200);
  const byName = Object.fromEntries(r.json.tokens.map((t) => [t.tokenName, t]));
  assert.equal(byName['mx-revoked'].revoked, true);
  assert.ok(Date.parse(byName['mx-expired'].expiresAt) < Date.now());
});

test('a stream of a scoped token carries later changes of its projects and environment only', async () => {
  let buf = '';
  const req = http.get(srv.url + '/api/client/streaming', { headers: { Authorization: tok['client:shop'] } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (d) => { buf += d; });
  });
  req.on('error', () => {});
  const until = Date.now() + 3000;
  while (!buf.includes('mx-shop') && Date.now() < until) await sleep(50);
  assert.ok(buf.includes('mx-shop'), 'no hydration');
  const after = (await srv.api('POST', FEAT('default'), { body: { name: 'mx-later-default', description: 'not for shop' } })).status;
  assert.equal(after, 201);
  assert.equal((await srv.api('POST', `${EP('shop', 'mx-shop', 'development')}/strategies`, { body: { name: 'default' } })).status, 200);
  assert.equal((await srv.api('POST', FEAT('shop'), { body: { name: 'mx-later-shop' } })).status, 201);
  const until2 = Date.now() + 3000;
  while (!buf.includes('mx-later-shop') && Date.now() < until2) await sleep(50);
  req.destroy();
  assert.ok(buf.includes('mx-later-shop'), 'the change of its own project did not arrive');
  assert.ok(!buf.includes('mx-later-default') && !buf.includes('not for shop'), 'a change of another project arrived');
});

test("SDK metrics of a scoped token count only its own projects' flags", async () => {
  const post = (token, app) => srv.api('POST', '/api/client/metrics', {
    token,
    body: { appName: app, instanceId: 'i', bucket: { start: new Date(Date.now() - 1000).toISOString(), stop: new Date().toISOString(),
      toggles: { 'mx-default': { yes: 5, no: 1 }, 'mx-shop': { yes: 7, no: 0 } } } },
  });
  assert.equal((await post(tok['client:shop'], 'mx-scoped-app')).status, 202);
  assert.equal((await post(tok['client:*'], 'mx-wide-app')).status, 202);
  const usage = async (flag) => (await srv.api('GET', `/api/admin/client-metrics/features/${flag}`)).json.usage.map((u) => u.appName);
  const onDefault = await usage('mx-default');
  const onShop = await usage('mx-shop');
  assert.ok(onShop.includes('mx-scoped-app') && onShop.includes('mx-wide-app'), JSON.stringify(onShop));
  assert.ok(onDefault.includes('mx-wide-app'), JSON.stringify(onDefault));
  assert.ok(!onDefault.includes('mx-scoped-app'), `a shop token counted usage of a default flag: ${JSON.stringify(onDefault)}`);
});
