/* Unit tests for the loader (src/core/load.c, with jsonpos.c and build.c):
 * error codes, JSON-pointer paths and line/column positions, warnings for
 * forward-compatible input, the limits of base/limits.h, duplicate flag
 * names, and the flag lookup API.
 *
 * Reference values: paths are JSON pointers (RFC 6901) written by hand from
 * each document; expected line/column pairs are counted by hand (1-based,
 * bytes, as vx_error documents them) and, for the table-driven cases,
 * computed by `expected_pos` below, which finds a marker that starts the
 * offending value in the text (the position jsonpos.h promises: the value
 * at the pointer, or its deepest existing ancestor). Parse-error positions
 * are jansson 2.14's (json_loadb's json_error_t), which the loader passes
 * on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/limits.h"
#include "unit/guard_page.h"
#include "vexil/vexil.h"

/* ---- helpers ------------------------------------------------------------ */

/* Loads a copy of `json` that ends at a guard page. */
static vx_status load(const char *json, vx_snapshot **out, vx_error *err)
{
    memset(err, 0, sizeof(*err));
    guarded g;
    size_t len = strlen(json);
    const char *p = guard_copy(&g, json, len);
    assert_non_null(p);
    vx_status st = vx_snapshot_load(p, len, NULL, out, err);
    guard_release(&g);
    return st;
}

/* 1-based line and byte column of the first occurrence of `marker`. */
static void expected_pos(const char *doc, const char *marker, uint32_t *line,
                         uint32_t *col)
{
    const char *at = strstr(doc, marker);
    if (!at)
        fail_msg("marker %s not in the document", marker);
    *line = 1;
    *col = 1;
    for (const char *p = doc; p < at; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static void expect_error(const char *doc, vx_status code, const char *path,
                         const char *marker)
{
    vx_snapshot *s = (vx_snapshot *)(uintptr_t)1; /* must be reset */
    vx_error err;
    vx_status st = load(doc, &s, &err);
    if (st != code)
        fail_msg("%s: status %s (%s at %s), want %s", doc, vx_status_name(st),
                 err.message, err.path, vx_status_name(code));
    assert_null(s);
    assert_int_equal(err.code, code);
    if (strcmp(err.path, path) != 0)
        fail_msg("%s: path \"%s\", want \"%s\"", doc, err.path, path);
    assert_true(strlen(err.message) > 0);
    if (marker) {
        uint32_t line, col;
        expected_pos(doc, marker, &line, &col);
        if (err.line != line || err.column != col)
            fail_msg("%s: at %u:%u, want %u:%u (%s)", doc, err.line, err.column,
                     line, col, marker);
    }
}

typedef struct warning {
    char path[VX_ERROR_PATH_MAX];
    uint32_t line, column;
    char message[VX_ERROR_MSG_MAX];
} warning;

typedef struct warnings {
    warning w[8];
    size_t n;
} warnings;

static void on_warn(void *ud, const char *path, uint32_t line, uint32_t column,
                    const char *message)
{
    warnings *ws = ud;
    if (ws->n < 8) {
        warning *w = &ws->w[ws->n];
        snprintf(w->path, sizeof(w->path), "%s", path);
        w->line = line;
        w->column = column;
        snprintf(w->message, sizeof(w->message), "%s", message);
    }
    ws->n++;
}

/* A growable text buffer for the big limit documents. */
typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, s, n + 1);
    b->n += n;
}

static void put_rep(buf *b, const char *item, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (i)
            put(b, ",");
        put(b, item);
    }
}

/* ---- malformed JSON: VX_EPARSE with jansson's position ------------------ */

