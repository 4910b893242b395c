/* Loopback tests of the HTTP server (src/server/http.c + server.c): the
 * real listener on 127.0.0.1, port 0, over an in-memory SQLite service,
 * driven with libcurl. Covers the operational endpoints, authentication,
 * the body limits (413, 415, 400 invalid JSON and nesting), routing errors
 * (404, 405 + Allow, 400 bad escapes), the header-count limit (431), a
 * created flag, keep-alive, the kind rule (a client token gets 403 on admin
 * routes), /metrics and the web UI's files.
 *
 * Expected statuses and shapes come from docs/admin-api.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "server/http.h"
#include "server/server.h"
#include "service/service.h"

#define MAX_BODY    4096       /* the server's body limit in this test */
#define RESP_MAX    (1u << 20) /* bytes of one answer kept */
#define HEADERS_MAX 4096       /* bytes of answer headers kept */

typedef struct fixture {
    service *svc;               /* in-memory service */
    server *srv;                /* the listener */
    char base[64];              /* "http://127.0.0.1:PORT" */
    char admin[SVC_SECRET_MAX]; /* the first admin token */
    CURL *curl;                 /* one handle: keep-alive across requests */
} fixture;

/* One answer. */
typedef struct answer {
    long status;               /* HTTP status */
    char body[RESP_MAX];       /* NUL-terminated */
    size_t len;                /* bytes in body */
    char headers[HEADERS_MAX]; /* raw header lines */
    size_t hlen;               /* bytes in headers */
    json_t *json;              /* body parsed, or NULL */
    long new_connections;      /* connections opened for this request */
} answer;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    answer *a = ud;
    size_t len = size * n;
    size_t room = sizeof(a->body) - 1 - a->len;
    size_t take = len < room ? len : room;
    memcpy(a->body + a->len, p, take);
    a->len += take;
    a->body[a->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    answer *a = ud;
    size_t len = size * n;
    size_t room = sizeof(a->headers) - 1 - a->hlen;
    size_t take = len < room ? len : room;
    memcpy(a->headers + a->hlen, p, take);
    a->hlen += take;
    a->headers[a->hlen] = '\0';
    return len;
}

/* Sends one request; `auth` is the whole Authorization value (NULL for
 * none), `ctype` the Content-Type (NULL for none), `body` (NULL: no body).
 * `chunked` sends the body with Transfer-Encoding: chunked. */
static answer *call(fixture *f, const char *method, const char *path,
                    const char *auth, const char *ctype, const char *body,
                    size_t body_len, bool chunked)
{
    answer *a = calloc(1, sizeof(*a));
    assert_non_null(a);
    char url[512];
    snprintf(url, sizeof(url), "%s%s", f->base, path);
    struct curl_slist *h = NULL;
    char line[512];
    if (auth) {
        snprintf(line, sizeof(line), "Authorization: %s", auth);
        h = curl_slist_append(h, line);
    }
    if (ctype) {
        snprintf(line, sizeof(line), "Content-Type: %s", ctype);
        h = curl_slist_append(h, line);
    } else {
        h = curl_slist_append(h, "Content-Type:");
    }
    h = curl_slist_append(h, "Expect:");
    if (chunked)
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
    CURL *c = f->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        if (!chunked)
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)body_len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &a->new_connections);
    a->json = json_loadb(a->body, a->len, JSON_DECODE_ANY, NULL);
    return a;
}

static void answer_free(answer *a)
{
    json_decref(a->json);
    free(a);
}

static answer *get(fixture *f, const char *path, const char *auth)
{
    return call(f, "GET", path, auth, NULL, NULL, 0, false);
}

static answer *send_json(fixture *f, const char *method, const char *path,
                         const char *auth, const char *body)
{
    return call(f, method, path, auth, "application/json", body, strlen(body),
                false);
}

