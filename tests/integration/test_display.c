/*
 * What memectl gen, get and the dashboard draw, on a real terminal device: a
 * pseudo terminal plays the terminal (answering the detection queries the
 * way a given terminal would), a real nats-server and meme-worker make the
 * meme, and what memectl wrote to the terminal is decoded back into an image
 * (kitty chunks, the OSC 1337 file, sixel through libsixel, half blocks) and
 * compared with the file it saved. Also: nothing but the file name goes into
 * a pipe, tmux's passthrough (a real tmux between memectl and the terminal)
 * and the dashboard's kitty placements, deleted when the panel is redrawn.
 */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "term_decode.h"

static struct harness_server nats;
static char *scratch;
static pid_t worker = -1;

static int setup(void **state)
{
    scratch = harness_tmpdir("display");
    if (!scratch || harness_nats_start(&nats) != 0)
        return -1;
    worker = start_worker(nats.url, scratch, "w1");
    return worker > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    harness_kill(worker, 5000);
    harness_stop(&nats);
    free(scratch);
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The variables that name a terminal: cleared, then set per test. */
static const char *const term_vars[] = {
    "TERM", "TERM_PROGRAM", "COLORTERM",       "KITTY_WINDOW_ID", "KONSOLE_VERSION", "LC_TERMINAL",
    "TMUX", "TMUX_PANE",    "MEMECTL_DISPLAY", "MEMECTL_CONFIG",  "NATS_URL"};

/* A terminal for one program: what it wrote, and how it answers queries. */
struct term_run {
    struct buf screen;   /* every byte the program wrote */
    const char *answer;  /* written for each DA1 query seen; NULL: silent */
    const char *keys[8]; /* typed one by one, 1.5 s apart, after the first output */
    int status;          /* exit status, -1 when killed */
};

/* Runs argv on a new pseudo terminal (its controlling terminal) of 120x40
 * cells of 10x20 pixels with env
 * ("K=V" pairs) on top of a cleared terminal environment, until it exits or
 * timeout_ms passed. */
static void run_on_pty(char *const argv[], const char *const env[], struct term_run *t,
                       int timeout_ms)
{
    int master, slave;
    struct winsize ws = {.ws_row = 40, .ws_col = 120, .ws_xpixel = 1200, .ws_ypixel = 800};
    assert_int_equal(openpty(&master, &slave, NULL, NULL, &ws), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(master);
        setsid();
        ioctl(slave, TIOCSCTTY, 0);
        dup2(slave, 0);
        dup2(slave, 1);
        dup2(slave, 2);
        if (slave > 2)
            close(slave);
        for (size_t i = 0; i < sizeof(term_vars) / sizeof(term_vars[0]); i++)
            unsetenv(term_vars[i]);
        setenv("LANG", "C.UTF-8", 1);
        setenv("HOME", scratch, 1);
        for (size_t i = 0; env && env[i]; i++)
            putenv((char *)env[i]);
        execv(argv[0], argv);
        _exit(127);
    }
    buf_init(&t->screen);
    size_t scanned = 0;
    int key = 0;
    long long deadline = now_ms() + timeout_ms, next_key = 0;
    bool done = false;
    t->status = -1;
    while (!done && now_ms() < deadline) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            char chunk[65536];
            ssize_t n = read(master, chunk, sizeof(chunk));
            if (n > 0)
                buf_append(&t->screen, chunk, (size_t)n);
        }
        /* Answer each DA1 query (the end of a round of queries). */
        while (t->answer && t->screen.len >= scanned + 3) {
            uint8_t *q = memmem(t->screen.data + scanned, t->screen.len - scanned, "\033[c", 3);
            if (!q)
                break;
            scanned = (size_t)(q - t->screen.data) + 3;
            (void)!write(master, t->answer, strlen(t->answer));
        }
        if (t->keys[key] && t->screen.len > 0 && now_ms() >= next_key) {
            if (next_key)
                (void)!write(master, t->keys[key], strlen(t->keys[key])), key++;
            next_key = now_ms() + 1500;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            t->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            pid = -1;
            /* Drain what is left. */
            char chunk[65536];
            ssize_t n;
            fcntl(master, F_SETFL, O_NONBLOCK);
            while ((n = read(master, chunk, sizeof(chunk))) > 0)
                buf_append(&t->screen, chunk, (size_t)n);
            done = true;
        }
    }
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    /* The slave stayed open here, so nothing written was lost on exit. */
    close(slave);
    close(master);
    buf_putc(&t->screen, '\0');
    t->screen.len--;
}

