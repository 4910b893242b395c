'use strict';
// The C SDK (libvexil-client) end to end against the real `vexil serve`:
// tests/sdk/sdk_driver (a line-driven host of the SDK) is started against a
// server on a temporary SQLite database with a seeded client token, and the
// flags are changed through the admin API.
//
// Checked: the first fetch and evaluation; a change seen by polling and by
// streaming; 304 answers to unchanged polls (the SDK's counters and the
// server's /metrics); usage posted to /api/client/metrics and visible in
// /api/admin/client-metrics/features/{name}; the registration visible in
// /api/admin/metrics/applications; a start from the backup file while the
// server is down; recovery across a server restart on the same port.
//
// Environment: VEXIL_BIN (the server), VEXIL_SDK_DRIVER (the driver).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const { spawn } = require('node:child_process');
const it = require('../integration/server.js');

const DRIVER = process.env.VEXIL_SDK_DRIVER ||
  path.join(it.REPO_ROOT, 'build', 'tests', 'sdk_driver');

const live = new Set();
process.on('exit', () => { for (const p of live) { try { p.kill('SIGKILL'); } catch (_e) { /* gone */ } } });

// Starts the driver; returns {send(cmd) -> Promise<line>, quit(), log()}.
function driver(url, token, mode, { refresh = 100, metrics = 600000, backup = '-', app = 'sdk-test' } = {}) {
  const p = spawn(DRIVER, [url, token, mode, String(refresh), String(metrics), backup, app],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(p);
  let log = '';
  p.stderr.setEncoding('utf8');
  p.stderr.on('data', (d) => { log += d; });
  const rl = readline.createInterface({ input: p.stdout });
  const waiting = [];
  const lines = [];
  rl.on('line', (l) => { if (waiting.length) waiting.shift()(l); else lines.push(l); });
  const exited = new Promise((r) => p.on('exit', (code, sig) => { live.delete(p); r({ code, sig }); }));
  const send = (cmd) => new Promise((resolve, reject) => {
    if (lines.length) { resolve(lines.shift()); return; }
    const timer = setTimeout(() => reject(new Error(`driver: no answer to '${cmd}'\n${log.slice(-3000)}`)), 30000);
    waiting.push((l) => { clearTimeout(timer); resolve(l); });
    p.stdin.write(cmd + '\n');
  });
  return {
    send,
    get log() { return log; },
    async stats() {
      const l = await send('stats');
      const out = {};
      for (const kv of l.split(' ').slice(1)) {
        const [k, v] = kv.split('=');
        out[k] = /^\d+$/.test(v) ? Number(v) : v;
      }
      return out;
    },
    async quit() {
      const l = await send('quit');
      assert.equal(l, 'bye', log.slice(-2000));
      const x = await exited;
      assert.equal(x.code, 0, `driver exit ${JSON.stringify(x)}\n${log.slice(-2000)}`);
    },
  };
}

// `vexil serve` on a fixed port (so that a restart keeps the URL).
async function serve(port, dbPath, env) {
  const p = spawn(it.vexilBin(), ['serve', '--host', '127.0.0.1', '--port', String(port), '--database', `sqlite:${dbPath}`],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(p);
  let stderr = '';
  p.stderr.setEncoding('utf8');
  p.stderr.on('data', (d) => { stderr += d; });
  let stopping = false;
  const exited = new Promise((r) => p.on('exit', (code, sig) => {
    live.delete(p);
    // A crash (a sanitizer report, an abort) explains the failures that follow.
    if (!stopping) process.stderr.write(`vexil serve exited unexpectedly (${code} ${sig}):\n${stderr.slice(-6000)}\n`);
    r();
  }));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(url + '/ready');
      if (r.status === 200) break;
    } catch (_e) { /* not yet */ }
    await it.sleep(50);
  }
  return { url, async stop() { stopping = true; p.kill('SIGTERM'); await exited; }, get stderr() { return stderr; } };
}

