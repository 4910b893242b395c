/* Unit tests for src/gateway/gw.c (a payload's schema is
 * tests/unit/base/test_upstream.c): reading answers' counts (OpenAI's SSE and
 * usage, Ollama's NDJSON and eval counts), and the engine end to end against
 * upstreams that refuse the connection (nothing listens on 127.0.0.1:1):
 * the answer to the client (a message naming no address; the log has
 * it), the fallback to the control, and the measurements handed to the
 * sink in IMPACT.md's batch shape; and against a scripted upstream on a
 * raw socket: which answer headers are passed on, and the body it gets
 * (metadata left out unless forwarded). */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "gateway/gw.h"
#include "vexil/vexil.h"

/* Reading answers: counts, id, done and error, whole and as streams. */
static void test_scan(void **state)
{
    (void)state;
    gw_scan s;
    /* OpenAI: SSE chunks, usage in the last one. */
    const char *sse =
        "data: "
        "{\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
        "data: {\"id\":\"c1\",\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,"
        "\"completion_tokens\":2}}\r\n\r\n"
        "data: [DONE]\n\n";
    gw_scan_init(&s);
    gw_scan_stream(&s, sse, strlen(sse));
    assert_string_equal(s.id, "c1");
    assert_int_equal(s.chunks, 1);
    assert_int_equal(s.prompt_tokens, 3);
    assert_int_equal(s.completion_tokens, 2);
    assert_false(s.done);
    assert_false(s.error);
    gw_scan_release(&s);

    /* Ollama /api/chat streamed (NDJSON): pieces, then the counts with
     * "done": true. Fed in two pieces cut inside a line. */
    const char *nd =
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":"
        "\"Hel\"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":"
        "\"lo\"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\",\"content\":"
        "\"\"},\"done\":true,\"prompt_eval_count\":12,\"eval_count\":7}\n";
    gw_scan_init(&s);
    gw_scan_stream(&s, nd, 40);
    assert_int_equal(s.chunks, 0);
    gw_scan_stream(&s, nd + 40, strlen(nd) - 40);
    assert_int_equal(s.chunks, 2);
    assert_int_equal(s.prompt_tokens, 12);
    assert_int_equal(s.completion_tokens, 7);
    assert_true(s.done);
    assert_false(s.error);
    assert_string_equal(s.id, "");
    gw_scan_release(&s);

    /* /api/generate streamed, failing midway with Ollama's error line. */
    const char *gen = "{\"response\":\"x\",\"done\":false}\n"
                      "{\"error\":\"model runner has unexpectedly stopped\"}\n";
    gw_scan_init(&s);
    gw_scan_stream(&s, gen, strlen(gen));
    assert_int_equal(s.chunks, 1);
    assert_true(s.error);
    assert_false(s.done);
    assert_int_equal(s.completion_tokens, -1);
    gw_scan_release(&s);

    /* Whole answers: /api/generate, /api/embed (prompt tokens only). */
    const char *whole = "{\"response\":\"hi\",\"done\":true,"
                        "\"prompt_eval_count\":4,\"eval_count\":1}";
    gw_scan_init(&s);
    gw_scan_whole(&s, whole, strlen(whole));
    assert_int_equal(s.prompt_tokens, 4);
    assert_int_equal(s.completion_tokens, 1);
    assert_true(s.done);
    gw_scan_release(&s);
    const char *embed = "{\"model\":\"m\",\"embeddings\":[[0.1]],"
                        "\"prompt_eval_count\":5}";
    gw_scan_init(&s);
    gw_scan_whole(&s, embed, strlen(embed));
    assert_int_equal(s.prompt_tokens, 5);
    assert_int_equal(s.completion_tokens, -1);
    gw_scan_release(&s);
}

/* What the client side saw, filled by the callbacks. */
typedef struct seen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool answered;
    unsigned status;
    char variant[64];
    char failed[64];
    char body[512];
    char problem[512];   /* a gateway-made error's message */
    bool stream;         /* the answer is a stream */
    json_t *headers;     /* {name: value} passed on, as the reply had them */
    size_t header_bytes; /* their names' and values' bytes */
    json_t *batches;     /* [{environment, batch}] */
    int64_t served_ms;   /* wall time just before the call started */
} seen;