static char *memectl_bin(void)
{
    return harness_bin("memectl");
}

/* gen with the extra arguments, saving to path, on the terminal t. */
static void gen_on_pty(struct term_run *t, const char *const env[], const char *display,
                       const char *path, const char *prompt)
{
    char *bin = memectl_bin();
    char *argv[] = {bin,  "-s",         (char *)nats.url, "gen", "--display", (char *)display,
                    "-o", (char *)path, (char *)prompt,   NULL};
    run_on_pty(argv, env, t, 60000);
    free(bin);
    if (t->status != 0)
        fprintf(stderr, "memectl wrote: %s\n", (char *)t->screen.data);
    assert_int_equal(t->status, 0);
}

/* The first kitty command in what was written to the terminal; tmux may put
 * its own sequences between the chunks, so the kitty ones are picked out. */
static void first_kitty(const struct buf *screen, struct kitty_cmd *cmd)
{
    struct buf only = BUF_INIT;
    const uint8_t *p = screen->data, *end = screen->data + screen->len;
    while ((p = memmem(p, (size_t)(end - p), "\033_G", 3)) != NULL) {
        const uint8_t *st = memmem(p, (size_t)(end - p), "\033\\", 2);
        assert_non_null(st);
        if (memcmp(p, "\033_Gi=31,", 8) != 0) /* not the detection query */
            buf_append(&only, p, (size_t)(st + 2 - p));
        p = st + 2;
    }
    buf_putc(&only, '\0');
    only.len--;
    assert_true(only.len > 0);
    size_t pos = 0;
    kitty_read(&only, &pos, cmd);
    buf_release(&only);
}

/* The kitty image written is the saved meme, pixel for pixel, at its own
 * size over 52x26 cells of 10x20. */
static void assert_kitty_is_file(const struct buf *screen, const char *path)
{
    struct kitty_cmd cmd;
    first_kitty(screen, &cmd);
    char v[16];
    assert_string_equal(key(cmd.keys, "a", v, sizeof(v)), "T");
    assert_int_equal(key_int(cmd.keys, "f"), 24);
    assert_int_equal(key_int(cmd.keys, "q"), 2);
    assert_int_equal(key_int(cmd.keys, "c"), 52);
    assert_int_equal(key_int(cmd.keys, "r"), 26);
    struct meme_image *shown = kitty_image(&cmd), *saved = load_image(path);
    assert_non_null(saved);
    assert_int_equal(shown->width, saved->width);
    assert_int_equal(shown->height, saved->height);
    assert_memory_equal(shown->rgb, saved->rgb, (size_t)saved->width * saved->height * 3);
    image_free(shown);
    image_free(saved);
    buf_release(&cmd.payload);
}

static void test_gen_kitty(void **state)
{
    struct term_run t = {0};
    char *path = xasprintf("%s/kitty.png", scratch);
    const char *env[] = {"TERM=xterm-256color", NULL};
    gen_on_pty(&t, env, "kitty", path, "kitty | graphics");
    assert_kitty_is_file(&t.screen, path);
    /* Room first: 26 lines, back up, the image, down again. */
    assert_non_null(strstr((char *)t.screen.data, "\n\033[26A\033_G"));
    assert_non_null(strstr((char *)t.screen.data, "\033\\\033[26B"));
    buf_release(&t.screen);
    free(path);
}

