'use strict';
// The web console end to end: Debian's chromium (through playwright-core)
// against the real `vexil serve` on a random port and a temporary SQLite
// database, as a person would use it: sign in, create a flag, add a
// strategy with constraints, set variants, enable it in production (with
// the confirmation), ask the playground, find the event in the audit log,
// get a clear message for a rejected change, create a token and see its
// secret once. Every step is checked against the admin API too, and every
// main page is saved as a screenshot under build/ui-artifacts/.
//
//   tests/ui/run.sh          (VEXIL_BIN: the binary, VEXIL_CHROMIUM: the browser)

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, show } = require('../integration/server');
const { launch, screenshot, ARTIFACTS } = require('./browser');
const ui = require('./helpers');

const FLAG = 'new-checkout';
const F = `/api/admin/projects/default/features/${FLAG}`;

let srv;
let browser;
let page;
const problems = []; // page errors and CSP violations, checked at the end

async function apiJson(method, path, body) {
  const r = await srv.api(method, path, body === undefined ? {} : { body });
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${path}: ${show(r)}`);
  return r.json;
}

// Every visible form control and button in the page has an accessible name.
const unlabelled = () => ui.unlabelled(page);

const checkPage = (name) => ui.checkPage(page, name);

const nav = (label) => ui.nav(page, label);

test.before(async () => {
  srv = await startServer();
  browser = await launch();
  page = browser.page;
  ui.watchProblems(page, problems);
});

test.after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

test('signing in: a wrong token is explained, the right one opens the flags', async () => {
  await page.goto(srv.url + '/');
  await page.waitForURL(/\/signin$/);
  const token = page.getByLabel('Admin token');
  await assert.doesNotReject(token.waitFor());
  await checkPage('01-sign-in');
  await token.fill('*:*.0000000000000000000000000000000000000000000000000000000000000000');
  await token.press('Enter'); // the keyboard is enough
  await page.getByRole('alert').filter({ hasText: 'Your token was not accepted' }).waitFor();
  assert.equal(await token.getAttribute('aria-invalid'), 'true');
  await token.fill(srv.adminToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Flags' }).waitFor();
  assert.match(page.url(), /\/flags$/);
  // The token is exchanged for a session the page cannot read (HttpOnly).
  const kept = await page.evaluate(() => [sessionStorage.length, localStorage.length, document.cookie]);
  assert.deepEqual(kept, [0, 0, ''], 'neither the token nor the session is readable by scripts');
  const cookies = await browser.context.cookies(srv.url + '/api/admin/session');
  const c = cookies.find((x) => x.name === 'vexil_session');
  assert.ok(c && c.httpOnly && c.sameSite === 'Strict' && c.path === '/api/admin', JSON.stringify(cookies));
  await page.locator('#who').getByText('Signed in as init-admin').waitFor();
});

test('the first page transfers less than 150 KB', async () => {
  const cdp = await browser.context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  let bytes = 0;
  const urls = [];
  cdp.on('Network.loadingFinished', (e) => { bytes += e.encodedDataLength; });
  cdp.on('Network.responseReceived', (e) => urls.push(e.response.url));
  await page.goto(srv.url + '/flags', { waitUntil: 'networkidle' });
  await page.getByRole('heading', { level: 1, name: 'Flags' }).waitFor();
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
  await cdp.detach();
  process.stdout.write(`# first page (/flags): ${bytes} bytes in ${urls.length} responses\n`);
  assert.ok(bytes > 0 && bytes < 150 * 1024, `first page transferred ${bytes} bytes (${urls.join(' ')})`);
});

test('create a flag', async () => {
  await page.getByRole('button', { name: '+ New flag' }).click();
  const dlg = page.getByRole('dialog', { name: 'New flag' });
  await dlg.getByLabel('Name').fill(FLAG);
  await dlg.getByLabel('Description').fill('one-page checkout');
  await dlg.getByRole('button', { name: 'Create flag' }).click();
  await page.getByRole('heading', { level: 1, name: FLAG }).waitFor();
  assert.match(page.url(), /\/flags\/default\/new-checkout$/);
  const f = await apiJson('GET', F);
  assert.equal(f.description, 'one-page checkout');
});

