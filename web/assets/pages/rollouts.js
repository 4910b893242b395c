// Rollouts: release plans (docs/guard.md). For each plan: its state and
// milestone progress (time and exposures against the step's minimums), the
// guard's latest statistics per metric (control, treatment, the difference
// and the one-sided always-valid bound that goes with the verdict), charts over time built from
// the decisions the guard recorded in the audit log (each carries the
// statistics it was taken on) and from the plan's log (the rollout
// percentage), the decision log, and Pause / Resume / Approve / Skip /
// Roll back, each confirmed in a dialog. Nothing is invented: a chart with
// no recorded point says so. "Ask for an analysis" shows the advisor's
// recommendation (docs/ai.md) and changes nothing: a person acts on it with
// the buttons. A plan the guard rolled back offers "Summarize the incident",
// written from its release-plan-rolled-back audit event.
//
// The routes are in ROUTES below, in one place.
import { api, enc, envPath, session } from '../api.js';
import { h, clear, badge, toast, confirmDialog, showErrors, loadError, timeEl, busy } from '../dom.js';
import { lineChart, compact } from '../chart.js';
import { advisorWords, advisorError, minutes } from './advisor.js';

export const ROUTES = {
  list: '/release-plans',
  one: (p) => `${envPath(p.project, p.feature, p.environment)}/release-plan`,
  action: (p, verb) => `${envPath(p.project, p.feature, p.environment)}/release-plan/${verb}`,
  events: (p) => `/search/events?feature=${enc(p.feature)}&environment=${enc(p.environment)}&limit=200`,
  analysis: '/advisor/rollout',
  incident: '/advisor/incident',
};

const STATE_WORDS = {
  running: ['running', 'ok'], paused: ['paused', 'warn'], 'waiting-approval': ['waiting for approval', 'accent'],
  'rolled-back': ['rolled back', 'bad'], completed: ['complete', 'ok'],
};
const FINISHED = new Set(['rolled-back', 'completed']);

const KIND_WORDS = {
  error_rate: 'Error rate', latency: 'Latency (geometric mean)', latency_mean: 'Latency (mean)',
  latency_quantile: 'Latency quantile', conversion: 'Conversion',
};

const pct = (v) => (Number.isFinite(v) ? `${Math.round(v * 10000) / 100}%` : '—');
const kindWords = (m) => (m.kind === 'latency_quantile' && m.quantile
  ? `Latency p${Math.round(m.quantile * 1000) / 10}` : KIND_WORDS[m.kind] || m.kind || 'metric');
const fmtFor = (kind) => (kind === 'error_rate' || kind === 'conversion' ? pct : compact);
// Differences are on the test's scale: proportions for rates, the log of
// the ratio for latencies (docs/guard.md).
const isRate = (kind) => kind === 'error_rate' || kind === 'conversion';
const diffFmt = (kind) => (isRate(kind) ? (v) => (Number.isFinite(v) ? `${v > 0 ? '+' : ''}${Math.round(v * 10000) / 100} pt` : '—') : compact);
// The same with more digits, where rounding would hide a difference.
const fineFmt = (kind) => (isRate(kind) ? (v) => `${v > 0 ? '+' : ''}${Math.round(v * 1e6) / 1e4} pt` : (v) => String(Number(v.toPrecision(6))));
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
const REC_WORDS = {
  INCREASE: ['raise the rollout', 'ok'], HOLD: ['keep the rollout where it is', 'accent'],
  DECREASE: ['lower the rollout', 'warn'], ROLLBACK: ['roll back to 0%', 'bad'],
};

