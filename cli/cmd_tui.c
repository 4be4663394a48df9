/*
 * memectl tui: parses the dashboard's options, resolves the NATS server,
 * credentials and cluster settings, and hands over to tui/ (tui_run).
 */
#include "cli.h"
#include "tui/tui.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { TUI_DUMP = 1000, TUI_BURST, TUI_COLUMNS, TUI_LINES, TUI_DISPLAY };

const struct opt_spec tui_opts[] = {
    {TUI_BURST, 0, "burst", "N", "requests the b key sends at once (default 20)", NULL},
    {TUI_DISPLAY, 0, "display", "MODE",
     "how to draw the selected meme: auto, kitty, iterm2, sixel, blocks or none (default auto)",
     "auto kitty iterm2 sixel blocks none"},
    {TUI_DUMP, 0, "dump", NULL, "print one frame of the current state as text and exit", NULL},
    {TUI_COLUMNS, 0, "columns", "N", "with --dump: width (default $COLUMNS or 100)", NULL},
    {TUI_LINES, 0, "lines", "N", "with --dump: height (default $LINES or 30)", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};

int cmd_tui(struct cli *cli, int argc, char **argv)
{
    struct opt_iter it;
    int r, rc = EXIT_OK;
    bool dump_mode = false;
    long burst_n = 20, cols = 0, lines = 0;
    const char *display_flag = NULL;
    opt_init(&it, cli->cmd, argc, argv);
    while ((r = opt_next(&it)) > 0) {
        char *end;
        long v = it.value ? strtol(it.value, &end, 10) : 0;
        bool bad = it.value && (*end || v < 1);
        switch (it.key) {
        case 'h':
            opt_release(&it);
            return EXIT_OK;
        case TUI_DUMP:
            dump_mode = true;
            break;
        case TUI_DISPLAY:
            display_flag = it.value;
            break;
        case TUI_BURST:
            if (bad || v > 1000) {
                cmd_usage_error(cli->cmd, "--burst must be from 1 to 1000");
                rc = EXIT_USAGE;
            }
            burst_n = v;
            break;
        case TUI_COLUMNS:
        case TUI_LINES:
            if (bad || v < 20 || v > 1000) {
                cmd_usage_error(cli->cmd, "--columns and --lines must be from 20 to 1000");
                rc = EXIT_USAGE;
            }
            if (it.key == TUI_COLUMNS)
                cols = v;
            else
                lines = v;
            break;
        }
        if (rc)
            break;
    }
    if (r < 0)
        rc = EXIT_USAGE;
    opt_release(&it);
    if (rc)
        return rc;

    struct tui_opts o;
    memset(&o, 0, sizeof(o));
    if (cli_display_setting(cli->cmd, display_flag, &o.display))
        return EXIT_USAGE;
    o.burst = (int)burst_n;
    o.dump = dump_mode;
    if (dump_mode) {
        const char *ec = getenv("COLUMNS"), *el = getenv("LINES");
        o.columns = cols ? (int)cols : ec && atoi(ec) >= 20 ? atoi(ec) : 100;
        o.lines = lines ? (int)lines : el && atoi(el) >= 10 ? atoi(el) : 30;
    } else if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        cli_error("the dashboard needs a terminal; use `memectl tui --dump` for one frame as "
                  "text, or `memectl status`");
        return EXIT_USAGE;
    }
    cli_resolve_server(cli);
    cli_connect_opts(cli, &o.nats, "memectl tui");
    o.kube_context = config_get(CFG_CONTEXT);
    o.kube_namespace = config_get(CFG_NAMESPACE);
    return tui_run(&o) == 0 ? EXIT_OK : EXIT_FAIL;
}
