/* gzip for answers: see compress.h. zlib's deflate with a gzip wrapper,
 * one pass into an arena buffer of deflateBound's size, so a compressed
 * answer costs one allocation besides the JSON text. */
#include "server/compress.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "base/arena.h"

bool server_accepts_gzip(const char *ae)
{
    const char *p = ae;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ",; \t");
        bool named = (n == 4 && strncasecmp(p, "gzip", 4) == 0) ||
                     (n == 6 && strncasecmp(p, "x-gzip", 6) == 0) ||
                     (n == 1 && p[0] == '*');
        const char *end = strchr(p, ',');
        size_t span = end ? (size_t)(end - p) : strlen(p);
        bool zero = false;
        const char *q = memchr(p, ';', span);
        if (q) {
            q++;
            while (*q == ' ' || *q == '\t')
                q++;
            if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
                zero = true; /* "0", "0.", "0.000": only zeros and a dot */
                for (q += 2; q < p + span && *q != ' ' && *q != '\t'; q++)
                    if (*q != '0' && *q != '.')
                        zero = false;
            }
        }
        if (named && !zero)
            return true;
        p = end;
    }
    return false;
}

/* gzip of `in` into the arena; NULL when zlib or the arena fails. */
static char *gzip_into(vx_arena *a, const char *in, size_t len, size_t *out_len)
{
    z_stream z;
    char *out = NULL;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&z, (uLong)len) + 32;
    out = vx__arena_alloc(a, cap);
    if (out) {
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)len;
        z.next_out = (Bytef *)out;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) == Z_STREAM_END)
            *out_len = cap - z.avail_out;
        else
            out = NULL;
    }
    deflateEnd(&z);
    return out;
}

void server_reply_json_gz(http_req *r, unsigned status, const json_t *body)
{
    static const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    http_reply_header(r, "Vary", "Accept-Encoding");
    if (status == 204 || !body) {
        http_reply_json(r, status, body);
        return;
    }
    size_t len = json_dumpb(body, NULL, 0, flags);
    if (len < SERVER_GZIP_MIN_BYTES ||
        !server_accepts_gzip(http_req_header(r, "Accept-Encoding"))) {
        http_reply_json(r, status, body);
        return;
    }
    vx_arena *a = http_req_arena(r);
    char *text = vx__arena_alloc(a, len);
    if (!text || json_dumpb(body, text, len, flags) != len) {
        http_reply_json(r, status, body); /* answers 500 when out of memory */
        return;
    }
    size_t zlen = 0;
    char *z = len <= (size_t)UINT32_MAX ? gzip_into(a, text, len, &zlen) : NULL;
    if (!z) {
        http_reply_text(r, status, "application/json", text, len);
        return;
    }
    http_reply_header(r, "Content-Encoding", "gzip");
    http_reply_text(r, status, "application/json", z, zlen);
}
