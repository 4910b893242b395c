'use strict';
// The console's server side of issue 19, against the real binary
// (docs/admin-api.md, "Live updates" and "The model gateway's figures"):
// GET /api/admin/events/stream is authenticated like the admin API (a
// token or the console's session cookie, any role; never a client or
// frontend token), filtered by flag and environment, carries names and types but never an event's data, says
// "tick" when the scheduler looks, resumes from Last-Event-ID (or says
// "reset"), is capped (429 per token, 503 in all, with Retry-After),
// releases a closed connection within a few seconds, ends when its token
// is revoked and sends heartbeats. GET /api/admin/gateway/stats gives the
// gateway's per-variant counters, with each flag's project, to admin
// tokens, per environment.
//
//   tests/integration/run.sh tests/integration/console_live.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const S = require('./server');
const { onBlocks } = require('../support/sse');
const { startModelServer } = require('../support/model_server');

const STREAM = '/api/admin/events/stream';
const FEATS = '/api/admin/projects/default/features';
const F = (f, p = 'default') => `/api/admin/projects/${p}/features/${encodeURIComponent(f)}`;
const E = (f, env = 'production', p = 'default') => `${F(f, p)}/environments/${env}`;

async function ok(srv, method, p, body, token) {
  const o = body === undefined ? {} : { body };
  if (token) o.token = token;
  const r = await srv.api(method, p, o);
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${p}: ${S.show(r)}`);
  return r.json;
}

// Opens the stream with `headers`; resolves once the answer's headers are
// in: {status, headers, text (the body so far, or all of it when not
// 200), blocks (parsed SSE blocks, growing), req, res, ended}.
function open(srv, { token, query = '', headers = {} } = {}) {
  return new Promise((resolve) => {
    const h = { ...headers };
    if (token) h.Authorization = token;
    const req = http.get(srv.url + STREAM + query, { agent: false, headers: h }, (res) => {
      const out = { status: res.statusCode, headers: res.headers, text: '', blocks: [], req, res };
      out.ended = new Promise((end) => { res.on('end', end); res.on('close', end); res.on('error', end); });
      res.on('data', (d) => { out.text += d; });
      onBlocks(res, (raw) => {
        const b = { raw };
        for (const line of raw.split('\n')) {
          const m = /^(id|event|data|retry): ?(.*)$/.exec(line);
          if (m) b[m[1]] = m[2];
        }
        out.blocks.push(b);
      });
      if (res.statusCode !== 200) res.on('end', () => resolve(out));
      else resolve(out);
    });
    req.on('error', (e) => resolve({ status: 0, error: e, req, blocks: [], text: '' }));
  });
}

// Waits (up to `ms`) until pred(stream) holds.
async function until(s, pred, ms = 8000, what = 'the stream') {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (pred(s)) return;
    await S.sleep(50);
  }
  assert.fail(`${what} within ${ms} ms: got ${JSON.stringify(s.blocks.map((b) => b.raw))}`);
}

const changes = (s) => s.blocks.filter((b) => b.event === 'change').map((b) => JSON.parse(b.data));
const hasChange = (s, pred) => changes(s).some(pred);

const CLIENT = S.clientSecret('default', 'production');
let srv;
test.before(async () => {
  srv = await S.startServer({ clientTokens: [CLIENT], env: { VEXIL_SCHEDULER_INTERVAL_MS: '200' } });
  await ok(srv, 'POST', '/api/admin/projects', { id: 'mobile' });
});
test.after(async () => {
  if (srv) {
    await srv.stop();
    assert.doesNotMatch(srv.stderr, /(Address|Leak|Thread|UndefinedBehavior)Sanitizer|runtime error/);
  }
});

test('the stream: who may open it, what it carries, per flag and environment, and ticks', async () => {
  assert.equal((await open(srv)).status, 401);
  const client = await open(srv, { token: CLIENT });
  assert.equal(client.status, 403, client.text);
  const viewer = (await ok(srv, 'POST', '/api/admin/api-tokens', { tokenName: 'vera', type: 'admin', role: 'viewer' })).secret;
  const posted = await S.request(srv.url, 'POST', STREAM, { token: viewer });
  assert.equal(posted.status, 405);
  const head = await S.request(srv.url, 'HEAD', STREAM, { token: viewer });
  assert.equal(head.status, 200);
  assert.match(head.headers.get('content-type'), /^text\/event-stream/);

  const all = await open(srv, { token: viewer });
  assert.equal(all.status, 200);
  assert.match(all.headers['content-type'], /^text\/event-stream/);
  assert.equal(all.headers['cache-control'], 'no-cache');
  const one = await open(srv, { token: viewer, query: '?feature=live-b&environment=production' });
  // The console's session cookie opens it too (the browser's EventSource
  // sends no Authorization).
  const signin = await S.request(srv.url, 'POST', '/api/admin/session', { token: srv.adminToken, headers: { Origin: srv.url } });
  assert.equal(signin.status, 201, S.show(signin));
  const cookie = /^vexil_session=[^;]+/.exec(signin.headers.get('set-cookie'))[0];
  const bySession = await open(srv, { headers: { Cookie: cookie } });
  assert.equal(bySession.status, 200, bySession.text);
  // A cookie the server never gave (or that was signed out) opens nothing.
  const forged = await open(srv, { headers: { Cookie: cookie.replace(/=.{4}/, '=AAAA') } });
  assert.equal(forged.status, 401, forged.text);
  for (const s of [all, one, bySession]) await until(s, (x) => /: connected/.test(x.text), 3000, 'the preamble');
  // The feed starts at its first read (once a second while streams are open).
  await S.sleep(1500);

  await ok(srv, 'POST', FEATS, { name: 'live-a' });
  await ok(srv, 'POST', FEATS, { name: 'live-b' });
  await ok(srv, 'PUT', `${E('live-b')}/release-plan`, { milestones: [{ percent: 10, minDurationSeconds: 3600 }, { percent: 100 }], guard: 'none' });
  await ok(srv, 'POST', `${E('live-b')}/release-plan/rollback`);
  await ok(srv, 'POST', '/api/admin/projects/mobile/features', { name: 'app-x' });
  await ok(srv, 'POST', '/api/admin/segments', { name: 'seg', constraints: [] });

  await until(all, (s) => hasChange(s, (e) => e.type === 'release-plan-rolled-back'));
  await until(all, (s) => hasChange(s, (e) => e.feature === 'app-x'));
  const seen = changes(all);
  const types = seen.map((e) => `${e.type}:${e.feature}`);
  for (const t of ['feature-created:live-a', 'feature-created:live-b', 'release-plan-started:live-b', 'release-plan-rolled-back:live-b', 'feature-created:app-x']) {
    assert.ok(types.includes(t), `${t} in ${types}`);
  }
  assert.ok(!seen.some((e) => /^segment-/.test(e.type)), 'segments are not sent');
  const rb = seen.find((e) => e.type === 'release-plan-rolled-back');
  assert.deepEqual(Object.keys(rb).sort(), ['createdAt', 'createdBy', 'environment', 'feature', 'id', 'project', 'type']);
  assert.equal(rb.environment, 'production');
  assert.equal(rb.project, 'default');
  assert.equal(rb.createdBy, 'init-admin');
  // Each change carries its audit event's id, once.
  const block = all.blocks.find((b) => b.event === 'change' && JSON.parse(b.data).id === rb.id);
  assert.equal(block.id, String(rb.id));
  const ids = seen.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'no event twice');

  // The filtered stream: live-b in production only.
  await until(one, (s) => hasChange(s, (e) => e.type === 'release-plan-rolled-back'));
  assert.deepEqual([...new Set(changes(one).map((e) => e.feature))], ['live-b']);
  await until(bySession, (s) => hasChange(s, (e) => e.type === 'release-plan-rolled-back'));

  // The scheduler's looks (every 200 ms here; sent at most once a second).
  await until(all, (s) => s.blocks.filter((b) => b.event === 'tick').length >= 2, 5000, 'two ticks');
  const tick = JSON.parse(all.blocks.find((b) => b.event === 'tick').data);
  assert.match(tick.owner, new RegExp(`:${srv.proc.pid}:`));
  assert.ok(tick.atMs > Date.now() - 60000);

  // Resuming: what came after the id the browser last saw, and nothing
  // before it; an id older than the feed's start gets "reset".
  const first = seen.find((e) => e.feature === 'live-b');
  const again = await open(srv, { token: viewer, headers: { 'Last-Event-ID': String(first.id) } });
  await until(again, (s) => hasChange(s, (e) => e.type === 'release-plan-rolled-back'), 3000, 'the replay');
  assert.ok(changes(again).every((e) => e.id > first.id));
  assert.ok(!again.blocks.some((b) => b.event === 'reset'));
  // The server keeps the last 256 events: an id before them gets "reset"
  // (id: where the feed starts now), not a partial replay.
  for (let i = 0; i < 270; i += 30) {
    await Promise.all(Array.from({ length: 30 }, (_, k) => ok(srv, 'POST', FEATS, { name: `bulk-${i + k}` })));
  }
  await S.sleep(1500);
  const old = await open(srv, { token: viewer, headers: { 'Last-Event-ID': String(first.id) } });
  await until(old, (s) => s.blocks.some((b) => b.event === 'reset'), 3000, 'a reset');
  const reset = old.blocks.find((b) => b.event === 'reset');
  assert.ok(Number(reset.id) > first.id, `the reset moves the browser's id on: ${reset.raw}`);
  assert.ok(!changes(old).some((e) => e.id <= Number(reset.id)), 'nothing older than the reset is replayed');

  // A stream opened just after a change (its page was loading) gets it.
  await ok(srv, 'POST', FEATS, { name: 'just-before' });
  await S.sleep(1500); // sent to the open streams meanwhile
  const late = await open(srv, { token: viewer, query: '?feature=just-before' });
  await until(late, (s) => hasChange(s, (e) => e.type === 'feature-created'), 3000, 'the change made while the page loaded');
  late.req.destroy();

  const long = await open(srv, { token: viewer, query: `?feature=${'x'.repeat(101)}` });
  assert.equal(long.status, 400);
  assert.equal(JSON.parse(long.text).details[0].path, '/query/feature');
  for (const s of [all, one, bySession, again, old]) s.req.destroy();
});

