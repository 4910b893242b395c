// Segments: named, reusable lists of constraints that strategies refer to.
import { api, session } from '../api.js';
import { h, clear, field, select, toast, confirmDialog, openDialog, showErrors, clearErrors, timeEl } from '../dom.js';
import { constraintEditor, describeConstraint } from '../constraints.js';

export async function render(main) {
  const projects = (await api('GET', '/projects')).projects;
  const list = h('div');
  const can = session.can('edit');
  main.append(h('div', { class: 'page-head' },
    h('div', {}, h('h1', {}, 'Segments'), h('p', { class: 'muted' }, 'Reusable groups of constraints, shared by the strategies that select them.')),
    can ? h('button', { type: 'button', class: 'primary', onclick: () => edit(null) }, '+ New segment') : null), list);

  async function reload() {
    const segs = (await api('GET', '/segments')).segments || [];
    clear(list);
    if (!segs.length) list.append(h('div', { class: 'panel empty' }, 'No segments yet.'));
    for (const s of segs) {
      list.append(h('div', { class: 'panel' },
        h('div', { class: 'panel-head' },
          h('h2', {}, s.name),
          can ? h('span', { class: 'row' },
            h('button', { type: 'button', class: 'small', 'aria-label': `Edit segment ${s.name}`, onclick: () => edit(s) }, 'Edit'),
            h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete segment ${s.name}`, onclick: (e) => remove(s, e.target) }, 'Delete')) : null),
        s.description ? h('p', {}, s.description) : null,
        h('p', { class: 'small muted' }, s.project ? `Project ${s.project}` : 'All projects', ' · created ', timeEl(s.createdAt)),
        (s.constraints || []).length
          ? h('ul', {}, s.constraints.map((c) => h('li', {}, h('code', {}, describeConstraint(c)))))
          : h('p', { class: 'muted small' }, 'No constraints: matches every context.')));
    }
  }

  async function remove(s, button) {
    const ok = await confirmDialog({ title: `Delete segment ${s.name}?`, text: 'Strategies that use it must drop it first. This cannot be undone.', confirm: 'Delete', danger: true });
    if (!ok) { button.focus(); return; }
    try { await api('DELETE', `/segments/${s.id}`); toast(`Segment ${s.name} deleted.`); await reload(); } catch (err) { showErrors(list, err); }
  }

  function edit(s) {
    const isNew = !s;
    s = s || { name: '', description: '', project: null, constraints: [] };
    return openDialog((close) => {
      const name = h('input', { value: s.name, 'data-path': '/name', autocomplete: 'off', spellcheck: 'false', autofocus: true });
      const desc = h('input', { value: s.description || '', 'data-path': '/description' });
      const project = select([['', 'All projects'], ...projects.map((p) => [p.id, p.name || p.id])], s.project || '', { 'data-path': '/project' });
      const ce = constraintEditor(s.constraints || []);
      const form = h('form', { novalidate: true },
        h('h2', {}, isNew ? 'New segment' : `Edit segment ${s.name}`),
        h('div', { class: 'row' }, field('Name', name, { class: 'grow' }), field('Project', project)),
        field('Description', desc), ce.el,
        h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => close(null) }, 'Cancel'),
          h('button', { type: 'submit', class: 'primary' }, isNew ? 'Create segment' : 'Save segment')));
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        clearErrors(form);
        const bad = ce.check();
        if (bad) {
          form.querySelector('h2').after(h('div', { class: 'alert api-error', role: 'alert' },
            h('strong', {}, 'This cannot be saved yet. '), 'Correct the value marked below; nothing was sent.'));
          bad.focus();
          return;
        }
        const body = { name: name.value.trim(), description: desc.value, constraints: ce.value() };
        if (project.value) body.project = project.value;
        try {
          await api(isNew ? 'POST' : 'PUT', isNew ? '/segments' : `/segments/${s.id}`, body);
          close(true);
          toast(isNew ? 'Segment created.' : 'Segment saved.');
          await reload();
        } catch (err) { showErrors(form, err, { after: form.querySelector('h2') }); }
      });
      return form;
    });
  }
  await reload();
}