static const char *str_at(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* Checks the error shape {"message", "details":[{"path","message"}]}. */
static void assert_problem(const answer *a, long status, const char *message)
{
    if (a->status != status)
        fail_msg("status %ld, want %ld: %s", a->status, status, a->body);
    assert_non_null(a->json);
    const char *m = str_at(a->json, "message");
    assert_non_null(m);
    if (message)
        assert_string_equal(m, message);
    json_t *d = json_object_get(a->json, "details");
    assert_true(json_is_array(d));
    assert_true(json_array_size(d) >= 1);
    assert_non_null(str_at(json_array_get(d, 0), "path"));
    assert_non_null(str_at(json_array_get(d, 0), "message"));
}

static bool has_header(const answer *a, const char *line)
{
    return strstr(a->headers, line) != NULL;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    vx_error err;
    memset(&err, 0, sizeof(err));
    svc_config sc = {.database = "sqlite::memory:"};
    if (svc_open(&sc, &f->svc, f->admin, &err) != VX_OK)
        fail_msg("svc_open: %s", err.message);
    assert_true(f->admin[0] != '\0');
    server_config cfg = {
        .host = "127.0.0.1",
        .port = 0,
        .threads = 2,
        .max_connections = 64,
        .max_body = MAX_BODY,
        .log_requests = false,
    };
    if (server_start(&cfg, f->svc, &f->srv, &err) != VX_OK)
        fail_msg("server_start: %s", err.message);
    assert_true(server_port(f->srv) != 0);
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u",
             (unsigned)server_port(f->srv));
    f->curl = curl_easy_init();
    assert_non_null(f->curl);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    curl_easy_cleanup(f->curl);
    server_stop(&f->srv);
    assert_null(f->srv);
    svc_close(f->svc);
    free(f);
    return 0;
}

/* The one status mapping (docs/admin-api.md): every code maps to an HTTP
 * status, and "the database is unavailable" is 503 (retry), not 500. */
