/* The service core: opening the database with its defaults, authentication,
 * and svc_call, which authorizes an operation against the op table and runs
 * its handler in one transaction. Handlers live in the other files. */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/limits.h"
#include "service/internal.h"

/* ---- the op table: who may call what ------------------------------------- */

typedef struct op_info {
    const char *name;    /* "PROJECT_LIST" */
    svc_handler handler; /* implementation */
    svc_role min_role;   /* least admin role allowed */
    bool writes;         /* runs in a write transaction */
} op_info;

#define R SVC_ROLE_VIEWER
#define E SVC_ROLE_EDITOR
#define A SVC_ROLE_ADMIN
static const op_info OPS[SVC_OP_COUNT] = {
#define OP(name, role, w) [SVC_OP_##name] = {#name, svc__op_##name, role, w},
    OP(PROJECT_LIST, R, false) OP(PROJECT_CREATE, E, true) OP(
        PROJECT_GET, R, false) OP(PROJECT_DELETE, E, true)
        OP(ENVIRONMENT_LIST, R, false) OP(ENVIRONMENT_CREATE, A, true) OP(
            FEATURE_LIST, R, false) OP(FEATURE_LIST_ALL, R,
                                       false) OP(FEATURE_CREATE, E, true)
            OP(FEATURE_GET, R, false) OP(FEATURE_UPDATE, E, true) OP(
                FEATURE_PATCH, E, true) OP(FEATURE_ARCHIVE, E,
                                           true) OP(FEATURE_VALIDATE, R, false)
                OP(ARCHIVE_LIST, R, false) OP(ARCHIVE_REVIVE, E, true) OP(
                    ARCHIVE_DELETE,
                    E,
                    true) OP(STALE_SET, E,
                             true) OP(TAG_LIST, R, false)
                    OP(TAG_ADD, E, true) OP(TAG_REMOVE, E, true) OP(
                        ENV_ON,
                        E,
                        true) OP(ENV_OFF, E,
                                 true) OP(STRATEGY_LIST, R, false)
                        OP(STRATEGY_ADD, E, true) OP(STRATEGY_GET, R, false) OP(
                            STRATEGY_UPDATE,
                            E,
                            true) OP(STRATEGY_DELETE, E,
                                     true) OP(STRATEGY_ORDER, E, true)
                            OP(VARIANTS_GET, R,
                               false) OP(VARIANTS_PUT, E,
                                         true) OP(VARIANTS_PATCH, E, true)
                                OP(SEGMENT_LIST, R, false) OP(
                                    SEGMENT_CREATE,
                                    E,
                                    true) OP(SEGMENT_GET, R,
                                             false) OP(SEGMENT_UPDATE, E, true)
                                    OP(SEGMENT_DELETE, E,
                                       true) OP(DEPENDENCY_ADD, E, true)
                                        OP(DEPENDENCY_REMOVE, E, true) OP(
                                            DEPENDENCY_REMOVE_ALL, E,
                                            true) OP(TOKEN_LIST, A, false)
                                            OP(TOKEN_CREATE, A, true) OP(
                                                TOKEN_UPDATE, A,
                                                true) OP(TOKEN_DELETE, A, true)
                                                OP(EVENT_SEARCH, R, false) OP(
                                                    FEATURE_TYPE_LIST, R, false)
                                                    OP(FEATURE_TYPE_LIFETIME, A,
                                                       true) OP(PLAYGROUND, R,
                                                                false) OP(EXPORT,
                                                                          R,
                                                                          false)
                                                        OP(IMPORT, A, true) OP(
                                                            FEATURE_USAGE, R,
                                                            false)
                                                            OP(APPLICATION_LIST,
                                                               R, false)
    /* clang-format off */
    OP(PLAN_LIST, R, false) OP(PLAN_GET, R, false) OP(PLAN_PUT, E, true)
    OP(PLAN_DELETE, E, true) OP(PLAN_ACTION, E, true)
    OP(SCHEDULE_LIST, R, false) OP(SCHEDULE_CREATE, E, true)
    OP(SCHEDULE_DELETE, E, true) OP(STALE_REPORT, R, false)
    OP(STRATEGY_DEF_LIST, R, false) OP(STRATEGY_DEF_GET, R, false)
    OP(STRATEGY_DEF_CREATE, E, true) OP(STRATEGY_DEF_UPDATE, E, true)
    OP(STRATEGY_DEF_DELETE, E, true) OP(STRATEGY_DEF_DEPRECATE, E, true)
    OP(STRATEGY_DEF_REACTIVATE, E, true)
    OP(ARCHIVE_LIST_PROJECT, R, false) OP(ARCHIVE_BULK, E, true)
    OP(REVIVE_BULK, E, true) OP(DELETE_BULK, E, true)
    OP(IMPORT_UNLEASH, A, true)
    OP(STRATEGY_PATCH, E, true) OP(RESULTS, R, false)
/* clang-format on */
#undef OP
};
#undef R
#undef E
#undef A

const char *svc_op_name(svc_op op)
{
    return op < SVC_OP_COUNT ? OPS[op].name : "UNKNOWN";
}

