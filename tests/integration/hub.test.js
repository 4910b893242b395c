'use strict';
// The SDK state (src/hub, docs/internals/hub.md) against the real binary:
// flags that libvexil refuses, written straight into the database, are set
// aside one by one and reported (admin API, /ready, log, metric) while the
// rest is served and keeps changing; streams have caps (429 per token, 503
// in all, with Retry-After) and a closed stream is released within a
// second, so a client opening and closing streams in a loop cannot fill
// the server; revoking a token or its expiry ends its open streams; two
// servers on one database, or one restarted, serve the same bytes.
//
//   tests/integration/run.sh tests/integration/hub.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const S = require('./server');
const R = require('../replicas/replicas');

test.after(() => R.stopAll());

const F = (f) => `/api/admin/projects/default/features/${encodeURIComponent(f)}`;
const E = (f, env = 'production') => `${F(f)}/environments/${env}`;

async function ok(srv, method, p, body) {
  const r = await srv.api(method, p, body === undefined ? {} : { body });
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${p}: ${S.show(r)}`);
  return r.json;
}

const corrupt = S.corruptFlag;

async function metric(srv, name) {
  const r = await S.request(srv.url, 'GET', '/metrics');
  const out = {};
  for (const line of r.text.split('\n')) {
    if (line.startsWith(name)) {
      const [k, v] = line.split(' ');
      out[k] = Number(v);
    }
  }
  return out;
}

const streaming = async (srv) => (await metric(srv, 'vexil_sdk_streaming_clients'))['vexil_sdk_streaming_clients'];

test('bad rows in the database set one flag aside: reported, the rest served and changing', async () => {
  const client = S.clientSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [client] });
  for (const f of ['good', 'bad-regex', 'bad-override', 'bad-deps']) await ok(srv, 'POST', '/api/admin/projects/default/features', { name: f });
  await ok(srv, 'POST', `${E('good')}/on`);
  await ok(srv, 'POST', `${E('bad-regex')}/strategies`, {
    name: 'default', constraints: [{ contextName: 'email', operator: 'REGEX', value: 'PLACEHOLDER_REGEX' }] });
  await ok(srv, 'PUT', `${E('bad-override')}/variants`, [{ name: 'a', weightType: 'variable',
    overrides: [{ contextName: 'PLACEHOLDER_CTX', values: ['x'] }] }]);
  await ok(srv, 'POST', `${E('bad-regex')}/on`);
  await ok(srv, 'POST', `${E('bad-deps')}/on`);
  await srv.stop();
  // What an older version, or anything else, may have written.
  corrupt(srv, 'bad-regex', 'PLACEHOLDER_REGEX', 'a'.repeat(4100));
  corrupt(srv, 'bad-override', 'PLACEHOLDER_CTX', 'c'.repeat(1100));
  const deps = JSON.stringify(Array.from({ length: 101 }, (_, i) => ({ feature: `p${i}`, enabled: true })));
  corrupt(srv, 'bad-deps', '"dependencies":[]', `"dependencies":${deps}`);

  const again = await S.startServer({ dbPath: srv.dbPath, adminTokens: srv.adminTokens, clientTokens: [client] });
  // One log line per flag set aside (production: three; development: the
  // dependencies, which are the flag's own).
  const lines = S.stderrLines(again.stderr).filter((l) => /is set aside/.test(l));
  for (const f of ['bad-regex', 'bad-override', 'bad-deps']) {
    assert.equal(lines.filter((l) => l.includes(`'production'`) && l.includes(`flag '${f}'`)).length, 1, lines.join('\n'));
  }
  assert.match(lines.find((l) => l.includes('bad-regex')), /strategies\/0\/constraints\/0\/value.*4096/);

  // The rest is served, on every SDK endpoint.
  const feats = await S.request(again.url, 'GET', '/api/client/features', { token: client });
  assert.equal(feats.status, 200, S.show(feats));
  assert.deepEqual(feats.json.features.map((f) => f.name).sort(), ['good']);
  const ofrep = await S.request(again.url, 'POST', '/ofrep/v1/evaluate/flags/good', { token: client, body: { context: { targetingKey: 'u' } } });
  assert.equal(ofrep.status, 200, S.show(ofrep));
  assert.equal(ofrep.json.value, true);

  // Reported: admin API, /ready (200, degraded), metric.
  const health = await again.api('GET', '/api/admin/sdk-health');
  assert.equal(health.status, 200, S.show(health));
  assert.equal(health.json.flagsSetAside, 4);
  const prod = health.json.environments.find((e) => e.name === 'production');
  assert.deepEqual(prod.flagsSetAside.map((f) => f.name).sort(), ['bad-deps', 'bad-override', 'bad-regex']);
  const regex = prod.flagsSetAside.find((f) => f.name === 'bad-regex');
  assert.equal(regex.path, '/strategies/0/constraints/0/value');
  assert.equal(regex.project, 'default');
  assert.equal((await again.api('GET', '/api/admin/sdk-health', { token: client })).status, 403);
  const ready = await S.request(again.url, 'GET', '/ready');
  assert.equal(ready.status, 200, S.show(ready));
  assert.equal(ready.json.degraded, true);
  assert.ok(ready.json.details.some((d) => d.path === '/environments/production/flags/bad-regex'), S.show(ready));
  const m = await metric(again, 'vexil_sdk_flags_set_aside');
  assert.equal(m['vexil_sdk_flags_set_aside{environment="production"}'], 3);
  assert.equal(m['vexil_sdk_flags_set_aside{environment="development"}'], 1);

  // Changes keep landing: a kill switch, a new flag.
  await ok(again, 'POST', `${E('good')}/off`);
  await ok(again, 'POST', '/api/admin/projects/default/features', { name: 'later' });
  const after = await S.request(again.url, 'GET', '/api/client/features', { token: client });
  assert.deepEqual(after.json.features.map((f) => [f.name, f.enabled]), [['good', false], ['later', false]]);
  await again.stop();
});

test('stream caps: 429 per token, 503 in all, with Retry-After; polls and /health still answer', async () => {
  const t1 = S.clientSecret('default', 'production');
  const t2 = S.clientSecret('default', 'production');
  const t3 = S.clientSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [t1, t2, t3],
    env: { VEXIL_MAX_STREAMS: '3', VEXIL_MAX_STREAMS_PER_TOKEN: '2' } });
  const open = [];
  try {
    for (const t of [t1, t1]) {
      const s = await R.streamRequest(srv, t);
      open.push(s);
      assert.equal(s.status, 200);
    }
    const third = await R.streamRequest(srv, t1);
    assert.equal(third.status, 429, third.text);
    assert.ok(Number(third.headers['retry-after']) > 0);
    const other = await R.streamRequest(srv, t2);
    open.push(other);
    assert.equal(other.status, 200);
    const full = await R.streamRequest(srv, t3);
    assert.equal(full.status, 503, full.text);
    assert.ok(Number(full.headers['retry-after']) > 0);
    assert.match(JSON.parse(full.text).message, /streaming/);
    // Ordinary requests are not held back by streams.
    assert.equal((await S.request(srv.url, 'GET', '/health')).status, 200);
    assert.equal((await S.request(srv.url, 'GET', '/api/client/features', { token: t3 })).status, 200);
    const refused = await metric(srv, 'vexil_sdk_streams_refused_total');
    assert.equal(refused.vexil_sdk_streams_refused_total, 2);
  } finally {
    for (const s of open) s.req.destroy();
  }
  await srv.stop();
});

test('a closed stream is released within a second; a client opening and closing streams stays bounded', async () => {
  const client = S.clientSecret('default', 'production');
  // The per-token cap this test holds the flood to (the default follows
  // --max-connections and is far above what 16 loops reach).
  const srv = await S.startServer({ clientTokens: [client], env: { VEXIL_MAX_STREAMS_PER_TOKEN: '256' } });
  // One stream closed by its client: released long before a heartbeat.
  const one = await R.streamRequest(srv, client);
  assert.equal(one.status, 200);
  assert.equal(await streaming(srv), 1);
  const t0 = performance.now();
  one.req.destroy();
  let n = 1;
  while (n > 0 && performance.now() - t0 < 10000) {
    await S.sleep(50);
    n = await streaming(srv);
  }
  const took = performance.now() - t0;
  console.log(`# closed stream released in ${took.toFixed(0)} ms`);
  assert.equal(n, 0);
  assert.ok(took < 3000, `released after ${took.toFixed(0)} ms (contract: 1 s; heartbeats every 15 s)`);

  // One token opening and closing streams as fast as it can for 4 s.
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${srv.proc.pid}/status`, 'utf8'))[1]) / 1024;
  const rss0 = rss();
  let stop = false;
  let opened = 0;
  let peak = 0;
  const worker = async () => {
    while (!stop) {
      const s = await R.streamRequest(srv, client);
      if (s.status === 200) opened++;
      s.req.destroy();
    }
  };
  const health = [];
  const prober = async () => {
    while (!stop) {
      const h0 = performance.now();
      const r = await S.request(srv.url, 'GET', '/health');
      health.push([r.status, performance.now() - h0]);
      peak = Math.max(peak, await streaming(srv));
      await S.sleep(100);
    }
  };
  const end = S.sleep(4000).then(() => { stop = true; });
  await Promise.all([end, prober(), ...Array.from({ length: 16 }, worker)]);
  let left = await streaming(srv);
  const t1 = performance.now();
  while (left > 0 && performance.now() - t1 < 10000) {
    await S.sleep(100);
    left = await streaming(srv);
  }
  const grew = rss() - rss0;
  const slow = health.filter(([st, ms]) => st !== 200 || ms > 2000);
  console.log(`# ${opened} streams opened and closed in 4 s; at most ${peak} open; ` +
    `all released ${(performance.now() - t1).toFixed(0)} ms after; RSS +${grew.toFixed(1)} MB; ` +
    `/health worst ${Math.max(...health.map(([, ms]) => ms)).toFixed(0)} ms`);
  assert.ok(opened > 50, `only ${opened} streams opened`);
  assert.ok(health.length > 10 && slow.length === 0, `/health: ${JSON.stringify(slow)}`);
  assert.ok(peak <= 256, `${peak} streams open at once (the per-token cap is 256)`);
  assert.equal(left, 0, 'every closed stream is released');
  // (A sanitized build keeps freed memory in quarantine: RSS says nothing.)
  const sanitized = fs.readFileSync(S.vexilBin()).includes('AddressSanitizer');
  assert.ok(sanitized || grew < 40, `RSS grew ${grew.toFixed(1)} MB`);
  await srv.stop();
});

