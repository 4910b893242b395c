/* Unit tests for vx_engine (src/core/snapshot.c): publishing snapshots
 * while readers acquire and evaluate them on another thread.
 *
 * What is checked, and where the expectation comes from (vexil.h and
 * docs/internals/core.md, "Publishing"):
 *  - acquire on an empty engine returns NULL;
 *  - a reader always sees a whole snapshot that the writer published, and,
 *    with one writer, generations never go backwards;
 *  - a reader's reference keeps a snapshot alive after it was swapped out
 *    (AddressSanitizer reports any use after free);
 *  - reference counts balance: after the threads end, the published
 *    snapshot has exactly the engine's reference plus ours, and every
 *    snapshot is freed once everyone let go (LeakSanitizer under
 *    `make test` reports any leak). */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/model.h" /* white box: the snapshot's reference count */
#include "vexil/vexil.h"

#define SWAPS 400 /* snapshots the writer publishes */
#define KEEP  4   /* snapshots a reader holds on to at once */

/* Generation `g`: flag "gen-<g>" (on when g is even) and "re", on when the
 * userId matches /^u\d+$/ (exercises the scratch on the reader side). */
static vx_snapshot *make_gen(unsigned g)
{
    char doc[512];
    int n = snprintf(
        doc, sizeof(doc),
        "{\"features\": ["
        "{\"name\": \"gen-%u\", \"enabled\": %s, \"strategies\": []},"
        "{\"name\": \"re\", \"enabled\": true, \"strategies\": [{\"name\": "
        "\"default\", \"constraints\": [{\"contextName\": \"userId\", "
        "\"operator\": \"REGEX\", \"value\": \"^u\\\\d+$\"}]}]}]}",
        g, g % 2 ? "false" : "true");
    vx_snapshot *s = NULL;
    vx_error err;
    if (vx_snapshot_load(doc, (size_t)n, NULL, &s, &err) != VX_OK)
        return NULL;
    return s;
}

static unsigned gen_of(const vx_snapshot *s)
{
    vx_str nm = vx_snapshot_flag_name(s, 0);
    if (!nm.ptr || nm.len < 5 || memcmp(nm.ptr, "gen-", 4) != 0)
        return UINT32_MAX;
    return (unsigned)strtoul(nm.ptr + 4, NULL, 10);
}

typedef struct shared {
    vx_engine *e;
    atomic_bool writer_done;
    atomic_int errors;     /* failed checks on the reader side */
    atomic_long reads;     /* acquisitions that found a snapshot */
    atomic_int load_fails; /* writer-side load failures */
} shared;

static void *writer(void *arg)
{
    shared *sh = arg;
    for (unsigned g = 1; g <= SWAPS; g++) {
        vx_snapshot *s = make_gen(g);
        if (!s) {
            atomic_fetch_add(&sh->load_fails, 1);
            continue;
        }
        vx_engine_swap_take(sh->e, s); /* our reference moves in */
        if (g % 16 == 0)
            sched_yield();
    }
    atomic_store(&sh->writer_done, true);
    return NULL;
}

static void *reader(void *arg)
{
    shared *sh = arg;
    vx_scratch *sc = vx_scratch_new();
    vx_snapshot *held[KEEP] = {0};
    unsigned last = 0;
    vx_context yes = {0}, no = {0};
    yes.user_id = (vx_str){"u42", 3};
    no.user_id = (vx_str){"x42", 3};
    for (long i = 0; !atomic_load(&sh->writer_done) || i < 2000; i++) {
        vx_snapshot *s = vx_engine_acquire(sh->e);
        if (!s)
            continue;
        atomic_fetch_add(&sh->reads, 1);
        unsigned g = gen_of(s);
        char nm[32];
        int n = snprintf(nm, sizeof(nm), "gen-%u", g);
        bool ok = g != UINT32_MAX && g >= last &&
                  vx_snapshot_flag_count(s) == 2 &&
                  vx_is_enabled(s, sc, nm, (size_t)n, &yes) == (g % 2 == 0) &&
                  vx_is_enabled(s, sc, "re", 2, &yes) &&
                  !vx_is_enabled(s, sc, "re", 2, &no);
        if (!ok)
            atomic_fetch_add(&sh->errors, 1);
        last = g;
        /* Keep a few old snapshots around past later swaps, and evaluate
         * the one we drop right before dropping it. */
        size_t slot = (size_t)i % KEEP;
        if (held[slot]) {
            if (!vx_is_enabled(held[slot], sc, "re", 2, &yes))
                atomic_fetch_add(&sh->errors, 1);
            vx_snapshot_unref(held[slot]);
        }
        held[slot] = s;
    }
    for (size_t k = 0; k < KEEP; k++)
        vx_snapshot_unref(held[k]);
    vx_scratch_free(sc);
    return NULL;
}

