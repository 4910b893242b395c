// DOM helpers: elements are built with h() from text, never from HTML
// strings, so data from the server can not inject markup. Dialogs use the
// native <dialog> (focus is trapped, Escape closes). Errors from the API are
// shown next to the field their details[].path names.
import { describe } from './api.js';

let uid = 0;
export const nextId = (prefix = 'f') => `${prefix}-${++uid}`;

// h('button', {class: 'primary', onclick: fn, 'aria-label': 'x'}, 'Save')
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'value' || k === 'checked' || k === 'selected' || k === 'disabled') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

// A labelled control: field('Name', input, {hint}) -> <div class=field><label for>...
export function field(label, control, opts = {}) {
  if (!control.id) control.id = nextId('in');
  const parts = [h('label', { for: control.id }, label), control];
  if (opts.hint) {
    const hid = nextId('hint');
    control.setAttribute('aria-describedby', hid);
    parts.push(h('span', { class: 'hint', id: hid }, opts.hint));
  }
  return h('div', { class: 'field' + (opts.class ? ' ' + opts.class : '') }, parts);
}

export function select(options, value, props = {}) {
  const s = h('select', props);
  for (const o of options) {
    const [v, label] = Array.isArray(o) ? o : [o, o];
    s.append(h('option', { value: v, selected: String(v) === String(value) }, label));
  }
  return s;
}

export function checkbox(label, checked, props = {}) {
  const input = h('input', { type: 'checkbox', checked, ...props });
  return { input, el: h('label', { class: 'check' }, input, label) };
}

// The switch used for per-environment toggles.
export function switchButton(on, label, onToggle, extraClass = '') {
  const b = h('button', {
    type: 'button', role: 'switch', class: 'switch ' + extraClass,
    'aria-checked': on ? 'true' : 'false', 'aria-label': label, title: label,
  });
  b.addEventListener('click', () => onToggle(b.getAttribute('aria-checked') !== 'true', b));
  return b;
}

// Makes `table` stack into one card per row on narrow screens (app.css
// table.stack): each cell gets its column's heading as a label. Returns it.
export function stackTable(table) {
  if (!table.classList.contains('stack')) table.classList.add('stack');
  const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent.trim());
  for (const tr of table.querySelectorAll('tbody tr')) {
    [...tr.children].forEach((td, i) => { if (heads[i] && !td.dataset.label && td.colSpan === 1) td.dataset.label = heads[i]; });
  }
  return table;
}

export function badge(text, kind = '') { return h('span', { class: 'badge ' + kind }, text); }

export function toast(text) {
  const box = document.getElementById('toasts');
  const t = h('div', { class: 'toast' }, text);
  box.append(t);
  while (box.children.length > 3) box.firstChild.remove();
  setTimeout(() => t.remove(), 4000);
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function timeEl(iso) {
  return h('time', { datetime: iso || '', title: iso || '' }, fmtTime(iso));
}

// --- dialogs -----------------------------------------------------------------

// Opens a modal dialog. build(close) returns its content; resolves with
// the value passed to close(). The dialog is removed when closed.
export function openDialog(build, opts = {}) {
  return new Promise((resolve) => {
    const d = h('dialog', { class: opts.narrow ? 'narrow' : '', 'aria-labelledby': '' });
    let result;
    const close = (v) => { result = v; d.close(); };
    const content = build(close);
    d.append(content);
    const title = d.querySelector('h2');
    if (title) {
      if (!title.id) title.id = nextId('dlg');
      d.setAttribute('aria-labelledby', title.id);
    }
    d.addEventListener('close', () => { d.remove(); resolve(result); });
    document.body.append(d);
    d.showModal();
    const first = d.querySelector('[autofocus]') || d.querySelector('input, select, textarea, button.primary');
    if (first) first.focus();
  });
}

// A yes/no question. Resolves true when confirmed. A destructive one
// (`danger`) starts with the focus on Cancel, so Enter never deletes at
// once: confirming takes a deliberate move to the red button.
export function confirmDialog({ title, text, confirm = 'Confirm', danger = false }) {
  return openDialog((close) => h('div', {},
    h('h2', {}, title),
    typeof text === 'string' ? h('p', {}, text) : text,
    h('div', { class: 'actions' },
      h('button', { type: 'button', autofocus: danger, onclick: () => close(false) }, 'Cancel'),
      h('button', { type: 'button', class: 'primary' + (danger ? ' danger' : ''), autofocus: !danger, onclick: () => close(true) }, confirm))),
  { narrow: true }).then((v) => v === true);
}

// --- errors --------------------------------------------------------------------

// Removes the marks showErrors left in `root`.
export function clearErrors(root) {
  root.querySelectorAll('.field-error, .alert.api-error').forEach((e) => e.remove());
  root.querySelectorAll('[aria-invalid="true"]').forEach((e) => {
    e.removeAttribute('aria-invalid');
    const ids = (e.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && !x.startsWith('err-'));
    if (ids.length) e.setAttribute('aria-describedby', ids.join(' ')); else e.removeAttribute('aria-describedby');
  });
}

// The control in `root` for a JSON pointer: the closest [data-path] equal
// to it or to one of its prefixes ("/constraints/0/values/3" falls back to
// "/constraints/0/values").
function controlFor(root, ptr) {
  let p = ptr;
  while (p) {
    const el = root.querySelector(`[data-path="${CSS.escape(p)}"]`);
    if (el) return el;
    p = p.slice(0, p.lastIndexOf('/'));
  }
  return null;
}

// Shows an API error in `root` (a form or a section): a summary at the top
// (role=alert) and, for every detail with a path, a message under the
// field it names. `prefix` is prepended to detail paths (when the body sent
// was a part of what the form shows).
export function showErrors(root, err, opts = {}) {
  clearErrors(root);
  const info = describe(err);
  const list = [];
  let firstField = null;
  for (const f of info.fields) {
    const el = controlFor(root, (opts.prefix || '') + f.path);
    if (el) {
      const id = nextId('err');
      el.setAttribute('aria-invalid', 'true');
      el.setAttribute('aria-describedby', ((el.getAttribute('aria-describedby') || '') + ' ' + id).trim());
      const msg = h('p', { class: 'field-error', id }, f.message);
      (el.closest('.field') || el.parentElement).append(msg);
      if (!firstField) firstField = el;
      list.push(h('li', {}, h('a', { href: '#' + (el.id || ''), onclick: (e) => { e.preventDefault(); el.focus(); } }, f.where || 'this field'), ': ' + f.message));
    } else {
      list.push(h('li', {}, (f.where ? f.where + ': ' : '') + f.message));
    }
  }
  const box = h('div', { class: 'alert api-error', role: 'alert' },
    h('strong', {}, info.title + '. '), info.text, list.length ? h('ul', {}, list) : null);
  if (opts.after) opts.after.after(box); else root.prepend(box);
  if (firstField && opts.focus !== false) firstField.focus();
  return info;
}

// A section-level error for a failed load: replaces `el`'s content.
export function loadError(el, err) {
  clear(el);
  const info = describe(err);
  el.append(h('div', { class: 'alert api-error', role: 'alert' }, h('strong', {}, info.title + '. '), info.text));
}

// Runs `fn` with the button disabled; errors go to showErrors(root).
export async function busy(button, fn) {
  const was = button.disabled;
  button.disabled = true;
  try { return await fn(); } finally { button.disabled = was; }
}
