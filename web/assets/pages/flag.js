// One flag: its environments with their strategies (constraint editor,
// segments), variants (weights, validated payloads), dependencies, tags,
// and the playground that explains why the flag is on or off for a context.
// A release plan shows where it acts: its state, percentage in force and
// guard at the top of its environment, and on the strategy it controls;
// after a rollback the page says so there ("rolled back at 25 % because
// …"), never a bare 0 % next to a green "on". Editing or deleting a
// strategy a running plan controls asks first, in words, to pause the plan
// (the API's ?pausePlan=true, audited), never silently. The page follows
// the flag live (live.js) and shows the per-variant results of each
// environment with a plan or variants.
import { api, featurePath, envPath, enc, session } from '../api.js';
import {
  h, clear, field, select, checkbox, switchButton, badge, toast, confirmDialog, openDialog,
  showErrors, clearErrors, loadError, timeEl,
} from '../dom.js';
import { constraintEditor, describeConstraint, CONTEXT_FIELDS } from '../constraints.js';
import { ipProblem } from '../check.js';
import { summarize, usageFigure, totals } from './usage.js';
import { OWNS, planNote } from '../plans.js';
import { drawResults } from '../results.js';
import { throttle } from '../live.js';

const STRATEGIES = [
  ['flexibleRollout', 'Gradual rollout'],
  ['default', 'Standard (on for everyone)'],
  ['userWithId', 'User IDs'],
  ['remoteAddress', 'IP addresses'],
  ['applicationHostname', 'Host names'],
];
const LIST_PARAMS = { userWithId: ['userIds', 'User IDs'], remoteAddress: ['IPs', 'IP addresses'], applicationHostname: ['hostNames', 'Host names'] };
const strategyLabel = (n) => (STRATEGIES.find(([v]) => v === n) || [n, n])[1];
// A strategy as people named it: its title, else what it is.
const strategyName = (s) => (s.title && s.title.trim()) || strategyLabel(s.name);

