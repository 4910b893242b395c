'use strict';
// Console sessions (docs/admin-api.md, "Console sessions"), end to end
// against the real binary: an admin token is exchanged for an HttpOnly,
// SameSite=Strict cookie (Secure over HTTPS, or behind a proxy saying so);
// unsafe methods need the session's CSRF token and a same-origin request;
// the cookie never opens an SDK endpoint; a session ends when it is idle,
// too old, signed out, or its token is revoked, and every refusal says
// which; two servers on one database share sessions. Bearer tokens work
// exactly as before.
//
//   node --test tests/integration/sessions.test.js   (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, request, sleep, show, clientSecret } = require('./server');

const S = '/api/admin/session';

// Signs in with `token` on `srv`; returns {cookie, csrf, body, setCookie}.
async function signIn(srv, token = srv.adminToken, headers = {}) {
  const r = await request(srv.url, 'POST', S, { token, headers: { Origin: srv.url, ...headers } });
  assert.equal(r.status, 201, `sign in: ${show(r)}`);
  const setCookie = r.headers.get('set-cookie');
  const m = /^vexil_session=([^;]+)/.exec(setCookie || '');
  assert.ok(m, `a session cookie: ${setCookie}`);
  return { cookie: `vexil_session=${m[1]}`, csrf: r.json.csrfToken, body: r.json, setCookie };
}

// A call with the session cookie (and `extra` headers), no Authorization.
function withCookie(srv, s, method, path, { body, csrf = true, headers = {} } = {}) {
  const h = { Cookie: s.cookie, ...headers };
  if (csrf && method !== 'GET') h['X-Vexil-CSRF'] = s.csrf;
  if (method !== 'GET' && !('Origin' in headers)) h.Origin = srv.url;
  return request(srv.url, method, path, { headers: h, body });
}

const flagBody = (name) => ({ name });

test('signing in sets an HttpOnly, SameSite=Strict cookie scoped to the admin API, and says who', async () => {
  const srv = await startServer();
  try {
    const s = await signIn(srv);
    assert.match(s.setCookie, /; Path=\/api\/admin(;|$)/);
    assert.match(s.setCookie, /; HttpOnly/);
    assert.match(s.setCookie, /; SameSite=Strict/);
    assert.match(s.setCookie, /; Max-Age=604800/, 'seven days by default');
    assert.doesNotMatch(s.setCookie, /Secure/, 'plain HTTP, no proxy: not Secure');
    assert.doesNotMatch(s.cookie, new RegExp(srv.adminToken.slice(4, 20)), 'the cookie is not the token');
    assert.equal(s.body.tokenName, 'init-admin');
    assert.equal(s.body.role, 'admin');
    assert.equal(s.body.via, 'session');
    assert.equal(s.body.session.idleTimeoutSeconds, 43200);
    assert.match(s.csrf, /^[0-9a-f]{64}$/);
    const who = await withCookie(srv, s, 'GET', S);
    assert.equal(who.status, 200, show(who));
    assert.deepEqual([who.json.tokenName, who.json.role, who.json.via, who.json.csrfToken], ['init-admin', 'admin', 'session', s.csrf]);
    const list = await withCookie(srv, s, 'GET', '/api/admin/features');
    assert.equal(list.status, 200, show(list));
    // A bearer token still says who it is, without a session.
    const bearer = await srv.api('GET', S);
    assert.deepEqual([bearer.status, bearer.json.via, bearer.json.csrfToken], [200, 'token', undefined]);
    const none = await request(srv.url, 'GET', S);
    assert.deepEqual([none.status, none.json.reason], [401, 'missing']);
  } finally {
    await srv.stop();
  }
});

test('the cookie is Secure over HTTPS: behind a proxy that says so, or from an https page', async () => {
  const srv = await startServer();
  try {
    const viaProxy = await signIn(srv, srv.adminToken, { 'X-Forwarded-Proto': 'https' });
    assert.match(viaProxy.setCookie, /; Secure/);
    const host = new URL(srv.url).host;
    const fromHttps = await request(srv.url, 'POST', S, { token: srv.adminToken, headers: { Origin: `https://${host}` } });
    assert.equal(fromHttps.status, 201, show(fromHttps));
    assert.match(fromHttps.headers.get('set-cookie'), /; Secure/);
    const forwarded = await signIn(srv, srv.adminToken, { Forwarded: 'for=10.0.0.1;proto=https' });
    assert.match(forwarded.setCookie, /; Secure/);
  } finally {
    await srv.stop();
  }
  const off = await startServer({ env: { VEXIL_COOKIE_SECURE: 'off' } });
  try {
    const s = await signIn(off, off.adminToken, { 'X-Forwarded-Proto': 'https' });
    assert.doesNotMatch(s.setCookie, /Secure/);
  } finally {
    await off.stop();
  }
  const on = await startServer({ env: { VEXIL_COOKIE_SECURE: 'on' } });
  try {
    assert.match((await signIn(on)).setCookie, /; Secure/);
  } finally {
    await on.stop();
  }
});

