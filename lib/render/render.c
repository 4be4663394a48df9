/*
 * The local engine: background, then the top and bottom captions, each
 * fitted to its box by a binary search over the font size (wrapping at
 * each candidate size), then the encoder. docs/engine.md has the layout.
 */
#include "render/render.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "render/caption.h"
#include "render/template.h"
#include "render/text.h"
#include "xalloc.h"

struct renderer {
    struct text_font *font;
    struct template_set *templates;
};

struct renderer *renderer_new(const char *font_path, const char *template_dir, struct meme_err *err)
{
    struct text_font *font = text_font_open(font_path, err);
    if (!font)
        return NULL;
    struct template_set *t = template_set_new(template_dir, err);
    if (!t) {
        text_font_free(font);
        return NULL;
    }
    struct renderer *r = xcalloc(1, sizeof(*r));
    r->font = font;
    r->templates = t;
    return r;
}

void renderer_free(struct renderer *r)
{
    if (!r)
        return;
    text_font_free(r->font);
    template_set_free(r->templates);
    free(r);
}

const char *renderer_font_path(const struct renderer *r)
{
    return text_font_path(r->font);
}

size_t renderer_templates(const struct renderer *r, struct render_template_info *info, size_t max)
{
    size_t n = template_count(r->templates);
    for (size_t i = 0; i < n && i < max; i++) {
        info[i].name = template_name(r->templates, i);
        info[i].description = template_description(r->templates, i);
        info[i].builtin = template_is_builtin(r->templates, i);
    }
    return n;
}

/* Layout of one caption box at one font size. */
struct fit {
    int px;     /* em size */
    int stroke; /* outline width */
    double cap; /* cap height in pixels */
    double gap; /* space between lines */
    int height; /* of the text block, outline included */
    bool fits;  /* every line within the width and the block within the height */
    struct caption_lines lines;
};

struct measure_ctx {
    struct text_font *font;
    int px;
};

static int measure(void *ctx, const char *text, size_t len)
{
    struct measure_ctx *m = ctx;
    return text_measure(m->font, m->px, text, len);
}

static int stroke_for(double cap)
{
    int s = (int)(cap * 0.12 + 0.5);
    return s < 1 ? 1 : s;
}

static void layout(struct text_font *font, const char *text, int px, int box_w, int box_h,
                   struct fit *out)
{
    out->px = px;
    out->cap = text_cap_height(font, px);
    out->stroke = stroke_for(out->cap);
    out->gap = out->cap * 0.24;
    struct measure_ctx m = {font, px};
    int width = box_w - 2 * out->stroke;
    int widest = caption_wrap(text, width, measure, &m, &out->lines);
    size_t n = out->lines.count;
    out->height = (int)(n * out->cap + (n ? n - 1 : 0) * out->gap + 2 * out->stroke + 0.999);
    out->fits = widest <= width && out->height <= box_h;
}

/* Trims lines that do not fit the box, ending the last kept one with an ellipsis. */
static void truncate_to_box(struct text_font *font, struct fit *f, int box_w, int box_h)
{
    size_t keep = 1;
    while (keep < f->lines.count && (keep + 1) * f->cap + keep * f->gap + 2 * f->stroke <= box_h)
        keep++;
    bool cut = keep < f->lines.count;
    for (size_t i = keep; i < f->lines.count; i++)
        free(f->lines.line[i]);
    f->lines.count = keep;
    int width = box_w - 2 * f->stroke;
    const char *ell = text_ellipsis(font);
    for (size_t i = 0; i < keep; i++) {
        char *line = f->lines.line[i];
        bool last = i + 1 == keep;
        if (!cut && text_measure(font, f->px, line, strlen(line)) <= width)
            continue;
        if (!last && text_measure(font, f->px, line, strlen(line)) <= width)
            continue;
        /* Drop characters (whole UTF-8 sequences) until it fits with the ellipsis. */
        size_t len = strlen(line);
        for (;;) {
            char *tryit = xasprintf("%.*s%s", (int)len, line, ell);
            int w = text_measure(font, f->px, tryit, strlen(tryit));
            if (w <= width || len == 0) {
                free(line);
                f->lines.line[i] = tryit;
                break;
            }
            free(tryit);
            do
                len--;
            while (len > 0 && ((unsigned char)line[len] & 0xC0) == 0x80);
            while (len > 0 && line[len - 1] == ' ')
                len--;
        }
    }
    size_t n = f->lines.count;
    f->height = (int)(n * f->cap + (n ? n - 1 : 0) * f->gap + 2 * f->stroke + 0.999);
    f->fits = true;
}

/*
 * The largest font size at which text fits box_w x box_h, with no more than
 * max_cap pixels of cap height; at the smallest size, the text is cut with
 * an ellipsis.
 */
static void fit_box(struct text_font *font, const char *text, int box_w, int box_h, int min_px,
                    int max_px, struct fit *best)
{
    int lo = min_px, hi = max_px;
    bool found = false;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        struct fit f;
        layout(font, text, mid, box_w, box_h, &f);
        if (f.fits) {
            if (found)
                caption_lines_release(&best->lines);
            *best = f;
            found = true;
            lo = mid + 1;
        } else {
            caption_lines_release(&f.lines);
            hi = mid - 1;
        }
    }
    if (!found) {
        layout(font, text, min_px, box_w, box_h, best);
        truncate_to_box(font, best, box_w, box_h);
    }
}

