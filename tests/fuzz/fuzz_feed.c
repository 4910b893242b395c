/* libFuzzer target for a hub fed from outside (src/hub/feed.c): what an
 * edge node applies from an upstream's stream. The input is two documents
 * (split at the first NUL, or in half), applied in turn to one slot as
 * revisions 1 and 2. Invariants checked: nothing crashes or leaks; a
 * slot that holds a state exports a hydration that another slot takes
 * back whole and serves the same features body (plain and for a tag
 * filter) byte for byte, as the edge's snapshot must. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "hub/hub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static hub *fed; /* one for the whole run: it starts a thread */

static char *body_of(const char *key, const char *tag)
{
    hub_state *s = NULL;
    if (hub_acquire(fed, key, &s) != VX_OK)
        return NULL;
    hub_scope sc = {.projects = "*", .tag = tag};
    const hub_body *b = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    char *out = NULL;
    if (hub_state_features_body(s, &sc, false, NULL, &b, &err) == VX_OK) {
        out = malloc(b->len + 1);
        if (out) {
            memcpy(out, b->bytes, b->len);
            out[b->len] = '\0';
        }
    }
    hub_state_release(s);
    return out;
}

static void same(const char *tag)
{
    char *a = body_of("k", tag), *b = body_of("r", tag);
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0)) {
        fprintf(stderr, "export round trip differs:\n%s\n%s\n", a ? a : "-",
                b ? b : "-");
        abort();
    }
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fed) {
        hub_config cfg = {.fresh_ms = 1};
        vx_error err;
        if (hub_new_fed(&cfg, &fed, &err) != VX_OK)
            abort();
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t first = nul ? (size_t)(nul - data) : size / 2;
    size_t rest = nul ? size - first - 1 : size - first;
    const char *second = (const char *)data + (nul ? first + 1 : first);
    vx_error err;
    memset(&err, 0, sizeof(err));
    hub_feed_drop(fed, "k");
    hub_feed_drop(fed, "r");
    (void)hub_feed_apply(fed, "k", "production", (const char *)data, first, 1,
                         &err);
    (void)hub_feed_apply(fed, "k", "production", second, rest, 2, &err);
    char *text = NULL, env[64];
    size_t len = 0;
    int64_t rev = 0;
    if (hub_feed_export(fed, "k", &text, &len, &rev, env, sizeof(env)) != VX_OK)
        return 0;
    if (hub_feed_apply(fed, "r", env, text, len, rev, &err) != VX_OK) {
        fprintf(stderr, "an export is refused: %s\n%.*s\n", err.message,
                (int)len, text);
        abort();
    }
    vx__free(text);
    same(NULL);
    same("simple:x");
    return 0;
}