async function admin(url, token, method, p, body) {
  const r = await it.request(url, method, p, { token, body });
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${p}: ${it.show(r)}`);
  return r;
}

const ENV = 'production';
const flagPath = (name) => `/api/admin/projects/default/features/${name}/environments/${ENV}`;

async function createFlag(url, token, name, on) {
  await admin(url, token, 'POST', '/api/admin/projects/default/features', { name });
  await admin(url, token, 'POST', `${flagPath(name)}/strategies`, { name: 'default', parameters: {} });
  if (on) await admin(url, token, 'POST', `${flagPath(name)}/on`);
}

async function setFlag(url, token, name, on) {
  await admin(url, token, 'POST', `${flagPath(name)}/${on ? 'on' : 'off'}`);
}

test('the C SDK against the real server', async (t) => {
  const dir = it.tempDir('vexil-sdk-');
  const dbPath = path.join(dir, 'vexil.db');
  const backup = path.join(dir, 'backup.json');
  const adminToken = it.adminSecret();
  const clientToken = it.clientSecret('default', ENV);
  const env = { INIT_ADMIN_API_TOKENS: adminToken, INIT_CLIENT_API_TOKENS: clientToken };
  const port = await it.freePort();
  let srv = await serve(port, dbPath, env);
  const api = `${srv.url}/api/`;
  await createFlag(srv.url, adminToken, 'sdk-on', true);
  await createFlag(srv.url, adminToken, 'sdk-flip', false);

  const poll = driver(api, clientToken, 'poll', { backup, app: 'sdk-poll' });
  const stream = driver(srv.url, clientToken, 'stream', { refresh: 60000, app: 'sdk-stream' });
  try {
    await t.test('initial fetch and evaluation', async () => {
      assert.equal(await poll.send('ready 10000'), 'ready 1', poll.log.slice(-2000));
      assert.equal(await poll.send('eval sdk-on u1'), 'eval on disabled');
      assert.equal(await poll.send('eval sdk-flip u1'), 'eval off disabled');
      assert.equal(await poll.send('eval no-such-flag u1'), 'eval off disabled');
      const s = await poll.stats();
      assert.equal(s.synchronized, 1);
      assert.equal(s.from_backup, 0);
      assert.ok(fs.existsSync(backup), 'the backup file is written');
      const doc = JSON.parse(fs.readFileSync(backup, 'utf8'));
      assert.deepEqual(doc.features.map((f) => f.name).sort(), ['sdk-flip', 'sdk-on']);
    });

    await t.test('unchanged polls are answered 304', async () => {
      await it.sleep(600);
      const s = await poll.stats();
      assert.ok(s.not_modified >= 2, `304s seen by the SDK: ${JSON.stringify(s)}`);
      assert.equal(s.updates, 1, 'a 304 publishes nothing');
      const m = await it.request(srv.url, 'GET', '/metrics');
      const line = m.text.split('\n').find((l) =>
        l.startsWith('vexil_http_requests_total{route="/api/client/features",method="GET",status="304"}'));
      assert.ok(line && Number(line.split(' ').pop()) >= 2, `server /metrics: ${line}`);
    });

    await t.test('streaming: the hydration arrives', async () => {
      assert.equal(await stream.send('ready 10000'), 'ready 1', stream.log.slice(-2000));
      assert.equal(await stream.send('eval sdk-on u1'), 'eval on disabled');
      const s = await stream.stats();
      assert.equal(s.mode, 'stream');
      assert.equal(s.stream_connects, 1);
      assert.equal(s.fetches, 0, 'no polling while streaming');
    });

    await t.test('a change through the admin API reaches polling and streaming', async () => {
      const t0 = Date.now();
      await setFlag(srv.url, adminToken, 'sdk-flip', true);
      assert.equal(await stream.send('wait sdk-flip on 5000'), 'wait ok', stream.log.slice(-2000));
      const streamMs = Date.now() - t0;
      assert.equal(await poll.send('wait sdk-flip on 5000'), 'wait ok', poll.log.slice(-2000));
      t.diagnostic(`change seen by streaming after ${streamMs} ms, polling (100 ms) after ${Date.now() - t0} ms`);
      await setFlag(srv.url, adminToken, 'sdk-flip', false);
      assert.equal(await stream.send('wait sdk-flip off 5000'), 'wait ok');
      assert.equal(await poll.send('wait sdk-flip off 5000'), 'wait ok');
      const s = await stream.stats();
      assert.ok(s.stream_events >= 3, `hydration + 2 updates: ${JSON.stringify(s)}`);
      assert.equal(s.stream_connects, 1, 'one connection carried every change');
    });

    await t.test('usage metrics are posted and visible', async () => {
      for (let i = 0; i < 3; i++) assert.equal(await poll.send('eval sdk-on u' + i), 'eval on disabled');
      assert.equal(await poll.send('eval sdk-flip u9'), 'eval off disabled');
      assert.equal(await poll.send('flush 5000'), 'flush ok', poll.log.slice(-2000));
      const r = await it.request(srv.url, 'GET', '/api/admin/client-metrics/features/sdk-on', { token: adminToken });
      assert.equal(r.status, 200, it.show(r));
      const rows = r.json.usage.filter((u) => u.appName === 'sdk-poll');
      const yes = rows.reduce((a, u) => a + u.yes, 0);
      const no = rows.reduce((a, u) => a + u.no, 0);
      // 1 + 3 evaluations, each counted by is_enabled and by get_variant.
      assert.equal(yes, 8, JSON.stringify(r.json));
      assert.equal(no, 0);
      assert.equal(rows[0].variants.disabled, 4, JSON.stringify(rows));
      const f = await it.request(srv.url, 'GET', '/api/admin/client-metrics/features/sdk-flip', { token: adminToken });
      const flipNo = f.json.usage.filter((u) => u.appName === 'sdk-poll').reduce((a, u) => a + u.no, 0);
      assert.equal(flipNo, 4, JSON.stringify(f.json));
    });

    await t.test('the registration is visible', async () => {
      const r = await it.request(srv.url, 'GET', '/api/admin/metrics/applications', { token: adminToken });
      assert.equal(r.status, 200, it.show(r));
      const apps = r.json.applications;
      const mine = apps.find((a) => a.appName === 'sdk-poll');
      assert.ok(mine, JSON.stringify(apps));
      assert.match(mine.sdkVersion, /^vexil-c:\d+\.\d+\.\d+$/);
      assert.ok(mine.strategies.includes('flexibleRollout'));
      assert.ok(apps.find((a) => a.appName === 'sdk-stream'), 'the streaming client registered too');
    });

    await t.test('recovery across a server restart', async () => {
      await srv.stop();
      await it.sleep(400);
      // The last snapshot keeps answering while the server is down.
      assert.equal(await poll.send('eval sdk-on u1'), 'eval on disabled');
      assert.equal(await stream.send('eval sdk-on u1'), 'eval on disabled');
      const down = await poll.stats();
      assert.ok(down.fetch_errors >= 1, JSON.stringify(down));
      srv = await serve(port, dbPath, env);
      await setFlag(srv.url, adminToken, 'sdk-flip', true);
      assert.equal(await poll.send('wait sdk-flip on 8000'), 'wait ok', poll.log.slice(-3000));
      assert.equal(await stream.send('wait sdk-flip on 8000'), 'wait ok', stream.log.slice(-3000));
      const s = await stream.stats();
      assert.ok(s.stream_connects >= 2, `reconnected: ${JSON.stringify(s)}`);
    });

    await t.test('the final metrics are posted at close', async () => {
      assert.equal(await stream.send('eval sdk-flip u1'), 'eval on disabled');
      await stream.quit();
      const r = await it.request(srv.url, 'GET', '/api/admin/client-metrics/features/sdk-flip', { token: adminToken });
      const yes = r.json.usage.filter((u) => u.appName === 'sdk-stream').reduce((a, u) => a + u.yes, 0);
      assert.equal(yes, 2, JSON.stringify(r.json));
    });

    await t.test('start from the backup file while the server is down', async () => {
      await poll.quit();
      await srv.stop();
      const doc = JSON.parse(fs.readFileSync(backup, 'utf8'));
      assert.equal(doc.features.find((f) => f.name === 'sdk-flip').enabled, true, 'the backup has the last state');
      const off = driver(api, clientToken, 'poll', { backup, app: 'sdk-offline' });
      assert.equal(await off.send('ready 5000'), 'ready 1', off.log.slice(-2000));
      const s = await off.stats();
      assert.equal(s.from_backup, 1);
      assert.equal(s.synchronized, 0);
      assert.equal(await off.send('eval sdk-flip u1'), 'eval on disabled');
      // The server comes back: the SDK fetches and leaves the backup.
      srv = await serve(port, dbPath, env);
      await setFlag(srv.url, adminToken, 'sdk-flip', false);
      assert.equal(await off.send('wait sdk-flip off 8000'), 'wait ok', off.log.slice(-2000));
      const s2 = await off.stats();
      assert.equal(s2.from_backup, 0);
      assert.equal(s2.synchronized, 1);
      await off.quit();
      // A streaming client also starts from the backup.
      await srv.stop();
      const offs = driver(api, clientToken, 'stream', { backup, app: 'sdk-offline' });
      assert.equal(await offs.send('ready 5000'), 'ready 1', offs.log.slice(-2000));
      assert.equal((await offs.stats()).from_backup, 1);
      await offs.quit();
    });

    await t.test('a streaming client keeps a backup it can start from', async () => {
      srv = await serve(port, dbPath, env);
      const sb = path.join(dir, 'stream-backup.json');
      const s1 = driver(api, clientToken, 'stream', { backup: sb, app: 'sdk-sb' });
      assert.equal(await s1.send('ready 5000'), 'ready 1');
      await setFlag(srv.url, adminToken, 'sdk-flip', true);
      assert.equal(await s1.send('wait sdk-flip on 5000'), 'wait ok');
      await it.sleep(100);
      await s1.quit();
      await srv.stop();
      const s2 = driver(api, clientToken, 'poll', { backup: sb, app: 'sdk-sb' });
      assert.equal(await s2.send('ready 5000'), 'ready 1', s2.log.slice(-2000));
      assert.equal((await s2.stats()).from_backup, 1);
      assert.equal(await s2.send('eval sdk-flip u1'), 'eval on disabled');
      await s2.quit();
    });

    await t.test('a refused token is reported, never crashes', async () => {
      srv = await serve(port, dbPath, env);
      const bad = driver(api, it.clientSecret('default', ENV), 'stream', { app: 'sdk-bad' });
      await it.sleep(800);
      const s = await bad.stats();
      assert.equal(s.ready, 0);
      assert.equal(s.mode, 'poll', 'a 401 on the stream falls back to polling');
      assert.match(bad.log, /401/);
      await bad.quit();
      await srv.stop();
    });
  } finally {
    for (const p of live) { if (p !== undefined) p.kill('SIGKILL'); }
  }
});
