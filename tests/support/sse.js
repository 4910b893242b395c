'use strict';
// Server-Sent Events as the tests and the benchmarks read them: the text
// of a response cut into blocks (the lines of one event, without the blank
// line that ends it), and the data of a block.

// Calls fn(block) for each block of `res` as it arrives.
function onBlocks(res, fn) {
  let buf = '';
  res.setEncoding('utf8');
  res.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      fn(block);
    }
  });
}

// The `data:` lines of a block, joined ('' when it has none).
function dataOf(block) {
  return block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('');
}

module.exports = { onBlocks, dataOf };