static void on_respond(void *ud, const gw_reply *r)
{
    seen *s = ud;
    pthread_mutex_lock(&s->mu);
    s->answered = true;
    s->status = r->status;
    s->stream = r->stream;
    snprintf(s->variant, sizeof(s->variant), "%s", r->variant);
    snprintf(s->failed, sizeof(s->failed), "%s", r->failed ? r->failed : "");
    snprintf(s->body, sizeof(s->body), "%.*s", (int)r->len, r->body);
    snprintf(s->problem, sizeof(s->problem), "%s",
             r->problem ? r->problem : "");
    if (!s->headers && r->nheaders > 0)
        s->headers = json_object();
    for (size_t i = 0; i < r->nheaders; i++) {
        json_object_set_new(s->headers, r->hnames[i],
                            json_string(r->hvalues[i]));
        s->header_bytes += strlen(r->hnames[i]) + strlen(r->hvalues[i]);
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void on_wake(void *ud)
{
    (void)ud;
}

/* The engine's log lines, one string. */
typedef struct logbook {
    pthread_mutex_t mu;
    char text[8192];
} logbook;

static void on_log(void *ud, const char *level, const char *msg)
{
    logbook *l = ud;
    pthread_mutex_lock(&l->mu);
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof(l->text) - n, "%s %s\n", level, msg);
    pthread_mutex_unlock(&l->mu);
}

static void on_batch(void *ud, const char *env, json_t *batch)
{
    seen *s = ud;
    json_array_append_new(
        s->batches, json_pack("{ss sO}", "environment", env, "batch", batch));
}

/* One request of variant "candidate" to a refused upstream, with or
 * without the gateway's fallback to a (likewise refused) control. */
static void run_refused(bool fallback, seen *s, logbook *log)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->batches = json_array();
    gw_config cfg = {.fallback = fallback,
                     .flush_ms = 60000,
                     .measure = on_batch,
                     .measure_ud = s,
                     .log = on_log,
                     .log_ud = log};
    gw *g = NULL;
    vx_error err;
    assert_int_equal(gw_new(&cfg, &g, &err), VX_OK);
    vx_upstream up = {.base_url = "http://127.0.0.1:1/v1",
                      .model = "new",
                      .timeout_ms = 2000};
    vx_upstream ctl = {.base_url = "http://127.0.0.1:1/v1/",
                       .model = "old",
                       .timeout_ms = 2000};
    json_t *body = json_pack("{ss s[]}", "model", "chat", "messages");
    gw_request req = {.environment = "production",
                      .flag = "model.chat",
                      .variant = "candidate",
                      .enabled = true,
                      .endpoint = "chat/completions",
                      .up = &up,
                      .control = &ctl,
                      .body = body};
    gw_client client = {.respond = on_respond, .wake = on_wake, .ud = s};
    gw_call *c = NULL;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    s->served_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    assert_int_equal(gw_call_start(g, &req, &client, &c, &err), VX_OK);
    json_decref(body); /* the call keeps its own copies */
    pthread_mutex_lock(&s->mu);
    while (!s->answered)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    char buf[16];
    /* A whole answer: the stream side reports its end once the call is
     * over (the thread may still be finishing it). */
    long got;
    do {
        got = gw_call_read(c, buf, sizeof(buf));
    } while (got == 0);
    assert_int_equal(got, -1);
    gw_call_release(&c);
    assert_null(c);

    json_t *stats = gw_stats(g, "production");
    assert_int_equal(json_array_size(stats), 1);
    json_t *s0 = json_array_get(stats, 0);
    assert_string_equal(json_string_value(json_object_get(s0, "variant")),
                        "candidate");
    assert_int_equal(json_integer_value(json_object_get(s0, "requests")), 1);
    assert_int_equal(json_integer_value(json_object_get(s0, "errors")), 1);
    assert_int_equal(json_integer_value(json_object_get(s0, "fallbacks")),
                     fallback ? 1 : 0);
    json_decref(stats);
    assert_int_equal(gw_feedback(g, "production", "no-such-id", true, &err),
                     VX_ENOTFOUND);
    assert_string_equal(err.path, "/response_id");
    gw_stop(g); /* flushes the last batch; later calls are refused */
    body = json_pack("{ss}", "model", "chat");
    req.body = body;
    assert_int_equal(gw_call_start(g, &req, &client, &c, &err), VX_EIO);
    assert_null(c);
    json_decref(body);
    gw_free(&g);
    assert_null(g);
}

