/*
 * Fuzz target: the parser of what a terminal answers to the detection
 * queries (DA1, the kitty graphics query, XTVERSION, XTSMGRAPHICS, CSI 14/16
 * t). Whatever the bytes, it must stay in bounds and keep the version text
 * free of control characters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "term/term.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct term_reply r;
    memset(&r, 0, sizeof(r));
    term_reply_parse((const char *)data, size, &r);
    size_t n = strnlen(r.version, sizeof(r.version));
    if (n == sizeof(r.version))
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)r.version[i] < 0x20 || r.version[i] == 0x7f)
            abort();
    if (r.cell_w < 0 || r.cell_h < 0 || r.win_w < 0 || r.sixel_colors < 0)
        abort();
    return 0;
}
