'use strict';
// Helpers for the compatibility tests that run the real SDKs against a live
// `vexil serve` (unleash_sdk.test.js, frontend_sdk.test.js, ofrep.test.js):
// filling a server with a flag set from gen.js through POST
// /api/admin/import, asking the server's own evaluation (the playground and
// /api/frontend) for the answers, and starting unleash-client against it.
//
// The server is started and stopped by tests/integration/server.js (which
// kills it when the test process exits), so VEXIL_BIN, VEXIL_IT_KEEP and
// VEXIL_IT_READY_TIMEOUT_MS apply here too.

const { once } = require('node:events');
const srvlib = require('../integration/server');
const h = require('./harness');
const { generateRound, roundSeed } = require('./gen');

const ENV = 'production';
const TIME = '2026-01-01T00:00:00.000Z';

// ---- a gen.js round as an /api/admin/import document ------------------------

// gen.js makes client-features documents (what an SDK receives); the import
// takes the admin shape (export document). The flags go to `env`; the other
// environment stays off. Dependencies the admin API refuses (on a missing
// parent, chains, a parent that has parents) are dropped here: Vexil's
// model keeps dependencies one level deep, as Unleash does.
function importDocument(doc, env = ENV) {
  const hasParents = new Set();
  const isParent = new Set();
  const names = new Set(doc.features.map((f) => f.name));
  const features = doc.features.map((f) => {
    const deps = [];
    for (const d of f.dependencies || []) {
      if (!names.has(d.feature) || d.feature === f.name) continue;
      if (hasParents.has(d.feature) || isParent.has(f.name)) continue;
      deps.push({ feature: d.feature, enabled: d.enabled !== false, variants: d.enabled === false ? [] : (d.variants || []) });
      hasParents.add(f.name);
      isParent.add(d.feature);
    }
    const strategies = f.strategies.map((s, i) => ({
      id: `s-${i}-${f.name}`,
      name: s.name,
      title: null,
      disabled: false,
      sortOrder: i,
      parameters: s.parameters || {},
      constraints: s.constraints || [],
      segments: s.segments || [],
      variants: s.variants || [],
    }));
    return {
      name: f.name,
      project: 'default',
      type: f.type,
      description: f.description || '',
      impressionData: f.impressionData,
      stale: false,
      archived: false,
      archivedAt: null,
      createdAt: TIME,
      updatedAt: TIME,
      lastSeenAt: null,
      tags: [],
      dependencies: deps,
      environments: ['development', 'production'].map((e) => (e === env
        ? { name: e, enabled: f.enabled, strategies, variants: f.variants || [] }
        : { name: e, enabled: false, strategies: [], variants: [] })),
    };
  });
  return {
    version: 1,
    projects: [{ id: 'default', name: 'Default', description: '', createdAt: TIME }],
    environments: [
      { name: 'development', type: 'development', enabled: true, sortOrder: 1, createdAt: TIME },
      { name: 'production', type: 'production', enabled: true, sortOrder: 2, createdAt: TIME },
    ],
    featureTypes: ['release', 'experiment', 'operational', 'kill-switch', 'permission']
      .map((id) => ({ id, name: id, description: '', lifetimeDays: null })),
    segments: doc.segments.map((s) => ({ id: s.id, name: s.name, description: '', project: null, constraints: s.constraints, createdAt: TIME })),
    features,
  };
}

// Removes what the JSON pointer `p` (from a 400's details) names, at the
// granularity of a constraint, a variant list, a dependency, a segment
// reference or a strategy. Returns a description, or null when it cannot.
function repair(doc, p) {
  const parts = p.split('/').slice(1);
  // the deepest removable container on the path
  const kinds = ['constraints', 'segments', 'dependencies', 'variants', 'strategies', 'overrides'];
  for (let i = parts.length - 2; i >= 0; i--) {
    if (!kinds.includes(parts[i]) || !/^\d+$/.test(parts[i + 1] || '')) continue;
    let node = doc;
    for (let k = 0; k <= i; k++) node = node?.[parts[k]];
    if (!Array.isArray(node)) continue;
    const idx = Number(parts[i + 1]);
    if (parts[i] === 'variants') {
      const removed = node.splice(0);
      return `variants at /${parts.slice(0, i + 1).join('/')} (${removed.length})`;
    }
    // a top-level segment: empty its constraints rather than renumbering ids
    if (i === 0 && parts[0] === 'segments') {
      doc.segments[idx].constraints = [];
      return `constraints of segment ${doc.segments[idx].id}`;
    }
    const [gone] = node.splice(idx, 1);
    return `/${parts.slice(0, i + 2).join('/')} ${JSON.stringify(gone).slice(0, 160)}`;
  }
  return null;
}

