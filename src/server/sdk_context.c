/* Contexts from requests, the answer builder, ETag hashing and the
 * per-thread scratch: see sdk_context.h. The field rules follow the
 * Unleash frontend API (unknown keys become properties, remoteAddress from
 * the client, a random sessionId for anonymous callers) so that answers
 * equal what Unleash itself would give. */
#include "server/sdk_context.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/alloc.h"
#include "base/error.h"

/* ---- context -------------------------------------------------------------
 */

void sdk_ctx_init(sdk_ctx *b)
{
    memset(&b->c, 0, sizeof(b->c));
    b->c.props = b->props;
    b->has_time = false;
}

static bool is(const char *k, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(k, want, n) == 0;
}

/* The field a known key names, or NULL. */
static vx_str *known_field(sdk_ctx *b, const char *k, size_t n)
{
    if (is(k, n, "userId"))
        return &b->c.user_id;
    if (is(k, n, "sessionId"))
        return &b->c.session_id;
    if (is(k, n, "remoteAddress"))
        return &b->c.remote_address;
    if (is(k, n, "environment"))
        return &b->c.environment;
    if (is(k, n, "appName"))
        return &b->c.app_name;
    if (is(k, n, "currentTime"))
        return &b->c.current_time;
    return NULL;
}

vx_status sdk_ctx_set(sdk_ctx *b, const char *key, size_t klen, const char *val,
                      size_t vlen, bool as_prop, const char *path,
                      vx_error *err)
{
    if (klen > VX_LIMIT_NAME_BYTES)
        return vx__error_set(err, VX_EINVAL, path,
                             "field name longer than %d bytes",
                             VX_LIMIT_NAME_BYTES);
    vx_str *f = as_prop ? NULL : known_field(b, key, klen);
    if (f) {
        f->ptr = val;
        f->len = val ? vlen : 0;
        if (f == &b->c.current_time)
            b->has_time = val != NULL;
        return VX_OK;
    }
    for (size_t i = 0; i < b->c.nprops; i++) {
        vx_prop *p = &b->props[i];
        if (p->key.len == klen && memcmp(p->key.ptr, key, klen) == 0) {
            if (!val) {
                b->props[i] = b->props[--b->c.nprops];
                return VX_OK;
            }
            p->value.ptr = val;
            p->value.len = vlen;
            return VX_OK;
        }
    }
    if (!val)
        return VX_OK;
    if (b->c.nprops >= VX_LIMIT_CONTEXT_PROPS)
        return vx__error_set(err, VX_ELIMIT, path,
                             "more than %d context properties",
                             VX_LIMIT_CONTEXT_PROPS);
    vx_prop *p = &b->props[b->c.nprops++];
    p->key.ptr = key;
    p->key.len = klen;
    p->value.ptr = val;
    p->value.len = vlen;
    return VX_OK;
}

vx_status sdk_ctx_from_query(sdk_ctx *b, const json_t *query, vx_error *err)
{
    static const char pre[] = "properties[";
    const size_t npre = sizeof(pre) - 1;
    const char *key;
    const json_t *v;
    char path[VX_ERROR_PATH_MAX];
    if (!query)
        return VX_OK;
    json_object_foreach ((json_t *)query, key, v) {
        size_t klen = strlen(key);
        const char *val = json_string_value(v);
        size_t vlen = json_string_length(v);
        const char *name = key;
        size_t nlen = klen;
        bool as_prop = false;
        if (klen > npre + 1 && memcmp(key, pre, npre) == 0 &&
            key[klen - 1] == ']') {
            name = key + npre;
            nlen = klen - npre - 1;
            as_prop = true;
        } else if (is(key, klen, "properties")) {
            continue; /* "properties=x" carries no field name */
        }
        snprintf(path, sizeof(path), "/query/%s", key);
        vx_status st =
            sdk_ctx_set(b, name, nlen, val, vlen, as_prop, path, err);
        if (st != VX_OK)
            return st;
    }
    return VX_OK;
}

