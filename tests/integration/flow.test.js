'use strict';
// End to end: the admin API of docs/admin-api.md, route by route, against a
// real `vexil serve` on a temporary SQLite database. The first test is the
// curl flow of the issue (create a flag, 10% rollout with a constraint, two
// JSON variants, enable in production, read the audit log, read the flag
// back); the others call every other documented route at least once and
// check the documented answer and the audit event it writes.
//
//   node --test tests/integration/flow.test.js     (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, allEvents, exportState, sleep, show, stderrLines, removeTempDir } = require('./server');

const F = (f, p = 'default') => `/api/admin/projects/${p}/features/${encodeURIComponent(f)}`;
const ENV = (f, env, p = 'default') => `${F(f, p)}/environments/${env}`;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;
const FLOW_TOKEN_NAME = 'flow-admin';

let srv;

function expectStatus(r, status, what) {
  assert.equal(r.status, status, `${what}: expected ${status}, got ${show(r)}`);
}

function expectTime(v, what) {
  assert.ok(typeof v === 'string' && TIME_RE.test(v) && !Number.isNaN(Date.parse(v)),
    `${what}: expected an RFC 3339 UTC time like 2026-11-25T06:17:33.000Z, got ${JSON.stringify(v)}`);
}

function expectError(r, status, what) {
  expectStatus(r, status, what);
  assert.ok(r.json && typeof r.json.message === 'string' && r.json.message.length > 0,
    `${what}: error body must be {"message": ..., "details": [...]}, got ${r.text.slice(0, 300)}`);
}

async function newestEvent() {
  const r = await srv.api('GET', '/api/admin/search/events?limit=1');
  expectStatus(r, 200, 'GET /api/admin/search/events?limit=1');
  return { total: r.json.total, ev: r.json.events[0] };
}

// Runs one mutation and checks that it wrote exactly one audit event, of one
// of `types`, by the flow token. Returns the answer and the event.
// `alsoAllowed`: event types that may precede it in the same request (turning
// on an environment without strategies adds one, which Unleash logs as
// feature-strategy-add before feature-environment-enabled).
async function oneEvent(types, fn, fields = {}, alsoAllowed = []) {
  types = [].concat(types);
  const before = await newestEvent();
  const r = await fn();
  const after = await newestEvent();
  assert.ok(r.status >= 200 && r.status < 300, `mutation failed (${types.join('|')}): ${show(r)}`);
  const added = after.total - before.total;
  if (added !== 1 && alsoAllowed.length > 0 && added === 2) {
    const two = await srv.api('GET', '/api/admin/search/events?limit=2');
    assert.ok(alsoAllowed.includes(two.json.events[1].type),
      `expected one new audit event (${types.join('|')}), or it and ${alsoAllowed.join('|')}, got ${JSON.stringify(two.json.events.map((e) => e.type))}`);
  } else {
    assert.equal(added, 1,
      `expected exactly one new audit event (${types.join('|')}), total went ${before.total} -> ${after.total}`);
  }
  assert.ok(types.includes(after.ev.type), `expected the newest event to be ${types.join(' or ')}, got ${JSON.stringify(after.ev)}`);
  assert.equal(after.ev.createdBy, FLOW_TOKEN_NAME, `event createdBy must be the acting token's name: ${JSON.stringify(after.ev)}`);
  expectTime(after.ev.createdAt, `event ${after.ev.type} createdAt`);
  for (const [k, v] of Object.entries(fields)) {
    assert.deepEqual(after.ev[k], v, `event ${after.ev.type}.${k}: ${JSON.stringify(after.ev)}`);
  }
  return { r, ev: after.ev };
}

async function createFlag(name, extra = {}, project = 'default') {
  const r = await srv.api('POST', `/api/admin/projects/${project}/features`, { body: { name, ...extra } });
  expectStatus(r, 201, `POST /api/admin/projects/${project}/features ${name}`);
  return r.json;
}

async function getFlag(name, project = 'default') {
  const r = await srv.api('GET', F(name, project));
  expectStatus(r, 200, `GET ${F(name, project)}`);
  return r.json;
}

async function addStrategy(flag, env, body) {
  const r = await srv.api('POST', `${ENV(flag, env)}/strategies`, { body });
  expectStatus(r, 200, `POST ${ENV(flag, env)}/strategies ${JSON.stringify(body)}`);
  return r.json;
}

function envOf(feature, name) {
  assert.ok(Array.isArray(feature.environments), `feature.environments must be an array: ${JSON.stringify(feature)}`);
  const e = feature.environments.find((x) => x.name === name);
  assert.ok(e, `feature ${feature.name} has no environment ${name}: ${JSON.stringify(feature.environments)}`);
  return e;
}

function names(list) { return list.map((x) => x.name); }

function weights(variants) {
  return variants.map((v) => [v.name, v.weight, v.weightType]);
}

test.before(async () => {
  srv = await startServer();
  // The flow runs as a token created through the API, so that the audit
  // log's createdBy is known; it is sent in the `Bearer <secret>` form.
  const r = await srv.api('POST', '/api/admin/api-tokens', { body: { tokenName: FLOW_TOKEN_NAME, type: 'admin', role: 'admin' } });
  expectStatus(r, 201, 'POST /api/admin/api-tokens (admin, role admin)');
  assert.match(r.json.secret, /^\*:\*\.[0-9a-f]{64}$/, `admin token secret: ${r.text}`);
  srv.seededToken = srv.adminToken;
  srv.adminToken = `Bearer ${r.json.secret}`;
});

test.after(async () => {
  if (srv) {
    const x = await srv.stop('SIGTERM');
    if (process.env.VEXIL_IT_KEEP !== '1') removeTempDir(srv.dir);
    assert.equal(x.code, 0, `vexil serve should exit 0 on SIGTERM, got ${JSON.stringify(x)}\n${srv.stderr.slice(-2000)}`);
  }
});

test('operations: /health, /ready, /metrics need no token', async () => {
  let r = await srv.api('GET', '/health', { token: null });
  expectStatus(r, 200, 'GET /health');
  assert.deepEqual(r.json, { health: 'GOOD' });
  r = await srv.api('GET', '/ready', { token: null });
  expectStatus(r, 200, 'GET /ready');
  assert.deepEqual(r.json, { health: 'READY' });
  r = await srv.api('GET', '/metrics', { token: null });
  expectStatus(r, 200, 'GET /metrics');
  assert.match(r.text, /vexil_http_requests_total/);
});

test('project default cannot be deleted, even without flags', async () => {
  let r = await srv.api('GET', '/api/admin/projects/default');
  expectStatus(r, 200, 'GET /api/admin/projects/default');
  assert.deepEqual(r.json.features, [], 'a first start has no flags');
  r = await srv.api('DELETE', '/api/admin/projects/default');
  assert.ok(r.status >= 400 && r.status < 500 && r.status !== 404, `DELETE /api/admin/projects/default must be refused: ${show(r)}`);
  r = await srv.api('GET', '/api/admin/projects/default');
  expectStatus(r, 200, 'default still exists');
});

