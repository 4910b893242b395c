/* Backup file I/O (backup.h). Invariant: `path` always holds a complete
 * document or does not exist; partial writes only ever touch
 * "<path>.tmp". */
#include "sdk/backup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/error.h"

vx_status sdk_backup_write(const char *path, const char *buf, size_t len,
                           vx_error *err)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return vx__error_set(err, VX_EINVAL, "", "backup path too long");
    vx_status st = VX_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return vx__error_set(err, VX_EIO, "", "cannot create %s: %s", tmp,
                             strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            st = vx__error_set(err, VX_EIO, "", "cannot write %s: %s", tmp,
                               strerror(errno));
            goto out;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        st = vx__error_set(err, VX_EIO, "", "cannot sync %s: %s", tmp,
                           strerror(errno));
        goto out;
    }
out:
    if (close(fd) != 0 && st == VX_OK)
        st = vx__error_set(err, VX_EIO, "", "cannot close %s: %s", tmp,
                           strerror(errno));
    if (st == VX_OK && rename(tmp, path) != 0)
        st = vx__error_set(err, VX_EIO, "", "cannot rename %s to %s: %s", tmp,
                           path, strerror(errno));
    if (st != VX_OK)
        unlink(tmp);
    return st;
}

vx_status sdk_backup_read(const char *path, size_t max, char **out, size_t *len,
                          vx_error *err)
{
    *out = NULL;
    *len = 0;
    char *buf = NULL;
    vx_status st = VX_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return vx__error_set(err, VX_ENOTFOUND, "", "no backup file %s",
                                 path);
        return vx__error_set(err, VX_EIO, "", "cannot open %s: %s", path,
                             strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = vx__error_set(err, VX_EIO, "", "%s is not a regular file", path);
        goto out;
    }
    if ((uint64_t)sb.st_size > max) {
        st = vx__error_set(err, VX_ELIMIT, "", "%s is larger than %zu bytes",
                           path, max);
        goto out;
    }
    size_t size = (size_t)sb.st_size;
    buf = vx__malloc(size + 1);
    if (!buf) {
        st = vx__error_set(err, VX_ENOMEM, "", "out of memory");
        goto out;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            st = vx__error_set(err, VX_EIO, "", "cannot read %s: %s", path,
                               r < 0 ? strerror(errno) : "file shrank");
            goto out;
        }
        got += (size_t)r;
    }
    buf[size] = '\0';
    *out = buf;
    *len = size;
    buf = NULL;
out:
    vx__free(buf);
    close(fd);
    return st;
}
