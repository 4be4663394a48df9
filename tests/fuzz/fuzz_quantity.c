/*
 * Fuzz target: the Kubernetes quantity parser (quantities come from any
 * object the API server sends). Properties: the parser never reads past the
 * string and never overflows; comparison agrees with the value; a value that
 * is a whole number of milli-units within the formatter's exact range formats
 * to text that parses back to the same value; every formatted text fits and
 * holds no control byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube_quantity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256)
        return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    struct kube_quantity q;
    struct meme_err err = {0};
    if (kube_quantity_parse(s, &q, &err) != 0) {
        if (!err.msg[0])
            abort();
        free(s);
        return 0;
    }
    if (kube_quantity_cmp(&q, &q) != 0)
        abort();
    int64_t milli = kube_quantity_milli(&q);
    int64_t value = kube_quantity_value(&q);
    /* both round up, so the whole value is never below the milli value / 1000 */
    if (milli != INT64_MAX && milli != INT64_MIN && value != INT64_MAX && value != INT64_MIN &&
        (__int128)value * 1000 < (__int128)milli)
        abort();
    (void)kube_quantity_double(&q);

    char out[64];
    kube_quantity_format(&q, true, out, sizeof(out));
    check_text(out);
    kube_quantity_format(&q, false, out, sizeof(out));
    check_text(out);
    __int128 per_milli = 1000000;
    bool exact = q.nano % per_milli == 0 && q.nano / per_milli < INT64_MAX &&
                 q.nano / per_milli > INT64_MIN &&
                 (milli % 1000 == 0 || (milli > -1000 && milli < 1000));
    if (exact) {
        struct kube_quantity back;
        if (kube_quantity_parse(out, &back, &err) != 0)
            abort();
        if (kube_quantity_cmp(&back, &q) != 0)
            abort();
    }
    /* a small buffer truncates, never overflows */
    char tiny[4];
    kube_quantity_format(&q, false, tiny, sizeof(tiny));
    kube_quantity_format(&q, true, tiny, sizeof(tiny));
    free(s);
    return 0;
}
