'use strict';
// The authorization matrix of docs/admin-api.md ("Token kinds and roles"):
// every documented route × every kind of caller, checking the status class
// (2xx, 401 or 403). Objects a route needs are created as admin first, and
// destructive routes get fresh objects per cell, so that an allowed call
// can really succeed. A refused call must write nothing (no new event).
//
//   node --test tests/integration/auth.test.js     (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, adminSecret, clientSecret, frontendSecret, exportState, eventCount, sleep, show, removeTempDir } = require('./server');

let srv;
const tok = {}; // kind -> Authorization value (null: none)
let seq = 0;
const uniq = (p) => `${p}-${++seq}`;
const fx = {}; // shared fixture

async function admin(method, path, body, want) {
  const r = await srv.api(method, path, body === undefined ? {} : { body });
  if (want !== undefined) {
    assert.equal(r.status, want, `setup ${method} ${path} ${body ? JSON.stringify(body).slice(0, 200) : ''}: ${show(r)}`);
  } else {
    assert.ok(r.status >= 200 && r.status < 300, `setup ${method} ${path}: ${show(r)}`);
  }
  return r.json;
}

const FP = (f) => `/api/admin/projects/default/features/${f}`;
const EP = (f, env = 'production') => `${FP(f)}/environments/${env}`;

async function mkFlag() {
  const n = uniq('af');
  await admin('POST', '/api/admin/projects/default/features', { name: n }, 201);
  return n;
}
async function mkArchived() {
  const n = await mkFlag();
  await admin('DELETE', FP(n), undefined, 200);
  return n;
}
async function mkStrategy(f = fx.flag) {
  return (await admin('POST', `${EP(f)}/strategies`, { name: 'flexibleRollout', parameters: { rollout: '30' } }, 200)).id;
}
async function mkDefinition() {
  const n = uniq('cs');
  await admin('POST', '/api/admin/strategies', { name: n, parameters: [] }, 201);
  return n;
}
async function mkToken() {
  return (await admin('POST', '/api/admin/api-tokens', { tokenName: uniq('tk'), type: 'client', environment: 'development' }, 201)).id;
}
async function mkSegment() {
  return (await admin('POST', '/api/admin/segments', { name: uniq('sg'), constraints: [] }, 201)).id;
}
async function mkChildWithDep() {
  const c = await mkFlag();
  await admin('POST', `${FP(c)}/dependencies`, { feature: fx.parent }, 200);
  return c;
}
const variant = (name) => ({ name, weight: 0, weightType: 'variable', stickiness: 'default' });

