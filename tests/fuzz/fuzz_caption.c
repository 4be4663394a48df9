/*
 * Fuzz target: caption splitting, upper-casing and wrapping of arbitrary
 * bytes (prompts are UTF-8 checked on the wire, but the layout must not
 * trust that), and drawing them into the dashboard's canvas.
 * Property: wrapping never loses or invents non-space bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render/caption.h"
#include "tui/tui_view.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int measure(void *ctx, const char *text, size_t len)
{
    (void)ctx;
    (void)text;
    return (int)len * 7;
}

static size_t non_space(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s != ' ';
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct caption cap;
    caption_split(text, NULL, NULL, &cap);
    struct caption_lines lines;
    caption_wrap(cap.top, 100, measure, NULL, &lines);
    size_t kept = 0;
    for (size_t i = 0; i < lines.count; i++)
        kept += non_space(lines.line[i]);
    /* Whitespace of any kind becomes spaces; everything else stays. */
    size_t want = 0;
    for (const char *p = cap.top; *p; p++)
        want += !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\v' || *p == '\f');
    if (kept != want)
        abort();
    caption_lines_release(&lines);
    struct canvas c;
    canvas_init(&c, 40, 3);
    canvas_text(&c, 0, 0, 40, text, 0, 0);
    canvas_text(&c, 3, 1, 10, cap.bottom, 0, 0);
    char *out = canvas_to_text(&c);
    if (strchr(out, '\033'))
        abort();
    free(out);
    canvas_free(&c);
    caption_release(&cap);
    free(text);
    return 0;
}