static void test_status_mapping(void **state)
{
    (void)state;
    static const struct {
        vx_status st;
        unsigned http;
    } want[] = {
        {VX_OK, 200},           {VX_EINVAL, 400},       {VX_ESCHEMA, 400},
        {VX_EPARSE, 400},       {VX_ELIMIT, 400},       {VX_EAUTH, 401},
        {VX_EFORBIDDEN, 403},   {VX_ENOTFOUND, 404},    {VX_ECONFLICT, 409},
        {VX_EUNSUPPORTED, 415}, {VX_EUNAVAILABLE, 503}, {VX_EIO, 500},
        {VX_ENOMEM, 500},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(http_status_of(want[i].st), want[i].http);
#define X(name, value, msg) assert_true(http_status_of(VX_##name) >= 200);
    VX_STATUS_MAP(X)
#undef X
}

static void test_health_and_ready(void **state)
{
    fixture *f = *state;
    answer *a = get(f, "/health", NULL);
    assert_int_equal(a->status, 200);
    assert_string_equal(a->body, "{\"health\":\"GOOD\"}");
    assert_true(has_header(a, "Content-Type: application/json"));
    answer_free(a);
    a = get(f, "/ready", NULL);
    assert_int_equal(a->status, 200);
    assert_string_equal(str_at(a->json, "health"), "READY");
    answer_free(a);
    a = call(f, "POST", "/health", NULL, NULL, NULL, 0, false);
    assert_problem(a, 405, NULL);
    assert_true(has_header(a, "Allow: GET"));
    answer_free(a);
}

static void test_auth(void **state)
{
    fixture *f = *state;
    answer *a = get(f, "/api/admin/projects", NULL);
    assert_problem(a, 401, "missing token");
    answer_free(a);
    a = get(f, "/api/admin/projects", "Bearer ");
    assert_problem(a, 401, "missing token");
    answer_free(a);
    a = get(f, "/api/admin/projects", "*:*.0000");
    assert_problem(a, 401, NULL);
    answer_free(a);

    /* The raw secret, and "Bearer" in any case. */
    char bearer[SVC_SECRET_MAX + 16];
    snprintf(bearer, sizeof(bearer), "bEaReR %s", f->admin);
    a = get(f, "/api/admin/projects", f->admin);
    assert_int_equal(a->status, 200);
    assert_true(json_is_array(json_object_get(a->json, "projects")));
    answer_free(a);
    a = get(f, "/api/admin/projects", bearer);
    assert_int_equal(a->status, 200);
    answer_free(a);

    /* Unauthenticated requests are refused before the body is looked at:
     * a body that breaks every limit still gets 401. */
    a = call(f, "POST", "/api/admin/projects", NULL, "text/plain", "x", 1,
             false);
    assert_problem(a, 401, "missing token");
    answer_free(a);
}

static void test_body_limits(void **state)
{
    fixture *f = *state;
    const char *path = "/api/admin/projects/default/features";
    char *big = malloc(MAX_BODY + 2);
    assert_non_null(big);
    memset(big, ' ', MAX_BODY + 1);
    big[0] = '{';
    big[MAX_BODY] = '}';
    big[MAX_BODY + 1] = '\0';

    /* Over the limit with Content-Length: 413 before reading it. */
    answer *a = call(f, "POST", path, f->admin, "application/json", big,
                     MAX_BODY + 1, false);
    assert_problem(a, 413, NULL);
    answer_free(a);
    /* Exactly at the limit is fine as far as size goes (and it is an
     * object without a name: the service says 400). */
    a = call(f, "POST", path, f->admin, "application/json", big + 1, MAX_BODY,
             false);
    assert_int_not_equal(a->status, 413);
    answer_free(a);
    /* Over the limit in chunks: 413 once it is all in. */
    a = call(f, "POST", path, f->admin, "application/json", big, MAX_BODY + 1,
             true);
    assert_problem(a, 413, NULL);
    answer_free(a);
    free(big);

    a = call(f, "POST", path, f->admin, "text/plain", "{\"name\":\"x\"}", 12,
             false);
    assert_problem(a, 415, NULL);
    answer_free(a);
    a = call(f, "POST", path, f->admin, NULL, "{\"name\":\"x\"}", 12, false);
    assert_problem(a, 415, NULL);
    answer_free(a);
    /* Media type parameters and case are fine. */
    a = call(f, "POST", "/api/admin/features/validate", f->admin,
             "Application/JSON; charset=utf-8", "{\"name\":\"free-name\"}", 20,
             false);
    assert_int_equal(a->status, 200);
    answer_free(a);

    a = send_json(f, "POST", path, f->admin, "{\"name\": ");
    assert_problem(a, 400, NULL);
    assert_true(strncmp(str_at(a->json, "message"), "invalid JSON: ", 14) == 0);
    const char *detail = str_at(
        json_array_get(json_object_get(a->json, "details"), 0), "message");
    assert_non_null(strstr(detail, "line 1 column"));
    answer_free(a);

    /* VX_LIMIT_HTTP_JSON_DEPTH is 64: 64 levels around a scalar reach the
     * service (which refuses an array, but not for its depth); 65 do not. */
    for (int levels = 64; levels <= 65; levels++) {
        char deep[200];
        size_t n = 0;
        for (int i = 0; i < levels; i++)
            deep[n++] = '[';
        deep[n++] = '1';
        for (int i = 0; i < levels; i++)
            deep[n++] = ']';
        deep[n] = '\0';
        a = send_json(f, "POST", path, f->admin, deep);
        assert_problem(a, 400, NULL);
        bool refused = strstr(str_at(a->json, "message"), "deeper") != NULL;
        assert_true(refused == (levels == 65));
        answer_free(a);
    }

    /* A required body that is missing. */
    a = call(f, "POST", path, f->admin, NULL, NULL, 0, false);
    assert_problem(a, 400, NULL);
    answer_free(a);
}

static void test_routing_errors(void **state)
{
    fixture *f = *state;
    answer *a = get(f, "/api/admin/no-such-thing", f->admin);
    assert_problem(a, 404, NULL);
    answer_free(a);
    /* The SDK API wants a client token, as Unleash does. */
    a = get(f, "/api/client/features", f->admin);
    assert_problem(a, 403, NULL);
    answer_free(a);
    a = get(f, "/api/client/no-such-thing", f->admin);
    assert_problem(a, 404, NULL);
    answer_free(a);
    a = get(f, "/nowhere.js", NULL); /* a file the UI does not have */
    assert_problem(a, 404, NULL);
    answer_free(a);
    a = call(f, "PUT", "/api/admin/projects", f->admin, NULL, NULL, 0, false);
    assert_problem(a, 405, NULL);
    assert_true(has_header(a, "Allow: GET, POST"));
    answer_free(a);
    a = get(f, "/api/admin/projects/%ZZ", f->admin);
    assert_problem(a, 400, NULL);
    assert_string_equal(
        str_at(json_array_get(json_object_get(a->json, "details"), 0), "path"),
        "/path/project");
    answer_free(a);
    a = get(f, "/api/admin/projects/nope", f->admin);
    assert_problem(a, 404, NULL);
    answer_free(a);
    /* Query names and values must be UTF-8. */
    a = get(f, "/api/admin/search/events?%FF=1", f->admin);
    assert_problem(a, 400, NULL);
    assert_string_equal(
        str_at(json_array_get(json_object_get(a->json, "details"), 0), "path"),
        "/query");
    answer_free(a);
    a = get(f, "/api/admin/search/events?type=%FF", f->admin);
    assert_problem(a, 400, NULL);
    assert_string_equal(
        str_at(json_array_get(json_object_get(a->json, "details"), 0), "path"),
        "/query/type");
    answer_free(a);
}

/* The model gateway's routes answer errors in their clients' dialect
 * (http_req_set_problem): OpenAI's "error" object on /v1/, Ollama's
 * "error" text on its /api/ routes, Vexil's members kept, with a request
 * id; Vexil's own routes keep Vexil's shape alone. */
static void test_gateway_error_dialects(void **state)
{
    fixture *f = *state;
    const char *chat = "{\"model\":\"chat\",\"messages\":[]}";
    answer *a = send_json(f, "POST", "/v1/chat/completions", NULL, chat);
    assert_problem(a, 401, NULL);
    const json_t *e = json_object_get(a->json, "error");
    assert_string_equal(str_at(e, "message"), str_at(a->json, "message"));
    assert_string_equal(str_at(e, "type"), "invalid_request_error");
    assert_string_equal(str_at(e, "code"), "invalid_api_key");
    assert_true(json_is_null(json_object_get(e, "param")));
    assert_true(has_header(a, "x-request-id: gw-"));
    answer_free(a);
    a = send_json(f, "POST", "/api/chat", f->admin, chat);
    assert_problem(a, 403, NULL);
    assert_string_equal(str_at(a->json, "error"), str_at(a->json, "message"));
    answer_free(a);
    a = get(f, "/v1/no-such-thing", f->admin);
    assert_problem(a, 404, NULL);
    assert_true(json_is_object(json_object_get(a->json, "error")));
    answer_free(a);
    a = get(f, "/v1/chat/completions", f->admin);
    assert_problem(a, 405, NULL);
    assert_true(json_is_object(json_object_get(a->json, "error")));
    answer_free(a);
    a = get(f, "/api/admin/no-such-thing", f->admin);
    assert_problem(a, 404, NULL);
    assert_null(json_object_get(a->json, "error"));
    answer_free(a);
}

/* More header fields than VX_LIMIT_HTTP_HEADERS (100): 431, on any route,
 * before the handler runs. */
static void test_header_count(void **state)
{
    fixture *f = *state;
    struct curl_slist *h = NULL;
    for (int i = 0; i < 101; i++) {
        char line[32];
        snprintf(line, sizeof(line), "X-Filler-%d: v", i);
        h = curl_slist_append(h, line);
    }
    answer *a = calloc(1, sizeof(*a));
    assert_non_null(a);
    char url[128];
    snprintf(url, sizeof(url), "%s/health", f->base);
    curl_easy_reset(f->curl);
    curl_easy_setopt(f->curl, CURLOPT_URL, url);
    curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, a);
    assert_int_equal(curl_easy_perform(f->curl), CURLE_OK);
    curl_slist_free_all(h);
    curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &a->status);
    a->json = json_loadb(a->body, a->len, 0, NULL);
    assert_problem(a, 431, NULL);
    answer_free(a);
}

