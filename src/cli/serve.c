/* `vexil serve`, `vexil migrate` and `vexil admin-token`: the server
 * process and its offline helpers. Every setting is resolved the same way:
 * the command-line flag, else the VEXIL_* environment variable, else the
 * config file (--config / VEXIL_CONFIG: `key = value` lines, keys are the
 * long option names), else the default. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ai/advisor.h"
#include "cli.h"
#include "server/server.h"
#include "server/session_api.h"
#include "service/service.h"

/* Limits of this file (the CLI sees no src/base, so they live here, as in
 * client/http.h). */
#define CONF_LINE_MAX  4096 /* one config-file line, newline included */
#define CONF_LINES_MAX 1000 /* lines in one config file */
#define WHERE_MAX      1100 /* "FILE:LINE" of a setting, for messages */
#define TOKENS_MAX     8192 /* INIT_CLIENT + INIT_BACKEND joined */

enum {
    SET_HOST,
    SET_PORT,
    SET_DATABASE,
    SET_THREADS,
    SET_MAX_BODY,
    SET_MAX_CONNECTIONS,
    SET_LOG_REQUESTS,
    SET_FRONTEND_ORIGINS,
    SET_OFREP_RATE,
    SET_SDK_POLL_MS,
    SET_CONFIG,
    SET_LLM_URL,
    SET_LLM_MODEL,
    SET_LLM_API_KEY_ENV,
    SET_LLM_TIMEOUT_MS,
    SET_LLM_PROTOCOL,
    SET_LLM_MAX_TOKENS,
    SET_SCHEDULER_INTERVAL_MS,
    SET_ADVISOR_AUTO_APPLY,
    SET_GATEWAY_FALLBACK,
    SET_ADVISOR_CONFIRM_ABOVE,
    SET_GATEWAY_TOKEN_RATE,
    SET_GATEWAY_ROUTE_RATE,
    SET_GATEWAY_FLUSH_MS,
    SET_HEADER_TIMEOUT_MS,
    SET_BODY_TIMEOUT_MS,
    SET_MAX_PER_ADDRESS,
    SET_EGRESS_ALLOW,
    SET_GATEWAY_KEY_ENV,
    SET_DB_TIMEOUT_MS,
    SET_DB_THREADS,
    SET_DB_QUEUE,
    SET_SQLITE_SYNCHRONOUS,
    SET_MAX_STREAMS,
    SET_MAX_STREAMS_PER_TOKEN,
    SET_SESSION_IDLE_SECS,
    SET_SESSION_MAX_SECS,
    SET_COOKIE_SECURE,
    NSETTINGS
};
/* Settings are bits of a 64-bit mask (conf_read_file, MASK_ALL). */
typedef uint64_t set_mask;
#define SET_BIT(i) ((set_mask)1 << (i))
static_assert(NSETTINGS < 64, "settings fit the masks");

/* One setting: its long option (also its config-file key), environment
 * variable, argument name and help. */
