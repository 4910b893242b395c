/* Release plans, scheduled changes, the scheduler's tick and the stale-flag
 * report. A plan (one per flag and environment) owns one flexibleRollout
 * strategy of that environment and moves its percentage through the
 * milestones; the scheduler (svc_scheduler_tick, driven by a server
 * thread) compares treatment and control per rollout epoch from the impact
 * buckets (impact.c), asks guard_plan_decide, and applies the answer.
 *
 * Invariants: every change to a plan or a flag runs in one transaction
 * with its audit event; a plan's state lives only in the store, so a
 * restart or another replica continues it; only the holder of the
 * "scheduler" lease (taken in a transaction, expiring) runs ticks. */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/limits.h"
#include "guard/plan.h"
#include "guard/report.h"
#include "service/internal.h"
#include "vexil/vexil.h"

static const svc_principal SCHEDULER = {.token_id = 0,
                                        .kind = SVC_KIND_ADMIN,
                                        .role = SVC_ROLE_ADMIN,
                                        .name = "scheduler",
                                        .environment = "*",
                                        .projects = "*"};

static const int PRESET_STEPS[] = {1, 5, 10, 25, 50, 75, 100};

/* ---- plan validation ---------------------------------------------------- */

static vx_status opt_int(svc_ctx *c, const json_t *o, const char *key,
                         const char *base, json_int_t max, json_int_t dflt,
                         json_int_t *out)
{
    const json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v || json_is_null(v))
        return VX_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > max)
        return svc__fail(c, VX_EINVAL, base,
                         "%s must be a whole number from 0 "
                         "to %lld",
                         key, (long long)max);
    *out = json_integer_value(v);
    return VX_OK;
}

static vx_status opt_enum(svc_ctx *c, const json_t *o, const char *key,
                          const char *path, const char *const *names, size_t n,
                          int dflt, int *out)
{
    const json_t *v = json_object_get(o, key);
    *out = dflt;
    if (!v || json_is_null(v))
        return VX_OK;
    for (size_t i = 0; json_is_string(v) && i < n; i++)
        if (strcmp(json_string_value(v), names[i]) == 0) {
            *out = (int)i;
            return VX_OK;
        }
    char list[256] = "";
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s'%s'", i ? ", " : "", names[i]);
    }
    return svc__fail(c, VX_EINVAL, path, "%s must be one of %s", key, list);
}

/* A milestone's audience: "segments" (ids of existing segments) and/or
 * "constraints" (normalised as a strategy's). `*aud` is NULL for a plain
 * percentage step, else a new {segments, constraints} object. */
static vx_status parse_audience(svc_ctx *c, const json_t *m, const char *base,
                                json_t **aud)
{
    *aud = NULL;
    const json_t *segs = json_object_get(m, "segments");
    const json_t *cons = json_object_get(m, "constraints");
    if ((!segs || json_is_null(segs)) && (!cons || json_is_null(cons)))
        return VX_OK;
    char p[96];
    snprintf(p, sizeof(p), "%s/segments", base);
    json_t *ns = json_array(), *nc = NULL;
    vx_status st = VX_OK;
    if (segs && !json_is_null(segs))
        st = svc__expect_array(c, segs, p, VX_LIMIT_PLAN_SEGMENTS);
    size_t i;
    const json_t *v;
    json_array_foreach (segs, i, v) {
        if (st != VX_OK)
            break;
        char ip[112], key[32];
        snprintf(ip, sizeof(ip), "%s/%zu", p, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            st = svc__fail(c, VX_EINVAL, ip, "a segment id is a number >= 1");
            break;
        }
        json_t *seg = NULL;
        snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(v));
        st = svc__get(c, STORE_SEGMENT, key, &seg);
        json_decref(seg);
        if (st == VX_ENOTFOUND)
            st = svc__fail(c, VX_EINVAL, ip, "segment %s does not exist", key);
        if (st == VX_OK)
            json_array_append_new(ns, json_integer(json_integer_value(v)));
    }
    snprintf(p, sizeof(p), "%s/constraints", base);
    if (st == VX_OK)
        st = svc__norm_constraints(c, cons, p, &nc);
    if (st == VX_OK && json_array_size(ns) + json_array_size(nc) == 0) {
        snprintf(p, sizeof(p), "%s/segments", base);
        st = svc__fail(c, VX_EINVAL, p,
                       "an audience needs at least one segment or "
                       "constraint");
    }
    /* The audience becomes the plan strategy's constraints and segments:
     * within what SDKs load with the segments inlined. */
    snprintf(p, sizeof(p), "%s/segments", base);
    if (st == VX_OK && json_array_size(ns) > 0)
        st = svc__gate_inlined(c, nc, ns, p);
    if (st == VX_OK)
        *aud = json_pack("{so so}", "segments", ns, "constraints", nc);
    else {
        json_decref(ns);
        json_decref(nc);
    }
    return st;
}

static vx_status parse_milestone(svc_ctx *c, const json_t *m, size_t i,
                                 guard_milestone *out, json_t **aud)
{
    char base[64], p[96];
    *aud = NULL;
    snprintf(base, sizeof(base), "/milestones/%zu", i);
    vx_status st = svc__expect_object(c, m, base);
    if (st != VX_OK)
        return st;
    const json_t *pc = json_object_get(m, "percent");
    snprintf(p, sizeof(p), "%s/percent", base);
    if (!json_is_integer(pc) || json_integer_value(pc) < 1 ||
        json_integer_value(pc) > 100)
        return svc__fail(c, VX_EINVAL, p,
                         "percent must be a whole number from 1 to 100");
    out->percent = (double)json_integer_value(pc);
    json_int_t d = 0, e = 0;
    snprintf(p, sizeof(p), "%s/minDurationSeconds", base);
    st = opt_int(c, m, "minDurationSeconds", p, 366LL * 86400, 0, &d);
    snprintf(p, sizeof(p), "%s/minExposures", base);
    if (st == VX_OK)
        st = opt_int(c, m, "minExposures", p, (json_int_t)1 << 53, 0, &e);
    json_int_t f = 0;
    snprintf(p, sizeof(p), "%s/minPerArm", base);
    if (st == VX_OK)
        st = opt_int(c, m, "minPerArm", p, (json_int_t)1 << 40, 0, &f);
    out->min_duration_s = d;
    out->min_exposures = (uint64_t)e;
    out->min_per_arm = (uint64_t)f;
    if (st == VX_OK)
        st = parse_audience(c, m, base, aud);
    return st;
}

/* Expands a preset into a milestones array (new reference). Presets:
 * percentage-steps (1 .. 100 %), canary and rings ("segments": one
 * segment per stage, then everyone), targeting ("userIds": those users,
 * then everyone). */
static vx_status expand_preset(svc_ctx *c, const json_t *b, json_t **out)
{
    *out = NULL;
    const json_t *preset = json_object_get(b, "preset");
    const char *name = json_string_value(preset);
    json_int_t d = 0, e = 0;
    vx_status st = opt_int(c, b, "minDurationSeconds", "/minDurationSeconds",
                           366LL * 86400, 600, &d);
    if (st == VX_OK)
        st = opt_int(c, b, "minExposures", "/minExposures", (json_int_t)1 << 53,
                     0, &e);
    if (st != VX_OK)
        return st;
    json_t *ms = json_array();
#define STEP(pct)                                                              \
    json_pack("{si sI sI}", "percent", (pct), "minDurationSeconds", d,         \
              "minExposures", e)
    if (name && strcmp(name, "percentage-steps") == 0) {
        for (size_t i = 0; i < sizeof(PRESET_STEPS) / sizeof(int); i++)
            json_array_append_new(ms, STEP(PRESET_STEPS[i]));
    } else if (name &&
               (strcmp(name, "canary") == 0 || strcmp(name, "rings") == 0)) {
        const json_t *segs = json_object_get(b, "segments");
        st = svc__expect_array(c, segs, "/segments",
                               GUARD_PLAN_MAX_MILESTONES - 1);
        if (st == VX_OK && json_array_size(segs) == 0)
            st = svc__fail(c, VX_EINVAL, "/segments",
                           "%s needs the segments of its stages, in order",
                           name);
        size_t i;
        const json_t *v;
        json_array_foreach (segs, i, v) {
            char path[48], key[32];
            json_t *seg = NULL;
            snprintf(path, sizeof(path), "/segments/%zu", i);
            snprintf(key, sizeof(key), "%lld",
                     (long long)json_integer_value(v));
            if (st == VX_OK && json_is_integer(v))
                st = svc__get(c, STORE_SEGMENT, key, &seg);
            json_decref(seg);
            if (st == VX_ENOTFOUND || (st == VX_OK && !json_is_integer(v)))
                st =
                    svc__fail(c, VX_EINVAL, path, "no segment with id %s", key);
            json_t *m = STEP(100);
            json_object_set_new(m, "segments", json_pack("[O]", v));
            json_array_append_new(ms, m);
        }
        json_array_append_new(ms, STEP(100));
    } else if (name && strcmp(name, "targeting") == 0) {
        const json_t *ids = json_object_get(b, "userIds");
        st = svc__expect_array(c, ids, "/userIds", VX_LIMIT_VALUES);
        if (st == VX_OK && json_array_size(ids) == 0)
            st = svc__fail(c, VX_EINVAL, "/userIds",
                           "targeting needs the user ids to start with");
        json_t *m = STEP(100);
        json_object_set_new(m, "constraints",
                            json_pack("[{ss ss sO}]", "contextName", "userId",
                                      "operator", "IN", "values",
                                      ids ? ids : json_null()));
        json_array_append_new(ms, m);
        json_array_append_new(ms, STEP(100));
    } else {
        st = svc__fail(c, VX_EINVAL, "/preset",
                       "preset must be 'percentage-steps', 'canary', "
                       "'rings' or 'targeting'");
    }
#undef STEP
    if (st == VX_OK)
        *out = ms;
    else
        json_decref(ms);
    return st;
}

static vx_status parse_metric(svc_ctx *c, const json_t *m, size_t i,
                              guard_metric *out)
{
    char base[64], p[96];
    snprintf(base, sizeof(base), "/metrics/%zu", i);
    vx_status st = svc__expect_object(c, m, base);
    if (st != VX_OK)
        return st;
    const char *kinds[GUARD_METRIC_KINDS];
    for (int k = 0; k < GUARD_METRIC_KINDS; k++)
        kinds[k] = guard_metric_kind_name((guard_metric_kind)k);
    snprintf(p, sizeof(p), "%s/kind", base);
    int kind = -1, dir = 0;
    if (!json_object_get(m, "kind"))
        return svc__fail(c, VX_EINVAL, p, "kind is required");
    st = opt_enum(c, m, "kind", p, kinds, sizeof(kinds) / sizeof(kinds[0]), -1,
                  &kind);
    if (st != VX_OK)
        return st;
    out->kind = (guard_metric_kind)kind;
    static const char *const dirs[] = {"higher-is-worse", "lower-is-worse"};
    snprintf(p, sizeof(p), "%s/direction", base);
    st = opt_enum(c, m, "direction", p, dirs, 2,
                  out->kind == GUARD_METRIC_CONVERSION ? 1 : 0, &dir);
    out->direction = (guard_direction)dir;
    const json_t *t = json_object_get(m, "tolerance");
    snprintf(p, sizeof(p), "%s/tolerance", base);
    out->tolerance = 0;
    if (st == VX_OK && t && !json_is_null(t)) {
        if (!json_is_number(t) || !isfinite(json_number_value(t)) ||
            json_number_value(t) < 0 || json_number_value(t) > 10)
            st = svc__fail(c, VX_EINVAL, p,
                           "tolerance must be a number from 0 to 10 "
                           "(0.1 = may worsen by 10 %%)");
        else
            out->tolerance = json_number_value(t);
    }
    const json_t *md = json_object_get(m, "mde");
    out->mde = 0;
    snprintf(p, sizeof(p), "%s/mde", base);
    if (st == VX_OK && md && !json_is_null(md)) {
        if (!json_is_number(md) || !isfinite(json_number_value(md)) ||
            !(json_number_value(md) > 0) || json_number_value(md) > 100)
            st = svc__fail(c, VX_EINVAL, p,
                           "mde must be a number above 0, at most 100 (the "
                           "relative effect to detect: 1.0 = doubles)");
        else
            out->mde = json_number_value(md);
    }
    const json_t *q = json_object_get(m, "quantile");
    out->tau = 0;
    out->quantile = 0;
    snprintf(p, sizeof(p), "%s/quantile", base);
    if (st == VX_OK && q && !json_is_null(q)) {
        if (!json_is_number(q) || json_number_value(q) < 0.5 ||
            json_number_value(q) > 0.999)
            st = svc__fail(c, VX_EINVAL, p,
                           "quantile must be a number from 0.5 to 0.999");
        else
            out->quantile = json_number_value(q);
    }
    return st;
}

