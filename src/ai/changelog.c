/* A changelog from the audit events of a period: per flag, in plain words.
 * The deterministic advisor writes it from the events directly; the model
 * gets an aggregate view (event types, environments, times, strategy
 * shapes, quoted and scrubbed descriptions) and writes the prose.
 *
 * Invariant: the model's data block never holds who acted, a constraint
 * value, a strategy parameter other than the rollout percentage, a tag
 * value or a payload; descriptions pass the scrubber first. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/advisor.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/limits.h"

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* The rollout parameter of a strategy document, or NULL. */
static const char *rollout_of(const json_t *strategy)
{
    const json_t *p = json_object_get(strategy, "parameters");
    const char *r = json_string_value(json_object_get(p, "rollout"));
    return r ? r : json_string_value(json_object_get(p, "percentage"));
}

static size_t ncons(const json_t *strategy)
{
    return json_array_size(json_object_get(strategy, "constraints"));
}

/* One event in plain words into (buf, cap). */
static void describe(const json_t *ev, char *buf, size_t cap)
{
    const char *t = str(ev, "type"), *env = str(ev, "environment");
    const json_t *d = json_object_get(ev, "data");
    const json_t *pre = json_object_get(ev, "preData");
    const char *r = rollout_of(d), *r0 = rollout_of(pre);
    if (strcmp(t, "feature-created") == 0)
        snprintf(buf, cap, "created (%s)",
                 *str(d, "type") ? str(d, "type") : "release");
    else if (strcmp(t, "feature-environment-enabled") == 0)
        snprintf(buf, cap, "turned on in %s", env);
    else if (strcmp(t, "feature-environment-disabled") == 0)
        snprintf(buf, cap, "turned off in %s", env);
    else if (strcmp(t, "feature-strategy-add") == 0)
        snprintf(buf, cap, "%s strategy added in %s%s%s%s, %zu constraint%s",
                 *str(d, "name") ? str(d, "name") : "a", env,
                 r ? " (rollout " : " (", r ? r : "", r ? "%" : "no rollout",
                 ncons(d), ncons(d) == 1 ? ")" : "s)");
    else if (strcmp(t, "feature-strategy-update") == 0 && r && r0 &&
             strcmp(r, r0) != 0)
        snprintf(buf, cap, "rollout in %s changed from %s%% to %s%%", env, r0,
                 r);
    else if (strcmp(t, "feature-strategy-update") == 0)
        snprintf(buf, cap, "%s strategy changed in %s",
                 *str(d, "name") ? str(d, "name") : "a", env);
    else if (strcmp(t, "feature-strategy-remove") == 0)
        snprintf(buf, cap, "a strategy removed in %s", env);
    else if (strcmp(t, "strategy-order-changed") == 0)
        snprintf(buf, cap, "strategies reordered in %s", env);
    else if (strcmp(t, "feature-environment-variants-updated") == 0)
        snprintf(buf, cap, "variants updated in %s", env);
    else if (strcmp(t, "feature-archived") == 0)
        snprintf(buf, cap, "archived");
    else if (strcmp(t, "feature-revived") == 0)
        snprintf(buf, cap, "revived from the archive");
    else if (strcmp(t, "feature-deleted") == 0)
        snprintf(buf, cap, "deleted for good");
    else if (strcmp(t, "feature-stale-on") == 0)
        snprintf(buf, cap, "marked stale");
    else if (strcmp(t, "feature-stale-off") == 0)
        snprintf(buf, cap, "no longer stale");
    else if (strcmp(t, "feature-tagged") == 0)
        snprintf(buf, cap, "tagged");
    else if (strcmp(t, "feature-untagged") == 0)
        snprintf(buf, cap, "untagged");
    else if (strcmp(t, "feature-dependency-added") == 0)
        snprintf(buf, cap, "now depends on another flag");
    else if (strncmp(t, "feature-dependenc", 17) == 0)
        snprintf(buf, cap, "dependencies removed");
    else if (strcmp(t, "feature-updated") == 0 ||
             strcmp(t, "feature-metadata-updated") == 0)
        snprintf(buf, cap, "details updated");
    else
        snprintf(buf, cap, "%s", t);
}

static int by_id(const void *a, const void *b)
{
    json_int_t x =
        json_integer_value(json_object_get(*(json_t *const *)a, "id"));
    json_int_t y =
        json_integer_value(json_object_get(*(json_t *const *)b, "id"));
    return x < y ? -1 : x > y;
}

