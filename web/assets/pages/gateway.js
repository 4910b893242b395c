// The model gateway's figures (docs/gateway.md, "Measurements"): per flag
// and variant, from GET /api/admin/gateway/stats?environment= (this
// server's counters since it started): requests, errors and timeouts,
// fallbacks, latency, time to first token, tokens per second, token
// counts and feedback; and, per flag, the results over the last 24 hours
// from every server (the impact data the gateway reports, read with the
// results endpoint), compared variant by variant. The environment is kept
// in the URL.
import { api, enc } from '../api.js';
import { h, clear, field, select, loadError } from '../dom.js';
import { percent, ms, count, drawResults } from '../results.js';

const rate = (n, d) => (d > 0 ? percent(n / d) : '—');
const mean = (m) => (m && m.count > 0 ? m.mean : NaN);

export async function render(main, _params, query, ctx) {
  const envs = ((await api('GET', '/environments')).environments || []).slice().sort((a, b) => (a.sortOrder || 0) - (b.sortOrder || 0)).map((e) => e.name);
  const want = query.get('environment');
  const env = select(envs, want && envs.includes(want) ? want : envs.includes('production') ? 'production' : envs[0], { 'data-path': '/query/environment' });
  const refresh = h('button', { type: 'button' }, 'Refresh');
  const out = h('div', { 'aria-live': 'polite' });
  main.append(h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Model gateway'),
    h('p', { class: 'muted' }, 'How each model variant served by the gateway is doing: speed, errors and what users said. A flag named model.<alias> picks the model per request; its variants are the candidates.'))),
  h('form', { class: 'toolbar', onsubmit: (e) => e.preventDefault() }, field('Environment', env), refresh), out);

  async function load() {
    history.replaceState(null, '', `/gateway?environment=${enc(env.value)}`);
    clear(out).append(h('p', { class: 'muted' }, 'Loading…'));
    let r;
    try {
      r = await api('GET', `/gateway/stats?environment=${enc(env.value)}`);
    } catch (err) {
      if (err.status === 404 && err.body && err.body.message === 'no such route') {
        clear(out).append(h('p', { class: 'notice' }, 'This server has no gateway figures for the console.'));
        return;
      }
      loadError(out, err);
      return;
    }
    if (!ctx.isCurrent()) return;
    clear(out);
    const flags = new Map();
    for (const s of r.series || []) {
      if (!flags.has(s.flag)) flags.set(s.flag, []);
      flags.get(s.flag).push(s);
    }
    if (!flags.size) {
      out.append(h('div', { class: 'panel empty' }, h('p', {}, `No request went through the model gateway in ${env.value} since this server started.`),
        h('p', { class: 'small' }, 'Applications send their OpenAI or Ollama requests to this server\'s /v1 with a client token of the environment; the alias "chat" is the flag model.chat (docs/gateway.md).')));
      return;
    }
    out.append(h('p', { class: 'small muted' }, 'Counters of this server since it started (each server of a cluster counts its own requests). The results below each table are every server\'s, over the last 24 hours.'));
    for (const [flag, rows] of [...flags.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      const project = rows.find((x) => x.project) ? rows.find((x) => x.project).project : null;
      rows.sort((a, b) => Number(b.enabled) - Number(a.enabled) || a.variant.localeCompare(b.variant));
      const resultsBox = h('div');
      out.append(h('section', { class: 'panel gw-flag', 'aria-label': `Gateway figures of ${flag}` },
        h('div', { class: 'panel-head' }, h('h2', {}, project ? h('a', { href: `/flags/${enc(project)}/${enc(flag)}`, 'data-link': true }, flag) : flag),
          h('span', { class: 'muted small' }, `alias “${flag.replace(/^model\./, '')}”`)),
        h('div', { class: 'table-wrap' }, h('table', {},
          h('caption', { class: 'visually-hidden' }, `${flag}: figures per variant`),
          h('thead', {}, h('tr', {}, ['Variant', 'Requests', 'Errors', 'Timeouts', 'Fallbacks', 'Latency (mean)', 'Time to first token', 'Tokens per second',
            'Tokens (prompt / completion)', 'Feedback (up / down)'].map((x) => h('th', { scope: 'col', class: x === 'Variant' ? '' : 'num' }, x)))),
          h('tbody', {}, rows.map((s) => h('tr', {},
            h('td', {}, h('strong', {}, s.variant), s.enabled ? '' : h('span', { class: 'muted small' }, ' (flag off)')),
            h('td', { class: 'num' }, count(s.requests)),
            h('td', { class: 'num' }, `${count(s.errors)} (${rate(s.errors, s.requests)})`),
            h('td', { class: 'num' }, `${count(s.timeouts)} (${rate(s.timeouts, s.requests)})`),
            h('td', { class: 'num' }, count(s.fallbacks)),
            h('td', { class: 'num' }, s.latencyMs && s.latencyMs.count ? ms(mean(s.latencyMs)) : 'no data yet'),
            h('td', { class: 'num' }, s.ttftMs && s.ttftMs.count ? ms(mean(s.ttftMs)) : 'no data yet'),
            h('td', { class: 'num' }, s.tokensPerSec && s.tokensPerSec.count ? `${Number(mean(s.tokensPerSec).toPrecision(3))}/s` : 'no data yet'),
            h('td', { class: 'num' }, `${count(s.promptTokens)} / ${count(s.completionTokens)}`),
            h('td', { class: 'num' }, s.conversions + s.feedbackDown > 0
              ? `${count(s.conversions)} / ${count(s.feedbackDown)} (${percent(s.conversions / (s.conversions + s.feedbackDown))} up)` : 'none yet')))))),
        project ? resultsBox : h('p', { class: 'small muted' }, 'This flag no longer exists: only its counters are left.')));
      if (project) drawResults(resultsBox, project, flag, env.value, { title: 'Results over the last 24 hours, every server', query: '?hours=24' }).catch(() => {});
    }
  }

  env.addEventListener('change', load);
  refresh.addEventListener('click', load);
  await load();
}
