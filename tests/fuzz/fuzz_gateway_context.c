/* libFuzzer target for the caller's context the model gateway reads from a
 * request (src/server/gateway_client.c): the X-Vexil-Context header and
 * OpenAI's "metadata" object. The input is split at its first NUL: the
 * header text before it, the metadata JSON after it. Invariants checked:
 * on success every property has a valid, non-standard name and a value
 * within the limits, at most two sources' worth of them; on failure the
 * status is EINVAL, ELIMIT or ENOMEM with a path naming the header or the
 * metadata. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/limits.h"
#include "server/gateway_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool name_ok(vx_str k)
{
    if (k.len == 0 || k.len > VX_LIMIT_GW_CONTEXT_NAME_BYTES)
        return false;
    for (size_t i = 0; i < k.len; i++) {
        char ch = k.ptr[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
              ch == '~'))
            return false;
    }
    return !(k.len == 6 && memcmp(k.ptr, "userId", 6) == 0) &&
           !(k.len == 11 && memcmp(k.ptr, "currentTime", 11) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nul = memchr(p, '\0', size);
    size_t hn = nul ? (size_t)(nul - p) : size;
    char *header = malloc(hn + 1);
    if (!header)
        return 0;
    memcpy(header, p, hn);
    header[hn] = '\0';
    json_t *md =
        nul ? json_loadb(nul + 1, size - hn - 1, JSON_DECODE_ANY, NULL) : NULL;
    vx_arena a;
    vx__arena_init(&a, 1024);
    sdk_ctx b;
    sdk_ctx_init(&b);
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = gateway_client_context(&b, header, md, &a, &err);
    if (st == VX_OK) {
        if (b.c.nprops > 2 * VX_LIMIT_GW_CONTEXT_FIELDS || b.c.user_id.ptr)
            abort();
        for (size_t i = 0; i < b.c.nprops; i++) {
            if (!name_ok(b.props[i].key) ||
                b.props[i].value.len > VX_LIMIT_GW_CONTEXT_VALUE_BYTES)
                abort();
        }
    } else if ((st != VX_EINVAL && st != VX_ELIMIT && st != VX_ENOMEM) ||
               (st != VX_ENOMEM &&
                strncmp(err.path, "/headers/X-Vexil-Context", 24) != 0 &&
                strncmp(err.path, "/metadata", 9) != 0)) {
        abort();
    }
    vx__arena_release(&a);
    json_decref(md);
    free(header);
    return 0;
}
