/* Flag evaluation with the Unleash Node SDK's semantics (unleash-client 6),
 * which the client-specification vectors pin down; docs/semantics.md lists
 * every place where the SDKs disagree and which side Vexil takes.
 *
 * Invariant: nothing here allocates, locks, reads the clock or does I/O.
 * Strings built for hashing are hashed incrementally instead of joined. */
#include <math.h>
#include <string.h>

#include "core/hash.h"
#include "core/model.h"
#include "core/textutil.h"

static const char DISABLED[] = "disabled";

/* norm = murmur3("group:" + id) % n + 1, from the precomputed prefix. */
static inline uint64_t normalized(const vx__hstate *pre, vx_str id, uint64_t n)
{
    vx__hstate hs = *pre;
    vx__hash_feed(&hs, id.ptr, id.len);
    return vx__hash_final(&hs) % n + 1;
}

/* ---- context access --------------------------------------------------- */

static inline bool present(vx_str s)
{
    return s.ptr != NULL;
}

static inline bool truthy(vx_str s)
{
    return s.ptr != NULL && s.len > 0;
}

/* The property named f->name. Tags are compared first, so the scan takes
 * no data-dependent branch until the property itself. */
static vx_str prop(const vx_context *c, const vx__fieldref *f)
{
    for (size_t i = 0; i < c->nprops; i++) {
        const vx_prop *p = &c->props[i];
        if (p->key.len == f->name.len &&
            vx__tagged_eq(f->tag, f->name.ptr, f->name.len,
                          vx__str_tag(p->key.ptr, p->key.len), p->key.ptr,
                          p->key.len) &&
            present(p->value))
            return p->value;
    }
    return (vx_str){NULL, 0};
}

/* The SDK's resolveContextValue: the top-level field, else properties. */
static vx_str resolve(const vx_context *c, const vx__fieldref *f)
{
    vx_str v = {NULL, 0};
    switch (f->kind) {
    case VX__F_USER_ID: v = c->user_id; break;
    case VX__F_SESSION_ID: v = c->session_id; break;
    case VX__F_REMOTE_ADDRESS: v = c->remote_address; break;
    case VX__F_ENVIRONMENT: v = c->environment; break;
    case VX__F_APP_NAME: v = c->app_name; break;
    case VX__F_CURRENT_TIME: v = c->current_time; break;
    case VX__F_PROPERTY: break;
    }
    return present(v) ? v : prop(c, f);
}

static uint32_t draw(const vx_context *c)
{
    return c->random ? c->random(c->random_ud) : 0;
}

/* Decimal text of `v` into `buf` (at least 11 bytes). */
static vx_str utoa(uint32_t v, char *buf)
{
    char tmp[11];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return (vx_str){buf, n};
}

/* ---- constraints ------------------------------------------------------ */

static bool list_has(const vx_str *vals, uint32_t n, vx_str v)
{
    for (uint32_t i = 0; i < n; i++) {
        if (vx__str_eq(vals[i].ptr, vals[i].len, v.ptr, v.len))
            return true;
    }
    return false;
}

/* list_has over a constraint's values, comparing their tags first: the
 * values themselves are read only for a candidate of 8 bytes or more. */
static bool tagged_has(const vx__constraint *k, vx_str v)
{
    uint64_t tag = vx__str_tag(v.ptr, v.len);
    for (uint32_t i = 0; i < k->nvalues; i++) {
        if (vx__tagged_eq(tag, v.ptr, v.len, k->tags[i], k->values[i].ptr,
                          k->values[i].len))
            return true;
    }
    return false;
}

static bool op_string(const vx__constraint *k, vx_str v)
{
    for (uint32_t i = 0; i < k->nvalues; i++) {
        vx_str x = k->values[i];
        bool hit = false;
        switch (k->op) {
        case VX__OP_STR_STARTS_WITH:
            hit = vx__ascii_starts_with(v.ptr, v.len, x.ptr, x.len, k->ci);
            break;
        case VX__OP_STR_ENDS_WITH:
            hit = vx__ascii_ends_with(v.ptr, v.len, x.ptr, x.len, k->ci);
            break;
        default:
            hit = vx__ascii_contains(v.ptr, v.len, x.ptr, x.len, k->ci);
            break;
        }
        if (hit)
            return true;
    }
    return false;
}

