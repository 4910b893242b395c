'use strict';
// The model gateway (docs/gateway.md) with the official `openai` npm client:
// the alias "chat" is the flag model.chat, whose variants send 80 % of the
// users to a fast upstream (control) and 20 % to a slower one that fails 5 %
// of its requests and needs an API key (candidate). Checks the split and its
// stickiness, the model rewrite, streaming as it happens, the fallback on an
// error and a timeout, the measurements per variant against what the two
// upstreams saw, feedback, client disconnects, limits, and that the key is
// never in a log, a flag or a measurement.
//
//   tests/gateway/run.sh

const test = require('node:test');
const assert = require('node:assert/strict');
const OpenAI = require('openai');
const { startModelServer } = require('../support/model_server');
const { startServer, clientSecret, sleep } = require('../integration/server');
const { gatewayHelpers, stopAll } = require('./support');

const KEY = 'sk-test-candidate-0123456789abcdef';
const FLAG = 'model.chat';
const EP = `/api/admin/projects/default/features/${FLAG}/environments/production`;
// A batch is stamped when it is taken, to the millisecond (the guard files
// it under the rollout epoch in force then).
const AT_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const T_START = Date.now();
// The operator lets the gateway call the test's upstreams and read its key
// variables (docs/operations.md, "Egress").
const EGRESS = { VEXIL_EGRESS_ALLOW: '127.0.0.1', VEXIL_GATEWAY_KEY_ENV: 'GW_TEST_*' };

let fast;
let slow;
let srv;
let token;
let client;
const assigned = new Map(); // user -> variant the flag chose

const { admin, stats, series: seriesOf } = gatewayHelpers(() => ({ srv, token }));
const series = (doc, variant, enabled = true) => seriesOf(doc, FLAG, variant, enabled);

function payload(ms, model, extra = {}) {
  return { type: 'json', value: JSON.stringify({ base_url: `${ms.url}/v1`, model, ...extra }) };
}

async function chat(user, extra = {}) {
  const { data, response } = await client.chat.completions
    .create({ model: 'chat', user, messages: [{ role: 'user', content: 'hello' }], ...extra })
    .withResponse();
  const variant = response.headers.get('x-vexil-variant');
  const from = response.headers.get('x-vexil-fallback-from');
  return { data, variant, from, chosen: from || variant, rid: response.headers.get('x-vexil-response-id') };
}

test.before(async () => {
  fast = await startModelServer({ models: ['llama3.2:1b'], chunk: 4 });
  slow = await startModelServer({ models: ['qwen2.5:1.5b'], latencyMs: 30, failRate: 0.05, seed: 7, apiKey: KEY });
  token = clientSecret('default', 'production');
  srv = await startServer({
    clientTokens: [token],
    env: { VEXIL_GATEWAY_FLUSH_MS: '300', GW_TEST_CANDIDATE_KEY: KEY, VEXIL_LOG_REQUESTS: 'on', ...EGRESS },
  });
  await admin('POST', '/api/admin/projects/default/features', { name: FLAG });
  await admin('POST', `${EP}/strategies`, { name: 'flexibleRollout', parameters: { rollout: 100, stickiness: 'default' } });
  await admin('PUT', `${EP}/variants`, [
    { name: 'control', weight: 800, weightType: 'fix', stickiness: 'default', payload: payload(fast, 'llama3.2:1b') },
    { name: 'candidate', weight: 200, weightType: 'fix', stickiness: 'default',
      payload: payload(slow, 'qwen2.5:1.5b', { api_key_env: 'GW_TEST_CANDIDATE_KEY', timeout_ms: 1500 }) },
  ]);
  await admin('POST', `${EP}/on`);
  client = new OpenAI({ baseURL: `${srv.url}/v1`, apiKey: token, maxRetries: 0 });
});

test.after(() => stopAll(srv, fast, slow));

