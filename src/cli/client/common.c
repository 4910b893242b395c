/* The shared driver of the client commands: one getopt_long table for every
 * option, checked against what each command allows, so usage errors look
 * the same everywhere; plus tables and JSON readers. */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"

/* getopt_long values: 0x100 + bit index for the CLI_O_* options. */
enum {
    OPT_BASE = 0x100,
    OPT_SERVER = 0x200,
    OPT_TOKEN,
    OPT_JSON,
    OPT_CONFIRM,
    OPT_DRY_RUN,
};

/* The option-bearing CLI_O_* bits, by bit index, with their names. */
static const char *const opt_names[] = {
    "project", "type", "description",  "env",           "percent", "stickiness",
    "name",    "role", "feature",      "limit",         "output",  "from",
    "to",      "risk", "from-unleash", "unleash-token",
};
#define NOPTS (sizeof(opt_names) / sizeof(opt_names[0]))
static_assert((1u << NOPTS) == CLI_O_MANY_PROJECTS,
              "one name for each value-bearing CLI_O_* bit, in bit order");

static const struct option longopts[] = {
    {"project", required_argument, NULL, OPT_BASE + 0},
    {"type", required_argument, NULL, OPT_BASE + 1},
    {"description", required_argument, NULL, OPT_BASE + 2},
    {"env", required_argument, NULL, OPT_BASE + 3},
    {"percent", required_argument, NULL, OPT_BASE + 4},
    {"stickiness", required_argument, NULL, OPT_BASE + 5},
    {"name", required_argument, NULL, OPT_BASE + 6},
    {"role", required_argument, NULL, OPT_BASE + 7},
    {"feature", required_argument, NULL, OPT_BASE + 8},
    {"limit", required_argument, NULL, OPT_BASE + 9},
    {"output", required_argument, NULL, OPT_BASE + 10},
    {"from", required_argument, NULL, OPT_BASE + 11},
    {"to", required_argument, NULL, OPT_BASE + 12},
    {"risk", required_argument, NULL, OPT_BASE + 13},
    {"from-unleash", required_argument, NULL, OPT_BASE + 14},
    {"unleash-token", required_argument, NULL, OPT_BASE + 15},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"server", required_argument, NULL, OPT_SERVER},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"json", no_argument, NULL, OPT_JSON},
    {"confirm", no_argument, NULL, OPT_CONFIRM},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char common_help[] =
    "common options:\n"
    "  --server URL  server base URL ($VEXIL_SERVER, else "
    "http://127.0.0.1:4242)\n"
    "  --token T     admin API token (default: $VEXIL_TOKEN, which keeps it\n"
    "                out of the process list)\n"
    "  --json        print the server's JSON instead of text\n"
    "  --help        show this help\n"
    "\n"
    "Exit status: 0 success, 1 server error or server unreachable, 2 bad "
    "usage.\n";

/* Prints `text` with `indent` spaces before each of its lines. */
static void put_indented(const char *text, int indent, FILE *out)
{
    while (*text) {
        const char *nl = strchr(text, '\n');
        int len = nl ? (int)(nl - text) : (int)strlen(text);
        fprintf(out, "%*s%.*s\n", indent, "", len, text);
        text += len + (nl ? 1 : 0);
    }
}

static void group_usage(const char *group, const cli_command *cmds,
                        size_t ncmds, FILE *out)
{
    fprintf(out, "usage: vexil %s <command> [options]\n\ncommands:\n", group);
    for (size_t i = 0; i < ncmds; i++) {
        fprintf(out, "  vexil %s %s%s%s\n", group, cmds[i].name,
                *cmds[i].synopsis ? " " : "", cmds[i].synopsis);
        put_indented(cmds[i].summary, 6, out);
    }
    fputc('\n', out);
    fputs(common_help, out);
}

static void command_usage(const char *prog, const cli_command *cmd, FILE *out,
                          bool full)
{
    fprintf(out, "usage: %s%s%s [common options]\n", prog,
            *cmd->synopsis ? " " : "", cmd->synopsis);
    if (full) {
        fputc('\n', out);
        put_indented(cmd->summary, 0, out);
        fprintf(out, "\n%s", common_help);
    } else {
        fprintf(out, "Run '%s --help' for more.\n", prog);
    }
}

