/* store_copy: moves a whole installation from one store to another, any
 * backend to any backend, through the method table only. Invariant: the
 * target is written in one transaction that commits only after every
 * document, sequence and event was copied, so a failure leaves it empty. */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "base/limits.h"
#include "store/store.h"

static const char *const KIND_NAMES[STORE_KIND_COUNT] = {
    [STORE_PROJECT] = "projects",
    [STORE_ENVIRONMENT] = "environments",
    [STORE_FEATURE] = "flags",
    [STORE_SEGMENT] = "segments",
    [STORE_FEATURE_TYPE] = "feature types",
    [STORE_TOKEN] = "API tokens",
    [STORE_USAGE] = "usage buckets",
    [STORE_CLIENT_APP] = "registered SDK instances",
    [STORE_IMPACT] = "impact buckets",
    [STORE_IMPACT_BATCH] = "impact batch ids",
    [STORE_PLAN] = "release plans",
    [STORE_SCHEDULE] = "scheduled changes",
    [STORE_LEASE] = "leases",
    [STORE_STRATEGY] = "strategy definitions",
    [STORE_SESSION] = "console sessions",
};

/* VX_ECONFLICT unless `to` holds no document, sequence or event. */
static vx_status check_empty(store *to, vx_error *err)
{
    const store_ops *o = to->ops;
    char what[256] = "";
    size_t n = 0;
    vx_status st = VX_OK;
    for (int k = 0; k < STORE_KIND_COUNT && st == VX_OK; k++) {
        int64_t c = 0;
        st = o->doc_count(to, (store_kind)k, &c, err);
        if (st == VX_OK && c > 0 && n < sizeof(what)) {
            int w = snprintf(what + n, sizeof(what) - n, "%s%lld %s",
                             n ? ", " : "", (long long)c,
                             KIND_NAMES[k] ? KIND_NAMES[k] : "documents");
            n += w > 0 ? (size_t)w : 0;
        }
    }
    json_t *events = NULL, *seqs = NULL;
    int64_t total = 0;
    store_event_filter all = {0};
    if (st == VX_OK)
        st = o->event_query(to, &all, &events, &total, err);
    if (st == VX_OK)
        st = o->seq_list(to, &seqs, err);
    if (st == VX_OK && total > 0 && n < sizeof(what)) {
        int w = snprintf(what + n, sizeof(what) - n, "%s%lld events",
                         n ? ", " : "", (long long)total);
        n += w > 0 ? (size_t)w : 0;
    }
    if (st == VX_OK && json_object_size(seqs) > 0 && n == 0)
        snprintf(what, sizeof(what), "%zu sequences", json_object_size(seqs));
    json_decref(events);
    json_decref(seqs);
    if (st == VX_OK && what[0])
        st = vx__error_set(err, VX_ECONFLICT, "",
                           "the target database is not empty (%s): migrate "
                           "only into a new, empty database",
                           what);
    return st;
}

static vx_status copy_docs(store *from, store *to, store_copy_stats *stats,
                           vx_error *err)
{
    vx_status st = VX_OK;
    for (int k = 0; k < STORE_KIND_COUNT && st == VX_OK; k++) {
        json_t *rows = NULL;
        st = from->ops->doc_entries(from, (store_kind)k, &rows, err);
        size_t i;
        json_t *row;
        json_array_foreach (rows, i, row) {
            if (st != VX_OK)
                break;
            st = to->ops->doc_put(to, (store_kind)k,
                                  json_string_value(json_array_get(row, 0)),
                                  json_string_value(json_array_get(row, 1)),
                                  json_array_get(row, 2), err);
            if (st == VX_OK)
                stats->docs[k]++;
        }
        json_decref(rows);
    }
    return st;
}

static vx_status copy_sequences(store *from, store *to, store_copy_stats *stats,
                                vx_error *err)
{
    json_t *seqs = NULL;
    vx_status st = from->ops->seq_list(from, &seqs, err);
    const char *name;
    json_t *v;
    json_object_foreach (seqs, name, v) {
        if (st != VX_OK)
            break;
        st = to->ops->seq_set(to, name, json_integer_value(v), err);
        if (st == VX_OK)
            stats->sequences++;
    }
    json_decref(seqs);
    return st;
}

static const char *str_or_null(const json_t *ev, const char *key)
{
    return json_string_value(json_object_get(ev, key));
}

static const json_t *json_or_absent(const json_t *ev, const char *key)
{
    const json_t *j = json_object_get(ev, key);
    return json_is_null(j) ? NULL : j;
}

/* Pages through the source log newest first; ids and times are kept, so
 * the order the target shows is the same. */
static vx_status copy_events(store *from, store *to, store_copy_stats *stats,
                             vx_error *err)
{
    vx_status st = VX_OK;
    int64_t total = 1;
    for (int64_t offset = 0; st == VX_OK && offset < total;
         offset += VX_LIMIT_DB_COPY_EVENT_PAGE) {
        store_event_filter f = {.offset = offset,
                                .limit = VX_LIMIT_DB_COPY_EVENT_PAGE};
        json_t *page = NULL;
        st = from->ops->event_query(from, &f, &page, &total, err);
        size_t i;
        json_t *e;
        json_array_foreach (page, i, e) {
            if (st != VX_OK)
                break;
            store_event ev = {
                .id = json_integer_value(json_object_get(e, "id")),
                .type = str_or_null(e, "type"),
                .created_by = str_or_null(e, "createdBy"),
                .project = str_or_null(e, "project"),
                .environment = str_or_null(e, "environment"),
                .feature = str_or_null(e, "featureName"),
                .data = json_or_absent(e, "data"),
                .pre_data = json_or_absent(e, "preData"),
                .created_ms =
                    json_integer_value(json_object_get(e, "createdAtMs")),
            };
            st = to->ops->event_put(to, &ev, err);
            if (st == VX_OK)
                stats->events++;
        }
        bool empty = json_array_size(page) == 0;
        json_decref(page);
        if (empty)
            break; /* the log shrank: cannot happen, it is append-only */
    }
    return st;
}

vx_status store_copy(store *from, store *to, store_copy_stats *stats,
                     vx_error *err)
{
    memset(stats, 0, sizeof(*stats));
    bool from_open = false, to_open = false;
    /* The source's write transaction keeps other writers out meanwhile. */
    vx_status st = from->ops->begin(from, err);
    from_open = st == VX_OK;
    if (st == VX_OK)
        st = to->ops->begin(to, err);
    to_open = from_open && st == VX_OK;
    if (st == VX_OK)
        st = check_empty(to, err);
    if (st == VX_OK)
        st = copy_docs(from, to, stats, err);
    if (st == VX_OK)
        st = copy_sequences(from, to, stats, err);
    if (st == VX_OK)
        st = copy_events(from, to, stats, err);
    if (st == VX_OK) {
        st = to->ops->commit(to, err);
        to_open = st != VX_OK; /* a failed commit may leave it open */
    }
    if (to_open)
        to->ops->rollback(to);
    if (st != VX_OK)
        memset(stats, 0, sizeof(*stats));
    if (from_open)
        from->ops->rollback(from); /* read only: nothing to keep */
    return st;
}
