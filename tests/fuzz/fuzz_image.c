/*
 * Fuzz target: the PNG and JPEG decoders (images from a remote model or a
 * template directory). Property: whatever decodes survives our PNG encoder
 * and decodes back to the same pixels.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct meme_err err = {0};
    struct meme_image *img = image_decode(data, size, &err);
    if (!img)
        return 0;
    if ((size_t)img->width * (size_t)img->height <= 1024 * 1024) {
        uint8_t *png = NULL;
        size_t len = 0;
        if (image_encode_png(img, &png, &len, &err) != 0)
            abort();
        struct meme_image *back = image_decode(png, len, &err);
        if (!back || back->width != img->width || back->height != img->height ||
            memcmp(back->rgb, img->rgb, (size_t)img->width * (size_t)img->height * 3) != 0)
            abort();
        image_free(back);
        free(png);
    }
    image_free(img);
    return 0;
}
