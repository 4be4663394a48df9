/*
 * Fuzz target: the sixel, half-block, kitty and iTerm2 encoders with odd
 * sizes: the first bytes choose the image, box and cell sizes, the rest are
 * pixels.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "render/image.h"
#include "term/term.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    int w = 1 + data[0] % 200, h = 1 + data[1] % 200;
    int bw = 1 + data[2], bh = 1 + data[3];
    int cols = 1 + data[4] % 120, rows = 1 + data[5] % 60;
    struct meme_image *img = image_new(w, h);
    size_t n = (size_t)w * (size_t)h * 3;
    for (size_t i = 0; size > 6 && i < n; i++)
        img->rgb[i] = data[6 + i % (size - 6)];
    struct buf out = BUF_INIT;
    struct meme_err err = {0};
    term_encode_sixel(img, bw, bh, &out, &err);
    buf_release(&out);
    term_encode_blocks(img, cols, rows, data[4] & 1, &out);
    buf_release(&out);
    struct term_place pl = {.cols = cols,
                            .rows = rows,
                            .cell_w = 1 + data[2] % 30,
                            .cell_h = 1 + data[3] % 40,
                            .tmux = data[5] & 1};
    term_encode_kitty(img, &pl, &out, &err);
    buf_release(&out);
    term_encode_iterm2(img, &pl, &out, &err);
    buf_release(&out);
    image_free(img);
    return 0;
}