static const struct setting {
    const char *name; /* --name and config key */
    const char *env;  /* environment variable */
    const char *arg;  /* argument placeholder in --help */
    const char *help; /* one line */
} settings[NSETTINGS] = {
    {"host", "VEXIL_HOST", "ADDR", "address to listen on"},
    {"port", "VEXIL_PORT", "N", "TCP port (0 = any free port)"},
    {"database", "VEXIL_DATABASE", "DSN",
     "database, sqlite:PATH or postgres://USER@HOST:PORT/DB"},
    {"threads", "VEXIL_THREADS", "N", "worker threads"},
    {"max-body", "VEXIL_MAX_BODY", "BYTES",
     "request body limit (suffix k or m: KiB, MiB)"},
    {"max-connections", "VEXIL_MAX_CONNECTIONS", "N", "concurrent connections"},
    {"log-requests", "VEXIL_LOG_REQUESTS", "on|off",
     "one stderr line per request"},
    {"frontend-origins", "VEXIL_FRONTEND_ORIGINS", "LIST",
     "CORS origins of /api/frontend and OFREP: * or https://a,https://b"},
    {"ofrep-rate", "VEXIL_OFREP_RATE", "N",
     "OFREP requests per second per token (0 = no limit)"},
    {"sdk-poll-ms", "VEXIL_SDK_POLL_MS", "MS",
     "revision check for other replicas' writes (backstop of NOTIFY)"},
    {"config", "VEXIL_CONFIG", "FILE", "config file of key = value lines"},
    {"llm-url", "VEXIL_LLM_URL", "URL",
     "the advisor's model server (docs/ai.md); none = deterministic advisor"},
    {"llm-model", "VEXIL_LLM_MODEL", "NAME", "model name, needed with llm-url"},
    {"llm-api-key-env", "VEXIL_LLM_API_KEY_ENV", "VAR",
     "name of the variable holding the model server's API key"},
    {"llm-timeout-ms", "VEXIL_LLM_TIMEOUT_MS", "MS",
     "one model call, retries included"},
    {"llm-protocol", "VEXIL_LLM_PROTOCOL", "PROTO",
     "openai, ollama or auto (from the URL)"},
    {"llm-max-tokens", "VEXIL_LLM_MAX_TOKENS", "N",
     "the longest answer asked of the model, in tokens"},
    {"scheduler-interval-ms", "VEXIL_SCHEDULER_INTERVAL_MS", "MS",
     "how often release plans and scheduled changes are checked"},
    {"advisor-auto-apply", "VEXIL_ADVISOR_AUTO_APPLY", "LIST",
     "rollout advice applied without a person: none, hold, rollback"},
    {"gateway-fallback", "VEXIL_GATEWAY_FALLBACK", "on|off",
     "model gateway: a failed upstream is retried on the control variant"},
    {"advisor-confirm-above", "VEXIL_ADVISOR_CONFIRM_ABOVE", "PCT",
     "an advised first step above this % needs an explicit confirmation"},
    {"gateway-token-rate", "VEXIL_GATEWAY_TOKEN_RATE", "N",
     "model gateway requests per second per token (0 = no limit)"},
    {"gateway-route-rate", "VEXIL_GATEWAY_ROUTE_RATE", "N",
     "model gateway requests per second per model alias (0 = no limit)"},
    {"gateway-flush-ms", "VEXIL_GATEWAY_FLUSH_MS", "MS",
     "model gateway measurement period (at most a minute)"},
    {"header-timeout-ms", "VEXIL_HEADER_TIMEOUT_MS", "MS",
     "a request line and its headers must arrive within this"},
    {"body-timeout-ms", "VEXIL_BODY_TIMEOUT_MS", "MS",
     "then its body (answers, streams and model calls have no deadline)"},
    {"max-per-address", "VEXIL_MAX_PER_ADDRESS", "N",
     "connections from one client address (0 = no cap)"},
    {"egress-allow", "VEXIL_EGRESS_ALLOW", "LIST",
     "hosts gateway upstreams and webhooks may call: host[:port],*.domain,"
     "[v6]; * or none"},
    {"gateway-key-env", "VEXIL_GATEWAY_KEY_ENV", "LIST",
     "variables a model flag's api_key_env may name: NAME,PREFIX*; none"},
    {"db-timeout-ms", "VEXIL_DB_TIMEOUT_MS", "MS",
     "one database call at most, timed by Vexil (past it: 503)"},
    {"db-threads", "VEXIL_DB_THREADS", "N",
     "threads for admin calls and other database work"},
    {"db-queue", "VEXIL_DB_QUEUE", "N",
     "requests that may wait for a database thread (more: 503 at once)"},
    {"sqlite-synchronous", "VEXIL_SQLITE_SYNCHRONOUS", "normal|full",
     "SQLite commits: normal survives a crash, full also a power loss"},
    {"max-streams", "VEXIL_MAX_STREAMS", "N",
     "streaming SDK connections in all (0 = 7/8 of max-connections); "
     "past it 503"},
    {"max-streams-per-token", "VEXIL_MAX_STREAMS_PER_TOKEN", "N",
     "streaming SDK connections per token (0 = 3/4 of max-streams); "
     "past it 429"},
    {"session-idle-secs", "VEXIL_SESSION_IDLE_SECS", "S",
     "a console session ends after this long unused"},
    {"session-max-secs", "VEXIL_SESSION_MAX_SECS", "S",
     "a console session ends this long after sign-in, used or not"},
    {"cookie-secure", "VEXIL_COOKIE_SECURE", "auto|on|off",
     "Secure session cookie: auto = when the request came over HTTPS"},
};

/* Settings as resolved, with where each came from. */
typedef struct conf {
    const char *flag[NSETTINGS];           /* from argv, borrowed */
    char *file[NSETTINGS];                 /* from the config file, owned */
    char file_where[NSETTINGS][WHERE_MAX]; /* "FILE:LINE" */
    const char *val[NSETTINGS];            /* the winner, NULL = default */
    const char *where[NSETTINGS];   /* "--port", "VEXIL_PORT", "FILE:LINE" */
    char flag_where[NSETTINGS][32]; /* "--name" */
    char defaults[NSETTINGS][32];   /* computed defaults (threads...) */
} conf;

