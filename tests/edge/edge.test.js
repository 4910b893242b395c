'use strict';
// `vexil edge` against a real `vexil serve` (docs/edge.md):
//   - an edge serves each token the upstream's bytes (features plain,
//     gzipped and inlined with their ETags, delta, frontend, tag filters),
//     for a token it was given and one it was not, before and after
//     changes; an admin route is 404 there;
//   - a change on the server reaches an SDK streaming from the edge;
//   - the upstream killed: the edge serves its last state, /ready says
//     degraded with the state's age, /metrics says the upstream is down;
//     restarted: the edge catches up by itself;
//   - the edge restarted while the upstream is down serves its snapshot;
//   - revocation through an edge: the given token's streams and state,
//     a client token it was not given, a frontend token;
//   - unknown tokens sent while the upstream hangs hold no more than one
//     wait: the SDKs the edge knows are answered throughout;
//   - an edge follows another edge.
// Reports through an edge are in reports.test.js.
//
//   tests/edge/run.sh   (make edge; VEXIL_BIN set)

const test = require('node:test');
const assert = require('node:assert/strict');
const S = require('../integration/server');
const R = require('../replicas/replicas');
const E = require('./edge');

const FEAT = '/api/admin/projects/default/features';
const ENVP = (f) => `${FEAT}/${f}/environments/production`;

async function must(srv, method, p, body, status = 200) {
  const r = await srv.api(method, p, body === undefined ? {} : { body });
  assert.equal(r.status, status, `${method} ${p}: ${S.show(r)}`);
  return r.json;
}

// A server with a client and a frontend token (project default) and a flag
// set that exercises every part of a body: a segment, a rollout using it,
// variants with a payload, a tag, a flag of another project.
async function filledServer() {
  const client = S.clientSecret('default', 'production');
  const front = S.frontendSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [client], frontendTokens: [front] });
  const seg = await must(srv, 'POST', '/api/admin/segments', {
    name: 'beta', constraints: [{ contextName: 'userId', operator: 'IN', values: ['1', '2', '3'] }],
  }, 201);
  for (const name of ['alpha', 'beta', 'gamma']) await must(srv, 'POST', FEAT, { name }, 201);
  await must(srv, 'POST', `${ENVP('alpha')}/strategies`, {
    name: 'flexibleRollout', parameters: { rollout: '50', stickiness: 'userId', groupId: 'alpha' }, segments: [seg.id],
  });
  await must(srv, 'PUT', `${ENVP('beta')}/variants`, [
    { name: 'blue', weightType: 'variable', weight: 500, stickiness: 'default', payload: { type: 'json', value: '{"c":"é\\u2028"}' } },
    { name: 'green', weightType: 'variable', weight: 500, stickiness: 'default' },
  ]);
  await must(srv, 'POST', '/api/admin/features/gamma/tags', { type: 'simple', value: 'edge' }, 201);
  for (const name of ['alpha', 'beta', 'gamma']) await must(srv, 'POST', `${ENVP(name)}/on`);
  await must(srv, 'POST', '/api/admin/projects', { id: 'other', name: 'Other' }, 201);
  await must(srv, 'POST', '/api/admin/projects/other/features', { name: 'elsewhere' }, 201);
  return { srv, client, front, seg };
}

// Everything served to `client` and `front`, from `where`, as one text.
async function served(where, client, front) {
  const base = await R.servedBy(where, client, front);
  const tag = await S.request(where.url, 'GET', '/api/client/features?tag=simple:edge', { token: client });
  const one = await S.request(where.url, 'GET', '/api/client/features/beta', { token: client });
  return `${base}\n${tag.headers.get('etag')} ${tag.text}\n${one.status} ${one.text}`;
}

async function sameAsServer(srv, edge, client, front, ms = 5000) {
  let a;
  let b;
  await E.until(async () => {
    a = await served(srv, client, front);
    b = await served(edge, client, front);
    return a === b;
  }, ms, () => `the edge serves other bytes than the server:\n--- server\n${a.slice(0, 1500)}\n--- edge\n${b.slice(0, 1500)}`, 50);
}

