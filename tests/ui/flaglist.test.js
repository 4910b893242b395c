'use strict';
// The flag list with 10,000 flags, at 1280 px and at 390 px: the server
// sorts, filters and pages it (the page asks for 50 flags at a time, gzip
// compressed), so the first page is drawn quickly; its time is printed as
// a figure (not asserted: timing belongs to bench/, and this machine is
// shared). Sorting, paging, searching and the stale filter each ask the
// server and show what it answered; the URL keeps them.
//
//   tests/ui/run.sh tests/ui/flaglist.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer, show } = require('../integration/server');
const { launch, screenshot, VIEWPORTS } = require('./browser');
const ui = require('./helpers');

const N = 10000;
const name = (i) => `flag-${String(i).padStart(5, '0')}`;
let srv;

test.before(async () => {
  srv = await startServer({ env: { VEXIL_MAX_BODY: '64m' } }); // the import is ~7 MB
  const state = (await srv.api('GET', '/api/admin/export')).json;
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  state.features = Array.from({ length: N }, (_, i) => ({
    name: name(i), project: 'default', type: i % 4 === 0 ? 'experiment' : 'release',
    description: i % 100 === 0 ? `milestone flag ${i}` : '', impressionData: false, stale: i % 10 === 0,
    archived: false, archivedAt: null, createdAt: new Date(t0 + i * 60000).toISOString(), updatedAt: new Date(t0 + i * 60000).toISOString(),
    lastSeenAt: null, tags: i % 7 === 0 ? [{ type: 'simple', value: 'team-a' }] : [], dependencies: [],
    environments: [
      { name: 'development', enabled: i % 2 === 0, strategies: [], variants: [] },
      { name: 'production', enabled: i % 3 === 0, strategies: [{ name: 'flexibleRollout', title: null, disabled: false, sortOrder: 0, parameters: { rollout: String(i % 101), stickiness: 'default', groupId: name(i) }, constraints: [], segments: [], variants: [] }], variants: [] },
    ],
  }));
  const r = await srv.api('POST', '/api/admin/import', { body: state });
  assert.equal(r.status, 200, show(r));
});

test.after(async () => {
  if (srv) await srv.stop();
});

for (const vp of VIEWPORTS) {
  test(`10,000 flags: the first page, sorting, paging and search come from the server (${vp.width} px)`, async () => {
    const b = await launch({ viewport: vp });
    const problems = [];
    ui.watchProblems(b.page, problems);
    const page = b.page;
    const lists = [];
    page.on('response', (res) => {
      const u = new URL(res.url());
      if (u.pathname === '/api/admin/features') lists.push(res);
    });
    try {
      await ui.signInWith(page, srv, srv.adminToken, '/segments');
      // The first page, timed from the start of the navigation.
      lists.length = 0;
      const started = Date.now();
      await page.goto(`${srv.url}/flags`);
      const rows = page.locator('main tbody tr');
      await page.getByText(`Flags 1–50 of ${N.toLocaleString('en')}`).waitFor();
      const wall = Date.now() - started;
      assert.equal(await rows.count(), 50);
      const mark = await page.evaluate(() => {
        const m = performance.getEntriesByName('vexil:flags-rendered');
        return m.length ? m[0].startTime : null;
      });
      assert.ok(mark !== null, 'the page marks when the first page is drawn');
      assert.equal(lists.length, 1, 'one list request');
      const res = lists[0];
      const url = new URL(res.url());
      assert.deepEqual(Object.fromEntries(url.searchParams), { sortBy: 'name', sortOrder: 'asc', offset: '0', limit: '50' });
      assert.equal((await res.allHeaders())['content-encoding'], 'gzip', 'the list comes compressed');
      const sizes = await res.request().sizes();
      const plain = (await res.body()).length;
      process.stdout.write(`# flag list, ${N} flags, ${vp.width} px: first page drawn ${Math.round(mark)} ms after the navigation started ` +
        `(${wall} ms until the test saw it); /api/admin/features ${sizes.responseBodySize} bytes gzip, ${plain} plain\n`);
      await screenshot(page, `flaglist-${vp.name}-first-page`);

      // Sorting: Z to A puts the last flag first.
      lists.length = 0;
      if (vp.width >= 800) await page.getByRole('button', { name: /^Sort by name/ }).click();
      else await page.getByLabel('Sort by', { exact: true }).selectOption('name:desc');
      await page.locator('main tbody tr').first().getByRole('link', { name: name(N - 1) }).waitFor();
      assert.equal(new URL(lists.at(-1).url()).searchParams.get('sortOrder'), 'desc');
      if (vp.width >= 800) assert.equal(await page.locator('th[aria-sort]').getAttribute('aria-sort'), 'descending');
      assert.match(page.url(), /order=desc/);

      // Paging: the next 50, from the server.
      await page.getByRole('button', { name: 'Next →' }).click();
      await page.getByText(`Flags 51–100 of ${N.toLocaleString('en')}`).waitFor();
      await page.locator('main tbody tr').first().getByRole('link', { name: name(N - 51) }).waitFor();
      assert.equal(new URL(lists.at(-1).url()).searchParams.get('offset'), '50');

      // Searching asks the server, from the first page.
      await page.getByLabel('Search').fill('milestone');
      await page.getByText('Flags 1–50 of 100').waitFor();
      assert.equal(new URL(lists.at(-1).url()).searchParams.get('query'), 'milestone');
      await page.getByLabel('Stale').selectOption('yes');
      await page.getByText('Flags 1–50 of 100').waitFor(); // every hundredth flag is also a tenth
      await page.getByLabel('Search').fill('flag-0042');
      await page.getByText('Flags 1–1 of 1').waitFor(); // of flag-00420..00429, the stale one
      await page.locator('main tbody tr').first().getByRole('link', { name: 'flag-00420' }).waitFor();
      assert.equal(new URL(lists.at(-1).url()).searchParams.get('stale'), 'true');
      // The URL keeps it all: a reload shows the same.
      await page.reload();
      await page.getByText('Flags 1–1 of 1').waitFor();
      assert.equal(await page.getByLabel('Search').inputValue(), 'flag-0042');
      await screenshot(page, `flaglist-${vp.name}-filtered`);
      assert.deepEqual(problems, []);
    } finally {
      await b.close();
    }
  });
}
