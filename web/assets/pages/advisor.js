// The advisor (docs/ai.md): a sentence becomes a proposed strategy, shown
// as a diff against the flag's strategies in that environment and applied
// only when a person confirms, with the ordinary strategy POST; and a
// changelog drafted from the audit log, to copy. The answer always says
// which advisor produced it (a model or the deterministic one) and what it
// did not understand. Nothing here changes a flag without a confirmation.
// A described change and a risk level become a draft release plan, shown
// step by step and started (PUT …/release-plan) only once confirmed.
import { api, featurePath, envPath, enc, ApiError, session } from '../api.js';
import { h, clear, field, select, toast, confirmDialog, showErrors, clearErrors, busy } from '../dom.js';
import { describeConstraint } from '../constraints.js';

// "30 min", "1 h": a duration in seconds, as the plan pages say it.
export const minutes = (s) => (s >= 3600 ? `${Math.round(s / 360) / 10} h` : `${Math.round(s / 60)} min`);

const METRIC_WORDS = {
  error_rate: 'Error rate', latency: 'Latency (geometric mean)', latency_mean: 'Latency (mean)',
  latency_quantile: 'Latency quantile', conversion: 'Conversion',
};

// A release plan (docs/guard.md) in sentences: its steps, what the guard
// watches, and what happens on a regression.
export function planView(plan, label) {
  const ms = plan.milestones || [];
  const steps = ms.map((m, i) => {
    const cond = [];
    if (m.minDurationSeconds) cond.push(`at least ${minutes(m.minDurationSeconds)}`);
    if (m.minExposures) cond.push(`at least ${m.minExposures.toLocaleString('en')} treatment exposures`);
    const who = (m.segments || []).length || (m.constraints || []).length ? ' of its audience' : ' of users';
    return h('li', {}, h('strong', {}, `${m.percent}%`), who,
      i === ms.length - 1 ? ' (the last step)' : cond.length ? `, for ${cond.join(' and ')}` : ', then the next step');
  });
  const metrics = (plan.metrics || []).map((m) => {
    const name = m.kind === 'latency_quantile' && m.quantile ? `Latency p${Math.round(m.quantile * 1000) / 10}` : METRIC_WORDS[m.kind] || m.kind;
    const dir = (m.direction || (m.kind === 'conversion' ? 'lower-is-worse' : 'higher-is-worse')) === 'lower-is-worse' ? 'lower is worse' : 'higher is worse';
    const tol = m.tolerance > 0 ? `, up to ${Math.round(m.tolerance * 1000) / 10}% worse tolerated` : ', any significant worsening counts';
    return h('li', {}, `${name} (${dir}${tol})`);
  });
  return h('div', { role: 'group', 'aria-label': label },
    h('h4', {}, 'Steps'), h('ol', { class: 'plan-steps' }, steps),
    h('h4', {}, 'The guard watches'), metrics.length ? h('ul', {}, metrics) : h('p', { class: 'small muted' }, 'No metric: steps advance on time and exposures only.'),
    h('p', {}, plan.mode === 'approval' ? 'A person approves each step.' : 'It advances by itself while the guard sees no harm.',
      ' On a regression ', plan.rollback === 'disable' ? 'the flag is turned off in the environment' : 'the rollout goes to 0%', '.',
      Number.isFinite(plan.alpha) ? ` Test level α = ${plan.alpha}.` : ''));
}

// The lines a strategy reads as, for the diff.
export function strategyLines(s, flagName) {
  const p = s.parameters || {};
  const out = [];
  let head;
  if (s.name === 'flexibleRollout') {
    head = `Gradual rollout: ${p.rollout ?? 100}% of ${p.stickiness && p.stickiness !== 'default' ? p.stickiness + 's' : 'users'}` +
      ` (group ${p.groupId || flagName || 'the flag'})`;
  } else if (s.name === 'default') {
    head = 'Standard: on for everyone who matches';
  } else {
    head = `${s.name}: ${Object.entries(p).map(([k, v]) => `${k}=${v}`).join(', ') || 'no parameters'}`;
  }
  if (s.title) head += ` — “${s.title}”`;
  if (s.disabled) head += ' [disabled]';
  out.push(head);
  for (const c of s.constraints || []) out.push(`    and ${describeConstraint(c)}`);
  for (const id of s.segments || []) out.push(`    and in segment #${id}`);
  for (const v of s.variants || []) out.push(`    variant ${v.name} (${v.weight / 10}%)`);
  return out;
}

