// Live updates (docs/admin-api.md, "Live updates"): one EventSource on
// GET /api/admin/events/stream, which the session cookie authenticates.
// The server sends "change" (an audit event's id, type and names: the page
// reads what changed through the API, as the role allows), "tick" (the
// scheduler looked at the plans) and "reset" (events may have been
// missed: reload everything). The browser resumes a dropped stream by
// itself with Last-Event-ID.
//
// When the server refuses a stream (its caps: 429, 503), or it fails, the
// page is asked to reload what it shows every POLL_MS instead ("poll"),
// and the stream is tried again later. While the tab is hidden the stream
// is closed (it would hold one of the browser's few connections to the
// server for nothing); showing the tab again reloads once and reopens it.

const POLL_MS = 15000;
const RETRY_MS = 30000;
const URL_BASE = '/api/admin/events/stream';

// Watches for changes; fn(ev) gets {type: 'change', event}, {type: 'tick',
// tick}, {type: 'reset'} or {type: 'poll'}. `onStatus(state)` hears
// 'connecting', 'live', 'polling' or 'paused'. Returns stop().
export function watch(filter, fn, { onStatus = () => {} } = {}) {
  const qs = new URLSearchParams();
  if (filter && filter.feature) qs.set('feature', filter.feature);
  if (filter && filter.environment) qs.set('environment', filter.environment);
  const url = URL_BASE + (qs.toString() ? `?${qs}` : '');
  let es = null;
  let poll = null;
  let retry = null;
  let stopped = false;
  let state = '';
  const status = (s) => { if (s !== state) { state = s; onStatus(s); } };
  const safe = (ev) => { try { fn(ev); } catch (e) { console.error(e); } };

  function startPolling() {
    if (poll || stopped) return;
    status('polling');
    poll = setInterval(() => safe({ type: 'poll' }), POLL_MS);
    clearTimeout(retry);
    retry = setTimeout(() => { stopPolling(); open(); }, RETRY_MS);
  }
  function stopPolling() {
    clearInterval(poll);
    poll = null;
    clearTimeout(retry);
    retry = null;
  }
  function close() {
    if (es) es.close();
    es = null;
  }
  function open() {
    if (stopped || es || document.hidden) return;
    if (typeof EventSource !== 'function') { startPolling(); return; }
    status('connecting');
    es = new EventSource(url);
    es.addEventListener('open', () => { stopPolling(); status('live'); });
    es.addEventListener('change', (m) => {
      let event = null;
      try { event = JSON.parse(m.data); } catch (_e) { return; }
      safe({ type: 'change', event });
    });
    es.addEventListener('tick', (m) => {
      let tick = null;
      try { tick = JSON.parse(m.data); } catch (_e) { tick = {}; }
      safe({ type: 'tick', tick });
    });
    es.addEventListener('reset', () => safe({ type: 'reset' }));
    es.addEventListener('error', () => {
      // CONNECTING: the browser reconnects by itself (the server ended
      // the stream, or restarted). CLOSED: it was refused.
      if (!es || es.readyState === EventSource.CLOSED) {
        close();
        startPolling();
        safe({ type: 'poll' }); // the page's next read says why, if it fails
      } else {
        status('connecting');
      }
    });
  }
  function onVisibility() {
    if (stopped) return;
    if (document.hidden) {
      close();
      stopPolling();
      status('paused');
    } else {
      safe({ type: 'poll' }); // what happened while hidden
      open();
    }
  }
  document.addEventListener('visibilitychange', onVisibility);
  open();
  return function stop() {
    stopped = true;
    document.removeEventListener('visibilitychange', onVisibility);
    stopPolling();
    close();
  };
}

// Words for a watch's state, for the pages' status line.
export function liveWords(state) {
  switch (state) {
    case 'live': return 'Live: changes appear here as they happen.';
    case 'connecting': return 'Connecting for live updates…';
    case 'polling': return 'Live updates are not available right now; this page refreshes itself every 15 seconds.';
    case 'paused': return 'Live updates are paused while this tab is hidden.';
    default: return '';
  }
}

// Calls fn at most once per `ms` (the last call wins; trailing).
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return (...args) => {
    const wait = last + ms - Date.now();
    clearTimeout(timer);
    if (wait <= 0) { last = Date.now(); fn(...args); return; }
    timer = setTimeout(() => { last = Date.now(); fn(...args); }, wait);
  };
}
