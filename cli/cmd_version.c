/*
 * memectl version: ours, the protocol's and the libraries' versions, as text
 * or JSON (also `memectl --version`).
 */
#include "cli.h"

#include <jansson.h>
#include <jpeglib.h>
#include <libdeflate.h>
#include <nats/nats.h>
#include <openssl/opensslv.h>
#include <png.h>
#include <sixel.h>
#include <stdio.h>

#include <ft2build.h>
#include FT_FREETYPE_H

const struct opt_spec version_opts[] = {
    {OPT_OUT_JSON, 0, "json", NULL, "print as JSON", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};

int cmd_version(struct cli *cli, int argc, char **argv)
{
    bool json = false;
    if (cli->cmd) {
        int rc = opt_parse_output(cli->cmd, argc, argv, &json);
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