/* ---- small shared helpers ---------------------------------------------------
 */

static void note_db_error(svc_ctx *c, vx_status st)
{
    if (st == VX_EIO || st == VX_EUNAVAILABLE)
        atomic_fetch_add(&c->s->db_errors, 1);
}

vx_status svc__get(svc_ctx *c, store_kind k, const char *key, json_t **out)
{
    vx_status st = c->s->ops->doc_get(c->s->st, k, key, out, c->err);
    note_db_error(c, st);
    return st;
}

vx_status svc__put(svc_ctx *c, store_kind k, const char *key,
                   const char *parent, const json_t *doc)
{
    vx_status st = c->s->ops->doc_put(c->s->st, k, key, parent, doc, c->err);
    note_db_error(c, st);
    return st;
}

vx_status svc__del(svc_ctx *c, store_kind k, const char *key)
{
    vx_status st = c->s->ops->doc_delete(c->s->st, k, key, c->err);
    note_db_error(c, st);
    return st;
}

vx_status svc__list(svc_ctx *c, store_kind k, const char *parent, json_t **out)
{
    vx_status st = c->s->ops->doc_list(c->s->st, k, parent, out, c->err);
    note_db_error(c, st);
    return st;
}

vx_status svc__audit(svc_ctx *c, const char *type, const char *project,
                     const char *environment, const char *feature,
                     const json_t *data, const json_t *pre_data)
{
    store_event ev = {
        .type = type,
        .created_by = c->who->name,
        .project = project,
        .environment = environment,
        .feature = feature,
        .data = data,
        .pre_data = pre_data,
        .created_ms = c->now_ms,
    };
    vx_status st = c->s->ops->event_append(c->s->st, &ev, c->err);
    note_db_error(c, st);
    return st;
}

vx_status svc__fail(svc_ctx *c, vx_status st, const char *path, const char *fmt,
                    ...)
{
    char msg[VX_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vx__error_set(c->err, st, path, "%s", msg);
}

vx_status svc__not_found(svc_ctx *c, const char *what, const char *name)
{
    return svc__fail(c, VX_ENOTFOUND, "", "%s '%s' not found", what,
                     name ? name : "");
}

void svc__warn(svc_ctx *c, const char *path, const char *fmt, ...)
{
    char msg[VX_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!c->warnings)
        c->warnings = json_array();
    if (json_array_size(c->warnings) >= VX_LIMIT_WARNINGS)
        return;
    json_array_append_new(c->warnings,
                          json_pack("{ss ss}", "path", path, "message", msg));
}

void svc__time_str(int64_t ms, char buf[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, 32, "%s.%03dZ", base, (int)(ms % 1000));
}

void svc__hour_str(int64_t ms, char out[16])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, 16, "%Y-%m-%dT%H", &tm);
}

vx_status svc__each_hour(svc_ctx *c, store_kind kind, int64_t from_h,
                         int64_t to_h, svc_hour_fn fn, void *ud)
{
    vx_status st = VX_OK;
    for (int64_t h = from_h; st == VX_OK && h < to_h; h++) {
        char hs[16];
        json_t *docs = NULL;
        svc__hour_str(h * 3600000, hs);
        st = svc__list(c, kind, hs, &docs);
        size_t i;
        json_t *d;
        json_array_foreach (docs, i, d) {
            if (st != VX_OK)
                break;
            st = fn(c, ud, hs, d);
        }
        json_decref(docs);
    }
    return st;
}

json_t *svc__time_json(int64_t ms)
{
    char buf[32];
    svc__time_str(ms, buf);
    return json_string(buf);
}

void svc__uuid(char out[37])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[n++] = '-';
        out[n++] = hex[b[i] >> 4];
        out[n++] = hex[b[i] & 15];
    }
    out[n] = '\0';
}

/* ---- tokens
 * ------------------------------------------------------------------ */

static void hash_hex(const char *secret, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)secret, len);
    sodium_bin2hex(out, 65, h, sizeof(h));
}

/* Makes "<project>:<env>.<64 hex>" with 256 random bits. */
static void make_secret(const char *project, const char *env,
                        char out[SVC_SECRET_MAX])
{
    unsigned char r[32];
    char hex[65];
    randombytes_buf(r, sizeof(r));
    sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
    snprintf(out, SVC_SECRET_MAX, "%s:%s.%s", project, env, hex);
}

static const char *kind_name(svc_token_kind k)
{
    return k == SVC_KIND_ADMIN    ? "admin"
           : k == SVC_KIND_CLIENT ? "client"
                                  : "frontend";
}

static const char *role_name(svc_role r)
{
    return r == SVC_ROLE_ADMIN    ? "admin"
           : r == SVC_ROLE_EDITOR ? "editor"
           : r == SVC_ROLE_VIEWER ? "viewer"
                                  : NULL;
}

/* Stores a token document for `secret`; the caller is in a transaction. */
vx_status svc__token_store(svc_ctx *c, const char *secret, const char *name,
                           svc_token_kind kind, svc_role role, const char *env,
                           json_t *projects, int64_t expires_ms, json_t **out);
