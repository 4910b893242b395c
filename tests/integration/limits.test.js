'use strict';
// One gate for flag data (issue 12, finding 1), end to end against the real
// binary: every admin write that would store something libvexil refuses to
// load (a REGEX pattern over 4096 bytes in a strategy or a segment, a
// variant override whose contextName is over 1024 bytes, a 101st
// dependency, a segment that pushes a strategy over 1000 constraints once
// inlined, an import carrying any of these, a release plan whose audience
// does) is answered 400 with the JSON pointer of the field and the limit
// named, nothing is stored (the audit log does not move), and a kill switch
// flipped right after still reaches /api/client/features. At the limits
// themselves, everything is accepted and served.
//
//   node --test tests/integration/limits.test.js     (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, clientSecret, eventCount, sleep, show } = require('./server');

const ENV = 'production';
const FEAT = '/api/admin/projects/default/features';
const FP = (f) => `${FEAT}/${f}`;
const EP = (f) => `${FP(f)}/environments/${ENV}`;
// How long a kill switch may take to reach the SDK endpoint on a loaded
// machine (it normally takes milliseconds: the write waits for it).
const LAND_MS = 8000;

const REGEX_MAX = 4096;
const NAME_MAX = 1024;
const DEPS_MAX = 100;
const CONSTRAINTS_MAX = 1000;

let srv;
let client;

async function admin(method, path, body) {
  const r = await srv.api(method, path, body === undefined ? {} : { body });
  assert.ok(r.status >= 200 && r.status < 300, `setup ${method} ${path}: ${show(r)}`);
  return r.json;
}

async function served() {
  const r = await srv.api('GET', '/api/client/features', { token: client });
  assert.equal(r.status, 200, `GET /api/client/features: ${show(r)}`);
  return r.json;
}

// Flips the kill switch and waits until SDKs are served the new state.
async function killSwitchLands() {
  const before = (await served()).features.find((f) => f.name === 'kill');
  assert.ok(before, 'the kill switch is served');
  const want = !before.enabled;
  await admin('POST', `${EP('kill')}/${want ? 'on' : 'off'}`);
  const until = Date.now() + LAND_MS;
  let now;
  for (;;) {
    now = (await served()).features.find((f) => f.name === 'kill');
    if (now && now.enabled === want) return;
    if (Date.now() > until) break;
    await sleep(50);
  }
  assert.fail(`the kill switch did not reach /api/client/features within ${LAND_MS} ms ` +
    `(served: ${JSON.stringify(now)}); the server log ends:\n${srv.stderr.slice(-1500)}`);
}

// A write that must be refused: 400 naming `path` and the limit (its name
// and its value), nothing stored, and SDKs still served what follows.
async function refused(method, path, body, { field, limit, value }) {
  const events = await eventCount(srv);
  const r = await srv.api(method, path, { body });
  assert.equal(r.status, 400, `${method} ${path}: ${show(r)}`);
  assert.ok(r.json && Array.isArray(r.json.details) && r.json.details.length > 0,
    `error details: ${show(r)}`);
  const d = r.json.details[0];
  assert.equal(d.path, field, `the field path: ${show(r)}`);
  assert.match(d.message, new RegExp(`limit ${limit}\\b`), `names the limit: ${show(r)}`);
  assert.match(d.message, new RegExp(`\\b${value}\\b`), `gives the limit's value: ${show(r)}`);
  assert.equal(await eventCount(srv), events, 'nothing was written');
  await killSwitchLands();
  return r;
}

const regex = (n) => ({ contextName: 'email', operator: 'REGEX', value: 'a'.repeat(n) });
const inValues = (n) => ({ contextName: 'plan', operator: 'IN', values: Array.from({ length: n }, (_, i) => `p${i}`) });

test.before(async () => {
  client = clientSecret('*', ENV);
  srv = await startServer({ clientTokens: [client] });
  for (const f of ['kill', 'target', 'child']) await admin('POST', FEAT, { name: f });
  await admin('POST', `${EP('kill')}/on`);
  await admin('POST', `${EP('target')}/on`);
});

test.after(async () => {
  if (srv) await srv.stop();
});

test('strategies: a REGEX over 4096 bytes is refused on add and update; 4096 is served', async () => {
  await refused('POST', `${EP('target')}/strategies`,
    { name: 'default', constraints: [{ contextName: 'x', operator: 'IN', values: ['y'] }, regex(REGEX_MAX + 1)] },
    { field: '/constraints/1/value', limit: 'regex_bytes', value: REGEX_MAX });
  const s = await admin('POST', `${EP('target')}/strategies`, { name: 'default', constraints: [regex(REGEX_MAX)] });
  await refused('PUT', `${EP('target')}/strategies/${s.id}`,
    { name: 'default', constraints: [regex(REGEX_MAX + 1)] },
    { field: '/constraints/0/value', limit: 'regex_bytes', value: REGEX_MAX });
  // Strategy variants go through the same gate.
  await refused('PUT', `${EP('target')}/strategies/${s.id}`,
    { name: 'default', variants: [{ name: 'v', overrides: [{ contextName: 'c'.repeat(NAME_MAX + 1), values: ['a'] }] }] },
    { field: '/variants/0/overrides/0/contextName', limit: 'name_bytes', value: NAME_MAX });
  const f = (await served()).features.find((x) => x.name === 'target');
  assert.equal(f.strategies.find((x) => x.constraints.length === 1).constraints[0].value.length, REGEX_MAX);
});

