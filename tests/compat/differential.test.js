'use strict';
// Differential test: `vexil eval` must answer exactly like the Unleash Node
// SDK (unleash-client 6.12.1) for randomly generated flag sets and contexts.
//
// Environment:
//   VEXIL_BIN               the binary (default build/src/cli/vexil)
//   VEXIL_COMPAT_SEED       base seed, a 32-bit unsigned integer (default: random)
//   VEXIL_COMPAT_ROUNDS     flag sets per run (default 30)
//   VEXIL_COMPAT_CONTEXTS   contexts per flag set (default 40)
//   VEXIL_COMPAT_ROUND      run only this round (to replay one failure)
//   VEXIL_COMPAT_KEEP=1     keep every round's files, not only failing ones

const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { generateRound, roundSeed, OPERATORS } = require('./gen');
const h = require('./harness');

function envInt(name, dflt) {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  if (!/^\d+$/.test(v)) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

const SEED = envInt('VEXIL_COMPAT_SEED', Math.floor(Math.random() * 0x100000000)) >>> 0;
const ROUNDS = envInt('VEXIL_COMPAT_ROUNDS', 30);
const CONTEXTS = envInt('VEXIL_COMPAT_CONTEXTS', 40);
const ONLY = process.env.VEXIL_COMPAT_ROUND;
const KEEP = process.env.VEXIL_COMPAT_KEEP === '1';
const rounds = ONLY !== undefined && ONLY !== '' ? [envInt('VEXIL_COMPAT_ROUND', 0)] : [...Array(ROUNDS).keys()];

const STRATEGIES = ['default', 'flexibleRollout', 'userWithId', 'remoteAddress', 'gradualRolloutUserId',
  'gradualRolloutSessionId', 'gradualRolloutRandom', 'applicationHostname'];

function writeJson(file, value) {
  fs.writeFileSync(file, JSON.stringify(value, null, 1) + '\n');
}

function describeMismatch(ctx) {
  const { round, doc, flag, context, contextIndex, sdk, vexil, dir, total, answers, flags, reproduced } = ctx;
  const min = h.minimalDocument(doc, flag);
  const [feature, ...parents] = min.features;
  const lines = [
    `vexil eval disagrees with unleash-client 6.12.1 (seed ${SEED}, round ${round}: ${total} of ${answers} answers differ; flags: ${flags.join(', ')})`,
    `replay: VEXIL_COMPAT_SEED=${SEED} VEXIL_COMPAT_ROUND=${round} node --test tests/compat/differential.test.js`,
    `first difference: flag ${JSON.stringify(flag)}, context #${contextIndex}`,
    `  flag:           ${JSON.stringify(feature)}`,
  ];
  if (parents.length) lines.push(`  parents:        ${JSON.stringify(parents)}`);
  if (min.segments.length) lines.push(`  segments:       ${JSON.stringify(min.segments)}`);
  lines.push(
    `  context:        ${JSON.stringify(context)}`,
    `  unleash-client: ${JSON.stringify(sdk)}`,
    `  vexil:          ${JSON.stringify(vexil === undefined ? '(flag missing from output)' : vexil)}`,
    `  minimal repro (${reproduced}): ${path.join(dir, 'repro-features.json')} ${path.join(dir, 'repro-contexts.json')}`,
    `  full round files: ${path.join(dir, 'features.json')} ${path.join(dir, 'contexts.json')}`,
  );
  return lines.join('\n');
}

test(`vexil eval matches unleash-client 6.12.1 on random flag sets (seed ${SEED})`, async (t) => {
  const bin = h.vexilBin();
  t.diagnostic(`seed ${SEED}: replay with VEXIL_COMPAT_SEED=${SEED}`);
  const seen = { strategies: new Set(), operators: new Set(), enabled: 0, disabled: 0, variants: 0 };

  for (const round of rounds) {
    await t.test(`round ${round}`, async () => {
      const { doc, contexts } = generateRound(roundSeed(SEED, round), { contexts: CONTEXTS });
      const flagNames = doc.features.map((f) => f.name);
      for (const f of doc.features) {
        for (const s of f.strategies) {
          seen.strategies.add(s.name);
          for (const c of s.constraints || []) seen.operators.add(c.operator);
        }
      }
      for (const s of doc.segments) for (const c of s.constraints) seen.operators.add(c.operator);

      const dir = h.tempDir(`vexil-compat-r${round}-`);
      const featuresPath = path.join(dir, 'features.json');
      const contextsPath = path.join(dir, 'contexts.json');
      writeJson(featuresPath, doc);
      writeJson(contextsPath, contexts);

      const got = h.runVexil(bin, featuresPath, contextsPath, contexts.length);
      const want = await h.sdkEvaluate(doc, contexts, flagNames);

      const diffs = [];
      const structural = [];
      for (let i = 0; i < contexts.length; i++) {
        const extra = Object.keys(got[i]).filter((k) => !flagNames.includes(k));
        if (extra.length) structural.push(`context #${i}: output has keys that are not flags: ${JSON.stringify(extra)}`);
        for (const name of flagNames) {
          const w = want[i][name];
          if (w.enabled) seen.enabled++;
          else seen.disabled++;
          if (w.variant.enabled) seen.variants++;
          const g = Object.prototype.hasOwnProperty.call(got[i], name) ? h.normalizeVexilAnswer(got[i][name]) : undefined;
          if (!h.sameAnswer(g, w)) diffs.push({ i, name, g, w });
        }
      }

      if (diffs.length === 0 && structural.length === 0) {
        if (!KEEP) fs.rmSync(dir, { recursive: true, force: true });
        return;
      }
      if (diffs.length === 0) assert.fail(`seed ${SEED}, round ${round}: ${structural.join('\n')}\nfiles: ${dir}`);

      // Shrink the first difference to one flag (plus parents and segments)
      // and one context, and check that it still differs.
      const first = diffs[0];
      const min = h.minimalDocument(doc, first.name);
      const ctx = contexts[first.i];
      writeJson(path.join(dir, 'repro-features.json'), min);
      writeJson(path.join(dir, 'repro-contexts.json'), [ctx]);
      let reproduced;
      try {
        const g1 = h.runVexil(bin, path.join(dir, 'repro-features.json'), path.join(dir, 'repro-contexts.json'), 1)[0][first.name];
        const w1 = (await h.sdkEvaluate(min, [ctx], [first.name]))[0][first.name];
        reproduced = h.sameAnswer(h.normalizeVexilAnswer(g1), w1) ? 'does NOT reproduce alone' : 'reproduces alone';
      } catch (e) {
        reproduced = `could not run: ${e.message.split('\n')[0]}`;
      }
      assert.fail(describeMismatch({
        round,
        doc,
        flag: first.name,
        context: ctx,
        contextIndex: first.i,
        sdk: first.w,
        vexil: first.g,
        dir,
        total: diffs.length,
        answers: contexts.length * flagNames.length,
        flags: [...new Set(diffs.map((d) => d.name))],
        reproduced,
      }) + (structural.length ? '\n' + structural.join('\n') : ''));
    });
  }

  t.diagnostic(`answers: ${seen.enabled} enabled, ${seen.disabled} disabled, ${seen.variants} with a variant`);
  // Guard against a generator that drifted into trivial cases.
  if (rounds.length >= 10 && CONTEXTS >= 10) {
    const missingS = STRATEGIES.filter((s) => !seen.strategies.has(s));
    const missingO = OPERATORS.filter((o) => !seen.operators.has(o));
    assert.deepStrictEqual({ missingS, missingO }, { missingS: [], missingO: [] }, 'generator coverage');
    assert.ok(seen.enabled > 0 && seen.disabled > 0 && seen.variants > 0, 'generator produced only trivial answers');
  }
});
