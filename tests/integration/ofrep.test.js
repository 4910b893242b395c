'use strict';
// OpenFeature Remote Evaluation Protocol (docs/ofrep.md) against the real
// binary: typed values from variant payloads, booleans for flags without
// variants, the reasons (STATIC, TARGETING_MATCH, SPLIT, DISABLED,
// DEFAULT), the error codes and statuses of the spec, the two ways to
// send a token and which tokens are accepted, the bulk endpoint with an
// ETag that follows the evaluated result, and 429 with Retry-After.
//
//   node --test tests/integration/ofrep.test.js     (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, clientSecret, frontendSecret, show } = require('./server');

const ENV = 'production';
const EP = (f, p = 'default') => `/api/admin/projects/${p}/features/${f}/environments/${ENV}`;

let srv;
let backend; // client token, default project
let fe; // frontend token, default project

async function admin(method, path, body) {
  const r = await srv.api(method, path, body === undefined ? {} : { body });
  assert.ok(r.status >= 200 && r.status < 300, `setup ${method} ${path}: ${show(r)}`);
  return r.json;
}

async function flag(name, { project = 'default', on = true, strategies = [], variants } = {}) {
  await admin('POST', `/api/admin/projects/${project}/features`, { name });
  for (const s of strategies) await admin('POST', `${EP(name, project)}/strategies`, s);
  if (variants) await admin('PUT', `${EP(name, project)}/variants`, variants);
  if (on) await admin('POST', `${EP(name, project)}/on`);
}

const one = (variant, payload) => [{ name: variant, weight: 1000, weightType: 'variable', stickiness: 'default', ...(payload ? { payload } : {}) }];

function evaluate(key, context, o = {}) {
  const body = o.body !== undefined ? o.body : { context };
  return srv.api('POST', `/ofrep/v1/evaluate/flags/${key}`, { token: `Bearer ${backend}`, body, ...o });
}
function bulk(context, o = {}) {
  return srv.api('POST', '/ofrep/v1/evaluate/flags', { token: `Bearer ${fe}`, body: { context }, ...o });
}

test.before(async () => {
  backend = clientSecret('default', ENV);
  fe = frontendSecret('default', ENV);
  srv = await startServer({ clientTokens: [backend], frontendTokens: [fe] });
  await admin('POST', '/api/admin/projects', { id: 'other' });
  await flag('static-bool');
  await admin('POST', '/api/admin/projects/default/features', { name: 'no-strategy' });
  await flag('targeted', { strategies: [{ name: 'default', constraints: [{ contextName: 'plan', operator: 'IN', values: ['pro'] }] }] });
  await flag('by-user', { strategies: [{ name: 'userWithId', parameters: { userIds: 'user-1' } }] });
  await flag('rollout', { strategies: [{ name: 'flexibleRollout', parameters: { rollout: '50', stickiness: 'userId', groupId: 'rollout' } }] });
  await flag('off', { on: false });
  await flag('str', { variants: one('s', { type: 'string', value: 'hello' }) });
  await flag('csv', { variants: one('c', { type: 'csv', value: 'a,b,c' }) });
  await flag('num', { variants: one('n', { type: 'number', value: '42.5' }) });
  await flag('hexnum', { variants: one('h', { type: 'number', value: '0x1A' }) });
  await flag('badnum', { variants: one('b', { type: 'number', value: 'Infinity' }) });
  await flag('obj', { variants: one('o', { type: 'json', value: '{"a":[1,2],"b":{"c":true}}' }) });
  await flag('bare-variant', { variants: one('just-a-name') });
  await flag('split', {
    variants: [
      { name: 'A', weight: 500, weightType: 'variable', stickiness: 'userId', payload: { type: 'string', value: 'a' } },
      { name: 'B', weight: 500, weightType: 'variable', stickiness: 'userId', payload: { type: 'string', value: 'b' } },
    ],
  });
  await flag('var-off', { on: false, variants: one('x', { type: 'string', value: 'x' }) });
  await flag('elsewhere', { project: 'other' });
  await admin('POST', '/api/admin/projects/default/features', { name: 'dotted.key' });
  await admin('POST', `${EP('dotted.key')}/on`);
});

