// A new release plan from a form (docs/guard.md, "Release plans: API, CLI
// and plan format"): a flag and an environment, the steps (percentage,
// minimum time, minimum treatment exposures), the guard (metrics with the
// worsening they tolerate and the smallest effect the evidence gate must
// be able to see, or an explicit "time-based, unguarded"), what a missing
// piece of evidence does, approval mode, what a regression does, and
// webhooks. What the server would refuse is refused next to the field
// before anything is sent; the plan is started (PUT …/release-plan, the
// ordinary audited route) only after a confirmation that says what it will
// do, including that it replaces a plan the flag already has there. The
// server's refusals land next to the field they name.
import { api, envPath, enc } from '../api.js';
import { h, clear, field, select, checkbox, toast, confirmDialog, showErrors, clearErrors, nextId } from '../dom.js';

// The guard's metrics as the form offers them, with the server's defaults
// for the smallest effect (docs/guard.md, "Metrics").
const METRICS = [
  { id: 'error_rate', label: 'Error rate', help: 'higher is worse', body: { kind: 'error_rate' }, mde: 100, on: true },
  { id: 'latency', label: 'Latency (geometric mean)', help: 'higher is worse', body: { kind: 'latency' }, mde: 10 },
  { id: 'p99', label: 'Latency p99', help: 'the share of requests slower than the control\'s p99', body: { kind: 'latency_quantile', quantile: 0.99 }, mde: 100 },
  { id: 'conversion', label: 'Conversion', help: 'lower is worse', body: { kind: 'conversion' }, mde: 20 },
];
const DEFAULT_STEPS = [[5, 10], [25, 10], [50, 10], [100, 0]];

const whole = (v) => /^\d+$/.test(String(v).trim());

