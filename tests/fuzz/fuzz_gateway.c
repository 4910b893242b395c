/* libFuzzer target for what the model gateway reads from untrusted text
 * (src/gateway/gw.c): a variant's upstream payload (vx__upstream_parse), and
 * an upstream's answer, whole and streamed (gw_scan_*: SSE or Ollama's
 * NDJSON). Invariants checked: a parsed payload has a NUL-terminated http(s)
 * base_url and ollama_url (without a trailing slash), a model and a timeout
 * within its limits, a header name exactly when sticky on a header, or an
 * error with a path; the stream scanner gives the
 * same counts, id, done and error whether the input comes whole, split at
 * one point chosen by the input, or one byte at a time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const gw_scan *a, const gw_scan *b)
{
    if (a->prompt_tokens != b->prompt_tokens ||
        a->completion_tokens != b->completion_tokens ||
        a->chunks != b->chunks || strcmp(a->id, b->id) != 0 ||
        a->done != b->done || a->error != b->error)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    vx_upstream u;
    vx_error err;
    memset(&err, 0, sizeof(err));
    vx_status st = vx__upstream_parse(p, size, &u, &err);
    if (st == VX_OK) {
        if (strnlen(u.base_url, sizeof(u.base_url)) == sizeof(u.base_url) ||
            (strncmp(u.base_url, "http://", 7) != 0 &&
             strncmp(u.base_url, "https://", 8) != 0) ||
            strnlen(u.ollama_url, sizeof(u.ollama_url)) ==
                sizeof(u.ollama_url) ||
            (strncmp(u.ollama_url, "http://", 7) != 0 &&
             strncmp(u.ollama_url, "https://", 8) != 0) ||
            u.ollama_url[strlen(u.ollama_url) - 1] == '/' || !u.model[0] ||
            u.timeout_ms < 1 || u.timeout_ms > VX_LIMIT_GW_TIMEOUT_MS ||
            (u.sticky == VX_UPSTREAM_STICKY_HEADER) !=
                (u.sticky_header[0] != '\0'))
            abort();
    } else if (st != VX_EINVAL && st != VX_ELIMIT && st != VX_ENOMEM) {
        abort();
    }

    gw_scan whole, split, bytes, once;
    gw_scan_init(&whole);
    gw_scan_init(&split);
    gw_scan_init(&bytes);
    gw_scan_init(&once);
    gw_scan_stream(&whole, p, size);
    size_t cut = size ? data[0] % (size + 1) : 0;
    gw_scan_stream(&split, p, cut);
    gw_scan_stream(&split, p + cut, size - cut);
    for (size_t i = 0; i < size; i++)
        gw_scan_stream(&bytes, p + i, 1);
    same(&whole, &split);
    same(&whole, &bytes);
    gw_scan_whole(&once, p, size);
    if (strnlen(once.id, sizeof(once.id)) == sizeof(once.id))
        abort();
    gw_scan_release(&whole);
    gw_scan_release(&split);
    gw_scan_release(&bytes);
    gw_scan_release(&once);
    return 0;
}