test.after(async () => { if (srv) await srv.stop(); });

test('booleans: flags without variants, with their reasons', async () => {
  const cases = [
    ['static-bool', { targetingKey: 'u' }, true, 'STATIC'],
    ['targeted', { targetingKey: 'u', plan: 'pro' }, true, 'TARGETING_MATCH'],
    ['targeted', { targetingKey: 'u', plan: 'free' }, false, 'DEFAULT'],
    ['by-user', { targetingKey: 'user-1' }, true, 'TARGETING_MATCH'],
    ['by-user', { targetingKey: 'user-2' }, false, 'DEFAULT'],
    ['off', { targetingKey: 'u' }, false, 'DISABLED'],
    ['no-strategy', { targetingKey: 'u' }, false, 'DISABLED'],
  ];
  for (const [key, ctx, value, reason] of cases) {
    const r = await evaluate(key, ctx);
    assert.equal(r.status, 200, `${key}: ${show(r)}`);
    assert.match(r.headers.get('content-type'), /application\/json/);
    assert.equal(r.json.key, key);
    assert.equal(r.json.value, value, `${key} ${JSON.stringify(ctx)}`);
    assert.equal(r.json.reason, reason, `${key} ${JSON.stringify(ctx)}`);
  }
  // A 50% rollout: SPLIT when it lets the user in; about half the users.
  let on = 0;
  for (let i = 0; i < 200; i++) {
    const r = await evaluate('rollout', { targetingKey: `user-${i}` });
    if (r.json.value) {
      on++;
      assert.equal(r.json.reason, 'SPLIT');
    } else {
      assert.equal(r.json.reason, 'DEFAULT');
    }
  }
  assert.ok(on > 60 && on < 140, `${on} of 200 in a 50% rollout`);
});

test('typed values from variant payloads', async () => {
  const cases = [
    ['str', 'hello', 's'], ['csv', 'a,b,c', 'c'], ['num', 42.5, 'n'], ['hexnum', 26, 'h'],
    ['obj', { a: [1, 2], b: { c: true } }, 'o'], ['bare-variant', 'just-a-name', 'just-a-name'],
  ];
  for (const [key, value, variant] of cases) {
    const r = await evaluate(key, { targetingKey: 'u' });
    assert.equal(r.status, 200, `${key}: ${show(r)}`);
    assert.deepEqual(r.json.value, value, key);
    assert.equal(r.json.variant, variant, key);
    assert.equal(r.json.reason, 'STATIC', key);
  }
  // A split between two variants: SPLIT, and both values occur, each
  // sticky for its user.
  const seen = new Set();
  for (let i = 0; i < 40; i++) {
    const r = await evaluate('split', { targetingKey: `user-${i}` });
    assert.equal(r.json.reason, 'SPLIT');
    assert.equal(r.json.value, r.json.variant.toLowerCase());
    const again = await evaluate('split', { targetingKey: `user-${i}`, other: 'x' });
    assert.equal(again.json.value, r.json.value, 'sticky');
    seen.add(r.json.value);
  }
  assert.deepEqual([...seen].sort(), ['a', 'b']);
  // A variant flag that is off has no value: the caller's default.
  const off = await evaluate('var-off', { targetingKey: 'u' });
  assert.equal(off.status, 200);
  assert.equal(off.json.reason, 'DISABLED');
  assert.equal('value' in off.json, false);
  // A payload that is no finite number cannot be an OFREP number.
  const bad = await evaluate('badnum', { targetingKey: 'u' });
  assert.equal(bad.status, 400, show(bad));
  assert.equal(bad.json.key, 'badnum');
  assert.equal(bad.json.errorCode, 'PARSE_ERROR');
  assert.ok(bad.json.errorDetails.length > 0);
});

