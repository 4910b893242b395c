'use strict';
// A PostgreSQL that stops answering without closing its connections (the
// private test server frozen with SIGSTOP, as a hung host or a network
// partition looks): docs/operations.md, "Faults and what each endpoint
// answers". While it is frozen:
//   - /health and the SDK reads (/api/client/features, /api/frontend,
//     OFREP) keep answering from memory within 100 ms (90 % of them; none
//     over a second), an open stream stays open;
//   - 60 concurrent SDK metrics posts are answered 202 at once (kept in
//     memory) and do not hold the serving threads;
//   - admin writes answer 503 with the reason and Retry-After within their
//     bound (--db-timeout-ms plus its slack), or at once when the database
//     queue is full; /ready answers 503 with the reason, at once;
//   - a token the server never saw gets 503 (retry), not 401, at once;
//   - console requests with a session cookie (routed admin calls, the
//     session routes, the advisor, /api/admin/sdk-health) check their
//     session on the database threads, never on the serving threads: many
//     in flight hold no SDK read, and each answers 503 within its bound;
//   - model gateway calls keep answering at once: the gateway's
//     measurements (impact metrics) are stored from the database threads,
//     never from the thread that drives every model call;
// and after SIGCONT everything recovers by itself: /ready 200, writes
// work, the stream delivers the next change, and the metrics posted
// during the outage are stored.
//
// Needs VEXIL_IT_PG_DSN and VEXIL_TEST_PG_DIR (make store-pg); skipped
// otherwise. Runs alone: it freezes the shared test server.

const test = require('node:test');
const assert = require('node:assert/strict');
const S = require('../integration/server');
const R = require('../replicas/replicas');

const skip = S.PG_DSN && R.PG_DIR ? false : 'needs VEXIL_IT_PG_DSN and VEXIL_TEST_PG_DIR (make store-pg)';
const DB_TIMEOUT_MS = 1000; // --db-timeout-ms of the server under test
const BOUND_MS = DB_TIMEOUT_MS + 500; // plus the slack: a call's bound
const FEAT = '/api/admin/projects/default/features';

test.after(() => R.stopAll());

// One request that never waits longer than `limitMs`: {status, ms, json,
// headers}, status 0 when it did not answer in time.
async function timed(url, method, path, { token, body, limitMs = 8000, headers: extra = {} } = {}) {
  const headers = { ...extra };
  if (token) headers.Authorization = token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const t0 = performance.now();
  try {
    const res = await fetch(url + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(limitMs),
    });
    const text = await res.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch (_e) { json = undefined; }
    return { status: res.status, ms: performance.now() - t0, json, text, headers: res.headers };
  } catch (e) {
    return { status: 0, ms: performance.now() - t0, text: String(e && e.message), headers: new Headers() };
  }
}

function describe(rs) {
  const ms = rs.map((r) => r.ms).sort((a, b) => a - b);
  const p = (q) => ms[Math.min(ms.length - 1, Math.ceil(q * ms.length) - 1)];
  return `n=${ms.length} p50=${p(0.5).toFixed(1)} p90=${p(0.9).toFixed(1)} max=${ms[ms.length - 1].toFixed(1)} ms`;
}

function metricsBody(flag) {
  const now = new Date();
  return {
    appName: 'frozen-app',
    instanceId: 'i-1',
    bucket: {
      start: new Date(now.getTime() - 60000).toISOString(),
      stop: now.toISOString(),
      toggles: { [flag]: { yes: 2, no: 1, variants: {} } },
    },
  };
}