test('add a strategy with constraints in production', async () => {
  const prod = page.getByRole('region', { name: 'Environment production' });
  await prod.getByRole('button', { name: '+ Add strategy' }).click();
  const dlg = page.getByRole('dialog', { name: /Add a strategy/ });
  await dlg.getByLabel('Rollout (%)').fill('25');
  await dlg.getByRole('button', { name: '+ Add constraint' }).click();
  const c1 = dlg.getByRole('group', { name: 'Constraint 1', exact: true });
  await c1.getByLabel('Context field').fill('country');
  await c1.getByLabel('Operator').selectOption('IN');
  await c1.getByLabel('Values', { exact: true }).fill('TH\nVN');
  await dlg.getByRole('button', { name: '+ Add constraint' }).click();
  const c2 = dlg.getByRole('group', { name: 'Constraint 2', exact: true });
  await c2.getByLabel('Context field').fill('appVersion');
  await c2.getByLabel('Field type').selectOption('semver');
  // Only the version operators are offered for a version field.
  const ops = await c2.getByLabel('Operator').locator('option').evaluateAll((o) => o.map((x) => x.value));
  assert.deepEqual(ops, ['SEMVER_EQ', 'SEMVER_GT', 'SEMVER_GTE', 'SEMVER_LT', 'SEMVER_LTE']);
  await c2.getByLabel('Operator').selectOption('SEMVER_GTE');
  await c2.getByLabel('Value', { exact: true }).fill('2.1.0');
  await screenshot(page, '03-strategy-editor');
  assert.deepEqual(await unlabelled(), [], 'strategy editor: controls without a label');
  await dlg.getByRole('button', { name: 'Add strategy' }).click();
  await dlg.waitFor({ state: 'detached' });
  await prod.getByText('country is one of TH, VN').waitFor();
  const list = await apiJson('GET', `${F}/environments/production/strategies`);
  assert.equal(list.length, 1);
  assert.equal(list[0].name, 'flexibleRollout');
  assert.equal(list[0].parameters.rollout, '25');
  assert.deepEqual(list[0].constraints.map((c) => [c.contextName, c.operator, c.values || c.value]),
    [['country', 'IN', ['TH', 'VN']], ['appVersion', 'SEMVER_GTE', '2.1.0']]);
});

test('a rejected change is explained next to the field, and nothing is saved', async () => {
  const prod = page.getByRole('region', { name: 'Environment production' });
  await prod.getByRole('button', { name: '+ Add strategy' }).click();
  const dlg = page.getByRole('dialog', { name: /Add a strategy/ });
  await dlg.getByRole('button', { name: '+ Add constraint' }).click();
  const c1 = dlg.getByRole('group', { name: 'Constraint 1', exact: true });
  await c1.getByLabel('Context field').fill('age');
  await c1.getByLabel('Field type').selectOption('number');
  await c1.getByLabel('Operator').selectOption('NUM_GT');
  const value = c1.getByLabel('Value', { exact: true });
  // What the server would refuse is refused as it is typed, and not sent.
  const sent = [];
  const onReq = (r) => { if (r.method() === 'POST' && r.url().includes('/strategies')) sent.push(r.url()); };
  page.on('request', onReq);
  await value.fill('abc');
  await dlg.getByText('“abc” is not a number').waitFor();
  await dlg.getByRole('button', { name: 'Add strategy' }).click();
  await dlg.getByRole('alert').filter({ hasText: 'nothing was sent' }).waitFor();
  assert.equal(await value.getAttribute('aria-invalid'), 'true');
  const describedBy = () => value.evaluate((el) => (el.getAttribute('aria-describedby') || '').split(' ')
    .map((id) => document.getElementById(id)).filter(Boolean).map((e) => e.textContent).join(' | '));
  assert.match(await describedBy(), /is not a number/);
  assert.ok(await ui.focused(value), 'focus moves to the field in error');
  assert.deepEqual(sent, [], 'nothing was sent');
  // What only the server can tell (RE2 has no lookbehind) comes back from
  // it, next to the field.
  await c1.getByLabel('Field type').selectOption('string');
  await c1.getByLabel('Operator').selectOption('REGEX');
  await value.fill('(?<=a)b');
  await dlg.getByRole('button', { name: 'Add strategy' }).click();
  const alert = dlg.getByRole('alert').filter({ hasText: 'This was not saved' });
  await alert.waitFor();
  const text = await alert.innerText();
  assert.match(text, /constraint 1 › value/);
  assert.match(text, /is not a valid value for REGEX/);
  assert.equal(await value.getAttribute('aria-invalid'), 'true');
  assert.match(await describedBy(), /not a valid value for REGEX/);
  assert.ok(await ui.focused(value), 'focus moves to the field in error');
  page.off('request', onReq);
  assert.equal(sent.length, 1, 'the server was asked once');
  await screenshot(page, '04-rejected-change');
  await dlg.getByRole('button', { name: 'Cancel' }).click();
  await dlg.waitFor({ state: 'detached' });
  const list = await apiJson('GET', `${F}/environments/production/strategies`);
  assert.equal(list.length, 1, 'the rejected strategy was not written');
});