test('revoking a token, or its expiry, ends its open streams; nothing is sent to it after', async () => {
  const srv = await S.startServer();
  const mk = async (extra = {}) => ok(srv, 'POST', '/api/admin/api-tokens',
    { tokenName: 'stream', type: 'client', environment: 'production', projects: ['*'], ...extra });
  const tok = await mk();
  const s = await R.streamRequest(srv, tok.secret);
  assert.equal(s.status, 200);
  const f = R.follow(s.res);
  await ok(srv, 'POST', '/api/admin/projects/default/features', { name: 'seen', description: 'before' });
  await S.sleep(300);
  assert.ok(f.events.some((e) => e.includes('"seen"')), 'a change before the revocation arrives');
  const t0 = performance.now();
  await ok(srv, 'DELETE', `/api/admin/api-tokens/${tok.id}`);
  const endedAt = await Promise.race([f.ended, S.sleep(10000).then(() => null)]);
  assert.ok(endedAt !== null, 'the stream was not ended');
  console.log(`# revoked: stream ended ${(endedAt - t0).toFixed(0)} ms after the DELETE answered`);
  assert.ok(endedAt - t0 < 3000, `ended after ${(endedAt - t0).toFixed(0)} ms`);
  const count = f.events.length;
  await ok(srv, 'POST', '/api/admin/projects/default/features', { name: 'after-revocation', description: 'secret plan' });
  await S.sleep(300);
  assert.equal(f.events.length, count);
  assert.ok(!f.events.some((e) => e.includes('secret plan')));
  assert.equal((await R.streamRequest(srv, tok.secret)).status, 401);

  // Expiry: a token valid for two more seconds.
  const short = await mk({ expiresAt: new Date(Date.now() + 2000).toISOString() });
  const s2 = await R.streamRequest(srv, short.secret);
  assert.equal(s2.status, 200);
  const t2 = performance.now();
  const f2 = R.follow(s2.res);
  const ended2 = await Promise.race([f2.ended, S.sleep(12000).then(() => null)]);
  assert.ok(ended2 !== null, 'the stream of an expired token was not ended');
  console.log(`# expired: stream ended ${(ended2 - t2).toFixed(0)} ms after it opened (token valid 2 s)`);
  assert.ok(ended2 - t2 < 2000 + 3000);
  await srv.stop();
});

