'use strict';
// What moving over from Unleash needs of the HTTP API (docs/admin-api.md,
// docs/semantics.md, docs/migrating-from-unleash.md), against the real
// binary: custom strategies defined, used on flags, served to SDKs as
// Unleash serves them and answered false by every server-side evaluator
// (frontend API, OFREP, playground "unknown"); Unleash's rules (same-project
// dependencies, date operators on other fields, names); the archive per
// project and in bulk; the Unleash import route (dry run, its body limit).
//
//   node --test tests/integration/unleash.test.js     (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, clientSecret, frontendSecret, show } = require('./server');

let srv;
const client = clientSecret('default', 'production');
const frontend = frontendSecret('default', 'production');
const FP = (f) => `/api/admin/projects/default/features/${encodeURIComponent(f)}`;
const EP = (f) => `${FP(f)}/environments/production`;

async function ok(method, path, body, status = 200) {
  const r = await srv.api(method, path, body === undefined ? {} : { body });
  assert.equal(r.status, status, `${method} ${path}: ${show(r)}`);
  return r.json;
}

test.before(async () => {
  srv = await startServer({ clientTokens: [client], frontendTokens: [frontend] });
});
test.after(async () => { if (srv) await srv.stop(); });

test('a custom strategy: defined, used, served, and false on the server', async () => {
  const def = await ok('POST', '/api/admin/strategies', {
    name: 'tenant', description: 'by tenant',
    parameters: [{ name: 'tenants', type: 'list', required: true }, { name: 'percent', type: 'percentage' }],
  }, 201);
  assert.equal(def.editable, true);
  const list = await ok('GET', '/api/admin/strategies');
  assert.deepEqual(list.strategies.slice(0, 4).map((s) => s.name), ['flexibleRollout', 'default', 'remoteAddress', 'applicationHostname']);
  assert.ok(list.strategies.some((s) => s.name === 'tenant' && s.editable));
  assert.equal((await srv.api('POST', '/api/admin/strategies', { body: { name: 'tenant', parameters: [] } })).status, 409);

  await ok('POST', '/api/admin/projects/default/features', { name: 'only-custom' }, 201);
  await ok('POST', '/api/admin/projects/default/features', { name: 'custom-then-default' }, 201);
  // Parameters checked against the definition.
  const bad = await srv.api('POST', `${EP('only-custom')}/strategies`, { body: { name: 'tenant', parameters: { percent: '50' } } });
  assert.equal(bad.status, 400, show(bad));
  assert.equal(bad.json.details[0].path, '/parameters/tenants');
  const unknown = await srv.api('POST', `${EP('only-custom')}/strategies`, { body: { name: 'nope' } });
  assert.equal(unknown.status, 400, show(unknown));
  assert.equal(unknown.json.details[0].path, '/name');
  await ok('POST', `${EP('only-custom')}/strategies`, { name: 'tenant', parameters: { tenants: 'acme', percent: 50 } });
  await ok('POST', `${EP('custom-then-default')}/strategies`, { name: 'tenant', parameters: { tenants: 'acme' } });
  await ok('POST', `${EP('custom-then-default')}/strategies`, { name: 'default' });
  await ok('POST', `${EP('only-custom')}/on`);
  await ok('POST', `${EP('custom-then-default')}/on`);

  // Served as Unleash serves it: name and string parameters, no id.
  const feats = await srv.api('GET', '/api/client/features', { token: client });
  assert.equal(feats.status, 200, show(feats));
  const f = feats.json.features.find((x) => x.name === 'only-custom');
  assert.deepEqual(f.strategies.map((s) => [s.name, s.parameters, s.id]), [['tenant', { tenants: 'acme', percent: '50' }, undefined]]);

  // The frontend API and OFREP cannot run it: false, as Unleash's own.
  const fe = await srv.api('GET', '/api/frontend?userId=u1&properties[tenant]=acme', { token: frontend });
  assert.equal(fe.status, 200, show(fe));
  const names = fe.json.toggles.map((t) => t.name);
  assert.ok(!names.includes('only-custom'), JSON.stringify(names));
  assert.ok(names.includes('custom-then-default'), JSON.stringify(names));
  const of = await srv.api('POST', '/ofrep/v1/evaluate/flags/only-custom', { token: client, body: { context: { targetingKey: 'u1', tenant: 'acme' } } });
  assert.equal(of.status, 200, show(of));
  assert.equal(of.json.value, false);

  // The playground says it could not decide.
  const pg = await ok('POST', '/api/admin/playground', { environment: 'production', context: { userId: 'u1' } });
  const po = pg.features.find((x) => x.name === 'only-custom');
  assert.equal(po.isEnabled, false);
  assert.equal(po.strategies.result, 'unknown');
  assert.equal(po.strategies.data[0].evaluationStatus, 'incomplete');

  // In use: not deleted.
  assert.equal((await srv.api('DELETE', '/api/admin/strategies/tenant')).status, 409);
  await ok('POST', '/api/admin/strategies/tenant/deprecate');
  assert.equal((await ok('GET', '/api/admin/strategies/tenant')).deprecated, true);
});