function answerNote(r) {
  return [r.attempts ? ` · ${r.attempts} model call${r.attempts === 1 ? '' : 's'}` : '',
    r.recommendationId ? ` · kept as recommendation #${r.recommendationId} in the audit log` : ''];
}

// True when the strategy targets everyone at 100% (what a sentence that
// was not understood at all turns into).
function everyone(s) {
  const p = s.parameters || {};
  return !(s.constraints || []).length && !(s.segments || []).length &&
    (s.name === 'default' || (s.name === 'flexibleRollout' && String(p.rollout ?? '100') === '100'));
}

// Which advisor answered, in words ("Proposed by the model `x`").
export function advisorWords(answer, verb = 'Proposed') {
  const a = answer.advisor || '';
  if (a.startsWith('model:')) return [`${verb} by the model `, h('code', {}, a.slice(6))];
  return [`${verb} by the deterministic advisor (rules built into Vexil, no model)`];
}

// Words for an advisor failure, on top of describe()'s.
export function advisorError(root, err, opts = {}) {
  if (err instanceof ApiError && err.status === 502) {
    err.body = { ...(err.body || {}), message: opts.invalid || 'The model answered twice, and neither answer passed the checks, so nothing is proposed. Rephrase the sentence, or try again' };
  }
  return showErrors(root, err, opts);
}

