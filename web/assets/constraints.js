// The constraint editor, shared by strategies and segments. The operators
// offered fit the field's type: text fields get the string operators,
// numbers NUM_*, dates DATE_*, versions SEMVER_*, addresses IN_CIDR. Values
// are checked as they are typed (check.js: what the server would refuse,
// and for address fields, a range only with "is in the network"), and by
// the server again; its answer names the field (/constraints/<i>/value),
// which showErrors marks.
import { h, field, select, checkbox, nextId } from './dom.js';
import { valueProblem } from './check.js';

export const OPERATORS = {
  string: [
    ['IN', 'is one of'], ['NOT_IN', 'is not one of'], ['STR_CONTAINS', 'contains'],
    ['STR_STARTS_WITH', 'starts with'], ['STR_ENDS_WITH', 'ends with'], ['REGEX', 'matches the regular expression'],
  ],
  number: [['NUM_EQ', '='], ['NUM_GT', '>'], ['NUM_GTE', '≥'], ['NUM_LT', '<'], ['NUM_LTE', '≤']],
  date: [['DATE_AFTER', 'is after'], ['DATE_BEFORE', 'is before']],
  semver: [['SEMVER_EQ', '='], ['SEMVER_GT', '>'], ['SEMVER_GTE', '≥'], ['SEMVER_LT', '<'], ['SEMVER_LTE', '≤']],
  ip: [['IN_CIDR', 'is in the network (CIDR)'], ['IN', 'is one of these addresses'], ['NOT_IN', 'is not one of these addresses']],
};
export const LIST_OPS = new Set(['IN', 'NOT_IN', 'STR_CONTAINS', 'STR_STARTS_WITH', 'STR_ENDS_WITH', 'IN_CIDR']);
const STRING_OPS = new Set(['IN', 'NOT_IN', 'STR_CONTAINS', 'STR_STARTS_WITH', 'STR_ENDS_WITH', 'REGEX']);
const TYPES = [['string', 'Text'], ['number', 'Number'], ['date', 'Date and time'], ['semver', 'Version (semver)'], ['ip', 'IP address']];
const FIELD_TYPES = { currentTime: 'date', remoteAddress: 'ip' };
export const CONTEXT_FIELDS = ['userId', 'sessionId', 'remoteAddress', 'environment', 'appName', 'currentTime'];
const PLACEHOLDER = {
  number: '42', date: '2026-12-01T00:00:00Z', semver: '1.4.0', ip: '10.0.0.0/8',
};

function typeOf(c) {
  if (FIELD_TYPES[c.contextName]) return FIELD_TYPES[c.contextName];
  const op = c.operator || '';
  if (op.startsWith('NUM_')) return 'number';
  if (op.startsWith('DATE_')) return 'date';
  if (op.startsWith('SEMVER_')) return 'semver';
  if (op === 'IN_CIDR') return 'ip';
  return 'string';
}

// A readable one-liner: "country is one of TH, VN".
export function describeConstraint(c) {
  const ops = Object.values(OPERATORS).flat();
  const label = (ops.find(([v]) => v === c.operator) || [c.operator, c.operator])[1];
  const vals = LIST_OPS.has(c.operator) ? (c.values || []).join(', ') : (c.value ?? '');
  return `${c.contextName} ${c.inverted ? 'NOT ' : ''}${label} ${vals}${c.caseInsensitive ? ' (any case)' : ''}`;
}

