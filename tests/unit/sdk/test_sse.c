/* Unit tests for the SDK's Server-Sent Events parser (src/sdk/sse.c).
 *
 * Expectations come from the WHATWG HTML standard, "9.2.6 Interpreting an
 * event stream" (line ends CRLF/LF/CR, comments, the single space after
 * the colon, data lines joined by LF, no dispatch without data, the last
 * event id persisting, retry digits only), and from the messages Vexil's
 * /api/client/streaming sends (`id:`, `event: unleash-connected`, `data:`,
 * `: heartbeat`). Every stream is also fed split at every byte, from a
 * buffer that ends at a guard page, and with the allocator failing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "sdk/sse.h"
#include "unit/guard_page.h"

typedef struct seen {
    char text[4096]; /* "event|id|data\n" per event */
    size_t len;      /* bytes used */
    int events;      /* events delivered */
    int fail_at; /* return VX_ECONFLICT on this event (1-based), 0 = never */
} seen;

static vx_status record(void *ud, const char *event, const char *data,
                        size_t len, const char *id)
{
    seen *s = ud;
    s->events++;
    assert_int_equal(data[len], '\0');
    int n = snprintf(s->text + s->len, sizeof(s->text) - s->len, "%s|%s|%.*s\n",
                     event, id, (int)len, data);
    s->len += (size_t)n;
    return s->events == s->fail_at ? VX_ECONFLICT : VX_OK;
}

/* Parses `in` in one feed, then split at every position (and byte by
 * byte); every way must deliver `want`. */
static void expect(const char *in, const char *want)
{
    size_t n = strlen(in);
    for (size_t split = 0; split <= n + 1; split++) {
        seen s = {0};
        sdk_sse p;
        sdk_sse_init(&p, 1 << 16, record, &s);
        guarded g;
        const char *buf = guard_copy(&g, in, n);
        assert_non_null(buf);
        if (split <= n) {
            assert_int_equal(sdk_sse_feed(&p, buf, split), VX_OK);
            assert_int_equal(sdk_sse_feed(&p, buf + split, n - split), VX_OK);
        } else {
            for (size_t i = 0; i < n; i++)
                assert_int_equal(sdk_sse_feed(&p, buf + i, 1), VX_OK);
        }
        guard_release(&g);
        assert_string_equal(s.text, want);
        sdk_sse_release(&p);
    }
}

static void test_vexil_messages(void **state)
{
    (void)state;
    expect("id: 7\nevent: unleash-connected\ndata: {\"events\":[]}\n\n"
           ": heartbeat\n\n"
           "id: 9\nevent: unleash-updated\ndata: {\"events\":[1]}\n\n",
           "unleash-connected|7|{\"events\":[]}\n"
           "unleash-updated|9|{\"events\":[1]}\n");
}

static void test_line_ends(void **state)
{
    (void)state;
    expect("data: a\r\n\r\ndata: b\r\rdata: c\n\n",
           "message||a\nmessage||b\nmessage||c\n");
    /* CR then LF is one line end, even when the CR ends a feed. */
    expect("data: x\r\ndata: y\r\n\r\n", "message||x\ny\n");
}

static void test_fields(void **state)
{
    (void)state;
    /* One space after the colon is dropped, a second one is kept; a line
     * without a colon is a field with an empty value. */
    expect("data:x\ndata:  y\ndata\n\n", "message||x\n y\n\n");
    /* Unknown fields and comments are ignored; no data, no event. */
    expect("foo: bar\n: comment\nevent: lonely\n\ndata: d\n\n", "message||d\n");
    /* The event type resets after each event, the id persists. */
    expect("id: 1\nevent: a\ndata: 1\n\ndata: 2\n\n", "a|1|1\nmessage|1|2\n");
    /* An empty id clears it; an unterminated event is not delivered. */
    expect("id: 3\ndata: 1\n\nid\ndata: 2\n\ndata: 3\n",
           "message|3|1\nmessage||2\n");
}

static void test_bom_split_anywhere(void **state)
{
    (void)state;
    expect("\xEF\xBB\xBF"
           "data: x\n\n",
           "message||x\n");
    /* Two bytes of a BOM are not one: they start an unknown field. */
    expect("\xEF\xBB"
           "data: x\n\ndata: y\n\n",
           "message||y\n");
}