export async function render(main, _params, query, ctx) {
  const only = query.get('feature');
  const refresh = h('button', { type: 'button', onclick: () => ctx.navigate(location.pathname + location.search, { replace: true }) }, 'Refresh');
  main.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Rollouts'),
    h('p', { class: 'muted' }, 'Release plans raise a flag\'s rollout step by step while the guard\'s metrics stay healthy, and roll back by themselves when a sound sequential test says the new variant is worse.')),
  h('div', { class: 'row' }, only ? h('a', { class: 'button', href: '/rollouts', 'data-link': true }, 'All plans') : '', refresh)));
  const out = h('div');
  main.append(out);
  let plans;
  let scheduler = null;
  try {
    const r = await api('GET', ROUTES.list);
    plans = r.plans || [];
    scheduler = r.scheduler || null;
  } catch (err) {
    if (err.status === 404 && err.body && err.body.message === 'no such route') {
      out.append(h('div', { class: 'notice', role: 'note' }, h('strong', {}, 'Release plans are not available on this server. '),
        'This Vexil build has no release-plan API; the page shows plans once it does.'));
      return;
    }
    loadError(out, err);
    return;
  }
  if (only) plans = plans.filter((p) => p.feature === only);
  if (!plans.length) {
    out.append(h('p', { class: 'panel empty' }, only ? `${only} has no release plan.` : 'No release plan yet.', ' Create one for a flag and an environment with PUT …/environments/{env}/release-plan (docs/admin-api.md); it appears here with its progress.'));
    return;
  }
  // Who checks the plans (the server holding the scheduler's lease).
  const live = plans.some((p) => !FINISHED.has(p.state));
  if (scheduler && scheduler.expiresMs > Date.now()) {
    out.append(h('p', { class: 'small muted' }, `Plans are checked by the scheduler of ${scheduler.owner}; last check `,
      timeEl(new Date(scheduler.renewedMs).toISOString()), '.'));
  } else if (live) {
    out.append(h('div', { class: 'notice', role: 'note' }, h('strong', {}, 'No scheduler is checking the plans. '),
      scheduler ? ['The last one (', scheduler.owner, ') stopped renewing its lease at ', timeEl(new Date(scheduler.renewedMs).toISOString()), '. '] : '',
      'Running plans neither advance nor roll back until a Vexil server runs its scheduler again.'));
  }
  // Running plans first, then the most recently changed.
  plans.sort((a, b) => Number(FINISHED.has(a.state)) - Number(FINISHED.has(b.state)) || String(b.updatedAt).localeCompare(String(a.updatedAt)));
  for (const p of plans) {
    const box = h('section', { class: 'panel', 'aria-label': `Release plan of ${p.feature} in ${p.environment}` });
    out.append(box);
    await drawPlan(box, p);
  }
}

