/* The SDK's transport against a scripted HTTP server on the loopback
 * (a thread in this test), for what the real server does not do on demand:
 * the request headers of the Unleash contract, gzip decoding, ETag and 304,
 * Last-Event-ID on reconnect, an SSE delta applied to the hydration, and
 * the fallbacks from streaming to polling the Node SDK has (the server's
 * `fetch-mode: polling` event, a 429 at once, five 503s within 60 s).
 * The end-to-end behaviour against `vexil serve` is tests/sdk/sdk.test.js. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "vexil/client.h"

#define MAX_REQS 64

typedef struct request {
    char path[128];         /* request target */
    char last_event_id[64]; /* Last-Event-ID, "" = none */
    char if_none_match[64]; /* If-None-Match, "" = none */
    char headers[2048];     /* every header line, lower-cased names */
} request;

/* What the fake server answers on /api/client/streaming, in order. */
typedef struct script {
    const char *const *stream; /* full responses; NULL-terminated */
    int nstream_fail;          /* then this many 503s, then 429s */
    bool hold;                 /* keep the last scripted stream open */
} script;

typedef struct fake {
    int fd;                 /* listening socket */
    int port;               /* its port */
    pthread_t th;           /* the serving thread */
    atomic_bool stop;       /* ends the thread */
    pthread_mutex_t mu;     /* guards reqs and n */
    request reqs[MAX_REQS]; /* what came in */
    int n;                  /* how many */
    int streams;            /* streaming requests answered */
    const script *sc;       /* the answers */
} fake;

static const char DOC[] =
    "{\"version\":2,\"features\":[{\"name\":\"a\",\"enabled\":true,"
    "\"strategies\":[{\"name\":\"default\",\"parameters\":{}}]},"
    "{\"name\":\"b\",\"enabled\":false,\"strategies\":[]}],\"segments\":[]}";

/* One response, written whole, then the connection is closed. */
static void put(int c, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(c, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void reply(int c, const char *status, const char *headers,
                  const char *body, size_t len)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, headers, len);
    put(c, head, (size_t)n);
    put(c, body, len);
}

static size_t gzip(const char *in, size_t len, char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY),
                     Z_OK);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = z.total_out;
    deflateEnd(&z);
    return n;
}

static const char *header(const request *r, const char *name)
{
    static __thread char val[256];
    char key[80];
    snprintf(key, sizeof(key), "\n%s:", name);
    const char *p = strcasestr(r->headers, key);
    if (!p)
        return NULL;
    p += strlen(key);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r\n");
    snprintf(val, sizeof(val), "%.*s", (int)n, p);
    return val;
}

static void serve_one(fake *f, int c)
{
    char buf[4096];
    size_t len = 0;
    while (len < sizeof(buf) - 1) {
        ssize_t r = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
        if (r <= 0)
            return;
        len += (size_t)r;
        buf[len] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    request rq;
    memset(&rq, 0, sizeof(rq));
    sscanf(buf, "%*s %127s", rq.path);
    char *eol = strstr(buf, "\r\n");
    snprintf(rq.headers, sizeof(rq.headers), "%s", eol ? eol : "");
    const char *v = header(&rq, "Last-Event-ID");
    snprintf(rq.last_event_id, sizeof(rq.last_event_id), "%s", v ? v : "");
    v = header(&rq, "If-None-Match");
    snprintf(rq.if_none_match, sizeof(rq.if_none_match), "%s", v ? v : "");
    pthread_mutex_lock(&f->mu);
    if (f->n < MAX_REQS)
        f->reqs[f->n++] = rq;
    pthread_mutex_unlock(&f->mu);
    if (strcmp(rq.path, "/api/client/features") == 0) {
        if (strcmp(rq.if_none_match, "\"e1\"") == 0) {
            reply(c, "304 Not Modified", "ETag: \"e1\"\r\n", "", 0);
            return;
        }
        char z[2048];
        size_t zn = gzip(DOC, sizeof(DOC) - 1, z, sizeof(z));
        reply(c, "200 OK",
              "ETag: \"e1\"\r\nContent-Type: application/json\r\n"
              "Content-Encoding: gzip\r\n",
              z, zn);
        return;
    }
    if (strcmp(rq.path, "/api/client/streaming") == 0) {
        int k = f->streams++;
        int have = 0;
        while (f->sc->stream && f->sc->stream[have])
            have++;
        if (k < have) {
            const char *s = f->sc->stream[k];
            put(c, s, strlen(s)); /* then close: the stream ends */
            while (f->sc->hold && k == have - 1 && !atomic_load(&f->stop)) {
                struct timespec ts = {0, 10000000L};
                nanosleep(&ts, NULL);
            }
        } else if (k < have + f->sc->nstream_fail) {
            reply(c, "503 Service Unavailable", "", "{}", 2);
        } else {
            reply(c, "429 Too Many Requests", "", "{}", 2);
        }
        return;
    }
    reply(c, "404 Not Found", "", "{}", 2);
}

static void *serve(void *ud)
{
    fake *f = ud;
    while (!atomic_load(&f->stop)) {
        int c = accept(f->fd, NULL, NULL);
        if (c < 0)
            continue;
        serve_one(f, c);
        close(c);
    }
    return NULL;
}

static void fake_start(fake *f, const script *sc)
{
    memset(f, 0, sizeof(*f));
    f->sc = sc;
    pthread_mutex_init(&f->mu, NULL);
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    getsockname(f->fd, (struct sockaddr *)&a, &al);
    f->port = ntohs(a.sin_port);
    assert_int_equal(listen(f->fd, 16), 0);
    struct timeval tv = {0, 100000}; /* accept wakes to check `stop` */
    setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(pthread_create(&f->th, NULL, serve, f), 0);
}

static void fake_stop(fake *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->th, NULL);
    close(f->fd);
    pthread_mutex_destroy(&f->mu);
}

