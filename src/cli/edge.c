/* `vexil edge`: an SDK relay without a database (docs/edge.md). Settings
 * resolve as `vexil serve`'s do: the flag, else the VEXIL_* environment
 * variable, else the config file (--config / VEXIL_EDGE_CONFIG: `key =
 * value` lines), else the default. Tokens add up: every --token, then
 * VEXIL_EDGE_TOKENS (comma-separated), then each `token = ...` line. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "edge/edge.h"
#include "server/server.h"

#define ECONF_LINE_MAX  4096 /* one config-file line */
#define ECONF_LINES_MAX 1000 /* lines in one config file */
#define ETOKENS_MAX     256  /* tokens given */

enum {
    E_UPSTREAM,
    E_TOKEN, /* repeatable */
    E_HOST,
    E_PORT,
    E_DATA_DIR,
    E_THREADS,
    E_MAX_CONNECTIONS,
    E_MAX_STREAMS,
    E_MAX_STREAMS_PER_TOKEN,
    E_FRONTEND_ORIGINS,
    E_OFREP_RATE,
    E_FORWARD_MS,
    E_QUEUE_BYTES,
    E_POLL_MS,
    E_LOG_REQUESTS,
    E_HEADER_TIMEOUT_MS,
    E_BODY_TIMEOUT_MS,
    E_MAX_PER_ADDRESS,
    E_CONFIG,
    NE
};

static const struct esetting {
    const char *name; /* --name and config key */
    const char *env;  /* environment variable */
    const char *arg;  /* placeholder */
    const char *def;  /* default, NULL = none */
    const char *help; /* one line */
} esettings[NE] = {
    {"upstream", "VEXIL_UPSTREAM", "URL", NULL,
     "the Vexil server (or edge) to follow (required)"},
    {"token", "VEXIL_EDGE_TOKENS", "TOKEN", NULL,
     "a token to follow (repeat; env: comma-separated)"},
    {"host", "VEXIL_HOST", "ADDR", "127.0.0.1", "address to listen on"},
    {"port", "VEXIL_PORT", "N", "3063", "TCP port (0 = any free port)"},
    {"data-dir", "VEXIL_EDGE_DATA_DIR", "DIR", "./data/edge",
     "snapshots, token cache, queued reports (\"\" = memory only)"},
    {"threads", "VEXIL_THREADS", "N", "0", "listener threads (0 = cores)"},
    {"max-connections", "VEXIL_MAX_CONNECTIONS", "N", "16384",
     "concurrent connections"},
    {"max-streams", "VEXIL_MAX_STREAMS", "N", "0",
     "streaming connections (0 = 7/8 of max-connections)"},
    {"max-streams-per-token", "VEXIL_MAX_STREAMS_PER_TOKEN", "N", "0",
     "streams of one token (0 = 3/4 of max-streams)"},
    {"frontend-origins", "VEXIL_FRONTEND_ORIGINS", "LIST", "*",
     "CORS origins of /api/frontend and OFREP"},
    {"ofrep-rate", "VEXIL_OFREP_RATE", "N", "0",
     "OFREP requests/s per token (0 = no limit)"},
    {"forward-ms", "VEXIL_EDGE_FORWARD_MS", "MS", "60000",
     "SDK reports forwarded upstream at most this often"},
    {"queue-bytes", "VEXIL_EDGE_QUEUE_BYTES", "BYTES", "64m",
     "reports kept on disk for the upstream at most (k, m)"},
    {"poll-ms", "VEXIL_EDGE_POLL_MS", "MS", "1000",
     "delta polling period when the upstream refuses streams"},
    {"log-requests", "VEXIL_LOG_REQUESTS", "on|off", "on",
     "one log line per request"},
    {"header-timeout-ms", "VEXIL_HEADER_TIMEOUT_MS", "MS", "10000",
     "a client's request headers, at most"},
    {"body-timeout-ms", "VEXIL_BODY_TIMEOUT_MS", "MS", "30000",
     "then its body, at most"},
    {"max-per-address", "VEXIL_MAX_PER_ADDRESS", "N", "0",
     "connections from one address (0 = no cap)"},
    {"config", "VEXIL_EDGE_CONFIG", "FILE", NULL,
     "config file of key = value lines"},
};

