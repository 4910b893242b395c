// Rollouts: release plans (docs/guard.md), live. For each plan: its state
// (running, held for evidence, paused and why, waiting for approval,
// rolled back and at which step, complete), the guard ("time-based,
// unguarded" when the plan has no metric) and its last decision in words;
// the milestones, the step it rolled back at marked as such; progress in
// the current step; the guard's latest statistics per variant and metric
// ("no data yet" for a metric that could not be judged, never a p-value);
// the per-variant results of the run (the results endpoint); charts over
// time built from the decisions the guard recorded in the audit log (each
// carries the statistics it was taken on) and from the plan's log (the
// rollout percentage); the decision log; and Pause / Resume / Approve /
// Skip / Roll back, each confirmed in a dialog. Nothing is invented: a
// chart with no recorded point says so.
//
// Live: the page listens to the admin event stream (live.js); a plan's
// change redraws that plan, a new plan appears, a scheduler tick redraws
// the plans still running (their statistics), without a Refresh. Plans
// are started from this page (New release plan, pages/plan_new.js) or
// from the advisor's drafts. "Ask for an analysis" shows the advisor's
// recommendation (docs/ai.md) and changes nothing; a plan the guard
// rolled back offers "Summarize the incident".
//
// The routes are in ROUTES below, in one place.
import { api, enc, envPath, session } from '../api.js';
import { h, clear, badge, toast, confirmDialog, showErrors, loadError, timeEl, busy } from '../dom.js';
import { lineChart, compact } from '../chart.js';
import { advisorWords, advisorError, minutes } from './advisor.js';
import { watch, liveWords, throttle } from '../live.js';
import { drawResults } from '../results.js';

export const ROUTES = {
  list: '/release-plans',
  one: (p) => `${envPath(p.project, p.feature, p.environment)}/release-plan`,
  action: (p, verb) => `${envPath(p.project, p.feature, p.environment)}/release-plan/${verb}`,
  events: (p) => `/search/events?feature=${enc(p.feature)}&environment=${enc(p.environment)}&limit=200`,
  analysis: '/advisor/rollout',
  incident: '/advisor/incident',
};

export const STATE_WORDS = {
  running: ['running', 'ok'], paused: ['paused', 'warn'], 'waiting-approval': ['waiting for approval', 'accent'],
  held: ['held', 'warn'], 'rolled-back': ['rolled back', 'bad'], completed: ['complete', 'ok'],
};
const FINISHED = new Set(['rolled-back', 'completed']);

const KIND_WORDS = {
  error_rate: 'Error rate', latency: 'Latency (geometric mean)', latency_mean: 'Latency (mean)',
  latency_quantile: 'Latency quantile', conversion: 'Conversion',
};

const pct = (v) => (Number.isFinite(v) ? `${Math.round(v * 10000) / 100}%` : '—');
const kindWords = (m) => (m.kind === 'latency_quantile' && m.quantile
  ? `Latency p${Math.round(m.quantile * 1000) / 10}` : KIND_WORDS[m.kind] || m.kind || 'metric');
// The guard's values are on its test's scale (docs/guard.md): proportions
// for rates and for the quantile guard (the share of slow requests), the
// mean of ln(ms) for the geometric mean, ms for the mean. People read
// them as percentages and milliseconds; differences of proportions in
// percentage points, of log-latencies as a relative change.
const isRate = (kind) => kind === 'error_rate' || kind === 'conversion' || kind === 'latency_quantile';
const msOf = (v) => (Number.isFinite(v) ? `${Number(v.toPrecision(v >= 100 ? 4 : 3))} ms` : '—');
const fmtFor = (kind) => (isRate(kind) ? pct : kind === 'latency' ? (v) => msOf(Math.exp(v)) : kind === 'latency_mean' ? msOf : compact);
const signed = (x, unit) => `${x > 0 ? '+' : ''}${x}${unit}`;
const diffFmt = (kind) => (isRate(kind) ? (v) => (Number.isFinite(v) ? signed(Math.round(v * 10000) / 100, ' pt') : '—')
  : kind === 'latency' ? (v) => (Number.isFinite(v) ? signed(Math.round((Math.exp(v) - 1) * 1000) / 10, ' %') : '—')
    : kind === 'latency_mean' ? (v) => (Number.isFinite(v) ? signed(Number(v.toPrecision(3)), ' ms') : '—') : compact);
