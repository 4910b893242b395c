/* Entry points of the `vexil` commands that talk to a running Vexil server
 * over its admin HTTP API (docs/admin-api.md). Each takes the arguments
 * from the command group on (argv[0] is "flags", "tokens", "events",
 * "export" or "import") and returns the exit status: 0 success, 1 HTTP
 * error or unreachable server, 2 bad usage or no API token.
 *
 * Preconditions: main calls curl_global_init(CURL_GLOBAL_DEFAULT) once,
 * before the first of these, and curl_global_cleanup() after the last;
 * these functions never call either. Not thread-safe (getopt state). */
#ifndef VX_CLI_CLIENT_CLIENT_H
#define VX_CLI_CLIENT_CLIENT_H

/* vexil flags list|get|create|enable|disable|rollout|archive|archived|
 * revive|delete|stale ... */
int cli_flags_main(int argc, char **argv);

/* vexil plans list|show|start|delete|pause|resume|skip|approve|rollback */
int cli_plans_main(int argc, char **argv);

/* vexil tokens create|list|revoke ... */
int cli_tokens_main(int argc, char **argv);

/* vexil events [--feature F] [--type T] [--project P] [--limit N] */
int cli_events_main(int argc, char **argv);

/* vexil advise targeting "<sentence>" | changelog [--from T] [--to T] */
int cli_advise_main(int argc, char **argv);

/* vexil export [--output FILE]: the whole state as pretty JSON. */
int cli_export_main(int argc, char **argv);

/* vexil import FILE ('-' = standard input) into a server with no flags. */
int cli_import_main(int argc, char **argv);

#endif
