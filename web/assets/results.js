// Per-variant results, readable by people, from
// GET …/environments/{env}/results (docs/admin-api.md, "Results"): per arm
// the exposures, errors and conversions with their rates as percentages,
// latency in milliseconds; per variant and metric the difference from the
// baseline with its always-valid interval in the metric's own unit, and a
// verdict in words. A comparison the server could not evaluate says "not
// enough data yet" and shows no number that could be read as evidence.
// Used by the flag page, the rollouts page and the model gateway's page.
import { api, envPath } from './api.js';
import { h, badge } from './dom.js';

export const resultsPath = (project, flag, env, query = '') => `${envPath(project, flag, env)}/results${query}`;

const METRIC_WORDS = {
  error_rate: 'Error rate', conversion: 'Conversion', latency: 'Latency (geometric mean)',
  latency_mean: 'Latency (mean)', latency_quantile: 'Slow requests (share above the control\'s quantile)',
};
export const metricWords = (m) => METRIC_WORDS[m] || m;
const lowerIsWorse = (m) => m === 'conversion';

const fin = (v) => typeof v === 'number' && Number.isFinite(v);
// 0.0105 -> "1.05 %"; small rates keep two significant digits.
export function percent(v) {
  if (!fin(v)) return '—';
  const p = v * 100;
  if (p === 0) return '0 %';
  const a = Math.abs(p);
  const d = a >= 10 ? 1 : a >= 1 ? 2 : Math.min(6, 1 - Math.floor(Math.log10(a)));
  return `${Number(p.toFixed(d))} %`;
}
export function ms(v) {
  if (!fin(v)) return '—';
  return v >= 100 ? `${Math.round(v).toLocaleString('en')} ms` : `${Number(v.toPrecision(3))} ms`;
}
export function count(v) { return fin(v) ? Math.round(v).toLocaleString('en') : '—'; }
const sign = (s) => (s.startsWith('-') ? `−${s.slice(1)}` : `+${s}`);
// A difference of rates in percentage points.
function points(v) {
  if (!fin(v)) return '—';
  const p = v * 100;
  const a = Math.abs(p);
  const d = a >= 10 ? 1 : a >= 1 ? 2 : a > 0 ? Math.min(6, 1 - Math.floor(Math.log10(a))) : 0;
  return `${sign(Number(p.toFixed(d)).toString())} pt`;
}
// A log-ratio as a relative change: ln(1.1) -> "+10 %".
function logRatio(v) {
  if (!fin(v)) return '—';
  const r = (Math.exp(v) - 1) * 100;
  return `${sign(Number(r.toFixed(Math.abs(r) >= 10 ? 0 : 1)).toString())} %`;
}
function msDiff(v) { return fin(v) ? `${sign(Number(v.toPrecision(3)).toString())} ms` : '—'; }

// How one comparison's values and differences read.
function unitOf(c) {
  switch (c.metric) {
    case 'error_rate': case 'conversion': case 'latency_quantile':
      return { value: percent, diff: points };
    case 'latency': return { value: (v) => ms(Math.exp(v)), diff: logRatio }; // mean of ln(ms)
    case 'latency_mean': return { value: ms, diff: msDiff };
    default: return { value: (v) => (fin(v) ? String(Number(v.toPrecision(4))) : '—'), diff: (v) => (fin(v) ? String(Number(v.toPrecision(3))) : '—') };
  }
}

// The verdict of one comparison, in words: [text, badge kind].
export function verdict(c) {
  if (!c.evaluated) return ['not enough data yet', ''];
  if (c.harm) return ['worse', 'bad'];
  const iv = c.interval || {};
  const lo = iv.low;
  const hi = iv.high;
  if (fin(lo) && fin(hi)) {
    const up = lo > 0;
    const down = hi < 0;
    if (up || down) return [(up === lowerIsWorse(c.metric)) ? 'better' : 'worse', (up === lowerIsWorse(c.metric)) ? 'ok' : 'bad'];
  }
  return ['no difference shown', ''];
}

function source(r) {
  if (r.source === 'release-plan') {
    return `The release plan's run, compared within its ${r.epochs || 1} rollout step${r.epochs === 1 ? '' : 's'} as its guard saw it${r.planState ? ` (plan ${r.planState})` : ''}.`;
  }
  const from = r.from ? new Date(r.from) : null;
  const to = r.to ? new Date(r.to) : null;
  const hours = from && to ? Math.round((to - from) / 3600000) : 24;
  return `Impact data of the last ${hours} hours.`;
}

