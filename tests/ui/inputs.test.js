'use strict';
// Values typed per operator, at 1280 px and at 390 px: what the server
// would refuse is refused as it is typed, next to the field, and never
// sent (an IP range like 10.0.0.0/33, a range under "is one of these
// addresses", a version with a "v", a date that is not one, a number that
// is not one, a bad entry in the remoteAddress strategy's list); fixed
// values are saved exactly. The playground then says why each strategy is
// on or off, by the titles given to the strategies, including "outside
// the 25 % (bucket 55, by userId)".
//
//   tests/ui/run.sh tests/ui/inputs.test.js

const test = require('node:test');
const assert = require('node:assert/strict');
const { startServer } = require('../integration/server');
const { launch, screenshot, VIEWPORTS } = require('./browser');
const ui = require('./helpers');

let srv;

test.before(async () => {
  srv = await startServer();
  await ui.standardData(srv);
});

test.after(async () => {
  if (srv) await srv.stop();
});

// Opens the strategy dialog of `flag` in development with one constraint.
async function newStrategy(page, flag) {
  await ui.open(page, srv, `/flags/default/${flag}`, flag);
  await page.getByRole('region', { name: 'Environment development' }).getByRole('button', { name: '+ Add strategy' }).click();
  const dlg = page.getByRole('dialog', { name: /Add a strategy/ });
  await dlg.getByRole('button', { name: '+ Add constraint' }).click();
  return { dlg, c1: dlg.getByRole('group', { name: 'Constraint 1', exact: true }) };
}