// area: 'read' (default for GET), 'write', 'tokens' (admin role only),
// 'admin-only' (environment and feature-type changes: admin role only),
// 'viewer-post' (POSTs a viewer may make), 'public' (no token needed).
// ok: the status an allowed caller must get (default: any 2xx).
const ROUTES = [
  { m: 'GET', p: () => '/health', area: 'public', ok: 200 },
  { m: 'GET', p: () => '/ready', area: 'public', ok: 200 },
  { m: 'GET', p: () => '/metrics', area: 'public', ok: 200 },

  { m: 'GET', p: () => '/api/admin/projects', ok: 200 },
  { m: 'POST', p: () => '/api/admin/projects', body: () => ({ id: uniq('prj') }), ok: 201 },
  { m: 'GET', p: () => '/api/admin/projects/default', ok: 200 },
  {
    m: 'DELETE', p: (x) => `/api/admin/projects/${x.project}`, ok: 200,
    setup: async () => { const id = uniq('prj'); await admin('POST', '/api/admin/projects', { id }, 201); return { project: id }; },
  },
  { m: 'GET', p: () => '/api/admin/environments', ok: 200 },
  { m: 'POST', p: () => '/api/admin/environments', body: () => ({ name: uniq('env'), type: 'test' }), area: 'admin-only', ok: 201 },

  { m: 'GET', p: () => '/api/admin/projects/default/features', ok: 200 },
  { m: 'POST', p: () => '/api/admin/projects/default/features', body: () => ({ name: uniq('af') }), ok: 201 },
  { m: 'GET', p: () => FP(fx.flag), ok: 200 },
  { m: 'PUT', p: () => FP(fx.flag), body: () => ({ description: uniq('d') }), ok: 200 },
  { m: 'PATCH', p: () => FP(fx.flag), body: () => [{ op: 'replace', path: '/description', value: uniq('d') }], ok: 200 },
  { m: 'DELETE', p: (x) => FP(x.f), setup: async () => ({ f: await mkFlag() }), ok: 200 },
  { m: 'POST', p: () => '/api/admin/features/validate', body: () => ({ name: uniq('free') }), area: 'viewer-post', ok: 200 },
  { m: 'GET', p: () => '/api/admin/features', ok: 200 },
  { m: 'GET', p: () => '/api/admin/archive/features', ok: 200 },
  { m: 'POST', p: (x) => `/api/admin/archive/revive/${x.f}`, setup: async () => ({ f: await mkArchived() }), ok: 200 },
  { m: 'DELETE', p: (x) => `/api/admin/archive/${x.f}`, setup: async () => ({ f: await mkArchived() }), ok: 200 },
  { m: 'POST', p: () => '/api/admin/projects/default/stale', body: () => ({ features: [fx.flag], stale: (seq++ % 2) === 0 }), ok: 202 },
  { m: 'GET', p: () => `/api/admin/features/${fx.flag}/tags`, ok: 200 },
  { m: 'POST', p: () => `/api/admin/features/${fx.flag}/tags`, body: () => ({ type: 'simple', value: uniq('t') }), ok: 201 },
  {
    m: 'DELETE', p: (x) => `/api/admin/features/${fx.flag}/tags/simple/${x.v}`, ok: 200,
    setup: async () => { const v = uniq('t'); await admin('POST', `/api/admin/features/${fx.flag}/tags`, { type: 'simple', value: v }, 201); return { v }; },
  },

  { m: 'POST', p: () => `${EP(fx.flag)}/on`, ok: 200 },
  { m: 'POST', p: () => `${EP(fx.flag)}/off`, ok: 200 },
  { m: 'GET', p: () => `${EP(fx.flag)}/strategies`, ok: 200 },
  { m: 'POST', p: (x) => `${EP(x.f)}/strategies`, setup: async () => ({ f: await mkFlag() }), body: () => ({ name: 'default' }), ok: 200 },
  { m: 'GET', p: () => `${EP(fx.flag)}/strategies/${fx.strategy}`, ok: 200 },
  { m: 'PUT', p: () => `${EP(fx.flag)}/strategies/${fx.strategy}`, body: () => ({ name: 'flexibleRollout', parameters: { rollout: String(seq++ % 100) } }), ok: 200 },
  { m: 'DELETE', p: (x) => `${EP(fx.flag)}/strategies/${x.id}`, setup: async () => ({ id: await mkStrategy() }), ok: 200 },
  { m: 'POST', p: () => `${EP(fx.flag)}/strategies/set-sort-order`, body: () => [{ id: fx.strategy, sortOrder: 0 }], ok: 200 },
  { m: 'GET', p: () => `${EP(fx.flag)}/variants`, ok: 200 },
  { m: 'PUT', p: () => `${EP(fx.flag)}/variants`, body: () => [variant('a'), variant(uniq('b'))], ok: 200 },
  { m: 'PATCH', p: (x) => `${EP(x.f)}/variants`, setup: async () => ({ f: await mkFlag() }), body: () => [{ op: 'add', path: '/-', value: variant('only') }], ok: 200 },

  { m: 'GET', p: () => '/api/admin/segments', ok: 200 },
  { m: 'POST', p: () => '/api/admin/segments', body: () => ({ name: uniq('sg'), constraints: [] }), ok: 201 },
  { m: 'GET', p: () => `/api/admin/segments/${fx.segment}`, ok: 200 },
  { m: 'PUT', p: () => `/api/admin/segments/${fx.segment}`, body: () => ({ name: fx.segmentName, description: uniq('d'), constraints: [] }), ok: 204 },
  { m: 'DELETE', p: (x) => `/api/admin/segments/${x.id}`, setup: async () => ({ id: await mkSegment() }), ok: 204 },

  { m: 'POST', p: (x) => `${FP(x.c)}/dependencies`, setup: async () => ({ c: await mkFlag() }), body: () => ({ feature: fx.parent }), ok: 200 },
  { m: 'DELETE', p: (x) => `${FP(x.c)}/dependencies/${fx.parent}`, setup: async () => ({ c: await mkChildWithDep() }), ok: 200 },
  { m: 'DELETE', p: (x) => `${FP(x.c)}/dependencies`, setup: async () => ({ c: await mkChildWithDep() }), ok: 200 },

  { m: 'GET', p: () => '/api/admin/api-tokens', area: 'tokens', ok: 200 },
  { m: 'POST', p: () => '/api/admin/api-tokens', body: () => ({ tokenName: uniq('tk'), type: 'client', environment: 'production' }), area: 'tokens', ok: 201 },
  {
    m: 'PUT', p: (x) => `/api/admin/api-tokens/${x.id}`, setup: async () => ({ id: await mkToken() }),
    body: () => ({ expiresAt: new Date(Date.now() + 86400e3).toISOString() }), area: 'tokens', ok: 200,
  },
  { m: 'DELETE', p: (x) => `/api/admin/api-tokens/${x.id}`, setup: async () => ({ id: await mkToken() }), area: 'tokens', ok: 200 },

  { m: 'GET', p: () => '/api/admin/search/events?type=feature-created&limit=5', ok: 200 },
  { m: 'GET', p: () => '/api/admin/events', ok: 200 },
  { m: 'GET', p: () => '/api/admin/feature-types', ok: 200 },
  { m: 'PUT', p: () => '/api/admin/feature-types/release/lifetime', body: () => ({ lifetimeDays: 30 + (seq++ % 10) }), area: 'admin-only', ok: 200 },
  { m: 'POST', p: () => '/api/admin/playground', body: () => ({ environment: 'production', projects: '*', context: { userId: 'u1' } }), area: 'viewer-post', ok: 200 },
  { m: 'GET', p: () => '/api/admin/export', ok: 200 },
  // Custom strategy definitions, the archive per project and in bulk, the
  // Unleash import (admin role only; an empty dry run writes nothing).
  { m: 'GET', p: () => '/api/admin/strategies', ok: 200 },
  { m: 'GET', p: () => '/api/admin/strategies/flexibleRollout', ok: 200 },
  { m: 'POST', p: () => '/api/admin/strategies', body: () => ({ name: uniq('cs'), parameters: [] }), ok: 201 },
  { m: 'PUT', p: (x) => `/api/admin/strategies/${x.s}`, setup: async () => ({ s: await mkDefinition() }), body: () => ({ parameters: [{ name: 'a', type: 'string' }] }), ok: 200 },
  { m: 'DELETE', p: (x) => `/api/admin/strategies/${x.s}`, setup: async () => ({ s: await mkDefinition() }), ok: 200 },
  { m: 'POST', p: (x) => `/api/admin/strategies/${x.s}/deprecate`, setup: async () => ({ s: await mkDefinition() }), ok: 200 },
  { m: 'POST', p: (x) => `/api/admin/strategies/${x.s}/reactivate`, setup: async () => ({ s: await mkDefinition() }), ok: 200 },
  { m: 'GET', p: () => '/api/admin/archive/features/default', ok: 200 },
  { m: 'POST', p: () => '/api/admin/projects/default/archive', setup: async () => ({ f: await mkFlag() }), body: (x) => ({ features: [x.f] }), ok: 202 },
  { m: 'POST', p: () => '/api/admin/projects/default/revive', setup: async () => ({ f: await mkArchived() }), body: (x) => ({ features: [x.f] }), ok: 200 },
  { m: 'POST', p: () => '/api/admin/projects/default/delete', setup: async () => ({ f: await mkArchived() }), body: (x) => ({ features: [x.f] }), ok: 200 },
  { m: 'POST', p: () => '/api/admin/import/unleash', body: () => ({ dryRun: true, exports: [] }), area: 'admin-only', ok: 200 },
  // The server has flags, so an allowed import is a 409 (after the checks
  // of the token): it proves the caller got past authorization.
  { m: 'POST', p: () => '/api/admin/import', body: () => fx.exportDoc, ok: 409, editorEither: true },
];

