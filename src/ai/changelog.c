/* A changelog from the audit events of a period: per flag, in plain words.
 * The deterministic advisor writes it from the events directly; the model
 * gets an aggregate view (event types, environments, times, strategy
 * shapes, quoted and scrubbed descriptions) and writes the prose.
 *
 * Invariant: the model's data block never holds who acted, a constraint
 * value, a strategy parameter other than the rollout percentage, a tag
 * value or a payload; descriptions pass the scrubber first. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* The ids and plain-words changes of the events of flag `name` ("" for
 * the changes not about one flag) as {"events": [ids], "changes":
 * [{"eventId", "type", "text"}]} members of `entry`. */
static void link_events(const json_t **ev, size_t n, const char *name,
                        json_t *entry)
{
    json_t *ids = json_array(), *changes = json_array();
    char one[256];
    for (size_t k = 0; k < n; k++) {
        if (strcmp(str(ev[k], "featureName"), name) != 0)
            continue;
        describe(ev[k], one, sizeof(one));
        json_t *id = json_object_get(ev[k], "id");
        json_array_append(ids, id ? id : json_null());
        json_array_append_new(
            changes, json_pack("{sO ss ss}", "eventId", id ? id : json_null(),
                               "type", str(ev[k], "type"), "text", one));
    }
    json_object_set_new(entry, "events", ids);
    json_object_set_new(entry, "changes", changes);
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
        json_t *e = json_pack("{sO ss}", "flag", name, "text", cap);
        link_events(ev, n, json_string_value(name), e);
        json_array_append_new(entries, e);
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
        json_t *e = json_pack("{ss ss}", "flag", "other", "text", text);
        link_events(ev, n, "", e);
        json_array_append_new(entries, e);
    }
    json_decref(other);
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

