'use strict';
// The real SDKs against `vexil edge` (docs/edge.md): on random flag sets
// (gen.js, imported into a live server), unleash-client (polling and
// streaming), unleash-proxy-client (GET /api/frontend) and
// @openfeature/ofrep-provider give, through an edge that follows the
// server, the same answer for every flag and context as straight from the
// server; after a series of changes on the server (reaching the streaming
// SDK through the edge) they still do.
//
// Environment: VEXIL_BIN, VEXIL_COMPAT_SEED (base seed),
// VEXIL_COMPAT_EDGE_ROUNDS (flag sets, default 4),
// VEXIL_COMPAT_LIVE_CONTEXTS (contexts per flag set, default 200).

const test = require('node:test');
const assert = require('node:assert/strict');
const { once } = require('node:events');
const h = require('./harness');
const L = require('./live');
const E = require('../edge/edge');

const { srvlib } = L;
const SEED = L.envInt('VEXIL_COMPAT_SEED', Math.floor(Math.random() * 0x100000000)) >>> 0;
const ROUNDS = L.envInt('VEXIL_COMPAT_EDGE_ROUNDS', 4);
const CONTEXTS = L.envInt('VEXIL_COMPAT_LIVE_CONTEXTS', 200);

// unleash-proxy-client's answers for one context on `url`.
async function frontendAnswers(url, token, ctx, names) {
  const { UnleashClient, InMemoryStorageProvider } = require('unleash-proxy-client');
  const { appName, environment, ...context } = ctx;
  const client = new UnleashClient({
    url: `${url}/api/frontend`, clientKey: token, appName: appName || 'edge-compat', environment,
    disableRefresh: true, disableMetrics: true, storageProvider: new InMemoryStorageProvider(),
    context: { sessionId: 's1', ...context },
  });
  const errors = [];
  client.on('error', (e) => errors.push(e));
  try {
    await client.start();
    assert.deepEqual(errors, [], `unleash-proxy-client errors on ${url}`);
    const out = {};
    for (const n of names) out[n] = h.normalizeAnswer(client.isEnabled(n), client.getVariant(n));
    return out;
  } finally {
    client.stop();
  }
}

async function ofrepClient(url, token, domain) {
  const { OpenFeature } = require('@openfeature/server-sdk');
  const { OFREPProvider } = require('@openfeature/ofrep-provider');
  await OpenFeature.setProviderAndWait(domain, new OFREPProvider({ baseUrl: url, headers: { Authorization: `Bearer ${token}` } }));
  return OpenFeature.getClient(domain);
}

async function ofrepAnswers(client, names, ctx) {
  const { userId, properties, ...rest } = ctx;
  const octx = { ...(userId !== undefined ? { targetingKey: userId } : {}), ...rest, ...(properties || {}) };
  const out = {};
  for (const n of names) {
    const d = await client.getObjectDetails(n, { dflt: true }, octx);
    out[n] = { value: d.value, variant: d.variant, reason: d.reason, errorCode: d.errorCode };
  }
  return out;
}

function explain(what, round, ctx, a, b, names) {
  const d = names.filter((n) => JSON.stringify(a[n]) !== JSON.stringify(b[n]));
  return `${what}: the edge and the server disagree (seed ${SEED}, round ${round}; flags ${d.join(', ')})\n` +
    `  replay: VEXIL_COMPAT_SEED=${SEED} node --test tests/compat/edge_sdk.test.js\n` +
    `  context: ${JSON.stringify(ctx)}\n  server: ${JSON.stringify(a[d[0]])}\n  edge:   ${JSON.stringify(b[d[0]])}`;
}

