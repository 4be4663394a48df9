/*
 * FreeType captions: see text.h. Measuring uses each glyph's unscaled
 * advance (font units / units per em), and glyphs are loaded without
 * hinting, so what is measured at any size is what is drawn.
 */
#include "render/text.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ft2build.h>
#include FT_FREETYPE_H
#include FT_ADVANCES_H
#include FT_GLYPH_H
#include FT_STROKER_H
#include FT_TRUETYPE_TABLES_H

#include "utf8.h"
#include "xalloc.h"

static const char *const font_candidates[] = {
    "/usr/share/fonts/opentype/bebas-neue/BebasNeue-Regular.otf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSansNarrow-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
};

static const char *const fallback_candidates[] = {
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
};

/* Where a code point comes from: which face, which glyph, its advance. */
struct glyph_ref {
    uint32_t cp;
    uint16_t face; /* 0 primary, 1 fallback */
    uint16_t used;
    FT_UInt index;
    double advance_em; /* advance / units per em */
};

#define REF_SLOTS 1024 /* open addressing; a caption has far fewer distinct code points */

struct bitmap {
    int left, top; /* offset of the top-left pixel from the pen on the baseline */
    int width, rows;
    uint8_t *alpha;
};

struct cached_glyph {
    uint32_t cp;
    int px, stroke;
    struct bitmap fill, outline;
    struct cached_glyph *next;
};

#define CACHE_BUCKETS 1024
#define CACHE_LIMIT   4096 /* glyph renderings kept before the cache is emptied */

struct text_font {
    FT_Library lib;
    FT_Face face[2];
    int nfaces;
    FT_Stroker stroker;
    char *path;
    double cap_em; /* cap height / units per em of the primary face */
    struct glyph_ref refs[REF_SLOTS];
    size_t nrefs;
    struct cached_glyph *cache[CACHE_BUCKETS];
    size_t ncached;
    int cur_px; /* size the faces are set to, 0 = none */
    const char *ellipsis;
};

static bool readable(const char *path)
{
    return path && *path && access(path, R_OK) == 0;
}

static FT_Face open_face(FT_Library lib, const char *path)
{
    FT_Face face = NULL;
    if (FT_New_Face(lib, path, 0, &face) != 0)
        return NULL;
    if (!FT_IS_SCALABLE(face) || face->units_per_EM == 0) {
        FT_Done_Face(face);
        return NULL;
    }
    return face;
}

static double cap_height_em(FT_Face face)
{
    TT_OS2 *os2 = FT_Get_Sfnt_Table(face, FT_SFNT_OS2);
    if (os2 && os2->version >= 2 && os2->sCapHeight > 0)
        return (double)os2->sCapHeight / face->units_per_EM;
    /* No OS/2 cap height: measure the H. */
    FT_UInt gi = FT_Get_Char_Index(face, 'H');
    if (gi && FT_Load_Glyph(face, gi, FT_LOAD_NO_SCALE) == 0 && face->glyph->metrics.height > 0)
        return (double)face->glyph->metrics.height / face->units_per_EM;
    return 0.7;
}

struct text_font *text_font_open(const char *path, struct meme_err *err)
{
    const char *chosen = NULL;
    if (path && *path) {
        if (!readable(path)) {
            meme_err_set(err, MEME_E_FONT, "cannot read font %s", path);
            return NULL;
        }
        chosen = path;
    } else if (getenv("MEME_FONT") && *getenv("MEME_FONT")) {
        chosen = getenv("MEME_FONT");
        if (!readable(chosen)) {
            meme_err_set(err, MEME_E_FONT, "cannot read font %s (from MEME_FONT)", chosen);
            return NULL;
        }
    } else {
        for (size_t i = 0; i < sizeof(font_candidates) / sizeof(font_candidates[0]); i++)
            if (readable(font_candidates[i])) {
                chosen = font_candidates[i];
                break;
            }
        if (!chosen) {
            meme_err_set(err, MEME_E_FONT,
                         "no caption font found: install fonts-bebas-neue or fonts-dejavu-core, "
                         "or set MEME_FONT to a TrueType/OpenType file");
            return NULL;
        }
    }

    struct text_font *f = xcalloc(1, sizeof(*f));
    if (FT_Init_FreeType(&f->lib) != 0) {
        free(f);
        meme_err_set(err, MEME_E_FONT, "cannot initialise FreeType");
        return NULL;
    }
    f->face[0] = open_face(f->lib, chosen);
    if (!f->face[0]) {
        FT_Done_FreeType(f->lib);
        free(f);
        meme_err_set(err, MEME_E_FONT, "%s is not a scalable font FreeType can read", chosen);
        return NULL;
    }
    f->nfaces = 1;
    for (size_t i = 0; i < sizeof(fallback_candidates) / sizeof(fallback_candidates[0]); i++) {
        if (strcmp(fallback_candidates[i], chosen) == 0 || !readable(fallback_candidates[i]))
            continue;
        f->face[1] = open_face(f->lib, fallback_candidates[i]);
        if (f->face[1]) {
            f->nfaces = 2;
            break;
        }
    }
    if (FT_Stroker_New(f->lib, &f->stroker) != 0) {
        text_font_free(f);
        meme_err_set(err, MEME_E_FONT, "cannot create the FreeType stroker");
        return NULL;
    }
    f->path = xstrdup(chosen);
    f->cap_em = cap_height_em(f->face[0]);
    f->ellipsis = FT_Get_Char_Index(f->face[0], 0x2026) ? "\u2026" : "...";
    return f;
}

