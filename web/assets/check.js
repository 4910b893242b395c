// Value checks that refuse, as the person types, what the server would
// refuse (src/core/operators.c, vx_operator_value_ok): numbers as
// JavaScript's Number() reads them, ISO-8601 times (src/core/time.c),
// strict semver without a leading "v" (src/core/semver.c), IP addresses and
// CIDR ranges with the evaluator's grammar (src/core/ip.c: no leading
// zeros, a prefix of at most 32 or 128 bits). The server checks again; these
// only save a round trip and say what is wrong next to the field.

export function numberProblem(v) {
  if (v.trim() === '' || Number.isNaN(Number(v))) return `“${v}” is not a number (such as 42 or 2.5).`;
  return '';
}

const daysIn = (y, m) => (m === 2 ? ((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28) : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]);

export function dateProblem(v) {
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:[Zz]|[+-](\d{2}):?(\d{2}))?)?$/.exec(v);
  const bad = `“${v}” is not a date and time such as 2026-12-01T09:00:00Z.`;
  if (!m) return bad;
  const [y, mo = 1, d = 1, hh = 0, mi = 0, ss = 0, oh = 0, om = 0] = m.slice(1).map((x) => (x === undefined ? undefined : Number(x)));
  if (mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo)) return bad;
  if (hh > 24 || mi > 59 || ss > 59 || (hh === 24 && (mi || ss)) || oh > 23 || om > 59) return bad;
  return '';
}

const NUM = '(0|[1-9]\\d*)';
const PRE = '(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)';
const SEMVER = new RegExp(`^${NUM}\\.${NUM}\\.${NUM}(?:-${PRE}(?:\\.${PRE})*)?(?:\\+[0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*)?$`);

export function semverProblem(v) {
  const t = v.trim();
  const m = v.length <= 256 && !v.startsWith('v') ? SEMVER.exec(t) : null;
  if (!m || m.slice(1, 4).some((x) => Number(x) > Number.MAX_SAFE_INTEGER)) {
    return `“${v}” is not a version such as 1.4.0 or 2.0.0-beta.1 (no leading “v”).`;
  }
  return '';
}

function v4(s) {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255 && !(p.length > 1 && p[0] === '0'));
}

function v6(s) {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return false;
  const groups = s.split('::');
  if (groups.length > 2) return false;
  const count = (part) => {
    if (part === '') return 0;
    const g = part.split(':');
    let n = 0;
    for (let i = 0; i < g.length; i++) {
      if (i === g.length - 1 && g[i].includes('.')) {
        if (!v4(g[i])) return -99;
        n += 2;
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g[i])) {
        n += 1;
      } else {
        return -99;
      }
    }
    return n;
  };
  if (groups.length === 1) return count(groups[0]) === 8;
  if (groups[0].includes('.')) return false; /* a dotted quad only ends it */
  const n = count(groups[0]) + count(groups[1]);
  return n >= 0 && n <= 7;
}

// An address, or with `range` a CIDR range too ("10.0.0.0/8").
export function ipProblem(v, { range = true } = {}) {
  const s = v.trim();
  const slash = s.indexOf('/');
  const addr = slash >= 0 ? s.slice(0, slash) : s;
  const prefix = slash >= 0 ? s.slice(slash + 1) : null;
  const six = addr.includes(':');
  const okAddr = six ? v6(addr) : v4(addr);
  const okPrefix = prefix === null || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (six ? 128 : 32));
  if (slash >= 0 && !range) return `“${v}” is a range: choose the operator “is in the network (CIDR)” for ranges.`;
  if (!okAddr) return `“${v}” is not an IP address${range ? ' or range' : ''} (such as 10.1.2.3${range ? ' or 10.0.0.0/8' : ''}).`;
  if (!okPrefix) return `“${v}”: a range's prefix is at most /${six ? 128 : 32}.`;
  return '';
}

export function regexProblem(v) {
  try {
    // eslint-disable-next-line no-new
    new RegExp(v);
    return '';
  } catch (e) {
    return `Not a valid regular expression: ${e.message}.`;
  }
}

// The problem with `value` for operator `op` on a field of type `type`
// ('ip' fields take addresses only, ranges only with IN_CIDR), or ''.
export function valueProblem(op, value, type) {
  if (op.startsWith('NUM_')) return numberProblem(value);
  if (op.startsWith('DATE_')) return dateProblem(value);
  if (op.startsWith('SEMVER_')) return semverProblem(value);
  if (op === 'REGEX') return regexProblem(value);
  if (op === 'IN_CIDR') return ipProblem(value, { range: true });
  if (type === 'ip' && (op === 'IN' || op === 'NOT_IN')) return ipProblem(value, { range: false });
  return '';
}
