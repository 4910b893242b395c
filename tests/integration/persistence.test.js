'use strict';
// Durability: the state survives a clean restart (SIGTERM, then a new
// process on the same database), and every write acknowledged with a 2xx
// survives a kill -9 in the middle of a burst of concurrent writes, with
// exactly one audit event per committed write.
//
//   node --test tests/integration/persistence.test.js     (VEXIL_BIN: the binary)
//   VEXIL_IT_BURST_WORKERS (32), VEXIL_IT_BURST_ACKS (kill after this many acks, 150)

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, adminSecret, exportState, eventCount, allEvents, request, sleep, show, removeTempDir } = require('./server');

const FEAT = '/api/admin/projects/default/features';

async function must(srv, method, path, body, status) {
  const r = await srv.api(method, path, body === undefined ? {} : { body });
  assert.equal(r.status, status, `${method} ${path}: ${show(r)}`);
  return r.json;
}

test('state survives a clean restart (SIGTERM, start on the same database)', async () => {
  const admin = adminSecret();
  let srv = await startServer({ adminTokens: [admin] });
  const { dbPath, dir } = srv;
  try {
    await must(srv, 'POST', '/api/admin/projects', { id: 'durable', name: 'Durable' }, 201);
    await must(srv, 'POST', '/api/admin/environments', { name: 'staging', type: 'preproduction', sortOrder: 3 }, 201);
    const seg = await must(srv, 'POST', '/api/admin/segments', { name: 'p-seg', constraints: [{ contextName: 'userId', operator: 'IN', values: ['a'] }] }, 201);
    await must(srv, 'POST', FEAT, { name: 'p-flag', description: 'keep me', impressionData: true, tags: [{ type: 'simple', value: 'p' }] }, 201);
    await must(srv, 'POST', FEAT, { name: 'p-parent' }, 201);
    await must(srv, 'POST', '/api/admin/projects/durable/features', { name: 'p-other' }, 201);
    const env = `${FEAT}/p-flag/environments/production`;
    const s = await must(srv, 'POST', `${env}/strategies`, {
      name: 'flexibleRollout', parameters: { rollout: '35', stickiness: 'userId' },
      constraints: [{ contextName: 'country', operator: 'IN', values: ['TH'] }], segments: [seg.id],
    }, 200);
    await must(srv, 'PUT', `${env}/variants`, [
      { name: 'x', weight: 0, weightType: 'variable', stickiness: 'default', payload: { type: 'json', value: '{"a":1}' } },
      { name: 'y', weight: 300, weightType: 'fix', stickiness: 'default' },
    ], 200);
    await must(srv, 'POST', `${env}/on`, undefined, 200);
    await must(srv, 'POST', `${FEAT}/p-flag/dependencies`, { feature: 'p-parent' }, 200);
    await must(srv, 'POST', FEAT, { name: 'p-archived' }, 201);
    await must(srv, 'DELETE', `${FEAT}/p-archived`, undefined, 200);
    await must(srv, 'PUT', '/api/admin/feature-types/release/lifetime', { lifetimeDays: 12 }, 200);
    const tk = await must(srv, 'POST', '/api/admin/api-tokens', { tokenName: 'p-editor', type: 'admin', role: 'editor' }, 201);
    const gone = await must(srv, 'POST', '/api/admin/api-tokens', { tokenName: 'p-revoked', type: 'admin', role: 'admin' }, 201);
    await must(srv, 'DELETE', `/api/admin/api-tokens/${gone.id}`, undefined, 200);

    const doc = await exportState(srv);
    const events = await allEvents(srv);
    const flag = await must(srv, 'GET', `${FEAT}/p-flag`, undefined, 200);
    const archive = await must(srv, 'GET', '/api/admin/archive/features', undefined, 200);
    const tokens = await must(srv, 'GET', '/api/admin/api-tokens', undefined, 200);

    const exit = await srv.stop('SIGTERM');
    assert.equal(exit.timedOut, undefined, 'SIGTERM shuts the server down within 10 s');
    assert.equal(exit.code, 0, `graceful exit status 0 on SIGTERM, got ${JSON.stringify(exit)}\n${srv.stderr.slice(-2000)}`);
    const r = await request(srv.url, 'GET', '/health').catch((e) => e);
    assert.ok(r instanceof Error, 'nothing answers on the port after the shutdown');

    srv = await startServer({ dbPath, adminTokens: [admin] });
    assert.deepEqual(await exportState(srv), doc, 'export after the restart');
    assert.deepEqual(await allEvents(srv), events, 'audit log after the restart');
    assert.deepEqual(await must(srv, 'GET', `${FEAT}/p-flag`, undefined, 200), flag, 'flag after the restart');
    assert.deepEqual(await must(srv, 'GET', '/api/admin/archive/features', undefined, 200), archive);
    assert.deepEqual(await must(srv, 'GET', '/api/admin/api-tokens', undefined, 200), tokens, 'tokens after the restart');
    assert.deepEqual(await must(srv, 'GET', `${env}/strategies/${s.id}`, undefined, 200), s);
    let x = await srv.api('GET', '/api/admin/features', { token: tk.secret });
    assert.equal(x.status, 200, `a token created through the API still works after the restart: ${show(x)}`);
    x = await srv.api('GET', '/api/admin/features', { token: gone.secret });
    assert.equal(x.status, 401, `a revoked token stays revoked after the restart: ${show(x)}`);
    // seeding the same INIT_ADMIN_API_TOKENS again does not duplicate anything
    assert.equal((await eventCount(srv)), events.length);

    // a write after the restart works and is numbered after the old ones
    await must(srv, 'POST', FEAT, { name: 'p-after' }, 201);
    const newest = (await srv.api('GET', '/api/admin/search/events?limit=1')).json.events[0];
    assert.equal(newest.featureName, 'p-after');
    assert.ok(!events.some((e) => JSON.stringify(e.id) === JSON.stringify(newest.id)), 'event ids are not reused after a restart');
  } finally {
    await srv.stop('SIGTERM');
    removeTempDir(dir);
  }
});