static void test_create_flag(void **state)
{
    fixture *f = *state;
    const char *path = "/api/admin/projects/default/features";
    answer *a = send_json(f, "POST", path, f->admin,
                          "{\"name\":\"new-checkout\",\"description\":\"d\"}");
    if (a->status != 201)
        fail_msg("create: %ld %s", a->status, a->body);
    assert_string_equal(str_at(a->json, "name"), "new-checkout");
    assert_string_equal(str_at(a->json, "project"), "default");
    assert_true(has_header(a, "Content-Type: application/json"));
    answer_free(a);

    /* The same connection serves the next requests (keep-alive). */
    a = get(f, "/api/admin/projects/default/features/new-checkout", f->admin);
    assert_int_equal(a->status, 200);
    assert_int_equal(a->new_connections, 0);
    assert_string_equal(str_at(a->json, "description"), "d");
    answer_free(a);

    a = send_json(f, "POST", path, f->admin, "{\"name\":\"new-checkout\"}");
    assert_problem(a, 409, NULL);
    answer_free(a);

    /* The query string reaches the service. */
    a = get(f,
            "/api/admin/search/events?type=feature-created&feature=new-"
            "checkout",
            f->admin);
    assert_int_equal(a->status, 200);
    json_t *events = json_object_get(a->json, "events");
    assert_int_equal(json_array_size(events), 1);
    assert_string_equal(str_at(json_array_get(events, 0), "featureName"),
                        "new-checkout");
    answer_free(a);

    /* HEAD: the status and headers of GET, no body. */
    a = call(f, "HEAD", "/api/admin/projects/default/features/new-checkout",
             f->admin, NULL, NULL, 0, false);
    assert_int_equal(a->status, 200);
    assert_int_equal(a->len, 0);
    answer_free(a);
}

