/* Runs every `tests` and `variantTests` case of every file listed in the
 * Unleash client-specification index against libvexil. The vectors come
 * from the npm package @unleash/client-specification, pinned in
 * tests/spec/package-lock.json and installed by tests/spec/install.sh
 * (VX_SPEC_DIR, set by CMake, or $VEXIL_SPECS). They are read at test time
 * and never copied; a missing directory fails the run loudly. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "vexil/vexil.h"

#ifndef VX_SPEC_DIR
#define VX_SPEC_DIR                                                            \
    "tests/spec/node_modules/@unleash/client-specification/specifications"
#endif

#define MAX_FILES 64

static const char *spec_dir(void)
{
    const char *d = getenv("VEXIL_SPECS");
    return d && *d ? d : VX_SPEC_DIR;
}

static char g_names[MAX_FILES][128];
static size_t g_checked; /* assertions run, across all files */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *load_json(const char *file)
{
    char path[1024];
    json_error_t jerr;
    snprintf(path, sizeof(path), "%s/%s", spec_dir(), file);
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        fail_msg("cannot read spec file %s: %s (run tests/spec/install.sh, "
                 "or set VEXIL_SPECS)",
                 path, jerr.text);
    return j;
}

static void context_of(const json_t *ctx, vx_context_set **out)
{
    char *text = json_dumps(ctx, JSON_COMPACT);
    vx_error err;
    vx_status st =
        vx_context_set_parse(text, strlen(text), now_ms(), out, &err);
    if (st != VX_OK)
        fail_msg("context %s: %s at %s", text, err.message, err.path);
    free(text);
}

static void run_file(void **state)
{
    const char *file = *state;
    json_t *spec = load_json(file);
    char *state_text = json_dumps(json_object_get(spec, "state"), JSON_COMPACT);
    vx_snapshot *snap = NULL;
    vx_error err;
    vx_status st =
        vx_snapshot_load(state_text, strlen(state_text), NULL, &snap, &err);
    if (st != VX_OK)
        fail_msg("%s: state does not load: %s at %s", file, err.message,
                 err.path);
    vx_scratch *sc = vx_scratch_new();
    assert_non_null(sc);
    size_t failures = 0;

    json_t *tests = json_object_get(spec, "tests");
    size_t i;
    json_t *t;
    json_array_foreach (tests, i, t) {
        const char *name = json_string_value(json_object_get(t, "toggleName"));
        bool want = json_is_true(json_object_get(t, "expectedResult"));
        vx_context_set *cs;
        context_of(json_object_get(t, "context"), &cs);
        bool got = vx_is_enabled(snap, sc, name, strlen(name),
                                 vx_context_set_get(cs, 0));
        if (got != want) {
            print_error("%s: %s: isEnabled(%s) = %d, want %d\n", file,
                        json_string_value(json_object_get(t, "description")),
                        name, got, want);
            failures++;
        }
        g_checked++;
        vx_context_set_free(cs);
    }

    json_t *vtests = json_object_get(spec, "variantTests");
    json_array_foreach (vtests, i, t) {
        const char *name = json_string_value(json_object_get(t, "toggleName"));
        const json_t *want = json_object_get(t, "expectedResult");
        vx_context_set *cs;
        context_of(json_object_get(t, "context"), &cs);
        vx_variant v;
        vx_get_variant(snap, sc, name, strlen(name), vx_context_set_get(cs, 0),
                       &v);
        const char *wname = json_string_value(json_object_get(want, "name"));
        bool wen = json_is_true(json_object_get(want, "enabled"));
        const json_t *wfe = json_object_get(want, "feature_enabled");
        const json_t *wp = json_object_get(want, "payload");
        bool ok = strlen(wname) == v.name.len &&
                  memcmp(wname, v.name.ptr, v.name.len) == 0 &&
                  wen == v.enabled;
        if (wfe)
            ok = ok && json_is_true(wfe) == v.feature_enabled;
        if (wp) {
            const char *pt = json_string_value(json_object_get(wp, "type"));
            const char *pv = json_string_value(json_object_get(wp, "value"));
            ok = ok && v.payload_type.ptr && strlen(pt) == v.payload_type.len &&
                 memcmp(pt, v.payload_type.ptr, v.payload_type.len) == 0 &&
                 strlen(pv) == v.payload_value.len &&
                 memcmp(pv, v.payload_value.ptr, v.payload_value.len) == 0;
        } else {
            ok = ok && v.payload_type.ptr == NULL;
        }
        if (!ok) {
            print_error(
                "%s: %s: getVariant(%s) = {%.*s, enabled %d, fe %d}, want %s\n",
                file, json_string_value(json_object_get(t, "description")),
                name, (int)v.name.len, v.name.ptr, v.enabled, v.feature_enabled,
                json_dumps(want, JSON_COMPACT));
            failures++;
        }
        g_checked++;
        vx_context_set_free(cs);
    }
    vx_scratch_free(sc);
    vx_snapshot_unref(snap);
    free(state_text);
    json_decref(spec);
    assert_int_equal(failures, 0);
}

static void all_assertions_ran(void **state)
{
    (void)state;
    /* 227 tests + 52 variantTests in @unleash/client-specification 6.1.0
     * (tests/spec/package-lock.json). */
    assert_int_equal(g_checked, 279);
}

int main(void)
{
    json_t *index = load_json("index.json");
    if (!index || !json_is_array(index) || json_array_size(index) == 0 ||
        json_array_size(index) > MAX_FILES) {
        fprintf(stderr, "FATAL: no usable index.json under %s\n", spec_dir());
        return 1;
    }
    struct CMUnitTest tests[MAX_FILES + 1];
    size_t n = 0, i;
    json_t *f;
    json_array_foreach (index, i, f) {
        snprintf(g_names[n], sizeof(g_names[n]), "%s", json_string_value(f));
        tests[n] =
            (struct CMUnitTest){g_names[n], run_file, NULL, NULL, g_names[n]};
        n++;
    }
    tests[n++] = (struct CMUnitTest){"all 279 assertions ran",
                                     all_assertions_ran, NULL, NULL, NULL};
    json_decref(index);
    return _cmocka_run_group_tests("unleash_client_spec", tests, n, NULL, NULL);
}
