/* `vexil`: the one binary. Dispatches to subcommands; each returns its exit
 * status (0 ok, 1 failure, 2 bad usage or input). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out)
{
    fputs("usage: vexil <command> [options]\n"
          "\n"
          "commands:\n"
          "  eval      evaluate a features document for contexts, offline\n"
          "  version   print the version\n"
          "\n"
          "Run 'vexil <command> --help' for a command's options.\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "eval") == 0)
        return cli_eval_main(argc - 1, argv + 1);
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