/* Appends `/key` to `base` as a JSON pointer (escaping ~ and /). */
static void pointer(char *out, size_t cap, const char *base, const char *key)
{
    size_t n = (size_t)snprintf(out, cap, "%s/", base);
    for (; *key && n + 3 < cap; key++) {
        if (*key == '~' || *key == '/') {
            out[n++] = '~';
            out[n++] = *key == '~' ? '0' : '1';
        } else {
            out[n++] = *key;
        }
    }
    out[n < cap ? n : cap - 1] = '\0';
}

/* The text of a JSON value for a context field: strings as they are, other
 * scalars as their JSON text, containers as compact JSON (properties only).
 * `*out` NULL means absent (null). */
static vx_status value_text(const json_t *v, bool container_ok, vx_arena *a,
                            const char **out, size_t *len, const char *path,
                            vx_error *err)
{
    char num[64];
    int n = 0;
    *out = NULL;
    *len = 0;
    switch (json_typeof(v)) {
    case JSON_STRING:
        *out = json_string_value(v);
        *len = json_string_length(v);
        return VX_OK;
    case JSON_NULL: return VX_OK;
    case JSON_TRUE:
        *out = "true";
        *len = 4;
        return VX_OK;
    case JSON_FALSE:
        *out = "false";
        *len = 5;
        return VX_OK;
    case JSON_INTEGER:
        n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
        break;
    case JSON_REAL: {
        double d = json_real_value(v);
        n = snprintf(num, sizeof(num), "%.15g", d);
        double back = 0;
        if (sscanf(num, "%lf", &back) != 1 || back != d)
            n = snprintf(num, sizeof(num), "%.17g", d);
        break;
    }
    case JSON_OBJECT:
    case JSON_ARRAY: {
        if (!container_ok)
            return vx__error_set(err, VX_EINVAL, path,
                                 "must be a string, number or boolean");
        size_t need = json_dumpb(v, NULL, 0, JSON_COMPACT);
        char *buf = need ? vx__arena_alloc(a, need) : NULL;
        if (!buf || json_dumpb(v, buf, need, JSON_COMPACT) != need)
            return vx__error_set(err, VX_ENOMEM, path, "out of memory");
        *out = buf;
        *len = need;
        return VX_OK;
    }
    }
    if (n <= 0 || (size_t)n >= sizeof(num))
        return vx__error_set(err, VX_EINVAL, path, "unusable number");
    char *s = vx__arena_strndup(a, num, (size_t)n);
    if (!s)
        return vx__error_set(err, VX_ENOMEM, path, "out of memory");
    *out = s;
    *len = (size_t)n;
    return VX_OK;
}

vx_status sdk_ctx_from_json(sdk_ctx *b, const json_t *obj, const char *path,
                            bool ofrep, vx_arena *a, vx_error *err)
{
    vx_status st = VX_OK;
    const char *key;
    const json_t *v;
    const json_t *tk = NULL;
    char where[VX_ERROR_PATH_MAX];
    if (!json_is_object(obj))
        return vx__error_set(err, VX_EINVAL, path, "must be an object");
    json_object_foreach ((json_t *)obj, key, v) {
        size_t klen = strlen(key);
        pointer(where, sizeof(where), path, key);
        if (ofrep && is(key, klen, "targetingKey")) {
            tk = v;
            continue;
        }
        if (is(key, klen, "properties") && json_is_object(v)) {
            const char *pk;
            const json_t *pv;
            char ppath[VX_ERROR_PATH_MAX];
            json_object_foreach ((json_t *)v, pk, pv) {
                const char *s;
                size_t n;
                pointer(ppath, sizeof(ppath), where, pk);
                st = value_text(pv, true, a, &s, &n, ppath, err);
                if (st == VX_OK)
                    st = sdk_ctx_set(b, pk, strlen(pk), s, n, true, ppath, err);
                if (st != VX_OK)
                    return st;
            }
            continue;
        }
        const char *s;
        size_t n;
        bool known = known_field(b, key, klen) != NULL;
        st = value_text(v, !known, a, &s, &n, where, err);
        if (st == VX_OK)
            st = sdk_ctx_set(b, key, klen, s, n, false, where, err);
        if (st != VX_OK)
            return st;
    }
    if (tk) {
        pointer(where, sizeof(where), path, "targetingKey");
        if (!json_is_string(tk) && !json_is_null(tk))
            return vx__error_set(err, VX_EINVAL, where, "must be a string");
        if (json_is_string(tk)) {
            b->c.user_id.ptr = json_string_value(tk);
            b->c.user_id.len = json_string_length(tk);
        }
    }
    return VX_OK;
}

