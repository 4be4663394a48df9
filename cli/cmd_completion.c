/*
 * memectl completion SHELL: prints the completion script for bash, zsh or
 * fish (the scripts and the dynamic `memectl __complete` are in complete.c).
 */
#include "cli.h"

#include <stdio.h>

const struct opt_spec completion_opts[] = {{0, 0, NULL, NULL, NULL, NULL}};

int cmd_completion(struct cli *cli, int argc, char **argv)
{
    struct opt_iter it;
    int r;
    opt_init(&it, cli->cmd, argc, argv);
    while ((r = opt_next(&it)) > 0)
        if (it.key == 'h') {
            opt_release(&it);
            return EXIT_OK;
        }
    int rc = EXIT_OK;
    if (r < 0) {
        rc = EXIT_USAGE;
    } else if (it.npositional != 1) {
        cmd_usage_error(cli->cmd, "name one shell");
        rc = EXIT_USAGE;
    } else if (completion_script(it.positional[0], stdout) < 0) {
        cmd_usage_error(cli->cmd, "no completion for \"%s\" (bash, zsh and fish are supported)",
                        it.positional[0]);
        rc = EXIT_USAGE;
    }
    opt_release(&it);
    return rc;
}
