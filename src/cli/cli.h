/* The `vexil` command: shared helpers for its subcommands. */
#ifndef VX_CLI_CLI_H
#define VX_CLI_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "vexil/vexil.h"

/* Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad input. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2 };

/* Reads a whole file ("-" = standard input) into a malloc'd buffer with a
 * trailing NUL. Returns NULL and prints the reason on failure. */
char *cli_read_file(const char *path, size_t *len);

/* Prints "vexil: FILE:LINE:COLUMN: PATH: MESSAGE" for a vx_error. */
void cli_print_error(const char *file, const vx_error *err);

/* Writes `s` as a JSON string literal (with quotes). */
void cli_json_string(FILE *out, const char *s, size_t len);

int cli_eval_main(int argc, char **argv);

/* simulate.c: the rollout guard over synthetic traffic. */
int cli_simulate_main(int argc, char **argv);

/* serve.c: the server and its offline helpers. */
int cli_serve_main(int argc, char **argv);
int cli_migrate_main(int argc, char **argv);
int cli_admin_token_main(int argc, char **argv);
/* Raises the open-file limit to fit `*conns` connections, or lowers
 * `*conns` to what fits (a warning says so). */
void cli_fit_open_files(unsigned long long *conns);

/* util.c: what `serve` and `edge` read from their settings, and how they
 * wait for SIGINT/SIGTERM. */
/* The setting `name`, whose value `val` came from `where` (a flag, an
 * environment variable, a config file line): a whole number from lo to hi
 * (with `sizes`, a k/K or m/M suffix scales it by 1024 or 1024²), or
 * on/true/yes/1 or off/false/no/0 in any case. False after one stderr line
 * naming all three and what is allowed. */
bool cli_setting_uint(const char *where, const char *name, const char *val,
                      unsigned long long lo, unsigned long long hi, bool sizes,
                      unsigned long long *out);
bool cli_setting_bool(const char *where, const char *name, const char *val,
                      bool *out);
/* Blocks SIGINT and SIGTERM (before the worker threads exist, so they
 * inherit the mask and only the calling thread takes them), ignores
 * SIGPIPE and SIGXFSZ (a file size limit must fail the write, not kill the
 * process), then waits for a stop signal and restores the mask. */
typedef struct cli_stop {
    sigset_t old; /* the mask before cli_stop_begin */
    bool blocked; /* cli_stop_begin ran: cli_stop_end restores `old` */
} cli_stop;
void cli_stop_begin(cli_stop *s);
void cli_stop_wait(const cli_stop *s);
void cli_stop_end(cli_stop *s);

/* edge.c: `vexil edge`, the SDK relay. */
int cli_edge_main(int argc, char **argv);

#endif