test('a frozen PostgreSQL: SDK reads and /health answer from memory, writes 503 in time, all recovers', { skip, timeout: 120000 }, async () => {
  const client = S.clientSecret('default', 'production');
  const frontend = S.frontendSecret('default', 'production');
  const srv = await S.startServer({
    clientTokens: [client],
    frontendTokens: [frontend],
    // Two serving threads, as on a small machine; few database threads and
    // a short queue, so a full queue is seen too.
    args: ['--threads', '2'],
    env: { VEXIL_DB_TIMEOUT_MS: String(DB_TIMEOUT_MS), VEXIL_DB_THREADS: '2', VEXIL_DB_QUEUE: '4' },
  });
  const flag = 'frozen-flag';
  let r = await srv.api('POST', FEAT, { body: { name: flag } });
  assert.equal(r.status, 201, S.show(r));
  r = await srv.api('POST', `${FEAT}/${flag}/environments/production/strategies`, { body: { name: 'default' } });
  assert.equal(r.status, 200, S.show(r));
  r = await srv.api('POST', `${FEAT}/${flag}/environments/production/on`);
  assert.equal(r.status, 200, S.show(r));
  await R.waitFeatures(srv, (f) => f[flag] === true, 5000, `${flag} on`);

  // The reads the SDKs make; each token is seen once before the outage.
  const reads = [
    ['/health', () => timed(srv.url, 'GET', '/health', { limitMs: 5000 })],
    ['client features', () => timed(srv.url, 'GET', '/api/client/features', { token: client, limitMs: 5000 })],
    ['frontend', () => timed(srv.url, 'GET', '/api/frontend?userId=u1', { token: frontend, limitMs: 5000 })],
    ['OFREP', () => timed(srv.url, 'POST', '/ofrep/v1/evaluate/flags', { token: `Bearer ${frontend}`, body: { context: { targetingKey: 'u1' } }, limitMs: 5000 })],
  ];
  for (const [what, f] of reads) {
    const w = await f();
    assert.equal(w.status, 200, `${what} before the outage: ${S.show(w)}`);
  }
  const stream = R.openStream(srv);
  let frozen = false;
  try {
    await stream.waitFor((f) => f[flag] === true, 5000, 'the hydration');
    R.pgControl('freeze');
    frozen = true;
    const t0 = performance.now();

    // Writes (more than the database threads and queue hold) and a flood of
    // SDK metrics, all at once, while the reads go on.
    const writes = [];
    for (let i = 0; i < 10; i++) {
      writes.push(timed(srv.url, 'POST', FEAT, { token: srv.adminToken, body: { name: `during-${i}` }, limitMs: 20000 }));
    }
    const posts = [];
    for (let i = 0; i < 60; i++) {
      posts.push(timed(srv.url, 'POST', '/api/client/metrics', { token: client, body: metricsBody(flag), limitMs: 10000 }));
    }
    const seen = Object.fromEntries(reads.map(([what]) => [what, []]));
    while (performance.now() - t0 < 4000) {
      for (const [what, f] of reads) seen[what].push(await f());
    }
    for (const [what, rs] of Object.entries(seen)) {
      const bad = rs.filter((x) => x.status !== 200);
      assert.equal(bad.length, 0, `${what} during the outage: ${bad.length} of ${rs.length} failed, e.g. ${bad[0] && `${bad[0].status} ${bad[0].text.slice(0, 200)} after ${bad[0].ms.toFixed(0)} ms`}`);
      const ms = rs.map((x) => x.ms).sort((a, b) => a - b);
      const p90 = ms[Math.ceil(0.9 * ms.length) - 1];
      assert.ok(p90 <= 100, `${what} during the outage is slow: ${describe(rs)}`);
      assert.ok(ms[ms.length - 1] <= 1000, `${what} during the outage waited: ${describe(rs)}`);
    }

    const postAnswers = await Promise.all(posts);
    const notAccepted = postAnswers.filter((x) => x.status !== 202);
    assert.equal(notAccepted.length, 0, `metrics posts during the outage: ${notAccepted.length} not 202, e.g. ${notAccepted[0] && S.show(notAccepted[0])}`);
    assert.ok(postAnswers.every((x) => x.ms < 1000), `metrics posts waited: ${describe(postAnswers)}`);

    const writeAnswers = await Promise.all(writes);
    for (const w of writeAnswers) {
      assert.equal(w.status, 503, `a write during the outage: ${S.show(w)} after ${w.ms.toFixed(0)} ms`);
      assert.match(w.json && w.json.message, /^the database is (unavailable|busy)/, S.show(w));
      assert.ok(w.headers.get('retry-after'), `a 503 without Retry-After: ${S.show(w)}`);
      assert.ok(w.ms < BOUND_MS + 3000, `a write took ${w.ms.toFixed(0)} ms to fail (bound ${BOUND_MS} ms)`);
    }
    // Two database threads and a queue of four: the rest is refused at once.
    const atOnce = writeAnswers.filter((w) => w.ms < 500).length;
    assert.ok(atOnce >= 4, `only ${atOnce} of 10 writes were refused at once: ${describe(writeAnswers)}`);

    // /ready says why, at once; /metrics too.
    const deadline = performance.now() + 5000;
    let ready;
    do {
      ready = await timed(srv.url, 'GET', '/ready', { limitMs: 2000 });
      if (ready.status !== 503) await S.sleep(100);
    } while (ready.status !== 503 && performance.now() < deadline);
    assert.equal(ready.status, 503, `/ready during the outage: ${S.show(ready)}`);
    assert.match(ready.json.message, /^the database is unavailable/, S.show(ready));
    assert.ok(ready.ms < 500, `/ready took ${ready.ms.toFixed(0)} ms`);
    const m = await timed(srv.url, 'GET', '/metrics', { limitMs: 2000 });
    assert.equal(m.status, 200, S.show(m));
    assert.match(m.text, /^vexil_db_up 0$/m);
    assert.ok(m.ms < 500, `/metrics took ${m.ms.toFixed(0)} ms`);

    // A token this server never saw cannot be checked: 503, at once.
    const unknown = await timed(srv.url, 'GET', '/api/client/features', { token: S.clientSecret('default', 'production'), limitMs: 5000 });
    assert.equal(unknown.status, 503, `an unseen token during the outage: ${S.show(unknown)}`);
    assert.ok(unknown.ms < 1000, `an unseen token waited ${unknown.ms.toFixed(0)} ms`);
    // A further write fails fast now that the database is known down.
    const fast = await timed(srv.url, 'POST', FEAT, { token: srv.adminToken, body: { name: 'during-late' }, limitMs: 20000 });
    assert.equal(fast.status, 503, S.show(fast));
    assert.ok(fast.ms < BOUND_MS + 1000, `a write with the database known down took ${fast.ms.toFixed(0)} ms`);

    R.pgControl('thaw');
    frozen = false;

    // Everything comes back by itself.
    const until = Date.now() + 20000;
    do {
      ready = await timed(srv.url, 'GET', '/ready', { limitMs: 2000 });
      if (ready.status !== 200) await S.sleep(100);
    } while (ready.status !== 200 && Date.now() < until);
    assert.equal(ready.status, 200, `/ready after the outage: ${S.show(ready)}`);
    let w;
    const wUntil = Date.now() + 10000;
    do {
      w = await srv.api('POST', `${FEAT}/${flag}/environments/production/off`);
      if (w.status !== 200) await S.sleep(200);
    } while (w.status !== 200 && Date.now() < wUntil);
    assert.equal(w.status, 200, `a write after the outage: ${S.show(w)}`);
    await stream.waitFor((f) => f[flag] === false, 5000, 'the change after the outage, on the stream opened before it');
    assert.ok(!stream.ended, 'the stream ended during the outage');
    const usage = await srv.api('GET', `/api/admin/client-metrics/features/${flag}?hours=3`);
    assert.equal(usage.status, 200, S.show(usage));
    const yes = usage.json.usage.reduce((n, u) => n + u.yes, 0);
    assert.equal(yes, 120, `the metrics posted during the outage are stored: ${S.show(usage)}`);
  } finally {
    if (frozen) R.pgControl('thaw');
    stream.close();
    await srv.stop();
  }
});