static void test_parse_error_position(void **state)
{
    (void)state;
    /* The second ',' on line 3 is column 35 (4 spaces, then 30 characters
     * of `{"name": "a", "enabled": true,`); jansson reports it there:
     * "string or '}' expected near ','". */
    const char *doc = "{\n"
                      "  \"features\": [\n"
                      "    {\"name\": \"a\", \"enabled\": true,, "
                      "\"strategies\": []}\n"
                      "  ]\n"
                      "}";
    vx_snapshot *s = NULL;
    vx_error err;
    assert_int_equal(load(doc, &s, &err), VX_EPARSE);
    assert_null(s);
    assert_int_equal(err.code, VX_EPARSE);
    assert_string_equal(err.path, "");
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 35);

    /* Truncated input, empty input, duplicate keys (rejected on purpose). */
    assert_int_equal(load("{\"features\": [", &s, &err), VX_EPARSE);
    assert_int_equal(err.line, 1);
    assert_int_equal(err.column, 15); /* end of input: just past the '[' */
    assert_int_equal(load("", &s, &err), VX_EPARSE);
    assert_int_equal(err.line, 1);
    assert_int_equal(err.column, 1); /* jansson says 0: clamped to 1 */
    assert_int_equal(load("{\"features\": [], \"features\": []}", &s, &err),
                     VX_EPARSE);
    assert_null(s);
    assert_int_equal(load("{\"features\": []} x", &s, &err), VX_EPARSE);
    assert_null(s);
}

/* vx_error.column is "1-based column (bytes)" (status.h), and schema errors
 * count bytes. jansson counts characters, so with a two-byte "é" earlier on
 * the line the comma is character 35 but byte 36. */
static void test_parse_error_column_in_bytes(void **state)
{
    (void)state;
    const char *doc = "{\n"
                      "  \"features\": [\n"
                      "    {\"name\": \"\xc3\xa9\", \"enabled\": true,, "
                      "\"strategies\": []}\n"
                      "  ]\n"
                      "}";
    vx_snapshot *s = NULL;
    vx_error err;
    assert_int_equal(load(doc, &s, &err), VX_EPARSE);
    assert_int_equal(err.line, 3);
    if (err.column != 36)
        fail_msg("column %u: that is jansson's character count; the byte "
                 "column vx_error documents is 36",
                 err.column);
}

/* ---- schema errors: exact path and position ------------------------------ */

static void test_missing_rollout(void **state)
{
    (void)state;
    /* The pointer names the missing member; it is located at its deepest
     * existing ancestor, the "parameters" object on line 9, column 51
     * (8 spaces + `{"name": "flexibleRollout", "parameters": ` = 50). */
    const char *doc =
        "{\n"
        "  \"version\": 2,\n"
        "  \"features\": [\n"
        "    {\"name\": \"a\", \"enabled\": true, \"strategies\": []},\n"
        "    {\n"
        "      \"name\": \"b\",\n"
        "      \"enabled\": true,\n"
        "      \"strategies\": [\n"
        "        {\"name\": \"flexibleRollout\", \"parameters\": "
        "{\"stickiness\": \"default\"}}\n"
        "      ]\n"
        "    }\n"
        "  ]\n"
        "}\n";
    vx_snapshot *s = NULL;
    vx_error err;
    assert_int_equal(load(doc, &s, &err), VX_ESCHEMA);
    assert_null(s);
    assert_int_equal(err.code, VX_ESCHEMA);
    assert_string_equal(err.path,
                        "/features/1/strategies/0/parameters/rollout");
    assert_int_equal(err.line, 9);
    assert_int_equal(err.column, 51);
    expect_error(doc, VX_ESCHEMA, "/features/1/strategies/0/parameters/rollout",
                 "{\"stickiness\"");
}

typedef struct scase {
    const char *doc;
    const char *path;
    const char *marker; /* where the error is located */
} scase;

