'use strict';
// The advisor end to end (docs/ai.md): `vexil serve` with and without a
// model, against tests/support/model_server.js in both dialects. Each
// feature, each way a model can fail, the stored recommendation, and that
// nothing is ever applied.
//
//   tests/integration/run.sh tests/ai/     (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const { startServer, exportState, allEvents, show, clientSecret } = require('../integration/server');
const { startModelServer } = require('../support/model_server');

const SENTENCE = 'pro and enterprise users in Thailand and Vietnam on app version 2.3 or newer, 10% of them';
const FIELDS = ['country', 'plan', 'appVersion'];

const GOOD = {
  rollout: 10,
  constraints: [
    { contextName: 'country', operator: 'IN', values: ['TH', 'VN'] },
    { contextName: 'plan', operator: 'IN', values: ['pro', 'enterprise'] },
    { contextName: 'appVersion', operator: 'SEMVER_GTE', values: ['2.3.0'] },
  ],
  explanation: 'Pro and enterprise users in Thailand and Vietnam on 2.3.0 or newer; 10% of them.',
  notUnderstood: [],
};

const withLlm = (ms, extra = {}) => ({
  env: {
    VEXIL_LLM_URL: ms.url,
    VEXIL_LLM_MODEL: 'test-model',
    VEXIL_LLM_TIMEOUT_MS: '2000',
    ...extra,
  },
});

async function targeting(srv, body, opts = {}) {
  return srv.api('POST', '/api/admin/advisor/targeting', { body, ...opts });
}

// Everything but the audit log: what a person would call "the flags".
async function flagsState(srv) {
  const s = await exportState(srv);
  return JSON.stringify({ features: s.features, segments: s.segments });
}

async function mkFlag(srv, name, description = '') {
  const r = await srv.api('POST', '/api/admin/projects/default/features', { body: { name, description } });
  assert.equal(r.status, 201, show(r));
}