vx_status svc__token_store(svc_ctx *c, const char *secret, const char *name,
                           svc_token_kind kind, svc_role role, const char *env,
                           json_t *projects, int64_t expires_ms, json_t **out)
{
    char key[65];
    hash_hex(secret, strlen(secret), key);
    int64_t id;
    vx_status st = c->s->ops->next_id(c->s->st, "token", &id, c->err);
    if (st != VX_OK) {
        json_decref(projects);
        return st;
    }
    const char *rn = role_name(role);
    json_t *doc = json_pack(
        "{sI ss ss ss? ss so so sI so sI sb}", "id", (json_int_t)id,
        "tokenName", name, "type", kind_name(kind), "role", rn, "environment",
        env, "projects", projects, "createdAt", svc__time_json(c->now_ms),
        "createdAtMs", (json_int_t)c->now_ms, "expiresAt",
        expires_ms ? svc__time_json(expires_ms) : json_null(), "expiresAtMs",
        (json_int_t)expires_ms, "revoked", 0);
    if (!doc)
        return svc__fail(c, VX_ENOMEM, "", "out of memory");
    json_object_set_new(doc, "hash", json_string(key));
    st = svc__put(c, STORE_TOKEN, key, NULL, doc);
    if (st == VX_OK)
        *out = doc;
    else
        json_decref(doc);
    return st;
}

/* Parses the scope prefix of a seeded secret: "<project>:<env>.<rest>". */
static bool secret_scope(const char *secret, char project[101], char env[101])
{
    const char *colon = strchr(secret, ':');
    const char *dot = colon ? strchr(colon, '.') : NULL;
    if (!colon || !dot || colon - secret > 100 || dot - colon - 1 > 100 ||
        dot[1] == '\0')
        return false;
    snprintf(project, 101, "%.*s", (int)(colon - secret), secret);
    snprintf(env, 101, "%.*s", (int)(dot - colon - 1), colon + 1);
    return true;
}

static vx_status seed_tokens(svc_ctx *c, const char *list, svc_token_kind kind,
                             const char *name)
{
    if (!list || !*list)
        return VX_OK;
    char *copy = vx__strdup(list);
    if (!copy)
        return svc__fail(c, VX_ENOMEM, "", "out of memory");
    vx_status st = VX_OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && st == VX_OK;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        char project[101], env[101], key[65];
        if (!secret_scope(tok, project, env)) {
            st = svc__fail(c, VX_EINVAL, "",
                           "%s token '%.8s...' is not "
                           "<project>:<environment>.<secret>",
                           name, tok);
            break;
        }
        hash_hex(tok, strlen(tok), key);
        json_t *existing = NULL;
        if (svc__get(c, STORE_TOKEN, key, &existing) == VX_OK) {
            json_decref(existing);
            continue;
        }
        json_t *projects = json_array();
        json_array_append_new(projects, json_string(project));
        json_t *doc = NULL;
        st = svc__token_store(
            c, tok, name, kind,
            kind == SVC_KIND_ADMIN ? SVC_ROLE_ADMIN : SVC_ROLE_NONE,
            kind == SVC_KIND_ADMIN ? "*" : env, projects, 0, &doc);
        json_decref(doc);
    }
    vx__free(copy);
    return st;
}

static bool admin_token_exists(svc_ctx *c)
{
    json_t *all = NULL;
    bool found = false;
    if (svc__list(c, STORE_TOKEN, NULL, &all) != VX_OK)
        return true; /* do not mint tokens on a read error */
    size_t i;
    json_t *t;
    json_array_foreach (all, i, t) {
        if (strcmp(json_string_value(json_object_get(t, "type")), "admin") ==
                0 &&
            !json_is_true(json_object_get(t, "revoked")))
            found = true;
    }
    json_decref(all);
    return found;
}

/* ---- defaults
 * ------------------------------------------------------------------ */

static const struct {
    const char *id, *name, *description;
    int lifetime;
} FEATURE_TYPES[] = {
    {"release", "Release",
     "Release feature toggles are used to release new features.", 40},
    {"experiment", "Experiment",
     "Experiment feature toggles are used to test and verify multiple "
     "different versions of a feature.",
     40},
    {"operational", "Operational",
     "Operational feature toggles are used to control aspects of a rollout.",
     7},
    {"kill-switch", "Kill switch",
     "Kill switch feature toggles are used to quickly turn on or off critical "
     "functionality in your system.",
     0},
    {"permission", "Permission",
     "Permission feature toggles are used to control permissions in your "
     "system.",
     0},
};

