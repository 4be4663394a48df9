/*
 * memectl config [view|path]: every setting in use and where it came from
 * (flag, environment, config file line, default), secrets masked; or the
 * config file's path. The settings themselves are loaded in config.c.
 */
#include "cli.h"
#include "mq/mq.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

enum { CONFIG_JSON = 'j' };

const struct opt_spec config_opts[] = {
    {CONFIG_JSON, 0, "json", NULL, "print as JSON", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};

/* What config view prints for key k: masked when secret. */
static const char *shown(int k, char *buf, size_t n)
{
    const char *v = config_get((enum config_key_id)k);
    if (!v)
        return NULL;
    if (config_key_secret((enum config_key_id)k)) {
        snprintf(buf, n, "****");
        return buf;
    }
    if (k == CFG_SERVER) {
        mq_url_redacted(v, buf, n);
        return buf;
    }
    return v;
}

int cmd_config(struct cli *cli, int argc, char **argv)
{
    struct opt_iter it;
    int r;
    bool json = false;
    opt_init(&it, cli->cmd, argc, argv);
    while ((r = opt_next(&it)) > 0) {
        if (it.key == 'h') {
            opt_release(&it);
            return EXIT_OK;
        }
        if (it.key == CONFIG_JSON)
            json = true;
    }
    int rc = EXIT_OK;
    const char *what = it.npositional ? it.positional[0] : "view";
    if (r < 0) {
        rc = EXIT_USAGE;
    } else if (it.npositional > 1) {
        cmd_usage_error(cli->cmd, "unexpected argument \"%s\"", it.positional[1]);
        rc = EXIT_USAGE;
    } else if (strcmp(what, "path") == 0) {
        printf("%s\n", config_file_path());
    } else if (strcmp(what, "view") == 0) {
        /* The server as commands resolve it (the local stack counts too). */
        cli_resolve_server(cli);
        if (!config_get(CFG_SERVER) || strcmp(cli->server_source, "flag") == 0 ||
            strcmp(cli->server_source, "local stack") == 0 ||
            strcmp(cli->server_source, "default") == 0)
            config_set_from(CFG_SERVER, cli->server, cli->server_source);
        char buf[512];
        if (json) {
            json_t *o = json_object();
            json_object_set_new(o, "file", json_string(config_file_path()));
            json_t *vals = json_object();
            for (int k = 0; k < CFG_COUNT; k++) {
                const char *v = shown(k, buf, sizeof(buf));
                if (!v)
                    continue;
                json_t *e = json_object();
                json_object_set_new(e, "value", json_string(v));
                json_object_set_new(e, "source", json_string(config_source((enum config_key_id)k)));
                json_object_set(vals, config_key_name((enum config_key_id)k), e);
                json_decref(e);
            }
            json_object_set_new(o, "settings", vals);
            json_dumpf(o, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
            fputc('\n', stdout);
            json_decref(o);
        } else {
            printf("# file: %s\n", config_file_path());
            printf("%-10s %-40s %s\n", "KEY", "VALUE", "FROM");
            for (int k = 0; k < CFG_COUNT; k++) {
                const char *v = shown(k, buf, sizeof(buf));
                if (v)
                    printf("%-10s %-40s %s\n", config_key_name((enum config_key_id)k), v,
                           config_source((enum config_key_id)k));
            }
        }
    } else {
        cmd_usage_error(cli->cmd, "unknown subcommand \"%s\" (view or path)", what);
        rc = EXIT_USAGE;
    }
    opt_release(&it);
    return rc;
}
