'use strict';
// The Unleash browser SDK (unleash-proxy-client 3.8.2, run in Node with its
// global fetch) against a live `vexil serve` /api/frontend, in GET mode
// (context in the query string, If-None-Match on every refresh) and POST
// mode (usePOSTrequests): for every generated context, its isEnabled and
// getVariant answers equal the playground's for the context the SDK really
// sent (its own sessionId when the context has none, and the caller's
// address as remoteAddress, as the frontend API fills it in). Its metrics
// post is accepted and visible as usage.
//
// The SDK fixes appName and environment at construction, so each
// (appName, environment) pair of the generated contexts gets one SDK, whose
// context is then changed with updateContext (one request per context; in
// GET mode a wrong 304 would leave stale toggles and show as a difference).
//
// Environment: VEXIL_BIN, VEXIL_COMPAT_SEED, VEXIL_COMPAT_LIVE_ROUNDS
// (default 10), VEXIL_COMPAT_LIVE_CONTEXTS (default 200).

const test = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');
const L = require('./live');

const { srvlib } = L;
const SEED = L.envInt('VEXIL_COMPAT_SEED', Math.floor(Math.random() * 0x100000000)) >>> 0;
const ROUNDS = L.envInt('VEXIL_COMPAT_LIVE_ROUNDS', 10);
const CONTEXTS = L.envInt('VEXIL_COMPAT_LIVE_CONTEXTS', 200);

function newClient(srv, token, appName, environment, opts = {}) {
  const { UnleashClient, InMemoryStorageProvider } = require('unleash-proxy-client');
  const client = new UnleashClient({
    url: `${srv.url}/api/frontend`,
    clientKey: token,
    appName,
    environment,
    disableRefresh: true,
    disableMetrics: true,
    storageProvider: new InMemoryStorageProvider(),
    ...opts,
  });
  const errors = [];
  client.on('error', (e) => errors.push(e));
  return { client, errors };
}

// The SDK's answers for every flag in `names`.
function answers(client, names) {
  const out = {};
  for (const n of names) out[n] = h.normalizeAnswer(client.isEnabled(n), client.getVariant(n));
  return out;
}

// A context whose answers do not change from one request to the next, nor
// from one SDK to another: one of the round's generated contexts, which
// carry every field the round's stickiness uses (with one missing, Unleash
// semantics pick a variant at random and each answer differs), and a
// sessionId (without one, each unleash-proxy-client makes up its own, and
// gradualRolloutSessionId answers differ between two SDKs). Returns the
// SDK options.
function stableContext(gen) {
  const { appName, environment, ...context } = gen.contexts[0];
  if (context.sessionId === undefined) context.sessionId = 's1';
  return { appName, environment, context };
}

// The context the server evaluated for the SDK's current context.
function servedContext(client) {
  const c = structuredClone(client.getContext());
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  if (c.remoteAddress === undefined) c.remoteAddress = '127.0.0.1';
  return c;
}

for (const mode of ['GET', 'POST']) {
  test(`unleash-proxy-client (${mode}) answers like the playground on random flag sets (seed ${SEED})`, async (t) => {
    t.diagnostic(`seed ${SEED}: replay with VEXIL_COMPAT_SEED=${SEED}`);
    let compared = 0;
    let enabled = 0;
    let requests = 0;
    for (let round = 0; round < ROUNDS; round++) {
      await t.test(`round ${round}`, async () => {
        const { srv, frontendToken, gen, names } = await L.serverWithRound(SEED, round, CONTEXTS);
        try {
          const groups = new Map();
          for (const ctx of gen.contexts) {
            const key = `${ctx.appName}\u0000${ctx.environment}`;
            if (!groups.has(key)) groups.set(key, []);
            groups.get(key).push(ctx);
          }
          for (const [key, ctxs] of groups) {
            const [appName, environment] = key.split('\u0000');
            const { client, errors } = newClient(srv, frontendToken, appName, environment, { usePOSTrequests: mode === 'POST' });
            try {
              await client.start();
              assert.ok(client.isReady(), `the SDK is ready after start(): ${JSON.stringify(errors)}`);
              for (const ctx of ctxs) {
                const { appName: _a, environment: _e, ...rest } = ctx;
                await client.updateContext(rest);
                requests++;
                assert.deepEqual(errors, [], `unleash-proxy-client errors (${mode})`);
                const served = servedContext(client);
                const sdk = answers(client, names);
                const pg = await L.playground(srv, served);
                const d = L.diffAnswers(sdk, pg, names);
                if (d.length) {
                  assert.fail([
                    `unleash-proxy-client (${mode} /api/frontend) and the playground disagree (seed ${SEED}, round ${round}; flags ${d.map((x) => x.name).join(', ')})`,
                    `  SDK context:     ${JSON.stringify(client.getContext())}`,
                    `  flag:            ${JSON.stringify(gen.doc.features.find((f) => f.name === d[0].name))}`,
                    `  frontend SDK:    ${JSON.stringify(d[0].sdk)}`,
                    `  playground:      ${JSON.stringify(d[0].vexil)}`,
                  ].join('\n'));
                }
                for (const tg of client.getAllToggles()) {
                  const f = gen.doc.features.find((x) => x.name === tg.name);
                  assert.equal(tg.impressionData, f.impressionData, `impressionData of toggle ${tg.name}`);
                }
                for (const n of names) {
                  compared++;
                  if (sdk[n].enabled) enabled++;
                }
              }
            } finally {
              client.stop();
            }
          }
        } finally {
          await L.stop(srv);
        }
      });
    }
    t.diagnostic(`${compared} answers compared (${enabled} enabled) after ${requests} context updates`);
    if (ROUNDS * CONTEXTS >= 500) assert.ok(enabled > 0 && enabled < compared, 'the flag sets gave only trivial answers');
  });
}