/* The events that count, oldest first (advisor records left out).
 * Borrowed references in a malloc'd array. */
static const json_t **ordered(const json_t *events, size_t *n)
{
    size_t cap = json_array_size(events), k = 0, i;
    const json_t **v = vx__malloc((cap ? cap : 1) * sizeof(*v));
    const json_t *e;
    if (!v)
        return NULL;
    json_array_foreach (events, i, e) {
        if (strcmp(str(e, "type"), "advisor-recommendation") != 0)
            v[k++] = e;
    }
    qsort(v, k, sizeof(*v), by_id);
    *n = k;
    return v;
}

/* Flag names of the period in order of first appearance (new reference). */
static json_t *flag_names(const json_t **ev, size_t n)
{
    json_t *names = json_array(), *seen = json_object();
    for (size_t i = 0; i < n; i++) {
        const char *f = str(ev[i], "featureName");
        if (!*f || json_object_get(seen, f))
            continue;
        json_object_set_new(seen, f, json_true());
        json_array_append_new(names, json_string(f));
    }
    json_decref(seen);
    return names;
}

static void deterministic(const json_t **ev, size_t n, const json_t *names,
                          json_t *entries)
{
    size_t i;
    const json_t *name;
    json_array_foreach (names, i, name) {
        char text[2048] = "", one[256];
        size_t len = 0, count = 0;
        for (size_t k = 0; k < n; k++) {
            if (strcmp(str(ev[k], "featureName"), json_string_value(name)) != 0)
                continue;
            describe(ev[k], one, sizeof(one));
            int w = snprintf(text + len, sizeof(text) - len, "%s%s",
                             count ? "; " : "", one);
            if (w < 0 || (size_t)w >= sizeof(text) - len) {
                snprintf(text + sizeof(text) - 5, 5, "...");
                break;
            }
            len += (size_t)w;
            count++;
        }
        char cap[2100];
        snprintf(cap, sizeof(cap), "%c%s.",
                 text[0] >= 'a' && text[0] <= 'z' ? text[0] - 'a' + 'A'
                                                  : text[0],
                 text + 1);
        json_array_append_new(entries,
                              json_pack("{sO ss}", "flag", name, "text", cap));
    }
    /* Changes not about one flag: counted by kind. */
    json_t *other = json_object();
    for (size_t k = 0; k < n; k++) {
        if (*str(ev[k], "featureName"))
            continue;
        const char *t = str(ev[k], "type");
        json_int_t c = json_integer_value(json_object_get(other, t));
        json_object_set_new(other, t, json_integer(c + 1));
    }
    if (json_object_size(other) > 0) {
        char text[1024] = "";
        size_t len = 0;
        const char *t;
        const json_t *c;
        json_object_foreach (other, t, c) {
            int w =
                snprintf(text + len, sizeof(text) - len, "%s%lld %s",
                         len ? ", " : "", (long long)json_integer_value(c), t);
            if (w < 0 || (size_t)w >= sizeof(text) - len)
                break;
            /* "segment-created" reads "segment created" */
            for (size_t k = len; k < len + (size_t)w; k++)
                if (text[k] == '-')
                    text[k] = ' ';
            len += (size_t)w;
        }
        json_array_append_new(
            entries, json_pack("{ss ss}", "flag", "other", "text", text));
    }
    json_decref(other);
}

/* Collects the values a prompt must never hold from strategies, variants
 * and the like anywhere under `doc`: constraint values, user ids, IPs,
 * host names, variant overrides and payloads. */
static void deny_values(ai_scrub *s, const json_t *doc)
{
    static const char *const keys[] = {"values",  "value",     "userIds",
                                       "IPs",     "hostNames", "overrides",
                                       "payload", "context",   "tags"};
    if (json_is_array(doc)) {
        size_t i;
        const json_t *e;
        json_array_foreach (doc, i, e)
            deny_values(s, e);
        return;
    }
    if (!json_is_object(doc))
        return;
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)doc, k, v) {
        bool hit = false;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            hit = hit || strcmp(k, keys[i]) == 0;
        if (hit)
            ai_scrub_deny_json(s, v);
        else
            deny_values(s, v);
    }
}

static const json_t *feature_named(const json_t *features, const char *name)
{
    size_t i;
    const json_t *f;
    json_array_foreach (features, i, f) {
        if (strcmp(str(f, "name"), name) == 0)
            return f;
    }
    return NULL;
}

