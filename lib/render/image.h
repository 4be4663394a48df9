/*
 * In-memory RGB images and their codecs: PNG (libpng to decode, libdeflate to
 * encode, see docs/design.md), JPEG (libjpeg-turbo), and scaling.
 */
#ifndef MEME_IMAGE_H
#define MEME_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Largest width or height image_decode() accepts; bigger inputs are refused. */
#define IMAGE_MAX_DIM 8192

enum image_format {
    IMAGE_PNG = 0,
    IMAGE_JPEG = 1,
};

struct meme_image {
    int width;
    int height;
    uint8_t *rgb; /* width * height * 3 bytes, rows top to bottom */
};

/* A new black image; w and h must be 1..IMAGE_MAX_DIM. */
struct meme_image *image_new(int w, int h);
void image_free(struct meme_image *img);
struct meme_image *image_dup(const struct meme_image *img);

/* Encodes img; *out is the caller's (free()). Returns 0 or a negative code. */
int image_encode(const struct meme_image *img, enum image_format fmt, uint8_t **out, size_t *len,
                 struct meme_err *err);
int image_encode_png(const struct meme_image *img, uint8_t **out, size_t *len,
                     struct meme_err *err);
int image_encode_jpeg(const struct meme_image *img, int quality, uint8_t **out, size_t *len,
                      struct meme_err *err);

/* Decodes PNG or JPEG (by signature) into RGB; NULL with err filled on failure.
 * Never trusts the input: dimensions are bounded by IMAGE_MAX_DIM. */
struct meme_image *image_decode(const uint8_t *data, size_t len, struct meme_err *err);
struct meme_image *image_load(const char *path, struct meme_err *err);
/* The format named by the signature of data, or -1. */
int image_sniff(const uint8_t *data, size_t len);
const char *image_content_type(enum image_format fmt);
const char *image_extension(enum image_format fmt);

/* A new image of w x h resampled from src (area average when shrinking). */
struct meme_image *image_scale(const struct meme_image *src, int w, int h);

#endif