typedef struct econf {
    const char *flag[NE];            /* from argv */
    char *file[NE];                  /* from the file (owned) */
    char where_file[NE][300];        /* "FILE:LINE" */
    const char *val[NE];             /* the winner */
    const char *where[NE];           /* where it came from */
    const char *tokens[ETOKENS_MAX]; /* every token, in order */
    size_t ntokens;
    char *owned[ETOKENS_MAX]; /* token strings this file allocated */
    size_t nowned;
} econf;

static void edge_usage(FILE *out)
{
    fputs("usage: vexil edge --upstream URL --token TOKEN [--token T2 ...] "
          "[options]\n"
          "\n"
          "Serves SDKs what the upstream serves them, from memory, without a\n"
          "database: the Unleash client and frontend APIs, delta, streaming\n"
          "and OFREP, /health, /ready and /metrics. Reports are forwarded\n"
          "upstream in batches. See docs/edge.md.\n"
          "Each setting comes from its flag, else its environment variable,\n"
          "else the config file, else the default.\n"
          "\n",
          out);
    for (int i = 0; i < NE; i++) {
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s %s", esettings[i].name,
                 esettings[i].arg);
        fprintf(out, "  %-28s %-28s %s\n", flag, esettings[i].env,
                esettings[i].def ? esettings[i].def : "(none)");
        fprintf(out, "  %-28s %s\n", "", esettings[i].help);
    }
    fputs("\nSIGINT or SIGTERM stops gracefully (reports are kept on disk).\n",
          out);
}

static char *etrim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                 s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static bool add_token(econf *c, const char *t, bool own)
{
    if (!*t)
        return true;
    if (c->ntokens == ETOKENS_MAX) {
        fprintf(stderr, "vexil: edge: more than %d tokens\n", ETOKENS_MAX);
        return false;
    }
    char *copy = own ? strdup(t) : NULL;
    if (own && !copy)
        return false;
    if (copy)
        c->owned[c->nowned++] = copy;
    c->tokens[c->ntokens++] = copy ? copy : t;
    return true;
}

static bool read_file(econf *c, const char *path, const char ***file_tokens,
                      size_t *nft)
{
    char line[ECONF_LINE_MAX];
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "vexil: cannot open config file %s: %s\n", path,
                strerror(errno));
        return false;
    }
    bool ok = true;
    for (unsigned no = 1; ok && fgets(line, sizeof(line), f); no++) {
        if (no > ECONF_LINES_MAX || (!strchr(line, '\n') && !feof(f))) {
            fprintf(stderr, "vexil: %s:%u: too many or too long lines\n", path,
                    no);
            ok = false;
            break;
        }
        char *s = etrim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(stderr, "vexil: %s:%u: expected 'key = value'\n", path, no);
            ok = false;
            break;
        }
        *eq = '\0';
        char *key = etrim(s), *value = etrim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        int which = -1;
        for (int i = 0; i < NE; i++)
            if (strcmp(esettings[i].name, key) == 0 && i != E_CONFIG)
                which = i;
        if (which < 0) {
            fprintf(stderr, "vexil: %s:%u: unknown setting '%s'\n", path, no,
                    key);
            ok = false;
            break;
        }
        char *copy = strdup(value);
        if (!copy) {
            ok = false;
            break;
        }
        if (which == E_TOKEN) {
            const char **more =
                realloc(*file_tokens, (*nft + 1) * sizeof(**file_tokens));
            if (!more) {
                free(copy);
                ok = false;
                break;
            }
            *file_tokens = more;
            (*file_tokens)[(*nft)++] = copy;
            if (c->nowned < ETOKENS_MAX)
                c->owned[c->nowned++] = copy;
            else
                free(copy);
            continue;
        }
        free(c->file[which]);
        c->file[which] = copy;
        snprintf(c->where_file[which], sizeof(c->where_file[which]), "%s:%u",
                 path, no);
    }
    fclose(f);
    return ok;
}

