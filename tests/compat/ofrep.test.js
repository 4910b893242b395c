'use strict';
// OpenFeature against a live `vexil serve` over OFREP (docs/ofrep.md):
//   - @openfeature/server-sdk 1.23.0 with @openfeature/ofrep-provider 0.1.3
//     (one POST /ofrep/v1/evaluate/flags/{key} per evaluation): boolean,
//     string, number and object flags give the right value, variant and
//     reason; FLAG_NOT_FOUND, TYPE_MISMATCH, TARGETING_KEY_MISSING,
//     INVALID_CONTEXT, PARSE_ERROR, 401/403 and 429 surface as the SDK
//     defines them;
//   - on random flag sets (gen.js), every flag's single answer, bulk item
//     and SDK details agree with the playground (value typed from the
//     chosen variant's payload, or the flag's on/off state);
//   - @openfeature/web-sdk 1.10.0 with @openfeature/ofrep-web-provider
//     0.4.3 in Node (bulk POST /ofrep/v1/evaluate/flags, then answers from
//     memory): values, polling with If-None-Match answered 304, an admin
//     change seen as ConfigurationChanged, context changes re-evaluated.
//
// Environment: VEXIL_BIN, VEXIL_COMPAT_SEED, VEXIL_COMPAT_OFREP_ROUNDS (4),
// VEXIL_COMPAT_OFREP_CONTEXTS (40).

const test = require('node:test');
const assert = require('node:assert/strict');
const L = require('./live');

const { srvlib } = L;
const SEED = L.envInt('VEXIL_COMPAT_SEED', Math.floor(Math.random() * 0x100000000)) >>> 0;
const ROUNDS = L.envInt('VEXIL_COMPAT_OFREP_ROUNDS', 4);
const CONTEXTS = L.envInt('VEXIL_COMPAT_OFREP_CONTEXTS', 40);

// ---- a flag set with one flag per OFREP shape ---------------------------------

const V = (name, payload, extra = {}) => ({ name, weight: 1000, weightType: 'variable', stickiness: 'default', ...(payload ? { payload } : {}), ...extra });
const ROLL = (rollout, stickiness, constraints = [], variants = []) => ({
  name: 'flexibleRollout', parameters: { rollout: String(rollout), stickiness, groupId: 'g' }, constraints, variants,
});
const PLAN_PRO = { contextName: 'plan', operator: 'IN', values: ['pro'] };

function typedFlags() {
  const f = (name, enabled, strategies, variants = []) => ({ name, type: 'release', enabled, impressionData: false, strategies, variants });
  return {
    version: 2,
    segments: [],
    features: [
      f('bool-on', true, [{ name: 'default', parameters: {} }]),
      f('bool-off', false, [{ name: 'default', parameters: {} }]),
      f('bool-plan', true, [ROLL(100, 'default', [PLAN_PRO])]),
      f('bool-half', true, [ROLL(50, 'userId')]),
      f('str-one', true, [{ name: 'default', parameters: {} }], [V('blue', { type: 'string', value: 'navy' })]),
      f('num', true, [{ name: 'default', parameters: {} }], [V('n', { type: 'number', value: '42.5' })]),
      f('obj', true, [{ name: 'default', parameters: {} }], [V('o', { type: 'json', value: '{"color":"red","n":3,"tags":["a","b"],"deep":{"x":null}}' })]),
      f('csv', true, [{ name: 'default', parameters: {} }], [V('c', { type: 'csv', value: 'a,b\n1,2' })]),
      f('no-payload', true, [{ name: 'default', parameters: {} }], [V('just-a-name')]),
      f('split-str', true, [{ name: 'default', parameters: {} }],
        [{ ...V('A', { type: 'string', value: 'a' }), weight: 500, stickiness: 'userId' }, { ...V('B', { type: 'string', value: 'b' }), weight: 500, stickiness: 'userId' }]),
      f('override', true, [{ name: 'default', parameters: {} }],
        [{ ...V('A', { type: 'string', value: 'a' }), weight: 500 },
          { ...V('vip', { type: 'string', value: 'v' }), weight: 500, overrides: [{ contextName: 'userId', values: ['boss'] }] }]),
      f('var-off', false, [{ name: 'default', parameters: {} }], [V('x', { type: 'string', value: 'x' })]),
      f('var-plan', true, [ROLL(100, 'default', [PLAN_PRO], [V('p', { type: 'number', value: '7' })])]),
      f('num-inf', true, [{ name: 'default', parameters: {} }], [V('i', { type: 'number', value: 'Infinity' })]),
      f('num-huge', true, [{ name: 'default', parameters: {} }], [V('h', { type: 'number', value: '1e999' })]),
    ],
  };
}