const KINDS = ['none', 'unknown', 'admin', 'editor', 'viewer', 'client', 'frontend', 'revoked', 'expired'];

// What the spec's role table says; 'ok' = the route's own answer.
// Returns a list of acceptable outcomes.
function expected(kind, route) {
  const area = route.area || (route.m === 'GET' ? 'read' : 'write');
  if (area === 'public') return ['ok'];
  if (['none', 'unknown', 'revoked', 'expired'].includes(kind)) return [401];
  if (kind === 'client' || kind === 'frontend') return [403];
  if (kind === 'admin') return ['ok'];
  if (kind === 'editor') {
    // An import also replaces environments and feature types, which an
    // editor may not change: the spec allows reading it either way.
    if (route.editorEither) return ['ok', 403];
    return (area === 'tokens' || area === 'admin-only') ? [403] : ['ok'];
  }
  // viewer: GET routes, and the two documented POSTs. Whether "GET routes
  // only" includes GET /api/admin/api-tokens (which an editor may not call)
  // is not settled by the spec: either 2xx or 403 is accepted there.
  if (area === 'tokens' && route.m === 'GET') return ['ok', 403];
  if (route.m === 'GET' || area === 'viewer-post') return ['ok'];
  return [403];
}

function outcomeMatches(status, want, route) {
  return want.some((w) => (w === 'ok' ? status === route.ok : status === w));
}

