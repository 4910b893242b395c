'use strict';
// The model gateway's Ollama-native routes (docs/gateway.md, "Using the
// ollama client") with the official `ollama` npm client: the alias "local"
// is the flag model.local, whose variants send 80 % of the users to a fast
// upstream (control, its native root derived from base_url) and 20 % to a
// slower one that fails 5 % of its requests, needs an API key and is named
// by `ollama_url` (candidate). Checks chat (whole and streamed), generate,
// embed, embeddings and list; the split and its stickiness (X-Vexil-User
// through the client's `headers`); the model rewrite; NDJSON streamed as
// it arrives; the measurements per variant (eval_count, prompt_eval_count,
// time to first token) against what the upstreams saw; the fallback; a
// stream that fails midway; errors in the shape the client reads.
//
//   tests/gateway/run.sh tests/gateway/ollama.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const { Ollama } = require('ollama');
const { startModelServer } = require('../support/model_server');
const { startServer, clientSecret, sleep } = require('../integration/server');
const { gatewayHelpers, stopAll } = require('./support');

const KEY = 'sk-test-ollama-candidate-0123456789';
const FLAG = 'model.local';
const EP = `/api/admin/projects/default/features/${FLAG}/environments/production`;

let fast;
let slow;
let srv;
let token;
const assigned = new Map(); // user -> variant the flag chose

// An ollama client for `user` (X-Vexil-User: the client has no `user`
// field) whose `last` holds the gateway's headers of the latest answer.
const { admin, stats, series: seriesOf } = gatewayHelpers(() => ({ srv, token }));
const series = (doc, variant, enabled = true) => seriesOf(doc, FLAG, variant, enabled);

function clientFor(user, tok = token) {
  const last = {};
  const headers = { 'X-Vexil-User': user };
  if (tok) headers.Authorization = `Bearer ${tok}`;
  const c = new Ollama({
    host: srv.url,
    headers,
    fetch: async (url, opts) => {
      const r = await fetch(url, opts);
      last.variant = r.headers.get('x-vexil-variant');
      last.from = r.headers.get('x-vexil-fallback-from');
      last.chosen = last.from || last.variant;
      last.type = r.headers.get('content-type');
      return r;
    },
  });
  c.last = last;
  return c;
}

function userOf(variant) {
  for (const [u, v] of assigned) if (v === variant) return u;
  throw new Error(`no user on ${variant}`);
}

const MSG = [{ role: 'user', content: 'hello' }];

test.before(async () => {
  fast = await startModelServer({ models: ['llama3.2:1b'], chunk: 4 });
  slow = await startModelServer({ models: ['qwen2.5:1.5b'], latencyMs: 30, failRate: 0.05, seed: 11, apiKey: KEY });
  token = clientSecret('default', 'production');
  srv = await startServer({
    clientTokens: [token],
    env: { VEXIL_GATEWAY_FLUSH_MS: '300', GW_TEST_OLLAMA_KEY: KEY, VEXIL_EGRESS_ALLOW: '127.0.0.1',
      VEXIL_GATEWAY_KEY_ENV: 'GW_TEST_*' },
  });
  await admin('POST', '/api/admin/projects/default/features', { name: FLAG });
  await admin('POST', `${EP}/strategies`, { name: 'flexibleRollout', parameters: { rollout: 100, stickiness: 'default' } });
  const value = (o) => ({ type: 'json', value: JSON.stringify(o) });
  await admin('PUT', `${EP}/variants`, [
    // The native root is base_url without its "/v1".
    { name: 'control', weight: 800, weightType: 'fix', stickiness: 'default',
      payload: value({ base_url: `${fast.url}/v1`, model: 'llama3.2:1b' }) },
    // ollama_url wins over base_url (nothing listens there).
    { name: 'candidate', weight: 200, weightType: 'fix', stickiness: 'default',
      payload: value({ base_url: 'http://127.0.0.1:1/v1', ollama_url: `${slow.url}/`, model: 'qwen2.5:1.5b',
        api_key_env: 'GW_TEST_OLLAMA_KEY', timeout_ms: 1500 }) },
  ]);
  await admin('POST', `${EP}/on`);
});

test.after(() => stopAll(srv, fast, slow));