static void test_gen_iterm2(void **state)
{
    struct term_run t = {0};
    char *path = xasprintf("%s/iterm2.png", scratch);
    const char *env[] = {"TERM=xterm-256color", NULL};
    gen_on_pty(&t, env, "iterm2", path, "iterm2 | inline");
    uint8_t *osc = memmem(t.screen.data, t.screen.len, "\033]1337;File=", 12);
    assert_non_null(osc);
    uint8_t *bel = memchr(osc, '\a', t.screen.len - (size_t)(osc - t.screen.data));
    assert_non_null(bel);
    struct buf seq = BUF_INIT;
    buf_append(&seq, osc, (size_t)(bel + 1 - osc));
    char attrs[256];
    size_t got;
    uint8_t *payload = iterm2_read(&seq, attrs, sizeof(attrs), &got);
    assert_int_equal(attr_int(attrs, "inline"), 1);
    assert_int_equal(attr_int(attrs, "width"), 52);
    assert_int_equal(attr_int(attrs, "height"), 26);
    /* A PNG of the saved meme's pixels (ours, not the worker's file). */
    struct meme_image *shown = image_decode(payload, got, NULL), *saved = load_image(path);
    assert_non_null(shown);
    assert_int_equal(shown->width, saved->width);
    assert_memory_equal(shown->rgb, saved->rgb, (size_t)saved->width * saved->height * 3);
    image_free(shown);
    image_free(saved);
    /* The cursor is saved around the image. */
    assert_true(osc[-1] == '7' && osc[-2] == 0x1b);
    assert_true(bel[1] == 0x1b && bel[2] == '8');
    free(payload);
    buf_release(&seq);
    buf_release(&t.screen);
    free(path);
}

static double mean_abs(const struct meme_image *a, const struct meme_image *b)
{
    size_t n = (size_t)b->width * b->height * 3;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += abs((int)a->rgb[i] - (int)b->rgb[i]);
    return sum / (double)n;
}

static void test_gen_sixel(void **state)
{
    struct term_run t = {0};
    char *path = xasprintf("%s/sixel.png", scratch);
    const char *env[] = {"TERM=xterm-256color", NULL};
    gen_on_pty(&t, env, "sixel", path, "sixel | graphics");
    uint8_t *dcs = memmem(t.screen.data, t.screen.len, "\033P", 2);
    assert_non_null(dcs);
    uint8_t *st = memmem(dcs, t.screen.len - (size_t)(dcs - t.screen.data), "\033\\", 2);
    assert_non_null(st);
    struct buf seq = BUF_INIT;
    buf_append(&seq, dcs, (size_t)(st + 2 - dcs));
    struct meme_image *shown = sixel_image(&seq), *saved = load_image(path);
    /* The meme at its own size; 256 colours, dithered: close, not equal. */
    assert_int_equal(shown->width, saved->width);
    assert_true(shown->height >= saved->height);
    assert_true(mean_abs(shown, saved) < 12.0);
    image_free(shown);
    image_free(saved);
    buf_release(&seq);
    buf_release(&t.screen);
    free(path);
}

/* The half blocks in what was written: from the first colour to the last
 * reset and newline. */
static struct meme_image *screen_blocks(const struct buf *screen, bool truecolor)
{
    uint8_t *start = memmem(screen->data, screen->len, truecolor ? "\033[38;2;" : "\033[38;5;", 7);
    assert_non_null(start);
    uint8_t *end = NULL, *p = start;
    while ((p = memmem(p, screen->len - (size_t)(p - screen->data), "\033[0m\r\n", 6)) != NULL) {
        end = p;
        p += 6;
    }
    assert_non_null(end);
    struct buf b = BUF_INIT;
    /* The terminal turned each \n into \r\n (ONLCR): undo it. */
    for (uint8_t *q = start; q < end + 6; q++)
        if (*q != '\r')
            buf_putc(&b, (char)*q);
    struct meme_image *img = blocks_image(&b, truecolor);
    buf_release(&b);
    return img;
}

static void test_gen_blocks(void **state)
{
    struct term_run t = {0};
    char *path = xasprintf("%s/blocks.png", scratch);
    const char *env[] = {"TERM=xterm-256color", "COLORTERM=truecolor", NULL};
    gen_on_pty(&t, env, "blocks", path, "half | blocks");
    struct meme_image *shown = screen_blocks(&t.screen, true), *saved = load_image(path);
    /* 37 rows of two pixels: 74x74, every pixel exactly the scaled meme. */
    assert_int_equal(shown->width, 74);
    assert_int_equal(shown->height, 74);
    struct meme_image *want = image_scale(saved, 74, 74);
    assert_memory_equal(shown->rgb, want->rgb, 74 * 74 * 3);
    image_free(want);
    image_free(shown);
    image_free(saved);
    buf_release(&t.screen);
    free(path);
}

