/* The logging hook (log.h): one bounded formatting step shared by every
 * module that logs. Invariant: never allocates, never prints. */
#include "base/log.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "base/limits.h"

void vx__logf(vx_log_fn fn, void *ud, const char *level, const char *fmt, ...)
{
    if (!fn)
        return;
    char line[VX_LIMIT_LOG_LINE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fn(ud, level, line);
}