test(`the SDKs answer alike through an edge and from the server, before and after changes (seed ${SEED})`, async (t) => {
  t.diagnostic(`seed ${SEED}: replay with VEXIL_COMPAT_SEED=${SEED}`);
  let compared = 0;
  for (let round = 0; round < ROUNDS; round++) {
    await t.test(`round ${round}`, async () => {
      const { srv, clientToken, frontendToken, gen, names } = await L.serverWithRound(SEED, 9100 + round, CONTEXTS);
      const edge = await E.startEdge(srv, [clientToken]);
      const sdks = [];
      try {
        const direct = await L.startUnleash(srv, clientToken, { refreshInterval: 100 });
        const polled = await L.startUnleash(edge, clientToken, { refreshInterval: 100 });
        const streamed = await L.startUnleash(edge, clientToken, { experimentalMode: { type: 'streaming' } });
        sdks.push(direct.unleash, polled.unleash, streamed.unleash);
        const ofDirect = await ofrepClient(srv.url, clientToken, `direct-${round}`);
        const ofEdge = await ofrepClient(edge.url, clientToken, `edge-${round}`);
        const compare = async (phase) => {
          for (const [i, ctx] of gen.contexts.entries()) {
            const a = L.sdkAnswers(direct.unleash, names, ctx);
            const b = L.sdkAnswers(polled.unleash, names, ctx);
            const c = L.sdkAnswers(streamed.unleash, names, ctx);
            assert.deepEqual(b, a, explain(`unleash-client polling (${phase})`, round, ctx, a, b, names));
            assert.deepEqual(c, a, explain(`unleash-client streaming (${phase})`, round, ctx, a, c, names));
            compared += 2 * names.length;
            if (i % 20 === 0) {
              const fa = await frontendAnswers(srv.url, frontendToken, ctx, names);
              const fb = await frontendAnswers(edge.url, frontendToken, ctx, names);
              assert.deepEqual(fb, fa, explain(`unleash-proxy-client (${phase})`, round, ctx, fa, fb, names));
              const oa = await ofrepAnswers(ofDirect, names, ctx);
              const ob = await ofrepAnswers(ofEdge, names, ctx);
              assert.deepEqual(ob, oa, explain(`ofrep-provider (${phase})`, round, ctx, oa, ob, names));
              compared += 2 * names.length;
            }
          }
        };
        await compare('initial');
        // Changes on the server: half the flags toggled, one archived. The
        // streaming SDK on the edge hears them; the polling ones refresh.
        const changed = once(streamed.unleash, 'changed');
        for (const [k, name] of names.entries()) {
          if (k % 2) continue;
          const on = !gen.doc.features.find((f) => f.name === name).enabled;
          const r = await srv.api('POST', `/api/admin/projects/default/features/${encodeURIComponent(name)}/environments/production/${on ? 'on' : 'off'}`);
          assert.equal(r.status, 200, srvlib.show(r));
        }
        // Archive a flag no other flag depends on (the server refuses to
        // archive a parent, 409, as Unleash does).
        const parents = new Set(gen.doc.features.flatMap((f) => (f.dependencies || []).map((d) => d.feature)));
        const victim = names.find((n, k) => k % 2 && !parents.has(n));
        if (victim) {
          const r = await srv.api('DELETE', `/api/admin/projects/default/features/${encodeURIComponent(victim)}`);
          assert.equal(r.status, 200, srvlib.show(r));
        }
        await L.within(changed, 10000, () => 'the streaming SDK on the edge heard no change');
        // The polling SDKs refresh every 100 ms; the stream may still be
        // applying the last change: wait until the edge serves the server's
        // body and every SDK holds it.
        const body = async (url) => (await srvlib.request(url, 'GET', '/api/client/features', { token: clientToken })).text;
        await E.until(async () => (await body(edge.url)) === (await body(srv.url)), 10000, 'the edge to serve the changes');
        // Every context: one context may not tell a flag's old state from
        // its new one (seed 4151646273: a remoteAddress strategy).
        await E.until(async () => gen.contexts.every((ctx) => {
          const a = JSON.stringify(L.sdkAnswers(direct.unleash, names, ctx));
          return JSON.stringify(L.sdkAnswers(streamed.unleash, names, ctx)) === a &&
            JSON.stringify(L.sdkAnswers(polled.unleash, names, ctx)) === a;
        }), 10000, 'the SDKs to hold the changes', 50);
        await compare('after changes');
      } finally {
        for (const u of sdks) await L.destroy(u);
        await edge.stop();
        await L.stop(srv);
      }
    });
  }
  t.diagnostic(`${compared} answers compared`);
});