static const scase SCHEMA[] = {
    /* documents */
    {"[]", "", "[]"},
    {"{\"version\": 2}", "/features", "{"},
    {"{\"features\": {}}", "/features", "{}}"},
    {"{\"features\": [1]}", "/features/0", "1]"},
    /* flags */
    {"{\"features\": [{\"enabled\": true, \"strategies\": []}]}",
     "/features/0/name", "{\"enabled\""},
    {"{\"features\": [{\"name\": 7, \"enabled\": true, \"strategies\": []}]}",
     "/features/0/name", "7,"},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": \"yes\", "
     "\"strategies\": []}]}",
     "/features/0/enabled", "\"yes\""},
    {"{\"features\": [{\"name\": \"f\", \"strategies\": []}]}",
     "/features/0/enabled", "{\"name\""},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true}]}",
     "/features/0/strategies", "{\"name\""},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": "
     "{}}]}",
     "/features/0/strategies", "{}}"},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"impressionData\": "
     "1, \"strategies\": []}]}",
     "/features/0/impressionData", "1,"},
    /* strategies */
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": "
     "[{\"parameters\": {}}]}]}",
     "/features/0/strategies/0/name", "{\"parameters\""},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": "
     "[{\"name\": \"default\", \"parameters\": []}]}]}",
     "/features/0/strategies/0/parameters", "[]}]"},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": "
     "[{\"name\": \"flexibleRollout\", \"parameters\": {\"rollout\": [1]}}]}]}",
     "/features/0/strategies/0/parameters/rollout", "[1]"},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": "
     "[{\"name\": \"userWithId\"}]}]}",
     "/features/0/strategies/0/parameters/userIds", "{\"name\": \"userW"},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": "
     "[{\"name\": \"default\", \"segments\": [1, \"2\"]}]}]}",
     "/features/0/strategies/0/segments/1", "\"2\""},
    /* constraints */
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": "
     "[{\"name\": \"default\", \"constraints\": [{\"contextName\": \"a\", "
     "\"operator\": \"IN\", \"values\": [\"x\", 5]}]}]}]}",
     "/features/0/strategies/0/constraints/0/values/1", "5]"},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": "
     "[{\"name\": \"default\", \"constraints\": [{\"operator\": \"IN\"}]}]}]}",
     "/features/0/strategies/0/constraints/0/contextName", "{\"operator\""},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": "
     "[{\"name\": \"default\", \"constraints\": [{\"contextName\": \"a\", "
     "\"operator\": \"IN\", \"inverted\": \"no\"}]}]}]}",
     "/features/0/strategies/0/constraints/0/inverted", "\"no\""},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": "
     "[{\"name\": \"default\", \"constraints\": [{\"contextName\": \"a\", "
     "\"operator\": \"IN\", \"values\": \"x\"}]}]}]}",
     "/features/0/strategies/0/constraints/0/values", "\"x\"}"},
    /* variants */
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": [], "
     "\"variants\": [{\"name\": \"v\", \"weight\": \"1\"}]}]}",
     "/features/0/variants/0/weight", "\"1\""},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": [], "
     "\"variants\": [{\"name\": \"v\"}]}]}",
     "/features/0/variants/0/weight", "{\"name\": \"v\""},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": [], "
     "\"variants\": [{\"name\": \"v\", \"weight\": 1.5}]}]}",
     "/features/0/variants/0/weight", "1.5"},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": [], "
     "\"variants\": [{\"name\": \"v\", \"weight\": -1}]}]}",
     "/features/0/variants/0/weight", "-1"},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": [], "
     "\"variants\": [{\"name\": \"v\", \"weight\": 1, \"payload\": "
     "{\"type\": \"string\"}}]}]}",
     "/features/0/variants/0/payload/value", "{\"type\""},
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": [], "
     "\"variants\": [{\"name\": \"v\", \"weight\": 1, \"overrides\": "
     "[{\"contextName\": \"userId\", \"values\": [true]}]}]}]}",
     "/features/0/variants/0/overrides/0/values/0", "true]"},
    /* strategy variants */
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": "
     "[{\"name\": \"default\", \"variants\": [{\"weight\": 1}]}]}]}",
     "/features/0/strategies/0/variants/0/name", "{\"weight\""},
    /* dependencies */
    {"{\"features\": [{\"name\": \"f\", \"enabled\": true, \"strategies\": [], "
     "\"dependencies\": [{\"enabled\": true}]}]}",
     "/features/0/dependencies/0/feature", "{\"enabled\": true}]"},
    /* segments */
    {"{\"features\": [], \"segments\": [{\"id\": \"1\", \"constraints\": []}]}",
     "/segments/0/id", "\"1\""},
    {"{\"features\": [], \"segments\": [{\"constraints\": []}]}",
     "/segments/0/id", "{\"constraints\""},
    {"{\"features\": [], \"segments\": [{\"id\": 1, \"constraints\": "
     "[{\"contextName\": 1, \"operator\": \"IN\"}]}]}",
     "/segments/0/constraints/0/contextName", "1, \"op"},
};

