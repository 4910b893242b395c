'use strict';
// A test model server speaking both dialects Vexil's advisor uses, with the
// envelopes the real servers send:
//   POST /v1/chat/completions  OpenAI-compatible (LocalAI, llama.cpp, vLLM,
//                              Ollama /v1): response_format json_schema,
//                              SSE streaming ("data: {...}", "data: [DONE]")
//   POST /api/chat             Ollama native: format <schema>|"json",
//                              NDJSON streaming, done/done_reason
//   POST /api/generate         Ollama native, `prompt` in, `response` out,
//                              NDJSON streaming like /api/chat
//   POST /api/embed, /api/embeddings  Ollama's embeddings (new and old)
//   GET  /v1/models, /api/tags model lists
// Requests are checked as the real servers check them (model known, messages
// present, response_format / format well-formed, API key when one is set) and
// answered 4xx like them when they are not.
//
// Scriptable per test: script(...behaviours) queues what the next chat calls
// do; when the queue is empty, `fallback` is used (default: 'auto'):
//   {kind:'answer', content}  answer `content` (object -> JSON text)
//   {kind:'auto'}             a minimal instance of the request's schema
//   {kind:'malformed'}        text that is not JSON
//   {kind:'echo'}             the user message, verbatim
//   {kind:'stall', ms}        headers only, then silence (ms: end after)
//   {kind:'midfail', message} stream one piece, then fail the stream the
//                             dialect's way (Ollama: an {"error"} line)
//   {kind:'drop'}             close the connection without an answer
//   {kind:'status', code}     an HTTP error with the dialect's error body
//   {kind:'raw', code, type, body}  exactly these bytes (not the protocol)
//   {kind:'fn', fn(req)}      fn returns a behaviour
// Any behaviour may carry `headers` ({name: value}): added to its answer
// (after the server-wide `headers` option, which every chat answer gets).
// Every request is recorded (method, path, headers, raw body, parsed JSON):
// `requests` since the last reset(), `history` since start.
//
// Options for the gateway's tests: latencyMs (wait before answering),
// chunkDelayMs (pause between streamed pieces), failRate (that fraction of
// chat/generate/completion/embedding calls answers 500, from a PRNG seeded
// by `seed`, so runs repeat). POST /v1/completions and /v1/embeddings answer
// minimal OpenAI envelopes, /api/embed and /api/embeddings Ollama's.
//
// No npm dependencies. Also runs standalone: node model_server.js [port].

const http = require('node:http');

function minimalInstance(schema) {
  if (!schema || typeof schema !== 'object') return null;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  switch (schema.type) {
    case 'object': {
      const o = {};
      for (const k of schema.required || []) o[k] = minimalInstance((schema.properties || {})[k]);
      return o;
    }
    case 'array': {
      const n = schema.minItems || 0;
      return Array.from({ length: n }, () => minimalInstance(schema.items));
    }
    case 'string': return 'x'.repeat(schema.minLength || 0);
    case 'integer':
    case 'number': return schema.minimum !== undefined ? schema.minimum : 0;
    case 'boolean': return false;
    default: return null;
  }
}

// The schema a request asks for, in either dialect.
function requestSchema(dialect, body) {
  if (dialect === 'openai') {
    const rf = body.response_format;
    if (rf && rf.type === 'json_schema') return rf.json_schema && rf.json_schema.schema;
    return null;
  }
  return body.format && typeof body.format === 'object' ? body.format : null;
}

function userMessage(body) {
  const m = (body.messages || []).filter((x) => x.role === 'user');
  return m.length ? m[m.length - 1].content : '';
}

