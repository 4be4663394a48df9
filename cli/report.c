/*
 * How memectl reports: "memectl: ..." errors and informational lines on
 * stderr, and the exit status for a libmeme error code.
 */
#include "cli.h"
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

void cli_info(const struct cli *cli, const char *fmt, ...)
{
    if (cli && cli->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("memectl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_exit_for(int code)
{
    switch (code) {
    case MEME_OK:
        return EXIT_OK;
    case MEME_E_UNREACHABLE:
        return EXIT_UNREACHABLE;
    case MEME_E_TIMEOUT:
        return EXIT_TIMEOUT;
    default:
        return EXIT_FAIL;
    }
}
