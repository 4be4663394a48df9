/*
 * Caption text with FreeType: a primary font (bold condensed) plus a
 * fallback for characters it lacks, measured from unscaled advances (so
 * layout costs no rasterising) and drawn white with a black FT_Stroker
 * outline. Rendered glyphs are cached per size and outline width.
 *
 * Not thread-safe: one text_font per thread.
 */
#ifndef MEME_TEXT_H
#define MEME_TEXT_H

#include <stddef.h>

#include "err.h"
#include "render/image.h"

struct text_font;

/*
 * Opens path, or when path is NULL the first usable font of: $MEME_FONT,
 * then the built-in list (Bebas Neue, Liberation Sans Narrow Bold, DejaVu
 * Sans Condensed Bold, DejaVu Sans Bold). NULL with MEME_E_FONT on failure.
 */
struct text_font *text_font_open(const char *path, struct meme_err *err);
void text_font_free(struct text_font *f);
const char *text_font_path(const struct text_font *f);

/* Height of a capital letter at em size px, in pixels (at least 1). */
double text_cap_height(const struct text_font *f, int px);
/* Advance width in pixels of the len bytes of UTF-8 text s at em size px. */
int text_measure(struct text_font *f, int px, const char *s, size_t len);
/* The ellipsis the font can draw ("\u2026" or "..."). */
const char *text_ellipsis(struct text_font *f);

/*
 * Draws len bytes of s with the left end of its baseline at (x, y): white
 * fill, black outline of `stroke` pixels (0 = none). Clipped to img.
 */
void text_draw(struct text_font *f, struct meme_image *img, int px, int stroke, int x, int y,
               const char *s, size_t len);

#endif
