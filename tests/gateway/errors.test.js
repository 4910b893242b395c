'use strict';
// The gateway's own errors in the shape each client reads (docs/gateway.md,
// "Errors"): the official `openai` client (pinned in package-lock.json)
// shows the message, type, code and param of every error the gateway makes
// itself, streaming or not, with the status the OpenAI API would use; the
// `ollama` client shows the text of Ollama's `{"error": "..."}`. An
// upstream's own error is passed through as it is (status, body, headers).
// No answer names an upstream's address (the server's log does).
//
//   tests/gateway/run.sh tests/gateway/errors.test.js

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

let fast;
let staller;
let srv;
let token;
let client;
// Nothing listens on port 1 (a free port found now could be taken by a
// server of this test by the time it is called).
const DEAD = 'http://127.0.0.1:1/v1';

const { admin } = gatewayHelpers(() => ({ srv, token }));

const value = (o) => ({ type: 'json', value: JSON.stringify(o) });

// A gateway flag whose only variant, `name`, has `payload`; on unless `off`.
async function gatewayFlag(flag, payload, { name = 'control', off = false } = {}) {
  await admin('POST', FEAT, { name: flag });
  await admin('POST', `${ENV(flag)}/strategies`, { name: 'flexibleRollout', parameters: { rollout: 100, stickiness: 'default' } });
  await admin('PUT', `${ENV(flag)}/variants`, [
    { name, weight: 1000, weightType: 'fix', stickiness: 'default', payload: value(payload) },
  ]);
  if (!off) await admin('POST', `${ENV(flag)}/on`);
}

// The error a call ends with (a stream is read to its end).
async function failure(p) {
  try {
    const r = await p;
    if (r && typeof r[Symbol.asyncIterator] === 'function') {
      for await (const _c of r) { /* read it all */ } // eslint-disable-line no-unused-vars
    }
  } catch (e) {
    return e;
  }
  return assert.fail('the call succeeded');
}

// What every error the gateway makes shows through the openai client.
function openaiShape(e, status, Klass) {
  assert.ok(e instanceof Klass, `${e.constructor.name}: ${e.message}`);
  assert.equal(e.status, status);
  assert.doesNotMatch(e.message, /no body/, 'the client found the message');
  assert.equal(typeof e.error.message, 'string');
  assert.ok(e.error.message.length > 0);
  assert.equal(typeof e.error.type, 'string');
  assert.ok('param' in e.error && 'code' in e.error, JSON.stringify(e.error));
  assert.ok(e.requestID, 'a request id (x-request-id)');
}

function noAddress(text) {
  assert.ok(!/127\.0\.0\.1|10\.9\.8\.7|port 1\b|:1\//.test(text), `an upstream address in ${text}`);
}

test.before(async () => {
  fast = await startModelServer({ models: ['llama3.2:1b'] });
  staller = await startModelServer({ models: ['slow'], fallback: { kind: 'stall' } });
  token = clientSecret('default', 'production');
  // 10.9.8.7 is allowed so that model.broken's payload is stored, and
  // never reached: its timeout is what the gateway refuses.
  const env = { VEXIL_EGRESS_ALLOW: '127.0.0.1,10.9.8.7' };
  srv = await startServer({ clientTokens: [token], env });
  await gatewayFlag('model.chat', { base_url: `${fast.url}/v1`, model: 'llama3.2:1b' });
  await gatewayFlag('model.down', { base_url: DEAD, model: 'x' });
  await gatewayFlag('model.slow', { base_url: `${staller.url}/v1`, model: 'slow', timeout_ms: 400 });
  // Off, and no control to serve it: 503.
  await gatewayFlag('model.off', { base_url: `${fast.url}/v1`, model: 'llama3.2:1b' }, { name: 'candidate', off: true });
  // The admin API refuses a payload the gateway would refuse (400): this
  // one is stored good, then broken in the database, as an older version
  // could have left it, to see the gateway's own refusal (502).
  await gatewayFlag('model.broken', { base_url: 'http://10.9.8.7/v1', model: 'x', timeout_ms: 54321 });
  await stopAll(srv);
  corruptFlag(srv, 'model.broken', '54321', '99999999');
  srv = await startServer({ dbPath: srv.dbPath, adminTokens: srv.adminTokens, clientTokens: [token], env });
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: token, maxRetries: 0 });
});

