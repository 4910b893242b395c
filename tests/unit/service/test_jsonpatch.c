/* Unit tests for src/service/jsonpatch.c: the RFC 6902 Appendix A examples
 * (A.1-A.16) word for word, RFC 6901 pointer syntax, every error path with
 * its status and field path, atomicity, the operation limit, and the
 * allocation-budget walk of STYLE rule 14.
 *
 * Only jsonpatch.c is compiled in, not the service library (which needs the
 * store and everything else): svc__fail, the one service function it calls,
 * is defined below and fills c->err the way the real one does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/alloc.h"
#include "service/internal.h"

/* Stand-in for the service library's svc__fail (see the file comment). */
vx_status svc__fail(svc_ctx *c, vx_status st, const char *path, const char *fmt,
                    ...)
{
    va_list ap;

    c->err->code = st;
    c->err->line = 0;
    c->err->column = 0;
    snprintf(c->err->path, sizeof(c->err->path), "%s", path);
    va_start(ap, fmt);
    vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
    va_end(ap);
    return st;
}

/* One case: a document, a patch, and either the result or the error. */
typedef struct jp_case {
    const char *name;   /* shown by cmocka */
    const char *doc;    /* JSON text */
    const char *patch;  /* JSON text */
    const char *result; /* JSON text when status is VX_OK */
    vx_status status;   /* expected status */
    const char *path;   /* expected error path */
} jp_case;

#define OK(n, d, p, r)                                                         \
    {                                                                          \
        n, d, p, r, VX_OK, NULL                                                \
    }
#define FAIL(n, d, p, s, at)                                                   \
    {                                                                          \
        n, d, p, NULL, s, at                                                   \
    }