static const char *default_of(conf *c, int i)
{
    switch (i) {
    case SET_HOST: return "127.0.0.1";
    case SET_PORT: return "4242";
    case SET_DATABASE: return "sqlite:./data/vexil.db";
    case SET_THREADS:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%u",
                 server_default_threads());
        return c->defaults[i];
    case SET_MAX_BODY:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%zu",
                 (size_t)SERVER_MAX_BODY_DEFAULT);
        return c->defaults[i];
    case SET_MAX_CONNECTIONS:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%u",
                 (unsigned)SERVER_CONNECTIONS_DEFAULT);
        return c->defaults[i];
    case SET_LOG_REQUESTS: return "on";
    case SET_FRONTEND_ORIGINS: return "*";
    case SET_OFREP_RATE:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%u",
                 (unsigned)SERVER_OFREP_RATE_DEFAULT);
        return c->defaults[i];
    case SET_LLM_TIMEOUT_MS:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%u",
                 (unsigned)SERVER_LLM_TIMEOUT_DEFAULT);
        return c->defaults[i];
    case SET_LLM_PROTOCOL: return "auto";
    case SET_LLM_MAX_TOKENS: return "1024";
    case SET_SCHEDULER_INTERVAL_MS: return "5000";
    case SET_ADVISOR_AUTO_APPLY: return "none";
    case SET_GATEWAY_FALLBACK: return "on";
    case SET_ADVISOR_CONFIRM_ABOVE:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%d",
                 AI_CONFIRM_ABOVE_DEFAULT);
        return c->defaults[i];
    case SET_GATEWAY_TOKEN_RATE: return "0";
    case SET_GATEWAY_ROUTE_RATE: return "0";
    case SET_GATEWAY_FLUSH_MS: return "60000";
    case SET_MAX_STREAMS: return "0";
    case SET_MAX_STREAMS_PER_TOKEN: return "0";
    case SET_SESSION_IDLE_SECS:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%u",
                 SESSION_IDLE_DEFAULT_SECS);
        return c->defaults[i];
    case SET_SESSION_MAX_SECS:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%u",
                 SESSION_MAX_DEFAULT_SECS);
        return c->defaults[i];
    case SET_COOKIE_SECURE: return "auto";
    case SET_SDK_POLL_MS:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%u",
                 (unsigned)VX_LIMIT_SDK_POLL_MS);
        return c->defaults[i];
    case SET_HEADER_TIMEOUT_MS:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%u",
                 (unsigned)VX_LIMIT_HTTP_HEADER_TIMEOUT_MS);
        return c->defaults[i];
    case SET_BODY_TIMEOUT_MS:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%u",
                 (unsigned)VX_LIMIT_HTTP_BODY_TIMEOUT_MS);
        return c->defaults[i];
    case SET_MAX_PER_ADDRESS:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%u",
                 (unsigned)VX_LIMIT_HTTP_PER_ADDRESS_DEFAULT);
        return c->defaults[i];
    case SET_EGRESS_ALLOW: return SVC_EGRESS_HOSTS_DEFAULT;
    case SET_GATEWAY_KEY_ENV: return SVC_EGRESS_KEYS_DEFAULT;
    case SET_DB_TIMEOUT_MS:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%u",
                 (unsigned)VX_LIMIT_DB_TIMEOUT_MS);
        return c->defaults[i];
    case SET_DB_THREADS:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%u",
                 (unsigned)VX_LIMIT_DB_THREADS_DEFAULT);
        return c->defaults[i];
    case SET_DB_QUEUE:
        snprintf(c->defaults[i], sizeof(c->defaults[i]), "%u",
                 (unsigned)VX_LIMIT_DB_QUEUE_DEFAULT);
        return c->defaults[i];
    case SET_SQLITE_SYNCHRONOUS: return "normal";
    default: return NULL;
    }
}

static void conf_release(conf *c)
{
    for (int i = 0; i < NSETTINGS; i++) {
        free(c->file[i]);
        c->file[i] = NULL;
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' ||
                     s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Reads `path` into c->file[]. Keys in `mask` are taken; the other known
 * settings are skipped, so `migrate` and `admin-token` read the file `serve`
 * uses (/etc/vexil/vexil.conf); an unknown key is an error. Returns
 * CLI_EXIT_OK or prints the reason and returns CLI_EXIT_USAGE. */
static int conf_read_file(conf *c, const char *path, set_mask mask)
{
    int rc = CLI_EXIT_USAGE;
    char line[CONF_LINE_MAX];
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "vexil: cannot open config file %s: %s\n", path,
                strerror(errno));
        goto out;
    }
    for (unsigned no = 1; fgets(line, sizeof(line), f); no++) {
        if (no > CONF_LINES_MAX) {
            fprintf(stderr, "vexil: %s: more than %d lines\n", path,
                    CONF_LINES_MAX);
            goto out;
        }
        if (!strchr(line, '\n') && !feof(f)) {
            fprintf(stderr, "vexil: %s:%u: line longer than %d bytes\n", path,
                    no, CONF_LINE_MAX - 1);
            goto out;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(stderr, "vexil: %s:%u: expected 'key = value'\n", path, no);
            goto out;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        size_t vlen = strlen(value);
        if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
            value[vlen - 1] = '\0';
            value++;
        }
        int which = -1;
        for (int i = 0; i < NSETTINGS; i++) {
            if (strcmp(settings[i].name, key) == 0 && i != SET_CONFIG)
                which = i;
        }
        if (which < 0) {
            fprintf(stderr, "vexil: %s:%u: unknown setting '%s'\n", path, no,
                    key);
            goto out;
        }
        if (!(mask & SET_BIT(which)))
            continue; /* another command's setting */
        char *copy = strdup(value);
        if (!copy) {
            fprintf(stderr, "vexil: out of memory\n");
            rc = CLI_EXIT_FAIL;
            goto out;
        }
        free(c->file[which]);
        c->file[which] = copy;
        snprintf(c->file_where[which], sizeof(c->file_where[which]), "%s:%u",
                 path, no);
    }
    if (ferror(f)) {
        fprintf(stderr, "vexil: cannot read %s\n", path);
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    if (f)
        fclose(f);
    return rc;
}

/* Resolves every setting in `mask` from c->flag, the environment and the
 * config file. */
static int conf_resolve(conf *c, set_mask mask)
{
    const char *cfg = c->flag[SET_CONFIG];
    if (!cfg)
        cfg = getenv(settings[SET_CONFIG].env);
    if (cfg && *cfg) {
        int rc = conf_read_file(c, cfg, mask);
        if (rc != CLI_EXIT_OK)
            return rc;
    }
    for (int i = 0; i < NSETTINGS; i++) {
        const char *env = getenv(settings[i].env);
        if (!(mask & SET_BIT(i)))
            continue;
        if (c->flag[i]) {
            snprintf(c->flag_where[i], sizeof(c->flag_where[i]), "--%s",
                     settings[i].name);
            c->val[i] = c->flag[i];
            c->where[i] = c->flag_where[i];
        } else if (env && *env) {
            c->val[i] = env;
            c->where[i] = settings[i].env;
        } else if (c->file[i]) {
            c->val[i] = c->file[i];
            c->where[i] = c->file_where[i];
        } else {
            c->val[i] = default_of(c, i);
            c->where[i] = "default";
        }
    }
    return CLI_EXIT_OK;
}

/* Parses an unsigned integer in [lo, hi], with an optional k/m suffix when
 * `sizes` is set. Prints the reason and returns false when it is not. */
static bool conf_uint(const conf *c, int i, unsigned long long lo,
                      unsigned long long hi, bool sizes,
                      unsigned long long *out)
{
    return cli_setting_uint(c->where[i], settings[i].name, c->val[i], lo, hi,
                            sizes, out);
}

/* --cookie-secure: auto, on or off. */
static bool cookie_secure(const conf *c, session_secure *out)
{
    const char *v = c->val[SET_COOKIE_SECURE];
    if (strcmp(v, "auto") == 0)
        *out = SESSION_SECURE_AUTO;
    else if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0)
        *out = SESSION_SECURE_ON;
    else if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0)
        *out = SESSION_SECURE_OFF;
    else {
        fprintf(stderr,
                "vexil: %s: cookie-secure must be auto, on or off, "
                "not '%s'\n",
                c->where[SET_COOKIE_SECURE], v);
        return false;
    }
    return true;
}

