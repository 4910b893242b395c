'use strict';
// Seeded generator of random but valid Unleash client-features documents and
// evaluation contexts, for the differential test against the Node SDK.
//
// Everything here is deterministic given the seed. The documents look like
// what an Unleash server sends (`GET /api/client/features`, version 2, with
// top-level segments); the contexts use the SDK's field names.
//
// The generator deliberately stays inside the region where the answer is
// fully determined (see notes/unleash.md §4.9 for the places where the Node
// SDK and other evaluators are known to differ, or where randomness enters):
//   - ASCII only; no whitespace inside values; no empty strings anywhere;
//   - every context has appName, environment and currentTime, and at least
//     one of userId/sessionId; every field that some variant list uses as
//     stickiness is present in every context, so no `random` fallback is
//     ever reached; `random` stickiness is never generated;
//   - gradualRolloutRandom only at 0 or 100; applicationHostname lists only
//     host names that cannot be this machine's;
//   - the remoteAddress strategy gets IPv4 addresses and CIDRs only;
//   - every flexibleRollout/gradualRollout* strategy carries a groupId;
//   - variant lists always have a positive total weight; overrides only on
//     feature-level variants.

// ---- PRNG ------------------------------------------------------------------

function mulberry32(seed) {
  let a = seed >>> 0;
  return function next() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rng {
  constructor(seed) {
    this.next = mulberry32(seed);
  }
  // integer in [lo, hi]
  int(lo, hi) {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p) {
    return this.next() < p;
  }
  pick(arr) {
    return arr[Math.floor(this.next() * arr.length)];
  }
  // weighted pick: [[weight, value], ...]
  weighted(pairs) {
    const total = pairs.reduce((s, [w]) => s + w, 0);
    let r = this.next() * total;
    for (const [w, v] of pairs) {
      r -= w;
      if (r < 0) return v;
    }
    return pairs[pairs.length - 1][1];
  }
  // k distinct elements, in random order
  sample(arr, k) {
    const copy = arr.slice();
    const out = [];
    while (out.length < k && copy.length > 0) {
      out.push(copy.splice(Math.floor(this.next() * copy.length), 1)[0]);
    }
    return out;
  }
}

// A per-round seed derived from the base seed, so that one round can be
// replayed alone.
function roundSeed(baseSeed, round) {
  let h = (baseSeed ^ Math.imul(round + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

// ---- value pools -------------------------------------------------------------
// Small pools so that context values and constraint values collide often.

const USER_IDS = ['1', '2', '7', '42', '100', '12.0', 'u1', 'u2', 'u3', 'u17', 'alice', 'Alice', 'bob', 'carol', 'dave-9', 'user_5', 'x'];
const SESSION_IDS = ['s1', 's2', 's3', 's10', 'sess-a', 'sess-B', '9f8e7d', 'abc123', '1', '42'];
const ENVIRONMENTS = ['production', 'development', 'staging', 'default', 'Production'];
const APP_NAMES = ['web', 'api', 'worker', 'mobile-ios', 'Web'];
const TENANTS = ['acme', 'globex', 'initech', 'ACME', 'umbrella', 'acme-eu', '42'];
const PLANS = ['free', 'pro', 'enterprise', 'Pro', 'trial'];
const ORGS = ['o1', 'o2', 'o3', 'org-10', 'ORG-10'];
const EMAILS = ['a@example.com', 'A@Example.com', 'bob@acme.io', 'carol@globex.com', 'x@y.z'];
// valid semver (with prereleases and build metadata) and some invalid strings
const SEMVERS_VALID = ['0.9.9', '1.0.0', '1.2.3', '1.2.10', '1.10.0', '2.0.0', '2.0.0-alpha', '2.0.0-alpha.1',
  '2.0.0-alpha.beta', '2.0.0-beta', '2.0.0-beta.2', '2.0.0-beta.11', '2.0.0-rc.1', '1.2.3-0', '1.2.3-x-y.7', '10.0.0', '1.2.3+build.7'];
const SEMVERS_INVALID = ['v1.2.3', '1.2', '1.2.3.4', '01.2.3', '1.0.0-01', 'latest', '1.2.3-'];
const VERSIONS = SEMVERS_VALID.concat(SEMVERS_INVALID);
// numbers as JS Number() and strtod() both read them, plus non-numbers
const NUMBERS = ['0', '1', '5', '7', '10', '12', '12.0', '12.5', '-3', '-0.5', '99.99', '100', '1e2', '1000', '.5', '+3', '42'];
const NUMBER_CTX = NUMBERS.concat(['abc', '5a', '1.2.3']);
const IPV4 = ['10.0.0.1', '10.0.0.2', '10.0.0.255', '10.1.2.3', '10.2.0.1', '192.168.1.10', '192.168.1.200', '192.168.2.1',
  '172.16.5.4', '127.0.0.1', '8.8.8.8', '0.0.0.0', '255.255.255.255'];
const IPV6 = ['::1', '2001:db8::1', '2001:db8::ff', '2001:db8:0:1::5', '2001:db8:abcd:12::1', 'fe80::1', '::',
  '2001:0db8:0000:0000:0000:0000:0000:0001', '2001:DB8::FF'];
const CIDR4 = ['10.0.0.0/8', '10.0.0.0/24', '10.0.0.0/31', '10.0.0.1/32', '192.168.1.0/24', '192.168.0.0/16',
  '172.16.0.0/12', '0.0.0.0/0', '127.0.0.0/8', '10.1.2.3/16', '8.8.8.8/32', '192.168.1.128/25'];
const CIDR6 = ['2001:db8::/32', '2001:db8::/64', '2001:db8:abcd::/48', '::1/128', 'fe80::/10', '::/0', '2001:db8::ff/120', '2001:db8:0:1::/64'];
const IP_CTX = IPV4.concat(IPV6, ['not-an-ip']);

// Timestamps, all ending in Z, clustered so that comparisons go both ways
// and exact ties happen.
const DATES = ['2024-01-01T00:00:00Z', '2024-06-15T12:30:00Z', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00.001Z',
  '2025-07-04T09:15:30.500Z', '2025-12-31T23:59:59Z', '2026-03-01T00:00:00Z'];
function randomDate(rng) {
  if (rng.chance(0.4)) return rng.pick(DATES);
  const start = Date.UTC(2024, 0, 1);
  const end = Date.UTC(2026, 11, 31);
  const ms = start + Math.floor(rng.next() * (end - start));
  const d = new Date(rng.chance(0.5) ? ms - (ms % 1000) : ms).toISOString(); // yyyy-mm-ddThh:mm:ss.sssZ
  return d.endsWith('.000Z') && rng.chance(0.5) ? d.replace('.000Z', 'Z') : d;
}

// Context fields: where they live and which values they take.
const FIELDS = {
  userId: { top: true, pool: USER_IDS },
  sessionId: { top: true, pool: SESSION_IDS },
  remoteAddress: { top: true, pool: IP_CTX },
  environment: { top: true, pool: ENVIRONMENTS },
  appName: { top: true, pool: APP_NAMES },
  tenant: { pool: TENANTS },
  plan: { pool: PLANS },
  orgId: { pool: ORGS },
  email: { pool: EMAILS },
  version: { pool: VERSIONS },
  score: { pool: NUMBER_CTX },
  age: { pool: NUMBER_CTX },
  clientIp: { pool: IP_CTX },
};
const STRING_FIELDS = ['userId', 'sessionId', 'environment', 'appName', 'tenant', 'plan', 'orgId', 'email', 'remoteAddress'];
const NUMBER_FIELDS = ['score', 'age', 'userId', 'sessionId'];
const SEMVER_FIELDS = ['version', 'version', 'appName'];
const IP_FIELDS = ['remoteAddress', 'remoteAddress', 'clientIp', 'userId'];
const CUSTOM_PROPS = Object.keys(FIELDS).filter((k) => !FIELDS[k].top);
// custom properties usable as stickiness
const STICKY_PROPS = ['tenant', 'orgId', 'plan'];

// ---- constraints -----------------------------------------------------------------

const OPERATORS = ['IN', 'NOT_IN', 'STR_CONTAINS', 'STR_STARTS_WITH', 'STR_ENDS_WITH', 'NUM_EQ', 'NUM_GT', 'NUM_GTE',
  'NUM_LT', 'NUM_LTE', 'DATE_AFTER', 'DATE_BEFORE', 'SEMVER_EQ', 'SEMVER_GT', 'SEMVER_LT', 'SEMVER_GTE', 'SEMVER_LTE',
  'REGEX', 'IN_CIDR'];

function flipCase(rng, s) {
  switch (rng.int(0, 3)) {
    case 0: return s.toUpperCase();
    case 1: return s.toLowerCase();
    default: return s;
  }
}

function substringOf(rng, s, op) {
  const len = rng.int(1, Math.min(s.length, 5));
  let out;
  if (op === 'STR_STARTS_WITH') out = s.slice(0, len);
  else if (op === 'STR_ENDS_WITH') out = s.slice(s.length - len);
  else {
    const at = rng.int(0, s.length - len);
    out = s.slice(at, at + len);
  }
  return rng.chance(0.3) ? flipCase(rng, out) : out;
}

function reEscape(s) {
  return s.replace(/[\\^$.|?*+()[\]{}]/g, (c) => '\\' + c);
}

// RE2-compatible patterns: classes, alternation, anchors, (?i), quantifiers.
function regexFor(rng, field) {
  const pool = FIELDS[field].pool;
  const a = rng.pick(pool);
  const b = rng.pick(pool);
  const templates = [
    () => '^' + reEscape(a.slice(0, rng.int(1, a.length))),
    () => reEscape(a.slice(-rng.int(1, a.length))) + '$',
    () => '^(' + reEscape(a) + '|' + reEscape(b) + ')$',
    () => '(?i)^' + reEscape(flipCase(rng, a.slice(0, rng.int(1, a.length)))),
    () => '(?i)' + reEscape(flipCase(rng, a)),
    () => '[0-9]+',
    () => '^\\d+$',
    () => '^\\d{1,2}$',
    () => '^[a-z]+$',
    () => '^[a-z]+[0-9]*$',
    () => '[A-Z]',
    () => '[^a-z0-9]',
    () => '^[[:alpha:]]+$',
    () => '[[:digit:]]{2,}',
    () => '^u[0-9]{1,2}$',
    () => '^(?:s|sess-)[a-z0-9]+$',
    () => '^.{3}$',
    () => '^.{2,4}$',
    () => 'e+',
    () => 'a.c',
    () => '\\bpro\\b',
    () => '^[^@]+@[a-z]+\\.(com|io)$',
    () => '^(acme|globex)(-[a-z]+)?$',
    () => '\\.',
    () => 'x?y*z',
    () => '^(10|192)\\.',
    () => '::',
    () => '^2\\.0\\.0-(alpha|beta)',
    () => reEscape(a),
  ];
  return rng.pick(templates)();
}

function constraintValue(rng, op, field) {
  const pool = FIELDS[field].pool;
  switch (op) {
    case 'IN':
    case 'NOT_IN': {
      const n = rng.weighted([[1, 0], [4, 1], [4, 2], [2, 4]]);
      const vals = rng.sample(pool, n);
      if (rng.chance(0.2)) vals.push(rng.pick(['zzz', 'none', 'u99', '13']));
      return { values: vals };
    }
    case 'STR_CONTAINS':
    case 'STR_STARTS_WITH':
    case 'STR_ENDS_WITH': {
      const n = rng.int(1, 3);
      const vals = [];
      for (let i = 0; i < n; i++) vals.push(rng.chance(0.85) ? substringOf(rng, rng.pick(pool), op) : rng.pick(['q', 'zz', 'ac', '1']));
      return { values: vals };
    }
    case 'NUM_EQ': case 'NUM_GT': case 'NUM_GTE': case 'NUM_LT': case 'NUM_LTE':
      return { value: rng.pick(NUMBERS) };
    case 'DATE_AFTER': case 'DATE_BEFORE':
      return { value: randomDate(rng) };
    case 'SEMVER_EQ': case 'SEMVER_GT': case 'SEMVER_LT': case 'SEMVER_GTE': case 'SEMVER_LTE':
      return { value: rng.pick(SEMVERS_VALID) };
    case 'REGEX':
      return { value: regexFor(rng, field) };
    case 'IN_CIDR': {
      const n = rng.int(1, 4);
      const vals = [];
      for (let i = 0; i < n; i++) {
        vals.push(rng.weighted([[4, () => rng.pick(CIDR4)], [2, () => rng.pick(IPV4)], [3, () => rng.pick(CIDR6)],
          [1, () => rng.pick(IPV6)], [0.3, () => 'not-a-cidr']])());
      }
      return { values: vals };
    }
    default:
      throw new Error('unknown operator ' + op);
  }
}

function fieldFor(rng, op) {
  if (op.startsWith('NUM_')) return rng.chance(0.9) ? rng.pick(NUMBER_FIELDS) : rng.pick(STRING_FIELDS);
  if (op.startsWith('SEMVER_')) return rng.chance(0.9) ? rng.pick(SEMVER_FIELDS) : rng.pick(STRING_FIELDS);
  if (op === 'IN_CIDR') return rng.pick(IP_FIELDS);
  if (op.startsWith('DATE_')) return 'currentTime';
  if (op === 'REGEX') return rng.pick(STRING_FIELDS.concat(['version', 'score']));
  return rng.pick(STRING_FIELDS.concat(['version', 'score', 'clientIp']));
}

function genConstraint(rng) {
  const op = rng.pick(OPERATORS);
  const field = fieldFor(rng, op);
  const c = { contextName: field, operator: op };
  Object.assign(c, constraintValue(rng, op, field === 'currentTime' ? 'userId' : field));
  // The server sends both keys; one of them is empty for each operator kind.
  if (c.values === undefined) c.values = [];
  if (rng.chance(0.25)) c.inverted = true;
  else if (rng.chance(0.5)) c.inverted = false;
  if (rng.chance(0.35)) c.caseInsensitive = true;
  else if (rng.chance(0.5)) c.caseInsensitive = false;
  return c;
}

function genConstraints(rng, max) {
  const n = rng.weighted([[5, 0], [4, 1], [2, 2], [1, max]]);
  const out = [];
  for (let i = 0; i < n; i++) out.push(genConstraint(rng));
  return out;
}

// ---- variants ----------------------------------------------------------------------

const VARIANT_NAMES = ['blue', 'green', 'red', 'control', 'treatment', 'A', 'B', 'v1', 'v2', 'big-one'];

function genPayload(rng) {
  return rng.weighted([
    [3, () => ({ type: 'string', value: rng.pick(['hello', 'val1', 'x y z', 'Value-2']) })],
    [2, () => ({ type: 'json', value: JSON.stringify({ color: rng.pick(['red', 'blue']), n: rng.int(0, 9), ok: rng.chance(0.5) }) })],
    [2, () => ({ type: 'number', value: rng.pick(['42', '3.14', '-1', '0']) })],
    [1, () => ({ type: 'csv', value: rng.pick(['a,b,c', 'id,name\n1,x', '1,2']) })],
  ])();
}

// Weights: either what the server stores (fix + variable summing to 1000,
// remainder spread over the variable ones) or random small totals.
function genWeights(rng, n) {
  if (rng.chance(0.6)) {
    const fixed = [];
    let used = 0;
    for (let i = 0; i < n; i++) {
      if (i > 0 && rng.chance(0.3) && used < 700) {
        const w = rng.int(1, 300);
        fixed.push(w);
        used += w;
      } else {
        fixed.push(null);
      }
    }
    const variable = fixed.filter((w) => w === null).length; // >= 1, index 0 is variable
    const share = Math.floor((1000 - used) / variable);
    let leftover = (1000 - used) - share * variable;
    return fixed.map((w) => {
      if (w !== null) return { weight: w, weightType: 'fix' };
      const extra = leftover > 0 ? 1 : 0;
      leftover -= extra;
      return { weight: share + extra, weightType: 'variable' };
    });
  }
  let out;
  do {
    out = [];
    for (let i = 0; i < n; i++) out.push({ weight: rng.weighted([[1, 0], [6, rng.int(1, 5)], [1, rng.int(6, 40)]]), weightType: 'variable' });
  } while (out.reduce((s, v) => s + v.weight, 0) <= 0);
  return out;
}

function genVariantList(rng, stickiness, withOverrides) {
  const n = rng.weighted([[2, 1], [4, 2], [3, 3], [1, 4]]);
  const names = rng.sample(VARIANT_NAMES, n);
  const weights = genWeights(rng, n);
  const list = names.map((name, i) => {
    const v = { name, weight: weights[i].weight, weightType: weights[i].weightType, stickiness };
    if (rng.chance(0.6)) v.payload = genPayload(rng);
    if (withOverrides && rng.chance(0.3)) {
      const field = rng.pick(['userId', 'userId', 'sessionId', 'tenant', 'appName', 'environment']);
      v.overrides = [{ contextName: field, values: rng.sample(FIELDS[field].pool, rng.int(1, 3)) }];
    }
    return v;
  });
  // the server sorts variants by name
  if (rng.chance(0.7)) list.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  return list;
}

// ---- strategies ---------------------------------------------------------------------

function percentage(rng) {
  return String(rng.weighted([[1, 0], [1, 100], [4, rng.int(1, 99)]]));
}

function joinList(rng, items) {
  return items.map((s, i) => (i === 0 ? s : rng.pick([',', ', ', ' ,', ' , ']) + s)).join('');
}

function genStrategy(rng, flagName, st) {
  const kind = rng.weighted([
    [3, 'default'], [8, 'flexibleRollout'], [3, 'userWithId'], [2, 'remoteAddress'], [2, 'gradualRolloutUserId'],
    [2, 'gradualRolloutSessionId'], [1, 'gradualRolloutRandom'], [1, 'applicationHostname'], [0.3, 'myCustomStrategy'],
  ]);
  const s = { name: kind, parameters: {} };
  const groupId = () => (rng.chance(0.7) ? flagName : rng.pick(['grp-a', 'grp-b', 'AB12A', 'Feature.x']));
  switch (kind) {
    case 'flexibleRollout':
      s.parameters = {
        rollout: percentage(rng),
        stickiness: rng.weighted([[4, 'default'], [2, 'userId'], [2, 'sessionId'], [2, st.customStickiness]]),
        groupId: groupId(),
      };
      break;
    case 'userWithId':
      s.parameters = { userIds: joinList(rng, rng.sample(USER_IDS, rng.int(1, 5)).concat(rng.chance(0.2) ? ['nobody'] : [])) };
      break;
    case 'remoteAddress': {
      const ips = [];
      const n = rng.int(1, 4);
      for (let i = 0; i < n; i++) ips.push(rng.chance(0.5) ? rng.pick(IPV4) : rng.pick(CIDR4));
      s.parameters = { IPs: joinList(rng, ips) };
      break;
    }
    case 'gradualRolloutUserId':
    case 'gradualRolloutSessionId':
      s.parameters = { percentage: percentage(rng), groupId: groupId() };
      break;
    case 'gradualRolloutRandom':
      s.parameters = { percentage: rng.pick(['0', '100']) };
      if (rng.chance(0.5)) s.parameters.groupId = flagName;
      break;
    case 'applicationHostname':
      s.parameters = { hostNames: joinList(rng, rng.sample(['no-such-host.invalid', 'vexil-compat-never-1', 'build-box-zz.example.invalid'], rng.int(1, 3))) };
      break;
    case 'myCustomStrategy':
      s.parameters = { anything: 'yes' };
      break;
    default:
      break;
  }
  s.constraints = genConstraints(rng, 3);
  if (st.segments.length > 0 && rng.chance(0.3)) {
    const ids = rng.sample(st.segments.map((x) => x.id), rng.int(1, 2));
    if (rng.chance(0.15)) ids.push(st.missingSegmentId);
    s.segments = ids.sort((x, y) => x - y);
  }
  // Strategy variants, as the server allows them on flexibleRollout.
  if (kind === 'flexibleRollout') {
    if (rng.chance(0.35)) {
      // Node picks the first variant's stickiness, falling back to the
      // strategy's stickiness parameter. Usually the two are the same (that
      // is what the Unleash UI stores).
      const stick = rng.weighted([[7, s.parameters.stickiness], [2, rng.pick(['default', 'userId', st.customStickiness])], [1, undefined]]);
      s.variants = genVariantList(rng, stick, false);
      if (stick === undefined) s.variants.forEach((v) => delete v.stickiness);
      st.stickiness.add(stick === undefined ? s.parameters.stickiness : stick);
      st.stickiness.add(s.parameters.stickiness);
    } else if (rng.chance(0.3)) {
      s.variants = [];
    }
  }
  if (rng.chance(0.1)) delete s.constraints; // optional on the wire
  return s;
}

// ---- flags -----------------------------------------------------------------------------

function genFlagName(rng, i) {
  return rng.pick(['flag', 'feat', 'Feature', 'exp']) + rng.pick(['-', '.', '_']) + i + (rng.chance(0.3) ? rng.pick(['-beta', '.v2', 'X']) : '');
}

function genSegments(rng) {
  const n = rng.weighted([[1, 0], [2, 1], [2, 2], [2, 3], [1, 5]]);
  const segs = [];
  let id = rng.int(1, 5);
  for (let i = 0; i < n; i++) {
    const constraints = [];
    const m = rng.int(0, 3);
    for (let j = 0; j < m; j++) constraints.push(genConstraint(rng));
    segs.push({ id, name: 'segment-' + id, constraints });
    id += rng.int(1, 3);
  }
  return segs;
}

function allVariantNames(flag) {
  const names = new Set((flag.variants || []).map((v) => v.name));
  for (const s of flag.strategies) for (const v of s.variants || []) names.add(v.name);
  return [...names];
}

// Generates one round: { doc, contexts, customStickiness, required }.
function generateRound(seed, opts = {}) {
  const rng = new Rng(seed);
  const nFlags = opts.flags ?? rng.int(6, 16);
  const nContexts = opts.contexts ?? 40;
  const segments = genSegments(rng);
  const st = {
    segments,
    missingSegmentId: (segments.length ? segments[segments.length - 1].id : 0) + 100,
    customStickiness: rng.pick(STICKY_PROPS),
    stickiness: new Set(), // stickiness names that variant lists use
  };

  const names = [];
  while (names.length < nFlags) {
    const n = genFlagName(rng, names.length);
    if (!names.includes(n)) names.push(n);
  }

  const features = names.map((name) => {
    const f = {
      name,
      type: rng.pick(['release', 'experiment', 'operational', 'kill-switch', 'permission']),
      description: rng.chance(0.5) ? null : 'generated flag ' + name,
      project: 'default',
      stale: false,
      impressionData: rng.chance(0.1),
      enabled: rng.chance(0.8),
      strategies: [],
      variants: [],
    };
    const nStrategies = rng.weighted([[2, 0], [5, 1], [3, 2], [1, 3]]);
    for (let i = 0; i < nStrategies; i++) f.strategies.push(genStrategy(rng, name, st));
    if (rng.chance(0.4)) {
      const stick = rng.weighted([[4, 'default'], [2, 'userId'], [2, st.customStickiness]]);
      f.variants = genVariantList(rng, stick, true);
      st.stickiness.add(stick);
    }
    return f;
  });

  // Dependencies, added once all flags exist so that parents can have
  // variants to name. Parents may be missing, disabled, or have parents
  // of their own (then the dependency is never satisfied).
  features.forEach((f, i) => {
    if (i === 0 || !rng.chance(0.35)) return;
    const n = rng.weighted([[4, 1], [1, 2]]);
    f.dependencies = [];
    for (let k = 0; k < n; k++) {
      const missing = rng.chance(0.12);
      const parent = missing ? null : rng.pick(features.filter((p) => p !== f));
      const dep = { feature: missing ? 'ghost-' + rng.int(1, 9) : parent.name };
      if (f.dependencies.some((d) => d.feature === dep.feature)) continue; // one entry per parent
      const en = rng.weighted([[3, undefined], [3, true], [2, false]]);
      if (en !== undefined) dep.enabled = en;
      if (en !== false && rng.chance(0.4)) {
        const choices = (parent ? allVariantNames(parent) : []).concat(['disabled', 'nope']);
        dep.variants = rng.sample(choices, rng.int(1, 2));
      }
      f.dependencies.push(dep);
    }
  });

  const doc = { version: 2, features, segments, query: {}, meta: { revisionId: 1, etag: '"vexil-compat"', queryHash: 'x' } };

  const required = new Set([...st.stickiness].filter((s) => s && s !== 'default'));
  const contexts = [];
  for (let i = 0; i < nContexts; i++) contexts.push(genContext(rng, required));
  return { doc, contexts, customStickiness: st.customStickiness, required: [...required] };
}

// ---- contexts --------------------------------------------------------------------------

function genContext(rng, required) {
  const ctx = {};
  const hasUser = required.has('userId') || rng.chance(0.8);
  const hasSession = required.has('sessionId') || !hasUser || rng.chance(0.7);
  if (hasUser) ctx.userId = rng.pick(USER_IDS);
  if (hasSession) ctx.sessionId = rng.pick(SESSION_IDS);
  if (rng.chance(0.75)) ctx.remoteAddress = rng.chance(0.75) ? rng.pick(IPV4) : rng.pick(IP_CTX);
  ctx.environment = rng.pick(ENVIRONMENTS);
  ctx.appName = rng.chance(0.9) ? rng.pick(APP_NAMES) : rng.pick(SEMVERS_VALID);
  ctx.currentTime = randomDate(rng);
  const props = {};
  for (const k of CUSTOM_PROPS) {
    if (required.has(k) || rng.chance(0.55)) props[k] = rng.pick(FIELDS[k].pool);
  }
  if (Object.keys(props).length > 0 || rng.chance(0.5)) ctx.properties = props;
  return ctx;
}

module.exports = { mulberry32, Rng, roundSeed, generateRound, OPERATORS };

// `node gen.js [seed]` prints one round, handy when debugging.
if (require.main === module) {
  const seed = Number(process.argv[2] ?? 1) >>> 0;
  process.stdout.write(JSON.stringify(generateRound(seed), null, 2) + '\n');
}