static const jp_case CASES[] = {
    /* RFC 6902 Appendix A. */
    OK("A.1 adding an object member", "{\"foo\":\"bar\"}",
       "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
       "{\"baz\":\"qux\",\"foo\":\"bar\"}"),
    OK("A.2 adding an array element", "{\"foo\":[\"bar\",\"baz\"]}",
       "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
       "{\"foo\":[\"bar\",\"qux\",\"baz\"]}"),
    OK("A.3 removing an object member", "{\"baz\":\"qux\",\"foo\":\"bar\"}",
       "[{\"op\":\"remove\",\"path\":\"/baz\"}]", "{\"foo\":\"bar\"}"),
    OK("A.4 removing an array element", "{\"foo\":[\"bar\",\"qux\",\"baz\"]}",
       "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]",
       "{\"foo\":[\"bar\",\"baz\"]}"),
    OK("A.5 replacing a value", "{\"baz\":\"qux\",\"foo\":\"bar\"}",
       "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
       "{\"baz\":\"boo\",\"foo\":\"bar\"}"),
    OK("A.6 moving a value",
       "{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},"
       "\"qux\":{\"corge\":\"grault\"}}",
       "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]",
       "{\"foo\":{\"bar\":\"baz\"},"
       "\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}"),
    OK("A.7 moving an array element",
       "{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
       "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]",
       "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}"),
    OK("A.8 testing a value: success",
       "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
       "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},"
       "{\"op\":\"test\",\"path\":\"/foo/1\",\"value\":2}]",
       "{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}"),
    FAIL("A.9 testing a value: error", "{\"baz\":\"qux\"}",
         "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]",
         VX_ECONFLICT, "/0"),
    OK("A.10 adding a nested member object", "{\"foo\":\"bar\"}",
       "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
       "{\"foo\":\"bar\",\"child\":{\"grandchild\":{}}}"),
    OK("A.11 ignoring unrecognized elements", "{\"foo\":\"bar\"}",
       "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]",
       "{\"foo\":\"bar\",\"baz\":\"qux\"}"),
    FAIL("A.12 adding to a nonexistent target", "{\"foo\":\"bar\"}",
         "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]",
         VX_EINVAL, "/0/path"),
    /* A.13 (duplicate "op") is test_a13_duplicate_members below. */
    OK("A.14 ~ escape ordering", "{\"/\":9,\"~1\":10}",
       "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]",
       "{\"/\":9,\"~1\":10}"),
    FAIL("A.15 comparing strings and numbers", "{\"/\":9,\"~1\":10}",
         "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]", VX_ECONFLICT,
         "/0"),
    OK("A.16 adding an array value", "{\"foo\":[\"bar\"]}",
       "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
       "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}"),

    /* More that succeed. */
    OK("empty patch", "{\"a\":1}", "[]", "{\"a\":1}"),
    OK("add replaces an existing member", "{\"a\":1}",
       "[{\"op\":\"add\",\"path\":\"/a\",\"value\":2}]", "{\"a\":2}"),
    OK("add at index == size appends", "[1,2]",
       "[{\"op\":\"add\",\"path\":\"/2\",\"value\":3}]", "[1,2,3]"),
    OK("add at index 0 of an empty array", "{\"a\":[]}",
       "[{\"op\":\"add\",\"path\":\"/a/0\",\"value\":1}]", "{\"a\":[1]}"),
    OK("add null value", "{}",
       "[{\"op\":\"add\",\"path\":\"/a\",\"value\":null}]", "{\"a\":null}"),
    OK("add at root replaces the document", "{\"a\":1}",
       "[{\"op\":\"add\",\"path\":\"\",\"value\":[1]}]", "[1]"),
    OK("replace the root", "[1]",
       "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"b\":2}}]", "{\"b\":2}"),
    OK("replace an array element", "{\"a\":[{\"b\":1},{\"b\":2}]}",
       "[{\"op\":\"replace\",\"path\":\"/a/1/b\",\"value\":3}]",
       "{\"a\":[{\"b\":1},{\"b\":3}]}"),
    OK("remove from a root array", "[1,2,3]",
       "[{\"op\":\"remove\",\"path\":\"/1\"}]", "[1,3]"),
    OK("remove the last element", "[1,2,3]",
       "[{\"op\":\"remove\",\"path\":\"/2\"}]", "[1,2]"),
    OK("empty key", "{\"\":1}",
       "[{\"op\":\"test\",\"path\":\"/\",\"value\":1},"
       "{\"op\":\"replace\",\"path\":\"/\",\"value\":2}]",
       "{\"\":2}"),
    OK("escaped keys", "{}",
       "[{\"op\":\"add\",\"path\":\"/a~1b\",\"value\":1},"
       "{\"op\":\"add\",\"path\":\"/m~0n\",\"value\":2},"
       "{\"op\":\"add\",\"path\":\"/~10\",\"value\":3}]",
       "{\"a/b\":1,\"m~n\":2,\"/0\":3}"),
    OK("keys that look like indexes in objects", "{\"01\":1,\"-\":2}",
       "[{\"op\":\"test\",\"path\":\"/01\",\"value\":1},"
       "{\"op\":\"test\",\"path\":\"/-\",\"value\":2}]",
       "{\"01\":1,\"-\":2}"),
    OK("operations see earlier ones", "{\"a\":[]}",
       "[{\"op\":\"add\",\"path\":\"/a/-\",\"value\":1},"
       "{\"op\":\"add\",\"path\":\"/a/0\",\"value\":0},"
       "{\"op\":\"test\",\"path\":\"/a\",\"value\":[0,1]},"
       "{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"},"
       "{\"op\":\"remove\",\"path\":\"/a/0\"}]",
       "{\"a\":[1],\"b\":[0,1]}"),
    OK("copy is deep", "{\"a\":{\"x\":1}}",
       "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/b\"},"
       "{\"op\":\"add\",\"path\":\"/b/y\",\"value\":2}]",
       "{\"a\":{\"x\":1},\"b\":{\"x\":1,\"y\":2}}"),
    OK("copy into an array", "{\"a\":[1,2]}",
       "[{\"op\":\"copy\",\"from\":\"/a/1\",\"path\":\"/a/0\"}]",
       "{\"a\":[2,1,2]}"),
    OK("move onto itself", "{\"a\":{\"b\":1}}",
       "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a\"}]",
       "{\"a\":{\"b\":1}}"),
    OK("move to a sibling sharing a prefix", "{\"a\":1}",
       "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/ab\"}]", "{\"ab\":1}"),
    OK("move a child to the root", "{\"a\":{\"b\":1}}",
       "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"\"}]", "{\"b\":1}"),
    OK("move a child over its parent", "{\"a\":{\"b\":[1]}}",
       "[{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"/a\"}]", "{\"a\":[1]}"),
    OK("move to the end of an array", "[1,2,3]",
       "[{\"op\":\"move\",\"from\":\"/0\",\"path\":\"/-\"}]", "[2,3,1]"),
    OK("test: numbers compare by value", "{\"a\":1,\"b\":[2.0]}",
       "[{\"op\":\"test\",\"path\":\"/a\",\"value\":1.0},"
       "{\"op\":\"test\",\"path\":\"/b\",\"value\":[2]}]",
       "{\"a\":1,\"b\":[2.0]}"),
    OK("test: member order does not matter", "{\"a\":{\"x\":1,\"y\":[true]}}",
       "[{\"op\":\"test\",\"path\":\"/a\",\"value\":{\"y\":[true],\"x\":1}}]",
       "{\"a\":{\"x\":1,\"y\":[true]}}"),
    OK("test: null", "{\"a\":null}",
       "[{\"op\":\"test\",\"path\":\"/a\",\"value\":null}]", "{\"a\":null}"),
    OK("test the whole document", "[1]",
       "[{\"op\":\"test\",\"path\":\"\",\"value\":[1]}]", "[1]"),

    /* Malformed operations. */
    FAIL("operation is not an object", "{}", "[1]", VX_EINVAL, "/0"),
    FAIL("missing op", "{}", "[{\"path\":\"/a\"}]", VX_EINVAL, "/0/op"),
    FAIL("op is not a string", "{}", "[{\"op\":1,\"path\":\"/a\"}]", VX_EINVAL,
         "/0/op"),
    FAIL("unknown op", "{}", "[{\"op\":\"delete\",\"path\":\"/a\"}]", VX_EINVAL,
         "/0/op"),
    FAIL("op is case-sensitive", "{\"a\":1}",
         "[{\"op\":\"Remove\",\"path\":\"/a\"}]", VX_EINVAL, "/0/op"),
    FAIL("missing path", "{}", "[{\"op\":\"add\",\"value\":1}]", VX_EINVAL,
         "/0/path"),
    FAIL("path is not a string", "{}",
         "[{\"op\":\"add\",\"path\":[\"a\"],\"value\":1}]", VX_EINVAL,
         "/0/path"),
    FAIL("path with a NUL", "{}",
         "[{\"op\":\"add\",\"path\":\"/a\\u0000b\",\"value\":1}]", VX_EINVAL,
         "/0/path"),
    FAIL("add without value", "{}", "[{\"op\":\"add\",\"path\":\"/a\"}]",
         VX_EINVAL, "/0/value"),
    FAIL("replace without value", "{\"a\":1}",
         "[{\"op\":\"replace\",\"path\":\"/a\"}]", VX_EINVAL, "/0/value"),
    FAIL("test without value", "{\"a\":1}",
         "[{\"op\":\"test\",\"path\":\"/a\"}]", VX_EINVAL, "/0/value"),
    FAIL("move without from", "{\"a\":1}",
         "[{\"op\":\"move\",\"path\":\"/b\"}]", VX_EINVAL, "/0/from"),
    FAIL("copy with a non-string from", "{\"a\":1}",
         "[{\"op\":\"copy\",\"from\":1,\"path\":\"/b\"}]", VX_EINVAL,
         "/0/from"),

    /* Pointer syntax (RFC 6901). */
    FAIL("pointer without a leading slash", "{\"a\":1}",
         "[{\"op\":\"remove\",\"path\":\"a\"}]", VX_EINVAL, "/0/path"),
    FAIL("bad escape ~2", "{\"a~2\":1}",
         "[{\"op\":\"remove\",\"path\":\"/a~2\"}]", VX_EINVAL, "/0/path"),
    FAIL("trailing ~", "{\"a~\":1}", "[{\"op\":\"remove\",\"path\":\"/a~\"}]",
         VX_EINVAL, "/0/path"),
    FAIL("index with a leading zero", "{\"a\":[1,2]}",
         "[{\"op\":\"remove\",\"path\":\"/a/01\"}]", VX_EINVAL, "/0/path"),
    FAIL("add at an index with a leading zero", "{\"a\":[1,2]}",
         "[{\"op\":\"add\",\"path\":\"/a/00\",\"value\":0}]", VX_EINVAL,
         "/0/path"),
    FAIL("negative index", "{\"a\":[1,2]}",
         "[{\"op\":\"remove\",\"path\":\"/a/-1\"}]", VX_EINVAL, "/0/path"),
    FAIL("index with a sign", "{\"a\":[1,2]}",
         "[{\"op\":\"remove\",\"path\":\"/a/+1\"}]", VX_EINVAL, "/0/path"),
    FAIL("index with letters", "{\"a\":[1,2]}",
         "[{\"op\":\"remove\",\"path\":\"/a/1a\"}]", VX_EINVAL, "/0/path"),
    FAIL("empty index", "{\"a\":[1,2]}",
         "[{\"op\":\"add\",\"path\":\"/a/\",\"value\":0}]", VX_EINVAL,
         "/0/path"),
    FAIL("huge index", "{\"a\":[1]}",
         "[{\"op\":\"remove\",\"path\":"
         "\"/a/99999999999999999999999999999\"}]",
         VX_EINVAL, "/0/path"),
    FAIL("an index on the way in", "{\"a\":[{\"b\":1}]}",
         "[{\"op\":\"add\",\"path\":\"/a/1/b\",\"value\":0}]", VX_EINVAL,
         "/0/path"),

    /* Targets that are not there. */
    FAIL("remove a missing member", "{\"a\":1}",
         "[{\"op\":\"remove\",\"path\":\"/b\"}]", VX_EINVAL, "/0/path"),
    FAIL("remove past the end", "[1,2]",
         "[{\"op\":\"remove\",\"path\":\"/2\"}]", VX_EINVAL, "/0/path"),
    FAIL("remove -", "[1,2]", "[{\"op\":\"remove\",\"path\":\"/-\"}]",
         VX_EINVAL, "/0/path"),
    FAIL("remove the document", "{\"a\":1}",
         "[{\"op\":\"remove\",\"path\":\"\"}]", VX_EINVAL, "/0/path"),
    FAIL("replace a missing member", "{\"a\":1}",
         "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":2}]", VX_EINVAL,
         "/0/path"),
    FAIL("replace -", "[1]",
         "[{\"op\":\"replace\",\"path\":\"/-\",\"value\":2}]", VX_EINVAL,
         "/0/path"),
    FAIL("add past size", "[1,2]",
         "[{\"op\":\"add\",\"path\":\"/3\",\"value\":3}]", VX_EINVAL,
         "/0/path"),
    FAIL("add inside a scalar", "{\"a\":1}",
         "[{\"op\":\"add\",\"path\":\"/a/b\",\"value\":2}]", VX_EINVAL,
         "/0/path"),
    FAIL("add a member to a scalar document", "5",
         "[{\"op\":\"add\",\"path\":\"/a\",\"value\":2}]", VX_EINVAL,
         "/0/path"),
    FAIL("test a missing member", "{\"a\":1}",
         "[{\"op\":\"test\",\"path\":\"/b\",\"value\":1}]", VX_EINVAL,
         "/0/path"),
    FAIL("test -", "[1]", "[{\"op\":\"test\",\"path\":\"/-\",\"value\":1}]",
         VX_EINVAL, "/0/path"),
    FAIL("move from a missing member", "{\"a\":1}",
         "[{\"op\":\"move\",\"from\":\"/b\",\"path\":\"/c\"}]", VX_EINVAL,
         "/0/from"),
    FAIL("copy from past the end", "{\"a\":[1]}",
         "[{\"op\":\"copy\",\"from\":\"/a/1\",\"path\":\"/b\"}]", VX_EINVAL,
         "/0/from"),
    FAIL("move into its own child", "{\"a\":{\"b\":{}}}",
         "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b/c\"}]", VX_EINVAL,
         "/0/path"),
    FAIL("move the document into itself", "{\"a\":{}}",
         "[{\"op\":\"move\",\"from\":\"\",\"path\":\"/a/b\"}]", VX_EINVAL,
         "/0/path"),
    FAIL("move to a missing parent", "{\"a\":1}",
         "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/b/c\"}]", VX_EINVAL,
         "/0/path"),
    FAIL("move to an index beyond the shortened array", "[1,2]",
         "[{\"op\":\"move\",\"from\":\"/0\",\"path\":\"/2\"}]", VX_EINVAL,
         "/0/path"),

    /* Values that differ. */
    FAIL("test: 1 is not 1.5", "{\"a\":1}",
         "[{\"op\":\"test\",\"path\":\"/a\",\"value\":1.5}]", VX_ECONFLICT,
         "/0"),
    FAIL("test: array order matters", "{\"a\":[1,2]}",
         "[{\"op\":\"test\",\"path\":\"/a\",\"value\":[2,1]}]", VX_ECONFLICT,
         "/0"),
    FAIL("test: extra member", "{\"a\":{\"x\":1}}",
         "[{\"op\":\"test\",\"path\":\"/a\",\"value\":{\"x\":1,\"y\":2}}]",
         VX_ECONFLICT, "/0"),
    FAIL("test: null is not false", "{\"a\":null}",
         "[{\"op\":\"test\",\"path\":\"/a\",\"value\":false}]", VX_ECONFLICT,
         "/0"),

    /* The failing operation's index is reported. */
    FAIL("second operation fails", "{\"a\":1}",
         "[{\"op\":\"remove\",\"path\":\"/a\"},"
         "{\"op\":\"remove\",\"path\":\"/a\"}]",
         VX_EINVAL, "/1/path"),
    FAIL("third operation's test fails", "{\"a\":1}",
         "[{\"op\":\"add\",\"path\":\"/b\",\"value\":2},"
         "{\"op\":\"test\",\"path\":\"/b\",\"value\":2},"
         "{\"op\":\"test\",\"path\":\"/a\",\"value\":2}]",
         VX_ECONFLICT, "/2"),
};
#define NCASES (sizeof(CASES) / sizeof(CASES[0]))

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(
        text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v)
        fail_msg("bad test JSON '%s': %s", text, jerr.text);
    return v;
}

