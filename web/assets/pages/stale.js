// Stale flags: the server's stale report (GET /api/admin/stale-report):
// flags marked stale, past their type's expected lifetime, not evaluated by
// any SDK for a while, or on for everyone for a while, each with its
// reasons in words. The two periods are kept in the URL. Editors can mark a
// flag stale or not, and archive it.
import { api, session } from '../api.js';
import { h, clear, field, badge, timeEl, toast, confirmDialog, showErrors } from '../dom.js';

const enc = encodeURIComponent;

export async function render(main, _params, query, ctx) {
  const edit = session.can('edit');
  const full = h('input', { type: 'number', min: 0, max: 3650, step: 1, value: query.get('fullDays') ?? '7', 'data-path': '/query/fullDays', inputmode: 'numeric' });
  const unseen = h('input', { type: 'number', min: 0, max: 3650, step: 1, value: query.get('unseenDays') ?? '30', 'data-path': '/query/unseenDays', inputmode: 'numeric' });
  const form = h('form', { class: 'toolbar' },
    field('On for everyone for at least (days)', full), field('Not evaluated for (days)', unseen),
    h('button', { type: 'submit', class: 'primary' }, 'Show'));
  const out = h('div');
  main.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Stale flags'),
    h('p', { class: 'muted' }, 'What the server finds stale: flags marked stale, past their type\'s lifetime, no longer evaluated by SDKs, or on for everyone for a while. Remove them from the code, then archive them.'))), form, out);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    ctx.navigate(`/stale?fullDays=${enc(full.value)}&unseenDays=${enc(unseen.value)}`, { replace: true });
  });

  function why(r) {
    switch (r.reason) {
      case 'marked-stale': return badge('marked stale', 'warn');
      case 'past-type-lifetime': return badge(`older than its type's ${r.lifetimeDays}-day lifetime`, 'bad');
      case 'not-evaluated': return badge(r.lastSeenAt ? `not evaluated since ${new Date(r.lastSeenAt).toISOString().slice(0, 10)}` : 'never evaluated by an SDK', 'warn');
      case 'fully-rolled-out': return badge(`on for everyone in ${r.environment} since ${String(r.since).slice(0, 10)}`, 'accent');
      default: return badge(r.reason);
    }
  }

  async function reload() {
    let report;
    try {
      report = await api('GET', `/stale-report?fullDays=${enc(full.value)}&unseenDays=${enc(unseen.value)}`);
    } catch (err) {
      clear(out);
      showErrors(form, err, { after: form });
      return;
    }
    const rows = report.flags.slice().sort((a, b) => b.reasons.length - a.reasons.length || a.name.localeCompare(b.name));
    clear(out);
    out.append(h('p', { class: 'muted small', 'aria-live': 'polite' },
      `${rows.length} flag${rows.length === 1 ? '' : 's'} to look at (on for everyone for ${report.criteria.fullDays} days or more; not evaluated for ${report.criteria.unseenDays} days or more).`),
    h('div', { class: 'panel table-wrap' }, h('table', { class: 'stack' },
      h('thead', {}, h('tr', {}, ['Flag', 'Project', 'Type', 'Why', edit ? 'Actions' : null].filter(Boolean).map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, rows.length ? rows.map((f) => {
        const stale = f.reasons.some((r) => r.reason === 'marked-stale');
        return h('tr', {},
          h('td', { 'data-label': 'Flag' }, h('a', { href: `/flags/${enc(f.project)}/${enc(f.name)}`, 'data-link': true }, f.name)),
          h('td', { 'data-label': 'Project' }, f.project),
          h('td', { 'data-label': 'Type' }, f.type),
          h('td', { 'data-label': 'Why' }, f.reasons.map(why)),
          edit ? h('td', { 'data-label': 'Actions' }, h('span', { class: 'row' },
            h('button', { type: 'button', class: 'small', 'aria-label': `${stale ? 'Not stale' : 'Mark stale'}: ${f.name}`, onclick: () => setStale(f, !stale) }, stale ? 'Not stale' : 'Mark stale'),
            h('button', { type: 'button', class: 'small danger', 'aria-label': `Archive ${f.name}`, onclick: (e) => archive(f, e.target) }, 'Archive'))) : null);
      }) : h('tr', {}, h('td', { colspan: edit ? 5 : 4, class: 'empty' }, 'Nothing to clean up: no flag is stale by these criteria.'))))));
  }

  async function setStale(flag, stale) {
    try {
      await api('POST', `/projects/${enc(flag.project)}/stale`, { features: [flag.name], stale });
      toast(stale ? `${flag.name} marked stale.` : `${flag.name} is not stale any more.`);
      await reload();
    } catch (err) { showErrors(out, err); }
  }
  async function archive(flag, button) {
    const ok = await confirmDialog({ title: `Archive ${flag.name}?`, text: 'SDKs stop seeing it. It can be revived from the Archived page.', confirm: 'Archive', danger: true });
    if (!ok) { button.focus(); return; }
    try {
      await api('DELETE', `/projects/${enc(flag.project)}/features/${enc(flag.name)}`);
      toast(`${flag.name} archived.`);
      await reload();
    } catch (err) { showErrors(out, err); }
  }
  await reload();
}
