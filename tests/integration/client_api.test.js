'use strict';
// The Unleash client API (/api/client/...) against the real binary: what a
// server-side SDK is served (filters, token scope, segments inlined for old
// SDKs), ETag and 304, gzip, one flag, the delta API (hydration, updates,
// removals, 304), streaming (the first message, a change arriving, resume
// with Last-Event-ID), register and metrics (validated, visible through the
// admin API), and the token rules.
//
//   node --test tests/integration/client_api.test.js     (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const zlib = require('node:zlib');
const { startServer, clientSecret, frontendSecret, show, sleep } = require('./server');
const { onBlocks } = require('../support/sse');

const ENV = 'production';
const FP = (f, p = 'default') => `/api/admin/projects/${p}/features/${f}`;
const EP = (f, p = 'default') => `${FP(f, p)}/environments/${ENV}`;

let srv;
let client; // client token: every project, production
let scoped; // client token: project "shop" only
let fe; // a frontend token (refused here)
let segId;

async function admin(method, path, body) {
  const r = await srv.api(method, path, body === undefined ? {} : { body });
  assert.ok(r.status >= 200 && r.status < 300, `setup ${method} ${path}: ${show(r)}`);
  return r.json;
}

const get = (path, o = {}) => srv.api('GET', path, { token: client, ...o });
const names = (doc) => doc.features.map((f) => f.name).sort();

