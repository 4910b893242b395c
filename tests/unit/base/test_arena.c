/* Unit tests for src/base/arena.c (and the allocator hooks in alloc.c it
 * sits on): alignment, geometric growth, strndup, release and reuse, the
 * overflow checks, and the allocation-budget walk of STYLE rule 14.
 *
 * Reference values come from the contract in arena.h and from C11 itself
 * (alignof(max_align_t)); block sizes are derived from the first block the
 * arena reports, never from arena.c's private constants. */
#include <setjmp.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "base/arena.h"

/* Every pointer is aligned for any type (arena.h: "aligned for any type"),
 * i.e. to alignof(max_align_t), whatever the sizes asked before it. */
static void test_alignment(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 64);
    const size_t align = alignof(max_align_t);
    for (size_t n = 0; n < 300; n++) {
        unsigned char *p = vx__arena_alloc(&a, n % 37 + (n & 1));
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % align, 0);
        memset(p, 0xAB, n % 37 + (n & 1)); /* ASan: the bytes are ours */
    }
    vx__arena_release(&a);
}

/* Distinct allocations never overlap: write a pattern into each, then check
 * every pattern survived the later allocations. */
static void test_no_overlap(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 64);
    unsigned char *ptrs[200];
    size_t sizes[200];
    for (size_t i = 0; i < 200; i++) {
        sizes[i] = i * 7 % 129 + 1;
        ptrs[i] = vx__arena_alloc(&a, sizes[i]);
        assert_non_null(ptrs[i]);
        memset(ptrs[i], (int)(i & 0xFF), sizes[i]);
    }
    for (size_t i = 0; i < 200; i++) {
        for (size_t j = 0; j < sizes[i]; j++)
            assert_int_equal(ptrs[i][j], i & 0xFF);
    }
    vx__arena_release(&a);
}

/* Growth: blocks are obtained lazily, each new block is twice the previous
 * one's size (geometric growth, arena.h), and a request bigger than the next
 * block gets a block of its own size. `total` accounts every block. The
 * per-block header size H is measured from the first block: total = H + 64. */
static void test_growth(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 64);
    assert_null(a.head);
    assert_int_equal(a.total, 0);

    assert_non_null(vx__arena_alloc(&a, 64)); /* fills block 1 exactly */
    size_t h = a.total - 64;                  /* header bytes per block */
    assert_true(a.total > 64);
    assert_non_null(vx__arena_alloc(&a, 1)); /* block 2: 128 bytes */
    assert_int_equal(a.total, (h + 64) + (h + 128));
    assert_non_null(vx__arena_alloc(&a, 200)); /* 112 left: block 3: 256 */
    assert_int_equal(a.total, (h + 64) + (h + 128) + (h + 256));

    /* Bigger than the next block (512): a block of exactly the rounded
     * request, 10000 rounded up to the alignment. */
    const size_t align = alignof(max_align_t);
    size_t big = (10000 + align - 1) / align * align;
    size_t before = a.total;
    assert_non_null(vx__arena_alloc(&a, 10000));
    assert_int_equal(a.total - before, h + big);

    /* The first block never shrinks below 64 bytes, even if asked. */
    vx_arena b;
    vx__arena_init(&b, 1);
    assert_non_null(vx__arena_alloc(&b, 1));
    assert_int_equal(b.total, h + 64);
    vx__arena_release(&b);
    vx__arena_release(&a);
}

/* Growth is capped: after enough blocks the next block size stops doubling
 * (arena.h: "grow geometrically up to a cap"), so one arena does not reserve
 * gigabytes for a few more bytes. */
static void test_growth_capped(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 64);
    size_t prev = 0, stable = 0;
    for (int i = 0; i < 40 && stable < 3; i++) {
        /* Ask for exactly the next block's size: one new block each time. */
        size_t want = a.next_size;
        assert_non_null(vx__arena_alloc(&a, want));
        if (a.next_size == prev)
            stable++;
        prev = a.next_size;
    }
    assert_int_equal(stable, 3);
    assert_true(prev <= ((size_t)64 << 20)); /* far below 2^40 after 40 steps */
    vx__arena_release(&a);
}

static void test_strndup(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 64);
    char *p = vx__arena_strndup(&a, "hello world", 5);
    assert_non_null(p);
    assert_string_equal(p, "hello");

    /* Embedded NUL bytes are copied; the terminator is added after len. */
    const char src[] = {'a', '\0', 'b'};
    char *q = vx__arena_strndup(&a, src, 3);
    assert_non_null(q);
    assert_memory_equal(q, src, 3);
    assert_int_equal(q[3], '\0');

    /* Empty copy is an empty string, not NULL. */
    char *e = vx__arena_strndup(&a, "", 0);
    assert_non_null(e);
    assert_int_equal(e[0], '\0');

    /* A copy larger than a block. */
    char big[5000];
    memset(big, 'x', sizeof(big));
    char *r = vx__arena_strndup(&a, big, sizeof(big));
    assert_non_null(r);
    assert_memory_equal(r, big, sizeof(big));
    assert_int_equal(r[sizeof(big)], '\0');
    assert_string_equal(p, "hello"); /* earlier copies untouched */
    vx__arena_release(&a);
}