static void test_schema_paths(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(SCHEMA) / sizeof(SCHEMA[0]); i++)
        expect_error(SCHEMA[i].doc, VX_ESCHEMA, SCHEMA[i].path,
                     SCHEMA[i].marker);
}

/* A position on a later line: the wrong-typed "enabled" of the second flag
 * is on line 4 at column 31 (counted: 6 spaces + `"name": "b", "enabled": `
 * = 30 bytes before the value). */
static void test_schema_position_multiline(void **state)
{
    (void)state;
    const char *doc =
        "{\"features\": [\n"
        "  {\"name\": \"a\", \"enabled\": true, \"strategies\": []},\n"
        "  {\n"
        "      \"name\": \"b\", \"enabled\": null, \"strategies\": []\n"
        "  }\n"
        "]}";
    vx_snapshot *s = NULL;
    vx_error err;
    assert_int_equal(load(doc, &s, &err), VX_ESCHEMA);
    assert_string_equal(err.path, "/features/1/enabled");
    assert_int_equal(err.line, 4);
    assert_int_equal(err.column, 31);
}

/* ---- warnings: unknown strategy and operator ---------------------------- */

static void test_unknown_strategy_and_operator(void **state)
{
    (void)state;
    const char *doc =
        "{\"features\": [\n"
        " {\"name\": \"custom\", \"enabled\": true, \"strategies\": [\n"
        "   {\"name\": \"myCustomStrategy\", \"parameters\": {\"x\": \"1\"}}\n"
        " ]},\n"
        " {\"name\": \"op\", \"enabled\": true, \"strategies\": [\n"
        "   {\"name\": \"default\", \"constraints\": [\n"
        "     {\"contextName\": \"userId\", \"operator\": \"STR_MATCHES_SOON\","
        " \"inverted\": true, \"values\": [\"a\"]}]}\n"
        " ]},\n"
        " {\"name\": \"mixed\", \"enabled\": true, \"strategies\": [\n"
        "   {\"name\": \"futureStrategy\"}, {\"name\": \"default\"}\n"
        " ]}\n"
        "]}";
    warnings ws = {0};
    vx_load_options opts = {on_warn, &ws};
    vx_snapshot *s = NULL;
    vx_error err;
    assert_int_equal(vx_snapshot_load(doc, strlen(doc), &opts, &s, &err),
                     VX_OK);
    assert_non_null(s);
    assert_int_equal(ws.n, 3);

    assert_string_equal(ws.w[0].path, "/features/0/strategies/0/name");
    uint32_t line, col;
    expected_pos(doc, "\"myCustomStrategy\"", &line, &col);
    assert_int_equal(ws.w[0].line, 3);
    assert_int_equal(ws.w[0].line, line);
    assert_int_equal(ws.w[0].column, col);
    assert_non_null(strstr(ws.w[0].message, "myCustomStrategy"));

    assert_string_equal(ws.w[1].path,
                        "/features/1/strategies/0/constraints/0/operator");
    expected_pos(doc, "\"STR_MATCHES_SOON\"", &line, &col);
    assert_int_equal(ws.w[1].line, 7);
    assert_int_equal(ws.w[1].line, line);
    assert_int_equal(ws.w[1].column, col);
    assert_non_null(strstr(ws.w[1].message, "STR_MATCHES_SOON"));

    assert_string_equal(ws.w[2].path, "/features/2/strategies/0/name");

    /* The unknown strategy never matches; the unknown operator is false even
     * inverted (unleash.md §4.3); a later known strategy still wins. */
    vx_context ctx = {0};
    ctx.user_id = (vx_str){"a", 1};
    assert_false(vx_is_enabled(s, NULL, "custom", 6, &ctx));
    assert_false(vx_is_enabled(s, NULL, "op", 2, &ctx));
    assert_true(vx_is_enabled(s, NULL, "mixed", 5, &ctx));
    vx_snapshot_unref(s);

    /* Without a callback the same document loads silently. */
    assert_int_equal(vx_snapshot_load(doc, strlen(doc), NULL, &s, NULL), VX_OK);
    vx_snapshot_unref(s);
}

