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

module.exports = { FEAT, ENV, watchProblems, signIn, unlabelled, checkPage, nav, must };