/* Applies a case and checks the outcome, the untouched input document, and
 * that *out is NULL whenever the patch failed. */
static void run_case(void **state)
{
    const jp_case *t = *state;
    vx_error err = {0};
    svc_ctx c = {.err = &err};
    json_t *doc = parse(t->doc);
    json_t *before = json_deep_copy(doc);
    json_t *patch = parse(t->patch);
    json_t *out = json_true(); /* must be overwritten */

    vx_status st = svc__json_patch(&c, doc, patch, &out);
    if (st != t->status)
        fail_msg("%s: got %s (%s: %s), want %s", t->name, vx_status_name(st),
                 err.path, err.message, vx_status_name(t->status));
    assert_true(json_equal(doc, before));
    if (t->status == VX_OK) {
        json_t *want = parse(t->result);
        assert_non_null(out);
        if (!json_equal(out, want)) {
            char *got = json_dumps(out, JSON_ENCODE_ANY | JSON_COMPACT);
            fail_msg("%s: got %s, want %s", t->name, got, t->result);
        }
        json_decref(want);
    } else {
        assert_null(out);
        assert_int_equal(err.code, t->status);
        assert_string_equal(err.path, t->path);
        assert_true(err.message[0] != '\0');
    }
    json_decref(out);
    json_decref(patch);
    json_decref(before);
    json_decref(doc);
}

