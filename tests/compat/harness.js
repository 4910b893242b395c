'use strict';
// Shared helpers for the compatibility tests: locating and running
// `vexil eval`, and evaluating the same document with the real Unleash Node
// SDK (unleash-client) served over loopback HTTP.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const { once } = require('node:events');
const { spawnSync } = require('node:child_process');

const REPO_ROOT = path.resolve(__dirname, '..', '..');

function vexilBin() {
  // A relative VEXIL_BIN is taken from the current directory, else from the
  // repository root; the default is the CMake build output.
  const bin = process.env.VEXIL_BIN || path.join('build', 'src', 'cli', 'vexil');
  let abs = path.resolve(REPO_ROOT, bin);
  if (process.env.VEXIL_BIN && fs.existsSync(path.resolve(bin))) abs = path.resolve(bin);
  try {
    fs.accessSync(abs, fs.constants.X_OK);
  } catch (_e) {
    throw new Error(`vexil binary not found or not executable: ${abs}\n` +
      'Build it first (cmake -B build && cmake --build build) or point VEXIL_BIN at it.');
  }
  return abs;
}

function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Runs `vexil eval --features F --contexts C` and returns one parsed object
// per context. Throws with the exit status and stderr on any failure.
// Either path may be '-' with the text given as `stdin`.
function runVexil(bin, featuresPath, contextsPath, expectedLines, stdin) {
  const args = ['eval', '--features', featuresPath, '--contexts', contextsPath];
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 120000, maxBuffer: 1 << 28, input: stdin ?? '' });
  const cmd = `${bin} ${args.join(' ')}`;
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${cmd} exited with ${r.status === null ? 'signal ' + r.signal : r.status}\nstderr: ${r.stderr.slice(0, 4000)}`);
  }
  const lines = r.stdout.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length !== expectedLines) {
    throw new Error(`${cmd} printed ${lines.length} lines for ${expectedLines} contexts\nstdout (start): ${r.stdout.slice(0, 2000)}`);
  }
  return lines.map((line, i) => {
    try {
      const v = JSON.parse(line);
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
      return v;
    } catch (e) {
      throw new Error(`${cmd}: line ${i + 1} is not a JSON object (${e.message}): ${line.slice(0, 500)}`);
    }
  });
}

// The comparable shape of an answer: exactly what `vexil eval` prints.
function normalizeVariant(v) {
  const out = { name: v.name, enabled: v.enabled, feature_enabled: v.feature_enabled };
  if (v.payload !== undefined && v.payload !== null) out.payload = { type: v.payload.type, value: v.payload.value };
  return out;
}

function normalizeAnswer(enabled, variant) {
  return { enabled, variant: normalizeVariant(variant) };
}

// What vexil printed for one flag, reduced to the compared fields; returns
// the raw value when it does not have the expected shape, so that the
// comparison fails and shows it.
function normalizeVexilAnswer(a) {
  if (a === null || typeof a !== 'object' || a.variant === null || typeof a.variant !== 'object') return a;
  return normalizeAnswer(a.enabled, a.variant);
}

function sameAnswer(x, y) {
  return JSON.stringify(x) === JSON.stringify(y);
}

// Serves `doc` as /api/client/features on 127.0.0.1 and evaluates every flag
// in `flagNames` for every context with unleash-client. Returns, per
// context, an object keyed by flag name with normalized answers.
async function sdkEvaluate(doc, contexts, flagNames) {
  const { Unleash, InMemStorageProvider } = require('unleash-client');
  const body = JSON.stringify(doc);
  let fetches = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    const url = req.url.split('?')[0];
    if (req.method === 'GET' && url.endsWith('/client/features')) {
      fetches++;
      res.writeHead(200, { 'Content-Type': 'application/json', ETag: '"vexil-compat"' });
      res.end(body);
    } else if (req.method === 'POST' && (url.endsWith('/client/register') || url.endsWith('/client/metrics'))) {
      res.writeHead(202);
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();

  const unleash = new Unleash({
    url: `http://127.0.0.1:${port}/api/`,
    appName: 'vexil-compat',
    customHeaders: { Authorization: 'x' },
    refreshInterval: 2147483647,
    disableMetrics: true,
    storageProvider: new InMemStorageProvider(),
    disableAutoStart: true,
    skipInstanceCountWarning: true,
  });
  const errors = [];
  unleash.on('error', (e) => errors.push(e));
  unleash.on('warn', () => {});
  try {
    const synced = once(unleash, 'synchronized');
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error('unleash-client did not synchronize within 15 s' +
        (errors.length ? ': ' + errors.map((e) => e.message).join('; ') : ''))), 15000);
    });
    await unleash.start();
    await Promise.race([synced, timeout]).finally(() => clearTimeout(timer));
    if (!unleash.ready) await once(unleash, 'ready');
    if (fetches !== 1) throw new Error(`expected one features fetch, saw ${fetches}`);
    return contexts.map((ctx) => {
      const row = {};
      for (const name of flagNames) {
        const enabled = unleash.isEnabled(name, structuredClone(ctx));
        const variant = unleash.getVariant(name, structuredClone(ctx));
        row[name] = normalizeAnswer(enabled, variant);
      }
      return row;
    });
  } finally {
    unleash.destroy();
    server.closeAllConnections();
    server.close();
  }
}

// The smallest document that decides `flagName`: the flag, its direct
// parents (whose own dependencies only matter by being non-empty) and the
// segments that these reference.
function minimalDocument(doc, flagName) {
  const byName = new Map(doc.features.map((f) => [f.name, f]));
  const flag = byName.get(flagName);
  const features = [flag];
  for (const d of flag.dependencies || []) {
    const p = byName.get(d.feature);
    if (p && !features.includes(p)) features.push(p);
  }
  const segIds = new Set();
  for (const f of features) for (const s of f.strategies || []) for (const id of s.segments || []) segIds.add(id);
  const segments = (doc.segments || []).filter((s) => segIds.has(s.id));
  return { version: 2, features, segments };
}

module.exports = {
  REPO_ROOT,
  vexilBin,
  tempDir,
  runVexil,
  sdkEvaluate,
  normalizeAnswer,
  normalizeVariant,
  normalizeVexilAnswer,
  sameAnswer,
  minimalDocument,
};