static vx_status seed_defaults(svc_ctx *c)
{
    int64_t n = 0;
    vx_status st =
        c->s->ops->doc_count(c->s->st, STORE_ENVIRONMENT, &n, c->err);
    if (st != VX_OK || n > 0)
        return st;
    static const char *const envs[][2] = {{"development", "development"},
                                          {"production", "production"}};
    for (int i = 0; i < 2 && st == VX_OK; i++) {
        json_t *e = json_pack("{ss ss sb si so}", "name", envs[i][0], "type",
                              envs[i][1], "enabled", 1, "sortOrder", i + 1,
                              "createdAt", svc__time_json(c->now_ms));
        st = svc__put(c, STORE_ENVIRONMENT, envs[i][0], NULL, e);
        json_decref(e);
    }
    json_t *p = json_pack("{ss ss ss so}", "id", "default", "name", "Default",
                          "description", "Default project", "createdAt",
                          svc__time_json(c->now_ms));
    if (st == VX_OK)
        st = svc__put(c, STORE_PROJECT, "default", NULL, p);
    json_decref(p);
    for (size_t i = 0;
         st == VX_OK && i < sizeof(FEATURE_TYPES) / sizeof(FEATURE_TYPES[0]);
         i++) {
        json_t *t = json_pack("{ss ss ss so}", "id", FEATURE_TYPES[i].id,
                              "name", FEATURE_TYPES[i].name, "description",
                              FEATURE_TYPES[i].description, "lifetimeDays",
                              FEATURE_TYPES[i].lifetime
                                  ? json_integer(FEATURE_TYPES[i].lifetime)
                                  : json_null());
        st = svc__put(c, STORE_FEATURE_TYPE, FEATURE_TYPES[i].id, NULL, t);
        json_decref(t);
    }
    return st;
}

static void count_flags(svc_ctx *c)
{
    int64_t all = 0, archived = 0;
    if (c->s->ops->doc_count(c->s->st, STORE_FEATURE, &all, c->err) != VX_OK ||
        c->s->ops->doc_count_true(c->s->st, STORE_FEATURE, "archived",
                                  &archived, c->err) != VX_OK)
        return; /* the gauges keep their last values */
    atomic_store(&c->s->flags_active, (long long)(all - archived));
    atomic_store(&c->s->flags_archived, (long long)archived);
}

/* ---- lifecycle
 * ------------------------------------------------------------------ */

static const svc_principal SYSTEM = {.token_id = 0,
                                     .kind = SVC_KIND_ADMIN,
                                     .role = SVC_ROLE_ADMIN,
                                     .name = "system",
                                     .environment = "*",
                                     .projects = "*"};

static vx_status open_store(const char *database, store **st,
                            const store_ops **ops, vx_error *err)
{
    const char *rest;
    *ops = store_backend_for(database ? database : "", &rest);
    if (!*ops) {
        char shown[256];
        store_dsn_redact(database ? database : "", shown, sizeof(shown));
        return vx__error_set(err, VX_EINVAL, "",
                             "unknown database '%s' "
                             "(expected sqlite:PATH or postgres://...)",
                             shown);
    }
    return (*ops)->open(rest, NULL, st, err);
}

/* open_store with the limits of `cfg`. */
static vx_status open_store_cfg(const svc_config *cfg, store **st,
                                const store_ops **ops, vx_error *err)
{
    const char *rest;
    *ops = store_backend_for(cfg->database ? cfg->database : "", &rest);
    if (!*ops)
        return open_store(cfg->database, st, ops, err);
    store_limits lim = {.timeout_ms = cfg->db_timeout_ms,
                        .sqlite_synchronous = cfg->sqlite_synchronous};
    return (*ops)->open(rest, &lim, st, err);
}

vx_status svc_migrate(const char *database, int *applied, vx_error *err)
{
    store *st;
    const store_ops *ops;
    vx_status rc = open_store(database, &st, &ops, err);
    if (rc != VX_OK)
        return rc;
    rc = ops->migrate(st, applied, err);
    ops->close(st);
    return rc;
}

/* What svc_open seeds on first start, in one transaction. */
typedef struct seed_arg {
    const svc_config *cfg;  /* INIT_* tokens, first-admin switch */
    char *new_admin_secret; /* out: the first admin token's secret, or "" */
} seed_arg;

static vx_status seed_unit(svc_ctx *c, void *ud)
{
    seed_arg *a = ud;
    const svc_config *cfg = a->cfg;
    vx_status st = seed_defaults(c);
    if (st == VX_OK)
        st = seed_tokens(c, cfg->init_admin_tokens, SVC_KIND_ADMIN,
                         "init-admin");
    if (st == VX_OK)
        st = seed_tokens(c, cfg->init_client_tokens, SVC_KIND_CLIENT,
                         "init-client");
    if (st == VX_OK)
        st = seed_tokens(c, cfg->init_frontend_tokens, SVC_KIND_FRONTEND,
                         "init-frontend");
    if (st == VX_OK && !cfg->no_first_admin_token && !admin_token_exists(c)) {
        json_t *doc = NULL;
        make_secret("*", "*", a->new_admin_secret);
        json_t *projects = json_array();
        json_array_append_new(projects, json_string("*"));
        st = svc__token_store(c, a->new_admin_secret, "admin", SVC_KIND_ADMIN,
                              SVC_ROLE_ADMIN, "*", projects, 0, &doc);
        json_decref(doc);
    }
    return st;
}

/* Stores `rc` in `*st` and counts it when the database failed (the store
 * accessors count their own calls; this is for begin and commit). */