test('unsafe methods need the CSRF token and a same-origin request; nothing is written otherwise', async () => {
  const srv = await startServer();
  try {
    const s = await signIn(srv);
    const P = '/api/admin/projects/default/features';
    const noToken = await withCookie(srv, s, 'POST', P, { body: flagBody('x1'), csrf: false });
    assert.deepEqual([noToken.status, noToken.json.reason], [403, 'csrf'], show(noToken));
    const wrong = await withCookie(srv, s, 'POST', P, { body: flagBody('x2'), csrf: false, headers: { 'X-Vexil-CSRF': 'f'.repeat(64) } });
    assert.deepEqual([wrong.status, wrong.json.reason], [403, 'csrf']);
    const other = await signIn(srv);
    const anothers = await withCookie(srv, s, 'POST', P, { body: flagBody('x3'), csrf: false, headers: { 'X-Vexil-CSRF': other.csrf } });
    assert.equal(anothers.status, 403, 'another session\'s CSRF token');
    const foreign = await withCookie(srv, s, 'POST', P, { body: flagBody('x4'), headers: { Origin: 'https://evil.example' } });
    assert.deepEqual([foreign.status, foreign.json.reason], [403, 'origin']);
    const crossSite = await request(srv.url, 'POST', P, { body: flagBody('x5'), headers: { Cookie: s.cookie, 'X-Vexil-CSRF': s.csrf, 'Sec-Fetch-Site': 'cross-site' } });
    assert.deepEqual([crossSite.status, crossSite.json.reason], [403, 'origin']);
    const nullOrigin = await withCookie(srv, s, 'POST', P, { body: flagBody('x6'), headers: { Origin: 'null' } });
    assert.equal(nullOrigin.status, 403);
    const names = (await srv.api('GET', '/api/admin/features')).json.features.map((f) => f.name);
    assert.deepEqual(names, [], 'no refused request wrote anything');
    const ok = await withCookie(srv, s, 'POST', P, { body: flagBody('x7') });
    assert.equal(ok.status, 201, show(ok));
    // Behind a proxy the Origin names the public host: X-Forwarded-Host.
    const proxied = await withCookie(srv, s, 'POST', P, { body: flagBody('x8'), headers: { Origin: 'https://flags.example.com', 'X-Forwarded-Host': 'flags.example.com' } });
    assert.equal(proxied.status, 201, show(proxied));
    // Reads need no CSRF token.
    const read = await withCookie(srv, s, 'GET', `${P}/x7`);
    assert.equal(read.status, 200);
    // Signing in from another site is refused.
    const evil = await request(srv.url, 'POST', S, { token: srv.adminToken, headers: { Origin: 'https://evil.example' } });
    assert.deepEqual([evil.status, evil.headers.get('set-cookie')], [403, null]);
  } finally {
    await srv.stop();
  }
});

test('a session cookie opens no SDK endpoint; bearer tokens work as before, cookie or not', async () => {
  const client = clientSecret();
  const srv = await startServer({ clientTokens: [client] });
  try {
    const s = await signIn(srv);
    for (const path of ['/api/client/features', '/api/frontend', '/ofrep/v1/evaluate/flags', '/v1/models']) {
      const method = path.startsWith('/ofrep') ? 'POST' : 'GET';
      const r = await request(srv.url, method, path, { headers: { Cookie: s.cookie, 'X-Vexil-CSRF': s.csrf }, body: method === 'POST' ? { context: {} } : undefined });
      assert.equal(r.status, 401, `${path} with the session cookie only: ${show(r)}`);
    }
    const sdk = await request(srv.url, 'GET', '/api/client/features', { token: client, headers: { Cookie: s.cookie } });
    assert.equal(sdk.status, 200);
    // Authorization wins over any cookie, even a dead one.
    const bearer = await request(srv.url, 'POST', '/api/admin/projects/default/features', { token: srv.adminToken, body: flagBody('b1'), headers: { Cookie: 'vexil_session=vxs1.nonsense' } });
    assert.equal(bearer.status, 201, show(bearer));
    // A client token cannot open a console session.
    const r = await request(srv.url, 'POST', S, { token: client, headers: { Origin: srv.url } });
    assert.equal(r.status, 403, show(r));
    const bad = await request(srv.url, 'POST', S, { token: '*:*.' + '0'.repeat(64), headers: { Origin: srv.url } });
    assert.deepEqual([bad.status, bad.json.reason], [401, 'token']);
  } finally {
    await srv.stop();
  }
});

