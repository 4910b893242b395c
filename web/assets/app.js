// The Vexil console: sign-in, navigation and routing. Pages live in
// pages/*.js and are loaded on first visit, so the first page only
// transfers what it needs. To add a page (rollouts, advisor, usage...),
// add one entry to PAGES; it shows up in the navigation by itself.
import { api, session, setUnauthorizedHandler, describe } from './api.js';
import { h, clear, field } from './dom.js';

// path: a pattern with :params; nav: the label in the main navigation
// (omit for pages reached by links); module: the file under pages/ whose
// render(main, params, query) draws the page.
export const PAGES = [
  { path: '/flags', nav: 'Flags', module: 'flags', title: 'Flags' },
  { path: '/flags/:project/:name', module: 'flag', title: 'Flag', navParent: '/flags' },
  { path: '/rollouts', nav: 'Rollouts', module: 'rollouts', title: 'Rollouts' },
  { path: '/advisor', nav: 'Advisor', module: 'advisor', title: 'Advisor' },
  { path: '/usage', nav: 'Usage', module: 'usage', title: 'Usage' },
  { path: '/stale', nav: 'Stale flags', module: 'stale', title: 'Stale flags' },
  { path: '/archive', nav: 'Archive', module: 'archive', title: 'Archive' },
  { path: '/segments', nav: 'Segments', module: 'segments', title: 'Segments' },
  { path: '/projects', nav: 'Projects', module: 'projects', title: 'Projects' },
  { path: '/environments', nav: 'Environments', module: 'environments', title: 'Environments' },
  { path: '/audit', nav: 'Audit log', module: 'audit', title: 'Audit log' },
  { path: '/tokens', nav: 'API tokens', module: 'tokens', title: 'API tokens' },
];

const main = () => document.getElementById('main');

function match(pattern, path) {
  const p = pattern.split('/');
  const s = path.split('/');
  if (p.length !== s.length) return null;
  const params = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) {
      if (!s[i]) return null;
      try { params[p[i].slice(1)] = decodeURIComponent(s[i]); } catch (_e) { return null; }
    } else if (p[i] !== s[i]) {
      return null;
    }
  }
  return params;
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
  route();
}

function renderNav(current) {
  const nav = document.getElementById('nav');
  clear(nav);
  if (!session.token) return;
  for (const p of PAGES.filter((x) => x.nav)) {
    const active = current && (current.path === p.path || current.navParent === p.path);
    nav.append(h('a', { href: p.path, 'data-link': true, 'aria-current': active ? 'page' : null }, p.nav));
  }
  const who = document.getElementById('who');
  clear(who);
  who.append(h('span', {}, 'Signed in with a token'),
    h('button', { type: 'button', class: 'small', onclick: signOut }, 'Sign out'));
}

function signOut() {
  session.clear();
  navigate('/signin');
}

let seq = 0;
async function route() {
  const mine = ++seq;
  const url = new URL(location.href);
  let path = url.pathname.replace(/\/+$/, '') || '/';
  const el = main();
  let next = url.searchParams.get('next');
  if (!session.token && path !== '/signin') {
    next = path === '/' ? null : url.pathname + url.search;
    history.replaceState(null, '', '/signin' + (next ? '?next=' + encodeURIComponent(next) : ''));
    path = '/signin';
  }
  if (path === '/signin') {
    renderNav(null);
    document.title = 'Sign in · Vexil';
    renderSignIn(el, next);
    return;
  }
  if (path === '/') {
    history.replaceState(null, '', '/flags');
    path = '/flags';
  }
  let page = null;
  let params = null;
  for (const p of PAGES) {
    params = match(p.path, path);
    if (params) { page = p; break; }
  }
  renderNav(page);
  clear(el);
  if (!page) {
    document.title = 'Not found · Vexil';
    el.append(h('h1', {}, 'Page not found'), h('p', {}, 'There is no page at ', h('code', {}, path), '. ', h('a', { href: '/flags', 'data-link': true }, 'Go to the flags.')));
    return;
  }
  document.title = `${page.title} · Vexil`;
  el.append(h('p', { class: 'muted' }, 'Loading…'));
  try {
    const mod = await import(`./pages/${page.module}.js`);
    if (mine !== seq) return;
    clear(el);
    await mod.render(el, params, url.searchParams, { navigate, isCurrent: () => mine === seq });
  } catch (e) {
    if (mine !== seq) return;
    clear(el);
    const info = describe(e);
    el.append(h('h1', {}, page.title), h('div', { class: 'alert api-error', role: 'alert' }, h('strong', {}, info.title + '. '), info.text));
  }
  if (mine === seq) {
    const h1 = el.querySelector('h1');
    if (h1) { h1.setAttribute('tabindex', '-1'); if (focusOnRoute) h1.focus({ preventScroll: true }); }
  }
}

let focusOnRoute = false;

function renderSignIn(el, next) {
  clear(el);
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true, spellcheck: 'false', 'data-path': '/token', autofocus: true });
  const status = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { class: 'panel', novalidate: true },
    h('h1', {}, h('img', { src: '/favicon.svg', alt: '', width: 28, height: 28 }), 'Sign in to Vexil'),
    h('p', { class: 'muted' }, 'Paste an admin API token. It stays in this browser tab only (session storage) and is sent with each request.'),
    status,
    field('Admin token', input, { hint: 'Looks like *:*.4f1c… — make run prints one; vexil tokens create makes more.' }),
    h('div', { class: 'actions' }, button));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(status);
    const token = input.value.trim();
    if (!token) {
      input.setAttribute('aria-invalid', 'true');
      status.append(h('div', { class: 'alert', role: 'alert' }, h('strong', {}, 'Enter a token. '), 'Paste the admin token you were given.'));
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      await api('GET', '/projects', undefined, { token });
      session.set(token);
      focusOnRoute = true;
      navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/flags', { replace: true });
    } catch (err) {
      input.setAttribute('aria-invalid', 'true');
      const info = describe(err);
      status.append(h('div', { class: 'alert', role: 'alert' }, h('strong', {}, info.title + '. '), info.text));
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  el.append(h('div', { class: 'signin' }, form));
  input.focus();
}

setUnauthorizedHandler(() => {
  session.clear();
  const here = location.pathname + location.search;
  history.replaceState(null, '', '/signin?next=' + encodeURIComponent(here));
  route();
});

document.addEventListener('click', (e) => {
  const a = e.target.closest && e.target.closest('a[data-link]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  e.preventDefault();
  focusOnRoute = true;
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', () => { focusOnRoute = true; route(); });

route();
