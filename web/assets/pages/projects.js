// Projects: groups of flags. A project can be deleted once it has no flag.
import { api, session } from '../api.js';
import { h, stackTable, clear, field, timeEl, toast, confirmDialog, showErrors, clearErrors } from '../dom.js';

export async function render(main) {
  const list = h('div', { class: 'panel table-wrap' });
  const id = h('input', { 'data-path': '/id', autocomplete: 'off', spellcheck: 'false' });
  const name = h('input', { 'data-path': '/name' });
  const desc = h('input', { 'data-path': '/description' });
  const form = h('form', { class: 'panel', novalidate: true },
    h('h2', {}, 'Create a project'),
    h('div', { class: 'row' }, field('ID', id), field('Name', name, { class: 'grow' }), field('Description', desc, { class: 'grow' }),
      h('button', { type: 'submit', class: 'primary' }, 'Create project')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { id: id.value.trim() };
    if (name.value.trim()) body.name = name.value.trim();
    if (desc.value.trim()) body.description = desc.value.trim();
    try {
      await api('POST', '/projects', body);
      clearErrors(form);
      toast(`Project ${body.id} created.`);
      id.value = ''; name.value = ''; desc.value = '';
      await reload();
    } catch (err) { showErrors(form, err, { after: form.querySelector('h2') }); }
  });
  const can = session.can('edit');
  main.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Projects'),
    h('p', { class: 'muted' }, 'Flags belong to one project; tokens can be limited to some projects.'))), list, can ? form : null);

  async function reload() {
    const projects = (await api('GET', '/projects')).projects;
    clear(list);
    list.append(h('table', {},
      h('thead', {}, h('tr', {}, ['ID', 'Name', 'Description', 'Flags', 'Created', can ? 'Actions' : null].filter((x) => x !== null).map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, projects.map((p) => h('tr', {},
        h('td', {}, h('a', { href: `/flags?project=${encodeURIComponent(p.id)}`, 'data-link': true }, p.id)),
        h('td', {}, p.name || ''),
        h('td', {}, p.description || ''),
        h('td', {}, String(p.featureCount ?? '')),
        h('td', {}, timeEl(p.createdAt)),
        !can ? null : h('td', {}, p.id === 'default' ? null : h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete project ${p.id}`, onclick: async (e) => {
          const ok = await confirmDialog({ title: `Delete project ${p.id}?`, text: 'Only a project without flags (archived ones included) can be deleted. This cannot be undone.', confirm: 'Delete', danger: true });
          if (!ok) { e.target.focus(); return; }
          try { await api('DELETE', `/projects/${encodeURIComponent(p.id)}`); toast(`Project ${p.id} deleted.`); await reload(); } catch (err) { showErrors(list, err); }
        } }, 'Delete')))))));
    stackTable(list.querySelector('table'));
  }
  await reload();
}
