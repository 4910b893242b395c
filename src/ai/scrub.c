/* The scrubber: the last gate before text goes into a prompt. It removes
 * what looks like an identifier (emails, IPv4 and IPv6 addresses, UUIDs,
 * long digit runs) and every value of a deny set (constraint values, user
 * ids, IPs, host names the caller collected from its data), as whole words.
 *
 * Invariant: ai_scrub_text's output holds no denied value and no token the
 * patterns match, except inside the placeholders it writes itself. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "ai/advisor.h"
#include "base/alloc.h"
#include "base/limits.h"

struct ai_scrub {
    json_t *deny;   /* object used as a set: value -> true */
    json_t *allow;  /* public names (flags, fields...) never denied */
    size_t max_len; /* bytes of the longest value in deny */
};

ai_scrub *ai_scrub_new(void)
{
    ai_scrub *s = vx__malloc(sizeof(*s));
    if (!s)
        return NULL;
    s->deny = json_object();
    s->allow = json_object();
    s->max_len = 0;
    if (!s->deny || !s->allow) {
        json_decref(s->deny);
        json_decref(s->allow);
        vx__free(s);
        return NULL;
    }
    return s;
}

void ai_scrub_free(ai_scrub **sp)
{
    if (!sp || !*sp)
        return;
    json_decref((*sp)->deny);
    json_decref((*sp)->allow);
    vx__free(*sp);
    *sp = NULL;
}

static vx_status deny_one(ai_scrub *s, const char *v, size_t n)
{
    if (n < 2 || n > 1000)
        return VX_OK;
    if (json_object_size(s->deny) >= VX_LIMIT_AI_DENY)
        return VX_ELIMIT;
    char key[1001];
    memcpy(key, v, n);
    key[n] = '\0';
    if (strlen(key) != n)
        return VX_OK; /* embedded NUL: cannot be matched as text anyway */
    if (json_object_set_new(s->deny, key, json_true()) != 0)
        return VX_ENOMEM;
    if (n > s->max_len)
        s->max_len = n;
    return VX_OK;
}

/* A value and, for lists written as one string ("u1,u2" in userIds, IPs,
 * hostNames), each comma-separated part. */
static vx_status deny_str(ai_scrub *s, const char *v, size_t n)
{
    vx_status st = deny_one(s, v, n);
    size_t i = 0;
    while (st == VX_OK && memchr(v, ',', n) && i < n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        st = deny_one(s, v + a, b - a);
        i = j + 1;
    }
    return st;
}

vx_status ai_scrub_deny_json(ai_scrub *s, const json_t *v)
{
    vx_status st = VX_OK;
    char num[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return deny_str(s, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        return deny_one(s, num, strlen(num));
    case JSON_ARRAY: {
        size_t i;
        const json_t *e;
        json_array_foreach (v, i, e) {
            st = ai_scrub_deny_json(s, e);
            if (st != VX_OK)
                return st;
        }
        return VX_OK;
    }
    case JSON_OBJECT: {
        const char *k;
        const json_t *e;
        json_object_foreach ((json_t *)v, k, e) {
            st = ai_scrub_deny_json(s, e);
            if (st != VX_OK)
                return st;
        }
        return VX_OK;
    }
    default: return VX_OK;
    }
}

/* Characters that belong to a word for the scrubber: identifiers are
 * often "user-42", "a.b@c.d", "10.0.0.0/8", "fe80::1". */
static bool word_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '@' ||
           c == ':' || c == '+' || c == '/' || c >= 0x80;
}

static bool is_ipv4(const char *w, size_t n)
{
    int parts = 0, digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (isdigit((unsigned char)w[i])) {
            if (++digits > 3)
                return false;
        } else if (w[i] == '.' && digits > 0) {
            parts++;
            digits = 0;
        } else if (w[i] == '/') {
            break;
        } else {
            return false;
        }
    }
    return parts == 3 && digits > 0;
}