static bool resolve(econf *c)
{
    const char **file_tokens = NULL;
    size_t nft = 0;
    const char *cfg =
        c->flag[E_CONFIG] ? c->flag[E_CONFIG] : getenv(esettings[E_CONFIG].env);
    bool ok = !cfg || !*cfg || read_file(c, cfg, &file_tokens, &nft);
    for (int i = 0; ok && i < NE; i++) {
        const char *env = getenv(esettings[i].env);
        if (i == E_TOKEN)
            continue;
        if (c->flag[i]) {
            c->val[i] = c->flag[i];
            c->where[i] = esettings[i].name;
        } else if (env && *env) {
            c->val[i] = env;
            c->where[i] = esettings[i].env;
        } else if (c->file[i]) {
            c->val[i] = c->file[i];
            c->where[i] = c->where_file[i];
        } else {
            c->val[i] = esettings[i].def;
            c->where[i] = "default";
        }
    }
    /* Tokens add up: flags (already in), the variable, the file. */
    const char *env = getenv(esettings[E_TOKEN].env);
    if (ok && env && *env) {
        char *list = strdup(env);
        for (char *t = list; ok && t;) {
            char *comma = strchr(t, ',');
            if (comma)
                *comma = '\0';
            ok = add_token(c, etrim(t), true);
            t = comma ? comma + 1 : NULL;
        }
        free(list);
    }
    for (size_t i = 0; ok && i < nft; i++)
        ok = add_token(c, file_tokens[i], false);
    free(file_tokens);
    return ok;
}

static bool euint(const econf *c, int i, unsigned long long lo,
                  unsigned long long hi, bool sizes, unsigned long long *out)
{
    return cli_setting_uint(c->where[i], esettings[i].name, c->val[i], lo, hi,
                            sizes, out);
}

static void edge_log(void *ud, const char *level, const char *msg)
{
    (void)ud;
    if (strcmp(level, "info") == 0)
        fprintf(stderr, "vexil: %s\n", msg);
    else
        fprintf(stderr, "vexil: %s: %s\n", level, msg);
}

static void econf_release(econf *c)
{
    for (int i = 0; i < NE; i++)
        free(c->file[i]);
    for (size_t i = 0; i < c->nowned; i++)
        free(c->owned[i]);
}