// The same with more digits, where rounding would hide a difference.
const fineFmt = (kind) => (isRate(kind) ? (v) => signed(Math.round(v * 1e6) / 1e4, ' pt')
  : kind === 'latency' ? (v) => signed(Math.round((Math.exp(v) - 1) * 1e5) / 1e3, ' %') : (v) => String(Number(v.toPrecision(6))));
// A p-value as people read it: tiny ones are "< 0.0001", never "0".
const pWords = (p) => (!Number.isFinite(p) ? '—' : p < 0.0001 ? '< 0.0001' : String(Number(p.toPrecision(2))));
// The guard's one-sided always-valid bound (harmBound, docs/guard.md) in
// words that read with the verdict: the difference is at least this where
// higher is worse, at most this where lower is worse, and the verdict is
// "worse" exactly when the bound reaches the harm margin. When rounding
// would show a bound short of the margin equal to it, it gets more digits.
function boundWords(v) {
  if (!Number.isFinite(v.harmBound)) return '—';
  const d = diffFmt(v.kind);
  let b = d(v.harmBound);
  if (!v.regression && Number.isFinite(v.margin) && b === d(v.margin)) b = fineFmt(v.kind)(v.harmBound);
  return `${v.direction === 'lower_is_worse' ? 'at most' : 'at least'} ${b}`;
}
// Why a metric has no verdict yet, in words.
function notYet(v) {
  const e = v.evidence || {};
  if (!Number.isFinite(e.units) || e.units === 0 || !Number.isFinite(e.controlUnits) || e.controlUnits === 0) return 'no data yet';
  const need = Number.isFinite(e.needUnits) && e.needUnits > 0 ? ` of ${compact(e.needUnits)}` : '';
  return `not enough data yet (${compact(e.units)}${need} treatment, ${compact(e.controlUnits)} control)`;
}
const REC_WORDS = {
  INCREASE: ['raise the rollout', 'ok'], HOLD: ['keep the rollout where it is', 'accent'],
  DECREASE: ['lower the rollout', 'warn'], ROLLBACK: ['roll back to 0%', 'bad'],
};
const keyOf = (p) => `${p.project}\u0000${p.feature}\u0000${p.environment}`;

