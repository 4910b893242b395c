/* Vexil status codes and the caller-owned error record.
 *
 * Every fallible vx_ function returns a vx_status (VX_OK == 0). Details go
 * into an optional caller-owned vx_error: nothing is allocated on the error
 * path, so reporting works even when memory has run out. */
#ifndef VEXIL_STATUS_H
#define VEXIL_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "vexil/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The single list of status codes: X(NAME, value, message). */
#define VX_STATUS_MAP(X)                                                       \
    X(OK, 0, "success")                                                        \
    X(ENOMEM, 1, "out of memory")                                              \
    X(EINVAL, 2, "invalid argument")                                           \
    X(EPARSE, 3, "malformed JSON")                                             \
    X(ESCHEMA, 4, "document does not match the expected schema")               \
    X(ELIMIT, 5, "a limit was exceeded")                                       \
    X(ENOTFOUND, 6, "not found")                                               \
    X(EIO, 7, "input/output error")                                            \
    X(ECONFLICT, 8, "conflicts with the current state")                        \
    X(EAUTH, 9, "missing or invalid credentials")                              \
    X(EFORBIDDEN, 10, "not allowed for these credentials")                     \
    X(EUNSUPPORTED, 11, "unsupported media type")                              \
    X(EUNAVAILABLE, 12, "temporarily unavailable")

typedef enum vx_status {
#define VX__STATUS_ENUM(name, value, msg) VX_##name = value,
    VX_STATUS_MAP(VX__STATUS_ENUM)
#undef VX__STATUS_ENUM
} vx_status;

/* Human-readable message for a status ("out of memory"). Never NULL. */
VX_API const char *vx_status_str(vx_status st);

/* Symbolic name of a status ("VX_ENOMEM"). Never NULL. */
VX_API const char *vx_status_name(vx_status st);

#define VX_ERROR_PATH_MAX 256
#define VX_ERROR_MSG_MAX  256

/* Detailed error, filled by functions that take a `vx_error *` (which may be
 * NULL when the caller only wants the status). `path` is a JSON pointer to
 * the offending value ("/features/3/strategies/0/parameters/rollout");
 * `line` and `column` locate it in the input text (1-based, 0 = unknown). */
typedef struct vx_error {
    vx_status code;               /* same as the returned status */
    uint32_t line;                /* 1-based line in the input, 0 if unknown */
    uint32_t column;              /* 1-based column (bytes), 0 if unknown */
    char path[VX_ERROR_PATH_MAX]; /* JSON pointer, "" for the document */
    char message[VX_ERROR_MSG_MAX]; /* one sentence, no trailing period */
} vx_error;

#ifdef __cplusplus
}
#endif
#endif