test('chat: split by the weights, sticky per user, model rewritten', async () => {
  const users = Array.from({ length: 300 }, (_, i) => `user-${i}`);
  for (let i = 0; i < users.length; i += 25) {
    await Promise.all(users.slice(i, i + 25).map(async (u) => {
      const c = clientFor(u);
      const r = await c.chat({ model: 'local', messages: MSG });
      assert.equal(r.done, true);
      assert.equal(r.message.role, 'assistant');
      assert.equal(r.model, c.last.variant === 'control' ? 'llama3.2:1b' : 'qwen2.5:1.5b');
      assert.ok(['control', 'candidate'].includes(c.last.chosen), JSON.stringify(c.last));
      assigned.set(u, c.last.chosen);
    }));
  }
  const share = [...assigned.values()].filter((v) => v === 'candidate').length / users.length;
  assert.ok(share > 0.1 && share < 0.3, `candidate share ${share}, weight 0.2`);
  for (const u of users.slice(0, 40).reverse()) {
    const c = clientFor(u);
    await c.chat({ model: 'local', messages: MSG });
    assert.equal(c.last.chosen, assigned.get(u), `user ${u} moved`);
  }
  // Each upstream got its native route, its own model name, the candidate
  // its key.
  assert.ok(fast.chats().every((r) => r.path === '/api/chat' && r.json.model === 'llama3.2:1b'));
  assert.ok(slow.chats().every((r) => r.path === '/api/chat' && r.json.model === 'qwen2.5:1.5b'));
  assert.ok(slow.chats().every((r) => r.headers.authorization === `Bearer ${KEY}`));
  assert.ok(fast.chats().every((r) => r.headers.authorization === undefined), 'no key for the control');
  assert.ok(slow.failures > 0, 'the candidate failed some requests (5 %)');
});

test('chat streamed: NDJSON passed through as it arrives, counted per variant', async () => {
  const c = clientFor(userOf('control'));
  const before = series(await stats(), 'control');
  fast.chunkDelayMs = 60;
  const text = 'one two three four five six seven eight';
  fast.script({ kind: 'answer', content: text });
  const t0 = Date.now();
  const arrivals = [];
  let joined = '';
  let last;
  for await (const part of await c.chat({ model: 'local', messages: MSG, stream: true })) {
    if (part.message.content) {
      arrivals.push(Date.now() - t0);
      joined += part.message.content;
    }
    last = part;
  }
  fast.chunkDelayMs = 0;
  assert.equal(c.last.type, 'application/x-ndjson');
  assert.equal(joined, text);
  assert.equal(last.done, true);
  assert.equal(arrivals.length, Math.ceil(text.length / 4));
  assert.ok(arrivals[arrivals.length - 1] - arrivals[0] >= 300, `arrivals ${arrivals}`);
  const after = series(await stats(), 'control');
  assert.equal(after.requests - before.requests, 1);
  assert.equal(after.ttftMs.count - before.ttftMs.count, 1);
  // From the final object: prompt_eval_count 10, eval_count = pieces.
  assert.equal(after.promptTokens - before.promptTokens, 10);
  assert.equal(after.completionTokens - before.completionTokens, arrivals.length);
});

test('generate (whole and streamed), embed, embeddings and list', async () => {
  const c = clientFor(userOf('control'));
  const before = series(await stats(), 'control');
  fast.script({ kind: 'echo' });
  const g = await c.generate({ model: 'local', prompt: 'say this back' });
  assert.equal(g.response, 'say this back');
  assert.equal(g.model, 'llama3.2:1b');
  fast.script({ kind: 'echo' });
  let streamed = '';
  for await (const part of await c.generate({ model: 'local', prompt: 'and this, streamed', stream: true })) {
    streamed += part.response;
  }
  assert.equal(streamed, 'and this, streamed');
  const e = await c.embed({ model: 'local', input: ['a', 'b'] });
  assert.deepEqual(e.embeddings, [[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]]);
  const old = await c.embeddings({ model: 'local', prompt: 'a' });
  assert.deepEqual(old.embedding, [0.1, 0.2, 0.3]);
  const paths = fast.requests.slice(-4).map((r) => `${r.path} ${r.json.model}`);
  assert.deepEqual(paths, ['/api/generate llama3.2:1b', '/api/generate llama3.2:1b',
    '/api/embed llama3.2:1b', '/api/embeddings llama3.2:1b']);
  const after = series(await stats(), 'control');
  assert.equal(after.requests - before.requests, 4);
  // generate: 10 + 10 prompt tokens, 5 + 5 pieces; embed: 2 x 4 prompt.
  assert.equal(after.promptTokens - before.promptTokens, 28);
  assert.equal(after.completionTokens - before.completionTokens, 5 + Math.ceil(streamed.length / 4));
  const list = await c.list();
  assert.deepEqual(list.models.map((m) => [m.name, m.model]), [['local', 'local']]);
});

