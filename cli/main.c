/*
 * memectl's entry point: global options, the command table, and dispatch.
 * Each command lives in its own cmd_<name>.c with its option table; this
 * file only routes and reports.
 */
#include "cli.h"
#include "stack.h"
#include "xalloc.h"

#include <nats/nats.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct opt_spec help_opts[] = {{0, 0, NULL, NULL, NULL, NULL}};

const struct cmd_spec commands[] = {
    {"gen", "make a meme and show it in the terminal", "[options] PROMPT...",
     "Sends PROMPT to the meme workers over NATS JetStream, waits for the image,\n"
     "saves it and draws it inline (sixel where the terminal has it, else coloured\n"
     "half blocks). \"TOP | BOTTOM\" sets the two captions.",
     gen_opts, cmd_gen, 1},
    {"get", "fetch a finished meme by request id", "[options] ID",
     "Fetches the meme made for request ID from the results bucket, where workers\n"
     "keep every result for an hour: for `gen --no-wait`, or a client that went away.",
     get_opts, cmd_get, 1},
    {"up", "start a local stack: nats-server, redis-server and workers", "[options]",
     "Starts nats-server -js, redis-server and N meme-worker processes on this\n"
     "machine, in the background, with state and logs under the state directory.\n"
     "Running it again keeps what is running and adjusts the number of workers.",
     up_opts, cmd_up, 1},
    {"down", "stop the local stack started by `memectl up`", "[options]",
     "Stops exactly the processes `memectl up` started (checked by process id and\n"
     "start time), workers first so that they finish their jobs.",
     down_opts, cmd_down, 1},
    {"bench", "load the stack end to end and report throughput and latency", "[options]",
     "Sends meme requests through JetStream, closed loop (-c in flight) or open loop\n"
     "(--rate, so requests queue and KEDA sees lag), for -n requests or -d time,\n"
     "and reports throughput, latency percentiles, the queue/generation/delivery\n"
     "split, the cache hit ratio and errors by code.",
     bench_opts, cmd_bench, 1},
    {"tui", "the live dashboard: scalers, queue, workers and memes on one screen", "[options]",
     "Shows the autoscalers, the queue behind them, the workers (from their\n"
     "heartbeats) and the latest memes, updating live; g makes a meme, b sends a\n"
     "burst, ? lists the keys. --dump prints one frame as text.",
     tui_opts, cmd_tui, 1},
    {"status", "show the autoscalers (HPA, KEDA, VPA) and the queue behind them", "[options]",
     "Reads every HPA, KEDA ScaledObject and VPA in the stack's namespaces (or -n,\n"
     "or -A), joins each to the workload it scales, and shows replicas, metrics\n"
     "against targets, lag against lagThreshold, VPA targets against requests and\n"
     "the JetStream queue. Works without a cluster (queue only) or without NATS.",
     status_opts, cmd_status, 1},
    {"watch", "memectl status, kept current, with sparklines", "[options]",
     "The status screen, updated in place through Kubernetes watches and a poll of\n"
     "the queue and pod metrics (every --interval seconds, at least 2), with a\n"
     "short history of lag, ready pods and throughput. Ctrl-C stops it.",
     watch_opts, cmd_watch, 1},
    {"explain", "show the arithmetic behind an autoscaler's replica count",
     "[options] hpa|scaledobject|vpa NAME",
     "HPA: ratio of current to target per metric, the 10 % tolerance, the max over\n"
     "metrics, stabilization, policies and min/max. KEDA: lag / lagThreshold and\n"
     "activation. VPA: target against requests and whether the updater may act.\n"
     "Warns when two autoscalers drive the same workload.",
     explain_opts, cmd_explain, 1},
    {"templates", "list the local engine's meme templates", "[options]", NULL, templates_opts,
     cmd_templates, 1},
    {"completion", "print a shell completion script", "bash|zsh|fish",
     "Prints the completion script for the shell; e.g.\n"
     "  source <(memectl completion bash)\n"
     "  memectl completion zsh > \"${fpath[1]}/_memectl\"\n"
     "  memectl completion fish > ~/.config/fish/completions/memectl.fish",
     completion_opts, cmd_completion, 1},
    {"config", "show the settings in use and where each came from", "[view|path] [options]",
     "view (the default) prints every setting with its source: a flag, the\n"
     "environment, the config file (with its line) or a default; secrets are\n"
     "masked. path prints the config file's path. See memectl.conf(5).",
     config_opts, cmd_config, 1},
    {"version", "show the version of memectl and its libraries", "[options]", NULL, version_opts,
     cmd_version, 1},
    {"help", "show help for a command", "[COMMAND]", NULL, help_opts, cmd_help_run, 0},
    {NULL, NULL, NULL, NULL, NULL, NULL, 0},
};

const struct cmd_spec *cmd_find(const char *name)
{
    for (const struct cmd_spec *c = commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

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

void cli_resolve_server(struct cli *cli)
{
    static char local[128];
    if (cli->server) {
        cli->server_source = "flag";
        return;
    }
    const char *v = config_get(CFG_SERVER);
    if (v && *v) {
        cli->server = v;
        cli->server_source = config_source(CFG_SERVER);
        return;
    }
    if (stack_local_nats_url(local, sizeof(local)) == 0) {
        cli->server = local;
        cli->server_source = "local stack";
        return;
    }
    cli->server = "nats://127.0.0.1:4222";
    cli->server_source = "default";
}

static void main_help(FILE *f)
{
    fputs("usage: memectl [-s URL] [-q] [-v] COMMAND [options] [args]\n"
          "\n"
          "A terminal toolkit for a meme service that Kubernetes autoscales:\n"
          "make memes over NATS JetStream and see them in the terminal.\n"
          "\n"
          "commands:\n",
          f);
    for (const struct cmd_spec *c = commands; c->name; c++)
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
        main_help(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        argv[1] = "help";
    const struct cmd_spec *c = cmd_find(argv[1]);
    if (!c) {
        cli_error("no command \"%s\" (see `memectl help`)", argv[1]);
        return EXIT_USAGE;
    }
    cmd_help(c, stdout);
    return EXIT_OK;
}

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
    const char *nc = getenv("NO_COLOR");
    cli.color = isatty(2) && !(nc && *nc);

    if (argc > 1 && strcmp(argv[1], "__complete") == 0)
        return cmd_complete_words(argc - 1, argv + 1);

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
            main_help(stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            return cmd_version(&cli, 1, argv);
        } else {
            cmd_usage_error(NULL, "unknown global option \"%s\"", a);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        main_help(stderr);
        return EXIT_USAGE;
    }
    const struct cmd_spec *cmd = cmd_find(argv[i]);
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
