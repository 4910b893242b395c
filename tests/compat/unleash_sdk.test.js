'use strict';
// The Unleash Node SDK (unleash-client 6.12.1) against a live `vexil serve`
// filled with random flag sets (gen.js, imported through the admin API):
//   - for every generated context, its isEnabled and getVariant answers
//     equal the server's own (POST /api/admin/playground, and GET
//     /api/frontend with the same context);
//   - its register and metrics posts are accepted (202) and visible in
//     GET /api/admin/metrics/applications and
//     GET /api/admin/client-metrics/features/{name}, with exact counts;
//   - polling with an unchanged flag set gets 304s, a change gets a 200;
//   - in streaming mode (experimentalMode {type:'streaming'}) and delta
//     polling ({type:'polling', format:'delta'}), a series of admin changes
//     (toggles, strategies, variants, segments, archive, revive, new flags)
//     reaches the SDK, which then answers like the server again. The time
//     from the admin request to the streaming SDK's `changed` event is
//     printed (a figure, not a pass/fail), also for 50 SDKs at once;
//   - streaming and delta SDKs catch up after a cut connection and a
//     server restart; an SDK on client spec 4.1.0 (segments inlined)
//     answers the same; filters, token scopes, 401/403 and impression data
//     behave as the SDK expects.
//
// Environment: VEXIL_BIN (the binary), VEXIL_COMPAT_SEED (base seed),
// VEXIL_COMPAT_STREAMS (streaming SDKs for the fan-out test, default 50),
// VEXIL_COMPAT_LIVE_ROUNDS (flag sets, default 10), VEXIL_COMPAT_LIVE_CONTEXTS
// (contexts per flag set, default 200).

const test = require('node:test');
const assert = require('node:assert/strict');
const { once } = require('node:events');
const L = require('./live');
const h = require('./harness');

const { srvlib } = L;
const SEED = L.envInt('VEXIL_COMPAT_SEED', Math.floor(Math.random() * 0x100000000)) >>> 0;
const ROUNDS = L.envInt('VEXIL_COMPAT_LIVE_ROUNDS', 10);
const CONTEXTS = L.envInt('VEXIL_COMPAT_LIVE_CONTEXTS', 200);
const STREAMS = L.envInt('VEXIL_COMPAT_STREAMS', 50);

const serverWithRound = (round, contexts = CONTEXTS) => L.serverWithRound(SEED, round, contexts);

// The frontend API's answer for a context as {flag: {enabled, variant}} over
// `names` (flags it does not list are off).
async function frontendAnswers(srv, token, ctx, names) {
  const r = await srv.api('GET', `/api/frontend?${L.frontendQuery(ctx)}`, { token });
  assert.equal(r.status, 200, `GET /api/frontend?${L.frontendQuery(ctx)}: ${srvlib.show(r)}`);
  assert.ok(r.json && Array.isArray(r.json.toggles), `GET /api/frontend: expected {toggles: [...]}, got ${r.text.slice(0, 300)}`);
  const on = new Map(r.json.toggles.map((t) => [t.name, t]));
  const out = {};
  for (const name of names) {
    const t = on.get(name);
    out[name] = t ? { enabled: t.enabled, variant: t.variant } : { enabled: false };
  }
  return out;
}

function describe(round, i, ctx, diffs, gen, where) {
  const f = gen.doc.features.find((x) => x.name === diffs[0].name);
  return [
    `unleash-client 6.12.1 and vexil's ${where} disagree (seed ${SEED}, round ${round}, context #${i}; flags ${diffs.map((d) => d.name).join(', ')})`,
    `replay: VEXIL_COMPAT_SEED=${SEED} node --test tests/compat/unleash_sdk.test.js`,
    `  context:        ${JSON.stringify(ctx)}`,
    `  flag (as generated, before import): ${JSON.stringify(f)}`,
    `  unleash-client: ${JSON.stringify(diffs[0].sdk)}`,
    `  vexil:          ${JSON.stringify(diffs[0].vexil)}`,
  ].join('\n');
}