test('signing out ends the session; revoking its token ends it too; each refusal says why', async () => {
  const srv = await startServer();
  try {
    const a = await signIn(srv);
    const b = await signIn(srv);
    const out = await withCookie(srv, a, 'DELETE', S);
    assert.equal(out.status, 200, show(out));
    assert.match(out.headers.get('set-cookie'), /^vexil_session=; .*Max-Age=0/);
    const after = await withCookie(srv, a, 'GET', '/api/admin/features');
    assert.equal(after.status, 401);
    assert.equal(after.json.reason, 'signed-out');
    assert.match(after.json.message, /signed out/);
    assert.match(after.headers.get('set-cookie') || '', /Max-Age=0/, 'the dead cookie is cleared');
    assert.equal((await withCookie(srv, b, 'GET', '/api/admin/features')).status, 200, 'another session lives on');

    const viewer = (await srv.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'dana', type: 'admin', role: 'viewer' } })).json;
    const v = await signIn(srv, viewer.secret);
    const who = await withCookie(srv, v, 'GET', S);
    assert.deepEqual([who.json.tokenName, who.json.role], ['dana', 'viewer'], 'the header can tell the truth');
    const write = await withCookie(srv, v, 'POST', '/api/admin/projects/default/features', { body: flagBody('v1') });
    assert.equal(write.status, 403, 'a viewer session is a viewer');
    assert.equal((await srv.api('DELETE', `/api/admin/api-tokens/${viewer.id}`)).status, 200);
    const revoked = await withCookie(srv, v, 'GET', '/api/admin/features');
    assert.deepEqual([revoked.status, revoked.json.reason], [401, 'token-revoked']);
    assert.match(revoked.json.message, /token 'dana' .* revoked/);
    const unknown = await request(srv.url, 'GET', '/api/admin/features', { headers: { Cookie: 'vexil_session=vxs1.' + 'a'.repeat(64) } });
    assert.deepEqual([unknown.status, unknown.json.reason], [401, 'unknown']);
  } finally {
    await srv.stop();
  }
});

test('an idle session ends after --session-idle-secs; one in use lives until --session-max-secs', async () => {
  const srv = await startServer({ env: { VEXIL_SESSION_IDLE_SECS: '2', VEXIL_SESSION_MAX_SECS: '5' } });
  try {
    const idle = await signIn(srv);
    const busy = await signIn(srv);
    assert.match(busy.setCookie, /Max-Age=5(;|$)/);
    const t0 = Date.now();
    // busy is used every 0.6 s for 3 s: longer than the idle timeout.
    while (Date.now() - t0 < 3000) {
      const r = await withCookie(srv, busy, 'GET', '/api/admin/projects');
      assert.equal(r.status, 200, `in use at ${Date.now() - t0} ms: ${show(r)}`);
      await sleep(600);
    }
    const r = await withCookie(srv, idle, 'GET', '/api/admin/projects');
    assert.deepEqual([r.status, r.json.reason], [401, 'idle']);
    assert.match(r.json.message, /ended after 2 seconds without use/);
    while (Date.now() - t0 < 5200) {
      await withCookie(srv, busy, 'GET', '/api/admin/projects');
      await sleep(500);
    }
    const old = await withCookie(srv, busy, 'GET', '/api/admin/projects');
    assert.deepEqual([old.status, old.json.reason], [401, 'expired'], show(old));
  } finally {
    await srv.stop();
  }
});

test('two servers on one database share sessions, sign-outs and revocations', async () => {
  const a = await startServer();
  const b = await startServer({ dbPath: a.dbPath, adminTokens: a.adminTokens });
  try {
    const s = await signIn(a);
    const onB = await withCookie(b, s, 'GET', S);
    assert.equal(onB.status, 200, `a session from A on B: ${show(onB)}`);
    assert.equal((await withCookie(b, s, 'POST', '/api/admin/projects/default/features', { body: flagBody('rep') })).status, 201);
    assert.equal((await withCookie(b, s, 'DELETE', S)).status, 200);
    const onA = await withCookie(a, s, 'GET', '/api/admin/features');
    assert.deepEqual([onA.status, onA.json.reason], [401, 'signed-out'], 'signed out on B, refused on A');

    const ed = (await a.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'eve', type: 'admin', role: 'editor' } })).json;
    const e = await signIn(a, ed.secret);
    assert.equal((await withCookie(b, e, 'GET', '/api/admin/projects')).status, 200);
    assert.equal((await b.api('DELETE', `/api/admin/api-tokens/${ed.id}`)).status, 200);
    // A sees the revocation made on B once it notices the new revision
    // (at once with PostgreSQL's NOTIFY, within --sdk-poll-ms on SQLite).
    const deadline = Date.now() + 10000;
    let last;
    do {
      last = await withCookie(a, e, 'GET', '/api/admin/projects');
      if (last.status === 401) break;
      await sleep(100);
    } while (Date.now() < deadline);
    assert.deepEqual([last.status, last.json && last.json.reason], [401, 'token-revoked']);
  } finally {
    await b.stop();
    await a.stop();
  }
});

test('session settings out of range stop the server with a message', async () => {
  for (const [name, value] of [['VEXIL_SESSION_IDLE_SECS', '0'], ['VEXIL_SESSION_MAX_SECS', '7776001'], ['VEXIL_COOKIE_SECURE', 'maybe']]) {
    await assert.rejects(startServer({ env: { [name]: value } }), (e) => {
      assert.match(e.message, /exited before ready/);
      assert.match(e.message, new RegExp(name === 'VEXIL_COOKIE_SECURE' ? 'cookie-secure must be auto, on or off' : 'must be a whole number'));
      return true;
    }, `${name}=${value}`);
  }
});
