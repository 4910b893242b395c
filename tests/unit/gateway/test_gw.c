/* Unit tests for src/gateway/gw.c: payload parsing with the field paths of
 * its errors (and the Ollama root a payload gives), reading answers'
 * counts (OpenAI's SSE and usage, Ollama's NDJSON and eval counts), and
 * the engine end to end against upstreams that refuse the
 * connection (nothing listens on 127.0.0.1:1): the answer the client gets,
 * the fallback to the control, and the measurements handed to the sink in
 * IMPACT.md's batch shape. */
#include <jansson.h>
#include <pthread.h>
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

static void test_upstream_parse(void **state)
{
    (void)state;
    gw_upstream u;
    vx_error err;
    const char *ok = "{\"base_url\":\"http://127.0.0.1:11434/v1\",\"model\":"
                     "\"llama3.2:1b\",\"api_key_env\":\"KEY\",\"timeout_ms\":"
                     "2500}";
    assert_int_equal(gw_upstream_parse(ok, strlen(ok), &u, &err), VX_OK);
    assert_string_equal(u.base_url, "http://127.0.0.1:11434/v1");
    assert_string_equal(u.model, "llama3.2:1b");
    assert_string_equal(u.key_env, "KEY");
    assert_int_equal(u.timeout_ms, 2500);
    assert_string_equal(u.ollama_url, "http://127.0.0.1:11434");

    /* Ollama's native root: the payload's ollama_url, else base_url
     * without a trailing "/v1"; trailing slashes go. */
    static const struct {
        const char *text;
        const char *root;
    } roots[] = {
        {"{\"base_url\":\"http://h:1/v1/\",\"model\":\"m\"}", "http://h:1"},
        {"{\"base_url\":\"http://h:1/\",\"model\":\"m\"}", "http://h:1"},
        {"{\"base_url\":\"http://h/x/v1\",\"model\":\"m\"}", "http://h/x"},
        {"{\"base_url\":\"http://h/v12\",\"model\":\"m\"}", "http://h/v12"},
        /* Found by fuzz_gateway: the host is never cut. */
        {"{\"base_url\":\"http://v1\",\"model\":\"m\"}", "http://v1"},
        {"{\"base_url\":\"http://h//v1//\",\"model\":\"m\"}", "http://h"},
        {"{\"base_url\":\"http://h/v1\",\"ollama_url\":\"https://o:2//\","
         "\"model\":\"m\"}",
         "https://o:2"},
        {"{\"base_url\":\"http://h/v1\",\"ollama_url\":null,\"model\":"
         "\"m\"}",
         "http://h"},
    };
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        assert_int_equal(
            gw_upstream_parse(roots[i].text, strlen(roots[i].text), &u, &err),
            VX_OK);
        assert_string_equal(u.ollama_url, roots[i].root);
    }

    const char *bare = "{\"base_url\":\"https://x\",\"model\":\"m\"}";
    assert_int_equal(gw_upstream_parse(bare, strlen(bare), &u, &err), VX_OK);
    assert_int_equal(u.timeout_ms, VX_LIMIT_GW_TIMEOUT_DEFAULT_MS);
    assert_string_equal(u.key_env, "");

    static const struct {
        const char *text;
        vx_status st;
        const char *path;
    } bad[] = {
        {"[1]", VX_EINVAL, ""},
        {"not json", VX_EINVAL, ""},
        {"{\"model\":\"m\"}", VX_EINVAL, "/base_url"},
        {"{\"base_url\":\"ftp://x\",\"model\":\"m\"}", VX_EINVAL, "/base_url"},
        /* Found by fuzz_gateway: no host, no Ollama root to derive. */
        {"{\"base_url\":\"http://\",\"model\":\"m\"}", VX_EINVAL, "/base_url"},
        {"{\"base_url\":\"https:///v1\",\"model\":\"m\"}", VX_EINVAL,
         "/base_url"},
        {"{\"base_url\":\"http://x\"}", VX_EINVAL, "/model"},
        {"{\"base_url\":\"http://x\",\"model\":7}", VX_EINVAL, "/model"},
        /* Found by fuzz_gateway: an empty model was accepted. */
        {"{\"base_url\":\"http://x\",\"model\":\"\"}", VX_EINVAL, "/model"},
        {"{\"base_url\":\"http://x\",\"model\":\"m\",\"api_key_env\":[]}",
         VX_EINVAL, "/api_key_env"},
        {"{\"base_url\":\"http://x\",\"model\":\"m\",\"timeout_ms\":0}",
         VX_EINVAL, "/timeout_ms"},
        {"{\"base_url\":\"http://x\",\"model\":\"m\",\"timeout_ms\":1.5}",
         VX_EINVAL, "/timeout_ms"},
        {"{\"base_url\":\"http://x\",\"model\":\"m\",\"timeout_ms\":"
         "600001}",
         VX_EINVAL, "/timeout_ms"},
        {"{\"base_url\":\"http://x\",\"model\":\"m\",\"ollama_url\":7}",
         VX_EINVAL, "/ollama_url"},
        {"{\"base_url\":\"http://x\",\"model\":\"m\",\"ollama_url\":"
         "\"file:///etc\"}",
         VX_EINVAL, "/ollama_url"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        assert_int_equal(
            gw_upstream_parse(bad[i].text, strlen(bad[i].text), &u, &err),
            bad[i].st);
        assert_string_equal(err.path, bad[i].path);
    }
    char long_model[VX_LIMIT_GW_NAME_BYTES + 64];
    int n = snprintf(long_model, sizeof(long_model),
                     "{\"base_url\":\"http://x\",\"model\":\"%0*d\"}",
                     VX_LIMIT_GW_NAME_BYTES, 0);
    assert_int_equal(gw_upstream_parse(long_model, (size_t)n, &u, &err),
                     VX_ELIMIT);
    assert_string_equal(err.path, "/model");
}

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
    json_t *batches;   /* [{environment, batch}] */
    int64_t served_ms; /* wall time just before the call started */
} seen;