// Signs in on `srv` with its admin token: {cookie, csrf}.
async function signIn(srv) {
  const r = await timed(srv.url, 'POST', '/api/admin/session', { token: srv.adminToken, headers: { Origin: srv.url } });
  assert.equal(r.status, 201, `sign in: ${S.show(r)}`);
  const m = /^vexil_session=([^;]+)/.exec(r.headers.get('set-cookie') || '');
  assert.ok(m, 'a session cookie');
  return { cookie: `vexil_session=${m[1]}`, csrf: r.json.csrfToken };
}

// A console request: the session cookie, and for unsafe methods the CSRF
// token and the console's Origin (as the web console sends them).
function consoleCall(srv, sess, method, path, { body, limitMs = 20000 } = {}) {
  const headers = { Cookie: sess.cookie };
  if (method !== 'GET') {
    headers['X-Vexil-CSRF'] = sess.csrf;
    headers.Origin = srv.url;
  }
  return timed(srv.url, method, path, { headers, body, limitMs });
}

test('a frozen PostgreSQL: console sessions never hold the serving threads; they answer 503 in time and work after', { skip, timeout: 120000 }, async () => {
  const client = S.clientSecret('default', 'production');
  const frontend = S.frontendSecret('default', 'production');
  const srv = await S.startServer({
    clientTokens: [client],
    frontendTokens: [frontend],
    args: ['--threads', '2'],
    env: { VEXIL_DB_TIMEOUT_MS: String(DB_TIMEOUT_MS), VEXIL_DB_THREADS: '2', VEXIL_DB_QUEUE: '4' },
  });
  const flag = 'console-flag';
  let r = await srv.api('POST', FEAT, { body: { name: flag } });
  assert.equal(r.status, 201, S.show(r));
  const sess = await signIn(srv);
  // Every kind of console request works before the outage.
  const calls = [
    ['GET features', () => consoleCall(srv, sess, 'GET', '/api/admin/features')],
    ['GET projects', () => consoleCall(srv, sess, 'GET', '/api/admin/projects')],
    ['GET session', () => consoleCall(srv, sess, 'GET', '/api/admin/session')],
    ['GET sdk-health', () => consoleCall(srv, sess, 'GET', '/api/admin/sdk-health')],
    ['POST advisor', () => consoleCall(srv, sess, 'POST', '/api/admin/advisor/changelog', { body: { project: 'default' } })],
    ['POST feature', () => consoleCall(srv, sess, 'POST', FEAT, { body: { name: `c-${Math.random().toString(36).slice(2, 10)}` } })],
  ];
  for (const [what, f] of calls) {
    const w = await f();
    assert.ok(w.status === 200 || w.status === 201, `${what} before the outage: ${S.show(w)}`);
  }
  const reads = [
    ['/health', () => timed(srv.url, 'GET', '/health', { limitMs: 5000 })],
    ['client features', () => timed(srv.url, 'GET', '/api/client/features', { token: client, limitMs: 5000 })],
    ['frontend', () => timed(srv.url, 'GET', '/api/frontend?userId=u1', { token: frontend, limitMs: 5000 })],
    ['OFREP', () => timed(srv.url, 'POST', '/ofrep/v1/evaluate/flags', { token: `Bearer ${frontend}`, body: { context: { targetingKey: 'u1' } }, limitMs: 5000 })],
  ];
  for (const [what, f] of reads) {
    const w = await f();
    assert.equal(w.status, 200, `${what} before the outage: ${S.show(w)}`);
  }
  let frozen = false;
  try {
    R.pgControl('freeze');
    frozen = true;
    const t0 = performance.now();
    // Many console requests at once, more than the serving threads, the
    // database threads and their queue: each kind several times, and a
    // sign-in and a sign-out besides.
    const inFlight = [];
    for (let i = 0; i < 4; i++) {
      for (const [what, f] of calls) inFlight.push(f().then((x) => ({ what, ...x })));
    }
    inFlight.push(timed(srv.url, 'POST', '/api/admin/session', { token: srv.adminToken, headers: { Origin: srv.url }, limitMs: 20000 }).then((x) => ({ what: 'sign in', ...x })));
    const seen = Object.fromEntries(reads.map(([what]) => [what, []]));
    while (performance.now() - t0 < 4000) {
      for (const [what, f] of reads) seen[what].push(await f());
    }
    for (const [what, rs] of Object.entries(seen)) {
      const bad = rs.filter((x) => x.status !== 200);
      assert.equal(bad.length, 0, `${what} while console requests wait: ${bad.length} of ${rs.length} failed, e.g. ${bad[0] && `${bad[0].status} ${bad[0].text.slice(0, 200)} after ${bad[0].ms.toFixed(0)} ms`}`);
      const ms = rs.map((x) => x.ms).sort((a, b) => a - b);
      const p90 = ms[Math.ceil(0.9 * ms.length) - 1];
      assert.ok(p90 <= 100, `${what} while console requests wait is slow: ${describe(rs)}`);
      assert.ok(ms[ms.length - 1] <= 1000, `${what} while console requests wait waited: ${describe(rs)}`);
    }
    const answers = await Promise.all(inFlight);
    for (const w of answers) {
      assert.equal(w.status, 503, `${w.what} during the outage: ${S.show(w)} after ${w.ms.toFixed(0)} ms`);
      assert.match(w.json && w.json.message, /^the database is (unavailable|busy)/, `${w.what}: ${S.show(w)}`);
      assert.ok(w.headers.get('retry-after'), `${w.what}: a 503 without Retry-After`);
      assert.ok(w.ms < BOUND_MS + 3000, `${w.what} took ${w.ms.toFixed(0)} ms to fail (bound ${BOUND_MS} ms)`);
    }
    // A console request with the database known down fails fast too.
    const late = await consoleCall(srv, sess, 'GET', '/api/admin/features');
    assert.equal(late.status, 503, S.show(late));
    assert.ok(late.ms < BOUND_MS + 1000, `a console read with the database known down took ${late.ms.toFixed(0)} ms`);

    R.pgControl('thaw');
    frozen = false;
    // The session outlived the outage: reads and writes work again.
    let w;
    const until = Date.now() + 20000;
    do {
      w = await consoleCall(srv, sess, 'GET', '/api/admin/features');
      if (w.status !== 200) await S.sleep(200);
    } while (w.status !== 200 && Date.now() < until);
    assert.equal(w.status, 200, `a console read after the outage: ${S.show(w)}`);
    for (const [what, f] of calls) {
      const x = await f();
      assert.ok(x.status === 200 || x.status === 201, `${what} after the outage: ${S.show(x)}`);
    }
    const out = await consoleCall(srv, sess, 'DELETE', '/api/admin/session');
    assert.equal(out.status, 200, S.show(out));
    const ended = await consoleCall(srv, sess, 'GET', '/api/admin/features');
    assert.deepEqual([ended.status, ended.json && ended.json.reason], [401, 'signed-out'], S.show(ended));
  } finally {
    if (frozen) R.pgControl('thaw');
    await srv.stop();
  }
});

