'use strict';
// See run.sh: BENCH_STREAMS concurrent streaming SDK connections on one
// edge (following a server) and on one server, BENCH_WRITES flag changes
// made on the server, and for each target: the RSS each open stream costs
// it, the time to open them, and the propagation of a change to every
// stream (p50/p99/max over all streams and writes; through the edge this
// is server -> edge -> SDK). BENCH_TARGET=server|edge|both (default both).
const fs = require('node:fs');
const S = require('../../tests/integration/server');
const R = require('../../tests/replicas/replicas');
const E = require('../../tests/edge/edge');
const { stream } = require('../hub/stream_client');

const STREAMS = Number(process.env.BENCH_STREAMS || 10000);
const WRITES = Number(process.env.BENCH_WRITES || 20);
const TARGET = process.env.BENCH_TARGET || 'both';
const OPEN_BATCH = Number(process.env.BENCH_OPEN_BATCH || 200);

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

async function openAll(url, token, flag) {
  const streams = [];
  for (let i = 0; i < STREAMS; i += OPEN_BATCH) {
    const batch = [];
    for (let k = i; k < Math.min(STREAMS, i + OPEN_BATCH); k++) batch.push(stream(url, token, flag));
    streams.push(...(await Promise.all(batch)));
  }
  return streams;
}

// Times WRITES toggles from the admin request to every stream's receipt.
async function propagate(srv, flag, streams) {
  const lat = [];
  let missed = 0;
  for (let w = 0; w < WRITES; w++) {
    const on = w % 2 === 0;
    const w0 = performance.now();
    const r = await R.toggle(srv, flag, on);
    if (r.status !== 200) throw new Error(`toggle: ${S.show(r)}`);
    const deadline = performance.now() + 20000;
    while (streams.some((s) => !s.seen.some(([t, v]) => t >= w0 && v === on)) && performance.now() < deadline) await S.sleep(5);
    for (const s of streams) {
      const hit = s.seen.find(([t, v]) => t >= w0 && v === on);
      if (!hit) missed++;
      lat.push(hit ? hit[0] - w0 : 20000);
    }
    await S.sleep(100);
  }
  return { s: R.summary(lat), missed };
}

async function run(kind) {
  const client = S.clientSecret('default', 'production');
  const conns = String(STREAMS + 2048);
  const srv = await S.startServer({
    clientTokens: [client],
    env: {
      VEXIL_LOG_REQUESTS: 'off',
      VEXIL_MAX_CONNECTIONS: conns,
      VEXIL_MAX_STREAMS: String(STREAMS + 16),
      VEXIL_MAX_STREAMS_PER_TOKEN: String(STREAMS + 16),
      // Every stream comes from 127.0.0.1: past the default per-address
      // cap (4,096) the server would refuse them.
      VEXIL_MAX_PER_ADDRESS: '0',
    },
  });
  const flag = 'bench-edge';
  await srv.api('POST', '/api/admin/projects/default/features', { body: { name: flag } });
  let edge = null;
  let target = srv;
  if (kind === 'edge') {
    edge = await E.startEdge(srv, [client], {
      dataDir: '',
      args: ['--max-connections', conns, '--max-streams', String(STREAMS + 16),
        '--max-streams-per-token', String(STREAMS + 16), '--max-per-address', '0'],
    });
    target = edge;
  }
  await S.sleep(300);
  const rss0 = rssKb(target.proc.pid);
  const srvRss0 = rssKb(srv.proc.pid);
  const t0 = performance.now();
  const streams = await openAll(target.url, client, flag);
  const opened = performance.now() - t0;
  await S.sleep(1000);
  const rss1 = rssKb(target.proc.pid);
  const srvRss1 = rssKb(srv.proc.pid);
  const { s, missed } = await propagate(srv, flag, streams);
  const rss2 = rssKb(target.proc.pid);
  for (const x of streams) x.req.destroy();
  if (edge) await edge.stop();
  await srv.stop();
  const name = kind === 'edge' ? 'edge (server -> edge -> SDK)' : 'server';
  console.log(`== ${name}: ${STREAMS} streams, ${WRITES} changes`);
  console.log(`streams opened                 total_ms=${opened.toFixed(0)}`);
  console.log(`${kind} RSS                     before_mb=${(rss0 / 1024).toFixed(1)} open_mb=${(rss1 / 1024).toFixed(1)} after_changes_mb=${(rss2 / 1024).toFixed(1)} per_stream_kb=${((rss1 - rss0) / STREAMS).toFixed(1)}`);
  if (kind === 'edge') console.log(`upstream server RSS            before_mb=${(srvRss0 / 1024).toFixed(1)} with_edge_streams_mb=${(srvRss1 / 1024).toFixed(1)}`);
  console.log(`change to every stream         p50_ms=${s.p50.toFixed(2)} p99_ms=${s.p99.toFixed(2)} max_ms=${s.max.toFixed(2)} (n=${s.n}, missed=${missed})`);
}

async function main() {
  if (TARGET === 'server' || TARGET === 'both') await run('server');
  if (TARGET === 'edge' || TARGET === 'both') await run('edge');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