class ModelServer {
  constructor(opts = {}) {
    this.models = opts.models || ['test-model'];
    this.apiKey = opts.apiKey || null;
    this.fallback = opts.fallback || { kind: 'auto' };
    this.chunk = opts.chunk || 7; // characters per streamed piece
    this.latencyMs = opts.latencyMs || 0;
    this.chunkDelayMs = opts.chunkDelayMs || 0;
    this.failRate = opts.failRate || 0;
    this.headers = opts.headers || {}; // added to every chat answer
    this.rng = opts.seed || 12345; // xorshift32 state
    this.failures = 0;
    this.queue = [];
    this.requests = [];
    this.history = []; // every request since start; reset() keeps it
    this.sockets = new Set();
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  listen(port = 0) {
    return new Promise((resolve) => {
      this.server.listen(port, '127.0.0.1', () => {
        this.port = this.server.address().port;
        this.url = `http://127.0.0.1:${this.port}`;
        resolve(this);
      });
    });
  }

  close() {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  script(...behaviours) { this.queue.push(...behaviours); }
  reset() { this.queue = []; this.requests = []; }
  chats() { return this.requests.filter((r) => r.method === 'POST'); }
  // Everything any request since start carried, as one string (for
  // privacy checks).
  allText() {
    return this.history.map((r) => `${r.method} ${r.path}\n${JSON.stringify(r.headers)}\n${r.body}`).join('\n');
  }

  handle(req, res) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let json;
      try { json = raw ? JSON.parse(raw) : undefined; } catch (_e) { json = undefined; }
      const rec = { method: req.method, path: req.url, headers: req.headers, body: raw, json };
      this.requests.push(rec);
      this.history.push(rec);
      this.route(req, res, rec);
    });
  }

  error(res, dialect, code, message, headers = {}) {
    const body = dialect === 'ollama'
      ? { error: message }
      : { error: { message, type: code === 401 ? 'authentication_error' : 'invalid_request_error', code: null } };
    res.writeHead(code, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  route(req, res, rec) {
    const p = req.url.split('?')[0];
    const dialect = p.startsWith('/api/') ? 'ollama' : 'openai';
    if (this.apiKey && req.headers.authorization !== `Bearer ${this.apiKey}`) {
      return this.error(res, dialect, 401, 'invalid api key');
    }
    if (req.method === 'GET' && p === '/v1/models') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ object: 'list', data: this.models.map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'library' })) }));
    }
    if (req.method === 'GET' && p === '/api/tags') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ models: this.models.map((name) => ({ name, model: name, modified_at: '2026-01-01T00:00:00Z', size: 1, digest: 'sha256:00', details: { format: 'gguf', family: 'test' } })) }));
    }
    if (req.method === 'POST' && ['/v1/embeddings', '/v1/completions', '/api/embed', '/api/embeddings'].includes(p)) {
      return this.later(res, () => this.simple(p, rec.json, res), dialect);
    }
    if (req.method !== 'POST' || !['/v1/chat/completions', '/api/chat', '/api/generate'].includes(p)) {
      return this.error(res, dialect, 404, `no route ${req.method} ${p}`);
    }
    const generate = p === '/api/generate';
    const body = rec.json;
    if (!body || typeof body !== 'object') return this.error(res, dialect, 400, 'body is not JSON');
    if (typeof body.model !== 'string' || !this.models.includes(body.model)) {
      return this.error(res, dialect, 404, dialect === 'ollama' ? `model "${body.model}" not found, try pulling it first` : `The model \`${body.model}\` does not exist`);
    }
    if (generate) {
      if (typeof body.prompt !== 'string') return this.error(res, dialect, 400, 'prompt must be a string');
    } else if (!Array.isArray(body.messages) || body.messages.length === 0 ||
        body.messages.some((m) => !m || typeof m.content !== 'string' || !['system', 'user', 'assistant'].includes(m.role))) {
      return this.error(res, dialect, 400, 'messages must be a non-empty array of {role, content}');
    }
    if (dialect === 'openai' && body.response_format !== undefined) {
      const rf = body.response_format;
      const ok = rf && (rf.type === 'json_object' ||
        (rf.type === 'json_schema' && rf.json_schema && /^[a-zA-Z0-9_-]{1,64}$/.test(rf.json_schema.name || '') &&
         rf.json_schema.schema && typeof rf.json_schema.schema === 'object'));
      if (!ok) return this.error(res, dialect, 400, "Invalid 'response_format': expected json_schema with a name and a schema");
    }
    if (dialect === 'ollama' && body.format !== undefined &&
        !(body.format === 'json' || (body.format && typeof body.format === 'object'))) {
      return this.error(res, dialect, 400, 'invalid format: expected "json" or a JSON schema');
    }
    let b = this.queue.length ? this.queue.shift() : this.fallback;
    if (b.kind === 'fn') b = b.fn(rec);
    this.later(res, () => this.behave(b, generate ? 'generate' : dialect, body, req, res), dialect);
  }

  random() {
    let x = this.rng;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.rng = x;
    return x / 4294967296;
  }

  // Runs `fn` after latencyMs, or answers 500 (failRate).
  later(res, fn, dialect = 'openai') {
    if (this.failRate && this.random() < this.failRate) {
      this.failures++;
      return setTimeout(() => this.error(res, dialect, 500, 'injected failure'), this.latencyMs);
    }
    if (this.latencyMs) return setTimeout(fn, this.latencyMs);
    return fn();
  }

  simple(p, body, res) {
    if (p.startsWith('/api/')) {
      if (!body || typeof body.model !== 'string' || !this.models.includes(body.model)) {
        return this.error(res, 'ollama', 404, `model "${body && body.model}" not found, try pulling it first`);
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      if (p === '/api/embeddings') return res.end(JSON.stringify({ embedding: [0.1, 0.2, 0.3] }));
      const inputs = Array.isArray(body.input) ? body.input : [body.input];
      return res.end(JSON.stringify({ model: body.model, embeddings: inputs.map(() => [0.1, 0.2, 0.3]),
        total_duration: 1000, load_duration: 10, prompt_eval_count: 4 * inputs.length }));
    }
    if (!body || typeof body.model !== 'string' || !this.models.includes(body.model)) {
      return this.error(res, 'openai', 404, `The model \`${body && body.model}\` does not exist`);
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    if (p === '/v1/embeddings') {
      return res.end(JSON.stringify({ object: 'list', model: body.model,
        data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2, 0.3] }],
        usage: { prompt_tokens: 4, total_tokens: 4 } }));
    }
    return res.end(JSON.stringify({ id: `cmpl-${this.requests.length}`, object: 'text_completion', model: body.model,
      choices: [{ index: 0, text: 'ok', finish_reason: 'stop' }],
      usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }));
  }

  // `kind` is 'openai', 'ollama' (/api/chat) or 'generate' (/api/generate).
  behave(b, kind, body, req, res) {
    const dialect = kind === 'generate' ? 'ollama' : kind;
    const extra = { ...this.headers, ...(b.headers || {}) };
    let content;
    switch (b.kind) {
      case 'answer': content = typeof b.content === 'string' ? b.content : JSON.stringify(b.content); break;
      case 'auto': content = JSON.stringify(minimalInstance(requestSchema(dialect, body)) ?? {}); break;
      case 'malformed': content = '{"this is": not json'; break;
      case 'echo': content = kind === 'generate' ? body.prompt : userMessage(body); break;
      case 'status': return this.error(res, dialect, b.code || 500, b.message || 'internal error', extra);
      case 'raw':
        res.writeHead(b.code || 200, { 'Content-Type': b.type || 'text/html', ...extra });
        return res.end(b.body || '');
      case 'drop': req.socket.destroy(); return undefined;
      case 'midfail': return this.midfail(dialect, body, b.message || 'the model crashed', res);
      case 'stall':
        res.writeHead(200, { 'Content-Type': !body.stream ? 'application/json' : dialect === 'ollama' ? 'application/x-ndjson' : 'text/event-stream', ...extra });
        res.flushHeaders();
        if (b.ms) setTimeout(() => res.destroy(), b.ms);
        return undefined;
      default: throw new Error(`unknown behaviour ${b.kind}`);
    }
    if (body.stream) return this.stream(kind, body, content, res, extra);
    const now = Math.floor(Date.now() / 1000);
    const env = dialect === 'openai'
      ? { id: `chatcmpl-${this.requests.length}`, object: 'chat.completion', created: now, model: body.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }
      : { model: body.model, created_at: new Date().toISOString(),
        ...(kind === 'generate' ? { response: content } : { message: { role: 'assistant', content } }),
        done: true, done_reason: 'stop', total_duration: 1000, load_duration: 10, prompt_eval_count: 10,
        prompt_eval_duration: 100, eval_count: 5, eval_duration: 500 };
    res.writeHead(200, { 'Content-Type': 'application/json', ...extra });
    return res.end(JSON.stringify(env));
  }

  midfail(dialect, body, message, res) {
    if (dialect === 'ollama') {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ model: body.model, created_at: new Date().toISOString(), message: { role: 'assistant', content: 'par' }, response: 'par', done: false })}\n`);
      return res.end(`${JSON.stringify({ error: message })}\n`);
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    return res.end(`data: ${JSON.stringify({ error: { message, type: 'server_error' } })}\n\n`);
  }

  stream(kind, body, content, res, extra = {}) {
    const dialect = kind === 'generate' ? 'ollama' : kind;
    const pieces = [];
    for (let i = 0; i < content.length; i += this.chunk) pieces.push(content.slice(i, i + this.chunk));
    const created = Math.floor(Date.now() / 1000);
    if (dialect === 'openai') {
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', ...extra });
      const id = `chatcmpl-${this.requests.length}`;
      const frame = (delta, finish) => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      res.write(frame({ role: 'assistant', content: '' }, null));
      const tail = () => {
        res.write(frame({}, 'stop'));
        if (body.stream_options && body.stream_options.include_usage) {
          res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: body.model, choices: [], usage: { prompt_tokens: 10, completion_tokens: pieces.length, total_tokens: 10 + pieces.length } })}\n\n`);
        }
        res.end('data: [DONE]\n\n');
      };
      if (this.chunkDelayMs) {
        let i = 0;
        const next = () => {
          if (res.destroyed) return;
          if (i >= pieces.length) return tail();
          res.write(frame({ content: pieces[i++] }, null));
          return setTimeout(next, this.chunkDelayMs);
        };
        return next();
      }
      for (const p of pieces) res.write(frame({ content: p }, null));
      tail();
    } else {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson', ...extra });
      const text = (t) => (kind === 'generate' ? { response: t } : { message: { role: 'assistant', content: t } });
      const line = (p) => `${JSON.stringify({ model: body.model, created_at: new Date().toISOString(), ...text(p), done: false })}\n`;
      const tail = () => res.end(`${JSON.stringify({ model: body.model, created_at: new Date().toISOString(), ...text(''), done: true, done_reason: 'stop', prompt_eval_count: 10, eval_count: pieces.length, eval_duration: 1000 })}\n`);
      if (this.chunkDelayMs) {
        let i = 0;
        const next = () => {
          if (res.destroyed) return;
          if (i >= pieces.length) return tail();
          res.write(line(pieces[i++]));
          return setTimeout(next, this.chunkDelayMs);
        };
        return next();
      }
      for (const p of pieces) res.write(line(p));
      tail();
    }
  }
}

async function startModelServer(opts = {}) {
  return new ModelServer(opts).listen(opts.port || 0);
}

module.exports = { startModelServer, ModelServer, minimalInstance };

if (require.main === module) {
  startModelServer({ port: Number(process.argv[2] || 0) }).then((m) => {
    process.stdout.write(`model server on ${m.url}\n`);
  });
}
