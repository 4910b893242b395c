// Audit log: every change, newest first, filtered by the query-string
// filters of GET /api/admin/search/events, 50 a page. Each change is shown
// as a readable diff of what it was before and after (only what changed,
// named the way the console names it: "production › Gradual rollout ›
// rollout"), with the raw JSON one click further. The type filter offers
// every event type the server writes, plans and the advisor included.
import { api, enc } from '../api.js';
import { h, clear, field, timeEl, showErrors } from '../dom.js';

const GROUPS = [
  ['Flags', ['feature-created', 'feature-updated', 'feature-metadata-updated', 'feature-archived', 'feature-revived',
    'feature-deleted', 'feature-stale-on', 'feature-stale-off', 'feature-tagged', 'feature-untagged']],
  ['Environments of a flag', ['feature-environment-enabled', 'feature-environment-disabled',
    'feature-environment-variants-updated']],
  ['Strategies', ['feature-strategy-add', 'feature-strategy-update', 'feature-strategy-remove', 'strategy-order-changed']],
  ['Dependencies', ['feature-dependency-added', 'feature-dependency-removed', 'feature-dependencies-removed']],
  ['Release plans', ['release-plan-started', 'release-plan-advanced', 'release-plan-waiting-approval',
    'release-plan-approved', 'release-plan-paused', 'release-plan-resumed', 'release-plan-completed',
    'release-plan-rolled-back', 'release-plan-deleted']],
  ['Scheduled changes', ['scheduled-change-created', 'scheduled-change-applied', 'scheduled-change-failed',
    'scheduled-change-deleted']],
  ['Advisor', ['advisor-recommendation']],
  ['Segments', ['segment-created', 'segment-updated', 'segment-deleted']],
  ['Projects and environments', ['project-created', 'project-deleted', 'environment-created']],
  ['Tokens', ['api-token-created', 'api-token-updated', 'api-token-deleted']],
  ['Other', ['feature-type-updated', 'state-imported']],
];
export const EVENT_TYPES = GROUPS.flatMap(([, types]) => types);
const LIMIT = 50;
const FILTERS = ['type', 'feature', 'project', 'environment', 'createdBy', 'from', 'to'];

function typeSelect(value) {
  const s = h('select', {}, h('option', { value: '' }, 'Any type'),
    GROUPS.map(([label, types]) => h('optgroup', { label }, types.map((t) => h('option', { value: t }, t)))));
  if (value && !EVENT_TYPES.includes(value)) s.append(h('option', { value }, value)); // a type this page does not know yet
  s.value = value;
  return s;
}

// ---- the diff ------------------------------------------------------------------

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const HIDDEN = new Set(['updatedAt', 'createdAtMs', 'expiresAtMs', 'hash']);

// The label of an array element: its name, title or id when it has one.
function itemLabel(v, i) {
  if (isObj(v)) {
    if (typeof v.title === 'string' && v.title) return v.title;
    if (typeof v.name === 'string' && v.name) return v.name;
    if (typeof v.contextName === 'string') return `${v.contextName} ${v.operator || ''}`.trim();
    if (v.id !== undefined && v.id !== null) return `#${v.id}`;
  }
  return `#${i + 1}`;
}

function keyOf(v, i) {
  if (isObj(v) && v.id !== undefined && v.id !== null) return `id:${v.id}`;
  if (isObj(v) && typeof v.name === 'string') return `name:${v.name}`;
  return `at:${i}`;
}

// Flattens `v` into [{key, label, value}], arrays keyed by their elements'
// ids or names so an element moved or inserted is not a change of all.
function flatten(v, key = '', label = [], out = []) {
  if (Array.isArray(v)) {
    if (v.every((x) => !isObj(x) && !Array.isArray(x))) {
      out.push({ key, label, value: v.map((x) => String(x)).join(', ') || '(none)' });
      return out;
    }
    v.forEach((x, i) => flatten(x, `${key}/${keyOf(x, i)}`, [...label, itemLabel(x, i)], out));
    if (!v.length) out.push({ key, label, value: '(none)' });
    return out;
  }
  if (isObj(v)) {
    const keys = Object.keys(v).filter((k) => !HIDDEN.has(k));
    for (const k of keys) flatten(v[k], `${key}/${k}`, [...label, k.replace(/([a-z])([A-Z])/g, '$1 $2')], out);
    if (!keys.length) out.push({ key, label, value: '(empty)' });
    return out;
  }
  out.push({ key, label, value: v === null ? 'null' : typeof v === 'string' ? v : JSON.stringify(v) });
  return out;
}