test('caps: 429 per token and 503 in all with Retry-After; a closed stream is released at once', async () => {
  // A scheduler that does not tick while the test runs: no "tick" is
  // written to the streams, so only the server's watch of their sockets
  // can notice that they closed.
  const quiet = await S.startServer({ env: { VEXIL_SCHEDULER_INTERVAL_MS: '600000' } });
  const srv = quiet; // eslint-disable-line no-shadow
  // No stream is open: the first one to open still gets the change made
  // just before it.
  await ok(srv, 'POST', FEATS, { name: 'first-seen' });
  const first = await open(srv, { token: srv.adminToken });
  await until(first, (s) => hasChange(s, (e) => e.feature === 'first-seen'), 3000, 'the change made just before the first stream');
  first.req.destroy();
  await S.sleep(1000);
  const tokens = [];
  for (let i = 0; i < 5; i++) tokens.push((await ok(srv, 'POST', '/api/admin/api-tokens', { tokenName: `cap${i}`, type: 'admin', role: 'viewer' })).secret);
  const held = [];
  try {
    for (let i = 0; i < 16; i++) {
      const s = await open(srv, { token: tokens[0] });
      assert.equal(s.status, 200, s.text);
      held.push(s);
    }
    const over = await open(srv, { token: tokens[0] });
    assert.equal(over.status, 429, over.text);
    assert.ok(Number(over.headers['retry-after']) > 0);
    assert.match(JSON.parse(over.text).message, /16 live-update streams/);
    // Other requests are served meanwhile.
    assert.equal((await srv.api('GET', '/api/admin/features', { token: tokens[0] })).status, 200);
    for (let t = 1; t <= 3; t++) {
      for (let i = 0; i < 16; i++) {
        const s = await open(srv, { token: tokens[t] });
        assert.equal(s.status, 200, s.text);
        held.push(s);
      }
    }
    const full = await open(srv, { token: tokens[4] });
    assert.equal(full.status, 503, full.text);
    assert.ok(Number(full.headers['retry-after']) > 0);
    // Closing the first token's streams releases them within a few
    // seconds (not at the next heartbeat, 15 s away).
    for (const s of held.slice(0, 16)) s.req.destroy();
    const t0 = Date.now();
    let s;
    do {
      await S.sleep(100);
      s = await open(srv, { token: tokens[0] });
      if (s.status !== 200) continue;
      held.push(s);
      break;
    } while (Date.now() - t0 < 10000);
    const took = Date.now() - t0;
    console.log(`# closed streams released in ${took} ms`);
    assert.equal(s.status, 200, 'a stream again once closed ones are released');
    assert.ok(took < 3000, `released after ${took} ms`);
  } finally {
    for (const s of held) s.req.destroy();
    await quiet.stop();
    assert.doesNotMatch(quiet.stderr, /(Address|Leak|Thread|UndefinedBehavior)Sanitizer|runtime error/);
  }
});

