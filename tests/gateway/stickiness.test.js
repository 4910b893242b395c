'use strict';
// The unit of stickiness of a gateway flag (docs/gateway.md, "Stickiness"):
// the control's payload names it: `user` (the body's `user`, else
// X-Vexil-User; the default), `token`, `request`, or `header:<Name>`. A
// call without the unit's value is split per request, so a 10 % canary is
// 10 % of the calls that name no user, not 0 % or 100 % of them. With the
// official `openai` client (streaming and not) and the `ollama` client.
//
//   tests/gateway/run.sh tests/gateway/stickiness.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const OpenAI = require('openai');
const { Ollama } = require('ollama');
const { startModelServer } = require('../support/model_server');
const { startServer, clientSecret, corruptFlag } = require('../integration/server');
const { gatewayHelpers, stopAll } = require('./support');

const FEAT = '/api/admin/projects/default/features';
const ENV = (flag) => `${FEAT}/${flag}/environments/production`;
const MSG = [{ role: 'user', content: 'hello' }];

let a;
let b;
let srv;
let tokens;
let client;

const { admin } = gatewayHelpers(() => ({ srv, token: tokens[0] }));
const value = (o) => ({ type: 'json', value: JSON.stringify(o) });

// control -> a, candidate -> b, with these weights; `extra` goes into the
// control's payload (the flag's gateway settings).
async function gatewayFlag(flag, { control = 500, candidate = 500, rollout = 100, extra = {} } = {}) {
  await admin('POST', FEAT, { name: flag });
  await admin('POST', `${ENV(flag)}/strategies`, { name: 'flexibleRollout', parameters: { rollout, stickiness: 'default' } });
  await admin('PUT', `${ENV(flag)}/variants`, [
    { name: 'control', weight: control, weightType: 'fix', stickiness: 'default', payload: value({ base_url: `${a.url}/v1`, model: 'a', ...extra }) },
    { name: 'candidate', weight: candidate, weightType: 'fix', stickiness: 'default', payload: value({ base_url: `${b.url}/v1`, model: 'b' }) },
  ]);
  await admin('POST', `${ENV(flag)}/on`);
}

// The variant that served one chat call (the body's `user` when given).
async function served(alias, { user, stream = false, headers, c = client } = {}) {
  const r = await c.chat.completions
    .create({ model: alias, messages: MSG, stream, ...(user ? { user } : {}) }, headers ? { headers } : undefined)
    .withResponse();
  if (stream) for await (const _c of r.data); // eslint-disable-line no-unused-vars, no-empty
  return r.response.headers.get('x-vexil-variant');
}

async function many(n, fn) {
  const out = [];
  for (let i = 0; i < n; i += 20) {
    out.push(...await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, k) => fn(i + k))));
  }
  return out;
}

const share = (list, v) => list.filter((x) => x === v).length / list.length;

test.before(async () => {
  a = await startModelServer({ models: ['a'] });
  b = await startModelServer({ models: ['b'] });
  tokens = Array.from({ length: 30 }, () => clientSecret('default', 'production'));
  srv = await startServer({ clientTokens: tokens });
  await gatewayFlag('model.canary', { control: 900, candidate: 100 });
  await gatewayFlag('model.tok', { extra: { stickiness: 'token' } });
  await gatewayFlag('model.req', { extra: { stickiness: 'request' } });
  await gatewayFlag('model.tenant', { extra: { stickiness: 'header:X-Tenant' } });
  // The walk-through's shape: the rollout decides, the candidate has all
  // the weight.
  await gatewayFlag('model.rollout', { control: 0, candidate: 1000, rollout: 10 });
  // An unknown unit is refused when written (400 naming it); stored good,
  // then broken in the database as an older version could have left it,
  // it is the gateway's own refusal that shows.
  await admin('POST', FEAT, { name: 'model.bad' });
  const refused = await srv.api('PUT', `${ENV('model.bad')}/variants`, { body: [
    { name: 'control', weight: 1000, weightType: 'fix', stickiness: 'default', payload: value({ base_url: `${a.url}/v1`, model: 'a', stickiness: 'tenant' }) },
  ] });
  assert.equal(refused.status, 400, refused.text);
  assert.equal(refused.json.details[0].path, '/0/payload/value/stickiness');
  await admin('DELETE', `${FEAT}/model.bad`);
  await admin('DELETE', '/api/admin/archive/model.bad');
  await gatewayFlag('model.bad', { extra: { stickiness: 'header:X-Placeholder' } });
  await stopAll(srv);
  corruptFlag(srv, 'model.bad', 'header:X-Placeholder', 'tenant');
  srv = await startServer({ dbPath: srv.dbPath, adminTokens: srv.adminTokens, clientTokens: tokens });
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: tokens[0], maxRetries: 0 });
});

