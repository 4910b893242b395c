'use strict';
// A streaming SDK connection for the benchmarks (bench/hub, bench/edge):
// GET /api/client/streaming, recording when each change of one flag
// arrives, as [performance.now(), enabled]. Resolves once the first event
// (the hydration) is in.
const http = require('node:http');
const { onBlocks, dataOf } = require('../../tests/support/sse');

function stream(url, token, flag) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const req = http.get(url + '/api/client/streaming', { agent: false, headers: { Authorization: token } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`stream: ${res.statusCode}`));
        res.resume();
        return;
      }
      onBlocks(res, (block) => {
        const data = dataOf(block);
        if (!data) return;
        const now = performance.now();
        for (const ev of JSON.parse(data).events || []) {
          for (const f of [...(ev.features || []), ...(ev.feature ? [ev.feature] : [])]) {
            if (f.name === flag) seen.push([now, f.enabled]);
          }
        }
      });
      res.on('data', () => resolve({ req, seen }));
    });
    req.on('error', reject);
  });
}

module.exports = { stream };
