/*
 * Option parsing driven by each command's table: the same table produces
 * --help, usage errors with a "did you mean" hint, and shell completions, so
 * the three can never disagree.
 */
#include "cli.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const struct opt_spec help_opt = {'h', 'h', "help", NULL, "show this help", NULL};

void opt_init(struct opt_iter *it, const struct cmd_spec *cmd, int argc, char **argv)
{
    memset(it, 0, sizeof(*it));
    it->cmd = cmd;
    it->argc = argc;
    it->argv = argv;
    it->i = 1;
    it->positional = xcalloc((size_t)argc + 1, sizeof(char *));
}

void opt_release(struct opt_iter *it)
{
    free(it->positional);
    it->positional = NULL;
}

static const struct opt_spec *find_long(const struct cmd_spec *cmd, const char *name, size_t len)
{
    for (const struct opt_spec *o = cmd->opts; o && o->key; o++)
        if (o->long_name && strlen(o->long_name) == len && strncmp(o->long_name, name, len) == 0)
            return o;
    if (len == 4 && strncmp(name, "help", 4) == 0)
        return &help_opt;
    return NULL;
}

static const struct opt_spec *find_short(const struct cmd_spec *cmd, char c)
{
    for (const struct opt_spec *o = cmd->opts; o && o->key; o++)
        if (o->short_name == c)
            return o;
    return c == 'h' ? &help_opt : NULL;
}

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

/* Edits (insert, delete, substitute, swap two neighbours) from a to b. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t v =
                min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]));
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

const char *closest_word(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t best_d = 99;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    /* Close enough: at most a third of the word wrong, at least one letter. */
    size_t allowed = strlen(word) / 3 > 1 ? strlen(word) / 3 : 1;
    if (allowed > 3)
        allowed = 3;
    return best_d <= allowed ? best : NULL;
}

static void unknown_long(const struct cmd_spec *cmd, const char *name, size_t len)
{
    const char *cands[64];
    size_t n = 0;
    char word[65];
    snprintf(word, sizeof(word), "%.*s", (int)(len < 64 ? len : 64), name);
    for (const struct opt_spec *o = cmd->opts; o && o->key && n < 63; o++)
        if (o->long_name)
            cands[n++] = o->long_name;
    cands[n++] = "help";
    const char *near = closest_word(word, cands, n);
    if (near)
        cmd_usage_error(cmd, "unknown option \"--%s\"; did you mean \"--%s\"?", word, near);
    else
        cmd_usage_error(cmd, "unknown option \"--%s\"", word);
}

int opt_next(struct opt_iter *it)
{
    const struct opt_spec *o;
    for (;;) {
        if (it->bundle && *it->bundle) {
            char c = *it->bundle++;
            o = find_short(it->cmd, c);
            if (!o) {
                cmd_usage_error(it->cmd, "unknown option \"-%c\"", c);
                return -1;
            }
            if (o->arg) {
                if (*it->bundle) {
                    it->value = it->bundle;
                } else if (it->i < it->argc) {
                    it->value = it->argv[it->i++];
                } else {
                    cmd_usage_error(it->cmd, "option \"-%c\" needs a value (%s)", c, o->arg);
                    return -1;
                }
                it->bundle = NULL;
            } else {
                it->value = NULL;
            }
            it->key = o->key;
            if (o->key == 'h') {
                cmd_help(it->cmd, stdout);
            }
            return 1;
        }
        it->bundle = NULL;
        if (it->i >= it->argc) {
            /* A command whose usage names no arguments takes none. */
            if (it->npositional > 0 && it->cmd && strcmp(it->cmd->usage, "[options]") == 0) {
                cmd_usage_error(it->cmd, "unexpected argument \"%s\"", it->positional[0]);
                return -1;
            }
            return 0;
        }
        char *a = it->argv[it->i++];
        if (it->done_opts || a[0] != '-' || a[1] == '\0') {
            it->positional[it->npositional++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            it->done_opts = true;
            continue;
        }
        if (a[1] != '-') {
            it->bundle = a + 1;
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        o = find_long(it->cmd, name, len);
        if (!o) {
            unknown_long(it->cmd, name, len);
            return -1;
        }
        if (o->arg) {
            if (eq) {
                it->value = eq + 1;
            } else if (it->i < it->argc) {
                it->value = it->argv[it->i++];
            } else {
                cmd_usage_error(it->cmd, "option \"--%s\" needs a value (%s)", o->long_name,
                                o->arg);
                return -1;
            }
        } else {
            if (eq) {
                cmd_usage_error(it->cmd, "option \"--%s\" takes no value", o->long_name);
                return -1;
            }
            it->value = NULL;
        }
        it->key = o->key;
        if (o->key == 'h')
            cmd_help(it->cmd, stdout);
        return 1;
    }
}

static void print_opt(FILE *f, const struct opt_spec *o)
{
    char left[64];
    int n = 0;
    if (o->short_name)
        n = snprintf(left, sizeof(left), "-%c, ", o->short_name);
    else
        n = snprintf(left, sizeof(left), "    ");
    snprintf(left + n, sizeof(left) - (size_t)n, "--%s%s%s", o->long_name, o->arg ? " " : "",
             o->arg ? o->arg : "");
    fprintf(f, "  %-26s %s\n", left, o->help);
}

void cmd_help(const struct cmd_spec *cmd, FILE *f)
{
    fprintf(f, "usage: memectl %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
    if (cmd->description)
        fprintf(f, "\n%s\n", cmd->description);
    if (cmd->opts && cmd->opts->key) {
        fputs("\noptions:\n", f);
        for (const struct opt_spec *o = cmd->opts; o->key; o++)
            print_opt(f, o);
    }
    print_opt(f, &help_opt);
    fputs("\nglobal options (before the command): -s/--server URL, -q/--quiet, -v/--verbose\n", f);
    if (cmd->own_page)
        fprintf(f, "see memectl-%s(1) for more\n", cmd->name);
    else
        fputs("see memectl(1) for more\n", f);
}

void cmd_usage_error(const struct cmd_spec *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("memectl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "\nusage: memectl %s %s\n(see `memectl %s --help`)\n", cmd->name,
                cmd->usage, cmd->name);
    else
        fputs("\n(see `memectl --help`)\n", stderr);
}

int opt_parse_output(const struct cmd_spec *cmd, int argc, char **argv, bool *json)
{
    struct opt_iter it;
    int r, rc = 0;
    *json = false;
    opt_init(&it, cmd, argc, argv);
    while ((r = opt_next(&it)) > 0) {
        if (it.key == 'h') {
            rc = -1;
            break;
        }
        if (it.key == OPT_OUT_JSON) {
            *json = true;
        } else if (it.key == OPT_OUT_FORMAT) {
            if (strcmp(it.value, "json") == 0) {
                *json = true;
            } else if (strcmp(it.value, "text") != 0) {
                cmd_usage_error(cmd, "-o must be text or json, not \"%s\"", it.value);
                rc = EXIT_USAGE;
                break;
            }
        }
    }
    if (rc == 0 && r < 0)
        rc = EXIT_USAGE;
    opt_release(&it);
    return rc;
}

const struct cmd_spec *cmd_find(const struct cmd_spec *table, const char *name)
{
    for (const struct cmd_spec *c = table; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}
