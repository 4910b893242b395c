// The Vexil console: sign-in, navigation and routing. Pages live in
// pages/*.js and are loaded on first visit, so the first page only
// transfers what it needs. To add a page (rollouts, advisor, usage...),
// add one entry to PAGES; it shows up in the navigation by itself.
//
// The session is the server's (an HttpOnly cookie, see api.js): on load the
// page asks who is signed in; the header always says it (token name and
// role); when the server refuses the session, the sign-in page says why.
import { session, loadSession, signIn, signOut, describe, refusalText } from './api.js';
import * as apiModule from './api.js';
import { h, clear, field, badge, stackTable } from './dom.js';
import { watch } from './live.js';

// path: a pattern with :params; nav: the label in the main navigation
// (omit for pages reached by links); module: the file under pages/ whose
// render(main, params, query) draws the page; needs: 'admin' hides the page
// from roles that may not use it.
export const PAGES = [
  { path: '/flags', nav: 'Flags', module: 'flags', title: 'Flags' },
  { path: '/flags/:project/:name', module: 'flag', title: 'Flag', navParent: '/flags' },
  { path: '/rollouts', nav: 'Rollouts', module: 'rollouts', title: 'Rollouts' },
  { path: '/rollouts/new', module: 'plan_new', title: 'New release plan', navParent: '/rollouts', needs: 'edit' },
  { path: '/advisor', nav: 'Advisor', module: 'advisor', title: 'Advisor' },
  { path: '/usage', nav: 'Usage', module: 'usage', title: 'Usage' },
  { path: '/gateway', nav: 'Model gateway', module: 'gateway', title: 'Model gateway' },
  { path: '/stale', nav: 'Stale flags', module: 'stale', title: 'Stale flags' },
  { path: '/archive', nav: 'Archived', module: 'archive', title: 'Archived flags' },
  { path: '/segments', nav: 'Segments', module: 'segments', title: 'Segments' },
  { path: '/projects', nav: 'Projects', module: 'projects', title: 'Projects' },
  { path: '/environments', nav: 'Environments', module: 'environments', title: 'Environments' },
  { path: '/audit', nav: 'Audit log', module: 'audit', title: 'Audit log' },
  { path: '/tokens', nav: 'API tokens', module: 'tokens', title: 'API tokens', needs: 'admin' },
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

// The header: the navigation and who is signed in, with which role. It is
// redrawn on every route and every session change, so it never says
// "signed in" for a session the server has refused.
function renderNav(current) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  clear(nav);
  clear(who);
  if (!session.signedIn) return;
  for (const p of PAGES.filter((x) => x.nav && (!x.needs || session.can(x.needs)))) {
    const active = current && (current.path === p.path || current.navParent === p.path);
    nav.append(h('a', { href: p.path, 'data-link': true, 'aria-current': active ? 'page' : null }, p.nav));
  }
  who.append(
    h('span', { class: 'who-name' }, 'Signed in as ', h('strong', {}, session.name)),
    badge(session.role === 'viewer' ? 'viewer · read only' : session.role, session.role === 'admin' ? 'accent' : ''),
    h('button', { type: 'button', class: 'small', onclick: doSignOut }, 'Sign out'));
}

// A note for the sign-in page: why the person is there.
let notice = '';

async function doSignOut() {
  await signOut();
  notice = 'You signed out.';
  navigate('/signin', { replace: true });
}

function toSignIn(message) {
  notice = message;
  const here = location.pathname + location.search;
  const next = here.startsWith('/signin') ? new URL(location.href).searchParams.get('next') : here;
  history.replaceState(null, '', '/signin' + (next && next !== '/' ? '?next=' + encodeURIComponent(next) : ''));
  route();
}

session.onChange((ev) => {
  if (ev.type === 'refused') {
    toSignIn(refusalText(ev.reason, ev.message) || 'Your session ended. Sign in again.');
  } else if (ev.type === 'signed-out' && ev.elsewhere) {
    toSignIn('You signed out in another tab or window.');
  } else if (ev.type === 'signed-in' && ev.elsewhere) {
    if (location.pathname === '/signin') {
      const next = new URL(location.href).searchParams.get('next');
      navigate(safeNext(next), { replace: true });
    } else {
      route(); // the header and the controls follow the new session
    }
  }
});

function safeNext(next) {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/signin') ? next : '/flags';
}

// Live updates the current page watches (ctx.live): stopped when the page
// is left or the session changes, so a tab holds at most one stream.
let watchers = [];
function stopWatchers() {
  for (const stop of watchers) stop();
  watchers = [];
}

