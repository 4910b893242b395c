'use strict';
// Malformed and refused requests (docs/admin-api.md, "Conventions"): each
// row is one request with the status it must get and, for 400s, the JSON
// pointer of details[0].path. After every request the whole state
// (GET /api/admin/export) and the audit-log size must be unchanged:
// "Nothing is written when a request fails."
//
//   node --test tests/integration/malformed.test.js     (VEXIL_BIN: the binary)

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, exportState, eventCount, show, removeTempDir } = require('./server');

let srv;
const fx = {};

const FEAT = '/api/admin/projects/default/features';
const FLAG = `${FEAT}/mf-flag`;
const STRAT = `${FLAG}/environments/production/strategies`;
const VARS = `${FLAG}/environments/production/variants`;
const fr = (extra = {}) => ({ name: 'flexibleRollout', parameters: { rollout: '50' }, ...extra });
const con = (c) => fr({ constraints: [c] });
const v = (extra) => ({ name: 'a', weight: 0, weightType: 'variable', stickiness: 'default', ...extra });
const JSON_CT = { 'Content-Type': 'application/json' };

// [label, method, path (string or fn of the fixture), request, status, details[0].path]
// request: {body} (sent as JSON), {raw, headers} (sent as is), {big: bytes}.
const CASES = [
  // bodies that are not the expected JSON
  ['invalid JSON', 'POST', FEAT, { raw: '{"name": "mf-new",', headers: JSON_CT }, 400],
  ['invalid JSON (trailing garbage)', 'POST', FEAT, { raw: '{"name": "mf-new"} x', headers: JSON_CT }, 400],
  ['empty body with JSON content type', 'POST', FEAT, { raw: '', headers: JSON_CT }, 400],
  ['body is an array, an object is expected', 'POST', FEAT, { body: [] }, 400],
  ['body is a string', 'POST', FEAT, { body: 'mf-new' }, 400],

  // wrong types and missing fields
  ['impressionData is a string', 'POST', FEAT, { body: { name: 'mf-new', impressionData: 'yes' } }, 400, '/impressionData'],
  ['name is a number', 'POST', FEAT, { body: { name: 42 } }, 400, '/name'],
  ['description is a number', 'POST', FEAT, { body: { name: 'mf-new', description: 5 } }, 400, '/description'],
  ['type is unknown', 'POST', FEAT, { body: { name: 'mf-new', type: 'no-such-type' } }, 400, '/type'],
  ['tags is not an array', 'POST', FEAT, { body: { name: 'mf-new', tags: 'x' } }, 400, '/tags'],
  ['tag without value', 'POST', FEAT, { body: { name: 'mf-new', tags: [{ type: 'simple' }] } }, 400, '/tags/0/value'],
  ['missing name', 'POST', FEAT, { body: {} }, 400, '/name'],
  ['empty name', 'POST', FEAT, { body: { name: '' } }, 400, '/name'],
  ['name of 101 characters', 'POST', FEAT, { body: { name: 'n'.repeat(101) } }, 400, '/name'],
  ['name with /', 'POST', FEAT, { body: { name: 'a/b' } }, 400, '/name'],
  ['name with a space', 'POST', FEAT, { body: { name: 'a b' } }, 400, '/name'],
  ['name "."', 'POST', FEAT, { body: { name: '.' } }, 400, '/name'],
  ['name ".."', 'POST', FEAT, { body: { name: '..' } }, 400, '/name'],
  ['name with a non-ASCII letter', 'POST', FEAT, { body: { name: 'café' } }, 400, '/name'],
  ['project id with a space', 'POST', '/api/admin/projects', { body: { id: 'my project' } }, 400, '/id'],
  ['project without id', 'POST', '/api/admin/projects', { body: { name: 'x' } }, 400, '/id'],
  ['environment type unknown', 'POST', '/api/admin/environments', { body: { name: 'qa', type: 'bogus' } }, 400, '/type'],
  ['environment name with a space', 'POST', '/api/admin/environments', { body: { name: 'q a' } }, 400, '/name'],
  ['validate: name too long', 'POST', '/api/admin/features/validate', { body: { name: 'n'.repeat(101) } }, 400, '/name'],
  ['PUT flag: impressionData a string', 'PUT', FLAG, { body: { impressionData: 'no' } }, 400, '/impressionData'],
  ['PUT flag: stale a number', 'PUT', FLAG, { body: { stale: 1 } }, 400, '/stale'],
  ['PUT flag: another name', 'PUT', FLAG, { body: { name: 'other', description: 'x' } }, 400, '/name'],
  ['PUT flag: another project', 'PUT', FLAG, { body: { project: 'mf-proj', description: 'x' } }, 400, '/project'],
  ['PATCH flag: /name is not patchable', 'PATCH', FLAG, { body: [{ op: 'replace', path: '/name', value: 'x' }] }, 400],
  ['PATCH flag: unknown op', 'PATCH', FLAG, { body: [{ op: 'frobnicate', path: '/description', value: 'x' }] }, 400],
  ['PATCH flag: not an array', 'PATCH', FLAG, { body: { op: 'replace', path: '/description', value: 'x' } }, 400],
  ['PATCH flag: wrong type through patch', 'PATCH', FLAG, { body: [{ op: 'replace', path: '/stale', value: 'yes' }] }, 400],
  ['PATCH flag: second op fails, first not applied', 'PATCH', FLAG, {
    body: [{ op: 'replace', path: '/description', value: 'changed' }, { op: 'replace', path: '/impressionData', value: 'x' }],
  }, 400],

  // strategies
  ['unknown operator', 'POST', STRAT, { body: con({ contextName: 'country', operator: 'LIKE', values: ['x'] }) }, 400, '/constraints/0/operator'],
  ['unknown operator on PUT', 'PUT', () => `${STRAT}/${fx.sid}`, { body: con({ contextName: 'country', operator: 'LIKE', values: ['x'] }) }, 400, '/constraints/0/operator'],
  ['unknown operator, second constraint', 'POST', STRAT, {
    body: fr({ constraints: [{ contextName: 'country', operator: 'IN', values: ['TH'] }, { contextName: 'c', operator: 'NUM_GTE_ISH', value: '1' }] }),
  }, 400, '/constraints/1/operator'],
  ['rollout "150"', 'POST', STRAT, { body: fr({ parameters: { rollout: '150' } }) }, 400, '/parameters/rollout'],
  ['rollout "abc"', 'POST', STRAT, { body: fr({ parameters: { rollout: 'abc' } }) }, 400, '/parameters/rollout'],
  ['rollout "-1"', 'POST', STRAT, { body: fr({ parameters: { rollout: '-1' } }) }, 400, '/parameters/rollout'],
  ['rollout "10.5"', 'POST', STRAT, { body: fr({ parameters: { rollout: '10.5' } }) }, 400, '/parameters/rollout'],
  ['rollout 150 as a number', 'POST', STRAT, { body: fr({ parameters: { rollout: 150 } }) }, 400, '/parameters/rollout'],
  ['rollout "150" on PUT', 'PUT', () => `${STRAT}/${fx.sid}`, { body: fr({ parameters: { rollout: '150' } }) }, 400, '/parameters/rollout'],
  ['percentage "101"', 'POST', STRAT, { body: { name: 'gradualRolloutUserId', parameters: { percentage: '101', groupId: 'g' } } }, 400, '/parameters/percentage'],
  ['NUM_GT with a non-number', 'POST', STRAT, { body: con({ contextName: 'age', operator: 'NUM_GT', value: 'abc' }) }, 400, '/constraints/0/value'],
  ['DATE_AFTER with a non-date', 'POST', STRAT, { body: con({ contextName: 'currentTime', operator: 'DATE_AFTER', value: 'yesterday' }) }, 400, '/constraints/0/value'],
  ['SEMVER_EQ with a non-semver', 'POST', STRAT, { body: con({ contextName: 'version', operator: 'SEMVER_EQ', value: '1.2' }) }, 400, '/constraints/0/value'],
  ['REGEX that does not compile', 'POST', STRAT, { body: con({ contextName: 'email', operator: 'REGEX', value: '(' }) }, 400, '/constraints/0/value'],
  ['IN with values not an array', 'POST', STRAT, { body: con({ contextName: 'country', operator: 'IN', values: 'TH' }) }, 400, '/constraints/0/values'],
  ['constraint without contextName', 'POST', STRAT, { body: con({ operator: 'IN', values: ['x'] }) }, 400, '/constraints/0/contextName'],
  ['inverted is a string', 'POST', STRAT, { body: con({ contextName: 'country', operator: 'IN', values: ['x'], inverted: 'no' }) }, 400, '/constraints/0/inverted'],
  ['unknown segment id', 'POST', STRAT, { body: fr({ segments: [987654321] }) }, 400, '/segments/0'],
  ['strategy without name', 'POST', STRAT, { body: { parameters: { rollout: '50' } } }, 400, '/name'],
  ['parameters is an array', 'POST', STRAT, { body: { name: 'default', parameters: [] } }, 400, '/parameters'],
  ['set-sort-order body not an array', 'POST', `${STRAT}/set-sort-order`, { body: { id: 'x', sortOrder: 0 } }, 400],
  ['set-sort-order sortOrder a string', 'POST', `${STRAT}/set-sort-order`, { body: () => [{ id: fx.sid, sortOrder: 'first' }] }, 400, '/0/sortOrder'],

  // variants
  ['fix weight over 1000', 'PUT', VARS, { body: [v({ weightType: 'fix', weight: 1200 })] }, 400, '/0/weight'],
  ['negative fix weight', 'PUT', VARS, { body: [v({ weightType: 'fix', weight: -5 })] }, 400, '/0/weight'],
  ['weight not a number', 'PUT', VARS, { body: [v({ weight: 'heavy' })] }, 400, '/0/weight'],
  ['weightType unknown', 'PUT', VARS, { body: [v({ weightType: 'heavy' })] }, 400, '/0/weightType'],
  ['fix weights over 1000 together', 'PUT', VARS, { body: [v({ name: 'a', weightType: 'fix', weight: 600 }), v({ name: 'b', weightType: 'fix', weight: 600 })] }, 400],
  ['variant without name', 'PUT', VARS, { body: [{ weight: 0, weightType: 'variable', stickiness: 'default' }] }, 400, '/0/name'],
  ['JSON payload that does not parse', 'PUT', VARS, { body: [v({ payload: { type: 'json', value: '{not json' } })] }, 400, '/0/payload/value'],
  ['JSON payload, second variant', 'PUT', VARS, {
    body: [v({ name: 'a' }), v({ name: 'b', payload: { type: 'json', value: '[1,' } })],
  }, 400, '/1/payload/value'],
  ['number payload that is not a number', 'PUT', VARS, { body: [v({ payload: { type: 'number', value: 'abc' } })] }, 400, '/0/payload/value'],
  ['payload type unknown', 'PUT', VARS, { body: [v({ payload: { type: 'xml', value: '<a/>' } })] }, 400, '/0/payload/type'],
  ['variants body not an array', 'PUT', VARS, { body: { variants: [] } }, 400],
  ['PATCH variants: remove a missing index', 'PATCH', VARS, { body: [{ op: 'remove', path: '/9' }] }, 400],
  ['PATCH variants: result has a bad JSON payload', 'PATCH', VARS, {
    body: [{ op: 'add', path: '/-', value: v({ name: 'z', payload: { type: 'json', value: '{' } }) }],
  }, 400],

  // segments, dependencies, tags, stale
  ['segment: unknown operator', 'POST', '/api/admin/segments', { body: { name: 'mf-seg2', constraints: [{ contextName: 'x', operator: 'LIKE', values: ['a'] }] } }, 400, '/constraints/0/operator'],
  ['segment: without name', 'POST', '/api/admin/segments', { body: { constraints: [] } }, 400, '/name'],
  ['segment: PUT with a bad REGEX', 'PUT', () => `/api/admin/segments/${fx.seg}`, {
    body: { name: 'mf-seg', constraints: [{ contextName: 'x', operator: 'REGEX', value: '[' }] },
  }, 400, '/constraints/0/value'],
  ['dependency on itself', 'POST', `${FLAG}/dependencies`, { body: { feature: 'mf-flag' } }, 400, '/feature'],
  ['dependency on an unknown flag', 'POST', `${FLAG}/dependencies`, { body: { feature: 'mf-nope' } }, 400, '/feature'],
  ['dependency on a flag that has parents', 'POST', `${FLAG}/dependencies`, { body: { feature: 'mf-child' } }, 400, '/feature'],
  ['dependency: feature is a number', 'POST', `${FLAG}/dependencies`, { body: { feature: 5 } }, 400, '/feature'],
  ['POST tags: tag without value', 'POST', '/api/admin/features/mf-flag/tags', { body: { type: 'simple' } }, 400, '/value'],
  ['stale is a string', 'POST', '/api/admin/projects/default/stale', { body: { features: ['mf-flag'], stale: 'yes' } }, 400, '/stale'],
  ['stale features not an array', 'POST', '/api/admin/projects/default/stale', { body: { features: 'mf-flag', stale: true } }, 400, '/features'],

  // tokens, feature types, events, playground
  ['token type unknown', 'POST', '/api/admin/api-tokens', { body: { tokenName: 'mf-t', type: 'superuser' } }, 400, '/type'],
  ['token role unknown', 'POST', '/api/admin/api-tokens', { body: { tokenName: 'mf-t', type: 'admin', role: 'owner' } }, 400, '/role'],
  ['client token without environment', 'POST', '/api/admin/api-tokens', { body: { tokenName: 'mf-t', type: 'client' } }, 400, '/environment'],
  ['client token with environment *', 'POST', '/api/admin/api-tokens', { body: { tokenName: 'mf-t', type: 'client', environment: '*' } }, 400, '/environment'],
  ['token name with a space', 'POST', '/api/admin/api-tokens', { body: { tokenName: 'my token', type: 'admin', role: 'admin' } }, 400, '/tokenName'],
  ['token without name', 'POST', '/api/admin/api-tokens', { body: { type: 'admin', role: 'admin' } }, 400, '/tokenName'],
  ['token expiresAt not a time', 'POST', '/api/admin/api-tokens', { body: { tokenName: 'mf-t', type: 'admin', role: 'admin', expiresAt: 'tomorrow' } }, 400, '/expiresAt'],
  ['token PUT expiresAt not a time', 'PUT', () => `/api/admin/api-tokens/${fx.tokenId}`, { body: { expiresAt: 'tomorrow' } }, 400, '/expiresAt'],
  ['lifetimeDays a string', 'PUT', '/api/admin/feature-types/release/lifetime', { body: { lifetimeDays: 'x' } }, 400, '/lifetimeDays'],
  ['lifetimeDays negative', 'PUT', '/api/admin/feature-types/release/lifetime', { body: { lifetimeDays: -1 } }, 400, '/lifetimeDays'],
  ['events: limit=abc', 'GET', '/api/admin/search/events?limit=abc', {}, 400, '/query/limit'],
  ['events: offset=-1', 'GET', '/api/admin/search/events?offset=-1', {}, 400, '/query/offset'],
  ['events: from not a time', 'GET', '/api/admin/search/events?from=yesterday', {}, 400, '/query/from'],
  ['playground: context is a string', 'POST', '/api/admin/playground', { body: { environment: 'production', context: 'x' } }, 400, '/context'],

  // size and content type
  // Sent 20 times: a server that closes without reading the rest of the
  // body (no lingering close) loses its 413 to a TCP reset now and then.
  ['body of 2 MiB', 'POST', FEAT, { big: 2 * 1024 * 1024, repeat: 20 }, 413],
  ['body of 2 MiB with Expect: 100-continue', 'POST', FEAT, { big: 2 * 1024 * 1024, expectContinue: true }, 413],
  ['body of 2 MiB to a write route that takes an array', 'PUT', VARS, { big: 2 * 1024 * 1024, array: true }, 413],
  ['Content-Type text/plain', 'POST', FEAT, { raw: '{"name":"mf-new"}', headers: { 'Content-Type': 'text/plain' } }, 415],
  ['no Content-Type', 'POST', FEAT, { raw: Buffer.from('{"name":"mf-new"}') }, 415],
  ['form-encoded body', 'POST', FEAT, { raw: 'name=mf-new', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }, 415],
  ['variants PUT as text/plain', 'PUT', VARS, { raw: '[]', headers: { 'Content-Type': 'text/plain' } }, 415],

  // routes and methods
  ['unknown admin route', 'GET', '/api/admin/nope', {}, 404],
  ['unknown admin route, POST', 'POST', '/api/admin/nope', { body: {} }, 404],
  ['unknown file outside /api (the UI serves pages, not this)', 'GET', '/nope.txt', {}, 404],
  ['PATCH /api/admin/projects', 'PATCH', '/api/admin/projects', { body: [] }, 405],
  ['DELETE /api/admin/features', 'DELETE', '/api/admin/features', {}, 405],
  ['GET /api/admin/playground', 'GET', '/api/admin/playground', {}, 405],
  ['PUT /api/admin/environments', 'PUT', '/api/admin/environments', { body: {} }, 405],
  ['POST /health', 'POST', '/health', { body: {} }, 405],

  // conflicts
  ['duplicate flag name', 'POST', FEAT, { body: { name: 'mf-flag' } }, 409],
  ['name of an archived flag', 'POST', FEAT, { body: { name: 'mf-archived' } }, 409],
  ['flag name taken in another project', 'POST', '/api/admin/projects/mf-proj/features', { body: { name: 'mf-flag' } }, 409],
  ['duplicate project id', 'POST', '/api/admin/projects', { body: { id: 'default' } }, 409],
  ['duplicate environment', 'POST', '/api/admin/environments', { body: { name: 'production', type: 'production' } }, 409],
  ['validate a taken name', 'POST', '/api/admin/features/validate', { body: { name: 'mf-flag' } }, 409],
  ['delete a project that has flags', 'DELETE', '/api/admin/projects/mf-proj', {}, 409],
  ['delete a segment in use', 'DELETE', () => `/api/admin/segments/${fx.seg}`, {}, 409],
  ['delete for good a flag that is not archived', 'DELETE', '/api/admin/archive/mf-flag', {}, 409],
  ['import into a server that has flags', 'POST', '/api/admin/import', { body: () => fx.exportDoc }, 409],

  // unknown objects
  ['unknown environment', 'POST', `${FLAG}/environments/nope/on`, {}, 404],
  ['strategies of an unknown environment', 'POST', `${FLAG}/environments/nope/strategies`, { body: fr() }, 404],
  ['unknown project', 'POST', '/api/admin/projects/nope/features', { body: { name: 'mf-new' } }, 404],
  ['GET unknown project', 'GET', '/api/admin/projects/nope', {}, 404],
  ['GET unknown flag', 'GET', `${FEAT}/nope`, {}, 404],
  ['GET a flag under the wrong project', 'GET', '/api/admin/projects/mf-proj/features/mf-flag', {}, 404],
  ['PUT unknown flag', 'PUT', `${FEAT}/nope`, { body: { description: 'x' } }, 404],
  ['archive unknown flag', 'DELETE', `${FEAT}/nope`, {}, 404],
  ['strategy on an unknown flag', 'POST', `${FEAT}/nope/environments/production/strategies`, { body: fr() }, 404],
  ['variants of an unknown flag', 'PUT', `${FEAT}/nope/environments/production/variants`, { body: [] }, 404],
  ['unknown strategy id', 'PUT', `${STRAT}/no-such-strategy`, { body: fr() }, 404],
  ['tags of an unknown flag', 'POST', '/api/admin/features/nope/tags', { body: { type: 'simple', value: 'x' } }, 404],
  ['revive an unknown flag', 'POST', '/api/admin/archive/revive/nope', {}, 404],
  ['unknown segment', 'GET', '/api/admin/segments/987654321', {}, 404],
  ['PUT unknown segment', 'PUT', '/api/admin/segments/987654321', { body: { name: 'x', constraints: [] } }, 404],
  ['unknown feature type', 'PUT', '/api/admin/feature-types/nope/lifetime', { body: { lifetimeDays: 3 } }, 404],
  ['revoke an unknown token', 'DELETE', '/api/admin/api-tokens/987654321', {}, 404],
];