static vx_status apply_text(const char *doc_text, const char *patch_text,
                            json_t **out, vx_error *err)
{
    svc_ctx c = {.err = err};
    json_t *doc = parse(doc_text);
    json_t *patch = parse(patch_text);
    vx_status st = svc__json_patch(&c, doc, patch, out);
    json_decref(patch);
    json_decref(doc);
    return st;
}

/* A.13: a duplicate "op" makes the patch invalid. jansson keeps the last
 * duplicate unless told to reject them, so the HTTP layer must parse
 * bodies with JSON_REJECT_DUPLICATES; without it the patch here becomes a
 * remove of a missing member, which fails too. */
static void test_a13_duplicate_members(void **state)
{
    (void)state;
    const char *text = "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\","
                       "\"op\":\"remove\"}]";
    json_error_t jerr;
    assert_null(json_loads(text, JSON_REJECT_DUPLICATES, &jerr));

    vx_error err = {0};
    svc_ctx c = {.err = &err};
    json_t *doc = parse("{\"foo\":\"bar\"}");
    json_t *patch = json_loads(text, 0, &jerr);
    json_t *out = NULL;
    assert_non_null(patch);
    assert_int_equal(svc__json_patch(&c, doc, patch, &out), VX_EINVAL);
    assert_null(out);
    assert_string_equal(err.path, "/0/path");
    json_decref(patch);
    json_decref(doc);
}