static bool db_ok(service *s, vx_status rc, vx_status *st)
{
    if (rc == VX_EIO || rc == VX_EUNAVAILABLE)
        atomic_fetch_add(&s->db_errors, 1);
    *st = rc;
    return rc == VX_OK;
}

void svc__lock(service *s)
{
    pthread_mutex_lock(&s->queue);
    /* A woken waiter can lose the mutex to a thread that just arrives:
     * the hub's read waits out at most the use case that holds it. */
    while (atomic_load(&s->hub_waiting) > 0) {
        struct timespec pause = {0, 20000}; /* 20 us */
        nanosleep(&pause, NULL);
    }
    pthread_mutex_lock(&s->mu);
    pthread_mutex_unlock(&s->queue);
}

void svc__unlock(service *s)
{
    pthread_mutex_unlock(&s->mu);
}

vx_status svc__run(service *s, const svc_principal *who, const svc_req *req,
                   int64_t now, unsigned changes, vx_error *err, svc_unit_fn fn,
                   void *ud)
{
    static const svc_req none = {0};
    svc_ctx c = {s, who, req ? req : &none, err, now};
    bool writes = changes != 0;
    /* While the database is known not to answer, fail at once (health.c). */
    vx_status st = svc__db_gate(s, err);
    if (st != VX_OK)
        return st;
    svc__lock(s);
    int64_t t0 = vx__mono_ms();
    if (writes && !db_ok(s, s->ops->begin(s->st, err), &st))
        goto done;
    st = fn(&c, ud);
    if (writes && st == VX_OK && !c.rollback)
        db_ok(s, s->ops->commit(s->st, err), &st);
    if (writes && (st != VX_OK || c.rollback))
        s->ops->rollback(s->st);
done:;
    json_decref(c.warnings);
    bool committed = writes && st == VX_OK && !c.rollback;
    /* Only a token change can change what a token check answers: flag
     * writes leave the token cache warm. */
    if (committed && (changes & SVC_CHANGE_TOKENS))
        atomic_fetch_add(&s->generation, 1);
    int64_t spent = vx__mono_ms() - t0;
    svc__unlock(s);
    /* The entries of tokens changed or revoked go, after the bump: none
     * is left stale, which a lookup that cannot run would trust. */
    size_t k;
    json_t *fk;
    json_array_foreach (committed ? c.forget : NULL, k, fk)
        svc__token_cache_drop(s, json_string_value(fk));
    json_decref(c.forget);
    if (committed)
        svc__db_up(s);
    else
        svc__db_outcome(s, st, err, spent);
    if (committed && s->on_commit)
        s->on_commit(s->on_commit_ud, changes);
    return st;
}

void svc_set_commit_hook(service *s, svc_commit_fn fn, void *ud)
{
    s->on_commit = fn;
    s->on_commit_ud = ud;
}

vx_status svc_open(const svc_config *cfg, service **out,
                   char new_admin_secret[SVC_SECRET_MAX], vx_error *err)
{
    *out = NULL;
    new_admin_secret[0] = '\0';
    if (sodium_init() < 0)
        return vx__error_set(err, VX_EIO, "", "libsodium failed to start");
    service *s = vx__calloc(1, sizeof(*s));
    if (!s)
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->queue, NULL);
    atomic_init(&s->hub_waiting, 0);
    atomic_init(&s->lookup_waiting, false);
    atomic_init(&s->lookup_busy_until, 0);
    svc__health_init(s);
    if (svc__token_cache_init(s) != VX_OK || svc__reports_init(s) != VX_OK ||
        svc__edge_init(s) != VX_OK) {
        svc__edge_release(s);
        svc__reports_release(s);
        svc__token_cache_release(s);
        svc__health_release(s);
        pthread_mutex_destroy(&s->queue);
        pthread_mutex_destroy(&s->mu);
        vx__free(s);
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    s->log = cfg->log;
    s->log_ud = cfg->log_ud;
    s->db_timeout_ms =
        cfg->db_timeout_ms > 0 ? cfg->db_timeout_ms : VX_LIMIT_DB_TIMEOUT_MS;
    int applied = 0;
    vx_status st = vx__egress_new(cfg->egress_allow, cfg->gateway_key_env,
                                  &s->egress, err);
    if (st == VX_OK)
        st = open_store_cfg(cfg, &s->st, &s->ops, err);
    if (st == VX_OK)
        st = s->ops->migrate(s->st, &applied, err);
    if (st != VX_OK) {
        svc_close(s);
        return st;
    }
    if (applied)
        vx__logf(s->log, s->log_ud, "info", "applied %d database migration(s)",
                 applied);
    seed_arg sa = {cfg, new_admin_secret};
    st = svc__run(s, &SYSTEM, NULL, vx__wall_ms(),
                  SVC_CHANGE_SDK | SVC_CHANGE_TOKENS, err, seed_unit, &sa);
    if (st != VX_OK) {
        new_admin_secret[0] = '\0';
        svc_close(s);
        return st;
    }
    svc_req req = {0};
    svc_ctx c = {s, &SYSTEM, &req, err, vx__wall_ms()};
    svc__lock(s);
    count_flags(&c);
    svc__unlock(s);
    *out = s;
    return VX_OK;
}