static bool op_number(const vx__constraint *k, vx_str v)
{
    if (!present(v) || isnan(k->num))
        return false;
    double x = vx__js_number(v.ptr, v.len);
    if (isnan(x))
        return false;
    switch (k->op) {
    case VX__OP_NUM_EQ: return x == k->num;
    case VX__OP_NUM_GT: return x > k->num;
    case VX__OP_NUM_GTE: return x >= k->num;
    case VX__OP_NUM_LT: return x < k->num;
    default: return x <= k->num;
    }
}

static bool op_semver(const vx__constraint *k, vx_str v)
{
    vx__semver sv;
    if (!truthy(v) || v.ptr[0] == 'v' || !k->value_ok ||
        !vx__semver_parse(v.ptr, v.len, &sv))
        return false;
    int c = vx__semver_cmp(&sv, k->semver);
    switch (k->op) {
    case VX__OP_SEMVER_EQ: return c == 0;
    case VX__OP_SEMVER_GT: return c > 0;
    case VX__OP_SEMVER_LT: return c < 0;
    case VX__OP_SEMVER_GTE: return c >= 0;
    default: return c <= 0;
    }
}

static bool op_cidr(const vx__constraint *k, vx_str v)
{
    vx__ip addr;
    if (!present(v) || !vx__ip_parse(v.ptr, v.len, &addr))
        return false;
    for (uint32_t i = 0; i < k->nips; i++) {
        if (vx__ip_in_range(&addr, &k->ips[i]))
            return true;
    }
    return false;
}

static bool op_eval(const vx__constraint *k, vx_scratch *sc,
                    const vx_context *c)
{
    vx_str v = resolve(c, &k->field);
    switch (k->op) {
    case VX__OP_IN: return present(v) && tagged_has(k, v);
    case VX__OP_NOT_IN: return !(present(v) && tagged_has(k, v));
    case VX__OP_STR_CONTAINS:
    case VX__OP_STR_STARTS_WITH:
    case VX__OP_STR_ENDS_WITH: return present(v) && op_string(k, v);
    case VX__OP_NUM_EQ:
    case VX__OP_NUM_GT:
    case VX__OP_NUM_GTE:
    case VX__OP_NUM_LT:
    case VX__OP_NUM_LTE: return op_number(k, v);
    case VX__OP_DATE_AFTER:
        return k->value_ok && c->now_ms != VX_TIME_INVALID &&
               c->now_ms > k->date_ms;
    case VX__OP_DATE_BEFORE:
        return k->value_ok && c->now_ms != VX_TIME_INVALID &&
               c->now_ms < k->date_ms;
    case VX__OP_SEMVER_EQ:
    case VX__OP_SEMVER_GT:
    case VX__OP_SEMVER_LT:
    case VX__OP_SEMVER_GTE:
    case VX__OP_SEMVER_LTE: return op_semver(k, v);
    case VX__OP_REGEX:
        return present(v) && k->re && vx__regex_search(k->re, sc, v.ptr, v.len);
    case VX__OP_IN_CIDR: return op_cidr(k, v);
    case VX__OP_UNKNOWN: break;
    }
    return false;
}

static bool constraint_ok(const vx__constraint *k, vx_scratch *sc,
                          const vx_context *c)
{
    if (k->op == VX__OP_UNKNOWN)
        return false; /* false whatever `inverted` says */
    return op_eval(k, sc, c) != k->inverted;
}

static bool all_ok(const vx__constraint *ks, uint32_t n, vx_scratch *sc,
                   const vx_context *c)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!constraint_ok(&ks[i], sc, c))
            return false;
    }
    return true;
}

/* ---- strategies ------------------------------------------------------- */

static bool in_rollout(double pct, const vx__hstate *pre, vx_str id)
{
    return pct > 0 && (double)normalized(pre, id, 100) <= pct;
}