// Imports the round's flag set into an empty server. Whatever the import
// refuses (a value Vexil's validation rejects) is removed and the import
// retried; the removals are returned so a test can report them.
async function importRound(srv, doc, env = ENV) {
  const body = importDocument(doc, env);
  const removed = [];
  for (let attempt = 0; attempt < 200; attempt++) {
    const r = await srv.api('POST', '/api/admin/import', { body });
    if (r.status === 200) return { imported: body, removed };
    const d = r.json && Array.isArray(r.json.details) ? r.json.details[0] : null;
    const what = r.status === 400 && d && typeof d.path === 'string' ? repair(body, d.path) : null;
    if (!what) throw new Error(`POST /api/admin/import: ${srvlib.show(r)}`);
    removed.push(`${what}: ${d.message}`);
  }
  throw new Error('POST /api/admin/import: still refused after 200 repairs');
}

// A server with a client and a frontend token for production, filled with
// round `round` of base seed `seed` (gen.js) with `contexts` contexts.
async function serverWithRound(seed, round, contexts) {
  const clientToken = srvlib.clientSecret('default', ENV);
  const frontendToken = srvlib.frontendSecret('default', ENV);
  const srv = await srvlib.startServer({ clientTokens: [clientToken], frontendTokens: [frontendToken] });
  const gen = generateRound(roundSeed(seed, round), { contexts });
  const { removed } = await importRound(srv, gen.doc);
  return { srv, clientToken, frontendToken, gen, removed, names: gen.doc.features.map((f) => f.name) };
}

// Stops the server (SIGTERM) and fails when it did not exit cleanly or
// when a sanitizer reported anything: run the compat tests against an
// ASan/UBSan build (VEXIL_BIN=build-asan/src/cli/vexil) and every report
// fails the test that was running.
async function stop(srv) {
  const x = await srv.stop();
  const err = srv.stderr;
  const at = err.search(/ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error: /);
  if (at >= 0) throw new Error(`vexil serve reported a sanitizer error:\n${err.slice(Math.max(0, at - 200), at + 6000)}`);
  if (x.code !== 0) throw new Error(`vexil serve exited with ${JSON.stringify(x)} after SIGTERM; stderr:\n${err.slice(-3000)}`);
}

// ---- Vexil's own answers ------------------------------------------------------

// What the playground says for every flag of `env` for one context:
// {flagName: {enabled, variant}} in the shape harness.normalizeAnswer makes.
// Flags of `names` the server does not have get the SDK's answer for an
// unknown flag (off, variant "disabled").
async function playground(srv, ctx, env = ENV, names = []) {
  const r = await srv.api('POST', '/api/admin/playground', { body: { environment: env, context: ctx } });
  if (r.status !== 200 || !r.json || !Array.isArray(r.json.features)) {
    throw new Error(`POST /api/admin/playground: ${srvlib.show(r)}`);
  }
  const out = {};
  for (const n of names) out[n] = h.normalizeAnswer(false, { name: 'disabled', enabled: false, feature_enabled: false });
  for (const f of r.json.features) out[f.name] = h.normalizeAnswer(f.isEnabled, f.variant);
  return out;
}

// The query string the frontend SDK builds for a context (properties as
// properties[x]=y; unleash-proxy-client 3.8.2 does the same).
function frontendQuery(ctx) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(ctx)) {
    if (k === 'properties') {
      for (const [pk, pv] of Object.entries(v || {})) q.append(`properties[${pk}]`, pv);
    } else if (v !== undefined && v !== null) {
      q.append(k, String(v));
    }
  }
  return q.toString();
}

// ---- unleash-client against the server ------------------------------------------

