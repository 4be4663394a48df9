/*
 * UTF-8 decoding and encoding shared by the caption, text and terminal code.
 */
#ifndef MEME_UTF8_H
#define MEME_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length of the well-formed UTF-8 character at s (shortest form, no
 * surrogates, at most U+10FFFF; len bytes available) with its code point in
 * *cp; 0 when the bytes at s are not one.
 */
size_t utf8_char(const uint8_t *s, size_t len, uint32_t *cp);

/* Writes cp (at most U+10FFFF) as UTF-8 into out (4 bytes of room); returns
 * the number of bytes written. */
size_t utf8_encode(uint32_t cp, char out[4]);

/* Columns a code point takes on a terminal: 0 for combining marks and
 * zero-width characters, 2 for East Asian wide characters and emoji, else 1.
 * Locale-independent, so a layout is the same under any LANG. */
int utf8_cp_width(uint32_t cp);

/* Columns the UTF-8 text s takes (a byte that is not UTF-8 counts as one). */
int utf8_width(const char *s);

#endif