async function typedServer(extra = {}) {
  const clientToken = srvlib.clientSecret('default', L.ENV);
  const frontendToken = srvlib.frontendSecret('default', L.ENV);
  const srv = await srvlib.startServer({ clientTokens: [clientToken], frontendTokens: [frontendToken], ...extra });
  const { removed } = await L.importRound(srv, typedFlags());
  assert.deepEqual(removed, [], 'the typed flag set imports as is');
  return { srv, clientToken, frontendToken };
}

async function serverClient(srv, token, domain) {
  const { OpenFeature } = require('@openfeature/server-sdk');
  const { OFREPProvider } = require('@openfeature/ofrep-provider');
  const headers = token === null ? {} : { Authorization: `Bearer ${token}` };
  await OpenFeature.setProviderAndWait(domain, new OFREPProvider({ baseUrl: srv.url, headers }));
  return OpenFeature.getClient(domain);
}

function pick(d) {
  const out = { value: d.value, variant: d.variant, reason: d.reason };
  if (d.errorCode !== undefined) out.errorCode = d.errorCode;
  return out;
}

test('@openfeature/ofrep-provider: typed values, variants and reasons', async (t) => {
  const { srv, clientToken } = await typedServer();
  const c = await serverClient(srv, clientToken, 'typed');
  const pro = { targetingKey: 'u1', plan: 'pro' };
  const free = { targetingKey: 'u1', plan: 'free' };
  try {
    const cases = [
      ['Boolean', 'bool-on', false, pro, { value: true, variant: 'on', reason: 'STATIC' }],
      ['Boolean', 'bool-off', true, pro, { value: false, variant: 'off', reason: 'DISABLED' }],
      ['Boolean', 'bool-plan', false, pro, { value: true, variant: 'on', reason: 'TARGETING_MATCH' }],
      ['Boolean', 'bool-plan', true, free, { value: false, variant: 'off', reason: 'DEFAULT' }],
      ['String', 'str-one', 'dflt', pro, { value: 'navy', variant: 'blue', reason: 'STATIC' }],
      ['Number', 'num', 0, pro, { value: 42.5, variant: 'n', reason: 'STATIC' }],
      ['Object', 'obj', {}, pro, { value: { color: 'red', n: 3, tags: ['a', 'b'], deep: { x: null } }, variant: 'o', reason: 'STATIC' }],
      ['String', 'csv', 'dflt', pro, { value: 'a,b\n1,2', variant: 'c', reason: 'STATIC' }],
      ['String', 'no-payload', 'dflt', pro, { value: 'just-a-name', variant: 'just-a-name', reason: 'STATIC' }],
      ['Number', 'var-plan', 0, pro, { value: 7, variant: 'p', reason: 'TARGETING_MATCH' }],
    ];
    for (const [type, key, dflt, ctx, want] of cases) {
      const d = await c[`get${type}Details`](key, dflt, ctx);
      assert.deepEqual(pick(d), want, `get${type}Details(${key}, ${JSON.stringify(dflt)}, ${JSON.stringify(ctx)}): ${JSON.stringify(d)}`);
      assert.equal(d.flagMetadata.featureEnabled, want.reason !== 'DISABLED' && want.reason !== 'DEFAULT', `${key}: flagMetadata.featureEnabled`);
    }
    // A percentage rollout and a 50/50 split: SPLIT, and the value the
    // playground gives for the same user.
    const seen = new Set();
    for (let i = 0; i < 30; i++) {
      const ctx = { targetingKey: `user-${i}` };
      const pg = await L.playground(srv, { userId: ctx.targetingKey });
      const b = await c.getBooleanDetails('bool-half', false, ctx);
      assert.deepEqual(pick(b), pg['bool-half'].enabled
        ? { value: true, variant: 'on', reason: 'SPLIT' } : { value: false, variant: 'off', reason: 'DEFAULT' }, `bool-half for ${ctx.targetingKey}`);
      const s = await c.getStringDetails('split-str', 'dflt', ctx);
      assert.deepEqual(pick(s), { value: pg['split-str'].variant.payload.value, variant: pg['split-str'].variant.name, reason: 'SPLIT' }, `split-str for ${ctx.targetingKey}`);
      seen.add(`${b.value}/${s.variant}`);
    }
    assert.ok(seen.size >= 3, `30 users should spread over the rollouts, saw ${[...seen]}`);
    t.diagnostic(`rollout/split combinations seen: ${[...seen].join(' ')}`);
  } finally {
    await L.stop(srv);
  }
});