static bool url_ok(const char *u)
{
    return (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) &&
           strlen(u) <= 512 && !strpbrk(u, " \t\r\n");
}

/* The plan's "evidence" object: how much a milestone must show before it
 * advances (docs/guard.md, "The evidence gate"). */
static vx_status parse_evidence(svc_ctx *c, const json_t *b, guard_plan *p)
{
    const json_t *ev = json_object_get(b, "evidence");
    if (!ev || json_is_null(ev))
        return VX_OK;
    vx_status st = svc__expect_object(c, ev, "/evidence");
    static const char *const keys[] = {"power", "powerBeyond", "minPerArm",
                                       "maxWaitSeconds", "onTimeout"};
    const char *k;
    const json_t *v;
    json_object_foreach ((json_t *)ev, k, v) {
        size_t i = 0;
        while (i < 5 && strcmp(keys[i], k) != 0)
            i++;
        if (st == VX_OK && i == 5) {
            char path[96];
            snprintf(path, sizeof(path), "/evidence/%.64s", k);
            st = svc__fail(c, VX_EINVAL, path,
                           "unknown field: power, powerBeyond, minPerArm, "
                           "maxWaitSeconds or onTimeout");
        }
    }
    const json_t *pw = json_object_get(ev, "power");
    if (st == VX_OK && pw && !json_is_null(pw)) {
        if (!json_is_number(pw) || !(json_number_value(pw) >= 0.5) ||
            !(json_number_value(pw) <= 0.999))
            st = svc__fail(c, VX_EINVAL, "/evidence/power",
                           "power must be a number from 0.5 to 0.999");
        else
            p->power = json_number_value(pw);
    }
    const json_t *pb = json_object_get(ev, "powerBeyond");
    if (st == VX_OK && pb && !json_is_null(pb)) {
        if (!json_is_number(pb) || !(json_number_value(pb) >= 0) ||
            !(json_number_value(pb) <= 100))
            st = svc__fail(c, VX_EINVAL, "/evidence/powerBeyond",
                           "powerBeyond must be a percentage from 0 to 100");
        else
            p->power_beyond = json_number_value(pb);
    }
    json_int_t mpa = 0, wait = 0;
    if (st == VX_OK)
        st = opt_int(c, ev, "minPerArm", "/evidence/minPerArm",
                     (json_int_t)1 << 40, (json_int_t)p->min_per_arm, &mpa);
    if (st == VX_OK)
        st = opt_int(c, ev, "maxWaitSeconds", "/evidence/maxWaitSeconds",
                     366LL * 86400, (json_int_t)p->max_wait_s, &wait);
    if (st == VX_OK && mpa < 10)
        st = svc__fail(c, VX_EINVAL, "/evidence/minPerArm",
                       "minPerArm must be at least 10 (fewer units give no "
                       "verdict)");
    p->min_per_arm = (uint64_t)mpa;
    p->max_wait_s = wait;
    static const char *const tos[] = {"hold", "rollback"};
    int to = 0;
    if (st == VX_OK)
        st =
            opt_enum(c, ev, "onTimeout", "/evidence/onTimeout", tos, 2, 0, &to);
    p->on_timeout = (guard_on_timeout)to;
    return st;
}

/* Validates a plan body and returns the guard plan and its canonical JSON
 * (a new reference: what is stored and shown). `stored`: the body is a
 * plan document's "plan" as an older server stored it, where no metrics
 * meant time-based. */
static vx_status parse_plan(svc_ctx *c, const json_t *b, guard_plan *p,
                            json_t **norm, bool stored)
{
    *norm = NULL;
    guard_plan_init(p);
    vx_status st = svc__expect_object(c, b, "");
    if (st != VX_OK)
        return st;
    const json_t *preset = json_object_get(b, "preset");
    const json_t *ms = json_object_get(b, "milestones");
    json_t *expanded = NULL, *auds = json_array();
    if (preset && !json_is_null(preset)) {
        if (ms)
            st = svc__fail(c, VX_EINVAL, "/preset",
                           "give either preset or milestones");
        if (st == VX_OK)
            st = expand_preset(c, b, &expanded);
        ms = expanded;
    } else if (!ms) {
        st = svc__fail(c, VX_EINVAL, "/milestones",
                       "milestones (or a preset) are required");
    }
    if (st == VX_OK)
        st = svc__expect_array(c, ms, "/milestones", GUARD_PLAN_MAX_MILESTONES);
    if (st == VX_OK && json_array_size(ms) == 0)
        st = svc__fail(c, VX_EINVAL, "/milestones",
                       "a plan needs at least one milestone");
    /* Audience stages (segments, constraints) come first; the guard sees
     * them as tiny increasing percentages (their traffic share is unknown,
     * so they get no sample-ratio check) and the steps after as given. */
    size_t n_aud = 0;
    for (size_t i = 0; st == VX_OK && i < json_array_size(ms); i++) {
        json_t *aud = NULL;
        st = parse_milestone(c, json_array_get(ms, i), i, &p->milestones[i],
                             &aud);
        if (st == VX_OK && aud && n_aud != i) {
            char path[64];
            snprintf(path, sizeof(path), "/milestones/%zu", i);
            st = svc__fail(c, VX_EINVAL, path,
                           "audience stages (segments or constraints) come "
                           "before the percentage steps");
        }
        if (st == VX_OK && aud)
            p->milestones[n_aud++].percent = 0.001 * (double)(i + 1);
        json_array_append_new(auds, aud ? aud : json_null());
    }
    p->n_milestones = json_array_size(ms);
    if (st == VX_OK && n_aud == p->n_milestones)
        st = svc__fail(c, VX_EINVAL, "/milestones",
                       "the last milestone must be a percentage step "
                       "(everyone)");
    const json_t *mets = json_object_get(b, "metrics");
    if (st == VX_OK && mets) {
        st = svc__expect_array(c, mets, "/metrics", GUARD_PLAN_MAX_METRICS);
        for (size_t i = 0; st == VX_OK && i < json_array_size(mets); i++)
            st = parse_metric(c, json_array_get(mets, i), i, &p->metrics[i]);
        p->n_metrics = json_array_size(mets);
    }
    /* A plan without guard metrics advances on time alone: it must say
     * so, so nobody mistakes it for a guarded one. */
    static const char *const guards[] = {"metrics", "none"};
    int unguarded = 0;
    if (st == VX_OK)
        st = opt_enum(c, b, "guard", "/guard", guards, 2,
                      stored && p->n_metrics == 0 ? 1 : 0, &unguarded);
    if (st == VX_OK && unguarded && p->n_metrics > 0)
        st = svc__fail(c, VX_EINVAL, "/guard",
                       "\"guard\": \"none\" is for a plan without guard "
                       "metrics; remove it or the metrics");
    if (st == VX_OK)
        st = parse_evidence(c, b, p);
    static const char *const vrbs[] = {"variant", "rollout"};
    int vrb = 0;
    if (st == VX_OK)
        st = opt_enum(c, b, "variantRollback", "/variantRollback", vrbs, 2, 0,
                      &vrb);
    static const char *const modes[] = {"auto", "approval"};
    static const char *const rbs[] = {"rollout-zero", "disable"};
    int mode = 0, rb = 0;
    if (st == VX_OK)
        st = opt_enum(c, b, "mode", "/mode", modes, 2, 0, &mode);
    if (st == VX_OK)
        st = opt_enum(c, b, "rollback", "/rollback", rbs, 2, 0, &rb);
    p->mode = (guard_mode)mode;
    p->rollback = (guard_rollback)rb;
    const json_t *alpha = json_object_get(b, "alpha");
    if (st == VX_OK && alpha && !json_is_null(alpha)) {
        if (!json_is_number(alpha) || !(json_number_value(alpha) > 0) ||
            json_number_value(alpha) > 0.5)
            st = svc__fail(c, VX_EINVAL, "/alpha",
                           "alpha must be a number in (0, 0.5]");
        else
            p->alpha = json_number_value(alpha);
    }
    const json_t *hooks = json_object_get(b, "webhooks");
    if (st == VX_OK && hooks)
        st = svc__expect_array(c, hooks, "/webhooks", VX_LIMIT_PLAN_WEBHOOKS);
    for (size_t i = 0; st == VX_OK && i < json_array_size(hooks); i++) {
        const json_t *u = json_array_get(hooks, i);
        if (!json_is_string(u) || !url_ok(json_string_value(u))) {
            char path[64];
            snprintf(path, sizeof(path), "/webhooks/%zu", i);
            st = svc__fail(c, VX_EINVAL, path,
                           "a webhook is an http:// or https:// URL of at "
                           "most 512 characters");
        } else if (c->req->body == b) { /* written now, not a stored plan */
            char path[64];
            snprintf(path, sizeof(path), "/webhooks/%zu", i);
            st = svc__egress_check_url(c, json_string_value(u), path);
        }
    }
    if (st == VX_OK)
        st = guard_plan_validate(p, c->err);
    if (st == VX_OK && !unguarded && p->n_metrics == 0)
        st = svc__fail(c, VX_EINVAL, "/metrics",
                       "a plan needs guard metrics (error_rate, latency, "
                       "...); a time-based, unguarded plan says \"guard\": "
                       "\"none\"");
    if (st != VX_OK) {
        json_decref(expanded);
        json_decref(auds);
        return st;
    }
    json_t *jm = json_array(), *jx = json_array();
    for (size_t i = 0; i < p->n_milestones; i++) {
        json_t *m = json_pack(
            "{sI sI sI}", "percent",
            json_integer_value(
                json_object_get(json_array_get(ms, i), "percent")),
            "minDurationSeconds", (json_int_t)p->milestones[i].min_duration_s,
            "minExposures", (json_int_t)p->milestones[i].min_exposures);
        json_t *aud = json_array_get(auds, i);
        if (json_is_object(aud))
            json_object_update(m, aud);
        json_array_append_new(jm, m);
    }
    json_decref(expanded);
    json_decref(auds);
    for (size_t i = 0; i < p->n_metrics; i++) {
        const guard_metric *gm = &p->metrics[i];
        json_t *m =
            json_pack("{ss ss sf sf}", "kind", guard_metric_kind_name(gm->kind),
                      "direction",
                      gm->direction == GUARD_LOWER_IS_WORSE ? "lower-is-worse"
                                                            : "higher-is-worse",
                      "tolerance", gm->tolerance, "mde", guard_metric_mde(gm));
        if (gm->quantile > 0)
            json_object_set_new(m, "quantile", json_real(gm->quantile));
        json_array_append_new(jx, m);
    }
    for (size_t i = 0; i < p->n_milestones; i++)
        if (p->milestones[i].min_per_arm > 0)
            json_object_set_new(
                json_array_get(jm, i), "minPerArm",
                json_integer((json_int_t)p->milestones[i].min_per_arm));
    *norm =
        json_pack("{so so ss ss ss sf so s{sf sf sI sI ss} ss}", "milestones",
                  jm, "metrics", jx, "guard", guards[unguarded], "mode",
                  modes[mode], "rollback", rbs[rb], "alpha", p->alpha,
                  "webhooks", hooks ? json_deep_copy(hooks) : json_array(),
                  "evidence", "power", p->power, "powerBeyond", p->power_beyond,
                  "minPerArm", (json_int_t)p->min_per_arm, "maxWaitSeconds",
                  (json_int_t)p->max_wait_s, "onTimeout",
                  p->on_timeout == GUARD_TIMEOUT_ROLLBACK ? "rollback" : "hold",
                  "variantRollback", vrbs[vrb]);
    return *norm ? VX_OK : VX_ENOMEM;
}

