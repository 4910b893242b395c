/* Helpers to fill a caller-owned vx_error (which may be NULL). */
#ifndef VX_BASE_ERROR_H
#define VX_BASE_ERROR_H

#include "vexil/status.h"

/* Sets code, path and a printf-style message; returns `code` so callers can
 * write `return vx__error_set(err, VX_ESCHEMA, path, "...")`. */
vx_status vx__error_set(vx_error *err, vx_status code, const char *path,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
