/* Large documents are loaded element by element (load.c, stream_document)
 * instead of as one jansson tree. These tests hold that path to the
 * whole-tree one: the same flag set loaded both ways (as a document, and as
 * a delta hydration event, which always takes the tree path) must answer
 * every flag identically, and errors must name the same place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vexil/vexil.h"

#define NFLAGS 400

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

__attribute__((format(printf, 2, 3))) static void put(buf *b, const char *fmt,
                                                      ...)
{
    va_list ap;
    if (!b->p) {
        b->cap = 4096;
        b->p = malloc(b->cap);
        assert_non_null(b->p);
    }
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n + 1;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
}

/* NFLAGS varied flags; `bad` >= 0 makes flag `bad` invalid (enabled: "x"). */
static void features(buf *b, int bad)
{
    static const char *const ops[] = {
        "IN", "STR_STARTS_WITH", "NUM_GT", "SEMVER_GTE", "REGEX", "IN_CIDR"};
    static const char *const vals[] = {"[\"a\",\"b\"]", "[\"u1\"]",
                                       "\"5\"",         "\"1.2.0\"",
                                       "\"^u[0-9]$\"",  "[\"10.0.0.0/8\"]"};
    put(b, "[");
    for (int i = 0; i < NFLAGS; i++) {
        int o = i % 6;
        bool list = o == 0 || o == 1 || o == 5;
        put(b,
            "%s\n{\"name\":\"flag-%d\",\"enabled\":%s,\"description\":\"%s\","
            "\"strategies\":[{\"name\":\"flexibleRollout\",\"parameters\":"
            "{\"rollout\":\"%d\",\"stickiness\":\"default\",\"groupId\":\"g%"
            "d\"},"
            "\"constraints\":[{\"contextName\":\"%s\",\"operator\":\"%s\",\"%"
            "s\":%s}],"
            "\"segments\":[%d],\"variants\":[{\"name\":\"v1\",\"weight\":%d,"
            "\"payload\":{\"type\":\"string\",\"value\":\"p%d\"}},"
            "{\"name\":\"v2\",\"weight\":%d}]}],"
            "\"variants\":[{\"name\":\"fv\",\"weight\":1}]}",
            i ? "," : "", i, i == bad ? "\"x\"" : (i % 7 ? "true" : "false"),
            "padding padding padding padding padding padding", (i * 37) % 101,
            i, o == 5 ? "remoteAddress" : (o == 1 || o == 4 ? "userId" : "v"),
            ops[o], list ? "values" : "value", vals[o], 1 + i % 3,
            (i * 13) % 1000, i, 1000 - (i * 13) % 1000);
    }
    put(b, "]");
}

static const char SEGMENTS[] =
    "[{\"id\":1,\"constraints\":[{\"contextName\":\"appName\",\"operator\":"
    "\"IN\",\"values\":[\"web\"]}]},{\"id\":2,\"constraints\":[]}]";

static void check_same(const vx_snapshot *a, const vx_snapshot *b)
{
    assert_int_equal(vx_snapshot_flag_count(a), NFLAGS);
    assert_int_equal(vx_snapshot_flag_count(b), NFLAGS);
    static const char *const users[] = {"u1", "u2", "u7", "x", "u9", ""};
    static const char *const addrs[] = {"10.1.2.3", "192.168.0.1"};
    char num[8];
    for (int u = 0; u < 6; u++) {
        for (int k = 0; k < 4; k++) {
            snprintf(num, sizeof(num), "%d", k * 3);
            vx_prop props[2] = {
                {{"v", 1}, {k % 2 ? "a" : "1.3.0", k % 2 ? 1 : 5}},
                {{"x", 1}, {num, strlen(num)}}};
            vx_context c = {0};
            c.user_id = (vx_str){users[u], strlen(users[u])};
            c.app_name = (vx_str){k < 2 ? "web" : "ios", 3};
            c.remote_address = (vx_str){addrs[k % 2], strlen(addrs[k % 2])};
            c.props = props;
            c.nprops = 2;
            for (size_t i = 0; i < NFLAGS; i++) {
                vx_str name = vx_snapshot_flag_name(a, i);
                vx_str name_b = vx_snapshot_flag_name(b, i);
                assert_int_equal(name.len, name_b.len);
                assert_memory_equal(name.ptr, name_b.ptr, name.len);
                vx_variant va, vb;
                bool ea = vx_evaluate_at(a, NULL, i, &c, &va);
                bool eb = vx_evaluate_at(b, NULL, i, &c, &vb);
                assert_int_equal(ea, eb);
                assert_int_equal(va.name.len, vb.name.len);
                assert_memory_equal(va.name.ptr, vb.name.ptr, va.name.len);
                assert_int_equal(va.payload_value.len, vb.payload_value.len);
            }
        }
    }
}

static void test_stream_equals_tree(void **state)
{
    (void)state;
    buf f = {0}, doc = {0}, delta = {0};
    features(&f, -1);
    put(&doc, "{\"version\":2,\"features\":%.*s,\"segments\":%s,\"meta\":{}}",
        (int)f.len, f.p, SEGMENTS);
    put(&delta,
        "{\"events\":[{\"eventId\":1,\"type\":\"hydration\",\"features\":%.*s,"
        "\"segments\":%s}]}",
        (int)f.len, f.p, SEGMENTS);
    assert_true(doc.len > 65536); /* large enough to take the stream path */
    vx_snapshot *a = NULL, *b = NULL;
    vx_error err;
    assert_int_equal(vx_snapshot_load(doc.p, doc.len, NULL, &a, &err), VX_OK);
    assert_int_equal(vx_snapshot_load(delta.p, delta.len, NULL, &b, &err),
                     VX_OK);
    check_same(a, b);
    vx_snapshot_unref(a);
    vx_snapshot_unref(b);
    free(f.p);
    free(doc.p);
    free(delta.p);
}

static void test_stream_errors(void **state)
{
    (void)state;
    buf f = {0}, doc = {0};
    features(&f, 250);
    put(&doc, "{\"version\":2,\"features\":%.*s}", (int)f.len, f.p);
    vx_snapshot *s = NULL;
    vx_error err;
    assert_int_equal(vx_snapshot_load(doc.p, doc.len, NULL, &s, &err),
                     VX_ESCHEMA);
    assert_null(s);
    assert_string_equal(err.path, "/features/250/enabled");
    assert_int_equal(err.line, 252); /* flag i sits on line i + 2 */
    /* A syntax error inside an element is located in the whole text. */
    char *at = strstr(doc.p, "\"flag-300\"");
    assert_non_null(at);
    at[0] = '\''; /* flag-300's name becomes invalid JSON */
    assert_int_equal(vx_snapshot_load(doc.p, doc.len, NULL, &s, &err),
                     VX_EPARSE);
    assert_int_equal(err.line, 302);
    assert_int_equal(err.column, 9); /* the stray quote: {"name":' */
    free(f.p);
    free(doc.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_equals_tree),
        cmocka_unit_test(test_stream_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