export async function render(main, _params, query, ctx) {
  const only = query.get('feature');
  const refresh = h('button', { type: 'button', onclick: () => ctx.navigate(location.pathname + location.search, { replace: true }) }, 'Refresh');
  const newPlan = session.can('edit')
    ? h('a', { class: 'button primary', href: `/rollouts/new${only ? `?feature=${enc(only)}` : ''}`, 'data-link': true }, '+ New release plan') : null;
  const liveLine = h('p', { class: 'small muted live-status', role: 'status' });
  main.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Rollouts'),
    h('p', { class: 'muted' }, 'Release plans raise a flag\'s rollout step by step while the guard\'s metrics stay healthy, and roll back by themselves when a sound sequential test says the new variant is worse.')),
  h('div', { class: 'row' }, only ? h('a', { class: 'button', href: '/rollouts', 'data-link': true }, 'All plans') : '', refresh, newPlan)), liveLine);
  const schedLine = h('div');
  const out = h('div');
  main.append(schedLine, out);
  const shown = new Map(); // key -> {box, summary, advice}
  let scheduler = null;
  let plans = [];

  async function loadList() {
    const r = await api('GET', ROUTES.list);
    plans = (r.plans || []).filter((p) => !only || p.feature === only);
    scheduler = r.scheduler || null;
    // Running plans first, then the most recently changed.
    plans.sort((a, b) => Number(FINISHED.has(a.state)) - Number(FINISHED.has(b.state)) || String(b.updatedAt).localeCompare(String(a.updatedAt)));
  }

  function drawScheduler(at) {
    clear(schedLine);
    const live = plans.some((p) => !FINISHED.has(p.state));
    if (at || (scheduler && scheduler.expiresMs > Date.now())) {
      const when = at ? at.atMs : scheduler.renewedMs;
      schedLine.append(h('p', { class: 'small muted' }, `Plans are checked by the scheduler of ${at ? at.owner : scheduler.owner}; last check `,
        timeEl(new Date(when).toISOString()), '.'));
    } else if (live) {
      schedLine.append(h('div', { class: 'notice', role: 'note' }, h('strong', {}, 'No scheduler is checking the plans. '),
        scheduler ? ['The last one (', scheduler.owner, ') stopped renewing its lease at ', timeEl(new Date(scheduler.renewedMs).toISOString()), '. '] : '',
        'Running plans neither advance nor roll back until a Vexil server runs its scheduler again.'));
    }
  }

  function drawEmpty() {
    if (plans.length) return;
    out.append(h('div', { class: 'panel empty' },
      h('p', {}, only ? `${only} has no release plan.` : 'No release plan yet.'),
      h('p', { class: 'small' }, 'A release plan raises a flag\'s rollout in steps (1 % → 5 % → 25 % → 100 %) and rolls it back by itself when its guard metrics get worse. ',
        session.can('edit') ? ['Start one with ', h('a', { href: `/rollouts/new${only ? `?feature=${enc(only)}` : ''}`, 'data-link': true }, 'New release plan'),
          ', from a flag\'s page, or from a draft of the Advisor.'] : 'An editor or an admin can start one.')));
  }

  // Draws every plan of the list: the boxes kept for plans still there,
  // and the keyboard focus with them (a live reload must not throw a
  // keyboard user back to the top of the page).
  async function drawAll() {
    const focused = out.contains(document.activeElement) ? document.activeElement : null;
    clear(out);
    drawScheduler(null);
    drawEmpty();
    // A plan deleted while shown stays, saying so, with the advisor's
    // answer if one was asked for (until the page is left).
    const keep = new Set(plans.map(keyOf));
    const gone = [...shown.entries()].filter(([k]) => !keep.has(k)).map(([, s]) => s);
    const drawn = plans.map((p) => {
      let s = shown.get(keyOf(p));
      if (!s) {
        s = { box: h('section', { class: 'panel', 'aria-label': `Release plan of ${p.feature} in ${p.environment}` }), advice: null };
        shown.set(keyOf(p), s);
      }
      s.summary = p;
      out.append(s.box);
      return drawPlan(s);
    });
    for (const s of gone) { drawGone(s); out.append(s.box); }
    if (focused && focused.isConnected) focused.focus();
    await Promise.all(drawn);
  }

  try {
    await loadList();
  } catch (err) {
    if (err.status === 404 && err.body && err.body.message === 'no such route') {
      out.append(h('div', { class: 'notice', role: 'note' }, h('strong', {}, 'Release plans are not available on this server. '),
        'This Vexil build has no release-plan API; the page shows plans once it does.'));
      return;
    }
    loadError(out, err);
    return;
  }
  await drawAll();

  // Live: what the server says changed is read again, nothing else.
  const redrawPlan = (p) => {
    const s = shown.get(keyOf(p));
    if (s) return drawPlan(s);
    return null;
  };
  const reloadAll = throttle(async () => {
    if (!ctx.isCurrent()) return;
    try { await loadList(); await drawAll(); } catch (err) { if (err.status !== 401) loadError(out, err); }
  }, 1000);
  const stale = new Map(); // key -> throttled redraw
  const redrawSoon = (p, ms = 1000) => {
    const k = keyOf(p);
    if (!stale.has(k)) stale.set(k, throttle(() => { if (ctx.isCurrent()) redrawPlan(p); }, ms));
    stale.get(k)();
  };
  ctx.live(only ? { feature: only } : {}, (ev) => {
    if (ev.type === 'change') {
      const e = ev.event;
      if (!e.feature || !e.environment) { if (only && e.feature === only) reloadAll(); return; }
      const p = { project: e.project, feature: e.feature, environment: e.environment };
      if (!shown.has(keyOf(p)) || /^release-plan-(started|deleted)$/.test(e.type)) reloadAll();
      else redrawSoon(p, 300);
    } else if (ev.type === 'tick') {
      drawScheduler(ev.tick);
      for (const s of shown.values()) if (!FINISHED.has(s.state || s.summary.state)) redrawSoon(s.summary, 3000);
    } else {
      reloadAll(); // reset, poll
    }
  }, { onStatus: (st) => { liveLine.textContent = liveWords(st); } });
}