/* The aggregate shape of a strategy: name, rollout, constraint fields and
 * operators with the number of values (never the values). */
static json_t *strategy_shape(const json_t *s)
{
    if (!json_is_object(s))
        return NULL;
    json_t *cons = json_array();
    size_t i;
    const json_t *k;
    json_array_foreach (json_object_get(s, "constraints"), i, k) {
        const json_t *vals = json_object_get(k, "values");
        json_array_append_new(
            cons, json_pack("{ss ss si}", "field", str(k, "contextName"),
                            "operator", str(k, "operator"), "valueCount",
                            (int)(vals ? json_array_size(vals) : 1)));
    }
    const char *r = rollout_of(s);
    json_t *o =
        json_pack("{ss so}", "name", str(s, "name"), "constraints", cons);
    if (r)
        json_object_set_new(o, "rolloutPercent",
                            json_integer(strtol(r, NULL, 10)));
    return o;
}

json_t *ai_changelog_prompt_data(const ai_changelog_req *req,
                                 const ai_scrub *scrub)
{
    size_t n = 0;
    const json_t **ev = ordered(req->events, &n);
    if (!ev)
        return NULL;
    json_t *names = flag_names(ev, n), *flags = json_array(),
           *other = json_object();
    size_t i;
    const json_t *name;
    json_array_foreach (names, i, name) {
        if (i >= VX_LIMIT_AI_FLAGS_IN_PROMPT)
            break;
        const json_t *f = feature_named(req->features, json_string_value(name));
        const char *desc = f ? str(f, "description") : "";
        for (size_t k = 0; !*desc && k < n; k++)
            if (strcmp(str(ev[k], "featureName"), json_string_value(name)) ==
                    0 &&
                strcmp(str(ev[k], "type"), "feature-created") == 0)
                desc = str(json_object_get(ev[k], "data"), "description");
        char *clean = ai_scrub_text(scrub, desc, NULL, NULL);
        json_t *list = json_array();
        for (size_t k = 0; k < n; k++) {
            if (strcmp(str(ev[k], "featureName"), json_string_value(name)) != 0)
                continue;
            json_t *e = json_pack("{ss ss ss}", "type", str(ev[k], "type"),
                                  "environment", str(ev[k], "environment"),
                                  "at", str(ev[k], "createdAt"));
            const char *t = str(ev[k], "type");
            if (strstr(t, "strategy-add") || strstr(t, "strategy-update")) {
                json_t *sh = strategy_shape(json_object_get(ev[k], "data"));
                if (sh)
                    json_object_set_new(e, "strategy", sh);
                const char *r0 = rollout_of(json_object_get(ev[k], "preData"));
                if (r0)
                    json_object_set_new(e, "rolloutPercentBefore",
                                        json_integer(strtol(r0, NULL, 10)));
            }
            json_array_append_new(list, e);
        }
        json_array_append_new(
            flags, json_pack("{sO ss ss so}", "name", name, "project",
                             f ? str(f, "project") : "", "description",
                             clean ? clean : "", "events", list));
        vx__free(clean);
    }
    for (size_t k = 0; k < n; k++) {
        const char *fname = str(ev[k], "featureName");
        bool listed = false;
        json_array_foreach (flags, i, name)
            listed = listed || strcmp(str(name, "name"), fname) == 0;
        if (listed)
            continue;
        const char *t = str(ev[k], "type");
        json_int_t c = json_integer_value(json_object_get(other, t));
        json_object_set_new(other, t, json_integer(c + 1));
    }
    json_t *data = json_pack(
        "{s{ss ss} so so si sb}", "period", "from", req->from ? req->from : "",
        "to", req->to ? req->to : "", "flags", flags, "otherChanges", other,
        "eventCount", (int)n, "truncated", req->truncated);
    json_decref(names);
    vx__free((void *)ev);
    return data;
}

static const char CHANGELOG_SYSTEM[] =
    "You write the changelog of a feature-flag server for a period, for "
    "people who were not there. For each flag in flags write one entry "
    "(flag = its name) of one to three plain sentences saying what changed, "
    "citing environments and rollout percentages; put changes not about a "
    "flag (otherChanges) in one entry with flag \"other\" when there are "
    "any. summary: one or two sentences about the whole period. Do not "
    "invent changes that are not in the data.";