test('segments: a REGEX over 4096 bytes is refused on create and update', async () => {
  await refused('POST', '/api/admin/segments',
    { name: 'long-regex', constraints: [regex(REGEX_MAX + 1)] },
    { field: '/constraints/0/value', limit: 'regex_bytes', value: REGEX_MAX });
  const seg = await admin('POST', '/api/admin/segments', { name: 'ok-regex', constraints: [regex(10)] });
  await refused('PUT', `/api/admin/segments/${seg.id}`,
    { name: 'ok-regex', constraints: [regex(REGEX_MAX + 1)] },
    { field: '/constraints/0/value', limit: 'regex_bytes', value: REGEX_MAX });
  const segs = (await srv.api('GET', '/api/admin/segments')).json.segments;
  assert.ok(!segs.some((s) => s.name === 'long-regex'), 'the refused segment was not created');
  assert.equal(segs.find((s) => s.id === seg.id).constraints[0].value.length, 10, 'the update was not stored');
});

test('segments: an update that takes a strategy using it over 1000 constraints (inlined) is refused', async () => {
  const seg = await admin('POST', '/api/admin/segments', { name: 'audience', constraints: [inValues(1)] });
  await admin('POST', FEAT, { name: 'big' });
  await admin('POST', `${EP('big')}/strategies`, {
    name: 'default', segments: [seg.id],
    constraints: Array.from({ length: 600 }, () => inValues(1)),
  });
  const constraints = Array.from({ length: 401 }, () => inValues(1));
  await refused('PUT', `/api/admin/segments/${seg.id}`, { name: 'audience', constraints },
    { field: '/constraints', limit: 'constraints', value: CONSTRAINTS_MAX });
  // 600 + 400 is exactly the limit.
  await admin('PUT', `/api/admin/segments/${seg.id}`, { name: 'audience', constraints: constraints.slice(1) });
  // And a strategy that would cross it the other way is refused too.
  await refused('POST', `${EP('big')}/strategies`,
    { name: 'default', segments: [seg.id], constraints: Array.from({ length: 601 }, () => inValues(1)) },
    { field: '/segments', limit: 'constraints', value: CONSTRAINTS_MAX });
  await killSwitchLands();
});

test('variants: an override contextName over 1024 bytes is refused by PUT and PATCH; 1024 is served', async () => {
  const long = 'c'.repeat(NAME_MAX + 1);
  await refused('PUT', `${EP('target')}/variants`,
    [{ name: 'a' }, { name: 'b', overrides: [{ contextName: 'userId', values: ['1'] }, { contextName: long, values: ['2'] }] }],
    { field: '/1/overrides/1/contextName', limit: 'name_bytes', value: NAME_MAX });
  await admin('PUT', `${EP('target')}/variants`, [{ name: 'a' }]);
  await refused('PATCH', `${EP('target')}/variants`,
    [{ op: 'add', path: '/-', value: { name: 'b', overrides: [{ contextName: long, values: ['2'] }] } }],
    { field: '/0/value/overrides/0/contextName', limit: 'name_bytes', value: NAME_MAX });
  await refused('PATCH', `${EP('target')}/variants`,
    [{ op: 'test', path: '/0/name', value: 'a' }, { op: 'add', path: '/0/overrides', value: [{ contextName: long, values: ['2'] }] }],
    { field: '/1/value/0/contextName', limit: 'name_bytes', value: NAME_MAX });
  const at = 'c'.repeat(NAME_MAX);
  await admin('PUT', `${EP('target')}/variants`, [{ name: 'a', overrides: [{ contextName: at, values: ['x'] }] }]);
  const f = (await served()).features.find((x) => x.name === 'target');
  assert.equal(f.variants[0].overrides[0].contextName, at);
  // A constraint's contextName gets the same limit, no lower.
  await admin('POST', `${EP('target')}/strategies`, { name: 'default', constraints: [{ contextName: at, operator: 'IN', values: ['x'] }] });
  await refused('POST', `${EP('target')}/strategies`,
    { name: 'default', constraints: [{ contextName: long, operator: 'IN', values: ['x'] }] },
    { field: '/constraints/0/contextName', limit: 'name_bytes', value: NAME_MAX });
});