test('@openfeature/ofrep-provider: errors surface as the SDK defines them', async () => {
  const { srv, clientToken } = await typedServer();
  // A flag in another project, outside the client token's scope.
  let r = await srv.api('POST', '/api/admin/projects', { body: { id: 'other' } });
  assert.equal(r.status, 201, srvlib.show(r));
  r = await srv.api('POST', '/api/admin/projects/other/features', { body: { name: 'hidden' } });
  assert.equal(r.status, 201, srvlib.show(r));
  r = await srv.api('POST', `/api/admin/projects/other/features/hidden/environments/${L.ENV}/on`);
  assert.equal(r.status, 200, srvlib.show(r));
  const c = await serverClient(srv, clientToken, 'errors');
  const ctx = { targetingKey: 'u1' };
  try {
    const expectError = async (what, call, dflt, code, extra = {}) => {
      const d = await call();
      assert.equal(d.value, dflt, `${what}: the caller's default (${JSON.stringify(d)})`);
      assert.equal(d.reason, 'ERROR', `${what}: reason (${JSON.stringify(d)})`);
      assert.equal(d.errorCode, code, `${what}: errorCode (${JSON.stringify(d)})`);
      if (extra.message) assert.match(d.errorMessage || '', extra.message, `${what}: errorMessage`);
      return d;
    };
    await expectError('missing flag', () => c.getBooleanDetails('no-such-flag', true, ctx), true, 'FLAG_NOT_FOUND');
    await expectError('flag outside the token\'s projects', () => c.getBooleanDetails('hidden', true, ctx), true, 'FLAG_NOT_FOUND');
    await expectError('number asked of a boolean flag', () => c.getNumberDetails('bool-on', 5, ctx), 5, 'TYPE_MISMATCH');
    await expectError('boolean asked of a string flag', () => c.getBooleanDetails('str-one', false, ctx), false, 'TYPE_MISMATCH');
    await expectError('empty targetingKey', () => c.getBooleanDetails('bool-on', false, { targetingKey: '' }), false, 'TARGETING_KEY_MISSING');
    await expectError('object userId', () => c.getBooleanDetails('bool-on', false, { targetingKey: 'u', userId: { a: 1 } }), false, 'INVALID_CONTEXT');
    await expectError('number payload "Infinity"', () => c.getNumberDetails('num-inf', 3, ctx), 3, 'PARSE_ERROR');
    // A variant flag that is off has no value (the caller's default, OFREP
    // ADR-0006); ofrep-provider 0.1.3 predates that and calls it GENERAL.
    await expectError('variant flag off (provider 0.1.3)', () => c.getStringDetails('var-off', 'dflt', ctx), 'dflt', 'GENERAL',
      { message: /expected format/ });
    const raw = await srv.api('POST', '/ofrep/v1/evaluate/flags/var-off', { token: `Bearer ${clientToken}`, body: { context: ctx } });
    assert.equal(raw.status, 200, srvlib.show(raw));
    assert.deepEqual(raw.json, { key: 'var-off', reason: 'DISABLED', metadata: { featureEnabled: false } });
    // A context without targetingKey is evaluated.
    assert.deepEqual(pick(await c.getBooleanDetails('bool-on', false, {})), { value: true, variant: 'on', reason: 'STATIC' });
    // The token as X-API-Key works the same as Authorization: Bearer.
    const { OpenFeature } = require('@openfeature/server-sdk');
    const { OFREPProvider } = require('@openfeature/ofrep-provider');
    await OpenFeature.setProviderAndWait('x-api-key', new OFREPProvider({ baseUrl: srv.url, headers: { 'X-API-Key': clientToken } }));
    assert.deepEqual(pick(await OpenFeature.getClient('x-api-key').getNumberDetails('num', 0, ctx)), { value: 42.5, variant: 'n', reason: 'STATIC' });
  } finally {
    await L.stop(srv);
  }
});

test('@openfeature/ofrep-provider: a variant override naming the caller is TARGETING_MATCH', async () => {
  const { srv, clientToken } = await typedServer();
  try {
    const c = await serverClient(srv, clientToken, 'override');
    const d = await c.getStringDetails('override', 'dflt', { targetingKey: 'boss' });
    assert.deepEqual(pick(d), { value: 'v', variant: 'vip', reason: 'TARGETING_MATCH' }, JSON.stringify(d));
  } finally {
    await L.stop(srv);
  }
});