/* ---- limits (base/limits.h): VX_ELIMIT with the path -------------------- */

static void expect_limit(buf *b, const char *path)
{
    vx_snapshot *s = (vx_snapshot *)(uintptr_t)1;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = vx_snapshot_load(b->p, b->n, NULL, &s, &err);
    if (st != VX_ELIMIT)
        fail_msg("want VX_ELIMIT at %s, got %s (%s at %s)", path,
                 vx_status_name(st), err.message, err.path);
    assert_null(s);
    assert_int_equal(err.code, VX_ELIMIT);
    assert_string_equal(err.path, path);
    free(b->p);
    *b = (buf){0};
}

static const char FLAG_HEAD[] =
    "{\"features\": [{\"name\": \"f\", \"enabled\": true, ";

static void test_limits(void **state)
{
    (void)state;
    buf b = {0};
    char num[64];

    /* Name: 1024 bytes are fine, 1025 are not. */
    char *name = malloc(VX_LIMIT_NAME_BYTES + 2);
    memset(name, 'n', VX_LIMIT_NAME_BYTES + 1);
    name[VX_LIMIT_NAME_BYTES] = '\0';
    put(&b, "{\"features\": [{\"name\": \"");
    put(&b, name);
    put(&b, "\", \"enabled\": true, \"strategies\": []}]}");
    vx_snapshot *s = NULL;
    assert_int_equal(vx_snapshot_load(b.p, b.n, NULL, &s, NULL), VX_OK);
    assert_int_equal(vx_snapshot_flag_name(s, 0).len, VX_LIMIT_NAME_BYTES);
    vx_snapshot_unref(s);
    free(b.p);
    b = (buf){0};
    name[VX_LIMIT_NAME_BYTES] = 'n';
    name[VX_LIMIT_NAME_BYTES + 1] = '\0';
    put(&b, "{\"features\": [{\"name\": \"");
    put(&b, name);
    put(&b, "\", \"enabled\": true, \"strategies\": []}]}");
    expect_limit(&b, "/features/0/name");
    free(name);

    /* Array lengths: one over each limit. Elements are checked only after
     * the length, so they can be empty placeholders. */
    put(&b, "{\"features\": [");
    put_rep(&b, "{}", VX_LIMIT_FLAGS + 1);
    put(&b, "]}");
    expect_limit(&b, "/features");

    put(&b, "{\"features\": [], \"segments\": [");
    put_rep(&b, "{}", VX_LIMIT_SEGMENTS + 1);
    put(&b, "]}");
    expect_limit(&b, "/segments");

    put(&b, FLAG_HEAD);
    put(&b, "\"strategies\": [");
    put_rep(&b, "{}", VX_LIMIT_STRATEGIES + 1);
    put(&b, "]}]}");
    expect_limit(&b, "/features/0/strategies");

    put(&b, FLAG_HEAD);
    put(&b, "\"strategies\": [{\"name\": \"default\", \"constraints\": [");
    put_rep(&b, "{}", VX_LIMIT_CONSTRAINTS + 1);
    put(&b, "]}]}]}");
    expect_limit(&b, "/features/0/strategies/0/constraints");

    put(&b, FLAG_HEAD);
    put(&b, "\"strategies\": [{\"name\": \"default\", \"constraints\": "
            "[{\"contextName\": \"a\", \"operator\": \"IN\", \"values\": [");
    put_rep(&b, "\"\"", VX_LIMIT_VALUES + 1);
    put(&b, "]}]}]}]}");
    expect_limit(&b, "/features/0/strategies/0/constraints/0/values");

    put(&b, FLAG_HEAD);
    put(&b, "\"strategies\": [], \"variants\": [");
    put_rep(&b, "{}", VX_LIMIT_VARIANTS + 1);
    put(&b, "]}]}");
    expect_limit(&b, "/features/0/variants");

    put(&b, FLAG_HEAD);
    put(&b, "\"strategies\": [], \"dependencies\": [");
    put_rep(&b, "{}", VX_LIMIT_DEPENDENCIES + 1);
    put(&b, "]}]}");
    expect_limit(&b, "/features/0/dependencies");

    /* A REGEX pattern one byte over. */
    char *pat = malloc(VX_LIMIT_REGEX_BYTES + 2);
    memset(pat, 'a', VX_LIMIT_REGEX_BYTES + 1);
    pat[VX_LIMIT_REGEX_BYTES + 1] = '\0';
    put(&b, FLAG_HEAD);
    put(&b, "\"strategies\": [{\"name\": \"default\", \"constraints\": "
            "[{\"contextName\": \"a\", \"operator\": \"REGEX\", \"value\": \"");
    put(&b, pat);
    put(&b, "\"}]}]}]}");
    free(pat);
    expect_limit(&b, "/features/0/strategies/0/constraints/0/value");

    /* A variant weight above VX_LIMIT_VARIANT_WEIGHT is refused (ESCHEMA:
     * the weight's documented range, not a count). */
    snprintf(num, sizeof(num), "%lld", (long long)VX_LIMIT_VARIANT_WEIGHT + 1);
    put(&b, FLAG_HEAD);
    put(&b,
        "\"strategies\": [], \"variants\": [{\"name\": \"v\", \"weight\": ");
    put(&b, num);
    put(&b, "}]}]}");
    s = NULL;
    vx_error err;
    assert_int_equal(vx_snapshot_load(b.p, b.n, NULL, &s, &err), VX_ESCHEMA);
    assert_string_equal(err.path, "/features/0/variants/0/weight");
    free(b.p);
    b = (buf){0};
}

