/* Backend selection by DSN scheme. */
#include "store/store.h"

#include <string.h>

const store_ops *store_backend_for(const char *dsn, const char **rest)
{
    if (strncmp(dsn, "sqlite:", 7) == 0) {
        *rest = dsn + 7;
        return &store_sqlite_ops;
    }
    return NULL;
}
