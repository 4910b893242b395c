'use strict';
// Faults of the SQLite file under a running server (docs/operations.md,
// "Faults and what each endpoint answers"): deleted, replaced, read-only,
// disk full, and locked by another process. Nothing is acknowledged that
// is not stored: writes answer 503 with the reason, /ready answers 503 with
// it, SDK reads keep answering from memory, and a disk that has room again
// or a file put back brings everything back. A file deleted under the
// server is copied aside (vexil.db.rescued-*), and the next start refuses
// to begin an empty database in its place.
//
// SQLite only (skipped under VEXIL_IT_PG_DSN). The disk-full case mounts a
// tiny tmpfs and needs root (skipped otherwise); the read-only case runs
// the server as "nobody" when the tests run as root (root ignores file
// modes); the lock case needs the sqlite3 command-line shell.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const S = require('./server');

const FEAT = '/api/admin/projects/default/features';
const sqliteOnly = S.PG_DSN ? 'SQLite file faults (VEXIL_IT_PG_DSN runs PostgreSQL)' : false;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

// Polls `path` until it answers `status`; returns the last answer.
async function waitStatus(srv, urlPath, status, timeoutMs = 5000) {
  const until = Date.now() + timeoutMs;
  let r;
  do {
    r = await S.request(srv.url, 'GET', urlPath);
    if (r.status !== status) await S.sleep(100);
  } while (r.status !== status && Date.now() < until);
  return r;
}

async function createFlag(srv, name) {
  const r = await srv.api('POST', FEAT, { body: { name } });
  assert.equal(r.status, 201, `create ${name}: ${S.show(r)}`);
}

// What a server whose file was just deleted answers.
async function deletedWhileRunning(srv, client) {
  const w = await srv.api('POST', FEAT, { body: { name: 'after-delete' } });
  assert.equal(w.status, 503, `a write after the file was deleted: ${S.show(w)}`);
  assert.match(w.json.message, /^the database is unavailable: .*deleted/, S.show(w));
  assert.ok(w.headers.get('retry-after'), 'a 503 has Retry-After');
  const ready = await waitStatus(srv, '/ready', 503);
  assert.equal(ready.status, 503, `/ready after the file was deleted: ${S.show(ready)}`);
  assert.match(ready.json.message, /deleted/, S.show(ready));
  const sdk = await S.request(srv.url, 'GET', '/api/client/features', { token: client });
  assert.equal(sdk.status, 200, `SDK reads go on from memory: ${S.show(sdk)}`);
  assert.ok(sdk.json.features.some((f) => f.name === 'kept'));
  assert.match(srv.stderr, /deleted/, 'the log says what happened');
}

test('the SQLite file deleted while running: writes 503, /ready 503, a rescued copy; the next start refuses', { skip: sqliteOnly }, async () => {
  const client = S.clientSecret();
  const admin = S.adminSecret();
  const srv = await S.startServer({ adminTokens: [admin], clientTokens: [client] });
  const { dbPath, dir } = srv;
  try {
    await createFlag(srv, 'kept');
    assert.equal((await S.request(srv.url, 'GET', '/api/client/features', { token: client })).status, 200);
    fs.unlinkSync(dbPath);
    await deletedWhileRunning(srv, client);
  } finally {
    await srv.stop();
  }
  const rescued = fs.readdirSync(dir).filter((n) => n.startsWith('vexil.db.rescued-'));
  assert.equal(rescued.length, 1, `one rescued copy next to the file: ${fs.readdirSync(dir)}`);


  // The next start does not silently begin an empty database.
  await assert.rejects(S.startServer({ dbPath, adminTokens: [admin], clientTokens: [client] }),
    /rescued/, 'a start with the file missing and a rescued copy next to it');
  assert.ok(!fs.existsSync(dbPath), 'the refused start created no file');

  // Put back (as the message says), everything acknowledged is there, and
  // nothing else.
  for (const f of [`${dbPath}-wal`, `${dbPath}-shm`]) fs.rmSync(f, { force: true });
  fs.renameSync(path.join(dir, rescued[0]), dbPath);
  const again = await S.startServer({ dbPath, adminTokens: [admin], clientTokens: [client] });
  try {
    assert.equal((await again.api('GET', `${FEAT}/kept`)).status, 200, 'the acknowledged flag is back');
    assert.equal((await again.api('GET', `${FEAT}/after-delete`)).status, 404, 'the refused write left nothing');
    await createFlag(again, 'after-restore');
  } finally {
    await again.stop();
  }
});

