'use strict';
// End-to-end check of `vexil eval` against the Unleash client-specification
// vectors: every full-state file listed in index.json is evaluated through
// the CLI and each `tests` / `variantTests` expectation is checked. The
// delta-stream files (19 and 20, whose state is `{"events": [...]}`) are
// outside the contract of `vexil eval --features` and are skipped.
//
// Environment:
//   VEXIL_BIN    the binary (default build/src/cli/vexil)
//   VEXIL_SPECS  the spec directory, holding index.json (default: the npm
//                package @unleash/client-specification pinned in
//                tests/spec/package-lock.json, installed by tests/spec/install.sh,
//                which tests/compat/run.sh runs)

const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');

const SPECS = path.resolve(process.env.VEXIL_SPECS ||
  path.join(h.REPO_ROOT, 'tests', 'spec', 'node_modules', '@unleash', 'client-specification', 'specifications'));
const UNKNOWN = { enabled: false, variant: { name: 'disabled', enabled: false, feature_enabled: false } };

function loadIndex() {
  const index = path.join(SPECS, 'index.json');
  if (!fs.existsSync(index)) {
    throw new Error(`Unleash client-specification vectors not found: ${index} is missing.\n` +
      'Run tests/spec/install.sh (npm ci of the pinned @unleash/client-specification), ' +
      'or set VEXIL_SPECS to the directory that holds index.json.');
  }
  const files = JSON.parse(fs.readFileSync(index, 'utf8'));
  if (!Array.isArray(files) || files.length === 0) throw new Error(`${index} lists no files`);
  return files;
}

let files;
try {
  files = loadIndex();
} catch (e) {
  test('client-specification vectors are present', () => {
    throw e;
  });
}

if (files) {
  test('vexil eval passes the Unleash client-specification vectors', async (t) => {
    const bin = h.vexilBin();
    let checked = 0;
    const skipped = [];
    for (const file of files) {
      const spec = JSON.parse(fs.readFileSync(path.join(SPECS, file), 'utf8'));
      if (spec.state && Array.isArray(spec.state.events)) {
        skipped.push(file);
        await t.test(file, { skip: 'delta stream, not a full state' }, () => {});
        continue;
      }
      await t.test(file, () => {
        const cases = [
          ...(spec.tests || []).map((c) => ({ ...c, kind: 'isEnabled' })),
          ...(spec.variantTests || []).map((c) => ({ ...c, kind: 'getVariant' })),
        ];
        assert.ok(cases.length > 0, `${file} has no tests`);
        const dir = h.tempDir('vexil-spec-');
        const featuresPath = path.join(dir, 'features.json');
        const contextsPath = path.join(dir, 'contexts.json');
        fs.writeFileSync(featuresPath, JSON.stringify(spec.state));
        fs.writeFileSync(contextsPath, JSON.stringify(cases.map((c) => c.context)));
        const lines = h.runVexil(bin, featuresPath, contextsPath, cases.length);

        const flagNames = spec.state.features.map((f) => f.name);
        const failures = [];
        cases.forEach((c, i) => {
          const keys = Object.keys(lines[i]);
          const missing = flagNames.filter((n) => !keys.includes(n));
          const extra = keys.filter((k) => !flagNames.includes(k));
          if (missing.length || extra.length) {
            failures.push(`case ${i} (${c.description}): output keys differ from the flags: missing ${JSON.stringify(missing)}, extra ${JSON.stringify(extra)}`);
            return;
          }
          const known = flagNames.includes(c.toggleName);
          const ans = known ? h.normalizeVexilAnswer(lines[i][c.toggleName]) : UNKNOWN;
          let want;
          let got;
          if (c.kind === 'isEnabled') {
            want = c.expectedResult;
            got = ans && ans.enabled;
          } else {
            want = h.normalizeVariant(c.expectedResult);
            got = ans && ans.variant;
          }
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            failures.push(`${c.kind} ${JSON.stringify(c.toggleName)}: ${c.description}\n` +
              `    context:  ${JSON.stringify(c.context)}\n` +
              `    expected: ${JSON.stringify(want)}\n` +
              `    vexil:    ${JSON.stringify(got)}`);
          }
        });
        checked += cases.length;
        if (failures.length) {
          assert.fail(`${file}: ${failures.length} of ${cases.length} expectations fail (files in ${dir})\n  ` + failures.join('\n  '));
        }
        fs.rmSync(dir, { recursive: true, force: true });
      });
    }
    t.diagnostic(`${checked} expectations checked; skipped delta streams: ${skipped.join(', ') || 'none'}`);
  });

  test('vexil eval reads "-" as stdin', () => {
    const bin = h.vexilBin();
    const file = files.find((f) => {
      const s = JSON.parse(fs.readFileSync(path.join(SPECS, f), 'utf8'));
      return s.state && Array.isArray(s.state.features) && (s.tests || []).length > 0;
    });
    const spec = JSON.parse(fs.readFileSync(path.join(SPECS, file), 'utf8'));
    const contexts = spec.tests.map((c) => c.context);
    const dir = h.tempDir('vexil-spec-stdin-');
    try {
      const featuresPath = path.join(dir, 'features.json');
      const contextsPath = path.join(dir, 'contexts.json');
      fs.writeFileSync(featuresPath, JSON.stringify(spec.state));
      fs.writeFileSync(contextsPath, JSON.stringify(contexts));
      const fromFiles = h.runVexil(bin, featuresPath, contextsPath, contexts.length);
      const featuresStdin = h.runVexil(bin, '-', contextsPath, contexts.length, JSON.stringify(spec.state));
      const contextsStdin = h.runVexil(bin, featuresPath, '-', contexts.length, JSON.stringify(contexts));
      assert.deepStrictEqual(featuresStdin, fromFiles, `--features - differs from --features FILE (${file})`);
      assert.deepStrictEqual(contextsStdin, fromFiles, `--contexts - differs from --contexts FILE (${file})`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}
