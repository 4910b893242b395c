'use strict';
// What the web console needs from the admin API (docs/admin-api.md), end
// to end against the real binary: flag lists sorted, filtered and paged on
// the server (and the old unpaged answer for callers that do not ask),
// admin answers gzipped for clients that accept it, IP ranges refused
// before they are stored, refusals in words, and the playground's reason
// for every strategy ("outside the 25 % (bucket 55 ...)") with the
// strategies' titles and the disabled ones.
//
//   node --test tests/integration/console_api.test.js   (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const zlib = require('node:zlib');
const { startServer, show } = require('./server');

let srv;
const P = '/api/admin/projects/default/features';
const E = (f, env = 'production') => `${P}/${f}/environments/${env}`;

async function must(method, path, body, status) {
  const r = await srv.api(method, path, body === undefined ? {} : { body });
  if (status) assert.equal(r.status, status, `${method} ${path}: ${show(r)}`);
  else assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${show(r)}`);
  return r.json;
}

// A GET with our own headers over node:http, the body left as sent.
function rawGet(path, headers) {
  return new Promise((resolve, reject) => {
    const u = new URL(srv.url + path);
    const req = http.get({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers: { Authorization: srv.adminToken, ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
  });
}

test.before(async () => {
  srv = await startServer();
  await must('POST', '/api/admin/projects', { id: 'mobile', name: 'Mobile' }, 201);
  // 30 flags: a-00 .. a-29 in default (every third an experiment, every
  // fifth stale, every seventh tagged), three in mobile.
  for (let i = 0; i < 30; i++) {
    const name = `a-${String(i).padStart(2, '0')}`;
    const body = { name, type: i % 3 === 0 ? 'experiment' : 'release', description: i === 17 ? 'The Checkout page' : '' };
    if (i % 7 === 0) body.tags = [{ type: 'simple', value: 'team-x' }];
    await must('POST', P, body, 201);
    if (i % 5 === 0) await must('PUT', `${P}/${name}`, { stale: true }, 200);
  }
  for (const n of ['m-1', 'm-2', 'm-3']) await must('POST', '/api/admin/projects/mobile/features', { name: n }, 201);
});

test.after(async () => {
  if (srv) await srv.stop();
});

test('a flag list without paging parameters is the old answer: every flag, no total', async () => {
  const r = await must('GET', '/api/admin/features');
  assert.deepEqual(Object.keys(r).sort(), ['features', 'version']);
  assert.equal(r.features.length, 33);
});

test('sortBy, sortOrder, offset and limit page the list; total counts every match', async () => {
  const first = await must('GET', '/api/admin/features?sortBy=name&sortOrder=asc&offset=0&limit=10');
  assert.equal(first.total, 33);
  assert.deepEqual(first.features.map((f) => f.name), Array.from({ length: 10 }, (_, i) => `a-0${i}`));
  const last = await must('GET', '/api/admin/features?sortBy=name&sortOrder=desc&offset=0&limit=4');
  assert.deepEqual(last.features.map((f) => f.name), ['m-3', 'm-2', 'm-1', 'a-29']);
  const beyond = await must('GET', '/api/admin/features?limit=10&offset=40');
  assert.equal(beyond.total, 33);
  assert.deepEqual(beyond.features, []);
  // Each page holds whole flags, with their environments, as before.
  assert.ok(first.features[0].environments.some((e) => e.name === 'production'));
  // Pages put together are the whole sorted list, each flag once.
  const seen = [];
  for (let off = 0; off < 33; off += 7) {
    const p = await must('GET', `/api/admin/features?sortBy=createdAt&offset=${off}&limit=7`);
    seen.push(...p.features.map((f) => f.name));
  }
  assert.equal(new Set(seen).size, 33);
});

test('query, type, tag, stale and project filter on the server', async () => {
  const q = await must('GET', '/api/admin/features?query=checkout&limit=50');
  assert.deepEqual(q.features.map((f) => f.name), ['a-17'], 'description, any case');
  const byName = await must('GET', '/api/admin/features?query=A-2&limit=50');
  assert.equal(byName.total, 10);
  const exp = await must('GET', '/api/admin/features?type=experiment&limit=50');
  assert.equal(exp.total, 10);
  assert.ok(exp.features.every((f) => f.type === 'experiment'));
  const tagged = await must('GET', '/api/admin/features?tag=simple%3Ateam-x&limit=50');
  assert.deepEqual(tagged.features.map((f) => f.name), ['a-00', 'a-07', 'a-14', 'a-21', 'a-28']);
  const stale = await must('GET', '/api/admin/features?stale=true&limit=50');
  assert.deepEqual(stale.features.map((f) => f.name), ['a-00', 'a-05', 'a-10', 'a-15', 'a-20', 'a-25']);
  const notStale = await must('GET', '/api/admin/features?stale=false&limit=1');
  assert.equal(notStale.total, 27);
  const mobile = await must('GET', '/api/admin/features?project=mobile');
  assert.deepEqual(mobile.features.map((f) => f.name), ['m-1', 'm-2', 'm-3']);
  const inProject = await must('GET', '/api/admin/projects/mobile/features?sortOrder=desc&limit=2');
  assert.deepEqual(inProject.features.map((f) => f.name), ['m-3', 'm-2']);
  assert.equal(inProject.total, 3);
});

test('the archive list pages the same way', async () => {
  await must('DELETE', `${P}/a-29`, undefined, 200);
  await must('DELETE', `${P}/a-28`, undefined, 200);
  const all = await must('GET', '/api/admin/archive/features');
  assert.deepEqual(Object.keys(all).sort(), ['features', 'version']);
  const page = await must('GET', '/api/admin/archive/features?sortBy=name&limit=1');
  assert.equal(page.total, 2);
  assert.deepEqual(page.features.map((f) => [f.name, f.archived]), [['a-28', true]]);
  await must('POST', '/api/admin/archive/revive/a-28', undefined, 200);
  await must('POST', '/api/admin/archive/revive/a-29', undefined, 200);
});

test('bad paging parameters are refused with the parameter named', async () => {
  const cases = [
    ['sortBy=colour', '/query/sortBy'], ['sortOrder=up', '/query/sortOrder'], ['limit=0', '/query/limit'],
    ['limit=1001', '/query/limit'], ['offset=-1', '/query/offset'], ['offset=x', '/query/offset'],
    ['stale=maybe', '/query/stale'], ['tag=nocolon', '/query/tag'],
  ];
  for (const [qs, path] of cases) {
    const r = await srv.api('GET', `/api/admin/features?${qs}`);
    assert.equal(r.status, 400, `${qs}: ${show(r)}`);
    assert.equal(r.json.details[0].path, path, qs);
  }
});

test('admin answers are gzipped for clients that accept it, and only for them', async () => {
  const gz = await rawGet('/api/admin/features', { 'Accept-Encoding': 'gzip, deflate' });
  assert.equal(gz.status, 200);
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.match(gz.headers.vary || '', /Accept-Encoding/i);
  const text = zlib.gunzipSync(gz.body).toString('utf8');
  assert.equal(JSON.parse(text).features.length, 33);
  const plain = await rawGet('/api/admin/features', {});
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.body.toString('utf8'), text, 'the same bytes, uncompressed');
  assert.ok(gz.body.length * 4 < plain.body.length, `compressed ${gz.body.length} of ${plain.body.length} bytes`);
  const refused = await rawGet('/api/admin/features', { 'Accept-Encoding': 'gzip;q=0, identity' });
  assert.equal(refused.headers['content-encoding'], undefined);
  // A tiny answer is not worth it.
  const small = await rawGet('/api/admin/features/a-00/tags', { 'Accept-Encoding': 'gzip' });
  assert.equal(small.headers['content-encoding'], undefined);
  assert.deepEqual(JSON.parse(small.body.toString('utf8')).tags, [{ type: 'simple', value: 'team-x' }]);
});

test('an IP range the evaluator would never match is refused, for constraints and the remoteAddress strategy', async () => {
  const before = await must('GET', `${E('a-01')}/strategies`);
  const c = await srv.api('POST', `${E('a-01')}/strategies`, {
    body: { name: 'default', constraints: [{ contextName: 'remoteAddress', operator: 'IN_CIDR', values: ['10.0.0.0/33'] }] },
  });
  assert.equal(c.status, 400, show(c));
  assert.equal(c.json.details[0].path, '/constraints/0/values/0');
  const s = await srv.api('POST', `${E('a-01')}/strategies`, { body: { name: 'remoteAddress', parameters: { IPs: '10.1.2.3, 10.0.0.0/33' } } });
  assert.equal(s.status, 400, show(s));
  assert.equal(s.json.details[0].path, '/parameters/IPs');
  assert.match(s.json.details[0].message, /'10\.0\.0\.0\/33' is not an IP address or a CIDR range/);
  const ok = await srv.api('POST', `${E('a-01')}/strategies`, { body: { name: 'remoteAddress', parameters: { IPs: '10.1.2.3, 192.168.0.0/16, ::1' } } });
  assert.equal(ok.status, 200, show(ok));
  const after = await must('GET', `${E('a-01')}/strategies`);
  assert.equal(after.length, before.length + 1, 'only the valid one was stored');
});

test('a refused change says which role it needs, in words', async () => {
  const viewer = await must('POST', '/api/admin/api-tokens', { tokenName: 'v', type: 'admin', role: 'viewer' }, 201);
  const r = await srv.api('POST', `${E('a-02')}/on`, { token: viewer.secret });
  assert.equal(r.status, 403);
  assert.match(r.json.message, /viewer role may not do this: it needs the editor role/);
  assert.doesNotMatch(r.json.message, /ENV_ON|[A-Z]{3,}_[A-Z]+/, 'no internal operation name');
});

test('the playground says why each strategy is on or off, by its title, disabled ones included', async () => {
  await must('POST', P, { name: 'pg' }, 201);
  await must('POST', '/api/admin/segments', { name: 'grown-ups', constraints: [{ contextName: 'age', operator: 'NUM_GTE', value: '18' }] }, 201);
  const seg = (await must('GET', '/api/admin/segments')).segments.find((x) => x.name === 'grown-ups');
  const add = (s) => must('POST', `${E('pg')}/strategies`, s, 200);
  await add({ name: 'flexibleRollout', title: 'A quarter of users', parameters: { rollout: '25', groupId: 'g25', stickiness: 'default' } });
  await add({ name: 'default', title: 'Thai users', constraints: [{ contextName: 'country', operator: 'IN', values: ['TH'] }] });
  await add({ name: 'default', title: 'Off for now', disabled: true });
  await add({ name: 'flexibleRollout', parameters: { rollout: '50', stickiness: 'tenantId' } });
  await add({ name: 'userWithId', parameters: { userIds: 'alice,bob' } });
  await add({ name: 'default', segments: [seg.id] });
  await must('POST', `${E('pg')}/on`, undefined, 200);
  const r = await must('POST', '/api/admin/playground', { environment: 'production', projects: ['default'], context: { userId: 'u2', properties: { country: 'FR', age: '12' } } });
  const f = r.features.find((x) => x.name === 'pg');
  assert.equal(f.isEnabled, false);
  const data = f.strategies.data;
  assert.deepEqual(data.map((s) => [s.title, s.disabled, s.result]), [
    ['A quarter of users', false, false], ['Thai users', false, false], ['Off for now', true, false],
    [null, false, false], [null, false, false], [null, false, false]]);
  // u2 hashes to bucket 55 in group g25 (murmur3, as the Unleash SDKs).
  assert.deepEqual(data[0].reason, { kind: 'outside-rollout', message: 'outside the 25 % (bucket 55: userId u2)', percentage: 25, bucket: 55, stickiness: 'userId' });
  assert.equal(data[1].reason.kind, 'constraint');
  assert.equal(data[1].reason.constraint, 0);
  assert.match(data[1].reason.message, /constraint 1 \(country IN\) does not hold/);
  assert.equal(data[2].reason.kind, 'disabled');
  assert.deepEqual([data[3].reason.kind, data[3].reason.stickiness], ['no-stickiness', 'tenantId']);
  assert.equal(data[4].reason.kind, 'not-listed');
  assert.deepEqual([data[5].reason.kind, data[5].reason.segment], ['segment', seg.id]);
  assert.match(data[5].reason.message, /segment 'grown-ups' does not match/);
  // The same context inside the rollout: the reason says so, and the flag is on.
  const on = await must('POST', '/api/admin/playground', { environment: 'production', projects: ['default'], context: { userId: 'u1' } });
  const g = on.features.find((x) => x.name === 'pg');
  assert.equal(g.isEnabled, true);
  assert.deepEqual([g.strategies.data[0].result, g.strategies.data[0].reason.kind, g.strategies.data[0].reason.bucket], [true, 'match', 19]);
  assert.match(g.strategies.data[0].reason.message, /inside the 25 % \(bucket 19 by userId\)/);
});

test('a paged list on one server shows a change made on another server at once', async () => {
  const other = await startServer({ dbPath: srv.dbPath, adminTokens: srv.adminTokens });
  try {
    // Both servers have answered a list (and kept its summaries).
    await must('GET', '/api/admin/features?limit=1');
    assert.equal((await other.api('GET', '/api/admin/features?limit=1')).status, 200);
    const created = await other.api('POST', P, { body: { name: 'zz-from-b', description: 'Made on B' } });
    assert.equal(created.status, 201, show(created));
    const seen = await must('GET', '/api/admin/features?query=made%20on%20b');
    assert.deepEqual(seen.features.map((f) => f.name), ['zz-from-b'], 'no wait for a poll: the revision says');
    assert.equal((await other.api('PUT', `${P}/zz-from-b`, { body: { description: 'changed on B' } })).status, 200);
    const after = await must('GET', '/api/admin/features?query=changed%20on%20b');
    assert.deepEqual(after.features.map((f) => [f.name, f.description]), [['zz-from-b', 'changed on B']]);
    const projects = await must('GET', '/api/admin/projects');
    assert.equal(projects.projects.find((p) => p.id === 'default').featureCount, 32);
  } finally {
    await other.stop();
  }
});
