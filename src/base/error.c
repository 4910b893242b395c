/* vx_error filling: bounded snprintf into the caller's fixed buffers. */
#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

vx_status vx__error_set(vx_error *err, vx_status code, const char *path,
                        const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    err->line = 0;
    err->column = 0;
    snprintf(err->path, sizeof(err->path), "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}