test('edit the strategy: the new rollout is saved', async () => {
  const prod = page.getByRole('region', { name: 'Environment production' });
  await prod.getByRole('button', { name: 'Edit strategy Gradual rollout in production' }).click();
  const dlg = page.getByRole('dialog', { name: /Edit strategy/ });
  assert.equal(await dlg.getByLabel('Rollout (%)').inputValue(), '25');
  assert.equal(await dlg.getByRole('group', { name: 'Constraint 2', exact: true }).getByLabel('Operator').inputValue(), 'SEMVER_GTE');
  await dlg.getByLabel('Rollout (%)').fill('30');
  await dlg.getByRole('button', { name: 'Save strategy' }).click();
  await dlg.waitFor({ state: 'detached' });
  await prod.getByText('30% of users').waitFor();
  const list = await apiJson('GET', `${F}/environments/production/strategies`);
  assert.equal(list.length, 1);
  assert.equal(list[0].parameters.rollout, '30');
  assert.equal(list[0].constraints.length, 2, 'the constraints are kept');
});

test('set variants with weights and a validated JSON payload', async () => {
  const prod = page.getByRole('region', { name: 'Environment production' });
  await prod.getByRole('button', { name: 'Variants (0)' }).click();
  const dlg = page.getByRole('dialog', { name: /Variants/ });
  await dlg.getByRole('button', { name: '+ Add variant' }).click();
  const v1 = dlg.getByRole('group', { name: 'Variant 1' });
  await v1.getByLabel('Name').fill('blue');
  await v1.getByLabel('Payload type').selectOption('json');
  const payload = v1.getByLabel('Payload', { exact: true });
  await payload.fill('{"color": "blue"');
  await dlg.getByText(/Not valid JSON/).waitFor();
  assert.equal(await payload.getAttribute('aria-invalid'), 'true');
  assert.equal(await dlg.getByRole('button', { name: 'Save variants' }).isDisabled(), true);
  await payload.fill('{"color": "blue"}');
  assert.equal(await dlg.getByRole('button', { name: 'Save variants' }).isDisabled(), false);
  await dlg.getByRole('button', { name: '+ Add variant' }).click();
  const v2 = dlg.getByRole('group', { name: 'Variant 2' });
  await v2.getByLabel('Name').fill('green');
  await v2.getByLabel('Weight type').selectOption('fix');
  await v2.getByLabel('Weight (%)').fill('30');
  await v2.getByLabel('Payload type').selectOption('string');
  await v2.getByLabel('Payload', { exact: true }).fill('green');
  assert.equal(await v1.getByLabel('Weight (%)').inputValue(), '70', 'the variable variant gets the rest');
  await screenshot(page, '05-variants');
  await dlg.getByRole('button', { name: 'Save variants' }).click();
  await dlg.waitFor({ state: 'detached' });
  const r = await apiJson('GET', `${F}/environments/production/variants`);
  const byName = Object.fromEntries(r.variants.map((v) => [v.name, v]));
  assert.equal(byName.blue.weight, 700);
  assert.equal(byName.green.weight, 300);
  assert.equal(byName.green.weightType, 'fix');
  assert.deepEqual(JSON.parse(byName.blue.payload.value), { color: 'blue' });
  await prod.getByRole('button', { name: 'Variants (2)' }).waitFor();
});

test('enable it: development in one click, production only after confirming', async () => {
  await nav('Flags');
  const dev = page.getByRole('switch', { name: `${FLAG} in development` });
  const prodSwitch = page.getByRole('switch', { name: `${FLAG} in production` });
  await dev.click();
  await page.waitForFunction((n) => document.querySelector(`[aria-label="${n}"]`).getAttribute('aria-checked') === 'true', `${FLAG} in development`);
  assert.equal(await page.getByRole('dialog').count(), 0, 'no confirmation outside production');

  // Keyboard: Enter opens the confirmation, Escape cancels it.
  await prodSwitch.focus();
  await page.keyboard.press('Enter');
  const dlg = page.getByRole('dialog', { name: `Enable ${FLAG} in production?` });
  await dlg.waitFor();
  await screenshot(page, '06-confirm-production');
  await page.keyboard.press('Escape');
  await dlg.waitFor({ state: 'detached' });
  assert.equal(await prodSwitch.getAttribute('aria-checked'), 'false');
  let f = await apiJson('GET', F);
  assert.equal(f.environments.find((e) => e.name === 'production').enabled, false, 'cancelled: still off');

  await prodSwitch.click();
  await dlg.getByRole('button', { name: 'Enable in production' }).click();
  await page.getByRole('status').getByText(`${FLAG} is now on in production.`).waitFor();
  assert.equal(await prodSwitch.getAttribute('aria-checked'), 'true');
  f = await apiJson('GET', F);
  assert.equal(f.environments.find((e) => e.name === 'production').enabled, true);
  assert.equal(f.environments.find((e) => e.name === 'development').enabled, true);
  await checkPage('02-flags');
});