test.before(async () => {
  srv = await startServer();
  const ok = async (method, path, body, status) => {
    const r = await srv.api(method, path, body === undefined ? {} : { body });
    assert.equal(r.status, status, `setup ${method} ${path}: ${show(r)}`);
    return r.json;
  };
  fx.seg = (await ok('POST', '/api/admin/segments', { name: 'mf-seg', constraints: [{ contextName: 'userId', operator: 'IN', values: ['u1'] }] }, 201)).id;
  await ok('POST', FEAT, { name: 'mf-flag', description: 'original', tags: [{ type: 'simple', value: 'mf' }] }, 201);
  fx.sid = (await ok('POST', STRAT, fr({ segments: [fx.seg], constraints: [{ contextName: 'country', operator: 'IN', values: ['TH'] }] }), 200)).id;
  await ok('PUT', VARS, [v({ name: 'a' }), v({ name: 'b', payload: { type: 'json', value: '{"k":1}' } })], 200);
  await ok('POST', `${FLAG}/environments/production/on`, undefined, 200);
  await ok('POST', FEAT, { name: 'mf-archived' }, 201);
  await ok('DELETE', `${FEAT}/mf-archived`, undefined, 200);
  await ok('POST', '/api/admin/projects', { id: 'mf-proj' }, 201);
  await ok('POST', '/api/admin/projects/mf-proj/features', { name: 'mf-proj-flag' }, 201);
  await ok('POST', FEAT, { name: 'mf-parent' }, 201);
  await ok('POST', FEAT, { name: 'mf-child' }, 201);
  await ok('POST', `${FEAT}/mf-child/dependencies`, { feature: 'mf-parent' }, 200);
  fx.tokenId = (await ok('POST', '/api/admin/api-tokens', { tokenName: 'mf-token', type: 'client', environment: 'production' }, 201)).id;
  fx.exportDoc = await exportState(srv);
});

