/* The flag-data limits table of limits.h as data: names, units and the one
 * wording of "over the limit" that libvexil's loader and the service's
 * validation share, so a refusal reads the same wherever it comes from. */
#include "base/limits.h"

#include <stdio.h>

typedef struct limit_row {
    const char *name; /* "regex_bytes" */
    size_t value;     /* the limit */
    const char *unit; /* "bytes" */
    const char *what; /* "a REGEX pattern" */
} limit_row;

static const limit_row ROWS[VX_FL_COUNT] = {
#define ROW(id, name, value, unit, what)                                       \
    [VX_FL_##id] = {name, (size_t)(value), unit, what},
    VX_FLAG_LIMITS(ROW)
#undef ROW
};
static_assert(sizeof(ROWS) / sizeof(ROWS[0]) == VX_FL_COUNT,
              "one row per limit");

size_t vx__limit_value(vx_flag_limit id)
{
    return id < VX_FL_COUNT ? ROWS[id].value : 0;
}

const char *vx__limit_unit(vx_flag_limit id)
{
    return id < VX_FL_COUNT ? ROWS[id].unit : "";
}

const char *vx__limit_name(vx_flag_limit id)
{
    return id < VX_FL_COUNT ? ROWS[id].name : "unknown";
}

void vx__limit_message(char *buf, size_t cap, vx_flag_limit id, size_t got)
{
    if (!buf || cap == 0)
        return;
    if (id >= VX_FL_COUNT) {
        snprintf(buf, cap, "over a limit");
        return;
    }
    const limit_row *r = &ROWS[id];
    int w = snprintf(buf, cap, "at most %zu%s%s in %s (limit %s)", r->value,
                     *r->unit ? " " : "", r->unit, r->what, r->name);
    if (got && w > 0 && (size_t)w < cap)
        snprintf(buf + w, cap - (size_t)w, ", got %zu", got);
}