test('Unleash\'s rules: dependencies within a project, dates, names', async () => {
  await ok('POST', '/api/admin/projects', { id: 'other' }, 201);
  await ok('POST', '/api/admin/projects/other/features', { name: 'far-parent' }, 201);
  await ok('POST', '/api/admin/projects/default/features', { name: 'near-child' }, 201);
  const dep = await srv.api('POST', `${FP('near-child')}/dependencies`, { body: { feature: 'far-parent' } });
  assert.equal(dep.status, 400, show(dep));
  assert.equal(dep.json.details[0].path, '/feature');
  assert.match(dep.json.message, /own project/);

  const s = await ok('POST', `${EP('near-child')}/strategies`, {
    name: 'default', constraints: [{ contextName: 'signupDate', operator: 'DATE_BEFORE', value: '2024-01-01T00:00:00Z' }],
  });
  assert.equal(s.warnings.length, 1);
  assert.equal(s.warnings[0].path, '/constraints/0/contextName');

  await ok('POST', '/api/admin/projects/default/features', { name: "new(checkout)!*'" }, 201);
  assert.equal((await ok('GET', FP("new(checkout)!*'"))).name, "new(checkout)!*'");
  assert.equal((await srv.api('POST', '/api/admin/projects/default/features', { body: { name: 'a b' } })).status, 400);
});

test('the archive: per project, in bulk, revived off', async () => {
  for (const n of ['bulk-1', 'bulk-2']) {
    await ok('POST', '/api/admin/projects/default/features', { name: n }, 201);
    await ok('POST', `${EP(n)}/on`);
  }
  await ok('POST', '/api/admin/projects/default/archive', { features: ['bulk-1', 'bulk-2', 'never-was'] }, 202);
  const arch = await ok('GET', '/api/admin/archive/features/default');
  assert.deepEqual(arch.features.map((x) => x.name).filter((n) => n.startsWith('bulk-')).sort(), ['bulk-1', 'bulk-2']);
  assert.equal((await srv.api('GET', '/api/admin/archive/features/nope')).status, 404);
  await ok('POST', '/api/admin/projects/default/revive', { features: ['bulk-1'] });
  const feats = await srv.api('GET', '/api/client/features', { token: client });
  const b1 = feats.json.features.find((x) => x.name === 'bulk-1');
  assert.equal(b1.enabled, false, 'revived flags come back off');
  await ok('POST', '/api/admin/projects/default/delete', { features: ['bulk-1', 'bulk-2'] });
  const after = await ok('GET', '/api/admin/archive/features/default');
  assert.ok(!after.features.some((x) => x.name === 'bulk-2'));
  assert.equal((await ok('GET', FP('bulk-1'))).name, 'bulk-1', 'a live flag is not deleted in bulk');
});

test('the Unleash import: a dry run over HTTP, past --max-body', async () => {
  // A document over the 1 MiB default body limit.
  const big = 'x'.repeat(400);
  const features = [];
  for (let i = 0; i < 3000; i++) features.push({ name: `big-${i}`, type: 'release', project: 'default', description: big });
  const doc = { exports: [{ environment: 'production', data: { features, featureStrategies: [], featureEnvironments: [] } }] };
  assert.ok(JSON.stringify(doc).length > (1 << 20));
  const r = await srv.api('POST', '/api/admin/import/unleash?dryRun=true', { body: doc });
  assert.equal(r.status, 200, show(r));
  assert.equal(r.json.dryRun, true);
  assert.equal(r.json.created.flags.length, 3000);
  assert.equal((await srv.api('GET', FP('big-0'))).status, 404, 'a dry run writes nothing');
  // Other routes keep the limit.
  const other = await srv.api('POST', '/api/admin/segments', { body: { name: 'big', description: 'y'.repeat(1 << 21), constraints: [] } });
  assert.equal(other.status, 413, show(other));
  // Problems are listed; the import proper then writes nothing.
  const bad = { exports: [{ environment: 'production', data: {
    features: [{ name: 'has bad name', project: 'default' }], featureStrategies: [], featureEnvironments: [] } }] };
  const plan = await ok('POST', '/api/admin/import/unleash', { ...bad, dryRun: true });
  assert.equal(plan.ok, false);
  assert.equal(plan.problems[0].path, '/exports/0/data/features/0/name');
  const real = await srv.api('POST', '/api/admin/import/unleash', { body: bad });
  assert.equal(real.status, 400, show(real));
  assert.equal(real.json.details[0].path, '/exports/0/data/features/0/name');
});
