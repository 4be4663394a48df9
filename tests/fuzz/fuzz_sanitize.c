/*
 * Fuzz target: the terminal text sanitizer every network string passes.
 * Property: the output is valid UTF-8 with no C0 control (but newline when
 * kept), no DEL and no C1 control, so nothing in it can drive a terminal.
 */
#include <stdint.h>
#include <stdlib.h>

#include "buf.h"
#include "term/term.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct buf *b, bool newlines)
{
    size_t i = 0;
    while (i < b->len) {
        uint32_t cp;
        size_t n = utf8_char(b->data + i, b->len - i, &cp);
        if (n == 0)
            abort(); /* not UTF-8 */
        if ((cp < 0x20 && !(newlines && cp == '\n')) || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
            abort();
        i += n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int nl = 0; nl < 2; nl++) {
        struct buf out = BUF_INIT;
        term_sanitize((const char *)data, size, nl, &out);
        check(&out, nl);
        buf_release(&out);
    }
    return 0;
}