test.before(async () => {
  const client = clientSecret('default', 'production');
  const frontend = frontendSecret('default', 'production');
  srv = await startServer({ clientTokens: [client], frontendTokens: [frontend] });
  tok.none = null;
  tok.unknown = adminSecret();
  tok.admin = srv.adminToken;
  tok.client = client;
  tok.frontend = frontend;
  const mk = async (body) => {
    const r = await admin('POST', '/api/admin/api-tokens', body, 201);
    assert.ok(typeof r.secret === 'string', `token secret returned: ${JSON.stringify(r)}`);
    return r;
  };
  tok.editor = (await mk({ tokenName: 'auth-editor', type: 'admin', role: 'editor' })).secret;
  tok.viewer = (await mk({ tokenName: 'auth-viewer', type: 'admin', role: 'viewer' })).secret;
  const rv = await mk({ tokenName: 'auth-revoked', type: 'admin', role: 'admin' });
  tok.revoked = rv.secret;
  const exAt = Date.now() + 1500;
  const ex = await mk({ tokenName: 'auth-expired', type: 'admin', role: 'admin', expiresAt: new Date(exAt).toISOString() });
  tok.expired = ex.secret;
  // Each token works before it is revoked or expires, so a 401 later means
  // exactly that.
  for (const k of ['admin', 'editor', 'viewer', 'revoked', 'expired']) {
    const r = await srv.api('GET', '/api/admin/projects', { token: tok[k] });
    assert.equal(r.status, 200, `sanity: ${k} token can GET /api/admin/projects: ${show(r)}`);
  }
  for (const k of ['client', 'frontend']) {
    const r = await srv.api('GET', '/api/admin/projects', { token: tok[k] });
    assert.equal(r.status, 403, `sanity: seeded ${k} token is known (403 on an admin route, not 401): ${show(r)}`);
  }
  await admin('DELETE', `/api/admin/api-tokens/${rv.id}`, undefined, 200);

  fx.flag = await mkFlag();
  fx.parent = await mkFlag();
  fx.strategy = await mkStrategy(fx.flag);
  await admin('PUT', `${EP(fx.flag)}/variants`, [variant('a')], 200);
  await admin('POST', `/api/admin/features/${fx.flag}/tags`, { type: 'simple', value: 'auth' }, 201);
  fx.segmentName = uniq('sg');
  fx.segment = (await admin('POST', '/api/admin/segments', { name: fx.segmentName, constraints: [] }, 201)).id;
  fx.exportDoc = await exportState(srv);

  const wait = exAt - Date.now() + 300;
  if (wait > 0) await sleep(wait);
});

test.after(async () => {
  if (srv) {
    await srv.stop('SIGTERM');
    removeTempDir(srv.dir);
  }
});

// Labels with placeholders, computed while the fixture is still empty.
const PLACEHOLDERS = { project: '{p}', f: '{f}', id: '{id}', v: '{value}', c: '{child}' };
function labelOf(route) {
  Object.assign(fx, { flag: '{f}', parent: '{parent}', strategy: '{id}', segment: '{id}' });
  const l = `${route.m} ${route.p(PLACEHOLDERS)}`;
  for (const k of Object.keys(fx)) delete fx[k];
  return l;
}

const LABELS = ROUTES.map(labelOf);

test('route table covers every documented route once', () => {
  assert.equal(new Set(LABELS).size, LABELS.length, LABELS.join('\n'));
  assert.equal(ROUTES.length, 66);
});

for (const [i, route] of ROUTES.entries()) {
  const label = LABELS[i];
  test(`authorization: ${label}`, async () => {
    const failures = [];
    for (const kind of KINDS) {
      const params = route.setup ? await route.setup() : {};
      const path = route.p(params);
      const body = route.body ? route.body(params) : undefined;
      const want = expected(kind, route);
      const refused = !want.includes('ok');
      const before = refused && route.m !== 'GET' ? await eventCount(srv) : null;
      const r = await srv.api(route.m, path, { token: tok[kind], ...(body !== undefined ? { body } : {}) });
      if (!outcomeMatches(r.status, want, route)) {
        failures.push(`${kind}: expected ${want.map((w) => (w === 'ok' ? route.ok : w)).join(' or ')}, got ${show(r).slice(0, 300)}`);
        continue;
      }
      if (r.status === 401 || r.status === 403) {
        if (!(r.json && typeof r.json.message === 'string')) failures.push(`${kind}: ${r.status} without a JSON {"message"} body: ${r.text.slice(0, 200)}`);
        if (before !== null) {
          const after = await eventCount(srv);
          if (after !== before) failures.push(`${kind}: refused with ${r.status} but the event count went ${before} -> ${after}`);
        }
      }
    }
    assert.deepEqual(failures, [], `${label}:\n  ${failures.join('\n  ')}`);
  });
}