static void check_batch(const seen *s, bool fallback)
{
    assert_int_equal(json_array_size(s->batches), 1);
    const json_t *e = json_array_get(s->batches, 0);
    assert_string_equal(json_string_value(json_object_get(e, "environment")),
                        "production");
    const json_t *b = json_object_get(e, "batch");
    assert_true(json_is_string(json_object_get(b, "batchId")));
    assert_int_equal(json_string_length(json_object_get(b, "batchId")), 36);
    const json_t *m = json_array_get(json_object_get(b, "metrics"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "flag")),
                        "model.chat");
    assert_string_equal(json_string_value(json_object_get(m, "variant")),
                        "candidate");
    assert_true(json_is_true(json_object_get(m, "enabled")));
    assert_int_equal(json_integer_value(json_object_get(m, "requests")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "errors")), 1);
    const json_t *lat = json_object_get(m, "latency");
    assert_int_equal(json_integer_value(json_object_get(lat, "count")), 0);
    const json_t *fb =
        json_object_get(json_object_get(m, "values"), "fallbacks");
    assert_int_equal(json_integer_value(json_object_get(fb, "count")), 1);
    assert_float_equal(json_real_value(json_object_get(fb, "sum")),
                       fallback ? 1.0 : 0.0, 0);
    const char *at = json_string_value(json_object_get(m, "at"));
    assert_non_null(at);
    /* Stamped when taken, not at its minute's start: the guard files an
     * entry under the rollout epoch in force at `at`, which must not be
     * older than the requests it counts. */
    int64_t at_ms = 0;
    assert_true(vx_time_parse(at, strlen(at), &at_ms));
    assert_true(at_ms >= s->served_ms);
    assert_true(at_ms < s->served_ms + 60000);
}

/* A gateway-made error's message names no upstream address; the log
 * does (libcurl's message). */
static void check_private(const seen *s, const logbook *log)
{
    assert_true(s->problem[0] != '\0');
    assert_string_equal(s->body, "");
    assert_null(strstr(s->problem, "127.0.0.1"));
    assert_null(strstr(s->problem, "port"));
    assert_non_null(strstr(s->problem, "could not be reached"));
    assert_non_null(strstr(log->text, "127.0.0.1"));
}

static void test_refused_with_fallback(void **state)
{
    (void)state;
    seen s;
    logbook log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    run_refused(true, &s, &log);
    assert_int_equal(s.status, 502);
    assert_string_equal(s.variant, "control"); /* the last one tried */
    assert_string_equal(s.failed, "candidate");
    check_private(&s, &log);
    assert_non_null(strstr(log.text, "falling back"));
    check_batch(&s, true);
    json_decref(s.batches);
    json_decref(s.headers);
}

static void test_refused_without_fallback(void **state)
{
    (void)state;
    seen s;
    logbook log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    run_refused(false, &s, &log);
    assert_int_equal(s.status, 502);
    assert_string_equal(s.variant, "candidate");
    assert_string_equal(s.failed, "");
    check_private(&s, &log);
    check_batch(&s, false);
    json_decref(s.batches);
    json_decref(s.headers);
}

/* A native Ollama call to a refused upstream: its ollama_url is called
 * (base_url names a host that does not resolve, so a call there would fail
 * differently: the log says which), and the problem is the engine's
 * message, which the HTTP side writes in Ollama's shape. */