/* ---- per-thread state ----------------------------------------------------
 * One evaluation scratch and one random generator per worker thread; the
 * key's destructor frees the scratch when the thread exits. */

typedef struct thread_state {
    vx_scratch *scratch; /* NULL until first used */
    uint64_t rng;        /* xorshift64* state, never 0 once seeded */
} thread_state;

static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static _Thread_local thread_state tls;

static void tls_release(void *p)
{
    thread_state *t = p;
    vx_scratch_free(t->scratch);
    t->scratch = NULL;
}

static void tls_init(void)
{
    (void)pthread_key_create(&tls_key, tls_release);
}

vx_scratch *sdk_scratch(void)
{
    if (!tls.scratch) {
        pthread_once(&tls_once, tls_init);
        tls.scratch = vx_scratch_new();
        if (tls.scratch)
            (void)pthread_setspecific(tls_key, &tls);
    }
    return tls.scratch;
}

static uint32_t thread_random(void *ud)
{
    (void)ud;
    if (tls.rng == 0) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed) ||
            seed == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            seed = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
                   (uint64_t)(uintptr_t)&tls;
        }
        tls.rng = seed ? seed : 0x9e3779b97f4a7c15ull;
    }
    tls.rng ^= tls.rng >> 12;
    tls.rng ^= tls.rng << 25;
    tls.rng ^= tls.rng >> 27;
    return (uint32_t)((tls.rng * 0x2545f4914f6cdd1dull) >> 32);
}

vx_status sdk_ctx_finish(sdk_ctx *b, int64_t now_ms, const char *peer,
                         const char *env, bool random_session, vx_arena *a,
                         vx_error *err)
{
    vx_context *c = &b->c;
    c->now_ms = now_ms;
    if (b->has_time &&
        !vx_time_parse(c->current_time.ptr, c->current_time.len, &c->now_ms))
        c->now_ms = VX_TIME_INVALID;
    if (!c->remote_address.ptr && peer) {
        c->remote_address.ptr = peer;
        c->remote_address.len = strlen(peer);
    }
    if (!c->environment.ptr && env) {
        c->environment.ptr = env;
        c->environment.len = strlen(env);
    }
    if (!c->session_id.ptr && random_session) {
        /* A random number as text, as Unleash makes one. */
        char num[16];
        int n =
            snprintf(num, sizeof(num), "%u", thread_random(NULL) % 1000000001u);
        char *s = vx__arena_strndup(a, num, (size_t)n);
        if (!s)
            return vx__error_set(err, VX_ENOMEM, "", "out of memory");
        c->session_id.ptr = s;
        c->session_id.len = (size_t)n;
    }
    c->random = thread_random;
    c->random_ud = NULL;
    return VX_OK;
}

/* ---- JSON text ------------------------------------------------------------
 */

void sdk_jbuf_init(sdk_jbuf *j, vx_arena *a, size_t first)
{
    j->a = a;
    j->len = 0;
    j->fail = VX_OK;
    j->cap = first ? first : 256;
    j->p = vx__arena_alloc(a, j->cap);
    if (!j->p) {
        j->cap = 0;
        j->fail = VX_ENOMEM;
    }
}

/* Makes room for `n` more bytes; false (and `fail` set) when impossible. */
static bool reserve(sdk_jbuf *j, size_t n)
{
    if (j->fail != VX_OK)
        return false;
    if (n <= j->cap - j->len)
        return true;
    if (n > VX_LIMIT_SDK_ANSWER_BYTES - j->len) {
        j->fail = VX_ELIMIT;
        return false;
    }
    size_t cap = j->cap ? j->cap : 256;
    while (cap - j->len < n)
        cap *= 2;
    if (cap > VX_LIMIT_SDK_ANSWER_BYTES)
        cap = VX_LIMIT_SDK_ANSWER_BYTES;
    char *p = vx__arena_alloc(j->a, cap);
    if (!p) {
        j->fail = VX_ENOMEM;
        return false;
    }
    if (j->len)
        memcpy(p, j->p, j->len);
    j->p = p;
    j->cap = cap;
    return true;
}