static void cache_clear(struct text_font *f)
{
    for (size_t b = 0; b < CACHE_BUCKETS; b++) {
        struct cached_glyph *g = f->cache[b];
        while (g) {
            struct cached_glyph *next = g->next;
            free(g->fill.alpha);
            free(g->outline.alpha);
            free(g);
            g = next;
        }
        f->cache[b] = NULL;
    }
    f->ncached = 0;
}

void text_font_free(struct text_font *f)
{
    if (!f)
        return;
    cache_clear(f);
    if (f->stroker)
        FT_Stroker_Done(f->stroker);
    for (int i = 0; i < f->nfaces; i++)
        FT_Done_Face(f->face[i]);
    FT_Done_FreeType(f->lib);
    free(f->path);
    free(f);
}

const char *text_font_path(const struct text_font *f)
{
    return f->path;
}

double text_cap_height(const struct text_font *f, int px)
{
    double h = f->cap_em * px;
    return h < 1 ? 1 : h;
}

const char *text_ellipsis(struct text_font *f)
{
    return f->ellipsis;
}

/* The face, glyph and advance for cp; characters no face has become '?'. */
static const struct glyph_ref *lookup(struct text_font *f, uint32_t cp)
{
    size_t slot = (cp * 2654435761u) % REF_SLOTS;
    for (size_t n = 0; n < REF_SLOTS; n++, slot = (slot + 1) % REF_SLOTS) {
        struct glyph_ref *r = &f->refs[slot];
        if (r->used && r->cp == cp)
            return r;
        if (r->used)
            continue;
        if (f->nrefs >= REF_SLOTS * 3 / 4)
            break; /* full enough: resolve without remembering */
        r->used = 1;
        r->cp = cp;
        r->face = 0;
        r->index = 0;
        for (int i = 0; i < f->nfaces && !r->index; i++) {
            FT_UInt gi = FT_Get_Char_Index(f->face[i], cp);
            if (gi) {
                r->face = (uint16_t)i;
                r->index = gi;
            }
        }
        if (!r->index) {
            r->face = 0;
            r->index = FT_Get_Char_Index(f->face[0], '?');
        }
        FT_Fixed adv = 0;
        FT_Face face = f->face[r->face];
        if (FT_Get_Advance(face, r->index, FT_LOAD_NO_SCALE, &adv) != 0)
            adv = 0;
        r->advance_em = (double)adv / face->units_per_EM;
        f->nrefs++;
        return r;
    }
    /* Table full: a throwaway answer for this call. */
    static __thread struct glyph_ref tmp;
    tmp = (struct glyph_ref){.cp = cp, .face = 0, .used = 1};
    tmp.index = FT_Get_Char_Index(f->face[0], cp);
    if (!tmp.index)
        tmp.index = FT_Get_Char_Index(f->face[0], '?');
    FT_Fixed adv = 0;
    if (FT_Get_Advance(f->face[0], tmp.index, FT_LOAD_NO_SCALE, &adv) != 0)
        adv = 0;
    tmp.advance_em = (double)adv / f->face[0]->units_per_EM;
    return &tmp;
}

/* The code point at s[*i] (U+FFFD for a byte that is not UTF-8); advances *i. */
static uint32_t next_cp(const char *s, size_t len, size_t *i)
{
    uint32_t cp;
    size_t n = utf8_char((const uint8_t *)s + *i, len - *i, &cp);
    if (n == 0) {
        cp = 0xFFFD;
        n = 1;
    }
    *i += n;
    return cp;
}

int text_measure(struct text_font *f, int px, const char *s, size_t len)
{
    double w = 0;
    size_t i = 0;
    while (i < len)
        w += lookup(f, next_cp(s, len, &i))->advance_em;
    return (int)(w * px + 0.5);
}

static void copy_bitmap(struct bitmap *dst, FT_BitmapGlyph bg)
{
    FT_Bitmap *b = &bg->bitmap;
    dst->left = bg->left;
    dst->top = bg->top;
    dst->width = (int)b->width;
    dst->rows = (int)b->rows;
    size_t n = (size_t)dst->width * (size_t)dst->rows;
    dst->alpha = n ? xmalloc(n) : NULL;
    for (int y = 0; y < dst->rows; y++) {
        const uint8_t *src = b->buffer + (ptrdiff_t)y * b->pitch;
        memcpy(dst->alpha + (size_t)y * (size_t)dst->width, src, (size_t)dst->width);
    }
}

