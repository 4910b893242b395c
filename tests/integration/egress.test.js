'use strict';
// Secrets and egress belong to the operator (docs/operations.md, "Egress:
// what the server may call"): a model flag's api_key_env may only name a
// variable of --gateway-key-env (never the server's own secrets), its
// base_url and ollama_url and release-plan webhooks only a host of
// --egress-allow. An editor's write naming anything else is a 400 naming
// the field and writes nothing; the gateway and the scheduler check again
// when they call, so a list narrowed at a restart takes effect at once.
// Throughout, a listener the editor names (started by this test) never
// receives a request, and the admin secret never leaves the server.
//
//   node --test tests/integration/egress.test.js     (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { startServer, adminSecret, clientSecret, eventCount, sleep, show, removeTempDir } = require('./server');
const { startModelServer } = require('../support/model_server');

const ADMIN = adminSecret();
const MODEL_KEY = 'sk-model-key-0123456789';
const FEAT = '/api/admin/projects/default/features';
const EP = (f) => `${FEAT}/${f}/environments/production`;

let srv;
let model;
let trap; // the editor's listener: must never be called
let editor;
let client;

function listener() {
  const calls = [];
  const s = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      calls.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"id":"x","object":"chat.completion","choices":[]}');
    });
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve({
    calls, url: `http://127.0.0.1:${s.address().port}`, close: () => new Promise((r) => s.close(r)),
  })));
}

const upstream = (o) => ({ type: 'json', value: JSON.stringify(o) });
const variants = (payload, extra = {}) => [{ name: 'control', weight: 1000, weightType: 'variable', stickiness: 'default', payload, ...extra }];

async function start(dbPath, env = {}) {
  return startServer({
    dbPath,
    adminTokens: [ADMIN],
    clientTokens: [client],
    env: {
      VEXIL_EGRESS_ALLOW: `127.0.0.1:${new URL(model.url).port}`,
      VEXIL_GATEWAY_KEY_ENV: 'VEXIL_MODEL_KEY_*',
      VEXIL_MODEL_KEY_TEST: MODEL_KEY,
      VEXIL_SCHEDULER_INTERVAL_MS: '3600000', // one tick, at the start
      ...env,
    },
  });
}

function chat(alias) {
  return srv.api('POST', '/v1/chat/completions', {
    token: `Bearer ${client}`,
    body: { model: alias, messages: [{ role: 'user', content: 'hello' }] },
  });
}

test.before(async () => {
  model = await startModelServer({ models: ['m1'], apiKey: MODEL_KEY });
  trap = await listener();
  client = clientSecret('default', 'production');
  srv = await start(undefined);
  const t = await srv.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'egress-editor', type: 'admin', role: 'editor' } });
  assert.equal(t.status, 201, show(t));
  editor = t.json.secret;
  for (const f of ['model.bad', 'model.good', 'plain-flag']) {
    const r = await srv.api('POST', FEAT, { body: { name: f } });
    assert.equal(r.status, 201, show(r));
  }
});

test.after(async () => {
  if (srv) {
    await srv.stop();
    removeTempDir(srv.dir);
  }
  if (model) await model.close();
  if (trap) await trap.close();
});

