/* libFuzzer target for evaluation: a fixed flag set using every strategy,
 * every operator, segments, feature and strategy variants with overrides,
 * and dependencies is loaded once; the input supplies the contexts.
 *
 * The input is first tried as context JSON (vx_context_set_parse). When
 * that fails it is cut into raw fields (see context_from_bytes), so that
 * evaluation also sees non-UTF-8 bytes, embedded NULs, absent versus empty
 * values and shadowed property names that JSON parsing never produces.
 * Every context is evaluated from "tight" copies: each string in its own
 * heap block of exactly its length, so that ASan reports any read past a
 * vx_str's length (nothing in a context is NUL-terminated). */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

/* Written with ' for " (see fuzz_json_from_squote). */
static const char FEATURES[] =
    "{'version': 2,"
    " 'segments': ["
    "  {'id': 1, 'constraints': [{'contextName': 'appName', 'operator': 'IN',"
    "   'values': ['web']}]},"
    "  {'id': 2, 'constraints': ["
    "   {'contextName': 'country', 'operator': 'IN', 'values': ['NO']},"
    "   {'contextName': 'version', 'operator': 'SEMVER_GTE',"
    "    'value': '1.0.0'}]},"
    "  {'id': 7, 'constraints': [{'contextName': 'email', 'operator': 'REGEX',"
    "   'value': '^[a-z0-9.]+@example\\\\.(com|org)$'}]}],"
    " 'features': ["
    /* strategies */
    "  {'name': 's.default', 'enabled': true, 'impressionData': true,"
    "   'strategies': [{'name': 'default', 'parameters': {}}]},"
    "  {'name': 's.disabled', 'enabled': false,"
    "   'strategies': [{'name': 'default'}]},"
    "  {'name': 's.none', 'enabled': true, 'strategies': []},"
    "  {'name': 's.flex.default', 'enabled': true, 'strategies': [{'name':"
    "   'flexibleRollout', 'parameters': {'rollout': '50',"
    "   'stickiness': 'default', 'groupId': 'g1'}}]},"
    "  {'name': 's.flex.user', 'enabled': true, 'strategies': [{'name':"
    "   'flexibleRollout', 'parameters': {'rollout': 33,"
    "   'stickiness': 'userId'}}]},"
    "  {'name': 's.flex.session', 'enabled': true, 'strategies': [{'name':"
    "   'flexibleRollout', 'parameters': {'rollout': '100',"
    "   'stickiness': 'sessionId', 'groupId': ''}}]},"
    "  {'name': 's.flex.random', 'enabled': true, 'strategies': [{'name':"
    "   'flexibleRollout', 'parameters': {'rollout': '50',"
    "   'stickiness': 'random'}}]},"
    "  {'name': 's.flex.custom', 'enabled': true, 'strategies': [{'name':"
    "   'flexibleRollout', 'parameters': {'rollout': 70.5,"
    "   'stickiness': 'tenant', 'groupId': 'tenants'}}]},"
    "  {'name': 's.userWithId', 'enabled': true, 'strategies': [{'name':"
    "   'userWithId', 'parameters':"
    "   {'userIds': '123, 456 ,u-1,  ,\xc3\xbc'}}]},"
    "  {'name': 's.remoteAddress', 'enabled': true, 'strategies': [{'name':"
    "   'remoteAddress', 'parameters': {'IPs': '192.168.1.10, 10.0.0.0/8,"
    "   2001:db8::/32, ::1, not-an-ip, 300.1.1.1, ::ffff:1.2.3.4'}}]},"
    "  {'name': 's.hostname', 'enabled': true, 'strategies': [{'name':"
    "   'applicationHostname', 'parameters': {'hostNames':"
    "   'Host-A, web-1 ,localhost'}}]},"
    "  {'name': 's.gradual.user', 'enabled': true, 'strategies': [{'name':"
    "   'gradualRolloutUserId', 'parameters': {'percentage': '50',"
    "   'groupId': 'gu'}}]},"
    "  {'name': 's.gradual.session', 'enabled': true, 'strategies': [{'name':"
    "   'gradualRolloutSessionId', 'parameters': {'percentage': 25}}]},"
    "  {'name': 's.gradual.random', 'enabled': true, 'strategies': [{'name':"
    "   'gradualRolloutRandom', 'parameters': {'percentage': '50'}}]},"
    "  {'name': 's.custom', 'enabled': true, 'strategies': [{'name':"
    "   'myCustomStrategy', 'parameters': {'x': 'y'}}, {'name': 'userWithId',"
    "   'parameters': {'userIds': 'u-1'}}]},"
    /* operators, one constraint per flag so that each is evaluated */
    "  {'name': 'o.in', 'enabled': true, 'strategies': [{'name': 'default',"
    "   'constraints': [{'contextName': 'appName', 'operator': 'IN',"
    "   'values': ['web', 'mobile', '']}]}]},"
    "  {'name': 'o.in.prop', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'country', 'operator': 'IN',"
    "   'values': ['NO', 'SE'], 'inverted': true}]}]},"
    "  {'name': 'o.not_in', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'environment',"
    "   'operator': 'NOT_IN', 'values': ['staging']}]}]},"
    "  {'name': 'o.contains', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'email',"
    "   'operator': 'STR_CONTAINS', 'values': ['@example.com', ' ']}]}]},"
    "  {'name': 'o.contains.ci', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'customField',"
    "   'operator': 'STR_CONTAINS', 'caseInsensitive': true,"
    "   'values': ['COOL', '\xc3\x9c']}]}]},"
    "  {'name': 'o.starts', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'customField',"
    "   'operator': 'STR_STARTS_WITH', 'values': ['some', ' trimmed ']}]}]},"
    "  {'name': 'o.ends.inv', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'customField',"
    "   'operator': 'STR_ENDS_WITH', 'inverted': true, 'caseInsensitive':"
    "   true, 'values': ['-COOL']}]}]},"
    "  {'name': 'o.num.eq', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'age', 'operator':"
    "   'NUM_EQ', 'value': '42'}]}]},"
    "  {'name': 'o.num.gt', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'age', 'operator':"
    "   'NUM_GT', 'value': 18}]}]},"
    "  {'name': 'o.num.gte', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'age', 'operator':"
    "   'NUM_GTE', 'value': '0x10'}]}]},"
    "  {'name': 'o.num.bin', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'age', 'operator':"
    "   'NUM_EQ', 'value': '0b101010'}]}]},"
    "  {'name': 'o.num.oct', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'score', 'operator':"
    "   'NUM_GT', 'value': '0o17'}]}]},"
    "  {'name': 'o.num.lt', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'score', 'operator':"
    "   'NUM_LT', 'value': '1e3'}]}]},"
    "  {'name': 'o.num.lte', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'score', 'operator':"
    "   'NUM_LTE', 'value': 2.5, 'inverted': true}]}]},"
    "  {'name': 'o.date.after', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'currentTime', 'operator':"
    "   'DATE_AFTER', 'value': '2024-01-01T00:00:00Z'}]}]},"
    "  {'name': 'o.date.before', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'currentTime', 'operator':"
    "   'DATE_BEFORE', 'value': '2030-06-30T12:00:00.123+02:00'}]}]},"
    "  {'name': 'o.date.bad', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'currentTime', 'operator':"
    "   'DATE_AFTER', 'value': 'not-a-date', 'inverted': true}]}]},"
    "  {'name': 'o.semver.eq', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'version', 'operator':"
    "   'SEMVER_EQ', 'value': '1.2.3'}]}]},"
    "  {'name': 'o.semver.gt', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'version', 'operator':"
    "   'SEMVER_GT', 'value': '1.2.3-beta.1'}]}]},"
    "  {'name': 'o.semver.lt', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'version', 'operator':"
    "   'SEMVER_LT', 'value': '2.0.0-rc.1+build.5'}]}]},"
    "  {'name': 'o.semver.gte', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'version', 'operator':"
    "   'SEMVER_GTE', 'value': '0.0.1-alpha.0.x-y'}]}]},"
    "  {'name': 'o.semver.lte', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'version', 'operator':"
    "   'SEMVER_LTE', 'value': '10.20.30', 'inverted': true}]}]},"
    "  {'name': 'o.regex', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'email', 'operator':"
    "   'REGEX', 'value': '^[a-z0-9.]+@example\\\\.(com|org)$'}]}]},"
    "  {'name': 'o.regex.ci', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'userId', 'operator':"
    "   'REGEX', 'caseInsensitive': true, 'value': '^U-\\\\d{1,4}$'}]}]},"
    "  {'name': 'o.regex.unicode', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'customField', 'operator':"
    "   'REGEX', 'value': '\\\\p{L}+[\\\\s-](?i:cool)|^\\\\x{1F680}'}]}]},"
    "  {'name': 'o.regex.bad', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'userId', 'operator':"
    "   'REGEX', 'value': '(unclosed', 'inverted': true}]}]},"
    "  {'name': 'o.regex.nonre2', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'userId', 'operator':"
    "   'REGEX', 'value': '(?=1)\\\\d+'}]}]},"
    "  {'name': 'o.cidr', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'remoteAddress',"
    "   'operator': 'IN_CIDR', 'values': ['10.0.0.0/8', '192.168.1.0/24',"
    "   '2001:db8::/32', 'bogus', '']}]}]},"
    "  {'name': 'o.cidr.prop', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'clientIp', 'operator':"
    "   'IN_CIDR',"
    "   'values': ['::ffff:0:0/96', '127.0.0.1', '10.1.0.0/16']}]}]},"
    "  {'name': 'o.unknown', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'userId', 'operator':"
    "   'GEO_WITHIN', 'values': ['x'], 'inverted': true}]}]},"
    "  {'name': 'o.all', 'enabled': true, 'strategies': [{'name':"
    "   'flexibleRollout', 'parameters': {'rollout': '100'}, 'constraints': ["
    "   {'contextName': 'userId', 'operator': 'STR_STARTS_WITH',"
    "    'values': ['1']},"
    "   {'contextName': 'sessionId', 'operator': 'NOT_IN', 'values': ['x']},"
    "   {'contextName': 'environment', 'operator': 'STR_ENDS_WITH',"
    "    'values': ['tion']},"
    "   {'contextName': 'currentTime', 'operator': 'STR_CONTAINS',"
    "    'values': ['T']},"
    "   {'contextName': 'remoteAddress', 'operator': 'IN_CIDR',"
    "    'values': ['0.0.0.0/0', '::/0']}]}]},"
    /* segments */
    "  {'name': 'g.one', 'enabled': true,"
    "   'strategies': [{'name': 'default', 'segments': [1]}]},"
    "  {'name': 'g.two', 'enabled': true, 'strategies': [{'name':"
    "   'flexibleRollout', 'parameters': {'rollout': 100},"
    "   'segments': [1, 2, 7]}]},"
    "  {'name': 'g.missing', 'enabled': true,"
    "   'strategies': [{'name': 'default', 'segments': [99]},"
    "   {'name': 'default', 'segments': [7], 'constraints': [{'contextName':"
    "   'age', 'operator': 'NUM_GTE', 'value': '40'}]}]},"
    /* variants */
    "  {'name': 'v.feature', 'enabled': true,"
    "   'strategies': [{'name': 'default'}], 'variants': ["
    "   {'name': 'a', 'weight': 500, 'stickiness': 'tenant',"
    "    'payload': {'type': 'string', 'value': 'A'}},"
    "   {'name': 'b', 'weight': 300, 'payload': {'type': 'json',"
    "    'value': '{\\'x\\': 1}'}, 'overrides': [{'contextName': 'userId',"
    "    'values': ['123', null]}]},"
    "   {'name': 'c', 'weight': 200, 'payload': {'type': 'csv',"
    "    'value': 'a,b,c'}},"
    "   {'name': 'z', 'weight': 0, 'payload': {'type': 'number',"
    "    'value': '42'}, 'overrides': [{'contextName': 'appName',"
    "    'values': ['MOBILE']}, {'contextName': 'country',"
    "    'values': ['SE']}]}]},"
    "  {'name': 'v.feature.default', 'enabled': true,"
    "   'strategies': [{'name': 'default'}], 'variants': ["
    "   {'name': 'one', 'weight': 1}, {'name': 'two', 'weight': 2,"
    "    'stickiness': 'ignored-not-first'}]},"
    "  {'name': 'v.feature.random', 'enabled': true, 'strategies': [],"
    "   'variants': [{'name': 'r1', 'weight': 50, 'stickiness': 'random'},"
    "   {'name': 'r2', 'weight': 50}]},"
    "  {'name': 'v.strategy', 'enabled': true, 'strategies': [{'name':"
    "   'flexibleRollout', 'parameters': {'rollout': 100, 'groupId': 'grp',"
    "   'stickiness': 'sessionId'}, 'variants': ["
    "   {'name': 's1', 'weight': 1, 'stickiness': 'userId', 'payload':"
    "    {'type': 'string', 'value': ''}, 'overrides': [{'contextName':"
    "    'country', 'values': ['NO']}]},"
    "   {'name': 's2', 'weight': 3}]}],"
    "   'variants': [{'name': 'f1', 'weight': 1}]},"
    "  {'name': 'v.strategy.zero', 'enabled': true, 'strategies': [{'name':"
    "   'userWithId', 'parameters': {'userIds': '123'}, 'variants': ["
    "   {'name': 'never', 'weight': 0}]}, {'name': 'default', 'variants':"
    "   [{'name': 'sv', 'weight': 10, 'stickiness': 'default'}]}],"
    "   'variants': [{'name': 'fallback', 'weight': 1,"
    "    'payload': {'type': 'string', 'value': 'F'}}]},"
    "  {'name': 'v.disabled', 'enabled': false,"
    "   'strategies': [{'name': 'default'}],"
    "   'variants': [{'name': 'nope', 'weight': 1}]},"
    /* dependencies */
    "  {'name': 'd.parent', 'enabled': true,"
    "   'strategies': [{'name': 'flexibleRollout', 'parameters':"
    "   {'rollout': 60, 'stickiness': 'userId'}}],"
    "   'variants': [{'name': 'pv1', 'weight': 1},"
    "    {'name': 'pv2', 'weight': 1}]},"
    "  {'name': 'd.parent.off', 'enabled': false, 'strategies': []},"
    "  {'name': 'd.child', 'enabled': true,"
    "   'strategies': [{'name': 'default'}],"
    "   'dependencies': [{'feature': 'd.parent'}]},"
    "  {'name': 'd.child.variant', 'enabled': true, 'strategies': [],"
    "   'variants': [{'name': 'cv', 'weight': 1}],"
    "   'dependencies': [{'feature': 'd.parent', 'variants': ['pv1']}]},"
    "  {'name': 'd.child.not', 'enabled': true, 'strategies': [],"
    "   'dependencies': [{'feature': 'd.parent.off', 'enabled': false}]},"
    "  {'name': 'd.child.missing', 'enabled': true, 'strategies': [],"
    "   'dependencies': [{'feature': 'd.nope'}]},"
    "  {'name': 'd.child.multi', 'enabled': true, 'strategies': [],"
    "   'dependencies': [{'feature': 'd.parent', 'enabled': true},"
    "   {'feature': 's.gradual.user', 'variants': []},"
    "   {'feature': 'd.parent.off', 'enabled': false}]},"
    "  {'name': 'd.grandchild', 'enabled': true, 'strategies': [],"
    "   'dependencies': [{'feature': 'd.child'}]},"
    "  {'name': 'u.\xc3\xbc\xc3\xb1\xc3\xaf\xf0\x9f\x9a\x80', 'enabled': true,"
    "   'strategies': [{'name': 'default'}]}"
    " ]}";