test(`unleash-client answers like the playground and /api/frontend on random flag sets (seed ${SEED})`, async (t) => {
  t.diagnostic(`seed ${SEED}: replay with VEXIL_COMPAT_SEED=${SEED}`);
  let compared = 0;
  let enabled = 0;
  let withVariant = 0;
  const refused = [];
  for (let round = 0; round < ROUNDS; round++) {
    await t.test(`round ${round}`, async () => {
      const { srv, clientToken, frontendToken, gen, removed, names } = await serverWithRound(round);
      refused.push(...removed);
      const { unleash, events } = await L.startUnleash(srv, clientToken);
      // An SDK announcing client spec 4.1.0 gets segment constraints inlined
      // into the strategies instead of a segments array.
      const old = await L.startUnleash(srv, clientToken, { customHeaders: { Authorization: clientToken, 'Unleash-Client-Spec': '4.1.0' } });
      try {
        for (let i = 0; i < gen.contexts.length; i++) {
          const ctx = gen.contexts[i];
          const sdk = L.sdkAnswers(unleash, names, ctx);
          const pg = await L.playground(srv, ctx);
          const d1 = L.diffAnswers(sdk, pg, names);
          if (d1.length) assert.fail(describe(round, i, ctx, d1, gen, 'playground'));
          const d0 = L.diffAnswers(L.sdkAnswers(old.unleash, names, ctx), pg, names);
          if (d0.length) assert.fail(describe(round, i, ctx, d0, gen, 'playground (SDK on client spec 4.1.0, segments inlined)'));
          for (const n of names) {
            compared++;
            if (sdk[n].enabled) enabled++;
            if (sdk[n].variant.enabled) withVariant++;
          }

          // The frontend API fills remoteAddress from the caller (here
          // 127.0.0.1) and makes up a sessionId when there is none: give
          // the SDK the same remoteAddress and every context a sessionId.
          const fctx = { ...ctx, sessionId: ctx.sessionId ?? `fe-${i}` };
          const sctx = { ...fctx, remoteAddress: fctx.remoteAddress ?? '127.0.0.1' };
          const sdkF = L.sdkAnswers(unleash, names, sctx);
          const fe = await frontendAnswers(srv, frontendToken, fctx, names);
          const want = {};
          for (const n of names) {
            want[n] = sdkF[n].enabled ? sdkF[n] : { enabled: false };
            if (fe[n].enabled) fe[n] = { enabled: true, variant: h.normalizeVariant(fe[n].variant) };
          }
          const d2 = L.diffAnswers(want, fe, names);
          if (d2.length) assert.fail(describe(round, i, fctx, d2, gen, '/api/frontend'));
        }
        assert.deepEqual(events.concat(old.events).filter((e) => e.startsWith('error')), [], 'unleash-client reported errors');
      } finally {
        old.unleash.destroy();
        await L.destroy(unleash);
        await L.stop(srv);
      }
    });
  }
  t.diagnostic(`${compared} answers compared (${enabled} enabled, ${withVariant} with a variant) over ${ROUNDS * CONTEXTS} contexts`);
  t.diagnostic(`the import refused ${refused.length} generated items (Vexil's validation): ${[...new Set(refused.map((r) => r.replace(/^.*?: /, '')))].slice(0, 8).join(' | ')}`);
  // Guard against a generator drifting into trivial cases (on full runs).
  if (ROUNDS * CONTEXTS >= 500) assert.ok(enabled > 0 && withVariant > 0 && enabled < compared, 'the flag sets gave only trivial answers');
});

