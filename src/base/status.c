/* The status message table, generated from VX_STATUS_MAP so that codes,
 * names and messages cannot drift apart. */
#include "vexil/status.h"

#include <stddef.h>

VX_API const char *vx_status_str(vx_status st)
{
    switch (st) {
#define VX__CASE(name, value, msg)                                             \
    case VX_##name: return msg;
        VX_STATUS_MAP(VX__CASE)
#undef VX__CASE
    }
    return "unknown status";
}

VX_API const char *vx_status_name(vx_status st)
{
    switch (st) {
#define VX__CASE(name, value, msg)                                             \
    case VX_##name: return "VX_" #name;
        VX_STATUS_MAP(VX__CASE)
#undef VX__CASE
    }
    return "VX_UNKNOWN";
}
