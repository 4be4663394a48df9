/*
 * Meme backgrounds: generated ones (the classic "advice" colour wheels,
 * gradients, a sunburst, a night sky, a retro grid) and user images from a
 * template directory. Backgrounds are made once per size and cached.
 *
 * Not thread-safe: one template_set per thread.
 */
#ifndef MEME_TEMPLATE_H
#define MEME_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "render/image.h"

#define TEMPLATE_NAME_MAX 63

struct template_set;

/*
 * The built-in templates plus the PNG and JPEG files of dir (or, when dir is
 * NULL, of $MEME_TEMPLATE_DIR if set). A file's template name is its base
 * name without the extension, lower-cased; a user file of a built-in's name
 * replaces it. Files are decoded when first used. NULL with err filled when
 * dir is given but cannot be read.
 */
struct template_set *template_set_new(const char *dir, struct meme_err *err);
void template_set_free(struct template_set *t);

size_t template_count(const struct template_set *t);
const char *template_name(const struct template_set *t, size_t i);
const char *template_description(const struct template_set *t, size_t i);
int template_is_builtin(const struct template_set *t, size_t i);

/* Index of the template called name, or -1. */
int template_find(const struct template_set *t, const char *name);
/* The template a prompt suggests (keywords first, else a stable hash). */
size_t template_pick(const struct template_set *t, const char *prompt);

/* The size of user template i's file (decoding it once); false for a
 * generated template or a file that cannot be decoded. */
bool template_source_size(struct template_set *t, size_t i, int *w, int *h);

/* Template i at w x h (borrowed; valid until the next call). NULL with err
 * filled when a user file cannot be decoded. */
const struct meme_image *template_background(struct template_set *t, size_t i, int w, int h,
                                             struct meme_err *err);

#endif
