/*
 * memectl help [COMMAND]: the overview of every command (also `memectl
 * --help`), or one command's help, from the command table.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

const struct opt_spec help_opts[] = {{0, 0, NULL, NULL, NULL, NULL}};

void cli_main_help(const struct cmd_spec *table, FILE *f)
{
    fputs("usage: memectl [-s URL] [-q] [-v] COMMAND [options] [args]\n"
          "\n"
          "A terminal toolkit for a meme service that Kubernetes autoscales:\n"
          "make memes over NATS JetStream and see them in the terminal.\n"
          "\n"
          "commands:\n",
          f);
    for (const struct cmd_spec *c = table; c->name; c++)
        fprintf(f, "  %-12s %s\n", c->name, c->summary);
    fputs("\n"
          "global options:\n"
          "  -s, --server URL   NATS server (env NATS_URL; else the config file; else\n"
          "                     the local stack; else nats://127.0.0.1:4222)\n"
          "      --config FILE  settings file (default ~/.config/memectl/config)\n"
          "  -q, --quiet        only errors on stderr\n"
          "  -v, --verbose      more detail\n"
          "  -h, --help         show this help\n"
          "      --version      show the version\n"
          "\n"
          "Start here:  memectl up && memectl gen \"one does not simply | make a meme\"\n"
          "Exit status: 0 ok, 1 failure, 2 usage, 3 server unreachable, 4 timeout.\n"
          "See memectl(1) and `memectl COMMAND --help`.\n",
          f);
}

int cmd_help_run(struct cli *cli, int argc, char **argv)
{
    if (argc < 2) {
        cli_main_help(cli->commands, stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        argv[1] = "help";
    const struct cmd_spec *c = cmd_find(cli->commands, argv[1]);
    if (!c) {
        cli_error("no command \"%s\" (see `memectl help`)", argv[1]);
        return EXIT_USAGE;
    }
    cmd_help(c, stdout);
    return EXIT_OK;
}
