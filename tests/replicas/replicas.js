'use strict';
// Helpers for the tests of several `vexil serve` replicas on one database
// (docs/operations.md, "Several replicas"): starting replicas that share a
// database and tokens, a streaming (SSE) client that records when each flag
// state arrives, raw streaming requests (caps, revocation), everything an
// SDK could compare between replicas, waiting for a flag state on
// /api/client/features, and
// stopping/restarting the private PostgreSQL of `make store-pg`
// (tests/support/pg.sh pause|resume on VEXIL_TEST_PG_DIR).

const http = require('node:http');
const path = require('node:path');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const S = require('../integration/server');
const { onBlocks, dataOf } = require('../support/sse');

const PG_DIR = process.env.VEXIL_TEST_PG_DIR || '';
const PG_SH = path.join(S.REPO_ROOT, 'tests', 'support', 'pg.sh');

const started = new Set();

// Stops every replica startReplicas started that is still running (call it
// from test.after: a running child keeps node from exiting).
async function stopAll() {
  const all = [...started];
  started.clear();
  await Promise.all(all.map((s) => s.stop()));
}

// Starts `n` replicas on one database (the same dbPath, so with
// VEXIL_IT_PG_DSN the same PostgreSQL database) and the same tokens.
async function startReplicas(n, opts = {}) {
  const dir = S.tempDir('vexil-rep-');
  const dbPath = path.join(dir, 'vexil.db');
  const adminTokens = [S.adminSecret()];
  const clientTokens = [S.clientSecret('default', 'production')];
  const out = [];
  for (let i = 0; i < n; i++) {
    // One after the other: the first applies the migrations and seeds.
    const srv = await S.startServer({ dbPath, adminTokens, clientTokens, env: opts.env || {} });
    started.add(srv);
    out.push(srv);
  }
  return out;
}

// The production client-features flags of `srv` as {name: enabled}.
async function clientFlags(srv) {
  const r = await S.request(srv.url, 'GET', '/api/client/features', { token: srv.clientTokens[0] });
  if (r.status !== 200 || !r.json || !Array.isArray(r.json.features)) {
    throw new Error(`GET /api/client/features on ${srv.url}: expected 200, got ${S.show(r)}`);
  }
  const flags = {};
  for (const f of r.json.features) flags[f.name] = f.enabled;
  return flags;
}

// Polls `srv`'s /api/client/features until `pred(flags)` holds; resolves
// with the time (performance.now()) it was first seen, or rejects after
// timeoutMs.
async function waitFeatures(srv, pred, timeoutMs = 5000, what = 'state') {
  const deadline = performance.now() + timeoutMs;
  let last;
  for (;;) {
    last = await clientFlags(srv);
    const t = performance.now();
    if (pred(last)) return t;
    if (t > deadline) {
      throw new Error(`${srv.url}: ${what} not seen on /api/client/features within ${timeoutMs} ms; last: ${JSON.stringify(last).slice(0, 400)}`);
    }
    await S.sleep(2);
  }
}

// A streaming client on GET /api/client/streaming of `srv`: keeps every
// flag's latest enabled state as the stream reports it, and lets a test
// wait for a state. close() ends it.
function openStream(srv) {
  const u = new URL(srv.url + '/api/client/streaming');
  const flags = {};
  const waiters = [];
  let ended = false;
  let ready;
  const connected = new Promise((r) => { ready = r; });
  const check = () => {
    const now = performance.now();
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i].pred(flags)) {
        waiters[i].resolve(now);
        waiters.splice(i, 1);
      }
    }
  };
  const onEvent = (block) => {
    const data = dataOf(block);
    if (!data) return;
    let msg;
    try { msg = JSON.parse(data); } catch (_e) { return; }
    for (const ev of msg.events || []) {
      for (const f of ev.features || []) flags[f.name] = f.enabled;
      if (ev.feature && typeof ev.feature === 'object') flags[ev.feature.name] = ev.feature.enabled;
      if (ev.type === 'feature-removed' && typeof ev.featureName === 'string') delete flags[ev.featureName];
    }
    ready();
    check();
  };
  const req = http.get({
    host: u.hostname, port: u.port, path: u.pathname, agent: false,
    headers: { Authorization: srv.clientTokens[0], Accept: 'text/event-stream' },
  }, (res) => {
    if (res.statusCode !== 200) {
      ended = true;
      for (const w of waiters) w.reject(new Error(`streaming on ${srv.url}: status ${res.statusCode}`));
      return;
    }
    onBlocks(res, onEvent);
    res.on('end', () => { ended = true; });
  });
  req.on('error', () => { ended = true; });
  return {
    flags,
    connected,
    get ended() { return ended; },
    // Resolves with the time the state was first seen (at once if it is).
    waitFor(pred, timeoutMs = 5000, what = 'state') {
      if (pred(flags)) return Promise.resolve(performance.now());
      return new Promise((resolve, reject) => {
        const w = { pred, resolve, reject };
        waiters.push(w);
        const timer = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) {
            waiters.splice(i, 1);
            reject(new Error(`${srv.url}: ${what} not seen on the stream within ${timeoutMs} ms; have ${JSON.stringify(flags).slice(0, 400)}`));
          }
        }, timeoutMs);
        w.resolve = (t) => { clearTimeout(timer); resolve(t); };
        w.reject = (e) => { clearTimeout(timer); reject(e); };
      });
    },
    close() { req.destroy(); },
  };
}

