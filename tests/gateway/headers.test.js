'use strict';
// The upstream's response headers reach the client (docs/gateway.md, "The
// answer"): rate-limit headers, Retry-After and request ids pass through,
// with the official `openai` and `ollama` clients, streaming and not; the
// hop-by-hop headers and those the gateway owns do not; the gateway adds
// X-Vexil-Variant and a request id when the upstream sent none; a flood
// of headers is bounded.
//
//   tests/gateway/run.sh tests/gateway/headers.test.js

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

// What OpenAI sends with every answer (abridged), and what no answer of the
// gateway may carry: hop-by-hop headers (one named by Connection), the
// upstream's cookies, its address, headers that bind its origin (CORS
// among them), and a forged X-Vexil-Variant.
const PASSED = {
  'x-request-id': 'req_0123456789abcdef',
  'openai-processing-ms': '42',
  'openai-version': '2020-10-01',
  'x-ratelimit-limit-requests': '500',
  'x-ratelimit-remaining-requests': '499',
  'x-ratelimit-reset-requests': '120ms',
  'x-ratelimit-limit-tokens': '30000',
  'x-ratelimit-remaining-tokens': '29990',
  'x-ratelimit-reset-tokens': '20ms',
};
const DROPPED = {
  connection: 'x-hop-secret',
  'x-hop-secret': 'only for the next hop',
  'set-cookie': '__cf_bm=upstream-session; path=/; domain=.internal.example',
  location: 'http://10.20.30.40:8000/v1/elsewhere',
  'alt-svc': 'h3=":443"; ma=86400',
  'strict-transport-security': 'max-age=31536000',
  'x-vexil-variant': 'forged',
  'access-control-allow-origin': '*', // CORS is the gateway's to grant
};

let plain; // sends no request id
let rich; // sends PASSED and DROPPED with every chat answer
let srv;
let token;
let client;

const { admin } = gatewayHelpers(() => ({ srv, token }));
const value = (o) => ({ type: 'json', value: JSON.stringify(o) });

async function gatewayFlag(flag, ms, model) {
  await admin('POST', FEAT, { name: flag });
  await admin('POST', `${ENV(flag)}/strategies`, { name: 'flexibleRollout', parameters: { rollout: 100, stickiness: 'default' } });
  await admin('PUT', `${ENV(flag)}/variants`, [
    { name: 'control', weight: 1000, weightType: 'fix', stickiness: 'default', payload: value({ base_url: `${ms.url}/v1`, model }) },
  ]);
  await admin('POST', `${ENV(flag)}/on`);
}

function checkPassed(h, what) {
  for (const [k, v] of Object.entries(PASSED)) assert.equal(h.get(k), v, `${what}: ${k}`);
  for (const k of Object.keys(DROPPED)) {
    if (k === 'connection') assert.ok(!/x-hop-secret/i.test(h.get(k) || ''), `${what}: connection`);
    else if (k === 'x-vexil-variant') assert.equal(h.get(k), 'control', `${what}: x-vexil-variant is the gateway's`);
    else assert.equal(h.get(k), null, `${what}: ${k} must not pass`);
  }
  assert.ok(!JSON.stringify([...h]).includes('10.20.30.40'), `${what}: no upstream address`);
}

test.before(async () => {
  plain = await startModelServer({ models: ['plain-model'] });
  rich = await startModelServer({ models: ['rich-model'], headers: { ...PASSED, ...DROPPED } });
  token = clientSecret('default', 'production');
  srv = await startServer({ clientTokens: [token] });
  await gatewayFlag('model.rich', rich, 'rich-model');
  await gatewayFlag('model.plain', plain, 'plain-model');
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: token, maxRetries: 0 });
});

test.after(() => stopAll(srv, plain, rich));

