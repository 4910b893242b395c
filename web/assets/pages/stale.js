// Stale flags: flags marked stale, and flags older than their type's
// expected lifetime (Unleash's "potentially stale"), to clean up.
import { api } from '../api.js';
import { h, clear, badge, timeEl, toast, confirmDialog, showErrors } from '../dom.js';

const DAY = 86400000;

export async function render(main) {
  const out = h('div');
  main.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Stale flags'),
    h('p', { class: 'muted' }, 'Flags marked stale, and flags that lived past their type\'s expected lifetime. Remove them from the code, then archive them.'))), out);

  async function reload() {
    const [f, t] = await Promise.all([api('GET', '/features'), api('GET', '/feature-types')]);
    const life = Object.fromEntries(t.types.map((x) => [x.id, x.lifetimeDays]));
    const now = Date.now();
    const rows = [];
    for (const flag of f.features) {
      const age = Math.floor((now - Date.parse(flag.createdAt)) / DAY);
      const lifetime = life[flag.type];
      const overdue = lifetime != null && age > lifetime;
      if (flag.stale || overdue) rows.push({ flag, age, lifetime, overdue });
    }
    rows.sort((a, b) => Number(b.flag.stale) - Number(a.flag.stale) || b.age - a.age);
    clear(out);
    out.append(h('div', { class: 'panel table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Flag', 'Project', 'Type', 'Created', 'Why', ''].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.length ? rows.map(({ flag, age, lifetime, overdue }) => h('tr', {},
        h('td', {}, h('a', { href: `/flags/${encodeURIComponent(flag.project)}/${encodeURIComponent(flag.name)}`, 'data-link': true }, flag.name)),
        h('td', {}, flag.project),
        h('td', {}, flag.type),
        h('td', {}, timeEl(flag.createdAt), h('div', { class: 'muted small' }, `${age} day${age === 1 ? '' : 's'} ago`)),
        h('td', {}, flag.stale ? badge('marked stale', 'warn') : null, overdue ? badge(`past its ${lifetime}-day lifetime`, 'bad') : null),
        h('td', {}, h('span', { class: 'row' },
          h('button', { type: 'button', class: 'small', 'aria-label': `${flag.stale ? 'Unmark' : 'Mark'} ${flag.name} stale`, onclick: () => setStale(flag, !flag.stale) }, flag.stale ? 'Not stale' : 'Mark stale'),
          h('button', { type: 'button', class: 'small danger', 'aria-label': `Archive ${flag.name}`, onclick: () => archive(flag) }, 'Archive')))))
        : h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'Nothing to clean up: no flag is stale or past its lifetime.'))))));
  }

  async function setStale(flag, stale) {
    try {
      await api('POST', `/projects/${encodeURIComponent(flag.project)}/stale`, { features: [flag.name], stale });
      toast(stale ? `${flag.name} marked stale.` : `${flag.name} is not stale any more.`);
      await reload();
    } catch (err) { showErrors(out, err); }
  }
  async function archive(flag) {
    const ok = await confirmDialog({ title: `Archive ${flag.name}?`, text: 'SDKs stop seeing it.', confirm: 'Archive', danger: true });
    if (!ok) return;
    try {
      await api('DELETE', `/projects/${encodeURIComponent(flag.project)}/features/${encodeURIComponent(flag.name)}`);
      toast(`${flag.name} archived.`);
      await reload();
    } catch (err) { showErrors(out, err); }
  }
  await reload();
}
