'use strict';
// Targeting by what the request says about its caller (docs/gateway.md,
// "Context for targeting"): OpenAI's `metadata` object and the
// X-Vexil-Context header become context fields, so "the new model for
// enterprise customers in the EU" is two constraints, plan and region.
// Both are validated (a bad one is a 400 naming the field, in the client's
// error shape) and neither reaches the upstream unless the variant's
// payload says `"forward_metadata": true`. With the official `openai`
// client (streaming and not) and the `ollama` client.
//
//   tests/gateway/run.sh tests/gateway/context.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const OpenAI = require('openai');
const { Ollama } = require('ollama');
const { startModelServer } = require('../support/model_server');
const { startServer, clientSecret } = require('../integration/server');
const { gatewayHelpers, stopAll } = require('./support');

const FEAT = '/api/admin/projects/default/features';
const ENV = (flag) => `${FEAT}/${flag}/environments/production`;
const MSG = [{ role: 'user', content: 'hello' }];

let oldModel;
let newModel;
let srv;
let token;
let client;

const { admin } = gatewayHelpers(() => ({ srv, token }));
const value = (o) => ({ type: 'json', value: JSON.stringify(o) });

// Enterprise customers in the EU get the candidate (the strategy's
// constraints), everyone else the control.
async function gatewayFlag(flag, extra = {}) {
  await admin('POST', FEAT, { name: flag });
  await admin('POST', `${ENV(flag)}/strategies`, {
    name: 'flexibleRollout',
    parameters: { rollout: 100, stickiness: 'default' },
    constraints: [
      { contextName: 'plan', operator: 'IN', values: ['enterprise'] },
      { contextName: 'region', operator: 'IN', values: ['eu'] },
    ],
  });
  await admin('PUT', `${ENV(flag)}/variants`, [
    { name: 'control', weight: 0, weightType: 'fix', stickiness: 'default', payload: value({ base_url: `${oldModel.url}/v1`, model: 'old', ...extra }) },
    { name: 'candidate', weight: 1000, weightType: 'fix', stickiness: 'default', payload: value({ base_url: `${newModel.url}/v1`, model: 'new', ...extra }) },
  ]);
  await admin('POST', `${ENV(flag)}/on`);
}

async function served(body, { headers, stream = false } = {}) {
  const r = await client.chat.completions
    .create({ model: 'chat', messages: MSG, user: 'u-1', stream, ...body }, headers ? { headers } : undefined)
    .withResponse();
  if (stream) for await (const _c of r.data); // eslint-disable-line no-unused-vars, no-empty
  return r.response.headers.get('x-vexil-variant');
}

test.before(async () => {
  oldModel = await startModelServer({ models: ['old'] });
  newModel = await startModelServer({ models: ['new'] });
  token = clientSecret('default', 'production');
  srv = await startServer({ clientTokens: [token] });
  await gatewayFlag('model.chat');
  await gatewayFlag('model.fwd', { forward_metadata: true });
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: token, maxRetries: 0 });
});

test.after(() => stopAll(srv, oldModel, newModel));

test('metadata targets: enterprise customers in the EU get the new model, whole and streamed', async () => {
  for (const stream of [false, true]) {
    assert.equal(await served({ metadata: { plan: 'enterprise', region: 'eu' } }, { stream }), 'candidate');
    assert.equal(await served({ metadata: { plan: 'enterprise', region: 'us' } }, { stream }), 'control');
    assert.equal(await served({ metadata: { plan: 'free', region: 'eu' } }, { stream }), 'control');
    assert.equal(await served({}, { stream }), 'control');
  }
  // Not forwarded: the upstreams never saw the metadata.
  for (const ms of [oldModel, newModel]) {
    assert.ok(ms.chats().length > 0);
    assert.ok(ms.chats().every((r) => !('metadata' in r.json)), 'no metadata upstream');
  }
});

