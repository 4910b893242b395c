'use strict';
// Tokens nobody holds cost a serving thread no wait (docs/operations.md,
// "Faults and what each endpoint answers"): a token missing from the
// cache is looked up in the database, and while the database is busy with
// a long write (here an Unleash import of thousands of flags, which holds
// it for a second or more) such lookups must not queue up on the serving
// threads. Anyone can send made-up tokens, no secret needed: a handful of
// clients doing so in a loop during the import must not hold up the SDK
// reads and /health of everyone else.
//
//   node --test tests/integration/token_flood.test.js  (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, clientSecret, show } = require('./server');

async function timed(url, path, token) {
  const t0 = performance.now();
  try {
    const r = await fetch(url + path, { headers: token ? { Authorization: token } : {}, signal: AbortSignal.timeout(10000) });
    await r.text();
    return { status: r.status, ms: performance.now() - t0 };
  } catch (e) {
    return { status: 0, ms: performance.now() - t0, error: String(e && e.message) };
  }
}

function describe(rs) {
  const ms = rs.map((r) => r.ms).sort((a, b) => a - b);
  const p = (q) => ms[Math.min(ms.length - 1, Math.ceil(q * ms.length) - 1)];
  return `n=${ms.length} p50=${p(0.5).toFixed(1)} p90=${p(0.9).toFixed(1)} max=${ms[ms.length - 1].toFixed(1)} ms`;
}

test('made-up tokens during a long write do not hold up SDK reads or /health', { timeout: 180000 }, async (t) => {
  const client = clientSecret('default', 'production');
  // Two serving threads, as on a small machine.
  const srv = await startServer({ clientTokens: [client], args: ['--threads', '2'] });
  try {
    const seen = await timed(srv.url, '/api/client/features', client);
    assert.equal(seen.status, 200, 'the real token, seen once before');
    const features = [];
    for (let i = 0; i < 8000; i++) features.push({ name: `big-${i}`, type: 'release', project: 'default', description: 'x'.repeat(200) });
    const featureStrategies = features.map((f) => ({
      name: 'flexibleRollout', featureName: f.name, parameters: { rollout: '50', stickiness: 'default' },
      constraints: [{ contextName: 'userId', operator: 'IN', values: ['a', 'b'] }],
    }));
    const doc = { exports: [{ environment: 'production', data: { features, featureStrategies, featureEnvironments: [] } }] };

    let importing = true;
    const t0 = performance.now();
    const imported = srv.api('POST', '/api/admin/import/unleash', { body: doc }).then((r) => {
      importing = false;
      return { ...r, ms: performance.now() - t0 };
    });
    // Made-up tokens, several clients in a loop, for as long as the import runs.
    const made = [];
    const flooders = Array.from({ length: 8 }, async () => {
      while (importing) made.push(await timed(srv.url, '/api/client/features', clientSecret('default', 'production')));
    });
    const reads = [];
    while (importing) {
      reads.push(await timed(srv.url, '/health'));
      reads.push(await timed(srv.url, '/api/client/features', client));
    }
    await Promise.all(flooders);
    const imp = await imported;
    assert.equal(imp.status, 200, show(imp));
    assert.ok(imp.ms >= 300, `the import took only ${imp.ms.toFixed(0)} ms: too short to show anything`);
    assert.ok(reads.length >= 4, `${reads.length} reads during the import (${imp.ms.toFixed(0)} ms): ${describe(reads)}`);

    // Made-up tokens are refused: 401, or 503 (retry) while the database is
    // busy; never a wait past the lookup's bound.
    assert.ok(made.length > 0);
    const wrong = made.filter((x) => x.status !== 401 && x.status !== 503);
    assert.equal(wrong.length, 0, `made-up tokens: ${JSON.stringify(wrong[0])}`);
    const bad = reads.filter((x) => x.status !== 200);
    assert.equal(bad.length, 0, `reads during the import: ${bad.length} failed, e.g. ${JSON.stringify(bad[0])}`);
    t.diagnostic(`import ${imp.ms.toFixed(0)} ms, ${made.length} made-up tokens, reads ${describe(reads)}`);
    const ms = reads.map((x) => x.ms).sort((a, b) => a - b);
    const p90 = ms[Math.ceil(0.9 * ms.length) - 1];
    // Generous for a loaded machine (the import itself takes a core): the
    // point is that reads do not queue behind lookups waiting on the
    // database (then every read waits about a second).
    assert.ok(p90 <= 300, `reads during the import (${imp.ms.toFixed(0)} ms, ${made.length} made-up tokens) are slow: ${describe(reads)}`);
    assert.ok(ms[ms.length - 1] <= 1500, `a read during the import waited: ${describe(reads)}`);
  } finally {
    await srv.stop();
  }
});
