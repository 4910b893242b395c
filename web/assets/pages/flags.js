// Flags: one page of the flag list at a time, sorted, filtered and paged by
// the server (GET /api/admin/features?sortBy&sortOrder&offset&limit&query
// &project&type&tag&stale), so ten thousand flags cost what fifty do. The
// filters, the sort and the page are kept in the URL. Editors get one
// switch per environment (production asks first); viewers see the states.
// Narrow screens show each flag as a card with its environments stacked.
// An environment with a release plan says so under its switch ("Plan
// running at 25 %", "Plan rolled back at 25 % because …", "time-based,
// unguarded"), and the page follows its flags live (live.js).
import { api, envPath, session } from '../api.js';
import { h, clear, field, select, switchButton, badge, toast, confirmDialog, openDialog, showErrors } from '../dom.js';
import { planCell } from '../plans.js';
import { throttle } from '../live.js';

const PAGE = 50;
const SORTS = { name: 'Name', project: 'Project', type: 'Type', createdAt: 'Created', lastSeenAt: 'Last seen' };

// The list request the URL asks for (the same as params() below will build
// from the form), so the first page is asked for at once, alongside the
// environments, projects and types the page needs.
function firstRequest(query) {
  const p = new URLSearchParams();
  const q = (query.get('q') || '').trim();
  if (q) p.set('query', q);
  for (const k of ['project', 'type', 'tag']) if ((query.get(k) || '').trim()) p.set(k, query.get(k).trim());
  if (query.get('stale')) p.set('stale', query.get('stale') === 'yes' ? 'true' : 'false');
  p.set('sortBy', SORTS[query.get('sort')] ? query.get('sort') : 'name');
  p.set('sortOrder', query.get('order') === 'desc' ? 'desc' : 'asc');
  p.set('offset', String(Math.max(0, Math.floor(Number(query.get('offset')) || 0))));
  p.set('limit', String(PAGE));
  return p.toString();
}

