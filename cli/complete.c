/*
 * Shell completion. The scripts for bash, zsh and fish are small and fixed:
 * each asks the binary, through the hidden `memectl __complete WORDS...`,
 * what may come next. The answers come from the same command and option
 * tables as the parser and --help, so completion cannot drift from them,
 * and dynamic values (template names, kube contexts) are looked up live.
 *
 * Answer format: one candidate per line, optionally "candidate<TAB>help";
 * a single line ":file" asks the shell to complete file names.
 */
#include "cli.h"
#include "kube/kube_status.h"
#include "render/template.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* Global options: name, takes a value, help. */
static const struct {
    const char *name;
    int takes_value;
    const char *help;
} globals[] = {
    {"-s", 1, "NATS server URL"},
    {"--server", 1, "NATS server URL"},
    {"--config", 1, "settings file"},
    {"-q", 0, "only errors on stderr"},
    {"--quiet", 0, "only errors on stderr"},
    {"-v", 0, "more detail"},
    {"--verbose", 0, "more detail"},
    {"-h", 0, "show help"},
    {"--help", 0, "show help"},
    {"--version", 0, "show the version"},
};

#define NGLOBALS (sizeof(globals) / sizeof(globals[0]))

static int global_takes_value(const char *w)
{
    for (size_t i = 0; i < NGLOBALS; i++)
        if (strcmp(w, globals[i].name) == 0)
            return globals[i].takes_value;
    return 0;
}

static void emit(const char *cur, const char *cand, const char *help)
{
    if (strncmp(cand, cur, strlen(cur)) != 0)
        return;
    if (help && *help)
        printf("%s\t%s\n", cand, help);
    else
        printf("%s\n", cand);
}

/* The value of key in a YAML mapping node, or NULL. */
static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

/* Emits the context names (want_ns false) or their namespaces (true) of one
 * kubeconfig file; a file that cannot be read or parsed offers nothing. */
static void kubeconfig_names(const char *path, bool want_ns, const char *cur)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (yaml_parser_load(&parser, &doc)) {
        yaml_node_t *ctxs = map_get(&doc, yaml_document_get_root_node(&doc), "contexts");
        if (ctxs && ctxs->type == YAML_SEQUENCE_NODE)
            for (yaml_node_item_t *it = ctxs->data.sequence.items.start;
                 it < ctxs->data.sequence.items.top; it++) {
                yaml_node_t *c = yaml_document_get_node(&doc, *it);
                yaml_node_t *v = want_ns ? map_get(&doc, map_get(&doc, c, "context"), "namespace")
                                         : map_get(&doc, c, "name");
                if (v && v->type == YAML_SCALAR_NODE)
                    emit(cur, (char *)v->data.scalar.value, NULL);
            }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
}

/* Kube contexts or namespaces from $KUBECONFIG (a ':' list) or ~/.kube/config. */
static void kube_names(bool want_ns, const char *cur)
{
    const char *env = getenv("KUBECONFIG");
    if (env && *env) {
        char *list = xstrdup(env);
        for (char *save = NULL, *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save))
            kubeconfig_names(p, want_ns, cur);
        free(list);
    } else {
        const char *home = getenv("HOME");
        char *p = xasprintf("%s/.kube/config", home ? home : ".");
        kubeconfig_names(p, want_ns, cur);
        free(p);
    }
    if (want_ns)
        for (int i = 0; i < KUBE_STATUS_DEFAULT_NS_COUNT; i++)
            emit(cur, kube_status_default_namespaces[i], "a namespace the stack uses");
}

/* Values named by a marker in an option's value list ("@templates"). */
static void emit_dynamic(const char *marker, const char *cur)
{
    if (strcmp(marker, "@templates") == 0) {
        struct template_set *t = template_set_new(NULL, NULL);
        if (!t)
            return;
        for (size_t i = 0; i < template_count(t); i++)
            emit(cur, template_name(t, i), template_description(t, i));
        template_set_free(t);
    } else if (strcmp(marker, "@file") == 0) {
        puts(":file");
    } else if (strcmp(marker, "@contexts") == 0) {
        kube_names(false, cur);
    } else if (strcmp(marker, "@namespaces") == 0) {
        kube_names(true, cur);
    }
    /* Other markers name values this build cannot list: nothing to offer. */
}

/* Fixed values of a command's positional arguments. */
static const struct {
    const char *cmd;
    const char *values;
} positionals[] = {
    {"explain", "hpa scaledobject vpa"},
    {"config", "view path"},
};

/* Completes the value of opt. */
static void emit_values(const struct opt_spec *o, const char *cur)
{
    if (o->values) {
        char *copy = xstrdup(o->values);
        for (char *save = NULL, *w = strtok_r(copy, " ", &save); w;
             w = strtok_r(NULL, " ", &save)) {
            if (w[0] == '@')
                emit_dynamic(w, cur);
            else
                emit(cur, w, NULL);
        }
        free(copy);
    } else if (strcmp(o->arg, "FILE") == 0 || strcmp(o->arg, "DIR") == 0) {
        puts(":file");
    }
}

static const struct opt_spec *find_opt(const struct cmd_spec *c, const char *word)
{
    for (const struct opt_spec *o = c->opts; o && o->key; o++) {
        if (word[0] == '-' && word[1] == '-' && strcmp(word + 2, o->long_name) == 0)
            return o;
        if (word[0] == '-' && word[1] == o->short_name && word[1] && word[2] == '\0')
            return o;
    }
    return NULL;
}

