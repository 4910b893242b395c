// Flags: every flag of every project, with search, filters (project, type,
// tag, stale) kept in the URL, and one switch per environment. Turning a
// production environment on or off asks for confirmation first.
import { api, envPath } from '../api.js';
import { h, clear, field, select, switchButton, badge, toast, confirmDialog, openDialog, showErrors } from '../dom.js';

export async function render(main, _params, query, ctx) {
  const [features, envs, projects, types] = await Promise.all([
    api('GET', '/features'), api('GET', '/environments'), api('GET', '/projects'), api('GET', '/feature-types'),
  ]);
  const flags = features.features;
  const environments = envs.environments.slice().sort((a, b) => a.sortOrder - b.sortOrder || a.name.localeCompare(b.name));
  const tags = [...new Set(flags.flatMap((f) => (f.tags || []).map((t) => `${t.type}:${t.value}`)))].sort();

  const q = h('input', { type: 'search', value: query.get('q') || '', placeholder: 'Name or description', autocomplete: 'off' });
  const fProject = select([['', 'All projects'], ...projects.projects.map((p) => [p.id, p.name || p.id])], query.get('project') || '');
  const fType = select([['', 'All types'], ...types.types.map((t) => [t.id, t.name])], query.get('type') || '');
  const fTag = select([['', 'All tags'], ...tags], query.get('tag') || '');
  const fStale = select([['', 'Stale or not'], ['yes', 'Stale only'], ['no', 'Not stale']], query.get('stale') || '');
  const count = h('p', { class: 'muted small', 'aria-live': 'polite' });
  const body = h('tbody');
  const errors = h('div');

  const newBtn = h('button', { type: 'button', class: 'primary', onclick: () => createFlag(projects.projects, types.types, ctx, fProject.value) }, '+ New flag');
  main.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Flags'), h('p', { class: 'muted' }, 'Search, filter and switch flags per environment.')),
      newBtn),
    h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => e.preventDefault() },
      field('Search', q, { class: 'grow' }), field('Project', fProject), field('Type', fType), field('Tag', fTag), field('Stale', fStale)),
    errors,
    h('div', { class: 'panel table-wrap' },
      h('table', {},
        h('caption', { class: 'muted small', hidden: true }, 'Flags'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Project'), h('th', { scope: 'col' }, 'Type'), h('th', { scope: 'col' }, 'Tags'),
          environments.map((e) => h('th', { scope: 'col', class: 'center' }, e.name)))),
        body),
      count));

  function apply() {
    const term = q.value.trim().toLowerCase();
    const params = new URLSearchParams();
    if (term) params.set('q', q.value.trim());
    for (const [k, s] of [['project', fProject], ['type', fType], ['tag', fTag], ['stale', fStale]]) if (s.value) params.set(k, s.value);
    const qs = params.toString();
    history.replaceState(null, '', '/flags' + (qs ? '?' + qs : ''));
    const shown = flags.filter((f) =>
      (!term || f.name.toLowerCase().includes(term) || (f.description || '').toLowerCase().includes(term)) &&
      (!fProject.value || f.project === fProject.value) &&
      (!fType.value || f.type === fType.value) &&
      (!fTag.value || (f.tags || []).some((t) => `${t.type}:${t.value}` === fTag.value)) &&
      (!fStale.value || (fStale.value === 'yes') === !!f.stale));
    clear(body);
    if (shown.length === 0) {
      body.append(h('tr', {}, h('td', { colspan: 4 + environments.length, class: 'empty' },
        flags.length === 0 ? 'No flags yet. Create the first one with “New flag”.' : 'No flag matches these filters.')));
    }
    for (const f of shown) body.append(flagRow(f));
    count.textContent = `${shown.length} of ${flags.length} flag${flags.length === 1 ? '' : 's'}`;
  }

  function flagRow(f) {
    const link = h('a', { href: `/flags/${encodeURIComponent(f.project)}/${encodeURIComponent(f.name)}`, 'data-link': true }, f.name);
    return h('tr', {},
      h('td', {}, link, f.stale ? [' ', badge('stale', 'warn')] : null,
        f.description ? h('div', { class: 'muted small' }, f.description) : null),
      h('td', {}, f.project),
      h('td', {}, f.type),
      h('td', {}, (f.tags || []).map((t) => h('span', { class: 'chip' }, `${t.type}:${t.value}`))),
      environments.map((e) => {
        const fe = (f.environments || []).find((x) => x.name === e.name);
        const on = !!(fe && fe.enabled);
        return h('td', { class: 'center' }, switchButton(on, `${f.name} in ${e.name}`, (want, btn) => toggle(f, e, want, btn), e.type === 'production' ? 'prod' : ''));
      }));
  }

  async function toggle(f, env, want, btn) {
    const verb = want ? 'Enable' : 'Disable';
    if (env.type === 'production') {
      const ok = await confirmDialog({
        title: `${verb} ${f.name} in ${env.name}?`,
        text: `${env.name} is a production environment: SDKs connected to it see the change within seconds.${want ? ' Its strategies decide who gets the flag.' : ' Everyone gets the flag\'s off state.'}`,
        confirm: `${verb} in ${env.name}`,
        danger: !want,
      });
      if (!ok) { btn.focus(); return; }
    }
    btn.disabled = true;
    errors.replaceChildren();
    try {
      await api('POST', `${envPath(f.project, f.name, env.name)}/${want ? 'on' : 'off'}`);
      const fe = f.environments.find((x) => x.name === env.name);
      if (fe) fe.enabled = want;
      btn.setAttribute('aria-checked', want ? 'true' : 'false');
      toast(`${f.name} is now ${want ? 'on' : 'off'} in ${env.name}.`);
    } catch (err) {
      showErrors(errors, err);
    } finally {
      btn.disabled = false;
      btn.focus();
    }
  }

  for (const c of [q]) c.addEventListener('input', apply);
  for (const c of [fProject, fType, fTag, fStale]) c.addEventListener('change', apply);
  apply();
}

// The "New flag" dialog; opens the new flag's page on success.
function createFlag(projects, types, ctx, project) {
  return openDialog((close) => {
    const p = select(projects.map((x) => [x.id, x.name || x.id]), project || 'default', { 'data-path': '/project' });
    const name = h('input', { required: true, autocomplete: 'off', spellcheck: 'false', 'data-path': '/name', autofocus: true });
    const type = select(types.map((t) => [t.id, t.name]), 'release', { 'data-path': '/type' });
    const desc = h('input', { 'data-path': '/description' });
    const form = h('form', { novalidate: true },
      h('h2', {}, 'New flag'),
      field('Project', p),
      field('Name', name, { hint: 'Letters, digits and - _ . ~ ; at most 100 characters. It cannot be changed later.' }),
      field('Type', type),
      field('Description', desc),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => close(null) }, 'Cancel'),
        h('button', { type: 'submit', class: 'primary' }, 'Create flag')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        const f = await api('POST', `/projects/${encodeURIComponent(p.value)}/features`,
          { name: name.value.trim(), type: type.value, description: desc.value });
        close(f);
        toast(`Flag ${f.name} created.`);
        ctx.navigate(`/flags/${encodeURIComponent(f.project)}/${encodeURIComponent(f.name)}`);
      } catch (err) {
        showErrors(form, err, { after: form.querySelector('h2') });
      }
    });
    return form;
  });
}