// A plan that was deleted while shown: said in words; the advisor's part
// stays (an analysis asked for just before says the plan is gone).
function drawGone(s) {
  const { feature, environment } = s.summary;
  if (s.gone) return;
  s.gone = true;
  s.box.replaceChildren(h('p', { class: 'muted', role: 'note' }, `The release plan of ${feature} in ${environment} was deleted.`),
    s.advice || '');
}

// (Re)draws one plan into s.box, keeping what the person was doing there:
// the focused control (by its data-key), the open details, the advisor's
// answer.
async function drawPlan(s) {
  const summary = s.summary;
  let p;
  let events = [];
  try {
    const [full, ev] = await Promise.all([api('GET', ROUTES.one(summary)), api('GET', ROUTES.events(summary)).catch(() => ({ events: [] }))]);
    p = full;
    events = (ev.events || []).filter((e) => String(e.type).startsWith('release-plan-') && (!p.startedAt || e.createdAt >= p.startedAt));
  } catch (err) {
    if (err.status === 401) return;
    if (err.status === 404) { drawGone(s); return; }
    loadError(s.box, err);
    return;
  }
  s.state = p.state;
  s.gone = false;
  const box = s.box;
  const focusKey = box.contains(document.activeElement) && document.activeElement.dataset ? document.activeElement.dataset.key : null;
  const openDetails = new Set([...box.querySelectorAll('details[data-key]')].filter((d) => d.open).map((d) => d.dataset.key));
  const hadDetails = box.querySelector('details[data-key]') !== null;
  const parts = [];
  const cfg = p.plan || {};
  const milestones = cfg.milestones || [];
  const st = p.state || '';
  const [word, kind] = STATE_WORDS[st] || [st || 'unknown', ''];
  const cur = Number.isInteger(p.milestone) ? p.milestone : 0;
  const sum = p.summary || {};
  const unguarded = !(cfg.metrics || []).length;
  const errors = h('div');
  parts.push(h('div', { class: 'panel-head' },
    h('h2', {}, h('a', { href: `/flags/${enc(p.project)}/${enc(p.feature)}`, 'data-link': true }, p.feature), ` in ${p.environment}`),
    h('span', {}, badge(word, kind), ' ', badge(unguarded ? 'time-based, unguarded' : 'guarded', unguarded ? 'warn' : ''), ' ',
      badge(cfg.mode === 'approval' ? 'a person approves each step' : 'advances by itself'),
      ' ', badge(`on regression: ${cfg.rollback === 'disable' ? 'turn off' : 'rollout to 0%'}`))), errors);
  if (st === 'rolled-back') {
    parts.push(h('div', { class: 'alert rolled', role: 'note' }, h('strong', {}, 'Rolled back. '),
      sum.lastDecision ? `${sentence(sum.lastDecision)} ` : '',
      `The rollout is ${cfg.rollback === 'disable' ? 'off' : '0 %'} in ${p.environment} now.`));
  } else if (st === 'held') {
    parts.push(h('div', { class: 'notice', role: 'note' }, h('strong', {}, 'Held: waiting for evidence. '), p.holdReason ? sentence(p.holdReason) : ''));
  } else if (st === 'paused' && p.pauseReason) {
    parts.push(h('p', {}, h('strong', {}, 'Paused: '), p.pauseReason, '.'));
  }
  parts.push(h('p', { class: 'small' }, h('strong', {}, 'Guard: '), sum.guard || (unguarded ? 'time-based, unguarded' : ''),
    unguarded ? ' — it advances on time and exposures only; nothing rolls it back by itself.' : '',
    sum.lastDecision && st !== 'rolled-back' ? [h('br'), h('strong', {}, 'Last decision: '), sum.lastDecision] : ''));

  // Milestones: done, now, the step it rolled back at, not reached.
  parts.push(h('ol', { class: 'milestones', 'aria-label': 'Milestones' }, milestones.map((m, i) => {
    const rolledHere = st === 'rolled-back' && i === cur;
    const done = st === 'completed' || i < cur;
    const now = i === cur && !FINISHED.has(st);
    const note = rolledHere ? 'rolled back here' : done ? 'done' : now ? (st === 'held' ? 'held here' : st === 'paused' ? 'paused here' : 'now')
      : FINISHED.has(st) ? 'not reached' : m.minDurationSeconds ? `at least ${minutes(m.minDurationSeconds)}` : 'next';
    return h('li', { class: rolledHere ? 'rolled' : done ? 'done' : now ? 'current' : '', 'aria-current': now ? 'step' : null },
      `${m.percent}%`, h('div', { class: 'small muted' }, note));
  })));
  const m = milestones[cur];
  const last = p.last && !Array.isArray(p.last) ? p.last : null;
  if (m && !FINISHED.has(st)) {
    const elapsed = Math.max(0, (Date.now() - (p.milestoneStartedMs || Date.now())) / 1000);
    const bits = [];
    if (m.minDurationSeconds) {
      bits.push(h('div', { class: 'field' }, h('span', {}, `Time in this step: ${minutes(elapsed)} of at least ${minutes(m.minDurationSeconds)}`),
        h('progress', { max: m.minDurationSeconds, value: Math.min(elapsed, m.minDurationSeconds), 'aria-label': 'Time in this step' })));
    }
    if (m.minExposures) {
      const seen = last && last.treatment ? last.treatment.requests || 0 : 0;
      bits.push(h('div', { class: 'field' }, h('span', {}, `Treatment exposures: ${compact(seen)} of at least ${compact(m.minExposures)}`),
        h('progress', { max: m.minExposures, value: Math.min(seen, m.minExposures), 'aria-label': 'Treatment exposures' })));
    }
    if (bits.length) parts.push(h('div', { class: 'grid2' }, bits));
  }

  // The latest statistics (the guard's last look).
  const evaluated = (d) => d && Array.isArray(d.metrics) && d.metrics.some((v) => v.evaluated);
  // The latest look that judged something: the last one, or else the last
  // decision recorded with its statistics (a plan at 100 % has no control).
  let dec = last && last.decision;
  let decAt = last && last.at;
  let counts = last ? ` · ${compact(last.control ? last.control.requests : 0)} control and ${compact(last.treatment ? last.treatment.requests : 0)} treatment requests` : '';
  if (!evaluated(dec)) {
    const ev = events.find((e) => e.data && evaluated(e.data.statistics));
    if (ev) { dec = ev.data.statistics; decAt = ev.createdAt; counts = ` · recorded with the ${String(ev.type).replace('release-plan-', '')} decision`; }
  }
  const perVariant = (dec && Array.isArray(dec.metrics) ? dec.metrics : []).some((v) => v.variant && v.variant !== 'on') ||
    (p.arms || []).length > 1;
  if (dec && Array.isArray(dec.metrics) && dec.metrics.length) {
    parts.push(h('h3', {}, 'Latest statistics ', h('span', { class: 'muted small' }, 'at ', timeEl(decAt), counts)),
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, [perVariant ? 'Variant' : null, 'Metric', 'Control', 'Treatment', 'Difference', 'Bound (always valid)', 'Harm margin', 'p', 'Verdict']
          .filter(Boolean).map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', {}, dec.metrics.map((v) => {
          const f = fmtFor(v.kind);
          const d = diffFmt(v.kind);
          const ok = v.evaluated;
          // The verdict names its metric by index; the plan says which quantile.
          const mc = (cfg.metrics || [])[Number.isInteger(v.metric) ? v.metric : -1] || {};
          return h('tr', {}, perVariant ? h('td', {}, v.variant || 'treatment') : null, h('td', {}, kindWords({ ...v, quantile: mc.quantile })),
            h('td', { class: 'num' }, ok ? f(v.control) : '—'), h('td', { class: 'num' }, ok ? f(v.treatment) : '—'),
            h('td', { class: 'num' }, ok && Number.isFinite(v.diff) ? d(v.diff) : '—'),
            h('td', { class: 'num' }, ok ? boundWords(v) : '—'),
            h('td', { class: 'num' }, ok && Number.isFinite(v.margin) ? d(v.margin) : '—'),
            h('td', { class: 'num' }, ok ? pWords(v.p) : '—'),
            h('td', {}, v.regression ? badge('worse', 'bad') : ok ? badge('no harm shown', 'ok') : badge(notYet(v))));
        })))),
      h('p', { class: 'small muted' }, 'Bound: the guard\'s one-sided bound on the difference, valid however often it looks (at least this where higher is worse, at most this where lower is worse). A metric is worse exactly when its bound reaches the harm margin. A metric without data has no p-value: it is not evidence either way.'),
      dec.srm && dec.srm.evaluated ? h('p', { class: 'small' }, dec.srm.mismatch ? badge('traffic split is off', 'bad') : badge('traffic split as expected', 'ok'),
        ` sample-ratio check p = ${pWords(dec.srm.p)}`) : '',
      dec.reason ? h('p', { class: 'small muted' }, `The guard: ${dec.reason}`) : '');
  } else if (unguarded) {
    parts.push(h('p', { class: 'small muted' }, 'Time-based, unguarded: this plan has no guard metrics, so there are no statistics.'));
  } else {
    parts.push(h('p', { class: 'small muted' }, 'No data yet: the guard has not looked at this plan, or no metrics were reported.'));
  }

  // Per-variant results of the run (the results endpoint).
  const results = h('div', { 'aria-live': 'off' }, s.results ? [...s.results.childNodes] : h('p', { class: 'muted small' }, 'Reading the results…'));
  parts.push(h('h3', {}, 'Results per variant'), results);

  // Charts over time.
  parts.push(h('h3', {}, 'Over time'));
  const log = p.log || [];
  const steps = log.filter((e) => Number.isFinite(e.percent)).map((e) => ({ t: Date.parse(e.at), v: e.percent }));
  // A rolled-back plan exposes no one (rollout 0% or the flag turned off).
  const rb = log.find((e) => e.action === 'rollback');
  if (rb) steps.push({ t: Date.parse(rb.at), v: 0 });
  if (steps.length) {
    steps.push({ t: Math.max(Date.now(), steps[steps.length - 1].t), v: steps[steps.length - 1].v });
    parts.push(lineChart({ title: 'Rollout (% of users on the new variant)', series: [{ label: 'rollout', cls: 'c-2', step: true, points: steps }], fmt: (v) => `${Math.round(v * 10) / 10}%`, yMin: 0 }));
  }
  const looks = events.filter((e) => e.data && e.data.statistics && Array.isArray(e.data.statistics.metrics))
    .map((e) => ({ t: Date.parse(e.createdAt), metrics: e.data.statistics.metrics })).sort((a, b) => a.t - b.t);
  if (last && evaluated(last.decision)) looks.push({ t: Date.parse(last.at), metrics: last.decision.metrics });
  const kinds = (cfg.metrics || []).map((x, i) => ({ ...x, i }));
  const variants = perVariant ? [...new Set(looks.flatMap((l) => l.metrics.map((v) => v.variant)).filter(Boolean))] : [null];
  if (!kinds.length) parts.push(h('p', { class: 'small muted' }, 'This plan has no guard metrics: it advances on time and exposures only.'));
  for (const k of kinds) {
    for (const variant of variants.length ? variants : [null]) {
      // A verdict names its metric (and variant); older ones are by index.
      const pick = (l) => l.metrics.find((v, j) => (Number.isInteger(v.metric) ? v.metric === k.i : j === k.i) && (!variant || v.variant === variant));
      const pts = looks.map((l) => ({ t: l.t, v: pick(l) })).filter((x) => x.v && x.v.evaluated);
      const name = `${kindWords(k)}${variant ? ` of variant ${variant}` : ''}`;
      const f = fmtFor(k.kind);
      if (!pts.length) {
        parts.push(h('p', { class: 'small muted' }, `${name}: no data yet (no evaluated look).`));
        continue;
      }
      parts.push(h('div', { class: 'grid2' },
        lineChart({
          title: `${name} per variant`, fmt: f, width: 400, height: 220,
          series: [{ label: 'control', cls: 'c-1', points: pts.map((x) => ({ t: x.t, v: x.v.control })) },
            { label: variant || 'treatment', cls: 'c-3', points: pts.map((x) => ({ t: x.t, v: x.v.treatment })) }],
        }),
        lineChart({
          title: `${name}: treatment − control, with its confidence sequence`, width: 400, height: 220, fmt: diffFmt(k.kind),
          series: [{ label: 'difference', cls: 'c-2', points: pts.map((x) => ({ t: x.t, v: x.v.diff, lo: x.v.csLow, hi: x.v.csHigh })) },
            { label: 'harm margin', cls: 'c-5', points: pts.map((x) => ({ t: x.t, v: x.v.margin })) },
            // Decisions recorded before harmBound existed have no point here.
            { label: 'one-sided bound', cls: 'c-4', points: pts.filter((x) => Number.isFinite(x.v.harmBound)).map((x) => ({ t: x.t, v: x.v.harmBound })) }],
        })));
    }
  }

  // Buttons
  const act = (verb, label, text, danger) => h('button', {
    type: 'button', class: danger ? 'danger' : '', 'data-key': `act-${verb}`,
    onclick: async (e) => {
      const b = e.currentTarget;
      const ok = await confirmDialog({ title: `${label}: the rollout of ${p.feature} in ${p.environment}?`, text, confirm: label, danger });
      const again = () => (b.isConnected ? b : box.querySelector(`[data-key="act-${verb}"]`));
      if (!ok) { const x = again(); if (x) x.focus(); return; }
      await busy(b, async () => {
        try {
          await api('POST', ROUTES.action(p, verb));
        } catch (err) { showErrors(box.querySelector('.plan-errors') || errors, err); return; }
        toast(`${p.feature} in ${p.environment}: ${label.toLowerCase()} done.`);
        await drawPlan(s);
      });
    },
  }, label);
  errors.classList.add('plan-errors');
  if (!FINISHED.has(st) && session.can('edit')) {
    const row = h('div', { class: 'actions' });
    if (st === 'paused') row.append(act('resume', 'Resume', 'The plan continues from this step, and the traffic check starts over.'));
    else row.append(act('pause', 'Pause', 'The rollout stays at its current percentage until resumed.'));
    if (st === 'waiting-approval' || (cfg.mode === 'approval' && st === 'running')) row.append(act('approve', 'Approve', 'The plan may move to the next step once its time and exposures are met and the guard sees no harm.'));
    row.append(act('skip', 'Skip this step', 'The plan moves to the next step now, without waiting for this one\'s time, exposures or statistics.'));
    row.append(act('rollback', 'Roll back', `The plan stops and ${p.feature} goes back in ${p.environment} (${cfg.rollback === 'disable' ? 'turned off' : 'rollout to 0%'}). An audit entry records it.`, true));
    parts.push(row);
  }

  if (!s.advice || s.adviceState !== st) { s.advice = advice(p, events); s.adviceState = st; }
  parts.push(s.advice);

  parts.push(h('details', { open: hadDetails ? openDetails.has('log') : log.length > 0, 'data-key': 'log' }, h('summary', {}, `The guard's decisions (${log.length})`),
    log.length ? h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['When', 'Action', 'Step', 'Rollout then', 'Why', 'By'].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, log.slice().reverse().map((d) => h('tr', {}, h('td', {}, timeEl(d.at)),
        h('td', {}, badge(String(d.action).replace(/-/g, ' '), /rollback/.test(d.action) ? 'bad' : /pause|hold/.test(d.action) ? 'warn' : /advance|complete/.test(d.action) ? 'ok' : '')),
        h('td', { class: 'num' }, Number.isInteger(d.milestone) ? String(d.milestone + 1) : '—'),
        h('td', { class: 'num' }, Number.isFinite(d.percent) ? `${d.percent}%` : '—'),
        h('td', {}, d.reason || '', d.detail ? h('span', { class: 'small muted' }, ` — ${d.detail}`) : ''), h('td', {}, d.by || '')))))) : h('p', { class: 'muted small' }, 'No decision yet.')));

  box.replaceChildren(...parts);
  if (focusKey) {
    const again = box.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
    if (again) again.focus();
  }
  // The results last: they take a query of their own.
  s.results = h('div');
  await drawResults(s.results, p.project, p.feature, p.environment).catch(() => {});
  results.replaceChildren(...s.results.childNodes);
  s.results = results.cloneNode(true);
}