static bool flexible(const vx__strategy *st, const vx_context *c)
{
    char buf[12];
    vx_str id;
    if (st->stick == VX__STICK_DEFAULT) {
        if (truthy(c->user_id))
            id = c->user_id;
        else if (truthy(c->session_id))
            id = c->session_id;
        else
            id = utoa(draw(c) % 10001 + 1, buf);
    } else if (st->stick == VX__STICK_RANDOM) {
        id = utoa(draw(c) % 10001 + 1, buf);
    } else {
        id = resolve(c, &st->stick_field);
        if (!truthy(id))
            return false;
    }
    return in_rollout(st->percentage, &st->group_pre, id);
}

static bool remote_address(const vx__strategy *st, const vx_context *c)
{
    vx__ip addr;
    bool addr_ok =
        present(c->remote_address) &&
        vx__ip_parse(c->remote_address.ptr, c->remote_address.len, &addr);
    for (uint32_t i = 0; i < st->nlist; i++) {
        vx_str e = st->list[i];
        if (present(c->remote_address) &&
            vx__str_eq(e.ptr, e.len, c->remote_address.ptr,
                       c->remote_address.len))
            return true;
        if (addr_ok && st->ip_ok[i] && vx__ip_in_range(&addr, &st->ips[i]))
            return true;
    }
    return false;
}

static bool hostname_listed(const vx__strategy *st, const vx_context *c)
{
    if (!present(c->hostname))
        return false;
    for (uint32_t i = 0; i < st->nlist; i++) {
        vx_str e = st->list[i];
        if (e.len == c->hostname.len &&
            vx__ascii_starts_with(c->hostname.ptr, c->hostname.len, e.ptr,
                                  e.len, true))
            return true;
    }
    return false;
}

static bool strategy_on(const vx_snapshot *s, const vx__strategy *st,
                        vx_scratch *sc, const vx_context *c)
{
    if (st->kind == VX__S_UNKNOWN)
        return false;
    if (!all_ok(st->constraints, st->nconstraints, sc, c))
        return false;
    for (uint32_t i = 0; i < st->nsegments; i++) {
        const vx__segment *seg = vx__snapshot_segment(s, st->segments[i]);
        if (!seg || !all_ok(seg->constraints, seg->nconstraints, sc, c))
            return false;
    }
    switch (st->kind) {
    case VX__S_DEFAULT: return true;
    case VX__S_FLEXIBLE_ROLLOUT: return flexible(st, c);
    case VX__S_USER_WITH_ID:
        return present(c->user_id) && list_has(st->list, st->nlist, c->user_id);
    case VX__S_REMOTE_ADDRESS: return remote_address(st, c);
    case VX__S_APPLICATION_HOSTNAME: return hostname_listed(st, c);
    case VX__S_GRADUAL_USER_ID:
        return truthy(c->user_id) &&
               in_rollout(st->percentage, &st->group_pre, c->user_id);
    case VX__S_GRADUAL_SESSION_ID:
        return truthy(c->session_id) &&
               in_rollout(st->percentage, &st->group_pre, c->session_id);
    case VX__S_GRADUAL_RANDOM:
        return st->percentage >= (double)(draw(c) % 100 + 1);
    case VX__S_UNKNOWN: break;
    }
    return false;
}

/* ---- variants --------------------------------------------------------- */

static const vx__variant *pick(const vx__variants *vs, const vx_context *c)
{
    if (vs->total == 0)
        return NULL;
    if (vs->has_overrides) {
        for (uint32_t i = 0; i < vs->n; i++) {
            const vx__variant *v = &vs->v[i];
            for (uint32_t j = 0; j < v->noverrides; j++) {
                vx_str cv = resolve(c, &v->overrides[j].field);
                if (present(cv) && list_has(v->overrides[j].values,
                                            v->overrides[j].nvalues, cv))
                    return v;
            }
        }
    }
    char buf[12];
    vx_str seed = {NULL, 0};
    if (vs->stick == VX__STICK_DEFAULT) {
        if (truthy(c->user_id))
            seed = c->user_id;
        else if (truthy(c->session_id))
            seed = c->session_id;
        else if (truthy(c->remote_address))
            seed = c->remote_address;
    } else {
        seed = resolve(c, &vs->stick_field);
    }
    if (!truthy(seed))
        seed = utoa(draw(c) % 100001, buf);
    /* The first variant whose running weight reaches the target: as
     * cum[] never decreases, that is the count of sums below it (never
     * a weight-0 variant, whose sum equals the one before). */
    uint64_t target = normalized(&vs->group_pre, seed, vs->total);
    uint32_t i = 0;
    for (uint32_t j = 0; j < vs->n; j++)
        i += vs->cum[j] < target;
    return i < vs->n ? &vs->v[i] : NULL;
}