test('@openfeature/ofrep-provider: a number payload that overflows a double is a PARSE_ERROR', async () => {
  const { srv, clientToken } = await typedServer();
  try {
    const c = await serverClient(srv, clientToken, 'huge');
    const d = await c.getNumberDetails('num-huge', 3, { targetingKey: 'u' });
    assert.deepEqual({ value: d.value, errorCode: d.errorCode }, { value: 3, errorCode: 'PARSE_ERROR' }, JSON.stringify(d));
  } finally {
    await L.stop(srv);
  }
});

test('@openfeature/ofrep-provider: 401, 403 and 429 from the server', async () => {
  const { srv, clientToken } = await typedServer({ env: { VEXIL_OFREP_RATE: '1' } });
  try {
    const ctx = { targetingKey: 'u1' };
    const bad = await serverClient(srv, `default:production.${srvlib.hex64()}`, 'unknown-token');
    let d = await bad.getBooleanDetails('bool-on', false, ctx);
    assert.deepEqual({ value: d.value, reason: d.reason, errorCode: d.errorCode }, { value: false, reason: 'ERROR', errorCode: 'GENERAL' }, JSON.stringify(d));
    assert.equal(await L.countAtLeast(srv, '/ofrep/v1/evaluate/flags/{key}', 401, 1), 1, 'the unknown token got a 401');
    const admin = await serverClient(srv, srv.adminToken, 'admin-token');
    d = await admin.getBooleanDetails('bool-on', false, ctx);
    assert.deepEqual({ value: d.value, reason: d.reason, errorCode: d.errorCode }, { value: false, reason: 'ERROR', errorCode: 'GENERAL' }, JSON.stringify(d));
    assert.equal(await L.countAtLeast(srv, '/ofrep/v1/evaluate/flags/{key}', 403, 1), 1, 'the admin token got a 403');

    // 1 request/s per token, bursts of 2: the third call in a row is a 429.
    const c = await serverClient(srv, clientToken, 'limited');
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await c.getBooleanDetails('bool-on', false, ctx));
    const limited = results.findIndex((x) => x.errorCode !== undefined);
    assert.ok(limited >= 1, `a rate-limited call among ${JSON.stringify(results.map(pick))}`);
    assert.deepEqual({ value: results[limited].value, errorCode: results[limited].errorCode }, { value: false, errorCode: 'GENERAL' });
    assert.match(results[limited].errorMessage, /rate limit|TooManyRequests/i, results[limited].errorMessage);
    const n429 = await L.countAtLeast(srv, '/ofrep/v1/evaluate/flags/{key}', 429, 1);
    assert.equal(n429, 1, 'the server answered exactly one 429; the SDK then paused itself');
    const raw = await srv.api('POST', '/ofrep/v1/evaluate/flags/bool-on', { token: `Bearer ${clientToken}`, body: { context: ctx } });
    assert.equal(raw.status, 429, srvlib.show(raw));
    assert.match(raw.headers.get('retry-after') || '', /^[1-9][0-9]*$/, 'Retry-After in whole seconds');
  } finally {
    await L.stop(srv);
  }
});

// ---- random flag sets: single, bulk and SDK agree with the playground ----------

// What OFREP should answer for one flag, from the playground's answer and
// the client-features flag (docs/ofrep.md, "Values" and "Reasons").
function expected(flag, pg) {
  const hasVariants = (flag.variants || []).length > 0 || (flag.strategies || []).some((s) => (s.variants || []).length > 0);
  if (!hasVariants) return { type: 'Boolean', value: pg.enabled, variant: pg.enabled ? 'on' : 'off' };
  if (!pg.enabled || !pg.variant.enabled) return { type: 'none' };
  const p = pg.variant.payload;
  if (!p) return { type: 'String', value: pg.variant.name, variant: pg.variant.name };
  if (p.type === 'json') return { type: 'Object', value: JSON.parse(p.value), variant: pg.variant.name };
  if (p.type === 'number') return { type: 'Number', value: Number(p.value), variant: pg.variant.name };
  return { type: 'String', value: p.value, variant: pg.variant.name };
}

