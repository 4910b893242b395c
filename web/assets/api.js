// The admin API client. Signing in exchanges the admin token for a session
// (POST /api/admin/session): the server keeps it in an HttpOnly cookie the
// page never sees, so it survives reloads and is shared by every tab, and
// the token itself is forgotten at once. Every call sends the cookie; unsafe
// methods also send the session's CSRF token (X-Vexil-CSRF). Every failure
// becomes an ApiError that describe() turns into words a person
// understands (docs/admin-api.md lists the statuses and the error shape).

// Who is signed in, as GET /api/admin/session said: {tokenName, role,
// csrfToken, session: {expiresAt, idleTimeoutSeconds}}, or null.
let who = null;
const listeners = new Set();

// Tabs tell each other when they sign in or out (same origin only).
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('vexil-session') : null;

export const session = {
  get info() { return who; },
  get signedIn() { return who !== null; },
  get name() { return who ? who.tokenName : ''; },
  get role() { return who ? who.role : ''; },
  // What the role may do: 'edit' (flags, segments, projects: editor and
  // admin) or 'admin' (tokens, environments, feature types).
  can(what) {
    if (!who) return false;
    if (what === 'admin') return who.role === 'admin';
    if (what === 'edit') return who.role === 'admin' || who.role === 'editor';
    return true;
  },
  // fn(event) is called with {type: 'signed-in'|'signed-out'|'refused',
  // elsewhere, reason, message}.
  onChange(fn) { listeners.add(fn); return () => listeners.delete(fn); },
};

function emit(ev) {
  for (const fn of listeners) fn(ev);
}

if (channel) {
  channel.onmessage = async (m) => {
    const type = m.data && m.data.type;
    if (type === 'signed-out') {
      who = null;
      emit({ type: 'signed-out', elsewhere: true });
    } else if (type === 'signed-in') {
      await loadSession();
      emit({ type: 'signed-in', elsewhere: true });
    }
  };
}

export class ApiError extends Error {
  constructor(status, body, method, path) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.method = method;
    this.path = path;
    this.reason = body && typeof body.reason === 'string' ? body.reason : '';
    this.details = (body && Array.isArray(body.details)) ? body.details.filter((d) => d && d.message) : [];
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

async function send(method, url, { body, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (UNSAFE.has(method) && who && who.csrfToken) h['X-Vexil-CSRF'] = who.csrfToken;
  const init = { method, headers: h, credentials: 'same-origin' };
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (_e) {
    throw new ApiError(0, null, method, url);
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_e) { json = null; }
  if (!res.ok) throw new ApiError(res.status, json, method, url);
  return json;
}

// Asks the server who this browser is signed in as. Resolves with the
// answer, or null with the refusal ({reason, message}) in `refusal`.
export let refusal = null;
export async function loadSession() {
  try {
    who = await send('GET', '/api/admin/session');
    refusal = null;
  } catch (e) {
    who = null;
    refusal = e instanceof ApiError && e.status === 401 ? { reason: e.reason, message: e.message } : null;
    if (!(e instanceof ApiError) || (e.status !== 401 && e.status !== 403)) throw e;
  }
  return who;
}

// Exchanges `token` for a session. Throws an ApiError when refused.
export async function signIn(token) {
  who = await send('POST', '/api/admin/session', { headers: { Authorization: token } });
  refusal = null;
  if (channel) channel.postMessage({ type: 'signed-in' });
  emit({ type: 'signed-in', elsewhere: false });
  return who;
}

// Ends the session here and in every tab of this browser.
export async function signOut() {
  try {
    await send('DELETE', '/api/admin/session');
  } catch (_e) {
    // Gone already, or the server is away: the page forgets it anyway.
  }
  who = null;
  refusal = null;
  if (channel) channel.postMessage({ type: 'signed-out' });
  emit({ type: 'signed-out', elsewhere: false });
}

// One call to /api/admin<path>. `body` is sent as JSON when given.
export async function api(method, path, body, opts = {}) {
  try {
    return await send(method, '/api/admin' + path, { body });
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.status === 403 && e.reason === 'csrf' && !opts.retried) {
      // Another tab signed in again meanwhile: take the new session's token.
      await loadSession();
      if (who) return api(method, path, body, { retried: true });
    }
    if (e.status === 401) {
      who = null;
      refusal = { reason: e.reason, message: e.message };
      emit({ type: 'refused', reason: e.reason, message: e.message });
    }
    throw e;
  }
}

export const enc = encodeURIComponent;
export const featurePath = (project, name) => `/projects/${enc(project)}/features/${enc(name)}`;
export const envPath = (project, name, env) => `${featurePath(project, name)}/environments/${enc(env)}`;

// "/constraints/0/values/2" -> "constraint 1 › value 3": a JSON pointer
// into a request body, said the way the form shows it.
export function humanPath(ptr) {
  if (!ptr || ptr === '/') return '';
  const parts = ptr.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  const out = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (/^\d+$/.test(p)) {
      const prev = out.length ? out.pop() : 'item';
      out.push(`${singular(prev)} ${Number(p) + 1}`);
    } else {
      out.push(words(p));
    }
  }
  return out.join(' › ');
}