async function newToken(srv, type, projects) {
  const r = await must(srv, 'POST', '/api/admin/api-tokens', {
    tokenName: `t-${Math.random().toString(36).slice(2)}`, type, environment: 'production', projects,
  }, 201);
  return r;
}

test('an edge serves each token the upstream\'s bytes, before and after changes', async () => {
  const { srv, client, front, seg } = await filledServer();
  const edge = await E.startEdge(srv, [client]);
  try {
    await sameAsServer(srv, edge, client, front);
    // A client token it was not given, seeing every project: checked once
    // upstream, then followed with a view of its own.
    const all = await newToken(srv, 'client', ['*']);
    await sameAsServer(srv, edge, all.secret, front);
    const doc = await S.request(edge.url, 'GET', '/api/client/features', { token: all.secret });
    assert.ok(doc.json.features.some((f) => f.name === 'elsewhere'), 'the other project is seen by a * token');
    // Changes: a toggle, a new flag, an archived one, a segment.
    await must(srv, 'POST', `${ENVP('gamma')}/off`);
    await must(srv, 'POST', FEAT, { name: 'delta' }, 201);
    await must(srv, 'DELETE', `${FEAT}/alpha`);
    await sameAsServer(srv, edge, client, front);
    await must(srv, 'PUT', `/api/admin/segments/${seg.id}`, {
      name: 'beta', constraints: [{ contextName: 'userId', operator: 'IN', values: ['9'] }],
    }, 204);
    await sameAsServer(srv, edge, client, front);
    await sameAsServer(srv, edge, all.secret, front);
    // A poll with the server's ETag is a 304 on the edge.
    const fromServer = await S.request(srv.url, 'GET', '/api/client/features', { token: client });
    const etag = fromServer.headers.get('etag');
    const cond = await S.request(edge.url, 'GET', '/api/client/features', { token: client, headers: { 'If-None-Match': etag } });
    assert.equal(cond.status, 304, S.show(cond));
    // What an edge is not: no admin API, no console; bad tokens as the server.
    assert.equal((await S.request(edge.url, 'GET', '/api/admin/projects', { token: srv.adminToken })).status, 404);
    assert.equal((await S.request(edge.url, 'GET', '/', {})).status, 404);
    for (const [tok, want] of [[undefined, 401], ['nope', 401], [front, 403], [srv.adminToken, 403]]) {
      const a = await S.request(edge.url, 'GET', '/api/client/features', { token: tok });
      const b = await S.request(srv.url, 'GET', '/api/client/features', { token: tok });
      assert.equal(a.status, want, S.show(a));
      assert.equal(a.status, b.status);
      assert.equal(a.text, b.text);
    }
  } finally {
    await edge.stop();
    await srv.stop();
  }
});

test('a change on the server reaches an SDK streaming from the edge', async () => {
  const client = S.clientSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [client] });
  await must(srv, 'POST', FEAT, { name: 'live' }, 201);
  const edge = await E.startEdge(srv, [client]);
  const stream = R.openStream(edge);
  try {
    await stream.waitFor((f) => f.live === false, 5000, 'the hydration');
    for (const on of [true, false, true]) {
      const t0 = performance.now();
      await R.toggle(srv, 'live', on);
      const t = await stream.waitFor((f) => f.live === on, 5000, `live ${on} through the edge`);
      assert.ok(t - t0 < 5000);
    }
  } finally {
    stream.close();
    await edge.stop();
    await srv.stop();
  }
});

