'use strict';
// A model flag's variant payload is the upstream the gateway calls
// (docs/gateway.md, "Payload"): base_url, model, api_key_env, timeout_ms,
// ollama_url, stickiness, forward_metadata. A write that adds or changes
// one the gateway would refuse when called is a 400 naming the member
// (e.g. /0/payload/value/timeout_ms) and writes nothing, in every place a
// payload can come in: the variants (PUT, PATCH), a strategy's variants
// (POST, PUT, PATCH), an import and an Unleash import. What a write does
// not touch is not checked, so a flag stored with a bad payload (by an
// older version) can still be switched off or edited otherwise; its calls
// are refused (502) instead.
//
//   node --test tests/integration/model_payloads.test.js  (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, clientSecret, eventCount, show, corruptFlag, removeTempDir } = require('./server');

const FEAT = '/api/admin/projects/default/features';
const EP = (f) => `${FEAT}/${f}/environments/production`;
const GOOD = { base_url: 'http://127.0.0.1:1/v1', model: 'm1' };
// A payload: an object as JSON; a string as it is, of type "string" (the
// gateway reads any payload's value as its upstream).
const payload = (o) => (typeof o === 'string' ? { type: 'string', value: o } : { type: 'json', value: JSON.stringify(o) });
const variant = (name, o) => ({ name, weight: 500, weightType: 'variable', stickiness: 'default', ...(o === undefined ? {} : { payload: payload(o) }) });

let srv;
let client;

test.before(async () => {
  client = clientSecret('default', 'production');
  srv = await startServer({ clientTokens: [client] });
  for (const f of ['model.chat', 'plain']) {
    const r = await srv.api('POST', FEAT, { body: { name: f } });
    assert.equal(r.status, 201, show(r));
  }
  const s = await srv.api('POST', `${EP('model.chat')}/strategies`, { body: { name: 'flexibleRollout', parameters: { rollout: '100' } } });
  assert.equal(s.status, 200, show(s));
});

test.after(async () => {
  if (srv) {
    await srv.stop();
    removeTempDir(srv.dir);
  }
});

// [label, the payload's value, the member named]
const BAD = [
  ['timeout_ms out of range', { ...GOOD, timeout_ms: 99999999 }, '/timeout_ms'],
  ['timeout_ms not an integer', { ...GOOD, timeout_ms: 1.5 }, '/timeout_ms'],
  ['no model', { base_url: GOOD.base_url }, '/model'],
  ['an empty model', { ...GOOD, model: '' }, '/model'],
  ['no base_url', { model: 'm1' }, '/base_url'],
  ['base_url not http', { ...GOOD, base_url: 'ftp://127.0.0.1/v1' }, '/base_url'],
  ['ollama_url not http', { ...GOOD, ollama_url: 'file:///etc' }, '/ollama_url'],
  ['a model name over its limit', { ...GOOD, model: 'm'.repeat(300) }, '/model'],
  ['api_key_env not a string', { ...GOOD, api_key_env: ['VEXIL_MODEL_KEY_A'] }, '/api_key_env'],
  ['an unknown stickiness', { ...GOOD, stickiness: 'tenant' }, '/stickiness'],
  ['a stickiness header that is no header name', { ...GOOD, stickiness: 'header:X Tenant' }, '/stickiness'],
  ['forward_metadata not a boolean', { ...GOOD, forward_metadata: 'yes' }, '/forward_metadata'],
  ['not a JSON object', '"just text"', ''],
  ['not JSON at all', 'hello', ''],
];

async function refused(label, method, path, body, want) {
  const before = await eventCount(srv);
  const r = await srv.api(method, path, { body });
  assert.equal(r.status, 400, `${label}: ${show(r)}`);
  assert.equal(r.json.details[0].path, want, `${label}: ${show(r)}`);
  assert.equal(await eventCount(srv), before, `${label}: something was written`);
  return r;
}

