'use strict';
// What the browser tests share: watching the page for errors and CSP
// violations, signing in, the accessible-name check, the main navigation,
// admin API calls that must succeed.

const assert = require('node:assert/strict');
const { show } = require('../integration/server');

const { FEAT, ENV } = require('../support/plan_traffic');
const { screenshot } = require('./browser');

// Page errors and CSP violations go into `problems` (checked at the end).
function watchProblems(page, problems) {
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
}

// Signs in with the server's admin token; the Flags page opens.
async function signIn(page, srv) {
  await page.goto(srv.url + '/signin');
  await page.getByLabel('Admin token').fill(srv.adminToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Flags' }).waitFor();
}

// The visible form controls (`selector`) and buttons without an accessible
// name, as HTML excerpts: [] when every one has a name.
function unlabelled(page, selector = 'input, select, textarea, button') {
  return page.evaluate((sel) => [...document.querySelectorAll(sel)]
    .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
    .filter((el) => !((el.labels && el.labels.length) || el.getAttribute('aria-label') ||
      el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim())))
    .map((el) => el.outerHTML.slice(0, 160)), selector);
}

// Every control of the page has a name; then a screenshot `name`.
async function checkPage(page, name) {
  assert.deepEqual(await unlabelled(page), [], `${name}: controls without a label`);
  await screenshot(page, name);
}

// Opens `label` from the main navigation and waits for its heading.
async function nav(page, label) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: label }).waitFor();
}

// An admin API call that must answer `status`; returns the JSON body.
async function must(srv, method, path, body, status = 200) {
  const r = await srv.api(method, path, body === undefined ? {} : { body });
  assert.equal(r.status, status, `${method} ${path}: ${show(r)}`);
  return r.json;
}

// ---- accessibility, reach and the standard data set ---------------------

const fs = require('node:fs');
const path = require('node:path');

const AXE = path.join(__dirname, 'node_modules', 'axe-core', 'axe.min.js');
let axeSource = null;

// Runs axe-core (pinned in package-lock.json) on the page as it is now and
// returns its serious and critical violations as short strings: [] when
// there are none. axe is evaluated in the page through the DevTools
// protocol, which the page's Content-Security-Policy does not govern.
async function axeViolations(page) {
  if (!axeSource) axeSource = fs.readFileSync(AXE, 'utf8');
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
  return found;
}

// The visible interactive controls that lie (partly) outside the window's
// width, and whether the page scrolls sideways: what a phone user could
// not reach without hunting for it.
function outOfReach(page) {
  return page.evaluate(() => {
    const W = window.innerWidth;
    const sel = 'a[href], button, input, select, textarea, [role="switch"], summary';
    const out = [...document.querySelectorAll(sel)]
      .filter((el) => el.offsetParent !== null && !el.closest('[hidden]') && el.type !== 'hidden' && !el.classList.contains('skip'))
      .filter((el) => { const r = el.getBoundingClientRect(); return r.width > 0 && (r.left < -1 || r.right > W + 1); })
      .map((el) => el.outerHTML.slice(0, 120));
    const sideways = document.documentElement.scrollWidth > W + 1;
    return { out, sideways, width: document.documentElement.scrollWidth };
  });
}

