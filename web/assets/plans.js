// A release plan as the flag page and the flag list say it, from the
// "releasePlan" member the server puts in each environment of a flag
// (docs/admin-api.md): which strategy the plan controls, its state, the
// percentage in force (0 after a rollback), its guard ("time-based,
// unguarded" when it has no metric) and its last decision in words, so
// that nobody reads 0 % next to a green "on" without the reason.
import { h, badge } from './dom.js';

// States in which the plan owns its strategy: a hand edit must pause it.
export const OWNS = new Set(['running', 'waiting-approval', 'held']);

const STATE = {
  running: ['running', 'ok'], 'waiting-approval': ['waiting for approval', 'accent'], held: ['held', 'warn'],
  paused: ['paused', 'warn'], 'rolled-back': ['rolled back', 'bad'], completed: ['complete', 'ok'],
};
export const stateBadge = (rp) => { const [w, k] = STATE[rp.state] || [rp.state || 'unknown', '']; return badge(w, k); };
export const unguarded = (rp) => /unguarded/.test(rp.guard || '');

// One line: "rolled back at 25 % because …", "running at 25 %", ...
export function planWords(rp) {
  if (rp.state === 'rolled-back') return rp.lastDecision || rp.status || 'rolled back';
  const at = `at ${rp.percent} %`;
  switch (rp.state) {
    case 'running': return `running ${at}`;
    case 'waiting-approval': return `waiting for approval ${at}`;
    case 'held': return `held ${at}, waiting for evidence`;
    case 'paused': return `paused ${at}`;
    case 'completed': return `complete ${at}`;
    default: return rp.status || `${rp.state} ${at}`;
  }
}

// The flag list's cell: a compact line under the switch.
export function planCell(rp, href) {
  const bad = rp.state === 'rolled-back';
  const words = planWords(rp);
  const m = /^(rolled back(?: a variant)? at \d+ %)(?: because (.*))?$/.exec(words);
  return h('div', { class: 'plan-cell' + (bad ? ' bad' : '') },
    h('a', { href, 'data-link': true }, bad && m ? `Plan ${m[1]}` : `Plan ${words}`),
    bad && m && m[2] ? h('span', { class: 'plan-why' }, ` because ${m[2]}`) : null,
    unguarded(rp) ? h('span', { class: 'plan-guard' }, ' · time-based, unguarded') : null);
}

// The flag page's note at the top of an environment.
export function planNote(rp, envName, href) {
  const bad = rp.state === 'rolled-back';
  const held = rp.state === 'held' || rp.state === 'paused';
  const guard = unguarded(rp) ? badge('time-based, unguarded', 'warn') : badge(rp.guard || 'guarded');
  return h('div', { class: `plan-note ${bad ? 'alert' : held ? 'notice' : 'info'}`, role: 'note', 'aria-label': `Release plan in ${envName}` },
    h('p', {}, stateBadge(rp), ' ', h('strong', {}, 'Release plan: '), planWords(rp), '. ', guard, ' ',
      h('a', { href, 'data-link': true }, 'See the rollout')),
    bad ? h('p', { class: 'small' }, `The rollout in force is ${rp.percent} %. Start a new plan, or edit the strategy, once the cause is fixed.`)
      : rp.state === 'paused' ? h('p', { class: 'small' }, `${rp.status ? `${rp.status}. ` : ''}Resuming it (on the Rollouts page) sets the rollout back to its step's percentage.`)
        : rp.lastDecision ? h('p', { class: 'small muted' }, `Last decision: ${rp.lastDecision}`) : null);
}