test('kill -9 in the middle of a burst: every acknowledged write survives, one event per write', async (t) => {
  const admin = adminSecret();
  let srv = await startServer({ adminTokens: [admin] });
  const { dbPath, dir } = srv;
  const WORKERS = Number(process.env.VEXIL_IT_BURST_WORKERS || 32);
  const KILL_AFTER_ACKS = Number(process.env.VEXIL_IT_BURST_ACKS || 150);
  const UPDATES_PER_FLAG = 3;
  const MAX_BURST_MS = 8000;
  try {
    const eventsBefore = await eventCount(srv);
    // Per flag: whether its creation was acknowledged, the last acknowledged
    // update, and a write that was sent but not answered when the server died.
    const flags = new Map();
    let acks = 0;
    let stopping = false;
    let killedAt = null;
    const started = Date.now();
    const unexpected = [];

    // SIGKILL right now, from inside the burst, with the other workers'
    // requests in flight; no new request starts afterwards.
    let inflightAtKill = 0;
    const killNow = () => {
      stopping = true;
      killedAt = acks;
      inflightAtKill = [...flags.values()].filter((x) => x.inflight !== null).length;
      srv.proc.kill('SIGKILL');
    };
    const worker = async (w) => {
      for (let k = 0; !stopping; k++) {
        const name = `burst-${w}-${k}`;
        const st = { created: false, lastAcked: 0, inflight: null };
        for (let i = 0; i <= UPDATES_PER_FLAG && !stopping; i++) {
          st.inflight = i;
          if (i === 0) flags.set(name, st);
          let r;
          try {
            r = i === 0
              ? await srv.api('POST', FEAT, { body: { name, description: '' } })
              : await srv.api('PUT', `${FEAT}/${name}`, { body: { description: `v${i}` } });
          } catch (_e) {
            return; // the server is gone; st.inflight stays as the unknown write
          }
          if (r.status >= 200 && r.status < 300) {
            st.inflight = null;
            if (i === 0) st.created = true; else st.lastAcked = i;
            acks++;
            if (acks >= KILL_AFTER_ACKS && killedAt === null) killNow();
          } else {
            // After the kill started, a refused request is possible only if
            // the process died mid-answer; before it, any non-2xx is a bug.
            unexpected.push(`${i === 0 ? 'POST' : 'PUT'} ${name}: ${show(r)}`);
            st.inflight = null;
            return;
          }
        }
      }
    };
    const timer = setInterval(() => {
      if (Date.now() - started > MAX_BURST_MS && !stopping) killNow();
    }, 50);
    const running = Array.from({ length: WORKERS }, (_, w) => worker(w));
    while (!stopping) await sleep(5);
    clearInterval(timer);
    const exit = await srv.exited;
    await Promise.all(running);
    assert.equal(exit.signal, 'SIGKILL', `the server died of the SIGKILL: ${JSON.stringify(exit)}`);
    t.diagnostic(`burst: ${acks} writes acknowledged, ${inflightAtKill} in flight at the kill, ${flags.size} flags`);
    assert.ok(inflightAtKill > 0, 'the kill came while writes were in flight');
    assert.deepEqual(unexpected, [], 'writes refused during the burst');
    assert.ok(acks >= 20, `the burst got only ${acks} acknowledged writes before the kill (need at least 20 to mean anything)`);

    srv = await startServer({ dbPath, adminTokens: [admin] });
    const ready = await srv.api('GET', '/ready', { token: null });
    assert.equal(ready.status, 200, `the database opens cleanly after kill -9: ${show(ready)}`);

    const list = await must(srv, 'GET', '/api/admin/features', undefined, 200);
    const byName = new Map(list.features.filter((f) => f.name.startsWith('burst-')).map((f) => [f.name, f]));
    const full = (await allEvents(srv)).filter((e) => typeof e.featureName === 'string' && e.featureName.startsWith('burst-'));
    const perFlag = new Map();
    for (const e of full) {
      if (!perFlag.has(e.featureName)) perFlag.set(e.featureName, []);
      perFlag.get(e.featureName).push(e.type);
    }

    const problems = [];
    let committed = 0;
    let ackedWrites = 0;
    for (const [name, st] of flags) {
      const f = byName.get(name);
      const evs = perFlag.get(name) || [];
      ackedWrites += (st.created ? 1 : 0) + st.lastAcked;
      if (st.created && !f) { problems.push(`${name}: creation was acknowledged but the flag is missing`); continue; }
      if (!f) {
        if (evs.length) problems.push(`${name}: no flag but events ${evs.join(',')}`);
        if (!(st.inflight === 0)) problems.push(`${name}: never created although its creation was not in flight (${JSON.stringify(st)})`);
        continue;
      }
      // the flag exists: its description says how many updates committed
      const m = /^v(\d+)$/.exec(f.description);
      const applied = f.description === '' ? 0 : (m ? Number(m[1]) : NaN);
      const allowed = [st.lastAcked];
      if (st.inflight !== null && st.inflight > 0) allowed.push(st.inflight);
      if (!allowed.includes(applied)) {
        problems.push(`${name}: description ${JSON.stringify(f.description)}, expected v${st.lastAcked}${st.inflight ? ` or v${st.inflight} (in flight)` : ''}`);
        continue;
      }
      const writes = 1 + applied;
      committed += writes;
      const created = evs.filter((t) => t === 'feature-created').length;
      if (created !== 1) problems.push(`${name}: ${created} feature-created events`);
      if (evs.length !== writes) problems.push(`${name}: ${writes} committed writes but ${evs.length} events (${evs.join(',')})`);
    }
    for (const name of byName.keys()) if (!flags.has(name)) problems.push(`${name}: a flag nobody created`);
    assert.deepEqual(problems, [], `after kill -9 (${acks} acks, ${flags.size} flags):\n  ${problems.slice(0, 40).join('\n  ')}`);
    t.diagnostic(`after restart: ${byName.size} burst flags, ${committed} committed writes (${ackedWrites} acknowledged)`);
    assert.ok(committed >= ackedWrites && committed <= ackedWrites + WORKERS, `committed writes ${committed}, acknowledged ${ackedWrites}`);
    assert.equal(await eventCount(srv), eventsBefore + committed, 'the audit log has one event per committed write and nothing else');

    // and the server takes writes again
    await must(srv, 'POST', FEAT, { name: 'after-crash' }, 201);
  } finally {
    await srv.stop('SIGTERM');
    removeTempDir(dir);
  }
});
