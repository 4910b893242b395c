'use strict';
// See run.sh: many concurrent streams on one server. Prints the server's
// RSS per open stream, the time to open them, the propagation of a change
// to every stream (p50/p99/max over all streams and writes), and how long
// the server takes to release them once their clients close.
const fs = require('node:fs');
const S = require('../../tests/integration/server');
const R = require('../../tests/replicas/replicas');
const { stream } = require('./stream_client');

const STREAMS = Number(process.env.BENCH_STREAMS || 2000);
const WRITES = Number(process.env.BENCH_WRITES || 50);

const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

async function main() {
  const client = S.clientSecret('default', 'production');
  const srv = await S.startServer({
    clientTokens: [client],
    env: {
      VEXIL_LOG_REQUESTS: 'off',
      VEXIL_MAX_CONNECTIONS: String(STREAMS * 2 + 256),
      VEXIL_MAX_STREAMS: String(STREAMS + 16),
      VEXIL_MAX_STREAMS_PER_TOKEN: String(STREAMS + 16),
      VEXIL_MAX_PER_ADDRESS: '0', // every stream comes from 127.0.0.1
    },
  });
  const flag = 'bench-streams';
  await srv.api('POST', '/api/admin/projects/default/features', { body: { name: flag } });
  await R.clientFlags({ ...srv, clientTokens: [client] });
  const rss0 = rssMb(srv.proc.pid);
  const t0 = performance.now();
  const streams = [];
  for (let i = 0; i < STREAMS; i += 100) {
    const batch = [];
    for (let k = i; k < Math.min(STREAMS, i + 100); k++) batch.push(stream(srv.url, client, flag));
    streams.push(...(await Promise.all(batch)));
  }
  const opened = performance.now() - t0;
  await S.sleep(500);
  const rss1 = rssMb(srv.proc.pid);
  const lat = [];
  for (let w = 0; w < WRITES; w++) {
    const on = w % 2 === 0;
    const w0 = performance.now();
    const r = await R.toggle(srv, flag, on);
    if (r.status !== 200) throw new Error(`toggle: ${S.show(r)}`);
    const deadline = performance.now() + 10000;
    while (streams.some((s) => !s.seen.some(([t, v]) => t >= w0 && v === on)) && performance.now() < deadline) await S.sleep(2);
    for (const s of streams) {
      const hit = s.seen.find(([t, v]) => t >= w0 && v === on);
      lat.push(hit ? hit[0] - w0 : 10000);
    }
  }
  const rss2 = rssMb(srv.proc.pid);
  const c0 = performance.now();
  for (const s of streams) s.req.destroy();
  let left = STREAMS;
  while (left > 0 && performance.now() - c0 < 30000) {
    await S.sleep(20);
    const m = await S.request(srv.url, 'GET', '/metrics');
    left = Number(/vexil_sdk_streaming_clients (\d+)/.exec(m.text)[1]);
  }
  const released = performance.now() - c0;
  await srv.stop();
  const s = R.summary(lat);
  console.log(`== hub streams: ${STREAMS} streams, ${WRITES} writes`);
  console.log(`streams opened                     total_ms=${opened.toFixed(0)}`);
  console.log(`server RSS                         before_mb=${rss0.toFixed(1)} open_mb=${rss1.toFixed(1)} after_writes_mb=${rss2.toFixed(1)} per_stream_kb=${((rss1 - rss0) * 1024 / STREAMS).toFixed(1)}`);
  console.log(`change to every stream             p50_ms=${s.p50.toFixed(2)} p99_ms=${s.p99.toFixed(2)} max_ms=${s.max.toFixed(2)} (n=${s.n})`);
  console.log(`all released after clients closed  ms=${released.toFixed(0)} left=${left}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
