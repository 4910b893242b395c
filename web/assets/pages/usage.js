// Usage: how often SDKs evaluated a flag, hour by hour, from the metrics
// they post to /api/client/metrics (GET /api/admin/client-metrics/features/
// {name}?hours=N), per application and variant; and the SDK instances that
// registered (GET /api/admin/metrics/applications). The flag page shows the
// same chart for its last 24 hours (usageFigure).
import { api, enc } from '../api.js';
import { h, field, select, timeEl, loadError } from '../dom.js';
import { barChart, compact } from '../chart.js';

const HOUR = 3600000;

// The hour keys the API uses ("2026-11-30T05", UTC) for the last `hours`
// hours, oldest first.
function hourKeys(hours, now = Date.now()) {
  const out = [];
  const cur = Math.floor(now / HOUR);
  for (let i = cur - hours + 1; i <= cur; i++) out.push(new Date(i * HOUR).toISOString().slice(0, 13));
  return out;
}

// Sums usage rows: per hour (yes, no, variants) and per application.
export function summarize(rows, hours, environment = '') {
  const keys = hourKeys(hours);
  const idx = new Map(keys.map((k, i) => [k, i]));
  const yes = keys.map(() => 0);
  const no = keys.map(() => 0);
  const variants = {};
  const apps = new Map();
  for (const r of rows) {
    if (environment && r.environment !== environment) continue;
    const i = idx.get(r.hour);
    if (i === undefined) continue;
    yes[i] += r.yes || 0;
    no[i] += r.no || 0;
    const key = `${r.appName}\u0000${r.environment}`;
    const a = apps.get(key) || { appName: r.appName, environment: r.environment, yes: 0, no: 0, variants: {}, last: '' };
    a.yes += r.yes || 0;
    a.no += r.no || 0;
    if (r.hour > a.last) a.last = r.hour;
    for (const [v, n] of Object.entries(r.variants || {})) {
      (variants[v] = variants[v] || keys.map(() => 0))[i] += n;
      a.variants[v] = (a.variants[v] || 0) + n;
    }
    apps.set(key, a);
  }
  const labels = keys.map((k) => (hours > 48 ? `${k.slice(8, 10)}/${k.slice(5, 7)} ${k.slice(11)}h` : `${k.slice(11)}:00`));
  const total = (arr) => arr.reduce((x, y) => x + y, 0);
  return { keys, labels, yes, no, variants, apps: [...apps.values()], totalYes: total(yes), totalNo: total(no) };
}

// The yes/no chart of a summary.
export function usageFigure(sum, title) {
  return barChart({
    title,
    labels: sum.labels,
    series: [{ label: 'on (yes)', cls: 'c-yes', values: sum.yes }, { label: 'off (no)', cls: 'c-no', values: sum.no }],
  });
}

export function totals(sum) {
  const all = sum.totalYes + sum.totalNo;
  return h('p', {},
    h('span', { class: 'stat' }, h('b', {}, compact(all)), 'evaluations'),
    h('span', { class: 'stat' }, h('b', {}, compact(sum.totalYes)), 'on'),
    h('span', { class: 'stat' }, h('b', {}, compact(sum.totalNo)), 'off'),
    h('span', { class: 'stat' }, h('b', {}, all ? `${Math.round((sum.totalYes / all) * 1000) / 10}%` : '—'), 'on, of all'),
    h('span', { class: 'stat' }, h('b', {}, String(sum.apps.length)), 'applications'));
}

