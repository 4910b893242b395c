// Small SVG charts drawn by our own code (no chart library): stacked
// bars for hourly counts, lines with optional confidence bands for series
// over time. Colours come from CSS classes (app.css .c-0 ... .c-5, .c-yes,
// .c-no), so dark mode and the Content-Security-Policy (no inline styles)
// both hold. Every chart has a <title> and a text alternative; the numbers
// themselves are also given as a table by the pages that draw charts.
import { h } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// 1234 -> "1.2k"; small numbers as they are.
export function compact(n) {
  if (!Number.isFinite(n)) return '—';
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(1).replace(/\.0$/, '') + 'G';
  if (a >= 1e6) return (n / 1e6).toFixed(1).replace(/\.0$/, '') + 'M';
  if (a >= 1e4) return Math.round(n / 1e3) + 'k';
  if (a >= 1e3) return (n / 1e3).toFixed(1).replace(/\.0$/, '') + 'k';
  if (a > 0 && a < 0.01) return n.toExponential(1);
  return String(Math.round(n * 1000) / 1000);
}

// The width to draw at: the room the page has (at most `max`), so the SVG
// is shown at its own scale and its 11 px labels stay 11 px on a phone
// instead of shrinking with the picture.
export function fitWidth(max = 720) {
  const main = typeof document !== 'undefined' && document.getElementById('main');
  const room = main ? main.clientWidth - 48 : max;
  return Math.round(Math.max(280, Math.min(max, room || max)));
}

// A "nice" upper bound for an axis and its tick step.
function niceMax(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const exp = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * exp >= max) {
      const top = m * exp;
      return { top, step: top / 4 };
    }
  }
  return { top: 10 * exp, step: 2.5 * exp };
}

function legend(series) {
  return h('ul', { class: 'legend' }, series.map((s, i) =>
    h('li', {}, svg('svg', { width: 12, height: 12, 'aria-hidden': 'true' },
      svg('rect', { width: 12, height: 12, rx: 2, class: s.cls || `c-${i % 6}` })), s.label)));
}

// Stacked bars: labels[i] is the x label (shown sparsely), series[k] =
// {label, cls, values[i]}. Returns a <figure>.
export function barChart({ title, labels, series, height = 180, width = fitWidth(), unit = '' }) {
  const pad = { l: 44, r: 8, t: 8, b: 22 };
  const n = labels.length;
  const totals = labels.map((_, i) => series.reduce((a, s) => a + (s.values[i] || 0), 0));
  const { top, step } = niceMax(Math.max(0, ...totals));
  const iw = width - pad.l - pad.r;
  const ih = height - pad.t - pad.b;
  const bw = n ? iw / n : iw;
  const y = (v) => pad.t + ih - (v / top) * ih;
  const g = svg('g');
  for (let t = 0; t <= top + 1e-9; t += step) {
    g.append(svg('line', { x1: pad.l, x2: width - pad.r, y1: y(t), y2: y(t), class: 'grid' }),
      svg('text', { x: pad.l - 6, y: y(t) + 4, 'text-anchor': 'end', class: 'tick' }, compact(t)));
  }
  const every = Math.max(1, Math.ceil(n / Math.max(3, Math.floor(iw / 70))));
  for (let i = 0; i < n; i++) {
    let base = 0;
    for (let k = 0; k < series.length; k++) {
      const v = series[k].values[i] || 0;
      if (v <= 0) continue;
      const r = svg('rect', {
        x: pad.l + i * bw + bw * 0.12, width: Math.max(1, bw * 0.76),
        y: y(base + v), height: Math.max(0.5, y(base) - y(base + v)),
        class: series[k].cls || `c-${k % 6}`,
      }, svg('title', {}, `${labels[i]}: ${series[k].label} ${v}${unit}`));
      g.append(r);
      base += v;
    }
    if (i % every === 0) {
      g.append(svg('text', { x: pad.l + i * bw + bw / 2, y: height - 6, 'text-anchor': 'middle', class: 'tick' }, labels[i]));
    }
  }
  g.append(svg('line', { x1: pad.l, x2: width - pad.r, y1: y(0), y2: y(0), class: 'axis' }));
  const total = totals.reduce((a, b) => a + b, 0);
  const desc = `${title}: ${total} in total over ${n} intervals, at most ${Math.max(0, ...totals)} in one.`;
  return h('figure', { class: 'chart' },
    svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': desc },
      svg('title', {}, desc), g),
    h('figcaption', {}, h('span', { class: 'chart-title' }, title), legend(series)));
}

