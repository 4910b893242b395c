/* `vexil`: the one binary. Dispatches to subcommands; each returns its exit
 * status (0 ok, 1 failure, 2 bad usage or input). */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"
#include "client/client.h"

static void usage(FILE *out)
{
    fputs(
        "usage: vexil <command> [options]\n"
        "\n"
        "commands:\n"
        "  serve        run the HTTP server\n"
        "  edge         serve SDKs from a relay that follows a server\n"
        "  migrate      apply pending database migrations\n"
        "  admin-token  create an admin API token offline and print it\n"
        "  flags        list, show, create, switch, roll out, archive, revive\n"
        "               and delete flags\n"
        "  plans        guarded release plans: start, show, pause, approve...\n"
        "  tokens       create, list and revoke API tokens\n"
        "  events       show the audit log\n"
        "  advise       ask the advisor: targeting, changelog, rollout, plan,\n"
        "               incident\n"
        "  export       print the whole server state as JSON\n"
        "  import       load an export; move over from Unleash "
        "(--from-unleash)\n"
        "  eval         evaluate a features document for contexts, offline\n"
        "  simulate     run the rollout guard over synthetic traffic\n"
        "  version      print the version\n"
        "\n"
        "Run 'vexil <command> --help' for a command's options.\n",
        out);
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return cli_serve_main(argc - 1, argv + 1);
    if (strcmp(cmd, "edge") == 0)
        return cli_edge_main(argc - 1, argv + 1);
    if (strcmp(cmd, "migrate") == 0)
        return cli_migrate_main(argc - 1, argv + 1);
    if (strcmp(cmd, "admin-token") == 0)
        return cli_admin_token_main(argc - 1, argv + 1);
    if (strcmp(cmd, "flags") == 0)
        return cli_flags_main(argc - 1, argv + 1);
    if (strcmp(cmd, "plans") == 0)
        return cli_plans_main(argc - 1, argv + 1);
    if (strcmp(cmd, "tokens") == 0)
        return cli_tokens_main(argc - 1, argv + 1);
    if (strcmp(cmd, "events") == 0)
        return cli_events_main(argc - 1, argv + 1);
    if (strcmp(cmd, "advise") == 0)
        return cli_advise_main(argc - 1, argv + 1);
    if (strcmp(cmd, "export") == 0)
        return cli_export_main(argc - 1, argv + 1);
    if (strcmp(cmd, "import") == 0)
        return cli_import_main(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0)
        return cli_eval_main(argc - 1, argv + 1);
    if (strcmp(cmd, "simulate") == 0)
        return cli_simulate_main(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("vexil %s\n", VX_VERSION_STRING);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    fprintf(stderr, "vexil: unknown command '%s'\n", cmd);
    usage(stderr);
    return CLI_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    /* One-time process init (STYLE rule 10): libcurl's global state, for
     * the commands that talk to a server, is set up here exactly once,
     * while the process still has a single thread, and torn down after the
     * command returns. Nothing else may call curl_global_init/cleanup.
     * (libsodium is initialised by svc_open.) */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("vexil: cannot initialise libcurl\n", stderr);
        return CLI_EXIT_FAIL;
    }
    int rc = dispatch(argc, argv);
    curl_global_cleanup();
    return rc;
}
