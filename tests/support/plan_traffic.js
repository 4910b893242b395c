'use strict';
// Synthetic traffic for release plans of default/production: impact
// metrics posted with a client token to /api/client/impact until the plan
// (read from the admin API) reaches a state, while the scheduler ticks.
// Shared by the browser tests (tests/ui) and the advisor tests (tests/ai).

const assert = require('node:assert/strict');
const { request, sleep, show } = require('../integration/server');

const FEAT = '/api/admin/projects/default/features';
const ENV = (flag) => `${FEAT}/${flag}/environments/production`;

// The plan of `flag` (its release-plan GET must answer 200).
async function planOf(srv, flag) {
  const r = await srv.api('GET', `${ENV(flag)}/release-plan`);
  assert.equal(r.status, 200, `GET ${ENV(flag)}/release-plan: ${show(r)}`);
  return r.json;
}

// One batch of traffic at the plan's current percentage (exact counts).
function batch(flag, percent, total, ctlRate, trtRate) {
  const t = Math.round((total * percent) / 100);
  const c = total - t;
  const metrics = [];
  if (c > 0) metrics.push({ flag, enabled: false, requests: c, errors: Math.round(c * ctlRate), latencyMs: [100, 120, 150] });
  if (t > 0) metrics.push({ flag, variant: 'on', enabled: true, requests: t, errors: Math.round(t * trtRate), latencyMs: [100, 121, 149] });
  return { metrics };
}

// Posts traffic (while the plan runs or waits for approval) until
// until(plan) holds; returns that plan.
async function drive(srv, client, flag, { until, ctl = 0.01, trt = 0.01, total = 4000, timeoutMs = 30000 }) {
  const deadline = Date.now() + timeoutMs;
  let p = await planOf(srv, flag);
  while (Date.now() < deadline) {
    if (until(p)) return p;
    if (['running', 'waiting-approval'].includes(p.state)) {
      const pct = p.plan.milestones[p.milestone].percent;
      const r = await request(srv.url, 'POST', '/api/client/impact', { token: client, body: batch(flag, pct, total, ctl, trt) });
      assert.equal(r.status, 202, show(r));
    }
    await sleep(60);
    p = await planOf(srv, flag);
  }
  throw new Error(`plan of ${flag}: ${JSON.stringify({ state: p.state, milestone: p.milestone, log: p.log })}`);
}

module.exports = { FEAT, ENV, planOf, batch, drive };
