'use strict';
// Request framing as RFC 9112 asks, over raw sockets (docs/operations.md,
// "Connections and slow clients"): a request whose framing cannot be
// trusted (conflicting or invalid Content-Length, Transfer-Encoding with
// Content-Length or other than "chunked", an HTTP/1.1 request without one
// valid Host, a request-target with a space or a control byte) is answered
// 400 (501 for a transfer coding Vexil does not implement) and the
// connection is closed, and nothing is written; everything else keeps the
// connection, so pipelined requests after a 401, /health or the console's
// files are answered.
//
//   node --test tests/integration/http_parsing.test.js     (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { startServer, clientSecret, eventCount, removeTempDir } = require('./server');

let srv;
let client;

// Sends `bytes` on a new connection and collects what comes back until the
// server closes it or `quietMs` pass without a byte. Returns
// {responses: [{status, headers, body}], closed}.
function exchange(bytes, { quietMs = 700, headFirst = false } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(srv.port, '127.0.0.1');
    const chunks = [];
    let timer = null;
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ responses: parseResponses(Buffer.concat(chunks), headFirst), closed });
    };
    const arm = () => { clearTimeout(timer); timer = setTimeout(() => finish(false), quietMs); };
    sock.on('connect', () => { sock.write(bytes); arm(); });
    sock.on('data', (d) => { chunks.push(d); arm(); });
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', (e) => (e.code === 'ECONNRESET' ? finish(true) : reject(e)));
  });
}

// Splits a byte stream of HTTP/1.1 responses (Content-Length framed; the
// first has no body when it answers a HEAD).
function parseResponses(buf, headFirst) {
  const out = [];
  let at = 0;
  while (at < buf.length) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const head = buf.subarray(at, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]);
    if (!m) break;
    const headers = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const len = headFirst && out.length === 0 ? 0 : Number(headers['content-length'] || 0);
    const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
    out.push({ status: Number(m[1]), headers, body });
    at = end + 4 + len;
  }
  return out;
}

const H = 'Host: vexil.test\r\n';
const auth = () => `Authorization: ${srv.adminToken}\r\n`;
const JSONCT = 'Content-Type: application/json\r\n';
const project = (id) => `{"id":"${id}"}`;
// A POST of project `id`; `extra(n)` gives the framing headers for its n bytes.
const post = (id, extra) => `POST /api/admin/projects HTTP/1.1\r\n${H}${auth()}${JSONCT}${extra(project(id).length)}\r\n${project(id)}`;
const chunked = (id, te = 'chunked', more = '') =>
  `POST /api/admin/projects HTTP/1.1\r\n${H}${auth()}${JSONCT}${more}Transfer-Encoding: ${te}\r\n\r\n` +
  `${project(id).length.toString(16)}\r\n${project(id)}\r\n0\r\n\r\n`;

// [label, request bytes (fn), status, closes]
const BAD = [
  ['two Content-Length headers that differ', () => post('hp-a', (n) => `Content-Length: ${n}\r\nContent-Length: ${n + 1}\r\n`), 400],
  ['Content-Length that is not a number', () => post('hp-b', (n) => `Content-Length: ${n}x\r\n`), 400],
  ['Content-Length list "n, n+1"', () => post('hp-c', (n) => `Content-Length: ${n}, ${n + 1}\r\n`), 400],
  ['Content-Length and Transfer-Encoding together', () => chunked('hp-d', 'chunked', 'Content-Length: 13\r\n'), 400],
  ['Transfer-Encoding that does not end in chunked', () => chunked('hp-e', 'chunked, identity'), 400],
  ['Transfer-Encoding gzip, chunked (not implemented)', () => chunked('hp-f', 'gzip, chunked'), 501],
  ['Transfer-Encoding on HTTP/1.0', () => chunked('hp-g').replace('HTTP/1.1', 'HTTP/1.0'), 400],
  ['two Transfer-Encoding headers', () => chunked('hp-h', 'chunked', 'Transfer-Encoding: chunked\r\n'), 400],
  ['HTTP/1.1 without Host', () => 'GET /health HTTP/1.1\r\n\r\n', 400],
  ['HTTP/1.1 with two Host headers', () => `GET /health HTTP/1.1\r\n${H}Host: other\r\n\r\n`, 400],
  ['Host with a space', () => 'GET /health HTTP/1.1\r\nHost: a b\r\n\r\n', 400],
  ['Host with a slash', () => 'GET /health HTTP/1.1\r\nHost: a/b\r\n\r\n', 400],
  ['a space in the path', () => `GET /hea lth HTTP/1.1\r\n${H}\r\n`, 400],
  ['a control byte in the path', () => `GET /hea\x01lth HTTP/1.1\r\n${H}\r\n`, 400],
  ['a tab in the path', () => `GET /hea\tlth HTTP/1.1\r\n${H}\r\n`, 400],
  ['a DEL byte in the query', () => `GET /health?x=\x7f HTTP/1.1\r\n${H}\r\n`, 400],
  ['a fragment in the target', () => `GET /health#x HTTP/1.1\r\n${H}\r\n`, 400],
  ['a request-target that is not a path', () => `GET health HTTP/1.1\r\n${H}\r\n`, 400],
  ['whitespace between a field name and its colon', () => `GET /health HTTP/1.1\r\n${H}X-A : b\r\n\r\n`, 400],
];

