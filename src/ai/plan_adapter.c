/* The adapter between the plan API's documents (release plans, their
 * status, the guard's rollback audit events) and the rollout advisors: the
 * only file that knows the plan API's field names, so the advisors can be
 * tested with fixture JSON and follow the plan API with one edit here.
 *
 * Invariant: what comes out holds aggregates, names and enums only: every
 * member is copied by name from a closed list, never by walking the input,
 * so an identifier the input carries cannot reach a prompt. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/advisor.h"
#include "base/alloc.h"
#include "base/error.h"
#include "base/limits.h"
#include "guard/plan.h"
#include "vexil/vexil.h"

/* The first member of `o` among `names` (NULL-terminated). */
static const json_t *first_of(const json_t *o, const char *const *names)
{
    for (; *names; names++) {
        const json_t *v = json_object_get(o, *names);
        if (v && !json_is_null(v))
            return v;
    }
    return NULL;
}

static bool is_name(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0 &&
           json_string_length(v) <= 200;
}

/* `x` rounded to 6 significant digits: what a person (or a model) reads
 * of a statistic, with no binary noise. */
static double people(double x)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%.6g", x);
    return strtod(buf, NULL);
}

/* Copies number `k` of `from` into `to` when finite, null when absent. */
static void copy_num(json_t *to, const json_t *from, const char *k)
{
    const json_t *v = json_object_get(from, k);
    if (json_is_number(v) && isfinite(json_number_value(v)))
        json_object_set_new(to, k, json_real(people(json_number_value(v))));
}

/* The latency metric compares means of ln(ms): its control and treatment
 * become milliseconds (the geometric means) and its differences relative
 * changes, so nobody reads ln(ms) as ms. */
static void latency_to_ms(json_t *c)
{
    static const char *const LOG_MEMBERS[] = {"diff", "margin", "csLow",
                                              "csHigh", "harmBound"};
    for (size_t i = 0; i < 2; i++) {
        const char *k = i ? "treatment" : "control";
        const json_t *v = json_object_get(c, k);
        if (json_is_number(v))
            json_object_set_new(c, k,
                                json_real(people(exp(json_number_value(v)))));
    }
    const json_t *d = json_object_get(c, "diff");
    const json_t *m = json_object_get(c, "margin");
    if (json_is_number(d))
        json_object_set_new(c, "relativeDiff",
                            json_real(people(expm1(json_number_value(d)))));
    if (json_is_number(m))
        json_object_set_new(c, "relativeMargin",
                            json_real(people(expm1(json_number_value(m)))));
    for (size_t i = 0; i < sizeof(LOG_MEMBERS) / sizeof(LOG_MEMBERS[0]); i++)
        json_object_del(c, LOG_MEMBERS[i]);
    json_object_set_new(c, "unit", json_string("ms (geometric mean)"));
}

void ai_metric_text(const json_t *m, char *buf, size_t cap)
{
    const char *kind = json_string_value(json_object_get(m, "kind"));
    const char *unit = json_string_value(json_object_get(m, "unit"));
    double c = json_number_value(json_object_get(m, "control"));
    double t = json_number_value(json_object_get(m, "treatment"));
    const json_t *pj = json_object_get(m, "p");
    char p[48] = "";
    if (json_is_number(pj))
        snprintf(p, sizeof(p), " (p = %.2g)", json_number_value(pj));
    if (!kind)
        kind = "a metric";
    if (unit && strncmp(unit, "ms", 2) == 0)
        snprintf(buf, cap, "%s: treatment %.4g ms vs control %.4g ms%s", kind,
                 t, c, p);
    else if (unit && strncmp(unit, "share of requests slower", 24) == 0)
        snprintf(buf, cap,
                 "%s: %.3g%% of treatment requests slower than the bound "
                 "(%.3g%% allowed)%s",
                 kind, 100 * t, 100 * c, p);
    else
        snprintf(buf, cap, "%s: treatment %.4g vs control %.4g%s", kind, t, c,
                 p);
}

static void copy_bool(json_t *to, const json_t *from, const char *k)
{
    const json_t *v = json_object_get(from, k);
    if (json_is_boolean(v))
        json_object_set_new(to, k, json_boolean(json_is_true(v)));
}