static void on_respond(void *ud, const gw_reply *r)
{
    seen *s = ud;
    pthread_mutex_lock(&s->mu);
    s->answered = true;
    s->status = r->status;
    snprintf(s->variant, sizeof(s->variant), "%s", r->variant);
    snprintf(s->failed, sizeof(s->failed), "%s", r->failed ? r->failed : "");
    snprintf(s->body, sizeof(s->body), "%.*s", (int)r->len, r->body);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void on_wake(void *ud)
{
    (void)ud;
}

static void on_batch(void *ud, const char *env, json_t *batch)
{
    seen *s = ud;
    json_array_append_new(
        s->batches, json_pack("{ss sO}", "environment", env, "batch", batch));
}

/* One request of variant "candidate" to a refused upstream, with or
 * without the gateway's fallback to a (likewise refused) control. */
static void run_refused(bool fallback, seen *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->batches = json_array();
    gw_config cfg = {.fallback = fallback,
                     .flush_ms = 60000,
                     .measure = on_batch,
                     .measure_ud = s};
    gw *g = NULL;
    vx_error err;
    assert_int_equal(gw_new(&cfg, &g, &err), VX_OK);
    gw_upstream up = {.base_url = "http://127.0.0.1:1/v1",
                      .model = "new",
                      .timeout_ms = 2000};
    gw_upstream ctl = {.base_url = "http://127.0.0.1:1/v1/",
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

static void test_refused_with_fallback(void **state)
{
    (void)state;
    seen s;
    run_refused(true, &s);
    assert_int_equal(s.status, 502);
    assert_string_equal(s.variant, "control"); /* the last one tried */
    assert_string_equal(s.failed, "candidate");
    assert_non_null(strstr(s.body, "\"message\""));
    check_batch(&s, true);
    json_decref(s.batches);
}

static void test_refused_without_fallback(void **state)
{
    (void)state;
    seen s;
    run_refused(false, &s);
    assert_int_equal(s.status, 502);
    assert_string_equal(s.variant, "candidate");
    assert_string_equal(s.failed, "");
    check_batch(&s, false);
    json_decref(s.batches);
}

/* A native Ollama call to a refused upstream: its ollama_url is called
 * (base_url names a host that does not resolve, so a call there would fail
 * differently), and the problem carries Ollama's "error" member. */
static void test_refused_ollama(void **state)
{
    (void)state;
    seen s;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    gw_config cfg = {.flush_ms = 60000};
    gw *g = NULL;
    vx_error err;
    assert_int_equal(gw_new(&cfg, &g, &err), VX_OK);
    gw_upstream up = {.base_url = "http://no-such-host.invalid/v1",
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
    json_t *doc = json_loads(s.body, 0, NULL);
    assert_non_null(doc);
    const char *e = json_string_value(json_object_get(doc, "error"));
    assert_non_null(e);
    assert_string_equal(e, json_string_value(json_object_get(doc, "message")));
    /* Refused, not "could not resolve": ollama_url was called. */
    assert_null(strstr(e, "resolve"));
    json_decref(doc);
    gw_free(&g);
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
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

    const char *text = "{\"base_url\":\"http://x/v1\",\"model\":\"m\","
                       "\"timeout_ms\":5}";
    json_set_alloc_funcs(vx__malloc, vx__free);
    done = false;
    for (size_t budget = 0; budget < 64 && !done; budget++) {
        gw_upstream u;
        vx__alloc_set_budget(budget);
        vx_status st = gw_upstream_parse(text, strlen(text), &u, &err);
        vx__alloc_set_budget(SIZE_MAX);
        if (st == VX_OK) {
            done = true;
            assert_int_equal(u.timeout_ms, 5);
        } else {
            assert_int_equal(st, VX_ENOMEM);
        }
    }
    assert_true(done);

    /* Starting a call: the call, and the body copies for both upstreams. */
    gw *g = NULL;
    gw_config cfg = {.fallback = true, .flush_ms = 60000};
    assert_int_equal(gw_new(&cfg, &g, &err), VX_OK);
    gw_upstream up = {
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
        cmocka_unit_test(test_upstream_parse),
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_refused_ollama),
        cmocka_unit_test(test_refused_with_fallback),
        cmocka_unit_test(test_refused_without_fallback),
        cmocka_unit_test(test_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
