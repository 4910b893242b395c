/* Embedding libvexil: load a features document, publish it through an
 * engine, evaluate a flag for a context, and swap in an update.
 * Build: part of the main build (build/examples/embed); run with a features
 * file: embed examples/features.json new-checkout u-9 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vexil/vexil.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: embed FEATURES.json FLAG USER_ID\n");
        return 2;
    }
    size_t len;
    char *json = slurp(argv[1], &len);
    if (!json) {
        fprintf(stderr, "embed: cannot read %s\n", argv[1]);
        return 1;
    }
    vx_snapshot *snap = NULL;
    vx_error err;
    if (vx_snapshot_load(json, len, NULL, &snap, &err) != VX_OK) {
        fprintf(stderr, "embed: %s:%u:%u: %s: %s\n", argv[1], err.line,
                err.column, err.path, err.message);
        free(json);
        return 2;
    }
    free(json);

    /* The owner publishes snapshots; request threads acquire and release. */
    vx_engine *engine = vx_engine_new();
    vx_engine_swap_take(engine, snap);

    vx_snapshot *cur = vx_engine_acquire(engine);
    vx_scratch *sc = vx_scratch_new();
    vx_prop props[] = {
        {{"country", 7}, {"TH", 2}},
        {{"appVersion", 10}, {"2.4.1", 5}},
    };
    vx_context ctx = {0};
    ctx.user_id = (vx_str){argv[3], strlen(argv[3])};
    ctx.props = props;
    ctx.nprops = 2;
    ctx.now_ms =
        (int64_t)time(NULL) * 1000; /* the engine never reads a clock */

    vx_variant v;
    bool on = vx_is_enabled(cur, sc, argv[2], strlen(argv[2]), &ctx);
    vx_get_variant(cur, sc, argv[2], strlen(argv[2]), &ctx, &v);
    printf("%s for %s: %s, variant %.*s\n", argv[2], argv[3], on ? "on" : "off",
           (int)v.name.len, v.name.ptr);

    /* A delta: the flag is removed; the snapshot we hold is unaffected. */
    char delta[512];
    snprintf(delta, sizeof(delta),
             "{\"events\":[{\"eventId\":2,\"type\":\"feature-removed\","
             "\"featureName\":\"%s\",\"project\":\"default\"}]}",
             argv[2]);
    vx_snapshot *next = NULL;
    if (vx_snapshot_apply_delta(cur, delta, strlen(delta), NULL, &next, &err) ==
        VX_OK) {
        vx_engine_swap_take(engine, next);
        vx_snapshot *now = vx_engine_acquire(engine);
        printf("after removal: %s, old snapshot still says %s\n",
               vx_is_enabled(now, sc, argv[2], strlen(argv[2]), &ctx) ? "on"
                                                                      : "off",
               vx_is_enabled(cur, sc, argv[2], strlen(argv[2]), &ctx) ? "on"
                                                                      : "off");
        vx_snapshot_unref(now);
    }
    vx_scratch_free(sc);
    vx_snapshot_unref(cur);
    vx_engine_free(engine);
    return 0;
}
