/* JSON requests to a Vexil server over one reused libcurl easy handle. The
 * handle is reset before every request, so no option leaks from one request
 * into the next; answers are buffered up to CLI_HTTP_MAX_RESPONSE bytes. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "http.h"

#define MAX_TOKEN 1024 /* longer than any secret the server issues */

/* The growing answer body; always NUL-terminated once data is non-NULL. */
typedef struct resp_buf {
    char *data;   /* owned */
    size_t len;   /* bytes received */
    size_t cap;   /* bytes allocated */
    bool too_big; /* the answer passed CLI_HTTP_MAX_RESPONSE */
    bool oom;     /* growing the buffer failed */
} resp_buf;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    resp_buf *b = ud;
    size_t n = size * nmemb;
    if (n > CLI_HTTP_MAX_RESPONSE - b->len) {
        b->too_big = true;
        return 0;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data) {
            b->oom = true;
            return 0;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static bool is_plain(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

bool cli_http_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        size_t need = is_plain(c) ? 1 : 3;
        if (n + need >= cap)
            return false;
        if (need == 1) {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    if (n >= cap)
        return false;
    out[n] = '\0';
    return true;
}

static bool vpathf(char *out, size_t cap, const char *fmt, va_list ap)
{
    size_t n = 0;
    bool ok = cap > 0;
    for (const char *p = fmt; ok && *p; p++) {
        if (*p == '%' && p[1] == 's') {
            p++;
            const char *arg = va_arg(ap, const char *);
            ok = cli_http_escape(arg, out + n, cap - n);
            if (ok)
                n += strlen(out + n);
        } else if (*p == '%' && p[1] != '%') {
            ok = false; /* only %s and %% are supported */
        } else {
            if (*p == '%')
                p++;
            ok = n + 1 < cap;
            if (ok)
                out[n++] = *p;
        }
    }
    if (cap > 0)
        out[ok ? n : 0] = '\0';
    return ok;
}

bool cli_http_pathf(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bool ok = vpathf(out, cap, fmt, ap);
    va_end(ap);
    return ok;
}

int cli_http_init(cli_http *h, const char *server, const char *token)
{
    memset(h, 0, sizeof(*h));
    size_t slen = strlen(server);
    while (slen > 0 && server[slen - 1] == '/')
        slen--;
    bool scheme = (slen > 7 && strncmp(server, "http://", 7) == 0) ||
                  (slen > 8 && strncmp(server, "https://", 8) == 0);
    if (!scheme || slen + CLI_HTTP_MAX_PATH >= CLI_HTTP_MAX_URL) {
        fputs("vexil: the server must be an http:// or https:// URL of at "
              "most 2000 characters\n",
              stderr);
        return CLI_EXIT_USAGE;
    }
    size_t tlen = strlen(token);
    bool token_ok = tlen > 0 && tlen <= MAX_TOKEN;
    for (size_t i = 0; token_ok && i < tlen; i++) {
        unsigned char c = (unsigned char)token[i];
        token_ok = c > 0x20 && c != 0x7f;
    }
    if (!token_ok) {
        /* Never echo the token: it may be a real secret pasted wrongly. */
        fputs("vexil: the API token is empty, too long or contains spaces or "
              "control characters\n",
              stderr);
        return CLI_EXIT_USAGE;
    }
    h->curl = curl_easy_init();
    if (!h->curl) {
        fputs("vexil: cannot initialise libcurl\n", stderr);
        return CLI_EXIT_FAIL;
    }
    h->server = server;
    h->server_len = slen;
    h->token = token;
    return CLI_EXIT_OK;
}

void cli_http_release(cli_http *h)
{
    if (h->curl)
        curl_easy_cleanup(h->curl);
    h->curl = NULL;
}

static const char *reason(long status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "HTTP error";
    }
}

/* "vexil: GET /path: 404 message", then "  /pointer: message" per detail. */
static void print_http_error(const char *method, const char *path, long status,
                             const json_t *body)
{
    fprintf(stderr, "vexil: %s ", method);
    cli_fputs_safe(path, stderr);
    fprintf(stderr, ": %ld ", status);
    const char *message = cli_json_str(body, "message", reason(status));
    cli_fputs_safe(message, stderr);
    fputc('\n', stderr);
    const json_t *details = json_object_get(body, "details");
    size_t i;
    const json_t *d;
    json_array_foreach (details, i, d) {
        const char *dpath = cli_json_str(d, "path", "");
        const char *dmsg = cli_json_str(d, "message", "invalid");
        if (!*dpath && strcmp(dmsg, message) == 0)
            continue; /* says nothing the first line did not */
        fputs("  ", stderr);
        if (*dpath) {
            cli_fputs_safe(dpath, stderr);
            fputs(": ", stderr);
        }
        cli_fputs_safe(dmsg, stderr);
        fputc('\n', stderr);
    }
}

/* Sets the options of one request on a freshly reset handle. */
static CURLcode set_options(cli_http *h, const char *method, const char *url,
                            const char *payload, struct curl_slist *headers,
                            resp_buf *resp)
{
    CURL *c = h->curl;
    CURLcode e = CURLE_OK;
    bool has_body = payload || strcmp(method, "POST") == 0 ||
                    strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
#define SET(opt, val)                                                          \
    do {                                                                       \
        if (e == CURLE_OK)                                                     \
            e = curl_easy_setopt(c, opt, val);                                 \
    } while (0)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_CONNECTTIMEOUT, CLI_HTTP_CONNECT_SECS);
    SET(CURLOPT_TIMEOUT, h->total_secs ? h->total_secs : CLI_HTTP_TOTAL_SECS);
    SET(CURLOPT_ERRORBUFFER, h->errbuf);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_WRITEFUNCTION, on_data);
    SET(CURLOPT_WRITEDATA, resp);
    SET(CURLOPT_USERAGENT, "vexil-cli/" VX_VERSION_STRING);
    if (!has_body) {
        SET(CURLOPT_HTTPGET, 1L);
        SET(CURLOPT_CUSTOMREQUEST, method);
    } else {
        /* POSTFIELDS makes a POST; CUSTOMREQUEST renames it. An empty body
         * is still sent with Content-Length: 0 and no Content-Type. */
        SET(CURLOPT_POSTFIELDS, payload ? payload : "");
        SET(CURLOPT_POSTFIELDSIZE_LARGE,
            (curl_off_t)(payload ? strlen(payload) : 0));
        SET(CURLOPT_CUSTOMREQUEST, method);
    }