// The generated context as an OpenFeature context (userId is targetingKey,
// properties become top-level members). Property values that are numbers
// written the way JSON writes them ("42", "-0.5", not "12.0" or "+3") are
// sent as JSON numbers: the server must read them back as the same text.
function ofContext(ctx) {
  const { userId, properties, ...rest } = ctx;
  const props = {};
  for (const [k, v] of Object.entries(properties || {})) {
    props[k] = typeof v === 'string' && v !== '' && String(Number(v)) === v ? Number(v) : v;
  }
  return { ...(userId !== undefined ? { targetingKey: userId } : {}), ...rest, ...props };
}

test(`OFREP single, bulk and @openfeature/ofrep-provider agree with the playground on random flag sets (seed ${SEED})`, async (t) => {
  let compared = 0;
  const reasons = {};
  for (let round = 0; round < ROUNDS; round++) {
    await t.test(`round ${round}`, async () => {
      const { srv, clientToken, gen, names } = await L.serverWithRound(SEED, 7000 + round, CONTEXTS);
      try {
        const doc = await srv.api('GET', '/api/client/features', { token: clientToken });
        assert.equal(doc.status, 200, srvlib.show(doc));
        const flags = new Map(doc.json.features.map((f) => [f.name, f]));
        const c = await serverClient(srv, clientToken, `random-${round}`);
        for (const ctx of gen.contexts) {
          const octx = ofContext(ctx);
          const pg = await L.playground(srv, ctx);
          const bulk = await srv.api('POST', '/ofrep/v1/evaluate/flags', { token: `Bearer ${clientToken}`, body: { context: octx } });
          assert.equal(bulk.status, 200, srvlib.show(bulk));
          const items = new Map(bulk.json.flags.map((x) => [x.key, x]));
          assert.deepEqual([...items.keys()].sort(), names.slice().sort(), 'the bulk answer lists every flag once');
          for (const name of names) {
            const where = `seed ${SEED}, round ${round}, flag ${name} ${JSON.stringify(flags.get(name))}, context ${JSON.stringify(octx)}, playground ${JSON.stringify(pg[name])}`;
            const want = expected(flags.get(name), pg[name]);
            const single = await srv.api('POST', `/ofrep/v1/evaluate/flags/${encodeURIComponent(name)}`, { token: `Bearer ${clientToken}`, body: { context: octx } });
            assert.equal(single.status, 200, `${where}: ${srvlib.show(single)}`);
            assert.deepEqual(items.get(name), single.json, `${where}: the bulk item equals the single answer`);
            const s = single.json;
            assert.equal(s.metadata.featureEnabled, pg[name].enabled, `${where}: metadata.featureEnabled`);
            if (!flags.get(name).enabled) assert.equal(s.reason, 'DISABLED', where);
            else if (!pg[name].enabled) assert.equal(s.reason, 'DEFAULT', where);
            else assert.ok(['STATIC', 'TARGETING_MATCH', 'SPLIT'].includes(s.reason), `${where}: reason ${s.reason}`);
            reasons[s.reason] = (reasons[s.reason] || 0) + 1;
            if (want.type === 'none') {
              assert.ok(!('value' in s) && !('variant' in s), `${where}: no value when no variant applies: ${single.text}`);
              continue;
            }
            assert.deepEqual({ value: s.value, variant: s.variant }, { value: want.value, variant: want.variant }, `${where}: single answer`);
            const dflt = { Boolean: !want.value, String: '\u0000dflt', Number: -12345, Object: { dflt: true } }[want.type];
            const d = await c[`get${want.type}Details`](name, dflt, octx);
            assert.deepEqual(pick(d), { value: want.value, variant: want.variant, reason: s.reason }, `${where}: the SDK's details`);
            compared++;
          }
        }
      } finally {
        await L.stop(srv);
      }
    });
  }
  t.diagnostic(`${compared} SDK evaluations compared; reasons seen: ${JSON.stringify(reasons)}`);
  if (ROUNDS * CONTEXTS >= 100) assert.ok(compared > 0 && Object.keys(reasons).length >= 4, `reasons seen: ${JSON.stringify(reasons)}`);
});

// ---- the web provider --------------------------------------------------------------