static void test_patch_not_an_array(void **state)
{
    (void)state;
    static const char *const NOT_ARRAYS[] = {
        "{\"op\":\"add\",\"path\":\"/a\",\"value\":1}", "null", "\"[]\"", "1"};
    for (size_t i = 0; i < sizeof(NOT_ARRAYS) / sizeof(NOT_ARRAYS[0]); i++) {
        vx_error err = {0};
        json_t *out = json_true();
        assert_int_equal(apply_text("{}", NOT_ARRAYS[i], &out, &err),
                         VX_EINVAL);
        assert_null(out);
        assert_int_equal(err.code, VX_EINVAL);
        assert_string_equal(err.path, "");
    }

    /* A NULL patch is not an array either. */
    vx_error err = {0};
    svc_ctx c = {.err = &err};
    json_t *doc = json_object();
    json_t *out = NULL;
    assert_int_equal(svc__json_patch(&c, doc, NULL, &out), VX_EINVAL);
    assert_null(out);
    assert_string_equal(err.path, "");
    json_decref(doc);
}

/* n operations that each append to /a. */
static json_t *appends(size_t n)
{
    json_t *patch = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(patch,
                              json_pack("{s:s, s:s, s:I}", "op", "add", "path",
                                        "/a/-", "value", (json_int_t)i));
    return patch;
}

