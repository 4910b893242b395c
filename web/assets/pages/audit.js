// Audit log: every change, newest first, filtered by the query-string
// filters of GET /api/admin/search/events, 50 a page.
import { api, enc } from '../api.js';
import { h, clear, field, select, timeEl, showErrors } from '../dom.js';

const TYPES = ['project-created', 'project-deleted', 'environment-created', 'feature-created', 'feature-updated',
  'feature-metadata-updated', 'feature-archived', 'feature-revived', 'feature-deleted', 'feature-stale-on',
  'feature-stale-off', 'feature-tagged', 'feature-untagged', 'feature-environment-enabled',
  'feature-environment-disabled', 'feature-strategy-add', 'feature-strategy-update', 'feature-strategy-remove',
  'strategy-order-changed', 'feature-environment-variants-updated', 'feature-dependency-added',
  'feature-dependency-removed', 'feature-dependencies-removed', 'segment-created', 'segment-updated',
  'segment-deleted', 'api-token-created', 'api-token-updated', 'api-token-deleted', 'feature-type-updated',
  'state-imported'];
const LIMIT = 50;
const FILTERS = ['type', 'feature', 'project', 'environment', 'createdBy', 'from', 'to'];

export async function render(main, _params, query, ctx) {
  const inputs = {
    type: select([['', 'Any type'], ...TYPES], query.get('type') || ''),
    feature: h('input', { value: query.get('feature') || '', spellcheck: 'false' }),
    project: h('input', { value: query.get('project') || '', spellcheck: 'false', size: 10 }),
    environment: h('input', { value: query.get('environment') || '', spellcheck: 'false', size: 10 }),
    createdBy: h('input', { value: query.get('createdBy') || '', spellcheck: 'false', size: 10 }),
    from: h('input', { type: 'date', value: (query.get('from') || '').slice(0, 10) }),
    to: h('input', { type: 'date', value: (query.get('to') || '').slice(0, 10) }),
  };
  for (const k of FILTERS) inputs[k].dataset.path = `/query/${k}`;
  const offset = Math.max(0, Number(query.get('offset')) || 0);
  const form = h('form', { class: 'toolbar', role: 'search' },
    field('Event type', inputs.type), field('Flag', inputs.feature), field('Project', inputs.project),
    field('Environment', inputs.environment), field('By (token)', inputs.createdBy), field('From', inputs.from), field('To', inputs.to),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'),
    h('button', { type: 'button', onclick: () => ctx.navigate('/audit') }, 'Clear'));
  const out = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  main.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Audit log'),
    h('p', { class: 'muted' }, 'Every change, who made it and what it was before. Newest first.'))), form, out);

  function params(off) {
    const p = new URLSearchParams();
    for (const k of FILTERS) {
      let v = inputs[k].value.trim();
      if (!v) continue;
      if (k === 'from') v = `${v}T00:00:00.000Z`;
      if (k === 'to') v = `${v}T23:59:59.999Z`;
      p.set(k, v);
    }
    if (off) p.set('offset', String(off));
    return p;
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const p = params(0);
    ctx.navigate('/audit' + (p.toString() ? '?' + p : ''));
  });

  const p = params(offset);
  p.set('offset', String(offset));
  p.set('limit', String(LIMIT));
  let r;
  try {
    r = await api('GET', `/search/events?${p}`);
  } catch (err) {
    clear(out);
    showErrors(form, err, { after: form.lastChild });
    return;
  }
  clear(out);
  const rows = r.events.map((ev) => h('tr', {},
    h('td', {}, timeEl(ev.createdAt)),
    h('td', {}, h('code', {}, ev.type)),
    h('td', {}, ev.createdBy || '—'),
    h('td', {}, ev.featureName
      ? h('a', { href: `/flags/${enc(ev.project || 'default')}/${enc(ev.featureName)}`, 'data-link': true }, ev.featureName)
      : '—', ev.project ? h('div', { class: 'muted small' }, `project ${ev.project}`) : null),
    h('td', {}, ev.environment || '—'),
    h('td', {}, ev.data || ev.preData ? h('details', {}, h('summary', {}, 'Show change'),
      ev.preData ? [h('div', { class: 'small muted' }, 'Before'), h('pre', {}, JSON.stringify(ev.preData, null, 2))] : null,
      ev.data ? [h('div', { class: 'small muted' }, 'After'), h('pre', {}, JSON.stringify(ev.data, null, 2))] : null) : h('span', { class: 'muted' }, '—'))));
  const first = r.total === 0 ? 0 : offset + 1;
  const last = offset + r.events.length;
  const nav = (off) => { const q = params(off); return '/audit' + (q.toString() ? '?' + q : ''); };
  out.append(h('div', { class: 'panel table-wrap' },
    h('table', {},
      h('thead', {}, h('tr', {}, ['When', 'Event', 'By', 'Flag', 'Environment', 'Change'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No event matches these filters.')))),
    h('nav', { class: 'pager', 'aria-label': 'Pages of the audit log' },
      h('span', { class: 'muted small' }, `Events ${first}–${last} of ${r.total}`),
      h('span', { class: 'row' },
        offset > 0 ? h('a', { class: 'button', href: nav(Math.max(0, offset - LIMIT)), 'data-link': true, rel: 'prev' }, '← Newer') : null,
        last < r.total ? h('a', { class: 'button', href: nav(offset + LIMIT), 'data-link': true, rel: 'next' }, 'Older →') : null))));
}