test('the curl flow: flag, 10% rollout with a constraint, JSON variants, enable, events, read back', async () => {
  const name = 'new-checkout';
  // 1. create
  let r = await srv.api('POST', '/api/admin/projects/default/features', {
    body: { name, description: 'New checkout flow', impressionData: true, tags: [{ type: 'simple', value: 'checkout' }] },
  });
  expectStatus(r, 201, 'POST /api/admin/projects/default/features');
  assert.match(r.headers.get('content-type') || '', /^application\/json/, 'responses are JSON');
  const created = r.json;
  assert.equal(created.name, name);
  assert.equal(created.project, 'default');
  assert.equal(created.type, 'release', 'type defaults to release');
  assert.equal(created.description, 'New checkout flow');
  assert.equal(created.impressionData, true);
  assert.equal(created.stale, false);
  assert.equal(created.archived, false);
  assert.equal(created.archivedAt, null);
  expectTime(created.createdAt, 'createdAt');

  // 2. flexibleRollout 10%, userId stickiness, country IN [TH]; the rollout
  //    is sent as a number and must come back as a string.
  r = await srv.api('POST', `${ENV(name, 'production')}/strategies`, {
    body: {
      name: 'flexibleRollout',
      parameters: { rollout: 10, stickiness: 'userId' },
      constraints: [{ contextName: 'country', operator: 'IN', values: ['TH'] }],
    },
  });
  expectStatus(r, 200, 'POST …/environments/production/strategies');
  const strat = r.json;
  assert.ok(strat.id !== undefined && strat.id !== null && String(strat.id).length > 0, `strategy id: ${r.text}`);
  assert.equal(strat.name, 'flexibleRollout');
  assert.equal(strat.title, null);
  assert.equal(strat.disabled, false);
  assert.equal(strat.sortOrder, 0);
  assert.deepEqual(strat.parameters, { rollout: '10', stickiness: 'userId', groupId: name },
    'parameters are strings; groupId defaults to the flag name');
  assert.equal(strat.constraints.length, 1);
  const c = strat.constraints[0];
  assert.equal(c.contextName, 'country');
  assert.equal(c.operator, 'IN');
  assert.deepEqual(c.values, ['TH']);
  assert.equal(c.caseInsensitive, false);
  assert.equal(c.inverted, false);
  assert.deepEqual(strat.segments, []);
  assert.deepEqual(strat.variants, []);

  // 3. two variants with JSON payloads (variable: normalised to 500/500, sorted by name)
  r = await srv.api('PUT', `${ENV(name, 'production')}/variants`, {
    body: [
      { name: 'blue', weight: 100, weightType: 'variable', stickiness: 'default', payload: { type: 'json', value: '{"color":"blue"}' } },
      { name: 'aqua', weight: 900, weightType: 'variable', stickiness: 'default', payload: { type: 'json', value: '{"color":"aqua","big":true}' } },
    ],
  });
  expectStatus(r, 200, 'PUT …/environments/production/variants');
  assert.equal(r.json.version, 1);
  assert.deepEqual(weights(r.json.variants), [['aqua', 500, 'variable'], ['blue', 500, 'variable']]);
  assert.deepEqual(r.json.variants[0].payload, { type: 'json', value: '{"color":"aqua","big":true}' });
  assert.deepEqual(r.json.variants[1].payload, { type: 'json', value: '{"color":"blue"}' });
  assert.equal(r.json.variants[0].stickiness, 'default');
  const variants = r.json.variants;

  // 4. enable in production
  r = await srv.api('POST', `${ENV(name, 'production')}/on`);
  expectStatus(r, 200, 'POST …/environments/production/on');
  assert.deepEqual(r.json, {});
  r = await srv.api('GET', `${ENV(name, 'production')}/strategies`);
  expectStatus(r, 200, 'GET …/strategies');
  assert.equal(r.json.length, 1, 'turning on an environment that has a strategy adds none');

  // 5. the audit log
  const evs = await allEvents(srv, `feature=${name}`);
  const want = ['feature-environment-enabled', 'feature-environment-variants-updated', 'feature-strategy-add', 'feature-created'];
  const idx = want.map((t) => evs.findIndex((e) => e.type === t));
  for (let i = 0; i < want.length; i++) {
    assert.ok(idx[i] >= 0, `no ${want[i]} event for ${name}: ${JSON.stringify(evs.map((e) => e.type))}`);
    const e = evs[idx[i]];
    assert.equal(e.createdBy, FLOW_TOKEN_NAME, `${want[i]}.createdBy is the token's name: ${JSON.stringify(e)}`);
    assert.equal(e.featureName, name);
    assert.equal(e.project, 'default');
    expectTime(e.createdAt, `${want[i]}.createdAt`);
    for (const k of ['id', 'data', 'preData', 'environment']) assert.ok(k in e, `event lacks "${k}": ${JSON.stringify(e)}`);
    if (i < 3) assert.equal(e.environment, 'production', `${want[i]}.environment`);
  }
  for (let i = 1; i < idx.length; i++) {
    assert.ok(idx[i - 1] < idx[i], `events must be newest first: ${JSON.stringify(evs.map((e) => e.type))}`);
  }

  // 6. read the flag back: every field
  const f = await getFlag(name);
  assert.equal(f.name, name);
  assert.equal(f.project, 'default');
  assert.equal(f.type, 'release');
  assert.equal(f.description, 'New checkout flow');
  assert.equal(f.impressionData, true);
  assert.equal(f.stale, false);
  assert.equal(f.archived, false);
  assert.equal(f.archivedAt, null);
  assert.equal(f.createdAt, created.createdAt);
  expectTime(f.updatedAt, 'updatedAt');
  assert.ok(Date.parse(f.updatedAt) >= Date.parse(f.createdAt), 'updatedAt >= createdAt');
  assert.equal(f.lastSeenAt, null);
  assert.deepEqual(f.tags, [{ type: 'simple', value: 'checkout' }]);
  assert.deepEqual(f.dependencies, []);
  assert.ok(f.environments.length >= 2);
  const dev = envOf(f, 'development');
  const prod = envOf(f, 'production');
  assert.equal(dev.type, 'development');
  assert.equal(dev.enabled, false);
  assert.deepEqual(dev.strategies, []);
  assert.deepEqual(dev.variants, []);
  assert.equal(prod.type, 'production');
  assert.equal(prod.enabled, true);
  assert.deepEqual(prod.strategies, [strat]);
  assert.deepEqual(prod.variants, variants);
  assert.equal(typeof dev.sortOrder, 'number');
  assert.ok(dev.sortOrder < prod.sortOrder, 'development sorts before production');
  const orders = f.environments.map((e) => e.sortOrder);
  assert.deepEqual(orders, [...orders].sort((a, b) => a - b), 'environments are listed by sortOrder');

  // the same flag in both listings
  r = await srv.api('GET', '/api/admin/features');
  expectStatus(r, 200, 'GET /api/admin/features');
  assert.equal(r.json.version, 1);
  assert.deepEqual(r.json.features.find((x) => x.name === name), f);
  r = await srv.api('GET', '/api/admin/projects/default/features');
  expectStatus(r, 200, 'GET /api/admin/projects/default/features');
  assert.equal(r.json.version, 1);
  assert.deepEqual(r.json.features.find((x) => x.name === name), f);
});