static bool is_ipv6(const char *w, size_t n)
{
    int colons = 0;
    for (size_t i = 0; i < n; i++) {
        if (w[i] == ':')
            colons++;
        else if (!isxdigit((unsigned char)w[i]) && w[i] != '.')
            return false;
    }
    return colons >= 2;
}

static bool is_email(const char *w, size_t n)
{
    const char *at = memchr(w, '@', n);
    return at && at > w && memchr(at, '.', n - (size_t)(at - w)) != NULL;
}

/* 8-4-4-4-12 hex digits. */
static bool is_uuid(const char *w, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? w[i] != '-' : !isxdigit((unsigned char)w[i]))
            return false;
    }
    return true;
}

/* Seven or more digits in a row (phone numbers, numeric ids). */
static bool has_long_digits(const char *w, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        run = isdigit((unsigned char)w[i]) ? run + 1 : 0;
        if (run >= 7)
            return true;
    }
    return false;
}

static bool pattern_hit(const char *w, size_t n)
{
    return is_ipv4(w, n) || is_ipv6(w, n) || is_email(w, n) || is_uuid(w, n) ||
           has_long_digits(w, n);
}

/* True when a word may end at t[e]: the text ends, or what follows is
 * not part of a word, perhaps after sentence punctuation ("alice." ends at
 * the full stop). */
static bool word_ends(const char *t, size_t len, size_t e)
{
    while (e < len && (t[e] == '.' || t[e] == ':' || t[e] == '-'))
        e++;
    return e == len || !word_char((unsigned char)t[e]);
}

/* Length of the longest denied value starting at t[i] as a whole word, or
 * 0: one hash lookup per place a word may end, within the longest denied
 * value's length. */
static size_t deny_hit(const ai_scrub *s, const char *t, size_t len, size_t i)
{
    if (!s || s->max_len == 0)
        return 0;
    if (i > 0 && word_char((unsigned char)t[i - 1]))
        return 0;
    size_t best = 0, max = len - i < s->max_len ? len - i : s->max_len;
    for (size_t n = 1; n <= max; n++) {
        if (i + n < len && isalnum((unsigned char)t[i + n]))
            continue; /* no word ends inside a run of letters and digits */
        if (word_ends(t, len, i + n) && json_object_getn(s->deny, t + i, n) &&
            !json_object_getn(s->allow, t + i, n))
            best = n;
    }
    return best;
}

typedef struct out_buf {
    char *p;
    size_t n, cap;
    bool oom;
} out_buf;