test('the X-Vexil-Context header targets too; metadata wins over it; never forwarded', async () => {
  for (const stream of [false, true]) {
    assert.equal(await served({}, { stream, headers: { 'X-Vexil-Context': 'plan=enterprise; region=eu' } }), 'candidate');
    assert.equal(await served({}, { stream, headers: { 'X-Vexil-Context': 'plan=enterprise;region=us;' } }), 'control');
    // Percent-encoded values.
    assert.equal(await served({}, { stream, headers: { 'X-Vexil-Context': 'plan=%65nterprise; region=eu' } }), 'candidate');
    assert.equal(await served({ metadata: { plan: 'enterprise' } }, { stream, headers: { 'X-Vexil-Context': 'plan=free; region=eu' } }), 'candidate');
  }
  for (const ms of [oldModel, newModel]) {
    assert.ok(ms.chats().every((r) => r.headers['x-vexil-context'] === undefined), 'no context header upstream');
  }
});

test('a payload with forward_metadata sends the metadata on', async () => {
  newModel.reset();
  const r = await client.chat.completions.create({ model: 'fwd', messages: MSG, metadata: { plan: 'enterprise', region: 'eu', ticket: 'T-1' } }).withResponse();
  assert.equal(r.response.headers.get('x-vexil-variant'), 'candidate');
  assert.deepEqual(newModel.chats()[0].json.metadata, { plan: 'enterprise', region: 'eu', ticket: 'T-1' });
});

test('ollama client: the header targets its native routes', async () => {
  let last;
  const o = (ctx) => new Ollama({
    host: srv.url,
    headers: { Authorization: `Bearer ${token}`, 'X-Vexil-Context': ctx },
    fetch: async (url, opts) => {
      const res = await fetch(url, opts);
      last = res.headers.get('x-vexil-variant');
      return res;
    },
  });
  const r = await o('plan=enterprise; region=eu').chat({ model: 'chat', messages: MSG });
  assert.equal(r.model, 'new');
  assert.equal(last, 'candidate');
  for await (const _p of await o('plan=enterprise; region=us').generate({ model: 'chat', prompt: 'hi', stream: true })); // eslint-disable-line no-unused-vars, no-empty
  assert.equal(last, 'control');
  const e = await o('plan').chat({ model: 'chat', messages: MSG }).catch((x) => x);
  assert.equal(e.status_code, 400);
  assert.match(e.message, /X-Vexil-Context/);
});

test('bad context is a 400 naming the field, in the openai client\'s shape', async () => {
  const long = 'x'.repeat(513);
  const seventeen = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`f${i}`, 'v']));
  const cases = [
    [{ metadata: 'enterprise' }, undefined, 'metadata'],
    [{ metadata: { plan: 5 } }, undefined, 'metadata.plan'],
    [{ metadata: { plan: long } }, undefined, 'metadata.plan'],
    [{ metadata: { 'pl an': 'x' } }, undefined, 'metadata.pl an'],
    [{ metadata: seventeen }, undefined, 'metadata'],
    [{ metadata: { userId: 'someone-else' } }, undefined, 'metadata.userId'],
    [{}, 'plan', 'X-Vexil-Context'],
    [{}, 'pl an=x', 'X-Vexil-Context'],
    [{}, 'plan=%zz', 'X-Vexil-Context'],
    [{}, `plan=${long}`, 'X-Vexil-Context'],
    [{}, Array.from({ length: 17 }, (_, i) => `f${i}=v`).join('; '), 'X-Vexil-Context'],
    [{}, 'currentTime=2099-01-01T00:00:00Z', 'X-Vexil-Context'],
  ];
  let i = 0;
  for (const [body, ctx, param] of cases) {
    const stream = i++ % 2 === 1;
    const e = await client.chat.completions
      .create({ model: 'chat', messages: MSG, stream, ...body }, ctx ? { headers: { 'X-Vexil-Context': ctx } } : undefined)
      .catch((x) => x);
    assert.ok(e instanceof OpenAI.BadRequestError, `${JSON.stringify(body)} ${ctx}: ${e}`);
    assert.equal(e.param, param, `${JSON.stringify(body)} ${ctx}: ${e.message}`);
    assert.equal(e.type, 'invalid_request_error');
  }
});