static void test_operation_limit(void **state)
{
    (void)state;
    vx_error err = {0};
    svc_ctx c = {.err = &err};
    json_t *doc = parse("{\"a\":[]}");
    json_t *out = NULL;

    json_t *patch = appends(1000);
    assert_int_equal(svc__json_patch(&c, doc, patch, &out), VX_OK);
    assert_int_equal(json_array_size(json_object_get(out, "a")), 1000);
    json_decref(out);
    json_decref(patch);

    patch = appends(1001);
    out = json_true();
    assert_int_equal(svc__json_patch(&c, doc, patch, &out), VX_ELIMIT);
    assert_null(out);
    assert_int_equal(err.code, VX_ELIMIT);
    assert_string_equal(err.path, "");
    assert_non_null(strstr(err.message, "1000"));
    json_decref(patch);
    assert_int_equal(json_array_size(json_object_get(doc, "a")), 0);
    json_decref(doc);
}

/* The result never shares values with the patch (or the document), so
 * editing it cannot reach back into the caller's input. */
static void test_result_owns_its_values(void **state)
{
    (void)state;
    vx_error err = {0};
    svc_ctx c = {.err = &err};
    json_t *doc = parse("{\"keep\":{\"x\":1}}");
    json_t *patch = parse("[{\"op\":\"add\",\"path\":\"/v\",\"value\":{}},"
                          "{\"op\":\"replace\",\"path\":\"/w\",\"value\":[]}]");
    json_t *out = NULL;

    /* The replace fails (no /w), so nothing is produced... */
    assert_int_equal(svc__json_patch(&c, doc, patch, &out), VX_EINVAL);
    assert_string_equal(err.path, "/1/path");
    assert_null(out);
    /* ...and the document did not get the first operation's member. */
    assert_null(json_object_get(doc, "v"));
    json_decref(patch);

    patch = parse("[{\"op\":\"add\",\"path\":\"/v\",\"value\":{\"y\":2}}]");
    assert_int_equal(svc__json_patch(&c, doc, patch, &out), VX_OK);
    json_t *given = json_object_get(json_array_get(patch, 0), "value");
    assert_ptr_not_equal(json_object_get(out, "v"), given);
    assert_ptr_not_equal(json_object_get(out, "keep"),
                         json_object_get(doc, "keep"));
    json_object_set_new(json_object_get(out, "v"), "z", json_integer(3));
    json_object_set_new(json_object_get(out, "keep"), "z", json_integer(3));
    assert_int_equal(json_object_size(given), 1);
    assert_int_equal(json_object_size(json_object_get(doc, "keep")), 1);
    json_decref(out);
    json_decref(patch);
    json_decref(doc);
}

/* Messages say what is wrong in words, quoting the pointer. */
static void test_messages(void **state)
{
    (void)state;
    static const struct {
        const char *doc, *patch, *needle;
    } M[] = {
        {"{\"foo\":\"bar\"}",
         "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":1}]",
         "'/baz' does not exist"},
        {"{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a/b\",\"value\":1}]",
         "'/a' is a number, not an object or array"},
        {"[1,2]", "[{\"op\":\"remove\",\"path\":\"/5\"}]",
         "the array has 2 elements"},
        {"[1,2]", "[{\"op\":\"remove\",\"path\":\"/01\"}]",
         "'01' is not an array index"},
        {"{}", "[{\"op\":\"delete\",\"path\":\"/a\"}]",
         "unknown operation 'delete'"},
        {"{\"a\":1}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":2}]",
         "test failed: '/a'"},
        {"{}", "[{\"op\":\"add\",\"path\":\"/a\"}]", "'value' is missing"},
        {"{}", "[{\"op\":\"move\",\"from\":\"\",\"path\":\"/a\"}]",
         "into its own child"},
    };
    for (size_t i = 0; i < sizeof(M) / sizeof(M[0]); i++) {
        vx_error err = {0};
        json_t *out = NULL;
        assert_int_not_equal(apply_text(M[i].doc, M[i].patch, &out, &err),
                             VX_OK);
        if (!strstr(err.message, M[i].needle))
            fail_msg("message '%s' lacks '%s'", err.message, M[i].needle);
    }
}

/* Pointers too long for the message are quoted shortened, cut on a UTF-8
 * character boundary; the message is not truncated and stays valid UTF-8
 * (jansson refuses to make a JSON string of anything else). */