test('requests split by the weights, sticky per user, model rewritten', async () => {
  const users = Array.from({ length: 500 }, (_, i) => `user-${i}`);
  for (let i = 0; i < users.length; i += 25) {
    const got = await Promise.all(users.slice(i, i + 25).map((u) => chat(u)));
    got.forEach((g, k) => {
      assert.ok(['control', 'candidate'].includes(g.chosen), JSON.stringify(g));
      assert.equal(g.data.object, 'chat.completion');
      assigned.set(users[i + k], g.chosen);
    });
  }
  const share = [...assigned.values()].filter((v) => v === 'candidate').length / users.length;
  assert.ok(share > 0.12 && share < 0.28, `candidate share ${share}, weight 0.2`);
  // The same users again, in another order: the same variant each time.
  for (const u of users.slice(0, 60).reverse()) {
    assert.equal((await chat(u)).chosen, assigned.get(u), `user ${u} moved`);
  }
  // X-Vexil-User stickiness when the body has no user.
  const viaHeader = await client.chat.completions
    .create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'X-Vexil-User': 'user-7' } })
    .withResponse();
  const h = viaHeader.response.headers;
  assert.equal(h.get('x-vexil-fallback-from') || h.get('x-vexil-variant'), assigned.get('user-7'));
  // Each upstream got its own model name, the candidate its key.
  assert.ok(fast.chats().every((r) => r.json.model === 'llama3.2:1b'));
  assert.ok(slow.chats().every((r) => r.json.model === 'qwen2.5:1.5b'));
  assert.ok(slow.chats().every((r) => r.headers.authorization === `Bearer ${KEY}`));
  assert.ok(fast.chats().every((r) => r.headers.authorization === undefined), 'no key for the control');
  assert.ok(slow.failures > 0, 'the candidate failed some requests (5 %)');
});

function userOf(variant) {
  for (const [u, v] of assigned) if (v === variant) return u;
  throw new Error(`no user on ${variant}`);
}

test('streaming: chunks arrive as the upstream sends them', async () => {
  fast.chunkDelayMs = 60;
  const text = 'one two three four five six seven eight';
  fast.script({ kind: 'answer', content: text });
  const t0 = Date.now();
  const stream = await client.chat.completions.create({
    model: 'chat', user: userOf('control'), stream: true, messages: [{ role: 'user', content: 'count' }],
  });
  const arrivals = [];
  let joined = '';
  for await (const chunk of stream) {
    const piece = chunk.choices[0] && chunk.choices[0].delta.content;
    if (piece) {
      arrivals.push(Date.now() - t0);
      joined += piece;
    }
  }
  fast.chunkDelayMs = 0;
  assert.equal(joined, text);
  assert.equal(arrivals.length, Math.ceil(text.length / 4));
  // 10 pieces 60 ms apart: the first is read long before the last.
  assert.ok(arrivals[arrivals.length - 1] - arrivals[0] >= 300, `arrivals ${arrivals}`);
});

test('fallback to the control on an upstream error and on a timeout', async () => {
  const user = userOf('candidate');
  const before = series(await stats(), 'candidate');
  slow.script({ kind: 'status', code: 503 });
  const a = await chat(user);
  assert.equal(a.variant, 'control');
  assert.equal(a.from, 'candidate');
  assert.equal(a.data.model, 'llama3.2:1b');
  slow.script({ kind: 'stall' }); // the payload's timeout_ms is 1500
  const t0 = Date.now();
  const b = await chat(user);
  assert.equal(b.variant, 'control');
  assert.ok(Date.now() - t0 >= 1400, 'waited for the timeout');
  const after = series(await stats(), 'candidate');
  assert.equal(after.errors - before.errors, 2);
  assert.equal(after.timeouts - before.timeouts, 1);
  assert.equal(after.fallbacks - before.fallbacks, 2);
});

