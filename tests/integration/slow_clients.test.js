'use strict';
// Slow and numerous clients (docs/operations.md, "Connections and slow
// clients"), all on 127.0.0.1:
//   - 1,100 connections that trickle one header line every 500 ms: a
//     normal client is still answered within a second, and every trickling
//     connection is closed at the header deadline;
//   - 2,000 honest clients at once are all answered (default limits), and
//     with --max-connections 400 all of them are still answered within
//     bounded time while the server never holds more than 400;
//   - one address past --max-per-address is refused at once,
//     another address is served;
//   - a body that trickles is cut at the body deadline, while a streaming
//     connection and a slow model answer outlive both deadlines.
//
//   node --test tests/integration/slow_clients.test.js     (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const http = require('node:http');
const { startServer, clientSecret, sleep, removeTempDir } = require('./server');
const { startModelServer } = require('../support/model_server');

const started = [];
async function serve(opts) {
  const srv = await startServer(opts);
  started.push(srv);
  return srv;
}

test.after(async () => {
  for (const s of started) {
    await s.stop('SIGTERM');
    removeTempDir(s.dir);
  }
});

// One GET on a connection of its own; resolves {status, ms} or {error, ms}.
function getOnce(url, path, { headers = {}, timeoutMs = 5000, localAddress } = {}) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = http.get({ host: u.hostname, port: u.port, path, headers, agent: false, localAddress }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: Date.now() - t0 }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.message || e.code, ms: Date.now() - t0 }));
  });
}

// A connection that sends a request line, then one header line every
// `everyMs`, never finishing its headers. Records when the server closed it.
function trickle(port, everyMs) {
  const c = { closedAt: 0, openedAt: Date.now() };
  const sock = net.connect(port, '127.0.0.1');
  let n = 0;
  let timer = null;
  sock.on('connect', () => {
    c.openedAt = Date.now();
    sock.write('GET /health HTTP/1.1\r\nHost: vexil.test\r\n');
    timer = setInterval(() => { if (!sock.destroyed) sock.write(`X-Trickle-${n++}: y\r\n`); }, everyMs);
  });
  const gone = () => {
    if (!c.closedAt) c.closedAt = Date.now();
    clearInterval(timer);
  };
  sock.on('end', gone);
  sock.on('close', gone);
  sock.on('error', gone);
  c.destroy = () => { clearInterval(timer); sock.destroy(); };
  return c;
}

// Counts the server's open descriptors (Linux).
function openFds(pid) {
  try { return fs.readdirSync(`/proc/${pid}/fd`).length; } catch (_e) { return -1; }
}

test('1,100 trickling connections: a normal client is answered within 1 s, the trickle is cut at the header deadline', async () => {
  const HEADER_MS = 2000;
  const srv = await serve({ env: { VEXIL_HEADER_TIMEOUT_MS: String(HEADER_MS), VEXIL_LOG_REQUESTS: 'off' } });
  const conns = [];
  for (let i = 0; i < 1100; i += 100) {
    for (let k = 0; k < 100; k++) conns.push(trickle(srv.port, 500));
    await sleep(20);
  }
  const t0 = Date.now();
  const probes = [];
  while (Date.now() - t0 < HEADER_MS + 1500) {
    probes.push(await getOnce(srv.url, '/health', { timeoutMs: 3000 }));
    await sleep(250);
  }
  // Cut at the deadline (plus the watchdog's period and a loaded machine).
  const until = Date.now() + 4000;
  while (conns.some((c) => !c.closedAt) && Date.now() < until) await sleep(100);
  const open = conns.filter((c) => !c.closedAt).length;
  const late = conns.filter((c) => c.closedAt && c.closedAt - c.openedAt > HEADER_MS + 3000).length;
  conns.forEach((c) => c.destroy());
  const slow = probes.filter((p) => p.status !== 200 || p.ms > 1000);
  assert.deepEqual(slow, [], `normal requests not answered within 1 s: ${JSON.stringify(slow)}`);
  assert.equal(open, 0, `${open} trickling connection(s) still open ${HEADER_MS} ms + 4 s after they began`);
  assert.equal(late, 0, `${late} trickling connection(s) closed long after the deadline`);
  const m = await getOnce(srv.url, '/health');
  assert.equal(m.status, 200);
  const metrics = await srv.api('GET', '/metrics');
  const cut = /vexil_http_connections_closed_total\{reason="header_timeout"\} (\d+)/.exec(metrics.text);
  assert.ok(cut && Number(cut[1]) >= 1100, `metrics: ${cut && cut[0]}`);
});