void svc_close(service *s)
{
    if (!s)
        return;
    if (s->ops && s->st && svc__reports_pending(s)) {
        /* What SDKs reported last: stored if the database takes it. */
        vx_error err;
        memset(&err, 0, sizeof(err));
        if (svc_usage_flush(s, &err) != VX_OK)
            vx__logf(s->log, s->log_ud, "warn",
                     "SDK metrics and registrations not stored at exit: %s",
                     err.message);
    }
    if (s->ops)
        s->ops->close(s->st);
    svc__reports_release(s);
    svc__edge_release(s);
    svc__token_cache_release(s);
    vx__egress_free(&s->egress);
    svc__health_release(s);
    json_decref(s->flag_index);
    pthread_mutex_destroy(&s->queue);
    pthread_mutex_destroy(&s->mu);
    vx__free(s);
}

/* Takes the service mutex within `ms`; false when it stays held. */
static bool lock_within(service *s, int ms)
{
    struct timespec until = vx__deadline(CLOCK_REALTIME, ms);
    return pthread_mutex_timedlock(&s->mu, &until) == 0;
}

/* Takes the service mutex for a token lookup on a request thread: waits
 * at most VX_LIMIT_DB_AUTH_WAIT_MS, and only when no other request thread
 * is waiting and no wait ran out in the last VX_LIMIT_DB_AUTH_BUSY_MS;
 * otherwise it only tries. So lookups of tokens anyone can make up, sent
 * while a long write holds the service, cost no serving thread more than
 * one short wait at a time. */
static bool lookup_lock(service *s)
{
    if (pthread_mutex_trylock(&s->mu) == 0)
        return true;
    bool no = false;
    if (vx__mono_ms() < atomic_load(&s->lookup_busy_until) ||
        !atomic_compare_exchange_strong(&s->lookup_waiting, &no, true))
        return false;
    bool locked = lock_within(s, VX_LIMIT_DB_AUTH_WAIT_MS);
    if (!locked)
        atomic_store(&s->lookup_busy_until,
                     vx__mono_ms() + VX_LIMIT_DB_AUTH_BUSY_MS);
    atomic_store(&s->lookup_waiting, false);
    return locked;
}

/* Reads the token whose hash is `key` from the database and fills `who`:
 * VX_EAUTH when unknown or revoked (expiry is the caller's check). Runs on
 * request threads, so it is bounded on both sides: it waits for the
 * service at most VX_LIMIT_DB_AUTH_WAIT_MS (lookup_lock: often not at all)
 * and for the lookup at most VX_LIMIT_DB_AUTH_CALL_MS (then
 * VX_EUNAVAILABLE, retry later). */
vx_status svc__token_lookup(service *s, const char key[65], svc_principal *who,
                            int64_t *expires_ms, vx_error *err)
{
    json_t *doc = NULL;
    vx_status st = svc__db_gate(s, err);
    if (st != VX_OK)
        return st;
    if (!lookup_lock(s))
        return vx__error_set(err, VX_EUNAVAILABLE, "",
                             "the database is busy: the token cannot be "
                             "checked now, retry");
    int64_t t0 = vx__mono_ms();
    if (s->ops->set_call_timeout)
        s->ops->set_call_timeout(s->st, VX_LIMIT_DB_AUTH_CALL_MS);
    st = s->ops->doc_get(s->st, STORE_TOKEN, key, &doc, err);
    if (s->ops->set_call_timeout)
        s->ops->set_call_timeout(s->st, 0);
    int64_t spent = vx__mono_ms() - t0;
    pthread_mutex_unlock(&s->mu);
    svc__db_outcome(s, st, err, spent);
    if (st == VX_EIO || st == VX_EUNAVAILABLE)
        atomic_fetch_add(&s->db_errors, 1);
    if (st != VX_OK) {
        json_decref(doc);
        return st == VX_ENOTFOUND
                   ? vx__error_set(err, VX_EAUTH, "", "unknown token")
                   : st;
    }
    /* The key lookup matched the hash; compare it again in constant time. */
    const char *stored = json_string_value(json_object_get(doc, "hash"));
    bool same =
        stored && strlen(stored) == 64 && sodium_memcmp(stored, key, 64) == 0;
    if (!same || json_is_true(json_object_get(doc, "revoked"))) {
        json_decref(doc);
        return vx__error_set(err, VX_EAUTH, "", "token revoked");
    }
    svc__token_principal(doc, who, expires_ms);
    json_decref(doc);
    return VX_OK;
}