static void test_auto_detection(void **state)
{
    char *path = xasprintf("%s/auto.png", scratch);
    /* kitty by its environment. */
    struct term_run t = {.answer = "\033[?62;22c"};
    const char *kitty[] = {"TERM=xterm-256color", "KITTY_WINDOW_ID=4", NULL};
    gen_on_pty(&t, kitty, "auto", path, "auto | kitty");
    assert_kitty_is_file(&t.screen, path);
    buf_release(&t.screen);

    /* A terminal that answers the kitty graphics query. */
    t = (struct term_run){.answer = "\033_Gi=31;OK\033\\\033[?62;22c"};
    const char *plain[] = {"TERM=xterm-256color", NULL};
    gen_on_pty(&t, plain, "auto", path, "auto | query");
    assert_non_null(strstr((char *)t.screen.data, "\033_Gi=31,s=1,v=1,a=q"));
    assert_kitty_is_file(&t.screen, path);
    buf_release(&t.screen);

    /* WezTerm: iTerm2 images. */
    t = (struct term_run){.answer = "\033[?62;22c"};
    const char *wez[] = {"TERM=xterm-256color", "TERM_PROGRAM=WezTerm", NULL};
    gen_on_pty(&t, wez, "auto", path, "auto | wezterm");
    assert_non_null(memmem(t.screen.data, t.screen.len, "\033]1337;File=inline=1;", 21));
    buf_release(&t.screen);

    /* xterm -ti vt340: DA1 with 4. */
    t = (struct term_run){.answer = "\033[?63;1;2;4;6;9;15;22c"};
    gen_on_pty(&t, plain, "auto", path, "auto | sixel");
    assert_non_null(memmem(t.screen.data, t.screen.len, "\033P", 2));
    assert_null(memmem(t.screen.data, t.screen.len, "\033_Ga=", 5));
    buf_release(&t.screen);

    /* Nothing but DA1: 256-colour half blocks (no COLORTERM). */
    t = (struct term_run){.answer = "\033[?62;22c"};
    gen_on_pty(&t, plain, "auto", path, "auto | blocks");
    struct meme_image *shown = screen_blocks(&t.screen, false);
    assert_int_equal(shown->width, 74);
    image_free(shown);
    assert_null(memmem(t.screen.data, t.screen.len, "\033[38;2;", 7));
    buf_release(&t.screen);

    /* MEMECTL_DISPLAY, then the config file, set the default. */
    t = (struct term_run){.answer = "\033[?63;4c"};
    const char *env_blocks[] = {"TERM=xterm-256color", "MEMECTL_DISPLAY=iterm2", NULL};
    char *bin = memectl_bin();
    char *argv[] = {bin, "-s", (char *)nats.url, "gen", "-o", path, "env | setting", NULL};
    run_on_pty(argv, env_blocks, &t, 60000);
    assert_int_equal(t.status, 0);
    assert_non_null(memmem(t.screen.data, t.screen.len, "\033]1337;File=", 12));
    buf_release(&t.screen);
    char *conf = xasprintf("%s/memectl.conf", scratch);
    FILE *f = fopen(conf, "w");
    fputs("display = none\n", f);
    fclose(f);
    char *conf_env = xasprintf("MEMECTL_CONFIG=%s", conf);
    const char *env_conf[] = {"TERM=xterm-kitty", conf_env, NULL};
    t = (struct term_run){.answer = "\033[?63;4c"};
    run_on_pty(argv, env_conf, &t, 60000);
    assert_int_equal(t.status, 0);
    assert_null(memmem(t.screen.data, t.screen.len, "\033_G", 3));
    assert_null(memmem(t.screen.data, t.screen.len, "\033[38;", 5));
    buf_release(&t.screen);
    /* A bad value is a usage error that names where it came from. */
    f = fopen(conf, "w");
    fputs("display = kitten\n", f);
    fclose(f);
    t = (struct term_run){0};
    run_on_pty(argv, env_conf, &t, 60000);
    assert_int_equal(t.status, 2);
    assert_non_null(strstr((char *)t.screen.data, "kitten"));
    assert_non_null(strstr((char *)t.screen.data, "iterm2"));
    buf_release(&t.screen);
    free(conf_env);
    free(conf);
    free(bin);
    free(path);
}

