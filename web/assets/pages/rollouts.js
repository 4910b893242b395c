// Rollouts: release plans (docs/guard.md). Each plan's state and milestone
// progress, the latest statistics per variant (with the guard's confidence
// sequence), series over time when the API gives them, the guard's decision
// log, and the buttons a person needs: pause, resume, approve, skip, roll
// back (each confirmed in a dialog).
//
// The routes are in ROUTES below, in one place; docs/ui.md says which parts
// were tested against the real API.
import { api, enc } from '../api.js';
import { h, clear, badge, toast, confirmDialog, showErrors, loadError, timeEl, busy } from '../dom.js';
import { lineChart, compact } from '../chart.js';

export const ROUTES = {
  list: '/release-plans',
  one: (id) => `/release-plans/${enc(id)}`,
  action: (id, verb) => `/release-plans/${enc(id)}/${verb}`,
};

const STATE_WORDS = {
  running: ['running', 'ok'], active: ['running', 'ok'], paused: ['paused', 'warn'],
  waiting_approval: ['waiting for approval', 'accent'], 'waiting-approval': ['waiting for approval', 'accent'],
  rolled_back: ['rolled back', 'bad'], 'rolled-back': ['rolled back', 'bad'], rollback: ['rolled back', 'bad'],
  complete: ['complete', 'ok'], completed: ['complete', 'ok'], draft: ['not started', ''],
};

const KIND_WORDS = {
  error_rate: 'Error rate', latency: 'Latency (geometric mean)', latency_mean: 'Latency (mean)',
  latency_quantile: 'Latency quantile', conversion: 'Conversion',
};

const pct = (v) => (Number.isFinite(v) ? `${Math.round(v * 10000) / 100}%` : '—');
const kindWords = (m) => {
  const k = KIND_WORDS[m.kind] || m.kind || 'metric';
  return m.kind === 'latency_quantile' && m.quantile ? `Latency p${Math.round(m.quantile * 1000) / 10}` : k;
};
const fmtFor = (kind) => (kind === 'error_rate' || kind === 'conversion' ? pct : compact);
const stateOf = (p) => String(p.state || p.status || '').toLowerCase();
const ms = (t) => (typeof t === 'number' ? (t < 1e12 ? t * 1000 : t) : Date.parse(t));

export async function render(main, _params, query) {
  main.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Rollouts'),
    h('p', { class: 'muted' }, 'Release plans raise a flag\'s rollout step by step while the guard\'s metrics stay healthy, and roll back by themselves when a sound sequential test says the new variant is worse.'))));
  const out = h('div');
  main.append(out);
  let plans;
  try {
    const r = await api('GET', ROUTES.list);
    plans = Array.isArray(r) ? r : (r.plans || r.releasePlans || []);
  } catch (err) {
    if (err.status === 404 && err.body && err.body.message === 'no such route') {
      out.append(h('div', { class: 'notice', role: 'note' }, h('strong', {}, 'Release plans are not available on this server. '),
        'This Vexil build has no release-plan API yet; the page shows plans once it does.'));
      return;
    }
    loadError(out, err);
    return;
  }
  if (!plans.length) {
    out.append(h('p', { class: 'panel empty' }, 'No release plan yet. A plan is created for a flag and an environment with the admin API or the CLI; it appears here with its progress.'));
    return;
  }
  const only = query.get('plan');
  for (const p of plans) {
    if (only && String(p.id) !== only) continue;
    const box = h('section', { class: 'panel', 'aria-label': `Release plan ${p.feature || p.flag || p.id}` });
    out.append(box);
    await drawPlan(box, p);
  }
}

