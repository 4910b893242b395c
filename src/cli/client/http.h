/* A tiny JSON-over-HTTP request helper for the `vexil` client commands:
 * one libcurl easy handle per command run, reused across its requests. The
 * API token only ever goes into the Authorization header; nothing here
 * prints it, and verbose output is never turned on. */
#ifndef VX_CLI_CLIENT_HTTP_H
#define VX_CLI_CLIENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

/* Limits (STYLE.md rule 8). A whole export must fit in one response. */
#define CLI_HTTP_MAX_RESPONSE ((size_t)64 << 20) /* bytes of a body */
#define CLI_HTTP_MAX_URL      4096u              /* server + path */
#define CLI_HTTP_MAX_PATH     2048u              /* path + query */
#define CLI_HTTP_CONNECT_SECS 5L                 /* connect timeout */
#define CLI_HTTP_TOTAL_SECS   30L                /* whole request */
/* `vexil advise`: the server may ask its model twice, each call bounded by
 * --llm-timeout-ms (at most 600 s), before it answers. */
#define CLI_HTTP_ADVISE_SECS 1260L

/* One connection context. Embedded by the caller: cli_http_init fills it,
 * cli_http_release frees what it holds. Not thread-safe; one per thread. */
typedef struct cli_http {
    const char *server;           /* base URL, borrowed; no trailing '/' */
    size_t server_len;            /* length of server without trailing '/' */
    const char *token;            /* API secret, borrowed; never printed */
    CURL *curl;                   /* owned easy handle, reset per request */
    long status;                  /* HTTP status of the last answer, or 0 */
    char errbuf[CURL_ERROR_SIZE]; /* libcurl's message for the last error */
    long total_secs; /* whole-request timeout; 0 = CLI_HTTP_TOTAL_SECS */
} cli_http;

/* Prepares `h` for requests to `server` (e.g. "http://127.0.0.1:4242",
 * trailing slashes ignored) with `token`. Both strings are borrowed and must
 * outlive `h`. The token must not contain control characters. Requires
 * curl_global_init to have been called (main does it once). Returns
 * CLI_EXIT_OK, or prints the reason and returns CLI_EXIT_USAGE (bad server
 * or token) or CLI_EXIT_FAIL (libcurl failed); `h` then needs no release. */
int cli_http_init(cli_http *h, const char *server, const char *token);

/* Frees the curl handle. Accepts a zeroed or already released `h`. */
void cli_http_release(cli_http *h);

/* Sends `method` (GET, POST, PUT, PATCH, DELETE) to server + `path`, with
 * `body` (borrowed, may be NULL) as JSON. `path` must already be encoded
 * (see cli_http_pathf). On a 2xx answer returns CLI_EXIT_OK and, if `out` is
 * not NULL, stores the parsed body there (a new reference the caller must
 * json_decref; NULL when the body is empty). Otherwise prints one of
 *   vexil: <METHOD> <path>: <status> <message>   (+ one line per detail)
 *   vexil: cannot reach <server>: <curl error>
 * to stderr, leaves *out NULL and returns CLI_EXIT_FAIL. */
int cli_http_call(cli_http *h, const char *method, const char *path,
                  const json_t *body, json_t **out);

/* Percent-encodes `s` for one path segment or query value: everything but
 * A-Z a-z 0-9 - _ . ~ becomes %XX. Writes a NUL-terminated string to
 * (out, cap) and returns true, or returns false when it does not fit. */
bool cli_http_escape(const char *s, char *out, size_t cap);

/* Builds a request path into (out, cap) from `fmt`, in which the only
 * conversion is %s and every %s argument is percent-encoded as by
 * cli_http_escape ("%%" yields "%"). Returns true, or false when the result
 * does not fit or `fmt` holds another conversion. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
bool cli_http_pathf(char *out, size_t cap, const char *fmt, ...);

#endif