test('unleash-client registers and posts metrics; both are accepted and visible', async () => {
  const { srv, clientToken, gen, names } = await serverWithRound(1000, 40);
  const appName = 'vexil-compat-metrics';
  const registered = [];
  const { unleash, events } = await L.startUnleash(srv, clientToken, {
    appName, instanceId: 'compat-instance-1', disableMetrics: false, metricsInterval: 3600000,
  }, (u) => u.on('registered', (p) => registered.push(p)));
  try {
    await L.countAtLeast(srv, '/api/client/register', 202, 1);

    // Count what the SDK counts: every isEnabled and getVariant call.
    const flag = names[0];
    const other = names[names.length - 1];
    const want = { [flag]: { yes: 0, no: 0, variants: {} }, [other]: { yes: 0, no: 0, variants: {} } };
    for (const ctx of gen.contexts) {
      for (const n of [flag, other]) {
        want[n][unleash.isEnabled(n, ctx) ? 'yes' : 'no']++;
        const v = unleash.getVariant(n, ctx);
        want[n][v.feature_enabled ? 'yes' : 'no']++;
        want[n].variants[v.name] = (want[n].variants[v.name] || 0) + 1;
      }
    }
    unleash.isEnabled('no-such-flag-anywhere', {});
    const posted = once(unleash, 'sent');
    await unleash.flushMetrics();
    await L.within(posted, 5000, () => `no metrics 'sent' event; SDK said: ${events.join('; ')}`);
    await L.countAtLeast(srv, '/api/client/metrics', 202, 1);

    for (const n of [flag, other]) {
      const r = await srv.api('GET', `/api/admin/client-metrics/features/${encodeURIComponent(n)}`);
      assert.equal(r.status, 200, srvlib.show(r));
      const rows = r.json.usage.filter((u) => u.appName === appName && u.environment === L.ENV);
      const got = { yes: 0, no: 0, variants: {} };
      for (const u of rows) {
        got.yes += u.yes;
        got.no += u.no;
        for (const [k, v] of Object.entries(u.variants || {})) got.variants[k] = (got.variants[k] || 0) + v;
      }
      assert.deepEqual(got, want[n], `usage of ${n} as the admin API shows it (${r.text.slice(0, 400)})`);
      const f = await srv.api('GET', `/api/admin/projects/default/features/${encodeURIComponent(n)}`);
      assert.ok(typeof f.json.lastSeenAt === 'string', `lastSeenAt of ${n} is set after metrics: ${f.text.slice(0, 300)}`);
    }
    const apps = await srv.api('GET', '/api/admin/metrics/applications');
    assert.equal(apps.status, 200, srvlib.show(apps));
    const mine = apps.json.applications.filter((a) => a.appName === appName);
    assert.ok(mine.some((a) => a.instanceId === 'compat-instance-1'),
      `the SDK's registration (appName ${appName}, instanceId compat-instance-1) is listed: ${apps.text.slice(0, 600)}`);
    await L.waitFor(() => registered.length >= 1, 3000, "the SDK's 'registered' event (its registration was accepted)");
    assert.deepEqual(events.filter((e) => e.startsWith('error')), []);
  } finally {
    await L.destroy(unleash);
    await L.stop(srv);
  }
});

test('polling unleash-client gets 304 while nothing changes, and a 200 with the change', async (t) => {
  const { srv, clientToken, gen, names } = await serverWithRound(2000, 20);
  const unchanged = [];
  const { unleash, events } = await L.startUnleash(srv, clientToken, { refreshInterval: 50 });
  try {
    unleash.on('unchanged', () => unchanged.push(Date.now()));
    const before304 = await L.requestCount(srv, '/api/client/features', 304);
    await L.waitFor(() => unchanged.length >= 10, 5000, '10 unchanged polls', 20);
    const after304 = await L.countAtLeast(srv, '/api/client/features', 304, before304 + 10);
    t.diagnostic(`${unchanged.length} polls answered 304 (server counted ${after304 - before304})`);
    assert.ok(after304 - before304 >= 10, `vexil_http_requests_total{route="/api/client/features",status="304"} grew by ${after304 - before304}`);

    // A change: the next poll is a 200 and the SDK answers the new state.
    const flag = names.find((n) => gen.doc.features.find((f) => f.name === n).enabled) || names[0];
    const ok200 = await L.requestCount(srv, '/api/client/features', 200);
    const changed = once(unleash, 'changed');
    const r = await srv.api('POST', `/api/admin/projects/default/features/${encodeURIComponent(flag)}/environments/${L.ENV}/off`);
    assert.equal(r.status, 200, srvlib.show(r));
    await L.within(changed, 3000, () => 'no change seen by the polling SDK within 3 s');
    assert.equal(unleash.isEnabled(flag, gen.contexts[0]), false, `${flag} is off for the SDK after the change`);
    await L.countAtLeast(srv, '/api/client/features', 200, ok200 + 1);
    for (const ctx of gen.contexts) {
      assert.deepEqual(L.diffAnswers(L.sdkAnswers(unleash, names, ctx), await L.playground(srv, ctx), names), []);
    }
    assert.deepEqual(events.filter((e) => e.startsWith('error')), []);
  } finally {
    await L.destroy(unleash);
    await L.stop(srv);
  }
});

