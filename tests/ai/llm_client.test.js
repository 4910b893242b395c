'use strict';
// The C model client (src/ai/llm.c) against tests/support/model_server.js
// in both dialects: streaming (SSE and NDJSON), a retried dropped stream,
// the size cap, a stall, and the breaker's half-open recovery. The C side
// is tests/unit/ai/llm_probe.c (built next to the binary under test).
//
//   tests/integration/run.sh tests/ai/llm_client.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const { startModelServer } = require('../support/model_server');
const { vexilBin } = require('../integration/server');

const STREAMED = { text: 'a streamed answer, in several pieces' };
const PLAIN = { text: 'plain' };
const BIG = { text: 'x'.repeat(200) };

function probePath() {
  // <build>/src/cli/vexil -> <build>/tests/unit/ai/llm_probe
  const build = path.resolve(path.dirname(vexilBin()), '..', '..');
  return path.join(build, 'tests', 'unit', 'ai', 'llm_probe');
}

function run(bin, args) {
  return new Promise((resolve) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('exit', (code) => resolve({ code, out }));
  });
}

for (const dialect of ['openai', 'ollama']) {
  test(`the model client over ${dialect}`, async (t) => {
    const bin = probePath();
    assert.ok(fs.existsSync(bin), `${bin} is missing: build the tests (make build)`);
    const ms = await startModelServer({ chunk: 5 });
    t.after(() => ms.close());
    ms.script(
      { kind: 'answer', content: STREAMED }, { kind: 'answer', content: PLAIN },
      { kind: 'drop' }, { kind: 'answer', content: PLAIN },
      { kind: 'answer', content: BIG }, { kind: 'answer', content: BIG },
      { kind: 'stall' },
      { kind: 'status', code: 500 }, { kind: 'answer', content: PLAIN },
    );
    const r = await run(bin, [dialect, ms.url]);
    assert.equal(r.code, 0, r.out);
    const chats = ms.chats();
    assert.equal(chats.length, 9, 'one request per scripted behaviour (the breaker held one back)');
    const first = chats[0].json;
    assert.equal(first.stream, true);
    assert.equal(chats[0].path, dialect === 'openai' ? '/v1/chat/completions' : '/api/chat');
    if (dialect === 'openai') assert.deepEqual(first.stream_options, { include_usage: true });
    assert.equal(chats[1].json.stream, false);
    assert.equal(chats[2].json.stream, true);
    assert.equal(chats[3].json.stream, true, 'the retry repeats the same request');
  });
}
