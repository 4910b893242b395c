/* bench_gw_upstream: the fastest upstream a gateway can have, for
 * bench/gateway/run.sh: answers every request at once with a fixed, small
 * OpenAI chat completion (its body is read and dropped) and the headers
 * OpenAI sends with one (request id, rate limits: the gateway passes them
 * on), on libmicrohttpd's epoll thread. Prints its port and runs until
 * killed.
 *
 * Usage: bench_gw_upstream PORT */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

static const char answer[] =
    "{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion\",\"created\":"
    "1700000000,\"model\":\"bench-model\",\"choices\":[{\"index\":0,"
    "\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,"
    "\"completion_tokens\":1,\"total_tokens\":6}}";

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
                                 const char *url, const char *method,
                                 const char *version, const char *upload,
                                 size_t *upload_size, void **state)
{
    static struct MHD_Response *resp; /* shared, built once */
    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload;
    if (!*state) {
        *state = conn; /* first call: headers only */
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0; /* the body is dropped */
        return MHD_YES;
    }
    if (!resp) {
        resp = MHD_create_response_from_buffer(
            sizeof(answer) - 1, (void *)answer, MHD_RESPMEM_PERSISTENT);
        static const char *const headers[][2] = {
            {"Content-Type", "application/json"},
            {"x-request-id", "req_0123456789abcdef0123456789abcdef"},
            {"openai-processing-ms", "1"},
            {"openai-version", "2020-10-01"},
            {"x-ratelimit-limit-requests", "10000"},
            {"x-ratelimit-remaining-requests", "9999"},
            {"x-ratelimit-reset-requests", "6ms"},
            {"x-ratelimit-limit-tokens", "2000000"},
            {"x-ratelimit-remaining-tokens", "1999990"},
            {"x-ratelimit-reset-tokens", "0s"},
        };
        for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++)
            MHD_add_response_header(resp, headers[i][0], headers[i][1]);
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, resp);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_gw_upstream PORT\n");
        return 2;
    }
    long port = strtol(argv[1], NULL, 10);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_EPOLL_INTERNAL_THREAD, (uint16_t)port, NULL, NULL, on_access,
        NULL, MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bench_gw_upstream: cannot listen on %ld\n", port);
        return 1;
    }
    printf("bench_gw_upstream: listening on %ld\n", port);
    fflush(stdout);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGINT);
    sigprocmask(SIG_BLOCK, &s, NULL);
    int sig = 0;
    sigwait(&s, &sig);
    MHD_stop_daemon(d);
    return 0;
}