for (const vp of VIEWPORTS) {
  test(`values the server would refuse are refused as typed and never sent (${vp.width} px)`, async () => {
    const flag = `typed-${vp.name}`;
    await ui.ok(srv, 'POST', ui.FEAT, { name: flag });
    const b = await launch({ viewport: vp });
    const problems = [];
    ui.watchProblems(b.page, problems);
    const page = b.page;
    const sent = [];
    page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/strategies')) sent.push(r.postData()); });
    try {
      await ui.signInWith(page, srv, srv.adminToken);
      const { dlg, c1 } = await newStrategy(page, flag);
      await c1.getByLabel('Context field').fill('remoteAddress');
      await c1.getByLabel('Context field').press('Tab'); // the field's type follows its name
      assert.equal(await c1.getByLabel('Field type').inputValue(), 'ip');
      assert.equal(await c1.getByLabel('Operator').inputValue(), 'IN_CIDR', 'an address field starts with ranges');
      const values = c1.getByLabel('Values', { exact: true });
      await values.fill('10.0.0.0/33');
      await dlg.getByText('“10.0.0.0/33”: a range\'s prefix is at most /32.').waitFor();
      assert.equal(await values.getAttribute('aria-invalid'), 'true');
      await screenshot(page, `inputs-${vp.name}-cidr`);
      await dlg.getByRole('button', { name: 'Add strategy' }).click();
      await dlg.getByRole('alert').filter({ hasText: 'nothing was sent' }).waitFor();
      assert.ok(await ui.focused(values));
      // A range under "is one of these addresses" would be stored as text.
      await c1.getByLabel('Operator').selectOption('IN');
      await values.fill('10.1.2.3\n10.0.0.0/24');
      await dlg.getByText(/“10\.0\.0\.0\/24” is a range: choose the operator “is in the network \(CIDR\)”/).waitFor();
      await c1.getByLabel('Operator').selectOption('IN_CIDR');
      await values.fill('10.0.0.0/8\n2001:db8::/32');
      assert.equal(await values.getAttribute('aria-invalid'), null);

      // Versions, dates and numbers, in their own constraints.
      const checks = [
        ['appVersion', 'semver', 'SEMVER_GTE', ['v1.2.0', '1.2'], '1.2.0', /is not a version such as 1\.4\.0/],
        ['currentTime', 'date', 'DATE_AFTER', ['tomorrow', '2026-13-01'], '2026-12-01T09:00:00Z', /is not a date and time such as/],
        ['age', 'number', 'NUM_GTE', ['12abc', ''], '1e1', /is not a number/],
      ];
      for (let i = 0; i < checks.length; i++) {
        const [name, type, op, bad, good, msg] = checks[i];
        await dlg.getByRole('button', { name: '+ Add constraint' }).click();
        const c = dlg.getByRole('group', { name: `Constraint ${i + 2}`, exact: true });
        await c.getByLabel('Context field').fill(name);
        await c.getByLabel('Field type').selectOption(type);
        await c.getByLabel('Operator').selectOption(op);
        const v = c.getByLabel('Value', { exact: true });
        for (const x of bad.filter(Boolean)) {
          await v.fill(x);
          assert.match(await c.locator('.value-error').innerText(), msg, `${name} ${x}`);
          assert.equal(await v.getAttribute('aria-invalid'), 'true');
        }
        await v.fill(good);
        assert.equal(await c.locator('.value-error').count(), 0, `${name} ${good} is fine`);
      }
      assert.deepEqual(sent, [], 'nothing was sent while a value was wrong');
      await dlg.getByRole('button', { name: 'Add strategy' }).click();
      await dlg.waitFor({ state: 'detached' });
      const saved = await ui.ok(srv, 'GET', `${ui.FEAT}/${flag}/environments/development/strategies`);
      assert.deepEqual(saved[0].constraints.map((c) => [c.contextName, c.operator, c.values || c.value]), [
        ['remoteAddress', 'IN_CIDR', ['10.0.0.0/8', '2001:db8::/32']], ['appVersion', 'SEMVER_GTE', '1.2.0'],
        ['currentTime', 'DATE_AFTER', '2026-12-01T09:00:00Z'], ['age', 'NUM_GTE', '1e1']]);

      // The IP addresses strategy checks its list too.
      await page.getByRole('region', { name: 'Environment development' }).getByRole('button', { name: '+ Add strategy' }).click();
      const d2 = page.getByRole('dialog', { name: /Add a strategy/ });
      await d2.getByLabel('Strategy', { exact: true }).selectOption('remoteAddress');
      const ips = d2.getByLabel('IP addresses', { exact: true });
      await ips.fill('10.1.2.3, 10.0.0.0/33');
      await d2.getByText('“10.0.0.0/33”: a range\'s prefix is at most /32.').waitFor();
      await d2.getByRole('button', { name: 'Add strategy' }).click();
      await d2.getByRole('alert').filter({ hasText: 'nothing was sent' }).waitFor();
      assert.equal(sent.length, 1, 'only the good strategy was sent');
      await ips.fill('10.1.2.3, 10.0.0.0/8');
      await d2.getByRole('button', { name: 'Add strategy' }).click();
      await d2.waitFor({ state: 'detached' });
      const all = await ui.ok(srv, 'GET', `${ui.FEAT}/${flag}/environments/development/strategies`);
      assert.equal(all[1].parameters.IPs, '10.1.2.3,10.0.0.0/8');
      assert.deepEqual(problems, []);
    } finally {
      await b.close();
    }
  });

  test(`the playground says why each strategy is on or off, by its title (${vp.width} px)`, async () => {
    const b = await launch({ viewport: vp });
    const page = b.page;
    try {
      await ui.signInWith(page, srv, srv.adminToken);
      await ui.open(page, srv, '/flags/default/new-checkout', 'new-checkout');
      // The strategies are listed by their titles.
      const prod = page.getByRole('region', { name: 'Environment production' });
      await prod.getByText('A quarter of users').waitFor();
      await prod.getByText('Thai users').waitFor();
      const form = page.locator('form').filter({ has: page.getByRole('heading', { name: /Playground/ }) });
      await form.getByLabel('userId').fill('u2');
      await form.getByLabel('Other fields').fill('country=FR');
      await form.getByRole('button', { name: 'Evaluate' }).click();
      const why = form.locator('.why');
      await why.getByText('new-checkout is OFF in production').waitFor();
      const text = await why.innerText();
      assert.match(text, /A quarter of users: does not match — outside the 25 % \(bucket 55, by userId\)/);
      assert.match(text, /Thai users: does not match — constraint 1 does not hold/);
      assert.match(text, /✗ country is one of TH does not hold/);
      await screenshot(page, `inputs-${vp.name}-playground`);
      await form.getByLabel('userId').fill('u1');
      await form.getByRole('button', { name: 'Evaluate' }).click();
      await why.getByText('new-checkout is ON in production').waitFor();
      assert.match(await why.innerText(), /A quarter of users: matches — inside the 25 % \(bucket 19, by userId\)/);
    } finally {
      await b.close();
    }
  });
}