/* ---- flags ------------------------------------------------------------ */

static bool flag_on(const vx_snapshot *s, const vx__flag *f, vx_scratch *sc,
                    const vx_context *c, const vx__strategy **winner);

static void variant_of(const vx_snapshot *s, const vx__flag *f, vx_scratch *sc,
                       const vx_context *c, vx_variant *out);

static bool parents_ok(const vx_snapshot *s, const vx__flag *f, vx_scratch *sc,
                       const vx_context *c)
{
    for (uint32_t i = 0; i < f->ndeps; i++) {
        const vx__dependency *d = &f->deps[i];
        const vx__flag *p =
            vx__snapshot_find(s, d->feature.ptr, d->feature.len);
        if (!p || p->ndeps > 0)
            return false; /* missing parent, or more than one level */
        bool ok;
        if (!d->enabled) {
            ok = !flag_on(s, p, sc, c, NULL);
        } else if (d->nvariants > 0) {
            vx_variant pv;
            variant_of(s, p, sc, c, &pv);
            ok = pv.feature_enabled &&
                 list_has(d->variants, d->nvariants, pv.name);
        } else {
            ok = flag_on(s, p, sc, c, NULL);
        }
        if (!ok)
            return false;
    }
    return true;
}

static bool flag_on(const vx_snapshot *s, const vx__flag *f, vx_scratch *sc,
                    const vx_context *c, const vx__strategy **winner)
{
    if (winner)
        *winner = NULL;
    if (!parents_ok(s, f, sc, c) || !f->enabled)
        return false;
    if (f->nstrategies == 0)
        return true;
    for (uint32_t i = 0; i < f->nstrategies; i++) {
        if (strategy_on(s, &f->strategies[i], sc, c)) {
            if (winner)
                *winner = &f->strategies[i];
            return true;
        }
    }
    return false;
}

static void set_disabled(vx_variant *out, bool feature_enabled)
{
    out->name = (vx_str){DISABLED, sizeof(DISABLED) - 1};
    out->enabled = false;
    out->feature_enabled = feature_enabled;
    out->payload_type = (vx_str){NULL, 0};
    out->payload_value = (vx_str){NULL, 0};
}

static void set_variant(vx_variant *out, const vx__variant *v)
{
    out->name = v->name;
    out->enabled = true;
    out->feature_enabled = true;
    out->payload_type = v->payload_type;
    out->payload_value = v->payload_value;
}

static void variant_of(const vx_snapshot *s, const vx__flag *f, vx_scratch *sc,
                       const vx_context *c, vx_variant *out)
{
    const vx__strategy *winner;
    if (!flag_on(s, f, sc, c, &winner)) {
        set_disabled(out, false);
        return;
    }
    if (winner && winner->variants.n > 0) {
        const vx__variant *v = pick(&winner->variants, c);
        if (v) {
            set_variant(out, v);
            return;
        }
    }
    const vx__variant *v = f->variants.n ? pick(&f->variants, c) : NULL;
    if (v)
        set_variant(out, v);
    else
        set_disabled(out, true);
}

static const vx__flag *flag_at(const vx_snapshot *s, size_t i)
{
    return i < s->nflags ? s->flags[i] : NULL;
}

VX_API bool vx_is_enabled_at(const vx_snapshot *s, vx_scratch *sc, size_t i,
                             const vx_context *ctx)
{
    const vx__flag *f = flag_at(s, i);
    return f && flag_on(s, f, sc, ctx, NULL);
}

