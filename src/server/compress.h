/* gzip for answers: which clients accept it, and the admin API's JSON
 * answers compressed for them (the console's flag list is hundreds of KB
 * of JSON). Stateless; every buffer lives in the request's arena. */
#ifndef VX_SERVER_COMPRESS_H
#define VX_SERVER_COMPRESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "server/http.h"

/* Answers smaller than this are sent as they are: gzip would not pay. */
#define SERVER_GZIP_MIN_BYTES 1024

/* True when the Accept-Encoding value `ae` (may be NULL) admits gzip:
 * "gzip", "x-gzip" or "*" listed without q=0 (RFC 9110 12.5.3). */
bool server_accepts_gzip(const char *ae);

/* Answers `body` as JSON with `status`, gzipped when the request accepts
 * gzip and the text is at least SERVER_GZIP_MIN_BYTES, always with
 * `Vary: Accept-Encoding`. Falls back to the plain text when compressing
 * fails; out of memory is a 500 as in http_reply_json. */
void server_reply_json_gz(http_req *r, unsigned status, const json_t *body);

#endif