/* Stores one CLI_O_* option value. */
static void store_opt(cli_args *a, unsigned bit, const char *val)
{
    switch (bit) {
    case CLI_O_PROJECT:
        if (a->nprojects < CLI_MAX_PROJECTS)
            a->projects[a->nprojects] = val;
        a->nprojects++; /* counted past the limit, so it can be reported */
        a->project = val;
        break;
    case CLI_O_TYPE: a->type = val; break;
    case CLI_O_DESCRIPTION: a->description = val; break;
    case CLI_O_ENV: a->env = val; break;
    case CLI_O_PERCENT: a->percent = val; break;
    case CLI_O_STICKINESS: a->stickiness = val; break;
    case CLI_O_NAME: a->name = val; break;
    case CLI_O_ROLE: a->role = val; break;
    case CLI_O_FEATURE: a->feature = val; break;
    case CLI_O_LIMIT: a->limit = val; break;
    case CLI_O_OUTPUT: a->output = val; break;
    case CLI_O_FROM: a->from = val; break;
    case CLI_O_TO: a->to = val; break;
    case CLI_O_RISK: a->risk = val; break;
    case CLI_O_FROM_UNLEASH: a->from_unleash = val; break;
    case CLI_O_UNLEASH_TOKEN: a->unleash_token = val; break;
    default: break;
    }
}

static bool has_opt(const cli_args *a, unsigned bit)
{
    const char *v = NULL;
    switch (bit) {
    case CLI_O_PROJECT: v = a->project; break;
    case CLI_O_TYPE: v = a->type; break;
    case CLI_O_DESCRIPTION: v = a->description; break;
    case CLI_O_ENV: v = a->env; break;
    case CLI_O_PERCENT: v = a->percent; break;
    case CLI_O_STICKINESS: v = a->stickiness; break;
    case CLI_O_NAME: v = a->name; break;
    case CLI_O_ROLE: v = a->role; break;
    case CLI_O_FEATURE: v = a->feature; break;
    case CLI_O_LIMIT: v = a->limit; break;
    case CLI_O_OUTPUT: v = a->output; break;
    case CLI_O_FROM: v = a->from; break;
    case CLI_O_TO: v = a->to; break;
    case CLI_O_RISK: v = a->risk; break;
    case CLI_O_FROM_UNLEASH: v = a->from_unleash; break;
    case CLI_O_UNLEASH_TOKEN: v = a->unleash_token; break;
    default: break;
    }
    return v && *v;
}