static void test_refused_ollama(void **state)
{
    (void)state;
    seen s;
    logbook log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    gw_config cfg = {.flush_ms = 60000, .log = on_log, .log_ud = &log};
    gw *g = NULL;
    vx_error err;
    assert_int_equal(gw_new(&cfg, &g, &err), VX_OK);
    vx_upstream up = {.base_url = "http://no-such-host.invalid/v1",
                      .ollama_url = "http://127.0.0.1:1",
                      .model = "new",
                      .timeout_ms = 2000};
    json_t *body =
        json_pack("{ss s[] sb}", "model", "local", "messages", "stream", true);
    gw_request req = {.environment = "production",
                      .flag = "model.local",
                      .variant = "candidate",
                      .enabled = true,
                      .endpoint = "api/chat",
                      .ollama = true,
                      .up = &up,
                      .body = body};
    gw_client client = {.respond = on_respond, .wake = on_wake, .ud = &s};
    gw_call *c = NULL;
    assert_int_equal(gw_call_start(g, &req, &client, &c, &err), VX_OK);
    json_decref(body);
    pthread_mutex_lock(&s.mu);
    while (!s.answered)
        pthread_cond_wait(&s.cv, &s.mu);
    pthread_mutex_unlock(&s.mu);
    gw_call_release(&c);
    assert_int_equal(s.status, 502);
    gw_free(&g); /* the log line is written before the answer */
    check_private(&s, &log);
    /* Refused, not "could not resolve": ollama_url was called. */
    assert_null(strstr(log.text, "resolve"));
    json_decref(s.headers);
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
}

/* ---- a scripted upstream on a raw socket ------------------------------- */

/* Answers each connection with the next canned answer (exact bytes), after
 * reading the request, whose body it keeps. */
typedef struct raw_upstream {
    int fd;                     /* the listening socket */
    unsigned port;              /* its port */
    const char *const *answers; /* one per connection, NULL-terminated */
    char bodies[2][4096];       /* the request bodies received */
    size_t served;              /* connections answered */
    pthread_t thread;           /* the accepting thread */
} raw_upstream;

static void *raw_main(void *ud)
{
    raw_upstream *u = ud;
    for (size_t k = 0; u->answers[k]; k++) {
        int c = accept(u->fd, NULL, NULL);
        if (c < 0)
            break;
        char req[8192];
        size_t n = 0;
        const char *end = NULL;
        size_t want = 0;
        for (;;) {
            ssize_t got = read(c, req + n, sizeof(req) - 1 - n);
            if (got <= 0)
                break;
            n += (size_t)got;
            req[n] = '\0';
            end = strstr(req, "\r\n\r\n");
            if (end && !want) {
                const char *cl = strcasestr(req, "Content-Length:");
                want = (size_t)(end + 4 - req) +
                       (cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0);
            }
            if (end && n >= want)
                break;
        }
        if (end && k < 2)
            snprintf(u->bodies[k], sizeof(u->bodies[k]), "%s", end + 4);
        const char *a = u->answers[k];
        size_t len = strlen(a), off = 0;
        while (off < len) {
            ssize_t w = write(c, a + off, len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        close(c);
        u->served = k + 1;
    }
    return NULL;
}

static void raw_start(raw_upstream *u, const char *const *answers)
{
    memset(u, 0, sizeof(*u));
    u->answers = answers;
    u->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(u->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(u->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(u->fd, 8), 0);
    socklen_t al = sizeof(a);
    assert_int_equal(getsockname(u->fd, (struct sockaddr *)&a, &al), 0);
    u->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&u->thread, NULL, raw_main, u), 0);
}

static void raw_stop(raw_upstream *u)
{
    pthread_join(u->thread, NULL);
    close(u->fd);
}

/* A header the reply passed on, by name in any case, or NULL. */
static const char *passed(const seen *s, const char *name)
{
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)s->headers, k, v) {
        if (strcasecmp(k, name) == 0)
            return json_string_value(v);
    }
    return NULL;
}

/* One call of `body` to the raw upstream as `up`; waits for the answer
 * and the end of the call. */