// MurmurHash3 x86 32-bit of an ASCII string (what Unleash rollouts hash).
function murmur3(key, seed = 0) {
  let h = seed >>> 0;
  const n = key.length;
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let i = 0;
  const mixK = (k) => Math.imul(((k = Math.imul(k, c1)) << 15) | (k >>> 17), c2);
  for (; i + 4 <= n; i += 4) {
    const k = (key.charCodeAt(i) & 0xff) | ((key.charCodeAt(i + 1) & 0xff) << 8) |
      ((key.charCodeAt(i + 2) & 0xff) << 16) | ((key.charCodeAt(i + 3) & 0xff) << 24);
    h ^= mixK(k);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (n & 3) {
    case 3: k ^= (key.charCodeAt(i + 2) & 0xff) << 16; // fall through
    case 2: k ^= (key.charCodeAt(i + 1) & 0xff) << 8; // fall through
    case 1: k ^= key.charCodeAt(i) & 0xff; h ^= mixK(k);
  }
  h ^= n;
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

test('the 10% rollout answers as Unleash would (playground, 200 users)', async () => {
  // new-checkout from the curl flow: production on, flexibleRollout 10% by
  // userId, country IN [TH], variants aqua/blue 500/500.
  let on = 0;
  const wrong = [];
  for (let u = 0; u < 200; u++) {
    const userId = `user-${u}`;
    const r = await srv.api('POST', '/api/admin/playground', {
      body: { environment: 'production', projects: '*', context: { appName: 'web', userId, properties: { country: 'TH' } } },
    });
    expectStatus(r, 200, 'playground');
    const f = r.json.features.find((x) => x.name === 'new-checkout');
    const bucket = (murmur3(`new-checkout:${userId}`) % 100) + 1;
    const want = bucket <= 10;
    const vBucket = (murmur3(`new-checkout:${userId}`, 86028157) % 1000) + 1;
    const wantVariant = want ? (vBucket <= 500 ? 'aqua' : 'blue') : 'disabled';
    if (!f || f.isEnabled !== want || f.variant?.name !== wantVariant) {
      wrong.push(`${userId}: expected ${want}/${wantVariant}, got ${f ? `${f.isEnabled}/${f.variant?.name}` : 'no entry'}`);
    }
    if (want) on++;
  }
  assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} of 200 users answered differently from Unleash's hashing`);
  assert.ok(on > 5 && on < 40, `about 10% of 200 users are on (${on})`);
});

test('authorization header: raw secret and Bearer form both accepted', async () => {
  let r = await srv.api('GET', '/api/admin/projects', { token: srv.seededToken });
  expectStatus(r, 200, 'raw secret');
  r = await srv.api('GET', '/api/admin/projects', { token: `Bearer ${srv.seededToken}` });
  expectStatus(r, 200, 'Bearer secret');
  r = await srv.api('GET', '/api/admin/projects', { token: null });
  expectError(r, 401, 'no token');
});

test('names: 100 characters from the URL-safe set are accepted', async () => {
  const long = 'a'.repeat(97) + '-_.~'.slice(0, 3);
  assert.equal(long.length, 100);
  await createFlag(long);
  const f = await getFlag(long);
  assert.equal(f.name, long);
  const tilde = 'x~y.z_w-1';
  await createFlag(tilde);
  assert.equal((await getFlag(tilde)).name, tilde);
});

test('projects: list, create, 409, get with features, delete rules', async () => {
  let r = await srv.api('GET', '/api/admin/projects');
  expectStatus(r, 200, 'GET /api/admin/projects');
  assert.equal(r.json.version, 1);
  const def = r.json.projects.find((p) => p.id === 'default');
  assert.ok(def, `project default exists after the first start: ${r.text}`);
  for (const k of ['id', 'name', 'description', 'createdAt', 'featureCount']) assert.ok(k in def, `project lacks ${k}: ${JSON.stringify(def)}`);
  expectTime(def.createdAt, 'project createdAt');

  const { r: cr } = await oneEvent('project-created', () => srv.api('POST', '/api/admin/projects', {
    body: { id: 'payments', name: 'Payments', description: 'Money things' },
  }));
  expectStatus(cr, 201, 'POST /api/admin/projects');
  assert.equal(cr.json.id, 'payments');
  assert.equal(cr.json.name, 'Payments');
  assert.equal(cr.json.description, 'Money things');

  r = await srv.api('POST', '/api/admin/projects', { body: { id: 'payments' } });
  expectError(r, 409, 'POST /api/admin/projects with an existing id');

  r = await srv.api('GET', '/api/admin/projects/payments');
  expectStatus(r, 200, 'GET /api/admin/projects/payments');
  assert.equal(r.json.id, 'payments');
  assert.deepEqual(r.json.features, []);

  await createFlag('pay-flag', {}, 'payments');
  r = await srv.api('GET', '/api/admin/projects/payments');
  expectStatus(r, 200, 'GET /api/admin/projects/payments');
  assert.deepEqual(r.json.features.map((x) => x.name), ['pay-flag']);
  r = await srv.api('GET', '/api/admin/projects');
  assert.equal(r.json.projects.find((p) => p.id === 'payments').featureCount, 1);
  r = await srv.api('GET', '/api/admin/projects/payments/features');
  expectStatus(r, 200, 'GET /api/admin/projects/payments/features');
  assert.deepEqual(names(r.json.features), ['pay-flag']);
  assert.equal(r.json.features[0].project, 'payments');

  r = await srv.api('DELETE', '/api/admin/projects/payments');
  expectError(r, 409, 'DELETE a project that has a flag');
  r = await srv.api('DELETE', F('pay-flag', 'payments'));
  expectStatus(r, 200, 'archive pay-flag');
  r = await srv.api('DELETE', '/api/admin/projects/payments');
  expectError(r, 409, 'DELETE a project that has an archived flag');
  r = await srv.api('DELETE', '/api/admin/archive/pay-flag');
  expectStatus(r, 200, 'DELETE /api/admin/archive/pay-flag');

  const { r: dr } = await oneEvent('project-deleted', () => srv.api('DELETE', '/api/admin/projects/payments'), { project: 'payments' });
  assert.deepEqual(dr.json, {});
  r = await srv.api('GET', '/api/admin/projects/payments');
  expectError(r, 404, 'GET a deleted project');
});

test('environments: list, create, 409, usable by flags', async () => {
  let r = await srv.api('GET', '/api/admin/environments');
  expectStatus(r, 200, 'GET /api/admin/environments');
  assert.equal(r.json.version, 1);
  const dev = r.json.environments.find((e) => e.name === 'development');
  const prod = r.json.environments.find((e) => e.name === 'production');
  assert.ok(dev && prod, `development and production exist after the first start: ${r.text}`);
  assert.equal(dev.type, 'development');
  assert.equal(prod.type, 'production');
  for (const e of [dev, prod]) {
    assert.equal(e.enabled, true);
    assert.equal(typeof e.sortOrder, 'number');
    expectTime(e.createdAt, `environment ${e.name} createdAt`);
  }

  const { r: cr } = await oneEvent('environment-created', () => srv.api('POST', '/api/admin/environments', {
    body: { name: 'staging', type: 'preproduction', sortOrder: 5 },
  }));
  expectStatus(cr, 201, 'POST /api/admin/environments');
  r = await srv.api('GET', '/api/admin/environments');
  const st = r.json.environments.find((e) => e.name === 'staging');
  assert.ok(st, 'staging listed');
  assert.equal(st.type, 'preproduction');
  assert.equal(st.sortOrder, 5);

  r = await srv.api('POST', '/api/admin/environments', { body: { name: 'staging', type: 'test' } });
  expectError(r, 409, 'POST /api/admin/environments with an existing name');

  await createFlag('env-flag');
  await oneEvent('feature-environment-enabled', () => srv.api('POST', `${ENV('env-flag', 'staging')}/on`), { environment: 'staging' }, ['feature-strategy-add']);
  const f = await getFlag('env-flag');
  assert.equal(envOf(f, 'staging').enabled, true);
  assert.equal(envOf(f, 'staging').type, 'preproduction');
});

test('features/validate: free 200, taken 409, invalid 400', async () => {
  let r = await srv.api('POST', '/api/admin/features/validate', { body: { name: 'a-free-name' } });
  expectStatus(r, 200, 'validate a free name');
  assert.deepEqual(r.json, {});
  r = await srv.api('POST', '/api/admin/features/validate', { body: { name: 'new-checkout' } });
  expectError(r, 409, 'validate a taken name');
  r = await srv.api('POST', '/api/admin/features/validate', { body: { name: 'bad name' } });
  expectError(r, 400, 'validate an invalid name');
  assert.equal(r.json.details?.[0]?.path, '/name');
});

test('PUT and PATCH a flag', async () => {
  await createFlag('meta-flag', { description: 'first' });
  const typesR = await srv.api('GET', '/api/admin/feature-types');
  const otherType = typesR.json.types.map((t) => t.id).find((t) => t !== 'release');
  assert.ok(otherType, 'a feature type other than release exists');

  const { r } = await oneEvent(['feature-metadata-updated', 'feature-updated'], () => srv.api('PUT', F('meta-flag'), {
    body: { type: otherType, description: 'second', impressionData: true, stale: false },
  }), { featureName: 'meta-flag' });
  expectStatus(r, 200, 'PUT flag');
  assert.equal(r.json.name, 'meta-flag');
  assert.equal(r.json.type, otherType);
  assert.equal(r.json.description, 'second');
  assert.equal(r.json.impressionData, true);
  assert.equal(r.json.stale, false);
  assert.deepEqual(await getFlag('meta-flag'), r.json);

  let r2 = await srv.api('PUT', F('meta-flag'), { body: { name: 'meta-flag', project: 'default', description: 'third' } });
  expectStatus(r2, 200, 'PUT with matching name and project');
  assert.equal(r2.json.description, 'third');
  r2 = await srv.api('PUT', F('meta-flag'), { body: { name: 'other-name', description: 'x' } });
  expectError(r2, 400, 'PUT with a different name');
  assert.equal((await getFlag('meta-flag')).description, 'third');

  const { r: p } = await oneEvent(['feature-metadata-updated', 'feature-updated', 'feature-stale-on'], () => srv.api('PATCH', F('meta-flag'), {
    body: [
      { op: 'replace', path: '/description', value: 'patched' },
      { op: 'replace', path: '/impressionData', value: false },
      { op: 'replace', path: '/stale', value: true },
    ],
  }));
  expectStatus(p, 200, 'PATCH flag');
  assert.equal(p.json.description, 'patched');
  assert.equal(p.json.impressionData, false);
  assert.equal(p.json.stale, true);
  assert.equal(p.json.type, otherType);
  assert.deepEqual(await getFlag('meta-flag'), p.json);
});

test('archive, revive, delete for good', async () => {
  const n = 'to-archive';
  await createFlag(n);
  const { r } = await oneEvent('feature-archived', () => srv.api('DELETE', F(n)), { featureName: n });
  assert.deepEqual(r.json, {});
  let a = await srv.api('GET', '/api/admin/archive/features');
  expectStatus(a, 200, 'GET /api/admin/archive/features');
  assert.equal(a.json.version, 1);
  const af = a.json.features.find((x) => x.name === n);
  assert.ok(af, 'archived flag listed in the archive');
  assert.equal(af.archived, true);
  expectTime(af.archivedAt, 'archivedAt');
  assert.ok(a.json.features.every((x) => x.archived === true), 'archive lists archived flags only');
  let l = await srv.api('GET', '/api/admin/features');
  assert.ok(!names(l.json.features).includes(n), 'GET /api/admin/features leaves archived flags out');
  l = await srv.api('GET', '/api/admin/projects/default/features');
  assert.ok(!names(l.json.features).includes(n), 'project features leave archived flags out');
  let x = await srv.api('POST', '/api/admin/projects/default/features', { body: { name: n } });
  expectError(x, 409, 'creating a flag with an archived flag\'s name');
  x = await srv.api('POST', '/api/admin/features/validate', { body: { name: n } });
  expectError(x, 409, 'validate an archived flag\'s name');

  const { r: rv } = await oneEvent('feature-revived', () => srv.api('POST', `/api/admin/archive/revive/${n}`), { featureName: n });
  assert.deepEqual(rv.json, {});
  const f = await getFlag(n);
  assert.equal(f.archived, false);
  assert.equal(f.archivedAt, null);
  l = await srv.api('GET', '/api/admin/features');
  assert.ok(names(l.json.features).includes(n), 'revived flag listed again');

  x = await srv.api('DELETE', `/api/admin/archive/${n}`);
  expectError(x, 409, 'DELETE /api/admin/archive/{f} of a flag that is not archived');

  expectStatus(await srv.api('DELETE', F(n)), 200, 'archive again');
  const { r: d } = await oneEvent('feature-deleted', () => srv.api('DELETE', `/api/admin/archive/${n}`), { featureName: n });
  assert.deepEqual(d.json, {});
  a = await srv.api('GET', '/api/admin/archive/features');
  assert.ok(!names(a.json.features).includes(n), 'deleted flag gone from the archive');
  expectError(await srv.api('GET', F(n)), 404, 'GET a deleted flag');
  x = await srv.api('POST', '/api/admin/features/validate', { body: { name: n } });
  expectStatus(x, 200, 'the name of a deleted flag is free again');
});

test('stale: POST /projects/{p}/stale', async () => {
  await createFlag('stale-a');
  await createFlag('stale-b');
  const { r } = await oneEvent('feature-stale-on', () => srv.api('POST', '/api/admin/projects/default/stale', {
    body: { features: ['stale-a'], stale: true },
  }), { featureName: 'stale-a' });
  expectStatus(r, 202, 'POST stale');
  assert.deepEqual(r.json, {});
  assert.equal((await getFlag('stale-a')).stale, true);
  assert.equal((await getFlag('stale-b')).stale, false);

  let r2 = await srv.api('POST', '/api/admin/projects/default/stale', { body: { features: ['stale-a', 'stale-b'], stale: true } });
  expectStatus(r2, 202, 'POST stale for two flags');
  assert.equal((await getFlag('stale-b')).stale, true);
  await oneEvent('feature-stale-off', () => srv.api('POST', '/api/admin/projects/default/stale', {
    body: { features: ['stale-a'], stale: false },
  }), { featureName: 'stale-a' });
  assert.equal((await getFlag('stale-a')).stale, false);
  r2 = await srv.api('POST', '/api/admin/projects/default/stale', { body: { features: ['stale-b'], stale: false } });
  expectStatus(r2, 202, 'POST stale false');
  assert.equal((await getFlag('stale-b')).stale, false);
});

test('tags: list, add, remove', async () => {
  let r = await srv.api('GET', '/api/admin/features/new-checkout/tags');
  expectStatus(r, 200, 'GET tags');
  assert.deepEqual(r.json, { version: 1, tags: [{ type: 'simple', value: 'checkout' }] });
  const { r: add } = await oneEvent('feature-tagged', () => srv.api('POST', '/api/admin/features/new-checkout/tags', {
    body: { type: 'simple', value: 'beta' },
  }), { featureName: 'new-checkout' });
  expectStatus(add, 201, 'POST tag');
  assert.equal(add.json.type, 'simple');
  assert.equal(add.json.value, 'beta');
  r = await srv.api('GET', '/api/admin/features/new-checkout/tags');
  assert.deepEqual(r.json.tags.map((t) => `${t.type}:${t.value}`).sort(), ['simple:beta', 'simple:checkout']);
  assert.deepEqual((await getFlag('new-checkout')).tags.map((t) => t.value).sort(), ['beta', 'checkout']);

  const { r: del } = await oneEvent('feature-untagged', () => srv.api('DELETE', '/api/admin/features/new-checkout/tags/simple/beta'), { featureName: 'new-checkout' });
  assert.deepEqual(del.json, {});
  r = await srv.api('GET', '/api/admin/features/new-checkout/tags');
  assert.deepEqual(r.json.tags, [{ type: 'simple', value: 'checkout' }]);
});

test('strategies: add with defaults, get, put, set-sort-order, delete', async () => {
  const n = 'strat-flag';
  await createFlag(n);
  const base = `${ENV(n, 'production')}/strategies`;
  const { r: a1 } = await oneEvent('feature-strategy-add', () => srv.api('POST', base, {
    body: { name: 'flexibleRollout', parameters: { rollout: '25' } },
  }), { featureName: n, environment: 'production' });
  const s1 = a1.json;
  assert.deepEqual(s1.parameters, { rollout: '25', stickiness: 'default', groupId: n });
  const s2 = await addStrategy(n, 'production', { name: 'flexibleRollout' });
  assert.deepEqual(s2.parameters, { rollout: '100', stickiness: 'default', groupId: n }, 'flexibleRollout defaults');
  const s3 = await addStrategy(n, 'production', { name: 'userWithId', parameters: { userIds: 'u1,u2' } });
  assert.deepEqual(s3.parameters, { userIds: 'u1,u2' });
  assert.ok(s1.sortOrder < s2.sortOrder && s2.sortOrder < s3.sortOrder, `new strategies go last: ${[s1, s2, s3].map((s) => s.sortOrder)}`);
  assert.equal(new Set([s1.id, s2.id, s3.id]).size, 3, 'strategy ids are distinct');

  let r = await srv.api('GET', base);
  expectStatus(r, 200, 'GET strategies');
  assert.deepEqual(r.json.map((s) => s.id), [s1.id, s2.id, s3.id]);
  r = await srv.api('GET', `${base}/${s1.id}`);
  expectStatus(r, 200, 'GET strategy by id');
  assert.deepEqual(r.json, s1);

  const { r: up } = await oneEvent('feature-strategy-update', () => srv.api('PUT', `${base}/${s1.id}`, {
    body: {
      name: 'flexibleRollout', title: 'half', disabled: true,
      parameters: { rollout: 50, stickiness: 'sessionId', groupId: 'g1' },
      constraints: [{ contextName: 'appName', operator: 'STR_STARTS_WITH', values: ['web'], caseInsensitive: true, inverted: true }],
    },
  }), { featureName: n, environment: 'production' });
  assert.equal(up.json.id, s1.id);
  assert.equal(up.json.title, 'half');
  assert.equal(up.json.disabled, true);
  assert.deepEqual(up.json.parameters, { rollout: '50', stickiness: 'sessionId', groupId: 'g1' });
  assert.equal(up.json.constraints[0].operator, 'STR_STARTS_WITH');
  assert.equal(up.json.constraints[0].caseInsensitive, true);
  assert.equal(up.json.constraints[0].inverted, true);
  r = await srv.api('GET', `${base}/${s1.id}`);
  assert.deepEqual(r.json, up.json);

  const { r: so } = await oneEvent('strategy-order-changed', () => srv.api('POST', `${base}/set-sort-order`, {
    body: [{ id: s3.id, sortOrder: 0 }, { id: s1.id, sortOrder: 1 }, { id: s2.id, sortOrder: 2 }],
  }), { featureName: n, environment: 'production' });
  assert.deepEqual(so.json, {});
  r = await srv.api('GET', base);
  assert.deepEqual(r.json.map((s) => s.id), [s3.id, s1.id, s2.id], 'order after set-sort-order');
  assert.deepEqual(envOf(await getFlag(n), 'production').strategies.map((s) => s.id), [s3.id, s1.id, s2.id]);

  const { r: del } = await oneEvent('feature-strategy-remove', () => srv.api('DELETE', `${base}/${s2.id}`), { featureName: n, environment: 'production' });
  assert.deepEqual(del.json, {});
  expectError(await srv.api('GET', `${base}/${s2.id}`), 404, 'GET a deleted strategy');
  r = await srv.api('GET', base);
  assert.deepEqual(r.json.map((s) => s.id), [s3.id, s1.id]);
});

test('on/off: enabling an environment without strategies adds flexibleRollout 100%', async () => {
  const n = 'default-on';
  await createFlag(n);
  const { r } = await oneEvent('feature-environment-enabled', () => srv.api('POST', `${ENV(n, 'development')}/on`), { featureName: n, environment: 'development' }, ['feature-strategy-add']);
  assert.deepEqual(r.json, {});
  let s = await srv.api('GET', `${ENV(n, 'development')}/strategies`);
  expectStatus(s, 200, 'GET strategies');
  assert.equal(s.json.length, 1, `one strategy added: ${s.text}`);
  assert.equal(s.json[0].name, 'flexibleRollout');
  assert.deepEqual(s.json[0].parameters, { rollout: '100', stickiness: 'default', groupId: n });
  let f = await getFlag(n);
  assert.equal(envOf(f, 'development').enabled, true);
  assert.equal(envOf(f, 'production').enabled, false);

  const { r: off } = await oneEvent('feature-environment-disabled', () => srv.api('POST', `${ENV(n, 'development')}/off`), { featureName: n, environment: 'development' });
  assert.deepEqual(off.json, {});
  f = await getFlag(n);
  assert.equal(envOf(f, 'development').enabled, false);
  assert.equal(envOf(f, 'development').strategies.length, 1, 'turning off keeps the strategies');
  expectStatus(await srv.api('POST', `${ENV(n, 'development')}/on`), 200, 'on again');
  s = await srv.api('GET', `${ENV(n, 'development')}/strategies`);
  assert.equal(s.json.length, 1, 'turning on again adds no second strategy');
});

test('variants: PUT/PATCH with weight normalisation, payloads, overrides', async () => {
  const n = 'var-flag';
  await createFlag(n);
  const url = `${ENV(n, 'production')}/variants`;
  const v = (name, weightType = 'variable', weight = 0, extra = {}) => ({ name, weight, weightType, stickiness: 'default', ...extra });

  const { r: p1 } = await oneEvent('feature-environment-variants-updated', () => srv.api('PUT', url, {
    body: [v('zeta'), v('alpha')],
  }), { featureName: n, environment: 'production' });
  assert.deepEqual(p1.json.version, 1);
  assert.deepEqual(weights(p1.json.variants), [['alpha', 500, 'variable'], ['zeta', 500, 'variable']], 'two variable → 500/500 by name');

  let r = await srv.api('PUT', url, { body: [v('c'), v('b'), v('a', 'fix', 200)] });
  expectStatus(r, 200, 'PUT variants');
  assert.deepEqual(weights(r.json.variants), [['a', 200, 'fix'], ['b', 400, 'variable'], ['c', 400, 'variable']], 'fix 200 + 2 variable');

  r = await srv.api('PUT', url, {
    body: [
      v('a', 'variable', 0, { payload: { type: 'string', value: 'hello' }, overrides: [{ contextName: 'userId', values: ['u1', 'u2'] }] }),
      v('b', 'variable', 0, { payload: { type: 'number', value: '42' } }),
      v('c', 'variable', 0, { payload: { type: 'csv', value: 'x,y,z' } }),
    ],
  });
  expectStatus(r, 200, 'PUT 3 variable variants');
  assert.deepEqual(weights(r.json.variants), [['a', 334, 'variable'], ['b', 333, 'variable'], ['c', 333, 'variable']], 'leftover to the first');
  assert.deepEqual(r.json.variants[0].payload, { type: 'string', value: 'hello' });
  assert.deepEqual(r.json.variants[0].overrides, [{ contextName: 'userId', values: ['u1', 'u2'] }]);
  assert.deepEqual(r.json.variants[1].payload, { type: 'number', value: '42' });
  assert.deepEqual(r.json.variants[2].payload, { type: 'csv', value: 'x,y,z' });

  const g = await srv.api('GET', url);
  expectStatus(g, 200, 'GET variants');
  assert.deepEqual(g.json, r.json);

  const { r: pa } = await oneEvent('feature-environment-variants-updated', () => srv.api('PATCH', url, {
    body: [{ op: 'add', path: '/-', value: v('d', 'fix', 100) }],
  }), { featureName: n, environment: 'production' });
  assert.deepEqual(pa.json.version, 1);
  assert.deepEqual(weights(pa.json.variants), [['a', 300, 'variable'], ['b', 300, 'variable'], ['c', 300, 'variable'], ['d', 100, 'fix']]);
  r = await srv.api('PATCH', url, { body: [{ op: 'remove', path: '/3' }] });
  expectStatus(r, 200, 'PATCH remove');
  assert.deepEqual(weights(r.json.variants), [['a', 334, 'variable'], ['b', 333, 'variable'], ['c', 333, 'variable']]);
  assert.deepEqual(envOf(await getFlag(n), 'production').variants, r.json.variants);
  assert.deepEqual(envOf(await getFlag(n), 'development').variants, [], 'variants are per environment');

  r = await srv.api('PUT', url, { body: [] });
  expectStatus(r, 200, 'PUT []');
  assert.deepEqual(r.json, { version: 1, variants: [] });
});

test('segments: CRUD, 409 while in use', async () => {
  const body = { name: 'beta-users', description: 'Beta', constraints: [{ contextName: 'userId', operator: 'IN', values: ['u1', 'u2'] }] };
  const { r: c } = await oneEvent('segment-created', () => srv.api('POST', '/api/admin/segments', { body }));
  expectStatus(c, 201, 'POST segment');
  const seg = c.json;
  assert.ok(seg.id !== undefined && seg.id !== null, `segment id: ${c.text}`);
  assert.equal(seg.name, 'beta-users');
  assert.equal(seg.description, 'Beta');
  assert.equal(seg.constraints[0].contextName, 'userId');
  assert.deepEqual(seg.constraints[0].values, ['u1', 'u2']);
  expectTime(seg.createdAt, 'segment createdAt');

  let r = await srv.api('GET', '/api/admin/segments');
  expectStatus(r, 200, 'GET segments');
  assert.deepEqual(r.json.segments.find((s) => s.id === seg.id), seg);
  r = await srv.api('GET', `/api/admin/segments/${seg.id}`);
  expectStatus(r, 200, 'GET segment');
  assert.deepEqual(r.json, seg);

  const { r: u } = await oneEvent('segment-updated', () => srv.api('PUT', `/api/admin/segments/${seg.id}`, {
    body: { ...body, description: 'Beta testers', constraints: [{ contextName: 'userId', operator: 'IN', values: ['u3'] }] },
  }));
  expectStatus(u, 204, 'PUT segment');
  assert.equal(u.text, '', '204 has no body');
  r = await srv.api('GET', `/api/admin/segments/${seg.id}`);
  assert.equal(r.json.description, 'Beta testers');
  assert.deepEqual(r.json.constraints[0].values, ['u3']);

  await createFlag('seg-flag');
  const s = await addStrategy('seg-flag', 'production', { name: 'flexibleRollout', parameters: { rollout: '100' }, segments: [seg.id] });
  assert.deepEqual(s.segments, [seg.id]);
  r = await srv.api('DELETE', `/api/admin/segments/${seg.id}`);
  expectError(r, 409, 'DELETE a segment a strategy uses');
  expectStatus(await srv.api('GET', `/api/admin/segments/${seg.id}`), 200, 'segment still there after the 409');

  expectStatus(await srv.api('PUT', `${ENV('seg-flag', 'production')}/strategies/${s.id}`, {
    body: { name: 'flexibleRollout', parameters: { rollout: '100' }, segments: [] },
  }), 200, 'drop the segment from the strategy');
  const { r: d } = await oneEvent('segment-deleted', () => srv.api('DELETE', `/api/admin/segments/${seg.id}`));
  expectStatus(d, 204, 'DELETE segment');
  expectError(await srv.api('GET', `/api/admin/segments/${seg.id}`), 404, 'GET a deleted segment');
});

test('dependencies: add, the 400 cases, remove one, remove all', async () => {
  for (const n of ['dep-parent', 'dep-parent2', 'dep-child', 'dep-grandchild']) await createFlag(n);
  const dep = (child) => `${F(child)}/dependencies`;
  const { r } = await oneEvent('feature-dependency-added', () => srv.api('POST', dep('dep-child'), { body: { feature: 'dep-parent' } }), { featureName: 'dep-child' });
  assert.deepEqual(r.json, {});
  assert.deepEqual((await getFlag('dep-child')).dependencies, [{ feature: 'dep-parent', enabled: true, variants: [] }]);

  let x = await srv.api('POST', dep('dep-grandchild'), { body: { feature: 'dep-child' } });
  expectError(x, 400, 'a parent that has parents itself');
  x = await srv.api('POST', dep('dep-child'), { body: { feature: 'dep-child' } });
  expectError(x, 400, 'a flag as its own parent');
  x = await srv.api('POST', dep('dep-child'), { body: { feature: 'no-such-flag' } });
  expectError(x, 400, 'a parent that does not exist');
  assert.deepEqual((await getFlag('dep-grandchild')).dependencies, []);

  x = await srv.api('POST', dep('dep-child'), { body: { feature: 'dep-parent2', enabled: false } });
  expectStatus(x, 200, 'second parent, enabled false');
  let deps = (await getFlag('dep-child')).dependencies;
  assert.deepEqual(deps.find((d) => d.feature === 'dep-parent2'), { feature: 'dep-parent2', enabled: false, variants: [] });
  assert.equal(deps.length, 2);

  const { r: rm } = await oneEvent('feature-dependency-removed', () => srv.api('DELETE', `${dep('dep-child')}/dep-parent2`), { featureName: 'dep-child' });
  assert.deepEqual(rm.json, {});
  deps = (await getFlag('dep-child')).dependencies;
  assert.deepEqual(deps.map((d) => d.feature), ['dep-parent']);

  expectStatus(await srv.api('POST', dep('dep-child'), { body: { feature: 'dep-parent2', variants: ['v1'] } }), 200, 'parent with variants');
  assert.deepEqual((await getFlag('dep-child')).dependencies.find((d) => d.feature === 'dep-parent2'), { feature: 'dep-parent2', enabled: true, variants: ['v1'] });
  const { r: all } = await oneEvent('feature-dependencies-removed', () => srv.api('DELETE', dep('dep-child')), { featureName: 'dep-child' });
  assert.deepEqual(all.json, {});
  assert.deepEqual((await getFlag('dep-child')).dependencies, []);
});

test('api tokens: create, list without secrets, revoke, expire', async () => {
  const { r: ce } = await oneEvent('api-token-created', () => srv.api('POST', '/api/admin/api-tokens', {
    body: { tokenName: 'editor-1', type: 'admin', role: 'editor' },
  }));
  expectStatus(ce, 201, 'POST admin/editor token');
  const editor = ce.json;
  assert.match(editor.secret, /^\*:\*\.[0-9a-f]{64}$/);
  assert.equal(editor.tokenName, 'editor-1');
  assert.equal(editor.type, 'admin');
  assert.equal(editor.role, 'editor');
  assert.equal(editor.revoked, false);
  assert.equal(editor.expiresAt, null);
  expectTime(editor.createdAt, 'token createdAt');

  let r = await srv.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'svc', type: 'client', environment: 'production', projects: ['default'] } });
  expectStatus(r, 201, 'POST client token');
  const client = r.json;
  assert.match(client.secret, /^default:production\.[0-9a-f]{64}$/);
  assert.equal(client.type, 'client');
  assert.equal(client.environment, 'production');
  assert.deepEqual(client.projects, ['default']);
  r = await srv.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'svc-all', type: 'backend', environment: 'development', projects: ['*'] } });
  expectStatus(r, 201, 'POST backend token');
  assert.ok(['client', 'backend'].includes(r.json.type), `backend is an alias of client: ${r.text}`);
  assert.match(r.json.secret, /^\*:development\.[0-9a-f]{64}$/);
  r = await srv.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'web', type: 'frontend', environment: 'production', project: 'default' } });
  expectStatus(r, 201, 'POST frontend token');
  const frontend = r.json;
  assert.match(frontend.secret, /^default:production\.[0-9a-f]{64}$/);
  assert.equal(frontend.type, 'frontend');
  assert.notEqual(frontend.secret, client.secret);

  r = await srv.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'no-env', type: 'client' } });
  expectError(r, 400, 'client token without environment');
  r = await srv.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'star-env', type: 'frontend', environment: '*' } });
  expectError(r, 400, 'frontend token with environment *');

  r = await srv.api('GET', '/api/admin/api-tokens');
  expectStatus(r, 200, 'GET api-tokens');
  const listed = r.json.tokens.find((t) => t.id === editor.id);
  assert.ok(listed, 'created token listed');
  for (const k of ['id', 'tokenName', 'type', 'environment', 'projects', 'createdAt', 'expiresAt', 'revoked']) {
    assert.ok(k in listed, `listed token lacks ${k}: ${JSON.stringify(listed)}`);
  }
  assert.ok(r.json.tokens.every((t) => !('secret' in t)), 'the list never has secrets');
  for (const s of [editor.secret, client.secret, frontend.secret, srv.seededToken]) {
    assert.ok(!r.text.includes(s.split('.')[1]), 'no secret (not even its random part) in the list');
  }

  // the editor works, client/frontend tokens are refused on admin routes
  expectStatus(await srv.api('GET', '/api/admin/features', { token: editor.secret }), 200, 'editor GET');
  expectError(await srv.api('GET', '/api/admin/features', { token: client.secret }), 403, 'client token on an admin route');
  expectError(await srv.api('GET', '/api/admin/features', { token: frontend.secret }), 403, 'frontend token on an admin route');

  // revoke
  const { r: rv } = await oneEvent('api-token-deleted', () => srv.api('DELETE', `/api/admin/api-tokens/${editor.id}`));
  assert.deepEqual(rv.json, {});
  expectError(await srv.api('GET', '/api/admin/features', { token: editor.secret }), 401, 'revoked token');
  r = await srv.api('GET', '/api/admin/api-tokens');
  const revoked = r.json.tokens.find((t) => t.id === editor.id);
  assert.ok(revoked === undefined || revoked.revoked === true, `a revoked token is listed as revoked (or not at all): ${JSON.stringify(revoked)}`);

  // expire
  r = await srv.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'viewer-1', type: 'admin', role: 'viewer' } });
  expectStatus(r, 201, 'POST viewer token');
  const viewer = r.json;
  expectStatus(await srv.api('GET', '/api/admin/features', { token: viewer.secret }), 200, 'viewer GET');
  const expiresAt = new Date(Date.now() + 1500).toISOString();
  const { r: ex } = await oneEvent('api-token-updated', () => srv.api('PUT', `/api/admin/api-tokens/${viewer.id}`, { body: { expiresAt } }));
  expectStatus(ex, 200, 'PUT api-token expiresAt');
  assert.equal(Date.parse(ex.json.expiresAt ?? expiresAt), Date.parse(expiresAt));
  r = await srv.api('GET', '/api/admin/api-tokens');
  assert.equal(Date.parse(r.json.tokens.find((t) => t.id === viewer.id).expiresAt), Date.parse(expiresAt));
  expectStatus(await srv.api('GET', '/api/admin/features', { token: viewer.secret }), 200, 'viewer before expiry');
  await sleep(Math.max(0, Date.parse(expiresAt) - Date.now()) + 300);
  expectError(await srv.api('GET', '/api/admin/features', { token: viewer.secret }), 401, 'expired token');

  expectError(await srv.api('PUT', '/api/admin/api-tokens/999999999', { body: { expiresAt } }), 404, 'PUT unknown token');
  expectError(await srv.api('DELETE', '/api/admin/api-tokens/999999999'), 404, 'DELETE unknown token');
});

