/* The policy every proposal passes, from a model or not: it may not be
 * broader than the deterministic reading of the same question, a first
 * step above the configured share needs a person's explicit confirmation,
 * and whatever differs from the deterministic reading is named.
 *
 * Invariant: "refused" is returned whenever a model's strategy could reach
 * a user the deterministic reading does not (as far as it can be proved
 * otherwise: what cannot be proved narrower counts as broader). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/advisor.h"
#include "base/alloc.h"
#include "vexil/vexil.h"

static const char *sget(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* "country IN TH, VN" into (buf, cap). */
static void describe(const json_t *c, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(
        buf, cap, "%s%s %s ", sget(c, "contextName"),
        json_is_true(json_object_get(c, "inverted")) ? " (inverted)" : "",
        sget(c, "operator"));
    const json_t *vals = json_object_get(c, "values");
    if (!vals) {
        if (n < cap)
            snprintf(buf + n, cap - n, "%s", sget(c, "value"));
        return;
    }
    size_t i;
    const json_t *v;
    json_array_foreach (vals, i, v) {
        if (n >= cap)
            break;
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "",
                              json_string_value(v));
    }
}

static bool has(const json_t *a, const char *s)
{
    size_t i;
    const json_t *v;
    json_array_foreach (a, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

static bool subset(const json_t *a, const json_t *b)
{
    size_t i;
    const json_t *v;
    json_array_foreach (a, i, v) {
        if (!json_is_string(v) || !has(b, json_string_value(v)))
            return false;
    }
    return true;
}

static bool disjoint(const json_t *a, const json_t *b)
{
    size_t i;
    const json_t *v;
    json_array_foreach (a, i, v) {
        if (json_is_string(v) && has(b, json_string_value(v)))
            return false;
    }
    return true;
}

/* x.y.z as three numbers; false for anything else (pre-releases). */
static bool semver3(const char *s, long v[3])
{
    char *end = NULL;
    for (int i = 0; i < 3; i++) {
        v[i] = strtol(s, &end, 10);
        if (end == s || (i < 2 && *end != '.') || (i == 2 && *end != '\0'))
            return false;
        s = end + 1;
    }
    return true;
}

static int vcmp(const long a[3], const long b[3])
{
    for (int i = 0; i < 3; i++) {
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    }
    return 0;
}

/* An interval of versions: lo/hi with inclusiveness; has_lo/has_hi. */
typedef struct span {
    bool has_lo, has_hi, lo_in, hi_in;
    long lo[3], hi[3];
} span;

static bool span_of(const char *op, const char *value, span *s)
{
    long v[3];
    memset(s, 0, sizeof(*s));
    if (!semver3(value, v))
        return false;
    if (strcmp(op, "SEMVER_LT") == 0 || strcmp(op, "SEMVER_LTE") == 0 ||
        strcmp(op, "SEMVER_EQ") == 0) {
        s->has_hi = true;
        s->hi_in = strcmp(op, "SEMVER_LT") != 0;
        memcpy(s->hi, v, sizeof(v));
    }
    if (strcmp(op, "SEMVER_GT") == 0 || strcmp(op, "SEMVER_GTE") == 0 ||
        strcmp(op, "SEMVER_EQ") == 0) {
        s->has_lo = true;
        s->lo_in = strcmp(op, "SEMVER_GT") != 0;
        memcpy(s->lo, v, sizeof(v));
    }
    return s->has_lo || s->has_hi;
}

/* True when every version in `in` is in `out`. */
static bool span_within(const span *in, const span *out)
{
    if (out->has_lo) {
        if (!in->has_lo)
            return false;
        int c = vcmp(in->lo, out->lo);
        if (c < 0 || (c == 0 && in->lo_in && !out->lo_in))
            return false;
    }
    if (out->has_hi) {
        if (!in->has_hi)
            return false;
        int c = vcmp(in->hi, out->hi);
        if (c > 0 || (c == 0 && in->hi_in && !out->hi_in))
            return false;
    }
    return true;
}

/* True when constraint `in` only lets through contexts `out` lets
 * through (both normalised as the strategy check leaves them). */
static bool narrower(const json_t *in, const json_t *out)
{
    if (strcmp(sget(in, "contextName"), sget(out, "contextName")) != 0)
        return false;
    if (json_equal(in, out))
        return true;
    bool inv_in = json_is_true(json_object_get(in, "inverted"));
    bool inv_out = json_is_true(json_object_get(out, "inverted"));
    if (inv_in || inv_out ||
        json_is_true(json_object_get(in, "caseInsensitive")) !=
            json_is_true(json_object_get(out, "caseInsensitive")))
        return false;
    const char *oi = sget(in, "operator"), *oo = sget(out, "operator");
    const json_t *vi = json_object_get(in, "values");
    const json_t *vo = json_object_get(out, "values");
    if (strcmp(oo, "IN") == 0)
        return strcmp(oi, "IN") == 0 && subset(vi, vo);
    if (strcmp(oo, "NOT_IN") == 0)
        return (strcmp(oi, "NOT_IN") == 0 && subset(vo, vi)) ||
               (strcmp(oi, "IN") == 0 && disjoint(vi, vo));
    if (strncmp(oo, "SEMVER_", 7) == 0 && strncmp(oi, "SEMVER_", 7) == 0) {
        span a, b;
        return span_of(oi, sget(in, "value"), &a) &&
               span_of(oo, sget(out, "value"), &b) && span_within(&a, &b);
    }
    if (strncmp(oo, "DATE_", 5) == 0 && strcmp(oi, oo) == 0) {
        int64_t ti, to;
        const char *a = sget(in, "value"), *b = sget(out, "value");
        if (!vx_time_parse(a, strlen(a), &ti) ||
            !vx_time_parse(b, strlen(b), &to))
            return false;
        return strcmp(oo, "DATE_AFTER") == 0 ? ti >= to : ti <= to;
    }
    return false;
}

static long rollout_of(const json_t *strategy)
{
    const json_t *p = json_object_get(strategy, "parameters");
    const json_t *r = json_object_get(p, "rollout");
    if (json_is_integer(r))
        return (long)json_integer_value(r);
    return json_is_string(r) ? strtol(json_string_value(r), NULL, 10) : 100;
}

static void add(json_t *list, const char *text)
{
    json_array_append_new(list, json_string(text));
}

bool ai_strategy_within(const json_t *proposal, long proposal_rollout,
                        const json_t *reading, json_t *differences)
{
    bool within = true;
    char a[400], b[400], line[900];
    long rr = (long)json_integer_value(json_object_get(reading, "rollout"));
    if (proposal_rollout != rr) {
        snprintf(line, sizeof(line),
                 "rollout: the proposal gives %ld%%, the sentence %ld%%",
                 proposal_rollout, rr);
        add(differences, line);
        within = within && proposal_rollout <= rr;
    }
    const json_t *pc = json_object_get(proposal, "constraints");
    const json_t *rc = json_object_get(reading, "constraints");
    size_t i, j;
    const json_t *c, *d;
    json_array_foreach (rc, i, c) {
        bool covered = false, exact = false;
        json_array_foreach (pc, j, d) {
            if (narrower(d, c)) {
                covered = true;
                exact = exact || narrower(c, d);
            }
        }
        describe(c, a, sizeof(a));
        if (!covered) {
            snprintf(line, sizeof(line),
                     "the proposal lacks the sentence's condition %s", a);
            add(differences, line);
            within = false;
        } else if (!exact) {
            snprintf(line, sizeof(line),
                     "the proposal narrows the sentence's condition %s", a);
            add(differences, line);
        }
    }
    json_array_foreach (pc, j, d) {
        bool matched = false;
        json_array_foreach (rc, i, c)
            matched = matched || narrower(d, c);
        if (!matched) {
            describe(d, b, sizeof(b));
            snprintf(line, sizeof(line),
                     "the proposal adds a condition the sentence does not "
                     "state: %s",
                     b);
            add(differences, line);
        }
    }
    return within;
}

json_t *ai_policy_targeting(const json_t *strategy, bool from_model,
                            const json_t *reading, const ai_confirm *confirm)
{
    json_t *reasons = json_array(), *diffs = json_array();
    const char *verdict = "ok";
    char line[600];
    long roll = rollout_of(strategy);
    bool understood = json_is_true(json_object_get(reading, "understood"));
    if (from_model) {
        bool within = ai_strategy_within(strategy, roll, reading, diffs);
        if (!within) {
            verdict = "refused";
            add(reasons, understood
                             ? "the model's proposal reaches users the "
                               "sentence does not name"
                             : "the model's proposal drops conditions the "
                               "sentence states");
        } else if (!understood) {
            verdict = "needs-confirmation";
            snprintf(line, sizeof(line),
                     "the deterministic reading could not check the model's "
                     "proposal (not understood: %s)",
                     json_string_value(json_array_get(
                         json_object_get(reading, "notUnderstood"), 0))
                         ? json_string_value(json_array_get(
                               json_object_get(reading, "notUnderstood"), 0))
                         : "a part of the sentence");
            add(reasons, line);
        } else if (json_array_size(diffs) > 0) {
            verdict = "needs-confirmation";
            add(reasons, "the model's proposal differs from the deterministic "
                         "reading of the sentence");
        }
    }
    if (strcmp(verdict, "refused") != 0 && roll > confirm->above) {
        verdict = "needs-confirmation";
        snprintf(line, sizeof(line),
                 "a first step of %ld%% is above %d%%, the share that needs "
                 "an explicit confirmation",
                 roll, confirm->above);
        add(reasons, line);
    }
    if (strcmp(verdict, "needs-confirmation") == 0 && confirm->confirmed)
        verdict = "confirmed";
    return json_pack("{ss si so so}", "verdict", verdict, "confirmAbove",
                     confirm->above, "reasons", reasons, "differences", diffs);
}

json_t *ai_policy_first_step(double first, const json_t *differences,
                             const ai_confirm *confirm)
{
    json_t *reasons = json_array();
    const char *verdict = "ok";
    char line[300];
    if (json_array_size(differences) > 0) {
        verdict = "needs-confirmation";
        add(reasons, "the model's proposal differs from the deterministic "
                     "one");
    }
    if (first > confirm->above) {
        verdict = "needs-confirmation";
        snprintf(line, sizeof(line),
                 "a first step of %g%% is above %d%%, the share that needs an "
                 "explicit confirmation",
                 first, confirm->above);
        add(reasons, line);
    }
    if (strcmp(verdict, "needs-confirmation") == 0 && confirm->confirmed)
        verdict = "confirmed";
    return json_pack("{ss si so so}", "verdict", verdict, "confirmAbove",
                     confirm->above, "reasons", reasons, "differences",
                     differences ? json_deep_copy(differences) : json_array());
}
