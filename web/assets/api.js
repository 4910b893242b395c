// The admin API client: every call carries the session's token, and every
// failure becomes an ApiError that describe() turns into words a person
// understands (docs/admin-api.md lists the statuses and the error shape).

const KEY = 'vexil.token';

export const session = {
  get token() { return sessionStorage.getItem(KEY); },
  set(token) { sessionStorage.setItem(KEY, token); },
  clear() { sessionStorage.removeItem(KEY); },
};

// Called when the server says the token is not (or no longer) valid.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export class ApiError extends Error {
  constructor(status, body, method, path) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.method = method;
    this.path = path;
    this.details = (body && Array.isArray(body.details)) ? body.details.filter((d) => d && d.message) : [];
  }
}

// One call to /api/admin<path>. `body` is sent as JSON when given.
export async function api(method, path, body, opts = {}) {
  const headers = { Accept: 'application/json' };
  const token = opts.token || session.token;
  if (token) headers.Authorization = token;
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch('/api/admin' + path, init);
  } catch (_e) {
    throw new ApiError(0, null, method, path);
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_e) { json = null; }
  if (!res.ok) {
    const err = new ApiError(res.status, json, method, path);
    if (res.status === 401 && !opts.token) onUnauthorized(err);
    throw err;
  }
  return json;
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
  return s.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}

function singular(s) {
  if (s.endsWith('ies')) return s.slice(0, -3) + 'y';
  if (s.endsWith('s')) return s.slice(0, -1);
  return s;
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
      return { title: 'Your token was not accepted', text: 'It may be mistyped, revoked or expired. Sign in again with a valid admin token.', fields: [] };
    case 403:
      return { title: 'Your token is not allowed to do this', text: `${sentence(msg)} Changing flags needs an admin token with the editor or admin role; managing API tokens and environments needs the admin role.`, fields: [] };
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
