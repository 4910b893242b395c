'use strict';
// See run.sh: GET /api/client/features latency while BENCH_WRITERS
// connections write to the admin API (each a loop of flag toggles), against
// the same reads with no writer. Prints p50/p99/max of the reads (with
// If-None-Match, as polling SDKs send, and without) and the write rate.
const http = require('node:http');
const S = require('../../tests/integration/server');
const R = require('../../tests/replicas/replicas');

const WRITERS = Number(process.env.BENCH_WRITERS || 50);
const READERS = Number(process.env.BENCH_READERS || 8);
const SECONDS = Number(process.env.BENCH_SECONDS || 10);
const FLAGS = Number(process.env.BENCH_FLAGS || 200);

const agent = new http.Agent({ keepAlive: true, maxSockets: WRITERS + READERS + 8 });

function get(srv, path, headers) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http.get(srv.url + path, { agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve([res.statusCode, performance.now() - t0, res.headers.etag]));
    }).on('error', reject);
  });
}

function post(srv, path) {
  return new Promise((resolve, reject) => {
    const req = http.request(srv.url + path, { method: 'POST', agent, headers: { Authorization: srv.adminToken } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end();
  });
}

async function phase(srv, client, writers) {
  let stop = false;
  const reads = [];
  const cached = [];
  let writes = 0;
  let failed = 0;
  const reader = async (conditional) => {
    let etag;
    while (!stop) {
      const h = { Authorization: client };
      if (conditional && etag) h['If-None-Match'] = etag;
      const [st, ms, tag] = await get(srv, '/api/client/features', h);
      if (st !== 200 && st !== 304) failed++;
      (conditional ? cached : reads).push(ms);
      if (tag) etag = tag;
    }
  };
  const writer = async (w) => {
    for (let i = 0; !stop; i++) {
      const f = `bench-${(w * 7919 + i) % FLAGS}`;
      const st = await post(srv, `/api/admin/projects/default/features/${f}/environments/production/${i % 2 ? 'on' : 'off'}`);
      if (st === 200) writes++;
    }
  };
  const t0 = performance.now();
  const end = S.sleep(SECONDS * 1000).then(() => { stop = true; });
  await Promise.all([end,
    ...Array.from({ length: READERS / 2 }, () => reader(false)),
    ...Array.from({ length: READERS / 2 }, () => reader(true)),
    ...Array.from({ length: writers }, (_, w) => writer(w))]);
  const secs = (performance.now() - t0) / 1000;
  return { reads: R.summary(reads), cached: R.summary(cached), writes: writes / secs, failed };
}

async function main() {
  const client = S.clientSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [client], env: { VEXIL_LOG_REQUESTS: 'off' } });
  for (let i = 0; i < FLAGS; i++) {
    const r = await srv.api('POST', '/api/admin/projects/default/features', { body: { name: `bench-${i}` } });
    if (r.status !== 201) throw new Error(`create: ${S.show(r)}`);
  }
  const quiet = await phase(srv, client, 0);
  const busy = await phase(srv, client, WRITERS);
  await srv.stop();
  agent.destroy();
  const fmt = (x) => `p50_ms=${x.p50.toFixed(2)} p99_ms=${x.p99.toFixed(2)} max_ms=${x.max.toFixed(2)} n=${x.n}`;
  console.log(`== hub reads under writes: ${FLAGS} flags, ${READERS} readers, ${SECONDS} s per phase`);
  console.log(`features, no writer                ${fmt(quiet.reads)}`);
  console.log(`features If-None-Match, no writer  ${fmt(quiet.cached)}`);
  console.log(`features, ${String(WRITERS).padEnd(3)} writers             ${fmt(busy.reads)}`);
  console.log(`features If-None-Match, writers    ${fmt(busy.cached)}`);
  console.log(`admin writes/s                     ${busy.writes.toFixed(0)} (failed reads ${quiet.failed + busy.failed})`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