test('unleash-client filters (namePrefix, projectName, tags) and a project-scoped token', async () => {
  const { srv, clientToken, names } = await serverWithRound(4000, 5);
  try {
    // A second project with one flag, tagged; one default flag tagged too.
    let r = await srv.api('POST', '/api/admin/projects', { body: { id: 'other' } });
    assert.equal(r.status, 201, srvlib.show(r));
    r = await srv.api('POST', '/api/admin/projects/other/features', { body: { name: 'other-flag', tags: [{ type: 'simple', value: 'team-x' }] } });
    assert.equal(r.status, 201, srvlib.show(r));
    r = await srv.api('POST', `/api/admin/features/${encodeURIComponent(names[1])}/tags`, { body: { type: 'simple', value: 'team-x' } });
    assert.equal(r.status, 201, srvlib.show(r));
    r = await srv.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'other-only', type: 'client', environment: L.ENV, projects: ['other'] } });
    assert.equal(r.status, 201, srvlib.show(r));
    const otherToken = r.json.secret;
    r = await srv.api('POST', '/api/admin/api-tokens', { body: { tokenName: 'all-projects', type: 'client', environment: L.ENV, projects: ['*'] } });
    assert.equal(r.status, 201, srvlib.show(r));
    const allToken = r.json.secret;

    const seen = async (token, opts) => {
      const { unleash } = await L.startUnleash(srv, token, opts);
      try {
        return unleash.getFeatureToggleDefinitions().map((f) => f.name).sort();
      } finally {
        await L.destroy(unleash);
      }
    };
    const all = names.concat(['other-flag']).sort();
    assert.deepEqual(await seen(allToken, {}), all, 'an all-projects token sees every flag');
    assert.deepEqual(await seen(clientToken, {}), names.slice().sort(), 'a default:production token sees project default');
    assert.deepEqual(await seen(otherToken, {}), ['other-flag'], 'a token scoped to project other');
    assert.deepEqual(await seen(allToken, { projectName: 'other' }), ['other-flag'], 'projectName: other');
    assert.deepEqual(await seen(allToken, { projectName: 'default' }), names.slice().sort(), 'projectName: default');
    assert.deepEqual(await seen(otherToken, { projectName: 'default' }), [], 'a scoped token cannot widen its scope');
    const prefix = names[0].slice(0, 4);
    assert.deepEqual(await seen(allToken, { namePrefix: prefix }), all.filter((n) => n.startsWith(prefix)), `namePrefix: ${prefix}`);
    assert.deepEqual(await seen(allToken, { tags: [{ name: 'simple', value: 'team-x' }] }), [names[1], 'other-flag'].sort(), 'tag simple:team-x');
    // The same on delta polling (the SDK sends the filters there too).
    const delta = { type: 'polling', format: 'delta' };
    assert.deepEqual(await seen(otherToken, { experimentalMode: delta }), ['other-flag'], 'scoped token, delta');
    assert.deepEqual(await seen(allToken, { experimentalMode: delta, namePrefix: prefix }), all.filter((n) => n.startsWith(prefix)), 'namePrefix, delta');
    assert.deepEqual(await seen(allToken, { experimentalMode: delta, projectName: 'other' }), ['other-flag'], 'projectName, delta');
    // unleash-client 6.12.1 opens /api/client/streaming without its
    // namePrefix/projectName/tags query (streaming-fetcher.js), so only the
    // token's scope can apply there.
    assert.deepEqual(await seen(otherToken, { experimentalMode: { type: 'streaming' } }), ['other-flag'], 'scoped token, streaming');
  } finally {
    await L.stop(srv);
  }
});