test('two servers on one database, and a restarted one, serve the same bytes; a poll on the other gets 304', async () => {
  const [a, b] = await R.startReplicas(2, { env: { VEXIL_SDK_POLL_MS: '100' } });
  const client = a.clientTokens[0];
  const fe = await ok(a, 'POST', '/api/admin/api-tokens', { tokenName: 'fe', type: 'frontend', environment: 'production', projects: ['*'] });
  const read = () => R.clientFlags(a); // A's SDKs read after each write
  // Writes each server sees differently: flags one after the other, one
  // archived and revived, a change in another environment, a token.
  for (const f of ['zeta', 'alpha', 'mid']) {
    await ok(a, 'POST', '/api/admin/projects/default/features', { name: f });
    await read();
  }
  await ok(a, 'POST', `${E('alpha')}/on`);
  await read();
  await ok(a, 'DELETE', F('zeta'));
  await read();
  await ok(a, 'POST', '/api/admin/archive/revive/zeta');
  await read();
  await ok(a, 'POST', `${E('mid', 'development')}/on`);
  await read();
  await ok(a, 'POST', '/api/admin/api-tokens', { tokenName: 'late', type: 'client', environment: 'production', projects: ['*'] });
  await read();
  let sa;
  let sb;
  const deadline = performance.now() + 5000;
  do {
    await S.sleep(100);
    sa = await R.servedBy(a, client, fe.secret);
    sb = await R.servedBy(b, client, fe.secret);
  } while (sa !== sb && performance.now() < deadline);
  assert.equal(sb, sa, 'the other server serves other bytes');
  // A poll that lands on the other server with this one's ETag: 304.
  const etag = (await S.request(a.url, 'GET', '/api/client/features', { token: client })).headers.get('etag');
  const other = await S.request(b.url, 'GET', '/api/client/features', { token: client, headers: { 'If-None-Match': etag } });
  assert.equal(other.status, 304);
  // A restarted server too.
  await b.stop();
  const c = await S.startServer({ dbPath: a.dbPath, adminTokens: a.adminTokens, clientTokens: a.clientTokens });
  assert.equal(await R.servedBy(c, client, fe.secret), sa, 'a restarted server serves other bytes');
  await c.stop();
});

