/*
 * Fuzz target: heartbeats and completion events from any publisher, into
 * the dashboard's model and onto its screen. Property: no escape byte and
 * no C1 control reaches the frame.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tui/tui_model.h"
#include "tui/tui_view.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tui_model m;
    static int ready;
    if (!ready) {
        tui_model_init(&m);
        ready = 1;
    }
    if (size && data[0] & 1)
        tui_model_heartbeat(&m, (const char *)data + 1, size - 1, (double)size);
    else if (size)
        tui_model_event(&m, (const char *)data + 1, size - 1, (double)size);
    tui_model_expire(&m, (double)size);
    struct tui_view_state v = {.now = (double)size, .focus = FOCUS_MEMES};
    struct canvas c;
    canvas_init(&c, 80, 24);
    tui_draw(&m, &v, &c);
    char *text = canvas_to_text(&c);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p == 0x1b || (*p < 0x20 && *p != '\n') || *p == 0x7f)
            abort();
    free(text);
    canvas_free(&c);
    return 0;
}