export async function render(main, _params, query, ctx) {
  const [feats, envs] = await Promise.all([api('GET', '/features'), api('GET', '/environments')]);
  const flags = (feats.features || []).slice().sort((a, b) => a.name.localeCompare(b.name));
  const seen = flags.filter((f) => f.lastSeenAt).sort((a, b) => b.lastSeenAt.localeCompare(a.lastSeenAt));
  const want = query.get('flag') || (seen[0] || flags[0] || {}).name || '';
  const hours = query.get('hours') === '168' ? 168 : 24;
  const environment = query.get('environment') || '';

  main.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Usage'),
    h('p', { class: 'muted' }, 'How often SDKs evaluated a flag, from the metrics they send every few seconds (kept 14 days), and which SDK instances registered.'))));

  const flag = select(flags.map((f) => [f.name, f.project === 'default' ? f.name : `${f.name} (${f.project})`]), want);
  const period = select([['24', 'The last 24 hours'], ['168', 'The last 7 days']], String(hours));
  const env = select([['', 'All environments'], ...(envs.environments || []).map((e) => [e.name, e.name])], environment);
  const form = h('form', { class: 'toolbar', 'aria-label': 'Which usage' },
    field('Flag', flag), field('Period', period), field('Environment', env),
    h('button', { type: 'submit' }, 'Show'));
  const go = (e) => {
    if (e) e.preventDefault();
    const q = new URLSearchParams();
    if (flag.value) q.set('flag', flag.value);
    q.set('hours', period.value);
    if (env.value) q.set('environment', env.value);
    ctx.navigate(`/usage?${q}`, { replace: true });
  };
  form.addEventListener('submit', go);
  for (const s of [flag, period, env]) s.addEventListener('change', go);
  const out = h('section', { class: 'panel', 'aria-labelledby': 'h-usage' });
  const appsBox = h('section', { class: 'panel', 'aria-labelledby': 'h-apps' });
  main.append(form, out, appsBox);

  if (!want) {
    out.append(h('h2', { id: 'h-usage' }, 'Evaluations'), h('p', { class: 'empty' }, 'There are no flags yet.'));
  } else {
    try {
      const r = await api('GET', `/client-metrics/features/${enc(want)}?hours=${hours}`);
      const sum = summarize(r.usage || [], hours, environment);
      const f = flags.find((x) => x.name === want);
      out.append(h('div', { class: 'panel-head' },
        h('h2', { id: 'h-usage' }, `Evaluations of ${want}`),
        f ? h('a', { href: `/flags/${enc(f.project)}/${enc(f.name)}`, 'data-link': true }, 'Open the flag') : null),
      totals(sum),
      usageFigure(sum, `${want}: evaluations per hour, ${hours === 24 ? 'last 24 hours' : 'last 7 days'} (UTC)${environment ? ', ' + environment : ''}`));
      const vnames = Object.keys(sum.variants).sort();
      if (vnames.length) {
        out.append(barChart({ title: 'Variants per hour', labels: sum.labels, series: vnames.map((v, i) => ({ label: v, cls: `c-${(i + 2) % 6}`, values: sum.variants[v] })) }));
      }
      out.append(h('h3', {}, 'By application'), h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Application', 'Environment', 'On', 'Off', 'Variants', 'Last hour'].map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', {}, sum.apps.length ? sum.apps.sort((a, b) => (b.yes + b.no) - (a.yes + a.no)).map((a) => h('tr', {},
          h('td', {}, a.appName), h('td', {}, a.environment),
          h('td', { class: 'num' }, String(a.yes)), h('td', { class: 'num' }, String(a.no)),
          h('td', {}, Object.entries(a.variants).map(([v, n]) => h('span', { class: 'chip' }, `${v} ${n}`))),
          h('td', {}, `${a.last.replace('T', ' ')}:00 UTC`)))
          : h('tr', {}, h('td', { colspan: 6, class: 'empty' }, `No SDK reported evaluating ${want} in this period.`))))));
    } catch (err) {
      out.append(h('h2', { id: 'h-usage' }, 'Evaluations'));
      const box = h('div');
      out.append(box);
      loadError(box, err);
    }
  }

  appsBox.append(h('h2', { id: 'h-apps' }, 'SDK instances'));
  try {
    const r = await api('GET', '/metrics/applications');
    const list = (r.applications || []).slice().sort((a, b) => String(b.lastSeen).localeCompare(String(a.lastSeen)));
    appsBox.append(h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Application', 'Instance', 'Environment', 'SDK', 'Strategies', 'Started', 'Last seen'].map((x) => h('th', { scope: 'col' }, x)))),
      h('tbody', {}, list.length ? list.map((a) => h('tr', {},
        h('td', {}, a.appName), h('td', {}, h('code', {}, a.instanceId || '—')), h('td', {}, a.environment || '—'),
        h('td', {}, a.sdkVersion || '—', a.platformName ? h('div', { class: 'muted small' }, a.platformName) : null),
        h('td', {}, String((a.strategies || []).length)),
        h('td', {}, a.started ? timeEl(a.started) : '—'), h('td', {}, timeEl(a.lastSeen))))
        : h('tr', {}, h('td', { colspan: 7, class: 'empty' }, 'No SDK has registered yet (SDKs call POST /api/client/register when they start).'))))));
  } catch (err) {
    const box = h('div');
    appsBox.append(box);
    loadError(box, err);
  }
}
