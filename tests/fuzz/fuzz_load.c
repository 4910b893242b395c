/* libFuzzer target for vx_snapshot_load: arbitrary bytes as a client-features
 * document (or a delta body, which load applies to the empty state).
 *
 * On failure the error record must be complete and nothing produced. On
 * success every flag is evaluated under the fixed contexts through every
 * entry point (fuzz_common.h), and two more properties are checked:
 *  - applying the same input as a delta to the loaded snapshot changes
 *    nothing (a features document has no events; an event list is
 *    idempotent), which exercises the builder's copy-and-share path;
 *  - with an allocation budget derived from the input, load either succeeds
 *    with the same result or fails with VX_ENOMEM, leaking nothing. */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"

static vx_scratch *g_scratch; /* one thread: libFuzzer runs inputs serially */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_scratch = fuzz_init();
    return 0;
}

/* Loads again with the allocator failing after `budget` allocations. */
static void check_oom(const char *json, size_t len, const vx_snapshot *good,
                      size_t budget)
{
    vx_snapshot *s = FUZZ_BAD_PTR;
    vx_error err;
    FUZZ_POISON(err);
    vx__alloc_set_budget(budget);
    vx_status st = vx_snapshot_load(json, len, NULL, &s, &err);
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
    vx_snapshot *s = FUZZ_BAD_PTR, *again = FUZZ_BAD_PTR;
    vx_error err;
    size_t warnings = 0;
    vx_load_options opts = {.warn = fuzz_warn, .warn_ud = &warnings};

    FUZZ_POISON(err);
    uint64_t before = vx__alloc_count();
    vx_status st = vx_snapshot_load(json, size, &opts, &s, &err);
    uint64_t allocs = vx__alloc_count() - before;
    if (st != VX_OK) {
        fuzz_check_failure(st, s, &err);
        return 0;
    }
    FUZZ_CHECK(s != NULL);
    FUZZ_CHECK(vx_snapshot_ref(s) == s);
    vx_snapshot_unref(s);
    fuzz_check_all(s, g_scratch, FUZZ_CONTEXTS, FUZZ_NCONTEXTS);

    FUZZ_POISON(err);
    st = vx_snapshot_apply_delta(s, json, size, NULL, &again, &err);
    FUZZ_CHECK(st == VX_OK);
    fuzz_check_same(s, again, g_scratch, FUZZ_CONTEXTS, FUZZ_NCONTEXTS);
    /* Drop the base first: `again` must own its shared chunks. */
    vx_snapshot_unref(s);
    fuzz_check_all(again, g_scratch, FUZZ_CONTEXTS, FUZZ_NCONTEXTS);

    if (allocs > 0) {
        uint64_t h = fuzz_hash(FUZZ_HASH_INIT, data, size);
        check_oom(json, size, again, (size_t)(h % allocs));
    }
    vx_snapshot_unref(again);
    return 0;
}