static void draw_block(struct text_font *font, struct meme_image *img, const struct fit *f,
                       int top_y)
{
    double baseline = top_y + f->stroke + f->cap;
    for (size_t i = 0; i < f->lines.count; i++) {
        const char *line = f->lines.line[i];
        int w = text_measure(font, f->px, line, strlen(line));
        int x = (img->width - w) / 2;
        text_draw(font, img, f->px, f->stroke, x, (int)(baseline + 0.5), line, strlen(line));
        baseline += f->cap + f->gap;
    }
}

static int check_size(int w, int h, struct meme_err *err)
{
    if (w < RENDER_MIN_SIZE || w > RENDER_MAX_SIZE || h < RENDER_MIN_SIZE || h > RENDER_MAX_SIZE)
        return meme_err_set(err, MEME_E_BAD_REQUEST,
                            "image size %dx%d is out of range (each side %d to %d pixels)", w, h,
                            RENDER_MIN_SIZE, RENDER_MAX_SIZE);
    return 0;
}

/* Names of all templates, for an error message. */
static char *template_list(const struct template_set *t)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < template_count(t); i++)
        buf_printf(&b, "%s%s", i ? ", " : "", template_name(t, i));
    buf_putc(&b, '\0');
    return (char *)buf_detach(&b, NULL);
}

/* The top and bottom captions, fitted to their boxes, drawn onto img. */
static void draw_captions(struct renderer *r, struct meme_image *img, const char *top,
                          const char *bottom)
{
    int w = img->width, h = img->height;
    /* Boxes: margins and heights from render.h. */
    int margin_x = w * RENDER_MARGIN_PCT / 100 > 4 ? w * RENDER_MARGIN_PCT / 100 : 4;
    int margin_y = h * RENDER_MARGIN_PCT / 100 > 3 ? h * RENDER_MARGIN_PCT / 100 : 3;
    int box_w = w - 2 * margin_x;
    int box_h = h * RENDER_BOX_PCT / 100;
    /* Cap height at most 11 % of the height: big, but still a caption. */
    double cap_em = text_cap_height(r->font, 1000) / 1000.0;
    int max_px = (int)(h * 0.11 / cap_em);
    int min_px = (int)(h / 40.0 / cap_em);
    if (min_px < 6)
        min_px = 6;
    if (max_px < min_px)
        max_px = min_px;

    const char *texts[2] = {top, bottom};
    for (int k = 0; k < 2; k++) {
        char *upper = caption_upper(texts[k] ? texts[k] : "");
        if (*upper) {
            struct fit f;
            fit_box(r->font, upper, box_w, box_h, min_px, max_px, &f);
            int top_y = k == 0 ? margin_y : h - margin_y - f.height;
            draw_block(r->font, img, &f, top_y);
            caption_lines_release(&f.lines);
        }
        free(upper);
    }
}

int renderer_caption(struct renderer *r, struct meme_image *img, const char *top,
                     const char *bottom, struct meme_err *err)
{
    if (check_size(img->width, img->height, err) < 0)
        return err ? err->code : MEME_E_BAD_REQUEST;
    draw_captions(r, img, top, bottom);
    return 0;
}

struct meme_image *renderer_draw(struct renderer *r, const struct render_opts *opts,
                                 char *template_used, size_t template_used_len,
                                 struct meme_err *err)
{
    int w = opts->width ? opts->width : 512;
    int h = opts->height ? opts->height : w;
    if (check_size(w, h, err) < 0)
        return NULL;

    size_t index;
    if (opts->template_name && *opts->template_name) {
        int at = template_find(r->templates, opts->template_name);
        if (at < 0) {
            char *names = template_list(r->templates);
            meme_err_set(err, MEME_E_UNKNOWN_TEMPLATE, "unknown template \"%.64s\" (known: %s)",
                         opts->template_name, names);
            free(names);
            return NULL;
        }
        index = (size_t)at;
    } else {
        index = template_pick(r->templates, opts->prompt);
    }
    const struct meme_image *bg = template_background(r->templates, index, w, h, err);
    if (!bg)
        return NULL;
    struct meme_image *img = image_dup(bg);
    if (template_used && template_used_len)
        snprintf(template_used, template_used_len, "%s", template_name(r->templates, index));

    draw_captions(r, img, opts->top, opts->bottom);
    return img;
}

int renderer_render(struct renderer *r, const struct render_opts *opts, struct render_result *out,
                    struct meme_err *err)
{
    memset(out, 0, sizeof(*out));
    char used[sizeof(out->template_name)];
    struct meme_image *img = renderer_draw(r, opts, used, sizeof(used), err);
    if (!img)
        return err ? err->code : MEME_E_RENDER;
    int rc;
    if (opts->format == IMAGE_JPEG)
        rc = image_encode_jpeg(img, opts->jpeg_quality ? opts->jpeg_quality : 85, &out->data,
                               &out->len, err);
    else
        rc = image_encode_png(img, &out->data, &out->len, err);
    if (rc < 0) {
        image_free(img);
        return rc;
    }
    out->width = img->width;
    out->height = img->height;
    out->format = opts->format;
    snprintf(out->template_name, sizeof(out->template_name), "%s", used);
    image_free(img);
    return 0;
}

void render_result_release(struct render_result *res)
{
    if (!res)
        return;
    free(res->data);
    res->data = NULL;
    res->len = 0;
}

bool renderer_template_size(struct renderer *r, size_t i, int *w, int *h)
{
    return template_source_size(r->templates, i, w, h);
}
