'use strict';
// Helpers shared by the end-to-end tests of `vexil serve` (docs/admin-api.md):
// starting a server on a temporary SQLite database, waiting for /ready,
// calling the API, and cleaning up. Every server started here is killed,
// and every temporary directory removed, when the test process exits.
//
// Environment:
//   VEXIL_BIN                 the binary under test (default build/src/cli/vexil)
//   VEXIL_IT_KEEP=1           keep the temporary directories (databases, logs)
//   VEXIL_IT_READY_TIMEOUT_MS time allowed for GET /ready to answer 200 (10000)
//   VEXIL_IT_PG_DSN           run every server on PostgreSQL instead of SQLite:
//                             a superuser URI (postgres://user@host:port/db);
//                             each temporary database path is mapped to its own
//                             new PostgreSQL database on that server (created
//                             with psql, dropped when the test process exits)

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const http = require('node:http');
const crypto = require('node:crypto');
const { spawn, execFileSync } = require('node:child_process');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const READY_TIMEOUT_MS = Number(process.env.VEXIL_IT_READY_TIMEOUT_MS || 10000);

const liveProcs = new Set();
const tempDirs = new Set();
const pgDatabases = new Set();
const PG_DSN = process.env.VEXIL_IT_PG_DSN || '';

process.on('exit', () => {
  for (const p of liveProcs) {
    try { p.kill('SIGKILL'); } catch (_e) { /* already gone */ }
  }
  if (process.env.VEXIL_IT_KEEP !== '1') {
    for (const db of pgDatabases) {
      try { psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`); } catch (_e) { /* best effort */ }
    }
    for (const d of tempDirs) {
      try { fs.rmSync(d, { recursive: true, force: true }); } catch (_e) { /* best effort */ }
    }
  } else if (tempDirs.size) {
    process.stderr.write(`integration: kept ${[...tempDirs].join(' ')}\n`);
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(130));
}
// A test that fails before stopping its servers would leave them running
// and the file's process waiting on their pipes for ever: once the file's
// tests and hooks are done (the file's own after hooks stop their servers
// and may check how they exit), whatever still runs 15 s later is killed.
// The timer is unref'd: it never keeps a finished file alive.
require('node:test').after(() => {
  setTimeout(() => {
    for (const p of liveProcs) {
      try { p.kill('SIGKILL'); } catch (_e) { /* already gone */ }
    }
  }, 15000).unref();
});

function vexilBin() {
  const bin = process.env.VEXIL_BIN || path.join('build', 'src', 'cli', 'vexil');
  let abs = path.resolve(REPO_ROOT, bin);
  if (process.env.VEXIL_BIN && fs.existsSync(path.resolve(bin))) abs = path.resolve(bin);
  try {
    fs.accessSync(abs, fs.constants.X_OK);
  } catch (_e) {
    throw new Error(`vexil binary not found or not executable: ${abs}\n` +
      'Build it first (make build) or point VEXIL_BIN at it.');
  }
  return abs;
}

function tempDir(prefix = 'vexil-it-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

function removeTempDir(d) {
  if (process.env.VEXIL_IT_KEEP === '1') return;
  fs.rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

function psql(sql) {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', PG_DSN, '-c', sql],
    { stdio: ['ignore', 'ignore', 'pipe'] });
}

// The --database value for a server whose SQLite file would be `dbPath`.
// With VEXIL_IT_PG_DSN, one PostgreSQL database per path (so a restart on
// the same path finds the same data), created on first use.
function databaseFor(dbPath) {
  if (!PG_DSN) return `sqlite:${dbPath}`;
  const name = 'vexil_it_' + crypto.createHash('sha256').update(dbPath).digest('hex').slice(0, 20);
  if (!pgDatabases.has(name)) {
    psql(`CREATE DATABASE ${name}`);
    pgDatabases.add(name);
  }
  const u = new URL(PG_DSN);
  u.pathname = '/' + name;
  return u.toString();
}

// A port that was free a moment ago: bind port 0, read it, close.
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const hex64 = () => crypto.randomBytes(32).toString('hex');
const adminSecret = () => `*:*.${hex64()}`;
const clientSecret = (project = 'default', env = 'production') => `${project}:${env}.${hex64()}`;
const frontendSecret = (project = 'default', env = 'production') => `${project}:${env}.${hex64()}`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One HTTP call. `token`: the Authorization value (null/undefined: none);
// `body`: sent as JSON with Content-Type application/json; `rawBody`: sent
// as is (string or Buffer), with only the headers given. Returns
// {status, json, text, headers}; json is undefined when the body is not JSON.
async function request(baseUrl, method, urlPath, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (opts.token !== undefined && opts.token !== null) headers.Authorization = opts.token;
  let body;
  if (opts.rawBody !== undefined) {
    body = opts.rawBody;
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = 'application/json';
    }
  }
  const res = await fetch(baseUrl + urlPath, { method, headers, body, redirect: 'manual' });
  const text = await res.text();
  let json;
  try { json = text === '' ? undefined : JSON.parse(text); } catch (_e) { json = undefined; }
  return { status: res.status, json, text, headers: res.headers };
}

// The same over node:http, for cases where fetch is not enough (a large
// body the server may refuse before reading it all). Resolves with the
// answer even if writing the rest of the body fails. With expectContinue,
// sends `Expect: 100-continue` and the body only after the server's 100
// (as curl does for large bodies).
function rawRequest(baseUrl, method, urlPath, { headers = {}, body, expectContinue = false } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(baseUrl + urlPath);
    let settled = false;
    let writeError = null;
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method,
      headers: {
        ...headers,
        ...(body !== undefined ? { 'Content-Length': Buffer.byteLength(body) } : {}),
        ...(expectContinue ? { Expect: '100-continue' } : {}),
      },
      agent: false,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        settled = true;
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = text === '' ? undefined : JSON.parse(text); } catch (_e) { json = undefined; }
        resolve({ status: res.statusCode, json, text, headers: res.headers });
      });
      res.on('error', (e) => { if (!settled) { settled = true; reject(e); } });
    });
    req.on('error', (e) => {
      // EPIPE/ECONNRESET while still sending: give the answer a moment.
      writeError = e;
      setTimeout(() => {
        if (!settled) {
          settled = true;
          reject(new Error(`${method} ${urlPath}: connection failed before an answer was read: ${writeError.code || writeError.message}`));
        }
      }, 1000);
    });
    if (expectContinue && body !== undefined) {
      req.on('continue', () => req.end(body));
      req.flushHeaders();
    } else if (body !== undefined) {
      req.end(body);
    } else {
      req.end();
    }
  });
}

function stderrLines(text) {
  return text.split('\n').filter((l) => l.length > 0);
}

// Starts `vexil serve` and waits until GET /ready is 200.
// opts: dbPath (default: <new temp dir>/vexil.db), adminTokens (default: one
// new admin secret), clientTokens, frontendTokens, env (extra variables),
// args (extra command-line arguments), waitPath (poll this path for 200
// instead of /ready: for a server that starts on a database it cannot
// write), spawn (extra child_process.spawn options, e.g. uid and gid).
// Returns {url, port, proc, dbPath, dir, adminToken, stderr (getter),
// api(method, path, opts), stop(signal = 'SIGTERM'), kill9(), exited}.
// server.api uses the seeded admin token unless opts.token is given
// (null: no Authorization header).
async function startServer(opts = {}) {
  const bin = vexilBin();
  const dir = opts.dbPath ? path.dirname(opts.dbPath) : tempDir();
  const dbPath = opts.dbPath || path.join(dir, 'vexil.db');
  const adminTokens = opts.adminTokens || [adminSecret()];
  const clientTokens = opts.clientTokens || [];
  const frontendTokens = opts.frontendTokens || [];
  const env = { ...process.env, ...(opts.env || {}) };
  env.INIT_ADMIN_API_TOKENS = adminTokens.join(',');
  if (clientTokens.length) env.INIT_CLIENT_API_TOKENS = clientTokens.join(',');
  else delete env.INIT_CLIENT_API_TOKENS;
  if (frontendTokens.length) env.INIT_FRONTEND_API_TOKENS = frontendTokens.join(',');
  else delete env.INIT_FRONTEND_API_TOKENS;

  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = opts.port || await freePort();
    const args = ['serve', '--host', '127.0.0.1', '--port', String(port), '--database', databaseFor(dbPath),
      ...(opts.args || [])];
    const proc = spawn(bin, args, { ...(opts.spawn || {}), env, stdio: ['ignore', 'pipe', 'pipe'] });
    liveProcs.add(proc);
    let stderr = '';
    let stdout = '';
    proc.stderr.setEncoding('utf8');
    proc.stdout.setEncoding('utf8');
    proc.stderr.on('data', (d) => { stderr += d; });
    proc.stdout.on('data', (d) => { stdout += d; });
    const exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        liveProcs.delete(proc);
        resolve({ code, signal });
      });
      proc.on('error', (e) => {
        liveProcs.delete(proc);
        resolve({ code: null, signal: null, error: e });
      });
    });
    let exitInfo = null;
    exited.then((x) => { exitInfo = x; });
    const url = `http://127.0.0.1:${port}`;
    const server = {
      url, port, proc, dbPath, dir, bin, args,
      adminToken: adminTokens[0],
      adminTokens, clientTokens, frontendTokens,
      get stderr() { return stderr; },
      get stdout() { return stdout; },
      get exitInfo() { return exitInfo; },
      exited,
      api(method, urlPath, o = {}) {
        const token = Object.prototype.hasOwnProperty.call(o, 'token') ? o.token : this.adminToken;
        return request(url, method, urlPath, { ...o, token });
      },
      raw(method, urlPath, o = {}) { return rawRequest(url, method, urlPath, o); },
      // Sends `signal` and waits for the exit; SIGKILL after timeoutMs.
      // Throws when a sanitizer reported anything (an ASan/UBSan build as
      // VEXIL_BIN), so the suite run against one fails on a leak or on
      // undefined behaviour, not only on a crash.
      async stop(signal = 'SIGTERM', timeoutMs = 10000) {
        let r = exitInfo;
        if (!r) {
          proc.kill(signal);
          let timer;
          const t = new Promise((res) => { timer = setTimeout(() => res(null), timeoutMs); });
          r = await Promise.race([exited, t]);
          clearTimeout(timer);
          if (r === null) {
            proc.kill('SIGKILL');
            r = { ...(await exited), timedOut: true };
          }
        }
        const at = stderr.search(/ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error: /);
        if (at >= 0) throw new Error(`vexil serve reported a sanitizer error:\n${stderr.slice(Math.max(0, at - 200), at + 6000)}`);
        return r;
      },
      async kill9() {
        if (exitInfo) return exitInfo;
        proc.kill('SIGKILL');
        return exited;
      },
    };
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let lastStatus = 'no answer';
    while (Date.now() < deadline && !exitInfo) {
      try {
        const r = await request(url, 'GET', opts.waitPath || '/ready');
        if (r.status === 200) return server;
        lastStatus = `status ${r.status}: ${r.text.slice(0, 200)}`;
      } catch (e) {
        lastStatus = e.cause ? `${e.cause.code || e.cause.message}` : e.message;
      }
      await sleep(50);
    }
    await sleep(20);
    const portInUse = /in use|EADDRINUSE/i.test(stderr);
    if (!exitInfo) {
      proc.kill('SIGKILL');
      await exited;
      lastError = new Error(`vexil serve (${bin} ${args.join(' ')}) was not ready within ${READY_TIMEOUT_MS} ms (last /ready: ${lastStatus})\nstderr:\n${stderr.slice(-4000)}`);
    } else {
      lastError = new Error(`vexil serve (${bin} ${args.join(' ')}) exited before ready (code ${exitInfo.code}, signal ${exitInfo.signal}${exitInfo.error ? ', ' + exitInfo.error.message : ''})\nstderr:\n${stderr.slice(-4000)}`);
    }
    if (!portInUse) break; // a port race is retried, anything else is a failure
  }
  throw lastError;
}

// Total number of events in the audit log.
async function eventCount(server, token) {
  const r = await server.api('GET', '/api/admin/search/events?limit=1', token ? { token } : {});
  if (r.status !== 200 || !r.json || typeof r.json.total !== 'number') {
    throw new Error(`GET /api/admin/search/events?limit=1: expected 200 with a numeric total, got ${r.status} ${r.text.slice(0, 300)}`);
  }
  return r.json.total;
}

// Every event matching `query` (a query string without offset/limit), newest
// first, read page by page.
async function allEvents(server, query = '', token) {
  const out = [];
  let total = Infinity;
  const limit = 50;
  for (let offset = 0; offset < total; offset += limit) {
    const sep = query ? '&' : '';
    const p = `/api/admin/search/events?${query}${sep}offset=${offset}&limit=${limit}`;
    const r = await server.api('GET', p, token ? { token } : {});
    if (r.status !== 200 || !r.json || !Array.isArray(r.json.events)) {
      throw new Error(`GET ${p}: expected 200 {events,total}, got ${r.status} ${r.text.slice(0, 300)}`);
    }
    total = r.json.total;
    out.push(...r.json.events);
    if (r.json.events.length === 0) break;
  }
  return out;
}

async function exportState(server, token) {
  const r = await server.api('GET', '/api/admin/export', token ? { token } : {});
  if (r.status !== 200 || !r.json) {
    throw new Error(`GET /api/admin/export: expected 200 JSON, got ${r.status} ${r.text.slice(0, 300)}`);
  }
  return r.json;
}

// Runs `sql` on the database of `srv` (stopped, or between its requests)
// from outside, as another program (an older Vexil, a script) would:
// sqlite3 on the file, or psql with VEXIL_IT_PG_DSN.
function pokeDatabase(srv, sql) {
  if (PG_DSN) {
    execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', databaseFor(srv.dbPath), '-c', sql],
      { stdio: ['ignore', 'ignore', 'inherit'] });
  } else {
    execFileSync('sqlite3', ['-cmd', '.timeout 5000', srv.dbPath, sql], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
}

// Replaces the text `from` by `to` in the stored document of flag `flag`
// (kind 2: flags, src/store/store.h), bypassing every check of the API.
function corruptFlag(srv, flag, from, to) {
  const q = (t) => `'${t.replace(/'/g, "''")}'`;
  const data = PG_DSN ? 'data::text' : 'data';
  const cast = PG_DSN ? '::json' : '';
  pokeDatabase(srv, `UPDATE docs SET data = replace(${data}, ${q(from)}, ${q(to)})${cast} WHERE kind = 2 AND key = ${q(flag)}`);
}

// Freezes process `proc` (SIGSTOP), as a hung host would look from the
// network, and returns once every thread of it is stopped: kill(2) only
// asks, and a thread already running may still answer a request for a
// few milliseconds after it. Throws when that takes over two seconds.
async function freeze(proc) {
  const fs = require('node:fs');
  proc.kill('SIGSTOP');
  const deadline = Date.now() + 2000;
  for (;;) {
    let running = [];
    try {
      running = fs.readdirSync(`/proc/${proc.pid}/task`).filter((tid) => {
        // The state follows the command name, which may hold spaces.
        const stat = fs.readFileSync(`/proc/${proc.pid}/task/${tid}/stat`, 'utf8');
        return !/^[tT]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
      });
    } catch (e) {
      throw new Error(`freeze: process ${proc.pid} is gone (${e.code || e.message})`);
    }
    if (running.length === 0) return;
    if (Date.now() > deadline) throw new Error(`freeze: threads ${running} of ${proc.pid} still run 2 s after SIGSTOP`);
    await sleep(5);
  }
}

// A short description of an answer for assertion messages.
function show(r) {
  return `${r.status} ${r.text.length > 600 ? r.text.slice(0, 600) + '…' : r.text}`;
}

module.exports = {
  REPO_ROOT,
  PG_DSN,
  databaseFor,
  vexilBin,
  tempDir,
  removeTempDir,
  freePort,
  adminSecret,
  clientSecret,
  frontendSecret,
  hex64,
  sleep,
  request,
  rawRequest,
  startServer,
  eventCount,
  allEvents,
  exportState,
  stderrLines,
  pokeDatabase,
  corruptFlag,
  freeze,
  show,
};