test('errors: codes, statuses and the key', async () => {
  const nf = await evaluate('missing', { targetingKey: 'u' });
  assert.equal(nf.status, 404);
  assert.deepEqual({ key: nf.json.key, errorCode: nf.json.errorCode }, { key: 'missing', errorCode: 'FLAG_NOT_FOUND' });
  const hidden = await evaluate('elsewhere', { targetingKey: 'u' });
  assert.equal(hidden.status, 404, 'a flag of another project is not found for this token');
  for (const body of [{}, { context: 'x' }, { context: [1] }, [1]]) {
    const r = await evaluate('static-bool', null, { body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.errorCode, 'INVALID_CONTEXT');
    assert.equal(r.json.key, 'static-bool');
  }
  const tk = await evaluate('static-bool', { targetingKey: 42 });
  assert.equal(tk.status, 400);
  assert.equal(tk.json.errorCode, 'INVALID_CONTEXT');
  assert.match(tk.json.errorDetails, /\/context\/targetingKey/);
  const empty = await evaluate('static-bool', { targetingKey: '' });
  assert.equal(empty.status, 400);
  assert.equal(empty.json.errorCode, 'TARGETING_KEY_MISSING');
  // A missing targeting key is fine (providers send what they have).
  const none = await evaluate('static-bool', { plan: 'pro' });
  assert.equal(none.status, 200);
  const props = {};
  for (let i = 0; i < 70; i++) props[`k${i}`] = i;
  const many = await evaluate('static-bool', props);
  assert.equal(many.status, 400);
  assert.equal(many.json.errorCode, 'INVALID_CONTEXT');
  // Nested values are accepted (as JSON text properties).
  const nested = await evaluate('static-bool', { targetingKey: 'u', tags: ['x'], profile: { plan: 'pro' }, age: 30, admin: false });
  assert.equal(nested.status, 200, show(nested));
  // Method and route.
  assert.equal((await srv.api('GET', '/ofrep/v1/evaluate/flags/static-bool', { token: `Bearer ${backend}` })).status, 405);
  assert.equal((await srv.api('POST', '/ofrep/v2/evaluate/flags', { token: `Bearer ${backend}`, body: { context: {} } })).status, 404);
});

test('tokens: Bearer or X-API-Key; client and frontend tokens, not admin', async () => {
  const ctx = { context: { targetingKey: 'u' } };
  const path = '/ofrep/v1/evaluate/flags/static-bool';
  assert.equal((await srv.api('POST', path, { token: null, body: ctx })).status, 401);
  assert.equal((await srv.api('POST', path, { token: 'Bearer default:production.nope', body: ctx })).status, 401);
  assert.equal((await srv.api('POST', path, { token: null, headers: { 'X-API-Key': backend }, body: ctx })).status, 200);
  assert.equal((await srv.api('POST', path, { token: `Bearer ${fe}`, body: ctx })).status, 200);
  assert.equal((await srv.api('POST', path, { token: backend, body: ctx })).status, 200);
  assert.equal((await srv.api('POST', path, { token: `Bearer ${srv.adminToken}`, body: ctx })).status, 403);
});

test('the key is percent-decoded', async () => {
  const r = await evaluate('dotted%2Ekey', { targetingKey: 'u' });
  assert.equal(r.status, 200, show(r));
  assert.equal(r.json.key, 'dotted.key');
  assert.equal(r.json.value, true);
  const bad = await evaluate('bad%zzkey', { targetingKey: 'u' });
  assert.equal(bad.status, 400);
});

test('bulk: every visible flag, with an ETag that follows the result', async () => {
  const a = await bulk({ targetingKey: 'user-1', plan: 'free' });
  assert.equal(a.status, 200, show(a));
  const keys = a.json.flags.map((f) => f.key);
  assert.ok(keys.includes('static-bool') && keys.includes('obj') && keys.includes('by-user'));
  assert.ok(!keys.includes('elsewhere'));
  const byKey = Object.fromEntries(a.json.flags.map((f) => [f.key, f]));
  assert.equal(byKey['by-user'].value, true);
  assert.equal(byKey.targeted.value, false);
  assert.equal(byKey.badnum.errorCode, 'PARSE_ERROR', 'one failing flag is an item, not a failed request');
  // Items equal the single-flag answers.
  for (const key of ['static-bool', 'targeted', 'obj', 'split', 'var-off']) {
    const s = await evaluate(key, { targetingKey: 'user-1', plan: 'free' });
    assert.deepEqual(byKey[key], s.json, key);
  }
  const etag = a.headers.get('etag');
  assert.match(etag, /^".+"$/);
  const same = await bulk({ targetingKey: 'user-1', plan: 'free' }, { headers: { 'If-None-Match': etag } });
  assert.equal(same.status, 304);
  assert.equal(same.text, '');
  // Same targetingKey, another attribute that changes the result: a 200.
  const pro = await bulk({ targetingKey: 'user-1', plan: 'pro' }, { headers: { 'If-None-Match': etag } });
  assert.equal(pro.status, 200);
  assert.notEqual(pro.headers.get('etag'), etag);
  // An attribute that changes nothing keeps the ETag (the result is equal).
  const irrelevant = await bulk({ targetingKey: 'user-1', plan: 'free', color: 'green' }, { headers: { 'If-None-Match': etag } });
  assert.equal(irrelevant.status, 304);
  // A change through the admin API: a 200 with a new ETag.
  await flag('new-one');
  const after = await bulk({ targetingKey: 'user-1', plan: 'free' }, { headers: { 'If-None-Match': etag } });
  assert.equal(after.status, 200);
  assert.ok(after.json.flags.some((f) => f.key === 'new-one'));
  const bad = await srv.api('POST', '/ofrep/v1/evaluate/flags', { token: `Bearer ${fe}`, body: { nope: 1 } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.errorCode, 'INVALID_CONTEXT');
  assert.equal('key' in bad.json, false);
});

test('429 with Retry-After past the per-token rate', async () => {
  const t1 = clientSecret('default', ENV);
  const t2 = clientSecret('default', ENV);
  const s2 = await startServer({ clientTokens: [t1, t2], env: { VEXIL_OFREP_RATE: '1' } });
  try {
    const call = (t) => s2.api('POST', '/ofrep/v1/evaluate/flags', { token: `Bearer ${t}`, body: { context: {} } });
    const statuses = [];
    let limited;
    for (let i = 0; i < 5; i++) {
      const r = await call(t1);
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    assert.deepEqual(statuses.slice(0, 2), [200, 200], 'a burst of two');
    assert.ok(limited, `statuses ${statuses}`);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal((await call(t2)).status, 200, 'another token has its own bucket');
  } finally {
    await s2.stop();
  }
});

test('reasons follow a flag as it is patched (live environment)', async () => {
  const who = (targetingKey, extra = {}) => ({ targetingKey, ...extra });
  const reason = async (ctx) => {
    const r = await evaluate('patched', ctx);
    assert.equal(r.status, 200, show(r));
    return r.json.reason;
  };
  await flag('patched', { strategies: [{ name: 'default' }] });
  assert.equal(await reason(who('u')), 'STATIC');
  // A constrained strategy before an open one: which one decided.
  const s = await admin('POST', `${EP('patched')}/strategies`,
    { name: 'default', constraints: [{ contextName: 'plan', operator: 'IN', values: ['pro'] }] });
  assert.equal(await reason(who('u', { plan: 'pro' })), 'STATIC', 'the first (open) strategy decides');
  const list = (await admin('GET', `${EP('patched')}/strategies`));
  const open = list.find((x) => x.id !== s.id);
  await admin('DELETE', `${EP('patched')}/strategies/${open.id}`);
  assert.equal(await reason(who('u', { plan: 'pro' })), 'TARGETING_MATCH');
  assert.equal(await reason(who('u', { plan: 'free' })), 'DEFAULT');
  // Variants on the strategy: a split, unless an override names the caller.
  await admin('PUT', `${EP('patched')}/strategies/${s.id}`, {
    name: 'default', constraints: [],
    variants: [
      { name: 'A', weight: 500, weightType: 'variable', stickiness: 'default', payload: { type: 'string', value: 'a' } },
      { name: 'B', weight: 500, weightType: 'variable', stickiness: 'default', payload: { type: 'string', value: 'b' },
        overrides: [{ contextName: 'userId', values: ['boss'] }] },
    ],
  });
  assert.equal(await reason(who('u')), 'SPLIT');
  const boss = await evaluate('patched', who('boss'));
  assert.deepEqual([boss.json.value, boss.json.reason], ['b', 'TARGETING_MATCH']);
  // Off in the environment.
  await admin('POST', `${EP('patched')}/off`);
  assert.equal(await reason(who('u')), 'DISABLED');
});