test('unleash-client tokens: Bearer prefix accepted; 401 and 403 stop polling with an error', async () => {
  const { srv, clientToken, frontendToken, names } = await serverWithRound(4002, 5);
  try {
    const { unleash } = await L.startUnleash(srv, clientToken, { customHeaders: { Authorization: `Bearer ${clientToken}` } });
    assert.deepEqual(unleash.getFeatureToggleDefinitions().map((f) => f.name).sort(), names.slice().sort(), 'Authorization: Bearer <token>');
    await L.destroy(unleash);
    for (const [what, token, status] of [['an unknown token', `default:production.${srvlib.hex64()}`, 401], ['a frontend token', frontendToken, 403]]) {
      const { Unleash, InMemStorageProvider } = require('unleash-client');
      const errors = [];
      const u = new Unleash({
        url: `${srv.url}/api/`, appName: 'vexil-compat-auth', customHeaders: { Authorization: token }, refreshInterval: 50,
        disableMetrics: true, storageProvider: new InMemStorageProvider(), skipInstanceCountWarning: true,
      });
      u.on('error', (e) => errors.push(e.message));
      u.on('warn', () => {});
      try {
        await L.waitFor(() => errors.length > 0, 5000, `an error from the SDK with ${what}`, 20);
        assert.match(errors[0], new RegExp(`${status}`), `${what}: ${errors[0]}`);
        const n = await L.countAtLeast(srv, '/api/client/features', status, 1);
        await srvlib.sleep(300);
        assert.equal(await L.requestCount(srv, '/api/client/features', status), n, `${what}: the SDK stops polling after ${status}`);
        assert.equal(u.isEnabled(names[0]), false);
      } finally {
        await L.destroy(u);
      }
    }
  } finally {
    await L.stop(srv);
  }
});

test('unleash-client emits impression events for flags with impressionData', async () => {
  const { srv, clientToken, gen, names } = await serverWithRound(4001, 5);
  try {
    const withImpressions = names.slice(0, 3);
    for (const n of withImpressions) {
      const r = await srv.api('PUT', `/api/admin/projects/default/features/${encodeURIComponent(n)}`, { body: { impressionData: true } });
      assert.equal(r.status, 200, srvlib.show(r));
    }
    for (const n of names.slice(3)) {
      const r = await srv.api('PUT', `/api/admin/projects/default/features/${encodeURIComponent(n)}`, { body: { impressionData: false } });
      assert.equal(r.status, 200, srvlib.show(r));
    }
    const { unleash } = await L.startUnleash(srv, clientToken);
    try {
      const impressions = [];
      unleash.on('impression', (e) => impressions.push(e.featureName));
      for (const n of names) unleash.isEnabled(n, gen.contexts[0]);
      // (a child's evaluation also reports its parent's impression: a set)
      assert.deepEqual([...new Set(impressions)].sort(), withImpressions.slice().sort());
    } finally {
      await L.destroy(unleash);
    }
  } finally {
    await L.stop(srv);
  }
});

// ---- changes through the admin API, seen by streaming and delta SDKs ----------

const P = (f) => `/api/admin/projects/default/features/${encodeURIComponent(f)}`;
const E = (f) => `${P(f)}/environments/${L.ENV}`;