test('revoking a token on one server ends its stream on the other', async () => {
  const [a, b] = await R.startReplicas(2, { env: { VEXIL_SDK_POLL_MS: '100' } });
  const tok = await ok(a, 'POST', '/api/admin/api-tokens', { tokenName: 'far', type: 'client', environment: 'production', projects: ['*'] });
  const s = await R.streamRequest(b, tok.secret);
  assert.equal(s.status, 200, s.text);
  const f = R.follow(s.res);
  const t0 = performance.now();
  await ok(a, 'DELETE', `/api/admin/api-tokens/${tok.id}`);
  const endedAt = await Promise.race([f.ended, S.sleep(10000).then(() => null)]);
  assert.ok(endedAt !== null, 'the stream on the other server was not ended');
  console.log(`# revoked on A: stream on B ended after ${(endedAt - t0).toFixed(0)} ms (B polls every 100 ms)`);
  assert.ok(endedAt - t0 < 3000);
  const count = f.events.length;
  await ok(a, 'POST', '/api/admin/projects/default/features', { name: 'after', description: 'not for it' });
  await S.sleep(500);
  assert.equal(f.events.length, count);
});

test('vexil serve --help lists the stream caps; max-streams must leave connections free', () => {
  const help = execFileSync(S.vexilBin(), ['serve', '--help'], { encoding: 'utf8' });
  assert.match(help, /--max-streams N/);
  assert.match(help, /--max-streams-per-token N/);
  let err = '';
  try {
    execFileSync(S.vexilBin(), ['serve', '--port', '0', '--max-connections', '10', '--max-streams', '10',
      '--database', `sqlite:${path.join(S.tempDir(), 'x.db')}`], { encoding: 'utf8', timeout: 10000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    err = e.stderr;
  }
  assert.match(err, /max-streams/);
});
