/* The release-plan scheduler thread (see scheduler.h). Each process has a
 * random owner id; the service's lease makes exactly one process on a
 * database run the plans, and another takes over when that one stops
 * renewing (three intervals). */
#include "server/scheduler.h"

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/error.h"
#include "base/limits.h"

struct server_scheduler {
    service *svc;                     /* borrowed */
    unsigned interval_ms;             /* between ticks */
    server_scheduler_log log;         /* may be NULL */
    server_scheduler_changed changed; /* may be NULL */
    void *ud;                         /* passed to log and changed */
    char owner[96];                   /* lease owner: host:pid:random */
    pthread_t thread;                 /* the loop */
    pthread_mutex_t mu;               /* guards stop */
    pthread_cond_t cv;                /* signalled on stop */
    bool stop;                        /* under mu */
};

/* Logs "WHAT A: B". */
static void note(server_scheduler *s, const char *level, const char *what,
                 const char *a, const char *b)
{
    if (!s->log)
        return;
    char msg[512];
    snprintf(msg, sizeof(msg), "%s %s: %s", what, a, b);
    s->log(s->ud, level, msg);
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* One POST, bounded by VX_LIMIT_WEBHOOK_TIMEOUT_MS, no redirects, no
 * retry: a failing receiver costs one timeout per event. Only to a host the
 * operator allows now (--egress-allow; the plan may be older than the
 * list). */
static void call_hook(server_scheduler *s, const char *url, const json_t *body)
{
    vx_error why;
    memset(&why, 0, sizeof(why));
    if (vx__egress_url(svc_egress(s->svc), url, "", &why) != VX_OK) {
        note(s, "warn", "webhook not called:", url ? url : "", why.message);
        return;
    }
    char *text = json_dumps(body, JSON_COMPACT);
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: "
                                                     "application/json");
    if (!text || !h || !hdr) {
        note(s, "error", "webhook", url, "out of memory");
        goto out;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)VX_LIMIT_WEBHOOK_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "vexil-scheduler");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK)
        note(s, "warn", "webhook", url, curl_easy_strerror(rc));
    else if (code < 200 || code > 299) {
        char c[16];
        snprintf(c, sizeof(c), "HTTP %ld", code);
        note(s, "warn", "webhook", url, c);
    }
out:
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    free(text);
}

static void *loop(void *ud)
{
    server_scheduler *s = ud;
    /* Three missed ticks and another process takes over. A tick that
     * overruns it (slow webhooks) at worst lets two processes tick for a
     * while: each plan step re-reads the plan in its own transaction and
     * the decision is deterministic, so nothing is applied twice. */
    int64_t lease_ms = 3 * (int64_t)s->interval_ms;
    if (lease_ms < VX_LIMIT_LEASE_MIN_MS)
        lease_ms = VX_LIMIT_LEASE_MIN_MS;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        pthread_mutex_unlock(&s->mu);
        bool leader = false;
        json_t *hooks = NULL;
        vx_error err;
        memset(&err, 0, sizeof(err));
        vx_status st = svc_scheduler_tick(s->svc, s->owner, vx__wall_ms(),
                                          lease_ms, &leader, &hooks, &err);
        if (st != VX_OK)
            note(s, "error", "release plans", "tick", err.message);
        if (leader && s->changed)
            s->changed(s->ud);
        size_t i;
        json_t *h;
        json_array_foreach (hooks, i, h)
            call_hook(s, json_string_value(json_object_get(h, "url")),
                      json_object_get(h, "body"));
        json_decref(hooks);
        pthread_mutex_lock(&s->mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = until.tv_nsec + (int64_t)(s->interval_ms % 1000) * 1000000;
        until.tv_sec += s->interval_ms / 1000 + ns / 1000000000;
        until.tv_nsec = ns % 1000000000;
        while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

vx_status server_scheduler_start(service *svc, unsigned interval_ms,
                                 server_scheduler_log log,
                                 server_scheduler_changed changed, void *ud,
                                 server_scheduler **out)
{
    *out = NULL;
    server_scheduler *s = vx__calloc(1, sizeof(*s));
    if (!s)
        return VX_ENOMEM;
    s->svc = svc;
    s->interval_ms =
        interval_ms ? interval_ms : SERVER_SCHEDULER_INTERVAL_DEFAULT;
    s->log = log;
    s->changed = changed;
    s->ud = ud;
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(s->owner, sizeof(s->owner), "%.60s:%ld:%08x", host, (long)getpid(),
             (unsigned)randombytes_random());
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (pthread_create(&s->thread, NULL, loop, s) != 0) {
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        vx__free(s);
        return VX_EIO;
    }
    *out = s;
    return VX_OK;
}

void server_scheduler_stop(server_scheduler **sp)
{
    if (!sp || !*sp)
        return;
    server_scheduler *s = *sp;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    vx_error err;
    memset(&err, 0, sizeof(err));
    if (svc_scheduler_release(s->svc, s->owner, &err) != VX_OK)
        note(s, "warn", "release plans", "lease", err.message);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    vx__free(s);
    *sp = NULL;
}