test('the variants: every payload the gateway would refuse is a 400 naming its member', async () => {
  for (const [label, value, member] of BAD) {
    await refused(`PUT, ${label}`, 'PUT', `${EP('model.chat')}/variants`, [variant('control', GOOD), variant('candidate', value)],
      `/1/payload/value${member}`);
  }
  const [label, value, member] = BAD[0];
  await refused(`PATCH, ${label}`, 'PATCH', `${EP('model.chat')}/variants`,
    [{ op: 'add', path: '/-', value: variant('control', GOOD) }, { op: 'add', path: '/-', value: variant('candidate', value) }],
    `/1/value/payload/value${member}`);
  // Good payloads, and variants without one (served by the control), pass.
  let r = await srv.api('PUT', `${EP('model.chat')}/variants`, {
    body: [variant('control', { ...GOOD, stickiness: 'header:X-Tenant', timeout_ms: 600000, forward_metadata: true }), variant('bare')],
  });
  assert.equal(r.status, 200, show(r));
  // A flag outside the gateway keeps any payload: it is application data.
  r = await srv.api('PUT', `${EP('plain')}/variants`, { body: [variant('a', { ...GOOD, timeout_ms: 99999999 }), variant('b', 'hello')] });
  assert.equal(r.status, 200, show(r));
});

test('a strategy\'s variants: added, replaced or patched', async () => {
  const bad = { ...GOOD, timeout_ms: 0 };
  await refused('POST strategy', 'POST', `${EP('model.chat')}/strategies`,
    { name: 'flexibleRollout', parameters: { rollout: '50' }, variants: [variant('control', GOOD), variant('candidate', bad)] },
    '/variants/1/payload/value/timeout_ms');
  const list = await srv.api('GET', `${EP('model.chat')}/strategies`);
  assert.equal(list.status, 200, show(list));
  const id = list.json[0].id;
  await refused('PUT strategy', 'PUT', `${EP('model.chat')}/strategies/${id}`,
    { name: 'flexibleRollout', parameters: { rollout: '50' }, variants: [variant('control', { model: 'm1' })] },
    '/variants/0/payload/value/base_url');
  // A strategy's PATCH names the field in the patched strategy, as for
  // every other refusal of that route.
  await refused('PATCH strategy', 'PATCH', `${EP('model.chat')}/strategies/${id}`,
    [{ op: 'add', path: '/variants', value: [variant('control', { ...GOOD, stickiness: 7 })] }],
    '/variants/0/payload/value/stickiness');
  const r = await srv.api('PATCH', `${EP('model.chat')}/strategies/${id}`, {
    body: [{ op: 'add', path: '/variants', value: [variant('control', GOOD)] }],
  });
  assert.equal(r.status, 200, show(r));
});