test('upstream killed: the edge serves its last state and says so; restarted: it catches up', async () => {
  const client = S.clientSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [client] });
  await must(srv, 'POST', FEAT, { name: 'steady' }, 201);
  await must(srv, 'POST', `${ENVP('steady')}/on`);
  const edge = await E.startEdge(srv, [client]);
  try {
    const before = await S.request(edge.url, 'GET', '/api/client/features', { token: client });
    assert.equal(before.status, 200);
    assert.equal(await E.metric(edge.url, 'vexil_edge_upstream_up'), 1);
    await srv.kill9();
    // Degraded, with the age of the state, and the metric.
    let ready;
    await E.until(async () => {
      ready = await S.request(edge.url, 'GET', '/ready');
      return ready.status === 200 && ready.json.degraded === true;
    }, 10000, () => `/ready: ${S.show(ready)}`);
    assert.equal(typeof ready.json.stateAgeSeconds, 'number');
    assert.match(ready.json.message, /does not answer/);
    assert.equal(await E.metric(edge.url, 'vexil_edge_upstream_up'), 0);
    await S.sleep(1100);
    const later = await S.request(edge.url, 'GET', '/ready');
    assert.ok(later.json.stateAgeSeconds >= 1, S.show(later));
    const during = await S.request(edge.url, 'GET', '/api/client/features', { token: client });
    assert.equal(during.status, 200);
    assert.equal(during.text, before.text, 'the last state, unchanged');
    assert.equal(during.headers.get('etag'), before.headers.get('etag'));
    // Back: the edge reconnects with its backoff and follows again.
    const again = await E.restartServer(srv);
    await E.until(async () => (await S.request(edge.url, 'GET', '/ready')).json.degraded !== true, 20000,
      'the edge to say ready again');
    assert.equal(await E.metric(edge.url, 'vexil_edge_upstream_up'), 1);
    await must(again, 'POST', `${ENVP('steady')}/off`);
    await E.until(async () => {
      const r = await S.request(edge.url, 'GET', '/api/client/features', { token: client });
      return r.json.features.find((f) => f.name === 'steady').enabled === false;
    }, 10000, 'a change after the restart');
    await again.stop();
  } finally {
    await edge.stop();
    await srv.stop();
  }
});

test('an edge restarted while the upstream is down serves its snapshot, then catches up', async () => {
  const client = S.clientSecret('default', 'production');
  const front = S.frontendSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [client], frontendTokens: [front] });
  await must(srv, 'POST', FEAT, { name: 'kept' }, 201);
  await must(srv, 'POST', `${ENVP('kept')}/on`);
  let edge = await E.startEdge(srv, [client]);
  const dataDir = edge.dataDir;
  const port = edge.port;
  try {
    // The frontend token is checked once through the edge (cached).
    assert.equal((await S.request(edge.url, 'GET', '/api/frontend?userId=1', { token: front })).status, 200);
    const before = await served(edge, client, front);
    await S.sleep(1500); // the snapshot and token file are written (at most once a second)
    await srv.stop();
    await edge.stop();
    edge = await E.startEdge(srv, [client], { dataDir, port, readyStatuses: [200] });
    const ready = await S.request(edge.url, 'GET', '/ready');
    assert.equal(ready.json.degraded, true, S.show(ready));
    assert.equal(await served(edge, client, front), before, 'the snapshot serves the same bytes');
    const again = await E.restartServer(srv);
    await must(again, 'POST', `${ENVP('kept')}/off`);
    await E.until(async () => {
      const r = await S.request(edge.url, 'GET', '/api/client/features', { token: client });
      return r.json.features[0].enabled === false;
    }, 20000, 'the edge to catch up after the upstream came back');
    await again.stop();
  } finally {
    await edge.stop();
    await srv.stop();
  }
});