int cli_edge_main(int argc, char **argv)
{
    econf c;
    memset(&c, 0, sizeof(c));
    edge *e = NULL;
    int rc = CLI_EXIT_USAGE;
    cli_stop stop = {0};
    struct option longopts[NE + 2];
    for (int i = 0; i < NE; i++)
        longopts[i] = (struct option){esettings[i].name, required_argument,
                                      NULL, 1000 + i};
    longopts[NE] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[NE + 1] = (struct option){NULL, 0, NULL, 0};
    optind = 1;
    for (;;) {
        int ch = getopt_long(argc, argv, "h", longopts, NULL);
        if (ch == -1)
            break;
        if (ch == 'h') {
            edge_usage(stdout);
            rc = CLI_EXIT_OK;
            goto out;
        }
        if (ch < 1000 || ch >= 1000 + NE) {
            edge_usage(stderr);
            goto out;
        }
        if (ch - 1000 == E_TOKEN) {
            if (!add_token(&c, optarg, false))
                goto out;
        } else {
            c.flag[ch - 1000] = optarg;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vexil: edge: unexpected argument '%s'\n",
                argv[optind]);
        goto out;
    }
    if (!resolve(&c))
        goto out;
    if (!c.val[E_UPSTREAM] || !*c.val[E_UPSTREAM]) {
        fprintf(stderr, "vexil: edge: --upstream URL is required (or "
                        "VEXIL_UPSTREAM)\n");
        goto out;
    }
    if (!c.ntokens)
        fprintf(stderr, "vexil: warn: edge: no --token: only tokens that "
                        "SDKs present are followed\n");
    unsigned long long port, threads, conns, streams, per_token, ofrep, fwd,
        queue, poll, head, body, per_addr;
    bool log_requests = true;
    if (!euint(&c, E_PORT, 0, 65535, false, &port) ||
        !euint(&c, E_THREADS, 0, SERVER_THREADS_HARD, false, &threads) ||
        !euint(&c, E_MAX_CONNECTIONS, 2, SERVER_CONNECTIONS_HARD, false,
               &conns) ||
        !euint(&c, E_MAX_STREAMS, 0, SERVER_CONNECTIONS_HARD, false,
               &streams) ||
        !euint(&c, E_MAX_STREAMS_PER_TOKEN, 0, SERVER_CONNECTIONS_HARD, false,
               &per_token) ||
        !euint(&c, E_OFREP_RATE, 0, SERVER_OFREP_RATE_HARD, false, &ofrep) ||
        !euint(&c, E_FORWARD_MS, 100, 3600000, false, &fwd) ||
        !euint(&c, E_QUEUE_BYTES, 65536, (unsigned long long)4 << 30, true,
               &queue) ||
        !euint(&c, E_POLL_MS, 10, 3600000, false, &poll) ||
        !euint(&c, E_HEADER_TIMEOUT_MS, 100, SERVER_TIMEOUT_MS_HARD, false,
               &head) ||
        !euint(&c, E_BODY_TIMEOUT_MS, 100, SERVER_TIMEOUT_MS_HARD, false,
               &body) ||
        !euint(&c, E_MAX_PER_ADDRESS, 0, SERVER_CONNECTIONS_HARD, false,
               &per_addr))
        goto out;
    if (!cli_setting_bool(c.where[E_LOG_REQUESTS],
                          esettings[E_LOG_REQUESTS].name, c.val[E_LOG_REQUESTS],
                          &log_requests))
        goto out;
    cli_fit_open_files(&conns);

    cli_stop_begin(&stop);

    edge_config cfg = {
        .upstream = c.val[E_UPSTREAM],
        .tokens = c.tokens,
        .ntokens = c.ntokens,
        .data_dir = c.val[E_DATA_DIR],
        .host = c.val[E_HOST],
        .port = (uint16_t)port,
        .threads = (unsigned)threads,
        .max_connections = (unsigned)conns,
        .max_streams = (unsigned)streams,
        .max_streams_per_token = (unsigned)per_token,
        .frontend_origins = c.val[E_FRONTEND_ORIGINS],
        .ofrep_rate = (unsigned)ofrep,
        .forward_ms = (unsigned)fwd,
        .queue_bytes = (size_t)queue,
        .poll_ms = (unsigned)poll,
        .header_timeout_ms = (unsigned)head,
        .body_timeout_ms = (unsigned)body,
        .max_per_address =
            per_addr ? (unsigned)per_addr : SERVER_PER_ADDRESS_NONE,
        .log_requests = log_requests,
        .log = edge_log,
    };
    vx_error err;
    memset(&err, 0, sizeof(err));
    rc = CLI_EXIT_FAIL;
    if (edge_start(&cfg, &e, &err) != VX_OK) {
        fprintf(stderr, "vexil: cannot start the edge: %s%s%s\n",
                err.path[0] ? err.path + 1 : "", err.path[0] ? ": " : "",
                err.message);
        if (err.code == VX_EINVAL || err.code == VX_ELIMIT)
            rc = CLI_EXIT_USAGE;
        goto out;
    }
    bool v6 = strchr(cfg.host, ':') != NULL;
    printf("vexil: edge listening on http://%s%s%s:%u, following %s\n",
           v6 ? "[" : "", cfg.host, v6 ? "]" : "", (unsigned)edge_port(e),
           cfg.upstream);
    fflush(stdout);
    cli_stop_wait(&stop);
    fprintf(stderr, "vexil: stopping\n");
    rc = CLI_EXIT_OK;
out:
    edge_stop(&e);
    cli_stop_end(&stop);
    econf_release(&c);
    return rc;
}