function words(s) {
  if (s === 'query') return 'filter';
  if (s === 'path') return 'address';
  if (s === 'IPs') return 'IP addresses';
  return s.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

function singular(s) {
  if (s.endsWith('ies')) return s.slice(0, -3) + 'y';
  if (s.endsWith('s')) return s.slice(0, -1);
  return s;
}

// Why a session was refused, in words (the server's `reason`).
export function refusalText(reason, message) {
  switch (reason) {
    case 'idle': return 'Your session ended because it was not used for a while. Sign in again.';
    case 'expired': return 'Your session reached its maximum length and ended. Sign in again.';
    case 'signed-out': return 'You were signed out (in another tab or window). Sign in again.';
    case 'token-revoked': return 'The token you signed in with has been revoked. Sign in with another token.';
    case 'token-expired': return 'The token you signed in with has expired. Sign in with another token.';
    case 'unknown': return 'Your session is no longer known to the server. Sign in again.';
    case 'token': return 'This token is not accepted: it may be mistyped, revoked or expired.';
    case 'missing': return '';
    default: return message ? sentence(message) : '';
  }
}

// A server message without internal operation names such as ENV_ON.
function plain(msg) {
  return /\b[A-Z]{2,}(?:_[A-Z]+)+\b/.test(msg) ? '' : msg;
}

// What went wrong, for a person: {title, text, fields: [{path, where, message}]}.
export function describe(err) {
  if (!(err instanceof ApiError)) {
    return { title: 'Something went wrong in the page', text: String(err && err.message || err), fields: [] };
  }
  const msg = err.body && err.body.message ? err.body.message : '';
  const fields = err.details
    .filter((d) => d.path && d.path !== '')
    .map((d) => ({ path: d.path, where: humanPath(d.path), message: d.message }));
  switch (err.status) {
    case 0:
      return { title: 'Cannot reach the Vexil server', text: 'Check that it is running and that your network is up, then try again. Nothing was changed.', fields: [] };
    case 400:
      return { title: 'This was not saved', text: fields.length ? 'Please correct what is marked below. Nothing was changed.' : `${sentence(msg)} Nothing was changed.`, fields };
    case 401:
      return { title: 'You are not signed in any more', text: refusalText(err.reason, msg) || 'Sign in again with a valid admin token.', fields: [] };
    case 403: {
      if (err.reason === 'csrf' || err.reason === 'origin') {
        return { title: 'This request was refused for safety', text: 'It did not come with this session\'s protection token. Reload the page and try again. Nothing was changed.', fields: [] };
      }
      // The server's message may name an operation (ENV_ON): not shown.
      const role = session.role;
      const needs = /admin role/.test(plain(msg)) ? 'the admin role' : 'the editor or admin role';
      const who = role ? `You are signed in as ${session.name} with the ${role} role${role === 'viewer' ? ', which can look but not change' : ''}.` : '';
      return { title: 'Your role does not allow this', text: `${who} This needs ${needs}; ask an admin for such a token. Nothing was changed.`.trim(), fields: [] };
    }
    case 404:
      return { title: 'Not found', text: `${sentence(msg)} It may have been deleted or renamed by someone else; reload the page.`, fields };
    case 409:
      return { title: 'This conflicts with what exists', text: `${sentence(msg)} Nothing was changed.`, fields };
    case 413:
      return { title: 'Too large', text: `${sentence(msg)} Send less at once.`, fields: [] };
    default:
      if (err.status >= 500) {
        return { title: 'The server could not do this', text: `${sentence(msg || 'Internal error')} Nothing was changed. Try again; if it keeps failing, the server log says why.`, fields: [] };
      }
      return { title: `The server refused this (HTTP ${err.status})`, text: sentence(msg), fields };
  }
}

function sentence(s) {
  if (!s) return '';
  s = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(s) ? s : s + '.';
}