// `n` clients with keep-alive, one request each, all at once.
async function crowd(srv, n, path, headers, deadlineMs) {
  // Every client keeps its connection open, as SDKs polling with
  // keep-alive do (maxFreeSockets: the agent would close most otherwise).
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: Infinity });
  const u = new URL(srv.url);
  const t0 = Date.now();
  const one = () => new Promise((resolve) => {
    const req = http.get({ host: u.hostname, port: u.port, path, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: Date.now() - t0 }));
    });
    req.setTimeout(deadlineMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.message, ms: Date.now() - t0 }));
  });
  const results = await Promise.all(Array.from({ length: n }, one));
  return { results, agent };
}

test('2,000 honest concurrent clients are all answered with the default limits', async () => {
  const token = clientSecret('default', 'production');
  const srv = await serve({ clientTokens: [token], env: { VEXIL_LOG_REQUESTS: 'off' } });
  const { results, agent } = await crowd(srv, 2000, '/api/client/features', { Authorization: token }, 15000);
  const failed = results.filter((r) => r.status !== 200);
  // While the 2,000 keep their connections open, a new client is served.
  const probe = await getOnce(srv.url, '/health');
  agent.destroy();
  assert.equal(failed.length, 0, `${failed.length} of 2000 failed, e.g. ${JSON.stringify(failed.slice(0, 3))}`);
  assert.equal(probe.status, 200);
  assert.ok(probe.ms <= 1000, `a new client waited ${probe.ms} ms`);
});

test('2,000 clients against --max-connections 400: bounded in count, all answered in bounded time', async () => {
  const token = clientSecret('default', 'production');
  const MAX = 400;
  const srv = await serve({
    clientTokens: [token],
    env: { VEXIL_MAX_CONNECTIONS: String(MAX), VEXIL_MAX_PER_ADDRESS: '0', VEXIL_LOG_REQUESTS: 'off' },
  });
  const base = openFds(srv.proc.pid);
  let peak = 0;
  const sampler = setInterval(() => { peak = Math.max(peak, openFds(srv.proc.pid)); }, 20);
  const { results, agent } = await crowd(srv, 2000, '/api/client/features', { Authorization: token }, 20000);
  clearInterval(sampler);
  agent.destroy();
  const failed = results.filter((r) => r.status !== 200);
  assert.equal(failed.length, 0, `${failed.length} of 2000 failed, e.g. ${JSON.stringify(failed.slice(0, 3))}`);
  if (base > 0) {
    // Descriptors besides connections (database, listener, pipes) are in
    // `base`; a few more may come and go.
    assert.ok(peak <= base + MAX + 16, `the server held ${peak} descriptors (${base} before, limit ${MAX})`);
  }
  const slowest = Math.max(...results.map((r) => r.ms));
  assert.ok(slowest < 20000, `slowest answer after ${slowest} ms`);
});