test('revocation through an edge: streams end, tokens are refused within seconds', async () => {
  const client = S.clientSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [client] });
  await must(srv, 'POST', FEAT, { name: 'r' }, 201);
  const given = await newToken(srv, 'client', ['default']);
  const other = await newToken(srv, 'client', ['*']);
  const front = await newToken(srv, 'frontend', ['default']);
  const edge = await E.startEdge(srv, [client, given.secret]);
  try {
    for (const t of [given, other]) {
      assert.equal((await S.request(edge.url, 'GET', '/api/client/features', { token: t.secret })).status, 200);
    }
    assert.equal((await S.request(edge.url, 'GET', '/api/frontend', { token: front.secret })).status, 200);
    const s1 = await R.streamRequest(edge, given.secret);
    const s2 = await R.streamRequest(edge, other.secret);
    assert.equal(s1.status, 200);
    assert.equal(s2.status, 200);
    const f1 = R.follow(s1.res);
    const f2 = R.follow(s2.res);
    for (const t of [given, other, front]) await must(srv, 'DELETE', `/api/admin/api-tokens/${t.id}`);
    const t0 = performance.now();
    // The upstream ends the revoked tokens' streams; the edge notices and
    // ends its own (the contract is a second; bounds are generous for a
    // loaded machine).
    const ended = await Promise.race([Promise.all([f1.ended, f2.ended]), S.sleep(8000).then(() => null)]);
    assert.ok(ended, 'the edge ended the revoked tokens\' streams');
    for (const t of [given, other, front]) {
      const p = t === front ? '/api/frontend' : '/api/client/features';
      await E.until(async () => (await S.request(edge.url, 'GET', p, { token: t.secret })).status === 401, 8000,
        `${t.type} token refused on the edge`);
    }
    const took = performance.now() - t0;
    assert.ok(took < 8000, `revocation took ${took} ms`);
    // The edge's own token still works.
    assert.equal((await S.request(edge.url, 'GET', '/api/client/features', { token: client })).status, 200);
  } finally {
    await edge.stop();
    await srv.stop();
  }
});

test('unknown tokens while the upstream hangs: the SDKs the edge knows are answered throughout, the unknown get 503', async () => {
  const client = S.clientSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [client] });
  await must(srv, 'POST', FEAT, { name: 'steady' }, 201);
  await must(srv, 'POST', `${ENVP('steady')}/on`);
  const edge = await E.startEdge(srv, [client], { args: ['--threads', '2'] });
  let stopped = false;
  try {
    const before = await S.request(edge.url, 'GET', '/api/client/features', { token: client });
    assert.equal(before.status, 200);
    // The upstream hangs (not gone: connections are accepted, never
    // answered), so checking a token the edge does not know takes as long
    // as the edge lets it. Eight clients send fresh unknown tokens, each
    // after the last was answered, for six seconds.
    stopped = true;
    await S.freeze(srv.proc);
    const end = Date.now() + 6000;
    const refused = { 503: 0, other: 0, retryAfter: 0 };
    const flood = Array.from({ length: 8 }, async () => {
      while (Date.now() < end) {
        const t = `*:production.${Math.random().toString(16).slice(2)}${Math.random().toString(16).slice(2)}`;
        let r;
        try {
          r = await S.request(edge.url, 'GET', '/api/client/features', { token: t });
        } catch (e) {
          refused.other++;
          refused.error = String(e.cause || e);
          continue;
        }
        if (r.status === 503) refused[503]++;
        else {
          refused.other++;
          // What came instead, and when (ms after the freeze).
          refused[`status${r.status}`] = `${r.text.slice(0, 200)} at ${6000 - (end - Date.now())} ms`;
        }
        if (r.headers.get('retry-after')) refused.retryAfter++;
      }
    });
    // Meanwhile an SDK the edge knows polls: each answer comes, with the
    // state the edge holds, in less than the SDKs' own timeouts (the
    // Unleash SDKs give up after 10 s; a waiting check takes at most 2 s).
    const slowest = [];
    await S.sleep(300);
    while (Date.now() < end) {
      const t0 = Date.now();
      const r = await Promise.race([
        S.request(edge.url, 'GET', '/api/client/features', { token: client }).catch((e) => ({ status: String(e.cause || e) })),
        S.sleep(4000).then(() => null)]);
      assert.ok(r, 'the edge answered a token it knows within 4 s while unknown tokens waited for the upstream');
      assert.equal(r.status, 200);
      assert.equal(r.text, before.text);
      slowest.push(Date.now() - t0);
      await S.sleep(100);
    }
    await Promise.all(flood);
    assert.equal(refused.other, 0, `every unknown token got 503 (its check cannot finish): ${JSON.stringify(refused)} ${edge.stderr.slice(-4000)}`);
    assert.equal(refused.retryAfter, refused[503], 'each 503 says when to retry');
    assert.ok(refused[503] > 16, `the unknown tokens were answered at once, not one per wait: ${refused[503]} answers`);
    srv.proc.kill('SIGCONT');
    stopped = false;
    // The upstream back: an unknown token is checked and refused (401).
    await E.until(async () => (await S.request(edge.url, 'GET', '/api/client/features', { token: '*:production.nope' })).status === 401,
      15000, 'an unknown token refused once the upstream answers');
  } finally {
    if (stopped) srv.proc.kill('SIGCONT');
    await edge.stop();
    await srv.stop();
  }
});