/* The whole document: one byte over VX_LIMIT_DOC_BYTES is refused before
 * parsing (only the first bytes of the buffer are ever read). */
static void test_limit_document_size(void **state)
{
    (void)state;
    size_t n = VX_LIMIT_DOC_BYTES + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memcpy(big, "{}", 3);
    vx_snapshot *s = NULL;
    vx_error err;
    assert_int_equal(vx_snapshot_load(big, n, NULL, &s, &err), VX_ELIMIT);
    assert_null(s);
    assert_string_equal(err.path, "");
    free(big);
}

/* ---- duplicate names, lookup ------------------------------------------- */

/* unleash.md / docs/semantics.md: a flag name that appears twice keeps the
 * later definition at the earlier position, as a JavaScript object keyed by
 * name does ({x:1, y:2, x:3} has keys x, y and x === 3). */
static void test_duplicate_flags(void **state)
{
    (void)state;
    const char *doc =
        "{\"features\": ["
        "{\"name\": \"x\", \"enabled\": false, \"strategies\": []},"
        "{\"name\": \"y\", \"enabled\": true, \"strategies\": []},"
        "{\"name\": \"x\", \"enabled\": true, \"strategies\": []},"
        "{\"name\": \"z\", \"enabled\": false, \"strategies\": []}"
        "]}";
    vx_snapshot *s = NULL;
    vx_error err;
    assert_int_equal(load(doc, &s, &err), VX_OK);
    assert_int_equal(vx_snapshot_flag_count(s), 3);
    assert_int_equal(vx_snapshot_flag_index(s, "x", 1), 0);
    assert_int_equal(vx_snapshot_flag_index(s, "y", 1), 1);
    assert_int_equal(vx_snapshot_flag_index(s, "z", 1), 2);
    vx_context ctx = {0};
    assert_true(vx_is_enabled(s, NULL, "x", 1, &ctx)); /* the later one */
    assert_true(vx_is_enabled_at(s, NULL, 0, &ctx));
    assert_false(vx_is_enabled_at(s, NULL, 2, &ctx));
    vx_snapshot_unref(s);
}