test('--max-per-address: past the cap one address is refused at once, another is served', async () => {
  const srv = await serve({ env: { VEXIL_MAX_PER_ADDRESS: '50', VEXIL_LOG_REQUESTS: 'off' } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const u = new URL(srv.url);
  const t0 = Date.now();
  const tries = await Promise.all(Array.from({ length: 60 }, () => new Promise((resolve) => {
    http.get({ host: u.hostname, port: u.port, path: '/health', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', (e) => resolve(e.code || e.message));
  })));
  const ms = Date.now() - t0;
  const other = await getOnce(srv.url, '/health', { localAddress: '127.0.0.2' });
  agent.destroy();
  // This test process may hold a connection or two already (the startup
  // probe's keep-alive), so "at most 50" rather than "exactly 50".
  const ok = tries.filter((t) => t === 200).length;
  assert.ok(ok <= 50 && ok >= 45, `${ok} of 60 connections from 127.0.0.1 were served: ${JSON.stringify(tries)}`);
  assert.ok(ms < 3000, `the refusals took ${ms} ms`);
  assert.equal(other.status, 200, `127.0.0.2: ${JSON.stringify(other)}`);
  assert.ok(other.ms <= 1000);
  await sleep(200);
  const again = await getOnce(srv.url, '/health');
  assert.equal(again.status, 200, 'once the 50 are gone, 127.0.0.1 is served again');
});

test('a trickling body is cut at the body deadline; streams and slow model answers are not', async () => {
  const model = await startModelServer({ models: ['slow-model'], latencyMs: 3000, chunkDelayMs: 400 });
  const token = clientSecret('default', 'production');
  try {
    const srv = await serve({
      clientTokens: [token],
      env: {
        VEXIL_HEADER_TIMEOUT_MS: '1000', VEXIL_BODY_TIMEOUT_MS: '1500',
        VEXIL_EGRESS_ALLOW: `127.0.0.1:${new URL(model.url).port}`, VEXIL_LOG_REQUESTS: 'off',
      },
    });
    // The body: 40 bytes announced, one every 200 ms.
    const body = JSON.stringify({ id: 'trickled-project-x', name: 'abcdefghi' });
    const sock = net.connect(srv.port, '127.0.0.1');
    let closedAt = 0;
    let answer = '';
    const t0 = Date.now();
    sock.on('data', (d) => { answer += d; });
    sock.on('close', () => { closedAt = Date.now(); });
    sock.on('error', () => {});
    sock.write(`POST /api/admin/projects HTTP/1.1\r\nHost: x\r\nAuthorization: ${srv.adminToken}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    let i = 0;
    const dribble = setInterval(() => { if (!sock.destroyed && i < body.length) sock.write(body[i++]); }, 200);

    // A stream opened now and a slow model call both outlive the deadlines.
    const events = [];
    const streamReq = http.get(`${srv.url}/api/client/streaming`, { headers: { Authorization: token } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d) => events.push(d));
    });
    streamReq.on('error', () => {});
    const EP = '/api/admin/projects/default/features/model.slow/environments/production';
    await srv.api('POST', '/api/admin/projects/default/features', { body: { name: 'model.slow' } });
    const payload = { type: 'json', value: JSON.stringify({ base_url: `${model.url}/v1`, model: 'slow-model' }) };
    const put = await srv.api('PUT', `${EP}/variants`, { body: [{ name: 'control', weight: 1000, weightType: 'variable', stickiness: 'default', payload }] });
    assert.equal(put.status, 200, put.text);
    const call = fetch(`${srv.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'slow', messages: [{ role: 'user', content: 'hi' }] }),
    }).then(async (r) => ({ status: r.status, text: await r.text(), ms: Date.now() - t0 }));
    const streamed = fetch(`${srv.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'hi there you' }] }),
    }).then(async (r) => ({ status: r.status, text: await r.text(), ms: Date.now() - t0 }));

    while (!closedAt && Date.now() - t0 < 6000) await sleep(50);
    clearInterval(dribble);
    sock.destroy();
    assert.ok(closedAt && closedAt - t0 < 4500, `the trickling body was not cut (closed after ${closedAt ? closedAt - t0 : 'never'} ms)`);
    assert.doesNotMatch(answer, /^HTTP\/1\.1 201/, 'the trickled project was created');
    const got = await srv.api('GET', '/api/admin/projects/trickled-project-x');
    assert.equal(got.status, 404);

    const whole = await call;
    assert.equal(whole.status, 200, whole.text);
    assert.ok(whole.ms > 2500, `the model answered after ${whole.ms} ms`);
    const s = await streamed;
    assert.equal(s.status, 200, s.text);
    assert.match(s.text, /data: \[DONE\]/);

    // The stream is still open, past both deadlines, and gets a change.
    await srv.api('POST', '/api/admin/projects/default/features', { body: { name: 'after-the-deadlines' } });
    const until = Date.now() + 3000;
    while (!events.join('').includes('after-the-deadlines') && Date.now() < until) await sleep(50);
    streamReq.destroy();
    assert.ok(events.join('').includes('after-the-deadlines'), 'the stream did not receive the change');
  } finally {
    await model.close();
  }
});