/* A name-like string member (enum values of the guard's report). */
static void copy_word(json_t *to, const json_t *from, const char *k)
{
    const json_t *v = json_object_get(from, k);
    if (!json_is_string(v) || json_string_length(v) > 40)
        return;
    for (const char *p = json_string_value(v); *p; p++) {
        if (!(*p == '_' || *p == '-' || *p == ' ' || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return;
    }
    json_object_set_new(to, k, json_string(json_string_value(v)));
}

/* The guard's decision report (src/guard/report.h), numbers and enums. */
static vx_status report_copy(const json_t *rep, const char *path, json_t **out,
                             vx_error *err)
{
    uint64_t failures = vx__alloc_failures();
    *out = NULL;
    if (!json_is_object(rep))
        return vx__error_set(err, VX_EINVAL, path,
                             "statistics must be the guard's decision report "
                             "(an object)");
    const json_t *metrics = json_object_get(rep, "metrics");
    if (metrics && !json_is_array(metrics))
        return vx__error_set(err, VX_EINVAL, path, "metrics must be an array");
    if (json_array_size(metrics) > VX_LIMIT_GUARD_METRICS)
        return vx__error_set(err, VX_ELIMIT, path, "at most %d metrics",
                             VX_LIMIT_GUARD_METRICS);
    json_t *r = json_object();
    copy_word(r, rep, "action");
    copy_word(r, rep, "reason");
    copy_num(r, rep, "milestone");
    copy_num(r, rep, "elapsedSeconds");
    copy_num(r, rep, "nextPercent");
    copy_word(r, rep, "rollback");
    copy_num(r, rep, "culprit");
    const json_t *srm = json_object_get(rep, "srm");
    json_t *s = json_object();
    copy_bool(s, srm, "evaluated");
    copy_bool(s, srm, "mismatch");
    copy_num(s, srm, "p");
    copy_num(s, srm, "pAlwaysValid");
    json_object_set_new(r, "srm", s);
    json_t *ms = json_array();
    size_t i;
    const json_t *m;
    json_array_foreach (metrics, i, m) {
        json_t *c = json_object();
        copy_word(c, m, "kind");
        copy_word(c, m, "direction");
        copy_num(c, m, "tolerance");
        copy_bool(c, m, "evaluated");
        copy_bool(c, m, "regression");
        copy_num(c, m, "control");
        copy_num(c, m, "treatment");
        copy_num(c, m, "diff");
        copy_num(c, m, "margin");
        copy_num(c, m, "p");
        copy_num(c, m, "csLow");
        copy_num(c, m, "csHigh");
        copy_num(c, m, "harmBound");
        const char *kind = json_string_value(json_object_get(c, "kind"));
        guard_metric_kind gk;
        if (kind && !guard_metric_kind_parse(kind, &gk)) {
            /* a metric name the guard does not know is not sent */
            json_decref(c);
            json_decref(ms);
            json_decref(r);
            char p[96];
            snprintf(p, sizeof(p), "%s/metrics/%zu/kind", path, i);
            return vx__error_set(err, VX_EINVAL, p,
                                 "unknown metric kind: use error_rate, "
                                 "latency, conversion, latency_mean or "
                                 "latency_quantile");
        }
        if (kind && strcmp(kind, "latency") == 0)
            latency_to_ms(c);
        else if (kind && strcmp(kind, "latency_mean") == 0)
            json_object_set_new(c, "unit", json_string("ms"));
        else if (kind && strcmp(kind, "latency_quantile") == 0)
            json_object_set_new(
                c, "unit",
                json_string("share of requests slower than the bound"));
        json_array_append_new(ms, c);
    }
    json_object_set_new(r, "metrics", ms);
    if (!r || vx__alloc_failures() != failures) {
        json_decref(r);
        return vx__error_set(err, VX_ENOMEM, "", "out of memory");
    }
    if (!json_object_get(r, "action")) {
        json_decref(r);
        char p[80];
        snprintf(p, sizeof(p), "%s/action", path);
        return vx__error_set(err, VX_EINVAL, p,
                             "the guard's report has no action");
    }
    *out = r;
    return VX_OK;
}

static const char *const FLAG_KEYS[] = {"flag", "feature", "featureName", NULL};
static const char *const STATS_KEYS[] = {"statistics", "latest", "report",
                                         "decision", NULL};

vx_status ai_plan_status_normalize(const json_t *status, json_t **out,
                                   vx_error *err)
{
    json_t *o = NULL, *rep = NULL, *pcts = NULL;
    vx_status st = VX_OK;
    uint64_t failures = vx__alloc_failures();
    *out = NULL;
    if (!json_is_object(status))
        return vx__error_set(err, VX_EINVAL, "", "a plan status is an object");
    const json_t *flag = first_of(status, FLAG_KEYS);
    const json_t *env = json_object_get(status, "environment");
    const json_t *state = json_object_get(status, "state");
    const json_t *plan = json_object_get(status, "plan");
    const json_t *miles = json_object_get(plan ? plan : status, "milestones");
    const json_t *mi = json_object_get(status, "milestone");
    if (!is_name(flag))
        return vx__error_set(err, VX_EINVAL, "/flag", "the flag is required");
    if (!is_name(env))
        return vx__error_set(err, VX_EINVAL, "/environment",
                             "the environment is required");
    if (!is_name(state))
        return vx__error_set(err, VX_EINVAL, "/state", "the state is required");
    if (!json_is_array(miles) || json_array_size(miles) == 0 ||
        json_array_size(miles) > VX_LIMIT_GUARD_MILESTONES)
        return vx__error_set(
            err, VX_EINVAL, plan ? "/plan/milestones" : "/milestones",
            "1 to %d milestones are required", VX_LIMIT_GUARD_MILESTONES);
    pcts = json_array();
    size_t i;
    const json_t *m;
    size_t n_aud = 0; /* leading audience stages (segments, constraints) */
    json_array_foreach (miles, i, m) {
        const json_t *p = json_is_number(m) ? m : json_object_get(m, "percent");
        double d = json_number_value(p);
        /* An audience stage serves a segment, a share of everyone that is
         * not known: like the guard, count it as 0.001 % per stage, so the
         * steps still increase. Its segments and constraints (they may list
         * user ids) are never copied. */
        bool audience = json_array_size(json_object_get(m, "segments")) > 0 ||
                        json_array_size(json_object_get(m, "constraints")) > 0;
        if (audience && n_aud == i && json_is_number(p)) {
            d = 0.001 * (double)(i + 1);
            n_aud++;
        }
        if (!json_is_number(p) || !(d >= 0 && d <= 100)) {
            char path[64];
            snprintf(path, sizeof(path), "%s/milestones/%zu/percent",
                     plan ? "/plan" : "", i);
            st = vx__error_set(err, VX_EINVAL, path,
                               "a percentage from 0 to 100 is required");
            goto out;
        }
        json_array_append_new(pcts, json_real(d));
    }
    if (!pcts || vx__alloc_failures() != failures) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    json_int_t idx = json_integer_value(mi);
    if (!json_is_integer(mi) || idx < 0 ||
        (size_t)idx >= json_array_size(pcts)) {
        st = vx__error_set(err, VX_EINVAL, "/milestone",
                           "the current milestone's index is required");
        goto out;
    }
    const json_t *stats = first_of(status, STATS_KEYS);
    const json_t *last =
        json_object_get(json_object_get(status, "last"), "decision");
    if (!stats && json_is_object(last)) {
        st = report_copy(last, "/last/decision", &rep, err);
        if (st != VX_OK)
            goto out;
    } else if (stats) {
        const char *k = NULL;
        for (const char *const *n = STATS_KEYS; *n; n++) {
            if (json_object_get(status, *n) == stats) {
                k = *n;
                break;
            }
        }
        char path[32];
        snprintf(path, sizeof(path), "/%s", k);
        st = report_copy(stats, path, &rep, err);
        if (st != VX_OK)
            goto out;
    }
    const json_t *pc = json_object_get(status, "percent");
    double cur = json_is_number(pc) && (size_t)idx >= n_aud
                     ? json_number_value(pc)
                     : json_real_value(json_array_get(pcts, (size_t)idx));
    if (!(cur >= 0 && cur <= 100)) {
        st = vx__error_set(err, VX_EINVAL, "/percent",
                           "a percentage from 0 to 100 is required");
        goto out;
    }
    o = json_pack("{ss ss ss sI sf sO so}", "flag", json_string_value(flag),
                  "environment", json_string_value(env), "state",
                  json_string_value(state), "milestone", idx, "percent", cur,
                  "milestones", pcts, "statistics",
                  rep ? json_incref(rep) : json_null());
    if (o && n_aud)
        json_object_set_new(o, "audienceStages",
                            json_integer((json_int_t)n_aud));
    st = ai_answer_take(o, failures, out, err);
out:
    json_decref(rep);
    json_decref(pcts);
    return st;
}

static vx_status num_member(const json_t *o, const char *k, const char *path,
                            double *out, vx_error *err)
{
    const json_t *v = json_object_get(o, k);
    if (!v)
        return VX_OK;
    if (!json_is_number(v))
        return vx__error_set(err, VX_EINVAL, path, "%s must be a number", k);
    *out = json_number_value(v);
    return VX_OK;
}

vx_status ai_plan_from_json(const json_t *plan, guard_plan *out, vx_error *err)
{
    guard_plan p;
    char path[80];
    vx_status st = VX_OK;
    guard_plan_init(&p);
    if (!json_is_object(plan))
        return vx__error_set(err, VX_EINVAL, "", "a plan is an object");
    const json_t *ms = json_object_get(plan, "milestones");
    const json_t *mets = json_object_get(plan, "metrics");
    if (!json_is_array(ms) || json_array_size(ms) == 0 ||
        json_array_size(ms) > GUARD_PLAN_MAX_MILESTONES)
        return vx__error_set(err, VX_EINVAL, "/milestones",
                             "1 to %d milestones are required",
                             GUARD_PLAN_MAX_MILESTONES);
    if (mets && (!json_is_array(mets) ||
                 json_array_size(mets) > GUARD_PLAN_MAX_METRICS))
        return vx__error_set(err, VX_EINVAL, "/metrics", "at most %d metrics",
                             GUARD_PLAN_MAX_METRICS);
    size_t i;
    const json_t *m;
    p.n_milestones = json_array_size(ms);
    json_array_foreach (ms, i, m) {
        double pct = -1, dur = 0, exp = 0;
        snprintf(path, sizeof(path), "/milestones/%zu/percent", i);
        const json_t *pc = json_object_get(m, "percent");
        if (!json_is_integer(pc) || json_integer_value(pc) < 1 ||
            json_integer_value(pc) > 100)
            return vx__error_set(err, VX_EINVAL, path,
                                 "percent must be a whole number from 1 to "
                                 "100");
        st = num_member(m, "percent", path, &pct, err);
        snprintf(path, sizeof(path), "/milestones/%zu/minDurationSeconds", i);
        if (st == VX_OK)
            st = num_member(m, "minDurationSeconds", path, &dur, err);
        snprintf(path, sizeof(path), "/milestones/%zu/minExposures", i);
        if (st == VX_OK)
            st = num_member(m, "minExposures", path, &exp, err);
        if (st != VX_OK)
            return st;
        if (!(dur >= 0 && dur <= 365.0 * 86400) || !(exp >= 0 && exp <= 1e12)) {
            snprintf(path, sizeof(path), "/milestones/%zu", i);
            return vx__error_set(err, VX_EINVAL, path,
                                 "minDuration and minExposures must be from "
                                 "0 to a year and 10^12");
        }
        p.milestones[i].percent = pct;
        p.milestones[i].min_duration_s = (int64_t)dur;
        p.milestones[i].min_exposures = (uint64_t)exp;
    }
    p.n_metrics = json_array_size(mets);
    json_array_foreach (mets, i, m) {
        const char *kind = json_string_value(json_object_get(m, "kind"));
        const char *dir = json_string_value(json_object_get(m, "direction"));
        guard_metric_kind mk;
        if (!guard_metric_kind_parse(kind, &mk)) {
            snprintf(path, sizeof(path), "/metrics/%zu/kind", i);
            return vx__error_set(err, VX_EINVAL, path,
                                 "unknown metric kind: use error_rate, "
                                 "latency, conversion, latency_mean or "
                                 "latency_quantile");
        }
        p.metrics[i].kind = mk;
        p.metrics[i].direction = mk == GUARD_METRIC_CONVERSION
                                     ? GUARD_LOWER_IS_WORSE
                                     : GUARD_HIGHER_IS_WORSE;
        if (dir && strcmp(dir, "lower-is-worse") == 0)
            p.metrics[i].direction = GUARD_LOWER_IS_WORSE;
        else if (dir && strcmp(dir, "higher-is-worse") == 0)
            p.metrics[i].direction = GUARD_HIGHER_IS_WORSE;
        else if (dir) {
            snprintf(path, sizeof(path), "/metrics/%zu/direction", i);
            return vx__error_set(err, VX_EINVAL, path,
                                 "use higher-is-worse or lower-is-worse");
        }
        snprintf(path, sizeof(path), "/metrics/%zu/tolerance", i);
        st = num_member(m, "tolerance", path, &p.metrics[i].tolerance, err);
        if (st != VX_OK)
            return st;
        if (!(p.metrics[i].tolerance >= 0 && p.metrics[i].tolerance <= 10))
            return vx__error_set(err, VX_EINVAL, path,
                                 "tolerance must be a number from 0 to 10");
    }
    const char *mode = json_string_value(json_object_get(plan, "mode"));
    const char *rb = json_string_value(json_object_get(plan, "rollback"));
    if (mode && strcmp(mode, "approval") == 0)
        p.mode = GUARD_MODE_APPROVAL;
    else if (mode && strcmp(mode, "auto") != 0)
        return vx__error_set(err, VX_EINVAL, "/mode", "use auto or approval");
    if (rb && strcmp(rb, "disable") == 0)
        p.rollback = GUARD_ROLLBACK_DISABLE;
    else if (rb && strcmp(rb, "rollout-zero") != 0)
        return vx__error_set(err, VX_EINVAL, "/rollback",
                             "use rollout-zero or disable");
    st = num_member(plan, "alpha", "/alpha", &p.alpha, err);
    if (st == VX_OK)
        st = guard_plan_validate(&p, err);
    if (st == VX_OK && out)
        *out = p;
    return st;
}

vx_status ai_incident_facts(const json_t *event, json_t **out, vx_error *err)
{
    json_t *rep = NULL;
    uint64_t failures = vx__alloc_failures();
    *out = NULL;
    if (!json_is_object(event))
        return vx__error_set(err, VX_EINVAL, "/event", "an event is an object");
    const json_t *data = json_object_get(event, "data");
    const json_t *r = first_of(data, STATS_KEYS);
    if (!r)
        r = data;
    const char *action = json_string_value(json_object_get(r, "action"));
    if (!action || strcmp(action, "rollback") != 0)
        return vx__error_set(err, VX_EINVAL, "/event/data",
                             "not a guard rollback: its decision report's "
                             "action is not \"rollback\"");
    vx_status st = report_copy(r, "/event/data", &rep, err);
    if (st != VX_OK)
        return st;
    const json_t *flag = first_of(event, FLAG_KEYS);
    if (!flag)
        flag = first_of(data, FLAG_KEYS);
    const json_t *env = json_object_get(event, "environment");
    const json_t *at = json_object_get(event, "createdAt");
    if (!is_name(flag) || !is_name(env)) {
        json_decref(rep);
        return vx__error_set(err, VX_EINVAL, "/event",
                             "the event names no flag or environment");
    }
    const json_t *metrics = json_object_get(rep, "metrics");
    json_int_t c =
        (json_int_t)json_number_value(json_object_get(rep, "culprit"));
    const json_t *culprit = json_array_get(metrics, (size_t)(c < 0 ? 0 : c));
    json_t *o = json_pack(
        "{ss ss sO? sO* sO* sO* sO* sO? sO sO}", "flag",
        json_string_value(flag), "environment", json_string_value(env), "at",
        is_name(at) ? at : NULL, "milestone", json_object_get(rep, "milestone"),
        "percent", json_object_get(data, "percent"), "elapsedSeconds",
        json_object_get(rep, "elapsedSeconds"), "rollback",
        json_object_get(rep, "rollback"), "culprit", culprit, "metrics",
        metrics, "srm", json_object_get(rep, "srm"));
    json_decref(rep);
    /* "percent" of the data is copied only when it is a number. */
    if (o && !json_is_number(json_object_get(o, "percent")))
        json_object_del(o, "percent");
    return ai_answer_take(o, failures, out, err);
}

vx_status ai_plan_status_guard_data(const json_t *status, int64_t now_ms,
                                    json_t *normalized)
{
    const json_t *plan = json_object_get(status, "plan");
    const json_t *miles = json_object_get(plan ? plan : status, "milestones");
    json_int_t idx = json_integer_value(json_object_get(status, "milestone"));
    const json_t *cur = json_array_get(miles, (size_t)(idx < 0 ? 0 : idx));
    double allowed =
        json_number_value(json_object_get(cur, "minDurationSeconds"));
    const json_t *started = json_object_get(status, "milestoneStartedMs");
    const json_t *last = json_object_get(status, "last");
    const json_t *decision = json_object_get(last, "decision");
    /* When did the guard last have a verdict? Without one (no report, or
     * no metric evaluated), the data has been missing since the milestone
     * began; with one, since the report was made. */
    bool verdict = false;
    size_t i;
    const json_t *m;
    json_array_foreach (json_object_get(decision, "metrics"), i, m)
        verdict = verdict || json_is_true(json_object_get(m, "evaluated"));
    double since_ms = json_is_number(started) ? json_number_value(started) : -1;
    if (verdict) {
        int64_t at = 0;
        const char *t = json_string_value(json_object_get(last, "at"));
        if (t && vx_time_parse(t, strlen(t), &at))
            since_ms = (double)at;
    }
    if (since_ms < 0)
        return VX_OK; /* not the plan API's status: nothing to say */
    double missing = ((double)now_ms - since_ms) / 1000.0;
    json_object_set_new(
        normalized, "guardData",
        json_pack("{sf sf sb}", "missingSeconds",
                  missing > 0 ? floor(missing) : 0.0, "allowedSeconds",
                  allowed >= 0 ? allowed : 0.0, "verdict", verdict));
    return VX_OK;
}