/* Parses the options of `cmd`. Returns -1 to go on, or an exit status. */
static int parse(const char *prog, const cli_command *cmd, int argc,
                 char **argv, cli_args *a)
{
    memset(a, 0, sizeof(*a));
    optind = 1;
    opterr = 0;
    for (;;) {
        int opt = getopt_long(argc, argv, ":h", longopts, NULL);
        if (opt == -1)
            break;
        if (opt >= OPT_BASE && opt < OPT_BASE + (int)NOPTS) {
            unsigned idx = (unsigned)(opt - OPT_BASE);
            unsigned bit = 1u << idx;
            if (!(cmd->allowed & bit)) {
                fprintf(stderr, "%s: --%s does not apply here\n", prog,
                        opt_names[idx]);
                command_usage(prog, cmd, stderr, false);
                return CLI_EXIT_USAGE;
            }
            if (!*optarg) {
                fprintf(stderr, "%s: --%s needs a value\n", prog,
                        opt_names[idx]);
                command_usage(prog, cmd, stderr, false);
                return CLI_EXIT_USAGE;
            }
            store_opt(a, bit, optarg);
            continue;
        }
        switch (opt) {
        case OPT_SERVER: a->server = optarg; break;
        case OPT_TOKEN: a->token = optarg; break;
        case OPT_JSON: a->json = true; break;
        case OPT_CONFIRM:
            if (!(cmd->allowed & CLI_O_CONFIRM)) {
                fprintf(stderr, "%s: --confirm does not apply here\n", prog);
                command_usage(prog, cmd, stderr, false);
                return CLI_EXIT_USAGE;
            }
            a->confirm = true;
            break;
        case OPT_DRY_RUN:
            if (!(cmd->allowed & CLI_O_DRY_RUN)) {
                fprintf(stderr, "%s: --dry-run does not apply here\n", prog);
                command_usage(prog, cmd, stderr, false);
                return CLI_EXIT_USAGE;
            }
            a->dry_run = true;
            break;
        case 'h': command_usage(prog, cmd, stdout, true); return CLI_EXIT_OK;
        case ':':
            fprintf(stderr, "%s: %s needs a value\n", prog, argv[optind - 1]);
            command_usage(prog, cmd, stderr, false);
            return CLI_EXIT_USAGE;
        default:
            if (optopt > 0 && optopt < 0x80)
                fprintf(stderr, "%s: unknown option '-%c'\n", prog, optopt);
            else
                fprintf(stderr, "%s: unknown option '%s'\n", prog,
                        argv[optind - 1]);
            command_usage(prog, cmd, stderr, false);
            return CLI_EXIT_USAGE;
        }
    }
    int nargs = argc - optind;
    if (nargs > (cmd->operand ? 1 : 0)) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog,
                argv[optind + (cmd->operand ? 1 : 0)]);
        command_usage(prog, cmd, stderr, false);
        return CLI_EXIT_USAGE;
    }
    if (cmd->operand && !(cmd->operand_optional && nargs == 0) &&
        (nargs == 0 || argv[optind][0] == '\0')) {
        fprintf(stderr, "%s: missing %s\n", prog, cmd->operand);
        command_usage(prog, cmd, stderr, false);
        return CLI_EXIT_USAGE;
    }
    if (cmd->operand && nargs > 0)
        a->operand = argv[optind];
    if (a->nprojects > 1 && !(cmd->allowed & CLI_O_MANY_PROJECTS)) {
        fprintf(stderr, "%s: --project may be given once\n", prog);
        command_usage(prog, cmd, stderr, false);
        return CLI_EXIT_USAGE;
    }
    if (a->percent && !cli_parse_long(a->percent, 0, 100, &a->percent_value)) {
        fprintf(stderr, "%s: --percent must be an integer from 0 to 100\n",
                prog);
        command_usage(prog, cmd, stderr, false);
        return CLI_EXIT_USAGE;
    }
    if (a->limit &&
        !cli_parse_long(a->limit, 1, CLI_MAX_LIMIT, &a->limit_value)) {
        fprintf(stderr, "%s: --limit must be an integer from 1 to %d\n", prog,
                CLI_MAX_LIMIT);
        command_usage(prog, cmd, stderr, false);
        return CLI_EXIT_USAGE;
    }
    if (a->nprojects > CLI_MAX_PROJECTS) {
        fprintf(stderr, "%s: at most %d --project options\n", prog,
                CLI_MAX_PROJECTS);
        command_usage(prog, cmd, stderr, false);
        return CLI_EXIT_USAGE;
    }
    for (unsigned i = 0; i < NOPTS; i++) {
        unsigned bit = 1u << i;
        if ((cmd->required & bit) && !has_opt(a, bit)) {
            fprintf(stderr, "%s: missing --%s\n", prog, opt_names[i]);
            command_usage(prog, cmd, stderr, false);
            return CLI_EXIT_USAGE;
        }
    }
    if (cmd->check && cmd->check(prog, a) != CLI_EXIT_OK) {
        command_usage(prog, cmd, stderr, false);
        return CLI_EXIT_USAGE;
    }
    return -1;
}

int cli_client_dispatch(const char *group, const cli_command *cmds,
                        size_t ncmds, int argc, char **argv)
{
    const cli_command *cmd = NULL;
    char prog[64];
    if (ncmds == 1 && !cmds[0].name) {
        cmd = &cmds[0];
        snprintf(prog, sizeof(prog), "vexil %s", group);
    } else {
        if (argc < 2) {
            group_usage(group, cmds, ncmds, stderr);
            return CLI_EXIT_USAGE;
        }
        const char *sub = argv[1];
        if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
            strcmp(sub, "help") == 0) {
            group_usage(group, cmds, ncmds, stdout);
            return CLI_EXIT_OK;
        }
        for (size_t i = 0; i < ncmds && !cmd; i++)
            if (strcmp(cmds[i].name, sub) == 0)
                cmd = &cmds[i];
        if (!cmd) {
            fprintf(stderr, "vexil %s: unknown command '%s'\n", group, sub);
            group_usage(group, cmds, ncmds, stderr);
            return CLI_EXIT_USAGE;
        }
        snprintf(prog, sizeof(prog), "vexil %s %s", group, cmd->name);
        argc--;
        argv++;
    }

    cli_args a;
    int rc = parse(prog, cmd, argc, argv, &a);
    if (rc >= 0)
        return rc;
    a.command = cmd->name;
    if (!a.server || !*a.server)
        a.server = getenv("VEXIL_SERVER");
    if (!a.server || !*a.server)
        a.server = CLI_DEFAULT_SERVER;
    a.token_given = a.token && *a.token;
    if (!a.token || !*a.token)
        a.token = getenv("VEXIL_TOKEN");
    if (!a.token || !*a.token) {
        fprintf(stderr, "%s: no API token: pass --token or set VEXIL_TOKEN\n",
                prog);
        command_usage(prog, cmd, stderr, false);
        return CLI_EXIT_USAGE;
    }

    cli_http h;
    rc = cli_http_init(&h, a.server, a.token);
    if (rc != CLI_EXIT_OK)
        return rc;
    rc = cmd->run(&h, &a);
    cli_http_release(&h);
    return rc;
}