/* release frees everything and leaves an empty, reusable arena (arena.h);
 * releasing an empty arena, or twice, is harmless. */
static void test_release_reuse(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 128);
    vx__arena_release(&a); /* empty */
    assert_null(a.head);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            char *p = vx__arena_alloc(&a, 100);
            assert_non_null(p);
            memset(p, round, 100);
        }
        assert_non_null(a.head);
        assert_true(a.total >= 100 * 100);
        vx__arena_release(&a);
        assert_null(a.head);
        assert_int_equal(a.total, 0);
    }
    vx__arena_release(&a);
}

/* calloc zero-fills, and refuses count * size overflow with NULL (arena.h:
 * "count * size checked for overflow"); alloc refuses a request whose
 * rounding up to the alignment would wrap. Neither reaches malloc. */
static void test_calloc_and_overflow(void **state)
{
    (void)state;
    vx_arena a;
    vx__arena_init(&a, 64);
    /* Dirty the arena first, so zeroes prove calloc cleared them... */
    unsigned char *d = vx__arena_alloc(&a, 32);
    assert_non_null(d);
    memset(d, 0xFF, 32);
    uint32_t *z = vx__arena_calloc(&a, 50, sizeof(uint32_t));
    assert_non_null(z);
    for (size_t i = 0; i < 50; i++)
        assert_int_equal(z[i], 0);

    uint64_t count = vx__alloc_count();
    assert_null(vx__arena_calloc(&a, SIZE_MAX / 2 + 1, 2));
    assert_null(vx__arena_calloc(&a, 2, SIZE_MAX / 2 + 1));
    assert_null(vx__arena_calloc(&a, SIZE_MAX, SIZE_MAX));
    assert_null(vx__arena_alloc(&a, SIZE_MAX));
    assert_null(vx__arena_alloc(&a, SIZE_MAX - 1));
    assert_int_equal(vx__alloc_count(), count); /* no malloc tried */

    /* The arena is still usable afterwards. */
    assert_non_null(vx__arena_alloc(&a, 16));
    vx__arena_release(&a);
}

/* alloc.h hooks: every vx__malloc/vx__realloc counts one allocation; a
 * budget of N lets N allocations through and fails the next; SIZE_MAX means
 * unlimited again. */
static void test_alloc_budget_and_count(void **state)
{
    (void)state;
    uint64_t c0 = vx__alloc_count();
    void *p = vx__malloc(10);
    assert_non_null(p);
    p = vx__realloc(p, 20);
    assert_non_null(p);
    vx__free(p);
    assert_int_equal(vx__alloc_count() - c0, 2);

    vx__alloc_set_budget(2);
    void *x = vx__malloc(1), *y = vx__malloc(1), *z = vx__malloc(1);
    vx__alloc_set_budget(SIZE_MAX);
    assert_non_null(x);
    assert_non_null(y);
    assert_null(z);
    vx__free(x);
    vx__free(y);
    vx__free(NULL); /* accepted */

    vx__alloc_set_budget(0);
    void *r = vx__realloc(NULL, 8);
    vx__alloc_set_budget(SIZE_MAX);
    assert_null(r);
}

/* STYLE rule 14 for base: raise the budget step by step until a sequence of
 * arena allocations that needs several blocks succeeds. Every failing step
 * returns NULL cleanly (no crash, no leak under LeakSanitizer) and leaves an
 * arena that can be released. */
static void test_arena_oom_walk(void **state)
{
    (void)state;
    bool done = false;
    for (size_t budget = 0; budget < 100 && !done; budget++) {
        vx_arena a;
        vx__arena_init(&a, 64);
        vx__alloc_set_budget(budget);
        bool ok = true;
        for (int i = 0; i < 20 && ok; i++)
            ok = vx__arena_strndup(&a, "0123456789abcdef0123456789abcdef",
                                   32) != NULL;
        vx__alloc_set_budget(SIZE_MAX);
        if (ok) {
            done = true;
            assert_true(budget > 0);
        }
        vx__arena_release(&a);
    }
    assert_true(done);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_no_overlap),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_growth_capped),
        cmocka_unit_test(test_strndup),
        cmocka_unit_test(test_release_reuse),
        cmocka_unit_test(test_calloc_and_overflow),
        cmocka_unit_test(test_alloc_budget_and_count),
        cmocka_unit_test(test_arena_oom_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