// A series of admin changes on the imported flag set, each a function of
// the server returning the admin answer. Every one changes what a client
// of production receives.
function changeSeries(gen) {
  const names = gen.doc.features.map((f) => f.name);
  // a flag no other flag depends on (archiving a parent is refused)
  const isParent = (n) => gen.doc.features.some((f) => (f.dependencies || []).some((d) => d.feature === n));
  const leaf = names.slice().reverse().find((n) => !isParent(n)) || 'live-new';
  const steps = [];
  for (let k = 0; k < 6; k++) {
    const f = gen.doc.features[k % names.length];
    const [a, b] = f.enabled ? ['off', 'on'] : ['on', 'off'];
    steps.push([`toggle ${f.name} ${a}`, (s) => s.api('POST', `${E(f.name)}/${a}`)]);
    steps.push([`toggle ${f.name} ${b}`, (s) => s.api('POST', `${E(f.name)}/${b}`)]);
  }
  steps.push(['create flag live-new', async (s) => {
    const r = await s.api('POST', '/api/admin/projects/default/features', { body: { name: 'live-new' } });
    if (r.status !== 201) return r;
    return s.api('POST', `${E('live-new')}/on`);
  }]);
  steps.push(['add a userId strategy to live-new', (s) => s.api('POST', `${E('live-new')}/strategies`, {
    body: { name: 'flexibleRollout', parameters: { rollout: '40', stickiness: 'userId', groupId: 'live-new' },
      constraints: [{ contextName: 'plan', operator: 'IN', values: ['pro', 'free'] }] },
  })]);
  steps.push(['variants on live-new', (s) => s.api('PUT', `${E('live-new')}/variants`, {
    body: [{ name: 'a', weight: 500, weightType: 'variable', stickiness: 'default', payload: { type: 'json', value: '{"k":1}' } },
      { name: 'b', weight: 500, weightType: 'variable', stickiness: 'default' }],
  })]);
  steps.push(['segment used by live-new', async (s) => {
    const seg = await s.api('POST', '/api/admin/segments', { body: { name: 'live-seg', constraints: [{ contextName: 'tenant', operator: 'IN', values: ['acme'] }] } });
    if (seg.status !== 201) return seg;
    s.liveSeg = seg.json.id;
    return s.api('POST', `${E('live-new')}/strategies`, { body: { name: 'default', segments: [seg.json.id] } });
  }]);
  steps.push(['update the segment', (s) => s.api('PUT', `/api/admin/segments/${s.liveSeg}`, {
    body: { name: 'live-seg', constraints: [{ contextName: 'tenant', operator: 'IN', values: ['globex', 'initech'] }] },
  })]);
  steps.push([`archive ${leaf}`, (s) => s.api('DELETE', P(leaf))]);
  steps.push([`revive ${leaf}`, (s) => s.api('POST', `/api/admin/archive/revive/${encodeURIComponent(leaf)}`)]);
  steps.push(['archive live-new', (s) => s.api('DELETE', P('live-new'))]);
  return steps;
}

// The flags an SDK may be asked about after the series (the set changes).
function seriesNames(gen) {
  return gen.doc.features.map((f) => f.name).concat(['live-new']);
}

async function runSeries(mode, opts) {
  const { srv, clientToken, gen } = await serverWithRound(3000, 40);
  const { unleash, events } = await L.startUnleash(srv, clientToken, opts);
  const latencies = [];
  try {
    const names = seriesNames(gen);
    for (const [what, fn] of changeSeries(gen)) {
      const changed = once(unleash, 'changed');
      const t0 = performance.now();
      const r = await fn(srv);
      const t1 = performance.now();
      assert.ok(r.status >= 200 && r.status < 300, `${what}: ${srvlib.show(r)}`);
      let timer;
      await Promise.race([changed, new Promise((_, rej) => {
        timer = setTimeout(() => rej(new Error(`${mode}: the SDK did not see "${what}" within 3 s; SDK said: ${events.join('; ')}`)), 3000);
      })]).finally(() => clearTimeout(timer));
      const t2 = performance.now();
      latencies.push({ what, fromRequest: t2 - t0, fromAnswer: t2 - t1 });
      // Once changed, the SDK answers exactly like the server (a change may
      // take more than one event: wait briefly for the rest).
      for (const ctx of gen.contexts.slice(0, 15)) {
        let d = [];
        const deadline = Date.now() + 2000;
        do {
          d = L.diffAnswers(L.sdkAnswers(unleash, names, ctx), await L.playground(srv, ctx, L.ENV, names), names);
          if (d.length) await srvlib.sleep(10);
        } while (d.length && Date.now() < deadline);
        assert.deepEqual(d, [], `${mode}: after "${what}" the SDK and the playground disagree for ${JSON.stringify(ctx)}`);
      }
    }
    for (const ctx of gen.contexts) {
      assert.deepEqual(L.diffAnswers(L.sdkAnswers(unleash, names, ctx), await L.playground(srv, ctx, L.ENV, names), names), [],
        `${mode}: final state, context ${JSON.stringify(ctx)}`);
    }
    assert.deepEqual(events.filter((e) => e.startsWith('error')), [], `${mode}: SDK errors`);
    return { latencies };
  } finally {
    await L.destroy(unleash);
    await L.stop(srv);
  }
}