// [label, method, path, body, details[0].path]
const REFUSED = () => [
  ['api_key_env naming INIT_ADMIN_API_TOKENS', 'PUT', `${EP('model.bad')}/variants`,
    variants(upstream({ base_url: `${model.url}/v1`, model: 'm1', api_key_env: 'INIT_ADMIN_API_TOKENS' })),
    '/0/payload/value/api_key_env'],
  ['api_key_env naming VEXIL_DATABASE', 'PUT', `${EP('model.bad')}/variants`,
    variants(upstream({ base_url: `${model.url}/v1`, model: 'm1', api_key_env: 'VEXIL_DATABASE' })),
    '/0/payload/value/api_key_env'],
  ['api_key_env naming an unlisted variable (HOME)', 'PUT', `${EP('model.bad')}/variants`,
    variants(upstream({ base_url: `${model.url}/v1`, model: 'm1', api_key_env: 'HOME' })),
    '/0/payload/value/api_key_env'],
  ['base_url on a host:port the operator did not list', 'PUT', `${EP('model.bad')}/variants`,
    variants(upstream({ base_url: `${trap.url}/v1`, model: 'm1' })), '/0/payload/value/base_url'],
  ['base_url with a user name', 'PUT', `${EP('model.bad')}/variants`,
    variants(upstream({ base_url: `http://x@127.0.0.1:${new URL(model.url).port}/v1`, model: 'm1' })), '/0/payload/value/base_url'],
  ['base_url in a decimal spelling of 127.0.0.1', 'PUT', `${EP('model.bad')}/variants`,
    variants(upstream({ base_url: `http://2130706433:${new URL(model.url).port}/v1`, model: 'm1' })), '/0/payload/value/base_url'],
  ['ollama_url on an unlisted host', 'PUT', `${EP('model.bad')}/variants`,
    variants(upstream({ base_url: `${model.url}/v1`, ollama_url: trap.url, model: 'm1' })), '/0/payload/value/ollama_url'],
  ['the second variant of a PATCH', 'PATCH', `${EP('model.bad')}/variants`,
    [{ op: 'add', path: '/-', value: variants(upstream({ base_url: `${model.url}/v1`, model: 'm1' }))[0] },
      { op: 'add', path: '/-', value: { ...variants(upstream({ base_url: `${trap.url}/v1`, model: 'm1' }))[0], name: 'candidate' } }],
    '/1/value/payload/value/base_url'],
  ['a strategy variant', 'POST', `${EP('model.bad')}/strategies`,
    { name: 'flexibleRollout', parameters: { rollout: '100' }, variants: variants(upstream({ base_url: `${trap.url}/v1`, model: 'm1', api_key_env: 'INIT_ADMIN_API_TOKENS' })) },
    '/variants/0/payload/value/base_url'],
  ['a webhook on an unlisted host', 'PUT', `${EP('plain-flag')}/release-plan`,
    { milestones: [{ percent: 10 }], guard: 'none', webhooks: [`${trap.url}/hook`] }, '/webhooks/0'],
  ['a webhook to a cloud metadata address', 'PUT', `${EP('plain-flag')}/release-plan`,
    { milestones: [{ percent: 10 }], guard: 'none', webhooks: ['http://169.254.169.254/latest/meta-data'] }, '/webhooks/0'],
];

test('an editor cannot name secrets or hosts the operator did not allow', async () => {
  for (const [label, method, path, body, want] of REFUSED()) {
    const before = await eventCount(srv);
    const r = await srv.api(method, path, { token: editor, body });
    assert.equal(r.status, 400, `${label}: ${show(r)}`);
    assert.equal(r.json.details[0].path, want, `${label}: ${show(r)}`);
    assert.equal(await eventCount(srv), before, `${label}: something was written`);
    assert.ok(!r.text.includes(ADMIN), `${label}: the answer holds the admin secret`);
  }
  // An import holding such a flag is refused the same way.
  const exp = await srv.api('GET', '/api/admin/export');
  const doc = exp.json;
  const f = doc.features.find((x) => x.name === 'model.bad');
  f.environments.find((e) => e.name === 'production').variants =
    variants(upstream({ base_url: `${trap.url}/v1`, model: 'm1' }));
  const fresh = await startServer({ env: { VEXIL_EGRESS_ALLOW: `127.0.0.1:${new URL(model.url).port}` } });
  try {
    const r = await fresh.api('POST', '/api/admin/import', { body: doc });
    assert.equal(r.status, 400, show(r));
    assert.match(r.json.details[0].path, /^\/features\/\d+\/environments\/\d+\/variants\/0\/payload\/value\/base_url$/);
  } finally {
    await fresh.stop();
    removeTempDir(fresh.dir);
  }
  // A flag outside the gateway keeps any payload (it is application data).
  const plain = await srv.api('PUT', `${EP('plain-flag')}/variants`, {
    token: editor, body: variants(upstream({ base_url: `${trap.url}/v1`, api_key_env: 'INIT_ADMIN_API_TOKENS' })),
  });
  assert.equal(plain.status, 200, show(plain));
  assert.equal(trap.calls.length, 0, `the editor's listener was called: ${JSON.stringify(trap.calls)}`);
});

test('what the operator allows works, with the key from an allowed variable', async () => {
  const r = await srv.api('PUT', `${EP('model.good')}/variants`, {
    token: editor, body: variants(upstream({ base_url: `${model.url}/v1`, model: 'm1', api_key_env: 'VEXIL_MODEL_KEY_TEST' })),
  });
  assert.equal(r.status, 200, show(r));
  const a = await chat('good');
  assert.equal(a.status, 200, show(a));
  const seen = model.requests.filter((q) => q.path === '/v1/chat/completions');
  assert.equal(seen.length, 1);
  assert.equal(seen[0].headers.authorization, `Bearer ${MODEL_KEY}`);
  // Editing something else of the flag leaves its upstream as it is.
  const on = await srv.api('POST', `${EP('model.good')}/on`, { token: editor });
  assert.equal(on.status, 200, show(on));
});