test('a slow reader of a large stream gets every byte, in order', async () => {
  // 6 MB of content: more than the sockets buffer, so the gateway's pipe
  // fills and the upstream is paused until the client reads again.
  const content = Array.from({ length: 6000 }, (_, i) => String(i).padStart(999, '.') + '|').join('');
  fast.chunk = 4000;
  fast.script({ kind: 'answer', content });
  const res = await fetch(`${srv.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'chat', user: userOf('control'), stream: true, messages: [{ role: 'user', content: 'big' }] }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-vexil-variant'), 'control');
  await sleep(1500); // read nothing for a while
  const text = await res.text();
  fast.chunk = 4;
  let joined = '';
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: {')) continue;
    const c = JSON.parse(line.slice(6)).choices[0];
    if (c && c.delta.content) joined += c.delta.content;
  }
  assert.equal(joined.length, content.length);
  assert.ok(joined === content, 'the same bytes in the same order');
});

test('a client that goes away mid-stream is counted as a disconnect', async () => {
  const before = series(await stats(), 'control');
  fast.chunkDelayMs = 50;
  fast.script({ kind: 'answer', content: 'x'.repeat(400) });
  const ac = new AbortController();
  const stream = await client.chat.completions.create({
    model: 'chat', user: userOf('control'), stream: true, messages: [{ role: 'user', content: 'long' }],
  }, { signal: ac.signal });
  let seen = 0;
  try {
    for await (const _c of stream) { // eslint-disable-line no-unused-vars
      if (++seen === 3) ac.abort();
    }
  } catch (_e) { /* the abort may end the iteration or throw */ }
  assert.ok(seen < 20, `the stream was cut (${seen} chunks read)`);
  fast.chunkDelayMs = 0;
  let after;
  for (let i = 0; i < 50; i++) {
    after = series(await stats(), 'control');
    if (after.disconnects > before.disconnects) break;
    await sleep(100);
  }
  assert.equal(after.disconnects - before.disconnects, 1);
});

test('measurements per variant match what the upstreams saw', async () => {
  await sleep(400); // one flush period
  const doc = await stats();
  const cand = series(doc, 'candidate');
  const ctl = series(doc, 'control');
  const slowChats = slow.chats().length;
  assert.equal(cand.requests, slowChats, 'every candidate call measured once');
  assert.equal(cand.errors, slow.failures + 2, 'injected 5 % failures + the 503 + the timeout');
  assert.equal(cand.fallbacks, cand.errors, 'each error fell back');
  assert.equal(cand.latencyMs.count, cand.requests - cand.errors);
  assert.ok(cand.latencyMs.mean >= 30, `candidate latency ${cand.latencyMs.mean} ms (upstream sleeps 30)`);
  // The control's upstream also answered the fallbacks, which count for
  // the candidate only.
  assert.equal(ctl.requests, fast.chats().length - cand.fallbacks);
  assert.equal(ctl.errors, 0);
  assert.ok(ctl.latencyMs.mean < cand.latencyMs.mean, 'the control is faster');
  assert.ok(ctl.ttftMs.count >= ctl.requests - ctl.disconnects);
  // usage: 10 prompt + 5 completion tokens per non-streamed answer.
  assert.equal(cand.promptTokens, 10 * cand.latencyMs.count);
  assert.equal(cand.completionTokens, 5 * cand.latencyMs.count);
  assert.ok(cand.tokensPerSec.count > 0 && cand.tokensPerSec.mean > 0);
  // The batches handed to the sink (IMPACT.md) add up to the same counts.
  assert.ok(doc.batches.length > 0);
  const sum = { requests: 0, errors: 0, latency: 0 };
  for (const b of doc.batches) {
    assert.equal(typeof b.batchId, 'string');
    for (const m of b.metrics) {
      assert.equal(m.flag, FLAG);
      assert.match(m.at, AT_RE);
      assert.ok(Date.parse(m.at) >= T_START && Date.parse(m.at) <= Date.now(), m.at);
      assert.deepEqual(Object.keys(m.latency).sort(), ['count', 'sum', 'sumsq']);
      // ln(ms) of the same requests: the guard's geometric-mean latency.
      assert.equal(m.logLatency.count, m.latency.count);
      if (m.latency.count > 0) assert.ok(m.logLatency.sum / m.logLatency.count <= Math.log(m.latency.sum / m.latency.count) + 1e-9);
      assert.ok(m.values.tokens_per_sec && m.values.ttft_ms && m.values.timeouts);
      if (m.variant === 'candidate' && m.enabled) {
        sum.requests += m.requests;
        sum.errors += m.errors;
        sum.latency += m.latency.count;
      }
    }
  }
  assert.deepEqual(sum, { requests: cand.requests, errors: cand.errors, latency: cand.latencyMs.count });
  const metrics = await srv.api('GET', '/metrics', { token: null });
  assert.match(metrics.text,
    new RegExp(`vexil_gateway_requests_total\\{environment="production",flag="${FLAG.replace('.', '\\.')}",variant="candidate",enabled="true"\\} ${cand.requests}\\n`));
});

test('feedback on a response is a conversion of the variant that served it', async () => {
  const user = userOf('control');
  const r = await chat(user);
  const before = series(await stats(), 'control');
  const up = await srv.api('POST', '/v1/feedback', { token, body: { response_id: r.data.id, score: 'up' } });
  assert.equal(up.status, 202, up.text);
  const again = await srv.api('POST', '/v1/feedback', { token, body: { response_id: r.rid, score: 'down' } });
  assert.equal(again.status, 409, 'one feedback per answer, whichever id names it');
  const other = await chat(user);
  const down = await srv.api('POST', '/v1/feedback', { token, body: { response_id: other.rid, score: 'down' } });
  assert.equal(down.status, 202, down.text);
  const after = series(await stats(), 'control');
  assert.equal(after.conversions - before.conversions, 1);
  assert.equal(after.feedbackDown - before.feedbackDown, 1);
  const unknown = await srv.api('POST', '/v1/feedback', { token, body: { response_id: 'nope', score: 'up' } });
  assert.equal(unknown.status, 404);
  const bad = await srv.api('POST', '/v1/feedback', { token, body: { response_id: r.rid, score: 'meh' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.details[0].path, '/score');
});

test('models, completions and embeddings', async () => {
  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), ['chat']);
  const e = await client.embeddings.create({ model: 'chat', input: 'hello', encoding_format: 'float', user: userOf('control') });
  assert.deepEqual(e.data[0].embedding, [0.1, 0.2, 0.3]);
  const c = await client.completions.create({ model: 'chat', prompt: 'hi', user: userOf('control') });
  assert.equal(c.choices[0].text, 'ok');
});

test('errors: tokens, unknown alias, size limit, a flag that is off', async () => {
  const body = { model: 'chat', messages: [{ role: 'user', content: 'x' }] };
  assert.equal((await srv.api('POST', '/v1/chat/completions', { token: null, body })).status, 401);
  const adminCall = await srv.api('POST', '/v1/chat/completions', { token: srv.adminToken, body });
  assert.equal(adminCall.status, 403, 'a client token is needed (its environment decides)');
  await assert.rejects(client.chat.completions.create({ model: 'nope', messages: body.messages }),
    (e) => e.status === 404);
  const nomodel = await srv.api('POST', '/v1/chat/completions', { token, body: { messages: [] } });
  assert.equal(nomodel.status, 400);
  assert.equal(nomodel.json.details[0].path, '/model');
  const big = await srv.raw('POST', '/v1/chat/completions', {
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x'.repeat(1100000) }] }),
  });
  assert.equal(big.status, 413);
  assert.equal((await srv.api('GET', '/v1/nothing', { token })).status, 404);
  assert.equal((await srv.api('GET', '/v1/chat/completions', { token })).status, 405);
  // Off in production: everyone is served by the control.
  await admin('POST', `${EP}/off`);
  for (const u of [userOf('candidate'), userOf('control')]) {
    const r = await chat(u);
    assert.equal(r.variant, 'control');
  }
  const s = series(await stats(), 'control', false);
  assert.ok(s.requests >= 2, 'measured as the control with the flag off');
  await admin('POST', `${EP}/on`);
});

test('the API key is never logged, stored in a flag or measured', async () => {
  const flag = await srv.api('GET', `/api/admin/projects/default/features/${FLAG}`);
  assert.ok(!flag.text.includes(KEY));
  assert.ok(flag.text.includes('GW_TEST_CANDIDATE_KEY'));
  assert.ok(!(await srv.api('GET', '/v1/gateway/stats', { token })).text.includes(KEY));
  assert.ok(!(await srv.api('GET', '/metrics', { token: null })).text.includes(KEY));
  assert.ok(srv.stderr.includes('/v1/chat/completions'), 'requests are logged');
  assert.ok(srv.stderr.includes('falling back'), 'fallbacks are logged');
  assert.ok(!srv.stderr.includes(KEY), 'the key is not');
  assert.ok(!srv.stdout.includes(KEY));
});

test('rate limits per token and per model alias', async () => {
  const t2 = clientSecret('default', 'production');
  const s2 = await startServer({ clientTokens: [token, t2], dbPath: undefined,
    env: { VEXIL_GATEWAY_TOKEN_RATE: '3', VEXIL_GATEWAY_ROUTE_RATE: '5' } });
  try {
    const body = { model: 'chat', messages: [{ role: 'user', content: 'x' }] };
    // No flag in this database: 404s still count against the limits.
    const codes = [];
    for (let i = 0; i < 8; i++) codes.push((await s2.api('POST', '/v1/chat/completions', { token, body })).status);
    assert.ok(codes.includes(429), `per token: ${codes}`);
    const r = await s2.api('POST', '/v1/chat/completions', { token, body });
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    // The other token has its own bucket, but the alias' bucket (5/s,
    // burst 10) runs out too.
    const codes2 = [];
    for (let i = 0; i < 6; i++) codes2.push((await s2.api('POST', '/v1/chat/completions', { token: t2, body })).status);
    assert.equal(codes2[0], 404, 'a fresh token is not limited at once');
    assert.ok(codes2.includes(429), `per alias: ${codes2}`);
  } finally {
    await s2.stop();
  }
});