#define MAX_CONTEXTS 64            /* per input, to keep an execution short */
#define NOW_MS       1714557600000 /* "now" for contexts without currentTime */
#define MAX_PROPS    32            /* raw-field contexts */

static vx_scratch *g_scratch; /* one thread: libFuzzer runs inputs serially */
static vx_snapshot *g_snap;   /* FEATURES, loaded once, never released */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_scratch = fuzz_init();
    g_snap = fuzz_load_fixed(FEATURES);
    return 0;
}

/* ---- tight copies ------------------------------------------------------ */

/* Heap blocks owned by one execution. */
typedef struct blocks {
    void **p;   /* owned blocks */
    size_t n;   /* count */
    size_t cap; /* capacity of p */
} blocks;

static vx_str tight(blocks *b, vx_str s)
{
    if (!s.ptr)
        return s;
    FUZZ_CHECK(b->n < b->cap);
    char *p = malloc(s.len); /* ASan: malloc(0) is a valid zero-byte block */
    FUZZ_CHECK(p != NULL);
    if (s.len)
        memcpy(p, s.ptr, s.len);
    b->p[b->n++] = p;
    return (vx_str){p, s.len};
}

/* Copies every string of `in` into its own exact-size block; the property
 * array too. Free with blocks_free. */
static void tight_context(blocks *b, const vx_context *in, vx_context *out)
{
    b->cap = 8 + 2 * in->nprops;
    b->n = 0;
    b->p = malloc(sizeof(*b->p) * b->cap);
    FUZZ_CHECK(b->p != NULL);
    *out = *in;
    out->user_id = tight(b, in->user_id);
    out->session_id = tight(b, in->session_id);
    out->remote_address = tight(b, in->remote_address);
    out->environment = tight(b, in->environment);
    out->app_name = tight(b, in->app_name);
    out->current_time = tight(b, in->current_time);
    out->hostname = tight(b, in->hostname);
    out->props = NULL;
    if (in->nprops) {
        vx_prop *props = malloc(sizeof(*props) * in->nprops);
        FUZZ_CHECK(props != NULL);
        b->p[b->n++] = props;
        for (size_t i = 0; i < in->nprops; i++) {
            props[i].key = tight(b, in->props[i].key);
            props[i].value = tight(b, in->props[i].value);
        }
        out->props = props;
    }
}