static void run(int nreaders)
{
    shared sh;
    memset(&sh, 0, sizeof(sh));
    sh.e = vx_engine_new();
    assert_non_null(sh.e);
    atomic_init(&sh.writer_done, false);

    pthread_t w, r[4];
    assert_int_equal(pthread_create(&w, NULL, writer, &sh), 0);
    for (int i = 0; i < nreaders; i++)
        assert_int_equal(pthread_create(&r[i], NULL, reader, &sh), 0);
    assert_int_equal(pthread_join(w, NULL), 0);
    for (int i = 0; i < nreaders; i++)
        assert_int_equal(pthread_join(r[i], NULL), 0);

    assert_int_equal(atomic_load(&sh.load_fails), 0);
    assert_int_equal(atomic_load(&sh.errors), 0);
    assert_true(atomic_load(&sh.reads) > 0);

    /* The last generation is published, held by the engine alone. */
    vx_snapshot *s = vx_engine_acquire(sh.e);
    assert_non_null(s);
    assert_int_equal(gen_of(s), SWAPS);
    assert_int_equal(atomic_load(&s->refs), 2); /* engine + this acquire */
    vx_snapshot_unref(s);
    assert_int_equal(atomic_load(&s->refs), 1);
    vx_engine_free(sh.e); /* drops the last reference: LSan checks */
}

static void test_one_writer_one_reader(void **state)
{
    (void)state;
    run(1);
}

static void test_one_writer_three_readers(void **state)
{
    (void)state;
    run(3);
}

static void test_empty_engine(void **state)
{
    (void)state;
    vx_engine *e = vx_engine_new();
    assert_non_null(e);
    assert_null(vx_engine_acquire(e));
    vx_engine_swap_take(e, NULL); /* publishing "none" is allowed */
    assert_null(vx_engine_acquire(e));
    vx_engine_free(e);
    vx_engine_free(NULL);
}

/* swap_take takes over the caller's reference; the replaced snapshot loses
 * only the engine's reference, so a reader's copy stays valid. */
static void test_swap_reference_counts(void **state)
{
    (void)state;
    vx_engine *e = vx_engine_new();
    vx_snapshot *a = make_gen(2), *b = make_gen(3);
    assert_non_null(a);
    assert_non_null(b);
    vx_engine_swap_take(e, vx_snapshot_ref(a)); /* a: ours + engine */
    assert_int_equal(atomic_load(&a->refs), 2);
    vx_snapshot *got = vx_engine_acquire(e);
    assert_ptr_equal(got, a);
    assert_int_equal(atomic_load(&a->refs), 3);
    vx_engine_swap_take(e, b); /* b: engine only; a loses the engine's */
    assert_int_equal(atomic_load(&a->refs), 2);
    assert_int_equal(atomic_load(&b->refs), 1);
    vx_context ctx = {0};
    assert_true(vx_is_enabled(got, NULL, "gen-2", 5, &ctx));
    vx_snapshot_unref(got);
    vx_snapshot_unref(a); /* freed now */
    vx_snapshot *cur = vx_engine_acquire(e);
    assert_ptr_equal(cur, b);
    assert_false(vx_is_enabled(cur, NULL, "gen-3", 5, &ctx));
    vx_snapshot_unref(cur);
    /* Re-publishing the current snapshot is harmless. */
    vx_engine_swap_take(e, vx_snapshot_ref(b));
    assert_int_equal(atomic_load(&b->refs), 1);
    vx_engine_free(e); /* frees b */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_engine),
        cmocka_unit_test(test_swap_reference_counts),
        cmocka_unit_test(test_one_writer_one_reader),
        cmocka_unit_test(test_one_writer_three_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