test('an import and an Unleash import holding such a payload write nothing', async () => {
  const exp = await srv.api('GET', '/api/admin/export');
  assert.equal(exp.status, 200, show(exp));
  const doc = exp.json;
  const f = doc.features.find((x) => x.name === 'model.chat');
  const fi = doc.features.indexOf(f);
  const env = f.environments.find((e) => e.name === 'production');
  const ei = f.environments.indexOf(env);
  env.variants = [variant('control', { ...GOOD, timeout_ms: -1 })];
  const fresh = await startServer();
  try {
    const r = await fresh.api('POST', '/api/admin/import', { body: doc });
    assert.equal(r.status, 400, show(r));
    assert.equal(r.json.details[0].path, `/features/${fi}/environments/${ei}/variants/0/payload/value/timeout_ms`);
    const after = await fresh.api('GET', '/api/admin/features');
    assert.deepEqual(after.json.features, [], 'the import wrote something');

    const unleash = { exports: [{ environment: 'production', data: {
      features: [{ name: 'model.imported', type: 'release', project: 'default' }],
      featureStrategies: [{ name: 'flexibleRollout', featureName: 'model.imported', parameters: { rollout: '100' }, constraints: [] }],
      featureEnvironments: [{ featureName: 'model.imported', environment: 'production', enabled: true,
        variants: [variant('control', GOOD), variant('candidate', { ...GOOD, forward_metadata: 1 })] }],
    } }] };
    // A dry run lists it among the problems; the import proper refuses it.
    const dry = await fresh.api('POST', '/api/admin/import/unleash?dryRun=true', { body: unleash });
    assert.equal(dry.status, 200, show(dry));
    assert.equal(dry.json.ok, false, show(dry));
    assert.deepEqual(dry.json.problems.map((p) => p.path), ['/exports/0/data/featureEnvironments/0/variants/1/payload/value/forward_metadata']);
    const u = await fresh.api('POST', '/api/admin/import/unleash', { body: unleash });
    assert.equal(u.status, 400, show(u));
    assert.equal(u.json.details[0].path, '/exports/0/data/featureEnvironments/0/variants/1/payload/value/forward_metadata');
    assert.equal((await fresh.api('GET', `${FEAT}/model.imported`)).status, 404, 'the Unleash import wrote the flag');
    unleash.exports[0].data.featureEnvironments[0].variants[1] = variant('candidate', GOOD);
    const good = await fresh.api('POST', '/api/admin/import/unleash', { body: unleash });
    assert.equal(good.status, 200, show(good));
  } finally {
    await fresh.stop();
    removeTempDir(fresh.dir);
  }
});

test('a bad payload stored by an older version: the flag still switches off and edits; calls are refused 502', async () => {
  const flag = 'model.legacy';
  let r = await srv.api('POST', FEAT, { body: { name: flag } });
  assert.equal(r.status, 201, show(r));
  r = await srv.api('POST', `${EP(flag)}/strategies`, { body: { name: 'flexibleRollout', parameters: { rollout: '100' } } });
  assert.equal(r.status, 200, show(r));
  const stored = { ...GOOD, timeout_ms: 54321 };
  r = await srv.api('PUT', `${EP(flag)}/variants`, { body: [variant('control', stored)] });
  assert.equal(r.status, 200, show(r));
  r = await srv.api('POST', `${EP(flag)}/on`);
  assert.equal(r.status, 200, show(r));
  await srv.stop();
  // As an older version (or a script) could have written it.
  corruptFlag(srv, flag, '54321', '99999999');
  srv = await startServer({ dbPath: srv.dbPath, adminTokens: srv.adminTokens, clientTokens: [client] });
  const call = await srv.api('POST', '/v1/chat/completions', {
    token: `Bearer ${client}`, body: { model: 'legacy', messages: [{ role: 'user', content: 'hi' }] },
  });
  assert.equal(call.status, 502, show(call));
  // The kill switch lands, and edits that leave the payload alone pass.
  r = await srv.api('POST', `${EP(flag)}/off`);
  assert.equal(r.status, 200, show(r));
  r = await srv.api('PATCH', `${FEAT}/${flag}`, { body: [{ op: 'replace', path: '/description', value: 'kept' }] });
  assert.equal(r.status, 200, show(r));
  const got = await srv.api('GET', `${EP(flag)}/variants`);
  assert.equal(got.status, 200, show(got));
  const kept = got.json.variants;
  r = await srv.api('PUT', `${EP(flag)}/variants`, { body: [...kept, variant('candidate', GOOD)] });
  assert.equal(r.status, 200, `the stored payload sent back unchanged: ${show(r)}`);
  // Changing it is a write of its own: checked.
  await refused('the stored payload changed', 'PUT', `${EP(flag)}/variants`,
    [variant('control', { ...GOOD, timeout_ms: 99999998 })], '/0/payload/value/timeout_ms');
  // Repaired, it is called again (nothing listens on port 1: 502 from the
  // upstream's side now, the payload itself accepted).
  r = await srv.api('PUT', `${EP(flag)}/variants`, { body: [variant('control', GOOD)] });
  assert.equal(r.status, 200, show(r));
});
