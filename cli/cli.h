/*
 * memectl's shared pieces: the command table, the option tables that produce
 * --help, usage errors and completions, exit codes, and the context main()
 * sets up once for every command.
 */
#ifndef MEMECTL_CLI_H
#define MEMECTL_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "mq/mq.h"
#include "term/term.h"

enum exit_code {
    EXIT_OK = 0,
    EXIT_FAIL = 1,
    EXIT_USAGE = 2,
    EXIT_UNREACHABLE = 3, /* no server at the address */
    EXIT_TIMEOUT = 4,     /* the server is there but the answer did not come in time */
};

/* One option of a command. key is what the parser hands back. */
struct opt_spec {
    int key;
    char short_name; /* 0 = none */
    const char *long_name;
    const char *arg; /* NULL for a flag, else the placeholder ("FILE") */
    const char *help;
    const char *values; /* space-separated fixed values for completion, or NULL */
};

struct cli;

struct cmd_spec {
    const char *name;
    const char *summary;
    const char *usage; /* after "memectl NAME " */
    const char *description;
    const struct opt_spec *opts; /* terminated by a zero key */
    int (*run)(struct cli *cli, int argc, char **argv);
    int own_page; /* 1: man/memectl-NAME.1; 0: described in memectl(1) */
};

/* What main() prepared: global options, resolved once. */
struct cli {
    const char *prog;
    const struct cmd_spec *cmd;
    const struct cmd_spec *commands; /* the command table */
    const char *server;              /* NULL until resolved */
    const char *server_source;       /* "flag", "environment", "local stack", "default" */
    int quiet;
    int verbose;
    bool color; /* stderr is a terminal and NO_COLOR is unset */
};

struct opt_iter {
    const struct cmd_spec *cmd;
    int argc;
    char **argv;
    int i;
    int key;
    const char *value;
    char **positional; /* collected non-option arguments */
    int npositional;
    bool done_opts;
    char shortbuf[3];
    const char *bundle; /* rest of a bundle of short flags */
};

/* Starts iterating cmd's options over argv[1..argc-1]. */
void opt_init(struct opt_iter *it, const struct cmd_spec *cmd, int argc, char **argv);
/* Next option: 1 with it->key/value set, 0 at the end (positionals collected),
 * -1 after printing a usage error (the caller exits EXIT_USAGE). -h/--help
 * prints help and returns key 'h'. */
int opt_next(struct opt_iter *it);
void opt_release(struct opt_iter *it);

void cmd_help(const struct cmd_spec *cmd, FILE *f);
void cmd_usage_error(const struct cmd_spec *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The closest of candidates to word (edit distance), or NULL when none is close. */
const char *closest_word(const char *word, const char *const *candidates, size_t n);

/* The table of commands, NULL-name terminated (commands.c). Commands reach it
 * through cli->commands, so none of them needs the table's file. */
extern const struct cmd_spec commands[];
/* The command called name in table, or NULL. */
const struct cmd_spec *cmd_find(const struct cmd_spec *table, const char *name);
/* The overview of every command in table: `memectl --help` (cmd_help.c). */
void cli_main_help(const struct cmd_spec *table, FILE *f);
/* Options that only choose text or JSON output (-o FORMAT, --json): -1 after
 * help was shown, EXIT_USAGE after a usage error, else 0 with *json set. */
enum { OPT_OUT_JSON = 'j', OPT_OUT_FORMAT = 'o' };
int opt_parse_output(const struct cmd_spec *cmd, int argc, char **argv, bool *json);

/* Resolves the NATS URL: --server > NATS_URL > the config file > the running local
 * stack > default. */
void cli_resolve_server(struct cli *cli);

/* Settings with flag > environment > config file > default precedence (config.c). */
enum config_key_id {
    CFG_SERVER,
    CFG_USER,
    CFG_PASSWORD,
    CFG_TOKEN,
    CFG_CREDS,
    CFG_NKEY,
    CFG_NKEY_SEED,
    CFG_TLS_CA,
    CFG_TLS_CERT,
    CFG_TLS_KEY,
    CFG_CONTEXT,
    CFG_NAMESPACE,
    CFG_DISPLAY,
    CFG_SIZE,
    CFG_COUNT
};
/* Reads the config file (path_flag, or the default place) and the environment;
 * 0, or EXIT_USAGE after printing what is wrong with the file. */
int config_load(const char *path_flag);
void config_set_flag(enum config_key_id k, const char *value);
/* The value (NULL when unset) and where it came from ("flag", "env NAME", "FILE:LINE"). */
const char *config_get(enum config_key_id k);
const char *config_source(enum config_key_id k);
const char *config_file_path(void);
/* Sets k as coming from source (e.g. "local stack"); the name and secrecy of k. */
void config_set_from(enum config_key_id k, const char *value, const char *source);
const char *config_key_name(enum config_key_id k);
bool config_key_secret(enum config_key_id k);
/* Connection options for cli->server with the configured credentials and TLS. */
void cli_connect_opts(const struct cli *cli, struct mq_connect_opts *co, const char *name);
int cmd_config(struct cli *cli, int argc, char **argv);
extern const struct opt_spec config_opts[];

/* Messages: "memectl: ..." on stderr; quiet suppresses info (report.c). */
void cli_info(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes data to path ("-": stdout) through a temporary file and rename, so no
 * partial file is ever left under the final name. 0 or -errno. */
int cli_save_file(const char *path, const void *data, size_t len);
/* The display mode: flag (a --display value, or NULL) > MEMECTL_DISPLAY > the
 * config file > auto. 0, or EXIT_USAGE after saying what is wrong. */
int cli_display_setting(const struct cmd_spec *cmd, const char *flag, enum term_display *out);
/* Draws the image bytes (PNG or JPEG) on stdout as want and the terminal
 * allow (show_image.c); graphics only ever to a terminal. */
void cli_show_image(const struct cli *cli, enum term_display want, const uint8_t *data, size_t len);
/* Exit code for a libmeme error code. */
int cli_exit_for(int code);

int cmd_gen(struct cli *cli, int argc, char **argv);
int cmd_get(struct cli *cli, int argc, char **argv);
extern const struct opt_spec get_opts[];
int cmd_up(struct cli *cli, int argc, char **argv);
int cmd_down(struct cli *cli, int argc, char **argv);
int cmd_templates(struct cli *cli, int argc, char **argv);
int cmd_bench(struct cli *cli, int argc, char **argv);
extern const struct opt_spec bench_opts[];
int cmd_tui(struct cli *cli, int argc, char **argv);
extern const struct opt_spec tui_opts[];
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_watch(struct cli *cli, int argc, char **argv);
int cmd_explain(struct cli *cli, int argc, char **argv);
extern const struct opt_spec status_opts[], watch_opts[], explain_opts[];
int cmd_simulate(struct cli *cli, int argc, char **argv);
extern const struct opt_spec simulate_opts[];
int cmd_version(struct cli *cli, int argc, char **argv);
int cmd_completion(struct cli *cli, int argc, char **argv);
int cmd_help_run(struct cli *cli, int argc, char **argv);
/* The hidden `memectl __complete WORDS...` (argv[0] is "__complete"). */
int cmd_complete_words(const struct cmd_spec *table, int argc, char **argv);
/* Writes the completion script for shell ("bash", "zsh", "fish"); -1 if unknown. */
int completion_script(const char *shell, FILE *f);

extern const struct opt_spec gen_opts[], up_opts[], down_opts[], templates_opts[], version_opts[],
    completion_opts[], help_opts[];

#endif
