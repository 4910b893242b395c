/* The gateway's client dialects (gateway_client.h): OpenAI- and
 * Ollama-shaped error bodies.
 *
 * Invariant: Vexil's members are in every body. */
#include "server/gateway_client.h"

#include <stdio.h>
#include <string.h>

#include "base/limits.h"

/* ---- errors ----------------------------------------------------------- */

/* OpenAI's error "type" and "code" for a gateway-made error (code may be
 * NULL: JSON null, as OpenAI often sends). */
static void openai_kind(unsigned status, const char *path, const char **type,
                        const char **code)
{
    *type = status >= 500 ? "server_error" : "invalid_request_error";
    *code = NULL;
    switch (status) {
    case 401: *code = "invalid_api_key"; break;
    case 403: *code = "permission_denied"; break;
    case 404:
        if (path && strcmp(path, "/model") == 0)
            *code = "model_not_found";
        break;
    case 413: *code = "request_too_large"; break;
    case 429:
        *type = "requests";
        *code = "rate_limit_exceeded";
        break;
    case 502: *code = "upstream_error"; break;
    case 503: *code = "service_unavailable"; break;
    case 504: *code = "upstream_timeout"; break;
    default: break;
    }
}

/* A JSON pointer in OpenAI's notation ("/messages/0/content" ->
 * "messages[0].content"; "/headers/<Name>" -> "<Name>"), into `out`. */
static void openai_param(const char *path, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    if (strncmp(path, "/headers/", 9) == 0) {
        snprintf(out, cap, "%s", path + 9);
        return;
    }
    for (const char *p = path; *p && n + 1 < cap;) {
        p++; /* the '/' */
        size_t k = strcspn(p, "/");
        bool index = k > 0 && strspn(p, "0123456789") == k;
        if (index || n > 0) {
            const char *sep = index ? "[" : ".";
            if (n + 1 < cap)
                out[n++] = sep[0];
        }
        for (size_t i = 0; i < k && n + 1 < cap; i++) {
            char ch = p[i];
            if (ch == '~' && i + 1 < k && (p[i + 1] == '0' || p[i + 1] == '1'))
                ch = p[++i] == '1' ? '/' : '~';
            out[n++] = ch;
        }
        if (index && n + 1 < cap)
            out[n++] = ']';
        p += k;
    }
    out[n] = '\0';
}

json_t *gateway_client_error(gateway_dialect d, unsigned status,
                             const char *message, const char *path,
                             const char *detail)
{
    const char *p = path ? path : "";
    json_t *doc = json_pack("{ss s[{ss ss}]}", "message", message, "details",
                            "path", p, "message", detail ? detail : message);
    if (!doc)
        return NULL;
    json_t *error = NULL;
    if (d == GATEWAY_OLLAMA) {
        error = json_string(message);
    } else {
        const char *type, *code;
        char param[VX_ERROR_PATH_MAX];
        openai_kind(status, p, &type, &code);
        openai_param(p, param, sizeof(param));
        error = json_pack("{ss ss so so}", "message", message, "type", type,
                          "param", param[0] ? json_string(param) : json_null(),
                          "code", code ? json_string(code) : json_null());
    }
    if (!error || json_object_set_new(doc, "error", error) != 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}