VX_API void vx_get_variant_at(const vx_snapshot *s, vx_scratch *sc, size_t i,
                              const vx_context *ctx, vx_variant *out)
{
    const vx__flag *f = flag_at(s, i);
    if (f)
        variant_of(s, f, sc, ctx, out);
    else
        set_disabled(out, false);
}

VX_API bool vx_is_enabled(const vx_snapshot *s, vx_scratch *sc,
                          const char *name, size_t len, const vx_context *ctx)
{
    const vx__flag *f = vx__snapshot_find(s, name, len);
    return f && flag_on(s, f, sc, ctx, NULL);
}

VX_API void vx_get_variant(const vx_snapshot *s, vx_scratch *sc,
                           const char *name, size_t len, const vx_context *ctx,
                           vx_variant *out)
{
    const vx__flag *f = vx__snapshot_find(s, name, len);
    if (f)
        variant_of(s, f, sc, ctx, out);
    else
        set_disabled(out, false);
}

VX_API bool vx_evaluate_at(const vx_snapshot *s, vx_scratch *sc, size_t i,
                           const vx_context *ctx, vx_variant *out)
{
    vx_get_variant_at(s, sc, i, ctx, out);
    return out->feature_enabled;
}

VX_API bool vx_evaluate(const vx_snapshot *s, vx_scratch *sc, const char *name,
                        size_t len, const vx_context *ctx, vx_variant *out)
{
    vx_get_variant(s, sc, name, len, ctx, out);
    return out->feature_enabled;
}

/* ---- explanation --------------------------------------------------------- */

VX_API bool vx_explain(const vx_snapshot *s, vx_scratch *sc, const char *name,
                       size_t len, const vx_context *ctx,
                       const vx_explain_ops *ops)
{
    const vx__flag *f = vx__snapshot_find(s, name, len);
    if (!f)
        return false;
    for (uint32_t i = 0; i < f->nstrategies; i++) {
        const vx__strategy *st = &f->strategies[i];
        bool all = true;
        for (uint32_t j = 0; j < st->nconstraints; j++) {
            bool r = constraint_ok(&st->constraints[j], sc, ctx);
            all = all && r;
            if (ops->constraint)
                ops->constraint(ops->ud, i, j, r);
        }
        for (uint32_t j = 0; j < st->nsegments; j++) {
            const vx__segment *seg = vx__snapshot_segment(s, st->segments[j]);
            bool r =
                seg && all_ok(seg->constraints, seg->nconstraints, sc, ctx);
            all = all && r;
            if (ops->segment)
                ops->segment(ops->ud, i, st->segments[j], r);
        }
        bool on = all && strategy_on(s, st, sc, ctx);
        if (ops->strategy)
            ops->strategy(ops->ud, i, on);
    }
    return true;
}

/* ---- one strategy's reason ---------------------------------------------- */

static const char STICK_USER[] = "userId";
static const char STICK_SESSION[] = "sessionId";
static const char STICK_RANDOM[] = "random";

static vx_str lit(const char *s, size_t n)
{
    return (vx_str){s, n};
}

/* The id a rollout hashes and the name of its field, as flexible() and the
 * gradual strategies choose them; false when the context lacks it. */
static bool rollout_id(const vx__strategy *st, const vx_context *c,
                       char buf[12], vx_str *id, vx_str *field)
{
    vx__stick stick = st->stick;
    if (st->kind == VX__S_GRADUAL_USER_ID ||
        st->kind == VX__S_GRADUAL_SESSION_ID) {
        bool user = st->kind == VX__S_GRADUAL_USER_ID;
        *field = user ? lit(STICK_USER, sizeof(STICK_USER) - 1)
                      : lit(STICK_SESSION, sizeof(STICK_SESSION) - 1);
        *id = user ? c->user_id : c->session_id;
        return truthy(*id);
    }
    if (stick == VX__STICK_DEFAULT && truthy(c->user_id)) {
        *field = lit(STICK_USER, sizeof(STICK_USER) - 1);
        *id = c->user_id;
    } else if (stick == VX__STICK_DEFAULT && truthy(c->session_id)) {
        *field = lit(STICK_SESSION, sizeof(STICK_SESSION) - 1);
        *id = c->session_id;
    } else if (stick != VX__STICK_FIELD) {
        *field = lit(STICK_RANDOM, sizeof(STICK_RANDOM) - 1);
        *id = utoa(draw(c) % 10001 + 1, buf);
    } else {
        *field = st->stick_field.name;
        *id = resolve(c, &st->stick_field);
        return truthy(*id);
    }
    return true;
}