test('revoking the token ends its stream; heartbeats keep an idle stream open', async () => {
  await S.sleep(1000); // the streams of the test before are released
  const t = await ok(srv, 'POST', '/api/admin/api-tokens', { tokenName: 'gone-soon', type: 'admin', role: 'viewer' });
  const keep = (await ok(srv, 'POST', '/api/admin/api-tokens', { tokenName: 'stays', type: 'admin', role: 'viewer' })).secret;
  const s = await open(srv, { token: t.secret });
  const idle = await open(srv, { token: keep, query: '?feature=nothing-here' });
  assert.equal(s.status, 200);
  await S.sleep(1200);
  const t0 = Date.now();
  await ok(srv, 'DELETE', `/api/admin/api-tokens/${t.id}`);
  const ended = await Promise.race([s.ended.then(() => true), S.sleep(8000).then(() => false)]);
  assert.ok(ended, 'the stream of a revoked token ends');
  console.log(`# stream of a revoked token ended in ${Date.now() - t0} ms`);
  await until(idle, (x) => /: heartbeat\n\n/.test(x.text), 17000, 'a heartbeat (every 15 s)');
  assert.equal(idle.res.destroyed, false);
  idle.req.destroy();
});

test('the gateway\'s figures for the console: admin tokens, each flag\'s project, one environment', async () => {
  const model = await startModelServer({ models: ['m1'] });
  try {
    const value = (o) => ({ type: 'json', value: JSON.stringify(o) });
    const flag = async (name, project) => {
      await ok(srv, 'POST', `/api/admin/projects/${project}/features`, { name });
      await ok(srv, 'PUT', `${E(name, 'production', project)}/variants`, [
        { name: 'control', weight: 500, weightType: 'fix', stickiness: 'default', payload: value({ base_url: `${model.url}/v1`, model: 'm1' }) },
        { name: 'candidate', weight: 500, weightType: 'fix', stickiness: 'default', payload: value({ base_url: `${model.url}/v1`, model: 'm1' }) }]);
      await ok(srv, 'POST', `${E(name, 'production', project)}/on`);
    };
    await flag('model.chat', 'default');
    await flag('model.app', 'mobile');
    const ask = async (token, alias, user) => {
      const r = await S.request(srv.url, 'POST', '/v1/chat/completions', { token, body: { model: alias, user, messages: [{ role: 'user', content: 'hi' }] } });
      assert.equal(r.status, 200, S.show(r));
    };
    const tokenAll = (await ok(srv, 'POST', '/api/admin/api-tokens', { tokenName: 'gw-all', type: 'client', environment: 'production', projects: ['*'] })).secret;
    for (let i = 0; i < 6; i++) await ask(tokenAll, 'chat', `u${i}`);
    for (let i = 0; i < 3; i++) await ask(tokenAll, 'app', `u${i}`);

    const r = await srv.api('GET', '/api/admin/gateway/stats?environment=production');
    assert.equal(r.status, 200, S.show(r));
    assert.equal(r.json.environment, 'production');
    const chat = r.json.series.filter((x) => x.flag === 'model.chat');
    assert.equal(chat.reduce((a, x) => a + x.requests, 0), 6);
    for (const x of r.json.series) {
      assert.equal(x.environment, 'production');
      assert.equal(x.project, x.flag === 'model.chat' ? 'default' : 'mobile');
      for (const k of ['requests', 'errors', 'timeouts', 'fallbacks', 'conversions', 'feedbackDown', 'promptTokens', 'completionTokens']) assert.equal(typeof x[k], 'number', k);
      for (const k of ['latencyMs', 'ttftMs', 'tokensPerSec']) assert.equal(typeof x[k].count, 'number', k);
    }
    assert.ok(chat.every((x) => x.latencyMs.count > 0 && x.latencyMs.mean > 0));
    // Every environment without the parameter; none in development.
    const every = await srv.api('GET', '/api/admin/gateway/stats');
    assert.equal(every.json.environment, null);
    assert.equal(every.json.series.length, r.json.series.length);
    assert.deepEqual((await srv.api('GET', '/api/admin/gateway/stats?environment=development')).json.series, []);

    // A viewer may look.
    const vi = (await ok(srv, 'POST', '/api/admin/api-tokens', { tokenName: 'gw-vi', type: 'admin', role: 'viewer' })).secret;
    const viewed = await srv.api('GET', '/api/admin/gateway/stats?environment=production', { token: vi });
    assert.equal(viewed.status, 200, S.show(viewed));
    assert.equal(viewed.json.series.length, r.json.series.length);

    // Refusals.
    assert.equal((await srv.api('GET', '/api/admin/gateway/stats', { token: null })).status, 401);
    assert.equal((await srv.api('GET', '/api/admin/gateway/stats', { token: tokenAll })).status, 403);
    assert.equal((await srv.api('DELETE', '/api/admin/gateway/stats')).status, 405);
    const none = await srv.api('GET', '/api/admin/gateway/stats?environment=nowhere');
    assert.equal(none.status, 404);
    assert.equal(none.json.details[0].path, '/query/environment');
  } finally {
    await model.close();
  }
});
