'use strict';
// Token checks and OFREP's CORS (docs/admin-api.md "API tokens",
// docs/ofrep.md): a token cannot be created already expired, for a project
// that does not exist (singular `project` or any of `projects`) or with a
// project list longer than a token can hold; an expiry cannot be moved
// into the past. OFREP answers browsers like the frontend API does: the
// --frontend-origins decision on every answer, errors included, and a
// preflight without a token.
//
//   node --test tests/integration/tokens_scope.test.js     (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, clientSecret, frontendSecret, eventCount, show, removeTempDir } = require('./server');

const ORIGIN = 'https://app.example.com';
let srv;
let client;
let frontend;

test.before(async () => {
  client = clientSecret('default', 'production');
  frontend = frontendSecret('default', 'production');
  srv = await startServer({ clientTokens: [client], frontendTokens: [frontend], env: { VEXIL_FRONTEND_ORIGINS: `${ORIGIN}, https://other.example.com` } });
});

test.after(async () => {
  if (srv) {
    await srv.stop();
    removeTempDir(srv.dir);
  }
});

const TOKENS = '/api/admin/api-tokens';

test('token creation refuses past expiries, unknown projects and overlong lists', async () => {
  const many = [];
  for (let i = 0; i < 40; i++) {
    const id = `project-long-${String(i).padStart(2, '0')}`;
    assert.equal((await srv.api('POST', '/api/admin/projects', { body: { id } })).status, 201);
    many.push(id);
  }
  const base = { type: 'client', environment: 'production' };
  const cases = [
    ['expiresAt in the past', { tokenName: 't1', ...base, expiresAt: new Date(Date.now() - 60000).toISOString() }, '/expiresAt'],
    ['expiresAt now-ish (1 ms ago)', { tokenName: 't2', ...base, expiresAt: new Date(Date.now() - 1).toISOString() }, '/expiresAt'],
    ['an admin token already expired', { tokenName: 't3', type: 'admin', expiresAt: '2001-01-01T00:00:00Z' }, '/expiresAt'],
    ['a singular project that does not exist', { tokenName: 't4', ...base, project: 'no-such-project' }, '/project'],
    ['a projects entry that does not exist', { tokenName: 't5', ...base, projects: ['default', 'no-such-project'] }, '/projects/1'],
    ['a project list longer than a token holds', { tokenName: 't6', ...base, projects: many }, '/projects'],
  ];
  for (const [label, body, path] of cases) {
    const before = await eventCount(srv);
    const r = await srv.api('POST', TOKENS, { body });
    assert.equal(r.status, 400, `${label}: ${show(r)}`);
    assert.equal(r.json.details[0].path, path, `${label}: ${show(r)}`);
    assert.equal(await eventCount(srv), before, `${label}: written`);
  }
  const list = await srv.api('GET', TOKENS);
  assert.ok(!list.json.tokens.some((t) => /^t\d$/.test(t.tokenName)), JSON.stringify(list.json.tokens.map((t) => t.tokenName)));

  // What is fine stays fine, and an expiry cannot be moved into the past.
  const ok = await srv.api('POST', TOKENS, { body: { tokenName: 'fine', ...base, project: 'default', expiresAt: new Date(Date.now() + 86400e3).toISOString() } });
  assert.equal(ok.status, 201, show(ok));
  const past = await srv.api('PUT', `${TOKENS}/${ok.json.id}`, { body: { expiresAt: '2001-01-01T00:00:00Z' } });
  assert.equal(past.status, 400, show(past));
  assert.equal(past.json.details[0].path, '/expiresAt');
  const r = await srv.api('GET', '/api/client/features', { token: ok.json.secret });
  assert.equal(r.status, 200, 'the token still works');
});

function corsOf(r) {
  return {
    origin: r.headers.get('access-control-allow-origin'),
    vary: r.headers.get('vary'),
    expose: r.headers.get('access-control-expose-headers'),
    methods: r.headers.get('access-control-allow-methods'),
    headers: r.headers.get('access-control-allow-headers'),
  };
}

for (const [label, path, method, fe] of [
  ['OFREP bulk', '/ofrep/v1/evaluate/flags', 'POST'],
  ['OFREP one flag', '/ofrep/v1/evaluate/flags/some-flag', 'POST'],
  ['OFREP bulk with a frontend token', '/ofrep/v1/evaluate/flags', 'POST', true],
  ['the frontend API', '/api/frontend', 'POST', true],
]) {
  test(`CORS of ${label} for --frontend-origins`, async () => {
    const pre = await srv.api('OPTIONS', path, {
      token: null,
      headers: { Origin: ORIGIN, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'authorization, content-type' },
    });
    assert.equal(pre.status, 204, show(pre));
    const p = corsOf(pre);
    assert.equal(p.origin, ORIGIN);
    assert.match(p.methods, /POST/);
    assert.match(p.headers, /Authorization/i);
    assert.match(p.headers, /Content-Type/i);
    const body = { context: { targetingKey: 'u1', userId: 'u1' } };
    const token = fe ? frontend : client;
    const ok = await srv.api(method, path, { token, body, headers: { Origin: ORIGIN } });
    assert.ok(ok.status === 200 || ok.status === 404, show(ok));
    assert.equal(corsOf(ok).origin, ORIGIN);
    assert.match(corsOf(ok).vary || '', /Origin/);
    assert.match(corsOf(ok).expose || '', /ETag/);
    const denied = await srv.api(method, path, { token: null, body, headers: { Origin: ORIGIN } });
    assert.equal(denied.status, 401);
    assert.equal(corsOf(denied).origin, ORIGIN, 'a 401 is readable by the browser too');
    const foreign = await srv.api(method, path, { token, body, headers: { Origin: 'https://evil.example.net' } });
    assert.equal(corsOf(foreign).origin, null, 'an origin not listed gets no Access-Control-Allow-Origin');
  });
}

test('OFREP CORS with the default origins (*)', async () => {
  const s2 = await startServer({ clientTokens: [client] });
  try {
    const pre = await s2.api('OPTIONS', '/ofrep/v1/evaluate/flags', { token: null, headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.equal(corsOf(pre).origin, '*');
    const r = await s2.api('POST', '/ofrep/v1/evaluate/flags', { token: client, body: { context: { targetingKey: 'u' } }, headers: { Origin: ORIGIN } });
    assert.equal(r.status, 200, show(r));
    assert.equal(corsOf(r).origin, '*');
  } finally {
    await s2.stop();
    removeTempDir(s2.dir);
  }
});