static void test_id_with_nul_is_ignored(void **state)
{
    (void)state;
    static const char in[] = "id: 4\ndata: a\n\nid: 5\0x\ndata: b\n\n";
    seen s = {0};
    sdk_sse p;
    sdk_sse_init(&p, 1024, record, &s);
    assert_int_equal(sdk_sse_feed(&p, in, sizeof(in) - 1), VX_OK);
    assert_string_equal(s.text, "message|4|a\nmessage|4|b\n");
    sdk_sse_release(&p);
}

static void test_retry_and_bom(void **state)
{
    (void)state;
    seen s = {0};
    sdk_sse p;
    sdk_sse_init(&p, 1024, record, &s);
    const char *in = "\xEF\xBB\xBF"
                     "retry: 1500\nretry: 12x\ndata: z\n\n";
    assert_int_equal(sdk_sse_feed(&p, in, strlen(in)), VX_OK);
    assert_int_equal(p.retry_ms, 1500);
    assert_string_equal(s.text, "message||z\n");
    sdk_sse_release(&p);
}

static void test_limits(void **state)
{
    (void)state;
    seen s = {0};
    sdk_sse p;
    sdk_sse_init(&p, 16, record, &s);
    /* A line that never ends past the limit. */
    assert_int_equal(sdk_sse_feed(&p, "data: 0123456789", 16), VX_OK);
    assert_int_equal(sdk_sse_feed(&p, "x", 1), VX_ELIMIT);
    sdk_sse_release(&p);
    /* A complete line past the limit in one feed fails the same way. */
    sdk_sse_init(&p, 16, record, &s);
    assert_int_equal(sdk_sse_feed(&p, ": a comment longer than 16\n", 27),
                     VX_ELIMIT);
    sdk_sse_release(&p);
    /* Data that grows past the limit over several short lines. */
    sdk_sse_init(&p, 16, record, &s);
    assert_int_equal(sdk_sse_feed(&p, "data: 0123456\n", 14), VX_OK);
    assert_int_equal(sdk_sse_feed(&p, "data: 0123456\n", 14), VX_OK);
    assert_int_equal(sdk_sse_feed(&p, "data: 0123456\n", 14), VX_ELIMIT);
    assert_int_equal(s.events, 0);
    sdk_sse_reset(&p);
    assert_int_equal(sdk_sse_feed(&p, "data: ok\n\n", 10), VX_OK);
    assert_int_equal(s.events, 1);
    sdk_sse_release(&p);
}

static void test_callback_error_stops(void **state)
{
    (void)state;
    seen s = {.fail_at = 1};
    sdk_sse p;
    sdk_sse_init(&p, 1024, record, &s);
    const char *in = "data: 1\n\ndata: 2\n\n";
    assert_int_equal(sdk_sse_feed(&p, in, strlen(in)), VX_ECONFLICT);
    assert_int_equal(s.events, 1);
    sdk_sse_release(&p);
}

/* Raises the allocation budget until the feed succeeds: every failure
 * before is VX_ENOMEM and nothing leaks (LeakSanitizer under make asan). */
static void test_out_of_memory(void **state)
{
    (void)state;
    const char *in = "id: 1\nevent: e\ndata: a long enough line of data\n"
                     "data: another\n\n";
    for (size_t budget = 0;; budget++) {
        seen s = {0};
        sdk_sse p;
        sdk_sse_init(&p, 1 << 16, record, &s);
        vx__alloc_set_budget(budget);
        /* Two feeds: the partial line has to be kept across them. */
        vx_status st = sdk_sse_feed(&p, in, 20);
        if (st == VX_OK)
            st = sdk_sse_feed(&p, in + 20, strlen(in) - 20);
        vx__alloc_set_budget(SIZE_MAX);
        sdk_sse_release(&p);
        if (st == VX_OK) {
            assert_int_equal(s.events, 1);
            assert_true(budget > 0);
            break;
        }
        assert_int_equal(st, VX_ENOMEM);
        assert_true(budget < 10);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vexil_messages),
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_bom_split_anywhere),
        cmocka_unit_test(test_id_with_nul_is_ignored),
        cmocka_unit_test(test_retry_and_bom),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_callback_error_stops),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