// The results document `r` as two tables (or a sentence when there is no
// data). opts.title: the heading (h3).
export function resultsView(r, opts = {}) {
  const arms = r.arms || [];
  const cmp = r.comparisons || [];
  const out = h('div', { class: 'results' });
  if (opts.title) out.append(h('h3', {}, opts.title));
  if (!arms.length) {
    out.append(h('p', { class: 'muted small' }, 'No data yet: no impact metrics were reported for this flag here',
      r.source === 'release-plan' ? ' since its plan started.' : ' in this period.',
      ' Applications report them to /api/client/impact; the model gateway does by itself.'));
    return out;
  }
  const level = Math.round((1 - (r.alpha || 0.05)) * 100);
  out.append(h('p', { class: 'muted small' }, source(r)));
  const hasLat = arms.some((a) => a.latencySamples > 0);
  const hasConv = arms.some((a) => a.conversions > 0);
  out.append(h('div', { class: 'table-wrap' }, h('table', { class: 'results-arms' },
    h('caption', { class: 'visually-hidden' }, 'Figures per variant'),
    h('thead', {}, h('tr', {}, ['Variant', 'Exposures', 'Errors', 'Error rate', hasConv ? 'Conversions' : null, hasConv ? 'Conversion rate' : null,
      hasLat ? 'Latency (mean)' : null, hasLat ? 'p50' : null, hasLat ? 'p99' : null].filter(Boolean).map((x) => h('th', { scope: 'col', class: x === 'Variant' ? '' : 'num' }, x)))),
    h('tbody', {}, arms.map((a) => h('tr', {},
      h('td', {}, h('strong', {}, a.variant === 'disabled' ? 'control (disabled)' : a.variant), a.baseline ? [' ', badge('baseline')] : ''),
      h('td', { class: 'num' }, count(a.exposures)),
      h('td', { class: 'num' }, count(a.errors)),
      h('td', { class: 'num' }, a.exposures > 0 ? percent(a.errorRate) : 'no data yet'),
      hasConv ? h('td', { class: 'num' }, count(a.conversions)) : null,
      hasConv ? h('td', { class: 'num' }, a.exposures > 0 ? percent(a.conversionRate) : 'no data yet') : null,
      hasLat ? h('td', { class: 'num' }, a.latencySamples > 0 ? ms(a.latencyMeanMs) : 'no data yet') : null,
      hasLat ? h('td', { class: 'num' }, a.latencySamples > 0 ? ms(a.latencyP50Ms) : '—') : null,
      hasLat ? h('td', { class: 'num' }, a.latencySamples > 0 ? ms(a.latencyP99Ms) : '—') : null))))));
  if (!cmp.length) {
    out.append(h('p', { class: 'muted small' }, arms.length < 2 ? 'Only one variant has data: nothing to compare yet.' : 'No metric to compare yet.'));
    return out;
  }
  out.append(h('div', { class: 'table-wrap' }, h('table', { class: 'results-cmp' },
    h('caption', { class: 'visually-hidden' }, 'Each variant against the baseline'),
    h('thead', {}, h('tr', {}, ['Variant', 'Metric', 'Baseline', 'Variant\'s value', 'Difference', `${level} % interval (always valid)`, 'Verdict']
      .map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, cmp.map((c) => {
      const u = unitOf(c);
      const [word, kind] = verdict(c);
      const iv = c.interval || {};
      const corrected = c.evaluated && c.crossed && fin(c.estimate) && fin(c.difference) && u.diff(c.estimate) !== u.diff(c.difference);
      return h('tr', {},
        h('td', {}, c.variant),
        h('td', {}, metricWords(c.metric)),
        h('td', { class: 'num' }, c.evaluated ? u.value(c.baselineValue) : '—'),
        h('td', { class: 'num' }, c.evaluated ? u.value(c.value) : '—'),
        h('td', { class: 'num' }, c.evaluated ? [u.diff(c.difference), corrected ? h('div', { class: 'small muted' }, `${u.diff(c.estimate)} corrected for stopping`) : ''] : '—'),
        h('td', { class: 'num' }, c.evaluated && fin(iv.low) && fin(iv.high) ? `${u.diff(iv.low)} to ${u.diff(iv.high)}` : '—'),
        h('td', {}, c.evaluated ? badge(word, kind) : h('span', { class: 'muted' }, word),
          // The one-sided bound the guard decides with: beyond the margin
          // exactly when "worse", while the two-sided interval may still
          // hold 0 (docs/guard.md).
          c.harm && fin(c.harmBound) ? h('div', { class: 'small muted' }, `${lowerIsWorse(c.metric) ? 'at most' : 'at least'} ${u.diff(c.harmBound)}`) : ''));
    })))));
  out.append(h('p', { class: 'muted small' }, `Intervals hold however often they are read. Rates are in percent, differences of rates in percentage points (pt); latency in milliseconds${cmp.some((c) => c.metric === 'latency') ? ', its geometric mean compared as a relative change' : ''}.`));
  return out;
}

// Loads and draws the results of `flag` in `env` into `box` (replacing
// what it held); a failure is said in words, not thrown.
export async function drawResults(box, project, flag, env, opts = {}) {
  try {
    const r = await api('GET', resultsPath(project, flag, env, opts.query || ''));
    box.replaceChildren(resultsView(r, opts));
  } catch (err) {
    if (err.status === 401) throw err;
    const msg = err.status === 404 && err.body && err.body.message === 'no such route'
      ? 'This server has no results endpoint.' : `The results could not be read: ${(err.body && err.body.message) || err.message}.`;
    box.replaceChildren(h('p', { class: 'muted small' }, msg));
  }
}