test('an edge may follow another edge', async () => {
  const client = S.clientSecret('default', 'production');
  const front = S.frontendSecret('default', 'production');
  const srv = await S.startServer({ clientTokens: [client], frontendTokens: [front] });
  await must(srv, 'POST', FEAT, { name: 'chain' }, 201);
  await must(srv, 'POST', '/api/admin/features/chain/tags', { type: 'simple', value: 'edge' }, 201);
  const first = await E.startEdge(srv, [client]);
  const second = await E.startEdge(first, [client]);
  const stream = R.openStream(second);
  try {
    await sameAsServer(srv, second, client, front);
    await stream.waitFor((f) => f.chain === false, 5000, 'the hydration through two edges');
    await R.toggle(srv, 'chain', true);
    await stream.waitFor((f) => f.chain === true, 5000, 'a change through two edges');
    await sameAsServer(srv, second, client, front);
  } finally {
    stream.close();
    await second.stop();
    await first.stop();
    await srv.stop();
  }
});

test('vexil edge: --help, bad settings refused with the setting named, a config file and the environment', async () => {
  const { execFileSync, spawnSync } = require('node:child_process');
  const fs = require('node:fs');
  const path = require('node:path');
  const help = execFileSync(S.vexilBin(), ['edge', '--help'], { encoding: 'utf8' });
  for (const s of ['--upstream', '--token', '--data-dir', '--forward-ms', '--queue-bytes', '--max-streams', 'VEXIL_EDGE_TOKENS']) {
    assert.ok(help.includes(s), `--help lists ${s}`);
  }
  const bad = (args, env = {}) => spawnSync(S.vexilBin(), ['edge', '--port', '0', '--data-dir', '', ...args],
    { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 10000 });
  let r = bad([]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--upstream URL is required/);
  r = bad(['--upstream', 'ftp://x']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /upstream: upstream must be an http:\/\/ or https:\/\/ URL/);
  r = bad(['--upstream', 'http://127.0.0.1:1', '--forward-ms', '5']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /forward-ms must be a whole number from 100/);
  r = bad(['--upstream', 'http://127.0.0.1:1', '--max-connections', '10', '--max-streams', '10']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /max-streams/);

  // The same edge from a config file (tokens add up with the variable).
  const client = S.clientSecret('default', 'production');
  const other = S.clientSecret('default', 'development');
  const srv = await S.startServer({ clientTokens: [client, other] });
  const dir = S.tempDir('vexil-edge-conf-');
  const port = await S.freePort();
  const conf = path.join(dir, 'edge.conf');
  fs.writeFileSync(conf, `# an edge\nupstream = ${srv.url}/api/\ntoken = ${client}\nport = ${port}\nlog-requests = off\ndata-dir = ${dir}/data\n`);
  const edge = await E.startEdge(srv, [], { port, bare: true, args: ['--config', conf], env: { VEXIL_EDGE_TOKENS: other } });
  try {
    for (const t of [client, other]) {
      const a = await S.request(edge.url, 'GET', '/api/client/features', { token: t });
      const b = await S.request(srv.url, 'GET', '/api/client/features', { token: t });
      assert.equal(a.status, 200, S.show(a));
      assert.equal(a.text, b.text);
    }
    const m = await E.metric(edge.url, 'vexil_edge_views', 'state="up"');
    assert.equal(m, 2, 'both tokens are followed');
  } finally {
    await edge.stop();
    await srv.stop();
  }
});