export async function render(main, params, _query, ctx) {
  const { project, name } = params;
  const base = featurePath(project, name);
  let flag;
  let segments = [];
  let allFlags = [];
  let customs = []; // custom strategy definitions (GET /strategies)

  const head = h('div');
  const envSection = h('section', { 'aria-labelledby': 'h-envs' });
  const depSection = h('section', { class: 'panel', 'aria-labelledby': 'h-deps' });
  const tagSection = h('section', { class: 'panel', 'aria-labelledby': 'h-tags' });
  const playSection = h('section', { class: 'panel', 'aria-labelledby': 'h-play' });
  const usageSection = h('section', { class: 'panel', 'aria-labelledby': 'h-usage' });
  const resultsSection = h('section', { class: 'panel', 'aria-labelledby': 'h-results' });
  main.append(head, envSection, resultsSection, h('div', { class: 'grid2' }, depSection, tagSection), usageSection, playSection);

  async function load() {
    const [f, s, all, defs] = await Promise.all([api('GET', base), api('GET', '/segments'),
      session.can('edit') ? api('GET', `/projects/${enc(project)}/features?sortBy=name&limit=1000`) : { features: [] },
      api('GET', '/strategies')]);
    flag = f;
    segments = s.segments || [];
    customs = (defs.strategies || []).filter((d) => d.editable);
    allFlags = all.features || [];
  }

  function draw() {
    drawHead();
    drawEnvironments();
    drawDependencies();
    drawTags();
  }

  function drawHead() {
    clear(head);
    const staleBtn = h('button', { type: 'button', onclick: async () => {
      try {
        flag = await api('PUT', base, { stale: !flag.stale });
        toast(flag.stale ? `${flag.name} is marked stale.` : `${flag.name} is not stale any more.`);
        drawHead();
      } catch (err) { showErrors(head, err); }
    } }, flag.stale ? 'Mark not stale' : 'Mark stale');
    const archiveBtn = h('button', { type: 'button', class: 'danger', onclick: async () => {
      const ok = await confirmDialog({ title: `Archive ${flag.name}?`, text: 'SDKs stop seeing it. An archived flag can be revived from the Archived page.', confirm: 'Archive', danger: true });
      if (!ok) return;
      try {
        await api('DELETE', base);
        toast(`${flag.name} archived.`);
        ctx.navigate('/flags');
      } catch (err) { showErrors(head, err); }
    } }, 'Archive');
    const desc = h('input', { value: flag.description || '', 'data-path': '/description', 'aria-label': 'Description' });
    const saveDesc = h('button', { type: 'submit', class: 'small' }, 'Save description');
    const descForm = h('form', { class: 'row' }, h('div', { class: 'field grow' }, desc), saveDesc);
    descForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        flag = await api('PUT', base, { description: desc.value });
        clearErrors(head);
        toast('Description saved.');
      } catch (err) { showErrors(head, err); }
    });
    const edit = session.can('edit');
    head.append(
      h('div', { class: 'crumbs' }, h('a', { href: '/flags', 'data-link': true }, 'Flags'), ' › ', project),
      h('div', { class: 'page-head' },
        h('div', {},
          h('h1', {}, flag.name),
          h('p', {}, badge(flag.type, 'accent'), badge(`project ${flag.project}`), flag.stale ? badge('stale', 'warn') : null,
            h('span', { class: 'muted small' }, ' created ', timeEl(flag.createdAt), ' · updated ', timeEl(flag.updatedAt)))),
        h('div', { class: 'row' },
          edit ? h('a', { class: 'button', href: `/advisor?project=${enc(project)}&flag=${enc(flag.name)}`, 'data-link': true }, 'Ask the advisor') : null,
          h('a', { class: 'button', href: `/rollouts?feature=${enc(flag.name)}`, 'data-link': true }, 'Rollouts'),
          h('a', { class: 'button', href: `/audit?feature=${enc(flag.name)}`, 'data-link': true }, 'History'),
          edit ? staleBtn : null, edit ? archiveBtn : null)),
      edit ? h('div', { class: 'panel' }, descForm)
        : h('div', { class: 'panel' }, h('p', { class: 'flag-description' }, flag.description || h('span', { class: 'muted' }, 'No description.')),
          h('p', { class: 'muted small' }, `You are signed in with the ${session.role} role: you can look at this flag and ask the playground, but not change it.`)));
  }

  // --- environments -------------------------------------------------------

  function drawEnvironments() {
    clear(envSection);
    envSection.append(h('h2', { id: 'h-envs' }, 'Environments'));
    const envs = (flag.environments || []).slice().sort((a, b) => a.sortOrder - b.sortOrder);
    for (const env of envs) envSection.append(envCard(env));
  }

  function envCard(env) {
    const box = h('div', { class: 'env', 'aria-label': `Environment ${env.name}`, role: 'region' });
    const errors = h('div');
    const toggle = switchButton(env.enabled, `${flag.name} in ${env.name}`, async (want, btn) => {
      if (env.type === 'production') {
        const ok = await confirmDialog({
          title: `${want ? 'Enable' : 'Disable'} ${flag.name} in ${env.name}?`,
          text: `${env.name} is a production environment: SDKs connected to it see the change within seconds.`,
          confirm: `${want ? 'Enable' : 'Disable'} in ${env.name}`, danger: !want,
        });
        if (!ok) { btn.focus(); return; }
      }
      try {
        await api('POST', `${envPath(project, name, env.name)}/${want ? 'on' : 'off'}`);
        toast(`${flag.name} is now ${want ? 'on' : 'off'} in ${env.name}.`);
        await refresh();
      } catch (err) { showErrors(errors, err); }
    }, env.type === 'production' ? 'prod' : '');
    const body = h('div', { class: 'env-body' }, errors);
    const edit = session.can('edit');
    const rp = env.releasePlan;
    const rolled = rp && rp.state === 'rolled-back';
    box.append(h('div', { class: 'env-head' },
      edit ? toggle : null,
      h('h3', {}, env.name, ' ', badge(env.type, env.type === 'production' ? 'warn' : ''), ' ',
        env.enabled ? badge('on', 'ok') : badge('off'), rolled && env.enabled ? badge(`rolled back: ${rp.percent} %`, 'bad') : null),
      edit ? h('button', { type: 'button', class: 'small', onclick: () => editStrategy(env, null) }, `+ Add strategy`) : null,
      edit ? h('button', { type: 'button', class: 'small', onclick: () => editVariants(env) }, `Variants (${(env.variants || []).length})`) : null,
      edit && !(rp && (OWNS.has(rp.state) || rp.state === 'paused'))
        ? h('a', { class: 'button small', href: `/rollouts/new?project=${enc(project)}&feature=${enc(flag.name)}&environment=${enc(env.name)}`, 'data-link': true,
          'aria-label': `Start a release plan in ${env.name}` }, 'Start a release plan') : null), body);
    if (rp) body.append(planNote(rp, env.name, `/rollouts?feature=${enc(flag.name)}`));

    const strategies = env.strategies || [];
    if (strategies.length === 0) {
      body.append(h('p', { class: 'muted small' }, env.enabled
        ? 'No strategies: turning it on added a 100% rollout, or the list was emptied.'
        : 'No strategies yet. Turning the environment on adds a 100% rollout; add a strategy to target users.'));
    }
    strategies.forEach((s, i) => {
      if (i > 0) body.append(h('div', { class: 'or-sep' }, 'OR'));
      body.append(strategyCard(env, s));
    });
    if ((env.variants || []).length) {
      const total = env.variants.reduce((a, v) => a + (v.weight || 0), 0) || 1;
      body.append(h('p', { class: 'small muted' }, 'Variants: ', env.variants.map((v) => h('span', { class: 'chip' }, `${v.name} ${Math.round((v.weight / total) * 1000) / 10}%`))));
    }
    return box;
  }

  function strategyCard(env, s) {
    const p = s.parameters || {};
    let summary = '';
    if (s.name === 'flexibleRollout') summary = `${p.rollout ?? 100}% of ${p.stickiness && p.stickiness !== 'default' ? p.stickiness + 's' : 'users'} (group ${p.groupId || flag.name})`;
    else if (LIST_PARAMS[s.name]) summary = `${LIST_PARAMS[s.name][1]}: ${p[LIST_PARAMS[s.name][0]] || '—'}`;
    else if (s.name === 'default') summary = 'On for everyone who matches the constraints';
    const segNames = (s.segments || []).map((id) => (segments.find((x) => x.id === id) || { name: `#${id}` }).name);
    const title = strategyName(s);
    const rp = env.releasePlan && env.releasePlan.strategyId === s.id ? env.releasePlan : null;
    const owned = rp && OWNS.has(rp.state);
    const editLabel = `Edit strategy ${title} in ${env.name}`;
    const delLabel = `Delete strategy ${title} in ${env.name}`;
    return h('div', { class: 'strategy' + (s.disabled ? ' disabled' : '') + (rp ? ' planned' : '') },
      h('div', { class: 'strategy-head' },
        h('strong', {}, title, s.disabled ? [' ', badge('disabled')] : null,
          s.title ? h('span', { class: 'muted small' }, ` · ${strategyLabel(s.name)}`) : null),
        session.can('edit') ? h('span', { class: 'row' },
          h('button', { type: 'button', class: 'small', 'aria-label': editLabel, onclick: async () => {
            const how = await askPause(env, s, rp, 'edit');
            if (how) await editStrategy(env, s, how);
            else refocus(editLabel);
          } }, 'Edit'),
          h('button', { type: 'button', class: 'small danger', 'aria-label': delLabel, onclick: async () => {
            const how = owned ? await askPause(env, s, rp, 'delete') : await confirmDialog({ title: `Delete the strategy “${title}”?`, text: `${title} in ${env.name} will be removed. This cannot be undone; the audit log keeps what it was.`, confirm: 'Delete', danger: true }) && {};
            if (!how) { refocus(delLabel); return; }
            await deleteStrategy(env, s, title, how);
          } }, 'Delete')) : null),
      rp ? h('p', { class: 'small plan-owner' }, badge(owned ? 'controlled by its release plan' : `its release plan is ${rp.state === 'rolled-back' ? 'rolled back' : rp.state}`, owned ? 'accent' : rp.state === 'rolled-back' ? 'bad' : 'warn'),
        owned ? ` The plan sets this rollout (${rp.state === 'held' ? 'held' : rp.state === 'waiting-approval' ? 'waiting for approval' : 'running'} at ${rp.percent} %); an edit by hand pauses the plan first.`
          : rp.state === 'rolled-back' ? ` ${rp.lastDecision || 'rolled back'}.` : rp.state === 'paused' ? ' The plan is paused: this strategy may be edited; resuming the plan sets it back to its step.' : '') : null,
      h('p', {}, summary),
      (s.constraints || []).length ? h('p', { class: 'small' }, 'When ', (s.constraints).map((c, i) => [i ? ' and ' : '', h('code', {}, describeConstraint(c))])) : null,
      segNames.length ? h('p', { class: 'small' }, 'Segments: ', segNames.map((n) => h('span', { class: 'chip' }, n))) : null);
  }

  // Focuses the control named `label` again (it may have been redrawn).
  function refocus(label) {
    const el = [...main.querySelectorAll('button, a, input, select')].find((x) => x.getAttribute('aria-label') === label);
    if (el) el.focus();
  }

  // A hand edit of a strategy its release plan controls: asks, in words,
  // whether to pause the plan (resolves {pausePlan: true}), or null when
  // the person cancels. Other strategies: {pausePlan: false} at once.
  async function askPause(env, s, rp, what) {
    if (!rp || !OWNS.has(rp.state)) return { pausePlan: false };
    const title = strategyName(s);
    const ok = await confirmDialog({
      title: `Pause the release plan to ${what} “${title}”?`,
      text: h('div', {},
        h('p', {}, `“${title}” in ${env.name} is controlled by the release plan of ${flag.name} (${rp.state === 'waiting-approval' ? 'waiting for approval' : rp.state} at ${rp.percent} %). The plan sets its rollout; a change by hand would fight it.`),
        h('p', {}, what === 'edit'
          ? 'Saving your edit pauses the plan in the same step (the audit log records it): the rollout stays as you set it until someone resumes the plan, which sets it back to the step\'s percentage. Cancelling the edit changes nothing.'
          : 'Deleting it pauses the plan in the same step (the audit log records it); the plan cannot run without its strategy until it is replaced.')),
      confirm: what === 'edit' ? 'Pause the plan and edit' : 'Pause the plan and delete', danger: what === 'delete',
    });
    return ok ? { pausePlan: true } : null;
  }

  // The server's 409 for a strategy its plan controls (the page's view was
  // older than the plan): {state, percent}, else null.
  function planConflict(err) {
    const msg = err && err.status === 409 && err.body ? String(err.body.message || '') : '';
    const m = /controlled by its release plan \((\S+) at (\d+) %\)/.exec(msg);
    return m ? { state: m[1], percent: Number(m[2]) } : null;
  }

  async function deleteStrategy(env, s, title, how) {
    const url = `${envPath(project, name, env.name)}/strategies/${enc(s.id)}${how.pausePlan ? '?pausePlan=true' : ''}`;
    try {
      await api('DELETE', url);
      toast(how.pausePlan ? `Strategy deleted; the release plan in ${env.name} is paused.` : 'Strategy deleted.');
      await refresh();
    } catch (err) {
      const c = planConflict(err);
      if (c && !how.pausePlan) {
        const again = await askPause(env, s, { state: c.state, percent: c.percent }, 'delete');
        if (again) await deleteStrategy(env, s, title, again);
        return;
      }
      showErrors(envSection, err);
    }
  }

  function editStrategy(env, s, how = { pausePlan: false }) {
    const isNew = !s;
    s = s || { name: 'flexibleRollout', parameters: { rollout: '100', stickiness: 'default', groupId: flag.name }, constraints: [], segments: [] };
    return openDialog((close) => {
      const p = s.parameters || {};
      // Custom strategies: the defined ones (deprecated ones only when the
      // strategy already uses it), with an input per typed parameter.
      const usable = customs.filter((d) => !d.deprecated || d.name === s.name);
      const kind = select(STRATEGIES.concat(usable.map((d) => [d.name, `${d.name} (custom)`])), s.name, { 'data-path': '/name' });
      const customInputs = {};
      const customBoxes = usable.map((d) => {
        const inputs = {};
        const fields = d.parameters.map((prm) => {
          const path = `/parameters/${prm.name}`;
          const v = s.name === d.name ? (p[prm.name] ?? '') : '';
          let input;
          if (prm.type === 'boolean') input = select([['', '(not set)'], ['true', 'true'], ['false', 'false']], v, { 'data-path': path });
          else if (prm.type === 'list') { input = h('textarea', { rows: 2, 'data-path': path, spellcheck: 'false' }); input.value = v; }
          else input = h('input', { value: v, 'data-path': path, spellcheck: 'false', inputmode: prm.type === 'string' ? null : 'decimal' });
          inputs[prm.name] = input;
          const hint = [prm.type === 'percentage' ? 'An integer from 0 to 100.' : prm.type === 'list' ? 'Separated by commas.' : '',
            prm.description || ''].filter(Boolean).join(' ');
          return field(prm.name + (prm.required ? ' (required)' : ''), input, hint ? { hint } : {});
        });
        customInputs[d.name] = inputs;
        return [d.name, h('div', {}, h('p', { class: 'muted small' }, 'A custom strategy: applications that register it evaluate it; server-side evaluation (frontend API, OFREP, playground) treats it as off.'), fields)];
      });
      const title = h('input', { value: s.title || '', 'data-path': '/title', placeholder: 'Optional, e.g. “Beta testers in Thailand”' });
      const disabled = checkbox('Disabled (kept, but not evaluated)', !!s.disabled);
      const rollout = h('input', { type: 'number', min: 0, max: 100, step: 1, value: p.rollout ?? '100', 'data-path': '/parameters/rollout' });
      const stick = select([['default', 'default (userId, then sessionId, then random)'], ['userId', 'userId'], ['sessionId', 'sessionId'], ['random', 'random']], p.stickiness || 'default', { 'data-path': '/parameters/stickiness' });
      const group = h('input', { value: p.groupId || flag.name, 'data-path': '/parameters/groupId', spellcheck: 'false' });
      const rolloutBox = h('div', { class: 'row' }, field('Rollout (%)', rollout), field('Stickiness', stick, { class: 'grow' }), field('Group ID', group, { class: 'grow' }));
      const listInputs = {};
      const listBoxes = Object.entries(LIST_PARAMS).map(([k, [param, label]]) => {
        const t = h('textarea', { rows: 2, 'data-path': `/parameters/${param}`, spellcheck: 'false' });
        t.value = s.name === k ? (p[param] || '') : '';
        listInputs[k] = t;
        return [k, field(label, t, { hint: 'Separated by commas.' })];
      });
      const ce = constraintEditor(s.constraints || []);
      const segBoxes = segments.map((sg) => checkbox(sg.name, (s.segments || []).includes(sg.id), { value: sg.id }));
      const segField = h('fieldset', { 'data-path': '/segments' }, h('legend', {}, 'Segments'),
        segments.length ? segBoxes.map((b) => b.el) : h('p', { class: 'muted small' }, 'No segments defined yet (see Segments).'));
      function sync() {
        rolloutBox.hidden = kind.value !== 'flexibleRollout';
        for (const [k, f] of listBoxes) f.hidden = kind.value !== k;
        for (const [k, f] of customBoxes) f.hidden = kind.value !== k;
      }
      kind.addEventListener('change', sync);
      sync();
      const pauseNote = h('div');
      const saveBtn = h('button', { type: 'submit', class: 'primary' }, isNew ? 'Add strategy' : how.pausePlan ? 'Pause the plan and save' : 'Save strategy');
      const showPause = (st, pct) => {
        pauseNote.replaceChildren(h('div', { class: 'notice', role: 'note' }, h('strong', {}, 'Saving pauses the release plan. '),
          `This strategy is controlled by the release plan of ${flag.name} in ${env.name} (${st} at ${pct} %). Your edit pauses it, audited; resuming the plan later sets the rollout back to its step's percentage.`));
        saveBtn.textContent = 'Pause the plan and save';
      };
      if (how.pausePlan && env.releasePlan) showPause(env.releasePlan.state, env.releasePlan.percent);
      const form = h('form', { novalidate: true },
        h('h2', {}, `${isNew ? 'Add a strategy' : 'Edit strategy'} · ${env.name}`),
        pauseNote,
        h('div', { class: 'row' }, field('Strategy', kind, { class: 'grow' }), field('Title', title, { class: 'grow' })),
        rolloutBox, listBoxes.map(([, f]) => f), customBoxes.map(([, f]) => f),
        ce.el, segField, disabled.el,
        h('div', { class: 'actions' },
          h('button', { type: 'button', onclick: () => close(null) }, 'Cancel'),
          saveBtn));
      const ipField = listInputs.remoteAddress;
      const ipMsg = h('p', { class: 'field-error', id: `ipm-${Math.random().toString(36).slice(2)}` });
      ipField.parentElement.append(ipMsg);
      const checkIps = () => {
        const bad = ipField.value.split(',').map((x) => x.trim()).filter(Boolean).map((x) => ipProblem(x)).filter(Boolean);
        ipMsg.textContent = bad.join(' ');
        if (bad.length) { ipField.setAttribute('aria-invalid', 'true'); ipField.setAttribute('aria-errormessage', ipMsg.id); } else ipField.removeAttribute('aria-invalid');
        return bad.length === 0;
      };
      ipField.addEventListener('input', checkIps);
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        // What the server would refuse is refused here, next to the field.
        clearErrors(form);
        const bad = ce.check() || (kind.value === 'remoteAddress' && !checkIps() ? ipField : null);
        if (bad) {
          form.querySelector('h2').after(h('div', { class: 'alert api-error', role: 'alert' },
            h('strong', {}, 'This cannot be saved yet. '), 'Correct the value marked below; nothing was sent.'));
          bad.focus();
          return;
        }
        const parameters = {};
        if (kind.value === 'flexibleRollout') Object.assign(parameters, { rollout: rollout.value, stickiness: stick.value, groupId: group.value.trim() });
        if (LIST_PARAMS[kind.value]) parameters[LIST_PARAMS[kind.value][0]] = listInputs[kind.value].value.split(',').map((x) => x.trim()).filter(Boolean).join(',');
        for (const [k, input] of Object.entries(customInputs[kind.value] || {})) {
          const v = input.value.trim();
          if (v !== '') parameters[k] = input.tagName === 'TEXTAREA' ? v.split(',').map((x) => x.trim()).filter(Boolean).join(',') : v;
        }
        const body = {
          name: kind.value, title: title.value.trim() || null, disabled: disabled.input.checked, parameters,
          constraints: ce.value(), segments: segBoxes.filter((b) => b.input.checked).map((b) => Number(b.input.value)),
        };
        const url = `${envPath(project, name, env.name)}/strategies` + (isNew ? '' : `/${enc(s.id)}${how.pausePlan ? '?pausePlan=true' : ''}`);
        try {
          await api(isNew ? 'POST' : 'PUT', url, body);
          close(true);
          toast(isNew ? `Strategy added in ${env.name}.` : how.pausePlan ? `Strategy saved; the release plan in ${env.name} is paused.` : 'Strategy saved.');
          await refresh();
        } catch (err) {
          const c = planConflict(err);
          if (c && !how.pausePlan) {
            // A plan took this strategy over since the page was drawn:
            // say so, and let the person choose to pause it.
            how = { pausePlan: true };
            showPause(c.state, c.percent);
            clearErrors(form);
            saveBtn.focus();
            return;
          }
          showErrors(form, err, { after: form.querySelector('h2') });
        }
      });
      return form;
    });
  }

  // --- variants -------------------------------------------------------------

  function editVariants(env) {
    return openDialog((close) => {
      const rows = [];
      const list = h('div');
      const bar = h('div', { class: 'weights', 'aria-hidden': 'true' });
      const summary = h('p', { class: 'small muted', 'aria-live': 'polite' });
      const save = h('button', { type: 'submit', class: 'primary' }, 'Save variants');

      function shares() {
        const fixed = rows.filter((r) => r.type.value === 'fix').reduce((a, r) => a + Math.round(Number(r.weight.value || 0) * 10), 0);
        const variable = rows.filter((r) => r.type.value !== 'fix');
        const left = Math.max(0, 1000 - fixed);
        return rows.map((r) => (r.type.value === 'fix' ? Math.round(Number(r.weight.value || 0) * 10) : variable.length ? Math.floor(left / variable.length) : 0));
      }
      function update() {
        const w = shares();
        clear(bar);
        rows.forEach((r, i) => {
          if (r.type.value !== 'fix') r.weight.value = (w[i] / 10).toString();
          r.weight.disabled = r.type.value !== 'fix';
          const seg = h('span', { title: `${r.name.value || 'variant'} ${w[i] / 10}%` });
          seg.style.width = `${w[i] / 10}%`;
          bar.append(seg);
          r.setIndex(i);
        });
        const invalid = rows.some((r) => r.payloadInvalid);
        save.disabled = invalid;
        summary.textContent = rows.length ? rows.map((r, i) => `${r.name.value || '(unnamed)'} ${w[i] / 10}%`).join(' · ') + (invalid ? ' — fix the payload marked invalid to save.' : '') : 'No variants: SDKs get the “disabled” variant.';
      }
      function addRow(v, focus) {
        const r = variantRow(v, () => { rows.splice(rows.indexOf(r), 1); r.el.remove(); update(); }, update);
        rows.push(r);
        list.append(r.el);
        update();
        if (focus) r.name.focus();
      }
      (env.variants || []).forEach((v) => addRow(v, false));

      const form = h('form', { novalidate: true },
        h('h2', {}, `Variants · ${env.name}`),
        h('p', { class: 'muted small' }, 'Fixed weights are kept; the rest of 100% is shared among the variable ones. Payloads are checked as you type.'),
        bar, summary, list,
        h('button', { type: 'button', class: 'small', onclick: () => addRow({ name: '', weightType: 'variable', stickiness: 'default' }, true) }, '+ Add variant'),
        h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => close(null) }, 'Cancel'), save));
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        update();
        if (save.disabled) return;
        const w = shares();
        const body = rows.map((r, i) => {
          const v = { name: r.name.value.trim(), weightType: r.type.value, weight: w[i], stickiness: r.stick.value };
          if (r.ptype.value) v.payload = { type: r.ptype.value, value: r.pvalue.value };
          return v;
        });
        try {
          await api('PUT', `${envPath(project, name, env.name)}/variants`, body);
          close(true);
          toast(`Variants saved in ${env.name}.`);
          await refresh();
        } catch (err) {
          showErrors(form, err, { after: form.querySelector('h2') });
        }
      });
      return form;
    });
  }

  function variantRow(v, onRemove, onChange) {
    const name = h('input', { value: v.name || '', spellcheck: 'false', autocomplete: 'off' });
    const type = select([['variable', 'Variable'], ['fix', 'Fixed']], v.weightType || 'variable');
    const weight = h('input', { type: 'number', min: 0, max: 100, step: 0.1, value: v.weight != null ? v.weight / 10 : '' });
    const stick = select([['default', 'default'], ['userId', 'userId'], ['sessionId', 'sessionId'], ['random', 'random']], v.stickiness || 'default');
    const ptype = select([['', 'No payload'], ['json', 'JSON'], ['string', 'String'], ['csv', 'CSV'], ['number', 'Number']], (v.payload && v.payload.type) || '');
    const pvalue = h('textarea', { rows: 3, spellcheck: 'false', class: 'mono' });
    pvalue.value = (v.payload && v.payload.value) || '';
    const pmsg = h('p', { class: 'field-error', 'aria-live': 'polite' });
    const remove = h('button', { type: 'button', class: 'small danger', onclick: onRemove }, 'Remove');
    const payloadField = field('Payload', pvalue);
    payloadField.append(pmsg);
    const nameF = field('Name', name);
    const r = {
      name, type, weight, stick, ptype, pvalue, payloadInvalid: false,
      el: h('div', { class: 'variant-row', role: 'group' }, nameF, field('Weight type', type), field('Weight (%)', weight), field('Stickiness', stick), field('Payload type', ptype), h('div', { class: 'remove' }, remove), h('div', { class: 'payload' }, payloadField)),
      setIndex(i) {
        r.el.setAttribute('aria-label', `Variant ${i + 1}`);
        name.dataset.path = `/${i}/name`;
        weight.dataset.path = `/${i}/weight`;
        type.dataset.path = `/${i}/weightType`;
        stick.dataset.path = `/${i}/stickiness`;
        ptype.dataset.path = `/${i}/payload/type`;
        pvalue.dataset.path = `/${i}/payload/value`;
        remove.setAttribute('aria-label', `Remove variant ${i + 1}`);
      },
    };
    function check() {
      payloadField.hidden = !ptype.value;
      let msg = '';
      if (ptype.value === 'json') {
        try { JSON.parse(pvalue.value); } catch (e) { msg = `Not valid JSON: ${e.message}`; }
      } else if (ptype.value === 'number' && (pvalue.value.trim() === '' || !Number.isFinite(Number(pvalue.value)))) {
        msg = 'Not a number.';
      }
      r.payloadInvalid = msg !== '';
      pmsg.textContent = msg;
      if (msg) { pvalue.setAttribute('aria-invalid', 'true'); pvalue.setAttribute('aria-errormessage', pmsg.id || (pmsg.id = `pm-${Math.random().toString(36).slice(2)}`)); } else pvalue.removeAttribute('aria-invalid');
    }
    for (const c of [name, weight]) c.addEventListener('input', onChange);
    for (const c of [type]) c.addEventListener('change', onChange);
    ptype.addEventListener('change', () => { check(); onChange(); });
    pvalue.addEventListener('input', () => { check(); onChange(); });
    check();
    return r;
  }

  // --- dependencies, tags ------------------------------------------------------

  function drawDependencies() {
    clear(depSection);
    depSection.append(h('h2', { id: 'h-deps' }, 'Dependencies'));
    const deps = flag.dependencies || [];
    if (!deps.length) depSection.append(h('p', { class: 'muted small' }, 'This flag depends on no other flag.'));
    depSection.append(h('ul', {}, deps.map((d) => h('li', {},
      `Needs `, h('a', { href: `/flags/${enc(project)}/${enc(d.feature)}`, 'data-link': true }, d.feature),
      d.enabled === false ? ' to be off' : ' to be on',
      (d.variants || []).length ? ` with variant ${d.variants.join(' or ')}` : '', ' ',
      session.can('edit') ? h('button', { type: 'button', class: 'small link', 'aria-label': `Remove the dependency on ${d.feature}`, onclick: async () => {
        try { await api('DELETE', `${base}/dependencies/${enc(d.feature)}`); toast('Dependency removed.'); await refresh(); } catch (err) { showErrors(depSection, err); }
      } }, 'Remove') : null))));
    if (!session.can('edit')) return;
    const candidates = allFlags.filter((f) => f.project === project && f.name !== flag.name);
    if (candidates.length === 0) {
      depSection.append(h('p', { class: 'muted small' }, `To add one, create another flag in project ${project} first.`));
      return;
    }
    const parent = select(candidates.map((f) => f.name), '', { 'data-path': '/feature' });
    const want = select([['true', 'on'], ['false', 'off']], 'true', { 'data-path': '/enabled' });
    const variants = h('input', { placeholder: 'any', 'data-path': '/variants' });
    const form = h('form', { class: 'row' }, field('Parent flag', parent, { class: 'grow' }), field('Must be', want), field('With variants', variants),
      h('button', { type: 'submit', disabled: candidates.length === 0 }, 'Add dependency'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = { feature: parent.value, enabled: want.value === 'true' };
      const vs = variants.value.split(',').map((x) => x.trim()).filter(Boolean);
      if (vs.length) body.variants = vs;
      try { await api('POST', `${base}/dependencies`, body); toast('Dependency added.'); await refresh(); } catch (err) { showErrors(form, err); }
    });
    depSection.append(form);
  }

  function drawTags() {
    clear(tagSection);
    tagSection.append(h('h2', { id: 'h-tags' }, 'Tags'));
    const tags = flag.tags || [];
    tagSection.append(h('p', {}, tags.length ? tags.map((t) => h('span', { class: 'chip' }, `${t.type}:${t.value}`,
      session.can('edit') ? h('button', { type: 'button', 'aria-label': `Remove tag ${t.type}:${t.value}`, onclick: async () => {
        try { await api('DELETE', `/features/${enc(flag.name)}/tags/${enc(t.type)}/${enc(t.value)}`); await refresh(); } catch (err) { showErrors(tagSection, err); }
      } }, '×') : null)) : h('span', { class: 'muted small' }, 'No tags.')));
    if (!session.can('edit')) return;
    const type = h('input', { value: 'simple', 'data-path': '/type', size: 8 });
    const value = h('input', { 'data-path': '/value', size: 12 });
    const form = h('form', { class: 'row' }, field('Tag type', type), field('Value', value, { class: 'grow' }), h('button', { type: 'submit' }, 'Add tag'));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try { await api('POST', `/features/${enc(flag.name)}/tags`, { type: type.value.trim(), value: value.value.trim() }); await refresh(); } catch (err) { showErrors(form, err); }
    });
    tagSection.append(form);
  }

  // --- playground ---------------------------------------------------------------

  function drawPlayground() {
    clear(playSection);
    const envs = (flag.environments || []).map((e) => e.name);
    const env = select(envs, envs.includes('production') ? 'production' : envs[0], { 'data-path': '/environment' });
    const inputs = {};
    for (const f of CONTEXT_FIELDS.filter((x) => x !== 'environment')) {
      inputs[f] = h('input', { 'data-path': `/context/${f}`, spellcheck: 'false', autocomplete: 'off', placeholder: f === 'currentTime' ? 'now (e.g. 2026-12-01T10:00:00Z)' : '' });
    }
    const props = h('textarea', { rows: 3, spellcheck: 'false', 'data-path': '/context/properties', placeholder: 'country=TH\nplan=pro' });
    const result = h('div', { 'aria-live': 'polite' });
    const form = h('form', { novalidate: true },
      h('h2', { id: 'h-play' }, 'Playground: why is this on or off?'),
      h('p', { class: 'muted small' }, 'Evaluates this flag for a context you describe, with the rules saved on the server, and explains each step.'),
      h('div', { class: 'row' }, field('Environment', env), field('userId', inputs.userId), field('sessionId', inputs.sessionId), field('remoteAddress', inputs.remoteAddress)),
      h('div', { class: 'row' }, field('appName', inputs.appName), field('currentTime', inputs.currentTime, { class: 'grow' })),
      field('Other fields', props, { hint: 'One name=value per line (the context\'s properties).' }),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Evaluate')),
      result);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clear(result);
      const context = {};
      for (const [k, el] of Object.entries(inputs)) if (el.value.trim()) context[k] = el.value.trim();
      const properties = {};
      for (const line of props.value.split('\n')) {
        const i = line.indexOf('=');
        if (i > 0) properties[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      }
      if (Object.keys(properties).length) context.properties = properties;
      try {
        const r = await api('POST', '/playground', { environment: env.value, projects: [project], context });
        clearErrors(form);
        const fr = (r.features || []).find((f) => f.name === flag.name && f.environment === env.value) || (r.features || []).find((f) => f.name === flag.name);
        result.append(explain(fr, env.value));
      } catch (err) {
        showErrors(form, err, { after: form.querySelector('h2') });
      }
    });
    playSection.append(form);
  }

  function explain(fr, envName) {
    if (!fr) return h('p', {}, 'The server returned no result for this flag.');
    const verdict = h('p', { class: 'playground-verdict' }, `${flag.name} is `, h('span', { class: fr.isEnabled ? 'result-on' : 'result-off' }, fr.isEnabled ? 'ON' : 'OFF'), ` in ${envName}`,
      fr.variant && fr.variant.enabled ? [' with variant ', h('strong', {}, fr.variant.name)] : '', '.');
    const st = fr.strategies || {};
    const reasons = [];
    if (st.enabledInEnvironment === false) reasons.push(h('li', {}, `The environment switch is off in ${envName}, so the flag is off whatever the strategies say.`));
    const data = st.data || [];
    if (data.length === 0 && st.enabledInEnvironment !== false) reasons.push(h('li', {}, 'There are no strategies in this environment.'));
    data.forEach((s) => {
      const ok = s.result === true;
      const why = reasonText(s.reason);
      reasons.push(h('li', {},
        h('strong', {}, strategyName(s)), ': ',
        s.disabled ? h('span', { class: 'muted' }, 'disabled')
          : h('span', { class: ok ? 'result-on' : 'result-off' }, ok ? 'matches' : s.result === false ? 'does not match'
            : s.result === 'unknown' ? 'unknown: a custom strategy only the application evaluates (its constraints hold)'
              : String(s.result && s.result.evaluationStatus || s.result)),
        why ? ` — ${why}` : '',
        (s.constraints || []).length || (s.segments || []).length ? h('ul', {},
          (s.constraints || []).map((c) => h('li', {}, c.result ? '✓ ' : '✗ ', h('code', {}, describeConstraint(c)), c.result ? ' holds' : ' does not hold')),
          (s.segments || []).map((sg) => h('li', {}, sg.result ? '✓ ' : '✗ ', `segment ${(segments.find((x) => x.id === sg.id) || { name: '#' + sg.id }).name}`, sg.result ? ' matches' : ' does not match'))) : null));
    });
    if ((flag.dependencies || []).length) reasons.push(h('li', {}, `It also needs its parent flag${flag.dependencies.length > 1 ? 's' : ''} (${flag.dependencies.map((d) => d.feature).join(', ')}) to be as required.`));
    return h('div', { class: 'why' }, verdict, h('ul', {}, reasons));
  }

  // The server's reason for one strategy, in the playground's words.
  function reasonText(r) {
    if (!r) return '';
    const by = r.stickiness ? `, by ${r.stickiness}` : '';
    switch (r.kind) {
      case 'match': return r.percentage !== undefined ? `inside the ${r.percentage} % (bucket ${r.bucket}${by})` : '';
      case 'outside-rollout': return `outside the ${r.percentage} % (bucket ${r.bucket}${by})`;
      case 'no-stickiness': return `the context has no ${r.stickiness}, which this rollout is sticky on`;
      case 'constraint': return `constraint ${r.constraint + 1} does not hold`;
      case 'segment': return `segment ${(segments.find((x) => x.id === r.segment) || { name: '#' + r.segment }).name} does not match`;
      case 'disabled': return 'kept, but not evaluated';
      default: return r.message || '';
    }
  }

  // Reads the flag again and redraws it, keeping the focus on the control
  // it is on then (found again by its name). `live`: a redraw nobody asked
  // for, which waits (returns false) if a dialog opened during the read, so
  // the dialog gives the focus back to a control still in the page.
  async function refresh({ live = false } = {}) {
    try {
      await load();
      if (live && document.querySelector('dialog[open]')) return false;
      const a = document.activeElement;
      const label = a && main.contains(a) ? a.getAttribute('aria-label') : null;
      draw();
      if (label) refocus(label);
    } catch (err) {
      loadError(envSection, err);
    }
    return true;
  }

  // --- results per variant (GET …/environments/{env}/results) ---------------

  // Environments where there is something to compare: a release plan, or
  // variants (the environment's or a strategy's).
  const comparable = (e) => e.releasePlan || (e.variants || []).length || (e.strategies || []).some((x) => (x.variants || []).length);
  async function drawResultsSection() {
    const envs = (flag.environments || []).slice().sort((a, b) => a.sortOrder - b.sortOrder).filter(comparable);
    const boxes = envs.map((e) => [e, h('div', { class: 'results-env' }, h('p', { class: 'muted small' }, 'Reading the results…'))]);
    resultsSection.replaceChildren(h('h2', { id: 'h-results' }, 'Results per variant'),
      ...(envs.length ? boxes.map(([e, b]) => h('div', { role: 'group', 'aria-label': `Results in ${e.name}` }, h('h3', {}, e.name), b))
        : [h('p', { class: 'muted small' }, 'No variants and no release plan here: nothing to compare. Add variants (an A/B test) or start a release plan; applications report what each variant did to /api/client/impact.')]));
    await Promise.all(boxes.map(([e, b]) => drawResults(b, project, flag.name, e.name).catch(() => {})));
  }

  // --- usage: the last 24 hours of SDK metrics ---------------------------------

  async function drawUsage() {
    clear(usageSection);
    usageSection.append(h('div', { class: 'panel-head' }, h('h2', { id: 'h-usage' }, 'Usage, last 24 hours'),
      h('a', { href: `/usage?flag=${enc(name)}&hours=168`, 'data-link': true }, 'More on the usage page')));
    try {
      const r = await api('GET', `/client-metrics/features/${enc(name)}?hours=24`);
      const sum = summarize(r.usage || [], 24);
      if (sum.totalYes + sum.totalNo === 0) {
        usageSection.append(h('p', { class: 'muted small' }, 'No SDK reported evaluating this flag in the last 24 hours.'));
        return;
      }
      usageSection.append(totals(sum), usageFigure(sum, `${name}: evaluations per hour (UTC)`));
    } catch (err) {
      const box = h('div');
      usageSection.append(box);
      loadError(box, err);
    }
  }

  await load();
  draw();
  drawPlayground();
  await Promise.all([drawUsage(), drawResultsSection()]);

  // Live: a change to this flag (by anyone, or by its plan's scheduler) is
  // read again at once, unless a dialog is open (then when it closes);
  // the guard's looks refresh the results.
  let pending = false;
  const apply = throttle(async () => {
    if (!ctx.isCurrent()) return;
    if (document.querySelector('dialog[open]')) { pending = true; return; }
    pending = false;
    if (!await refresh({ live: true })) { pending = true; return; }
    await drawResultsSection();
  }, 500);
  const resultsSoon = throttle(() => { if (ctx.isCurrent() && !document.querySelector('dialog[open]')) drawResultsSection(); }, 10000);
  const hasPlan = () => (flag.environments || []).some((e) => e.releasePlan && (OWNS.has(e.releasePlan.state) || e.releasePlan.state === 'paused'));
  ctx.live({ feature: name }, (ev) => {
    if (ev.type === 'tick') { if (hasPlan()) resultsSoon(); return; }
    apply();
  });
  const onClose = () => {
    if (!ctx.isCurrent()) { document.removeEventListener('close', onClose, true); return; }
    if (pending) apply();
  };
  document.addEventListener('close', onClose, true); // a dialog's close (it does not bubble)
}