int cmd_complete_words(const struct cmd_spec *table, int argc, char **argv)
{
    /* argv[0] is "__complete"; argv[1..argc-1] are the words after "memectl",
     * the last being the one under the cursor (possibly empty). */
    int nwords = argc - 1;
    char **words = argv + 1;
    const char *cur = nwords > 0 ? words[nwords - 1] : "";
    int i = 0;
    /* Global options before the command. */
    while (i < nwords - 1 && words[i][0] == '-') {
        if (global_takes_value(words[i])) {
            if (i + 1 == nwords - 1) {
                /* The value of a global option is under the cursor. */
                if (strcmp(words[i], "--config") == 0)
                    puts(":file");
                else
                    emit(cur, "nats://127.0.0.1:4222", "the local stack's default");
                return EXIT_OK;
            }
            i++;
        }
        i++;
    }
    if (i >= nwords - 1) {
        if (cur[0] == '-') {
            for (size_t g = 0; g < NGLOBALS; g++)
                emit(cur, globals[g].name, globals[g].help);
        } else {
            for (const struct cmd_spec *c = table; c->name; c++)
                emit(cur, c->name, c->summary);
        }
        return EXIT_OK;
    }
    const struct cmd_spec *cmd = cmd_find(table, words[i]);
    if (!cmd)
        return EXIT_OK;
    /* The previous word may be an option waiting for its value. */
    if (nwords - 2 > i) {
        const struct opt_spec *o = find_opt(cmd, words[nwords - 2]);
        if (o && o->arg) {
            emit_values(o, cur);
            return EXIT_OK;
        }
    }
    if (cur[0] == '-') {
        for (const struct opt_spec *o = cmd->opts; o && o->key; o++) {
            char name[80];
            snprintf(name, sizeof(name), "--%s", o->long_name);
            emit(cur, name, o->help);
            if (o->short_name && cur[1] != '-') {
                snprintf(name, sizeof(name), "-%c", o->short_name);
                emit(cur, name, o->help);
            }
        }
        emit(cur, "--help", "show help");
        return EXIT_OK;
    }
    /* Positional arguments. */
    if (strcmp(cmd->name, "help") == 0) {
        for (const struct cmd_spec *c = table; c->name; c++)
            emit(cur, c->name, c->summary);
    } else if (strcmp(cmd->name, "completion") == 0) {
        emit(cur, "bash", NULL);
        emit(cur, "zsh", NULL);
        emit(cur, "fish", NULL);
    } else {
        for (size_t p = 0; p < sizeof(positionals) / sizeof(positionals[0]); p++) {
            if (strcmp(positionals[p].cmd, cmd->name) != 0)
                continue;
            char *copy = xstrdup(positionals[p].values);
            for (char *save = NULL, *w = strtok_r(copy, " ", &save); w;
                 w = strtok_r(NULL, " ", &save))
                emit(cur, w, NULL);
            free(copy);
        }
    }
    return EXIT_OK;
}

static const char bash_script[] =
    "# bash completion for memectl; generated by `memectl completion bash`.\n"
    "# The candidates come from `memectl __complete`, so they always match the binary.\n"
    "_memectl() {\n"
    "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" out\n"
    "    local IFS=$'\\n'\n"
    "    out=$(\"${COMP_WORDS[0]}\" __complete \"${COMP_WORDS[@]:1:COMP_CWORD}\" 2>/dev/null "
    "| cut -f1) || return\n"
    "    if [ \"$out\" = \":file\" ]; then\n"
    "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
    "        return\n"
    "    fi\n"
    "    COMPREPLY=($(compgen -W \"$out\" -- \"$cur\"))\n"
    "}\n"
    "complete -o default -F _memectl memectl\n";

static const char zsh_script[] =
    "#compdef memectl\n"
    "# zsh completion for memectl; generated by `memectl completion zsh`.\n"
    "# The candidates come from `memectl __complete`, so they always match the binary.\n"
    "_memectl() {\n"
    "    local out line\n"
    "    local -a cands\n"
    "    out=$(\"${words[1]}\" __complete \"${(@)words[2,CURRENT]}\" 2>/dev/null) || return\n"
    "    if [[ $out == \":file\" ]]; then\n"
    "        _files\n"
    "        return\n"
    "    fi\n"
    "    for line in \"${(@f)out}\"; do\n"
    "        [[ -z $line ]] && continue\n"
    "        if [[ $line == *$'\\t'* ]]; then\n"
    "            cands+=(\"${${line%%$'\\t'*}//:/\\\\:}:${line#*$'\\t'}\")\n"
    "        else\n"
    "            cands+=(\"${line//:/\\\\:}\")\n"
    "        fi\n"
    "    done\n"
    "    _describe 'memectl' cands\n"
    "}\n"
    "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n"
    "    _memectl \"$@\"\n"
    "else\n"
    "    compdef _memectl memectl\n"
    "fi\n";

static const char fish_script[] =
    "# fish completion for memectl; generated by `memectl completion fish`.\n"
    "# The candidates come from `memectl __complete`, so they always match the binary.\n"
    "function __memectl_complete\n"
    "    set -l words (commandline -opc) (commandline -ct)\n"
    "    set -l out ($words[1] __complete $words[2..-1] 2>/dev/null)\n"
    "    if test \"$out[1]\" = \":file\"\n"
    "        __fish_complete_path (commandline -ct)\n"
    "        return\n"
    "    end\n"
    "    printf '%s\\n' $out\n"
    "end\n"
    "complete -c memectl -f -a '(__memectl_complete)'\n";

int completion_script(const char *shell, FILE *f)
{
    if (strcmp(shell, "bash") == 0)
        fputs(bash_script, f);
    else if (strcmp(shell, "zsh") == 0)
        fputs(zsh_script, f);
    else if (strcmp(shell, "fish") == 0)
        fputs(fish_script, f);
    else
        return -1;
    return 0;
}
