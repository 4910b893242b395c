/* Backend selection by DSN scheme, and DSN redaction for messages.
 * Invariant: a DSN's password never reaches a message through here. */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

const store_ops *store_backend_for(const char *dsn, const char **rest)
{
    if (strncmp(dsn, "sqlite:", 7) == 0) {
        *rest = dsn + 7;
        return &store_sqlite_ops;
    }
    /* libpq parses the whole URI itself, both spellings included. */
    if (strncmp(dsn, "postgres://", 11) == 0 ||
        strncmp(dsn, "postgresql://", 13) == 0) {
        *rest = dsn;
        return &store_postgres_ops;
    }
    return NULL;
}

void store_dsn_redact(const char *dsn, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    const char *scheme = strstr(dsn, "://");
    const char *auth = scheme ? scheme + 3 : NULL;
    /* The authority ends at the first '/', '?' or '#'; the userinfo is what
     * precedes its last '@'. */
    size_t alen = auth ? strcspn(auth, "/?#") : 0;
    const char *at = NULL;
    for (size_t i = 0; auth && i < alen; i++) {
        if (auth[i] == '@')
            at = auth + i;
    }
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon)
        snprintf(buf, cap, "%.*s:***%s", (int)(colon - dsn), dsn, at);
    else
        snprintf(buf, cap, "%s", dsn);
    /* A password given as a query parameter (?password=...) goes too. */
    char *pw = strstr(buf, "password=");
    if (pw) {
        char *end = pw + 9 + strcspn(pw + 9, "&#");
        size_t tail = strlen(end);
        if ((size_t)(pw + 9 - buf) + 3 + tail < cap) {
            memmove(pw + 12, end, tail + 1);
            memcpy(pw + 9, "***", 3);
        } else {
            pw[9] = '\0';
        }
    }
}
