/* The web UI's static files: see ui.h. The table is tiny (a dozen files),
 * so lookups are a linear scan; nothing here allocates, every string an
 * answer borrows is static. Files are revalidated on every load
 * (Cache-Control: no-cache + ETag), so an upgraded binary never serves a
 * page that mixes old and new scripts, and an unchanged one costs a 304.
 * Text files also exist gzipped (compressed at build time), for clients
 * that accept it. */
#include "server/ui.h"

#include <string.h>
#include <strings.h>

#include "server/compress.h"

/* Scripts, styles, images and API calls from this origin only; no inline
 * script or style, no plugins, no framing, no <base> rewriting. */
#define UI_CSP                                                                 \
    "default-src 'none'; script-src 'self'; style-src 'self'; "                \
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; "              \
    "manifest-src 'self'; base-uri 'none'; form-action 'self'; "               \
    "frame-ancestors 'none'"

const ui_asset *ui_asset_find(const char *path, size_t len)
{
    for (size_t i = 0; i < ui_assets_count; i++) {
        const ui_asset *a = &ui_assets[i];
        if (strlen(a->path) == len && memcmp(a->path, path, len) == 0)
            return a;
    }
    return NULL;
}

/* True when the path names a file rather than a page of the app: its last
 * segment has a dot, or it is under /assets/. */
static bool names_file(const char *path, size_t len)
{
    static const char assets[] = "/assets/";
    if (len >= sizeof(assets) - 1 &&
        memcmp(path, assets, sizeof(assets) - 1) == 0)
        return true;
    size_t i = len;
    while (i > 0 && path[i - 1] != '/')
        i--;
    return memchr(path + i, '.', len - i) != NULL;
}

/* True when If-None-Match (`inm`, a list of entity tags or "*") names
 * `etag`. Weak tags match too (RFC 9110 13.1.2: weak comparison). */
static bool etag_matches(const char *inm, const char *etag)
{
    size_t elen = strlen(etag);
    const char *p = inm;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == elen && memcmp(p, etag, n) == 0)
            return true;
        p = end;
    }
    return false;
}

static void security_headers(http_req *r)
{
    http_reply_header(r, "Content-Security-Policy", UI_CSP);
    http_reply_header(r, "X-Content-Type-Options", "nosniff");
    http_reply_header(r, "X-Frame-Options", "DENY");
    http_reply_header(r, "Referrer-Policy", "no-referrer");
}

void ui_serve(http_req *r)
{
    const char *m = http_req_method(r);
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        http_reply_header(r, "Allow", "GET, HEAD");
        http_reply_problem(r, 405, "method not allowed", "", NULL);
        return;
    }
    const char *path = http_req_path(r);
    size_t len = http_req_path_len(r);
    static const char index_path[] = "/index.html";
    const ui_asset *a = ui_asset_find(path, len);
    if (!a && !names_file(path, len))
        a = ui_asset_find(index_path, sizeof(index_path) - 1);
    if (!a) {
        http_reply_problem(r, 404, "no such file", "", NULL);
        return;
    }
    bool gz =
        a->gz && server_accepts_gzip(http_req_header(r, "Accept-Encoding"));
    const char *etag = gz ? a->gz_etag : a->etag;
    security_headers(r);
    http_reply_header(r, "ETag", etag);
    http_reply_header(r, "Cache-Control", "no-cache");
    if (a->gz)
        http_reply_header(r, "Vary", "Accept-Encoding");
    if (etag_matches(http_req_header(r, "If-None-Match"), etag)) {
        http_reply_text(r, 304, NULL, "", 0);
        return;
    }
    if (gz) {
        http_reply_header(r, "Content-Encoding", "gzip");
        http_reply_text(r, 200, a->ctype, (const char *)a->gz, a->gz_len);
        return;
    }
    http_reply_text(r, 200, a->ctype, (const char *)a->bytes, a->len);
}