function summary(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `median ${q(0.5).toFixed(1)} ms, p90 ${q(0.9).toFixed(1)} ms, max ${s[s.length - 1].toFixed(1)} ms (n=${s.length})`;
}

test('streaming unleash-client (experimentalMode streaming) receives every admin change', async (t) => {
  const { latencies } = await runSeries('streaming', { experimentalMode: { type: 'streaming' } });
  t.diagnostic(`admin request start -> SDK 'changed': ${summary(latencies.map((l) => l.fromRequest))}`);
  t.diagnostic(`admin answer received -> SDK 'changed': ${summary(latencies.map((l) => l.fromAnswer))}`);
  t.diagnostic(`toggles only, request start -> 'changed': ${summary(latencies.filter((l) => l.what.startsWith('toggle')).map((l) => l.fromRequest))}`);
});

test(`a change reaches ${STREAMS} streaming unleash-clients at once`, async (t) => {
  const { srv, clientToken, gen } = await serverWithRound(3002, 5);
  const sdks = [];
  try {
    for (let i = 0; i < STREAMS; i++) {
      sdks.push(await L.startUnleash(srv, clientToken, { experimentalMode: { type: 'streaming' }, instanceId: `fan-${i}` }));
    }
    const f = gen.doc.features[0];
    const all = [];
    let state = f.enabled;
    for (let k = 0; k < 6; k++) {
      state = !state;
      const t0 = performance.now();
      const arrivals = sdks.map(({ unleash }) => once(unleash, 'changed').then(() => performance.now() - t0));
      const r = await srv.api('POST', `${E(f.name)}/${state ? 'on' : 'off'}`);
      assert.equal(r.status, 200, srvlib.show(r));
      const times = await L.within(Promise.all(arrivals), 5000, () => `not every streaming SDK saw change ${k}`);
      if (!state) {
        for (const { unleash } of sdks) assert.equal(unleash.isEnabled(f.name, gen.contexts[0]), false, `${f.name} is off after change ${k}`);
      }
      all.push(Math.max(...times));
      t.diagnostic(`change ${k}: admin request start -> last of ${STREAMS} SDKs 'changed': ${Math.max(...times).toFixed(1)} ms (first ${Math.min(...times).toFixed(1)} ms)`);
    }
    t.diagnostic(`time until the last of ${STREAMS} streaming SDKs has a change: ${summary(all)}`);
    for (const { events } of sdks) assert.deepEqual(events.filter((e) => e.startsWith('error')), []);
  } finally {
    for (const { unleash } of sdks) unleash.destroy();
    await srvlib.sleep(250);
    await L.stop(srv);
  }
});

