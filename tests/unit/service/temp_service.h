/* Test helper for the service unit tests: a real SQLite service on a
 * temporary file (its defaults created as on a first start), and its
 * removal. Header-only, for the unit tests of the service and the hub;
 * use after cmocka.h. */
#ifndef VX_TESTS_UNIT_SERVICE_TEMP_SERVICE_H
#define VX_TESTS_UNIT_SERVICE_TEMP_SERVICE_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "service/service.h"

typedef struct temp_service {
    char dir[64];  /* temporary directory */
    char dsn[128]; /* sqlite:<dir>/vexil.db */
    service *svc;  /* the service on it */
} temp_service;

/* Opens a service on a new database in /tmp/vx-<name>-XXXXXX. */
static inline void temp_service_open(temp_service *t, const char *name)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/vx-%s-XXXXXX", name);
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->dsn, sizeof(t->dsn), "sqlite:%s/vexil.db", t->dir);
    svc_config sc = {.database = t->dsn};
    char secret[SVC_SECRET_MAX];
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (svc_open(&sc, &t->svc, secret, &err) != VX_OK)
        fail_msg("svc_open: %s", err.message);
}

/* Closes the service and removes its files and directory. */
static inline void temp_service_close(temp_service *t)
{
    svc_close(t->svc);
    const char *files[] = {"vexil.db", "vexil.db-wal", "vexil.db-shm"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[sizeof(t->dir) + 16];
        snprintf(path, sizeof(path), "%s/%s", t->dir, files[i]);
        unlink(path);
    }
    rmdir(t->dir);
}

#endif
