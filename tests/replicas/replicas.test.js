'use strict';
// Several stateless `vexil serve` replicas on one PostgreSQL database
// (docs/operations.md, "Several replicas"): a write on replica A reaches
// replica B's /api/client/features and B's streaming clients within 200 ms
// (LISTEN/NOTIFY); killing A in the middle of writes loses no acknowledged
// write; stopping PostgreSQL keeps the SDK endpoints of both replicas
// answering from memory while admin calls answer 503 (fast, even while the
// database's address accepts connections but never answers), and
// everything recovers when it is back; replicas holding the same state
// serve the same bytes; a token revoked on A ends its streams on B.
//
// Needs VEXIL_IT_PG_DSN (and VEXIL_TEST_PG_DIR for the outage), as
// `make store-pg` sets them; skipped otherwise.

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const S = require('../integration/server');
const R = require('./replicas');

test.after(() => R.stopAll());

const opts = { skip: S.PG_DSN ? false : 'needs VEXIL_IT_PG_DSN (make store-pg)' };
const WRITES = 50;

async function createFlag(srv, name) {
  const r = await srv.api('POST', '/api/admin/projects/default/features', { body: { name } });
  assert.equal(r.status, 201, `create ${name}: ${S.show(r)}`);
}

test('a write on A reaches B (client features and a stream) within 200 ms', opts, async () => {
  const [a, b] = await R.startReplicas(2);
  const flag = 'rep-latency';
  await createFlag(a, flag);
  await R.waitFeatures(b, (f) => flag in f, 5000, `${flag} created on A`);
  const stream = R.openStream(b);
  try {
    await stream.waitFor((f) => f[flag] === false, 5000, 'the hydration');
    const viaFeatures = [];
    const viaStream = [];
    const acks = [];
    for (let i = 0; i < WRITES; i++) {
      const on = i % 2 === 0;
      const t0 = performance.now();
      const r = await R.toggle(a, flag, on);
      assert.equal(r.status, 200, `toggle ${on ? 'on' : 'off'} on A: ${S.show(r)}`);
      acks.push(performance.now() - t0);
      const [tf, ts] = await Promise.all([
        R.waitFeatures(b, (f) => f[flag] === on, 5000, `${flag}=${on}`),
        stream.waitFor((f) => f[flag] === on, 5000, `${flag}=${on}`),
      ]);
      viaFeatures.push(tf - t0);
      viaStream.push(ts - t0);
    }
    const fmt = (x) => `p50 ${x.p50.toFixed(1)} ms, p99 ${x.p99.toFixed(1)} ms, max ${x.max.toFixed(1)} ms`;
    const sf = R.summary(viaFeatures);
    const ss = R.summary(viaStream);
    process.stdout.write(`# replicas: ${WRITES} writes on A (ack ${fmt(R.summary(acks))})\n` +
      `#   seen on B /api/client/features: ${fmt(sf)}\n` +
      `#   seen by a stream on B:          ${fmt(ss)}\n`);
    assert.ok(sf.p50 < 200, `B's /api/client/features: p50 ${sf.p50} ms is not under 200 ms`);
    assert.ok(ss.p50 < 200, `B's stream: p50 ${ss.p50} ms is not under 200 ms`);
    assert.ok(sf.max < 1500 && ss.max < 1500, `a write took over 1.5 s to reach B: ${fmt(sf)} / ${fmt(ss)}`);
    assert.ok(!stream.ended, 'the stream on B ended');
  } finally {
    stream.close();
  }
});