// A TCP relay in front of the server, so that a test can cut every
// connection, or point the SDK at a restarted server on another port.
async function relay(targetPort) {
  const net = require('node:net');
  const sockets = new Set();
  let target = targetPort;
  const server = net.createServer((down) => {
    const up = net.connect(target, '127.0.0.1');
    sockets.add(down);
    sockets.add(up);
    const end = () => {
      down.destroy();
      up.destroy();
      sockets.delete(down);
      sockets.delete(up);
    };
    for (const s of [down, up]) {
      s.on('error', end);
      s.on('close', end);
    }
    down.pipe(up);
    up.pipe(down);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    retarget(port) { target = port; },
    cut() { for (const s of sockets) s.destroy(); },
    close() { for (const s of sockets) s.destroy(); server.close(); },
  };
}

for (const [mode, opts] of [['streaming', { experimentalMode: { type: 'streaming' } }],
  ['delta polling', { experimentalMode: { type: 'polling', format: 'delta' }, refreshInterval: 100 }]]) {
test(`${mode} unleash-client catches up after a cut connection and after a server restart`, async (t) => {
  let { srv, clientToken, frontendToken, gen, names } = await serverWithRound(5000, 20);
  const via = await relay(srv.port);
  const { unleash, events } = await L.startUnleash({ url: via.url }, clientToken, opts);
  const modes = [];
  unleash.on('mode', (m) => modes.push(m));
  const converged = (what) => L.waitFor(async () => {
    for (const f of names.slice(0, 3)) {
      const admin = await srv.api('GET', `/api/admin/projects/default/features/${encodeURIComponent(f)}`);
      const def = unleash.getFeatureToggleDefinition(f);
      if (!def || def.enabled !== admin.json.environments.find((e) => e.name === L.ENV).enabled) return false;
    }
    for (const ctx of gen.contexts) {
      if (L.diffAnswers(L.sdkAnswers(unleash, names, ctx), await L.playground(srv, ctx), names).length) return false;
    }
    return true;
  }, 10000, `the ${mode} SDK to answer like the playground ${what}; SDK said: ${events.join('; ')}`, 50);
  try {
    const flip = async (f) => {
      const now = await srv.api('GET', `/api/admin/projects/default/features/${encodeURIComponent(f)}`);
      const on = now.json.environments.find((e) => e.name === L.ENV).enabled;
      const r = await srv.api('POST', `${E(f)}/${on ? 'off' : 'on'}`);
      assert.equal(r.status, 200, srvlib.show(r));
    };
    // Cut: changes made while the SDK is away arrive when it reconnects
    // (with Last-Event-ID).
    via.cut();
    await flip(names[0]);
    await flip(names[1]);
    let t0 = Date.now();
    await converged('after a cut connection');
    t.diagnostic(`${mode}: caught up ${Date.now() - t0} ms after the cut`);

    // Restart on the same database: a new process, another port.
    await L.stop(srv);
    srv = await srvlib.startServer({ dbPath: srv.dbPath, adminTokens: [srv.adminToken], clientTokens: [clientToken], frontendTokens: [frontendToken] });
    via.retarget(srv.port);
    via.cut();
    await flip(names[2]);
    t0 = Date.now();
    await converged('after a server restart');
    t.diagnostic(`${mode}: caught up ${Date.now() - t0} ms after the restart`);
    // And it still gets changes the same way (streaming: without polling).
    const changed = once(unleash, 'changed');
    await flip(names[0]);
    await L.within(changed, 3000, () => 'no change after the restart');
    await converged('after a change on the restarted server');
    assert.deepEqual(modes, [], 'the SDK never changed mode');
    assert.equal(await L.requestCount(srv, '/api/client/features', 200), 0, 'no full fetches on the restarted server');
  } finally {
    await L.destroy(unleash);
    via.close();
    await L.stop(srv);
  }
});
}

test('streaming unleash-client gets changes without polling /api/client/features', async () => {
  const { srv, clientToken, gen } = await serverWithRound(3001, 5);
  const { unleash } = await L.startUnleash(srv, clientToken, { experimentalMode: { type: 'streaming' }, refreshInterval: 50 });
  try {
    const changed = once(unleash, 'changed');
    const f = gen.doc.features[0];
    const r = await srv.api('POST', `${E(f.name)}/${f.enabled ? 'off' : 'on'}`);
    assert.equal(r.status, 200, srvlib.show(r));
    await L.within(changed, 3000, () => 'no change within 3 s');
    await srvlib.sleep(300);
    const polls = (await L.requestCount(srv, '/api/client/features', 200)) + (await L.requestCount(srv, '/api/client/features', 304));
    assert.equal(polls, 0, `a streaming SDK should not poll /api/client/features (saw ${polls} polls)`);
  } finally {
    await L.destroy(unleash);
    await L.stop(srv);
  }
});

test('delta polling unleash-client (experimentalMode polling/delta) receives every admin change', async (t) => {
  const { latencies } = await runSeries('delta', { experimentalMode: { type: 'polling', format: 'delta' }, refreshInterval: 50 });
  t.diagnostic(`delta polling every 50 ms, admin request start -> SDK 'changed': ${summary(latencies.map((l) => l.fromRequest))}`);
});

test('full polling unleash-client receives every admin change', async () => {
  await runSeries('polling', { refreshInterval: 50 });
});