test('events: filters, pagination, newest first, deprecated /events', async () => {
  const all = await allEvents(srv);
  assert.ok(all.length > 20, `the flow so far wrote many events, got ${all.length}`);
  const total = (await srv.api('GET', '/api/admin/search/events?limit=1')).json.total;
  assert.equal(all.length, total, 'paging through returns total events');
  assert.equal(new Set(all.map((e) => JSON.stringify(e.id))).size, all.length, 'event ids distinct');
  for (let i = 1; i < all.length; i++) {
    assert.ok(Date.parse(all[i - 1].createdAt) >= Date.parse(all[i].createdAt), `newest first at ${i}`);
  }

  let r = await srv.api('GET', '/api/admin/search/events?offset=2&limit=3');
  expectStatus(r, 200, 'page');
  assert.equal(r.json.total, total);
  assert.deepEqual(r.json.events, all.slice(2, 5), 'offset=2&limit=3 is the 3rd..5th newest');
  r = await srv.api('GET', `/api/admin/search/events?offset=${total}&limit=3`);
  assert.deepEqual(r.json.events, [], 'past the end');
  r = await srv.api('GET', '/api/admin/search/events');
  assert.equal(r.json.events.length, Math.min(50, total), 'default limit 50');

  const filters = {
    type: 'feature-created',
    project: 'default',
    feature: 'strat-flag',
    environment: 'production',
    createdBy: FLOW_TOKEN_NAME,
  };
  const fieldOf = { type: 'type', project: 'project', feature: 'featureName', environment: 'environment', createdBy: 'createdBy' };
  for (const [q, v] of Object.entries(filters)) {
    const got = await allEvents(srv, `${q}=${encodeURIComponent(v)}`);
    const want = all.filter((e) => e[fieldOf[q]] === v);
    assert.ok(want.length > 0, `some events have ${fieldOf[q]}=${v}`);
    assert.deepEqual(got, want, `search ${q}=${v}`);
  }
  r = await srv.api('GET', '/api/admin/search/events?type=feature-created&feature=strat-flag');
  assert.equal(r.json.total, 1, 'filters combine');
  r = await srv.api('GET', '/api/admin/search/events?createdBy=nobody-at-all');
  assert.deepEqual(r.json, { events: [], total: 0 });

  // from/to: a window around one mutation
  await sleep(15);
  const from = new Date().toISOString();
  await sleep(15);
  await createFlag('window-flag');
  await sleep(15);
  const to = new Date().toISOString();
  await sleep(15);
  await createFlag('after-window');
  r = await srv.api('GET', `/api/admin/search/events?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
  expectStatus(r, 200, 'from/to');
  assert.deepEqual(r.json.events.map((e) => [e.type, e.featureName]), [['feature-created', 'window-flag']]);
  r = await srv.api('GET', `/api/admin/search/events?from=${encodeURIComponent(to)}`);
  assert.deepEqual(r.json.events.map((e) => e.featureName), ['after-window']);

  r = await srv.api('GET', '/api/admin/events');
  expectStatus(r, 200, 'GET /api/admin/events');
  assert.equal(r.json.total, total + 2);
  assert.equal(r.json.events[0].featureName, 'after-window');
});

test('feature types: list, lifetime', async () => {
  let r = await srv.api('GET', '/api/admin/feature-types');
  expectStatus(r, 200, 'GET feature-types');
  assert.equal(r.json.version, 1);
  const rel = r.json.types.find((t) => t.id === 'release');
  assert.ok(rel, 'release type exists');
  for (const t of r.json.types) {
    for (const k of ['id', 'name', 'description', 'lifetimeDays']) assert.ok(k in t, `type lacks ${k}: ${JSON.stringify(t)}`);
    assert.ok(t.lifetimeDays === null || Number.isInteger(t.lifetimeDays), `lifetimeDays: ${JSON.stringify(t)}`);
  }
  const { r: u } = await oneEvent('feature-type-updated', () => srv.api('PUT', '/api/admin/feature-types/release/lifetime', { body: { lifetimeDays: 21 } }));
  expectStatus(u, 200, 'PUT lifetime');
  assert.equal(u.json.id, 'release');
  assert.equal(u.json.lifetimeDays, 21);
  r = await srv.api('GET', '/api/admin/feature-types');
  assert.equal(r.json.types.find((t) => t.id === 'release').lifetimeDays, 21);
  r = await srv.api('PUT', '/api/admin/feature-types/release/lifetime', { body: { lifetimeDays: null } });
  expectStatus(r, 200, 'PUT lifetime null');
  assert.equal(r.json.lifetimeDays, null);
  r = await srv.api('PUT', '/api/admin/feature-types/release/lifetime', { body: { lifetimeDays: 40 } });
  assert.equal(r.json.lifetimeDays, 40);
  expectError(await srv.api('PUT', '/api/admin/feature-types/no-such-type/lifetime', { body: { lifetimeDays: 3 } }), 404, 'unknown type');
});

test('playground: on for one context, off for another, with strategy/constraint/segment results', async () => {
  const seg = await srv.api('POST', '/api/admin/segments', {
    body: { name: 'pg-seg', constraints: [{ contextName: 'userId', operator: 'IN', values: ['u1', 'u2'] }] },
  });
  expectStatus(seg, 201, 'POST segment');
  await createFlag('pg-flag');
  const s = await addStrategy('pg-flag', 'production', {
    name: 'flexibleRollout', parameters: { rollout: '100' },
    constraints: [{ contextName: 'country', operator: 'IN', values: ['TH'] }],
    segments: [seg.json.id],
  });
  expectStatus(await srv.api('PUT', `${ENV('pg-flag', 'production')}/variants`, {
    body: [{ name: 'only', weight: 1000, weightType: 'variable', stickiness: 'default', payload: { type: 'string', value: 'p' } }],
  }), 200, 'variants');
  expectStatus(await srv.api('POST', `${ENV('pg-flag', 'production')}/on`), 200, 'on');
  await createFlag('pg-off'); // not enabled anywhere

  const play = async (context) => {
    const r = await srv.api('POST', '/api/admin/playground', { body: { environment: 'production', projects: '*', context } });
    expectStatus(r, 200, `playground ${JSON.stringify(context)}`);
    assert.ok('input' in r.json, 'answer has input');
    const byName = (n) => r.json.features.find((f) => f.name === n && (f.environment === undefined || f.environment === 'production'));
    return { r, flag: byName('pg-flag'), off: byName('pg-off') };
  };

  const on = await play({ appName: 'web', userId: 'u1', properties: { country: 'TH' } });
  assert.ok(on.flag, `pg-flag in playground answer: ${on.r.text.slice(0, 500)}`);
  assert.equal(on.flag.projectId, 'default');
  assert.equal(on.flag.environment, 'production');
  assert.equal(on.flag.isEnabled, true);
  assert.equal(on.flag.variant.name, 'only');
  assert.equal(on.flag.variant.enabled, true);
  assert.equal(on.flag.strategies.result, true);
  assert.equal(on.flag.strategies.data.length, 1);
  const d = on.flag.strategies.data[0];
  assert.equal(d.id, s.id, `strategies.data[0].id must be the strategy's id; got ${JSON.stringify(d)}`);
  assert.equal(d.name, 'flexibleRollout');
  assert.equal(d.result, true);
  assert.equal(d.constraints.length, 1);
  assert.equal(d.constraints[0].contextName, 'country');
  assert.equal(d.constraints[0].result, true);
  assert.deepEqual(d.segments.map((x) => [x.id, x.result]), [[seg.json.id, true]]);
  assert.ok(on.off, 'pg-off listed');
  assert.equal(on.off.isEnabled, false);

  const wrongCountry = await play({ appName: 'web', userId: 'u1', properties: { country: 'DE' } });
  assert.equal(wrongCountry.flag.isEnabled, false);
  assert.equal(wrongCountry.flag.strategies.result, false);
  assert.equal(wrongCountry.flag.strategies.data[0].result, false);
  assert.equal(wrongCountry.flag.strategies.data[0].constraints[0].result, false);
  assert.equal(wrongCountry.flag.strategies.data[0].segments[0].result, true);
  assert.equal(wrongCountry.flag.variant.enabled, false);

  const notInSegment = await play({ appName: 'web', userId: 'u9', properties: { country: 'TH' } });
  assert.equal(notInSegment.flag.isEnabled, false);
  assert.equal(notInSegment.flag.strategies.data[0].constraints[0].result, true);
  assert.equal(notInSegment.flag.strategies.data[0].segments[0].result, false);
  assert.equal(notInSegment.flag.strategies.data[0].result, false);
});

test('export, import into an empty server, export again: identical; import again 409', async () => {
  const doc = await exportState(srv);
  for (const k of ['projects', 'environments', 'segments', 'features']) {
    assert.ok(k in doc, `export has ${k}: keys ${Object.keys(doc)}`);
  }
  assert.ok(JSON.stringify(doc).includes('new-checkout'), 'export has the flags');
  assert.ok(JSON.stringify(doc).includes('pg-seg'), 'export has the segments');
  const empty = await startServer();
  try {
    const imp = await empty.api('POST', '/api/admin/import', { body: doc });
    expectStatus(imp, 200, 'POST /api/admin/import into an empty server');
    assert.deepEqual(imp.json, {});
    const ev = await empty.api('GET', '/api/admin/search/events?type=state-imported');
    assert.equal(ev.json.total, 1, 'one state-imported event');
    const doc2 = await exportState(empty);
    assert.deepEqual(doc2, doc, 'export → import → export is identical');
    // the imported flags are served the same
    const a = await srv.api('GET', F('new-checkout'));
    const b = await empty.api('GET', F('new-checkout'));
    expectStatus(b, 200, 'GET imported flag');
    assert.deepEqual(b.json, a.json);
    const again = await empty.api('POST', '/api/admin/import', { body: doc });
    expectError(again, 409, 'import into a server that has flags');
  } finally {
    await empty.stop();
    removeTempDir(empty.dir);
  }
  const again = await srv.api('POST', '/api/admin/import', { body: doc });
  expectError(again, 409, 'import into the source server');
});

test('metrics and request log', async () => {
  const lines0 = stderrLines(srv.stderr).length;
  for (let i = 0; i < 5; i++) expectStatus(await srv.api('GET', '/health', { token: null }), 200, '/health');
  expectError(await srv.api('GET', '/api/admin/no-such-route'), 404, 'unknown route');
  await sleep(100);
  assert.ok(stderrLines(srv.stderr).length >= lines0 + 6, `one log line per request on stderr (had ${lines0}, now ${stderrLines(srv.stderr).length})`);

  const r = await srv.api('GET', '/metrics', { token: null });
  expectStatus(r, 200, 'GET /metrics');
  assert.match(r.headers.get('content-type') || '', /^text\/plain/);
  const t = r.text;
  assert.match(t, /^vexil_http_requests_total\{[^}]*\} \d+/m, 'vexil_http_requests_total samples');
  const lbl = t.split('\n').filter((l) => l.startsWith('vexil_http_requests_total{'));
  assert.ok(lbl.some((l) => /route="[^"]*"/.test(l) && /method="GET"/.test(l) && /status="200"/.test(l)), `labels route, method, status: ${lbl.slice(0, 5).join('\n')}`);
  assert.ok(lbl.some((l) => /status="404"/.test(l)), 'the 404 is counted');
  assert.match(t, /^vexil_http_request_duration_seconds_bucket\{/m, 'duration histogram');
  assert.match(t, /^vexil_flags\{[^}]*state=/m, 'vexil_flags{state}');
  assert.match(t, /^vexil_db_errors_total(\{[^}]*\})? \d+/m, 'vexil_db_errors_total');
});