/* ---- the flag side ------------------------------------------------------ */

static void plan_key(const char *env, const char *flag, char *out, size_t cap)
{
    snprintf(out, cap, "%s|%s", env, flag);
}

/* The plan's strategy in `fenv`: the one with id `sid`, else (sid NULL or
 * gone) the first flexibleRollout without constraints or segments, else a
 * new one. Borrowed. */
static json_t *owned_strategy(svc_ctx *c, json_t *fenv, const char *flag,
                              const char *sid, bool *created)
{
    json_t *strategies = json_object_get(fenv, "strategies");
    size_t i;
    json_t *s;
    *created = false;
    json_array_foreach (strategies, i, s) {
        const char *id = json_string_value(json_object_get(s, "id"));
        if (sid && id && strcmp(id, sid) == 0)
            return s;
    }
    json_array_foreach (strategies, i, s) {
        if (strcmp(json_string_value(json_object_get(s, "name")),
                   "flexibleRollout") == 0 &&
            json_array_size(json_object_get(s, "constraints")) == 0 &&
            json_array_size(json_object_get(s, "segments")) == 0)
            return s;
    }
    if (json_array_size(strategies) >= VX_LIMIT_STRATEGIES)
        return NULL;
    char id[37];
    svc__uuid(id);
    s = json_pack("{ss ss sn sb si s{ss ss ss} s[] s[] s[]}", "id", id, "name",
                  "flexibleRollout", "title", "disabled", 0, "sortOrder",
                  (int)json_array_size(strategies), "parameters", "rollout",
                  "0", "stickiness", "default", "groupId", flag, "constraints",
                  "segments", "variants");
    json_array_append_new(strategies, s);
    *created = true;
    (void)c;
    return s;
}

/* Sets the plan's strategy to `percent` (and the environment on when
 * `enable`; and the audience of `milestone` when it is not NULL), saves
 * the flag and audits the strategy change. `plan` gets
 * the strategy id. */
static vx_status set_rollout(svc_ctx *c, json_t *plan, int percent, bool enable,
                             const json_t *milestone)
{
    const char *project = json_string_value(json_object_get(plan, "project"));
    const char *flag = json_string_value(json_object_get(plan, "feature"));
    const char *env = json_string_value(json_object_get(plan, "environment"));
    json_t *f = NULL;
    vx_status st = svc__feature_load(c, project, flag, false, &f);
    if (st != VX_OK)
        return st;
    json_t *fenv = svc__feature_env(f, env);
    bool created = false;
    json_t *s = fenv ? owned_strategy(c, fenv, flag,
                                      json_string_value(
                                          json_object_get(plan, "strategyId")),
                                      &created)
                     : NULL;
    if (!s) {
        st = svc__fail(c, VX_ELIMIT, "",
                       "no room for the plan's strategy in '%s'", env);
        goto out;
    }
    json_t *pre = json_deep_copy(s);
    char pc[8];
    snprintf(pc, sizeof(pc), "%d", percent);
    json_object_set_new(json_object_get(s, "parameters"), "rollout",
                        json_string(pc));
    json_object_set(plan, "strategyId", json_object_get(s, "id"));
    if (enable)
        json_object_set_new(fenv, "enabled", json_true());
    if (milestone) {
        /* The milestone's audience, or everyone for a percentage step. */
        const json_t *segs = json_object_get(milestone, "segments");
        const json_t *cons = json_object_get(milestone, "constraints");
        json_object_set_new(s, "segments",
                            segs ? json_deep_copy(segs) : json_array());
        json_object_set_new(s, "constraints",
                            cons ? json_deep_copy(cons) : json_array());
    }
    st = svc__feature_save(c, f);
    if (st == VX_OK)
        st = svc__audit(
            c, created ? "feature-strategy-add" : "feature-strategy-update",
            project, env, flag, s, created ? NULL : pre);
    json_decref(pre);
out:
    json_decref(f);
    return st;
}

/* Disables the flag in the plan's environment (audited). */
static vx_status disable_env(svc_ctx *c, const json_t *plan)
{
    svc_req r = {.op = SVC_OP_ENV_OFF,
                 .project = json_string_value(json_object_get(plan, "project")),
                 .feature = json_string_value(json_object_get(plan, "feature")),
                 .environment =
                     json_string_value(json_object_get(plan, "environment"))};
    svc_ctx c2 = *c;
    c2.req = &r;
    json_t *out = NULL;
    vx_status st = svc__op_ENV_OFF(&c2, &out);
    json_decref(out);
    return st;
}

/* ---- plan documents ------------------------------------------------------ */

/* The current milestone's JSON (borrowed). */
static const json_t *current_milestone(const json_t *plan)
{
    const json_t *ms =
        json_object_get(json_object_get(plan, "plan"), "milestones");
    return json_array_get(
        ms, (size_t)json_integer_value(json_object_get(plan, "milestone")));
}

static int current_percent(const json_t *plan)
{
    const json_t *ms =
        json_object_get(json_object_get(plan, "plan"), "milestones");
    size_t i = (size_t)json_integer_value(json_object_get(plan, "milestone"));
    return (int)json_integer_value(
        json_object_get(json_array_get(ms, i), "percent"));
}

/* Appends to the decision log (bounded, oldest dropped). */
static void log_entry(svc_ctx *c, json_t *plan, const char *action,
                      const char *reason, const char *by)
{
    json_t *log = json_object_get(plan, "log");
    if (!json_is_array(log)) {
        log = json_array();
        json_object_set_new(plan, "log", log);
    }
    while (json_array_size(log) >= VX_LIMIT_PLAN_LOG)
        json_array_remove(log, 0);
    json_array_append_new(
        log,
        json_pack("{so ss ss sI si ss}", "at", svc__time_json(c->now_ms),
                  "action", action, "reason", reason ? reason : "", "milestone",
                  json_integer_value(json_object_get(plan, "milestone")),
                  "percent", current_percent(plan), "by", by));
}

/* Starts a new rollout epoch at the current percentage. */
static void new_epoch(svc_ctx *c, json_t *plan)
{
    json_t *eps = json_object_get(plan, "epochs");
    if (json_array_size(eps) >= VX_LIMIT_PLAN_EPOCHS)
        return; /* the last epoch continues (see docs/guard.md) */
    json_array_append_new(eps,
                          json_pack("{si sI}", "percent", current_percent(plan),
                                    "startedMs", (json_int_t)c->now_ms));
    json_object_set_new(plan, "epoch",
                        json_integer((json_int_t)json_array_size(eps) - 1));
}

static vx_status save_plan(svc_ctx *c, json_t *plan)
{
    char key[600];
    plan_key(json_string_value(json_object_get(plan, "environment")),
             json_string_value(json_object_get(plan, "feature")), key,
             sizeof(key));
    json_object_set_new(plan, "updatedAt", svc__time_json(c->now_ms));
    return svc__put(c, STORE_PLAN, key,
                    json_string_value(json_object_get(plan, "feature")), plan);
}

static vx_status audit_plan(svc_ctx *c, const json_t *plan, const char *type,
                            json_t *data /* stolen, may be NULL */)
{
    json_t *d = data ? data : json_object();
    json_object_set_new(
        d, "state",
        json_string(json_string_value(json_object_get(plan, "state"))));
    json_object_set_new(
        d, "milestone",
        json_integer(json_integer_value(json_object_get(plan, "milestone"))));
    json_object_set_new(d, "percent", json_integer(current_percent(plan)));
    vx_status st = svc__audit(
        c, type, json_string_value(json_object_get(plan, "project")),
        json_string_value(json_object_get(plan, "environment")),
        json_string_value(json_object_get(plan, "feature")), d, NULL);
    json_decref(d);
    return st;
}

static bool is_state(const json_t *plan, const char *s)
{
    const char *v = json_string_value(json_object_get(plan, "state"));
    return v && strcmp(v, s) == 0;
}

/* A plan the scheduler drives (and that owns its strategy). */
static bool is_live(const json_t *plan)
{
    return is_state(plan, "running") || is_state(plan, "waiting-approval") ||
           is_state(plan, "held");
}

/* ---- what people read: the plan's state in one sentence ----------------- */

/* The words for a log action in a sentence ("rolled back", "advanced"). */
static const char *action_words(const char *a)
{
    static const char *const map[][2] = {
        {"start", "started"},
        {"advance", "advanced to"},
        {"complete", "completed"},
        {"rollback", "rolled back"},
        {"rollback-variant", "rolled back a variant"},
        {"pause", "paused"},
        {"resume", "resumed"},
        {"approve", "approved"},
        {"wait-approval", "waiting for approval"},
        {"hold", "held"},
    };
    for (size_t i = 0; a && i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i][0], a) == 0)
            return map[i][1];
    return a ? a : "?";
}

/* {"guard", "state", "percent", "status", "lastDecision"}: what the plan
 * is doing, in words, so nobody reads a stale percentage beside a green
 * "on": a rolled-back plan says it rolled back, at which percentage and
 * why. A new object. */
static json_t *plan_summary(const json_t *plan)
{
    const json_t *body = json_object_get(plan, "plan");
    const char *state = json_string_value(json_object_get(plan, "state"));
    const char *g = json_string_value(json_object_get(body, "guard"));
    bool unguarded = (g && strcmp(g, "none") == 0) ||
                     json_array_size(json_object_get(body, "metrics")) == 0;
    char guard[512] = "time-based, unguarded";
    if (!unguarded) {
        size_t i, used = 0;
        const json_t *m;
        used = (size_t)snprintf(guard, sizeof(guard), "guarded by ");
        json_array_foreach (json_object_get(body, "metrics"), i, m) {
            if (used < sizeof(guard))
                used += (size_t)snprintf(
                    guard + used, sizeof(guard) - used, "%s%s", i ? ", " : "",
                    json_string_value(json_object_get(m, "kind")));
        }
        const json_t *arms = json_object_get(plan, "arms");
        if (json_array_size(arms) > 1 && used < sizeof(guard))
            used +=
                (size_t)snprintf(guard + used, sizeof(guard) - used,
                                 " per variant (%zu)", json_array_size(arms));
    }
    const json_t *log = json_object_get(plan, "log");
    const json_t *last = json_array_get(log, json_array_size(log) - 1);
    int pct = current_percent(plan);
    bool rolled = state && strcmp(state, "rolled-back") == 0;
    char status[700], decision[900] = "";
    const char *why =
        rolled ? NULL
        : state && strcmp(state, "held") == 0
            ? json_string_value(json_object_get(plan, "holdReason"))
            : json_string_value(json_object_get(plan, "pauseReason"));
    snprintf(status, sizeof(status), "%s at %d %%%s%s%s", state ? state : "?",
             pct, why ? " (" : "", why ? why : "", why ? ")" : "");
    if (last) {
        const char *a = json_string_value(json_object_get(last, "action"));
        const char *r = json_string_value(json_object_get(last, "reason"));
        const char *det = json_string_value(json_object_get(last, "detail"));
        const char *var = json_string_value(json_object_get(last, "variant"));
        char vtxt[160] = "";
        if (var)
            snprintf(vtxt, sizeof(vtxt), " '%.120s'", var);
        snprintf(
            decision, sizeof(decision), "%s%s at %lld %% because %s%s%s",
            action_words(a), vtxt,
            (long long)json_integer_value(json_object_get(last, "percent")),
            r ? r : "", det && det[0] ? ": " : "", det ? det : "");
        if (rolled)
            snprintf(status, sizeof(status), "%s", decision);
    }
    return json_pack("{ss ss si ss ss}", "guard", guard, "state",
                     state ? state : "?", "percent", rolled ? 0 : pct, "status",
                     status, "lastDecision", decision);
}

