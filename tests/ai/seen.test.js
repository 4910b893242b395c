'use strict';
// Recently seen contexts (docs/ai.md, "Recently seen contexts"): contexts
// evaluated by the frontend API and OFREP are kept in memory; a targeting
// proposal then names the fields no recent context carried and reports how
// many of the recent contexts it would match. Only field names ever reach
// the model: every request it received is checked for the context values.
//
//   tests/integration/run.sh tests/ai/seen.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, frontendSecret, clientSecret, show } = require('../integration/server');
const { startModelServer } = require('../support/model_server');

// 6 in TH, 4 in VN, 10 in DE; the ids and companies must never be sent.
const COUNTRIES = [...Array(6).fill('TH'), ...Array(4).fill('VN'), ...Array(10).fill('DE')];
const userOf = (i) => `seen-user-${1000 + i}`;
const companyOf = (i) => `acme-ctx-secret-${i}`;

function schemaOf(req) {
  const j = req.json;
  return j.response_format ? j.response_format.json_schema.schema : j.format;
}

async function seed(srv, fe, cl) {
  for (let i = 0; i < COUNTRIES.length; i++) {
    const r = await srv.api('POST', '/api/frontend', {
      token: fe,
      body: { context: { userId: userOf(i), sessionId: `seen-sess-${i}`, properties: { country: COUNTRIES[i], company: companyOf(i) } } },
    });
    assert.equal(r.status, 200, show(r));
  }
  // One OFREP evaluation with a field of its own.
  const r = await srv.api('POST', '/ofrep/v1/evaluate/flags', {
    token: cl, body: { context: { targetingKey: 'ofrep-user-secret-1', tier: 'tier-secret-gold' } },
  });
  assert.equal(r.status, 200, show(r));
}

test('targeting: fields and a dry run over recently seen contexts', async (t) => {
  const ms = await startModelServer();
  const fe = frontendSecret();
  const cl = clientSecret();
  const srv = await startServer({
    frontendTokens: [fe], clientTokens: [cl],
    env: { VEXIL_LLM_URL: ms.url, VEXIL_LLM_MODEL: 'test-model', VEXIL_LLM_TIMEOUT_MS: '2000' },
  });
  const plain = await startServer({ frontendTokens: [fe], clientTokens: [cl] });
  t.after(async () => { await srv.stop(); await plain.stop(); await ms.close(); });
  await srv.api('POST', '/api/admin/projects/default/features', { body: { name: 'checkout' } });
  await plain.api('POST', '/api/admin/projects/default/features', { body: { name: 'checkout' } });

  await t.test('before any context is seen: zero contexts, every field unseen', async () => {
    const r = await plain.api('POST', '/api/admin/advisor/targeting', { body: { sentence: 'users in Thailand' } });
    assert.equal(r.status, 200, show(r));
    assert.deepEqual(r.json.dryRun && [r.json.dryRun.contexts, r.json.dryRun.matched], [0, 0]);
    assert.deepEqual(r.json.unseenFields, ['country']);
  });

  await seed(srv, fe, cl);
  await seed(plain, fe, cl);

  await t.test('deterministic: the match count over the 21 recent contexts', async () => {
    const r = await plain.api('POST', '/api/admin/advisor/targeting', { body: { sentence: 'users in Thailand and Vietnam' } });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.advisor, 'deterministic');
    assert.deepEqual(r.json.unknownFields, [], 'country was seen, so it is known');
    assert.deepEqual(r.json.unseenFields, []);
    assert.equal(r.json.dryRun.contexts, 21);
    assert.equal(r.json.dryRun.matched, 10);
    const out = await plain.api('POST', '/api/admin/advisor/targeting', { body: { sentence: 'users outside Germany' } });
    assert.equal(out.status, 200, show(out));
    assert.equal(out.json.dryRun.matched, 11, '10 TH/VN and the OFREP context without a country');
  });

  await t.test('model: seen field names in the schema, an unseen field flagged, counts from libvexil', async () => {
    ms.reset();
    ms.script({ kind: 'fn', fn: (req) => {
      const fields = schemaOf(req).properties.constraints.items.properties.contextName.enum;
      for (const f of ['country', 'company', 'tier']) assert.ok(fields.includes(f), `${f} offered to the model`);
      return { kind: 'answer', content: { rollout: 100, explanation: 'TH and VN on 2.3+', notUnderstood: [], constraints: [
        { contextName: 'country', operator: 'IN', values: ['TH', 'VN'] },
        { contextName: 'appVersion', operator: 'SEMVER_GTE', values: ['2.3.0'] }] } };
    } });
    const r = await srv.api('POST', '/api/admin/advisor/targeting', {
      body: { sentence: 'users in Thailand and Vietnam on 2.3 or newer', contextFields: ['appVersion'] },
    });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.advisor, 'model:test-model');
    assert.deepEqual(r.json.unseenFields, ['appVersion']);
    assert.match(r.json.warnings.join(' '), /appVersion/);
    assert.equal(r.json.dryRun.contexts, 21);
    assert.equal(r.json.dryRun.matched, 0, 'no recent context had an appVersion');

    ms.script({ kind: 'answer', content: { rollout: 100, explanation: 'TH', notUnderstood: [], constraints: [
      { contextName: 'country', operator: 'IN', values: ['TH'] }] } });
    const th = await srv.api('POST', '/api/admin/advisor/targeting', { body: { sentence: 'users in Thailand' } });
    assert.equal(th.status, 200, show(th));
    assert.equal(th.json.dryRun.matched, 6);
  });

  await t.test('a project the contexts were not seen for counts none', async () => {
    const p = await plain.api('POST', '/api/admin/projects', { body: { id: 'other' } });
    assert.equal(p.status, 201, show(p));
    const r = await plain.api('POST', '/api/admin/advisor/targeting', { body: { sentence: 'users in Thailand', project: 'other' } });
    assert.equal(r.status, 200, show(r));
    assert.equal(r.json.dryRun.contexts, 0);
  });

  await t.test('no context value reached the model server', () => {
    const all = ms.allText();
    assert.ok(ms.history.filter((x) => x.method === 'POST').length >= 2);
    for (let i = 0; i < COUNTRIES.length; i++) {
      assert.ok(!all.includes(userOf(i)), `${userOf(i)} was sent`);
      assert.ok(!all.includes(companyOf(i)), `${companyOf(i)} was sent`);
      assert.ok(!all.includes(`seen-sess-${i}`), 'a session id was sent');
    }
    for (const s of ['ofrep-user-secret-1', 'tier-secret-gold']) assert.ok(!all.includes(s), `${s} was sent`);
  });
});