// editor.el: the element; editor.value(): the constraints as the API wants
// them. `base`: the JSON pointer of the array in the request body.
export function constraintEditor(initial, base = '/constraints') {
  const list = h('div', { class: 'constraint-list' });
  const rows = [];
  const dlId = nextId('ctx');
  const datalist = h('datalist', { id: dlId }, CONTEXT_FIELDS.map((f) => h('option', { value: f })));
  const addBtn = h('button', { type: 'button', class: 'small', onclick: () => { add({ contextName: '', operator: 'IN', values: [] }, true); } }, '+ Add constraint');
  const empty = h('p', { class: 'muted small' }, 'No constraints: this applies to every context.');

  function renumber() {
    rows.forEach((r, i) => r.setIndex(i));
    empty.hidden = rows.length > 0;
  }

  function add(c, focus) {
    const row = constraintRow(c, dlId, () => {
      rows.splice(rows.indexOf(row), 1);
      row.el.remove();
      renumber();
      addBtn.focus();
    });
    rows.push(row);
    list.append(row.el);
    renumber();
    if (focus) row.focus();
  }

  function constraintRow(c, dl, onRemove) {
    const name = h('input', { value: c.contextName || '', list: dl, autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. userId, country' });
    const type = select(TYPES, typeOf(c));
    const op = h('select');
    const single = h('input', { value: c.value ?? '', spellcheck: 'false' });
    const multi = h('textarea', { rows: 2, spellcheck: 'false' }, '');
    multi.value = (c.values || []).join('\n');
    const ci = checkbox('Ignore case', !!c.caseInsensitive);
    const inv = checkbox('Negate (NOT)', !!c.inverted);
    const remove = h('button', { type: 'button', class: 'small danger', onclick: onRemove }, 'Remove');
    const title = h('div', { class: 'or-sep' });
    const singleField = field('Value', single);
    const multiField = field('Values', multi, { hint: 'One per line (or separated by commas).' });

    function fillOps(keep) {
      const t = type.value;
      const choices = OPERATORS[t];
      op.replaceChildren(...choices.map(([v, label]) => h('option', { value: v }, `${label} (${v})`)));
      op.value = choices.some(([v]) => v === keep) ? keep : choices[0][0];
    }
    // The message under a value control, tied to it for screen readers.
    function mark(control, holder, msg) {
      let p = holder.querySelector(':scope > .value-error');
      if (!msg) {
        if (p) p.remove();
        control.removeAttribute('aria-invalid');
        const ids = (control.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && !x.startsWith('ve-'));
        if (ids.length) control.setAttribute('aria-describedby', ids.join(' ')); else control.removeAttribute('aria-describedby');
        return;
      }
      if (!p) {
        p = h('p', { class: 'field-error value-error', id: nextId('ve') });
        holder.append(p);
        control.setAttribute('aria-describedby', ((control.getAttribute('aria-describedby') || '') + ' ' + p.id).trim());
      }
      p.textContent = msg;
      control.setAttribute('aria-invalid', 'true');
    }
    function values() {
      return multi.value.split(/[\n,]/).map((x) => x.trim()).filter((x) => x !== '');
    }
    // True when every value is one the server takes; marks the others.
    function check() {
      const isList = LIST_OPS.has(op.value);
      if (isList) {
        mark(single, singleField, '');
        const probs = values().map((v) => valueProblem(op.value, v, type.value)).filter(Boolean);
        mark(multi, multiField, probs.length ? probs.slice(0, 3).join(' ') + (probs.length > 3 ? ` (${probs.length - 3} more)` : '') : '');
        return probs.length === 0;
      }
      mark(multi, multiField, '');
      const v = single.value.trim();
      mark(single, singleField, v === '' ? '' : valueProblem(op.value, v, type.value));
      return v === '' || !valueProblem(op.value, v, type.value);
    }
    function sync() {
      const isList = LIST_OPS.has(op.value);
      singleField.hidden = isList;
      multiField.hidden = !isList;
      ci.el.hidden = !STRING_OPS.has(op.value) || op.value === 'REGEX';
      single.placeholder = PLACEHOLDER[type.value] || (op.value === 'REGEX' ? '^beta-.*$' : '');
      single.inputMode = type.value === 'number' ? 'decimal' : 'text';
      multi.placeholder = type.value === 'ip' ? (op.value === 'IN_CIDR' ? '10.0.0.0/8\n192.168.1.0/24' : '10.1.2.3') : '';
      if (touched) check();
    }
    let touched = false;
    // An address field starts with "is in the network", which takes ranges.
    const keepOp = () => (type.value === 'ip' && !LIST_OPS.has(op.value) ? 'IN_CIDR' : type.value === 'ip' && op.value === 'IN' ? 'IN_CIDR' : op.value);
    name.addEventListener('change', () => {
      const t = FIELD_TYPES[name.value];
      if (t && type.value !== t) { type.value = t; fillOps(keepOp()); sync(); }
    });
    type.addEventListener('change', () => { fillOps(keepOp()); sync(); });
    op.addEventListener('change', sync);
    for (const c of [single, multi]) c.addEventListener('input', () => { touched = true; check(); });
    fillOps(c.operator);
    sync();

    const el = h('div', { class: 'constraint-row', role: 'group' },
      title,
      h('div', { class: 'row' },
        field('Context field', name, { class: 'grow' }),
        field('Field type', type),
        field('Operator', op, { class: 'grow' })),
      singleField, multiField,
      h('div', { class: 'row' }, ci.el, inv.el, h('span', { class: 'grow' }), remove));

    return {
      el,
      check() { touched = true; return check() ? null : (LIST_OPS.has(op.value) ? multi : single); },
      focus() { name.focus(); },
      setIndex(i) {
        const p = `${base}/${i}`;
        title.textContent = i === 0 ? `Constraint ${i + 1}` : `AND constraint ${i + 1}`;
        el.setAttribute('aria-label', `Constraint ${i + 1}`);
        name.dataset.path = `${p}/contextName`;
        op.dataset.path = `${p}/operator`;
        single.dataset.path = `${p}/value`;
        multi.dataset.path = `${p}/values`;
        remove.setAttribute('aria-label', `Remove constraint ${i + 1}`);
      },
      value() {
        const out = { contextName: name.value.trim(), operator: op.value, inverted: inv.input.checked };
        if (!ci.el.hidden) out.caseInsensitive = ci.input.checked;
        if (LIST_OPS.has(op.value)) {
          out.values = multi.value.split(/[\n,]/).map((s) => s.trim()).filter((s) => s !== '');
        } else {
          out.value = single.value.trim();
        }
        return out;
      },
    };
  }

  (initial || []).forEach((c) => add(c, false));
  renumber();
  const el = h('fieldset', { class: 'constraints' }, h('legend', {}, 'Constraints'), datalist, empty, list, addBtn);
  // check(): marks every value the server would refuse and returns the
  // first such control (null when all are fine).
  return {
    el,
    value: () => rows.map((r) => r.value()),
    check: () => {
      let first = null;
      for (const r of rows) {
        const bad = r.check();
        if (bad && !first) first = bad;
      }
      return first;
    },
  };
}
