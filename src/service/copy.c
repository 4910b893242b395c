/* `vexil migrate --from --to`: opens both databases, brings both schemas up
 * to date, checks that what the source holds is something libvexil loads
 * (the one gate, gate.c) and hands over to store_copy. Invariant: the
 * target is only ever written by store_copy's single transaction, and
 * only with data every SDK can load. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "service/internal.h"

/* Opens and migrates one end. `must_exist`: a SQLite source file that is
 * missing is an error (opening would create an empty one). */
static vx_status open_end(const char *dsn, const char *role, bool must_exist,
                          store **out, vx_error *err)
{
    const char *rest = NULL;
    char shown[256];
    *out = NULL;
    store_dsn_redact(dsn, shown, sizeof(shown));
    const store_ops *ops = store_backend_for(dsn, &rest);
    if (!ops)
        return vx__error_set(err, VX_EINVAL, "",
                             "%s: unknown database '%s' (expected "
                             "sqlite:PATH or postgres://...)",
                             role, shown);
    if (must_exist && ops == &store_sqlite_ops && access(rest, F_OK) != 0)
        return vx__error_set(err, VX_ENOTFOUND, "", "%s: no database at %s",
                             role, rest);
    store *st = NULL;
    int applied = 0;
    vx_status rc = ops->open(rest, NULL, &st, err);
    if (rc == VX_OK)
        rc = ops->migrate(st, &applied, err);
    if (rc != VX_OK) {
        char why[VX_ERROR_MSG_MAX];
        snprintf(why, sizeof(why), "%s", err ? err->message : "");
        ops->close(st);
        return vx__error_set(err, rc, "", "%s: %s", role, why);
    }
    *out = st;
    return VX_OK;
}

/* The source's flags and segments load in libvexil as SDKs get them:
 * data a version without the gate let in is not carried over silently. */
static vx_status gate_source(store *src, vx_error *err)
{
    static const svc_principal MIGRATE = {.kind = SVC_KIND_ADMIN,
                                          .role = SVC_ROLE_ADMIN,
                                          .name = "migrate",
                                          .environment = "*",
                                          .projects = "*"};
    service tmp;
    memset(&tmp, 0, sizeof(tmp));
    tmp.st = src;
    tmp.ops = src->ops;
    svc_req req = {0};
    vx_error local;
    memset(&local, 0, sizeof(local));
    svc_ctx c = {&tmp, &MIGRATE, &req, &local, 0};
    vx_status st = svc__gate_stored(&c);
    if (st == VX_EINVAL || st == VX_ELIMIT)
        return vx__error_set(err, st, "",
                             "--from: %.170s; fix or archive it there, then "
                             "migrate again",
                             local.message);
    if (st != VX_OK && err)
        *err = local;
    return st;
}

vx_status svc_copy_database(const char *from, const char *to,
                            svc_copy_stats *stats, vx_error *err)
{
    store *src = NULL, *dst = NULL;
    store_copy_stats cs;
    memset(stats, 0, sizeof(*stats));
    vx_status st = VX_OK;
    if (strcmp(from, to) == 0) {
        st = vx__error_set(err, VX_EINVAL, "",
                           "--from and --to name the same database");
        goto out;
    }
    st = open_end(from, "--from", true, &src, err);
    if (st == VX_OK)
        st = gate_source(src, err);
    if (st == VX_OK)
        st = open_end(to, "--to", false, &dst, err);
    if (st == VX_OK)
        st = store_copy(src, dst, &cs, err);
    if (st != VX_OK)
        goto out;
    for (int k = 0; k < STORE_KIND_COUNT; k++)
        stats->documents += cs.docs[k];
    stats->flags = cs.docs[STORE_FEATURE];
    stats->sequences = cs.sequences;
    stats->events = cs.events;
out:
    if (dst)
        dst->ops->close(dst);
    if (src)
        src->ops->close(src);
    return st;
}

void svc_dsn_redact(const char *dsn, char *buf, size_t cap)
{
    store_dsn_redact(dsn, buf, cap);
}
