'use strict';
// Helpers shared by the gateway tests: admin calls that must succeed, the
// gateway's stats and one series of them. `live()` returns the current
// { srv, token } of the calling test file (set in its `before`).

const assert = require('node:assert/strict');

function gatewayHelpers(live) {
  async function admin(method, path, body) {
    const r = await live().srv.api(method, path, body === undefined ? {} : { body });
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
    return r.json;
  }

  async function stats() {
    const { srv, token } = live();
    const r = await srv.api('GET', '/v1/gateway/stats', { token });
    assert.equal(r.status, 200, r.text);
    return r.json;
  }

  // The series of (flag, variant, enabled), or zeros when there is none.
  function series(doc, flag, variant, enabled = true) {
    return doc.series.find((s) => s.flag === flag && s.variant === variant && s.enabled === enabled) ||
      { requests: 0, errors: 0, timeouts: 0, fallbacks: 0, disconnects: 0, conversions: 0, feedbackDown: 0,
        promptTokens: 0, completionTokens: 0, latencyMs: { count: 0 }, ttftMs: { count: 0 } };
  }

  return { admin, stats, series };
}

// Stops the server (whose stderr must show no sanitizer report: under
// `make asan`'s binary the stop leaves no leak or error behind) and the
// test model servers.
async function stopAll(srv, ...models) {
  if (srv) {
    await srv.stop();
    assert.doesNotMatch(srv.stderr, /(Address|Leak|Thread|UndefinedBehavior)Sanitizer|runtime error/);
  }
  for (const m of models) if (m) await m.close();
}

module.exports = { gatewayHelpers, stopAll };