test('fallback to the control; a stream that fails midway is an error', async () => {
  const cand = clientFor(userOf('candidate'));
  const before = await stats();
  slow.script({ kind: 'status', code: 503 });
  const r = await cand.chat({ model: 'local', messages: MSG });
  assert.equal(r.model, 'llama3.2:1b');
  assert.equal(cand.last.variant, 'control');
  assert.equal(cand.last.from, 'candidate');
  const ctl = clientFor(userOf('control'));
  fast.script({ kind: 'midfail', message: 'the model crashed' });
  await assert.rejects(async () => {
    for await (const _p of await ctl.chat({ model: 'local', messages: MSG, stream: true })) { // eslint-disable-line no-unused-vars
      // the error line ends the iteration
    }
  }, /the model crashed/);
  const after = await stats();
  assert.equal(series(after, 'candidate').errors - series(before, 'candidate').errors, 1);
  assert.equal(series(after, 'candidate').fallbacks - series(before, 'candidate').fallbacks, 1);
  assert.equal(series(after, 'control').errors - series(before, 'control').errors, 1);
});

test('measurements per variant match what the upstreams saw', async () => {
  await sleep(400); // one flush period
  const doc = await stats();
  const cand = series(doc, 'candidate');
  const ctl = series(doc, 'control');
  assert.equal(cand.requests, slow.chats().length, 'every candidate call measured once');
  assert.equal(cand.errors, slow.failures + 1, 'injected 5 % failures + the 503');
  assert.equal(cand.fallbacks, cand.errors);
  assert.ok(cand.latencyMs.mean >= 30, `candidate latency ${cand.latencyMs.mean} ms (upstream sleeps 30)`);
  assert.equal(ctl.requests, fast.chats().length - cand.fallbacks);
  assert.ok(ctl.latencyMs.mean < cand.latencyMs.mean, 'the control is faster');
  // Non-streamed candidate chats: prompt_eval_count 10, eval_count 5.
  assert.equal(cand.promptTokens, 10 * cand.latencyMs.count);
  assert.equal(cand.completionTokens, 5 * cand.latencyMs.count);
  assert.ok(cand.tokensPerSec.count > 0);
  const sum = doc.batches.flatMap((b) => b.metrics).filter((m) => m.flag === FLAG && m.variant === 'candidate')
    .reduce((n, m) => n + m.requests, 0);
  assert.equal(sum, cand.requests, 'the batches for the guard add up');
});

test('errors, in the shape the client reads', async () => {
  const c = clientFor('someone');
  await assert.rejects(c.chat({ model: 'nope', messages: MSG }),
    (e) => e.status_code === 404 && /no model 'nope'/.test(e.message));
  await assert.rejects(c.chat({ messages: MSG }),
    (e) => e.status_code === 400 && /model is required/.test(e.message));
  await assert.rejects(clientFor('someone', null).chat({ model: 'local', messages: MSG }),
    (e) => e.status_code === 401);
  await assert.rejects(c.chat({ model: 'local', messages: [{ role: 'user', content: 'x'.repeat(1100000) }] }),
    (e) => e.status_code === 413 && /1048576 bytes/.test(e.message));
  // The upstream's own error is passed through.
  const ctl = clientFor(userOf('control'));
  fast.script({ kind: 'status', code: 400, message: 'invalid options' });
  await assert.rejects(ctl.chat({ model: 'local', messages: MSG }),
    (e) => e.status_code === 400 && e.message === 'invalid options');
  const raw = await srv.api('POST', '/api/chat', { token, body: { model: 'nope', messages: MSG } });
  assert.equal(raw.json.details[0].path, '/model', "Vexil's error shape is kept as well");
  assert.equal((await srv.api('GET', '/api/chat', { token })).status, 405);
  // Vexil's own API keeps its /api/ routes.
  assert.equal((await srv.api('GET', `/api/admin/projects/default/features/${FLAG}`)).status, 200);
});