void svc__token_principal(const json_t *doc, svc_principal *who,
                          int64_t *expires_ms)
{
    *expires_ms = json_integer_value(json_object_get(doc, "expiresAtMs"));
    memset(who, 0, sizeof(*who));
    who->token_id = json_integer_value(json_object_get(doc, "id"));
    const char *type = json_string_value(json_object_get(doc, "type"));
    who->kind = strcmp(type, "admin") == 0    ? SVC_KIND_ADMIN
                : strcmp(type, "client") == 0 ? SVC_KIND_CLIENT
                                              : SVC_KIND_FRONTEND;
    const char *role = json_string_value(json_object_get(doc, "role"));
    who->role = !role                         ? SVC_ROLE_NONE
                : strcmp(role, "admin") == 0  ? SVC_ROLE_ADMIN
                : strcmp(role, "editor") == 0 ? SVC_ROLE_EDITOR
                                              : SVC_ROLE_VIEWER;
    snprintf(who->name, sizeof(who->name), "%s",
             json_string_value(json_object_get(doc, "tokenName")));
    snprintf(who->environment, sizeof(who->environment), "%s",
             json_string_value(json_object_get(doc, "environment")));
    size_t i, n = 0;
    json_t *p;
    json_array_foreach (json_object_get(doc, "projects"), i, p) {
        int w = snprintf(who->projects + n, sizeof(who->projects) - n, "%s%s",
                         i ? "," : "", json_string_value(p));
        if (w < 0 || (size_t)w >= sizeof(who->projects) - n) {
            /* A list too long for the principal (only tokens made before
             * creation checked the length): keep the whole names that fit,
             * never a cut one, which could name another project; "." (no
             * project has that name) when none fits, since an empty list
             * means every project (scope.c). */
            snprintf(who->projects + n, sizeof(who->projects) - n, "%s",
                     n ? "" : ".");
            break;
        }
        n += (size_t)w;
    }
}

vx_status svc_authenticate(service *s, const char *secret, size_t len,
                           svc_principal *who, vx_error *err)
{
    if (!secret || len == 0 || len > 512)
        return vx__error_set(err, VX_EAUTH, "", "missing or invalid token");
    char key[65];
    hash_hex(secret, len, key);
    return svc__token_check(s, key, who, NULL, err);
}

void svc__token_forget(svc_ctx *c, const char *key)
{
    if (!key || strlen(key) != 64)
        return;
    if (!c->forget)
        c->forget = json_array();
    /* Out of memory: the generation bump still marks the entry stale. */
    json_array_append_new(c->forget, json_string(key));
}

void svc__token_key(const char *secret, size_t len, char key[65])
{
    hash_hex(secret, len, key);
}

vx_status svc__token_check(service *s, const char key[65], svc_principal *who,
                           bool *expired, vx_error *err)
{
    int64_t expires = 0;
    if (expired)
        *expired = false;
    /* SDK endpoints authenticate every request: a token seen since the last
     * committed write is answered from memory (the cache is stamped with
     * the write generation, so a revocation takes effect at once). */
    if (!svc__token_cache_get(s, key, false, who, &expires)) {
        long long gen = atomic_load(&s->generation);
        /* Bounded, and at once while the database is known not to answer
         * (svc__db_gate): the answer must not wait. */
        vx_status st = svc__token_lookup(s, key, who, &expires, err);
        /* The database is down or busy: a token this process had checked
         * before (even if a write since made the entry stale) keeps
         * working, so SDKs go on being served from memory. A token changed
         * or revoked here has no entry left (svc__token_forget), so this
         * never lets a revoked one in. A token it never saw gets 503, not
         * 401: it may be valid (created on another replica), and SDKs
         * retry a 503 but give up on a 401. */
        if (st == VX_EUNAVAILABLE &&
            svc__token_cache_get(s, key, true, who, &expires))
            st = VX_OK;
        else if (st == VX_OK)
            svc__token_cache_put(s, key, who, expires, gen);
        if (st != VX_OK)
            return st;
    }
    if (expires && expires <= vx__wall_ms()) {
        if (expired)
            *expired = true;
        return vx__error_set(err, VX_EAUTH, "", "token expired");
    }
    return VX_OK;
}

/* One admin operation inside svc__run. */
typedef struct call_arg {
    const op_info *op; /* the operation */
    json_t *out;       /* its answer (new reference), or NULL */
} call_arg;

static vx_status call_unit(svc_ctx *c, void *ud)
{
    call_arg *a = ud;
    vx_status st = a->op->handler(c, &a->out);
    /* What the call accepted but a person should hear about (svc__warn). */
    if (st == VX_OK && json_is_object(a->out) && json_array_size(c->warnings))
        json_object_set(a->out, "warnings", c->warnings);
    return st;
}

static bool op_is_token(svc_op op)
{
    return op == SVC_OP_TOKEN_CREATE || op == SVC_OP_TOKEN_UPDATE ||
           op == SVC_OP_TOKEN_DELETE;
}

