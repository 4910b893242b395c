/* libFuzzer target for vx_snapshot_apply_delta: a fixed base (segments,
 * feature and strategy variants, dependencies) plus arbitrary bytes as the
 * delta body.
 *
 * Checked beyond fuzz_common.h's evaluation invariants:
 *  - the base is never modified: it evaluates exactly as before, whether
 *    the delta succeeded or not;
 *  - whichever snapshot is released first, the other one keeps working
 *    (chunks shared between them are reference-counted correctly);
 *  - applying the same delta twice gives what applying it once gave
 *    (every event sets or removes one key, or resets everything);
 *  - under an allocation budget derived from the input the delta either
 *    succeeds with the same result or fails with VX_ENOMEM, leaking
 *    nothing. */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

/* Written with ' for " (see fuzz_json_from_squote). */
static const char BASE[] =
    "{'version': 2,"
    " 'segments': ["
    "  {'id': 1, 'name': 'web', 'constraints': [{'contextName': 'appName',"
    "   'operator': 'IN', 'values': ['web', 'mobile']}]},"
    "  {'id': 2, 'constraints': [{'contextName': 'country', 'operator': 'IN',"
    "   'values': ['NO', 'SE']}, {'contextName': 'version',"
    "   'operator': 'SEMVER_GTE', 'value': '1.0.0'}]},"
    "  {'id': 3, 'constraints': []}],"
    " 'features': ["
    "  {'name': 'base.default', 'enabled': true,"
    "   'strategies': [{'name': 'default'}]},"
    "  {'name': 'base.off', 'enabled': false,"
    "   'strategies': [{'name': 'default'}]},"
    "  {'name': 'base.segment', 'enabled': true, 'strategies': [{'name':"
    "   'flexibleRollout', 'parameters': {'rollout': '100', 'stickiness':"
    "   'default', 'groupId': 'base.segment'}, 'segments': [1, 2]}]},"
    "  {'name': 'base.segment.gone', 'enabled': true,"
    "   'strategies': [{'name': 'default', 'segments': [3]}]},"
    "  {'name': 'base.variants', 'enabled': true,"
    "   'strategies': [{'name': 'default'}],"
    "   'variants': ["
    "    {'name': 'red', 'weight': 500, 'stickiness': 'userId',"
    "     'payload': {'type': 'string', 'value': 'R'},"
    "     'overrides': [{'contextName': 'userId', 'values': ['7']}]},"
    "    {'name': 'blue', 'weight': 500,"
    "     'payload': {'type': 'json', 'value': '{\\'b\\': 1}'}}]},"
    "  {'name': 'base.strategy.variants', 'enabled': true, 'strategies': [{"
    "   'name': 'flexibleRollout', 'parameters': {'rollout': 100,"
    "   'stickiness': 'sessionId', 'groupId': 'grp'},"
    "   'constraints': [{'contextName': 'environment', 'operator': 'NOT_IN',"
    "    'values': ['staging']}],"
    "   'variants': [{'name': 's1', 'weight': 1, 'stickiness': 'tenant'},"
    "    {'name': 's2', 'weight': 3, 'payload': {'type': 'number',"
    "     'value': '42'}}]}],"
    "   'variants': [{'name': 'f1', 'weight': 1}]},"
    "  {'name': 'base.parent', 'enabled': true,"
    "   'strategies': [{'name': 'userWithId', 'parameters':"
    "    {'userIds': '123, 456'}}],"
    "   'variants': [{'name': 'pv1', 'weight': 1}]},"
    "  {'name': 'base.child', 'enabled': true,"
    "   'strategies': [{'name': 'default'}],"
    "   'dependencies': [{'feature': 'base.parent'}]},"
    "  {'name': 'base.child.variant', 'enabled': true, 'strategies': [],"
    "   'dependencies': [{'feature': 'base.parent', 'variants': ['pv1']}]},"
    "  {'name': 'base.child.not', 'enabled': true, 'strategies': [],"
    "   'dependencies': [{'feature': 'base.off', 'enabled': false}]},"
    "  {'name': 'base.regex', 'enabled': true, 'strategies': [{'name':"
    "   'default', 'constraints': [{'contextName': 'email', 'operator':"
    "   'REGEX', 'value': '@example\\\\.com$', 'caseInsensitive': true}]}]}"
    " ]}";