// [{kind: 'changed'|'added'|'removed', label, before, after}]
export function diff(before, after) {
  const a = new Map(flatten(before ?? {}).map((x) => [x.key, x]));
  const b = new Map(flatten(after ?? {}).map((x) => [x.key, x]));
  const rows = [];
  for (const [k, x] of b) {
    const y = a.get(k);
    if (!y) rows.push({ kind: 'added', label: x.label, after: x.value });
    else if (y.value !== x.value) rows.push({ kind: 'changed', label: x.label, before: y.value, after: x.value });
  }
  for (const [k, y] of a) if (!b.has(k)) rows.push({ kind: 'removed', label: y.label, before: y.value });
  return rows;
}

function diffView(ev) {
  const only = ev.preData && !ev.data ? 'removed' : !ev.preData && ev.data ? 'added' : null;
  const rows = only === 'removed' ? flatten(ev.preData).map((x) => ({ kind: 'removed', label: x.label, before: x.value }))
    : only === 'added' ? flatten(ev.data).map((x) => ({ kind: 'added', label: x.label, after: x.value }))
      : diff(ev.preData, ev.data);
  const shown = rows.slice(0, 40);
  const where = (r) => h('span', { class: 'diff-where' }, r.label.join(' › ') || '(value)', ': ');
  return h('div', {},
    h('ul', { class: 'audit-diff', 'aria-label': 'What changed' }, shown.length ? shown.map((r) => (
      r.kind === 'changed'
        ? h('li', { class: 'changed' }, where(r), h('del', {}, r.before), h('span', { 'aria-hidden': 'true' }, ' → '), h('span', { class: 'visually-hidden' }, ' became '), h('ins', {}, r.after))
        : r.kind === 'added'
          ? h('li', { class: 'added' }, h('span', { class: 'visually-hidden' }, 'added '), h('span', { 'aria-hidden': 'true' }, '+ '), where(r), h('ins', {}, r.after))
          : h('li', { class: 'removed' }, h('span', { class: 'visually-hidden' }, 'removed '), h('span', { 'aria-hidden': 'true' }, '− '), where(r), h('del', {}, r.before))))
      : h('li', { class: 'muted' }, 'No field changed.')),
    rows.length > shown.length ? h('p', { class: 'muted small' }, `and ${rows.length - shown.length} more; see the raw JSON.`) : null,
    h('details', { class: 'raw' }, h('summary', {}, 'Raw JSON'),
      ev.preData ? [h('div', { class: 'small muted' }, 'Before'), h('pre', {}, JSON.stringify(ev.preData, null, 2))] : null,
      ev.data ? [h('div', { class: 'small muted' }, 'After'), h('pre', {}, JSON.stringify(ev.data, null, 2))] : null));
}

// ---- the page --------------------------------------------------------------------

export async function render(main, _params, query, ctx) {
  const inputs = {
    type: typeSelect(query.get('type') || ''),
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
    h('p', { class: 'muted' }, 'Every change, who made it and what changed. Newest first.'))), form, out);

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
    h('td', { 'data-label': 'When' }, timeEl(ev.createdAt)),
    h('td', { 'data-label': 'Event' }, h('code', {}, ev.type)),
    h('td', { 'data-label': 'By' }, ev.createdBy || '—'),
    h('td', { 'data-label': 'Flag' }, ev.featureName
      ? h('a', { href: `/flags/${enc(ev.project || 'default')}/${enc(ev.featureName)}`, 'data-link': true }, ev.featureName)
      : '—', ev.project ? h('div', { class: 'muted small' }, `project ${ev.project}`) : null),
    h('td', { 'data-label': 'Environment' }, ev.environment || '—'),
    h('td', { 'data-label': 'Change', class: 'change' }, ev.data || ev.preData ? h('details', {}, h('summary', {}, 'Show change'), diffView(ev)) : h('span', { class: 'muted' }, '—'))));
  const first = r.total === 0 ? 0 : offset + 1;
  const last = offset + r.events.length;
  const nav = (off) => { const q = params(off); return '/audit' + (q.toString() ? '?' + q : ''); };
  out.append(h('div', { class: 'panel table-wrap' },
    h('table', { class: 'stack' },
      h('thead', {}, h('tr', {}, ['When', 'Event', 'By', 'Flag', 'Environment', 'Change'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No event matches these filters.')))),
    h('nav', { class: 'pager', 'aria-label': 'Pages of the audit log' },
      h('span', { class: 'muted small' }, `Events ${first}–${last} of ${r.total}`),
      h('span', { class: 'row' },
        offset > 0 ? h('a', { class: 'button', href: nav(Math.max(0, offset - LIMIT)), 'data-link': true, rel: 'prev' }, '← Newer') : null,
        last < r.total ? h('a', { class: 'button', href: nav(offset + LIMIT), 'data-link': true, rel: 'next' }, 'Older →') : null))));
}
