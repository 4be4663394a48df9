/*
 * memectl's entry point: global options, then dispatch through the command
 * table (commands.c) to the command's cmd_<name>.c.
 */
#include "cli.h"
#include "local_stack.h"
#include "xalloc.h"

#include <nats/nats.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int unknown_command(const char *name)
{
    const char *names[32];
    size_t n = 0;
    for (const struct cmd_spec *c = commands; c->name && n < 32; c++)
        names[n++] = c->name;
    const char *near = closest_word(name, names, n);
    if (near)
        cli_error("\"%s\" is not a memectl command; did you mean \"%s\"?", name, near);
    else
        cli_error("\"%s\" is not a memectl command (see `memectl --help`)", name);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    struct cli cli;
    memset(&cli, 0, sizeof(cli));
    cli.prog = "memectl";
    cli.commands = commands;
    const char *nc = getenv("NO_COLOR");
    cli.color = isatty(2) && !(nc && *nc);

    if (argc > 1 && strcmp(argv[1], "__complete") == 0)
        return cmd_complete_words(commands, argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "__autoscaler") == 0)
        return local_autoscaler_main(argc - 1, argv + 1);

    const char *config_file = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-s") == 0 || strcmp(a, "--server") == 0) {
            if (i + 1 >= argc) {
                cmd_usage_error(NULL, "option \"%s\" needs a value (URL)", a);
                return EXIT_USAGE;
            }
            cli.server = argv[++i];
        } else if (strncmp(a, "--server=", 9) == 0) {
            cli.server = a + 9;
        } else if (strcmp(a, "--config") == 0) {
            if (i + 1 >= argc) {
                cmd_usage_error(NULL, "option \"%s\" needs a value (FILE)", a);
                return EXIT_USAGE;
            }
            config_file = argv[++i];
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            cli.quiet = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            cli.verbose++;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cli_main_help(commands, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            return cmd_version(&cli, 1, argv);
        } else {
            cmd_usage_error(NULL, "unknown global option \"%s\"", a);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        cli_main_help(commands, stderr);
        return EXIT_USAGE;
    }
    const struct cmd_spec *cmd = cmd_find(commands, argv[i]);
    if (!cmd)
        return unknown_command(argv[i]);
    cli.cmd = cmd;
    int crc = config_load(config_file);
    if (crc)
        return crc;
    int rc = cmd->run(&cli, argc - i, argv + i);
    nats_Close();
    return rc;
}
