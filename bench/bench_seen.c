/* bench_seen: the cost the recently seen contexts (src/server/seen.c) add
 * to every frontend/OFREP evaluation (one record: a copy and a lock), and
 * the targeting dry run over a full ring (1,000 contexts through libvexil),
 * single-threaded; median of 7 rounds. */
#include <stdio.h>
#include <string.h>

#include "base/limits.h"
#include "bench_util.h"
#include "server/seen.h"

#define ROUNDS  7
#define RECORDS 200000

static vx_str S(const char *s)
{
    vx_str v = {s, strlen(s)};
    return v;
}

int main(void)
{
    server_seen *s = NULL;
    vx_snapshot *snap = NULL;
    static const char doc[] =
        "{\"version\":2,\"features\":[{\"name\":\"f\",\"enabled\":true,"
        "\"strategies\":[{\"name\":\"flexibleRollout\",\"parameters\":{"
        "\"rollout\":\"50\",\"stickiness\":\"default\",\"groupId\":\"f\"},"
        "\"constraints\":[{\"contextName\":\"country\",\"operator\":\"IN\","
        "\"values\":[\"TH\",\"VN\"]},{\"contextName\":\"appVersion\","
        "\"operator\":\"SEMVER_GTE\",\"value\":\"2.3.0\"}]}]}]}";
    if (server_seen_new(&s) != VX_OK ||
        vx_snapshot_load(doc, strlen(doc), NULL, &snap, NULL) != VX_OK) {
        fprintf(stderr, "bench_seen: setup failed\n");
        return 1;
    }
    /* A typical frontend context: userId, sessionId, remoteAddress,
     * environment, appName and four properties. */
    char user[32];
    vx_prop props[4] = {{S("country"), S("TH")},
                        {S("plan"), S("enterprise")},
                        {S("appVersion"), S("2.4.1")},
                        {S("locale"), S("th-TH")}};
    vx_context c;
    memset(&c, 0, sizeof(c));
    c.user_id = S(user);
    c.session_id = S("2f1c8e0a-5b8c-4d5e-9f00-1a2b3c4d5e6f");
    c.remote_address = S("203.0.113.7");
    c.environment = S("production");
    c.app_name = S("web");
    c.props = props;
    c.nprops = 4;
    double rec[ROUNDS], dry[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        uint64_t t0 = bench_now_ns();
        for (int i = 0; i < RECORDS; i++) {
            snprintf(user, sizeof(user), "user-%d", i);
            c.user_id.len = strlen(user);
            server_seen_record(s, "production", "*", &c);
        }
        rec[r] = (double)(bench_now_ns() - t0) / RECORDS;
        size_t m = 0, t = 0;
        t0 = bench_now_ns();
        server_seen_dry_run(s, "default", "production", snap, &m, &t);
        dry[r] = (double)(bench_now_ns() - t0) / 1e3;
        if (t != VX_LIMIT_SEEN_CONTEXTS) {
            fprintf(stderr, "bench_seen: %zu contexts kept\n", t);
            return 1;
        }
    }
    printf("seen: record one context (9 fields, ring full): %.0f ns "
           "(median of %d rounds of %d)\n",
           bench_median(rec, ROUNDS), ROUNDS, RECORDS);
    printf("seen: dry run over %d contexts: %.1f us\n", VX_LIMIT_SEEN_CONTEXTS,
           bench_median(dry, ROUNDS));
    vx_snapshot_unref(snap);
    server_seen_free(&s);
    return 0;
}