test('a frozen PostgreSQL: the model gateway keeps answering while its measurements wait', { skip, timeout: 120000 }, async () => {
  const { startModelServer } = require('../support/model_server');
  const model = await startModelServer({ models: ['m1'] });
  const client = S.clientSecret('default', 'production');
  const srv = await S.startServer({
    clientTokens: [client],
    args: ['--threads', '2'],
    // Measurements are handed over every 200 ms (as impact metrics, which
    // are stored in the database).
    env: { VEXIL_DB_TIMEOUT_MS: String(DB_TIMEOUT_MS), VEXIL_GATEWAY_FLUSH_MS: '200', VEXIL_EGRESS_ALLOW: `127.0.0.1:${new URL(model.url).port}` },
  });
  const flag = 'model.chat';
  const E = `${FEAT}/${flag}/environments/production`;
  let r = await srv.api('POST', FEAT, { body: { name: flag } });
  assert.equal(r.status, 201, S.show(r));
  r = await srv.api('POST', `${E}/strategies`, { body: { name: 'flexibleRollout', parameters: { rollout: '100', stickiness: 'default' } } });
  assert.equal(r.status, 200, S.show(r));
  r = await srv.api('PUT', `${E}/variants`, { body: [{ name: 'control', weight: 1000, weightType: 'variable', stickiness: 'default',
    payload: { type: 'json', value: JSON.stringify({ base_url: `${model.url}/v1`, model: 'm1' }) } }] });
  assert.equal(r.status, 200, S.show(r));
  r = await srv.api('POST', `${E}/on`);
  assert.equal(r.status, 200, S.show(r));
  const chat = () => timed(srv.url, 'POST', '/v1/chat/completions', { token: `Bearer ${client}`, body: { model: 'chat', messages: [{ role: 'user', content: 'hi' }] }, limitMs: 10000 });
  const first = await chat();
  assert.equal(first.status, 200, S.show(first));
  let frozen = false;
  try {
    R.pgControl('freeze');
    frozen = true;
    const calls = [];
    const t0 = performance.now();
    while (performance.now() - t0 < 5000) calls.push(await chat());
    const bad = calls.filter((x) => x.status !== 200);
    assert.equal(bad.length, 0, `model calls during the outage: ${bad.length} of ${calls.length} failed, e.g. ${bad[0] && S.show(bad[0])}`);
    const ms = calls.map((x) => x.ms).sort((a, b) => a - b);
    const p90 = ms[Math.ceil(0.9 * ms.length) - 1];
    assert.ok(p90 <= 200, `model calls during the outage are slow: ${describe(calls)}`);
    assert.ok(ms[ms.length - 1] <= 1000, `a model call during the outage waited: ${describe(calls)}`);
    R.pgControl('thaw');
    frozen = false;
    const after = await chat();
    assert.equal(after.status, 200, S.show(after));
  } finally {
    if (frozen) R.pgControl('thaw');
    await srv.stop();
    await model.close();
  }
});
