/* The edge's data directory: a snapshot per feed (feeds/<id>.snap: one line
 * of JSON naming its view and revision, then the state as a hydration),
 * the token cache (tokens.json) and the edge's id (edge-id); the reports'
 * queue lives in reports/ (reports.c). Files hold token secrets, so the
 * directory is 0700 and the files 0600.
 *
 * Invariant: a file is replaced whole or not at all (written beside,
 * fsynced, renamed, the directory fsynced), so a crash or a full disk
 * leaves the previous snapshot, which a restart serves. */
#include "edge/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/log.h"
#include "sdk/backup.h"

#define PATH_CAP 4096

bool edge__path(const edge *e, const char *name, char *out, size_t cap)
{
    if (!e->data_dir)
        return false;
    int n = snprintf(out, cap, "%s/%s", e->data_dir, name);
    return n > 0 && (size_t)n < cap;
}

static void sync_dir_of(const char *path)
{
    char dir[PATH_CAP];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return;
    *slash = '\0';
    int fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

vx_status edge__file_write(const char *path, const char *buf, size_t len,
                           vx_error *err)
{
    char tmp[PATH_CAP];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return vx__error_set(err, VX_EINVAL, "", "path too long: %s", path);
    vx_status st = VX_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return vx__error_set(err, VX_EIO, "", "cannot create %s: %s", tmp,
                             strerror(errno));
    size_t off = 0;
    while (off < len && st == VX_OK) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            st = vx__error_set(err, VX_EIO, "", "cannot write %s: %s", tmp,
                               strerror(errno));
        else
            off += (size_t)w;
    }
    if (st == VX_OK && fsync(fd) != 0)
        st = vx__error_set(err, VX_EIO, "", "cannot sync %s: %s", tmp,
                           strerror(errno));
    if (close(fd) != 0 && st == VX_OK)
        st = vx__error_set(err, VX_EIO, "", "cannot close %s: %s", tmp,
                           strerror(errno));
    if (st == VX_OK && rename(tmp, path) != 0)
        st = vx__error_set(err, VX_EIO, "", "cannot rename %s: %s", tmp,
                           strerror(errno));
    if (st != VX_OK)
        unlink(tmp);
    else
        sync_dir_of(path);
    return st;
}

vx_status edge__file_read(const char *path, size_t max, char **out, size_t *len,
                          vx_error *err)
{
    /* libvexil-client's backup reader: whole, bounded, VX_ENOTFOUND when
     * absent. */
    return sdk_backup_read(path, max, out, len, err);
}

/* feeds/<16 hex of the secret's hash>.snap */
static bool snapshot_path(const edge *e, const char *secret, size_t len,
                          char *out, size_t cap)
{
    char name[64];
    snprintf(name, sizeof(name), "feeds/%016llx.snap",
             (unsigned long long)hub_hash64(secret, len, 0x5eedull));
    return edge__path(e, name, out, cap);
}

void edge__snapshot_write(edge *e, edge_feed *f)
{
    char path[PATH_CAP];
    char env[EDGE_ENV_MAX];
    char *text = NULL;
    size_t len = 0;
    int64_t rev = 0;
    if (!snapshot_path(e, f->secret, f->len, path, sizeof(path)))
        return;
    if (hub_feed_export(e->hub, f->key, &text, &len, &rev, env, sizeof(env)) !=
        VX_OK)
        return;
    pthread_mutex_lock(&e->mu);
    json_t *meta = json_pack(
        "{si ss# sb ss ss sI sI}", "v", 1, "secret", f->secret, f->len, "given",
        f->given, "environment", f->env, "projects", f->projects, "revision",
        (json_int_t)rev, "syncedMs", (json_int_t)f->synced_ms);
    pthread_mutex_unlock(&e->mu);
    char *line = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    size_t ll = line ? strlen(line) : 0;
    char *all = line ? vx__malloc(ll + 1 + len) : NULL;
    if (all) {
        memcpy(all, line, ll);
        all[ll] = '\n';
        memcpy(all + ll + 1, text, len);
        vx_error err;
        memset(&err, 0, sizeof(err));
        if (edge__file_write(path, all, ll + 1 + len, &err) != VX_OK)
            vx__logf(e->log, e->log_ud, "warn",
                     "edge: snapshot of '%s' not written: %s", f->env,
                     err.message);
    }
    free(line);
    vx__free(all);
    vx__free(text);
}

void edge__snapshot_remove(edge *e, const edge_feed *f)
{
    char path[PATH_CAP];
    if (snapshot_path(e, f->secret, f->len, path, sizeof(path)))
        unlink(path);
}