/* A client token passes authentication but the service refuses admin
 * routes with 403. */
static void test_client_token_forbidden(void **state)
{
    fixture *f = *state;
    answer *a = send_json(f, "POST", "/api/admin/api-tokens", f->admin,
                          "{\"tokenName\":\"sdk\",\"type\":\"client\","
                          "\"environment\":\"development\"}");
    if (a->status != 201)
        fail_msg("token: %ld %s", a->status, a->body);
    const char *secret = str_at(a->json, "secret");
    assert_non_null(secret);
    char copy[SVC_SECRET_MAX];
    snprintf(copy, sizeof(copy), "%s", secret);
    answer_free(a);
    a = get(f, "/api/admin/projects", copy);
    assert_problem(a, 403, NULL);
    answer_free(a);
}

static void test_metrics(void **state)
{
    fixture *f = *state;
    answer *a = get(f, "/health", NULL);
    answer_free(a);
    a = get(f, "/metrics", NULL);
    assert_int_equal(a->status, 200);
    assert_true(has_header(a, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(a->body, "# TYPE vexil_http_requests_total "
                                    "counter\n"));
    assert_non_null(strstr(a->body, "vexil_http_requests_total{route=\""
                                    "/health\",method=\"GET\",status=\""
                                    "200\"} "));
    assert_non_null(strstr(a->body, "vexil_http_request_duration_seconds_"
                                    "bucket{route=\"/health\",le=\"+Inf\"}"));
    assert_non_null(strstr(a->body, "vexil_http_request_duration_seconds_"
                                    "count{route=\"/health\"}"));
    assert_non_null(strstr(a->body, "vexil_flags{state=\"active\"} "));
    assert_non_null(strstr(a->body, "vexil_flags{state=\"archived\"} "));
    assert_non_null(strstr(a->body, "vexil_db_errors_total "));
    answer_free(a);
}

/* GET `path` with one extra header `line` ("Name: value"); with `gzip`,
 * curl asks for gzip and decodes what comes back. */
static answer *get_with(fixture *f, const char *path, const char *line,
                        bool gzip)
{
    char url[256];
    snprintf(url, sizeof(url), "%s%s", f->base, path);
    struct curl_slist *h = curl_slist_append(NULL, line);
    answer *a = calloc(1, sizeof(*a));
    assert_non_null(a);
    curl_easy_reset(f->curl);
    curl_easy_setopt(f->curl, CURLOPT_URL, url);
    curl_easy_setopt(f->curl, CURLOPT_HTTPHEADER, h);
    if (gzip)
        curl_easy_setopt(f->curl, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(f->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(f->curl, CURLOPT_HEADERDATA, a);
    assert_int_equal(curl_easy_perform(f->curl), CURLE_OK);
    curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(h);
    return a;
}

/* The web UI (src/server/ui.c): embedded files with their type, ETag and
 * security headers; 304 on a matching If-None-Match; index.html for app
 * paths; 404 for a missing file; GET and HEAD only; /api/ untouched. */
static void test_ui(void **state)
{
    fixture *f = *state;
    answer *a = get(f, "/", NULL);
    assert_int_equal(a->status, 200);
    assert_true(has_header(a, "Content-Type: text/html; charset=utf-8"));
    assert_true(has_header(a, "Content-Security-Policy: default-src 'none'; "
                              "script-src 'self'"));
    assert_true(has_header(a, "X-Content-Type-Options: nosniff"));
    assert_true(has_header(a, "Cache-Control: no-cache"));
    assert_non_null(strstr(a->body, "<!doctype html>"));
    const char *etag = strstr(a->headers, "ETag: \"");
    assert_non_null(etag);
    char tag[64]; /* the quoted entity tag */
    int n = (int)strcspn(etag + 6, "\r\n");
    snprintf(tag, sizeof(tag), "%.*s", n, etag + 6);
    size_t index_len = a->len;
    answer_free(a);

    /* The same bytes for an app path (the page routes itself). */
    a = get(f, "/flags/default/new-checkout", NULL);
    assert_int_equal(a->status, 200);
    assert_int_equal(a->len, index_len);
    answer_free(a);

    /* Revalidation: 304 with no body, for the tag alone, in a list, or
     * weak; another tag gets the file. */
    char line[160];
    snprintf(line, sizeof(line), "If-None-Match: %s", tag);
    a = get_with(f, "/flags", line, false);
    assert_int_equal(a->status, 304);
    assert_int_equal(a->len, 0);
    answer_free(a);
    snprintf(line, sizeof(line), "If-None-Match: \"0000\", W/%s", tag);
    a = get_with(f, "/", line, false);
    assert_int_equal(a->status, 304);
    answer_free(a);
    a = get_with(f, "/", "If-None-Match: \"0000\"", false);
    assert_int_equal(a->status, 200);
    assert_int_equal(a->len, index_len);
    answer_free(a);

    /* gzip when accepted: the same bytes once decoded, another ETag; not
     * when refused with q=0. */
    a = get_with(f, "/assets/app.js", "X-Test: 1", false);
    assert_int_equal(a->status, 200);
    assert_true(has_header(a, "Vary: Accept-Encoding"));
    assert_null(strstr(a->headers, "Content-Encoding"));
    answer *z = get_with(f, "/assets/app.js", "X-Test: 1", true);
    assert_int_equal(z->status, 200);
    assert_true(has_header(z, "Content-Encoding: gzip"));
    assert_true(has_header(z, "-gz\""));
    assert_int_equal(z->len, a->len);
    assert_memory_equal(z->body, a->body, a->len);
    answer_free(z);
    answer_free(a);
    a = get_with(f, "/", "Accept-Encoding: br, gzip;q=0", false);
    assert_int_equal(a->status, 200);
    assert_null(strstr(a->headers, "Content-Encoding"));
    assert_int_equal(a->len, index_len);
    answer_free(a);

    a = get(f, "/assets/app.js", NULL);
    assert_int_equal(a->status, 200);
    assert_true(has_header(a, "Content-Type: text/javascript; charset=utf-8"));
    assert_true(a->len > 0);
    answer_free(a);
    a = get(f, "/assets/app.css", NULL);
    assert_int_equal(a->status, 200);
    assert_true(has_header(a, "Content-Type: text/css; charset=utf-8"));
    answer_free(a);
    a = call(f, "HEAD", "/favicon.svg", NULL, NULL, NULL, 0, false);
    assert_int_equal(a->status, 200);
    assert_true(has_header(a, "Content-Type: image/svg+xml"));
    assert_int_equal(a->len, 0);
    answer_free(a);

    a = get(f, "/assets/nope", NULL); /* under /assets/: a file, missing */
    assert_problem(a, 404, NULL);
    answer_free(a);
    a = call(f, "POST", "/flags", NULL, NULL, NULL, 0, false);
    assert_problem(a, 405, NULL);
    assert_true(has_header(a, "Allow: GET, HEAD"));
    answer_free(a);
    a = get(f, "/api/nothing", NULL); /* the API keeps its own 404/401 */
    assert_int_not_equal(a->status, 200);
    assert_non_null(a->json);
    answer_free(a);
}

int main(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_mapping),
        cmocka_unit_test(test_health_and_ready),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_routing_errors),
        cmocka_unit_test(test_gateway_error_dialects),
        cmocka_unit_test(test_header_count),
        cmocka_unit_test(test_create_flag),
        cmocka_unit_test(test_client_token_forbidden),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_ui),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
