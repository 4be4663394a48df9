/*
 * memectl templates: the local engine's meme backgrounds, with each one's
 * size and the caption boxes, as text or JSON. It reads the template set
 * alone, not the whole renderer: no font is opened, and memectl does not
 * link the text shaping libraries.
 */
#include "cli.h"
#include "render/render.h"
#include "render/template.h"

#include <jansson.h>
#include <stdio.h>

const struct opt_spec templates_opts[] = {
    {OPT_OUT_FORMAT, 'o', "output", "FORMAT", "text or json", "text json"},
    {OPT_OUT_JSON, 0, "json", NULL, "same as -o json", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};

int cmd_templates(struct cli *cli, int argc, char **argv)
{
    bool json;
    struct meme_err err = {0};
    int rc = opt_parse_output(cli->cmd, argc, argv, &json);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    struct template_set *t = template_set_new(NULL, &err);
    if (!t) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    struct render_template_info info[256];
    size_t n = template_count(t);
    if (n > 256)
        n = 256;
    for (size_t i = 0; i < n; i++) {
        info[i].name = template_name(t, i);
        info[i].description = template_description(t, i);
        info[i].builtin = template_is_builtin(t, i);
    }
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "name", json_string(info[i].name));
            json_object_set_new(o, "description", json_string(info[i].description));
            json_object_set_new(o, "kind", json_string(info[i].builtin ? "generated" : "file"));
            /* Generated ones are drawn at the request's size; files are cropped to it. */
            int w = 0, h = 0;
            bool sized = !info[i].builtin && template_source_size(t, i, &w, &h);
            json_object_set_new(o, "width", sized ? json_integer(w) : json_null());
            json_object_set_new(o, "height", sized ? json_integer(h) : json_null());
            json_t *boxes = json_object();
            json_object_set_new(boxes, "top",
                                json_pack("{s:i,s:i}", "from_pct", RENDER_MARGIN_PCT, "to_pct",
                                          RENDER_MARGIN_PCT + RENDER_BOX_PCT));
            json_object_set_new(boxes, "bottom",
                                json_pack("{s:i,s:i}", "from_pct",
                                          100 - RENDER_MARGIN_PCT - RENDER_BOX_PCT, "to_pct",
                                          100 - RENDER_MARGIN_PCT));
            json_object_set_new(o, "boxes", boxes);
            json_array_append_new(arr, o);
        }
        json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        fputc('\n', stdout);
        json_decref(arr);
    } else {
        printf("%-20s %-10s %-10s %s\n", "NAME", "KIND", "SIZE", "DESCRIPTION");
        for (size_t i = 0; i < n; i++) {
            char size[32] = "any";
            int w = 0, h = 0;
            if (!info[i].builtin && template_source_size(t, i, &w, &h))
                snprintf(size, sizeof(size), "%dx%d", w, h);
            else if (!info[i].builtin)
                snprintf(size, sizeof(size), "unreadable");
            printf("%-20s %-10s %-10s %s\n", info[i].name, info[i].builtin ? "generated" : "file",
                   size, info[i].description);
        }
        printf("\ncaption boxes: top %d-%d%%, bottom %d-%d%% of the height, %d%% side margins; "
               "files are cropped to the requested size around their centre\n",
               RENDER_MARGIN_PCT, RENDER_MARGIN_PCT + RENDER_BOX_PCT,
               100 - RENDER_MARGIN_PCT - RENDER_BOX_PCT, 100 - RENDER_MARGIN_PCT,
               RENDER_MARGIN_PCT);
    }
    template_set_free(t);
    return EXIT_OK;
}