/* Loads one snapshot file: its feed (made for its token) and state. */
static void load_snapshot(edge *e, const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (edge__file_read(path, VX_LIMIT_EDGE_ANSWER_BYTES + 65536, &buf, &len,
                        &err) != VX_OK)
        return;
    char *nl = memchr(buf, '\n', len);
    json_t *meta = nl ? json_loadb(buf, (size_t)(nl - buf), 0, NULL) : NULL;
    const json_t *s = json_object_get(meta, "secret");
    const char *env = json_string_value(json_object_get(meta, "environment"));
    const char *pr = json_string_value(json_object_get(meta, "projects"));
    int64_t rev = json_integer_value(json_object_get(meta, "revision"));
    if (!json_is_string(s) || !env || !pr) {
        vx__logf(e->log, e->log_ud, "warn",
                 "edge: %s is not a snapshot: ignored", path);
        goto out;
    }
    pthread_mutex_lock(&e->mu);
    edge_token *t =
        edge__token_find(e, json_string_value(s), json_string_length(s));
    if (!t)
        t = edge__token_add(e, json_string_value(s), json_string_length(s),
                            false);
    if (t && t->status == TOK_PENDING) {
        /* Known from the snapshot alone: served meanwhile, checked once
         * the upstream answers. */
        t->status = TOK_VALID;
        t->kind = SVC_KIND_CLIENT;
        snprintf(t->env, sizeof(t->env), "%s", env);
        snprintf(t->projects, sizeof(t->projects), "%s", pr);
        t->recheck = true;
    }
    edge_feed *f = t && t->status == TOK_VALID ? edge__feed_add(e, t) : NULL;
    if (f) {
        snprintf(f->env, sizeof(f->env), "%s", env);
        snprintf(f->projects, sizeof(f->projects), "%s", pr);
        f->synced_ms = json_integer_value(json_object_get(meta, "syncedMs"));
    }
    char key[EDGE_KEY_MAX];
    snprintf(key, sizeof(key), "%s", f ? f->key : "");
    pthread_mutex_unlock(&e->mu);
    if (!f)
        goto out;
    size_t off = (size_t)(nl - buf) + 1;
    if (hub_feed_apply(e->hub, key, env, buf + off, len - off, rev, &err) !=
        VX_OK) {
        vx__logf(e->log, e->log_ud, "warn", "edge: snapshot %s not served: %s",
                 path, err.message);
        goto out;
    }
    pthread_mutex_lock(&e->mu);
    f->have_state = true;
    f->revision = rev;
    pthread_mutex_unlock(&e->mu);
    vx__logf(e->log, e->log_ud, "info",
             "edge: serving environment '%s' (projects %s) from its snapshot "
             "at revision %lld until the upstream answers",
             env, pr, (long long)rev);
out:
    json_decref(meta);
    vx__free(buf);
}

void edge__tokens_save(edge *e)
{
    char path[PATH_CAP];
    if (!edge__path(e, "tokens.json", path, sizeof(path)))
        return;
    pthread_mutex_lock(&e->mu);
    if (!e->tokens_dirty) {
        pthread_mutex_unlock(&e->mu);
        return;
    }
    e->tokens_dirty = false;
    json_t *list = edge__tokens_json(e);
    pthread_mutex_unlock(&e->mu);
    char *text = list ? json_dumps(list, JSON_COMPACT) : NULL;
    json_decref(list);
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (text && edge__file_write(path, text, strlen(text), &err) != VX_OK)
        vx__logf(e->log, e->log_ud, "warn", "edge: token cache not written: %s",
                 err.message);
    free(text);
}

/* The edge's id: read, or made once (16 hex digits). */
static void load_id(edge *e)
{
    char path[PATH_CAP];
    char *buf = NULL;
    size_t len = 0;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (edge__path(e, "edge-id", path, sizeof(path)) &&
        edge__file_read(path, 64, &buf, &len, &err) == VX_OK && len >= 8) {
        snprintf(e->edge_id, sizeof(e->edge_id), "%.16s", buf);
        vx__free(buf);
        return;
    }
    vx__free(buf);
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint64_t)vx__wall_ms() ^ ((uint64_t)getpid() << 32);
    snprintf(e->edge_id, sizeof(e->edge_id), "%016llx", (unsigned long long)r);
    if (e->data_dir)
        (void)edge__file_write(path, e->edge_id, strlen(e->edge_id), &err);
}

void edge__disk_load(edge *e)
{
    load_id(e);
    char path[PATH_CAP];
    char *buf = NULL;
    size_t len = 0;
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (edge__path(e, "tokens.json", path, sizeof(path)) &&
        edge__file_read(path, (size_t)64 << 20, &buf, &len, &err) == VX_OK) {
        json_t *list = json_loadb(buf, len, 0, NULL);
        pthread_mutex_lock(&e->mu);
        edge__tokens_load(e, list);
        pthread_mutex_unlock(&e->mu);
        json_decref(list);
    }
    vx__free(buf);
    if (!edge__path(e, "feeds", path, sizeof(path)))
        return;
    DIR *d = opendir(path);
    for (struct dirent *de = d ? readdir(d) : NULL; de; de = readdir(d)) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".snap") != 0)
            continue;
        char file[PATH_CAP];
        if (snprintf(file, sizeof(file), "%s/%s", path, de->d_name) <
            (int)sizeof(file))
            load_snapshot(e, file);
    }
    if (d)
        closedir(d);
    pthread_mutex_lock(&e->mu);
    edge__tokens_map(e);
    edge__tokens_push(e);
    pthread_mutex_unlock(&e->mu);
}
