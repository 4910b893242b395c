'use strict';
// Proof that moving over from Unleash changes nothing an application sees.
//
// A real Unleash (npm unleash-server 8.x, pinned in package-lock.json) on a
// private PostgreSQL is filled through its admin API with generated flags of
// every kind it accepts: built-in and custom strategies (typed parameters,
// and the legacy strategies an upgraded Unleash keeps as custom ones),
// segments, dependencies, strategy variants and environment variants with
// payloads and overrides, constraints of every operator Unleash accepts
// (inverted, case-insensitive, dates on other fields than currentTime),
// disabled strategies, tags, stale and archived flags, in two environments.
// Then `vexil import --from-unleash` moves it into a fresh `vexil serve`, and
// unleash-client (with the custom strategies registered) pointed at Unleash
// and at Vexil must answer isEnabled and getVariant identically for every
// flag over thousands of generated contexts; the frontend API of both
// (Unleash's evaluates custom strategies as false) must agree too.
//
// Environment (run.sh sets the first two):
//   VEXIL_BIN                  the vexil binary under test
//   VEXIL_TEST_PG_DSN          a PostgreSQL superuser URI (a database
//                              "unleash_<pid>" is created on it, dropped after)
//   VEXIL_UNLEASH_SEED         generator seed (default 20261207)
//   VEXIL_UNLEASH_FLAGS        flags per environment (default 40)
//   VEXIL_UNLEASH_CONTEXTS     contexts per environment (default 2500)
//   VEXIL_UNLEASH_FRONTEND     contexts sent to the frontend APIs (default 150)

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const { spawn, execFileSync } = require('node:child_process');
const { once } = require('node:events');

const { Unleash, Strategy, InMemStorageProvider } = require('unleash-client');
const { Rng, roundSeed, generateRound } = require('../compat/gen.js');

const ROOT = path.resolve(__dirname, '..', '..');
const envInt = (name, dflt) => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : dflt;
};
const SEED = envInt('VEXIL_UNLEASH_SEED', 20261207);
const NFLAGS = envInt('VEXIL_UNLEASH_FLAGS', 40);
const NCONTEXTS = envInt('VEXIL_UNLEASH_CONTEXTS', 2500);
const NFRONTEND = envInt('VEXIL_UNLEASH_FRONTEND', 150);
const ENVS = ['production', 'development'];
const UNLEASH_ADMIN = '*:*.unleash-import-test-admin';
const VEXIL_ADMIN = '*:*.' + 'ab'.repeat(32);
const PROJECT = 'default';

const children = new Set();
const cleanups = [];
process.on('exit', () => {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch (_e) { /* gone */ }
  }
});

function vexilBin() {
  const bin = path.resolve(ROOT, process.env.VEXIL_BIN || 'build/src/cli/vexil');
  fs.accessSync(bin, fs.constants.X_OK);
  return bin;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Starts a child and resolves once `ready` matches its output (rejects on
// exit or after `ms`); its output is kept in `log`.
function startChild(cmd, args, opts, ready, ms, what) {
  const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} not ready after ${ms} ms:\n${child.log.slice(-3000)}`)), ms);
    const onData = (d) => {
      child.log += d.toString();
      if (ready.test(child.log)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      children.delete(child);
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${child.log.slice(-3000)}`));
    });
  });
}

async function stopChild(child) {
  if (!child || child.exitCode !== null) return;
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await once(child, 'exit').catch(() => {});
  clearTimeout(t);
}