test('unleash-proxy-client GET refreshes get 304 until a change, then the new toggles', async () => {
  const { srv, frontendToken, gen, names } = await L.serverWithRound(SEED, 500, 5);
  const statuses = [];
  const recording = async (url, init) => {
    const r = await fetch(url, init);
    statuses.push(`${init.headers['if-none-match'] ? 'INM ' : ''}${r.status}`);
    return r;
  };
  const sc = stableContext(gen);
  const { client, errors } = newClient(srv, frontendToken, sc.appName, sc.environment, { context: sc.context, fetch: recording });
  try {
    await client.start();
    const n304 = await L.requestCount(srv, '/api/frontend', 304);
    for (let i = 0; i < 5; i++) await client.updateToggles();
    assert.deepEqual(statuses, ['200', 'INM 304', 'INM 304', 'INM 304', 'INM 304', 'INM 304'], 'the first fetch is a 200, unchanged refreshes send If-None-Match and get 304');
    await L.countAtLeast(srv, '/api/frontend', 304, n304 + 5);
    // Turn every flag off: the next refresh is a 200 with no toggles.
    for (const n of names) {
      const r = await srv.api('POST', `/api/admin/projects/default/features/${encodeURIComponent(n)}/environments/${L.ENV}/off`);
      assert.equal(r.status, 200, srvlib.show(r));
    }
    await client.updateToggles();
    assert.deepEqual(client.getAllToggles(), [], 'after turning every flag off the SDK has no toggles');
    assert.deepEqual(errors, []);
  } finally {
    client.stop();
    await L.stop(srv);
  }
});

test('unleash-proxy-client metrics are accepted and visible as usage', async () => {
  const { srv, frontendToken, names } = await L.serverWithRound(SEED, 501, 5);
  const appName = 'vexil-compat-browser';
  const { client, errors } = newClient(srv, frontendToken, appName, 'production',
    { context: { userId: 'u2' }, disableMetrics: false, metricsInterval: 3600, metricsIntervalInitial: 0 });
  try {
    await client.start();
    const flag = names[0];
    let yes = 0;
    let no = 0;
    for (let i = 0; i < 7; i++) (client.isEnabled(flag) ? yes++ : no++);
    const sent = new Promise((resolve) => client.once('sent', resolve));
    await client.sendMetrics();
    await L.within(sent, 3000, () => `no 'sent' event: ${JSON.stringify(errors)}`);
    assert.deepEqual(errors, []);
    const r = await srv.api('GET', `/api/admin/client-metrics/features/${encodeURIComponent(flag)}`);
    assert.equal(r.status, 200, srvlib.show(r));
    const rows = r.json.usage.filter((u) => u.appName === appName);
    const got = rows.reduce((a, u) => ({ yes: a.yes + u.yes, no: a.no + u.no }), { yes: 0, no: 0 });
    assert.deepEqual(got, { yes, no }, `usage of ${flag} from the browser SDK: ${r.text.slice(0, 400)}`);
  } finally {
    client.stop();
    await L.stop(srv);
  }
});

test('unleash-proxy-client sees its token\'s projects only; a client token gets 403', async () => {
  const { srv, frontendToken, clientToken, gen, names } = await L.serverWithRound(SEED, 502, 5);
  const sc = stableContext(gen);
  try {
    let r = await srv.api('POST', '/api/admin/projects', { body: { id: 'other' } });
    assert.equal(r.status, 201, srvlib.show(r));
    r = await srv.api('POST', '/api/admin/projects/other/features', { body: { name: 'other-flag' } });
    assert.equal(r.status, 201, srvlib.show(r));
    r = await srv.api('POST', `/api/admin/projects/other/features/other-flag/environments/${L.ENV}/on`);
    assert.equal(r.status, 200, srvlib.show(r));
    r = await srv.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'fe-all', type: 'frontend', environment: L.ENV, projects: ['*'] } });
    assert.equal(r.status, 201, srvlib.show(r));
    const allToken = r.json.secret;
    const toggles = async (token) => {
      const { client, errors } = newClient(srv, token, sc.appName, sc.environment, { context: sc.context });
      try {
        await client.start();
        return { names: client.getAllToggles().map((t) => t.name), errors };
      } finally {
        client.stop();
      }
    };
    const scoped = await toggles(frontendToken);
    assert.ok(!scoped.names.includes('other-flag') && scoped.names.every((n) => names.includes(n)), `a default:production token: ${scoped.names}`);
    const all = await toggles(allToken);
    assert.ok(all.names.includes('other-flag'), `an all-projects token sees other-flag: ${all.names}`);
    assert.deepEqual(all.names.filter((n) => n !== 'other-flag').sort(), scoped.names.slice().sort());
    const wrong = await toggles(clientToken);
    assert.deepEqual(wrong.names, []);
    assert.deepEqual(wrong.errors, [{ type: 'HttpError', code: 403 }], 'a client (backend) token on /api/frontend');
  } finally {
    await L.stop(srv);
  }
});
