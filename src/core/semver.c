/* node-semver's strict grammar: v?MAJOR.MINOR.PATCH(-PRE)?(+BUILD)?, numeric
 * parts without leading zeros, at most 256 characters, numbers at most
 * Number.MAX_SAFE_INTEGER. */
#include "core/semver.h"

#include <string.h>

#include "core/textutil.h"

#define MAX_SAFE 9007199254740991ull

static bool is_ident_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || c == '-';
}

/* NUMERICIDENTIFIER: 0 | [1-9][0-9]* */
static bool parse_num(const char *s, size_t len, size_t *i, uint64_t *out)
{
    size_t start = *i;
    uint64_t v = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        v = v * 10 + (uint64_t)(s[*i] - '0');
        if (v > MAX_SAFE)
            return false;
        (*i)++;
    }
    size_t n = *i - start;
    if (n == 0 || (n > 1 && s[start] == '0'))
        return false;
    *out = v;
    return true;
}

bool vx__semver_parse(const char *s, size_t len, vx__semver *out)
{
    if (len > 256)
        return false;
    s = vx__js_trim(s, len, &len);
    size_t i = 0;
    out->major = out->minor = out->patch = 0; /* pre[] is written as used */
    out->npre = 0;
    if (i < len && s[i] == 'v')
        i++;
    if (!parse_num(s, len, &i, &out->major) || i >= len || s[i++] != '.' ||
        !parse_num(s, len, &i, &out->minor) || i >= len || s[i++] != '.' ||
        !parse_num(s, len, &i, &out->patch))
        return false;
    if (i < len && s[i] == '-') {
        i++;
        for (;;) {
            size_t start = i;
            bool all_digits = true;
            while (i < len && is_ident_char(s[i])) {
                if (s[i] < '0' || s[i] > '9')
                    all_digits = false;
                i++;
            }
            size_t n = i - start;
            if (n == 0)
                return false;
            if (all_digits && n > 1 && s[start] == '0')
                return false; /* neither numeric (leading 0) nor alphanumeric */
            if (out->npre == VX_SEMVER_MAX_PRE)
                return false;
            vx__semver_ident *p = &out->pre[out->npre++];
            p->s = s + start;
            p->len = (uint32_t)n;
            p->numeric = all_digits;
            p->num = 0;
            for (size_t j = start; all_digits && j < start + n; j++)
                p->num = p->num * 10 + (s[j] - '0');
            if (i < len && s[i] == '.') {
                i++;
                continue;
            }
            break;
        }
    }
    if (i < len && s[i] == '+') {
        i++;
        for (;;) {
            size_t start = i;
            while (i < len && is_ident_char(s[i]))
                i++;
            if (i == start)
                return false;
            if (i < len && s[i] == '.') {
                i++;
                continue;
            }
            break;
        }
    }
    return i == len;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

int vx__semver_cmp(const vx__semver *a, const vx__semver *b)
{
    int c = cmp_u64(a->major, b->major);
    if (c == 0)
        c = cmp_u64(a->minor, b->minor);
    if (c == 0)
        c = cmp_u64(a->patch, b->patch);
    if (c != 0)
        return c;
    if (a->npre == 0 || b->npre == 0)
        return a->npre == b->npre ? 0 : (a->npre == 0 ? 1 : -1);
    for (uint8_t i = 0;; i++) {
        if (i == a->npre || i == b->npre)
            return a->npre == b->npre ? 0 : (i == a->npre ? -1 : 1);
        const vx__semver_ident *x = &a->pre[i], *y = &b->pre[i];
        if (x->numeric && y->numeric) {
            if (x->num != y->num)
                return x->num < y->num ? -1 : 1;
        } else if (x->numeric != y->numeric) {
            return x->numeric ? -1 : 1;
        } else {
            size_t n = x->len < y->len ? x->len : y->len;
            c = memcmp(x->s, y->s, n);
            if (c)
                return c < 0 ? -1 : 1;
            if (x->len != y->len)
                return x->len < y->len ? -1 : 1;
        }
    }
}
