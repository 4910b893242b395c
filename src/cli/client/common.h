/* What the `vexil` client commands share: one option parser driven by a
 * table of commands (so every command accepts the same common options and
 * rejects options that do not apply to it), aligned tables for people, and
 * small readers for the server's JSON. Exit codes are cli.h's: 0 ok,
 * 1 failure (HTTP error, unreachable server), 2 bad usage. */
#ifndef VX_CLI_CLIENT_COMMON_H
#define VX_CLI_CLIENT_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "http.h"

#define CLI_DEFAULT_SERVER  "http://127.0.0.1:4242"
#define CLI_DEFAULT_PROJECT "default"
#define CLI_MAX_PROJECTS    64    /* --project options on one command line */
#define CLI_MAX_LIMIT       10000 /* largest --limit */

/* Options a command may accept; a command lists them in `allowed` and the
 * ones it cannot do without in `required`. */
enum {
    CLI_O_PROJECT = 1u << 0,        /* --project P */
    CLI_O_TYPE = 1u << 1,           /* --type T */
    CLI_O_DESCRIPTION = 1u << 2,    /* --description D */
    CLI_O_ENV = 1u << 3,            /* --env ENV */
    CLI_O_PERCENT = 1u << 4,        /* --percent N */
    CLI_O_STICKINESS = 1u << 5,     /* --stickiness S */
    CLI_O_NAME = 1u << 6,           /* --name N */
    CLI_O_ROLE = 1u << 7,           /* --role R */
    CLI_O_FEATURE = 1u << 8,        /* --feature F */
    CLI_O_LIMIT = 1u << 9,          /* --limit N */
    CLI_O_OUTPUT = 1u << 10,        /* --output FILE */
    CLI_O_FROM = 1u << 11,          /* --from TIME */
    CLI_O_TO = 1u << 12,            /* --to TIME */
    CLI_O_RISK = 1u << 13,          /* --risk R */
    CLI_O_FROM_UNLEASH = 1u << 14,  /* --from-unleash URL */
    CLI_O_UNLEASH_TOKEN = 1u << 15, /* --unleash-token T */
    CLI_O_MANY_PROJECTS = 1u << 16, /* --project may be repeated */
    CLI_O_DRY_RUN = 1u << 17,       /* --dry-run (no value) */
    CLI_O_CONFIRM = 1u << 18,       /* --confirm (no value) */
};

/* A parsed command line. Every string is borrowed from argv or the
 * environment; NULL means "not given". */
typedef struct cli_args {
    const char *server;  /* --server, else $VEXIL_SERVER, else default */
    const char *token;   /* --token, else $VEXIL_TOKEN; never printed */
    bool json;           /* --json: print the server's JSON */
    bool confirm;        /* --confirm: a person confirms (CLI_O_CONFIRM) */
    const char *operand; /* the positional argument, if the command has one */
    const char *command; /* the command's name (cli_command.name), or NULL */
    const char *projects[CLI_MAX_PROJECTS]; /* every --project, in order */
    size_t nprojects;                       /* entries used in projects */
    const char *project;                    /* the last --project, or NULL */
    const char *type;                       /* --type */
    const char *description;                /* --description */
    const char *env;                        /* --env */
    const char *percent;                    /* --percent, unparsed */
    const char *stickiness;                 /* --stickiness */
    const char *name;                       /* --name */
    const char *role;                       /* --role */
    const char *feature;                    /* --feature */
    const char *limit;                      /* --limit, unparsed */
    const char *output;                     /* --output */
    const char *from;                       /* --from */
    const char *to;                         /* --to */
    const char *risk;                       /* --risk */
    const char *from_unleash;               /* --from-unleash */
    const char *unleash_token;              /* --unleash-token */
    bool dry_run;                           /* --dry-run */
    bool token_given;   /* --token was on the command line (not $VEXIL_TOKEN) */
    long percent_value; /* --percent, checked to be 0..100 */
    long limit_value;   /* --limit, checked to be 1..CLI_MAX_LIMIT */
} cli_args;

/* One command of a group, as a row of a const table. */
typedef struct cli_command {
    const char *name;     /* subcommand ("list"), NULL for a group without */
    const char *synopsis; /* what follows "vexil <group> [<name>] " */
    const char *summary;  /* one sentence for --help */
    const char *operand;  /* name of the one positional argument, or NULL */
    unsigned allowed;     /* CLI_O_* bits the command accepts */
    unsigned required;    /* CLI_O_* bits it needs */
    /* Optional check of the values before any token or network use:
     * returns CLI_EXIT_OK, or prints why and returns CLI_EXIT_USAGE. */
    int (*check)(const char *prog, const cli_args *a);
    int (*run)(cli_http *h, const cli_args *a); /* returns the exit status */
    bool operand_optional; /* the operand may be left out (check decides) */
} cli_command;

/* Parses argv (argv[0] is the group name, then the subcommand if the group
 * has several), resolves server and token, connects and runs the command.
 * Prints usage and returns CLI_EXIT_USAGE on bad usage or a missing token;
 * otherwise returns what the command returns. */
int cli_client_dispatch(const char *group, const cli_command *cmds,
                        size_t ncmds, int argc, char **argv);

/* The `project` of a command: the --project value or "default". */
const char *cli_args_project(const cli_args *a);

/* Prints "vexil: METHOD PATH: unexpected answer: WHAT" for a 2xx answer
 * whose shape is not the documented one, and returns CLI_EXIT_FAIL. */
int cli_bad_answer(const char *method, const char *path, const char *what);

/* Prints that the request body could not be built (arguments must be
 * UTF-8) and returns CLI_EXIT_USAGE. */
int cli_bad_body(void);

/* Prints that a name is too long for a URL and returns CLI_EXIT_USAGE. */
int cli_bad_path(void);

/* Parses a base-10 integer in [min, max]. Returns false on anything else. */
bool cli_parse_long(const char *s, long min, long max, long *out);

/* Writes `s` with control characters replaced by '?', so that text from
 * the server cannot drive the terminal. NULL prints nothing. */
void cli_fputs_safe(const char *s, FILE *out);

/* Pretty-prints `j` (2-space indent, keys in server order) and a newline
 * to `out`. Returns CLI_EXIT_OK or prints why and returns CLI_EXIT_FAIL. */
int cli_print_json(const json_t *j, FILE *out);

/* The string at obj[key], or `dflt` when missing, null or not a string. */
const char *cli_json_str(const json_t *obj, const char *key, const char *dflt);

/* Formats a scalar (string, number, boolean; null or missing as "-") into
 * (buf, cap), truncating if needed. Returns buf. */
const char *cli_json_text(const json_t *v, char *buf, size_t cap);

/* An aligned text table. Cells are copied in. Embedded: init, add rows,
 * print, release. The first row added is the header. */
typedef struct cli_table {
    json_t *rows; /* owned array of arrays of strings */
    bool oom;     /* set when a row could not be stored */
} cli_table;

void cli_table_init(cli_table *t);
/* Appends a row of `n` cells (NULL cells print as "-"). */
void cli_table_add(cli_table *t, const char *const *cells, size_t n);
/* Prints every row, columns padded to their widest cell. Returns
 * CLI_EXIT_OK, or CLI_EXIT_FAIL if a row could not be stored. */
int cli_table_print(const cli_table *t, FILE *out);
/* Frees the rows; accepts a released table. */
void cli_table_release(cli_table *t);

#endif
