/* A token's project scope, for the service calls SDKs make (metrics,
 * registrations): what a client or frontend token may touch.
 *
 * Invariant: "*" (and the empty list of an in-process caller such as the
 * gateway) means every project; anything else is a comma-separated list of
 * whole project names, compared exactly. */
#include <string.h>

#include "service/internal.h"

bool svc__in_scope(const svc_principal *who, const char *project)
{
    const char *p = who->projects;
    size_t n = project ? strlen(project) : 0;
    if (strcmp(p, "*") == 0 || p[0] == '\0')
        return true;
    while (n && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, project, n) == 0)
            return true;
        p += len + (end ? 1 : 0);
    }
    return false;
}