static void test_long_pointers(void **state)
{
    (void)state;
    char key[1601];
    char from[1602];
    char path[1606];
    for (size_t i = 0; i + 1 < sizeof(key); i += 2)
        memcpy(key + i, "\xc3\xa9", 2); /* U+00E9, two bytes */
    key[sizeof(key) - 1] = '\0';
    snprintf(from, sizeof(from), "/%s", key);
    snprintf(path, sizeof(path), "/%s/x/y", key);

    vx_error err = {0};
    svc_ctx c = {.err = &err};
    json_t *doc = json_pack("{s:{}}", key);
    json_t *patch =
        json_pack("[{s:s, s:s}, {s:s, s:s, s:s}]", "op", "remove", "path", path,
                  "op", "move", "from", from, "path", path);
    json_t *out = NULL;
    assert_non_null(doc);
    assert_non_null(patch);

    assert_int_equal(svc__json_patch(&c, doc, patch, &out), VX_EINVAL);
    assert_string_equal(err.path, "/0/path");
    assert_non_null(strstr(err.message, "does not exist"));
    json_t *msg = json_string(err.message);
    assert_non_null(msg);
    json_decref(msg);

    json_array_remove(patch, 0);
    assert_int_equal(svc__json_patch(&c, doc, patch, &out), VX_EINVAL);
    assert_string_equal(err.path, "/0/path");
    assert_non_null(strstr(err.message, "into its own child"));
    assert_true(strlen(err.message) < sizeof(err.message) - 1);
    msg = json_string(err.message);
    assert_non_null(msg);
    json_decref(msg);

    json_decref(patch);
    json_decref(doc);
}

/* jansson allocates through here (main): vx__malloc, so the budget below
 * applies, and a switch that fails exactly one chosen allocation. */
static size_t g_allocs;             /* jansson allocations since reset */
static size_t g_fail_at = SIZE_MAX; /* the one to fail, SIZE_MAX: none */

static void *jansson_malloc(size_t n)
{
    if (g_allocs++ == g_fail_at)
        return NULL;
    return vx__malloc(n);
}

static const char OOM_DOC[] = "{\"a\":[1,2,{\"b\":\"c\"}],\"d\":{\"e\":null}}";
static const char OOM_PATCH[] =
    "[{\"op\":\"add\",\"path\":\"/a/-\",\"value\":{\"x\":[1]}},"
    "{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/d/f\"},"
    "{\"op\":\"move\",\"from\":\"/a/2\",\"path\":\"/g\"},"
    "{\"op\":\"replace\",\"path\":\"/d/e\",\"value\":\"s\"},"
    "{\"op\":\"add\",\"path\":\"/d/h\",\"value\":[]},"
    "{\"op\":\"remove\",\"path\":\"/a/0\"},"
    "{\"op\":\"test\",\"path\":\"/g\",\"value\":{\"b\":\"c\"}}]";
static const char OOM_RESULT[] =
    "{\"a\":[2,{\"x\":[1]}],\"g\":{\"b\":\"c\"},"
    "\"d\":{\"e\":\"s\",\"h\":[],\"f\":[1,2,{\"b\":\"c\"},{\"x\":[1]}]}}";

/* One allocation-failure run: VX_OK with the full result, or VX_ENOMEM with
 * none. Returns whether it succeeded. */
static bool oom_step(const json_t *doc, const json_t *patch, const json_t *want,
                     const char *mode, size_t step)
{
    vx_error err = {0};
    svc_ctx c = {.err = &err};
    json_t *out = json_true();
    vx_status st = svc__json_patch(&c, doc, patch, &out);

    vx__alloc_set_budget(SIZE_MAX);
    g_fail_at = SIZE_MAX;
    if (st == VX_OK) {
        if (!json_equal(out, want))
            fail_msg("%s %zu: wrong result", mode, step);
        json_decref(out);
        return true;
    }
    if (st != VX_ENOMEM)
        fail_msg("%s %zu: got %s (%s: %s)", mode, step, vx_status_name(st),
                 err.path, err.message);
    assert_null(out);
    assert_string_equal(err.path + strspn(err.path, "/0123456789"), "");
    return false;
}

/* STYLE rule 14: raise the allocation budget one step at a time until the
 * patch applies; every shorter budget must give VX_ENOMEM and no result
 * (leaks show up under the ASan build). Then fail each single allocation in
 * turn, with all later ones succeeding, so that a failure that is ignored
 * shows up as a wrong result instead of hiding behind the next one. */