static void test_lookup(void **state)
{
    (void)state;
    /* JSON "\u0000" is a real NUL byte inside a name. */
    const char *doc =
        "{\"features\": ["
        "{\"name\": \"alpha\", \"enabled\": true, \"strategies\": []},"
        "{\"name\": \"beta\", \"enabled\": false, \"strategies\": []},"
        "{\"name\": \"a\\u0000b\", \"enabled\": true, "
        "\"strategies\": []},"
        "{\"name\": \"\", \"enabled\": true, \"strategies\": []}"
        "]}";
    vx_snapshot *s = NULL;
    vx_error err;
    assert_int_equal(load(doc, &s, &err), VX_OK);
    assert_int_equal(vx_snapshot_flag_count(s), 4);
    vx_str n0 = vx_snapshot_flag_name(s, 0);
    assert_int_equal(n0.len, 5);
    assert_memory_equal(n0.ptr, "alpha", 5);
    vx_str n2 = vx_snapshot_flag_name(s, 2);
    assert_int_equal(n2.len, 3);
    assert_memory_equal(n2.ptr, "a\0b", 3);
    assert_int_equal(vx_snapshot_flag_name(s, 3).len, 0);
    assert_non_null(vx_snapshot_flag_name(s, 3).ptr); /* present, empty */
    assert_null(vx_snapshot_flag_name(s, 4).ptr);     /* out of range */
    assert_null(vx_snapshot_flag_name(s, SIZE_MAX).ptr);

    assert_int_equal(vx_snapshot_flag_index(s, "alpha", 5), 0);
    assert_int_equal(vx_snapshot_flag_index(s, "beta", 4), 1);
    assert_int_equal(vx_snapshot_flag_index(s, "a\0b", 3), 2);
    assert_int_equal(vx_snapshot_flag_index(s, "a", 1), -1);
    assert_int_equal(vx_snapshot_flag_index(s, "", 0), 3);
    assert_int_equal(vx_snapshot_flag_index(s, "alph", 4), -1);
    assert_int_equal(vx_snapshot_flag_index(s, "ALPHA", 5), -1);
    assert_int_equal(vx_snapshot_flag_index(s, "gamma", 5), -1);

    /* By index: an out-of-range index is an unknown flag. */
    vx_context ctx = {0};
    assert_true(vx_is_enabled_at(s, NULL, 0, &ctx));
    assert_false(vx_is_enabled_at(s, NULL, 1, &ctx));
    assert_false(vx_is_enabled_at(s, NULL, 99, &ctx));
    vx_variant v;
    vx_get_variant_at(s, NULL, 99, &ctx, &v);
    assert_false(v.feature_enabled);
    assert_int_equal(v.name.len, 8);
    assert_memory_equal(v.name.ptr, "disabled", 8);
    vx_snapshot_unref(s);

    /* Many flags: every name maps back to its index. */
    buf b = {0};
    put(&b, "{\"features\": [");
    for (int i = 0; i < 3000; i++) {
        char item[96];
        snprintf(item, sizeof(item),
                 "%s{\"name\": \"flag-%d\", \"enabled\": %s, "
                 "\"strategies\": []}",
                 i ? "," : "", i, i % 3 ? "true" : "false");
        put(&b, item);
    }
    put(&b, "]}");
    assert_int_equal(vx_snapshot_load(b.p, b.n, NULL, &s, &err), VX_OK);
    free(b.p);
    assert_int_equal(vx_snapshot_flag_count(s), 3000);
    for (int i = 0; i < 3000; i++) {
        char nm[32];
        int n = snprintf(nm, sizeof(nm), "flag-%d", i);
        assert_int_equal(vx_snapshot_flag_index(s, nm, (size_t)n), i);
        vx_str got = vx_snapshot_flag_name(s, (size_t)i);
        assert_int_equal(got.len, (size_t)n);
        assert_memory_equal(got.ptr, nm, (size_t)n);
        assert_int_equal(vx_is_enabled(s, NULL, nm, (size_t)n, &ctx),
                         i % 3 != 0);
    }
    assert_int_equal(vx_snapshot_flag_index(s, "flag-3000", 9), -1);
    vx_snapshot_unref(s);

    /* An empty document and a NULL snapshot. */
    assert_int_equal(load("{\"features\": []}", &s, &err), VX_OK);
    assert_int_equal(vx_snapshot_flag_count(s), 0);
    assert_int_equal(vx_snapshot_flag_index(s, "x", 1), -1);
    assert_false(vx_is_enabled(s, NULL, "x", 1, &ctx));
    vx_snapshot_unref(s);
    assert_int_equal(vx_snapshot_flag_count(NULL), 0);
    assert_null(vx_snapshot_flag_name(NULL, 0).ptr);
    assert_int_equal(vx_snapshot_flag_index(NULL, "x", 1), -1);
}