const char *cli_args_project(const cli_args *a)
{
    return a->project && *a->project ? a->project : CLI_DEFAULT_PROJECT;
}

int cli_bad_answer(const char *method, const char *path, const char *what)
{
    fprintf(stderr, "vexil: %s %s: unexpected answer: %s\n", method, path,
            what);
    return CLI_EXIT_FAIL;
}

int cli_bad_body(void)
{
    fputs("vexil: cannot build the request (are the arguments UTF-8?)\n",
          stderr);
    return CLI_EXIT_USAGE;
}

int cli_bad_path(void)
{
    fputs("vexil: a name is too long for a request path\n", stderr);
    return CLI_EXIT_USAGE;
}

bool cli_parse_long(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    if (!s || !*s)
        return false;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

void cli_fputs_safe(const char *s, FILE *out)
{
    if (!s)
        return;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
    }
}

int cli_print_json(const json_t *j, FILE *out)
{
    if (j && json_dumpf(j, out, JSON_INDENT(2) | JSON_ENCODE_ANY) != 0) {
        fputs("vexil: cannot write the JSON\n", stderr);
        return CLI_EXIT_FAIL;
    }
    if (!j)
        fputs("{}", out); /* an empty 2xx answer */
    fputc('\n', out);
    return CLI_EXIT_OK;
}

const char *cli_json_str(const json_t *obj, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : dflt;
}

const char *cli_json_text(const json_t *v, char *buf, size_t cap)
{
    if (!v) {
        snprintf(buf, cap, "-");
        return buf;
    }
    switch (json_typeof(v)) {
    case JSON_STRING: snprintf(buf, cap, "%s", json_string_value(v)); break;
    case JSON_INTEGER:
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL: snprintf(buf, cap, "%g", json_real_value(v)); break;
    case JSON_TRUE: snprintf(buf, cap, "yes"); break;
    case JSON_FALSE: snprintf(buf, cap, "no"); break;
    case JSON_ARRAY: {
        /* An array of scalars (e.g. token projects): comma-separated. */
        size_t n = 0, i;
        const json_t *e;
        buf[0] = '\0';
        json_array_foreach (v, i, e) {
            char one[128];
            int w = snprintf(buf + n, cap - n, "%s%s", i ? "," : "",
                             cli_json_text(e, one, sizeof(one)));
            if (w < 0 || (size_t)w >= cap - n)
                break;
            n += (size_t)w;
        }
        break;
    }
    default: snprintf(buf, cap, "-"); break;
    }
    return buf;
}

void cli_table_init(cli_table *t)
{
    t->rows = json_array();
    t->oom = !t->rows;
}

void cli_table_add(cli_table *t, const char *const *cells, size_t n)
{
    json_t *row = json_array();
    if (!row || json_array_append_new(t->rows, row) != 0) {
        t->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *c = cells[i] && *cells[i] ? cells[i] : "-";
        json_t *s = json_string(c);
        if (!s)
            s = json_string("?"); /* not UTF-8 */
        if (json_array_append_new(row, s) != 0)
            t->oom = true;
    }
}

/* Display width of UTF-8 text: one column per code point. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

int cli_table_print(const cli_table *t, FILE *out)
{
    if (t->oom) {
        fputs("vexil: out of memory\n", stderr);
        return CLI_EXIT_FAIL;
    }
    size_t widths[64] = {0};
    size_t ncols = 0, r, c;
    const json_t *row, *cell;
    json_array_foreach (t->rows, r, row) {
        json_array_foreach (row, c, cell) {
            if (c >= sizeof(widths) / sizeof(widths[0]))
                break;
            size_t w = width(json_string_value(cell));
            if (w > widths[c])
                widths[c] = w;
            if (c + 1 > ncols)
                ncols = c + 1;
        }
    }
    json_array_foreach (t->rows, r, row) {
        size_t n = json_array_size(row);
        for (c = 0; c < n && c < ncols; c++) {
            const char *s = json_string_value(json_array_get(row, c));
            cli_fputs_safe(s, out);
            if (c + 1 < n && c + 1 < ncols)
                for (size_t pad = width(s); pad < widths[c] + 2; pad++)
                    fputc(' ', out);
        }
        fputc('\n', out);
    }
    return CLI_EXIT_OK;
}

void cli_table_release(cli_table *t)
{
    json_decref(t->rows);
    t->rows = NULL;
}