static void call_raw(gw *g, const vx_upstream *up, json_t *body, seen *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    gw_request req = {.environment = "production",
                      .flag = "model.chat",
                      .variant = "control",
                      .enabled = true,
                      .endpoint = "chat/completions",
                      .up = up,
                      .body = body,
                      .id = "gw-test-1"};
    gw_client client = {.respond = on_respond, .wake = on_wake, .ud = s};
    gw_call *c = NULL;
    vx_error err;
    assert_int_equal(gw_call_start(g, &req, &client, &c, &err), VX_OK);
    pthread_mutex_lock(&s->mu);
    while (!s->answered)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    char buf[256];
    long got;
    do {
        got = gw_call_read(c, buf, sizeof(buf));
    } while (got != -1);
    gw_call_release(&c);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

/* The upstream's answer headers: what passes (its request id, Retry-After,
 * rate limits), what never does (hop-by-hop ones, those named by
 * Connection, an interim answer's, those the gateway owns, those that name
 * the upstream's host, malformed or folded lines), and the limits on the
 * rest; the body the upstream gets: "model" rewritten, "metadata" left out
 * unless the payload forwards it. */
static void test_upstream_headers(void **state)
{
    (void)state;
    static const char json_answer[] = "{\"id\":\"chatcmpl-1\"}";
    char whole[32768];
    int n = snprintf(whole, sizeof(whole),
                     "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
                     "HTTP/1.1 200 OK\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n"
                     "Connection: close, X-Hop\r\n"
                     "X-Hop: secret\r\n"
                     "Keep-Alive: timeout=5\r\n"
                     "X-Request-Id: req-1\r\n"
                     "Retry-After:   7  \r\n"
                     "x-ratelimit-remaining-requests: 9\r\n"
                     "Set-Cookie: a=b\r\n"
                     "Location: http://127.0.0.1:9/x\r\n"
                     "Link: <http://127.0.0.1:9/y>; rel=next\r\n"
                     "X-Vexil-Variant: forged\r\n"
                     "Server: upstream/1.0\r\n"
                     "Bad Header: x\r\n"
                     "X-Folded: a\r\n"
                     " continued\r\n",
                     sizeof(json_answer) - 1);
    for (int i = 0; i < 200; i++)
        n += snprintf(whole + n, sizeof(whole) - (size_t)n,
                      "X-Flood-%d: %0100d\r\n", i, i);
    snprintf(whole + n, sizeof(whole) - (size_t)n, "\r\n%s", json_answer);
    static const char stream[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        "X-Request-Id: req-2\r\nConnection: close\r\n\r\n"
        "data: {\"id\":\"c2\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}"
        "\n\ndata: [DONE]\n\n";
    const char *const answers[] = {whole, stream, NULL};
    raw_upstream u;
    raw_start(&u, answers);
    gw *g = NULL;
    vx_error err;
    gw_config cfg = {.flush_ms = 60000};
    assert_int_equal(gw_new(&cfg, &g, &err), VX_OK);
    vx_upstream up = {.model = "real", .timeout_ms = 5000};
    snprintf(up.base_url, sizeof(up.base_url), "http://127.0.0.1:%u/v1",
             u.port);
    json_t *body = json_pack("{ss s{ss} sb}", "model", "chat", "metadata",
                             "plan", "enterprise", "stream", false);
    seen s;
    call_raw(g, &up, body, &s);
    assert_int_equal(s.status, 200);
    assert_false(s.stream);
    assert_string_equal(s.body, json_answer);
    assert_string_equal(passed(&s, "x-request-id"), "req-1");
    assert_string_equal(passed(&s, "retry-after"), "7");
    assert_string_equal(passed(&s, "x-ratelimit-remaining-requests"), "9");
    assert_string_equal(passed(&s, "x-folded"), "a");
    static const char *const never[] = {
        "x-interim",  "connection", "x-hop",        "keep-alive",
        "set-cookie", "location",   "link",         "x-vexil-variant",
        "server",     "bad header", "content-type", "content-length",
        " continued"};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        if (passed(&s, never[i]))
            fail_msg("%s was passed on", never[i]);
    }
    assert_true(json_object_size(s.headers) <= VX_LIMIT_GW_REPLY_HEADERS);
    assert_true(s.header_bytes <= VX_LIMIT_GW_REPLY_HEADER_BYTES);
    assert_non_null(passed(&s, "x-flood-0"));
    assert_null(passed(&s, "x-flood-199"));
    /* The upstream got its model and no metadata. */
    json_t *sent = json_loads(u.bodies[0], 0, NULL);
    assert_non_null(sent);
    assert_string_equal(json_string_value(json_object_get(sent, "model")),
                        "real");
    assert_null(json_object_get(sent, "metadata"));
    json_decref(sent);
    json_decref(s.headers);

    /* A stream, to an upstream that takes the metadata. */
    up.forward_metadata = true;
    call_raw(g, &up, body, &s);
    assert_int_equal(s.status, 200);
    assert_true(s.stream);
    assert_string_equal(passed(&s, "x-request-id"), "req-2");
    assert_null(passed(&s, "connection"));
    sent = json_loads(u.bodies[1], 0, NULL);
    assert_non_null(sent);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(sent, "metadata"), "plan")),
                        "enterprise");
    json_decref(sent);
    json_decref(s.headers);
    json_decref(body);
    gw_free(&g);
    raw_stop(&u);
}