// One GET /api/client/streaming with `token`: resolves with {status,
// headers, text (the first data, or the error body), res, req} once the
// answer starts (status 0 when the request failed); req.destroy() closes it.
function streamRequest(srv, token, headers = {}) {
  let req;
  const p = new Promise((resolve) => {
    req = http.get(srv.url + '/api/client/streaming', { agent: false, headers: { Authorization: token, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      const done = () => resolve({ status: res.statusCode, headers: res.headers, text, res, req });
      if (res.statusCode !== 200) {
        res.on('data', (d) => { text += d; });
        res.on('end', done);
        return;
      }
      res.once('data', (d) => { text += d; done(); });
    });
    req.on('error', (e) => resolve({ status: 0, error: e, req }));
  });
  return p;
}

// Collects a stream's events until it ends: {events, ended (a promise
// resolving with the time the server ended it)}.
function follow(res) {
  const events = [];
  let endedAt = null;
  const ended = new Promise((resolve) => {
    const fin = () => { if (endedAt === null) { endedAt = performance.now(); resolve(endedAt); } };
    res.on('end', fin);
    res.on('close', fin);
    res.on('error', fin);
  });
  onBlocks(res, (block) => {
    const data = dataOf(block);
    if (data) events.push(data);
  });
  return { events, ended };
}

// Everything an SDK could compare, as one text: the features body plain,
// gzipped (bytes) and inlined, with ETags; a delta hydration and its ETag;
// the frontend answer.
async function servedBy(srv, client, frontend) {
  const raw = (p, headers) => new Promise((resolve, reject) => {
    http.get(srv.url + p, { agent: false, headers: { Authorization: client, ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, etag: res.headers.etag, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
  const plain = await raw('/api/client/features', { 'Unleash-Client-Spec': '5.0.0' });
  const gz = await raw('/api/client/features', { 'Unleash-Client-Spec': '5.0.0', 'Accept-Encoding': 'gzip' });
  const inl = await raw('/api/client/features', {});
  const delta = await raw('/api/client/delta', {});
  const fe = await S.request(srv.url, 'GET', '/api/frontend?userId=7', { token: frontend });
  assert.equal(plain.status, 200);
  return [plain.etag, plain.body.toString(), gz.etag, gz.body.toString('base64'), inl.etag,
    inl.body.toString(), delta.etag, delta.body.toString(), fe.headers.get('etag'), fe.text].join('\n');
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function summary(ms) {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] };
}

function pgControl(what) {
  if (!PG_DIR) throw new Error('VEXIL_TEST_PG_DIR is not set (run under make store-pg)');
  execFileSync(PG_SH, [what, PG_DIR], { stdio: ['ignore', 'ignore', 'inherit'] });
}

const F = (f) => `/api/admin/projects/default/features/${encodeURIComponent(f)}`;
const toggle = (srv, flag, on) => srv.api('POST', `${F(flag)}/environments/production/${on ? 'on' : 'off'}`);

module.exports = {
  PG_DIR, startReplicas, stopAll, clientFlags, waitFeatures, openStream, streamRequest, follow, servedBy,
  summary, pgControl, F, toggle,
};
