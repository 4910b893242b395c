/* The model client against a live test model server, in one dialect:
 *   llm_probe openai|ollama URL
 * Run by tests/ai/llm_client.test.js, which starts tests/support/
 * model_server.js and scripts, in this order, what each chat call gets:
 *   1 answer STREAMED (streamed)    2 answer PLAIN
 *   3 drop, 4 answer PLAIN          (a retried stream)
 *   5 answer of 200 bytes (plain)   6 the same (streamed)   (size cap)
 *   7 stall                         (timeout)
 *   8 status 500, 9 answer PLAIN    (breaker: open, then half-open ok)
 * Not registered with ctest: it needs the server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "ai/llm.h"
#include "base/alloc.h"

#define STREAMED "{\"text\":\"a streamed answer, in several pieces\"}"
#define PLAIN    "{\"text\":\"plain\"}"

static const char *proto_arg, *url_arg;

typedef struct pieces {
    char text[4096];
    size_t n;
    int calls;
} pieces;

static void on_delta(void *ud, const char *t, size_t len)
{
    pieces *p = ud;
    assert_true(p->n + len < sizeof(p->text));
    memcpy(p->text + p->n, t, len);
    p->n += len;
    p->text[p->n] = '\0';
    p->calls++;
}

static ai_llm *client(size_t max_response, long timeout_ms, unsigned retries,
                      unsigned breaker_after)
{
    ai_protocol proto;
    assert_true(ai_protocol_parse(proto_arg, &proto));
    ai_llm_config c = {.url = url_arg,
                       .protocol = proto,
                       .model = "test-model",
                       .timeout_ms = timeout_ms,
                       .retries = retries,
                       .backoff_ms = 20,
                       .breaker_after = breaker_after,
                       .breaker_cooldown_ms = 150,
                       .max_response = max_response};
    ai_llm *l = NULL;
    vx_error err;
    if (ai_llm_new(&c, &l, &err) != VX_OK)
        fail_msg("ai_llm_new: %s", err.message);
    return l;
}

static void test_live(void **state)
{
    (void)state;
    vx_error err;
    char *text = NULL;
    size_t len = 0;
    ai_llm *l = client(0, 2000, 2, 5);
    json_t *names = NULL;
    assert_int_equal(ai_llm_models(l, &names, &err), VX_OK);
    assert_string_equal(json_string_value(json_array_get(names, 0)),
                        "test-model");
    json_decref(names);

    /* 1: streamed, in pieces, the same text as a whole */
    pieces p = {0};
    ai_chat chat = {
        .system = "s", .user = "u", .on_delta = on_delta, .delta_ud = &p};
    assert_int_equal(ai_llm_chat(l, &chat, &text, &len, &err), VX_OK);
    assert_string_equal(text, STREAMED);
    assert_string_equal(p.text, STREAMED);
    assert_true(p.calls > 3);
    vx__free(text);

    /* 2: plain */
    ai_chat plain = {.user = "u"};
    assert_int_equal(ai_llm_chat(l, &plain, &text, &len, &err), VX_OK);
    assert_string_equal(text, PLAIN);
    assert_int_equal(len, strlen(PLAIN));
    vx__free(text);

    /* 3+4: a dropped stream that delivered nothing is retried */
    memset(&p, 0, sizeof(p));
    assert_int_equal(ai_llm_chat(l, &chat, &text, &len, &err), VX_OK);
    assert_string_equal(text, PLAIN);
    vx__free(text);
    ai_llm_free(&l);

    /* 5+6: the size cap, plain and streamed; not retried */
    l = client(64, 2000, 2, 5);
    assert_int_equal(ai_llm_chat(l, &plain, &text, &len, &err), VX_ELIMIT);
    assert_null(text);
    memset(&p, 0, sizeof(p));
    assert_int_equal(ai_llm_chat(l, &chat, &text, &len, &err), VX_ELIMIT);
    assert_null(text);
    ai_llm_free(&l);

    /* 7: a stall ends at the timeout */
    l = client(0, 300, 0, 5);
    assert_int_equal(ai_llm_chat(l, &plain, &text, &len, &err), VX_EIO);
    assert_non_null(strstr(err.message, "timed out"));
    ai_llm_free(&l);

    /* 8+9: one failure opens the breaker; after the cool-down a trial
     * call goes out, succeeds and closes it */
    l = client(0, 2000, 0, 1);
    assert_int_equal(ai_llm_chat(l, &plain, &text, &len, &err), VX_EIO);
    assert_non_null(strstr(err.message, "HTTP 500"));
    assert_true(ai_llm_breaker_open(l));
    assert_int_equal(ai_llm_chat(l, &plain, &text, &len, &err), VX_EIO);
    assert_non_null(strstr(err.message, "circuit breaker open"));
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    assert_int_equal(ai_llm_chat(l, &plain, &text, &len, &err), VX_OK);
    assert_string_equal(text, PLAIN);
    vx__free(text);
    assert_false(ai_llm_breaker_open(l));
    ai_llm_free(&l);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: llm_probe openai|ollama URL\n");
        return 2;
    }
    proto_arg = argv[1];
    url_arg = argv[2];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_live)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