export async function render(main, _params, query) {
  const [projects, envs] = await Promise.all([api('GET', '/projects'), api('GET', '/environments')]);
  const projectList = projects.projects || [];
  const envList = (envs.environments || []).slice().sort((a, b) => (a.sortOrder || 0) - (b.sortOrder || 0));

  main.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Advisor'),
    h('p', { class: 'muted' }, 'Describe who should get a flag; the advisor proposes a strategy. It only advises: nothing changes until you confirm. Every answer is kept in the audit log.'))));

  // --- targeting ------------------------------------------------------------
  const wantProject = query.get('project') || 'default';
  const project = select(projectList.map((p) => [p.id, p.name && p.name !== p.id ? `${p.name} (${p.id})` : p.id]), wantProject, { 'data-path': '/project' });
  const env = select(envList.map((e) => [e.name, `${e.name} (${e.type})`]), query.get('environment') || (envList.find((e) => e.type === 'production') || envList[0] || {}).name, { 'data-path': '/environment' });
  const flag = h('select', { 'data-path': '/flag' });
  const sentence = h('textarea', { rows: 3, 'data-path': '/sentence', spellcheck: 'true', value: query.get('sentence') || '' });
  const ask = h('button', { type: 'submit', class: 'primary' }, 'Propose a strategy');
  const result = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'panel', novalidate: true, 'aria-labelledby': 'h-target' },
    h('h2', { id: 'h-target' }, 'Turn a sentence into a strategy'),
    h('div', { class: 'row' }, field('Project', project), field('Environment', env), field('Flag', flag, { class: 'grow' })),
    field('Who should get it?', sentence, { hint: 'For example: “10% of pro users in Thailand and Vietnam on version 2.3 or newer”. Percentages, countries, plans and versions are understood without a model.' }),
    h('div', { class: 'actions' }, ask),
    result);

  async function loadFlags() {
    const want = flag.value || query.get('flag') || '';
    clear(flag);
    flag.append(h('option', { value: '' }, '— none: only propose —'));
    try {
      const r = await api('GET', `/projects/${enc(project.value)}/features?sortBy=name&limit=1000`);
      for (const f of r.features || []) flag.append(h('option', { value: f.name, selected: f.name === want }, f.name));
    } catch (err) { showErrors(form, err); }
  }
  project.addEventListener('change', () => { flag.value = ''; loadFlags(); });
  await loadFlags();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    clear(result);
    const body = { project: project.value, environment: env.value, sentence: sentence.value.trim() };
    if (flag.value) body.flag = flag.value;
    if (!body.sentence) {
      showErrors(form, new ApiError(400, { message: 'describe who should get the flag', details: [{ path: '/sentence', message: 'Write a sentence first: who should get the flag?' }] }, 'POST', ''));
      return;
    }
    await busy(ask, async () => {
      result.append(h('p', { class: 'muted' }, 'Asking the advisor…'));
      let answer;
      let current = [];
      try {
        answer = await api('POST', '/advisor/targeting', body);
        if (body.flag) {
          const f = await api('GET', featurePath(body.project, body.flag));
          current = ((f.environments || []).find((x) => x.name === body.environment) || {}).strategies || [];
        }
      } catch (err) {
        clear(result);
        // 422: the sentence was not fully understood; the advisor proposes
        // nothing rather than a broader rule (docs/ai.md).
        const words = err.status === 422 && err.body && Array.isArray(err.body.notUnderstood) ? err.body.notUnderstood : null;
        if (words) {
          result.append(h('div', { class: 'alert api-error', role: 'alert' },
            h('strong', {}, 'The advisor did not understand this sentence. '),
            `Nothing is proposed: “${words.join('”, “')}” could not be read as a rule, and a rule that leaves it out could reach more users than you meant. `,
            'Say who should get the flag with a percentage, countries, plans or versions, e.g. “25% of users in Germany”.'));
          sentence.setAttribute('aria-invalid', 'true');
          return;
        }
        advisorError(form, err, { after: ask.parentElement });
        return;
      }
      clear(result);
      result.append(proposal(body, answer, current));
    });
  });

  function proposal(body, answer, current) {
    const s = answer.strategy || {};
    const box = h('section', { class: 'proposal', 'aria-labelledby': 'h-proposal' });
    const notUnderstood = answer.notUnderstood || [];
    const rejected = everyone(s) && notUnderstood.length > 0;
    box.append(h('h3', { id: 'h-proposal' }, 'Proposal'),
      h('p', { class: 'small' }, ...advisorWords(answer), answer.attempts ? ` · ${answer.attempts} model call${answer.attempts === 1 ? '' : 's'}` : '',
        answer.recommendationId ? ` · kept as recommendation #${answer.recommendationId} in the audit log` : ''));
    if (answer.modelError) {
      box.append(h('div', { class: 'notice' }, h('strong', {}, 'The model could not answer. '),
        `${answer.modelError}. The deterministic advisor answered instead.`));
    }
    if (rejected) {
      box.append(h('div', { class: 'alert api-error', role: 'alert' },
        h('strong', {}, 'The advisor did not understand this sentence. '),
        `Nothing in “${notUnderstood.join(' ')}” became a rule, so the proposal would turn the flag on for everyone. It is not offered. `,
        'Say who should get the flag with a percentage, countries, plans or versions, e.g. “25% of users in Germany”.'));
      return box;
    }
    if (notUnderstood.length) {
      box.append(h('div', { class: 'notice', role: 'note' }, h('strong', {}, 'Not understood: '),
        notUnderstood.map((w, i) => [i ? ', ' : '', h('q', {}, w)]),
        '. These words did not become rules; check that the proposal says what you meant.'));
    }
    if (answer.explanation) box.append(h('p', {}, answer.explanation));
    // The policy check on every proposal: a large first step, or a model's
    // answer that differs from the sentence's plain reading, is said here
    // and confirmed in the dialog before anything is applied.
    const policy = answer.policy || {};
    const policyNotes = [...(policy.reasons || []), ...(policy.differences || []).map((d) => (typeof d === 'string' ? d : d.message || JSON.stringify(d)))];
    if (policyNotes.length) {
      box.append(h('div', { class: 'notice', role: 'note' }, h('strong', {}, 'Check before applying: '),
        h('ul', { class: 'small' }, policyNotes.map((r) => h('li', {}, r)))));
    }
    if ((answer.warnings || []).length) {
      box.append(h('ul', { class: 'small warnings' }, answer.warnings.map((w) => h('li', {}, w))));
    }
    if (!body.flag) {
      box.append(h('div', { class: 'diff', role: 'group', 'aria-label': 'Proposed strategy' },
        strategyLines(s, null).map((l) => h('div', { class: 'add' }, l))),
      h('p', { class: 'muted small' }, 'Choose a flag above and ask again to see it next to the flag\'s strategies and apply it.'));
      return box;
    }
    const lines = [];
    if (!current.length) lines.push(h('div', { class: 'keep' }, '(no strategies yet)'));
    current.forEach((c, i) => {
      if (i) lines.push(h('div', { class: 'keep' }, 'OR'));
      for (const l of strategyLines(c, body.flag)) lines.push(h('div', { class: 'keep' }, l));
    });
    if (current.length) lines.push(h('div', { class: 'add' }, 'OR'));
    for (const l of strategyLines(s, body.flag)) lines.push(h('div', { class: 'add' }, l));
    box.append(h('h4', {}, `Strategies of ${body.flag} in ${body.environment}, after applying`),
      h('div', { class: 'diff', role: 'group', 'aria-label': `Strategies of ${body.flag} in ${body.environment} after applying: lines marked + are added` }, lines));
    if (current.some((c) => !c.disabled && everyone(c))) {
      box.append(h('div', { class: 'notice', role: 'note' }, h('strong', {}, 'Note: '),
        `a strategy already turns ${body.flag} on for everyone in ${body.environment}; strategies are alternatives (OR), so the new one changes nothing until you remove that one.`));
    }
    const applyErr = h('div');
    const apply = h('button', { type: 'button', class: 'primary' }, `Apply to ${body.flag} in ${body.environment}…`);
    apply.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: `Add this strategy to ${body.flag} in ${body.environment}?`,
        text: h('div', {}, h('div', { class: 'diff' }, strategyLines(s, body.flag).map((l) => h('div', { class: 'add' }, l))),
          policyNotes.length ? h('ul', { class: 'small' }, policyNotes.map((r) => h('li', {}, r))) : null,
          h('p', {}, 'It is added next to the existing strategies and audited like any change. SDKs see it within seconds.')),
        confirm: 'Add strategy',
      });
      if (!ok) { apply.focus(); return; }
      const strategy = { name: s.name, parameters: s.parameters || {}, constraints: s.constraints || [], segments: s.segments || [], variants: s.variants || [], disabled: !!s.disabled };
      if (s.title) strategy.title = s.title;
      await busy(apply, async () => {
        try {
          await api('POST', `${envPath(body.project, body.flag, body.environment)}/strategies`, strategy);
        } catch (err) {
          showErrors(applyErr, err);
          return;
        }
        toast(`Strategy added to ${body.flag} in ${body.environment}.`);
        clear(applyErr);
        apply.replaceWith(h('p', { role: 'status' }, 'Applied. ',
          h('a', { href: `/flags/${enc(body.project)}/${enc(body.flag)}`, 'data-link': true }, `Open ${body.flag}`), '.'));
      });
    });
    box.append(applyErr, h('div', { class: 'actions' }, apply));
    return box;
  }

  // --- changelog ------------------------------------------------------------
  const period = select([['24', 'The last 24 hours'], ['168', 'The last 7 days'], ['720', 'The last 30 days'], ['custom', 'Between two dates']], '168');
  const from = h('input', { type: 'datetime-local', 'data-path': '/from' });
  const to = h('input', { type: 'datetime-local', 'data-path': '/to' });
  const range = h('div', { class: 'row', hidden: true }, field('From (UTC)', from), field('To (UTC)', to));
  period.addEventListener('change', () => { range.hidden = period.value !== 'custom'; });
  const clProject = select([['', 'All projects'], ...projectList.map((p) => [p.id, p.id])], '', { 'data-path': '/project' });
  const draft = h('button', { type: 'submit', class: 'primary' }, 'Draft a changelog');
  const clOut = h('div', { 'aria-live': 'polite' });
  const clForm = h('form', { class: 'panel', novalidate: true, 'aria-labelledby': 'h-changelog' },
    h('h2', { id: 'h-changelog' }, 'Draft a changelog'),
    h('p', { class: 'muted small' }, 'From the audit log: what changed in the flags during a period, in sentences, to paste into release notes.'),
    h('div', { class: 'row' }, field('Period', period), field('Project', clProject)), range,
    h('div', { class: 'actions' }, draft), clOut);
  clForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(clForm);
    clear(clOut);
    const body = {};
    if (period.value === 'custom') {
      if (from.value) body.from = new Date(from.value + 'Z').toISOString().replace(/\.\d+Z$/, 'Z');
      if (to.value) body.to = new Date(to.value + 'Z').toISOString().replace(/\.\d+Z$/, 'Z');
    } else {
      // No "to": the server's now, so a change made this very second counts.
      body.from = new Date(Date.now() - Number(period.value) * 3600000).toISOString().replace(/\.\d+Z$/, 'Z');
    }
    if (clProject.value) body.project = clProject.value;
    await busy(draft, async () => {
      let r;
      try { r = await api('POST', '/advisor/changelog', body); } catch (err) { advisorError(clForm, err, { after: draft.parentElement }); return; }
      const cl = r.changelog || {};
      const text = [cl.summary || '', '', ...(cl.entries || []).map((x) => `- ${x.flag}: ${x.text}`)].join('\n').trim();
      const area = h('textarea', { class: 'changelog', readonly: true, value: text });
      const copy = h('button', { type: 'button' }, 'Copy');
      copy.addEventListener('click', async () => {
        try { await navigator.clipboard.writeText(text); toast('Changelog copied.'); } catch (_e) {
          area.focus(); area.select(); toast('Select all is done: press Ctrl+C to copy.');
        }
      });
      clOut.append(h('p', { class: 'small' }, ...advisorWords(r, 'Drafted'),
        ` · ${r.eventCount ?? 0} audit event${r.eventCount === 1 ? '' : 's'} read`),
      r.modelError ? h('div', { class: 'notice' }, h('strong', {}, 'The model could not answer. '), `${r.modelError}. The deterministic advisor wrote this instead.`) : '',
      field('Changelog', area), h('div', { class: 'actions' }, copy));
    });
  });

  // --- release plan -----------------------------------------------------------
  const description = h('textarea', { rows: 3, 'data-path': '/description', spellcheck: 'true' });
  const risk = select([['low', 'Low'], ['medium', 'Medium'], ['high', 'High']], 'medium', { 'data-path': '/risk' });
  const plProject = select(projectList.map((p) => [p.id, p.id]), wantProject, { 'data-path': '/project' });
  const planBtn = h('button', { type: 'submit', class: 'primary' }, 'Draft a release plan');
  const plOut = h('div', { 'aria-live': 'polite' });
  const plForm = h('form', { class: 'panel', novalidate: true, 'aria-labelledby': 'h-plan' },
    h('h2', { id: 'h-plan' }, 'Draft a release plan'),
    h('p', { class: 'muted small' }, 'Describe the change and how risky it is; the advisor proposes the steps and the metrics the guard should watch. Nothing starts until you confirm.'),
    field('What changes?', description, { hint: 'For example: “a new payment provider in the checkout” or “a faster search index”.' }),
    h('div', { class: 'row' }, field('Risk', risk), field('Project', plProject)),
    h('div', { class: 'actions' }, planBtn), plOut);
  plForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(plForm);
    clear(plOut);
    const body = { description: description.value.trim(), risk: risk.value, project: plProject.value };
    if (!body.description) {
      showErrors(plForm, new ApiError(400, { message: 'describe the change', details: [{ path: '/description', message: 'Write what the flag changes first.' }] }, 'POST', ''));
      return;
    }
    await busy(planBtn, async () => {
      plOut.append(h('p', { class: 'muted' }, 'Asking the advisor…'));
      let r;
      try { r = await api('POST', '/advisor/plan', body); } catch (err) {
        clear(plOut);
        advisorError(plForm, err, { after: planBtn.parentElement, invalid: 'The model answered twice, and neither plan passed the checks, so nothing is proposed. Describe the change differently, or try again' });
        return;
      }
      clear(plOut);
      plOut.append(await draftedPlan(body, r));
    });
  });

  async function draftedPlan(body, r) {
    const plan = r.plan || {};
    const box = h('section', { class: 'proposal', 'aria-labelledby': 'h-drafted' },
      h('h3', { id: 'h-drafted' }, 'Proposed release plan'),
      h('p', { class: 'small' }, ...advisorWords(r), answerNote(r)),
      r.modelError ? h('div', { class: 'notice', role: 'note' }, h('strong', {}, 'The model could not answer. '), `${r.modelError}. The deterministic advisor answered instead.`) : '',
      r.explanation ? h('p', {}, r.explanation) : '',
      planView(plan, 'Proposed release plan'));
    // Where to start it: a flag of the project and an environment.
    const pflag = h('select', { 'data-path': '/flag' });
    try {
      const fl = await api('GET', `/projects/${enc(body.project)}/features?sortBy=name&limit=1000`);
      for (const f of fl.features || []) pflag.append(h('option', { value: f.name, selected: f.name === flag.value }, f.name));
    } catch (err) { showErrors(box, err); }
    const penv = select(envList.map((x) => [x.name, `${x.name} (${x.type})`]), env.value, { 'data-path': '/environment' });
    const startErr = h('div');
    const start = h('button', { type: 'button', class: 'primary' }, 'Start this plan…');
    if (!pflag.options.length) {
      box.append(h('p', { class: 'muted small' }, `The project ${body.project} has no flag yet: create the flag, then draft the plan again.`));
      return box;
    }
    start.addEventListener('click', async () => {
      const f = pflag.value;
      const en = penv.value;
      clear(startErr);
      // A plan already there is replaced: say so, and how it stands.
      let existing = null;
      try { existing = await api('GET', `${envPath(body.project, f, en)}/release-plan`); } catch (err) {
        if (err.status !== 404) { showErrors(startErr, err); return; }
      }
      const live = existing && !['completed', 'rolled-back'].includes(existing.state);
      const ms = plan.milestones || [];
      const ok = await confirmDialog({
        title: `Start this release plan for ${f} in ${en}?`,
        text: h('div', {},
          h('p', {}, `Steps: ${ms.map((m) => `${m.percent}%`).join(' → ')}. `,
            (plan.metrics || []).length ? `The guard watches ${plan.metrics.map((m) => (METRIC_WORDS[m.kind] || m.kind).toLowerCase()).join(', ')}. ` : 'No guard metric. ',
            plan.mode === 'approval' ? 'A person approves each step.' : 'It advances by itself.'),
          h('p', {}, `${f} is turned on in ${en} and its rollout strategy set to ${ms[0] ? ms[0].percent : 0}%; the guard then moves it step by step. An audit entry records it.`),
          existing ? h('p', { class: live ? 'notice' : '' }, `${f} already has a release plan in ${en} (${existing.state.replace(/-/g, ' ')}); this one replaces it`,
            live ? ' and starts over from its first step.' : '.') : ''),
        confirm: 'Start plan',
        danger: !!live,
      });
      if (!ok) { start.focus(); return; }
      await busy(start, async () => {
        try {
          await api('PUT', `${envPath(body.project, f, en)}/release-plan`, plan);
        } catch (err) {
          showErrors(startErr, err);
          return;
        }
        clear(startErr);
        toast(`Release plan started for ${f} in ${en}.`);
        start.replaceWith(h('p', { role: 'status' }, 'Started. ',
          h('a', { href: `/rollouts?feature=${enc(f)}`, 'data-link': true }, `Follow ${f} on the Rollouts page`), '.'));
      });
    });
    box.append(h('h4', {}, 'Start it'), h('div', { class: 'row' }, field('Flag', pflag), field('Environment', penv)), startErr, h('div', { class: 'actions' }, start));
    return box;
  }

  if (session.can('edit')) main.append(form, plForm, clForm);
  else {
    main.append(h('p', { class: 'notice' }, `You are signed in with the ${session.role} role: proposals meant to be applied (strategies, release plans) need the editor role. You can draft a changelog.`), clForm);
  }
  if (query.get('flag') && !sentence.value) sentence.focus();
}
