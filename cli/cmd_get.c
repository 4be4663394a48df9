/*
 * memectl get: fetch a finished meme by request id from the results bucket
 * (docs/protocol.md, "Results by id"), for a client that went away or ran
 * `gen --no-wait`. Saves the image without ever leaving a partial file and
 * draws it as gen does.
 */
#include "cli.h"
#include "render/image.h"
#include "mq/proto.h"
#include "mq/results.h"
#include "term/term.h"
#include "xalloc.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    GET_OUTPUT = 'o',
    GET_JSON = 1000,
    GET_DISPLAY,
};

const struct opt_spec get_opts[] = {
    {GET_OUTPUT, 'o', "output", "FILE", "save to FILE (\"-\" for stdout); default meme-ID.EXT",
     NULL},
    {GET_DISPLAY, 0, "display", "MODE",
     "how to draw the meme: auto, kitty, iterm2, sixel, blocks or none (default auto)",
     "auto kitty iterm2 sixel blocks none"},
    {GET_JSON, 0, "json", NULL, "print what was fetched as JSON on stdout", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};

int cmd_get(struct cli *cli, int argc, char **argv)
{
    struct opt_iter it;
    struct mq_conn mq = {0};
    struct meme_err err = {0};
    struct results_meta meta;
    kvStore *kv = NULL;
    uint8_t *data = NULL;
    size_t len = 0;
    char *path = NULL;
    const char *output = NULL, *display_flag = NULL;
    enum term_display display;
    bool json = false;
    int rc = EXIT_OK, r;

    opt_init(&it, cli->cmd, argc, argv);
    while ((r = opt_next(&it)) > 0) {
        switch (it.key) {
        case 'h':
            opt_release(&it);
            return EXIT_OK;
        case GET_OUTPUT:
            output = it.value;
            break;
        case GET_JSON:
            json = true;
            break;
        case GET_DISPLAY:
            display_flag = it.value;
            break;
        }
    }
    if (r < 0 || cli_display_setting(cli->cmd, display_flag, &display)) {
        opt_release(&it);
        return EXIT_USAGE;
    }
    if (it.npositional != 1) {
        cmd_usage_error(cli->cmd, "%s", it.npositional ? "give one id" : "no id given");
        opt_release(&it);
        return EXIT_USAGE;
    }
    char id[PROTO_ID_MAX + 1];
    if (!proto_id_valid(it.positional[0])) {
        char *safe = term_sanitize_dup(it.positional[0]);
        cli_error("\"%.80s\" is not a request id (1 to %d of A-Z a-z 0-9 _ : -)", safe,
                  PROTO_ID_MAX);
        free(safe);
        opt_release(&it);
        return EXIT_USAGE;
    }
    snprintf(id, sizeof(id), "%s", it.positional[0]);
    opt_release(&it);
    if (output && strcmp(output, "-") == 0 && isatty(1)) {
        cli_error("refusing to write image bytes to a terminal; use -o FILE or a pipe");
        return EXIT_USAGE;
    }

    cli_resolve_server(cli);
    struct mq_connect_opts co;
    cli_connect_opts(cli, &co, "memectl get");
    if (mq_connect(&mq, &co, &err) < 0) {
        cli_error("%s", err.msg);
        rc = cli_exit_for(err.code);
        goto out;
    }
    if (results_open(mq.js, PROTO_RESULTS_BUCKET, false, 0, 0, &kv, &err) < 0 ||
        results_get(kv, id, &meta, &data, &len, &err) < 0) {
        cli_error("%s", err.msg);
        rc = err.code == MEME_E_NOT_FOUND ? EXIT_FAIL : cli_exit_for(err.code);
        goto out;
    }
    if (!meta.ok) {
        char *msg = term_sanitize_dup(meta.message);
        char *code = term_sanitize_dup(meta.code);
        cli_error("request %s failed: %s (%s)", id, msg, code);
        free(msg);
        free(code);
        rc = EXIT_FAIL;
        goto out;
    }
    int fmt = image_sniff(data, len);
    if (fmt < 0) {
        cli_error("the stored result of %s is not a PNG or JPEG image (%zu bytes)", id, len);
        rc = EXIT_FAIL;
        goto out;
    }
    path = output ? xstrdup(output)
                  : xasprintf("meme-%.8s.%s", id, image_extension((enum image_format)fmt));
    int src = cli_save_file(path, data, len);
    if (src < 0) {
        cli_error("cannot write \"%s\": %s", path, strerror(-src));
        rc = EXIT_FAIL;
        goto out;
    }
    bool to_stdout = strcmp(path, "-") == 0;
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(id));
        json_object_set_new(o, "file", to_stdout ? json_null() : json_string(path));
        json_object_set_new(o, "content_type", json_string(meta.content_type));
        json_object_set_new(o, "width", json_integer(meta.width));
        json_object_set_new(o, "height", json_integer(meta.height));
        json_object_set_new(o, "bytes", json_integer((json_int_t)len));
        json_object_set_new(o, "template", json_string(meta.template_name));
        json_object_set_new(o, "engine", json_string(meta.engine));
        json_object_set_new(o, "worker", json_string(meta.worker));
        json_object_set_new(o, "created", json_integer(meta.created));
        json_dumpf(o, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        json_decref(o);
    } else if (!to_stdout) {
        cli_show_image(cli, display, data, len);
        char *tmpl = term_sanitize_dup(meta.template_name);
        cli_info(cli, "saved %s (%dx%d, %zu KB) · template %s", path, meta.width, meta.height,
                 (len + 1023) / 1024, tmpl);
        free(tmpl);
        if (!isatty(1))
            printf("%s\n", path);
    }
out:
    kvStore_Destroy(kv);
    mq_close(&mq);
    free(data);
    free(path);
    return rc;
}