/* Into a pipe: the file name, and never an image escape. */
static void test_pipe_gets_no_graphics(void **state)
{
    char *path = xasprintf("%s/pipe.png", scratch);
    char *env[] = {"TERM=xterm-kitty",    "KITTY_WINDOW_ID=1", "TERM_PROGRAM=iTerm.app",
                   "COLORTERM=truecolor", "MEMECTL_DISPLAY",   NULL};
    const char *modes[] = {"auto", "kitty", "iterm2", "sixel", "none"};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        struct buf out = BUF_INIT, err = BUF_INIT;
        char *bin = memectl_bin();
        char *argv[] = {bin,  "-s", (char *)nats.url,    "gen", "--display", (char *)modes[i],
                        "-o", path, "pipe | no escapes", NULL};
        assert_int_equal(harness_run(argv, env, &out, &err, 60000), 0);
        assert_null(memchr(out.data, 0x1b, out.len));
        buf_putc(&out, '\0');
        char *line = xasprintf("%s\n", path);
        assert_string_equal((char *)out.data, line);
        free(line);
        assert_null(memchr(err.data, 0x1b, err.len));
        buf_release(&out);
        buf_release(&err);
        free(bin);
    }
    /* Half blocks asked for by name are coloured text, for less -R. */
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *bin = memectl_bin();
    char *argv[] = {bin,  "-s", (char *)nats.url, "gen", "--display", "blocks",
                    "-o", path, "pipe | blocks",  NULL};
    assert_int_equal(harness_run(argv, env, &out, &err, 60000), 0);
    assert_non_null(memmem(out.data, out.len, "\033[38;2;", 7));
    assert_null(memmem(out.data, out.len, "\033_G", 3));
    buf_release(&out);
    buf_release(&err);
    free(bin);
    free(path);
}

static void test_get_draws_too(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *bin = memectl_bin();
    char *argv[] = {bin, "-s", (char *)nats.url, "gen", "--no-wait", "later | drawn", NULL};
    assert_int_equal(harness_run(argv, NULL, &out, &err, 30000), 0);
    char id[64];
    snprintf(id, sizeof(id), "%.*s", (int)strcspn((char *)out.data, "\n"), (char *)out.data);
    buf_release(&out);
    buf_release(&err);
    char *path = xasprintf("%s/got.png", scratch);
    const char *env[] = {"TERM=xterm-256color", NULL};
    char *get[] = {bin, "-s", (char *)nats.url, "get", "--display", "kitty", "-o", path, id, NULL};
    struct term_run t = {0};
    for (int i = 0; i < 100; i++) {
        run_on_pty(get, env, &t, 30000);
        if (t.status == 0)
            break;
        buf_release(&t.screen);
        usleep(200 * 1000); /* not made yet */
    }
    assert_int_equal(t.status, 0);
    assert_kitty_is_file(&t.screen, path);
    buf_release(&t.screen);
    /* A bad mode is a usage error. */
    char *bad[] = {bin, "get", "--display", "sixels", id, NULL};
    assert_int_equal(harness_run(bad, NULL, &out, &err, 10000), 2);
    assert_non_null(memmem(err.data, err.len, "--display", 9));
    buf_release(&out);
    buf_release(&err);
    free(path);
    free(bin);
}

static bool have_tmux(void)
{
    return system("command -v tmux >/dev/null 2>&1") == 0;
}

/* memectl gen inside a real tmux inside our terminal (kitty, by TERM): with
 * allow-passthrough the kitty image reaches the terminal through tmux, the
 * same bytes as the file; without it tmux gets half blocks. */
static void tmux_gen(const char *passthrough, struct term_run *t, const char *path)
{
    char *conf = xasprintf("%s/tmux.conf", scratch);
    FILE *f = fopen(conf, "w");
    fprintf(f, "set -g allow-passthrough %s\nset -g status off\n", passthrough);
    fclose(f);
    char *bin = memectl_bin();
    char *cmd = xasprintf("%s -s %s gen -o %s 'through | tmux'; sleep 1", bin, nats.url, path);
    char sock[64];
    snprintf(sock, sizeof(sock), "memectl-display-%d", (int)getpid());
    char *argv[] = {"/usr/bin/env", "tmux", "-L", sock, "-f", conf, "new-session", cmd, NULL};
    const char *env[] = {"TERM=xterm-kitty", NULL};
    *t = (struct term_run){.answer = "\033[?62;22c"};
    run_on_pty(argv, env, t, 60000);
    char *kill = xasprintf("tmux -L %s kill-server 2>/dev/null", sock);
    (void)!system(kill);
    free(kill);
    free(cmd);
    free(bin);
    free(conf);
}