json_t *ai_changelog_prompt_data(const ai_changelog_req *req)
{
    size_t n = 0;
    const json_t **ev = ordered(req->events, &n);
    if (!ev)
        return NULL;
    json_t *names = flag_names(ev, n), *flags = json_array(),
           *other = json_array();
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
        json_t *list = json_array();
        for (size_t k = 0; k < n; k++) {
            if (strcmp(str(ev[k], "featureName"), json_string_value(name)) != 0)
                continue;
            json_t *e = json_pack(
                "{sO ss ss ss}", "id",
                json_object_get(ev[k], "id") ? json_object_get(ev[k], "id")
                                             : json_null(),
                "type", str(ev[k], "type"), "environment",
                str(ev[k], "environment"), "at", str(ev[k], "createdAt"));
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
        json_array_append_new(flags,
                              json_pack("{sO ss ss so}", "name", name,
                                        "project", f ? str(f, "project") : "",
                                        "description", desc, "events", list));
    }
    for (size_t k = 0; k < n; k++) {
        const char *fname = str(ev[k], "featureName");
        bool listed = false;
        json_array_foreach (flags, i, name)
            listed = listed || strcmp(str(name, "name"), fname) == 0;
        if (listed)
            continue;
        if (json_array_size(other) < VX_LIMIT_AI_FLAGS_IN_PROMPT)
            json_array_append_new(
                other, json_pack("{sO ss ss}", "id",
                                 json_object_get(ev[k], "id")
                                     ? json_object_get(ev[k], "id")
                                     : json_null(),
                                 "type", str(ev[k], "type"), "environment",
                                 str(ev[k], "environment")));
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
    "citing environments and rollout percentages, with eventIds: the ids of "
    "the events the entry describes (each event has an id); put changes not "
    "about a flag (otherChanges) in one entry with flag \"other\" when there "
    "are any. summary: one or two sentences about the whole period. Describe "
    "only the events in the data: a description is what the flag is for, "
    "never a change. Do not invent changes that are not in the data.";

typedef struct cctx {
    const json_t *names; /* allowed flag names */
    const json_t **ev;   /* the period's events, oldest first */
    size_t n;            /* how many */
} cctx;

/* Does `text` hold `w` (lower case) as whole words, case-insensitive? */
static bool says(const char *text, const char *w)
{
    size_t wl = strlen(w);
    for (const char *p = text; (p = strcasestr(p, w)) != NULL; p++) {
        bool start = p == text || !isalnum((unsigned char)p[-1]);
        bool end = !isalnum((unsigned char)p[wl]);
        if (start && end)
            return true;
    }
    return false;
}

/* What a text may claim only when one of the cited events is of this
 * type ("" = a rollout of 100 % without constraints). */
static const struct {
    const char *word;
    const char *type;
} CLAIMS[] = {
    {"enabled", "feature-environment-enabled"},
    {"turned on", "feature-environment-enabled"},
    {"switched on", "feature-environment-enabled"},
    {"activated", "feature-environment-enabled"},
    {"disabled", "feature-environment-disabled"},
    {"turned off", "feature-environment-disabled"},
    {"switched off", "feature-environment-disabled"},
    {"deactivated", "feature-environment-disabled"},
    {"archived", "feature-archived"},
    {"deleted", "feature-deleted"},
    {"created", "feature-created"},
    {"revived", "feature-revived"},
    {"everyone", ""},
    {"all users", ""},
    {"every user", ""},
    {"100%", ""},
};

/* The events of `c` whose ids `cited` lists, as a borrowed array (NULL-
 * terminated, malloc'd). */
static const json_t **pick(const cctx *c, const json_t *cited)
{
    const json_t **out = vx__calloc(json_array_size(cited) + 1, sizeof(*out));
    size_t m = 0, i;
    const json_t *id;
    if (!out)
        return NULL;
    json_array_foreach (cited, i, id) {
        for (size_t k = 0; k < c->n; k++) {
            if (json_equal(json_object_get(c->ev[k], "id"), id)) {
                out[m++] = c->ev[k];
                break;
            }
        }
    }
    return out;
}

/* Checks the claims of `text` against the events `evs` it cites: every
 * percentage is a rollout one of them set or left, every environment it
 * names is theirs, and "enabled", "archived", "everyone"... need an event
 * that did it. */
static vx_status claims_check(const char *text, const json_t **evs,
                              const cctx *c, const char *path, vx_error *err)
{
    /* percentages */
    for (const char *p = text; *p; p++) {
        if (!isdigit((unsigned char)*p) ||
            (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '.')))
            continue;
        char *end = NULL;
        long v = strtol(p, &end, 10);
        const char *q = end;
        while (*q == ' ')
            q++;
        bool pct = *q == '%' || strncasecmp(q, "percent", 7) == 0;
        if (!pct) {
            p = end - 1;
            continue;
        }
        bool found = false;
        for (size_t k = 0; evs[k] && !found; k++) {
            const char *r = rollout_of(json_object_get(evs[k], "data"));
            const char *r0 = rollout_of(json_object_get(evs[k], "preData"));
            found = (r && strtol(r, NULL, 10) == v) ||
                    (r0 && strtol(r0, NULL, 10) == v);
        }
        if (!found)
            return vx__error_set(err, VX_ESCHEMA, path,
                                 "cites %ld%%, a rollout no cited event holds",
                                 v);
        p = end - 1;
    }
    /* environments */
    for (size_t k = 0; k < c->n; k++) {
        const char *env = str(c->ev[k], "environment");
        if (!*env || !says(text, env))
            continue;
        bool found = false;
        for (size_t m = 0; evs[m] && !found; m++)
            found = strcmp(str(evs[m], "environment"), env) == 0;
        if (!found)
            return vx__error_set(err, VX_ESCHEMA, path,
                                 "names the environment %s, which no cited "
                                 "event is about",
                                 env);
    }
    /* what happened */
    for (size_t w = 0; w < sizeof(CLAIMS) / sizeof(CLAIMS[0]); w++) {
        if (!says(text, CLAIMS[w].word))
            continue;
        bool found = false;
        for (size_t m = 0; evs[m] && !found; m++) {
            if (*CLAIMS[w].type) {
                found = strcmp(str(evs[m], "type"), CLAIMS[w].type) == 0;
            } else {
                const json_t *d = json_object_get(evs[m], "data");
                const char *r = rollout_of(d);
                found = r && strtol(r, NULL, 10) == 100 && ncons(d) == 0;
            }
        }
        if (!found)
            return vx__error_set(err, VX_ESCHEMA, path,
                                 "says \"%s\", which no cited event did",
                                 CLAIMS[w].word);
    }
    return VX_OK;
}

static vx_status changelog_check(void *ud, const json_t *answer, vx_error *err)
{
    const cctx *c = ud;
    size_t i, j;
    const json_t *e, *n;
    json_t *all = json_array();
    vx_status st = VX_OK;
    json_array_foreach (json_object_get(answer, "entries"), i, e) {
        const char *f = str(e, "flag");
        bool other = strcmp(f, "other") == 0, ok = other;
        char p[64];
        json_array_foreach (c->names, j, n)
            ok = ok || strcmp(json_string_value(n), f) == 0;
        if (!ok) {
            snprintf(p, sizeof(p), "/entries/%zu/flag", i);
            st = vx__error_set(err, VX_ESCHEMA, p, "not a flag of the period");
            break;
        }
        /* every cited event is an event of this flag in the period */
        const json_t *ids = json_object_get(e, "eventIds"), *id;
        json_array_foreach (ids, j, id) {
            bool mine = false;
            for (size_t k = 0; k < c->n && !mine; k++)
                mine =
                    json_equal(json_object_get(c->ev[k], "id"), id) &&
                    strcmp(str(c->ev[k], "featureName"), other ? "" : f) == 0;
            if (!mine) {
                snprintf(p, sizeof(p), "/entries/%zu/eventIds/%zu", i, j);
                st = vx__error_set(err, VX_ESCHEMA, p,
                                   "not an event of %s in the period",
                                   other ? "the other changes" : f);
                break;
            }
            json_array_append(all, (json_t *)id);
        }
        if (st != VX_OK)
            break;
        const json_t **evs = pick(c, ids);
        if (!evs) {
            st = VX_ENOMEM;
            break;
        }
        snprintf(p, sizeof(p), "/entries/%zu/text", i);
        st = claims_check(str(e, "text"), evs, c, p, err);
        vx__free((void *)evs);
        if (st != VX_OK)
            break;
    }
    if (st == VX_OK) {
        const json_t **evs = pick(c, all);
        st = evs ? claims_check(str(answer, "summary"), evs, c, "/summary", err)
                 : VX_ENOMEM;
        vx__free((void *)evs);
    }
    json_decref(all);
    return st;
}

vx_status ai_advise_changelog(ai_llm *llm, const ai_changelog_req *req,
                              json_t **answer, vx_error *err)
{
    vx_status st = VX_OK;
    size_t n = 0;
    const json_t **ev = NULL;
    json_t *names = NULL, *entries = NULL, *data = NULL, *schema = NULL,
           *model = NULL;
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
        data = ai_changelog_prompt_data(req);
        json_t *allowed = json_deep_copy(names);
        json_array_append_new(allowed, json_string("other"));
        schema = json_pack(
            "{ss sb s[ss] s{s{ss si} s{ss si s{ss sb s[sss] s{s{so} "
            "s{ss si} s{ss si si s{ss}}}}}}}",
            "type", "object", "additionalProperties", 0, "required", "summary",
            "entries", "properties", "summary", "type", "string", "maxLength",
            VX_LIMIT_AI_TEXT_BYTES, "entries", "type", "array", "maxItems",
            VX_LIMIT_AI_FLAGS_IN_PROMPT + 1, "items", "type", "object",
            "additionalProperties", 0, "required", "flag", "text", "eventIds",
            "properties", "flag", "enum", allowed, "text", "type", "string",
            "maxLength", VX_LIMIT_AI_TEXT_BYTES, "eventIds", "type", "array",
            "minItems", 1, "maxItems", VX_LIMIT_AI_EVENTS, "items", "type",
            "integer");
        if (!data || !schema) {
            st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
            goto out;
        }
        cctx c = {names, ev, n};
        ai_task task = {"changelog", CHANGELOG_SYSTEM, schema, changelog_check,
                        &c,          req->privacy,     NULL};
        st = ai_ask_data(llm, &task, data, &model, &attempts, err);
        if (st != VX_OK)
            goto out;
        /* Each entry links its events, with the audit log's own words. */
        size_t i;
        json_t *e;
        json_array_foreach (json_object_get(model, "entries"), i, e) {
            json_t *ids = json_object_get(e, "eventIds");
            json_t *changes = json_array();
            size_t j;
            const json_t *id;
            char one[256];
            json_array_foreach (ids, j, id) {
                for (size_t k = 0; k < n; k++) {
                    if (!json_equal(json_object_get(ev[k], "id"), id))
                        continue;
                    describe(ev[k], one, sizeof(one));
                    json_array_append_new(
                        changes, json_pack("{sO ss ss}", "eventId", id, "type",
                                           str(ev[k], "type"), "text", one));
                }
            }
            json_object_set(e, "events", ids);
            json_object_del(e, "eventIds");
            json_object_set_new(e, "changes", changes);
        }
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
    return st;
}
