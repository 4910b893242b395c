/* `vexil eval`: offline evaluation of a features document for a list of
 * contexts, one JSON line per context with the answers of the Unleash SDK's
 * isEnabled and getVariant for every flag (or the --flag ones). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_FLAGS_ARG 1024

static void usage(FILE *out)
{
    fputs(
        "usage: vexil eval --features FILE (--contexts FILE | --context JSON)\n"
        "                  [--flag NAME]...\n"
        "\n"
        "Evaluates every flag of an Unleash client-features document for each\n"
        "context and prints one JSON object per context:\n"
        "  {\"<flag>\": {\"enabled\": bool, \"variant\": {\"name\", "
        "\"enabled\",\n"
        "              \"feature_enabled\", \"payload\"?}}, ...}\n"
        "\n"
        "  --features FILE   the features document ('-' = standard input)\n"
        "  --contexts FILE   a JSON array of contexts ('-' = standard input)\n"
        "  --context JSON    one inline context object\n"
        "  --flag NAME       only this flag (repeatable)\n"
        "\n"
        "Contexts use the Unleash SDK field names (userId, sessionId,\n"
        "remoteAddress, environment, appName, currentTime, properties).\n"
        "Exit status: 0 success, 2 bad usage or malformed input.\n",
        out);
}

static void on_warn(void *ud, const char *path, uint32_t line, uint32_t col,
                    const char *msg)
{
    const char *file = ud;
    fprintf(stderr, "vexil: warning: %s:%u:%u: %s: %s\n", file, line, col, path,
            msg);
}

/* xorshift32, seeded from the clock: only `random` stickiness and
 * gradualRolloutRandom draw from it, as they draw from Math.random. */
static uint32_t cli_random(void *ud)
{
    uint32_t *s = ud;
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static void print_one(const vx_snapshot *snap, vx_scratch *sc,
                      const vx_context *ctx, size_t idx, bool *first)
{
    vx_str name = vx_snapshot_flag_name(snap, idx);
    vx_variant v;
    bool on = vx_is_enabled_at(snap, sc, idx, ctx);
    vx_get_variant_at(snap, sc, idx, ctx, &v);
    if (!*first)
        fputc(',', stdout);
    *first = false;
    cli_json_string(stdout, name.ptr, name.len);
    printf(":{\"enabled\":%s,\"variant\":{\"name\":", on ? "true" : "false");
    cli_json_string(stdout, v.name.ptr, v.name.len);
    printf(",\"enabled\":%s,\"feature_enabled\":%s",
           v.enabled ? "true" : "false", v.feature_enabled ? "true" : "false");
    if (v.payload_type.ptr) {
        fputs(",\"payload\":{\"type\":", stdout);
        cli_json_string(stdout, v.payload_type.ptr, v.payload_type.len);
        fputs(",\"value\":", stdout);
        cli_json_string(stdout, v.payload_value.ptr, v.payload_value.len);
        fputc('}', stdout);
    }
    fputs("}}", stdout);
}

int cli_eval_main(int argc, char **argv)
{
    const char *features = NULL, *contexts = NULL, *inline_ctx = NULL;
    const char *flags[MAX_FLAGS_ARG];
    size_t nflags = 0;
    static const struct option longopts[] = {
        {"features", required_argument, NULL, 'f'},
        {"contexts", required_argument, NULL, 'c'},
        {"context", required_argument, NULL, 'C'},
        {"flag", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    for (;;) {
        int opt = getopt_long(argc, argv, "f:c:C:n:h", longopts, NULL);
        if (opt == -1)
            break;
        switch (opt) {
        case 'f': features = optarg; break;
        case 'c': contexts = optarg; break;
        case 'C': inline_ctx = optarg; break;
        case 'n':
            if (nflags == MAX_FLAGS_ARG) {
                fprintf(stderr, "vexil eval: at most %d --flag options\n",
                        MAX_FLAGS_ARG);
                return CLI_EXIT_USAGE;
            }
            flags[nflags++] = optarg;
            break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: usage(stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vexil eval: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!features || (!contexts == !inline_ctx)) {
        fprintf(stderr, "vexil eval: need --features and exactly one of "
                        "--contexts or --context\n");
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (contexts && strcmp(features, "-") == 0 && strcmp(contexts, "-") == 0) {
        fprintf(stderr, "vexil eval: only one of --features and --contexts "
                        "can read standard input\n");
        return CLI_EXIT_USAGE;
    }

    int rc = CLI_EXIT_USAGE;
    char *ftext = NULL, *ctext = NULL;
    vx_snapshot *snap = NULL;
    vx_context_set *cs = NULL;
    vx_scratch *sc = NULL;
    size_t flen, clen;
    vx_error err;

    ftext = cli_read_file(features, &flen);
    if (!ftext)
        goto out;
    vx_load_options lo = {on_warn, (void *)features};
    if (vx_snapshot_load(ftext, flen, &lo, &snap, &err) != VX_OK) {
        cli_print_error(features, &err);
        goto out;
    }
    const char *cname = contexts ? contexts : "--context";
    if (contexts) {
        ctext = cli_read_file(contexts, &clen);
        if (!ctext)
            goto out;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (vx_context_set_parse(contexts ? ctext : inline_ctx,
                             contexts ? clen : strlen(inline_ctx), now_ms, &cs,
                             &err) != VX_OK) {
        cli_print_error(cname, &err);
        goto out;
    }
    size_t *sel = NULL;
    size_t nsel = nflags ? nflags : vx_snapshot_flag_count(snap);
    sel = malloc(sizeof(*sel) * (nsel ? nsel : 1));
    sc = vx_scratch_new();
    if (!sel || !sc) {
        fprintf(stderr, "vexil eval: out of memory\n");
        free(sel);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    for (size_t i = 0; i < nsel; i++) {
        if (!nflags) {
            sel[i] = i;
            continue;
        }
        int64_t at = vx_snapshot_flag_index(snap, flags[i], strlen(flags[i]));
        if (at < 0) {
            fprintf(stderr, "vexil eval: no flag named '%s' in %s\n", flags[i],
                    features);
            free(sel);
            goto out;
        }
        sel[i] = (size_t)at;
    }
    char host[256] = {0};
    const char *envhost = getenv("HOSTNAME");
    if (envhost && *envhost)
        snprintf(host, sizeof(host), "%s", envhost);
    else if (gethostname(host, sizeof(host) - 1) != 0)
        host[0] = '\0';
    uint32_t seed = (uint32_t)now.tv_nsec | 1u;
    for (size_t c = 0; c < vx_context_set_count(cs); c++) {
        vx_context ctx = *vx_context_set_get(cs, c);
        ctx.random = cli_random;
        ctx.random_ud = &seed;
        if (host[0])
            ctx.hostname = (vx_str){host, strlen(host)};
        bool first = true;
        fputc('{', stdout);
        for (size_t i = 0; i < nsel; i++)
            print_one(snap, sc, &ctx, sel[i], &first);
        fputs("}\n", stdout);
    }
    free(sel);
    rc = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
    vx_scratch_free(sc);
    vx_context_set_free(cs);
    vx_snapshot_unref(snap);
    free(ctext);
    free(ftext);
    return rc;
}