static bool conf_bool(const conf *c, int i, bool *out)
{
    return cli_setting_bool(c->where[i], settings[i].name, c->val[i], out);
}

/* Log sink for the service and the server: one stderr line each. */
static void log_line(void *ud, const char *level, const char *msg)
{
    (void)ud;
    if (strcmp(level, "info") == 0)
        fprintf(stderr, "vexil: %s\n", msg);
    else
        fprintf(stderr, "vexil: %s: %s\n", level, msg);
}

static void print_service_error(const char *what, const vx_error *err)
{
    char shown[WHERE_MAX]; /* `what` may be a DSN with a password */
    svc_dsn_redact(what, shown, sizeof(shown));
    fprintf(stderr, "vexil: %s: %s%s%s\n", shown, err->path[0] ? err->path : "",
            err->path[0] ? ": " : "",
            err->message[0] ? err->message : vx_status_str(err->code));
}

/* Fills the INIT_* token lists; `joined` holds client+backend. */
static void init_tokens(svc_config *sc, char *joined, size_t cap)
{
    const char *client = getenv("INIT_CLIENT_API_TOKENS");
    const char *backend = getenv("INIT_BACKEND_API_TOKENS");
    sc->init_admin_tokens = getenv("INIT_ADMIN_API_TOKENS");
    sc->init_frontend_tokens = getenv("INIT_FRONTEND_API_TOKENS");
    if (client && *client && backend && *backend) {
        snprintf(joined, cap, "%s,%s", client, backend);
        sc->init_client_tokens = joined;
    } else {
        sc->init_client_tokens = client && *client ? client : backend;
    }
}

static void serve_usage(FILE *out)
{
    conf c;
    memset(&c, 0, sizeof(c));
    fputs("usage: vexil serve [options]\n"
          "\n"
          "Runs the Vexil HTTP server (admin API, /health, /ready, "
          "/metrics).\n"
          "Each setting comes from its flag, else its environment variable,\n"
          "else the config file, else the default.\n"
          "\n",
          out);
    for (int i = 0; i < NSETTINGS; i++) {
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s %s", settings[i].name,
                 settings[i].arg);
        const char *def = default_of(&c, i);
        fprintf(out, "  %-26s %-22s %s\n", flag, settings[i].env,
                def ? def : "(none)");
        fprintf(out, "  %-26s %s\n", "", settings[i].help);
    }
    fprintf(out,
            "\n"
            "max-body is capped at %zu bytes, max-connections at %u and "
            "threads at %u.\n"
            "\n"
            "Tokens created on start when absent (comma-separated secrets):\n"
            "  INIT_ADMIN_API_TOKENS, INIT_CLIENT_API_TOKENS (alias\n"
            "  INIT_BACKEND_API_TOKENS), INIT_FRONTEND_API_TOKENS\n"
            "\n"
            "On first start an admin token is created and its secret is\n"
            "printed once. SIGINT or SIGTERM stops gracefully.\n",
            (size_t)SERVER_MAX_BODY_HARD, (unsigned)SERVER_CONNECTIONS_HARD,
            (unsigned)SERVER_THREADS_HARD);
    fputs("\n"
          "Slow clients: a connection that has not sent its request headers\n"
          "within header-timeout-ms (or its body within body-timeout-ms) is\n"
          "closed; near max-connections, idle keep-alive connections are\n"
          "closed first. The open-file limit is raised to fit\n"
          "max-connections. Egress: model gateway upstreams and release-plan\n"
          "webhooks may only call the hosts of egress-allow (default: this\n"
          "machine's loopback; none: nothing),\n"
          "and a model flag's api_key_env may only name the variables of\n"
          "gateway-key-env (never INIT_* or VEXIL_* settings). See\n"
          "docs/operations.md.\n",
          out);
}

/* getopt_long table for the settings in `mask`, plus extra options. */
static void build_longopts(struct option *o, set_mask mask,
                           const struct option *extra)
{
    size_t n = 0;
    for (int i = 0; i < NSETTINGS; i++) {
        if (mask & SET_BIT(i))
            o[n++] = (struct option){settings[i].name, required_argument, NULL,
                                     1000 + i};
    }
    for (; extra && extra->name; extra++)
        o[n++] = *extra;
    o[n++] = (struct option){"help", no_argument, NULL, 'h'};
    o[n] = (struct option){NULL, 0, NULL, 0};
}

