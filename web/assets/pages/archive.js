// The archive: archived flags (SDKs no longer see them), to bring back or
// to delete for good (GET /api/admin/archive/features, POST
// /api/admin/archive/revive/{name}, DELETE /api/admin/archive/{name}).
// Revived flags come back off in every environment, as in Unleash.
import { api } from '../api.js';
import { h, clear, timeEl, toast, confirmDialog, showErrors } from '../dom.js';

const enc = encodeURIComponent;

export async function render(main, _params, query) {
  const out = h('div');
  const project = query.get('project') || '';
  main.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Archive'),
    h('p', { class: 'muted' }, 'Archived flags are not served to SDKs. Revive one (it comes back off in every environment) or delete it for good, which frees its name.'))), out);

  async function reload() {
    const list = await api('GET', project ? `/archive/features/${enc(project)}` : '/archive/features');
    const rows = list.features.slice().sort((a, b) => String(b.archivedAt).localeCompare(String(a.archivedAt)));
    clear(out);
    out.append(h('div', { class: 'panel table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Flag', 'Project', 'Type', 'Archived', ''].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.length ? rows.map((flag) => h('tr', {},
        h('td', {}, flag.name),
        h('td', {}, flag.project),
        h('td', {}, flag.type),
        h('td', {}, flag.archivedAt ? timeEl(flag.archivedAt) : '-'),
        h('td', {}, h('span', { class: 'row' },
          h('button', { type: 'button', class: 'small', 'aria-label': `Revive ${flag.name}`, onclick: () => revive(flag) }, 'Revive'),
          h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${flag.name} for good`, onclick: () => remove(flag) }, 'Delete for good')))))
        : h('tr', {}, h('td', { colspan: 5, class: 'empty' }, project ? `No archived flags in ${project}.` : 'The archive is empty.'))))));
  }

  async function revive(flag) {
    const ok = await confirmDialog({ title: `Revive ${flag.name}?`, text: 'It comes back off in every environment, with its strategies and variants; turn it on where you want it.', confirm: 'Revive' });
    if (!ok) return;
    try {
      await api('POST', `/archive/revive/${enc(flag.name)}`);
      toast(`${flag.name} revived (off everywhere).`);
      await reload();
    } catch (err) { showErrors(out, err); }
  }
  async function remove(flag) {
    const ok = await confirmDialog({ title: `Delete ${flag.name} for good?`, text: 'This cannot be undone. Its release plans and scheduled changes go too; the audit log keeps its history.', confirm: 'Delete for good', danger: true });
    if (!ok) return;
    try {
      await api('DELETE', `/archive/${enc(flag.name)}`);
      toast(`${flag.name} deleted.`);
      await reload();
    } catch (err) { showErrors(out, err); }
  }
  await reload();
}