void sdk_jbuf_raw(sdk_jbuf *j, const char *s, size_t n)
{
    if (!reserve(j, n))
        return;
    memcpy(j->p + j->len, s, n);
    j->len += n;
}

void sdk_jbuf_lit(sdk_jbuf *j, const char *s)
{
    sdk_jbuf_raw(j, s, strlen(s));
}

void sdk_jbuf_str(sdk_jbuf *j, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case 6 bytes per input byte, plus the quotes. */
    if (n > (VX_LIMIT_SDK_ANSWER_BYTES - 2) / 6) {
        if (j->fail == VX_OK)
            j->fail = VX_ELIMIT;
        return;
    }
    if (!reserve(j, n * 6 + 2))
        return;
    char *o = j->p + j->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    j->len = (size_t)(o - j->p);
}

/* ---- rate limiter ----------------------------------------------------------
 * Open addressing on the key, twice as many slots as keys tracked. */

#define RATE_SLOTS (2 * VX_LIMIT_OFREP_TOKENS)

typedef struct rate_slot {
    int64_t key;   /* token id; 0 = empty */
    double tokens; /* requests left in the bucket */
    int64_t last;  /* ms of the last refill */
} rate_slot;

struct sdk_rate {
    pthread_mutex_t mu;          /* guards everything below */
    double rate;                 /* requests per second */
    double burst;                /* bucket size */
    size_t used;                 /* slots in use */
    rate_slot slots[RATE_SLOTS]; /* the buckets */
};

vx_status sdk_rate_new(double rate, sdk_rate **out, vx_error *err)
{
    *out = NULL;
    if (!(rate > 0))
        return vx__error_set(err, VX_EINVAL, "/ofrep-rate",
                             "the rate must be greater than 0");
    sdk_rate *r = vx__malloc(sizeof(*r));
    if (!r)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->rate = rate;
    r->burst = rate * VX_LIMIT_OFREP_BURST_SECS;
    if (r->burst < 1)
        r->burst = 1;
    *out = r;
    return VX_OK;
}

void sdk_rate_free(sdk_rate **rp)
{
    if (!rp || !*rp)
        return;
    pthread_mutex_destroy(&(*rp)->mu);
    vx__free(*rp);
    *rp = NULL;
}

bool sdk_rate_take(sdk_rate *r, int64_t key, int64_t now_ms,
                   double *retry_after)
{
    bool ok = true;
    uint64_t h = (uint64_t)key * 0x9e3779b97f4a7c15ull;
    size_t i = (size_t)(h >> 32) % RATE_SLOTS;
    if (key == 0)
        key = -1; /* 0 marks an empty slot */
    pthread_mutex_lock(&r->mu);
    while (r->slots[i].key != 0 && r->slots[i].key != key)
        i = (i + 1) % RATE_SLOTS;
    rate_slot *s = &r->slots[i];
    if (s->key == 0) {
        if (r->used >= VX_LIMIT_OFREP_TOKENS) {
            memset(r->slots, 0, sizeof(r->slots));
            r->used = 0;
            i = (size_t)(h >> 32) % RATE_SLOTS;
            s = &r->slots[i];
        }
        s->key = key;
        s->tokens = r->burst;
        s->last = now_ms;
        r->used++;
    }
    if (now_ms > s->last) {
        s->tokens += (double)(now_ms - s->last) / 1000.0 * r->rate;
        if (s->tokens > r->burst)
            s->tokens = r->burst;
        s->last = now_ms;
    }
    if (s->tokens >= 1) {
        s->tokens -= 1;
    } else {
        ok = false;
        *retry_after = (1 - s->tokens) / r->rate;
    }
    pthread_mutex_unlock(&r->mu);
    return ok;
}