async function drawPlan(box, summary) {
  let p;
  let events = [];
  try {
    const [full, ev] = await Promise.all([api('GET', ROUTES.one(summary)), api('GET', ROUTES.events(summary)).catch(() => ({ events: [] }))]);
    p = full;
    events = (ev.events || []).filter((e) => String(e.type).startsWith('release-plan-') && (!p.startedAt || e.createdAt >= p.startedAt));
  } catch (err) {
    loadError(box, err);
    return;
  }
  clear(box);
  const cfg = p.plan || {};
  const milestones = cfg.milestones || [];
  const st = p.state || '';
  const [word, kind] = STATE_WORDS[st] || [st || 'unknown', ''];
  const cur = Number.isInteger(p.milestone) ? p.milestone : 0;
  const errors = h('div');
  box.append(h('div', { class: 'panel-head' },
    h('h2', {}, h('a', { href: `/flags/${enc(p.project)}/${enc(p.feature)}`, 'data-link': true }, p.feature), ` in ${p.environment}`),
    h('span', {}, badge(word, kind), ' ', badge(cfg.mode === 'approval' ? 'a person approves each step' : 'advances by itself'),
      ' ', badge(`on regression: ${cfg.rollback === 'disable' ? 'turn off' : 'rollout to 0%'}`))), errors);
  if (p.pauseReason && st === 'paused') box.append(h('p', {}, h('strong', {}, 'Paused: '), p.pauseReason, '.'));

  // Milestones and progress in the current one.
  box.append(h('ol', { class: 'milestones', 'aria-label': 'Milestones' }, milestones.map((m, i) => {
    const done = i < cur || st === 'completed';
    const now = i === cur && !FINISHED.has(st);
    return h('li', { class: done ? 'done' : now ? 'current' : '', 'aria-current': now ? 'step' : null },
      `${m.percent}%`, h('div', { class: 'small muted' },
        done ? 'done' : now ? 'now' : FINISHED.has(st) ? 'not reached' : m.minDurationSeconds ? `at least ${minutes(m.minDurationSeconds)}` : 'next'));
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
    if (bits.length) box.append(h('div', { class: 'grid2' }, bits));
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
  if (dec && Array.isArray(dec.metrics) && dec.metrics.length) {
    box.append(h('h3', {}, 'Latest statistics ', h('span', { class: 'muted small' }, 'at ', timeEl(decAt), counts)),
      h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Metric', 'Control', 'Treatment', 'Difference', 'Bound (always valid)', 'Harm margin', 'p', 'Verdict'].map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', {}, dec.metrics.map((v) => {
          const f = fmtFor(v.kind);
          const d = diffFmt(v.kind);
          return h('tr', {}, h('td', {}, kindWords(v)), h('td', { class: 'num' }, f(v.control)), h('td', { class: 'num' }, f(v.treatment)),
            h('td', { class: 'num' }, Number.isFinite(v.diff) ? d(v.diff) : '—'),
            h('td', { class: 'num' }, v.evaluated ? boundWords(v) : '—'),
            h('td', { class: 'num' }, Number.isFinite(v.margin) ? d(v.margin) : '—'),
            h('td', { class: 'num' }, Number.isFinite(v.p) ? compact(v.p) : '—'),
            h('td', {}, v.regression ? badge('worse', 'bad') : v.evaluated ? badge('no harm shown', 'ok') : badge('not enough data')));
        })))),
      h('p', { class: 'small muted' }, 'Bound: the guard\'s one-sided bound on the difference, valid however often it looks (at least this where higher is worse, at most this where lower is worse). A metric is worse exactly when its bound reaches the harm margin.'),
      dec.srm && dec.srm.evaluated ? h('p', { class: 'small' }, dec.srm.mismatch ? badge('traffic split is off', 'bad') : badge('traffic split as expected', 'ok'),
        ` sample-ratio check p = ${compact(dec.srm.p)}`) : '',
      dec.reason ? h('p', { class: 'small muted' }, `The guard: ${dec.reason}`) : '');
  } else {
    box.append(h('p', { class: 'small muted' }, 'No statistics yet: the guard has not looked at this plan, or no metrics were reported.'));
  }

  // Charts over time.
  box.append(h('h3', {}, 'Over time'));
  const log = p.log || [];
  const steps = log.filter((e) => Number.isFinite(e.percent)).map((e) => ({ t: Date.parse(e.at), v: e.percent }));
  // A rolled-back plan exposes no one (rollout 0% or the flag turned off).
  const rb = log.find((e) => e.action === 'rollback');
  if (rb) steps.push({ t: Date.parse(rb.at), v: 0 });
  if (steps.length) {
    steps.push({ t: Math.max(Date.now(), steps[steps.length - 1].t), v: steps[steps.length - 1].v });
    box.append(lineChart({ title: 'Rollout (% of users on the new variant)', series: [{ label: 'rollout', cls: 'c-2', step: true, points: steps }], fmt: (v) => `${Math.round(v * 10) / 10}%`, yMin: 0 }));
  }
  const looks = events.filter((e) => e.data && e.data.statistics && Array.isArray(e.data.statistics.metrics))
    .map((e) => ({ t: Date.parse(e.createdAt), metrics: e.data.statistics.metrics })).sort((a, b) => a.t - b.t);
  if (last && evaluated(last.decision)) looks.push({ t: Date.parse(last.at), metrics: last.decision.metrics });
  const kinds = (cfg.metrics || []).map((x, i) => ({ ...x, i }));
  if (!kinds.length) box.append(h('p', { class: 'small muted' }, 'This plan has no guard metrics: it advances on time and exposures only.'));
  for (const k of kinds) {
    const pts = looks.map((l) => ({ t: l.t, v: l.metrics[k.i] })).filter((x) => x.v && x.v.evaluated);
    const f = fmtFor(k.kind);
    if (!pts.length) {
      box.append(h('p', { class: 'small muted' }, `${kindWords(k)}: no evaluated look yet.`));
      continue;
    }
    box.append(h('div', { class: 'grid2' },
      lineChart({
        title: `${kindWords(k)} per variant`, fmt: f, width: 400, height: 220,
        series: [{ label: 'control', cls: 'c-1', points: pts.map((x) => ({ t: x.t, v: x.v.control })) },
          { label: 'treatment', cls: 'c-3', points: pts.map((x) => ({ t: x.t, v: x.v.treatment })) }],
      }),
      lineChart({
        title: `${kindWords(k)}: treatment − control, with its confidence sequence`, width: 400, height: 220, fmt: diffFmt(k.kind),
        series: [{ label: 'difference', cls: 'c-2', points: pts.map((x) => ({ t: x.t, v: x.v.diff, lo: x.v.csLow, hi: x.v.csHigh })) },
          { label: 'harm margin', cls: 'c-5', points: pts.map((x) => ({ t: x.t, v: x.v.margin })) },
          // Decisions recorded before harmBound existed have no point here.
          { label: 'one-sided bound', cls: 'c-4', points: pts.filter((x) => Number.isFinite(x.v.harmBound)).map((x) => ({ t: x.t, v: x.v.harmBound })) }],
      })));
  }

  // Buttons
  const act = (verb, label, text, danger) => h('button', {
    type: 'button', class: danger ? 'danger' : '',
    onclick: async (e) => {
      const b = e.currentTarget;
      const ok = await confirmDialog({ title: `${label}: the rollout of ${p.feature} in ${p.environment}?`, text, confirm: label, danger });
      if (!ok) { b.focus(); return; }
      await busy(b, async () => {
        try {
          await api('POST', ROUTES.action(p, verb));
        } catch (err) { showErrors(errors, err); return; }
        toast(`${p.feature} in ${p.environment}: ${label.toLowerCase()} done.`);
        await drawPlan(box, p);
      });
    },
  }, label);
  if (!FINISHED.has(st) && session.can('edit')) {
    const row = h('div', { class: 'actions' });
    if (st === 'paused') row.append(act('resume', 'Resume', 'The plan continues from this step, and the traffic check starts over.'));
    else row.append(act('pause', 'Pause', 'The rollout stays at its current percentage until resumed.'));
    if (st === 'waiting-approval' || (cfg.mode === 'approval' && st === 'running')) row.append(act('approve', 'Approve', 'The plan may move to the next step once its time and exposures are met and the guard sees no harm.'));
    row.append(act('skip', 'Skip this step', 'The plan moves to the next step now, without waiting for this one\'s time, exposures or statistics.'));
    row.append(act('rollback', 'Roll back', `The plan stops and ${p.feature} goes back in ${p.environment} (${cfg.rollback === 'disable' ? 'turned off' : 'rollout to 0%'}). An audit entry records it.`, true));
    box.append(row);
  }

  box.append(advice(p, events));

  box.append(h('details', { open: log.length > 0 }, h('summary', {}, `The guard's decisions (${log.length})`),
    log.length ? h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['When', 'Action', 'Step', 'Rollout then', 'Why', 'By'].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, log.slice().reverse().map((d) => h('tr', {}, h('td', {}, timeEl(d.at)),
        h('td', {}, badge(String(d.action).replace(/-/g, ' '), /rollback/.test(d.action) ? 'bad' : /pause/.test(d.action) ? 'warn' : /advance|complete/.test(d.action) ? 'ok' : '')),
        h('td', { class: 'num' }, Number.isInteger(d.milestone) ? String(d.milestone + 1) : '—'),
        h('td', { class: 'num' }, Number.isFinite(d.percent) ? `${d.percent}%` : '—'),
        h('td', {}, d.reason || ''), h('td', {}, d.by || '')))))) : h('p', { class: 'muted small' }, 'No decision yet.')));
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
  const analyse = h('button', { type: 'button' }, 'Ask for an analysis');
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
    const sum = h('button', { type: 'button' }, 'Summarize the incident');
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
