'use strict';
// What the browser tests share: watching the page for errors and CSP
// violations, signing in, the accessible-name check, the main navigation,
// and release plans of default/production driven with synthetic impact
// metrics posted with a client token to /api/client/impact.

const assert = require('node:assert/strict');
const { request, sleep, show } = require('../integration/server');

const FEAT = '/api/admin/projects/default/features';
const ENV = (flag) => `${FEAT}/${flag}/environments/production`;

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

const plan = (srv, flag) => must(srv, 'GET', `${ENV(flag)}/release-plan`);

// One batch of traffic at the plan's current percentage (exact counts).
function batch(flag, percent, total, ctlRate, trtRate) {
  const t = Math.round((total * percent) / 100);
  const c = total - t;
  const metrics = [];
  if (c > 0) metrics.push({ flag, enabled: false, requests: c, errors: Math.round(c * ctlRate), latencyMs: [100, 120, 150] });
  if (t > 0) metrics.push({ flag, variant: 'on', enabled: true, requests: t, errors: Math.round(t * trtRate), latencyMs: [100, 121, 149] });
  return { metrics };
}

// Posts traffic with the client token `client` until until(plan) holds;
// returns the plan.
async function drive(srv, client, flag, until, { ctl = 0.01, trt = 0.01, total = 4000, timeoutMs = 30000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let p = await plan(srv, flag);
  while (Date.now() < deadline) {
    if (until(p)) return p;
    if (['running', 'waiting-approval'].includes(p.state)) {
      const pct = p.plan.milestones[p.milestone].percent;
      const r = await request(srv.url, 'POST', '/api/client/impact', { token: client, body: batch(flag, pct, total, ctl, trt) });
      assert.equal(r.status, 202, show(r));
    }
    await sleep(60);
    p = await plan(srv, flag);
  }
  throw new Error(`plan of ${flag}: ${JSON.stringify({ state: p.state, milestone: p.milestone, log: p.log })}`);
}

module.exports = { FEAT, ENV, watchProblems, signIn, unlabelled, nav, must, plan, drive };