test.after(async () => {
  if (srv) {
    await srv.stop('SIGTERM');
    removeTempDir(srv.dir);
  }
});

test('the table has distinct labels', () => {
  const labels = CASES.map((c) => c[0]);
  assert.equal(new Set(labels).size, labels.length);
});

for (const [label, method, pathOf, req, status, detailPath] of CASES) {
  test(`${status} ${label}`, async () => {
    const path = typeof pathOf === 'function' ? pathOf() : pathOf;
    const before = await exportState(srv);
    const eventsBefore = await eventCount(srv);
    let r;
    if (req.big) {
      const body = req.array
        ? JSON.stringify([v({ payload: { type: 'string', value: 'x'.repeat(req.big) } })])
        : JSON.stringify({ name: 'mf-big', description: 'x'.repeat(req.big) });
      for (let i = 0; i < (req.repeat || 1); i++) {
        try {
          r = await srv.raw(method, path, { headers: { ...JSON_CT, Authorization: srv.adminToken }, body, expectContinue: !!req.expectContinue });
        } catch (e) {
          assert.fail(`${method} ${path} with a ${body.length}-byte body (attempt ${i + 1}): expected ${status}, got no answer: ${e.message}`);
        }
        if (r.status !== status) break;
      }
    } else if (req.raw !== undefined) {
      r = await srv.api(method, path, { rawBody: req.raw, headers: req.headers || {} });
    } else if (req.body !== undefined) {
      r = await srv.api(method, path, { body: typeof req.body === 'function' ? req.body() : req.body });
    } else {
      r = await srv.api(method, path);
    }
    const what = `${method} ${path}${req.body !== undefined && typeof req.body !== 'function' ? ' ' + JSON.stringify(req.body).slice(0, 200) : ''}`;
    assert.equal(r.status, status, `${what}: expected ${status}, got ${show(r)}`);
    assert.ok(r.json && typeof r.json.message === 'string' && r.json.message.length > 0,
      `${what}: the error body must be JSON {"message": ...}, got ${r.text.slice(0, 300)}`);
    if (status === 400 && req.raw === undefined) {
      assert.ok(Array.isArray(r.json.details) && r.json.details.length > 0 &&
        r.json.details.every((d) => typeof d.path === 'string' && typeof d.message === 'string'),
      `${what}: a 400 has details [{path, message}], got ${r.text.slice(0, 300)}`);
    }
    if (detailPath !== undefined) {
      assert.equal(r.json.details?.[0]?.path, detailPath, `${what}: details[0].path; answer ${r.text.slice(0, 300)}`);
    }
    const after = await exportState(srv);
    assert.deepEqual(after, before, `${what}: the state changed although the request failed`);
    const eventsAfter = await eventCount(srv);
    assert.equal(eventsAfter, eventsBefore, `${what}: an event was written although the request failed`);
  });
}

test('the server is still healthy after all of it', async () => {
  const r = await srv.api('GET', '/ready', { token: null });
  assert.equal(r.status, 200, show(r));
  const f = await srv.api('GET', FLAG);
  assert.equal(f.status, 200);
  assert.equal(f.json.description, 'original');
  assert.equal(f.json.stale, false);
});