static vx_scratch *g_scratch;  /* one thread: libFuzzer runs inputs serially */
static char *g_base_json;      /* BASE with real quotes */
static size_t g_base_len;      /* its length */
static uint64_t g_base_digest; /* how the base evaluates, from Initialize */

static vx_snapshot *load_base(void)
{
    vx_snapshot *s = NULL;
    FUZZ_CHECK(vx_snapshot_load(g_base_json, g_base_len, NULL, &s, NULL) ==
               VX_OK);
    return s;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_scratch = fuzz_init();
    g_base_json = fuzz_json_from_squote(BASE, &g_base_len);
    vx_snapshot *base = load_base();
    g_base_digest =
        fuzz_check_all(base, g_scratch, FUZZ_CONTEXTS, FUZZ_NCONTEXTS);
    vx_snapshot_unref(base);
    return 0;
}

static void check_base_intact(const vx_snapshot *base)
{
    FUZZ_CHECK(fuzz_check_all(base, g_scratch, FUZZ_CONTEXTS, FUZZ_NCONTEXTS) ==
               g_base_digest);
}

/* Applies the delta again with the allocator failing after `budget`
 * allocations. */
static void check_oom(const vx_snapshot *base, const char *json, size_t len,
                      const vx_snapshot *good, size_t budget)
{
    vx_snapshot *s = FUZZ_BAD_PTR;
    vx_error err;
    FUZZ_POISON(err);
    vx__alloc_set_budget(budget);
    vx_status st = vx_snapshot_apply_delta(base, json, len, NULL, &s, &err);
    vx__alloc_set_budget(SIZE_MAX);
    if (st != VX_OK) {
        fuzz_check_failure(st, s, &err);
        FUZZ_CHECK(st == VX_ENOMEM);
        return;
    }
    fuzz_check_same(good, s, g_scratch, FUZZ_CONTEXTS, FUZZ_NCONTEXTS);
    vx_snapshot_unref(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    vx_snapshot *out = FUZZ_BAD_PTR, *twice = FUZZ_BAD_PTR;
    vx_error err;
    size_t warnings = 0;
    vx_load_options opts = {.warn = fuzz_warn, .warn_ud = &warnings};
    uint64_t h = fuzz_hash(FUZZ_HASH_INIT, data, size);

    vx_snapshot *base = load_base();
    FUZZ_POISON(err);
    uint64_t before = vx__alloc_count();
    vx_status st = vx_snapshot_apply_delta(base, json, size, &opts, &out, &err);
    uint64_t allocs = vx__alloc_count() - before;
    if (st != VX_OK) {
        fuzz_check_failure(st, out, &err);
        check_base_intact(base);
        vx_snapshot_unref(base);
        return 0;
    }
    FUZZ_CHECK(out != NULL && out != base);

    FUZZ_POISON(err);
    st = vx_snapshot_apply_delta(out, json, size, NULL, &twice, &err);
    FUZZ_CHECK(st == VX_OK);
    fuzz_check_same(out, twice, g_scratch, FUZZ_CONTEXTS, FUZZ_NCONTEXTS);
    vx_snapshot_unref(twice);

    if (allocs > 0)
        check_oom(base, json, size, out, (size_t)(h % allocs));

    if (h & 1) {
        /* The result outlives its base. */
        vx_snapshot_unref(base);
        fuzz_check_all(out, g_scratch, FUZZ_CONTEXTS, FUZZ_NCONTEXTS);
        vx_snapshot_unref(out);
    } else {
        /* The base outlives the result, unchanged. */
        fuzz_check_all(out, g_scratch, FUZZ_CONTEXTS, FUZZ_NCONTEXTS);
        vx_snapshot_unref(out);
        check_base_intact(base);
        vx_snapshot_unref(base);
    }
    return 0;
}
