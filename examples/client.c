/* The C SDK in a small program: connect to a Vexil server with a client
 * token, then print a flag's state for a user whenever it changes.
 *
 *   VEXIL_URL=http://127.0.0.1:4242/api VEXIL_TOKEN='default:production.…' \
 *     client new-checkout [USER_ID]
 *
 * VEXIL_MODE=streaming follows the server's event stream instead of
 * polling every second; VEXIL_BACKUP=path keeps a backup file to start from
 * when the server is down. Ctrl-C stops it (posting the usage counted). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vexil/client.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void log_line(void *ud, vx_client_log_level level, const char *msg)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    (void)ud;
    fprintf(stderr, "client: %s: %s\n", names[level], msg);
}

int main(int argc, char **argv)
{
    const char *url = getenv("VEXIL_URL");
    const char *token = getenv("VEXIL_TOKEN");
    if (argc < 2 || argc > 3 || !url || !token) {
        fprintf(stderr, "usage: VEXIL_URL=... VEXIL_TOKEN=... client FLAG "
                        "[USER_ID]\n");
        return 2;
    }
    const char *flag = argv[1];
    const char *user = argc == 3 ? argv[2] : "anonymous";
    const char *mode = getenv("VEXIL_MODE");

    vx_client_config cfg = {0};
    cfg.url = url;
    cfg.token = token;
    cfg.app_name = "vexil-example";
    cfg.mode = mode && strcmp(mode, "streaming") == 0 ? VX_CLIENT_STREAMING
                                                      : VX_CLIENT_POLLING;
    cfg.refresh_interval_ms = 1000;
    cfg.backup_path = getenv("VEXIL_BACKUP");
    cfg.log = log_line;
    cfg.log_level = VX_CLIENT_LOG_INFO;

    vx_client *client = NULL;
    vx_error err;
    if (vx_client_new(&cfg, &client, &err) != VX_OK) {
        fprintf(stderr, "client: %s: %s\n", err.path, err.message);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (!vx_client_wait_ready(client, 5000))
        fprintf(stderr,
                "client: no flags yet; answering off until they come\n");

    vx_scratch *sc = vx_scratch_new();
    int last = -1; /* nothing printed yet */
    char last_variant[128] = "";
    while (!stop) {
        vx_context ctx = {0};
        ctx.user_id = (vx_str){user, strlen(user)};
        ctx.now_ms = vx_client_now_ms();
        vx_snapshot *s = vx_client_acquire(client);
        vx_variant v;
        vx_client_get_variant(client, s, sc, flag, strlen(flag), &ctx, &v);
        int on = v.feature_enabled;
        char variant[128];
        snprintf(variant, sizeof(variant), "%.*s", (int)v.name.len, v.name.ptr);
        if (on != last || strcmp(variant, last_variant) != 0) {
            printf("%s for %s: %s (variant %s)\n", flag, user,
                   on ? "on" : "off", variant);
            fflush(stdout);
            last = on;
            snprintf(last_variant, sizeof(last_variant), "%s", variant);
        }
        vx_snapshot_unref(s);
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    vx_scratch_free(sc);
    vx_client_free(client);
    return 0;
}