test('killing A (SIGKILL) in the middle of writes loses no acknowledged write', opts, async () => {
  const [a, b] = await R.startReplicas(2);
  const acked = [];
  let stop = false;
  const writer = async (w) => {
    for (let i = 0; !stop; i++) {
      const name = `burst-${w}-${i}`;
      let r;
      try {
        r = await a.api('POST', '/api/admin/projects/default/features', { body: { name } });
      } catch (_e) {
        return; // A is gone: this write was never acknowledged
      }
      if (r.status === 201) acked.push(name);
      else if (r.status !== 503) assert.fail(`create ${name} on A: ${S.show(r)}`);
    }
  };
  const writers = [0, 1, 2, 3].map(writer);
  const deadline = Date.now() + 10000;
  while (acked.length < 40 && Date.now() < deadline) await S.sleep(5);
  await a.kill9();
  stop = true;
  await Promise.all(writers);
  assert.ok(acked.length >= 40, `only ${acked.length} writes were acknowledged before the kill`);

  // B serves every acknowledged flag, to SDKs and through the admin API.
  await R.waitFeatures(b, (f) => acked.every((n) => n in f), 3000, `all ${acked.length} acknowledged flags`);
  for (const name of acked) {
    const r = await b.api('GET', R.F(name));
    assert.equal(r.status, 200, `GET ${name} on B: ${S.show(r)}`);
  }
  const created = await S.allEvents(b, 'type=feature-created');
  const names = new Set(created.map((e) => e.featureName));
  for (const name of acked) assert.ok(names.has(name), `no feature-created event for acknowledged ${name}`);
  process.stdout.write(`# replicas: ${acked.length} writes acknowledged by A before SIGKILL, all seen on B\n`);
});

