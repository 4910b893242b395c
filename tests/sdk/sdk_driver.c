/* A line-driven host for libvexil-client, used by tests/sdk/sdk.test.js to
 * drive the C SDK against the real server: the test starts and stops the
 * server and sends one command per line; each answer is one line on
 * standard output. Log lines and events go to standard error.
 *
 *   sdk_driver URL TOKEN poll|stream REFRESH_MS METRICS_MS BACKUP|- APP
 *
 * Commands:
 *   ready MS            -> "ready 1" once ready within MS, else "ready 0"
 *   eval FLAG USER      -> "eval on|off VARIANT" (counted in the metrics)
 *   wait FLAG on|off MS -> "wait ok" once FLAG has that state, else
 *                          "wait timeout"; polls without counting
 *   stats               -> "stats key=value ..." (vx_client_stats)
 *   flush MS            -> "flush ok" once one more bucket was accepted
 *   quit                -> frees the client (final metrics), "bye" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vexil/client.h"

static void log_line(void *ud, vx_client_log_level level, const char *msg)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    (void)ud;
    fprintf(stderr, "log %s: %s\n", names[level], msg);
}

static void on_event(void *ud, vx_client *c, vx_client_event ev)
{
    (void)ud;
    (void)c;
    fprintf(stderr, "event %d\n", (int)ev);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long number(const char *s)
{
    char *end = NULL;
    long v = s ? strtol(s, &end, 10) : -1;
    return (s && *s && end && !*end) ? v : -1;
}

/* The flag's state without counting it (a raw snapshot evaluation). */
static bool peek(vx_client *c, const char *flag)
{
    vx_snapshot *s = vx_client_acquire(c);
    vx_context ctx = {0};
    ctx.user_id = (vx_str){"peek", 4};
    ctx.now_ms = vx_client_now_ms();
    bool on = s && vx_is_enabled(s, NULL, flag, strlen(flag), &ctx);
    vx_snapshot_unref(s);
    return on;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: sdk_driver URL TOKEN poll|stream REFRESH_MS "
                        "METRICS_MS BACKUP|- APP\n");
        return 2;
    }
    vx_client_config cfg = {0};
    cfg.url = argv[1];
    cfg.token = argv[2];
    cfg.mode = strcmp(argv[3], "stream") == 0 ? VX_CLIENT_STREAMING
                                              : VX_CLIENT_POLLING;
    cfg.refresh_interval_ms = (uint32_t)number(argv[4]);
    cfg.metrics_interval_ms = (uint32_t)number(argv[5]);
    cfg.backup_path = strcmp(argv[6], "-") == 0 ? NULL : argv[6];
    cfg.app_name = argv[7];
    cfg.timeout_ms = 2000;
    cfg.log = log_line;
    cfg.log_level = VX_CLIENT_LOG_DEBUG;
    cfg.on_event = on_event;
    vx_client *c = NULL;
    vx_error err;
    if (vx_client_new(&cfg, &c, &err) != VX_OK) {
        printf("error %s %s\n", err.path, err.message);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    char line[1024];
    vx_scratch *sc = vx_scratch_new();
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *save = NULL;
        char *cmd = strtok_r(line, " ", &save);
        char *a1 = cmd ? strtok_r(NULL, " ", &save) : NULL;
        char *a2 = a1 ? strtok_r(NULL, " ", &save) : NULL;
        char *a3 = a2 ? strtok_r(NULL, " ", &save) : NULL;
        if (!cmd)
            continue;
        if (strcmp(cmd, "ready") == 0) {
            long ms = number(a1);
            printf("ready %d\n",
                   vx_client_wait_ready(c, ms < 0 ? 0 : (uint32_t)ms));
        } else if (strcmp(cmd, "eval") == 0 && a2) {
            vx_context ctx = {0};
            ctx.user_id = (vx_str){a2, strlen(a2)};
            ctx.now_ms = vx_client_now_ms();
            bool on = vx_client_is_enabled(c, sc, a1, strlen(a1), &ctx);
            vx_snapshot *s = vx_client_acquire(c);
            vx_variant v;
            vx_client_get_variant(c, s, sc, a1, strlen(a1), &ctx, &v);
            printf("eval %s %.*s\n", on ? "on" : "off", (int)v.name.len,
                   v.name.ptr);
            vx_snapshot_unref(s);
        } else if (strcmp(cmd, "wait") == 0 && a3) {
            bool want = strcmp(a2, "on") == 0;
            long ms = number(a3);
            bool ok = false;
            for (long t = 0; t <= ms; t += 10) {
                if (vx_client_ready(c) && peek(c, a1) == want) {
                    ok = true;
                    break;
                }
                sleep_ms(10);
            }
            printf("wait %s\n", ok ? "ok" : "timeout");
        } else if (strcmp(cmd, "stats") == 0) {
            vx_client_stats s;
            vx_client_get_stats(c, &s);
            printf("stats fetches=%llu not_modified=%llu fetch_errors=%llu "
                   "stream_connects=%llu stream_events=%llu updates=%llu "
                   "metrics_sent=%llu metrics_dropped=%llu backup_writes=%llu "
                   "ready=%d synchronized=%d from_backup=%d mode=%s\n",
                   (unsigned long long)s.fetches,
                   (unsigned long long)s.not_modified,
                   (unsigned long long)s.fetch_errors,
                   (unsigned long long)s.stream_connects,
                   (unsigned long long)s.stream_events,
                   (unsigned long long)s.updates,
                   (unsigned long long)s.metrics_sent,
                   (unsigned long long)s.metrics_dropped,
                   (unsigned long long)s.backup_writes, s.ready, s.synchronized,
                   s.from_backup,
                   s.mode == VX_CLIENT_STREAMING ? "stream" : "poll");
        } else if (strcmp(cmd, "flush") == 0) {
            long ms = number(a1);
            vx_client_stats s;
            vx_client_get_stats(c, &s);
            uint64_t before = s.metrics_sent;
            vx_client_flush_metrics(c);
            bool ok = false;
            for (long t = 0; t <= ms; t += 10) {
                vx_client_get_stats(c, &s);
                if (s.metrics_sent > before) {
                    ok = true;
                    break;
                }
                sleep_ms(10);
            }
            printf("flush %s\n", ok ? "ok" : "timeout");
        } else if (strcmp(cmd, "quit") == 0) {
            break;
        } else {
            printf("error unknown command %s\n", cmd);
        }
    }
    vx_scratch_free(sc);
    vx_client_free(c);
    printf("bye\n");
    return 0;
}
