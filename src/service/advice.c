/* What the advisor needs from the service: the admin API's own strategy
 * validation (so a proposal is checked exactly as a strategy POST would
 * be, with no second copy of the rules) and the audit record of each
 * recommendation. Neither changes a flag.
 *
 * Invariant: both hold the service mutex only for the store work; no model
 * call ever happens under it (the advisor calls these before and after). */
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "service/internal.h"

static const svc_principal ADVISOR = {.token_id = 0,
                                      .kind = SVC_KIND_ADMIN,
                                      .role = SVC_ROLE_VIEWER,
                                      .name = "advisor",
                                      .environment = "*",
                                      .projects = "*"};

vx_status svc_strategy_check(service *s, const json_t *strategy,
                             const char *flag, json_t **out, vx_error *err)
{
    svc_req req = {0};
    svc_ctx c = {s, &ADVISOR, &req, err, vx__wall_ms()};
    *out = NULL;
    svc__lock(s);
    vx_status st = svc__norm_strategy(&c, strategy, "/strategy", flag, out);
    svc__unlock(s);
    return st;
}

/* Appends the event `ud` (a store_event) inside svc__run. */
static vx_status append_unit(svc_ctx *c, void *ud)
{
    return c->s->ops->event_append(c->s->st, ud, c->err);
}

vx_status svc_record_advice(service *s, const svc_principal *who,
                            const char *project, const char *environment,
                            const json_t *data, int64_t *event_id,
                            vx_error *err)
{
    *event_id = 0;
    if (who->kind != SVC_KIND_ADMIN || who->role < SVC_ROLE_VIEWER)
        return vx__error_set(err, VX_EFORBIDDEN, "",
                             "invalid token: expected an admin token for this "
                             "endpoint");
    store_event ev = {
        .type = "advisor-recommendation",
        .created_by = who->name,
        .project = project,
        .environment = environment,
        .feature = json_string_value(json_object_get(data, "flag")),
        .data = data,
        .created_ms = vx__wall_ms(),
    };
    vx_status st = svc__run(s, who, NULL, ev.created_ms, SVC_CHANGE_RECORDS,
                            err, append_unit, &ev);
    if (st == VX_OK)
        *event_id = ev.id;
    return st;
}