test('the SQLite file replaced while running: writes 503 and /ready 503 with the reason', { skip: sqliteOnly }, async () => {
  const srv = await S.startServer();
  try {
    await createFlag(srv, 'before-replace');
    const other = `${srv.dbPath}.other`;
    fs.copyFileSync(srv.dbPath, other);
    fs.renameSync(other, srv.dbPath); // a different file at the same path
    const w = await srv.api('POST', FEAT, { body: { name: 'after-replace' } });
    assert.equal(w.status, 503, `a write after the file was replaced: ${S.show(w)}`);
    assert.match(w.json.message, /replaced/, S.show(w));
    const ready = await waitStatus(srv, '/ready', 503);
    assert.equal(ready.status, 503, `/ready after the file was replaced: ${S.show(ready)}`);
    assert.match(ready.json.message, /replaced/, S.show(ready));
  } finally {
    await srv.stop();
  }
});

test('a read-only SQLite file: SDKs are served, writes 503, /ready 503', { skip: sqliteOnly }, async () => {
  const admin = S.adminSecret();
  const client = S.clientSecret();
  const first = await S.startServer({ adminTokens: [admin], clientTokens: [client] });
  const { dbPath, dir } = first;
  await createFlag(first, 'ro-flag');
  assert.equal((await first.api('POST', `${FEAT}/ro-flag/environments/production/on`)).status, 200);
  assert.equal((await first.stop()).code, 0);

  const spawnOpts = {};
  if (isRoot) {
    // Root writes whatever the mode says: run the server as nobody.
    const nobody = 65534;
    for (const f of [dir, ...fs.readdirSync(dir).map((n) => path.join(dir, n))]) fs.chownSync(f, nobody, nobody);
    spawnOpts.uid = nobody;
    spawnOpts.gid = nobody;
  }
  fs.chmodSync(dbPath, 0o444);
  const srv = await S.startServer({ dbPath, adminTokens: [admin], clientTokens: [client], waitPath: '/health', spawn: spawnOpts });
  try {
    const sdk = await S.request(srv.url, 'GET', '/api/client/features', { token: client });
    assert.equal(sdk.status, 200, S.show(sdk));
    assert.ok(sdk.json.features.some((f) => f.name === 'ro-flag' && f.enabled), S.show(sdk));
    const w = await srv.api('POST', FEAT, { body: { name: 'not-stored' } });
    assert.equal(w.status, 503, `a write to a read-only file: ${S.show(w)}`);
    assert.match(w.json.message, /^the database is unavailable/, S.show(w));
    const ready = await waitStatus(srv, '/ready', 503);
    assert.equal(ready.status, 503, `/ready on a read-only file: ${S.show(ready)}`);
    assert.match(ready.json.message, /read-?only/, S.show(ready));
  } finally {
    await srv.stop();
  }
});