// Starts unleash-client 6.12.1 on the server with a client token and waits
// until it has the flags. `opts` are passed to the SDK (refreshInterval,
// experimentalMode, metricsInterval, ...); `setup(unleash)` runs before it
// starts (to attach listeners). Returns {unleash, events}: the SDK and a
// log of its error/warn messages.
async function startUnleash(srv, token, opts = {}, setup = () => {}) {
  const { Unleash, InMemStorageProvider } = require('unleash-client');
  const unleash = new Unleash({
    url: `${srv.url}/api/`,
    appName: 'vexil-compat-live',
    environment: ENV,
    customHeaders: { Authorization: token },
    refreshInterval: 2147483647,
    disableMetrics: true,
    storageProvider: new InMemStorageProvider(),
    skipInstanceCountWarning: true,
    ...opts,
  });
  const events = [];
  unleash.on('error', (e) => events.push(`error: ${e && e.message ? e.message : e}`));
  unleash.on('warn', (m) => events.push(`warn: ${m}`));
  setup(unleash);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`unleash-client did not synchronize with ${srv.url} within 15 s: ${events.join('; ')}`)), 15000);
  });
  try {
    await Promise.race([once(unleash, 'synchronized'), timeout]);
  } catch (e) {
    unleash.destroy();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return { unleash, events };
}

// Destroys an unleash-client and gives a request it still has in flight
// time to finish before the server goes away (else the SDK rejects it
// with nobody listening: an unhandled rejection that fails the file).
async function destroy(unleash) {
  unleash.destroy();
  await srvlib.sleep(250);
}

// The SDK's answers for every flag in `names` for one context.
function sdkAnswers(unleash, names, ctx) {
  const row = {};
  for (const name of names) {
    row[name] = h.normalizeAnswer(unleash.isEnabled(name, structuredClone(ctx)), unleash.getVariant(name, structuredClone(ctx)));
  }
  return row;
}

// Compares two {flag: answer} maps; returns the differing flags with both
// answers ({name, sdk, vexil}).
function diffAnswers(sdk, vexil, names) {
  const out = [];
  for (const name of names) {
    if (!h.sameAnswer(sdk[name], vexil[name])) out.push({ name, sdk: sdk[name], vexil: vexil[name] });
  }
  return out;
}

// vexil_http_requests_total for route/status from /metrics (summed over
// methods), once it has settled: the server counts a request when its
// answer is done, which may be just after the client has read it.
async function requestCount(srv, route, status) {
  let last = await countNow(srv, route, status);
  for (let i = 0; i < 50; i++) {
    await srvlib.sleep(20);
    const n = await countNow(srv, route, status);
    if (n === last) return n;
    last = n;
  }
  return last;
}

// Waits until that count reaches `n` (at most `ms`), and returns it.
async function countAtLeast(srv, route, status, n, ms = 5000) {
  let got = 0;
  await waitFor(async () => (got = await countNow(srv, route, status)) >= n, ms,
    `vexil_http_requests_total{route="${route}",status="${status}"} to reach ${n} (at ${got})`, 20);
  return requestCount(srv, route, status);
}

async function countNow(srv, route, status) {
  const r = await srv.api('GET', '/metrics', { token: null });
  if (r.status !== 200) throw new Error(`GET /metrics: ${srvlib.show(r)}`);
  let n = 0;
  for (const line of r.text.split('\n')) {
    if (!line.startsWith('vexil_http_requests_total{')) continue;
    const labels = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    if (labels.includes(`route="${route}"`) && labels.includes(`status="${status}"`)) {
      n += Number(line.slice(line.lastIndexOf('}') + 1).trim());
    }
  }
  return n;
}

// Resolves when `pred()` is true (polled every `everyMs`), else rejects
// after `ms` with `what`.
async function waitFor(pred, ms, what, everyMs = 5) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await srvlib.sleep(everyMs);
  }
}

// `promise`, or a rejection with `what()` after `ms` (the timer is cleared
// either way).
async function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what()}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function envInt(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  if (!/^\d+$/.test(v)) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

module.exports = {
  ENV,
  srvlib,
  importDocument,
  importRound,
  serverWithRound,
  stop,
  playground,
  frontendQuery,
  startUnleash,
  destroy,
  sdkAnswers,
  diffAnswers,
  requestCount,
  countAtLeast,
  waitFor,
  within,
  envInt,
};