/* The strategy's own rule (after constraints and segments held). */
static void rule_reason(const vx__strategy *st, const vx_context *c,
                        vx_strategy_reason *r)
{
    char buf[12];
    vx_str id, field;
    bool on = false;
    switch (st->kind) {
    case VX__S_DEFAULT: on = true; break;
    case VX__S_FLEXIBLE_ROLLOUT:
    case VX__S_GRADUAL_USER_ID:
    case VX__S_GRADUAL_SESSION_ID:
        r->percentage = st->percentage;
        if (!rollout_id(st, c, buf, &id, &field)) {
            r->stickiness = field;
            r->kind = VX_REASON_NO_STICKINESS;
            return;
        }
        r->stickiness = field;
        r->bucket = (uint32_t)normalized(&st->group_pre, id, 100);
        on = in_rollout(st->percentage, &st->group_pre, id);
        if (!on) {
            r->kind = VX_REASON_OUTSIDE_ROLLOUT;
            return;
        }
        break;
    case VX__S_GRADUAL_RANDOM:
        r->percentage = st->percentage;
        r->stickiness = lit(STICK_RANDOM, sizeof(STICK_RANDOM) - 1);
        r->bucket = draw(c) % 100 + 1;
        on = st->percentage >= (double)r->bucket;
        if (!on) {
            r->kind = VX_REASON_OUTSIDE_ROLLOUT;
            return;
        }
        break;
    case VX__S_USER_WITH_ID:
        on = present(c->user_id) && list_has(st->list, st->nlist, c->user_id);
        break;
    case VX__S_REMOTE_ADDRESS: on = remote_address(st, c); break;
    case VX__S_APPLICATION_HOSTNAME: on = hostname_listed(st, c); break;
    case VX__S_UNKNOWN: r->kind = VX_REASON_UNKNOWN_STRATEGY; return;
    }
    r->kind = on ? VX_REASON_MATCH : VX_REASON_NOT_LISTED;
}

VX_API bool vx_explain_strategy(const vx_snapshot *s, vx_scratch *sc,
                                const char *name, size_t len, size_t strategy,
                                const vx_context *ctx, vx_strategy_reason *out)
{
    const vx__flag *f = vx__snapshot_find(s, name, len);
    if (!f || strategy >= f->nstrategies)
        return false;
    const vx__strategy *st = &f->strategies[strategy];
    vx_strategy_reason r = {.kind = VX_REASON_MATCH,
                            .index = 0,
                            .percentage = -1,
                            .bucket = 0,
                            .stickiness = {NULL, 0}};
    if (st->kind == VX__S_UNKNOWN) {
        r.kind = VX_REASON_UNKNOWN_STRATEGY;
        *out = r;
        return true;
    }
    for (uint32_t j = 0; j < st->nconstraints; j++) {
        if (!constraint_ok(&st->constraints[j], sc, ctx)) {
            r.kind = VX_REASON_CONSTRAINT;
            r.index = (int64_t)j;
            *out = r;
            return true;
        }
    }
    for (uint32_t j = 0; j < st->nsegments; j++) {
        const vx__segment *seg = vx__snapshot_segment(s, st->segments[j]);
        if (!seg || !all_ok(seg->constraints, seg->nconstraints, sc, ctx)) {
            r.kind = VX_REASON_SEGMENT;
            r.index = st->segments[j];
            *out = r;
            return true;
        }
    }
    rule_reason(st, ctx, &r);
    *out = r;
    return true;
}