test('disk full: writes 503, /ready 503, and both recover when there is room again', {
  skip: sqliteOnly || (isRoot ? false : 'mounting a tiny tmpfs needs root'),
}, async () => {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'vexil-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
  let srv;
  try {
    srv = await S.startServer({ dbPath: path.join(mnt, 'vexil.db') });
    await createFlag(srv, 'before-full');
    const filler = path.join(mnt, 'filler');
    const fd = fs.openSync(filler, 'w');
    const chunk = Buffer.alloc(64 * 1024, 1);
    try {
      for (;;) fs.writeSync(fd, chunk);
    } catch (e) {
      assert.equal(e.code, 'ENOSPC', `filling the disk: ${e.message}`);
    } finally {
      fs.closeSync(fd);
    }
    let w;
    for (let i = 0; i < 20; i++) {
      w = await srv.api('POST', FEAT, { body: { name: `on-full-disk-${i}` } });
      if (w.status !== 201) break; // a write may still fit in the log's last pages
    }
    assert.equal(w.status, 503, `a write on a full disk: ${S.show(w)}`);
    assert.match(w.json.message, /^the database is unavailable: .*full/, S.show(w));
    const ready = await waitStatus(srv, '/ready', 503);
    assert.equal(ready.status, 503, `/ready on a full disk: ${S.show(ready)}`);

    fs.unlinkSync(filler);
    const back = await waitStatus(srv, '/ready', 200, 10000);
    assert.equal(back.status, 200, `/ready once there is room: ${S.show(back)}`);
    await createFlag(srv, 'after-full');
  } finally {
    if (srv) await srv.stop();
    execFileSync('umount', [mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  }
});

// The sqlite3 shell, holding the database's write lock until release().
function holdWriteLock(dbPath) {
  const p = spawn('sqlite3', [dbPath], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => p.on('exit', resolve));
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stdin.write(".timeout 5000\nBEGIN EXCLUSIVE;\nSELECT 'locked';\n");
  let released = null;
  return {
    // Resolves once the shell holds the lock.
    async held() {
      const until = Date.now() + 5000;
      while (!out.includes('locked') && Date.now() < until) await S.sleep(20);
      return out.includes('locked');
    },
    release() {
      if (!released) {
        p.stdin.end('ROLLBACK;\n.quit\n');
        released = exited;
      }
      return released;
    },
  };
}

function haveSqlite3() {
  try {
    execFileSync('sqlite3', ['-version'], { stdio: 'ignore' });
    return true;
  } catch (_e) {
    return false;
  }
}

test('a locked SQLite file (another process holds the write lock): metrics posts, SDK reads and /health go on', {
  skip: sqliteOnly || (haveSqlite3() ? false : 'needs the sqlite3 shell'),
}, async () => {
  const client = S.clientSecret();
  const srv = await S.startServer({ clientTokens: [client], args: ['--threads', '2'] });
  const lock = { release: async () => {} };
  try {
    await createFlag(srv, 'locked-flag');
    assert.equal((await S.request(srv.url, 'GET', '/api/client/features', { token: client })).status, 200);
    Object.assign(lock, holdWriteLock(srv.dbPath));
    assert.ok(await lock.held(), 'the sqlite3 shell took the write lock');
    const t0 = performance.now();
    const body = {
      appName: 'locked-app',
      bucket: { start: new Date().toISOString(), stop: new Date().toISOString(), toggles: { 'locked-flag': { yes: 1, no: 0 } } },
    };
    const posts = [];
    for (let i = 0; i < 60; i++) {
      const p0 = performance.now();
      posts.push(S.request(srv.url, 'POST', '/api/client/metrics', { token: client, body })
        .then((r) => ({ ...r, ms: performance.now() - p0 })));
    }
    const writes = [];
    for (let i = 0; i < 4; i++) writes.push(srv.api('POST', FEAT, { body: { name: `while-locked-${i}` } }));
    const slow = [];
    while (performance.now() - t0 < 3000) {
      for (const [what, p, tok] of [['/health', '/health'], ['client features', '/api/client/features', client]]) {
        const r0 = performance.now();
        const r = await Promise.race([S.request(srv.url, 'GET', p, tok ? { token: tok } : {}), S.sleep(4000).then(() => ({ status: 0, text: 'no answer in 4 s' }))]);
        const ms = performance.now() - r0;
        assert.equal(r.status, 200, `${what} while the database is locked: ${S.show(r)}`);
        if (ms > 500) slow.push(`${what} ${ms.toFixed(0)} ms`);
      }
    }
    assert.deepEqual(slow, [], 'reads waited while the database was locked');
    const answered = await Promise.all(posts);
    assert.ok(answered.every((r) => r.status === 202), `metrics posts: ${answered.map((r) => r.status)}`);
    assert.ok(answered.every((r) => r.ms < 1000), 'metrics posts waited for the lock');
    await lock.release();
    for (const w of await Promise.all(writes)) assert.ok([201, 500, 503].includes(w.status), S.show(w));
    const usage = await srv.api('GET', '/api/admin/client-metrics/features/locked-flag');
    assert.equal(usage.status, 200, S.show(usage));
    assert.equal(usage.json.usage.reduce((n, u) => n + u.yes, 0), 60, `the posts are stored once the lock is gone: ${S.show(usage)}`);
  } finally {
    await lock.release();
    await srv.stop();
  }
});
