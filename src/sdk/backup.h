/* The SDK's backup file: the last good flags document, written atomically
 * (a temporary file in the same directory, fsync, rename) so that a crash
 * mid-write leaves the previous backup intact, and read back at start when
 * the server cannot be reached. */
#ifndef VX_SDK_BACKUP_H
#define VX_SDK_BACKUP_H

#include <stddef.h>

#include "vexil/status.h"

/* Replaces `path` with `buf[0..len)`. VX_EIO with the reason in err. */
vx_status sdk_backup_write(const char *path, const char *buf, size_t len,
                           vx_error *err);

/* Reads `path` (at most `max` bytes, else VX_ELIMIT) into a new buffer
 * (*out, NUL-terminated, free with vx__free). VX_ENOTFOUND when the file
 * does not exist, VX_EIO on other failures, VX_ENOMEM. */
vx_status sdk_backup_read(const char *path, size_t max, char **out, size_t *len,
                          vx_error *err);

#endif