static void test_tmux_passthrough(void **state)
{
    if (!have_tmux())
        skip();
    char *path = xasprintf("%s/tmux.png", scratch);
    struct term_run t;
    tmux_gen("on", &t, path);
    assert_true(file_exists(path));
    assert_kitty_is_file(&t.screen, path);
    buf_release(&t.screen);
    unlink(path);

    tmux_gen("off", &t, path);
    assert_true(file_exists(path));
    assert_null(memmem(t.screen.data, t.screen.len, "\033_Ga=", 5));
    /* tmux redraws the half blocks its own way: the characters are there. */
    assert_non_null(memmem(t.screen.data, t.screen.len, "\xe2\x96\x80", 3));
    buf_release(&t.screen);
    free(path);
}

/* The dashboard in kitty: the meme made with g is stored once, placed after
 * every refresh with its previous placement deleted, taken off the screen
 * when help covers the panel, and freed on exit. */
static void test_dashboard_kitty(void **state)
{
    char *bin = memectl_bin();
    char *argv[] = {bin, "-s", (char *)nats.url, "tui", "--display", "kitty", NULL};
    const char *env[] = {"TERM=xterm-256color", NULL};
    struct term_run t = {.answer = "\033[?62;22c",
                         .keys = {"g", "dashboard | kitty\r", "\t", "?", "\033", "q", NULL}};
    run_on_pty(argv, env, &t, 60000);
    assert_int_equal(t.status, 0);
    /* Every kitty command, in order (chunks after the first left out). */
    char cmds[64][64];
    int n = 0, stores = 0, id = 0;
    const uint8_t *p = t.screen.data, *end = t.screen.data + t.screen.len;
    while (n < 64 && (p = memmem(p, (size_t)(end - p), "\033_G", 3)) != NULL) {
        size_t k = strcspn((const char *)p + 3, ";\033");
        if (strncmp((const char *)p + 3, "m=", 2) != 0)
            snprintf(cmds[n++], sizeof(cmds[0]), "%.*s", (int)k, (const char *)p + 3);
        p += 3;
    }
    assert_true(n >= 4);
    for (int i = 0; i < n; i++)
        if (strstr(cmds[i], "a=t,")) {
            stores++;
            id = key_int(cmds[i], "i");
            /* Stored at the panel's pixel size or less, never placed by it. */
            assert_true(key_int(cmds[i], "f") == 100 || key_int(cmds[i], "s") <= 512);
            assert_int_equal(key_int(cmds[i], "c"), -1);
        }
    assert_int_equal(stores, 1); /* one meme, sent once */
    assert_true(id > 0);
    char place[32], del[32], freed[32];
    snprintf(place, sizeof(place), "a=p,i=%d,C=1,", id);
    snprintf(del, sizeof(del), "a=d,d=i,i=%d,q=2", id);
    snprintf(freed, sizeof(freed), "a=d,d=I,i=%d,q=2", id);
    int placements = 0, bare_deletes = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(cmds[i], place, strlen(place)) == 0) {
            placements++;
            /* Each placement replaces the one before: deleted just before. */
            assert_true(i > 0);
            assert_string_equal(cmds[i - 1], del);
        }
        if (strcmp(cmds[i], del) == 0 && (i + 1 == n || strncmp(cmds[i + 1], place, strlen(place))))
            bare_deletes++;
    }
    /* Placed after each refresh; help took it off the screen. */
    assert_true(placements >= 2);
    assert_true(bare_deletes >= 1);
    /* q: freed in the terminal, the last thing said to it. */
    assert_string_equal(cmds[n - 1], freed);
    buf_release(&t.screen);
    free(bin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gen_kitty),       cmocka_unit_test(test_gen_iterm2),
        cmocka_unit_test(test_gen_sixel),       cmocka_unit_test(test_gen_blocks),
        cmocka_unit_test(test_auto_detection),  cmocka_unit_test(test_pipe_gets_no_graphics),
        cmocka_unit_test(test_get_draws_too),   cmocka_unit_test(test_tmux_passthrough),
        cmocka_unit_test(test_dashboard_kitty),
    };
    int failures = cmocka_run_group_tests(tests, setup, teardown);
    return harness_finish(failures);
}