/* A plan document as the API shows it: with its summary. A new ref. */
static json_t *plan_out(const json_t *plan)
{
    json_t *o = json_deep_copy(plan);
    if (o)
        json_object_set_new(o, "summary", plan_summary(plan));
    return o;
}

void svc__plan_annotate(svc_ctx *c, json_t *view)
{
    json_t *plans = NULL;
    const char *flag = json_string_value(json_object_get(view, "name"));
    if (!flag || svc__list(c, STORE_PLAN, flag, &plans) != VX_OK)
        return; /* shown without: the flag read itself reports the fault */
    size_t i, j;
    json_t *p, *e;
    json_array_foreach (plans, i, p) {
        const char *env = json_string_value(json_object_get(p, "environment"));
        json_array_foreach (json_object_get(view, "environments"), j, e) {
            const char *en = json_string_value(json_object_get(e, "name"));
            if (!env || !en || strcmp(env, en) != 0)
                continue;
            json_t *sum = plan_summary(p);
            json_object_set(sum, "strategyId",
                            json_object_get(p, "strategyId"));
            json_object_set(sum, "updatedAt", json_object_get(p, "updatedAt"));
            json_object_set_new(e, "releasePlan", sum);
        }
    }
    json_decref(plans);
}

/* Loads the plan of the request's (flag, environment) after checking the
 * flag exists in the project. */
static vx_status load_plan(svc_ctx *c, json_t **plan)
{
    json_t *f = NULL;
    vx_status st =
        svc__feature_load(c, c->req->project, c->req->feature, false, &f);
    json_decref(f);
    if (st != VX_OK)
        return st;
    char key[600];
    plan_key(c->req->environment, c->req->feature, key, sizeof(key));
    st = svc__get(c, STORE_PLAN, key, plan);
    if (st == VX_ENOTFOUND)
        return svc__not_found(c, "release plan for", c->req->feature);
    return st;
}

/* The variants the plan tests, each against the control: those of its
 * strategy, else the environment's, that have a weight (none: one
 * treatment arm of every label), into
 * plan["arms"]. At most GUARD_PLAN_MAX_ARMS, and arms x metrics at most
 * GUARD_PLAN_MAX_METRICS. */
static vx_status plan_arms(svc_ctx *c, json_t *plan, const guard_plan *gp)
{
    json_t *f = NULL;
    vx_status st = svc__feature_load(
        c, json_string_value(json_object_get(plan, "project")),
        json_string_value(json_object_get(plan, "feature")), false, &f);
    if (st != VX_OK)
        return st;
    json_t *fenv = svc__feature_env(
        f, json_string_value(json_object_get(plan, "environment")));
    const char *sid = json_string_value(json_object_get(plan, "strategyId"));
    const json_t *vars = json_object_get(fenv, "variants");
    size_t i;
    const json_t *x;
    json_array_foreach (json_object_get(fenv, "strategies"), i, x) {
        const char *id = json_string_value(json_object_get(x, "id"));
        if (sid && id && strcmp(id, sid) == 0 &&
            json_array_size(json_object_get(x, "variants")) > 0)
            vars = json_object_get(x, "variants");
    }
    /* a variant of weight 0 serves nobody: it is no arm */
    json_t *arms = json_array();
    json_array_foreach (vars, i, x) {
        if (json_integer_value(json_object_get(x, "weight")) > 0)
            json_array_append_new(arms, json_string(json_string_value(
                                            json_object_get(x, "name"))));
    }
    size_t n = json_array_size(arms), m = gp->n_metrics ? gp->n_metrics : 1;
    if (n > GUARD_PLAN_MAX_ARMS || n * m > GUARD_PLAN_MAX_METRICS)
        st = svc__fail(c, VX_EINVAL, "/metrics",
                       "the flag's %zu variants x %zu metrics: a plan tests "
                       "at most %d variants and %d (variant, metric) pairs",
                       n, m, GUARD_PLAN_MAX_ARMS, GUARD_PLAN_MAX_METRICS);
    json_object_set_new(plan, "arms", arms);
    json_object_set_new(plan, "retiredArms", json_array());
    json_decref(f);
    return st;
}

/* PUT .../release-plan: validates, replaces any plan of this flag and
 * environment, and starts it at the first milestone. */
vx_status svc__op_PLAN_PUT(svc_ctx *c, json_t **out)
{
    json_t *norm = NULL, *f = NULL, *env = NULL, *plan = NULL;
    guard_plan gp;
    vx_status st = svc__get(c, STORE_ENVIRONMENT, c->req->environment, &env);
    if (st == VX_ENOTFOUND)
        st = svc__not_found(c, "environment", c->req->environment);
    if (st == VX_OK)
        st = svc__feature_load(c, c->req->project, c->req->feature, false, &f);
    if (st == VX_OK)
        st = parse_plan(c, c->req->body, &gp, &norm, false);
    if (st != VX_OK)
        goto out;
    char run[37];
    svc__uuid(run);
    plan = json_pack("{ss ss ss ss ss sO si sI sb si s[] s[] sn so}", "project",
                     c->req->project, "feature", c->req->feature, "environment",
                     c->req->environment, "run", run, "state", "running",
                     "plan", norm, "milestone", 0, "milestoneStartedMs",
                     (json_int_t)c->now_ms, "approved", 0, "epoch", 0, "epochs",
                     "log", "last", "startedAt", svc__time_json(c->now_ms));
    if (!plan) {
        st = VX_ENOMEM;
        goto out;
    }
    json_object_set_new(plan, "createdBy", json_string(c->who->name));
    json_object_set_new(plan, "milestoneEpoch", json_integer(0));
    json_array_append_new(json_object_get(plan, "epochs"),
                          json_pack("{si sI}", "percent", current_percent(plan),
                                    "startedMs", (json_int_t)c->now_ms));
    log_entry(c, plan, "start", "plan created", c->who->name);
    st = set_rollout(c, plan, current_percent(plan), true,
                     current_milestone(plan));
    if (st == VX_OK)
        st = plan_arms(c, plan, &gp);
    if (st == VX_OK)
        st = save_plan(c, plan);
    if (st == VX_OK)
        st = audit_plan(c, plan, "release-plan-started",
                        json_pack("{sO}", "plan", norm));
    if (st == VX_OK)
        *out = plan_out(plan);
out:
    json_decref(plan);
    json_decref(norm);
    json_decref(f);
    json_decref(env);
    return st;
}

vx_status svc__op_PLAN_GET(svc_ctx *c, json_t **out)
{
    json_t *plan = NULL;
    vx_status st = load_plan(c, &plan);
    if (st == VX_OK)
        *out = plan_out(plan);
    json_decref(plan);
    return st == VX_OK && !*out ? VX_ENOMEM : st;
}

vx_status svc__plan_strategy_write(svc_ctx *c, const char *strategy_id)
{
    json_t *plan = NULL;
    char key[600];
    plan_key(c->req->environment, c->req->feature, key, sizeof(key));
    vx_status st = svc__get(c, STORE_PLAN, key, &plan);
    if (st == VX_ENOTFOUND)
        return VX_OK;
    const char *sid = json_string_value(json_object_get(plan, "strategyId"));
    if (st != VX_OK || !is_live(plan) || !sid || !strategy_id ||
        strcmp(sid, strategy_id) != 0) {
        json_decref(plan);
        return st;
    }
    const char *q =
        json_string_value(json_object_get(c->req->query, "pausePlan"));
    if (!q || strcmp(q, "true") != 0) {
        st = svc__fail(c, VX_ECONFLICT, "",
                       "strategy %s of '%s' in '%s' is controlled by its "
                       "release plan (%s at %d %%): pause the plan first, or "
                       "add ?pausePlan=true to pause it with this change",
                       strategy_id, c->req->feature, c->req->environment,
                       json_string_value(json_object_get(plan, "state")),
                       current_percent(plan));
        json_decref(plan);
        return st;
    }
    /* The request says to pause the plan: paused, audited, in this
     * transaction, before the edit it lets through. */
    const char *why = "paused to let a person edit its strategy";
    json_object_set_new(plan, "state", json_string("paused"));
    json_object_set_new(plan, "pauseReason", json_string(why));
    json_object_del(plan, "holdReason");
    log_entry(c, plan, "pause", why, c->who->name);
    st = save_plan(c, plan);
    if (st == VX_OK)
        st = audit_plan(
            c, plan, "release-plan-paused",
            json_pack("{ss ss}", "reason", why, "strategyId", strategy_id));
    json_decref(plan);
    return st;
}

vx_status svc__op_PLAN_DELETE(svc_ctx *c, json_t **out)
{
    json_t *plan = NULL;
    vx_status st = load_plan(c, &plan);
    char key[600];
    plan_key(c->req->environment, c->req->feature, key, sizeof(key));
    if (st == VX_OK)
        st = svc__del(c, STORE_PLAN, key);
    if (st == VX_OK)
        st = audit_plan(c, plan, "release-plan-deleted", NULL);
    if (st == VX_OK)
        *out = json_object();
    json_decref(plan);
    return st;
}

/* GET /api/admin/release-plans: every plan, without its log. */
vx_status svc__op_PLAN_LIST(svc_ctx *c, json_t **out)
{
    json_t *all = NULL, *lease = NULL;
    vx_status st = svc__list(c, STORE_PLAN, NULL, &all);
    if (st == VX_OK)
        st = svc__get(c, STORE_LEASE, "scheduler", &lease);
    if (st == VX_ENOTFOUND)
        st = VX_OK;
    if (st != VX_OK) {
        json_decref(all);
        return st;
    }
    size_t i;
    json_t *p;
    json_array_foreach (all, i, p) {
        json_object_set_new(p, "summary", plan_summary(p));
        json_object_del(p, "log");
    }
    *out = json_pack("{so so}", "plans", all, "scheduler",
                     lease ? lease : json_null());
    return VX_OK;
}

/* Applies a rollback to the flag and the plan (manual or automatic).
 * `detail` (may be NULL) says which metric and variant, for people. */
static vx_status do_rollback(svc_ctx *c, json_t *plan, const char *reason,
                             json_t *report /* stolen, may be NULL */,
                             const char *detail)
{
    const char *how = json_string_value(
        json_object_get(json_object_get(plan, "plan"), "rollback"));
    bool disable = how && strcmp(how, "disable") == 0;
    vx_status st =
        disable ? disable_env(c, plan) : set_rollout(c, plan, 0, false, NULL);
    json_object_set_new(plan, "state", json_string("rolled-back"));
    json_object_del(plan, "holdReason");
    log_entry(c, plan, "rollback", reason, c->who->name);
    if (detail && detail[0])
        json_object_set_new(
            json_array_get(json_object_get(plan, "log"),
                           json_array_size(json_object_get(plan, "log")) - 1),
            "detail", json_string(detail));
    if (st == VX_OK)
        st = save_plan(c, plan);
    json_t *data = json_pack("{ss ss}", "reason", reason, "rollback",
                             disable ? "disable" : "rollout-zero");
    if (detail && detail[0])
        json_object_set_new(data, "detail", json_string(detail));
    if (report)
        json_object_set_new(data, "statistics", report);
    if (st == VX_OK)
        st = audit_plan(c, plan, "release-plan-rolled-back", data);
    else
        json_decref(data);
    return st;
}

/* Moves to the next milestone (or completes from the last). */
static vx_status do_advance(svc_ctx *c, json_t *plan, const char *why,
                            json_t *report /* stolen, may be NULL */)
{
    size_t n = json_array_size(
        json_object_get(json_object_get(plan, "plan"), "milestones"));
    size_t m = (size_t)json_integer_value(json_object_get(plan, "milestone"));
    vx_status st = VX_OK;
    const char *type;
    if (m + 1 >= n) {
        json_object_set_new(plan, "state", json_string("completed"));
        log_entry(c, plan, "complete", why, c->who->name);
        type = "release-plan-completed";
    } else {
        json_object_set_new(plan, "milestone", json_integer((json_int_t)m + 1));
        json_object_set_new(plan, "milestoneStartedMs",
                            json_integer(c->now_ms));
        json_object_set_new(plan, "approved", json_false());
        json_object_set_new(plan, "state", json_string("running"));
        new_epoch(c, plan);
        json_object_set(plan, "milestoneEpoch", json_object_get(plan, "epoch"));
        st = set_rollout(c, plan, current_percent(plan), false,
                         current_milestone(plan));
        log_entry(c, plan, "advance", why, c->who->name);
        type = "release-plan-advanced";
    }
    if (st == VX_OK)
        st = save_plan(c, plan);
    json_t *data = json_pack("{ss}", "reason", why);
    if (report)
        json_object_set_new(data, "statistics", report);
    if (st == VX_OK)
        st = audit_plan(c, plan, type, data);
    else
        json_decref(data);
    return st;
}