export async function render(main, _params, query, ctx) {
  const firstQs = firstRequest(query);
  let firstList = api('GET', `/features?${firstQs}`);
  firstList.catch(() => {}); // handled when load() takes it
  const [envs, projects, types] = await Promise.all([
    api('GET', '/environments'), api('GET', '/projects'), api('GET', '/feature-types'),
  ]);
  const environments = envs.environments.slice().sort((a, b) => a.sortOrder - b.sortOrder || a.name.localeCompare(b.name));
  const edit = session.can('edit');

  const state = {
    sortBy: SORTS[query.get('sort')] ? query.get('sort') : 'name',
    order: query.get('order') === 'desc' ? 'desc' : 'asc',
    offset: Math.max(0, Math.floor(Number(query.get('offset')) || 0)),
  };
  const q = h('input', { type: 'search', value: query.get('q') || '', placeholder: 'Name, description or tag', autocomplete: 'off', 'data-path': '/query/query' });
  const fProject = select([['', 'All projects'], ...projects.projects.map((p) => [p.id, p.name || p.id])], query.get('project') || '', { 'data-path': '/query/project' });
  const fType = select([['', 'All types'], ...types.types.map((t) => [t.id, t.name])], query.get('type') || '', { 'data-path': '/query/type' });
  const fTag = h('input', { value: query.get('tag') || '', placeholder: 'type:value', autocomplete: 'off', spellcheck: 'false', size: 12, 'data-path': '/query/tag' });
  const fStale = select([['', 'Stale or not'], ['yes', 'Stale only'], ['no', 'Not stale']], query.get('stale') || '', { 'data-path': '/query/stale' });
  const sortChoices = [['name:asc', 'Name, A to Z'], ['name:desc', 'Name, Z to A'], ['createdAt:desc', 'Newest first'],
    ['createdAt:asc', 'Oldest first'], ['project:asc', 'Project'], ['type:asc', 'Type'], ['lastSeenAt:desc', 'Last seen by SDKs']];
  const fSort = select(sortChoices, `${state.sortBy}:${state.order}`, {});
  fSort.addEventListener('change', () => {
    const [k, o] = fSort.value.split(':');
    state.sortBy = k;
    state.order = o;
    state.offset = 0;
    load();
  });
  const count = h('p', { class: 'muted small', 'aria-live': 'polite' });
  const body = h('tbody');
  const errors = h('div');
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of the flag list' });
  const headRow = h('tr');

  const newBtn = edit ? h('button', { type: 'button', class: 'primary', onclick: () => createFlag(projects.projects, types.types, ctx, fProject.value) }, '+ New flag') : null;
  const toolbar = h('form', { class: 'toolbar', role: 'search', onsubmit: (e) => { e.preventDefault(); state.offset = 0; load(); } },
    field('Search', q, { class: 'grow' }), field('Project', fProject), field('Type', fType), field('Tag', fTag), field('Stale', fStale), field('Sort by', fSort));
  main.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Flags'), h('p', { class: 'muted' }, edit ? 'Search, filter and switch flags per environment.' : 'Search and filter flags; your role can look, not change.')),
      newBtn),
    toolbar,
    errors,
    h('div', { class: 'panel table-wrap flag-list' },
      h('table', { class: 'stack' },
        h('caption', { class: 'visually-hidden' }, 'Flags, one page at a time'),
        h('thead', {}, headRow),
        body),
      count, pager));

  // Column headers: the sortable ones are buttons (aria-sort on the th).
  // On a phone the rows are cards and the header row is out of sight: its
  // buttons leave the Tab order there (the "Sort by" menu sorts).
  const narrow = window.matchMedia('(max-width: 760px)');
  narrow.addEventListener('change', () => { if (ctx.isCurrent()) drawHead(); });
  function drawHead() {
    clear(headRow);
    const key = `${state.sortBy}:${state.order}`;
    if (!sortChoices.some(([v]) => v === key)) fSort.append(h('option', { value: key }, `${SORTS[state.sortBy]}, ${state.order === 'asc' ? 'ascending' : 'descending'}`));
    fSort.value = key;
    const col = (key, label) => {
      if (!key) return h('th', { scope: 'col' }, label);
      const active = state.sortBy === key;
      const next = active && state.order === 'asc' ? 'desc' : 'asc';
      return h('th', { scope: 'col', 'aria-sort': active ? (state.order === 'asc' ? 'ascending' : 'descending') : null },
        h('button', { type: 'button', class: 'sort', tabindex: narrow.matches ? -1 : null, 'aria-label': `Sort by ${label.toLowerCase()}${active ? `, now ${state.order === 'asc' ? 'ascending' : 'descending'}` : ''}`,
          onclick: () => { state.sortBy = key; state.order = active ? next : 'asc'; state.offset = 0; load(); } },
        label, active ? h('span', { 'aria-hidden': 'true' }, state.order === 'asc' ? ' ▲' : ' ▼') : null));
    };
    headRow.append(col('name', 'Name'), col('project', 'Project'), col('type', 'Type'), col(null, 'Tags'),
      ...environments.map((e) => h('th', { scope: 'col', class: 'center' }, e.name)));
  }

  function params() {
    const p = new URLSearchParams();
    if (q.value.trim()) p.set('query', q.value.trim());
    if (fProject.value) p.set('project', fProject.value);
    if (fType.value) p.set('type', fType.value);
    if (fTag.value.trim()) p.set('tag', fTag.value.trim());
    if (fStale.value) p.set('stale', fStale.value === 'yes' ? 'true' : 'false');
    p.set('sortBy', state.sortBy);
    p.set('sortOrder', state.order);
    p.set('offset', String(state.offset));
    p.set('limit', String(PAGE));
    return p;
  }

  function remember() {
    const u = new URLSearchParams();
    if (q.value.trim()) u.set('q', q.value.trim());
    for (const [k, c] of [['project', fProject], ['type', fType], ['tag', fTag], ['stale', fStale]]) if (c.value.trim()) u.set(k, c.value.trim());
    if (state.sortBy !== 'name') u.set('sort', state.sortBy);
    if (state.order !== 'asc') u.set('order', state.order);
    if (state.offset) u.set('offset', String(state.offset));
    const qs = u.toString();
    history.replaceState(null, '', '/flags' + (qs ? '?' + qs : ''));
  }

  let seq = 0;
  let onPage = new Map(); // name -> its row, for the flags listed now
  // The control of the list with this name now (rows may be redrawn).
  const byLabel = (root, label) => (label ? [...root.querySelectorAll('[aria-label]')].find((x) => x.getAttribute('aria-label') === label) : null);
  async function load() {
    const mine = ++seq;
    remember();
    drawHead();
    errors.replaceChildren();
    let r;
    try {
      const qs = params().toString();
      const pending = firstList && qs === firstQs ? firstList : null;
      firstList = null;
      r = await (pending || api('GET', `/features?${qs}`));
    } catch (err) {
      if (mine === seq) showErrors(toolbar, err, { after: toolbar });
      return;
    }
    if (mine !== seq || !ctx.isCurrent()) return;
    if (r.features.length === 0 && r.total > 0 && state.offset > 0) {
      state.offset = Math.max(0, Math.floor((r.total - 1) / PAGE) * PAGE);
      load();
      return;
    }
    // The focus stays on the control it is on when the rows are redrawn.
    const a = document.activeElement;
    const focusLabel = a && body.contains(a) ? a.getAttribute('aria-label') : null;
    clear(body);
    if (r.features.length === 0) {
      const filtered = [...params().keys()].some((k) => !['sortBy', 'sortOrder', 'offset', 'limit'].includes(k));
      body.append(h('tr', {}, h('td', { colspan: 4 + environments.length, class: 'empty' },
        filtered ? 'No flag matches these filters.' : (edit ? 'No flags yet. Create the first one with “New flag”.' : 'No flags yet.'))));
    }
    onPage = new Map();
    for (const f of r.features) {
      const row = flagRow(f);
      onPage.set(f.name, { row, f });
      body.append(row);
    }
    const again = byLabel(body, focusLabel);
    if (again) again.focus();
    const first = r.total ? state.offset + 1 : 0;
    const last = state.offset + r.features.length;
    count.textContent = `Flags ${first.toLocaleString('en')}–${last.toLocaleString('en')} of ${r.total.toLocaleString('en')}`;
    clear(pager);
    const go = (off) => () => { state.offset = off; load(); body.closest('.panel').scrollIntoView({ block: 'start' }); };
    pager.append(
      h('button', { type: 'button', onclick: go(Math.max(0, state.offset - PAGE)), disabled: state.offset === 0 }, '← Previous'),
      h('span', { class: 'muted small' }, `Page ${Math.floor(state.offset / PAGE) + 1} of ${Math.max(1, Math.ceil(r.total / PAGE))}`),
      h('button', { type: 'button', onclick: go(state.offset + PAGE), disabled: last >= r.total }, 'Next →'));
    performance.mark('vexil:flags-rendered');
  }

  function flagRow(f) {
    const link = h('a', { href: `/flags/${encodeURIComponent(f.project)}/${encodeURIComponent(f.name)}`, 'data-link': true }, f.name);
    return h('tr', {},
      h('td', { 'data-label': 'Name' }, link, f.stale ? [' ', badge('stale', 'warn')] : null,
        f.description ? h('div', { class: 'muted small' }, f.description) : null),
      h('td', { 'data-label': 'Project' }, f.project),
      h('td', { 'data-label': 'Type' }, f.type),
      h('td', { 'data-label': 'Tags' }, (f.tags || []).map((t) => h('span', { class: 'chip' }, `${t.type}:${t.value}`))),
      environments.map((e) => {
        const fe = (f.environments || []).find((x) => x.name === e.name);
        const on = !!(fe && fe.enabled);
        const rp = fe && fe.releasePlan;
        const state = edit ? switchButton(on, `${f.name} in ${e.name}`, (want, btn) => toggle(f, e, want, btn), e.type === 'production' ? 'prod' : '')
          : h('span', { class: 'state' }, on ? badge('on', 'ok') : badge('off'), h('span', { class: 'visually-hidden' }, ` in ${e.name}`));
        return h('td', { class: 'center env-cell', 'data-label': e.name },
          rp ? h('div', { class: 'env-state' }, state, planCell(rp, `/rollouts?feature=${encodeURIComponent(f.name)}`)) : state);
      }));
  }

  // The switch for btn's flag and environment in the list now: its row may
  // have been redrawn while a dialog or a request was pending.
  const current = (btn) => (btn.isConnected ? btn : byLabel(body, btn.getAttribute('aria-label')) || btn);

  async function toggle(f, env, want, btn) {
    const verb = want ? 'Enable' : 'Disable';
    if (env.type === 'production') {
      const ok = await confirmDialog({
        title: `${verb} ${f.name} in ${env.name}?`,
        text: `${env.name} is a production environment: SDKs connected to it see the change within seconds.${want ? ' Its strategies decide who gets the flag.' : ' Everyone gets the flag\'s off state.'}`,
        confirm: `${verb} in ${env.name}`,
        danger: !want,
      });
      if (!ok) { current(btn).focus(); return; }
    }
    btn.disabled = true;
    errors.replaceChildren();
    try {
      await api('POST', `${envPath(f.project, f.name, env.name)}/${want ? 'on' : 'off'}`);
      const fe = (f.environments || []).find((x) => x.name === env.name);
      if (fe) fe.enabled = want;
      btn.setAttribute('aria-checked', want ? 'true' : 'false');
      toast(`${f.name} is now ${want ? 'on' : 'off'} in ${env.name}.`);
    } catch (err) {
      showErrors(errors, err);
    } finally {
      btn.disabled = false;
      current(btn).focus();
    }
  }

  // Live: a flag on this page that changed (a plan's rollback, someone
  // else's switch) is read again and its row redrawn in place, keeping the
  // focus; not while a dialog is open (then once it closes). A reset or a
  // poll reloads the page.
  const due = new Set();
  const reload = throttle(() => { if (ctx.isCurrent()) load(); }, 1000);
  const redraw = throttle(async () => {
    if (!ctx.isCurrent() || document.querySelector('dialog[open]')) return;
    for (const name of [...due]) {
      due.delete(name);
      const cur = onPage.get(name);
      if (!cur) continue;
      let f;
      try { f = await api('GET', `/projects/${encodeURIComponent(cur.f.project)}/features/${encodeURIComponent(name)}`); } catch (_e) { reload(); return; }
      const now = onPage.get(name);
      if (!now || !now.row.isConnected || !ctx.isCurrent()) continue;
      // A dialog opened while the flag was read: its row stays until the
      // dialog closes (the dialog gives the focus back to that row's switch).
      if (document.querySelector('dialog[open]')) { due.add(name); return; }
      const a = document.activeElement;
      const label = a && now.row.contains(a) ? a.getAttribute('aria-label') : null;
      const row = flagRow(f);
      now.row.replaceWith(row);
      onPage.set(name, { row, f });
      const again = byLabel(row, label);
      if (again) again.focus();
    }
  }, 500);
  ctx.live({}, (ev) => {
    if (ev.type === 'change') {
      if (onPage.has(ev.event.feature)) { due.add(ev.event.feature); redraw(); }
    } else if (ev.type !== 'tick') {
      reload();
    }
  });
  const onClose = () => {
    if (!ctx.isCurrent()) { document.removeEventListener('close', onClose, true); return; }
    if (due.size) redraw();
  };
  document.addEventListener('close', onClose, true); // a dialog's close (it does not bubble)

  let typing = null;
  q.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(() => { state.offset = 0; load(); }, 250); });
  fTag.addEventListener('change', () => { state.offset = 0; load(); });
  for (const c of [fProject, fType, fStale]) c.addEventListener('change', () => { state.offset = 0; load(); });
  await load();
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