test('dependencies: the 101st parent is refused; 100 are served', async () => {
  for (let i = 0; i <= DEPS_MAX; i++) await admin('POST', FEAT, { name: `parent-${i}` });
  for (let i = 0; i < DEPS_MAX; i++) await admin('POST', `${FP('child')}/dependencies`, { feature: `parent-${i}` });
  // The same parent again replaces its entry: still 100.
  await admin('POST', `${FP('child')}/dependencies`, { feature: 'parent-0', enabled: false });
  await refused('POST', `${FP('child')}/dependencies`, { feature: `parent-${DEPS_MAX}` },
    { field: '/feature', limit: 'dependencies', value: DEPS_MAX });
  const f = (await served()).features.find((x) => x.name === 'child');
  assert.equal(f.dependencies.length, DEPS_MAX);
});

test('release plans: an audience with a REGEX over 4096 bytes is refused', async () => {
  await admin('POST', FEAT, { name: 'planned' });
  await refused('PUT', `${EP('planned')}/release-plan`,
    { milestones: [{ percent: 10, constraints: [regex(REGEX_MAX + 1)] }, { percent: 100 }] },
    { field: '/milestones/0/constraints/0/value', limit: 'regex_bytes', value: REGEX_MAX });
});

test('import: each over-limit value is refused with its path in the document; nothing is stored', async () => {
  const fresh = await startServer({ clientTokens: [client] });
  const keep = srv;
  srv = fresh;
  try {
    const exp = (await srv.api('GET', '/api/admin/export')).json;
    const flag = (extra) => ({
      name: 'imp', project: 'default', type: 'release', description: '', stale: false,
      archived: false, impressionData: false, tags: [], dependencies: [],
      environments: [{ name: ENV, enabled: true, strategies: [{ id: 's1', name: 'default', parameters: {}, constraints: [], segments: [], variants: [] }], variants: [] }],
      ...extra,
    });
    const doc = (features, segments = []) => ({ ...exp, features, segments });
    const cases = [
      [doc([flag({ environments: [{ name: ENV, enabled: true, strategies: [{ id: 's1', name: 'default', constraints: [regex(REGEX_MAX + 1)] }], variants: [] }] })]),
        '/features/0/environments/0/strategies/0/constraints/0/value', 'regex_bytes', REGEX_MAX],
      [doc([flag()], [{ id: 7, name: 'seg', constraints: [regex(REGEX_MAX + 1)] }]),
        '/segments/0/constraints/0/value', 'regex_bytes', REGEX_MAX],
      [doc([flag({ environments: [{ name: ENV, enabled: true, strategies: [], variants: [{ name: 'v', overrides: [{ contextName: 'c'.repeat(NAME_MAX + 1), values: ['a'] }] }] }] })]),
        '/features/0/environments/0/variants/0/overrides/0/contextName', 'name_bytes', NAME_MAX],
      [doc([flag({ dependencies: Array.from({ length: DEPS_MAX + 1 }, (_, i) => ({ feature: `p${i}`, enabled: true, variants: [] })) })]),
        '/features/0/dependencies', 'dependencies', DEPS_MAX],
    ];
    for (const [body, field, limit, value] of cases) {
      const r = await srv.api('POST', '/api/admin/import', { body });
      assert.equal(r.status, 400, show(r));
      assert.equal(r.json.details[0].path, field, show(r));
      assert.match(r.json.details[0].message, new RegExp(`limit ${limit}\\b`), show(r));
      assert.match(r.json.details[0].message, new RegExp(`\\b${value}\\b`), show(r));
      const now = (await srv.api('GET', '/api/admin/export')).json;
      assert.deepEqual([now.features.length, now.segments.length], [0, 0], 'nothing was imported');
    }
    // Dependencies one level deep only, as the admin API allows: a flag
    // whose parent has parents would be off for everyone.
    const chain = await srv.api('POST', '/api/admin/import', {
      body: doc([
        flag({ name: 'a' }),
        flag({ name: 'b', dependencies: [{ feature: 'a', enabled: true, variants: [] }] }),
        flag({ name: 'c', dependencies: [{ feature: 'b', enabled: true, variants: [] }] }),
      ]),
    });
    assert.equal(chain.status, 400, show(chain));
    assert.equal(chain.json.details[0].path, '/features/2/dependencies/0/feature', show(chain));
    // At the limits, the import goes through and SDKs are served it.
    const ok = await srv.api('POST', '/api/admin/import', {
      body: doc([
        flag({ dependencies: Array.from({ length: DEPS_MAX }, (_, i) => ({ feature: `p${i}`, enabled: true, variants: [] })) }),
        { ...flag(), name: 'kill' },
        ...Array.from({ length: DEPS_MAX }, (_, i) => ({ ...flag(), name: `p${i}` })),
      ], [{ id: 7, name: 'seg', constraints: [regex(REGEX_MAX)] }]),
    });
    assert.equal(ok.status, 200, show(ok));
    const d = await served();
    assert.equal(d.features.find((f) => f.name === 'imp').dependencies.length, DEPS_MAX);
    await killSwitchLands();
  } finally {
    srv = keep;
    await fresh.stop();
  }
});

test('after every refusal above, the environment is still served whole', async () => {
  const doc = await served();
  for (const name of ['kill', 'target', 'child', 'big']) {
    assert.ok(doc.features.some((f) => f.name === name), `${name} is served`);
  }
  await killSwitchLands();
});