/* Parses the settings options of `cmd` (those in `mask`) into `c`; any
 * other option in `extra` goes to `on_extra`. Returns -1 to go on, else the
 * exit status (help printed, bad usage, or a bad setting). */
static int parse_args(int argc, char **argv, const char *cmd, set_mask mask,
                      const struct option *extra, void (*usage)(FILE *),
                      bool (*on_extra)(int ch, void *ud), void *ud, conf *c)
{
    struct option longopts[NSETTINGS + 4];
    memset(c, 0, sizeof(*c));
    build_longopts(longopts, mask, extra);
    optind = 1;
    for (;;) {
        int ch = getopt_long(argc, argv, "h", longopts, NULL);
        if (ch == -1)
            break;
        if (ch == 'h') {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        if (ch >= 1000 && ch < 1000 + NSETTINGS) {
            c->flag[ch - 1000] = optarg;
            continue;
        }
        if (!on_extra || !on_extra(ch, ud)) {
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vexil: %s: unexpected argument '%s'\n", cmd,
                argv[optind]);
        return CLI_EXIT_USAGE;
    }
    int rc = conf_resolve(c, mask);
    return rc == CLI_EXIT_OK ? -1 : rc;
}

/* The advisor's model client from the llm-* settings, or NULL when no
 * llm-url is set. Checks the server's model list with a short timeout and
 * only warns: Vexil works without a model. Returns false on a bad setting
 * (printed). The API key is read from the named variable and never
 * printed. */
static bool llm_setup(const conf *c, ai_llm **out)
{
    unsigned long long timeout = 0, max_tokens = 0;
    ai_protocol proto = AI_PROTO_AUTO;
    ai_llm *probe = NULL;
    json_t *names = NULL;
    vx_error err;
    memset(&err, 0, sizeof(err));
    *out = NULL;
    if (!c->val[SET_LLM_URL] || !*c->val[SET_LLM_URL])
        return true;
    if (!c->val[SET_LLM_MODEL] || !*c->val[SET_LLM_MODEL]) {
        fprintf(stderr, "vexil: %s: llm-url needs llm-model as well\n",
                c->where[SET_LLM_URL]);
        return false;
    }
    if (!conf_uint(c, SET_LLM_TIMEOUT_MS, 1, SERVER_LLM_TIMEOUT_HARD, false,
                   &timeout) ||
        !conf_uint(c, SET_LLM_MAX_TOKENS, 16, SERVER_LLM_MAX_TOKENS_HARD, false,
                   &max_tokens))
        return false;
    if (!ai_protocol_parse(c->val[SET_LLM_PROTOCOL], &proto)) {
        fprintf(stderr,
                "vexil: %s: llm-protocol must be openai, ollama or auto, "
                "not '%s'\n",
                c->where[SET_LLM_PROTOCOL], c->val[SET_LLM_PROTOCOL]);
        return false;
    }
    const char *key = NULL, *key_env = c->val[SET_LLM_API_KEY_ENV];
    if (key_env && *key_env) {
        key = getenv(key_env);
        if (!key || !*key)
            fprintf(stderr,
                    "vexil: warn: %s is empty or unset: calling the model "
                    "server without an API key\n",
                    key_env);
    }
    ai_llm_config lc = {
        .url = c->val[SET_LLM_URL],
        .protocol = proto,
        .model = c->val[SET_LLM_MODEL],
        .api_key = key,
        .timeout_ms = (long)timeout,
        .max_tokens = (unsigned)max_tokens,
        .retries = 2,
        .log = log_line,
    };
    if (ai_llm_new(&lc, out, &err) != VX_OK) {
        print_service_error("llm", &err);
        return false;
    }
    fprintf(stderr, "vexil: advisor: model %s at %s (%s protocol)\n", lc.model,
            lc.url, ai_protocol_name(ai_llm_protocol(*out)));
    /* The start-up check: a short timeout so a stalled model server does
     * not delay the start. */
    lc.protocol = ai_llm_protocol(*out);
    lc.timeout_ms = timeout < 5000 ? (long)timeout : 5000;
    lc.retries = 0;
    if (ai_llm_new(&lc, &probe, &err) == VX_OK &&
        ai_llm_models(probe, &names, &err) == VX_OK) {
        bool found = false;
        size_t i;
        const json_t *n;
        json_array_foreach (names, i, n)
            found = found || strcmp(json_string_value(n), lc.model) == 0;
        if (!found)
            fprintf(stderr,
                    "vexil: warn: the model server lists %zu model(s) but "
                    "not '%s': the advisor will fall back to its "
                    "deterministic answers if calls fail\n",
                    json_array_size(names), lc.model);
    } else {
        fprintf(stderr,
                "vexil: warn: cannot list the model server's models (%s); "
                "starting anyway\n",
                err.message);
    }
    json_decref(names);
    ai_llm_free(&probe);
    return true;
}

/* The client-facing limits: the two deadlines, the per-address cap
 * (0: none) and the egress
 * allowlists (checked here so a bad list is reported with where it came
 * from). Prints the reason and returns false on a bad setting. */
static bool edge_setup(const conf *c, server_config *cfg)
{
    unsigned long long head, body, per = 0;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (!conf_uint(c, SET_HEADER_TIMEOUT_MS, 100, SERVER_TIMEOUT_MS_HARD, false,
                   &head) ||
        !conf_uint(c, SET_BODY_TIMEOUT_MS, 100, SERVER_TIMEOUT_MS_HARD, false,
                   &body))
        return false;
    if (!conf_uint(c, SET_MAX_PER_ADDRESS, 0, SERVER_CONNECTIONS_HARD, false,
                   &per))
        return false;
    if (per == 0)
        per = SERVER_PER_ADDRESS_NONE;
    cfg->header_timeout_ms = (unsigned)head;
    cfg->body_timeout_ms = (unsigned)body;
    cfg->max_per_address = (unsigned)per;
    if (svc_egress_check(c->val[SET_EGRESS_ALLOW], NULL, &err) != VX_OK ||
        svc_egress_check(NULL, c->val[SET_GATEWAY_KEY_ENV], &err) != VX_OK) {
        int which = strcmp(err.path, "/egress-allow") == 0
                        ? SET_EGRESS_ALLOW
                        : SET_GATEWAY_KEY_ENV;
        fprintf(stderr, "vexil: %s: %s: %s\n", c->where[which],
                settings[which].name, err.message);
        return false;
    }
    return true;
}

/* Every connection is a descriptor: raises the soft open-file limit
 * towards the hard one so that max-connections fit, with room for the
 * database, upstream calls and logs. When the hard limit is lower, fewer
 * connections are allowed, with a warning saying how to get more. */
static void fit_open_files(unsigned long long *conns)
{
    struct rlimit rl;
    unsigned long long need = *conns + SERVER_FD_RESERVE;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need
                          ? (rlim_t)need
                          : rl.rlim_max;
        if (want > rl.rlim_cur) {
            rl.rlim_cur = want;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return;
    unsigned long long fit = rl.rlim_cur > 2 * SERVER_FD_RESERVE
                                 ? rl.rlim_cur - SERVER_FD_RESERVE
                                 : rl.rlim_cur / 2;
    if (fit < 1)
        fit = 1;
    fprintf(stderr,
            "vexil: warn: the open-file limit is %llu: serving at most %llu "
            "connections instead of %llu (raise it with ulimit -n or "
            "LimitNOFILE=)\n",
            (unsigned long long)rl.rlim_cur, fit, *conns);
    *conns = fit;
}

void cli_fit_open_files(unsigned long long *conns)
{
    fit_open_files(conns);
}

#define MASK_ALL (SET_BIT(NSETTINGS) - 1)
#define MASK_DB  (SET_BIT(SET_DATABASE) | SET_BIT(SET_CONFIG))

int cli_serve_main(int argc, char **argv)
{
    int rc = CLI_EXIT_USAGE;
    conf c;
    service *svc = NULL;
    server *srv = NULL;
    ai_llm *llm = NULL;
    cli_stop stop = {0};
    char joined[TOKENS_MAX];
    rc = parse_args(argc, argv, "serve", MASK_ALL, NULL, serve_usage, NULL,
                    NULL, &c);
    if (rc != -1)
        goto out;
    rc = CLI_EXIT_USAGE;

    unsigned long long port, threads, body, conns, ofrep_rate, sched_ms,
        gw_token, gw_route, gw_flush, poll_ms, confirm_above, db_timeout,
        db_threads, db_queue, streams, streams_per_token, idle_secs, max_secs;
    int sqlite_sync = 1;
    bool log_requests = true, gw_fallback = true;
    session_secure secure = SESSION_SECURE_AUTO;
    if (!conf_uint(&c, SET_PORT, 0, 65535, false, &port) ||
        !conf_uint(&c, SET_THREADS, 1, SERVER_THREADS_HARD, false, &threads) ||
        !conf_uint(&c, SET_MAX_BODY, 1, SERVER_MAX_BODY_HARD, true, &body) ||
        !conf_uint(&c, SET_MAX_CONNECTIONS, 1, SERVER_CONNECTIONS_HARD, false,
                   &conns) ||
        !conf_bool(&c, SET_LOG_REQUESTS, &log_requests) ||
        !conf_uint(&c, SET_OFREP_RATE, 0, SERVER_OFREP_RATE_HARD, false,
                   &ofrep_rate) ||
        !conf_uint(&c, SET_SCHEDULER_INTERVAL_MS, 50, 3600000, false,
                   &sched_ms) ||
        !conf_bool(&c, SET_GATEWAY_FALLBACK, &gw_fallback) ||
        !conf_uint(&c, SET_GATEWAY_TOKEN_RATE, 0, SERVER_GW_RATE_HARD, false,
                   &gw_token) ||
        !conf_uint(&c, SET_GATEWAY_ROUTE_RATE, 0, SERVER_GW_RATE_HARD, false,
                   &gw_route) ||
        !conf_uint(&c, SET_GATEWAY_FLUSH_MS, 1, 60000, false, &gw_flush) ||
        !conf_uint(&c, SET_SDK_POLL_MS, 10, VX_LIMIT_SDK_POLL_MS_MAX, false,
                   &poll_ms) ||
        !conf_uint(&c, SET_ADVISOR_CONFIRM_ABOVE, 1, 100, false,
                   &confirm_above) ||
        !conf_uint(&c, SET_DB_TIMEOUT_MS, VX_LIMIT_DB_TIMEOUT_MS_MIN,
                   VX_LIMIT_DB_TIMEOUT_MS_MAX, false, &db_timeout) ||
        !conf_uint(&c, SET_DB_THREADS, 1, VX_LIMIT_DB_THREADS_MAX, false,
                   &db_threads) ||
        !conf_uint(&c, SET_DB_QUEUE, 1, VX_LIMIT_DB_QUEUE_MAX, false,
                   &db_queue) ||
        !conf_uint(&c, SET_MAX_STREAMS, 0, VX_LIMIT_SSE_CLIENTS, false,
                   &streams) ||
        !conf_uint(&c, SET_MAX_STREAMS_PER_TOKEN, 0, VX_LIMIT_SSE_CLIENTS,
                   false, &streams_per_token) ||
        !conf_uint(&c, SET_SESSION_IDLE_SECS, 1, SESSION_SECS_MAX, false,
                   &idle_secs) ||
        !conf_uint(&c, SET_SESSION_MAX_SECS, 1, SESSION_SECS_MAX, false,
                   &max_secs) ||
        !cookie_secure(&c, &secure) || !llm_setup(&c, &llm))
        goto out;
    if (strcasecmp(c.val[SET_SQLITE_SYNCHRONOUS], "full") == 0) {
        sqlite_sync = 2;
    } else if (strcasecmp(c.val[SET_SQLITE_SYNCHRONOUS], "normal") != 0) {
        fprintf(stderr,
                "vexil: %s: sqlite-synchronous must be normal or full, not "
                "'%s'\n",
                c.where[SET_SQLITE_SYNCHRONOUS], c.val[SET_SQLITE_SYNCHRONOUS]);
        goto out;
    }
    unsigned auto_apply = 0;
    {
        vx_error perr;
        memset(&perr, 0, sizeof(perr));
        if (ai_policy_parse(c.val[SET_ADVISOR_AUTO_APPLY], &auto_apply,
                            &perr) != VX_OK) {
            fprintf(stderr, "vexil: %s: %s\n", c.where[SET_ADVISOR_AUTO_APPLY],
                    perr.message);
            goto out;
        }
    }

    server_config edge; /* the edge settings, checked before anything */
    memset(&edge, 0, sizeof(edge));
    if (!edge_setup(&c, &edge))
        goto out;

    rc = CLI_EXIT_FAIL;
    svc_config sc = {.database = c.val[SET_DATABASE],
                     .egress_allow = c.val[SET_EGRESS_ALLOW],
                     .gateway_key_env = c.val[SET_GATEWAY_KEY_ENV],
                     .log = log_line,
                     .log_ud = NULL,
                     .db_timeout_ms = (int)db_timeout,
                     .sqlite_synchronous = sqlite_sync};
    init_tokens(&sc, joined, sizeof(joined));
    char secret[SVC_SECRET_MAX] = "";
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (svc_open(&sc, &svc, secret, &err) != VX_OK) {
        print_service_error(sc.database, &err);
        goto out;
    }
    if (secret[0]) {
        printf("vexil: admin token (shown once, store it now): %s\n", secret);
        fflush(stdout);
    }

    cli_stop_begin(&stop);

    server_config cfg = {
        .host = c.val[SET_HOST],
        .port = (uint16_t)port,
        .threads = (unsigned)threads,
        .max_connections = (unsigned)conns,
        .max_body = (size_t)body,
        .log_requests = log_requests,
        .frontend_origins = c.val[SET_FRONTEND_ORIGINS],
        .ofrep_rate = (unsigned)ofrep_rate,
        .sdk_poll_ms = (unsigned)poll_ms,
        .max_streams = (unsigned)streams,
        .max_streams_per_token = (unsigned)streams_per_token,
        .log = log_line,
        .log_ud = NULL,
        .llm = llm,
        .plan_tick_ms = (unsigned)sched_ms,
        .advisor_auto_apply = auto_apply,
        .advisor_confirm_above = (int)confirm_above,
        .gw_fallback = gw_fallback,
        .gw_token_rate = (unsigned)gw_token,
        .gw_route_rate = (unsigned)gw_route,
        .gw_flush_ms = (unsigned)gw_flush,
        .db_threads = (unsigned)db_threads,
        .db_queue = (unsigned)db_queue,
        .db_timeout_ms = (unsigned)db_timeout,
        .session_idle_secs = (unsigned)idle_secs,
        .session_max_secs = (unsigned)max_secs,
        .session_secure = (int)secure,
    };
    cfg.header_timeout_ms = edge.header_timeout_ms;
    cfg.body_timeout_ms = edge.body_timeout_ms;
    cfg.max_per_address = edge.max_per_address;
    fit_open_files(&conns);
    cfg.max_connections = (unsigned)conns;
    if (server_start(&cfg, svc, &srv, &err) != VX_OK) {
        print_service_error("cannot start the server", &err);
        goto out;
    }
    bool v6 = strchr(cfg.host, ':') != NULL;
    printf("vexil: listening on http://%s%s%s:%u\n", v6 ? "[" : "", cfg.host,
           v6 ? "]" : "", (unsigned)server_port(srv));
    fflush(stdout);

    cli_stop_wait(&stop);
    fprintf(stderr, "vexil: stopping\n");
    rc = CLI_EXIT_OK;
out:
    server_stop(&srv);
    ai_llm_free(&llm);
    svc_close(svc);
    cli_stop_end(&stop);
    conf_release(&c);
    return rc;
}

static void migrate_usage(FILE *out)
{
    fputs("usage: vexil migrate [--database DSN] [--config FILE]\n"
          "       vexil migrate --from DSN --to DSN\n"
          "\n"
          "Applies pending database migrations and prints how many ran.\n"
          "  --database DSN   VEXIL_DATABASE   default sqlite:./data/vexil.db\n"
          "  --config FILE    VEXIL_CONFIG     config file (key = value)\n"
          "\n"
          "With --from and --to, moves a whole installation instead: every\n"
          "project, flag, segment, token, sequence and the whole audit log\n"
          "(ids and times kept) from one database into another, which must\n"
          "be empty, in one transaction. Stop the servers using --from "
          "first.\n"
          "  --from DSN       e.g. sqlite:./data/vexil.db\n"
          "  --to DSN         e.g. postgres://vexil@db:5432/vexil\n",
          out);
}

typedef struct migrate_opts {
    const char *from; /* --from */
    const char *to;   /* --to */
} migrate_opts;

static bool migrate_extra(int ch, void *ud)
{
    migrate_opts *o = ud;
    if (ch == 'f')
        o->from = optarg;
    else if (ch == 't')
        o->to = optarg;
    else
        return false;
    return true;
}

/* `vexil migrate --from A --to B`. */
static int copy_database(const migrate_opts *o)
{
    if (!o->from || !o->to || !*o->from || !*o->to) {
        fprintf(stderr, "vexil: migrate: --from and --to go together\n");
        migrate_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    svc_copy_stats stats;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = svc_copy_database(o->from, o->to, &stats, &err);
    if (st != VX_OK) {
        print_service_error("migrate", &err);
        return st == VX_EINVAL || st == VX_ECONFLICT ? CLI_EXIT_USAGE
                                                     : CLI_EXIT_FAIL;
    }
    printf("vexil: moved %lld documents (%lld flags), %lld sequences and "
           "%lld events\n",
           (long long)stats.documents, (long long)stats.flags,
           (long long)stats.sequences, (long long)stats.events);
    return CLI_EXIT_OK;
}

int cli_migrate_main(int argc, char **argv)
{
    int rc = CLI_EXIT_USAGE;
    conf c;
    static const struct option extra[] = {
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    migrate_opts o = {NULL, NULL};
    rc = parse_args(argc, argv, "migrate", MASK_DB, extra, migrate_usage,
                    migrate_extra, &o, &c);
    if (rc != -1)
        goto out;
    if (o.from || o.to) {
        if (c.flag[SET_DATABASE]) {
            fprintf(stderr, "vexil: migrate: --database does not go with "
                            "--from/--to\n");
            rc = CLI_EXIT_USAGE;
            goto out;
        }
        rc = copy_database(&o);
        goto out;
    }
    int applied = 0;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (svc_migrate(c.val[SET_DATABASE], &applied, &err) != VX_OK) {
        print_service_error(c.val[SET_DATABASE], &err);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    printf("vexil: %d migration%s applied\n", applied, applied == 1 ? "" : "s");
    rc = CLI_EXIT_OK;
out:
    conf_release(&c);
    return rc;
}

static void admin_token_usage(FILE *out)
{
    fputs("usage: vexil admin-token [--database DSN] [--config FILE]\n"
          "                         [--name NAME] [--rotate]\n"
          "\n"
          "Creates an admin API token directly in the database (no server\n"
          "needed) and prints its secret on standard output.\n"
          "  --database DSN   VEXIL_DATABASE   default sqlite:./data/vexil.db\n"
          "  --config FILE    VEXIL_CONFIG     config file (key = value)\n"
          "  --name NAME      the token's name (default: admin)\n"
          "  --rotate         revoke earlier tokens of that name first\n",
          out);
}

typedef struct admin_token_opts {
    const char *name; /* --name */
    bool rotate;      /* --rotate */
} admin_token_opts;

static bool admin_token_extra(int ch, void *ud)
{
    admin_token_opts *o = ud;
    if (ch == 'n')
        o->name = optarg;
    else if (ch == 'r')
        o->rotate = true;
    else
        return false;
    return true;
}

int cli_admin_token_main(int argc, char **argv)
{
    int rc = CLI_EXIT_USAGE;
    conf c;
    service *svc = NULL;
    static const struct option extra[] = {
        {"name", required_argument, NULL, 'n'},
        {"rotate", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    char joined[TOKENS_MAX];
    admin_token_opts o = {"admin", false};
    rc = parse_args(argc, argv, "admin-token", MASK_DB, extra,
                    admin_token_usage, admin_token_extra, &o, &c);
    if (rc != -1)
        goto out;
    const char *name = o.name;
    bool rotate = o.rotate;
    rc = CLI_EXIT_FAIL;
    svc_config sc = {.database = c.val[SET_DATABASE],
                     .no_first_admin_token = true,
                     .log = log_line};
    init_tokens(&sc, joined, sizeof(joined));
    char first[SVC_SECRET_MAX] = "";
    char secret[SVC_SECRET_MAX] = "";
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (svc_open(&sc, &svc, first, &err) != VX_OK) {
        print_service_error(sc.database, &err);
        goto out;
    }
    if (svc_admin_token(svc, name, rotate, secret, &err) != VX_OK) {
        print_service_error("admin-token", &err);
        goto out;
    }
    printf("%s\n", secret);
    fflush(stdout);
    rc = CLI_EXIT_OK;
out:
    svc_close(svc);
    conf_release(&c);
    return rc;
}