let seq = 0;
async function route() {
  const mine = ++seq;
  stopWatchers();
  const url = new URL(location.href);
  let path = url.pathname.replace(/\/+$/, '') || '/';
  const el = main();
  let next = url.searchParams.get('next');
  if (!session.signedIn && path !== '/signin') {
    next = path === '/' ? null : url.pathname + url.search;
    history.replaceState(null, '', '/signin' + (next ? '?next=' + encodeURIComponent(next) : ''));
    path = '/signin';
  }
  if (path === '/signin') {
    if (session.signedIn) {
      navigate(safeNext(next), { replace: true });
      return;
    }
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
  if (page.needs && !session.can(page.needs)) {
    el.append(h('h1', {}, page.title), h('div', { class: 'alert notice-only', role: 'alert' },
      h('strong', {}, 'Your role does not allow this page. '),
      `You are signed in as ${session.name} with the ${session.role} role; ${page.needs === 'edit' ? `a ${page.title.toLowerCase()} needs the editor or admin role` : `${page.title.toLowerCase()} need the admin role`}. Ask an admin if you need it.`));
    focusHeading(el, mine);
    return;
  }
  el.append(h('p', { class: 'muted' }, 'Loading…'));
  try {
    const mod = await import(`./pages/${page.module}.js`);
    if (mine !== seq) return;
    clear(el);
    const live = (filter, fn, opts) => {
      if (mine !== seq) return () => {};
      const stop = watch(filter, fn, opts);
      watchers.push(stop);
      return stop;
    };
    await mod.render(el, params, url.searchParams, { navigate, isCurrent: () => mine === seq, can: (w) => session.can(w), live });
  } catch (e) {
    if (mine !== seq) return;
    if (e instanceof apiModule.ApiError && e.status === 401) return; // the sign-in page took over
    clear(el);
    const info = describe(e);
    el.append(h('h1', {}, page.title), h('div', { class: 'alert api-error', role: 'alert' }, h('strong', {}, info.title + '. '), info.text));
  }
  focusHeading(el, mine);
}

// Once a page has loaded, the focus moves to its heading (after a sign-in
// or a navigation), unless the person is already inside the new page or
// in a dialog: they tabbed or clicked in while it loaded, or the page
// itself put the focus on its first field, and moving it would pull them
// back (and lose what they were typing).
function focusHeading(el, mine) {
  if (mine !== seq) return;
  const h1 = el.querySelector('h1');
  if (!h1) return;
  h1.setAttribute('tabindex', '-1');
  const at = document.activeElement;
  if (at && at !== el && (el.contains(at) || at.closest('dialog'))) return;
  if (focusOnRoute) h1.focus({ preventScroll: true });
}

let focusOnRoute = false;

function renderSignIn(el, next) {
  clear(el);
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true, spellcheck: 'false', 'data-path': '/token', autofocus: true });
  const status = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const why = notice || (apiModule.refusal ? refusalText(apiModule.refusal.reason, apiModule.refusal.message) : '');
  notice = '';
  const form = h('form', { class: 'panel', novalidate: true },
    h('h1', {}, h('img', { src: '/favicon.svg', alt: '', width: 28, height: 28 }), 'Sign in to Vexil'),
    why ? h('div', { class: 'notice', role: 'status' }, why) : null,
    h('p', { class: 'muted' }, 'Paste an admin API token. It is exchanged for a session that lasts across tabs and reloads; the token itself is not kept in this browser.'),
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
      await signIn(token);
      input.value = '';
      focusOnRoute = true;
      navigate(safeNext(next), { replace: true });
    } catch (err) {
      input.setAttribute('aria-invalid', 'true');
      const info = describe(err);
      const title = err.status === 401 ? 'Your token was not accepted' : info.title;
      const text = err.status === 401 ? 'It may be mistyped, revoked or expired. Paste a valid admin token.'
        : err.status === 403 ? 'Only admin tokens (with the admin, editor or viewer role) can sign in to the console.' : info.text;
      status.append(h('div', { class: 'alert', role: 'alert' }, h('strong', {}, title + '. '), text));
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  el.append(h('div', { class: 'signin' }, form));
  input.focus();
}

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

// Every table stacks into cards on a phone (app.css table.stack), each
// cell labelled with its column, whichever page drew it and when.
new MutationObserver(() => {
  for (const t of main().querySelectorAll('table')) stackTable(t);
}).observe(main(), { childList: true, subtree: true });

// The token of the previous console (kept per tab) is never used again.
try { sessionStorage.removeItem('vexil.token'); } catch (_e) { /* storage off */ }

(async () => {
  try {
    await loadSession();
  } catch (_e) {
    // The server is unreachable: the sign-in page says so when used.
  }
  route();
})();
