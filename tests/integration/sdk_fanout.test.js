'use strict';
// How changes reach the SDK endpoints (docs/operations.md): a writer reads
// its own write at once on /api/client/features and its streams; a second
// process on the same database sees it through the periodic revision check
// (--sdk-poll-ms), which is all SQLite has (on PostgreSQL, LISTEN/NOTIFY is
// faster still: tests/replicas/). Runs on SQLite under `make integration`
// and on PostgreSQL under `make store-pg`.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const S = require('./server');
const R = require('../replicas/replicas');

test.after(() => R.stopAll());

test('a write is served at once by the process that made it, to polls and streams', async () => {
  const [a] = await R.startReplicas(1);
  const flag = 'fanout-self';
  const r = await a.api('POST', '/api/admin/projects/default/features', { body: { name: flag } });
  assert.equal(r.status, 201, S.show(r));
  const stream = R.openStream(a);
  try {
    await stream.waitFor((f) => f[flag] === false, 5000, 'the hydration');
    for (const on of [true, false, true]) {
      const w = await R.toggle(a, flag, on);
      assert.equal(w.status, 200, S.show(w));
      // No waiting: the admin call returned after the SDK state was published.
      assert.equal((await R.clientFlags(a))[flag], on, `read-your-write of ${flag}=${on}`);
      await stream.waitFor((f) => f[flag] === on, 2000, `${flag}=${on} on the stream`);
    }
  } finally {
    stream.close();
  }
});

test('a second process on the same database sees writes within --sdk-poll-ms', async () => {
  const [a, b] = await R.startReplicas(2, { env: { VEXIL_SDK_POLL_MS: '100' } });
  const flag = 'fanout-other';
  const r = await a.api('POST', '/api/admin/projects/default/features', { body: { name: flag } });
  assert.equal(r.status, 201, S.show(r));
  for (const on of [true, false]) {
    const t0 = performance.now();
    assert.equal((await R.toggle(a, flag, on)).status, 200);
    const took = (await R.waitFeatures(b, (f) => f[flag] === on, 3000, `${flag}=${on}`)) - t0;
    assert.ok(took < 600, `the other process took ${took.toFixed(0)} ms (poll every 100 ms)`);
  }
});

test('--sdk-poll-ms out of range is refused with a message naming it', () => {
  const p = spawnSync(S.vexilBin(), ['serve', '--sdk-poll-ms', '5', '--port', '0',
    '--database', `sqlite:${S.tempDir()}/x.db`], { encoding: 'utf8', timeout: 10000 });
  assert.notEqual(p.status, 0, `exit status ${p.status}; stderr: ${p.stderr}`);
  assert.match(p.stderr, /sdk-poll-ms/, p.stderr);
});