static void put(out_buf *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        while (cap < o->n + n + 1)
            cap *= 2;
        char *p = vx__realloc(o->p, cap);
        if (!p) {
            o->oom = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
    o->p[o->n] = '\0';
}

static void replace(out_buf *o, const char *orig, size_t n, json_t *map)
{
    if (!json_is_object(map)) {
        put(o, "[redacted]", 10);
        return;
    }
    char ph[32];
    snprintf(ph, sizeof(ph), "<v%zu>", json_object_size(map) + 1);
    json_t *val = json_stringn(orig, n);
    if (!val || json_object_set_new(map, ph, val) != 0) {
        o->oom = true;
        return;
    }
    put(o, ph, strlen(ph));
}

char *ai_scrub_text(const ai_scrub *s, const char *text, json_t *map,
                    size_t *count)
{
    out_buf o = {0};
    size_t len = strlen(text), hits = 0, i = 0;
    put(&o, "", 0);
    while (i < len) {
        size_t d = deny_hit(s, text, len, i);
        if (d) {
            replace(&o, text + i, d, map);
            hits++;
            i += d;
            continue;
        }
        if (!word_char((unsigned char)text[i])) {
            put(&o, text + i, 1);
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && word_char((unsigned char)text[j]))
            j++;
        /* Trailing sentence punctuation is not part of the word. */
        size_t e = j;
        while (e > i &&
               (text[e - 1] == '.' || text[e - 1] == ':' || text[e - 1] == '-'))
            e--;
        if (e > i && pattern_hit(text + i, e - i)) {
            replace(&o, text + i, e - i, map);
            hits++;
            put(&o, text + e, j - e);
        } else {
            put(&o, text + i, j - i);
        }
        i = j;
    }
    if (o.oom) {
        vx__free(o.p);
        return NULL;
    }
    if (count)
        *count = hits;
    return o.p;
}

bool ai_scrub_finds(const ai_scrub *s, const char *text)
{
    size_t n = 0;
    char *t = ai_scrub_text(s, text, NULL, &n);
    vx__free(t);
    return n > 0;
}

vx_status ai_scrub_allow_json(ai_scrub *s, const json_t *names)
{
    size_t i;
    const json_t *v;
    if (json_is_string(names))
        return json_object_setn_new(s->allow, json_string_value(names),
                                    json_string_length(names), json_true()) == 0
                   ? VX_OK
                   : VX_ENOMEM;
    json_array_foreach (names, i, v) {
        vx_status st = ai_scrub_allow_json(s, v);
        if (st != VX_OK)
            return st;
    }
    return VX_OK;
}

/* Members whose values are private wherever they appear: constraint and
 * segment values, strategy parameters listing users, IPs and hosts,
 * variant overrides and payloads, evaluation contexts. */
static const char *const PRIVATE_KEYS[] = {
    "values",    "value",         "userIds",     "IPs",        "hostNames",
    "overrides", "payload",       "context",     "properties", "userId",
    "sessionId", "remoteAddress", "targetUsers",
};

vx_status ai_scrub_deny_private(ai_scrub *s, const json_t *doc)
{
    vx_status st = VX_OK;
    if (json_is_array(doc)) {
        size_t i;
        const json_t *e;
        json_array_foreach (doc, i, e) {
            st = ai_scrub_deny_private(s, e);
            if (st != VX_OK)
                return st;
        }
        return VX_OK;
    }
    if (!json_is_object(doc))
        return VX_OK;
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)doc, k, v) {
        bool hit = false;
        for (size_t i = 0; i < sizeof(PRIVATE_KEYS) / sizeof(PRIVATE_KEYS[0]);
             i++)
            hit = hit || strcmp(k, PRIVATE_KEYS[i]) == 0;
        if (hit) {
            st = ai_scrub_deny_json(s, v);
        } else if (strcmp(k, "tags") == 0 && json_is_array(v)) {
            /* a tag is {type, value}: its value is private, its type a
             * name */
            size_t i;
            const json_t *t;
            json_array_foreach (v, i, t) {
                if (st == VX_OK)
                    st = ai_scrub_deny_json(
                        s, json_is_object(t) ? json_object_get(t, "value") : t);
            }
        } else {
            st = ai_scrub_deny_private(s, v);
        }
        if (st != VX_OK)
            return st;
    }
    return VX_OK;
}

json_t *ai_scrub_json(const ai_scrub *s, const json_t *doc, json_t *map)
{
    if (json_is_string(doc)) {
        char *t = ai_scrub_text(s, json_string_value(doc), map, NULL);
        json_t *o = t ? json_string(t) : NULL;
        vx__free(t);
        return o;
    }
    if (json_is_array(doc)) {
        json_t *a = json_array();
        size_t i;
        const json_t *e;
        json_array_foreach (doc, i, e) {
            json_t *c = ai_scrub_json(s, e, map);
            if (!c || json_array_append_new(a, c) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    if (json_is_object(doc)) {
        json_t *o = json_object();
        const char *k;
        const json_t *e;
        json_object_foreach ((json_t *)doc, k, e) {
            json_t *c = ai_scrub_json(s, e, map);
            if (!c || json_object_set_new(o, k, c) != 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    return json_deep_copy(doc);
}