/* POST .../release-plan/{pause|resume|skip|approve|rollback}. */
vx_status svc__op_PLAN_ACTION(svc_ctx *c, json_t **out)
{
    json_t *plan = NULL;
    vx_status st = load_plan(c, &plan);
    if (st != VX_OK)
        return st;
    const char *a = c->req->id;
    bool live = is_live(plan);
    /* who acted and why, when the caller says (the advisor's policy) */
    const char *why =
        json_string_value(json_object_get(c->req->body, "reason"));
    if (why && (!*why || strlen(why) > 1000))
        why = NULL;
    if (strcmp(a, "pause") == 0) {
        if (!live)
            st = svc__fail(c, VX_ECONFLICT, "", "the plan is not running");
        if (!why)
            why = "paused by hand";
        json_object_set_new(plan, "state", json_string("paused"));
        json_object_set_new(plan, "pauseReason", json_string(why));
        log_entry(c, plan, "pause", why, c->who->name);
        if (st == VX_OK)
            st = save_plan(c, plan);
        if (st == VX_OK)
            st = audit_plan(c, plan, "release-plan-paused",
                            json_pack("{ss}", "reason", why));
    } else if (strcmp(a, "resume") == 0) {
        if (!is_state(plan, "paused"))
            st = svc__fail(c, VX_ECONFLICT, "", "the plan is not paused");
        json_object_set_new(plan, "state", json_string("running"));
        json_object_del(plan, "pauseReason");
        /* A fresh epoch: the sample-ratio check starts over. The plan
         * takes its strategy back at the milestone's percentage (a person
         * may have edited it while the plan was paused). */
        new_epoch(c, plan);
        if (st == VX_OK)
            st = set_rollout(c, plan, current_percent(plan), false,
                             current_milestone(plan));
        log_entry(c, plan, "resume", "resumed by hand", c->who->name);
        if (st == VX_OK)
            st = save_plan(c, plan);
        if (st == VX_OK)
            st = audit_plan(c, plan, "release-plan-resumed", NULL);
    } else if (strcmp(a, "approve") == 0) {
        if (!live)
            st = svc__fail(c, VX_ECONFLICT, "", "the plan is not running");
        json_object_set_new(plan, "approved", json_true());
        json_object_set_new(plan, "state", json_string("running"));
        log_entry(c, plan, "approve", "approved by hand", c->who->name);
        if (st == VX_OK)
            st = save_plan(c, plan);
        if (st == VX_OK)
            st = audit_plan(c, plan, "release-plan-approved", NULL);
    } else if (strcmp(a, "skip") == 0) {
        if (!live && !is_state(plan, "paused"))
            st = svc__fail(c, VX_ECONFLICT, "", "the plan is not running");
        if (st == VX_OK)
            st = do_advance(c, plan, "milestone skipped by hand", NULL);
    } else if (strcmp(a, "rollback") == 0) {
        if (is_state(plan, "rolled-back"))
            st = svc__fail(c, VX_ECONFLICT, "", "the plan is rolled back");
        if (st == VX_OK)
            st = do_rollback(c, plan, why ? why : "rolled back by hand", NULL,
                             NULL);
    } else {
        st = svc__fail(c, VX_ENOTFOUND, "",
                       "no action '%s': pause, resume, skip, approve or "
                       "rollback",
                       a);
    }
    if (st == VX_OK)
        *out = plan_out(plan);
    json_decref(plan);
    return st;
}

/* ---- the guard's view of a plan ---------------------------------------- */

/* Everything guard_plan_decide reads for one plan, on the heap. */
typedef struct plan_view {
    guard_plan plan;      /* parsed from the stored plan */
    guard_state state;    /* what guard_plan_decide reads */
    svc_arms data;        /* the run's buckets per (label, epoch) */
    guard_counts *zero;   /* [epochs] zeros for an arm without data */
    guard_counts *pooled; /* [epochs] all treatment labels, no variants */
    guard_cluster *pooled_groups;  /* the same, or NULL */
    guard_sketch *pooled_sketches; /* the same, or NULL */
    guard_cluster *zero_groups;    /* [epochs] zeros, when grouped */
    guard_arm arms[GUARD_PLAN_MAX_ARMS];
    const guard_sketch *skp[GUARD_PLAN_MAX_ARMS + 1][VX_LIMIT_PLAN_EPOCHS];
    char names[GUARD_PLAN_MAX_ARMS][128]; /* arm names */
} plan_view;

static void view_free(plan_view *v)
{
    if (!v)
        return;
    svc__impact_arms_release(&v->data);
    vx__free(v->zero);
    vx__free(v->pooled);
    vx__free(v->pooled_groups);
    vx__free(v->pooled_sketches);
    vx__free(v->zero_groups);
    vx__free(v);
}

static bool in_list(const json_t *arr, const char *name)
{
    size_t i;
    const json_t *x;
    json_array_foreach (arr, i, x) {
        if (json_is_string(x) && strcmp(json_string_value(x), name) == 0)
            return true;
    }
    return false;
}

/* Sums the plan run's buckets into the guard state: the control ("disabled")
 * per epoch, and one arm per variant the plan tests (the plan's "arms"), or
 * one arm of every treatment label when it tests none. */
static vx_status aggregate(svc_ctx *c, const json_t *plan, bool sketches,
                           plan_view *v)
{
    size_t k = json_array_size(json_object_get(plan, "epochs"));
    if (k == 0)
        k = 1;
    if (k > VX_LIMIT_PLAN_EPOCHS)
        k = VX_LIMIT_PLAN_EPOCHS;
    vx_status st = svc__impact_arms(
        c, json_string_value(json_object_get(plan, "environment")),
        json_string_value(json_object_get(plan, "feature")),
        json_string_value(json_object_get(plan, "run")), k, 0, sketches,
        &v->data);
    if (st != VX_OK)
        return st;
    svc_arms *d = &v->data;
    k = d->n_epochs;
    v->zero = vx__calloc(k, sizeof(guard_counts));
    if (d->groups)
        v->zero_groups = vx__calloc(k, sizeof(guard_cluster));
    if (!v->zero || (d->groups && !v->zero_groups))
        return VX_ENOMEM;
    guard_state *s = &v->state;
    int ci = svc__impact_arm(d, "disabled");
    s->n_epochs = k;
    s->epoch_control = ci >= 0 ? &d->counts[(size_t)ci * k] : v->zero;
    if (d->groups)
        s->epoch_control_clusters =
            ci >= 0 ? &d->groups[(size_t)ci * k] : v->zero_groups;
    for (size_t e = 0; e < k; e++)
        v->skp[0][e] =
            ci >= 0 && d->sketches ? &d->sketches[(size_t)ci * k + e] : NULL;
    if (d->sketches)
        s->epoch_control_latency = v->skp[0];
    const json_t *names = json_object_get(plan, "arms");
    const json_t *retired = json_object_get(plan, "retiredArms");
    size_t n_arms = json_array_size(names);
    if (n_arms > GUARD_PLAN_MAX_ARMS)
        n_arms = GUARD_PLAN_MAX_ARMS;
    if (n_arms == 0) {
        /* no variants: every treatment label is one arm */
        v->pooled = vx__calloc(k, sizeof(guard_counts));
        if (d->groups)
            v->pooled_groups = vx__calloc(k, sizeof(guard_cluster));
        if (d->sketches) {
            v->pooled_sketches = vx__calloc(k, sizeof(guard_sketch));
            for (size_t e = 0; v->pooled_sketches && e < k; e++)
                guard_sketch_init(&v->pooled_sketches[e]);
        }
        if (!v->pooled || (d->groups && !v->pooled_groups) ||
            (d->sketches && !v->pooled_sketches))
            return VX_ENOMEM;
        for (size_t l = 0; l < d->n_labels; l++) {
            if ((int)l == ci)
                continue;
            for (size_t e = 0; e < k; e++) {
                guard_counts_merge(&v->pooled[e], &d->counts[l * k + e]);
                if (d->sketches)
                    guard_sketch_merge(&v->pooled_sketches[e],
                                       &d->sketches[l * k + e]);
                for (size_t g = 0; d->groups && g < GUARD_GROUPS; g++) {
                    const guard_cluster *x = &d->groups[l * k + e];
                    guard_cluster *y = &v->pooled_groups[e];
                    y->requests[g] += x->requests[g];
                    y->errors[g] += x->errors[g];
                    y->conversions[g] += x->conversions[g];
                    y->lat_n[g] += x->lat_n[g];
                    y->lat_sum[g] += x->lat_sum[g];
                    y->loglat_sum[g] += x->loglat_sum[g];
                }
            }
        }
        v->arms[0].epochs = v->pooled;
        v->arms[0].clusters = v->pooled_groups;
        for (size_t e = 0; e < k; e++)
            v->skp[1][e] = v->pooled_sketches ? &v->pooled_sketches[e] : NULL;
        v->arms[0].latency = v->pooled_sketches ? v->skp[1] : NULL;
        n_arms = 1;
    } else {
        for (size_t a = 0; a < n_arms; a++) {
            const char *nm = json_string_value(json_array_get(names, a));
            int li = nm ? svc__impact_arm(d, nm) : -1;
            snprintf(v->names[a], sizeof(v->names[a]), "%s", nm ? nm : "");
            v->arms[a].name = v->names[a];
            v->arms[a].epochs = li >= 0 ? &d->counts[(size_t)li * k] : v->zero;
            if (d->groups)
                v->arms[a].clusters =
                    li >= 0 ? &d->groups[(size_t)li * k] : v->zero_groups;
            for (size_t e = 0; e < k; e++)
                v->skp[a + 1][e] = li >= 0 && d->sketches
                                       ? &d->sketches[(size_t)li * k + e]
                                       : NULL;
            v->arms[a].latency = d->sketches ? v->skp[a + 1] : NULL;
            v->arms[a].retired = nm && in_list(retired, nm);
        }
    }
    s->arms = v->arms;
    s->n_arms = n_arms;
    size_t cur = (size_t)json_integer_value(json_object_get(plan, "epoch"));
    for (size_t e = 0; e < k; e++) {
        guard_counts_merge(&s->control, &s->epoch_control[e]);
        for (size_t a = 0; a < n_arms; a++) {
            guard_counts_merge(&s->treatment, &v->arms[a].epochs[e]);
            if (e == cur)
                s->stage_treatment += v->arms[a].epochs[e].requests;
        }
        if (e == cur)
            s->stage_control = s->epoch_control[e].requests;
    }
    const json_t *me = json_object_get(plan, "milestoneEpoch");
    s->milestone_epoch =
        json_is_integer(me) ? (size_t)json_integer_value(me) : cur;
    return VX_OK;
}

static json_t *counts_json(const guard_counts *k)
{
    return json_pack("{sI sI sI sf}", "requests", (json_int_t)k->requests,
                     "errors", (json_int_t)k->errors, "conversions",
                     (json_int_t)k->conversions, "latencyMeanMs",
                     k->latency.n > 0 ? k->latency.sum / k->latency.n : 0.0);
}

/* "error_rate of variant 'b': 2.1 % against 1.0 % in the control" for a
 * rollback's culprit, or the evidence still missing for a hold, into
 * buf. */
