/* The Unleash side of `vexil import` (unleash.c): reading a running
 * Unleash and sending its documents to POST /api/admin/import/unleash,
 * a dry run first. Not thread-safe (one cli_http each). */
#ifndef VX_CLI_CLIENT_UNLEASH_H
#define VX_CLI_CLIENT_UNLEASH_H

#include <stdbool.h>

#include <jansson.h>

#include "common.h"

/* True when `doc` looks like an Unleash feature export
 * (`/api/admin/features-batch/export`) rather than a Vexil export. */
bool cli_unleash_is_export(const json_t *doc);

/* Sends the import document `doc` (changed: "dryRun" is set) to the Vexil
 * server of `h`: a dry run, whose plan and problems are printed; then,
 * unless a->dry_run or there were problems, the import. Returns the exit
 * status (1 when there were problems). */
int cli_unleash_import(cli_http *h, const cli_args *a, json_t *doc);

/* Reads the Unleash at a->from_unleash with `token` (its admin token; the
 * secrets of its API tokens are dropped here) and imports it as above. */
int cli_unleash_import_url(cli_http *h, const cli_args *a, const char *token);

#endif