// Requests that are fine and must be answered normally.
const GOOD = [
  ['HTTP/1.0 without Host', () => 'GET /health HTTP/1.0\r\n\r\n', 200],
  ['absolute-form target', () => `GET http://vexil.test/health HTTP/1.1\r\n${H}\r\n`, 200],
  ['two equal Content-Length headers', () => post('hp-ok1', (n) => `Content-Length: ${n}\r\nContent-Length: ${n}\r\n`), 201],
  ['chunked body', () => chunked('hp-ok2'), 201],
  ['percent-encoded path', () => `GET /api/admin/projects/hp%2Dok1 HTTP/1.1\r\n${H}${auth()}\r\n`, 200],
];

test.before(async () => {
  client = clientSecret('default', 'production');
  srv = await startServer({ clientTokens: [client] });
});

test.after(async () => {
  if (srv) {
    await srv.stop('SIGTERM');
    removeTempDir(srv.dir);
  }
});

for (const [label, bytes, status] of BAD) {
  test(`refused and closed: ${label}`, async () => {
    const before = await eventCount(srv);
    // A valid request pipelined behind the bad one must not be answered:
    // after a request whose framing is in doubt, nothing that follows is
    // a request the server can trust.
    const r = await exchange(bytes() + `GET /health HTTP/1.1\r\n${H}\r\n`);
    assert.ok(r.responses.length >= 1, `${label}: no answer`);
    assert.equal(r.responses[0].status, status, `${label}: ${JSON.stringify(r.responses[0])}`);
    assert.equal(r.closed, true, `${label}: the connection stayed open`);
    assert.ok(!r.responses.slice(1).some((x) => x.status === 200 && /GOOD/.test(x.body)),
      `${label}: the pipelined request after it was answered`);
    assert.equal(await eventCount(srv), before, `${label}: something was written`);
  });
}

for (const [label, bytes, status] of GOOD) {
  test(`accepted: ${label}`, async () => {
    const r = await exchange(bytes());
    assert.equal(r.responses.length, 1, `${label}: ${JSON.stringify(r.responses)}`);
    assert.equal(r.responses[0].status, status, `${label}: ${JSON.stringify(r.responses[0])}`);
  });
}

// Keep-alive: each first request is answered without closing, and the
// /health pipelined after it is answered on the same connection.
const KEEP = [
  ['/health', () => `GET /health HTTP/1.1\r\n${H}\r\n`, 200],
  ['HEAD /health', () => `HEAD /health HTTP/1.1\r\n${H}\r\n`, 200],
  ['/ready', () => `GET /ready HTTP/1.1\r\n${H}\r\n`, 200],
  ['/metrics', () => `GET /metrics HTTP/1.1\r\n${H}\r\n`, 200],
  ['the console page', () => `GET / HTTP/1.1\r\n${H}\r\n`, 200],
  ['a console path without a file (index.html)', () => `GET /flags/x HTTP/1.1\r\n${H}\r\n`, 200],
  ['401 without a token (admin)', () => `GET /api/admin/projects HTTP/1.1\r\n${H}\r\n`, 401],
  ['401 with a bad token (admin)', () => `GET /api/admin/projects HTTP/1.1\r\n${H}Authorization: nope\r\n\r\n`, 401],
  ['401 on a POST whose body is drained', () => `POST /api/admin/projects HTTP/1.1\r\n${H}${JSONCT}Content-Length: ${project('hp-z').length}\r\n\r\n${project('hp-z')}`, 401],
  ['415 on a POST whose body is drained', () => `POST /api/admin/projects HTTP/1.1\r\n${H}${auth()}Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello`, 415],
  ['401 on the client API', () => `GET /api/client/features HTTP/1.1\r\n${H}\r\n`, 401],
  ['401 on the frontend API', () => `GET /api/frontend HTTP/1.1\r\n${H}\r\n`, 401],
  ['401 on OFREP', () => `POST /ofrep/v1/evaluate/flags HTTP/1.1\r\n${H}${JSONCT}Content-Length: 14\r\n\r\n{"context":{}}`, 401],
  ['401 on the gateway', () => `GET /v1/models HTTP/1.1\r\n${H}\r\n`, 401],
  ['404 for an unknown API route', () => `GET /api/admin/nothing-here HTTP/1.1\r\n${H}${auth()}\r\n`, 404],
  ['405 for a wrong method', () => `POST /health HTTP/1.1\r\n${H}\r\n`, 405],
  ['403 for a client token on the admin API', () => `GET /api/admin/projects HTTP/1.1\r\n${H}Authorization: ${client}\r\n\r\n`, 403],
  ['200 from the client API', () => `GET /api/client/features HTTP/1.1\r\n${H}Authorization: ${client}\r\n\r\n`, 200],
];

for (const [label, first, status] of KEEP) {
  test(`keep-alive after ${label}`, async () => {
    const r = await exchange(first() + `GET /health HTTP/1.1\r\n${H}\r\n` + `GET /health HTTP/1.1\r\n${H}\r\n`,
      { headFirst: label.startsWith('HEAD') });
    assert.equal(r.responses.length, 3, `${label}: ${r.responses.length} answer(s): ${JSON.stringify(r.responses.map((x) => x.status))}`);
    assert.equal(r.responses[0].status, status, `${label}: ${JSON.stringify(r.responses[0])}`);
    assert.notEqual((r.responses[0].headers.connection || '').toLowerCase(), 'close', `${label}: Connection: close`);
    assert.equal(r.responses[1].status, 200);
    assert.equal(r.responses[2].status, 200);
    assert.equal(r.closed, false, `${label}: the server closed the connection`);
  });
}
