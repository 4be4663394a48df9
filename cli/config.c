/*
 * Configuration: every setting comes from, in order of precedence, a flag,
 * the environment, the config file, or a default. The file is
 * $MEMECTL_CONFIG, else $XDG_CONFIG_HOME/memectl/config, else
 * ~/.config/memectl/config (or --config FILE): lines of `key = value`, `#`
 * comments. memectl.conf(5) documents it; `memectl config view` shows the
 * merged result and where each value came from, secrets masked.
 */
#include "cli.h"
#include "stack.h"
#include "xalloc.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct config_key {
    const char *name;
    const char *env;
    bool secret;
    const char *help;
} keys[CFG_COUNT] = {
    [CFG_SERVER] = {"server", "NATS_URL", false, "NATS server URL"},
    [CFG_USER] = {"user", "NATS_USER", false, "NATS user name"},
    [CFG_PASSWORD] = {"password", "NATS_PASSWORD", true, "NATS password"},
    [CFG_TOKEN] = {"token", "NATS_TOKEN", true, "NATS token"},
    [CFG_CREDS] = {"creds", "NATS_CREDS", false, "NATS credentials file (JWT and nkey seed)"},
    [CFG_NKEY] = {"nkey", "NATS_NKEY", false, "NATS public nkey (with nkey_seed)"},
    [CFG_NKEY_SEED] = {"nkey_seed", "NATS_NKEY_SEED", false, "file with the nkey seed"},
    [CFG_TLS_CA] = {"tls_ca", "NATS_CA", false, "CA bundle for the NATS server's certificate"},
    [CFG_TLS_CERT] = {"tls_cert", "NATS_CERT", false, "client certificate for NATS"},
    [CFG_TLS_KEY] = {"tls_key", "NATS_KEY", false, "client key for NATS"},
    [CFG_CONTEXT] = {"context", "MEMECTL_CONTEXT", false, "kubeconfig context"},
    [CFG_NAMESPACE] = {"namespace", "MEMECTL_NAMESPACE", false, "Kubernetes namespace"},
    [CFG_DISPLAY] = {"display", "MEMECTL_DISPLAY", false,
                     "how memes are drawn: auto, kitty, iterm2, sixel, blocks or none"},
    [CFG_SIZE] = {"size", "MEMECTL_SIZE", false, "meme size in pixels"},
};

struct setting {
    char *value;
    char *source; /* "flag", "env NAME", "FILE:LINE" */
};

static struct setting settings[CFG_COUNT];
static char *config_path;

static void set(enum config_key_id k, const char *value, const char *source)
{
    free(settings[k].value);
    free(settings[k].source);
    settings[k].value = xstrdup(value);
    settings[k].source = xstrdup(source);
}

static void release_all(void)
{
    for (int k = 0; k < CFG_COUNT; k++) {
        free(settings[k].value);
        free(settings[k].source);
        settings[k].value = settings[k].source = NULL;
    }
    free(config_path);
    config_path = NULL;
}

static char *default_path(void)
{
    const char *env = getenv("MEMECTL_CONFIG");
    if (env && *env)
        return xstrdup(env);
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg && *xdg)
        return xasprintf("%s/memectl/config", xdg);
    const char *home = getenv("HOME");
    return xasprintf("%s/.config/memectl/config", home && *home ? home : ".");
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static int find_key(const char *name)
{
    for (int k = 0; k < CFG_COUNT; k++)
        if (strcmp(keys[k].name, name) == 0)
            return k;
    return -1;
}

/* Reads the file; a missing default file is fine, a missing named one is not. */
static int load_file(const char *path, bool must_exist)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT && !must_exist)
            return 0;
        cli_error("cannot read config file %s: %s", path, strerror(errno));
        return EXIT_USAGE;
    }
    struct stat st;
    bool has_secret = false;
    char line[4096];
    int n = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        n++;
        if (!strchr(line, '\n') && !feof(f)) {
            cli_error("%s:%d: line too long (at most %zu bytes)", path, n, sizeof(line) - 2);
            rc = EXIT_USAGE;
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            cli_error("%s:%d: expected `key = value`", path, n);
            rc = EXIT_USAGE;
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        int k = find_key(name);
        if (k < 0) {
            const char *names[CFG_COUNT];
            for (int i = 0; i < CFG_COUNT; i++)
                names[i] = keys[i].name;
            const char *near = closest_word(name, names, CFG_COUNT);
            cli_error("%s:%d: unknown key \"%s\"%s%s%s (see memectl.conf(5))", path, n, name,
                      near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "");
            rc = EXIT_USAGE;
            break;
        }
        /* Quotes are optional around a value. */
        size_t vl = strlen(value);
        if (vl >= 2 && ((value[0] == '"' && value[vl - 1] == '"') ||
                        (value[0] == '\'' && value[vl - 1] == '\''))) {
            value[vl - 1] = '\0';
            value++;
        }
        char src[512];
        snprintf(src, sizeof(src), "%s:%d", path, n);
        set((enum config_key_id)k, value, src);
        has_secret |= keys[k].secret;
    }
    if (has_secret && fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
        fprintf(stderr,
                "memectl: warning: %s holds a secret but others can read it; "
                "run: chmod 600 %s\n",
                path, path);
    fclose(f);
    return rc;
}

int config_load(const char *path_flag)
{
    static bool registered;
    if (!registered) {
        atexit(release_all);
        registered = true;
    }
    config_path = path_flag ? xstrdup(path_flag) : default_path();
    const char *named = path_flag ? path_flag : getenv("MEMECTL_CONFIG");
    int rc = load_file(config_path, named && *named);
    if (rc)
        return rc;
    /* The environment wins over the file. */
    for (int k = 0; k < CFG_COUNT; k++) {
        const char *v = getenv(keys[k].env);
        if (v && *v) {
            char src[64];
            snprintf(src, sizeof(src), "env %s", keys[k].env);
            set((enum config_key_id)k, v, src);
        }
    }
    return 0;
}

void config_set_flag(enum config_key_id k, const char *value)
{
    set(k, value, "flag");
}

const char *config_get(enum config_key_id k)
{
    return settings[k].value;
}

const char *config_source(enum config_key_id k)
{
    return settings[k].source;
}

const char *config_file_path(void)
{
    return config_path;
}

void cli_connect_opts(const struct cli *cli, struct mq_connect_opts *co, const char *name)
{
    memset(co, 0, sizeof(*co));
    co->url = cli->server;
    co->name = name;
    co->user = config_get(CFG_USER);
    co->password = config_get(CFG_PASSWORD);
    co->token = config_get(CFG_TOKEN);
    co->creds_file = config_get(CFG_CREDS);
    co->nkey = config_get(CFG_NKEY);
    co->nkey_seed_file = config_get(CFG_NKEY_SEED);
    co->tls_ca = config_get(CFG_TLS_CA);
    co->tls_cert = config_get(CFG_TLS_CERT);
    co->tls_key = config_get(CFG_TLS_KEY);
}

void config_set_from(enum config_key_id k, const char *value, const char *source)
{
    set(k, value, source);
}

const char *config_key_name(enum config_key_id k)
{
    return keys[k].name;
}

bool config_key_secret(enum config_key_id k)
{
    return keys[k].secret;
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