// Whether the one element `loc` finds has the focus, asked in one step in
// the page. (locator.evaluate finds the element, then asks it in a second
// step: a live redraw in between replaces the element, which then has no
// focus, though its replacement has.) Asks again for up to `ms`: the focus
// may land a moment after what moves it (a page still loading).
async function focused(loc, ms = 2000) {
  const end = Date.now() + ms;
  for (;;) {
    const yes = await loc.evaluateAll((els) => els.length === 1 && els[0] === document.activeElement);
    if (yes || Date.now() >= end) return yes;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Holds the page's requests that `match` (a Playwright URL pattern) until
// release() is called. Returns { asked: a promise of the first such
// request, release }; page.unroute(match) stops holding.
async function holdRequests(page, match) {
  let release, asked;
  const held = new Promise((r) => { release = r; });
  const first = new Promise((r) => { asked = r; });
  await page.route(match, async (route) => { asked(); await held; await route.continue(); });
  return { asked: first, release };
}

// An admin API call that must succeed (2xx); returns the JSON body.
async function ok(srv, method, p, body) {
  const r = await srv.api(method, p, body === undefined ? {} : { body });
  assert.ok(r.status >= 200 && r.status < 300, `${method} ${p}: ${show(r)}`);
  return r.json;
}

// A small installation with something on every page: flags with titled
// strategies and constraints, variants, tags and a dependency, a stale one,
// an archived one, a segment, a second project, a viewer and an editor
// token, a release plan. Returns {viewer, editor} (token secrets).
async function standardData(srv) {
  const F = (n) => `${FEAT}/${n}`;
  const E = (n, env = 'production') => `${F(n)}/environments/${env}`;
  await ok(srv, 'POST', '/api/admin/projects', { id: 'mobile', name: 'Mobile apps' });
  await ok(srv, 'POST', '/api/admin/segments', { name: 'beta-testers', constraints: [{ contextName: 'email', operator: 'STR_ENDS_WITH', values: ['@example.com'] }] });
  await ok(srv, 'POST', FEAT, { name: 'new-checkout', description: 'one-page checkout', tags: [{ type: 'simple', value: 'checkout' }] });
  await ok(srv, 'POST', `${E('new-checkout')}/strategies`, { name: 'flexibleRollout', title: 'A quarter of users', parameters: { rollout: '25', groupId: 'g25', stickiness: 'default' } });
  await ok(srv, 'POST', `${E('new-checkout')}/strategies`, { name: 'default', title: 'Thai users', constraints: [{ contextName: 'country', operator: 'IN', values: ['TH'] }] });
  await ok(srv, 'PUT', `${E('new-checkout')}/variants`, [{ name: 'blue', weightType: 'variable', payload: { type: 'json', value: '{"c":"blue"}' } }, { name: 'green', weightType: 'variable' }]);
  await ok(srv, 'POST', `${E('new-checkout')}/on`);
  await ok(srv, 'POST', `${E('new-checkout', 'development')}/on`);
  await ok(srv, 'POST', FEAT, { name: 'dark-mode', type: 'permission' });
  await ok(srv, 'POST', `${F('dark-mode')}/dependencies`, { feature: 'new-checkout' });
  await ok(srv, 'POST', FEAT, { name: 'old-banner', type: 'experiment' });
  await ok(srv, 'PUT', F('old-banner'), { stale: true });
  await ok(srv, 'POST', FEAT, { name: 'gone-feature' });
  await ok(srv, 'DELETE', F('gone-feature'));
  await ok(srv, 'POST', '/api/admin/projects/mobile/features', { name: 'ios-onboarding' });
  await ok(srv, 'POST', FEAT, { name: 'search-v2' });
  await ok(srv, 'PUT', `${E('search-v2')}/release-plan`, { milestones: [{ percent: 20, minDurationSeconds: 3600 }, { percent: 100 }], guard: 'none' });
  const viewer = (await ok(srv, 'POST', '/api/admin/api-tokens', { tokenName: 'vera', type: 'admin', role: 'viewer' })).secret;
  const editor = (await ok(srv, 'POST', '/api/admin/api-tokens', { tokenName: 'eddie', type: 'admin', role: 'editor' })).secret;
  return { viewer, editor };
}

// Every page of the console as [name, path, heading], for walks.
const ALL_PAGES = [
  ['flags', '/flags', 'Flags'],
  ['flag', '/flags/default/new-checkout', 'new-checkout'],
  ['rollouts', '/rollouts', 'Rollouts'],
  ['rollouts-flag', '/rollouts?feature=search-v2', 'Rollouts'],
  ['new-plan', '/rollouts/new?feature=new-checkout', 'New release plan'],
  ['advisor', '/advisor', 'Advisor'],
  ['usage', '/usage?flag=new-checkout', 'Usage'],
  ['gateway', '/gateway', 'Model gateway'],
  ['stale', '/stale', 'Stale flags'],
  ['archive', '/archive', 'Archived flags'],
  ['segments', '/segments', 'Segments'],
  ['projects', '/projects', 'Projects'],
  ['environments', '/environments', 'Environments'],
  ['audit', '/audit', 'Audit log'],
  ['tokens', '/tokens', 'API tokens'],
];

// Opens `p` and waits for its heading (and for the page to settle).
async function open(page, srv, p, heading) {
  await page.goto(srv.url + p);
  await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
  await page.waitForLoadState('networkidle');
}

// Signs in with `token` by the keyboard only.
async function signInWith(page, srv, token, next = '/flags') {
  await page.goto(srv.url + '/signin' + (next !== '/flags' ? `?next=${encodeURIComponent(next)}` : ''));
  await page.getByLabel('Admin token').fill(token);
  await page.getByLabel('Admin token').press('Enter');
  await page.locator('#who').getByRole('button', { name: 'Sign out' }).waitFor();
}

module.exports = {
  FEAT, ENV, watchProblems, signIn, unlabelled, checkPage, nav, must,
  axeViolations, outOfReach, ok, standardData, ALL_PAGES, open, signInWith, focused,
  holdRequests,
};