test('the playground explains why the flag is off for a context', async () => {
  await page.getByRole('link', { name: FLAG, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: FLAG }).waitFor();
  const form = page.locator('form').filter({ has: page.getByRole('heading', { name: /Playground/ }) });
  await form.getByLabel('userId').fill('42');
  await form.getByLabel('Other fields').fill('country=FR\nappVersion=2.3.0');
  await form.getByRole('button', { name: 'Evaluate' }).click();
  const why = form.locator('.why');
  await why.waitFor();
  const text = await why.innerText();
  assert.match(text, /new-checkout is OFF in production/);
  assert.match(text, /✗ country is one of TH, VN does not hold/);
  assert.match(text, /✓ appVersion ≥ 2\.1\.0 holds/);
  await checkPage('07-flag');
});

test('the audit log finds the production switch', async () => {
  await nav('Audit log');
  await page.getByLabel('Flag').fill(FLAG);
  await page.getByLabel('Event type').selectOption('feature-environment-enabled');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/type=feature-environment-enabled/);
  const row = page.getByRole('row').filter({ hasText: 'production' }).filter({ hasText: 'feature-environment-enabled' });
  await row.waitFor();
  assert.match(await row.innerText(), /init-admin/);
  await page.getByText('Events 1–2 of 2').waitFor(); // development and production
  // The strategy added earlier is there too, with what it was.
  await page.getByLabel('Event type').selectOption('feature-strategy-add');
  await page.getByLabel('Environment').fill('production');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByText('Events 1–1 of 1').waitFor();
  await page.getByText('Show change').click();
  // A readable diff: the strategy as added (before the edit to 30).
  const added = page.getByRole('list', { name: 'What changed' }).getByRole('listitem').filter({ hasText: 'parameters › rollout' });
  assert.match(await added.innerText(), /parameters › rollout: 25/);
  await checkPage('08-audit-log');
});

test('create an API token: the secret is shown once; revoke it', async () => {
  await nav('API tokens');
  await page.getByLabel('Name').fill('ci-reader');
  await page.getByLabel('Kind').selectOption('client');
  await page.getByLabel('Environment').selectOption('production');
  await page.getByRole('button', { name: 'Create token' }).click();
  const dlg = page.getByRole('dialog', { name: 'Token ci-reader created' });
  await dlg.waitFor();
  const secret = await dlg.getByLabel("The new token's secret").inputValue();
  assert.match(secret, /^[^:\s]+:production\.[0-9a-f]{64}$/);
  await dlg.getByText('It is shown only this once').waitFor();
  await screenshot(page, '09-token-secret');
  await dlg.getByRole('button', { name: 'I have copied it' }).click();
  await dlg.waitFor({ state: 'detached' });
  assert.ok(!(await page.content()).includes(secret), 'the secret is gone from the page');
  const row = page.getByRole('row').filter({ hasText: 'ci-reader' });
  await row.getByText('active').waitFor();
  const list = await apiJson('GET', '/api/admin/api-tokens');
  const tk = list.tokens.find((t) => t.tokenName === 'ci-reader');
  assert.ok(tk && tk.environment === 'production' && tk.type === 'client' && !('secret' in tk));
  await page.getByRole('button', { name: 'Revoke token ci-reader' }).click();
  await page.getByRole('dialog', { name: 'Revoke ci-reader?' }).getByRole('button', { name: 'Revoke' }).click();
  await row.getByText('revoked').waitFor();
  await checkPage('10-api-tokens');
  const after = await apiJson('GET', '/api/admin/api-tokens');
  assert.equal(after.tokens.find((t) => t.tokenName === 'ci-reader').revoked, true);
});

