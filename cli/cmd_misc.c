/*
 * The small commands: templates (the local engine's backgrounds), version
 * (ours and the libraries'), and completion (the scripts are in complete.c).
 */
#include "cli.h"
#include "render/render.h"
#include "xalloc.h"

#include <jansson.h>
#include <jpeglib.h>
#include <libdeflate.h>
#include <nats/nats.h>
#include <openssl/opensslv.h>
#include <png.h>
#include <sixel.h>
#include <stdlib.h>
#include <string.h>

#include <ft2build.h>
#include FT_FREETYPE_H

enum { OUT_JSON = 'j', OUT_FORMAT = 'o' };

const struct opt_spec templates_opts[] = {
    {OUT_FORMAT, 'o', "output", "FORMAT", "text or json", "text json"},
    {OUT_JSON, 0, "json", NULL, "same as -o json", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};

const struct opt_spec version_opts[] = {
    {OUT_JSON, 0, "json", NULL, "print as JSON", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};

const struct opt_spec completion_opts[] = {{0, 0, NULL, NULL, NULL, NULL}};

/* Parses options that only select text or JSON output; -1 for help shown,
 * EXIT_USAGE on error, else 0 with *json set. */
static int parse_output(struct cli *cli, int argc, char **argv, bool *json)
{
    struct opt_iter it;
    int r, rc = 0;
    *json = false;
    opt_init(&it, cli->cmd, argc, argv);
    while ((r = opt_next(&it)) > 0) {
        if (it.key == 'h') {
            rc = -1;
            break;
        }
        if (it.key == OUT_JSON) {
            *json = true;
        } else if (it.key == OUT_FORMAT) {
            if (strcmp(it.value, "json") == 0) {
                *json = true;
            } else if (strcmp(it.value, "text") != 0) {
                cmd_usage_error(cli->cmd, "-o must be text or json, not \"%s\"", it.value);
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

int cmd_templates(struct cli *cli, int argc, char **argv)
{
    bool json;
    struct meme_err err = {0};
    int rc = parse_output(cli, argc, argv, &json);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    struct renderer *r = renderer_new(NULL, NULL, &err);
    if (!r) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    struct render_template_info info[256];
    size_t n = renderer_templates(r, info, 256);
    if (n > 256)
        n = 256;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "name", json_string(info[i].name));
            json_object_set_new(o, "description", json_string(info[i].description));
            json_object_set_new(o, "kind", json_string(info[i].builtin ? "generated" : "file"));
            /* Generated ones are drawn at the request's size; files are cropped to it. */
            int w = 0, h = 0;
            bool sized = !info[i].builtin && renderer_template_size(r, i, &w, &h);
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
            if (!info[i].builtin && renderer_template_size(r, i, &w, &h))
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
    renderer_free(r);
    return EXIT_OK;
}

int cmd_version(struct cli *cli, int argc, char **argv)
{
    bool json = false;
    if (cli->cmd) {
        int rc = parse_output(cli, argc, argv, &json);
        if (rc)
            return rc < 0 ? EXIT_OK : rc;
    }
    FT_Library ft;
    FT_Int fa = 0, fb = 0, fc = 0;
    if (FT_Init_FreeType(&ft) == 0) {
        FT_Library_Version(ft, &fa, &fb, &fc);
        FT_Done_FreeType(ft);
    }
    char ftv[32], jpg[16];
    snprintf(ftv, sizeof(ftv), "%d.%d.%d", fa, fb, fc);
    snprintf(jpg, sizeof(jpg), "%d", JPEG_LIB_VERSION);
    const char *libs[][2] = {
        {"nats.c", nats_GetVersion()},
        {"jansson", jansson_version_str()},
        {"libsixel", LIBSIXEL_VERSION},
        {"freetype", ftv},
        {"libpng", png_libpng_ver},
        {"libjpeg", jpg},
        {"libdeflate", LIBDEFLATE_VERSION_STRING},
        {"openssl", OPENSSL_VERSION_TEXT},
    };
    size_t n = sizeof(libs) / sizeof(libs[0]);
    if (json) {
        json_t *o = json_object(), *l = json_object();
        json_object_set_new(o, "version", json_string(MEME_VERSION));
        json_object_set_new(o, "protocol", json_integer(1));
        for (size_t i = 0; i < n; i++)
            json_object_set_new(l, libs[i][0], json_string(libs[i][1]));
        json_object_set_new(o, "libraries", l);
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        fputc('\n', stdout);
        json_decref(o);
        return EXIT_OK;
    }
    printf("memectl %s (protocol v1)\n", MEME_VERSION);
    for (size_t i = 0; i < n; i++)
        printf("  %-11s %s\n", libs[i][0], libs[i][1]);
    return EXIT_OK;
}

int cmd_completion(struct cli *cli, int argc, char **argv)
{
    struct opt_iter it;
    int r;
    opt_init(&it, cli->cmd, argc, argv);
    while ((r = opt_next(&it)) > 0)
        if (it.key == 'h') {
            opt_release(&it);
            return EXIT_OK;
        }
    int rc = EXIT_OK;
    if (r < 0) {
        rc = EXIT_USAGE;
    } else if (it.npositional != 1) {
        cmd_usage_error(cli->cmd, "name one shell");
        rc = EXIT_USAGE;
    } else if (completion_script(it.positional[0], stdout) < 0) {
        cmd_usage_error(cli->cmd, "no completion for \"%s\" (bash, zsh and fish are supported)",
                        it.positional[0]);
        rc = EXIT_USAGE;
    }
    opt_release(&it);
    return rc;
}