test('PostgreSQL down: SDK endpoints answer from memory, admin calls 503, all recovers', {
  skip: opts.skip || (R.PG_DIR ? false : 'needs VEXIL_TEST_PG_DIR (make store-pg)'),
}, async () => {
  const [a, b] = await R.startReplicas(2);
  const flag = 'rep-outage';
  await createFlag(a, flag);
  assert.equal((await R.toggle(a, flag, true)).status, 200);
  await R.waitFeatures(b, (f) => f[flag] === true, 3000, `${flag} on`);
  await R.waitFeatures(a, (f) => f[flag] === true, 3000, `${flag} on`);
  const stream = R.openStream(b);
  let paused = false;
  try {
    await stream.waitFor((f) => f[flag] === true, 5000, 'the hydration');
    R.pgControl('pause');
    paused = true;

    // Over a few revision checks, both replicas go on serving SDKs.
    for (let round = 0; round < 3; round++) {
      for (const srv of [a, b]) {
        const flags = await R.clientFlags(srv);
        assert.equal(flags[flag], true, `${srv.url} during the outage: ${JSON.stringify(flags)}`);
      }
      await S.sleep(500);
    }

    // Admin writes and reads fail fast with 503 and a clear message.
    for (const [srv, what] of [[a, 'write on A'], [b, 'write on B']]) {
      const t0 = performance.now();
      const r = await R.toggle(srv, flag, false);
      const took = performance.now() - t0;
      assert.equal(r.status, 503, `${what} during the outage: ${S.show(r)}`);
      assert.match(r.json && r.json.message, /^the database is unavailable/, `${what}: ${S.show(r)}`);
      assert.ok(took < 3000, `${what} took ${took.toFixed(0)} ms to fail`);
    }
    const read = await b.api('GET', R.F(flag));
    assert.equal(read.status, 503, `admin read on B during the outage: ${S.show(read)}`);
    for (const srv of [a, b]) {
      const r = await S.request(srv.url, 'GET', '/ready');
      assert.equal(r.status, 503, `/ready on ${srv.url} during the outage: ${S.show(r)}`);
      const h = await S.request(srv.url, 'GET', '/health');
      assert.equal(h.status, 200, `/health on ${srv.url} during the outage: ${S.show(h)}`);
    }
    assert.equal((await R.clientFlags(b))[flag], true, 'B after the failed writes');

    // A database address that accepts connections and never answers (a
    // hung server): requests still fail fast, not after a connect timeout.
    const port = Number(new URL(S.PG_DSN).port);
    const sockets = new Set();
    let accepted = 0;
    const silent = net.createServer((c) => {
      accepted++;
      sockets.add(c);
      c.on('error', () => {});
      c.on('close', () => sockets.delete(c));
    });
    await new Promise((resolve, reject) => {
      silent.once('error', reject);
      silent.listen(port, '127.0.0.1', resolve);
    });
    try {
      for (let i = 0; i < 4; i++) {
        const t0 = performance.now();
        const r = await R.toggle(a, flag, false);
        const took = performance.now() - t0;
        assert.equal(r.status, 503, `write on A with a silent database: ${S.show(r)}`);
        assert.ok(took < 1000, `write on A with a silent database took ${took.toFixed(0)} ms to fail`);
        const t1 = performance.now();
        const ready = await S.request(a.url, 'GET', '/ready');
        assert.equal(ready.status, 503, `/ready with a silent database: ${S.show(ready)}`);
        assert.ok(performance.now() - t1 < 1000, '/ready with a silent database was slow');
        assert.equal((await R.clientFlags(a))[flag], true, 'A with a silent database');
        await S.sleep(300);
      }
      assert.ok(accepted > 0, 'no replica tried to reconnect to the silent database');
    } finally {
      for (const c of sockets) c.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
    assert.ok(!stream.ended, 'the stream on B ended during the outage');

    R.pgControl('resume');
    paused = false;

    // Everything comes back by itself.
    for (const srv of [a, b]) {
      const deadline = Date.now() + 15000;
      let r;
      do {
        r = await S.request(srv.url, 'GET', '/ready');
        if (r.status !== 200) await S.sleep(100);
      } while (r.status !== 200 && Date.now() < deadline);
      assert.equal(r.status, 200, `/ready on ${srv.url} after the outage: ${S.show(r)}`);
    }
    const w = await R.toggle(a, flag, false);
    assert.equal(w.status, 200, `write on A after the outage: ${S.show(w)}`);
    await R.waitFeatures(b, (f) => f[flag] === false, 3000, `${flag} off after the outage`);
    await stream.waitFor((f) => f[flag] === false, 3000, `${flag} off after the outage`);
    // And fan-out is fast again (the watch connection is back).
    const t0 = performance.now();
    assert.equal((await R.toggle(b, flag, true)).status, 200);
    const seen = (await R.waitFeatures(a, (f) => f[flag] === true, 3000, `${flag} on again`)) - t0;
    process.stdout.write(`# replicas: after the outage a write on B reached A in ${seen.toFixed(1)} ms\n`);
    assert.ok(seen < 1500, `after the outage a write took ${seen.toFixed(0)} ms to reach A`);
  } finally {
    if (paused) R.pgControl('resume');
    stream.close();
  }
});

test('impact metrics posted to two replicas add up in the plan both read', opts, async () => {
  const env = { VEXIL_SCHEDULER_INTERVAL_MS: '100' };
  const [a, b] = await R.startReplicas(2, { env });
  const flag = 'rep-impact';
  await createFlag(a, flag);
  const base = `/api/admin/projects/default/features/${flag}/environments/production/release-plan`;
  // A milestone that needs more exposures than either replica alone gets.
  let r = await a.api('PUT', base, { body: { milestones: [{ percent: 50, minExposures: 100000 }, { percent: 100 }], metrics: [{ kind: 'error_rate' }] } });
  assert.equal(r.status, 200, S.show(r));
  const client = a.clientTokens[0];
  const at = new Date().toISOString();
  // Both arms in one batch: whenever the scheduler looks, the split it
  // sees matches the 50 % rollout (no sample-ratio pause).
  const post = (srv, requests) => S.request(srv.url, 'POST', '/api/client/impact', {
    token: client,
    body: { metrics: [{ flag, at, enabled: true, requests, errors: 0 }, { flag, at, enabled: false, requests, errors: 0 }] },
  });
  for (const [srv, n] of [[a, 1000], [b, 2000], [a, 3000], [b, 4000]]) {
    r = await post(srv, n);
    assert.equal(r.status, 202, S.show(r));
  }
  // Whichever replica holds the scheduler lease computes the statistics
  // from the shared buckets: both arms see all 10,000 requests.
  const deadline = Date.now() + 10000;
  let p;
  for (;;) {
    r = await b.api('GET', base);
    assert.equal(r.status, 200, S.show(r));
    p = r.json;
    if (p.last && p.last.treatment && p.last.treatment.requests === 10000 && p.last.control.requests === 10000) break;
    if (Date.now() > deadline) assert.fail(`the plan never saw 10,000 requests per arm: ${JSON.stringify(p.last)}`);
    await S.sleep(100);
  }
  assert.equal(p.state, 'running');
});

test('replicas holding the same state serve the same bytes; a poll on the other gets 304', opts, async () => {
  const [a, b] = await R.startReplicas(2);
  const client = a.clientTokens[0];
  const mk = await a.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'fe', type: 'frontend', environment: 'production', projects: ['*'] } });
  assert.equal(mk.status, 201, S.show(mk));
  // Each write read back on A first, so that A patches change by change
  // while B may gather them: flags one after the other, one archived and
  // revived, a change in another environment, a token.
  for (const f of ['zeta', 'alpha', 'mid']) {
    await createFlag(a, f);
    await R.clientFlags(a);
  }
  for (const [m, p] of [['POST', `${R.F('alpha')}/environments/production/on`], ['DELETE', R.F('zeta')],
    ['POST', '/api/admin/archive/revive/zeta'], ['POST', `${R.F('mid')}/environments/development/on`]]) {
    const r = await a.api(m, p);
    assert.ok(r.status < 300, `${m} ${p}: ${S.show(r)}`);
    await R.clientFlags(a);
  }
  const t = await a.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'late', type: 'client', environment: 'production', projects: ['*'] } });
  assert.equal(t.status, 201, S.show(t));
  let sa;
  let sb;
  const deadline = performance.now() + 5000;
  do {
    await S.sleep(100);
    sa = await R.servedBy(a, client, mk.json.secret);
    sb = await R.servedBy(b, client, mk.json.secret);
  } while (sa !== sb && performance.now() < deadline);
  assert.equal(sb, sa, 'B serves other bytes than A');
  const etag = (await S.request(a.url, 'GET', '/api/client/features', { token: client })).headers.get('etag');
  const other = await S.request(b.url, 'GET', '/api/client/features', { token: client, headers: { 'If-None-Match': etag } });
  assert.equal(other.status, 304, 'a poll on B with A\'s ETag');
});

test('a token revoked on A: its stream on B ends within a second, and gets nothing after', opts, async () => {
  const [a, b] = await R.startReplicas(2);
  const mk = await a.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'far', type: 'client', environment: 'production', projects: ['*'] } });
  assert.equal(mk.status, 201, S.show(mk));
  const s = await R.streamRequest(b, mk.json.secret);
  assert.equal(s.status, 200, s.text);
  const f = R.follow(s.res);
  const t0 = performance.now();
  const del = await a.api('DELETE', `/api/admin/api-tokens/${mk.json.id}`);
  assert.equal(del.status, 200, S.show(del));
  const endedAt = await Promise.race([f.ended, S.sleep(10000).then(() => null)]);
  assert.ok(endedAt !== null, 'the stream on B was not ended');
  process.stdout.write(`# replicas: a revocation on A ended the stream on B in ${(endedAt - t0).toFixed(1)} ms\n`);
  assert.ok(endedAt - t0 < 2000, `the stream on B ended ${(endedAt - t0).toFixed(0)} ms after the revocation`);
  const count = f.events.length;
  await createFlag(a, 'after-revocation');
  await S.sleep(500);
  assert.equal(f.events.length, count, 'something reached the revoked token');
});