typedef struct cctx {
    const json_t *names; /* allowed flag names */
} cctx;

static vx_status changelog_check(void *ud, const json_t *answer, vx_error *err)
{
    const cctx *c = ud;
    size_t i, j;
    const json_t *e, *n;
    json_array_foreach (json_object_get(answer, "entries"), i, e) {
        const char *f = str(e, "flag");
        bool ok = strcmp(f, "other") == 0;
        json_array_foreach (c->names, j, n)
            ok = ok || strcmp(json_string_value(n), f) == 0;
        if (!ok) {
            char p[64];
            snprintf(p, sizeof(p), "/entries/%zu/flag", i);
            return vx__error_set(err, VX_ESCHEMA, p,
                                 "not a flag of the period");
        }
    }
    return VX_OK;
}

vx_status ai_advise_changelog(ai_llm *llm, const ai_changelog_req *req,
                              json_t **answer, vx_error *err)
{
    vx_status st = VX_OK;
    size_t n = 0;
    const json_t **ev = NULL;
    json_t *names = NULL, *entries = NULL, *data = NULL, *schema = NULL,
           *model = NULL;
    ai_scrub *scrub = NULL;
    char *data_text = NULL, *user = NULL;
    char label[300], summary[VX_LIMIT_AI_TEXT_BYTES];
    int attempts = 0;
    uint64_t failures = vx__alloc_failures();
    *answer = NULL;
    ev = ordered(req->events, &n);
    names = ev ? flag_names(ev, n) : NULL;
    if (!names) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    if (!llm || n == 0) {
        entries = json_array();
        deterministic(ev, n, names, entries);
        snprintf(summary, sizeof(summary),
                 "%zu change%s to %zu flag%s between %s and %s%s.", n,
                 n == 1 ? "" : "s", json_array_size(names),
                 json_array_size(names) == 1 ? "" : "s",
                 req->from && *req->from ? req->from : "the beginning",
                 req->to && *req->to ? req->to : "now",
                 req->truncated ? " (only the newest events were read)" : "");
        model = json_pack("{ss so}", "summary", summary, "entries", entries);
        entries = NULL;
        llm = NULL; /* an empty period needs no model */
    } else {
        scrub = ai_scrub_new();
        if (scrub) {
            deny_values(scrub, req->events);
            deny_values(scrub, req->features);
        }
        data = scrub ? ai_changelog_prompt_data(req, scrub) : NULL;
        data_text = data ? json_dumps(data, JSON_INDENT(1)) : NULL;
        size_t len = data_text ? strlen(data_text) + 32 : 0;
        user = data_text ? vx__malloc(len) : NULL;
        json_t *allowed = json_deep_copy(names);
        json_array_append_new(allowed, json_string("other"));
        schema = json_pack(
            "{ss sb s[ss] s{s{ss si} s{ss si s{ss sb s[ss] s{s{so} "
            "s{ss si}}}}}}",
            "type", "object", "additionalProperties", 0, "required", "summary",
            "entries", "properties", "summary", "type", "string", "maxLength",
            VX_LIMIT_AI_TEXT_BYTES, "entries", "type", "array", "maxItems",
            VX_LIMIT_AI_FLAGS_IN_PROMPT + 1, "items", "type", "object",
            "additionalProperties", 0, "required", "flag", "text", "properties",
            "flag", "enum", allowed, "text", "type", "string", "maxLength",
            VX_LIMIT_AI_TEXT_BYTES);
        if (!user || !schema) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            goto out;
        }
        snprintf(user, len, "<data>\n%s\n</data>", data_text);
        cctx c = {names};
        ai_task task = {"changelog", CHANGELOG_SYSTEM, user,
                        schema,      changelog_check,  &c};
        st = ai_ask(llm, &task, &model, &attempts, err);
        if (st != VX_OK)
            goto out;
    }
    st = ai_answer_take(json_pack("{ss sO si si}", "advisor",
                                  ai_advisor_label(llm, label, sizeof(label)),
                                  "changelog", model, "eventCount", (int)n,
                                  "attempts", attempts),
                        failures, answer, err);
out:
    vx__free((void *)ev);
    json_decref(names);
    json_decref(entries);
    json_decref(data);
    json_decref(schema);
    json_decref(model);
    ai_scrub_free(&scrub);
    free(data_text); /* jansson's */
    vx__free(user);
    return st;
}
