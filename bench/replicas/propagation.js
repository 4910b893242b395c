'use strict';
// See run.sh. Reuses the launcher of the integration tests
// (tests/integration/server.js) and the replica helpers (tests/replicas/).
const S = require('../../tests/integration/server');
const R = require('../../tests/replicas/replicas');

const WRITES = Number(process.env.BENCH_WRITES || 300);

async function main() {
  const [a, b] = await R.startReplicas(2, { env: { VEXIL_LOG_REQUESTS: 'off' } });
  const flag = 'bench-propagation';
  const c = await a.api('POST', '/api/admin/projects/default/features', { body: { name: flag } });
  if (c.status !== 201) throw new Error(`create: ${S.show(c)}`);
  await R.waitFeatures(b, (f) => flag in f);
  const stream = R.openStream(b);
  await stream.waitFor((f) => f[flag] === false);
  const ack = [];
  const poll = [];
  const sse = [];
  for (let i = 0; i < WRITES; i++) {
    const on = i % 2 === 0;
    const t0 = performance.now();
    const r = await R.toggle(a, flag, on);
    if (r.status !== 200) throw new Error(`toggle: ${S.show(r)}`);
    ack.push(performance.now() - t0);
    const [tf, ts] = await Promise.all([
      R.waitFeatures(b, (f) => f[flag] === on),
      stream.waitFor((f) => f[flag] === on),
    ]);
    poll.push(tf - t0);
    sse.push(ts - t0);
  }
  stream.close();
  await R.stopAll();
  const line = (name, xs) => {
    const s = R.summary(xs);
    console.log(`${name.padEnd(34)} p50_ms=${s.p50.toFixed(2)} p99_ms=${s.p99.toFixed(2)} max_ms=${s.max.toFixed(2)}`);
  };
  console.log(`== replicas: ${WRITES} writes on A, two replicas on one PostgreSQL`);
  line('write acknowledged by A', ack);
  line('served by B /api/client/features', poll);
  line('received by a stream on B', sse);
  process.exit(0);
}

main().catch((e) => { console.error(e); process.exit(1); });
