/* What edge nodes forward (service.h, "edge nodes"): batches of SDK
 * registrations and usage, each item kept as if it had arrived at the
 * edge's receive time, so release plans count traffic through an edge in
 * the epoch a direct post would have counted in.
 *
 * Invariant: an item of a batch is kept at most once per process: the
 * batch's id and how many of its items were handled are remembered (a
 * ring of VX_LIMIT_EDGE_SEEN_BATCHES, under its own mutex, never held
 * across the reports' lock), and a repeat resumes after them. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/limits.h"
#include "service/internal.h"

/* A batch handled: the hash of "environment|batchId", items handled. */
typedef struct seen_batch {
    uint64_t key[2]; /* BLAKE2b-128 of the key; zero = free */
    size_t handled;  /* items handled from the first */
} seen_batch;

typedef struct svc_edge_seen {
    pthread_mutex_t mu;                          /* guards the ring */
    seen_batch ring[VX_LIMIT_EDGE_SEEN_BATCHES]; /* newest at next - 1 */
    size_t next;                                 /* slot to use next */
} svc_edge_seen;

vx_status svc__edge_init(service *s)
{
    s->edge_seen = vx__calloc(1, sizeof(*s->edge_seen));
    if (!s->edge_seen)
        return VX_ENOMEM;
    pthread_mutex_init(&s->edge_seen->mu, NULL);
    return VX_OK;
}

void svc__edge_release(service *s)
{
    if (!s || !s->edge_seen)
        return;
    pthread_mutex_destroy(&s->edge_seen->mu);
    vx__free(s->edge_seen);
    s->edge_seen = NULL;
}

static void batch_key(const char *env, const char *id, uint64_t key[2])
{
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 16);
    crypto_generichash_update(&h, (const unsigned char *)env, strlen(env) + 1);
    crypto_generichash_update(&h, (const unsigned char *)id, strlen(id));
    crypto_generichash_final(&h, (unsigned char *)key, 16);
    if (!key[0] && !key[1])
        key[0] = 1; /* zero marks a free slot */
}

/* The entry of `key`, or NULL (under mu). */
static seen_batch *seen_find(svc_edge_seen *e, const uint64_t key[2])
{
    for (size_t i = 0; i < VX_LIMIT_EDGE_SEEN_BATCHES; i++)
        if (e->ring[i].key[0] == key[0] && e->ring[i].key[1] == key[1])
            return &e->ring[i];
    return NULL;
}

static size_t seen_handled(svc_edge_seen *e, const uint64_t key[2])
{
    pthread_mutex_lock(&e->mu);
    seen_batch *b = seen_find(e, key);
    size_t n = b ? b->handled : 0;
    pthread_mutex_unlock(&e->mu);
    return n;
}

static void seen_note(svc_edge_seen *e, const uint64_t key[2], size_t handled)
{
    pthread_mutex_lock(&e->mu);
    seen_batch *b = seen_find(e, key);
    if (!b) {
        b = &e->ring[e->next];
        e->next = (e->next + 1) % VX_LIMIT_EDGE_SEEN_BATCHES;
        memcpy(b->key, key, sizeof(b->key));
    }
    if (handled > b->handled)
        b->handled = handled;
    pthread_mutex_unlock(&e->mu);
}

/* The whole batch's shape, before anything is kept. */
static vx_status check_items(const json_t *body, vx_error *err)
{
    if (!json_is_object(body))
        return vx__error_set(err, VX_EINVAL, "", "expected an object");
    const json_t *id = json_object_get(body, "batchId");
    if (!json_is_string(id) || json_string_length(id) == 0 ||
        json_string_length(id) > 100)
        return vx__error_set(err, VX_EINVAL, "/batchId",
                             "batchId must be a string of 1 to 100 "
                             "characters");
    const json_t *items = json_object_get(body, "items");
    if (!json_is_array(items))
        return vx__error_set(err, VX_EINVAL, "/items",
                             "items must be an array");
    if (json_array_size(items) > VX_LIMIT_EDGE_BATCH_ENTRIES)
        return vx__error_set(err, VX_ELIMIT, "/items", "at most %d items",
                             VX_LIMIT_EDGE_BATCH_ENTRIES);
    size_t i;
    const json_t *it;
    json_array_foreach (items, i, it) {
        const json_t *at = json_object_get(it, "receivedAt");
        bool reg = json_object_get(it, "register") != NULL;
        bool met = json_object_get(it, "metrics") != NULL;
        if (!json_is_object(it) || !json_is_integer(at) || reg == met) {
            char p[48];
            snprintf(p, sizeof(p), "/items/%zu", i);
            return vx__error_set(err, VX_EINVAL, p,
                                 "an item is {\"receivedAt\": ms, \"register\" "
                                 "or \"metrics\": the SDK's body}");
        }
    }
    return VX_OK;
}

vx_status svc_edge_reports(service *s, const svc_principal *who,
                           const json_t *body, size_t *accepted,
                           json_t **rejected, vx_error *err)
{
    *accepted = 0;
    *rejected = NULL;
    vx_status st = check_items(body, err);
    if (st != VX_OK)
        return st;
    *rejected = json_array();
    if (!*rejected)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    uint64_t key[2];
    batch_key(who->environment,
              json_string_value(json_object_get(body, "batchId")), key);
    const json_t *items = json_object_get(body, "items");
    size_t n = json_array_size(items);
    size_t i = seen_handled(s->edge_seen, key);
    int64_t now = vx__wall_ms();
    for (; i < n; i++) {
        const json_t *it = json_array_get(items, i);
        int64_t at =
            (int64_t)json_integer_value(json_object_get(it, "receivedAt"));
        if (at > now || at < now - VX_LIMIT_EDGE_ARRIVAL_MS)
            at = now;
        const json_t *reg = json_object_get(it, "register");
        vx_error e;
        memset(&e, 0, sizeof(e));
        vx_status one =
            reg ? svc__client_register_at(s, who, reg, at, &e)
                : svc__client_metrics_at(s, who, json_object_get(it, "metrics"),
                                         at, &e);
        if (one == VX_EUNAVAILABLE || one == VX_ENOMEM) {
            st = vx__error_set(err, one, e.path, "%s", e.message);
            break;
        }
        if (one != VX_OK)
            json_array_append_new(
                *rejected, json_pack("{sI ss ss}", "index", (json_int_t)i,
                                     "path", e.path, "message", e.message));
    }
    *accepted = i;
    seen_note(s->edge_seen, key, i);
    return st;
}