test('segments, projects, environments and stale flags', async () => {
  await nav('Segments');
  await page.getByRole('button', { name: '+ New segment' }).click();
  const dlg = page.getByRole('dialog', { name: 'New segment' });
  await dlg.getByLabel('Name').fill('beta-testers');
  await dlg.getByLabel('Description').fill('people who asked for early access');
  await dlg.getByRole('button', { name: '+ Add constraint' }).click();
  const c1 = dlg.getByRole('group', { name: 'Constraint 1', exact: true });
  await c1.getByLabel('Context field').fill('email');
  await c1.getByLabel('Operator').selectOption('STR_ENDS_WITH');
  await c1.getByLabel('Values', { exact: true }).fill('@example.com');
  await dlg.getByRole('button', { name: 'Create segment' }).click();
  await dlg.waitFor({ state: 'detached' });
  await page.getByText('email ends with @example.com').waitFor();
  await checkPage('11-segments');
  const segs = await apiJson('GET', '/api/admin/segments');
  assert.equal(segs.segments[0].name, 'beta-testers');

  await nav('Projects');
  await page.getByLabel('ID').fill('mobile');
  await page.getByLabel('Name', { exact: true }).fill('Mobile apps');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.getByRole('cell', { name: 'Mobile apps' }).waitFor();
  // A taken id is refused with the reason, next to the field.
  await page.getByLabel('ID').fill('mobile');
  await page.getByRole('button', { name: 'Create project' }).click();
  await page.getByRole('alert').filter({ hasText: 'This conflicts with what exists' }).waitFor();
  await checkPage('12-projects');

  await nav('Environments');
  await page.getByLabel('Name').fill('staging');
  await page.getByLabel('Type').selectOption('preproduction');
  await page.getByRole('button', { name: 'Add environment' }).click();
  await page.getByRole('cell', { name: 'staging' }).waitFor();
  await checkPage('13-environments');

  await page.goto(`${srv.url}/flags/default/${FLAG}`);
  await page.getByRole('button', { name: 'Mark stale' }).click();
  await page.getByRole('button', { name: 'Mark not stale' }).waitFor();
  await nav('Stale flags');
  await page.getByRole('row').filter({ hasText: FLAG }).getByText('marked stale').waitFor();
  await checkPage('14-stale-flags');
  await nav('Flags');
  await page.getByLabel('Stale').selectOption('yes');
  await page.getByRole('link', { name: FLAG, exact: true }).waitFor();
  await page.getByLabel('Stale').selectOption('no');
  await page.getByText('No flag matches these filters.').waitFor();
});

test('an unknown address shows the app, which says the page does not exist', async () => {
  await page.goto(`${srv.url}/no/such/page`);
  await page.getByRole('heading', { level: 1, name: 'Page not found' }).waitFor();
});

test('signing out ends the session on the server', async () => {
  await page.goto(`${srv.url}/flags`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Admin token').waitFor();
  await page.getByRole('status').filter({ hasText: 'You signed out.' }).waitFor();
  assert.equal(await page.locator('#who').innerText(), '', 'the header no longer says signed in');
  const who = await page.evaluate(async () => (await fetch('/api/admin/session')).status);
  assert.equal(who, 401, 'the server forgot the session');
  await page.goto(`${srv.url}/audit`);
  await page.waitForURL(/\/signin\?next=%2Faudit$/);
});

test('a viewer token may look but not change, and is told so', async () => {
  const viewer = await apiJson('POST', '/api/admin/api-tokens', { tokenName: 'viewer-ui', type: 'admin', role: 'viewer' });
  await page.getByLabel('Admin token').fill(viewer.secret);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor(); // back where it was going
  await page.locator('#who').getByText('viewer · read only').waitFor();
  await nav('Flags');
  // A viewer sees the states, not switches, and no button that changes.
  await page.getByRole('link', { name: FLAG, exact: true }).waitFor();
  assert.equal(await page.getByRole('switch').count(), 0, 'no switch for a viewer');
  assert.equal(await page.getByRole('button', { name: '+ New flag' }).count(), 0);
  const row = page.getByRole('row').filter({ hasText: FLAG });
  assert.match(await row.innerText(), /on/);
  const f = await apiJson('GET', F);
  assert.equal(f.environments.find((e) => e.name === 'development').enabled, true, 'nothing changed');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Admin token').waitFor();
});

test('no script error and no Content-Security-Policy violation on the way', () => {
  assert.deepEqual(problems, []);
  process.stdout.write(`# screenshots in ${ARTIFACTS}\n`);
});