export async function render(main, _params, query, ctx) {
  const envs = ((await api('GET', '/environments')).environments || []).slice().sort((a, b) => (a.sortOrder || 0) - (b.sortOrder || 0));
  const envNames = envs.map((e) => e.name);
  const wantEnv = query.get('environment');
  const project = { value: query.get('project') || '' };

  const crumbs = h('div', { class: 'crumbs' }, h('a', { href: '/rollouts', 'data-link': true }, 'Rollouts'), ' › New release plan');
  main.append(crumbs, h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'New release plan'),
    h('p', { class: 'muted' }, 'The plan takes over the flag\'s gradual rollout in the environment and raises it step by step; its guard rolls it back when a metric gets significantly worse.'))));

  // --- the flag and the environment ----------------------------------------
  const listId = nextId('flags');
  const flagList = h('datalist', { id: listId });
  const flag = h('input', { value: query.get('feature') || '', list: listId, autocomplete: 'off', spellcheck: 'false', required: true, 'data-path': '/feature' });
  const env = select(envNames, wantEnv && envNames.includes(wantEnv) ? wantEnv : envNames.includes('production') ? 'production' : envNames[0], { 'data-path': '/environment' });
  let typing = null;
  flag.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(async () => {
      const q = flag.value.trim();
      if (!q) return;
      try {
        const r = await api('GET', `/features?query=${enc(q)}&limit=20&sortBy=name`);
        flagList.replaceChildren(...(r.features || []).map((f) => h('option', { value: f.name }, `${f.name} (${f.project})`)));
      } catch (_e) { /* the list is a help only */ }
    }, 200);
  });

  // --- steps -----------------------------------------------------------------
  const stepRows = [];
  const stepList = h('div', { class: 'plan-steps-edit' });
  function renumber() {
    stepRows.forEach((r, i) => {
      r.el.setAttribute('aria-label', `Step ${i + 1}`);
      r.percent.dataset.path = `/milestones/${i}/percent`;
      r.minutes.dataset.path = `/milestones/${i}/minDurationSeconds`;
      r.exposures.dataset.path = `/milestones/${i}/minExposures`;
      r.remove.setAttribute('aria-label', `Remove step ${i + 1}`);
      r.remove.disabled = stepRows.length === 1;
    });
  }
  function addStep(pct, mins, focus) {
    const r = {
      percent: h('input', { type: 'number', min: 1, max: 100, step: 1, value: pct ?? '', inputmode: 'numeric' }),
      minutes: h('input', { type: 'number', min: 0, step: 1, value: mins ?? 0, inputmode: 'numeric' }),
      exposures: h('input', { type: 'number', min: 0, step: 1, value: 0, inputmode: 'numeric' }),
    };
    r.remove = h('button', { type: 'button', class: 'small danger', onclick: () => { stepRows.splice(stepRows.indexOf(r), 1); r.el.remove(); renumber(); } }, 'Remove');
    r.el = h('div', { class: 'row step-row', role: 'group' },
      field('Rollout (%)', r.percent), field('At least (minutes)', r.minutes), field('At least (treatment exposures)', r.exposures), r.remove);
    stepRows.push(r);
    stepList.append(r.el);
    renumber();
    if (focus) r.percent.focus();
  }
  for (const [p, m] of DEFAULT_STEPS) addStep(p, m, false);
  const stepsSet = h('fieldset', { 'data-path': '/milestones' }, h('legend', {}, 'Steps'),
    h('p', { class: 'small muted' }, 'Whole percentages from 1 to 100, each above the one before. A step ends once its time and exposures are met and the guard has the evidence to go on; the last step is where the plan completes.'),
    stepList, h('button', { type: 'button', class: 'small', onclick: () => addStep('', 10, true) }, '+ Add a step'));

  // --- the guard ----------------------------------------------------------------
  const gname = nextId('guard');
  const guarded = h('input', { type: 'radio', name: gname, value: 'metrics', checked: true });
  const unguarded = h('input', { type: 'radio', name: gname, value: 'none' });
  const metricRows = METRICS.map((m) => {
    const on = checkbox(`${m.label} (${m.help})`, !!m.on);
    const tol = h('input', { type: 'number', min: 0, step: 1, value: 0, inputmode: 'decimal' });
    const mde = h('input', { type: 'number', min: 1, step: 1, placeholder: String(m.mde), inputmode: 'decimal' });
    const body = h('div', { class: 'row' },
      field('Tolerated worsening (%)', tol, { hint: '0: any significant worsening counts.' }),
      field('Smallest worsening to detect (%)', mde, { hint: `Empty: ${m.mde} %.` }));
    const sync = () => { body.hidden = !on.input.checked; };
    on.input.addEventListener('change', sync);
    sync();
    return { m, on, tol, mde, el: h('div', { class: 'metric-row' }, on.el, body) };
  });
  const metricsBox = h('div', { class: 'metrics-edit', 'data-path': '/metrics', tabindex: -1 }, metricRows.map((r) => r.el));
  const onTimeout = select([['hold', 'Hold and alert (audit log, webhooks)'], ['rollback', 'Roll back']], 'hold', { 'data-path': '/evidence/onTimeout' });
  const maxWait = h('input', { type: 'number', min: 0, step: 1, value: 60, inputmode: 'numeric', 'data-path': '/evidence/maxWaitSeconds' });
  const evidenceRow = h('div', { class: 'row' }, field('When a step lacks evidence', onTimeout), field('Wait for evidence at most (minutes)', maxWait));
  const unguardedNote = h('p', { class: 'notice', role: 'note' }, h('strong', {}, 'Time-based, unguarded. '),
    'The plan advances on time and exposures only: nothing watches the new variant, and nothing rolls it back by itself. It is shown so everywhere.');
  const guardSet = h('fieldset', {}, h('legend', {}, 'The guard'),
    h('div', { class: 'row' }, h('label', { class: 'check' }, guarded, 'Guarded by metrics'), h('label', { class: 'check' }, unguarded, 'Time-based, unguarded')),
    metricsBox, evidenceRow, unguardedNote);
  const syncGuard = () => {
    const g = guarded.checked;
    metricsBox.hidden = !g;
    evidenceRow.hidden = !g;
    unguardedNote.hidden = g;
  };
  guarded.addEventListener('change', syncGuard);
  unguarded.addEventListener('change', syncGuard);
  syncGuard();

  // --- how it runs -----------------------------------------------------------------
  const mode = select([['auto', 'Advances by itself'], ['approval', 'A person approves each step']], 'auto', { 'data-path': '/mode' });
  const rollback = select([['rollout-zero', 'Set the rollout to 0 %'], ['disable', 'Turn the flag off in the environment']], 'rollout-zero', { 'data-path': '/rollback' });
  const hooks = h('textarea', { rows: 2, spellcheck: 'false', placeholder: 'https://hooks.example.com/vexil', 'data-path': '/webhooks' });

  const submit = h('button', { type: 'submit', class: 'primary' }, 'Start the plan…');
  const form = h('form', { class: 'panel plan-form', novalidate: true },
    h('div', { class: 'row' }, field('Flag', flag, { class: 'grow', hint: 'Its name; suggestions appear as you type.' }), field('Environment', env)),
    flagList, stepsSet, guardSet,
    h('div', { class: 'row' }, field('Steps advance', mode), field('On a regression', rollback)),
    field('Webhooks (one URL a line)', hooks, { hint: 'Each gets a POST when the plan advances, holds, pauses, completes or rolls back. The operator\'s --egress-allow list says which hosts are allowed.' }),
    h('div', { class: 'actions' }, h('a', { class: 'button', href: '/rollouts', 'data-link': true }, 'Cancel'), submit));
  main.append(form);

  // A problem found here, before anything is sent: next to `el`.
  function refuse(el, message) {
    const id = nextId('err');
    el.setAttribute('aria-invalid', 'true');
    el.setAttribute('aria-describedby', ((el.getAttribute('aria-describedby') || '') + ' ' + id).trim());
    (el.closest('.field') || el.closest('fieldset') || el.parentElement).append(h('p', { class: 'field-error', id }, message));
    return { el, message };
  }

  // The body, or the problems (each already shown).
  function build() {
    const problems = [];
    const milestones = [];
    let prev = 0;
    stepRows.forEach((r) => {
      const p = r.percent.value.trim();
      if (!whole(p) || Number(p) < 1 || Number(p) > 100) problems.push(refuse(r.percent, 'A whole percentage from 1 to 100.'));
      else if (Number(p) <= prev) problems.push(refuse(r.percent, `Above the step before (${prev} %).`));
      else prev = Number(p);
      const mins = r.minutes.value.trim() || '0';
      if (!whole(mins)) problems.push(refuse(r.minutes, 'Whole minutes, 0 or more.'));
      const ex = r.exposures.value.trim() || '0';
      if (!whole(ex)) problems.push(refuse(r.exposures, 'A whole number, 0 or more.'));
      const m = { percent: Number(p) };
      if (Number(mins) > 0) m.minDurationSeconds = Number(mins) * 60;
      if (Number(ex) > 0) m.minExposures = Number(ex);
      milestones.push(m);
    });
    const body = { milestones, mode: mode.value, rollback: rollback.value };
    if (guarded.checked) {
      const metrics = [];
      for (const r of metricRows) {
        delete r.tol.dataset.path;
        delete r.mde.dataset.path;
        if (!r.on.input.checked) continue;
        const i = metrics.length;
        r.tol.dataset.path = `/metrics/${i}/tolerance`;
        r.mde.dataset.path = `/metrics/${i}/mde`;
        const m = { ...r.m.body };
        const tol = r.tol.value.trim() || '0';
        if (!Number.isFinite(Number(tol)) || Number(tol) < 0) problems.push(refuse(r.tol, 'A percentage, 0 or more.'));
        else if (Number(tol) > 0) m.tolerance = Number(tol) / 100;
        const mde = r.mde.value.trim();
        if (mde !== '' && (!Number.isFinite(Number(mde)) || Number(mde) <= 0)) problems.push(refuse(r.mde, 'A percentage above 0, or empty for the default.'));
        else if (mde !== '') m.mde = Number(mde) / 100;
        metrics.push(m);
      }
      if (!metrics.length) problems.push(refuse(metricsBox, 'Choose at least one metric for the guard, or say that the plan is time-based and unguarded.'));
      body.metrics = metrics;
      const wait = maxWait.value.trim() || '0';
      if (!whole(wait)) problems.push(refuse(maxWait, 'Whole minutes, 0 or more.'));
      body.evidence = { onTimeout: onTimeout.value, maxWaitSeconds: Number(wait) * 60 };
    } else {
      body.guard = 'none';
      body.metrics = [];
    }
    const urls = hooks.value.split('\n').map((x) => x.trim()).filter(Boolean);
    const badUrl = urls.find((u) => !/^https?:\/\/[^\s/]+/.test(u));
    if (badUrl) problems.push(refuse(hooks, `Not an http or https address: ${badUrl}`));
    if (urls.length) body.webhooks = urls;
    return { body, problems };
  }

  // The flag's project (names are unique across projects), or a refusal.
  async function projectOf(name) {
    const r = await api('GET', `/features?query=${enc(name)}&limit=100`);
    const f = (r.features || []).find((x) => x.name === name);
    return f ? f.project : null;
  }

  function summary(body, name, envName, existing) {
    const steps = body.milestones.map((m) => `${m.percent} %`).join(' → ');
    const guard = body.guard === 'none' ? 'Time-based, unguarded: nothing rolls it back by itself.'
      : `Guarded by ${body.metrics.map((m) => METRICS.find((x) => x.body.kind === m.kind && (x.body.quantile || 0) === (m.quantile || 0)).label.toLowerCase()).join(', ')}.`;
    return h('div', {},
      h('p', {}, `${name} in ${envName}: ${steps}. It takes over the flag's gradual rollout there (or adds one), sets it to ${body.milestones[0].percent} % and turns ${envName} on.`),
      h('p', {}, guard),
      existing ? h('p', { class: 'notice' }, h('strong', {}, 'It replaces the current plan '), `(${existing.state}${existing.summary && existing.summary.status ? `: ${existing.summary.status}` : ''}).`) : null);
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const name = flag.value.trim();
    const { body, problems } = build();
    if (!name) problems.unshift(refuse(flag, 'Which flag? Type its name.'));
    let proj = project.value;
    if (name && !problems.length) {
      try {
        proj = await projectOf(name);
      } catch (err) { showErrors(form, err); return; }
      if (!proj) problems.push(refuse(flag, `There is no flag named ${name}.`));
    }
    if (problems.length) {
      form.prepend(h('div', { class: 'alert api-error', role: 'alert' }, h('strong', {}, 'This cannot be started yet. '),
        'Correct what is marked below; nothing was sent.', h('ul', {}, problems.map((p) => h('li', {}, p.message)))));
      problems[0].el.focus();
      return;
    }
    let existing = null;
    try {
      existing = await api('GET', `${envPath(proj, name, env.value)}/release-plan`);
    } catch (err) {
      if (err.status !== 404) { showErrors(form, err); return; }
    }
    const ok = await confirmDialog({ title: `Start the release plan of ${name} in ${env.value}?`, text: summary(body, name, env.value, existing), confirm: 'Start the plan' });
    if (!ok) { submit.focus(); return; }
    try {
      await api('PUT', `${envPath(proj, name, env.value)}/release-plan`, body);
    } catch (err) {
      showErrors(form, err);
      return;
    }
    toast(`The release plan of ${name} in ${env.value} started.`);
    ctx.navigate(`/rollouts?feature=${enc(name)}`);
  });
  if (!flag.value) flag.focus();
  clear(flagList);
}