// A raw GET, to see the bytes as sent (fetch would inflate gzip).
function rawGet(path, headers) {
  return new Promise((resolve, reject) => {
    const req = http.get(srv.url + path, { headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
  });
}

// An SSE client that collects events until closed.
function stream(headers = {}) {
  const events = [];
  let res;
  const waiters = [];
  const req = http.get(srv.url + '/api/client/streaming', { headers: { Authorization: client, ...headers } }, (r) => {
    res = r;
    onBlocks(r, (block) => {
      const ev = { at: Date.now() };
      for (const line of block.split('\n')) {
        const m = /^(\w+): ?(.*)$/.exec(line);
        if (m) ev[m[1]] = m[2];
      }
      if (ev.event) {
        events.push(ev);
        waiters.splice(0).forEach((w) => w());
      }
    });
  });
  req.on('error', () => {});
  return {
    events,
    status: () => res && res.statusCode,
    headers: () => res && res.headers,
    async next(count, ms = 3000) {
      const until = Date.now() + ms;
      while (events.length < count && Date.now() < until) {
        await new Promise((r) => { waiters.push(r); setTimeout(r, 50); });
      }
      assert.ok(events.length >= count, `expected ${count} SSE events, got ${events.length}`);
      return events[count - 1];
    },
    close() { req.destroy(); },
  };
}

test.before(async () => {
  client = clientSecret('*', ENV);
  scoped = clientSecret('shop', ENV);
  fe = frontendSecret('default', ENV);
  srv = await startServer({ clientTokens: [client], frontendTokens: [fe] });
  await admin('POST', '/api/admin/projects', { id: 'shop', name: 'Shop' });
  // The scoped token: project "shop" only.
  const t = await admin('POST', '/api/admin/api-tokens',
    { tokenName: 'shop-sdk', type: 'client', environment: ENV, projects: ['shop'] });
  scoped = t.secret;
  const seg = await admin('POST', '/api/admin/segments', {
    name: 'thai', constraints: [{ contextName: 'country', operator: 'IN', values: ['TH'] }],
  });
  segId = seg.id;
  await admin('POST', '/api/admin/projects/default/features', { name: 'checkout.new' });
  await admin('POST', `${EP('checkout.new')}/strategies`, {
    name: 'flexibleRollout', parameters: { rollout: '50', stickiness: 'userId' }, segments: [segId],
    constraints: [{ contextName: 'plan', operator: 'IN', values: ['pro'] }],
  });
  await admin('POST', `${EP('checkout.new')}/on`);
  await admin('POST', '/api/admin/projects/default/features', { name: 'checkout.old' });
  await admin('POST', '/api/admin/features/checkout.old/tags', { type: 'simple', value: 'legacy' });
  await admin('POST', '/api/admin/projects/shop/features', { name: 'shop.banner' });
});

test.after(async () => {
  if (srv) await srv.stop();
});

test('features: the token\'s environment, filters and segments as the SDK version wants', async () => {
  const r = await get('/api/client/features', { headers: { 'Unleash-Client-Spec': '5.2.0' } });
  assert.equal(r.status, 200, show(r));
  assert.equal(r.json.version, 2);
  assert.deepEqual(names(r.json), ['checkout.new', 'checkout.old', 'shop.banner']);
  const f = r.json.features.find((x) => x.name === 'checkout.new');
  assert.equal(f.enabled, true);
  assert.equal(f.strategies[0].id, undefined, 'strategy ids are not sent');
  assert.deepEqual(f.strategies[0].segments, [segId]);
  assert.equal(f.strategies[0].parameters.groupId, 'checkout.new');
  assert.deepEqual(r.json.segments.map((s) => s.id), [segId]);
  assert.equal(r.json.features.find((x) => x.name === 'checkout.old').tags, undefined);

  // An old SDK (or curl) gets the segment's constraints inlined.
  const old = await get('/api/client/features');
  assert.equal(old.json.segments, undefined);
  const fo = old.json.features.find((x) => x.name === 'checkout.new');
  assert.deepEqual(fo.strategies[0].constraints.map((c) => c.contextName), ['plan', 'country']);
  assert.equal(fo.strategies[0].segments, undefined);

  // Filters.
  assert.deepEqual(names((await get('/api/client/features?namePrefix=checkout.')).json),
    ['checkout.new', 'checkout.old']);
  assert.deepEqual(names((await get('/api/client/features?project=shop')).json), ['shop.banner']);
  assert.deepEqual(names((await get('/api/client/features?tag=simple:legacy')).json), ['checkout.old']);
  // The token's projects win over the query.
  assert.deepEqual(names((await get('/api/client/features', { token: scoped })).json), ['shop.banner']);
  assert.deepEqual(names((await get('/api/client/features?project=default', { token: scoped })).json), []);

  const bad = await get('/api/client/features', { headers: { 'Unleash-Client-Spec': 'banana' } });
  assert.equal(bad.status, 400, show(bad));
});

test('features: strong ETag, 304, gzip, and a write is served at once', async () => {
  const a = await get('/api/client/features');
  const etag = a.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]+z?"$/);
  const again = await get('/api/client/features', { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal(again.text, '');

  const z = await rawGet('/api/client/features', { Authorization: client, 'Accept-Encoding': 'gzip' });
  assert.equal(z.status, 200);
  assert.equal(z.headers['content-encoding'], 'gzip');
  assert.deepEqual(JSON.parse(zlib.gunzipSync(z.body)), a.json);

  // The write returns once SDKs are served the change.
  await admin('POST', `${EP('checkout.old')}/on`);
  const b = await get('/api/client/features', { headers: { 'If-None-Match': etag } });
  assert.equal(b.status, 200);
  assert.notEqual(b.headers.get('etag'), etag);
  assert.equal(b.json.features.find((x) => x.name === 'checkout.old').enabled, true);
  // A change in another environment leaves this one's ETag alone.
  const e2 = b.headers.get('etag');
  await admin('POST', `${FP('checkout.old')}/environments/development/on`);
  assert.equal((await get('/api/client/features', { headers: { 'If-None-Match': e2 } })).status, 304);
});

test('features/{name}: one flag or 404', async () => {
  const r = await get('/api/client/features/checkout.new');
  assert.equal(r.status, 200, show(r));
  assert.equal(r.json.name, 'checkout.new');
  assert.equal((await get('/api/client/features/nope')).status, 404);
  assert.equal((await get('/api/client/features/checkout.new', { token: scoped })).status, 404);
});

test('delta: hydration, then only what changed, then 304', async () => {
  const h = await get('/api/client/delta');
  assert.equal(h.status, 200, show(h));
  assert.equal(h.json.events.length, 1);
  assert.equal(h.json.events[0].type, 'hydration');
  assert.ok(h.json.events[0].features.some((f) => f.name === 'checkout.new'));
  const rev = h.headers.get('etag');
  assert.match(rev, /^"\d+"$/);
  assert.equal((await get('/api/client/delta', { headers: { 'If-None-Match': rev } })).status, 304);

  await admin('POST', '/api/admin/projects/default/features', { name: 'delta.added' });
  await admin('DELETE', FP('checkout.old'));
  const d = await get('/api/client/delta', { headers: { 'If-None-Match': rev } });
  assert.equal(d.status, 200, show(d));
  const kinds = d.json.events.map((e) => `${e.type}:${e.feature ? e.feature.name : e.featureName}`).sort();
  assert.deepEqual(kinds, ['feature-removed:checkout.old', 'feature-updated:delta.added']);
  const removed = d.json.events.find((e) => e.type === 'feature-removed');
  assert.equal(removed.project, 'default');
  // A revision the server does not know gets a hydration.
  const u = await get('/api/client/delta', { headers: { 'If-None-Match': '"999999999"' } });
  assert.equal(u.json.events[0].type, 'hydration');
  // The scoped token sees only its project's changes.
  const s = await get('/api/client/delta', { token: scoped });
  assert.deepEqual(s.json.events[0].features.map((f) => f.name), ['shop.banner']);
  await admin('POST', `/api/admin/archive/revive/checkout.old`);
});

test('streaming: connected with a hydration, changes arrive, resume from Last-Event-ID', async () => {
  const s = stream();
  const first = await s.next(1);
  assert.equal(s.status(), 200);
  assert.match(s.headers()['content-type'], /^text\/event-stream/);
  assert.equal(first.event, 'unleash-connected');
  assert.equal(JSON.parse(first.data).events[0].type, 'hydration');

  const t0 = Date.now();
  await admin('POST', `${EP('delta.added')}/on`);
  const upd = await s.next(2);
  const ms = upd.at - t0;
  assert.equal(upd.event, 'unleash-updated');
  const evs = JSON.parse(upd.data).events;
  assert.deepEqual(evs.map((e) => e.feature.name), ['delta.added']);
  assert.equal(evs[0].feature.enabled, true);
  assert.ok(Number(upd.id) > Number(first.id), 'ids grow');
  console.log(`# streaming: admin write to SSE event in ${ms} ms (includes the write itself)`);
  assert.ok(ms < 1000, `change took ${ms} ms`);
  s.close();

  // Resume: only what happened since the last id.
  await admin('POST', `${EP('delta.added')}/off`);
  const r = stream({ 'Last-Event-ID': upd.id });
  const ev = await r.next(1);
  assert.equal(ev.event, 'unleash-updated');
  assert.deepEqual(JSON.parse(ev.data).events.map((e) => [e.feature.name, e.feature.enabled]),
    [['delta.added', false]]);
  r.close();
});

test('register and metrics: validated, then visible to admins', async () => {
  const post = (path, body, token = client) => srv.api('POST', path, { token, body });
  const reg = await post('/api/client/register', {
    appName: 'checkout-service', instanceId: 'pod-1', sdkVersion: 'unleash-node-sdk:6.12.1',
    strategies: ['default', 'flexibleRollout'], started: new Date().toISOString(), interval: 10000,
  });
  assert.equal(reg.status, 202, show(reg));
  const apps = await admin('GET', '/api/admin/metrics/applications');
  assert.ok(apps.applications.some((a) => a.appName === 'checkout-service' && a.instanceId === 'pod-1'
    && a.environment === ENV));

  const now = new Date();
  const bucket = { start: new Date(now - 60000).toISOString(), stop: now.toISOString(),
    toggles: { 'checkout.new': { yes: 7, no: 3, variants: { blue: 2 } }, 'no.such.flag': { yes: 1, no: 0 } } };
  const m = await post('/api/client/metrics', { appName: 'checkout-service', instanceId: 'pod-1', bucket });
  assert.equal(m.status, 202, show(m));
  const u = await admin('GET', '/api/admin/client-metrics/features/checkout.new');
  const row = u.usage.find((x) => x.appName === 'checkout-service');
  assert.deepEqual([row.yes, row.no, row.variants.blue, row.environment], [7, 3, 2, ENV]);
  const flag = await admin('GET', FP('checkout.new'));
  assert.ok(flag.lastSeenAt, 'the flag is marked as seen');

  // Bad bodies name the field and change nothing.
  for (const [body, path] of [
    [{ bucket }, '/appName'],
    [{ appName: 'a' }, '/bucket'],
    [{ appName: 'a', bucket: { toggles: { 'checkout.new': { yes: -1 } } } }, '/bucket/toggles/checkout.new/yes'],
    [{ appName: 'a', bucket: { start: 'yesterday', toggles: {} } }, '/bucket/start'],
    [{ appName: 'a', bucket: { toggles: { 'checkout.new': { variants: { x: 'many' } } } } }, '/bucket/toggles/checkout.new/variants/x'],
  ]) {
    const r = await post('/api/client/metrics', body);
    assert.equal(r.status, 400, show(r));
    assert.equal(r.json.details[0].path, path, show(r));
  }
  const again = await admin('GET', '/api/admin/client-metrics/features/checkout.new');
  assert.equal(again.usage.find((x) => x.appName === 'checkout-service').yes, 7);
  const bad = await post('/api/client/register', { instanceId: 'x' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.details[0].path, '/appName');
});

test('tokens and routes: 401, 403, 404, 405', async () => {
  const paths = ['/api/client/features', '/api/client/features/checkout.new', '/api/client/delta'];
  for (const p of paths) {
    assert.equal((await srv.api('GET', p, { token: null })).status, 401, p);
    assert.equal((await srv.api('GET', p, { token: 'nope' })).status, 401, p);
    assert.equal((await srv.api('GET', p)).status, 403, `${p} with an admin token`);
    assert.equal((await srv.api('GET', p, { token: fe })).status, 403, `${p} with a frontend token`);
  }
  assert.equal((await srv.api('POST', '/api/client/metrics', { token: fe, body: {} })).status, 403);
  assert.equal((await get('/api/client/nothing')).status, 404);
  const m = await srv.api('POST', '/api/client/features', { token: client, body: {} });
  assert.equal(m.status, 405);
  assert.equal(m.headers.get('allow'), 'GET');
  assert.equal((await srv.api('GET', '/api/client/register', { token: client })).status, 405);
});

test('a revoked token is refused at once', async () => {
  const t = await admin('POST', '/api/admin/api-tokens', { tokenName: 'short', type: 'client', environment: ENV, projects: ['*'] });
  assert.equal((await get('/api/client/features', { token: t.secret })).status, 200);
  await admin('DELETE', `/api/admin/api-tokens/${t.id}`);
  assert.equal((await get('/api/client/features', { token: t.secret })).status, 401);
  await sleep(1);
});

test('features/{name}: the same bytes as in the features document, after a patch too', async () => {
  const spec = { 'Unleash-Client-Spec': '5.2.0', Authorization: client };
  for (let round = 0; round < 2; round++) {
    const all = await rawGet('/api/client/features', spec);
    const one = await rawGet('/api/client/features/checkout.new', spec);
    assert.equal(one.status, 200);
    assert.match(one.headers['content-type'], /application\/json/);
    assert.ok(all.body.toString().includes(`[${one.body}`) || all.body.toString().includes(`,${one.body}`),
      `round ${round}: ${one.body}`);
    assert.equal(JSON.parse(one.body).name, 'checkout.new');
    // A tag added to a live flag selects it at once.
    if (round === 0) {
      await admin('POST', '/api/admin/features/checkout.new/tags', { type: 'simple', value: 'fresh' });
      assert.deepEqual(names((await get('/api/client/features?tag=simple:fresh')).json), ['checkout.new']);
      await admin('PATCH', FP('checkout.new'), [{ op: 'replace', path: '/description', value: 'patched' }]);
    }
  }
});