test('narrowed lists at a restart are enforced when calling: no request, no key, no webhook', async () => {
  // A plan whose webhook the operator allowed when it was written; in
  // approval mode the first tick (at the next start) posts to it.
  let r = await srv.api('PUT', `${EP('plain-flag')}/release-plan`, {
    body: { milestones: [{ percent: 50, minDurationSeconds: 0, minExposures: 0 }, { percent: 100 }], guard: 'none', mode: 'approval',
      webhooks: [`${model.url}/hook`] },
  });
  assert.equal(r.status, 200, show(r));
  const dbPath = srv.dbPath;
  await srv.stop();
  model.reset();
  // No host at all: neither the scheduler nor the gateway calls out.
  srv = await start(dbPath, { VEXIL_EGRESS_ALLOW: 'none', VEXIL_SCHEDULER_INTERVAL_MS: '100' });
  const until = Date.now() + 5000;
  while (!/webhook not called/.test(srv.stderr) && Date.now() < until) await sleep(100);
  assert.match(srv.stderr, /webhook not called/);
  r = await chat('good');
  assert.equal(r.status, 502, show(r));
  assert.match(r.json.details[0].path, /base_url/);
  assert.equal(model.requests.length, 0, `called: ${JSON.stringify(model.requests.map((q) => q.path))}`);
  await srv.stop();
  // The host again, but the key list no longer has the variable.
  srv = await start(dbPath, { VEXIL_GATEWAY_KEY_ENV: 'none' });
  r = await chat('good');
  assert.equal(r.status, 502, show(r));
  assert.match(r.json.details[0].path, /api_key_env/);
  const calls = model.requests.filter((q) => q.path.startsWith('/v1/'));
  assert.equal(calls.length, 0, 'the upstream was called without the operator allowing its key');
  assert.equal(trap.calls.length, 0);
  assert.ok(!srv.stderr.includes(ADMIN) && !srv.stdout.includes(ADMIN), 'the admin secret is in the log');
  assert.ok(!srv.stderr.includes(MODEL_KEY), 'the model key is in the log');
});

test('bad allowlists stop the server with the setting named', async () => {
  const { spawnSync } = require('node:child_process');
  const cases = [
    [['--egress-allow', 'http://x/'], /egress-allow/],
    [['--gateway-key-env', 'INIT_ADMIN_API_TOKENS'], /gateway-key-env.*INIT_ADMIN_API_TOKENS/],
    [['--gateway-key-env', '*'], /gateway-key-env/],
  ];
  for (const [args, re] of cases) {
    const p = spawnSync(srv.bin, ['serve', '--port', '0', '--database', 'sqlite::memory:', ...args], { encoding: 'utf8', timeout: 10000 });
    assert.notEqual(p.status, 0, `${args.join(' ')} was accepted`);
    assert.match(p.stderr, re);
  }
});

test('the defaults: a model server on this machine works, the network beyond and server secrets do not', async () => {
  const fresh = await startServer({ clientTokens: [client], env: { VEXIL_MODEL_KEY_TEST: MODEL_KEY } });
  try {
    const ok = await fresh.api('POST', FEAT, { body: { name: 'model.local' } });
    assert.equal(ok.status, 201, show(ok));
    let r = await fresh.api('PUT', `${EP('model.local')}/variants`, {
      body: variants(upstream({ base_url: `${model.url}/v1`, model: 'm1', api_key_env: 'VEXIL_MODEL_KEY_TEST' })),
    });
    assert.equal(r.status, 200, show(r));
    r = await fresh.api('POST', `${EP('model.local')}/on`);
    assert.equal(r.status, 200, show(r));
    model.reset();
    r = await fresh.api('POST', '/v1/chat/completions', {
      token: `Bearer ${client}`, body: { model: 'local', messages: [{ role: 'user', content: 'hi' }] },
    });
    assert.equal(r.status, 200, show(r));
    assert.equal(model.requests.filter((q) => q.path === '/v1/chat/completions').length, 1);
    for (const [url, key, want] of [
      ['http://10.0.0.5:8080/v1', undefined, '/0/payload/value/base_url'],
      ['http://169.254.169.254/v1', undefined, '/0/payload/value/base_url'],
      [`${trap.url}/v1`, 'INIT_ADMIN_API_TOKENS', '/0/payload/value/api_key_env'],
    ]) {
      const body = variants(upstream({ base_url: url, model: 'm1', ...(key ? { api_key_env: key } : {}) }));
      r = await fresh.api('PUT', `${EP('model.local')}/variants`, { body });
      assert.equal(r.status, 400, `${url}: ${show(r)}`);
      assert.equal(r.json.details[0].path, want, show(r));
    }
    r = await fresh.api('PUT', `${EP('model.local')}/release-plan`, {
      body: { milestones: [{ percent: 10 }], guard: 'none', webhooks: ['http://169.254.169.254/latest/meta-data'] },
    });
    assert.equal(r.status, 400, show(r));
    assert.equal(r.json.details[0].path, '/webhooks/0');
    assert.equal(trap.calls.length, 0);
  } finally {
    await fresh.stop();
    removeTempDir(fresh.dir);
  }
});