test('@openfeature/ofrep-web-provider in Node: bulk evaluation, 304 polling, changes', async () => {
  const { srv, frontendToken } = await typedServer();
  const { OpenFeature, ProviderEvents } = require('@openfeature/web-sdk');
  const { OFREPWebProvider } = require('@openfeature/ofrep-web-provider');
  const changes = [];
  const domain = 'vexil-web';
  try {
    await OpenFeature.setContext(domain, { targetingKey: 'u1', plan: 'pro' });
    const statuses = [];
    const recording = async (req, init) => { // ofrep-core passes a Request
      const r = await fetch(req, init);
      statuses.push(`${req.headers.get('if-none-match') ? 'INM ' : ''}${r.status}`);
      return r;
    };
    const provider = new OFREPWebProvider({
      baseUrl: srv.url, headers: [['Authorization', `Bearer ${frontendToken}`]],
      cacheMode: 'disabled', changeDetection: 'polling', pollInterval: 100, fetchImplementation: recording,
    });
    await OpenFeature.setProviderAndWait(domain, provider);
    const c = OpenFeature.getClient(domain);
    c.addHandler(ProviderEvents.ConfigurationChanged, (e) => changes.push(e.flagsChanged || []));
    assert.deepEqual(pick(c.getBooleanDetails('bool-plan', false)), { value: true, variant: 'on', reason: 'TARGETING_MATCH' });
    assert.deepEqual(pick(c.getBooleanDetails('bool-off', true)), { value: false, variant: 'off', reason: 'DISABLED' });
    assert.deepEqual(pick(c.getObjectDetails('obj', {})), { value: { color: 'red', n: 3, tags: ['a', 'b'], deep: { x: null } }, variant: 'o', reason: 'STATIC' });
    assert.deepEqual(pick(c.getNumberDetails('var-plan', 0)), { value: 7, variant: 'p', reason: 'TARGETING_MATCH' });
    assert.equal(c.getBooleanDetails('no-such-flag', true).errorCode, 'FLAG_NOT_FOUND');
    assert.equal(c.getStringDetails('bool-on', 'x').errorCode, 'TYPE_MISMATCH');
    // A bulk item without value (a variant flag that is off): the default.
    const off = c.getStringDetails('var-off', 'dflt');
    assert.deepEqual({ value: off.value, errorCode: off.errorCode }, { value: 'dflt', errorCode: undefined }, JSON.stringify(off));

    // Polls carry If-None-Match and get 304 while nothing changes.
    await L.waitFor(() => statuses.filter((x) => x === 'INM 304').length >= 3, 5000, `three polls answered 304 (${statuses})`, 20);
    assert.equal(statuses[0], '200', `the first bulk request: ${statuses}`);
    assert.deepEqual([...new Set(statuses.slice(1))], ['INM 304'], `polls while nothing changes: ${statuses}`);
    await L.countAtLeast(srv, '/ofrep/v1/evaluate/flags', 304, 3);

    // An admin change: the next poll is a 200 and the provider reports it.
    const r = await srv.api('POST', `/api/admin/projects/default/features/bool-on/environments/${L.ENV}/off`);
    assert.equal(r.status, 200, srvlib.show(r));
    await L.waitFor(() => changes.some((f) => f.includes('bool-on')), 5000, 'ConfigurationChanged naming bool-on', 20);
    assert.ok(statuses.includes('INM 200'), `the change came as a 200 to a poll: ${statuses}`);
    assert.deepEqual(pick(c.getBooleanDetails('bool-on', true)), { value: false, variant: 'off', reason: 'DISABLED' });

    // Same targetingKey, another plan: the provider sends its old ETag;
    // the answer changed, so it must get a 200 with the new values.
    const ask = async (ctx) => {
      const before = statuses.length;
      await OpenFeature.setContext(domain, ctx);
      // polls may interleave: the context change is the one that is not a 304
      // when the answer changed, and every request after it is a 304
      return statuses.slice(before);
    };
    let got = await ask({ targetingKey: 'u1', plan: 'free' });
    assert.ok(got.includes('INM 200'), `a context change that changes an answer sends the old ETag and gets a 200: ${got}`);
    assert.deepEqual(pick(c.getBooleanDetails('bool-plan', true)), { value: false, variant: 'off', reason: 'DEFAULT' });
    // A change that changes no answer keeps the ETag: a 304, same values.
    got = await ask({ targetingKey: 'u1', plan: 'basic' });
    assert.ok(got.length >= 1 && got.every((x) => x === 'INM 304'), `an unchanged result after a context change is a 304: ${got}`);
    assert.deepEqual(pick(c.getBooleanDetails('bool-plan', true)), { value: false, variant: 'off', reason: 'DEFAULT' });
  } finally {
    await OpenFeature.clearProviders();
    await L.stop(srv);
  }
});
