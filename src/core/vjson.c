/* The JSON reader of vjson.h: recursive descent over the text, values built
 * on a small stack and copied into the arena when their container closes.
 * Follows RFC 8259 strictly, as jansson does: no trailing commas, no
 * comments, strings must be valid UTF-8 without raw control characters,
 * integers must fit 64 bits. */
#include "core/vjson.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

typedef struct vp {
    const char *t;   /* text */
    size_t n;        /* length */
    size_t i;        /* cursor */
    vx_arena *a;     /* where values go */
    vj_error *err;   /* first error */
    vj *stack;       /* values of open containers */
    size_t top, cap; /* stack use and size */
    bool failed;     /* an error was recorded */
} vp;

static bool fail_at(vp *p, size_t at, const char *msg)
{
    if (!p->failed) {
        p->failed = true;
        p->err->position = at;
        snprintf(p->err->text, sizeof(p->err->text), "%s", msg);
    }
    return false;
}

static bool oom(vp *p)
{
    if (!p->failed)
        p->err->oom = true;
    return fail_at(p, p->i, "out of memory");
}

static void ws(vp *p)
{
    while (p->i < p->n) {
        char c = p->t[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->i++;
    }
}

static bool push(vp *p, const vj *v)
{
    if (p->top == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        vj *s = vx__realloc(p->stack, cap * sizeof(*s));
        if (!s)
            return oom(p);
        p->stack = s;
        p->cap = cap;
    }
    p->stack[p->top++] = *v;
    return true;
}

/* Length of the UTF-8 sequence at s[0..n) if valid (RFC 3629), else 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static int hex4(const char *s)
{
    int v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at the opening quote; the decoded copy goes to the arena. */
static bool string(vp *p, vj *out)
{
    size_t start = ++p->i, i = start;
    bool escapes = false;
    /* First pass: find the end, validate, note escapes. */
    for (;;) {
        if (i >= p->n)
            return fail_at(p, i, "premature end of input in a string");
        unsigned char c = (unsigned char)p->t[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return fail_at(p, i, "control character in a string");
        if (c == '\\') {
            escapes = true;
            i += 2;
            continue;
        }
        size_t l = utf8_len((const unsigned char *)p->t + i, p->n - i);
        if (!l)
            return fail_at(p, i, "invalid UTF-8 in a string");
        i += l;
    }
    size_t end = i;
    char *o = vx__arena_alloc(p->a, end - start + 1);
    if (!o)
        return oom(p);
    size_t k = 0;
    if (!escapes) {
        memcpy(o, p->t + start, end - start);
        k = end - start;
    } else {
        for (i = start; i < end;) {
            char c = p->t[i];
            if (c != '\\') {
                o[k++] = c;
                i++;
                continue;
            }
            char e = p->t[i + 1];
            i += 2;
            switch (e) {
            case '"': o[k++] = '"'; break;
            case '\\': o[k++] = '\\'; break;
            case '/': o[k++] = '/'; break;
            case 'b': o[k++] = '\b'; break;
            case 'f': o[k++] = '\f'; break;
            case 'n': o[k++] = '\n'; break;
            case 'r': o[k++] = '\r'; break;
            case 't': o[k++] = '\t'; break;
            case 'u': {
                int v = i + 4 <= end ? hex4(p->t + i) : -1;
                if (v < 0)
                    return fail_at(p, i, "invalid \\u escape");
                i += 4;
                uint32_t cp = (uint32_t)v;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    int lo =
                        i + 6 <= end && p->t[i] == '\\' && p->t[i + 1] == 'u'
                            ? hex4(p->t + i + 2)
                            : -1;
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return fail_at(p, i, "invalid UTF-16 surrogate pair");
                    i += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) +
                         ((uint32_t)lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return fail_at(p, i, "invalid UTF-16 surrogate pair");
                }
                k += put_utf8(o + k, cp); /* never longer than the escape */
                break;
            }
            default: return fail_at(p, i - 1, "invalid escape");
            }
        }
    }
    o[k] = '\0';
    p->i = end + 1;
    out->type = VJ_STRING;
    out->n = (uint32_t)k;
    out->u.s = o;
    return true;
}

static bool digits(vp *p)
{
    size_t s = p->i;
    while (p->i < p->n && p->t[p->i] >= '0' && p->t[p->i] <= '9')
        p->i++;
    return p->i > s;
}

static bool number(vp *p, vj *out)
{
    size_t start = p->i;
    bool real = false;
    if (p->t[p->i] == '-')
        p->i++;
    if (p->i < p->n && p->t[p->i] == '0') {
        p->i++;
    } else if (!digits(p)) {
        return fail_at(p, start, "invalid number");
    }
    if (p->i < p->n && p->t[p->i] == '.') {
        p->i++;
        real = true;
        if (!digits(p))
            return fail_at(p, start, "invalid number");
    }
    if (p->i < p->n && (p->t[p->i] == 'e' || p->t[p->i] == 'E')) {
        p->i++;
        real = true;
        if (p->i < p->n && (p->t[p->i] == '+' || p->t[p->i] == '-'))
            p->i++;
        if (!digits(p))
            return fail_at(p, start, "invalid number");
    }
    size_t len = p->i - start;
    char buf[64];
    char *s = len < sizeof(buf) ? buf : vx__arena_alloc(p->a, len + 1);
    if (!s)
        return oom(p);
    memcpy(s, p->t + start, len);
    s[len] = '\0';
    errno = 0;
    if (!real) {
        long long v = strtoll(s, NULL, 10);
        if (errno == ERANGE)
            return fail_at(p, start, "too big integer");
        out->type = VJ_INTEGER;
        out->u.i = v;
    } else {
        double d = strtod(s, NULL);
        if (errno == ERANGE && (d > 1 || d < -1))
            return fail_at(p, start, "real number overflow");
        out->type = VJ_REAL;
        out->u.d = d;
    }
    out->n = 0;
    return true;
}

static bool literal(vp *p, const char *word, vj_type t, vj *out)
{
    size_t len = strlen(word);
    if (p->n - p->i < len || memcmp(p->t + p->i, word, len) != 0)
        return fail_at(p, p->i, "invalid token");
    p->i += len;
    out->type = t;
    out->n = 0;
    out->u.i = 0;
    return true;
}

static bool value(vp *p, vj *out, int depth);

/* Copies the top `count` stack entries into the arena as a container. */
static bool close_container(vp *p, size_t base, vj_type t, vj *out)
{
    size_t count = p->top - base;
    vj *items = NULL;
    if (count) {
        items = vx__arena_alloc(p->a, count * sizeof(*items));
        if (!items)
            return oom(p);
        memcpy(items, p->stack + base, count * sizeof(*items));
    }
    p->top = base;
    out->type = t;
    out->n = (uint32_t)(t == VJ_OBJECT ? count / 2 : count);
    out->u.items = items;
    return true;
}

static bool array(vp *p, vj *out, int depth)
{
    size_t base = p->top;
    p->i++;
    ws(p);
    if (p->i < p->n && p->t[p->i] == ']') {
        p->i++;
        return close_container(p, base, VJ_ARRAY, out);
    }
    for (;;) {
        vj v;
        if (!value(p, &v, depth + 1) || !push(p, &v))
            return false;
        ws(p);
        if (p->i < p->n && p->t[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->t[p->i] == ']') {
            p->i++;
            return close_container(p, base, VJ_ARRAY, out);
        }
        return fail_at(p, p->i, "']' expected");
    }
}

static bool object(vp *p, vj *out, int depth)
{
    size_t base = p->top;
    p->i++;
    ws(p);
    if (p->i < p->n && p->t[p->i] == '}') {
        p->i++;
        return close_container(p, base, VJ_OBJECT, out);
    }
    for (;;) {
        vj k, v;
        ws(p);
        if (p->i >= p->n || p->t[p->i] != '"')
            return fail_at(p, p->i, "string or '}' expected");
        size_t kat = p->i;
        if (!string(p, &k))
            return false;
        for (size_t j = base; j < p->top; j += 2) {
            if (p->stack[j].n == k.n &&
                memcmp(p->stack[j].u.s, k.u.s, k.n) == 0)
                return fail_at(p, kat, "duplicate object key");
        }
        ws(p);
        if (p->i >= p->n || p->t[p->i] != ':')
            return fail_at(p, p->i, "':' expected");
        p->i++;
        if (!value(p, &v, depth + 1) || !push(p, &k) || !push(p, &v))
            return false;
        ws(p);
        if (p->i < p->n && p->t[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->t[p->i] == '}') {
            p->i++;
            return close_container(p, base, VJ_OBJECT, out);
        }
        return fail_at(p, p->i, "'}' expected");
    }
}

static bool value(vp *p, vj *out, int depth)
{
    ws(p);
    if (p->i >= p->n)
        return fail_at(p, p->i, "premature end of input");
    if (depth > VJ_MAX_DEPTH)
        return fail_at(p, p->i, "maximum nesting depth exceeded");
    switch (p->t[p->i]) {
    case '{': return object(p, out, depth);
    case '[': return array(p, out, depth);
    case '"': return string(p, out);
    case 't': return literal(p, "true", VJ_TRUE, out);
    case 'f': return literal(p, "false", VJ_FALSE, out);
    case 'n': return literal(p, "null", VJ_NULL, out);
    default:
        if (p->t[p->i] == '-' || (p->t[p->i] >= '0' && p->t[p->i] <= '9'))
            return number(p, out);
        return fail_at(p, p->i, "invalid token");
    }
}

vj *vj_parse(vx_arena *a, const char *text, size_t len, vj_error *err)
{
    vp p = {.t = text, .n = len, .a = a, .err = err};
    err->oom = false;
    vj root, *out = NULL;
    if (value(&p, &root, 1)) {
        ws(&p);
        if (p.i != p.n)
            fail_at(&p, p.i, "end of input expected");
        else
            out = vx__arena_alloc(a, sizeof(*out));
        if (out)
            *out = root;
        else
            oom(&p);
    }
    vx__free(p.stack);
    return p.failed ? NULL : out;
}

const vj *vj_object_get(const vj *obj, const char *key)
{
    if (!vj_is_object(obj))
        return NULL;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < obj->n; i++) {
        const vj *k = &obj->u.items[2 * i];
        if (k->n == klen && memcmp(k->u.s, key, klen) == 0)
            return &obj->u.items[2 * i + 1];
    }
    return NULL;
}