static vx_client *start(fake *f, vx_client_mode mode)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", f->port);
    vx_client_config cfg = {0};
    cfg.url = url;
    cfg.token = "default:production.secret";
    cfg.app_name = "unit-app";
    cfg.instance_id = "unit-1";
    cfg.mode = mode;
    cfg.refresh_interval_ms = 50;
    cfg.disable_metrics = true;
    vx_client *c = NULL;
    assert_int_equal(vx_client_new(&cfg, &c, NULL), VX_OK);
    return c;
}

/* Waits (up to 10 s) until the fake saw `n` requests; returns a copy of
 * request `i`. */
static request nth(fake *f, int i)
{
    request r;
    memset(&r, 0, sizeof(r));
    for (int t = 0; t < 1000; t++) {
        pthread_mutex_lock(&f->mu);
        bool have = f->n > i;
        if (have)
            r = f->reqs[i];
        pthread_mutex_unlock(&f->mu);
        if (have)
            return r;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    fail_msg("request %d never came", i);
    return r;
}

static bool flag(vx_client *c, const char *name)
{
    vx_snapshot *s = vx_client_acquire(c);
    vx_context ctx = {0};
    bool on = s && vx_is_enabled(s, NULL, name, strlen(name), &ctx);
    vx_snapshot_unref(s);
    return on;
}

static void wait_mode(vx_client *c, vx_client_mode want)
{
    vx_client_stats st;
    for (int t = 0; t < 1000; t++) {
        vx_client_get_stats(c, &st);
        if (st.mode == want)
            return;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    fail_msg("mode never became %d", (int)want);
}

static const char *const RESUME[] = {
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    "Connection: close\r\n\r\n"
    ": hello\r\n\r\n"
    "id: 5\r\nevent: unleash-connected\r\ndata: {\"events\":[{\"type\":"
    "\"hydration\",\"eventId\":5,\"features\":[{\"name\":\"a\",\"enabled\":"
    "true,\"strategies\":[]}],\"segments\":[]}]}\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    "Connection: close\r\n\r\n"
    "id: 6\nevent: unleash-updated\ndata: {\"events\":[{\"type\":"
    "\"feature-updated\",\"eventId\":6,\"feature\":{\"name\":\"b\","
    "\"enabled\":true,\"strategies\":[]}}]}\n\n"
    "event: fetch-mode\ndata: polling\n\n",
    NULL};

static void test_stream_resume_then_polling_with_etag(void **state)
{
    (void)state;
    script sc = {RESUME, 0};
    fake f;
    fake_start(&f, &sc);
    vx_client *c = start(&f, VX_CLIENT_STREAMING);
    request r0 = nth(&f, 0);
    assert_string_equal(r0.path, "/api/client/streaming");
    assert_string_equal(r0.last_event_id, "");
    assert_string_equal(header(&r0, "Authorization"),
                        "default:production.secret");
    assert_string_equal(header(&r0, "Unleash-Client-Spec"), "5.2.0");
    assert_string_equal(header(&r0, "unleash-sdk"),
                        "vexil-c:" VX_VERSION_STRING);
    assert_string_equal(header(&r0, "unleash-appname"), "unit-app");
    assert_string_equal(header(&r0, "unleash-instanceid"), "unit-1");
    assert_int_equal(strlen(header(&r0, "unleash-connection-id")), 36);
    assert_string_equal(header(&r0, "Accept"), "text/event-stream");
    /* The stream ended: the reconnect resumes from the last id. */
    request r1 = nth(&f, 1);
    assert_string_equal(r1.path, "/api/client/streaming");
    assert_string_equal(r1.last_event_id, "5");
    /* The delta on top of the hydration, then `fetch-mode: polling`. */
    request r2 = nth(&f, 2);
    assert_string_equal(r2.path, "/api/client/features");
    assert_string_equal(r2.if_none_match, "");
    assert_non_null(strstr(header(&r2, "Accept-Encoding"), "gzip"));
    wait_mode(c, VX_CLIENT_POLLING);
    request r3 = nth(&f, 3);
    assert_string_equal(r3.path, "/api/client/features");
    assert_string_equal(r3.if_none_match, "\"e1\"");
    nth(&f, 4);
    vx_client_stats st;
    vx_client_get_stats(c, &st);
    assert_int_equal(st.stream_connects, 2);
    assert_int_equal(st.stream_events, 2);
    assert_true(st.not_modified >= 1);
    assert_true(st.fetches >= 2);
    /* The gzip document from polling is the state now (b off again). */
    assert_true(flag(c, "a"));
    assert_false(flag(c, "b"));
    vx_client_free(c);
    fake_stop(&f);
}

static const char *const DELTA[] = {
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
    "id: 7\nevent: unleash-connected\ndata: {\"events\":[{\"type\":"
    "\"hydration\",\"eventId\":7,\"features\":[{\"name\":\"a\","
    "\"enabled\":true,\"strategies\":[]},{\"name\":\"b\",\"enabled\":"
    "false,\"strategies\":[]}],\"segments\":[]}]}\n\n"
    "id: 8\nevent: unleash-updated\ndata: {\"events\":[{\"type\":"
    "\"feature-updated\",\"eventId\":8,\"feature\":{\"name\":\"b\","
    "\"enabled\":true,\"strategies\":[]}},{\"type\":\"feature-removed\","
    "\"eventId\":8,\"featureName\":\"a\",\"project\":\"default\"}]}\n\n",
    NULL};

static void test_delta_applied(void **state)
{
    (void)state;
    script sc = {DELTA, 0, true}; /* one stream, held open */
    fake f;
    fake_start(&f, &sc);
    vx_client *c = start(&f, VX_CLIENT_STREAMING);
    assert_true(vx_client_wait_ready(c, 5000));
    vx_client_stats st;
    for (int t = 0; t < 500; t++) {
        vx_client_get_stats(c, &st);
        if (st.stream_events == 2)
            break;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(st.stream_events, 2);
    assert_int_equal(st.updates, 2);
    assert_int_equal(st.mode, VX_CLIENT_STREAMING);
    assert_true(flag(c, "b"));  /* updated */
    assert_false(flag(c, "a")); /* removed */
    vx_snapshot *s = vx_client_acquire(c);
    assert_int_equal(vx_snapshot_flag_count(s), 1);
    vx_snapshot_unref(s);
    vx_client_free(c); /* ends the held stream at once */
    fake_stop(&f);
}

static void test_429_falls_back_at_once(void **state)
{
    (void)state;
    script sc = {NULL, 0};
    fake f;
    fake_start(&f, &sc);
    vx_client *c = start(&f, VX_CLIENT_STREAMING);
    request r0 = nth(&f, 0);
    assert_string_equal(r0.path, "/api/client/streaming");
    request r1 = nth(&f, 1);
    assert_string_equal(r1.path, "/api/client/features");
    assert_true(vx_client_wait_ready(c, 5000));
    assert_true(flag(c, "a"));
    vx_client_free(c);
    fake_stop(&f);
}

static void test_five_503s_fall_back(void **state)
{
    (void)state;
    script sc = {NULL, 5};
    fake f;
    fake_start(&f, &sc);
    vx_client *c = start(&f, VX_CLIENT_STREAMING);
    for (int i = 0; i < 5; i++)
        assert_string_equal(nth(&f, i).path, "/api/client/streaming");
    assert_string_equal(nth(&f, 5).path, "/api/client/features");
    wait_mode(c, VX_CLIENT_POLLING);
    vx_client_free(c);
    fake_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_resume_then_polling_with_etag),
        cmocka_unit_test(test_delta_applied),
        cmocka_unit_test(test_429_falls_back_at_once),
        cmocka_unit_test(test_five_503s_fall_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
