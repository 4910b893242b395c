/* File reading, error printing and JSON string output for the CLI; the
 * settings parsers and the stop-signal wait `serve` and `edge` share. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

char *cli_read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "vexil: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    bool bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (!buf || bad) {
        fprintf(stderr, "vexil: cannot read %s: %s\n", path,
                buf ? "read error" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

void cli_print_error(const char *file, const vx_error *err)
{
    const char *name = strcmp(file, "-") == 0 ? "<stdin>" : file;
    fprintf(stderr, "vexil: %s:%u:%u: %s%s%s\n", name, err->line, err->column,
            err->path[0] ? err->path : "", err->path[0] ? ": " : "",
            err->message);
}

void cli_json_string(FILE *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            if (c < 0x20) {
                fputs("\\u00", out);
                fputc(hex[c >> 4], out);
                fputc(hex[c & 15], out);
            } else {
                fputc(c, out);
            }
        }
    }
    fputc('"', out);
}

static bool parse_uint(const char *s, unsigned long long lo,
                       unsigned long long hi, bool sizes,
                       unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = s[0] == '-' ? 0 : strtoull(s, &end, 10);
    bool ok = s[0] != '-' && end != s && errno == 0;
    if (ok && sizes && (*end == 'k' || *end == 'K')) {
        ok = v <= hi / 1024;
        v *= 1024;
        end++;
    } else if (ok && sizes && (*end == 'm' || *end == 'M')) {
        ok = v <= hi / (1024 * 1024);
        v *= 1024 * 1024;
        end++;
    }
    if (!ok || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"on", "true", "yes", "1"};
    static const char *const no[] = {"off", "false", "no", "0"};
    for (size_t k = 0; k < sizeof(yes) / sizeof(yes[0]); k++) {
        if (strcasecmp(s, yes[k]) == 0 || strcasecmp(s, no[k]) == 0) {
            *out = strcasecmp(s, yes[k]) == 0;
            return true;
        }
    }
    return false;
}

bool cli_setting_uint(const char *where, const char *name, const char *val,
                      unsigned long long lo, unsigned long long hi, bool sizes,
                      unsigned long long *out)
{
    if (parse_uint(val, lo, hi, sizes, out))
        return true;
    fprintf(stderr,
            "vexil: %s: %s must be a whole number from %llu to %llu, not "
            "'%s'\n",
            where, name, lo, hi, val);
    return false;
}

bool cli_setting_bool(const char *where, const char *name, const char *val,
                      bool *out)
{
    if (parse_bool(val, out))
        return true;
    fprintf(stderr, "vexil: %s: %s must be on or off, not '%s'\n", where, name,
            val);
    return false;
}

static volatile sig_atomic_t stop_requested; /* set by SIGINT/SIGTERM */

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

void cli_stop_begin(cli_stop *s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &s->old);
    s->blocked = true;
}

void cli_stop_wait(const cli_stop *s)
{
    sigset_t wait_mask = s->old;
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    while (!stop_requested)
        sigsuspend(&wait_mask);
}

void cli_stop_end(cli_stop *s)
{
    if (s->blocked)
        sigprocmask(SIG_SETMASK, &s->old, NULL);
    s->blocked = false;
}
