// Environments: where flags are switched independently (development,
// production...). A production-type environment asks for confirmation on
// every switch in the flag pages.
import { api, session } from '../api.js';
import { h, stackTable, clear, field, select, badge, timeEl, toast, showErrors, clearErrors } from '../dom.js';

export async function render(main) {
  const list = h('div', { class: 'panel table-wrap' });
  const name = h('input', { 'data-path': '/name', autocomplete: 'off', spellcheck: 'false' });
  const type = select(['development', 'test', 'preproduction', 'production'], 'development', { 'data-path': '/type' });
  const order = h('input', { type: 'number', 'data-path': '/sortOrder', size: 5 });
  const form = h('form', { class: 'panel', novalidate: true },
    h('h2', {}, 'Add an environment'),
    h('div', { class: 'row' }, field('Name', name, { class: 'grow' }), field('Type', type), field('Sort order', order),
      h('button', { type: 'submit', class: 'primary' }, 'Add environment')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { name: name.value.trim(), type: type.value };
    if (order.value !== '') body.sortOrder = Number(order.value);
    try {
      await api('POST', '/environments', body);
      clearErrors(form);
      toast(`Environment ${body.name} added.`);
      name.value = ''; order.value = '';
      await reload();
    } catch (err) { showErrors(form, err, { after: form.querySelector('h2') }); }
  });
  const can = session.can('admin');
  main.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Environments'),
    h('p', { class: 'muted' }, 'Each flag is switched on or off, and targeted, per environment.', can ? '' : ' Adding one needs the admin role.'))), list, can ? form : null);

  async function reload() {
    const envs = (await api('GET', '/environments')).environments.slice().sort((a, b) => a.sortOrder - b.sortOrder);
    clear(list);
    list.append(h('table', {},
      h('thead', {}, h('tr', {}, ['Name', 'Type', 'Sort order', 'State', 'Created'].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, envs.map((e) => h('tr', {},
        h('td', {}, h('strong', {}, e.name)),
        h('td', {}, badge(e.type, e.type === 'production' ? 'warn' : '')),
        h('td', {}, String(e.sortOrder)),
        h('td', {}, e.enabled === false ? badge('disabled') : badge('enabled', 'ok')),
        h('td', {}, timeEl(e.createdAt)))))));
    stackTable(list.querySelector('table'));
  }
  await reload();
}