#undef SET
    return e;
}

int cli_http_call(cli_http *h, const char *method, const char *path,
                  const json_t *body, json_t **out)
{
    int rc = CLI_EXIT_FAIL;
    char *payload = NULL;
    struct curl_slist *headers = NULL;
    resp_buf resp = {0};
    json_t *parsed = NULL;
    char url[CLI_HTTP_MAX_URL];
    char auth[MAX_TOKEN + 32];
    CURLcode e;
    json_error_t jerr;

    if (out)
        *out = NULL;
    h->status = 0;
    h->errbuf[0] = '\0';
    int n = snprintf(url, sizeof(url), "%.*s%s", (int)h->server_len, h->server,
                     path);
    if (n < 0 || (size_t)n >= sizeof(url)) {
        fprintf(stderr, "vexil: %s: request URL too long\n", method);
        goto out;
    }
    if (body) {
        payload = json_dumps(body, JSON_COMPACT);
        if (!payload) {
            fputs("vexil: out of memory\n", stderr);
            goto out;
        }
    }
    /* The secret goes into this header and nowhere else. */
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", h->token);
    const char *lines[] = {
        auth,
        "Accept: application/json",
        payload ? "Content-Type: application/json" : "Content-Type:",
        "Expect:",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        struct curl_slist *more = curl_slist_append(headers, lines[i]);
        if (!more) {
            fputs("vexil: out of memory\n", stderr);
            goto out;
        }
        headers = more;
    }
    curl_easy_reset(h->curl);
    e = set_options(h, method, url, payload, headers, &resp);
    if (e == CURLE_OK)
        e = curl_easy_perform(h->curl);
    if (e != CURLE_OK) {
        if (resp.too_big) {
            fprintf(stderr, "vexil: %s %s: answer larger than %zu bytes\n",
                    method, path, CLI_HTTP_MAX_RESPONSE);
        } else if (resp.oom) {
            fputs("vexil: out of memory\n", stderr);
        } else {
            fprintf(stderr, "vexil: cannot reach %.*s: ", (int)h->server_len,
                    h->server);
            cli_fputs_safe(h->errbuf[0] ? h->errbuf : curl_easy_strerror(e),
                           stderr);
            fputc('\n', stderr);
        }
        goto out;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);

    jerr.text[0] = '\0';
    if (resp.len > 0)
        parsed = json_loadb(resp.data, resp.len, JSON_DECODE_ANY, &jerr);
    if (h->status < 200 || h->status > 299) {
        print_http_error(method, path, h->status, parsed);
        goto out;
    }
    if (resp.len > 0 && !parsed) {
        fprintf(stderr, "vexil: %s %s: %ld answer is not JSON: ", method, path,
                h->status);
        cli_fputs_safe(jerr.text, stderr);
        fputc('\n', stderr);
        goto out;
    }
    if (out) {
        *out = parsed;
        parsed = NULL;
    }
    rc = CLI_EXIT_OK;
out:
    json_decref(parsed);
    free(resp.data);
    curl_slist_free_all(headers);
    free(payload);
    return rc;
}
