'use strict';
// A streaming SDK connection for the benchmarks (bench/hub, bench/edge):
// GET /api/client/streaming, recording when each change of one flag
// arrives, as [performance.now(), enabled]. Resolves once the first event
// (the hydration) is in.
const http = require('node:http');

// A stream that records when each write's flag state arrives.
function stream(url, token, flag) {
  return new Promise((resolve, reject) => {
    const seen = [];
    let buf = '';
    const req = http.get(url + '/api/client/streaming', { agent: false, headers: { Authorization: token } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`stream: ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('');
          if (!data) continue;
          const now = performance.now();
          for (const ev of JSON.parse(data).events || []) {
            for (const f of [...(ev.features || []), ...(ev.feature ? [ev.feature] : [])]) {
              if (f.name === flag) seen.push([now, f.enabled]);
            }
          }
        }
        resolve({ req, seen });
      });
    });
    req.on('error', reject);
  });
}

module.exports = { stream };
