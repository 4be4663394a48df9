/*
 * The local image engine: a classic captioned meme (template or generated
 * background, upper-case white captions with a black outline in a bold
 * condensed font, wrapped and shrunk to fit top and bottom boxes).
 *
 * A renderer holds the font and the decoded templates; it is not thread-safe,
 * so give each worker thread its own.
 */
#ifndef MEME_RENDER_H
#define MEME_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "render/image.h"

#define RENDER_MIN_SIZE 64
#define RENDER_MAX_SIZE 2048
/* Caption boxes, in percent of the image: each spans the width less the
 * margin on both sides and BOX_PCT of the height, MARGIN_PCT from its edge. */
#define RENDER_MARGIN_PCT 3
#define RENDER_BOX_PCT    24

struct renderer;

struct render_opts {
    const char *prompt; /* used to pick a template when none is named */
    const char *top;    /* caption text (upper-cased by the renderer) */
    const char *bottom;
    const char *template_name; /* NULL or "" = pick from the prompt */
    int width;                 /* pixels; 0 = 512 */
    int height;                /* pixels; 0 = width */
    enum image_format format;
    int jpeg_quality; /* 0 = 85 */
};

struct render_result {
    uint8_t *data; /* encoded image, owned */
    size_t len;
    int width;
    int height;
    enum image_format format;
    char template_name[64];
};

/*
 * font_path: a TrueType/OpenType file, or NULL to search MEME_FONT and the
 * built-in list. template_dir: a directory of user PNG/JPEG templates, or NULL
 * (MEME_TEMPLATE_DIR is consulted). NULL with err filled on failure.
 */
struct renderer *renderer_new(const char *font_path, const char *template_dir,
                              struct meme_err *err);
void renderer_free(struct renderer *r);

/* The path of the font in use (borrowed). */
const char *renderer_font_path(const struct renderer *r);

/* Renders into an RGB image (caller frees with image_free()). */
struct meme_image *renderer_draw(struct renderer *r, const struct render_opts *opts,
                                 char *template_used, size_t template_used_len,
                                 struct meme_err *err);
/* Draws the top and bottom captions onto an existing picture (another
 * engine's), fitted and outlined as renderer_draw() does. 0 or a negative code. */
int renderer_caption(struct renderer *r, struct meme_image *img, const char *top,
                     const char *bottom, struct meme_err *err);
/* renderer_draw() then encode. Fills out; release with render_result_release(). */
int renderer_render(struct renderer *r, const struct render_opts *opts, struct render_result *out,
                    struct meme_err *err);
void render_result_release(struct render_result *res);

struct render_template_info {
    const char *name;        /* borrowed */
    const char *description; /* borrowed */
    int builtin;             /* 1 = generated, 0 = user file */
};

/* Number of templates; fills up to max entries of info. */
size_t renderer_templates(const struct renderer *r, struct render_template_info *info, size_t max);

/* The size of user template i's file (decoded once); false for a generated
 * template, drawn at any size, or a file that cannot be decoded. */
bool renderer_template_size(struct renderer *r, size_t i, int *w, int *h);

#endif