/* Allocation failures (STYLE rule 14): every budget short of success gives
 * VX_ENOMEM and leaks nothing (checked under make asan). */
static void test_oom(void **state)
{
    (void)state;
    vx_error err;
    bool done = false;
    for (size_t budget = 0; budget < 64 && !done; budget++) {
        gw *g = NULL;
        gw_config cfg = {.flush_ms = 60000};
        vx__alloc_set_budget(budget);
        vx_status st = gw_new(&cfg, &g, &err);
        vx__alloc_set_budget(SIZE_MAX);
        if (st == VX_OK) {
            done = true;
            gw_free(&g);
        } else {
            assert_int_equal(st, VX_ENOMEM);
            assert_null(g);
        }
    }
    assert_true(done);

    /* Starting a call: the call, and the body copies for both upstreams. */
    json_set_alloc_funcs(vx__malloc, vx__free);
    gw *g = NULL;
    gw_config cfg = {.fallback = true, .flush_ms = 60000};
    assert_int_equal(gw_new(&cfg, &g, &err), VX_OK);
    vx_upstream up = {
        .base_url = "http://127.0.0.1:1", .model = "a", .timeout_ms = 1000};
    json_t *body = json_pack("{ss}", "model", "chat");
    gw_request req = {.environment = "e",
                      .flag = "model.chat",
                      .variant = "v",
                      .enabled = true,
                      .endpoint = "embeddings",
                      .up = &up,
                      .control = &up,
                      .body = body};
    done = false;
    for (size_t budget = 0; budget < 64 && !done; budget++) {
        seen s;
        memset(&s, 0, sizeof(s));
        pthread_mutex_init(&s.mu, NULL);
        pthread_cond_init(&s.cv, NULL);
        gw_client client = {.respond = on_respond, .wake = on_wake, .ud = &s};
        gw_call *c = NULL;
        vx__alloc_set_budget(budget);
        vx_status st = gw_call_start(g, &req, &client, &c, &err);
        vx__alloc_set_budget(SIZE_MAX);
        if (st == VX_OK) {
            done = true;
            pthread_mutex_lock(&s.mu);
            while (!s.answered)
                pthread_cond_wait(&s.cv, &s.mu);
            pthread_mutex_unlock(&s.mu);
            assert_int_equal(s.status, 502);
            gw_call_release(&c);
        } else {
            assert_int_equal(st, VX_ENOMEM);
            assert_null(c);
            assert_false(s.answered);
        }
        pthread_cond_destroy(&s.cv);
        pthread_mutex_destroy(&s.mu);
    }
    assert_true(done);
    json_decref(body);
    gw_free(&g);
    json_set_alloc_funcs(malloc, free);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_refused_ollama),
        cmocka_unit_test(test_refused_with_fallback),
        cmocka_unit_test(test_refused_without_fallback),
        cmocka_unit_test(test_upstream_headers),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