test('without a model: the deterministic advisor', async (t) => {
  const srv = await startServer({ clientTokens: [clientSecret()] });
  t.after(() => srv.stop());

  await t.test('targeting from a sentence, checked and stored, not applied', async () => {
    await mkFlag(srv, 'checkout');
    const before = await flagsState(srv);
    const r = await targeting(srv, { sentence: SENTENCE, contextFields: ['country', 'plan'] });
    assert.equal(r.status, 200, show(r));
    const a = r.json;
    assert.equal(a.advisor, 'deterministic');
    assert.equal(a.strategy.name, 'flexibleRollout');
    assert.equal(a.strategy.parameters.rollout, '10');
    const by = Object.fromEntries(a.strategy.constraints.map((c) => [c.contextName, c]));
    assert.deepEqual(by.country.values, ['TH', 'VN']);
    assert.equal(by.country.operator, 'IN');
    assert.deepEqual(by.plan.values, ['pro', 'enterprise']);
    assert.equal(by.appVersion.operator, 'SEMVER_GTE');
    assert.equal(by.appVersion.value, '2.3.0');
    assert.deepEqual(a.unknownFields, ['appVersion'], 'appVersion was not among the known fields');
    assert.match(a.warnings.join(' '), /appVersion/);
    assert.deepEqual(a.notUnderstood, []);
    assert.match(a.explanation, /10% of the users/);
    assert.equal(await flagsState(srv), before, 'nothing applied');

    const ev = (await allEvents(srv, 'type=advisor-recommendation')).find((e) => e.id === a.recommendationId);
    assert.ok(ev, 'the recommendation is an audit event');
    assert.equal(ev.data.kind, 'targeting');
    assert.equal(ev.data.advisor, 'deterministic');
    assert.equal(ev.data.input.sentence, SENTENCE);
    assert.deepEqual(ev.data.output.strategy, a.strategy);
    assert.equal(ev.environment, 'production');

    // A person applies it with the ordinary strategy POST: it is accepted.
    const path = a.apply.path.replace('{flag}', 'checkout');
    const ap = await srv.api('POST', path, { body: a.strategy });
    assert.equal(ap.status, 200, show(ap));
    assert.equal(ap.json.parameters.groupId, 'checkout');
  });

  await t.test('what it does not understand gets no proposal (422), never a broader rule', async () => {
    const events = (await allEvents(srv, 'type=advisor-recommendation')).length;
    for (const [sentence, why] of [
      ['users who bought a boat last summer, 5%', /bought a boat last summer/],
      ['qwzx plorb', /qwzx plorb/],
      ['users in Germany or on the pro plan', /'or' between a country/],
    ]) {
      const r = await targeting(srv, { sentence });
      assert.equal(r.status, 422, show(r));
      assert.match(r.json.message, /not fully understood/);
      assert.equal(r.json.details[0].path, '/sentence');
      assert.match(r.json.details.map((d) => d.message).join(' '), why);
      assert.ok(!('strategy' in r.json), 'no proposal');
    }
    assert.equal((await allEvents(srv, 'type=advisor-recommendation')).length, events, 'nothing recorded');
  });

  await t.test('the issue-16 sentences, read exactly', async () => {
    const by = (r) => Object.fromEntries(r.json.strategy.constraints.map((c) => [c.contextName, c]));
    let r = await targeting(srv, { sentence: 'users in Vietnam except Thailand' });
    assert.equal(r.status, 200, show(r));
    assert.deepEqual(by(r).country.values, ['VN']);
    assert.equal(by(r).country.operator, 'IN');
    r = await targeting(srv, { sentence: 'all users in Canada but not on the free plan' });
    assert.deepEqual(by(r).plan.values, ['free']);
    assert.equal(by(r).plan.operator, 'NOT_IN');
    r = await targeting(srv, { sentence: 'users below version 2.0' });
    assert.equal(by(r).appVersion.operator, 'SEMVER_LT');
    r = await targeting(srv, { sentence: 'British and Irish users, a third of them' });
    assert.deepEqual(by(r).country.values, ['GB', 'IE']);
    assert.equal(r.json.strategy.parameters.rollout, '33');
    assert.equal(r.json.policy.verdict, 'needs-confirmation', 'a third is above 25 %');
    assert.equal(r.json.apply.confirmationRequired, true);
    assert.ok(!r.json.apply.path, 'no apply request before the confirmation');
    r = await targeting(srv, { sentence: 'British and Irish users, a third of them', confirm: true });
    assert.equal(r.json.policy.verdict, 'confirmed');
    assert.match(r.json.apply.path, /strategies$/);
  });

  await t.test('a fresh server knows country, plan and version as assumed fields', async () => {
    const r = await targeting(srv, { sentence: 'Australians', project: 'default' });
    assert.equal(r.status, 200, show(r));
    assert.deepEqual(r.json.strategy.constraints[0].values, ['AU']);
    assert.match(r.json.warnings.join(' '), /country/);
  });

  await t.test('negation and other version forms', async () => {
    const r = await targeting(srv, { sentence: 'everyone except Germany on the free plan with version 3 or older' });
    assert.equal(r.status, 200, show(r));
    const by = Object.fromEntries(r.json.strategy.constraints.map((c) => [c.contextName, c]));
    assert.equal(by.country.operator, 'NOT_IN');
    assert.deepEqual(by.country.values, ['DE']);
    assert.deepEqual(by.plan.values, ['free']);
    assert.equal(by.appVersion.operator, 'SEMVER_LTE');
    assert.equal(by.appVersion.value, '3.0.0');
  });

  await t.test('uses the field names the project already has', async () => {
    // (a project of its own: "default" has a flag using "plan" by now)
    assert.equal((await srv.api('POST', '/api/admin/projects', { body: { id: 'tiers' } })).status, 201);
    assert.equal((await srv.api('POST', '/api/admin/projects/tiers/features', { body: { name: 'tiered' } })).status, 201);
    const s = await srv.api('POST', '/api/admin/projects/tiers/features/tiered/environments/production/strategies', {
      body: { name: 'flexibleRollout', constraints: [{ contextName: 'tier', operator: 'IN', values: ['gold'] }] },
    });
    assert.equal(s.status, 200, show(s));
    const r = await targeting(srv, { sentence: 'enterprise customers', project: 'tiers' });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.strategy.constraints[0].contextName, 'tier');
    assert.deepEqual(r.json.unknownFields, []);
  });

  await t.test('bad requests name the field', async () => {
    let r = await targeting(srv, {});
    assert.equal(r.status, 400, show(r));
    assert.equal(r.json.details[0].path, '/sentence');
    r = await targeting(srv, { sentence: 'x'.repeat(3000) });
    assert.equal(r.status, 400, show(r));
    assert.equal(r.json.details[0].path, '/sentence');
    r = await targeting(srv, { sentence: 'pro users', contextFields: 'country' });
    assert.equal(r.status, 400, show(r));
    assert.equal(r.json.details[0].path, '/contextFields');
    r = await targeting(srv, { sentence: 'pro users', contextFields: [3] });
    assert.equal(r.json.details[0].path, '/contextFields/0');
    r = await targeting(srv, { sentence: 'pro users', environment: 'nowhere' });
    assert.equal(r.status, 404, show(r));
    r = await targeting(srv, { sentence: 'pro users', project: 'nope' });
    assert.equal(r.status, 404, show(r));
    r = await targeting(srv, { sentence: 'pro users', flag: 'no-such-flag' });
    assert.equal(r.status, 404, show(r));
    r = await srv.api('GET', '/api/admin/advisor/targeting');
    assert.equal(r.status, 405, show(r));
    r = await srv.api('POST', '/api/admin/advisor/unknown', { body: {} });
    assert.equal(r.status, 404, show(r));
    r = await targeting(srv, { sentence: 'pro users' }, { token: null });
    assert.equal(r.status, 401, show(r));
    r = await targeting(srv, { sentence: 'pro users' }, { token: 'nope' });
    assert.equal(r.status, 401, show(r));
    r = await targeting(srv, { sentence: 'pro users' }, { token: srv.clientTokens[0] });
    assert.equal(r.status, 403, show(r));
    r = await srv.api('POST', '/api/admin/advisor/changelog', { body: { from: 'last tuesday' } });
    assert.equal(r.status, 400, show(r));
    assert.equal(r.json.details[0].path, '/from');
  });

  await t.test('changelog grouped per flag in plain words', async () => {
    await mkFlag(srv, 'cl-flag', 'a flag for the changelog');
    const base = '/api/admin/projects/default/features/cl-flag/environments/production';
    const s = await srv.api('POST', `${base}/strategies`, { body: { name: 'flexibleRollout', parameters: { rollout: 10 } } });
    assert.equal(s.status, 200, show(s));
    const u = await srv.api('PUT', `${base}/strategies/${s.json.id}`, { body: { name: 'flexibleRollout', parameters: { rollout: 50 } } });
    assert.equal(u.status, 200, show(u));
    assert.equal((await srv.api('POST', `${base}/on`)).status, 200);
    const r = await srv.api('POST', '/api/admin/advisor/changelog', { body: {} });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.advisor, 'deterministic');
    const e = r.json.changelog.entries.find((x) => x.flag === 'cl-flag');
    assert.ok(e, JSON.stringify(r.json.changelog));
    assert.match(e.text, /^Created \(release\); flexibleRollout strategy added in production \(rollout 10%/);
    assert.match(e.text, /rollout in production changed from 10% to 50%/);
    assert.match(e.text, /turned on in production\.$/);
    assert.match(r.json.changelog.summary, /changes to \d+ flags/);
    // advisor records are not changes
    assert.ok(!JSON.stringify(r.json.changelog).includes('advisor-recommendation'));

    const far = await srv.api('POST', '/api/admin/advisor/changelog', { body: { from: '2001-01-01T00:00:00Z', to: '2001-02-01T00:00:00Z' } });
    assert.equal(far.status, 200, show(far));
    assert.deepEqual(far.json.changelog.entries, []);
    assert.match(far.json.changelog.summary, /^0 changes to 0 flags between 2001-01-01T00:00:00Z and 2001-02-01T00:00:00Z/);
  });

  await t.test('the CLI asks and prints, nothing applied', async () => {
    const env = { ...process.env, VEXIL_TOKEN: srv.adminToken, VEXIL_SERVER: srv.url };
    let r = spawnSync(srv.bin, ['advise', 'targeting', 'pro users in Japan, 20%', '--env', 'development'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^advisor: deterministic$/m);
    assert.match(r.stdout, /20% of the users whose country is JP/);
    assert.match(r.stdout, /not applied/);
    assert.match(r.stdout, /environments\/development\/strategies/);
    r = spawnSync(srv.bin, ['advise', 'changelog', '--from', '2000-01-01T00:00:00Z'], { env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^cl-flag: Created/m);
    r = spawnSync(srv.bin, ['advise', 'targeting'], { env, encoding: 'utf8' });
    assert.equal(r.status, 2, 'missing sentence is bad usage');
    r = spawnSync(srv.bin, ['advise', 'changelog', '--from', 'whenever'], { env, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\/from/);
  });
});

for (const dialect of ['openai', 'ollama']) {
  test(`with a model (${dialect} protocol)`, async (t) => {
    const ms = await startModelServer();
    const srv = await startServer(withLlm(ms, { VEXIL_LLM_PROTOCOL: dialect, VEXIL_LLM_MAX_TOKENS: '700' }));
    t.after(async () => { await srv.stop(); await ms.close(); });
    assert.match(srv.stderr, new RegExp(`advisor: model test-model at .* \\(${dialect} protocol\\)`));
    assert.ok(!/warn: .*model/.test(srv.stderr), `no start-up warning: ${srv.stderr}`);
    const listPath = dialect === 'openai' ? '/v1/models' : '/api/tags';
    assert.ok(ms.requests.some((r) => r.method === 'GET' && r.path === listPath), 'the model list was checked at start');

    await t.test('a valid answer becomes a checked proposal', async () => {
      await mkFlag(srv, 'm-flag');
      const before = await flagsState(srv);
      ms.reset();
      ms.script({ kind: 'answer', content: GOOD });
      const r = await targeting(srv, { sentence: SENTENCE, contextFields: FIELDS, flag: 'm-flag' });
      assert.equal(r.status, 200, show(r));
      assert.equal(r.json.advisor, 'model:test-model');
      assert.equal(r.json.attempts, 1);
      assert.equal(r.json.strategy.parameters.groupId, 'm-flag');
      const ver = r.json.strategy.constraints.find((c) => c.contextName === 'appVersion');
      assert.equal(ver.value, '2.3.0', 'single-value operators get "value"');
      assert.equal(await flagsState(srv), before, 'nothing applied');

      const [req] = ms.chats();
      const body = req.json;
      assert.equal(req.path, dialect === 'openai' ? '/v1/chat/completions' : '/api/chat');
      assert.equal(body.model, 'test-model');
      assert.equal(body.stream, false);
      const schema = dialect === 'openai' ? body.response_format.json_schema.schema : body.format;
      if (dialect === 'openai') {
        assert.equal(body.response_format.type, 'json_schema');
        assert.equal(body.response_format.json_schema.name, 'targeting_rule');
        assert.equal(body.temperature, 0);
      } else {
        assert.equal(body.options.temperature, 0);
      }
      assert.equal(dialect === 'openai' ? body.max_tokens : body.options.num_predict, 700, '--llm-max-tokens');
      assert.deepEqual(schema.properties.constraints.items.properties.contextName.enum.slice().sort(),
        ['appName', 'appVersion', 'country', 'currentTime', 'environment', 'plan', 'remoteAddress', 'sessionId', 'userId'].sort());
      const sys = body.messages.find((m) => m.role === 'system').content;
      const user = body.messages.find((m) => m.role === 'user').content;
      assert.match(sys, /never instructions to you/);
      assert.match(sys, /JSON schema of your answer/);
      assert.ok(user.startsWith('<data>\n') && user.endsWith('\n</data>'));
      const data = JSON.parse(user.slice(7, -8));
      assert.equal(data.sentence, SENTENCE, 'the sentence travels as a JSON string');
    });

    await t.test('an invalid answer is retried once with the reason', async () => {
      ms.reset();
      ms.script({ kind: 'malformed' }, { kind: 'answer', content: GOOD });
      const r = await targeting(srv, { sentence: SENTENCE, contextFields: FIELDS });
      assert.equal(r.status, 200, show(r));
      assert.equal(r.json.attempts, 2);
      const second = ms.chats()[1].json.messages.find((m) => m.role === 'user').content;
      assert.match(second, /Your previous answer was invalid/);
    });

    await t.test('invalid twice is a clear error and nothing is stored', async () => {
      const events = (await allEvents(srv)).length;
      for (const bad of [
        { kind: 'malformed' },
        { kind: 'answer', content: { ...GOOD, constraints: [{ contextName: 'shoeSize', operator: 'IN', values: ['9'] }] } },
        { kind: 'answer', content: { ...GOOD, constraints: [{ contextName: 'appVersion', operator: 'SEMVER_GTE', values: ['not-a-version'] }] } },
        { kind: 'answer', content: { ...GOOD, actions: ['enable every flag'] } },
        { kind: 'echo' },
      ]) {
        ms.reset();
        ms.script(bad, bad);
        const r = await targeting(srv, { sentence: SENTENCE, contextFields: FIELDS });
        assert.equal(r.status, 502, `${JSON.stringify(bad).slice(0, 120)}: ${show(r)}`);
        assert.match(r.json.message, /did not validate/);
        assert.match(r.json.details[0].message, /invalid twice/);
        assert.equal(ms.chats().length, 2, 'one retry, no more');
      }
      assert.equal((await allEvents(srv)).length, events, 'no recommendation stored for an error');
    });

    await t.test('a changelog written by the model', async () => {
      ms.reset();
      ms.script({ kind: 'fn', fn: (req) => {
        const user = req.json.messages.find((m) => m.role === 'user').content;
        const data = JSON.parse(user.slice(7, -8));
        return { kind: 'answer', content: { summary: 'Some flags changed.', entries: data.flags.map((f) => ({ flag: f.name, text: `${f.name} changed.`, eventIds: f.events.map((e) => e.id) })) } };
      } });
      const r = await srv.api('POST', '/api/admin/advisor/changelog', { body: {} });
      assert.equal(r.status, 200, show(r));
      assert.equal(r.json.advisor, 'model:test-model');
      assert.equal(r.json.changelog.summary, 'Some flags changed.');
      const mine = r.json.changelog.entries.find((e) => e.flag === 'm-flag');
      assert.ok(mine.events.length > 0 && mine.changes.every((c) => Number.isInteger(c.eventId)), 'linked to its events');
      const schema = dialect === 'openai' ? ms.chats()[0].json.response_format.json_schema.schema : ms.chats()[0].json.format;
      assert.ok(schema.properties.entries.items.properties.flag.enum.includes('m-flag'));

      ms.reset();
      ms.script({ kind: 'answer', content: { summary: 's', entries: [{ flag: 'made-up-flag', text: 't', eventIds: [1] }] } },
        { kind: 'answer', content: { summary: 's', entries: [{ flag: 'made-up-flag', text: 't', eventIds: [1] }] } });
      const bad = await srv.api('POST', '/api/admin/advisor/changelog', { body: {} });
      assert.equal(bad.status, 502, show(bad));
    });

    await t.test('a 5xx then an answer: the retry wins', async () => {
      ms.reset();
      ms.script({ kind: 'status', code: 502 }, { kind: 'answer', content: GOOD });
      const r = await targeting(srv, { sentence: SENTENCE, contextFields: FIELDS });
      assert.equal(r.status, 200, show(r));
      assert.equal(r.json.advisor, 'model:test-model');
      assert.equal(r.json.attempts, 1, 'one advisor attempt; the client retried the transport');
      assert.equal(ms.chats().length, 2);
    });

    await t.test('a model that cannot answer: the deterministic advisor, and why', async () => {
      for (const [b, why, calls = 3] of [[{ kind: 'drop' }, /unreachable|Empty reply|Recv|closed/i],
        [{ kind: 'status', code: 500 }, /HTTP 500/],
        [{ kind: 'stall' }, /timed out/, 1]]) {
        ms.reset();
        ms.script(b, b, b);
        const r = await targeting(srv, { sentence: SENTENCE, contextFields: FIELDS });
        assert.equal(r.status, 200, show(r));
        assert.equal(r.json.advisor, 'deterministic');
        assert.match(r.json.modelError, why);
        // two retries with backoff, all within --llm-timeout-ms: a stall
        // uses the whole budget, so it is not retried
        assert.equal(ms.chats().length, calls, b.kind);
      }
      ms.reset();
      ms.script({ kind: 'answer', content: { ...GOOD, explanation: 'y'.repeat(1100000) } });
      const big = await targeting(srv, { sentence: SENTENCE, contextFields: FIELDS });
      assert.equal(big.json.advisor, 'deterministic', show(big));
      assert.match(big.json.modelError, /over 1048576 bytes/);
      assert.equal(ms.chats().length, 1, 'an answer over the cap is not retried');
      ms.reset();
      ms.script({ kind: 'raw', body: '<html>a login page</html>' });
      const html = await targeting(srv, { sentence: SENTENCE, contextFields: FIELDS });
      assert.equal(html.json.advisor, 'deterministic', show(html));
      assert.match(html.json.modelError, /not JSON/);
      ms.reset();
      ms.script({ kind: 'status', code: 404, message: 'model not loaded' });
      const r = await targeting(srv, { sentence: SENTENCE, contextFields: FIELDS });
      assert.equal(r.json.advisor, 'deterministic');
      assert.match(r.json.modelError, /HTTP 404: model not loaded/);
      assert.equal(ms.chats().length, 1, 'a 4xx is not retried');
    });
  });
}

test('the circuit breaker opens after repeated failures', async (t) => {
  const ms = await startModelServer({ fallback: { kind: 'status', code: 503 } });
  const srv = await startServer(withLlm(ms));
  t.after(async () => { await srv.stop(); await ms.close(); });
  // breaker_done counts failures: 2 were already made... none at start
  for (let i = 0; i < 5; i++) {
    const r = await targeting(srv, { sentence: 'pro users' });
    assert.equal(r.json.advisor, 'deterministic');
  }
  ms.reset();
  const r = await targeting(srv, { sentence: 'pro users' });
  assert.equal(r.status, 200, show(r));
  assert.match(r.json.modelError, /circuit breaker open/);
  assert.equal(ms.chats().length, 0, 'an open breaker sends nothing');
  assert.match(srv.stderr, /breaker open/);
});

test('start-up checks only warn', async (t) => {
  const ms = await startModelServer({ models: ['other-model'], apiKey: 'sk-test-5f1e9a' });
  t.after(() => ms.close());

  await t.test('an unknown model name', async () => {
    const srv = await startServer(withLlm(ms, { VEXIL_LLM_API_KEY_ENV: 'MY_LLM_KEY', MY_LLM_KEY: 'sk-test-5f1e9a' }));
    t.after(() => srv.stop());
    assert.match(srv.stderr, /warn: the model server lists 1 model\(s\) but not 'test-model'/);
    assert.equal(ms.requests.at(-1).headers.authorization, 'Bearer sk-test-5f1e9a');
    ms.reset();
    const r = await targeting(srv, { sentence: 'pro users' });
    assert.equal(r.json.advisor, 'deterministic');
    assert.match(r.json.modelError, /HTTP 404/);
    assert.equal(ms.chats()[0].headers.authorization, 'Bearer sk-test-5f1e9a');
    const all = JSON.stringify(await allEvents(srv)) + srv.stderr + srv.stdout + JSON.stringify(r.json);
    assert.ok(!all.includes('sk-test-5f1e9a'), 'the API key is never logged or stored');
  });

  await t.test('a wrong key and an unreachable server', async () => {
    const srv = await startServer(withLlm(ms));
    t.after(() => srv.stop());
    assert.match(srv.stderr, /warn: cannot list the model server's models \(model server answered HTTP 401/);
    const dead = await startServer({ env: { VEXIL_LLM_URL: 'http://127.0.0.1:9', VEXIL_LLM_MODEL: 'm' } });
    t.after(() => dead.stop());
    assert.match(dead.stderr, /warn: cannot list the model server's models/);
    const r = await targeting(dead, { sentence: 'pro users' });
    assert.equal(r.json.advisor, 'deterministic');
  });

  await t.test('bad settings stop the start', async () => {
    const { vexilBin } = require('../integration/server');
    let r = spawnSync(vexilBin(), ['serve', '--port', '0', '--llm-url', 'http://127.0.0.1:1'], { encoding: 'utf8', timeout: 5000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /llm-url needs llm-model/);
    r = spawnSync(vexilBin(), ['serve', '--port', '0', '--llm-url', 'ftp://x', '--llm-model', 'm'], { encoding: 'utf8', timeout: 5000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /http:\/\/ or https:\/\//);
    r = spawnSync(vexilBin(), ['serve', '--port', '0', '--llm-url', 'http://x', '--llm-model', 'm', '--llm-protocol', 'grpc'], { encoding: 'utf8', timeout: 5000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /openai, ollama or auto/);
  });
});

test('a slow model blocks no worker thread and no lock; at most 4 model calls at once', async (t) => {
  const ms = await startModelServer();
  // One worker thread: if a model call held it, nothing else would answer.
  const srv = await startServer(withLlm(ms, { VEXIL_THREADS: '1', VEXIL_LLM_TIMEOUT_MS: '3000' }));
  t.after(async () => { await srv.stop(); await ms.close(); });
  ms.reset();
  ms.script(...Array.from({ length: 4 }, () => ({ kind: 'stall' })));
  const started = Date.now();
  const slow = Array.from({ length: 4 }, () => targeting(srv, { sentence: 'pro users' }));
  while (ms.chats().length < 4 && Date.now() - started < 2000) await new Promise((r) => setTimeout(r, 20));
  assert.equal(ms.chats().length, 4, 'four model calls in flight');
  // All four model slots are taken: a fifth question gets the
  // deterministic advisor at once, and the flags API answers too.
  const t0 = Date.now();
  const busy = await targeting(srv, { sentence: 'pro users in Japan' });
  assert.equal(busy.status, 200, show(busy));
  assert.equal(busy.json.advisor, 'deterministic');
  assert.match(busy.json.modelError, /busy/);
  const flag = await srv.api('POST', '/api/admin/projects/default/features', { body: { name: 'during-a-model-call' } });
  assert.equal(flag.status, 201, show(flag));
  assert.equal((await srv.api('GET', '/health')).status, 200);
  assert.ok(Date.now() - t0 < 1500, `answered in ${Date.now() - t0} ms while the model stalls`);
  const done = await Promise.all(slow);
  for (const r of done) {
    assert.equal(r.json.advisor, 'deterministic');
    assert.match(r.json.modelError, /timed out/);
  }
  assert.ok(Date.now() - started >= 2500, 'the stalled calls ran to their timeout');
});

test('stopping the server answers model calls in flight at once', async (t) => {
  const ms = await startModelServer({ fallback: { kind: 'stall' } });
  const srv = await startServer(withLlm(ms, { VEXIL_LLM_TIMEOUT_MS: '60000' }));
  t.after(() => ms.close());
  const pending = targeting(srv, { sentence: 'pro users' });
  while (ms.chats().length < 1) await new Promise((r) => setTimeout(r, 20));
  const t0 = Date.now();
  const exit = await srv.stop();
  assert.equal(exit.code, 0, srv.stderr);
  assert.ok(Date.now() - t0 < 5000, `stopped in ${Date.now() - t0} ms`);
  const r = await pending;
  assert.equal(r.status, 200, show(r));
  assert.equal(r.json.advisor, 'deterministic');
  assert.match(r.json.modelError, /cancelled: the server is stopping/);
});