static void decision_detail(const guard_plan *gp, const guard_decision *d,
                            char *buf, size_t cap)
{
    buf[0] = '\0';
    const guard_verdict *v = NULL;
    if (d->action == GUARD_ROLLBACK && d->culprit < d->n_verdicts)
        v = &d->verdicts[d->culprit];
    for (size_t i = 0; !v && d->insufficient && i < d->n_verdicts; i++)
        if (d->verdicts[i].evidence.checked && !d->verdicts[i].evidence.met)
            v = &d->verdicts[i];
    if (!v || v->metric >= gp->n_metrics)
        return;
    char who[200] = "";
    if (v->arm < d->n_arms && d->arm_names[v->arm])
        snprintf(who, sizeof(who), " of variant '%.120s'",
                 d->arm_names[v->arm]);
    const char *kind = guard_metric_kind_name(v->kind);
    bool rate = v->kind == GUARD_METRIC_ERROR_RATE ||
                v->kind == GUARD_METRIC_CONVERSION;
    if (d->action == GUARD_ROLLBACK) {
        if (rate)
            snprintf(buf, cap,
                     "%s%s is worse: %.3g %% against %.3g %% in the control "
                     "(always-valid p %.2g)",
                     kind, who, 100 * v->seq.treatment, 100 * v->seq.control,
                     v->seq.p);
        else
            snprintf(buf, cap,
                     "%s%s is worse: %.4g against %.4g in the control "
                     "(always-valid p %.2g)",
                     kind, who, v->seq.treatment, v->seq.control, v->seq.p);
        return;
    }
    const guard_evidence *e = &v->evidence;
    if (!v->seq.evaluated)
        snprintf(buf, cap,
                 "%s%s has no verdict yet (%.0f units in the arm, "
                 "%.0f in the control this milestone)",
                 kind, who, e->units_t, e->units_c);
    else if (isfinite(e->need_t))
        snprintf(buf, cap,
                 "%s%s: %.0f of the %.0f units needed in this milestone", kind,
                 who, e->units_t, e->need_t);
    else
        snprintf(buf, cap, "%s%s: the effect to detect is out of reach", kind,
                 who);
}

/* A variant retired on its own: its weight goes to 0 in the plan's
 * strategy (or the environment's variants when the strategy has none),
 * the others share the rest; audited as a strategy change. */
static vx_status retire_variant(svc_ctx *c, json_t *plan, const char *name)
{
    const char *project = json_string_value(json_object_get(plan, "project"));
    const char *flag = json_string_value(json_object_get(plan, "feature"));
    const char *env = json_string_value(json_object_get(plan, "environment"));
    const char *sid = json_string_value(json_object_get(plan, "strategyId"));
    json_t *f = NULL, *norm = NULL;
    vx_status st = svc__feature_load(c, project, flag, false, &f);
    if (st != VX_OK)
        return st;
    json_t *fenv = svc__feature_env(f, env), *owner = NULL;
    size_t i;
    json_t *x;
    json_array_foreach (json_object_get(fenv, "strategies"), i, x) {
        const char *id = json_string_value(json_object_get(x, "id"));
        if (sid && id && strcmp(id, sid) == 0)
            owner = x;
    }
    json_t *holder =
        owner && json_array_size(json_object_get(owner, "variants")) ? owner
                                                                     : fenv;
    json_t *pre = json_deep_copy(holder);
    json_t *vars = json_deep_copy(json_object_get(holder, "variants"));
    const json_t *retired = json_object_get(plan, "retiredArms");
    json_array_foreach (vars, i, x) {
        const char *vn = json_string_value(json_object_get(x, "name"));
        bool off =
            (vn && strcmp(vn, name) == 0) || (vn && in_list(retired, vn));
        json_object_set_new(x, "weightType",
                            json_string(off ? "fix" : "variable"));
        json_object_set_new(x, "weight", json_integer(off ? 0 : 1));
    }
    st = svc__norm_variants(c, vars, "/variants", "default", &norm);
    if (st == VX_OK) {
        json_object_set(holder, "variants", norm);
        st = svc__feature_save(c, f);
    }
    if (st == VX_OK)
        st =
            holder == owner
                ? svc__audit(c, "feature-strategy-update", project, env, flag,
                             owner, pre)
                : svc__audit(c, "feature-environment-variants-updated", project,
                             env, flag, norm, json_object_get(pre, "variants"));
    json_decref(norm);
    json_decref(vars);
    json_decref(pre);
    json_decref(f);
    return st;
}

/* Rolls back one variant of several: its weight to 0, a new epoch (the
 * others' shares changed), the plan goes on with the rest. */
static vx_status rollback_variant(svc_ctx *c, json_t *plan, const char *name,
                                  const char *reason, const char *detail,
                                  json_t *report /* stolen, may be NULL */)
{
    vx_status st = retire_variant(c, plan, name);
    json_t *ret = json_object_get(plan, "retiredArms");
    if (!json_is_array(ret)) {
        ret = json_array();
        json_object_set_new(plan, "retiredArms", ret);
    }
    json_array_append_new(ret, json_string(name));
    new_epoch(c, plan);
    log_entry(c, plan, "rollback-variant", reason, "scheduler");
    json_t *last =
        json_array_get(json_object_get(plan, "log"),
                       json_array_size(json_object_get(plan, "log")) - 1);
    json_object_set_new(last, "variant", json_string(name));
    if (detail && detail[0])
        json_object_set_new(last, "detail", json_string(detail));
    if (st == VX_OK)
        st = save_plan(c, plan);
    json_t *data = json_pack("{ss ss ss}", "reason", reason, "variant", name,
                             "detail", detail ? detail : "");
    if (report)
        json_object_set_new(data, "statistics", report);
    if (st == VX_OK)
        st = audit_plan(c, plan, "release-plan-variant-rolled-back", data);
    else
        json_decref(data);
    return st;
}

/* Appends the webhook call of `event` to `hooks` (one per URL). */
static void queue_hooks(const json_t *plan, json_t *hooks, const char *event,
                        const json_t *report, const char *variant,
                        const char *detail)
{
    const json_t *urls =
        json_object_get(json_object_get(plan, "plan"), "webhooks");
    size_t i;
    const json_t *u;
    json_array_foreach (urls, i, u) {
        json_t *body =
            json_pack("{ss sO sO sO sO sI sO}", "event", event, "project",
                      json_object_get(plan, "project"), "feature",
                      json_object_get(plan, "feature"), "environment",
                      json_object_get(plan, "environment"), "state",
                      json_object_get(plan, "state"), "percent",
                      (json_int_t)current_percent(plan), "statistics",
                      report ? report : json_null());
        if (variant)
            json_object_set_new(body, "variant", json_string(variant));
        if (detail && detail[0])
            json_object_set_new(body, "detail", json_string(detail));
        json_array_append_new(hooks,
                              json_pack("{sO so}", "url", u, "body", body));
    }
}

/* One scheduler step for one plan, inside the caller's transaction.
 * Appends webhook calls to `hooks`. */
static vx_status tick_plan(svc_ctx *c, json_t *plan, json_t *hooks)
{
    plan_view *v = vx__calloc(1, sizeof(*v));
    guard_decision *d = vx__calloc(1, sizeof(*d));
    json_t *norm = NULL, *report = NULL;
    char detail[400] = "";
    vx_status st = v && d ? VX_OK : VX_ENOMEM;
    if (st == VX_OK)
        st =
            parse_plan(c, json_object_get(plan, "plan"), &v->plan, &norm, true);
    bool quantile = false;
    for (size_t i = 0; st == VX_OK && i < v->plan.n_metrics; i++)
        quantile |= v->plan.metrics[i].kind == GUARD_METRIC_LATENCY_QUANTILE;
    if (st == VX_OK)
        st = aggregate(c, plan, quantile, v);
    if (st != VX_OK)
        goto out;
    const json_t *cur = current_milestone(plan);
    if (json_object_get(cur, "segments") ||
        json_object_get(cur, "constraints")) {
        /* An audience stage: its share of the traffic is not known, so
         * there is no expected split to check. */
        v->state.stage_control = 0;
        v->state.stage_treatment = 0;
    }
    v->state.milestone =
        (size_t)json_integer_value(json_object_get(plan, "milestone"));
    v->state.milestone_started =
        json_integer_value(json_object_get(plan, "milestoneStartedMs")) / 1000;
    v->state.approved = json_is_true(json_object_get(plan, "approved"));
    st = guard_plan_decide(&v->plan, &v->state, c->now_ms / 1000, d, c->err);
    if (st != VX_OK)
        goto out;
    char *buf = vx__malloc(GUARD_REPORT_MAX);
    size_t len = 0;
    if (buf &&
        guard_decision_json(&v->plan, d, buf, GUARD_REPORT_MAX, &len) == VX_OK)
        report = json_loadb(buf, len, 0, NULL);
    vx__free(buf);
    decision_detail(&v->plan, d, detail, sizeof(detail));
    json_t *last = json_pack("{so sO so so}", "at", svc__time_json(c->now_ms),
                             "decision", report ? report : json_null(),
                             "control", counts_json(&v->state.control),
                             "treatment", counts_json(&v->state.treatment));
    if (detail[0])
        json_object_set_new(last, "detail", json_string(detail));
    json_object_set_new(plan, "last", last);
    const char *event = NULL, *variant = NULL;
    const char *vrb = json_string_value(
        json_object_get(json_object_get(plan, "plan"), "variantRollback"));
    size_t active = 0;
    for (size_t a = 0; a < v->state.n_arms; a++)
        active += !v->arms[a].retired;
    switch (d->action) {
    case GUARD_HOLD:
        if (is_state(plan, "held") && !d->insufficient) {
            /* the evidence came: back to running (time may still hold) */
            json_object_set_new(plan, "state", json_string("running"));
            json_object_del(plan, "holdReason");
            log_entry(c, plan, "resume", "the evidence came in", "scheduler");
        }
        st = save_plan(c, plan);
        break;
    case GUARD_STALL:
        if (!is_state(plan, "held")) {
            char why[600];
            snprintf(why, sizeof(why), "%s%s%s", d->reason,
                     detail[0] ? ": " : "", detail);
            json_object_set_new(plan, "state", json_string("held"));
            json_object_set_new(plan, "holdReason", json_string(why));
            log_entry(c, plan, "hold", d->reason, "scheduler");
            if (detail[0])
                json_object_set_new(
                    json_array_get(
                        json_object_get(plan, "log"),
                        json_array_size(json_object_get(plan, "log")) - 1),
                    "detail", json_string(detail));
            st = audit_plan(c, plan, "release-plan-held",
                            json_pack("{ss ss sO}", "reason", d->reason,
                                      "detail", detail, "statistics",
                                      report ? report : json_null()));
            event = "release-plan-held";
        }
        if (st == VX_OK)
            st = save_plan(c, plan);
        break;
    case GUARD_WAIT_APPROVAL:
        if (!is_state(plan, "waiting-approval")) {
            json_object_set_new(plan, "state", json_string("waiting-approval"));
            json_object_del(plan, "holdReason");
            log_entry(c, plan, "wait-approval", d->reason, "scheduler");
            st = audit_plan(
                c, plan, "release-plan-waiting-approval",
                json_pack("{sO}", "statistics", report ? report : json_null()));
            event = "release-plan-waiting-approval";
        }
        if (st == VX_OK)
            st = save_plan(c, plan);
        break;
    case GUARD_PAUSE_SRM:
        json_object_set_new(plan, "state", json_string("paused"));
        json_object_set_new(plan, "pauseReason",
                            json_string("sample-ratio mismatch"));
        log_entry(c, plan, "pause", d->reason, "scheduler");
        st = save_plan(c, plan);
        if (st == VX_OK)
            st = audit_plan(c, plan, "release-plan-paused",
                            json_pack("{ss sO}", "reason", d->reason,
                                      "statistics",
                                      report ? report : json_null()));
        event = "release-plan-paused";
        break;
    case GUARD_ROLLBACK:
        if (!d->insufficient && active > 1 && d->culprit_arm < d->n_arms &&
            d->arm_names[d->culprit_arm] &&
            !(vrb && strcmp(vrb, "rollout") == 0)) {
            variant = d->arm_names[d->culprit_arm];
            st = rollback_variant(c, plan, variant, d->reason, detail,
                                  json_incref(report));
            event = "release-plan-variant-rolled-back";
            break;
        }
        if (d->culprit_arm < d->n_arms)
            variant = d->arm_names[d->culprit_arm];
        st = do_rollback(c, plan, d->reason, json_incref(report), detail);
        event = "release-plan-rolled-back";
        break;
    case GUARD_ADVANCE:
    case GUARD_COMPLETE:
        json_object_del(plan, "holdReason");
        st = do_advance(c, plan, d->reason, json_incref(report));
        event = is_state(plan, "completed") ? "release-plan-completed"
                                            : "release-plan-advanced";
        break;
    }
    if (st == VX_OK && event)
        queue_hooks(plan, hooks, event, report, variant, detail);
out:
    json_decref(report);
    json_decref(norm);
    view_free(v);
    vx__free(d);
    return st;
}

