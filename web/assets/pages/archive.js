// Archived flags: the archive, paged and searched by the server
// (GET /api/admin/archive/features?query&sortBy&sortOrder&offset&limit).
// Editors can revive a flag (POST /api/admin/archive/revive/{name}) or
// delete it for good (DELETE /api/admin/archive/{name}, confirmed first).
// A server without those routes (404 or 405) gets a plain explanation.
import { api, session } from '../api.js';
import { h, clear, field, timeEl, toast, confirmDialog, showErrors } from '../dom.js';

const enc = encodeURIComponent;
const PAGE = 50;

export async function render(main, _params, query, ctx) {
  const edit = session.can('edit');
  const q = h('input', { type: 'search', value: query.get('q') || '', autocomplete: 'off', placeholder: 'Name or description', 'data-path': '/query/query' });
  const offset = Math.max(0, Math.floor(Number(query.get('offset')) || 0));
  const form = h('form', { class: 'toolbar', role: 'search' }, field('Search', q, { class: 'grow' }), h('button', { type: 'submit', class: 'primary' }, 'Search'));
  const out = h('div');
  main.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Archived flags'),
    h('p', { class: 'muted' }, 'Flags taken out of use. SDKs do not see them; their names stay taken until they are deleted for good.'))), form, out);
  const url = (off) => {
    const p = new URLSearchParams();
    if (q.value.trim()) p.set('q', q.value.trim());
    if (off) p.set('offset', String(off));
    return '/archive' + (p.toString() ? '?' + p : '');
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); ctx.navigate(url(0), { replace: true }); });

  async function reload() {
    const p = new URLSearchParams({ sortBy: 'name', sortOrder: 'asc', offset: String(offset), limit: String(PAGE) });
    if (q.value.trim()) p.set('query', q.value.trim());
    let r;
    try {
      r = await api('GET', `/archive/features?${p}`);
    } catch (err) {
      clear(out);
      showErrors(form, err, { after: form });
      return;
    }
    clear(out);
    const total = r.total ?? r.features.length;
    const first = total ? offset + 1 : 0;
    const last = offset + r.features.length;
    out.append(h('div', { class: 'panel table-wrap' },
      h('table', { class: 'stack' },
        h('thead', {}, h('tr', {}, ['Flag', 'Project', 'Type', 'Archived', edit ? 'Actions' : null].filter(Boolean).map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', {}, r.features.length ? r.features.map((f) => h('tr', {},
          h('td', { 'data-label': 'Flag' }, h('strong', {}, f.name), f.description ? h('div', { class: 'muted small' }, f.description) : null),
          h('td', { 'data-label': 'Project' }, f.project),
          h('td', { 'data-label': 'Type' }, f.type),
          h('td', { 'data-label': 'Archived' }, timeEl(f.archivedAt || f.updatedAt)),
          edit ? h('td', { 'data-label': 'Actions' }, h('span', { class: 'row' },
            h('button', { type: 'button', class: 'small', 'aria-label': `Revive ${f.name}`, onclick: () => revive(f) }, 'Revive'),
            h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete for good: ${f.name}`, onclick: (e) => remove(f, e.target) }, 'Delete for good'))) : null))
          : h('tr', {}, h('td', { colspan: edit ? 5 : 4, class: 'empty' }, q.value.trim() ? 'No archived flag matches.' : 'No archived flags.')))),
      h('nav', { class: 'pager', 'aria-label': 'Pages of the archive' },
        h('span', { class: 'muted small' }, `Archived flags ${first}–${last} of ${total}`),
        h('span', { class: 'row' },
          offset > 0 ? h('a', { class: 'button', href: url(Math.max(0, offset - PAGE)), 'data-link': true, rel: 'prev' }, '← Previous') : null,
          last < total ? h('a', { class: 'button', href: url(offset + PAGE), 'data-link': true, rel: 'next' }, 'Next →') : null))));
  }

  // Runs one archive call; a server without its route (404 "no such
  // route", 405) gets `missing` in words instead of an error code.
  async function act(method, path, done, missing) {
    try {
      await api(method, path);
      toast(done);
      await reload();
    } catch (err) {
      if ((err.status === 404 || err.status === 405) && /route|method/i.test(err.message)) {
        out.prepend(h('div', { class: 'alert', role: 'alert' }, h('strong', {}, missing[0]), missing[1]));
      } else {
        showErrors(out, err);
      }
    }
  }

  function revive(f) {
    return act('POST', `/archive/revive/${enc(f.name)}`, `${f.name} revived: back in the flag list, off in every environment.`,
      ['This server cannot revive flags. ', 'Upgrade it, or revive the flag with its API.']);
  }

  async function remove(f, button) {
    const ok = await confirmDialog({
      title: `Delete ${f.name} for good?`,
      text: 'The flag and its settings are removed; only the audit log keeps what it was. Its name becomes free again. This cannot be undone.',
      confirm: 'Delete for good', danger: true,
    });
    if (!ok) { button.focus(); return; }
    await act('DELETE', `/archive/${enc(f.name)}`, `${f.name} deleted for good.`,
      ['This server cannot delete archived flags. ', 'Upgrade it, or keep the flag archived.']);
  }
  await reload();
}