function sentence(t) {
  const x = String(t || '').trim();
  if (!x) return '';
  const y = x.charAt(0).toUpperCase() + x.slice(1);
  return /[.!?]$/.test(y) ? y : `${y}.`;
}

// The advisor's part of a plan: an analysis on request, and after a guard
// rollback an incident summary. Neither changes anything.
function advice(p, events) {
  const who = `${p.feature} in ${p.environment}`;
  const out = h('div', { 'aria-live': 'polite' });
  const row = h('div', { class: 'actions', role: 'group', 'aria-label': `Advisor for ${who}` });
  const ask = (button, label, call, draw, invalid) => busy(button, async () => {
    clear(out);
    out.append(h('p', { class: 'muted small' }, `${label}…`));
    let r;
    try { r = await call(); } catch (err) {
      clear(out);
      advisorError(out, err, { invalid });
      return;
    }
    clear(out);
    out.append(draw(r));
  });
  const analyse = h('button', { type: 'button', 'data-key': 'ask-analysis' }, 'Ask for an analysis');
  analyse.addEventListener('click', () => ask(analyse, 'Asking the advisor',
    () => api('POST', ROUTES.analysis, { project: p.project, environment: p.environment, flag: p.feature }),
    (r) => analysis(p, r),
    'The model answered twice, and neither answer agreed with the guard\'s statistics, so there is no analysis. Try again, or read the statistics above'));
  row.append(analyse);
  // The guard's rollback of this run: its event carries the statistics
  // with action "rollback" (a rollback by hand carries none).
  const rb = p.state === 'rolled-back' && events.find((e) => e.type === 'release-plan-rolled-back' &&
    e.data && e.data.statistics && e.data.statistics.action === 'rollback');
  if (rb) {
    const sum = h('button', { type: 'button', 'data-key': 'ask-incident' }, 'Summarize the incident');
    sum.addEventListener('click', () => ask(sum, 'Writing the incident summary',
      () => api('POST', ROUTES.incident, { eventId: rb.id }), (r) => incident(p, rb, r),
      'The model answered twice, and neither summary named the metric that caused the rollback, so none is shown. Try again'));
    row.append(sum);
  }
  return h('div', {}, row, out);
}

