'use strict';
// Helpers for the tests of `vexil edge` (docs/edge.md): starting an edge
// that follows a server (or another edge) started by
// tests/integration/server.js, waiting for its /ready, and restarting a
// server on the same port (an edge follows one URL). Every edge started
// here is killed when the test process exits.
//
// Environment: VEXIL_BIN (the binary), VEXIL_IT_KEEP=1 (keep the data
// directories), VEXIL_IT_READY_TIMEOUT_MS (as for servers).

const path = require('node:path');
const { spawn } = require('node:child_process');
const S = require('../integration/server');

const READY_TIMEOUT_MS = Number(process.env.VEXIL_IT_READY_TIMEOUT_MS || 10000);
const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch (_e) { /* gone */ }
  }
});
require('node:test').after(() => {
  setTimeout(() => {
    for (const p of live) {
      try { p.kill('SIGKILL'); } catch (_e) { /* gone */ }
    }
  }, 15000).unref();
});

// Starts `vexil edge --upstream <upstream.url>` with `tokens` and waits
// until GET /ready answers one of `readyStatuses` (default [200]).
// opts: dataDir (default a new temp dir; "" = memory only), port (default
// a free one), args, env, readyStatuses, bare (only `args` after "edge":
// the settings come from elsewhere, a config file or the environment). Returns {url, port, proc, dataDir,
// clientTokens (for the replica helpers), stderr, stop(), kill9(), exited}.
async function startEdge(upstream, tokens, opts = {}) {
  const bin = S.vexilBin();
  const dataDir = opts.dataDir !== undefined ? opts.dataDir : path.join(S.tempDir('vexil-edge-'), 'edge');
  const want = opts.readyStatuses || [200];
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = opts.port || await S.freePort();
    const args = opts.bare ? ['edge', ...(opts.args || [])]
      : ['edge', '--upstream', upstream.url || upstream, '--host', '127.0.0.1', '--port', String(port),
        '--data-dir', dataDir, '--log-requests', 'off', ...tokens.flatMap((t) => ['--token', t]), ...(opts.args || [])];
    const env = { ...process.env, ...(opts.env || {}) };
    const proc = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(proc);
    let stderr = '';
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => { stderr += d; });
    proc.stdout.resume();
    let exitInfo = null;
    const exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => { live.delete(proc); exitInfo = { code, signal }; resolve(exitInfo); });
      proc.on('error', (e) => { live.delete(proc); exitInfo = { code: null, signal: null, error: e }; resolve(exitInfo); });
    });
    const url = `http://127.0.0.1:${port}`;
    const edge = {
      url, port, proc, dataDir, bin, args, exited,
      clientTokens: tokens,
      get stderr() { return stderr; },
      get exitInfo() { return exitInfo; },
      api(method, p, o = {}) { return S.request(url, method, p, o); },
      // Sends `signal` and waits for the exit (SIGKILL after timeoutMs);
      // throws when a sanitizer reported anything (an ASan/UBSan build as
      // VEXIL_BIN) or a SIGTERM did not end the edge cleanly.
      async stop(signal = 'SIGTERM', timeoutMs = 10000) {
        if (!exitInfo) {
          proc.kill(signal);
          let timer;
          const t = new Promise((r) => { timer = setTimeout(() => r(null), timeoutMs); });
          const r = await Promise.race([exited, t]);
          clearTimeout(timer);
          if (r === null) {
            proc.kill('SIGKILL');
            await exited;
            throw new Error(`vexil edge did not stop within ${timeoutMs} ms after ${signal}\nstderr:\n${stderr.slice(-3000)}`);
          }
        }
        const at = stderr.search(/ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error: /);
        if (at >= 0) throw new Error(`vexil edge reported a sanitizer error:\n${stderr.slice(Math.max(0, at - 200), at + 6000)}`);
        if (signal === 'SIGTERM' && exitInfo.code !== 0 && exitInfo.signal !== 'SIGKILL') {
          throw new Error(`vexil edge exited with ${JSON.stringify(exitInfo)} after SIGTERM\nstderr:\n${stderr.slice(-3000)}`);
        }
        return exitInfo;
      },
      kill9() {
        if (exitInfo) return Promise.resolve(exitInfo);
        proc.kill('SIGKILL');
        return exited;
      },
    };
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = 'no answer';
    while (Date.now() < deadline && !exitInfo) {
      try {
        const r = await S.request(url, 'GET', '/ready');
        if (want.includes(r.status)) return edge;
        last = S.show(r);
      } catch (e) {
        last = e.cause ? `${e.cause.code || e.cause.message}` : e.message;
      }
      await S.sleep(50);
    }
    if (!exitInfo) {
      proc.kill('SIGKILL');
      await exited;
    }
    lastError = new Error(`vexil edge (${args.join(' ')}) not ready (${want}) within ${READY_TIMEOUT_MS} ms (last /ready: ${last})\nstderr:\n${stderr.slice(-3000)}`);
    if (!/in use|EADDRINUSE/i.test(stderr) || opts.port) break;
  }
  throw lastError;
}

// Starts a server on `srv`'s database, tokens and port again (after
// srv.stop()): the edges that follow it find it at the same URL.
function restartServer(srv, extra = {}) {
  return S.startServer({
    dbPath: srv.dbPath,
    adminTokens: srv.adminTokens,
    clientTokens: srv.clientTokens,
    frontendTokens: srv.frontendTokens,
    port: srv.port,
    args: extra.args || [],
    env: extra.env || {},
  });
}

// The value of Prometheus series `name` (with `labels`, e.g. 'state="up"')
// on `url`'s /metrics, or NaN.
async function metric(url, name, labels = '') {
  const r = await S.request(url, 'GET', '/metrics');
  for (const line of r.text.split('\n')) {
    if (labels ? line.startsWith(`${name}{`) && line.includes(labels) : line.startsWith(`${name} `)) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return NaN;
}

// Polls `pred()` every `every` ms until it holds (resolves with the time
// it took), else rejects after `ms` with `what()`.
async function until(pred, ms, what, every = 20) {
  const t0 = Date.now();
  for (;;) {
    if (await pred()) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms: ${typeof what === 'function' ? await what() : what}`);
    await S.sleep(every);
  }
}

module.exports = { startEdge, restartServer, metric, until };