test.after(() => stopAll(srv, fast, staller));

for (const stream of [false, true]) {
  test(`openai client, ${stream ? 'streaming' : 'whole'}: the gateway's own errors carry message, type, param and code`, async () => {
    const call = (c, body) => c.chat.completions.create({ messages: MSG, stream, ...body });

    let e = await failure(call(new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: 'default:production.wrong', maxRetries: 0 }), { model: 'chat' }));
    openaiShape(e, 401, OpenAI.AuthenticationError);
    assert.equal(e.code, 'invalid_api_key');

    e = await failure(call(client, { model: 'nope' }));
    openaiShape(e, 404, OpenAI.NotFoundError);
    assert.equal(e.code, 'model_not_found');
    assert.equal(e.param, 'model');
    assert.match(e.error.message, /nope/);

    e = await failure(call(client, {}));
    openaiShape(e, 400, OpenAI.BadRequestError);
    assert.equal(e.type, 'invalid_request_error');
    assert.equal(e.param, 'model');

    e = await failure(call(client, { model: 'chat', messages: [{ role: 'user', content: 'x'.repeat(1100000) }] }));
    openaiShape(e, 413, OpenAI.APIError);
    assert.match(e.error.message, /1048576 bytes/);

    e = await failure(call(client, { model: 'off' }));
    openaiShape(e, 503, OpenAI.InternalServerError);
    assert.equal(e.type, 'server_error');

    e = await failure(call(client, { model: 'down' }));
    openaiShape(e, 502, OpenAI.InternalServerError);
    assert.equal(e.type, 'server_error');
    assert.equal(e.headers.get('x-vexil-variant'), 'control');
    noAddress(e.message);
    noAddress(JSON.stringify([...e.headers]));

    const t0 = Date.now();
    e = await failure(call(client, { model: 'slow' }));
    openaiShape(e, 504, OpenAI.InternalServerError);
    assert.ok(Date.now() - t0 >= 350, 'after the payload\'s timeout_ms');
    noAddress(e.message);

    e = await failure(call(client, { model: 'broken' }));
    openaiShape(e, 502, OpenAI.InternalServerError);
    noAddress(e.message);
  });
}

test('errors of the listener itself (bad JSON, media type, route, method) also read as OpenAI errors', async () => {
  const h = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  const cases = [
    [await srv.api('POST', '/v1/chat/completions', { token: `Bearer ${token}`, rawBody: '{"model":', headers: h }), 400],
    [await srv.api('POST', '/v1/chat/completions', { token: `Bearer ${token}`, rawBody: 'model=chat', headers: { 'Content-Type': 'text/plain' } }), 415],
    [await srv.api('GET', '/v1/nothing', { token: `Bearer ${token}` }), 404],
    [await srv.api('GET', '/v1/chat/completions', { token: `Bearer ${token}` }), 405],
    [await srv.api('POST', '/v1/chat/completions', { token: null, body: { model: 'chat', messages: MSG } }), 401],
    [await srv.api('POST', '/v1/chat/completions', { body: { model: 'chat', messages: MSG } }), 403], // an admin token
  ];
  for (const [r, status] of cases) {
    assert.equal(r.status, status, r.text);
    assert.equal(typeof r.json.error, 'object', r.text);
    assert.equal(typeof r.json.error.message, 'string', r.text);
    assert.equal(typeof r.json.error.type, 'string', r.text);
    // Vexil's own members are kept, for people and Vexil's tools.
    assert.equal(r.json.message, r.json.error.message);
    assert.ok(Array.isArray(r.json.details));
  }
});