vx_status svc_call(service *s, const svc_principal *who, const svc_req *req,
                   json_t **out, vx_error *err)
{
    *out = NULL;
    if (req->op >= SVC_OP_COUNT)
        return vx__error_set(err, VX_EINVAL, "", "unknown operation");
    const op_info *op = &OPS[req->op];
    if (who->kind != SVC_KIND_ADMIN)
        return vx__error_set(err, VX_EFORBIDDEN, "",
                             "invalid token: expected "
                             "an admin token for this endpoint");
    if (who->role < op->min_role)
        return vx__error_set(
            err, VX_EFORBIDDEN, "",
            "the %s role may not do this: it needs the %s "
            "role%s",
            role_name(who->role), role_name(op->min_role),
            who->role == SVC_ROLE_VIEWER ? " (a viewer may only look)" : "");
    /* What SDKs reported before this read is stored first, so it sees it
     * (usage, applications, a flag's lastSeenAt). A failure keeps it in
     * memory and does not fail the call. Writes need not wait for it: the
     * flush reads each flag as it is when it runs. */
    if (!op->writes && svc__reports_pending(s) && svc_ready(s) == VX_OK) {
        vx_error ferr;
        memset(&ferr, 0, sizeof(ferr));
        (void)svc_usage_flush(s, &ferr);
    }
    call_arg a = {op, NULL};
    unsigned changes =
        !op->writes ? 0
        : req->op == SVC_OP_IMPORT || req->op == SVC_OP_IMPORT_UNLEASH
            ? SVC_CHANGE_SDK | SVC_CHANGE_TOKENS
        : op_is_token(req->op) ? SVC_CHANGE_TOKENS
                               : SVC_CHANGE_SDK;
    vx_status st =
        svc__run(s, who, req, vx__wall_ms(), changes, err, call_unit, &a);
    bool recount =
        st == VX_OK && op->writes &&
        (req->op == SVC_OP_FEATURE_CREATE ||
         req->op == SVC_OP_FEATURE_ARCHIVE ||
         req->op == SVC_OP_ARCHIVE_REVIVE || req->op == SVC_OP_ARCHIVE_DELETE ||
         req->op == SVC_OP_IMPORT || req->op == SVC_OP_IMPORT_UNLEASH ||
         req->op == SVC_OP_ARCHIVE_BULK || req->op == SVC_OP_REVIVE_BULK ||
         req->op == SVC_OP_DELETE_BULK);
    if (recount) {
        svc_ctx c = {s, who, req, err, vx__wall_ms()};
        svc__lock(s);
        count_flags(&c);
        svc__unlock(s);
    }
    if (st != VX_OK) {
        json_decref(a.out);
        return st;
    }
    *out = a.out ? a.out : json_object();
    return VX_OK;
}

/* svc_admin_token's work: `name` and `rotate` in, the secret out. */
typedef struct admin_token_arg {
    const char *name; /* token name */
    bool rotate;      /* revoke earlier tokens of that name */
    char *secret;     /* out: SVC_SECRET_MAX bytes */
} admin_token_arg;

static vx_status admin_token_unit(svc_ctx *c, void *ud)
{
    admin_token_arg *a = ud;
    vx_status st = VX_OK;
    if (a->rotate) {
        json_t *all = NULL;
        st = svc__list(c, STORE_TOKEN, NULL, &all);
        size_t i;
        json_t *t;
        json_array_foreach (all, i, t) {
            if (st != VX_OK)
                break;
            const char *tn = json_string_value(json_object_get(t, "tokenName"));
            if (strcmp(tn, a->name) != 0 ||
                json_is_true(json_object_get(t, "revoked")))
                continue;
            json_object_set_new(t, "revoked", json_true());
            json_object_set_new(t, "revokedAt", svc__time_json(c->now_ms));
            svc__token_forget(c, json_string_value(json_object_get(t, "hash")));
            st = svc__put(c, STORE_TOKEN,
                          json_string_value(json_object_get(t, "hash")), NULL,
                          t);
            if (st == VX_OK) {
                json_t *data =
                    json_pack("{sO}", "id", json_object_get(t, "id"));
                st = svc__audit(c, "api-token-deleted", NULL, NULL, NULL, data,
                                NULL);
                json_decref(data);
            }
        }
        json_decref(all);
    }
    json_t *doc = NULL;
    if (st == VX_OK) {
        make_secret("*", "*", a->secret);
        json_t *projects = json_array();
        json_array_append_new(projects, json_string("*"));
        st = svc__token_store(c, a->secret, a->name, SVC_KIND_ADMIN,
                              SVC_ROLE_ADMIN, "*", projects, 0, &doc);
    }
    if (st == VX_OK) {
        json_t *data = json_pack("{sO sO ss}", "id", json_object_get(doc, "id"),
                                 "tokenName", json_object_get(doc, "tokenName"),
                                 "type", "admin");
        st = svc__audit(c, "api-token-created", NULL, NULL, NULL, data, NULL);
        json_decref(data);
    }
    json_decref(doc);
    return st;
}

vx_status svc_admin_token(service *s, const char *name, bool rotate,
                          char secret[SVC_SECRET_MAX], vx_error *err)
{
    secret[0] = '\0';
    admin_token_arg a = {name, rotate, secret};
    vx_status st = svc__run(s, &SYSTEM, NULL, vx__wall_ms(), SVC_CHANGE_TOKENS,
                            err, admin_token_unit, &a);
    if (st != VX_OK)
        secret[0] = '\0';
    return st;
}