// Lines over time: series[k] = {label, cls, step?, points: [{t (ms), v, lo?, hi?}]}.
// lo/hi draw a shaded band (a confidence interval) around the line.
// fmt formats a value for the axis and the tooltips.
export function lineChart({ title, series, height = 200, width = fitWidth(), fmt = compact, yMin }) {
  width = Math.min(width, fitWidth(width));
  const pad = { l: 52, r: 10, t: 10, b: 22 };
  const pts = series.flatMap((s) => s.points);
  if (!pts.length) return h('figure', { class: 'chart' }, h('p', { class: 'muted small' }, `${title}: no data yet.`));
  const t0 = Math.min(...pts.map((p) => p.t));
  const t1 = Math.max(...pts.map((p) => p.t), t0 + 1);
  const vals = pts.flatMap((p) => [p.v, p.lo, p.hi]).filter((v) => Number.isFinite(v));
  const lo = yMin !== undefined ? yMin : Math.min(0, ...vals);
  const { top, step } = niceMax(Math.max(...vals) - lo);
  const iw = width - pad.l - pad.r;
  const ih = height - pad.t - pad.b;
  const x = (t) => pad.l + ((t - t0) / (t1 - t0)) * iw;
  const y = (v) => pad.t + ih - ((v - lo) / top) * ih;
  const g = svg('g');
  for (let v = 0; v <= top + 1e-12; v += step) {
    g.append(svg('line', { x1: pad.l, x2: width - pad.r, y1: y(lo + v), y2: y(lo + v), class: 'grid' }),
      svg('text', { x: pad.l - 6, y: y(lo + v) + 4, 'text-anchor': 'end', class: 'tick' }, fmt(lo + v)));
  }
  // Short spans show seconds, long ones the date (UTC).
  const label = (tt) => {
    const iso = new Date(tt).toISOString();
    return t1 - t0 < 3600000 ? iso.slice(11, 19) : iso.slice(5, 16).replace('T', ' ');
  };
  const ticks = pts.length > 1 && t1 - t0 > 1 ? [t0, (t0 + t1) / 2, t1] : [t0];
  for (const tt of ticks) {
    g.append(svg('text', { x: x(tt), y: height - 6, 'text-anchor': tt === t0 ? 'start' : tt === t1 ? 'end' : 'middle', class: 'tick' }, label(tt)));
  }
  series.forEach((s, k) => {
    const cls = s.cls || `c-${k % 6}`;
    const ps = s.points.slice().sort((a, b) => a.t - b.t);
    const band = ps.filter((p) => Number.isFinite(p.lo) && Number.isFinite(p.hi));
    if (band.length > 1) {
      const d = band.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.hi).toFixed(1)}`).join('') +
        band.slice().reverse().map((p) => `L${x(p.t).toFixed(1)},${y(p.lo).toFixed(1)}`).join('') + 'Z';
      g.append(svg('path', { d, class: `band ${cls}` }));
    }
    const line = ps.filter((p) => Number.isFinite(p.v));
    if (line.length) {
      // s.step: the value holds until the next point (a rollout percentage).
      const d = line.map((p, i) => (i === 0 ? `M${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`
        : (s.step ? `L${x(p.t).toFixed(1)},${y(line[i - 1].v).toFixed(1)}` : '') + `L${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`)).join('');
      g.append(svg('path', { d, class: `line ${cls}` }));
      for (const p of line) {
        g.append(svg('circle', { cx: x(p.t), cy: y(p.v), r: 2.5, class: cls },
          svg('title', {}, `${s.label} ${new Date(p.t).toISOString().slice(0, 16).replace('T', ' ')}: ${fmt(p.v)}` +
            (Number.isFinite(p.lo) ? ` (${fmt(p.lo)} – ${fmt(p.hi)})` : ''))));
      }
    }
  });
  const desc = `${title}: ` + series.map((s) => {
    const last = s.points[s.points.length - 1];
    return last ? `${s.label} last ${fmt(last.v)}` : `${s.label} no data`;
  }).join('; ');
  return h('figure', { class: 'chart' },
    svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': desc },
      svg('title', {}, desc), g),
    h('figcaption', {}, h('span', { class: 'chart-title' }, title), legend(series)));
}