test('an upstream error passes through unchanged: status, body and headers', async () => {
  fast.script({ kind: 'status', code: 400, message: "Invalid 'messages[0].role'", headers: { 'x-request-id': 'req_up_400' } });
  const e = await failure(client.chat.completions.create({ model: 'chat', messages: MSG }));
  assert.ok(e instanceof OpenAI.BadRequestError);
  assert.deepEqual(e.error, { message: "Invalid 'messages[0].role'", type: 'invalid_request_error', code: null });
  assert.equal(e.requestID, 'req_up_400');
  fast.script({ kind: 'status', code: 429, message: 'slow down', headers: { 'retry-after': '7', 'x-request-id': 'req_up_429' } });
  const s = await failure(client.chat.completions.create({ model: 'chat', messages: MSG, stream: true }));
  assert.ok(s instanceof OpenAI.RateLimitError);
  assert.equal(s.error.message, 'slow down');
  assert.equal(s.headers.get('retry-after'), '7');
  assert.equal(s.requestID, 'req_up_429');
});

test("the gateway's own 429 (rate limits) is an OpenAI rate-limit error with Retry-After", async () => {
  const t2 = clientSecret('default', 'production');
  const s2 = await startServer({ clientTokens: [t2], env: { VEXIL_GATEWAY_TOKEN_RATE: '1' } });
  try {
    const c = new OpenAI({ baseURL: `${s2.url}/v1`, apiKey: t2, maxRetries: 0 });
    let e;
    for (let i = 0; i < 10 && !(e instanceof OpenAI.RateLimitError); i++) {
      e = await failure(c.chat.completions.create({ model: 'chat', messages: MSG, stream: i % 2 === 1 }));
    }
    openaiShape(e, 429, OpenAI.RateLimitError);
    assert.equal(e.code, 'rate_limit_exceeded');
    assert.ok(Number(e.headers.get('retry-after')) >= 1, e.headers.get('retry-after'));
    // Ollama's dialect on the same limit.
    const o = new Ollama({ host: s2.url, headers: { Authorization: `Bearer ${t2}` } });
    const oe = await failure(o.chat({ model: 'chat', messages: MSG }));
    assert.equal(oe.status_code, 429);
    assert.match(oe.message, /too many requests/);
  } finally {
    await s2.stop();
  }
});

test("Ollama routes: the gateway's own errors as {\"error\": \"...\"}, streaming or not", async () => {
  const ollama = (tok) => new Ollama({ host: srv.url, headers: tok ? { Authorization: `Bearer ${tok}` } : {} });
  const o = ollama(token);
  for (const stream of [false, true]) {
    let e = await failure(ollama(null).chat({ model: 'chat', messages: MSG, stream }));
    assert.equal(e.status_code, 401);
    assert.match(e.message, /token/, 'the text of the error, not "Error 401: Unauthorized"');
    e = await failure(ollama('default:production.wrong').chat({ model: 'chat', messages: MSG, stream }));
    assert.equal(e.status_code, 401);
    assert.match(e.message, /token/);
    e = await failure(o.chat({ model: 'nope', messages: MSG, stream }));
    assert.equal(e.status_code, 404);
    assert.match(e.message, /nope/);
    e = await failure(o.chat({ model: 'down', messages: MSG, stream }));
    assert.equal(e.status_code, 502);
    assert.match(e.message, /upstream/);
    noAddress(e.message);
    e = await failure(o.generate({ model: 'slow', prompt: 'hi', stream }));
    assert.equal(e.status_code, 504);
    noAddress(e.message);
    e = await failure(o.chat({ model: 'off', messages: MSG, stream }));
    assert.equal(e.status_code, 503);
  }
  const raw = await srv.api('POST', '/api/chat', { token: `Bearer ${token}`, body: { model: 'down', messages: MSG } });
  assert.equal(typeof raw.json.error, 'string');
  noAddress(raw.text);
});

test('no answer names an upstream address, whatever the route or the failure', async () => {
  for (const [path, stream] of [['/v1/chat/completions', false], ['/v1/chat/completions', true], ['/api/chat', false], ['/api/chat', true]]) {
    for (const model of ['down', 'slow', 'broken']) {
      const r = await srv.api('POST', path, { token: `Bearer ${token}`, body: { model, messages: MSG, stream } });
      assert.ok(r.status >= 500, `${path} ${model}: ${r.status}`);
      noAddress(r.text);
      noAddress(JSON.stringify([...r.headers]));
    }
  }
});

test('the server log keeps what the answers leave out', () => {
  assert.match(srv.stderr, /127\.0\.0\.1 port 1\b/, 'the unreachable upstream is named in the log');
});