/* ---- arguments, numbers as parameters, refcounts ------------------------ */

static void test_arguments(void **state)
{
    (void)state;
    vx_error err;
    vx_snapshot *s = (vx_snapshot *)(uintptr_t)1;
    assert_int_equal(vx_snapshot_load(NULL, 0, NULL, &s, &err), VX_EINVAL);
    assert_null(s);
    assert_int_equal(err.code, VX_EINVAL);
    assert_int_equal(vx_snapshot_load("{}", 2, NULL, NULL, &err), VX_EINVAL);
    /* `len` bounds the input: the text after it is not read. */
    const char *doc = "{\"features\": []}garbage";
    assert_int_equal(vx_snapshot_load(doc, 16, NULL, &s, NULL), VX_OK);
    vx_snapshot_unref(s);
    vx_snapshot_unref(NULL);
    assert_null(vx_snapshot_ref(NULL));
}

/* Strategy parameters may be JSON numbers or booleans, read as String()
 * writes them (docs/semantics.md): rollout 100 is "100", 0 is "0". */
static void test_number_parameters(void **state)
{
    (void)state;
    const char *doc =
        "{\"features\": ["
        "{\"name\": \"on\", \"enabled\": true, \"strategies\": [{\"name\": "
        "\"flexibleRollout\", \"parameters\": {\"rollout\": 100, \"groupId\": "
        "\"g\", \"stickiness\": \"default\"}}]},"
        "{\"name\": \"off\", \"enabled\": true, \"strategies\": [{\"name\": "
        "\"flexibleRollout\", \"parameters\": {\"rollout\": 0, \"groupId\": "
        "\"g\"}}]},"
        "{\"name\": \"b\", \"enabled\": true, \"strategies\": [{\"name\": "
        "\"userWithId\", \"parameters\": {\"userIds\": true}}]}"
        "]}";
    vx_snapshot *s = NULL;
    vx_error err;
    assert_int_equal(load(doc, &s, &err), VX_OK);
    vx_context ctx = {0};
    ctx.user_id = (vx_str){"u1", 2};
    assert_true(vx_is_enabled(s, NULL, "on", 2, &ctx));
    assert_false(vx_is_enabled(s, NULL, "off", 3, &ctx));
    ctx.user_id = (vx_str){"true", 4};
    assert_true(vx_is_enabled(s, NULL, "b", 1, &ctx));
    vx_snapshot_unref(s);
}

static void test_refcount(void **state)
{
    (void)state;
    vx_snapshot *s = NULL;
    vx_error err;
    assert_int_equal(load("{\"features\": [{\"name\": \"a\", \"enabled\": true,"
                          " \"strategies\": []}]}",
                          &s, &err),
                     VX_OK);
    vx_snapshot *t = vx_snapshot_ref(s);
    assert_ptr_equal(t, s);
    vx_snapshot_unref(s); /* one left */
    vx_context ctx = {0};
    assert_true(vx_is_enabled(t, NULL, "a", 1, &ctx)); /* still alive */
    vx_snapshot_unref(t);                              /* freed: ASan */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_error_position),
        cmocka_unit_test(test_parse_error_column_in_bytes),
        cmocka_unit_test(test_missing_rollout),
        cmocka_unit_test(test_schema_paths),
        cmocka_unit_test(test_schema_position_multiline),
        cmocka_unit_test(test_unknown_strategy_and_operator),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_limit_document_size),
        cmocka_unit_test(test_duplicate_flags),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_number_parameters),
        cmocka_unit_test(test_refcount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
