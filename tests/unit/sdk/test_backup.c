/* Unit tests for the SDK's backup file (src/sdk/backup.c): a round trip,
 * replacing an existing backup, no temporary file left behind, a failed
 * write leaving the previous backup intact, and the read errors (missing
 * file, too large, not a regular file) with their statuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/alloc.h"
#include "sdk/backup.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vx-backup-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_round_trip_and_replace(void **state)
{
    (void)state;
    char path[128], tmp[140];
    snprintf(path, sizeof(path), "%s/b.json", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    vx_error err;
    assert_int_equal(sdk_backup_write(path, "{\"a\":1}", 7, &err), VX_OK);
    assert_int_equal(sdk_backup_write(path, "{\"b\":22}", 8, &err), VX_OK);
    assert_int_not_equal(access(tmp, F_OK), 0); /* renamed away */
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(sdk_backup_read(path, 1024, &buf, &len, &err), VX_OK);
    assert_int_equal(len, 8);
    assert_string_equal(buf, "{\"b\":22}");
    vx__free(buf);
    /* Larger than the reader accepts. */
    assert_int_equal(sdk_backup_read(path, 7, &buf, &len, &err), VX_ELIMIT);
    assert_null(buf);
}

static void test_failed_write_keeps_the_old_backup(void **state)
{
    (void)state;
    char path[128], sub[128];
    snprintf(path, sizeof(path), "%s/keep.json", dir);
    vx_error err;
    assert_int_equal(sdk_backup_write(path, "old", 3, &err), VX_OK);
    /* The temporary file cannot be created: a directory is in its way. */
    snprintf(sub, sizeof(sub), "%s.tmp", path);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(sdk_backup_write(path, "new", 3, &err), VX_EIO);
    assert_non_null(strstr(err.message, "keep.json.tmp"));
    rmdir(sub);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(sdk_backup_read(path, 64, &buf, &len, &err), VX_OK);
    assert_string_equal(buf, "old");
    vx__free(buf);
    /* A directory that does not exist. */
    snprintf(path, sizeof(path), "%s/none/b.json", dir);
    assert_int_equal(sdk_backup_write(path, "x", 1, &err), VX_EIO);
}

static void test_read_errors(void **state)
{
    (void)state;
    char path[128];
    char *buf = NULL;
    size_t len = 0;
    vx_error err;
    snprintf(path, sizeof(path), "%s/missing.json", dir);
    assert_int_equal(sdk_backup_read(path, 64, &buf, &len, &err), VX_ENOTFOUND);
    assert_int_equal(sdk_backup_read(dir, 64, &buf, &len, &err), VX_EIO);
    assert_null(buf);
    /* Out of memory while reading. */
    snprintf(path, sizeof(path), "%s/m.json", dir);
    assert_int_equal(sdk_backup_write(path, "{}", 2, &err), VX_OK);
    vx__alloc_set_budget(0);
    vx_status st = sdk_backup_read(path, 64, &buf, &len, &err);
    vx__alloc_set_budget(SIZE_MAX);
    assert_int_equal(st, VX_ENOMEM);
    assert_null(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_replace),
        cmocka_unit_test(test_failed_write_keeps_the_old_backup),
        cmocka_unit_test(test_read_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