/* ---- scheduled changes ----------------------------------------------------
 */

/* POST .../scheduled-changes {at, action: enable|disable|rollout, percent} */
vx_status svc__op_SCHEDULE_CREATE(svc_ctx *c, json_t **out)
{
    const json_t *b = c->req->body;
    json_t *f = NULL, *env = NULL;
    vx_status st = svc__get(c, STORE_ENVIRONMENT, c->req->environment, &env);
    json_decref(env);
    if (st == VX_ENOTFOUND)
        st = svc__not_found(c, "environment", c->req->environment);
    if (st == VX_OK)
        st = svc__feature_load(c, c->req->project, c->req->feature, false, &f);
    json_decref(f);
    if (st == VX_OK)
        st = svc__expect_object(c, b, "");
    int64_t at = 0;
    const json_t *jat = json_object_get(b, "at");
    if (st == VX_OK &&
        (!json_is_string(jat) ||
         !vx_time_parse(json_string_value(jat), json_string_length(jat), &at)))
        st = svc__fail(c, VX_EINVAL, "/at",
                       "at must be an RFC 3339 time such as "
                       "2026-12-01T09:00:00Z");
    static const char *const acts[] = {"enable", "disable", "rollout"};
    int act = -1;
    if (st == VX_OK && !json_object_get(b, "action"))
        st = svc__fail(c, VX_EINVAL, "/action", "action is required");
    if (st == VX_OK)
        st = opt_enum(c, b, "action", "/action", acts, 3, -1, &act);
    json_int_t pct = -1;
    if (st == VX_OK && act == 2) {
        const json_t *p = json_object_get(b, "percent");
        if (!json_is_integer(p) || json_integer_value(p) < 0 ||
            json_integer_value(p) > 100)
            st = svc__fail(c, VX_EINVAL, "/percent",
                           "percent must be a whole number from 0 to 100");
        else
            pct = json_integer_value(p);
    }
    static const char *const reps[] = {"none", "daily", "weekdays"};
    int rep = 0;
    if (st == VX_OK)
        st = opt_enum(c, b, "repeat", "/repeat", reps, 3, 0, &rep);
    int64_t n = 0;
    if (st == VX_OK)
        st = c->s->ops->doc_count(c->s->st, STORE_SCHEDULE, &n, c->err);
    if (st == VX_OK && n >= VX_LIMIT_SCHEDULES)
        st = svc__fail(c, VX_ELIMIT, "", "at most %d pending scheduled changes",
                       VX_LIMIT_SCHEDULES);
    if (st != VX_OK)
        return st;
    char id[37];
    svc__uuid(id);
    json_t *doc = json_pack("{ss ss ss ss so sI ss ss}", "id", id, "project",
                            c->req->project, "feature", c->req->feature,
                            "environment", c->req->environment, "at",
                            svc__time_json(at), "atMs", (json_int_t)at,
                            "action", acts[act], "createdBy", c->who->name);
    if (pct >= 0)
        json_object_set_new(doc, "percent", json_integer(pct));
    if (rep > 0)
        json_object_set_new(doc, "repeat", json_string(reps[rep]));
    st = svc__put(c, STORE_SCHEDULE, id, c->req->feature, doc);
    if (st == VX_OK)
        st = svc__audit(c, "scheduled-change-created", c->req->project,
                        c->req->environment, c->req->feature, doc, NULL);
    if (st == VX_OK)
        *out = json_incref(doc);
    json_decref(doc);
    return st;
}

vx_status svc__op_SCHEDULE_LIST(svc_ctx *c, json_t **out)
{
    json_t *f = NULL, *all = NULL;
    vx_status st =
        svc__feature_load(c, c->req->project, c->req->feature, false, &f);
    json_decref(f);
    if (st == VX_OK)
        st = svc__list(c, STORE_SCHEDULE, c->req->feature, &all);
    if (st != VX_OK)
        return st;
    json_t *keep = json_array();
    size_t i;
    json_t *d;
    json_array_foreach (all, i, d) {
        if (strcmp(json_string_value(json_object_get(d, "environment")),
                   c->req->environment) == 0)
            json_array_append(keep, d);
    }
    json_decref(all);
    *out = json_pack("{so}", "scheduledChanges", keep);
    return VX_OK;
}

vx_status svc__op_SCHEDULE_DELETE(svc_ctx *c, json_t **out)
{
    json_t *d = NULL;
    vx_status st = svc__get(c, STORE_SCHEDULE, c->req->id, &d);
    if (st == VX_OK &&
        (strcmp(json_string_value(json_object_get(d, "feature")),
                c->req->feature) != 0 ||
         strcmp(json_string_value(json_object_get(d, "environment")),
                c->req->environment) != 0))
        st = VX_ENOTFOUND;
    if (st == VX_ENOTFOUND)
        st = svc__not_found(c, "scheduled change", c->req->id);
    if (st == VX_OK)
        st = svc__del(c, STORE_SCHEDULE, c->req->id);
    if (st == VX_OK)
        st = svc__audit(c, "scheduled-change-deleted", c->req->project,
                        c->req->environment, c->req->feature, d, NULL);
    if (st == VX_OK)
        *out = json_object();
    json_decref(d);
    return st;
}

