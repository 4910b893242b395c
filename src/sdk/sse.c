/* The Server-Sent Events parser (sse.h), following the WHATWG "event
 * stream interpretation": lines end in CRLF, LF or CR; a line starting
 * with ':' is a comment; "field: value" drops one space after the colon;
 * data lines accumulate; a blank line dispatches the event unless it has
 * no data; `id` with a NUL is ignored; `retry` takes digits only.
 *
 * Invariant: line_len <= max and data_len <= max at all times, and a line
 * longer than max fails the same way however the input is split (checked
 * by tests/fuzz/fuzz_sse.c). */
#include "sdk/sse.h"

#include <string.h>

#include "base/alloc.h"

void sdk_sse_init(sdk_sse *p, size_t max, sdk_sse_fn fn, void *ud)
{
    memset(p, 0, sizeof(*p));
    p->max = max;
    p->fn = fn;
    p->ud = ud;
    p->retry_ms = -1;
}

void sdk_sse_release(sdk_sse *p)
{
    vx__free(p->line);
    vx__free(p->data);
    p->line = p->data = NULL;
    p->line_len = p->line_cap = p->data_len = p->data_cap = 0;
}

void sdk_sse_reset(sdk_sse *p)
{
    p->line_len = 0;
    p->data_len = 0;
    p->has_data = false;
    p->after_cr = false;
    p->bom_checked = false;
    p->bom_n = 0;
    p->event[0] = '\0';
}

/* Makes room for `need` bytes plus a NUL in *buf (bounded by max). */
static vx_status reserve(char **buf, size_t *cap, size_t need, size_t max)
{
    if (need > max)
        return VX_ELIMIT;
    if (need + 1 <= *cap)
        return VX_OK;
    size_t n = *cap ? *cap : 256;
    while (n < need + 1)
        n *= 2;
    if (n > max + 1)
        n = max + 1;
    char *q = vx__realloc(*buf, n);
    if (!q)
        return VX_ENOMEM;
    *buf = q;
    *cap = n;
    return VX_OK;
}

static void set_name(char dst[SDK_SSE_NAME_MAX], const char *v, size_t n)
{
    if (n >= SDK_SSE_NAME_MAX)
        n = SDK_SSE_NAME_MAX - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static vx_status dispatch(sdk_sse *p)
{
    vx_status st = VX_OK;
    if (p->has_data) {
        size_t n = p->data_len;
        if (n && p->data[n - 1] == '\n')
            n--; /* the last data line's separator */
        p->data[n] = '\0';
        st =
            p->fn(p->ud, p->event[0] ? p->event : "message", p->data, n, p->id);
    }
    p->data_len = 0;
    p->has_data = false;
    p->event[0] = '\0';
    return st;
}

/* Interprets one complete line (without its terminator). */
static vx_status line(sdk_sse *p, const char *s, size_t n)
{
    if (n == 0)
        return dispatch(p);
    if (s[0] == ':')
        return VX_OK; /* comment (heartbeats) */
    const char *colon = memchr(s, ':', n);
    size_t flen = colon ? (size_t)(colon - s) : n;
    const char *v = colon ? colon + 1 : s + n;
    size_t vlen = colon ? n - flen - 1 : 0;
    if (vlen && v[0] == ' ') {
        v++;
        vlen--;
    }
    if (flen == 4 && memcmp(s, "data", 4) == 0) {
        vx_status st =
            reserve(&p->data, &p->data_cap, p->data_len + vlen + 1, p->max);
        if (st != VX_OK)
            return st;
        memcpy(p->data + p->data_len, v, vlen);
        p->data_len += vlen;
        p->data[p->data_len++] = '\n';
        p->has_data = true;
    } else if (flen == 5 && memcmp(s, "event", 5) == 0) {
        set_name(p->event, v, vlen);
    } else if (flen == 2 && memcmp(s, "id", 2) == 0) {
        if (!memchr(v, '\0', vlen))
            set_name(p->id, v, vlen);
    } else if (flen == 5 && memcmp(s, "retry", 5) == 0) {
        int64_t ms = 0;
        size_t i = 0;
        for (; i < vlen && v[i] >= '0' && v[i] <= '9' && ms < INT32_MAX; i++)
            ms = ms * 10 + (v[i] - '0');
        if (vlen && i == vlen)
            p->retry_ms = ms;
    }
    return VX_OK; /* other fields are ignored */
}

vx_status sdk_sse_feed(sdk_sse *p, const char *buf, size_t len)
{
    size_t i = 0;
    /* A UTF-8 BOM may start the stream, split across feeds like the rest. */
    static const char bom[] = "\xEF\xBB\xBF";
    while (!p->bom_checked && i < len) {
        if (buf[i] == bom[p->bom_n]) {
            i++;
            if (++p->bom_n == 3)
                p->bom_checked = true;
            continue;
        }
        /* Not a BOM: the bytes matched so far start the first line. */
        p->bom_checked = true;
        vx_status st = reserve(&p->line, &p->line_cap, p->bom_n, p->max);
        if (st != VX_OK)
            return st;
        memcpy(p->line, bom, p->bom_n);
        p->line_len = p->bom_n;
    }
    while (i < len) {
        char ch = buf[i];
        if (p->after_cr) {
            p->after_cr = false;
            if (ch == '\n') { /* the LF of a CRLF split or not */
                i++;
                continue;
            }
        }
        /* The run of bytes up to the next line end. */
        size_t j = i;
        while (j < len && buf[j] != '\n' && buf[j] != '\r')
            j++;
        const char *s = buf + i;
        size_t n = j - i;
        if (j == len) { /* no terminator yet: keep the partial line */
            vx_status st =
                reserve(&p->line, &p->line_cap, p->line_len + n, p->max);
            if (st != VX_OK)
                return st;
            memcpy(p->line + p->line_len, s, n);
            p->line_len += n;
            break;
        }
        vx_status st;
        if (p->line_len) {
            st = reserve(&p->line, &p->line_cap, p->line_len + n, p->max);
            if (st != VX_OK)
                return st;
            memcpy(p->line + p->line_len, s, n);
            p->line_len += n;
            st = line(p, p->line, p->line_len);
            p->line_len = 0;
        } else if (n > p->max) {
            return VX_ELIMIT; /* as if it had been buffered */
        } else {
            st = line(p, s, n);
        }
        if (st != VX_OK)
            return st;
        p->after_cr = buf[j] == '\r';
        i = j + 1;
    }
    return VX_OK;
}