test.after(() => stopAll(srv, a, b));

test('user (the default): calls without a user are split per request, a 10 % canary stays 10 %', async () => {
  const got = await many(300, (i) => served('canary', { stream: i % 2 === 1 }));
  const s = share(got, 'candidate');
  assert.ok(s > 0.04 && s < 0.2, `candidate share ${s} of calls without user, weight 0.1`);
  assert.equal(share(got, 'control') + s, 1);
});

test('user: a user stays on one variant; users split by the weights', async () => {
  const users = Array.from({ length: 150 }, (_, i) => `user-${i}`);
  const first = await many(users.length, (i) => served('canary', { user: users[i] }));
  const again = await many(users.length, (i) => served('canary', { user: users[i], stream: true }));
  assert.deepEqual(again, first, 'each user on the same variant, streamed or not');
  const viaHeader = await many(40, (i) => served('canary', { headers: { 'X-Vexil-User': users[i] } }));
  assert.deepEqual(viaHeader, first.slice(0, 40), 'X-Vexil-User when the body has no user');
  const s = share(first, 'candidate');
  assert.ok(s > 0.02 && s < 0.25, `candidate share ${s} of users`);
});

test('token: every call of a token on one variant, whatever its user', async () => {
  const per = await many(tokens.length, async (i) => {
    const c = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: tokens[i], maxRetries: 0 });
    const vs = [];
    for (const user of [undefined, 'alice', 'bob', 'carol']) vs.push(await served('tok', { user, c, stream: user === 'bob' }));
    assert.equal(new Set(vs).size, 1, `token ${i}: ${vs}`);
    return vs[0];
  });
  assert.equal(new Set(per).size, 2, `tokens split between the variants: ${per}`);
});

test('request: each call on its own, even for one user', async () => {
  const got = await many(60, (i) => served('req', { user: 'alice', stream: i % 3 === 0 }));
  const s = share(got, 'candidate');
  assert.ok(s > 0.2 && s < 0.8, `candidate share ${s}`);
});

test('header: sticky on the named header; without it, split per request', async () => {
  const tenants = Array.from({ length: 40 }, (_, i) => `tenant-${i}`);
  const per = await many(tenants.length, async (i) => {
    const vs = [];
    for (const user of ['alice', 'bob', undefined]) {
      vs.push(await served('tenant', { user, headers: { 'X-Tenant': tenants[i] }, stream: user === 'bob' }));
    }
    assert.equal(new Set(vs).size, 1, `${tenants[i]}: ${vs}`);
    return vs[0];
  });
  assert.equal(new Set(per).size, 2, 'tenants split between the variants');
  const none = await many(60, () => served('tenant', { user: 'alice' }));
  const s = share(none, 'candidate');
  assert.ok(s > 0.2 && s < 0.8, `without X-Tenant: candidate share ${s}`);
});

test('ollama client without X-Vexil-User: a 10 % rollout takes 10 % of the calls', async () => {
  let last;
  const o = new Ollama({
    host: srv.url,
    headers: { Authorization: `Bearer ${tokens[1]}` },
    fetch: async (url, opts) => {
      const r = await fetch(url, opts);
      last = r.headers.get('x-vexil-variant');
      return r;
    },
  });
  const got = [];
  for (let i = 0; i < 300; i++) {
    if (i % 2) {
      for await (const _p of await o.chat({ model: 'rollout', messages: MSG, stream: true })); // eslint-disable-line no-unused-vars, no-empty
    } else {
      await o.generate({ model: 'rollout', prompt: 'hi' });
    }
    got.push(last);
  }
  const s = share(got, 'candidate');
  assert.ok(s > 0.04 && s < 0.2, `candidate share ${s}, rollout 10 %`);
});

test('an unknown unit is a configuration error of the flag, named in the answer', async () => {
  const e = await client.chat.completions.create({ model: 'bad', messages: MSG, user: 'alice' }).catch((x) => x);
  assert.ok(e instanceof OpenAI.InternalServerError, String(e));
  assert.equal(e.status, 502);
  assert.match(e.error.message, /stickiness/);
});
