/* The web UI's files (web/), embedded in the binary at build time by
 * cmake/EmbedAssets.cmake as a const table, and the handler that serves
 * them for GET and HEAD of every path outside /api/ and the operational
 * endpoints.
 *
 * Invariant: the UI is answered from the const table only (never from the
 * file system), and every answer carries the security headers (a strict
 * Content-Security-Policy, nosniff, no framing, no referrer). */
#ifndef VX_SERVER_UI_H
#define VX_SERVER_UI_H

#include <stddef.h>

#include "server/http.h"

/* One embedded file. All fields point at static data. */
typedef struct ui_asset {
    const char *path;           /* URL path, "/index.html" */
    const char *ctype;          /* Content-Type value */
    const unsigned char *bytes; /* the file's content */
    size_t len;                 /* bytes in it */
    const char *etag;           /* strong ETag, quotes included */
    const unsigned char *gz;    /* gzip of bytes, or NULL (not worth it) */
    size_t gz_len;              /* bytes in gz */
    const char *gz_etag;        /* ETag of the gzip form, or NULL */
} ui_asset;

/* The generated table (ui_assets.c in the build tree), sorted by path. */
extern const ui_asset ui_assets[];
extern const size_t ui_assets_count;

/* The asset at exactly `path` (`len` bytes, as sent), or NULL. */
const ui_asset *ui_asset_find(const char *path, size_t len);

/* Answers `r`: GET/HEAD only (else 405 with Allow). "/" and any path that
 * names no file (no dot in its last segment, not under /assets/) get
 * index.html, so the single-page app can route itself; a missing file is
 * 404. A client that accepts gzip gets the gzip form when there is one
 * (its own ETag; Vary: Accept-Encoding). An If-None-Match naming the ETag
 * of the form chosen gets 304. Thread-safe. */
void ui_serve(http_req *r);

#endif