function modelNotice(r) {
  return r.modelError ? h('div', { class: 'notice', role: 'note' }, h('strong', {}, 'The model could not answer. '),
    `${r.modelError}. The deterministic advisor answered instead.`) : '';
}

function analysis(p, r) {
  const rec = String(r.recommendation || '');
  const [words, kind] = REC_WORDS[rec] || ['no recommendation', ''];
  const conf = Number.isFinite(r.confidence) ? `${Math.round(r.confidence * 100)}%` : '—';
  const auto = r.autoApply || {};
  const live = !FINISHED.has(p.state);
  return h('section', { class: 'proposal', 'aria-label': `Analysis of ${p.feature} in ${p.environment}` },
    h('h3', {}, 'Analysis'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Recommendation'), h('dd', {}, badge(rec || '—', kind), ` ${words}`),
      h('dt', {}, 'Next percentage'), h('dd', {}, Number.isFinite(r.nextPercent) ? `${r.nextPercent}%` : '—'),
      h('dt', {}, 'Confidence'), h('dd', {}, conf)),
    r.explanation ? h('p', {}, r.explanation) : '',
    h('p', { class: 'small' }, ...advisorWords(r, 'Answered'),
      r.attempts ? ` · ${r.attempts} model call${r.attempts === 1 ? '' : 's'}` : '',
      r.recommendationId ? ` · kept as recommendation #${r.recommendationId} in the audit log` : ''),
    modelNotice(r),
    auto.applied
      ? h('div', { class: 'notice', role: 'note' }, h('strong', {}, 'Applied by the server\'s policy. '),
        `The policy “${auto.policy}” acted on this advice${auto.reason ? `: ${auto.reason}` : ''}. The decision log records it.`)
      : h('p', { class: 'small muted' }, 'Nothing was changed. ',
        live ? 'To act on it, use the buttons above; each asks for confirmation.' : 'This plan is finished; a new plan is started from the Advisor page or the API.'));
}

function incident(p, ev, r) {
  const inc = r.incident || {};
  return h('section', { class: 'proposal', 'aria-label': `Incident summary of ${p.feature} in ${p.environment}` },
    h('h3', {}, inc.title || 'Incident summary'),
    h('p', { class: 'small' }, ...advisorWords(r, 'Written'), ' from audit event #', String(ev.id), ' of ', timeEl(ev.createdAt), '.'),
    modelNotice(r),
    inc.summary ? h('p', {}, inc.summary) : '',
    inc.impact ? h('p', {}, h('strong', {}, 'Impact: '), inc.impact) : '',
    (inc.nextSteps || []).length ? [h('h4', {}, 'Next steps'), h('ul', {}, inc.nextSteps.map((x) => h('li', {}, x)))] : '',
    h('p', { class: 'small muted' }, 'The summary only describes: the rollback stands.'));
}