static void blocks_free(blocks *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->p[i]);
    free(b->p);
    *b = (blocks){NULL, 0, 0};
}

/* ---- raw-field contexts ------------------------------------------------- */

/* Cuts `data` into a context without JSON:
 *   byte 0: bit i set = built-in field i present (userId, sessionId,
 *           remoteAddress, environment, appName, currentTime, hostname);
 *           bit 7 set = no random source;
 *   byte 1: how now_ms is chosen (low 2 bits: from currentTime, a fixed
 *           instant, invalid, or INT64_MIN+1);
 *   rest:   fields separated by '\n': the present built-ins in order, then
 *           property key/value pairs; a value that is a lone 0x7f byte is
 *           absent (NULL). Strings point into `data`. */
static void context_from_bytes(const uint8_t *data, size_t size, vx_context *c,
                               vx_prop *props)
{
    memset(c, 0, sizeof(*c));
    c->now_ms = VX_TIME_INVALID;
    if (size < 2)
        return;
    uint8_t mask = data[0], mode = data[1];
    const char *p = (const char *)data + 2;
    const char *end = (const char *)data + size;
    vx_str *builtin[] = {&c->user_id,     &c->session_id, &c->remote_address,
                         &c->environment, &c->app_name,   &c->current_time,
                         &c->hostname};
    size_t nb = sizeof(builtin) / sizeof(builtin[0]);
    size_t field = 0;
    vx_str key = {NULL, 0};
    while (p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        vx_str v = {p, (size_t)(stop - p)};
        while (field < nb && !(mask & (1u << field)))
            field++;
        if (field < nb) {
            *builtin[field++] = v;
        } else if (!key.ptr) {
            key = v;
        } else if (c->nprops < MAX_PROPS) {
            if (v.len == 1 && v.ptr[0] == 0x7f)
                v = (vx_str){NULL, 0};
            props[c->nprops++] = (vx_prop){key, v};
            key = (vx_str){NULL, 0};
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    c->props = c->nprops ? props : NULL;
    switch (mode & 3) {
    case 0:
        if (c->current_time.ptr &&
            !vx_time_parse(c->current_time.ptr, c->current_time.len,
                           &c->now_ms))
            c->now_ms = VX_TIME_INVALID;
        break;
    case 1: c->now_ms = NOW_MS; break; /* 2024-05-01T10:00:00Z */
    case 2: c->now_ms = VX_TIME_INVALID; break;
    default: c->now_ms = INT64_MIN + 1; break;
    }
    if (!(mask & 0x80)) {
        c->random = fuzz_random;
        c->random_ud = &fuzz_rng_state;
    }
}

/* ---- the target --------------------------------------------------------- */

/* Evaluates every flag under `ctx` as given and under a tight copy of it;
 * the answers must be the same. */
static void eval_context(const vx_context *ctx)
{
    blocks b;
    vx_context t;
    tight_context(&b, ctx, &t);
    /* Reads currentTime the way callers do, from the tight copy. */
    int64_t ms;
    if (t.current_time.ptr)
        (void)vx_time_parse(t.current_time.ptr, t.current_time.len, &ms);
    uint64_t d1 = fuzz_check_all(g_snap, g_scratch, &t, 1);
    uint64_t d2 = fuzz_check_all(g_snap, g_scratch, ctx, 1);
    FUZZ_CHECK(d1 == d2);
    blocks_free(&b);
}

/* Parses the input again with the allocator failing after `budget`
 * allocations: VX_ENOMEM and no leak, or the same contexts. */
static void check_oom(const uint8_t *data, size_t size, size_t n, size_t budget)
{
    vx_context_set *cs = FUZZ_BAD_PTR;
    vx_error err;
    FUZZ_POISON(err);
    vx__alloc_set_budget(budget);
    vx_status st =
        vx_context_set_parse((const char *)data, size, NOW_MS, &cs, &err);
    vx__alloc_set_budget(SIZE_MAX);
    if (st != VX_OK) {
        FUZZ_CHECK(st == VX_ENOMEM && err.code == st && cs == NULL);
        FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL);
        return;
    }
    FUZZ_CHECK(vx_context_set_count(cs) == n);
    vx_context_set_free(cs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vx_context_set *cs = FUZZ_BAD_PTR;
    vx_error err;
    FUZZ_POISON(err);
    uint64_t before = vx__alloc_count();
    vx_status st =
        vx_context_set_parse((const char *)data, size, NOW_MS, &cs, &err);
    uint64_t allocs = vx__alloc_count() - before;
    if (st == VX_OK) {
        size_t n = vx_context_set_count(cs);
        FUZZ_CHECK(vx_context_set_get(cs, n) == NULL);
        for (size_t i = 0; i < n && i < MAX_CONTEXTS; i++) {
            vx_context c = *vx_context_set_get(cs, i);
            FUZZ_CHECK(c.nprops <= 1000);
            if (i % 2 == 0) { /* odd ones keep "no random source" */
                c.random = fuzz_random;
                c.random_ud = &fuzz_rng_state;
            }
            eval_context(&c);
        }
        vx_context_set_free(cs);
        if (allocs > 0)
            check_oom(data, size, n,
                      (size_t)(fuzz_hash(FUZZ_HASH_INIT, data, size) % allocs));
        return 0;
    }
    FUZZ_CHECK(cs == NULL && err.code == st);
    FUZZ_CHECK(st == VX_EPARSE || st == VX_ESCHEMA || st == VX_ELIMIT);
    FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL);
    FUZZ_CHECK(memchr(err.path, '\0', sizeof(err.path)) != NULL);
    vx_context c;
    vx_prop props[MAX_PROPS];
    context_from_bytes(data, size, &c, props);
    eval_context(&c);
    return 0;
}