async function call(base, token, method, p, body, ok = [200, 201, 202, 204]) {
  const res = await fetch(base + p, {
    method,
    headers: { Authorization: token, 'Content-Type': 'application/json', Accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_e) { json = text; }
  if (!ok.includes(res.status)) {
    const err = new Error(`${method} ${p}: ${res.status} ${text.slice(0, 600)}`);
    err.status = res.status;
    throw err;
  }
  return json;
}

// ---- the custom strategies the applications register --------------------

class TenantStrategy extends Strategy {
  constructor() { super('tenantStrategy'); }
  isEnabled(p, ctx) {
    const props = ctx.properties || {};
    const list = String(p.tenants || '').split(',').map((s) => s.trim()).filter(Boolean);
    if (!props.tenant || !list.includes(props.tenant)) return false;
    if (p.beta === 'true' && props.plan !== 'pro') return false;
    if (p.maxScore !== undefined && p.maxScore !== '' && !(Number(props.score) <= Number(p.maxScore))) return false;
    return true;
  }
}

class MyCustomStrategy extends Strategy {
  constructor() { super('myCustomStrategy'); }
  isEnabled(p) { return p.anything === 'yes'; }
}

const CUSTOM = [
  { name: 'tenantStrategy', description: 'tenants, optionally pro plans only', parameters: [
    { name: 'tenants', type: 'list', description: 'tenants', required: true },
    { name: 'percent', type: 'percentage', description: '' },
    { name: 'beta', type: 'boolean', description: 'pro plans only' },
    { name: 'maxScore', type: 'number', description: '' },
    { name: 'label', type: 'string', description: '' }] },
  { name: 'myCustomStrategy', parameters: [{ name: 'anything', type: 'string', required: true }] },
  // What an Unleash upgraded from v4 keeps as custom ("editable") rows.
  { name: 'userWithId', parameters: [{ name: 'userIds', type: 'list', required: true }] },
  { name: 'gradualRolloutUserId', parameters: [{ name: 'percentage', type: 'percentage' }, { name: 'groupId', type: 'string' }] },
  { name: 'gradualRolloutSessionId', parameters: [{ name: 'percentage', type: 'percentage' }, { name: 'groupId', type: 'string' }] },
  { name: 'gradualRolloutRandom', parameters: [{ name: 'percentage', type: 'percentage' }, { name: 'groupId', type: 'string' }] },
];

// ---- filling Unleash ------------------------------------------------------

const DATES = ['2024-03-01T00:00:00.000Z', '2025-06-01T12:00:00.000Z', '2026-01-01T00:00:00.000Z'];
// Unleash sorts variants with localeCompare ("green" < "Red"), byte order
// puts "Red" first: the import must keep Unleash's order.
const variantName = (n) => (n === 'red' ? 'Red' : n);
const renamed = (vs) => vs.map((v) => ({ ...v, name: variantName(v.name) }));
const SINGLE_VALUE = (op) => /^(NUM_|DATE_|SEMVER_|REGEX)/.test(op);

// A generated strategy as Unleash accepts it: its segments mapped (missing
// ones dropped, as Unleash refuses them), IN_CIDR dropped (Unleash 8 does not
// take it), REGEX never inverted (refused), and sometimes a date constraint
// on another field, a title or disabled.
function forUnleash(rng, s, segIds, used) {
  const out = { name: s.name, parameters: { ...s.parameters } };
  out.constraints = (s.constraints || [])
    .filter((c) => c.operator !== 'IN_CIDR')
    .map((c) => {
      const k = { contextName: c.contextName, operator: c.operator, inverted: !!c.inverted, caseInsensitive: !!c.caseInsensitive };
      if (SINGLE_VALUE(c.operator)) k.value = c.value; else k.values = c.values;
      if (c.operator === 'REGEX') k.inverted = false;
      return k;
    });
  if (rng.chance(0.12)) {
    out.constraints.push({ contextName: rng.pick(['signupDate', 'userId']), operator: rng.pick(['DATE_AFTER', 'DATE_BEFORE']),
      value: rng.pick(DATES), inverted: rng.chance(0.3), caseInsensitive: false });
  }
  for (const c of out.constraints) used.add(c.operator);
  out.segments = (s.segments || []).filter((id) => segIds.has(id)).map((id) => segIds.get(id));
  if (s.variants) {
    out.variants = renamed(s.variants).map((v) => ({ ...v, stickiness: v.stickiness || 'default' }));
  }
  if (rng.chance(0.1)) out.disabled = true;
  if (rng.chance(0.2)) out.title = 'generated ' + s.name;
  return out;
}

function tenantStrategy(rng) {
  const p = { tenants: rng.sample(['acme', 'globex', 'initech', 'umbrella', 'acme-eu'], rng.int(1, 3)).join(',') };
  if (rng.chance(0.5)) p.beta = rng.pick(['true', 'false']);
  if (rng.chance(0.4)) p.maxScore = String(rng.int(1, 100));
  if (rng.chance(0.3)) p.percent = String(rng.int(0, 100));
  if (rng.chance(0.3)) p.label = 'team-' + rng.int(1, 9);
  return { name: 'tenantStrategy', parameters: p, constraints: [] };
}

async function fill(ul, rounds) {
  const rng = new Rng(SEED ^ 0x5eed);
  const stats = { flags: 0, strategies: 0, custom: 0, segments: 0, dependencies: 0, envVariants: 0, archived: 0, tags: 0 };
  const used = new Set();
  for (const d of CUSTOM) await ul('POST', '/api/admin/strategies', d);
  const names = rounds[0].doc.features.map((f) => f.name);
  for (const f of rounds[0].doc.features) {
    await ul('POST', `/api/admin/projects/${PROJECT}/features`,
      { name: f.name, type: f.type, description: f.description || undefined, impressionData: f.impressionData });
    stats.flags++;
  }
  for (let e = 0; e < ENVS.length; e++) {
    const env = ENVS[e];
    const round = rounds[e];
    const segIds = new Map();
    for (const s of round.doc.segments) {
      const made = await ul('POST', '/api/admin/segments', {
        name: `${env}-${s.name}`,
        constraints: s.constraints.filter((c) => c.operator !== 'IN_CIDR').map((c) => {
          const k = { contextName: c.contextName, operator: c.operator, inverted: !!c.inverted && c.operator !== 'REGEX', caseInsensitive: !!c.caseInsensitive };
          if (SINGLE_VALUE(c.operator)) k.value = c.value; else k.values = c.values;
          used.add(c.operator);
          return k;
        }),
      });
      segIds.set(s.id, made.id);
      stats.segments++;
    }
    for (let i = 0; i < names.length; i++) {
      const f = round.doc.features[i];
      const base = `/api/admin/projects/${PROJECT}/features/${encodeURIComponent(names[i])}/environments/${env}`;
      const list = f.strategies.map((s) => forUnleash(rng, s, segIds, used));
      if (rng.chance(0.2)) list.splice(rng.int(0, list.length), 0, tenantStrategy(rng));
      for (const s of list) {
        await ul('POST', `${base}/strategies`, s);
        stats.strategies++;
        if (!['flexibleRollout', 'default', 'remoteAddress', 'applicationHostname'].includes(s.name)) stats.custom++;
      }
      if (f.variants && f.variants.length) {
        await ul('PUT', `/api/admin/projects/${PROJECT}/features/${encodeURIComponent(names[i])}/variants-batch`,
          { variants: renamed(f.variants), environments: [env] });
        stats.envVariants++;
      }
      await ul('POST', `${base}/${f.enabled ? 'on' : 'off'}`);
    }
  }
  // Dependencies (one level, same project, existing parents: what Unleash
  // allows), from the production round.
  const parents = new Set();
  const children = new Set();
  const byName = new Set(names);
  for (let i = 0; i < names.length; i++) {
    const f = rounds[0].doc.features[i];
    for (const d of f.dependencies || []) {
      if (!byName.has(d.feature) || d.feature === f.name || children.has(d.feature) || parents.has(f.name)) continue;
      const body = { feature: d.feature, enabled: d.enabled !== false };
      if (body.enabled && d.variants) body.variants = d.variants.map(variantName);
      await ul('POST', `/api/admin/projects/${PROJECT}/features/${encodeURIComponent(f.name)}/dependencies`, body);
      parents.add(d.feature);
      children.add(f.name);
      stats.dependencies++;
    }
  }
  for (const n of names) {
    if (rng.chance(0.3)) {
      await ul('POST', `/api/admin/features/${encodeURIComponent(n)}/tags`, { type: 'simple', value: rng.pick(['checkout', 'search', 'beta']) });
      stats.tags++;
    }
  }
  await ul('POST', `/api/admin/projects/${PROJECT}/stale`, { features: names.filter(() => rng.chance(0.1)), stale: true });
  // Archived flags, with a strategy each; and a parent whose children are
  // archived with it.
  for (let k = 0; k < 3; k++) {
    const n = `archived-${k}`;
    await ul('POST', `/api/admin/projects/${PROJECT}/features`, { name: n });
    await ul('POST', `/api/admin/projects/${PROJECT}/features/${n}/environments/production/strategies`,
      { name: 'flexibleRollout', parameters: { rollout: '50', stickiness: 'default', groupId: n } });
    await ul('DELETE', `/api/admin/projects/${PROJECT}/features/${n}`);
    stats.archived++;
  }
  return { stats, used, names };
}

// ---- comparing ------------------------------------------------------------

async function client(url, token, appName) {
  const u = new Unleash({
    url, appName, customHeaders: { Authorization: token }, refreshInterval: 2147483647,
    disableMetrics: true, storageProvider: new InMemStorageProvider(), skipInstanceCountWarning: true,
    strategies: [new TenantStrategy(), new MyCustomStrategy()],
  });
  u.on('error', () => {});
  u.on('warn', () => {});
  await once(u, 'synchronized');
  return u;
}

function answers(u, name, ctx) {
  const v = u.getVariant(name, ctx);
  return { on: u.isEnabled(name, ctx), variant: v.name, enabled: v.enabled, featureEnabled: v.feature_enabled,
    payload: v.payload ? `${v.payload.type}:${v.payload.value}` : null };
}

// What an SDK reads of a feature, with the differences that mean nothing
// (key order, an empty "values" beside "value", defaults spelled out,
// repeated dependencies).
function sdkView(f) {
  const cons = (cs) => (cs || []).map((c) => {
    const k = { contextName: c.contextName, operator: c.operator, inverted: !!c.inverted, caseInsensitive: !!c.caseInsensitive };
    if (SINGLE_VALUE(c.operator)) k.value = c.value; else k.values = c.values || [];
    return k;
  });
  return {
    name: f.name, enabled: f.enabled, impressionData: !!f.impressionData,
    strategies: (f.strategies || []).map((s) => ({ name: s.name, parameters: s.parameters || {}, constraints: cons(s.constraints),
      segments: s.segments || [], variants: s.variants || [] })),
    variants: f.variants || [],
    // Unleash 8.2 lists a dependency once per environment of the flag; the
    // copies are identical and ANDed, so they change no answer.
    dependencies: [...new Set((f.dependencies || []).map((d) => JSON.stringify(d)))].map((d) => JSON.parse(d)),
  };
}

// The first place where `a` and `b` differ ("" when they do not).
function firstDiff(a, b, at = '') {
  if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b) || a === null || b === null ||
      typeof a !== 'object') {
    return JSON.stringify(a) === JSON.stringify(b) ? '' : `${at}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
  }
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  for (const k of keys) {
    const d = firstDiff(a[k], b[k], `${at}/${k}`);
    if (d) return d;
  }
  return '';
}

function frontendQuery(ctx) {
  const q = new URLSearchParams();
  for (const k of ['userId', 'sessionId', 'appName', 'environment']) if (ctx[k] !== undefined) q.set(k, ctx[k]);
  q.set('remoteAddress', ctx.remoteAddress || '10.9.9.9');
  for (const [k, v] of Object.entries(ctx.properties || {})) q.set(`properties[${k}]`, v);
  return q.toString();
}

function frontendView(body) {
  const out = {};
  for (const t of body.toggles || []) {
    out[t.name] = { variant: t.variant.name, enabled: t.variant.enabled,
      payload: t.variant.payload ? `${t.variant.payload.type}:${t.variant.payload.value}` : null };
  }
  return out;
}

// ---- the test -------------------------------------------------------------

test('a real Unleash, imported into Vexil, answers the same', { timeout: 15 * 60 * 1000 }, async (t) => {
  const dsn = process.env.VEXIL_TEST_PG_DSN;
  assert.ok(dsn, 'VEXIL_TEST_PG_DSN (run.sh starts a private PostgreSQL)');
  const db = `unleash_${process.pid}`;
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', dsn, '-c', `CREATE DATABASE ${db}`]);
  cleanups.push(() => execFileSync('psql', ['-X', '-q', '-d', dsn, '-c', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`]));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vexil-unleash-'));
  cleanups.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
  t.after(async () => {
    for (const c of [...children]) await stopChild(c);
    for (const f of cleanups.reverse()) { try { f(); } catch (_e) { /* best effort */ } }
  });

  const t0 = Date.now();
  const uport = await freePort();
  await startChild(process.execPath, [path.join(__dirname, 'unleash.mjs')], {
    cwd: __dirname,
    env: { ...process.env, UNLEASH_PORT: String(uport), UNLEASH_DATABASE_URL: dsn.replace(/\/[^/?]*(\?|$)/, `/${db}$1`),
      INIT_ADMIN_API_TOKENS: UNLEASH_ADMIN, SEND_TELEMETRY: 'false', CHECK_VERSION: 'false', LOG_LEVEL: 'error' },
  }, /unleash: ready/, 240000, 'unleash-server');
  const U = `http://127.0.0.1:${uport}`;
  const ul = (m, p, b) => call(U, UNLEASH_ADMIN, m, p, b);
  const vport = await freePort();
  await startChild(vexilBin(), ['serve', '--host', '127.0.0.1', '--port', String(vport), '--database', `sqlite:${tmp}/vexil.db`],
    { env: { ...process.env, INIT_ADMIN_API_TOKENS: VEXIL_ADMIN } }, /listening on/, 20000, 'vexil serve');
  const V = `http://127.0.0.1:${vport}`;
  t.diagnostic(`unleash-server and vexil up in ${Date.now() - t0} ms`);

  const rounds = ENVS.map((_e, i) => generateRound(roundSeed(SEED, i), { flags: NFLAGS, contexts: NCONTEXTS }));
  // Same flag names in both environments: the development round's flags
  // configure the production round's names.
  const { stats, used, names } = await fill(ul, rounds);
  const tokens = {};
  for (const env of ENVS) {
    tokens[env] = (await ul('POST', '/api/admin/api-tokens', { tokenName: `app-${env}`, type: 'client', environment: env, projects: ['*'] })).secret;
  }
  const frontend = (await ul('POST', '/api/admin/api-tokens', { tokenName: 'web-production', type: 'frontend', environment: 'production', projects: ['*'] })).secret;
  t.diagnostic(`filled Unleash: ${JSON.stringify(stats)}; operators: ${[...used].sort().join(' ')}`);
  for (const op of ['IN', 'NOT_IN', 'STR_CONTAINS', 'STR_STARTS_WITH', 'STR_ENDS_WITH', 'NUM_EQ', 'NUM_GT', 'NUM_GTE', 'NUM_LT',
    'NUM_LTE', 'DATE_AFTER', 'DATE_BEFORE', 'SEMVER_EQ', 'SEMVER_GT', 'SEMVER_LT', 'SEMVER_GTE', 'SEMVER_LTE', 'REGEX']) {
    assert.ok(used.has(op), `the generated flags use ${op} (raise VEXIL_UNLEASH_FLAGS)`);
  }
  assert.ok(stats.custom > 0 && stats.segments > 0 && stats.dependencies > 0 && stats.envVariants > 0, JSON.stringify(stats));

  // ---- the import, a dry run first ----
  const run = (args) => {
    const t1 = Date.now();
    try {
      const out = execFileSync(vexilBin(), args, {
        env: { ...process.env, VEXIL_TOKEN: VEXIL_ADMIN, VEXIL_SERVER: V }, encoding: 'utf8', maxBuffer: 64 << 20,
      });
      return { code: 0, out, ms: Date.now() - t1 };
    } catch (e) {
      return { code: e.status, out: String(e.stdout || ''), err: String(e.stderr || ''), ms: Date.now() - t1 };
    }
  };
  const dry = run(['import', '--from-unleash', `${U}/api/`, '--token', UNLEASH_ADMIN, '--dry-run', '--json']);
  assert.equal(dry.code, 0, dry.err + dry.out);
  const plan = JSON.parse(dry.out);
  assert.equal(plan.dryRun, true);
  assert.deepEqual(plan.problems, []);
  assert.equal(plan.created.flags.length, names.length + stats.archived);
  assert.deepEqual(plan.created.strategies.sort(), ['myCustomStrategy', 'tenantStrategy']);
  assert.ok((await call(V, VEXIL_ADMIN, 'GET', '/api/admin/features')).features.length === 0, 'a dry run writes nothing');

  const done = run(['import', '--from-unleash', `${U}/api/`, '--token', UNLEASH_ADMIN, '--json']);
  assert.equal(done.code, 0, done.err + done.out);
  const answer = JSON.parse(done.out);
  t.diagnostic(`dry run ${dry.ms} ms, import ${done.ms} ms (reading Unleash included)`);
  const secret = (name) => (answer.tokens.find((x) => x.tokenName === name) || {}).secret;
  for (const env of ENVS) assert.ok(secret(`app-${env}`), `a new token for app-${env}`);
  assert.ok(!JSON.stringify(answer).includes(tokens.production), 'no Unleash secret reaches Vexil');

  // Carried over: the archive, tags, definitions.
  const archived = await call(V, VEXIL_ADMIN, 'GET', '/api/admin/archive/features');
  assert.deepEqual(archived.features.map((f) => f.name).sort(), ['archived-0', 'archived-1', 'archived-2']);
  const defs = await call(V, VEXIL_ADMIN, 'GET', '/api/admin/strategies/tenantStrategy');
  assert.deepEqual(defs.parameters.map((p) => [p.name, p.type, p.required]),
    CUSTOM[0].parameters.map((p) => [p.name, p.type, !!p.required]));

  // ---- what SDKs are served, then what they answer ----
  for (let e = 0; e < ENVS.length; e++) {
    const env = ENVS[e];
    const fromUnleash = await client(`${U}/api/`, tokens[env], `unleash-${env}`);
    const fromVexil = await client(`${V}/api/`, secret(`app-${env}`), `vexil-${env}`);
    try {
      const a = Object.fromEntries(fromUnleash.getFeatureToggleDefinitions().map((f) => [f.name, sdkView(f)]));
      const b = Object.fromEntries(fromVexil.getFeatureToggleDefinitions().map((f) => [f.name, sdkView(f)]));
      assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort(), `${env}: the same flags`);
      for (const n of Object.keys(a)) {
        assert.equal(firstDiff(a[n], b[n]), '', `${env}: flag ${n} as SDKs see it (Unleash vs Vexil)`);
      }

      const flagNames = Object.keys(a).concat(['no-such-flag']);
      let checked = 0;
      const diffs = [];
      for (const ctx of rounds[e].contexts) {
        for (const n of flagNames) {
          const x = answers(fromUnleash, n, ctx);
          const y = answers(fromVexil, n, ctx);
          checked++;
          if (JSON.stringify(x) !== JSON.stringify(y) && diffs.length < 10) diffs.push({ flag: n, ctx, unleash: x, vexil: y });
        }
      }
      t.diagnostic(`${env}: ${checked} answers (${rounds[e].contexts.length} contexts x ${flagNames.length} flags) compared`);
      assert.deepEqual(diffs, [], `${env}: unleash-client answers the same from Unleash and from Vexil`);
    } finally {
      fromUnleash.destroy();
      fromVexil.destroy();
    }
  }

  // ---- the frontend APIs: custom strategies are false on both ----
  const vexilFrontend = secret('web-production');
  assert.ok(vexilFrontend, 'the frontend token came over');
  const diffs = [];
  for (const ctx of rounds[0].contexts.slice(0, NFRONTEND)) {
    const q = frontendQuery(ctx);
    let d = '';
    // Unleash's frontend API answers from a cache it refreshes once a
    // second: a difference must outlast a few refreshes to count.
    for (let attempt = 0; attempt < 6; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, 1000));
      const a = frontendView(await call(U, frontend, 'GET', `/api/frontend?${q}`));
      const b = frontendView(await call(V, vexilFrontend, 'GET', `/api/frontend?${q}`));
      d = firstDiff(a, b);
      if (!d) break;
    }
    if (d && diffs.length < 5) diffs.push({ ctx, unleashVsVexil: d });
    if (diffs.length >= 5) break;
  }
  assert.deepEqual(diffs, [], 'the frontend API answers as Unleash\'s');
  t.diagnostic(`total ${Date.now() - t0} ms`);
});