/* Runs one due scheduled change (audited) and forgets it. */
static vx_status run_schedule(svc_ctx *c, const json_t *d)
{
    const char *action = json_string_value(json_object_get(d, "action"));
    svc_req r = {.project = json_string_value(json_object_get(d, "project")),
                 .feature = json_string_value(json_object_get(d, "feature")),
                 .environment =
                     json_string_value(json_object_get(d, "environment"))};
    svc_ctx c2 = *c;
    c2.req = &r;
    json_t *out = NULL;
    vx_status st;
    if (strcmp(action, "enable") == 0) {
        st = svc__op_ENV_ON(&c2, &out);
    } else if (strcmp(action, "disable") == 0) {
        st = svc__op_ENV_OFF(&c2, &out);
    } else {
        json_t *pseudo =
            json_pack("{ss ss ss}", "project", r.project, "feature", r.feature,
                      "environment", r.environment);
        st = set_rollout(&c2, pseudo,
                         (int)json_integer_value(json_object_get(d, "percent")),
                         true, NULL);
        json_decref(pseudo);
    }
    json_decref(out);
    if (st == VX_OK)
        st = svc__audit(c, "scheduled-change-applied", r.project, r.environment,
                        r.feature, d, NULL);
    const char *rep = json_string_value(json_object_get(d, "repeat"));
    if (st != VX_OK)
        return st;
    if (!rep)
        return svc__del(c, STORE_SCHEDULE,
                        json_string_value(json_object_get(d, "id")));
    /* A recurring change (a window such as business hours is two of them)
     * moves to its next occurrence after now, at the same time of day. */
    int64_t next = json_integer_value(json_object_get(d, "atMs"));
    bool weekdays = strcmp(rep, "weekdays") == 0;
    for (int guard = 0; guard < 4000; guard++) {
        next += 86400000LL;
        time_t secs = (time_t)(next / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        if (next > c->now_ms &&
            !(weekdays && (tm.tm_wday == 0 || tm.tm_wday == 6)))
            break;
    }
    json_t *upd = json_deep_copy(d);
    json_object_set_new(upd, "atMs", json_integer(next));
    json_object_set_new(upd, "at", svc__time_json(next));
    st = svc__put(c, STORE_SCHEDULE,
                  json_string_value(json_object_get(d, "id")), r.feature, upd);
    json_decref(upd);
    return st;
}

/* ---- the tick --------------------------------------------------------------
 */

/* Takes or renews the scheduler lease for `owner`. */
static vx_status take_lease(svc_ctx *c, const char *owner, int64_t lease_ms,
                            bool *leader)
{
    json_t *l = NULL;
    *leader = false;
    vx_status st = svc__get(c, STORE_LEASE, "scheduler", &l);
    if (st == VX_ENOTFOUND)
        st = VX_OK;
    if (st != VX_OK)
        return st;
    const char *holder = json_string_value(json_object_get(l, "owner"));
    int64_t exp = json_integer_value(json_object_get(l, "expiresMs"));
    if (!l || !holder || strcmp(holder, owner) == 0 || exp < c->now_ms) {
        json_t *doc = json_pack("{ss sI sI}", "owner", owner, "expiresMs",
                                (json_int_t)(c->now_ms + lease_ms), "renewedMs",
                                (json_int_t)c->now_ms);
        st = doc ? svc__put(c, STORE_LEASE, "scheduler", NULL, doc) : VX_ENOMEM;
        json_decref(doc);
        *leader = st == VX_OK;
    }
    json_decref(l);
    return st;
}

/* One step of the scheduler in its own transaction, as the scheduler. */
static vx_status txn(service *s, int64_t now, vx_error *err, unsigned changes,
                     svc_unit_fn fn, void *ud)
{
    return svc__run(s, &SCHEDULER, NULL, now, changes, err, fn, ud);
}

typedef struct lease_arg {
    const char *owner; /* who asks for the lease */
    int64_t lease_ms;  /* how long it holds without renewal */
    bool leader;       /* out: whether `owner` holds it */
    json_t *plans;     /* keys of live plans */
    json_t *schedules; /* due scheduled changes */
} lease_arg;

static vx_status lease_step(svc_ctx *c, void *ud)
{
    lease_arg *a = ud;
    vx_status st = take_lease(c, a->owner, a->lease_ms, &a->leader);
    if (st != VX_OK || !a->leader)
        return st;
    json_t *all = NULL;
    st = svc__list(c, STORE_PLAN, NULL, &all);
    size_t i;
    json_t *p;
    json_array_foreach (all, i, p) {
        if (!is_live(p))
            continue;
        char key[600];
        plan_key(json_string_value(json_object_get(p, "environment")),
                 json_string_value(json_object_get(p, "feature")), key,
                 sizeof(key));
        json_array_append_new(a->plans, json_string(key));
    }
    json_decref(all);
    all = NULL;
    if (st == VX_OK)
        st = svc__list(c, STORE_SCHEDULE, NULL, &all);
    json_array_foreach (all, i, p) {
        if (json_integer_value(json_object_get(p, "atMs")) <= c->now_ms)
            json_array_append(a->schedules, p);
    }
    json_decref(all);
    return st;
}

typedef struct plan_arg {
    const char *key; /* the plan's key, env|flag */
    json_t *hooks;   /* webhook calls are appended here */
    const char *why; /* plan_fail_step: what the failed tick said, or NULL */
} plan_arg;

/* A live plan's flag must still be there, not archived: else the tick
 * fails (and the plan is paused, plan_fail_step) at once, not only when the
 * next step tries to change the flag, which may be hours away. */
static vx_status flag_live(svc_ctx *c, const json_t *plan)
{
    const char *name = json_string_value(json_object_get(plan, "feature"));
    json_t *f = NULL;
    vx_status st = svc__get(c, STORE_FEATURE, name ? name : "", &f);
    if (st == VX_OK && json_is_true(json_object_get(f, "archived")))
        st = svc__fail(c, VX_ECONFLICT, "", "flag '%s' is archived", name);
    else if (st == VX_ENOTFOUND)
        st = svc__fail(c, VX_ENOTFOUND, "", "flag '%s' no longer exists",
                       name ? name : "");
    json_decref(f);
    return st;
}

static vx_status plan_step(svc_ctx *c, void *ud)
{
    plan_arg *a = ud;
    json_t *plan = NULL;
    vx_status st = svc__get(c, STORE_PLAN, a->key, &plan);
    if (st == VX_ENOTFOUND)
        return VX_OK; /* deleted meanwhile */
    if (st == VX_OK && is_live(plan))
        st = flag_live(c, plan);
    if (st == VX_OK && is_live(plan))
        st = tick_plan(c, plan, a->hooks);
    json_decref(plan);
    return st;
}

/* A plan whose tick fails (its flag archived, its strategy gone ...) is
 * paused with the reason, so it does not fail every few seconds. */
static vx_status plan_fail_step(svc_ctx *c, void *ud)
{
    plan_arg *a = ud;
    json_t *plan = NULL;
    vx_status st = svc__get(c, STORE_PLAN, a->key, &plan);
    if (st != VX_OK)
        return st == VX_ENOTFOUND ? VX_OK : st;
    /* The reason says what went wrong: "the scheduler could not apply the
     * plan: flag 'x' is archived". */
    char reason[sizeof(((vx_error *)0)->message) + 64];
    snprintf(reason, sizeof(reason),
             "the scheduler could not apply the plan%s%s",
             a->why && *a->why ? ": " : "", a->why ? a->why : "");
    json_object_set_new(plan, "state", json_string("paused"));
    json_object_set_new(plan, "pauseReason", json_string(reason));
    log_entry(c, plan, "pause", reason, "scheduler");
    st = save_plan(c, plan);
    if (st == VX_OK)
        st = audit_plan(c, plan, "release-plan-paused",
                        json_pack("{ss}", "reason", reason));
    json_decref(plan);
    return st;
}

static vx_status schedule_step(svc_ctx *c, void *ud)
{
    json_t *d = NULL;
    const json_t *want = ud;
    vx_status st = svc__get(c, STORE_SCHEDULE,
                            json_string_value(json_object_get(want, "id")), &d);
    if (st == VX_ENOTFOUND)
        return VX_OK;
    if (st == VX_OK)
        st = run_schedule(c, d);
    json_decref(d);
    return st;
}

static vx_status schedule_drop_step(svc_ctx *c, void *ud)
{
    const json_t *d = ud;
    vx_status st = svc__del(c, STORE_SCHEDULE,
                            json_string_value(json_object_get(d, "id")));
    if (st == VX_ENOTFOUND)
        return VX_OK;
    if (st == VX_OK)
        st = svc__audit(c, "scheduled-change-failed",
                        json_string_value(json_object_get(d, "project")),
                        json_string_value(json_object_get(d, "environment")),
                        json_string_value(json_object_get(d, "feature")), d,
                        NULL);
    return st;
}

static vx_status compact_step(svc_ctx *c, void *ud)
{
    (void)ud;
    vx_status st = svc__impact_compact(c);
    if (st == VX_OK)
        c->s->impact_compacted_ms = c->now_ms;
    return st;
}

vx_status svc_scheduler_tick(service *s, const char *owner, int64_t now_ms,
                             int64_t lease_ms, bool *leader, json_t **hooks,
                             vx_error *err)
{
    lease_arg la = {owner, lease_ms, false, json_array(), json_array()};
    *hooks = json_array();
    *leader = false;
    /* The exposures SDKs reported before this tick count in its decisions
     * (they wait in memory until flushed; reports.c). */
    if (svc__reports_pending(s) && svc_ready(s) == VX_OK) {
        vx_error fe;
        memset(&fe, 0, sizeof(fe));
        (void)svc_usage_flush(s, &fe);
    }
    vx_status st = txn(s, now_ms, err, SVC_CHANGE_RECORDS, lease_step, &la);
    *leader = la.leader;
    size_t i;
    json_t *k;
    json_array_foreach (la.plans, i, k) {
        if (st != VX_OK)
            break;
        vx_error e2;
        memset(&e2, 0, sizeof(e2));
        plan_arg pa = {json_string_value(k), *hooks, NULL};
        vx_status ps = txn(s, now_ms, &e2, SVC_CHANGE_SDK, plan_step, &pa);
        if (ps != VX_OK && ps != VX_EIO) {
            vx__logf(s->log, s->log_ud, "warn",
                     "release plan %s paused: %s%s%s", json_string_value(k),
                     e2.message, e2.path[0] ? " at " : "", e2.path);
            char why[sizeof(e2.message)];
            snprintf(why, sizeof(why), "%s", e2.message);
            plan_arg fa = {json_string_value(k), NULL, why};
            ps = txn(s, now_ms, &e2, SVC_CHANGE_SDK, plan_fail_step, &fa);
        }
        if (ps == VX_EIO)
            st = ps, *err = e2;
    }
    json_array_foreach (la.schedules, i, k) {
        if (st != VX_OK)
            break;
        vx_error e2;
        memset(&e2, 0, sizeof(e2));
        vx_status ss = txn(s, now_ms, &e2, SVC_CHANGE_SDK, schedule_step, k);
        if (ss != VX_OK && ss != VX_EIO)
            ss = txn(s, now_ms, &e2, SVC_CHANGE_SDK, schedule_drop_step, k);
        if (ss == VX_EIO)
            st = ss, *err = e2;
    }
    svc__lock(s);
    bool compact = s->impact_compacted_ms < now_ms - 3600000;
    svc__unlock(s);
    if (st == VX_OK && *leader && compact)
        st = txn(s, now_ms, err, SVC_CHANGE_RECORDS, compact_step, NULL);
    json_decref(la.plans);
    json_decref(la.schedules);
    return st;
}

static vx_status release_step(svc_ctx *c, void *ud)
{
    json_t *l = NULL;
    vx_status st = svc__get(c, STORE_LEASE, "scheduler", &l);
    if (st == VX_ENOTFOUND)
        return VX_OK;
    const char *holder = json_string_value(json_object_get(l, "owner"));
    if (st == VX_OK && holder && strcmp(holder, (const char *)ud) == 0)
        st = svc__del(c, STORE_LEASE, "scheduler");
    json_decref(l);
    return st;
}

vx_status svc_scheduler_release(service *s, const char *owner, vx_error *err)
{
    return txn(s, vx__wall_ms(), err, SVC_CHANGE_RECORDS, release_step,
               (void *)owner);
}

/* ---- flag hygiene -----------------------------------------------------------
 */

static long query_days(svc_ctx *c, const char *key, long dflt, vx_status *st)
{
    const char *q = json_string_value(json_object_get(c->req->query, key));
    if (!q || *st != VX_OK)
        return dflt;
    char *end = NULL;
    long v = strtol(q, &end, 10);
    if (!*q || *end || v < 0 || v > 3650) {
        char path[64];
        snprintf(path, sizeof(path), "/query/%s", key);
        *st =
            svc__fail(c, VX_EINVAL, path,
                      "%s must be a whole number of days from 0 to 3650", key);
    }
    return v;
}

/* When the flag's strategies in `env` last changed (the newest event that
 * names it there), ms; 0 when unknown. */
static vx_status last_change(svc_ctx *c, const char *flag, const char *env,
                             int64_t *ms)
{
    store_event_filter f = {.feature = flag, .environment = env, .limit = 1};
    json_t *evs = NULL;
    int64_t total = 0;
    *ms = 0;
    vx_status st = c->s->ops->event_query(c->s->st, &f, &evs, &total, c->err);
    if (st != VX_OK)
        return st;
    const char *at =
        json_string_value(json_object_get(json_array_get(evs, 0), "createdAt"));
    if (at)
        vx_time_parse(at, strlen(at), ms);
    json_decref(evs);
    return VX_OK;
}

/* Whether `fenv` serves the flag to everyone: on, with a flexibleRollout
 * at 100 % without constraints or segments. */
static bool fully_on(const json_t *fenv)
{
    if (!json_is_true(json_object_get(fenv, "enabled")))
        return false;
    size_t i;
    const json_t *s;
    json_array_foreach (json_object_get(fenv, "strategies"), i, s) {
        const char *r = json_string_value(
            json_object_get(json_object_get(s, "parameters"), "rollout"));
        if ((strcmp(json_string_value(json_object_get(s, "name")), "default") ==
                 0 ||
             (r && strcmp(r, "100") == 0)) &&
            json_array_size(json_object_get(s, "constraints")) == 0 &&
            json_array_size(json_object_get(s, "segments")) == 0 &&
            !json_is_true(json_object_get(s, "disabled")))
            return true;
    }
    return false;
}

/* GET /api/admin/stale-report?fullDays=N&unseenDays=M */
vx_status svc__op_STALE_REPORT(svc_ctx *c, json_t **out)
{
    vx_status st = VX_OK;
    long full_days = query_days(c, "fullDays", 7, &st);
    long unseen_days = query_days(c, "unseenDays", 30, &st);
    json_t *flags = NULL, *types = NULL;
    if (st == VX_OK)
        st = svc__list(c, STORE_FEATURE, NULL, &flags);
    if (st == VX_OK)
        st = svc__list(c, STORE_FEATURE_TYPE, NULL, &types);
    json_t *rows = json_array();
    size_t i;
    json_t *f;
    json_array_foreach (flags, i, f) {
        if (st != VX_OK)
            break;
        if (json_is_true(json_object_get(f, "archived")))
            continue;
        const char *name = json_string_value(json_object_get(f, "name"));
        json_t *reasons = json_array();
        int64_t created = 0, seen = 0;
        const char *ca = json_string_value(json_object_get(f, "createdAt"));
        const char *sa = json_string_value(json_object_get(f, "lastSeenAt"));
        if (ca)
            vx_time_parse(ca, strlen(ca), &created);
        if (sa)
            vx_time_parse(sa, strlen(sa), &seen);
        const char *type = json_string_value(json_object_get(f, "type"));
        size_t k;
        json_t *t;
        json_array_foreach (types, k, t) {
            const char *id = json_string_value(json_object_get(t, "id"));
            const json_t *life = json_object_get(t, "lifetimeDays");
            if (type && id && strcmp(id, type) == 0 && json_is_integer(life) &&
                json_integer_value(life) > 0 && created > 0 &&
                c->now_ms - created > json_integer_value(life) * 86400000LL)
                json_array_append_new(
                    reasons,
                    json_pack("{ss sI}", "reason", "past-type-lifetime",
                              "lifetimeDays", json_integer_value(life)));
        }
        if (json_is_true(json_object_get(f, "stale")))
            json_array_append_new(reasons,
                                  json_pack("{ss}", "reason", "marked-stale"));
        int64_t since = seen ? seen : created;
        if (since > 0 && c->now_ms - since > unseen_days * 86400000LL)
            json_array_append_new(
                reasons,
                json_pack("{ss so}", "reason", "not-evaluated", "lastSeenAt",
                          sa ? json_string(sa) : json_null()));
        const json_t *envs = json_object_get(f, "environments");
        json_t *e;
        json_array_foreach (envs, k, e) {
            if (st != VX_OK || !fully_on(e))
                continue;
            const char *en = json_string_value(json_object_get(e, "name"));
            int64_t changed = 0;
            st = last_change(c, name, en, &changed);
            if (changed == 0)
                changed = created;
            if (st == VX_OK && changed > 0 &&
                c->now_ms - changed > full_days * 86400000LL)
                json_array_append_new(
                    reasons, json_pack("{ss ss so}", "reason",
                                       "fully-rolled-out", "environment", en,
                                       "since", svc__time_json(changed)));
        }
        if (json_array_size(reasons) > 0)
            json_array_append_new(
                rows,
                json_pack("{sO sO sO so}", "name", json_object_get(f, "name"),
                          "project", json_object_get(f, "project"), "type",
                          json_object_get(f, "type"), "reasons", reasons));
        else
            json_decref(reasons);
    }
    json_decref(flags);
    json_decref(types);
    if (st != VX_OK) {
        json_decref(rows);
        return st;
    }
    *out = json_pack("{s{si si} so}", "criteria", "fullDays", (int)full_days,
                     "unseenDays", (int)unseen_days, "flags", rows);
    return VX_OK;
}
