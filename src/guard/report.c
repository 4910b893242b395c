/* JSON rendering of a plan decision (see report.h).
 *
 * Invariant: the output is valid JSON or nothing: every string written is a
 * static ASCII name without characters that need escaping, or an arm's
 * name escaped by str(); every number is finite or null; and a buffer that
 * runs out yields VX_ELIMIT and "". */
#include "guard/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

typedef struct rep_buf {
    char *p;    /* output */
    size_t cap; /* its size */
    size_t len; /* bytes written */
    bool full;  /* something did not fit */
} rep_buf;

static void put(rep_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(rep_buf *b, const char *fmt, ...)
{
    if (b->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= b->cap - b->len) {
        b->full = true;
        return;
    }
    b->len += (size_t)n;
}

/* "name":number, or null when not finite. */
static void num(rep_buf *b, const char *name, double v)
{
    if (isfinite(v))
        put(b, ",\"%s\":%.10g", name, v);
    else
        put(b, ",\"%s\":null", name);
}

static void boolean(rep_buf *b, const char *name, bool v)
{
    put(b, ",\"%s\":%s", name, v ? "true" : "false");
}

/* A JSON string of an arm name: control characters, '"' and the backslash
 * are escaped as \u00XX; other bytes (UTF-8 included) are copied, so a
 * valid UTF-8 name stays itself and valid JSON. */
static void str(rep_buf *b, const char *name, const char *v)
{
    put(b, ",\"%s\":\"", name);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
            put(b, "\\u%04x", (unsigned)*p);
        else
            put(b, "%c", *p);
    }
    put(b, "\"");
}

static void evidence(rep_buf *b, const guard_evidence *e)
{
    if (!e->checked)
        return;
    put(b, ",\"evidence\":{\"met\":%s", e->met ? "true" : "false");
    boolean(b, "powerNeeded", e->power_needed);
    num(b, "units", e->units_t);
    num(b, "controlUnits", e->units_c);
    num(b, "needUnits", e->need_t);
    if (e->power_needed) {
        num(b, "powerScale", e->power_scale);
        num(b, "mde", e->mde_abs);
    }
    put(b, "}");
}

static void verdict(rep_buf *b, const guard_decision *d, size_t mi,
                    const guard_metric *m, const guard_verdict *v)
{
    const guard_seq_result *r = &v->seq;
    put(b, "{\"kind\":\"%s\",\"direction\":\"%s\"",
        guard_metric_kind_name(v->kind),
        m->direction == GUARD_LOWER_IS_WORSE ? "lower_is_worse"
                                             : "higher_is_worse");
    put(b, ",\"metric\":%zu,\"arm\":%zu", mi, v->arm);
    if (v->arm < d->n_arms && d->arm_names[v->arm])
        str(b, "variant", d->arm_names[v->arm]);
    num(b, "tolerance", m->tolerance);
    num(b, "alpha", v->alpha);
    boolean(b, "evaluated", r->evaluated);
    boolean(b, "regression", r->regression);
    if (r->evaluated) {
        num(b, "control", r->control);
        num(b, "treatment", r->treatment);
        num(b, "diff", r->diff);
        num(b, "margin", r->margin);
        num(b, "excess", r->excess);
        num(b, "variance", r->variance);
        num(b, "tau", r->tau);
        num(b, "logLikelihoodRatio", r->log_lr);
        num(b, "csLow", r->cs_lo);
        num(b, "csHigh", r->cs_hi);
        num(b, "harmBound", r->harm_bound);
        num(b, "designEffect", r->design_effect);
        num(b, "estimate", r->estimate);
    }
    num(b, "p", r->p);
    evidence(b, &v->evidence);
    put(b, "}");
}

vx_status guard_decision_json(const guard_plan *plan, const guard_decision *d,
                              char *buf, size_t cap, size_t *len)
{
    rep_buf b = {buf, cap, 0, cap == 0};
    put(&b, "{\"action\":\"%s\",\"reason\":\"%s\",\"milestone\":%zu",
        guard_action_name(d->action), d->reason ? d->reason : "", d->milestone);
    put(&b, ",\"elapsedSeconds\":%lld", (long long)d->elapsed_s);
    if (d->action == GUARD_ADVANCE) {
        put(&b, ",\"nextMilestone\":%zu", d->next_milestone);
        num(&b, "nextPercent", d->next_percent);
    }
    if (d->action == GUARD_ROLLBACK) {
        put(&b, ",\"rollback\":\"%s\"",
            d->rollback == GUARD_ROLLBACK_DISABLE ? "disable" : "zero");
        if (d->culprit < d->n_verdicts) {
            put(&b, ",\"culprit\":%zu,\"culpritArm\":%zu", d->culprit,
                d->culprit_arm);
            if (d->culprit_arm < d->n_arms && d->arm_names[d->culprit_arm])
                str(&b, "culpritVariant", d->arm_names[d->culprit_arm]);
        }
    }
    boolean(&b, "insufficient", d->insufficient);
    put(&b, ",\"srm\":{\"evaluated\":%s", d->srm.evaluated ? "true" : "false");
    boolean(&b, "mismatch", d->srm.mismatch);
    num(&b, "chi2", d->srm.chi2);
    num(&b, "p", d->srm.p);
    num(&b, "pAlwaysValid", d->srm.p_always_valid);
    put(&b, "},\"metrics\":[");
    size_t n = d->n_verdicts <= GUARD_PLAN_MAX_METRICS ? d->n_verdicts
                                                       : GUARD_PLAN_MAX_METRICS;
    /* With one arm verdict i is metric i (as callers that build a decision
     * by hand expect); with several, each verdict names its metric. */
    for (size_t i = 0, k = 0; i < n; i++) {
        size_t mi = d->n_arms > 1 ? d->verdicts[i].metric : i;
        if (mi >= plan->n_metrics)
            continue;
        if (k++)
            put(&b, ",");
        verdict(&b, d, mi, &plan->metrics[mi], &d->verdicts[i]);
    }
    put(&b, "]}");
    if (b.full) {
        if (cap)
            buf[0] = '\0';
        *len = 0;
        return VX_ELIMIT;
    }
    *len = b.len;
    return VX_OK;
}