async function drawPlan(box, summary) {
  let p = summary;
  try {
    const full = await api('GET', ROUTES.one(summary.id));
    p = full.plan || full;
  } catch (err) {
    loadError(box, err);
    return;
  }
  clear(box);
  const flag = p.feature || p.flag || p.featureName || '?';
  const st = stateOf(p);
  const [word, kind] = STATE_WORDS[st] || [st || 'unknown', ''];
  const milestones = p.milestones || [];
  const cur = Number.isInteger(p.currentMilestone) ? p.currentMilestone : (Number.isInteger(p.milestone) ? p.milestone : -1);
  const errors = h('div');
  box.append(h('div', { class: 'panel-head' },
    h('h2', {}, h('a', { href: `/flags/${enc(p.project || 'default')}/${enc(flag)}`, 'data-link': true }, flag), ` in ${p.environment || '?'}`),
    badge(word, kind), p.mode ? badge(p.mode === 'approval' ? 'needs approval at each step' : 'advances by itself') : null), errors);

  // Milestones
  box.append(h('ol', { class: 'milestones', 'aria-label': 'Milestones' }, milestones.map((m, i) => {
    const done = i < cur || st === 'complete' || st === 'completed';
    const now = i === cur && !done;
    return h('li', { class: done ? 'done' : now ? 'current' : '', 'aria-current': now ? 'step' : null },
      `${m.percent ?? m.rollout ?? '?'}%`, h('div', { class: 'small muted' },
        done ? 'done' : now ? 'now' : (m.minDurationSeconds ? `≥ ${Math.round(m.minDurationSeconds / 60)} min` : 'next')));
  })));
  if (p.milestoneStartedAt) box.append(h('p', { class: 'small muted' }, 'This step began ', timeEl(p.milestoneStartedAt), '.'));

  // Latest statistics (the last decision's verdicts)
  const last = p.latestDecision || p.statistics || p.lastDecision || null;
  const verdicts = (last && (last.metrics || last.verdicts)) || [];
  if (verdicts.length) {
    box.append(h('h3', {}, 'Latest statistics'), h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Metric', 'Control', 'Treatment', 'Difference (95% sequence)', 'p (always valid)', 'Verdict'].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, verdicts.map((v) => {
        const f = fmtFor(v.kind);
        return h('tr', {}, h('td', {}, kindWords(v)), h('td', { class: 'num' }, f(v.control)), h('td', { class: 'num' }, f(v.treatment)),
          h('td', { class: 'num' }, Number.isFinite(v.diff) ? `${f(v.diff)} (${f(v.csLow)} – ${f(v.csHigh)})` : '—'),
          h('td', { class: 'num' }, Number.isFinite(v.p) ? compact(v.p) : '—'),
          h('td', {}, v.regression ? badge('worse', 'bad') : v.evaluated === false ? badge('not enough data') : badge('healthy', 'ok')));
      })))));
  }

  // Series over time, one chart per metric, one line per variant, bands when given.
  const series = p.series || (last && last.series) || null;
  if (Array.isArray(series) && series.length) {
    box.append(h('h3', {}, 'Over time'));
    const byKind = new Map();
    for (const s of series) {
      const k = s.kind || s.metric;
      if (!byKind.has(k)) byKind.set(k, []);
      byKind.get(k).push(s);
    }
    for (const [k, list] of byKind) {
      box.append(lineChart({
        title: kindWords({ kind: k, quantile: list[0].quantile }),
        fmt: fmtFor(k),
        series: list.map((s, i) => ({
          label: s.variant || s.arm || `series ${i + 1}`, cls: `c-${(s.variant === 'control' || s.arm === 'control') ? 1 : (i + 2) % 6}`,
          points: (s.points || []).map((pt) => ({ t: ms(pt.t ?? pt.at ?? pt.time), v: pt.v ?? pt.value, lo: pt.lo ?? pt.low, hi: pt.hi ?? pt.high })),
        })),
      }));
    }
  } else {
    box.append(h('p', { class: 'small muted' }, 'No series over time from the API for this plan: the table above shows the latest figures.'));
  }

  // Buttons
  const act = (verb, label, text, danger) => h('button', {
    type: 'button', class: danger ? 'danger' : '',
    onclick: async (e) => {
      const b = e.currentTarget;
      const ok = await confirmDialog({ title: `${label} the rollout of ${flag}?`, text, confirm: label, danger });
      if (!ok) { b.focus(); return; }
      await busy(b, async () => {
        try {
          await api('POST', ROUTES.action(p.id, verb));
          toast(`${flag}: ${label.toLowerCase()} done.`);
          await drawPlan(box, p);
        } catch (err) { showErrors(errors, err); }
      });
    },
  }, label);
  const running = !['complete', 'completed', 'rolled_back', 'rolled-back', 'rollback'].includes(st);
  if (running) {
    const row = h('div', { class: 'actions' });
    if (st === 'paused') row.append(act('resume', 'Resume', 'The plan continues from this step; the guard keeps watching.'));
    else row.append(act('pause', 'Pause', 'The rollout stays at its current percentage until resumed. The guard still rolls back on a regression.'));
    if (st === 'waiting_approval' || st === 'waiting-approval' || p.mode === 'approval') row.append(act('approve', 'Approve', 'The plan moves to the next step when its time and exposures are met.'));
    row.append(act('skip', 'Skip', 'The plan moves to the next step now, without waiting for this one\'s time or exposures.'));
    row.append(act('rollback', 'Roll back', `The rollout of ${flag} goes back as the plan says (0% or off), and the plan stops. An audit entry records it.`, true));
    box.append(row);
  }

  // Decision log
  const log = p.decisions || p.decisionLog || p.log || [];
  box.append(h('details', { open: log.length > 0 && log.length <= 10 }, h('summary', {}, `The guard's decisions (${log.length})`),
    log.length ? h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['When', 'Action', 'Step', 'Why'].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, log.slice().reverse().map((d) => {
        const dec = d.decision || d;
        return h('tr', {}, h('td', {}, timeEl(d.at || d.createdAt || d.time)),
          h('td', {}, badge(String(dec.action || d.type || '?').replace(/_/g, ' '), /rollback/.test(dec.action || '') ? 'bad' : /pause/.test(dec.action || '') ? 'warn' : '')),
          h('td', { class: 'num' }, Number.isInteger(dec.milestone) ? String(dec.milestone + 1) : '—'),
          h('td', {}, dec.reason || d.reason || '', d.by || d.createdBy ? h('div', { class: 'small muted' }, `by ${d.by || d.createdBy}`) : null));
      })))) : h('p', { class: 'muted small' }, 'No decision yet.')));
}
