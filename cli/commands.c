/*
 * The table of memectl's commands: each one's name, summary, usage,
 * description, option table and entry point. --help, usage errors, man page
 * checks and completions are all produced from it.
 */
#include "cli.h"

#include <stddef.h>

const struct cmd_spec commands[] = {
    {"gen", "make a meme and show it in the terminal", "[options] PROMPT...",
     "Sends PROMPT to the meme workers over NATS JetStream, waits for the image,\n"
     "saves it and draws it inline: the kitty graphics protocol, iTerm2 inline\n"
     "images or sixel where the terminal has them, else coloured half blocks; never\n"
     "into a pipe or a file. \"TOP | BOTTOM\" sets the two captions.",
     gen_opts, cmd_gen, 1},
    {"get", "fetch a finished meme by request id", "[options] ID",
     "Fetches the meme made for request ID from the results bucket, where workers\n"
     "keep every result for an hour: for `gen --no-wait`, or a client that went away.\n"
     "Saves it and draws it in the terminal as gen does.",
     get_opts, cmd_get, 1},
    {"up", "start a local stack: nats-server, redis-server and workers", "[options]",
     "Starts nats-server -js, redis-server and N meme-worker processes on this\n"
     "machine, in the background, with state and logs under the state directory.\n"
     "Running it again keeps what is running and adjusts the number of workers.\n"
     "--autoscale starts the local autoscaler instead of a fixed number: it scales\n"
     "the workers between --min-workers and --max-workers with KEDA's and the\n"
     "HPA's rules and the numbers of the bundled ScaledObject.",
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
     "[options] hpa|scaledobject|vpa NAME | local",
     "HPA: ratio of current to target per metric, the 10 % tolerance, the max over\n"
     "metrics, stabilization, policies and min/max. KEDA: lag / lagThreshold and\n"
     "activation. VPA: target against requests and whether the updater may act.\n"
     "local: the local autoscaler a `memectl up` stack runs, its last decision\n"
     "and the next possible change. Warns when two autoscalers drive the same\n"
     "workload.",
     explain_opts, cmd_explain, 1},
    {"simulate", "run a load profile through the autoscalers' rules, without a cluster",
     "[options]",
     "Runs a load (a built-in spike, ramp or steady profile, or a CSV of rate over\n"
     "time) through KEDA's and the HPA's rules with the bundled ScaledObject and\n"
     "the gateway's HPA, or the scalers in --manifest, and prints the replica\n"
     "timeline with the queue wait a request would see for the per-worker\n"
     "throughput given (or measured by a `memectl bench` run): a what-if for\n"
     "lagThreshold, pollingInterval and cooldownPeriod.",
     simulate_opts, cmd_simulate, 1},
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
