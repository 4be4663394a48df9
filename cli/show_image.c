/*
 * Drawing a meme on memectl's standard output, for gen and get: the display
 * setting (--display, else MEMECTL_DISPLAY or the config file's display
 * key), what the terminal can do (term_detect), and the bytes written in the
 * order tmux needs. Graphics never go into a pipe or a file.
 */
#include "cli.h"
#include "render/image.h"
#include "term/term.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* How long the terminal may take to answer the queries (and tmux to catch up
 * before an image it passes through). */
#define SHOW_QUERY_MS 250

int cli_display_setting(const struct cmd_spec *cmd, const char *flag, enum term_display *out)
{
    *out = TERM_DISPLAY_AUTO;
    if (flag) {
        if (term_display_parse(flag, out) < 0) {
            cmd_usage_error(cmd, "--display must be %s, not \"%s\"", term_display_choices(), flag);
            return EXIT_USAGE;
        }
        return 0;
    }
    const char *v = config_get(CFG_DISPLAY);
    if (v && *v && term_display_parse(v, out) < 0) {
        cli_error("display \"%s\" (from %s) is not one of %s", v, config_source(CFG_DISPLAY),
                  term_display_choices());
        return EXIT_USAGE;
    }
    return 0;
}

static void write_buf(const struct buf *b)
{
    const uint8_t *p = b->data;
    size_t left = b->len;
    while (left) {
        ssize_t n = write(STDOUT_FILENO, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
}

void cli_show_image(const struct cli *cli, enum term_display want, const uint8_t *data, size_t len)
{
    struct term_caps caps;
    struct meme_err err = {0};
    struct buf pre = BUF_INIT, out = BUF_INIT;

    term_detect(STDOUT_FILENO, want, SHOW_QUERY_MS, &caps);
    if (caps.mode == TERM_DISPLAY_NONE)
        return;
    struct meme_image *img = image_decode(data, len, &err);
    if (!img) {
        cli_error("cannot show the meme: %s", err.msg);
        return;
    }
    /* Leave a column (no wrap at the edge) and room for the lines around. */
    int cols = caps.cols > 1 ? caps.cols - 1 : 1;
    int rows = caps.rows > 8 ? caps.rows - 3 : caps.rows;
    if (term_draw(&caps, img, cols, rows, &pre, &out, &err) < 0) {
        cli_error("cannot draw the meme as %s: %s", term_display_name(caps.mode), err.msg);
    } else {
        fflush(stdout);
        write_buf(&pre);
        /* tmux sends passthrough on at once but draws text later: the room
         * made for the image must be on the screen before the image is. */
        if (pre.len)
            term_tmux_sync(SHOW_QUERY_MS);
        write_buf(&out);
    }
    buf_release(&pre);
    buf_release(&out);
    image_free(img);
    (void)cli;
}