static void test_oom_walk(void **state)
{
    (void)state;
    json_t *doc = parse(OOM_DOC);
    json_t *patch = parse(OOM_PATCH);
    json_t *want = parse(OOM_RESULT);
    bool done = false;
    size_t budget;

    for (budget = 0; budget < 10000 && !done; budget++) {
        vx__alloc_set_budget(budget);
        done = oom_step(doc, patch, want, "budget", budget);
    }
    assert_true(done);
    assert_true(budget > 1);

    done = false;
    for (size_t at = 0; at < 10000 && !done; at++) {
        g_allocs = 0;
        g_fail_at = at;
        bool ok = oom_step(doc, patch, want, "fail allocation", at);
        done = g_allocs <= at; /* nothing failed: the walk is over */
        assert_true(ok == done);
    }
    assert_true(done);
    json_decref(want);
    json_decref(patch);
    json_decref(doc);
}

/* A check for svc__json_patch_blame: an element whose "n" is "bad" is
 * refused at "/<index>/n", a pointer into the patched array. */
static vx_status no_bad(svc_ctx *c, const json_t *patched, void *ud)
{
    (void)ud;
    size_t i;
    const json_t *e;
    json_array_foreach (patched, i, e) {
        const char *n = json_string_value(json_object_get(e, "n"));
        if (n && strcmp(n, "bad") == 0) {
            char p[32];
            snprintf(p, sizeof(p), "/%zu/n", i);
            return svc__fail(c, VX_ELIMIT, p, "bad");
        }
    }
    return VX_OK;
}

/* After a refusal of the patched document, the error names the operation
 * that brought the value in, inside its "value" when the error is there. */
static void test_blame(void **state)
{
    (void)state;
    static const struct {
        const char *patch;
        const char *path;
    } BLAME[] = {
        {"[{\"op\":\"add\",\"path\":\"/-\",\"value\":{\"n\":\"bad\"}}]",
         "/0/value/n"},
        {"[{\"op\":\"test\",\"path\":\"/0/n\",\"value\":\"a\"},"
         "{\"op\":\"replace\",\"path\":\"/1/n\",\"value\":\"bad\"}]",
         "/1/value"},
        {"[{\"op\":\"add\",\"path\":\"/0\",\"value\":{\"n\":\"b\"}},"
         "{\"op\":\"replace\",\"path\":\"\",\"value\":[{\"n\":\"bad\"}]}]",
         "/1/value/0/n"},
        {"[{\"op\":\"copy\",\"from\":\"/0/n\",\"path\":\"/1/n\"},"
         "{\"op\":\"add\",\"path\":\"/0/n\",\"value\":\"bad\"}]",
         "/1/value"},
    };
    for (size_t i = 0; i < sizeof(BLAME) / sizeof(BLAME[0]); i++) {
        vx_error err = {0};
        svc_ctx c = {.err = &err};
        json_t *doc = parse("[{\"n\":\"a\"},{\"n\":\"b\"}]");
        json_t *patch = parse(BLAME[i].patch), *out = NULL;
        assert_int_equal(svc__json_patch(&c, doc, patch, &out), VX_OK);
        assert_int_equal(no_bad(&c, out, NULL), VX_ELIMIT);
        svc__json_patch_blame(&c, doc, patch, no_bad, NULL);
        assert_int_equal(err.code, VX_ELIMIT);
        assert_string_equal(err.message, "bad");
        assert_string_equal(err.path, BLAME[i].path);
        json_decref(out);
        json_decref(patch);
        json_decref(doc);
    }
}

int main(void)
{
    static const struct CMUnitTest FIXED[] = {
        cmocka_unit_test(test_a13_duplicate_members),
        cmocka_unit_test(test_patch_not_an_array),
        cmocka_unit_test(test_operation_limit),
        cmocka_unit_test(test_result_owns_its_values),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_long_pointers),
        cmocka_unit_test(test_oom_walk),
        cmocka_unit_test(test_blame),
    };
    enum { NFIXED = sizeof(FIXED) / sizeof(FIXED[0]) };
    struct CMUnitTest tests[NCASES + NFIXED];

    json_set_alloc_funcs(jansson_malloc, vx__free);
    for (size_t i = 0; i < NCASES; i++) {
        tests[i] = (struct CMUnitTest){
            .name = CASES[i].name,
            .test_func = run_case,
            /* cmocka's state is a non-const void *; run_case only reads. */
            .initial_state = (void *)&CASES[i],
        };
    }
    for (size_t i = 0; i < NFIXED; i++)
        tests[NCASES + i] = FIXED[i];
    return _cmocka_run_group_tests("jsonpatch", tests, NCASES + NFIXED, NULL,
                                   NULL);
}
