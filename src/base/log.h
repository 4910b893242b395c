/* The logging hook: modules never print, they hand one formatted line to a
 * callback the embedder supplied (STYLE rule 10).
 *
 * Invariant: a line is formatted into a bounded stack buffer (truncated past
 * VX_LIMIT_LOG_LINE - 1 bytes) and nothing is formatted when no callback is
 * set. */
#ifndef VX_BASE_LOG_H
#define VX_BASE_LOG_H

/* Receives one log line. `level` is "debug", "info", "warn" or "error";
 * `level` and `msg` are borrowed for the call only. */
typedef void (*vx_log_fn)(void *ud, const char *level, const char *msg);

/* Formats `fmt` and passes the line to `fn(ud, level, line)`; does nothing
 * when `fn` is NULL. Thread-safe as far as `fn` is. */
void vx__logf(vx_log_fn fn, void *ud, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
