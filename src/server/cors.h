/* CORS for the SDK endpoints a browser calls (the Unleash frontend API and
 * OFREP): both answer the origins of --frontend-origins the same way.
 *
 * Invariant: every answer of those endpoints, errors included, carries the
 * same Access-Control-Allow-Origin decision, so a browser can read a 401 or
 * a 429 as well as a 200; a preflight is answered without a token. */
#ifndef VX_SERVER_CORS_H
#define VX_SERVER_CORS_H

#include "server/http.h"

/* Adds Access-Control-Allow-Origin ("*", or the request's Origin when it
 * is one of the comma-separated `origins`, with "Vary: Origin") and
 * Access-Control-Expose-Headers `expose` to the answer about to be made.
 * `origins` NULL means "*"; the strings are borrowed for the request. */
void server_cors_headers(http_req *r, const char *origins, const char *expose);

/* Answers a preflight (OPTIONS) 204: the methods and request headers any
 * origin may use, cached a day. Whether it may read the answers is
 * server_cors_headers' business. */
void server_cors_preflight(http_req *r, const char *methods,
                           const char *headers);

#endif
