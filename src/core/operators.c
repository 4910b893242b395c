/* Operator metadata and value checks, for writers that must refuse a
 * constraint the evaluator would silently treat as false. */
#include <math.h>
#include <string.h>

#include "core/ip.h"
#include "core/regex.h"
#include "core/semver.h"
#include "core/textutil.h"
#include "vexil/vexil.h"

static const char *const LIST_OPS[] = {
    "IN",      "NOT_IN", "STR_CONTAINS", "STR_STARTS_WITH", "STR_ENDS_WITH",
    "IN_CIDR",
};
static const char *const VALUE_OPS[] = {
    "NUM_EQ",     "NUM_GT",      "NUM_GTE",   "NUM_LT",    "NUM_LTE",
    "DATE_AFTER", "DATE_BEFORE", "SEMVER_EQ", "SEMVER_GT", "SEMVER_LT",
    "SEMVER_GTE", "SEMVER_LTE",  "REGEX",
};

static bool in(const char *const *set, size_t n, const char *op, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (vx__str_eq(op, len, set[i], strlen(set[i])))
            return true;
    }
    return false;
}

VX_API bool vx_operator_takes_list(const char *op, size_t len)
{
    return in(LIST_OPS, sizeof(LIST_OPS) / sizeof(LIST_OPS[0]), op, len);
}

VX_API bool vx_operator_known(const char *op, size_t len)
{
    return vx_operator_takes_list(op, len) ||
           in(VALUE_OPS, sizeof(VALUE_OPS) / sizeof(VALUE_OPS[0]), op, len);
}

VX_API bool vx_operator_value_ok(const char *op, size_t oplen,
                                 const char *value, size_t len)
{
    if (oplen > 4 && memcmp(op, "NUM_", 4) == 0) {
        size_t tl;
        vx__js_trim(value, len, &tl);
        return tl > 0 && !isnan(vx__js_number(value, len));
    }
    if (oplen > 5 && memcmp(op, "DATE_", 5) == 0) {
        int64_t ms;
        return vx_time_parse(value, len, &ms);
    }
    if (oplen > 7 && memcmp(op, "SEMVER_", 7) == 0) {
        vx__semver sv;
        return len > 0 && value[0] != 'v' && vx__semver_parse(value, len, &sv);
    }
    if (vx__str_eq(op, oplen, "REGEX", 5)) {
        bool oom;
        vx__regex *re = vx__regex_compile(value, len, false, &oom);
        vx__regex_free(re);
        return re != NULL;
    }
    if (vx__str_eq(op, oplen, "IN_CIDR", 7)) {
        vx__ip ip;
        return vx__ip_parse(value, len, &ip);
    }
    return true;
}