/* Rasterises one glyph's fill and outline; false if FreeType fails. */
static bool rasterise(struct text_font *f, const struct glyph_ref *r, int px, int stroke,
                      struct cached_glyph *out)
{
    FT_Face face = f->face[r->face];
    if (f->cur_px != px) {
        for (int i = 0; i < f->nfaces; i++)
            FT_Set_Pixel_Sizes(f->face[i], 0, (FT_UInt)px);
        f->cur_px = px;
    }
    if (FT_Load_Glyph(face, r->index, FT_LOAD_NO_HINTING | FT_LOAD_NO_BITMAP) != 0)
        return false;
    FT_Glyph glyph = NULL, border = NULL;
    if (FT_Get_Glyph(face->glyph, &glyph) != 0)
        return false;
    if (stroke > 0 && glyph->format == FT_GLYPH_FORMAT_OUTLINE) {
        if (FT_Glyph_Copy(glyph, &border) == 0) {
            FT_Stroker_Set(f->stroker, (FT_Fixed)stroke * 64, FT_STROKER_LINECAP_ROUND,
                           FT_STROKER_LINEJOIN_ROUND, 0);
            if (FT_Glyph_StrokeBorder(&border, f->stroker, 0, 1) != 0 ||
                FT_Glyph_To_Bitmap(&border, FT_RENDER_MODE_NORMAL, NULL, 1) != 0) {
                FT_Done_Glyph(border);
                border = NULL;
            }
        }
    }
    if (FT_Glyph_To_Bitmap(&glyph, FT_RENDER_MODE_NORMAL, NULL, 1) != 0) {
        FT_Done_Glyph(glyph);
        if (border)
            FT_Done_Glyph(border);
        return false;
    }
    copy_bitmap(&out->fill, (FT_BitmapGlyph)glyph);
    if (border)
        copy_bitmap(&out->outline, (FT_BitmapGlyph)border);
    FT_Done_Glyph(glyph);
    if (border)
        FT_Done_Glyph(border);
    return true;
}

static const struct cached_glyph *glyph_at(struct text_font *f, const struct glyph_ref *r, int px,
                                           int stroke)
{
    uint64_t key = (uint64_t)r->cp * 0x9E3779B97F4A7C15ull ^ (uint64_t)px * 0xC2B2AE3D27D4EB4Full ^
                   (uint64_t)stroke * 0x165667B19E3779F9ull;
    size_t b = (size_t)(key >> 40) % CACHE_BUCKETS;
    for (struct cached_glyph *g = f->cache[b]; g; g = g->next)
        if (g->cp == r->cp && g->px == px && g->stroke == stroke)
            return g;
    if (f->ncached >= CACHE_LIMIT) {
        cache_clear(f);
    }
    struct cached_glyph *g = xcalloc(1, sizeof(*g));
    g->cp = r->cp;
    g->px = px;
    g->stroke = stroke;
    if (!rasterise(f, r, px, stroke, g)) {
        free(g->fill.alpha);
        free(g->outline.alpha);
        free(g);
        return NULL;
    }
    g->next = f->cache[b];
    f->cache[b] = g;
    f->ncached++;
    return g;
}

/* Blends colour (0 black, 255 white) into img through bm placed at (x, y). */
static void blend(struct meme_image *img, const struct bitmap *bm, int x, int y, uint8_t colour)
{
    int x0 = x + bm->left, y0 = y - bm->top;
    for (int row = 0; row < bm->rows; row++) {
        int iy = y0 + row;
        if (iy < 0 || iy >= img->height)
            continue;
        const uint8_t *a = bm->alpha + (size_t)row * (size_t)bm->width;
        uint8_t *dst = img->rgb + (size_t)iy * (size_t)img->width * 3;
        int c0 = x0 < 0 ? -x0 : 0;
        int c1 = x0 + bm->width > img->width ? img->width - x0 : bm->width;
        for (int col = c0; col < c1; col++) {
            unsigned al = a[col];
            if (!al)
                continue;
            uint8_t *p = dst + (size_t)(x0 + col) * 3;
            if (al == 255) {
                p[0] = p[1] = p[2] = colour;
            } else {
                unsigned inv = 255 - al;
                unsigned add = colour * al;
                p[0] = (uint8_t)((p[0] * inv + add + 127) / 255);
                p[1] = (uint8_t)((p[1] * inv + add + 127) / 255);
                p[2] = (uint8_t)((p[2] * inv + add + 127) / 255);
            }
        }
    }
}

void text_draw(struct text_font *f, struct meme_image *img, int px, int stroke, int x, int y,
               const char *s, size_t len)
{
    /* Outlines first, for the whole run, so no outline covers a neighbour's fill. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0 && stroke <= 0)
            continue;
        double pen = x;
        size_t i = 0;
        while (i < len) {
            const struct glyph_ref *r = lookup(f, next_cp(s, len, &i));
            const struct cached_glyph *g = glyph_at(f, r, px, stroke);
            if (g) {
                int gx = (int)(pen + 0.5);
                if (pass == 0)
                    blend(img, &g->outline, gx, y, 0);
                else
                    blend(img, &g->fill, gx, y, 255);
            }
            pen += r->advance_em * px;
        }
    }
}