test('openai client: the upstream headers pass through, whole and streamed', async () => {
  const whole = await client.chat.completions.create({ model: 'rich', messages: MSG }).withResponse();
  checkPassed(whole.response.headers, 'whole');
  assert.equal(whole.data._request_id, PASSED['x-request-id'], "the client's _request_id");
  assert.equal(whole.request_id, PASSED['x-request-id']);
  assert.equal(whole.data.model, 'rich-model');

  const streamed = await client.chat.completions.create({ model: 'rich', messages: MSG, stream: true }).withResponse();
  checkPassed(streamed.response.headers, 'streamed');
  assert.equal(streamed.request_id, PASSED['x-request-id']);
  assert.equal(streamed.response.headers.get('content-type'), 'text/event-stream');
  let n = 0;
  for await (const _c of streamed.data) n++; // eslint-disable-line no-unused-vars
  assert.ok(n > 0);
});

test('a request id when the upstream sends none: the gateway\'s own', async () => {
  for (const stream of [false, true]) {
    const r = await client.chat.completions.create({ model: 'plain', messages: MSG, stream }).withResponse();
    const h = r.response.headers;
    assert.ok(r.request_id, `${stream}: x-request-id`);
    assert.equal(r.request_id, h.get('x-vexil-response-id'), 'the id /v1/feedback takes');
    assert.equal(h.get('x-vexil-variant'), 'control');
    if (stream) for await (const _c of r.data); // eslint-disable-line no-unused-vars, no-empty
  }
});

test('an upstream 429: Retry-After and the request id reach the client, which waits as told', async () => {
  const limited = { kind: 'status', code: 429, message: 'Rate limit reached', headers: { 'retry-after': '3', 'x-request-id': 'req_limited', 'x-ratelimit-remaining-requests': '0' } };
  plain.script({ ...limited });
  const e = await client.chat.completions.create({ model: 'plain', messages: MSG }).catch((x) => x);
  assert.ok(e instanceof OpenAI.RateLimitError, String(e));
  assert.equal(e.headers.get('retry-after'), '3');
  assert.equal(e.headers.get('x-ratelimit-remaining-requests'), '0');
  assert.equal(e.requestID, 'req_limited');
  // With retries, the client waits the upstream's 3 s (its own backoff
  // would be 0.5-1 s) and the retry is answered.
  plain.script({ ...limited });
  const retrying = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: token, maxRetries: 1 });
  const t0 = Date.now();
  const ok = await retrying.chat.completions.create({ model: 'plain', messages: MSG, stream: true });
  for await (const _c of ok); // eslint-disable-line no-unused-vars, no-empty
  assert.ok(Date.now() - t0 >= 2900, `retried after ${Date.now() - t0} ms`);
});

test('ollama client: the upstream headers pass through, whole and streamed', async () => {
  let last;
  const o = new Ollama({
    host: srv.url,
    headers: { Authorization: `Bearer ${token}` },
    fetch: async (url, opts) => {
      last = await fetch(url, opts);
      return last;
    },
  });
  const r = await o.chat({ model: 'rich', messages: MSG });
  assert.equal(r.model, 'rich-model');
  checkPassed(last.headers, 'ollama whole');
  let parts = 0;
  for await (const _p of await o.generate({ model: 'rich', prompt: 'hi', stream: true })) parts++; // eslint-disable-line no-unused-vars
  assert.ok(parts > 0);
  checkPassed(last.headers, 'ollama streamed');
  assert.equal(last.headers.get('content-type'), 'application/x-ndjson');
});

test('a flood of upstream headers is bounded; the answer and the gateway\'s headers stay', async () => {
  const many = {};
  for (let i = 0; i < 200; i++) many[`x-flood-${i}`] = 'v'.repeat(200);
  for (const stream of [false, true]) {
    plain.script({ kind: 'answer', content: 'fine', headers: many });
    const r = await client.chat.completions.create({ model: 'plain', messages: MSG, stream }).withResponse();
    const h = r.response.headers;
    const passed = [...h.keys()].filter((k) => k.startsWith('x-flood-'));
    assert.ok(passed.length > 0 && passed.length <= 64, `${passed.length} passed`);
    assert.ok(passed.length * 210 <= 16384, 'at most 16 KiB of them');
    assert.equal(h.get('x-vexil-variant'), 'control');
    assert.ok(r.request_id);
    if (stream) {
      let text = '';
      for await (const c of r.data) text += (c.choices[0] && c.choices[0].delta.content) || '';
      assert.equal(text, 'fine');
    } else {
      assert.equal(r.data.choices[0].message.content, 'fine');
    }
  }
});
