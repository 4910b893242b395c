/* CORS for the browser-facing SDK endpoints (see cors.h). */
#include "server/cors.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* True when `origin` is one of the comma-separated `list` (spaces around
 * the commas are ignored). */
static bool origin_listed(const char *list, const char *origin)
{
    size_t n = strlen(origin);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && t[-1] == ' ')
            t--;
        if ((size_t)(t - p) == n && strncasecmp(p, origin, n) == 0)
            return true;
        p = e;
    }
    return false;
}

void server_cors_headers(http_req *r, const char *origins, const char *expose)
{
    const char *list = origins ? origins : "*";
    const char *origin = http_req_header(r, "Origin");
    if (strcmp(list, "*") == 0) {
        http_reply_header(r, "Access-Control-Allow-Origin", "*");
    } else {
        http_reply_header(r, "Vary", "Origin");
        if (origin && origin_listed(list, origin))
            http_reply_header(r, "Access-Control-Allow-Origin", origin);
    }
    if (expose)
        http_reply_header(r, "Access-Control-Expose-Headers", expose);
}

void server_cors_preflight(http_req *r, const char *methods,
                           const char *headers)
{
    http_reply_header(r, "Access-Control-Allow-Methods", methods);
    http_reply_header(r, "Access-Control-Allow-Headers", headers);
    http_reply_header(r, "Access-Control-Max-Age", "86400");
    http_reply_text(r, 204, NULL, "", 0);
}
