/*
 * Terminal graphics and text safety for the tools that draw on a terminal.
 * term_detect() decides how a meme is drawn, as chafa and timg do: the
 * environment first (kitty, Ghostty, iTerm2, WezTerm, Konsole, tmux and its
 * passthrough setting, COLORTERM), then one round of queries on /dev/tty in
 * raw mode (the kitty graphics query, XTVERSION, XTSMGRAPHICS, the cell and
 * window size in pixels, and DA1 last, which every terminal answers), read
 * with a bounded wait and the terminal's settings always restored. Graphics
 * never go to a pipe or a file. The encoders are in graphics.c (kitty,
 * iTerm2, tmux) and below (sixel through libsixel, half blocks in 24-bit or
 * xterm-256 colour). term_sanitize() makes text that came from the network
 * safe to print: no control characters, no escape sequences, valid UTF-8
 * only. Nothing here prints; encoders append to a caller's struct buf. See
 * docs/terminal.md.
 */
#include "clock.h"
#include "term/term.h"
#include "utf8.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sixel.h>

#define TERM_DETECT_TIMEOUT_MS 250
#define TERM_CELL_W            10
#define TERM_CELL_H            20
#define TERM_COLS              80
#define TERM_ROWS              24
/* The id of our kitty graphics query, so that its answer is told apart. */
#define TERM_KITTY_QUERY_ID "31"

#define ESC 0x1b
#define BEL 0x07
#define CAN 0x18
#define SUB 0x1a
#define DEL 0x7f

extern char **environ;

static const char *const display_names[TERM_DISPLAY_COUNT] = {
    [TERM_DISPLAY_AUTO] = "auto",     [TERM_DISPLAY_KITTY] = "kitty",
    [TERM_DISPLAY_ITERM2] = "iterm2", [TERM_DISPLAY_SIXEL] = "sixel",
    [TERM_DISPLAY_BLOCKS] = "blocks", [TERM_DISPLAY_NONE] = "none",
};

int term_display_parse(const char *s, enum term_display *out)
{
    for (size_t i = 0; s && i < TERM_DISPLAY_COUNT; i++) {
        if (strcmp(s, display_names[i]) == 0) {
            *out = (enum term_display)i;
            return 0;
        }
    }
    return -1;
}

const char *term_display_name(enum term_display d)
{
    if ((unsigned)d >= TERM_DISPLAY_COUNT)
        return "unknown";
    return display_names[d];
}

const char *term_display_choices(void)
{
    return "auto, kitty, iterm2, sixel, blocks or none";
}

/* ---- the environment --------------------------------------------------- */

static const char *env_or_null(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

void term_env_read(struct term_env *e)
{
    memset(e, 0, sizeof(*e));
    e->term = env_or_null("TERM");
    e->term_program = env_or_null("TERM_PROGRAM");
    e->colorterm = env_or_null("COLORTERM");
    e->kitty_window_id = env_or_null("KITTY_WINDOW_ID");
    e->konsole_version = env_or_null("KONSOLE_VERSION");
    e->lc_terminal = env_or_null("LC_TERMINAL");
    e->tmux = env_or_null("TMUX");
}

static bool eq(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

static long long now_ms(void)
{
    return (long long)clock_now_ms();
}

/* Runs argv with stdout into out (at most cap-1 bytes, NUL-terminated) and
 * stdin and stderr on /dev/null, for at most timeout_ms; 0 when it exited 0. */
static int run_capture(char *const argv[], char *out, size_t cap, int timeout_ms)
{
    int fds[2], rc = -1;
    size_t len = 0;
    pid_t pid = -1;
    posix_spawn_file_actions_t fa;

    out[0] = '\0';
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    long long deadline = now_ms() + timeout_ms;
    while (pid > 0) {
        long long left = deadline - now_ms();
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        if (left <= 0 || (poll(&p, 1, (int)left) < 0 && errno != EINTR))
            break;
        ssize_t n = read(fds[0], out + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == cap - 1)
            break;
    }
    out[len] = '\0';
    close(fds[0]);
    if (pid > 0) {
        int st = 0;
        /* Silent past the deadline, or still writing: not worth waiting for. */
        if (waitpid(pid, &st, WNOHANG) == 0) {
            long long left = deadline - now_ms();
            while (left > 0 && waitpid(pid, &st, WNOHANG) == 0) {
                usleep(2000);
                left = deadline - now_ms();
            }
            if (left <= 0 && waitpid(pid, &st, WNOHANG) == 0) {
                kill(pid, SIGKILL);
                waitpid(pid, &st, 0);
                return -1;
            }
        }
        rc = WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
    }
    return rc;
}

void term_tmux_probe(struct term_env *e, int timeout_ms)
{
    char out[256];
    /* One tmux client for both: the pane's effective allow-passthrough (set
     * on the pane, window or globally) and the outer terminal's TERM. */
    char *argv[] = {"tmux", "show-options",    "-Apv", "allow-passthrough",
                    ";",    "display-message", "-p",   "#{client_termname}",
                    NULL};

    e->tmux_passthrough = 0;
    e->tmux_client_term[0] = '\0';
    if (!e->tmux || run_capture(argv, out, sizeof(out), timeout_ms > 0 ? timeout_ms : 500) < 0)
        return;
    char *nl = strchr(out, '\n');
    if (!nl)
        return;
    *nl = '\0';
    e->tmux_passthrough = strcmp(out, "on") == 0 || strcmp(out, "all") == 0;
    char *client = nl + 1;
    client[strcspn(client, "\n")] = '\0';
    char *clean = term_sanitize_dup(client);
    snprintf(e->tmux_client_term, sizeof(e->tmux_client_term), "%s", clean);
    free(clean);
}

static bool konsole_has_graphics(const char *version)
{
    /* KONSOLE_VERSION is e.g. "220401": kitty images from 22.04 on. */
    char *end;
    long v = version ? strtol(version, &end, 10) : 0;
    return version && *end == '\0' && v >= 220400;
}

enum term_display term_env_display(const struct term_env *e, bool *truecolor, const char **why)
{
    enum term_display d = TERM_DISPLAY_AUTO;
    const char *w = "no terminal named in the environment";
    /* Inside tmux TERM and TERM_PROGRAM name tmux; the outer terminal is the
     * client's TERM, or what the tmux server inherited from it. */
    const char *term = e->tmux ? e->tmux_client_term : e->term;
    const char *program = e->tmux ? NULL : e->term_program;

    if (eq(term, "xterm-kitty") || e->kitty_window_id) {
        d = TERM_DISPLAY_KITTY;
        w = "kitty (TERM=xterm-kitty or KITTY_WINDOW_ID)";
    } else if (eq(program, "ghostty") || eq(term, "xterm-ghostty")) {
        d = TERM_DISPLAY_KITTY;
        w = "Ghostty (TERM_PROGRAM=ghostty)";
    } else if (eq(program, "iTerm.app") || eq(e->lc_terminal, "iTerm2")) {
        d = TERM_DISPLAY_ITERM2;
        w = "iTerm2 (TERM_PROGRAM=iTerm.app)";
    } else if (eq(program, "WezTerm")) {
        d = TERM_DISPLAY_ITERM2;
        w = "WezTerm (TERM_PROGRAM=WezTerm)";
    } else if (konsole_has_graphics(e->konsole_version)) {
        d = TERM_DISPLAY_KITTY;
        w = "Konsole 22.04 or later (KONSOLE_VERSION)";
    }
    *truecolor = d != TERM_DISPLAY_AUTO || e->konsole_version || eq(e->colorterm, "truecolor") ||
                 eq(e->colorterm, "24bit");
    if (d != TERM_DISPLAY_AUTO && e->tmux && !e->tmux_passthrough) {
        d = TERM_DISPLAY_AUTO;
        w = "tmux does not pass graphics through (allow-passthrough is off)";
    }
    if (why)
        *why = w;
    return d;
}

/* ---- replies ----------------------------------------------------------- */

#define MAX_PARAMS 16

/* One control sequence read from a reply. */
struct seq {
    uint8_t kind;   /* '[' CSI, '_' APC, 'P' DCS */
    uint8_t prefix; /* CSI: '?', '>', '<', '=' or 0 */
    uint8_t final;  /* CSI: the final byte */
    int nparams;
    long params[MAX_PARAMS];
    const uint8_t *body; /* APC, DCS: between the introducer and ST */
    size_t body_len;
};

/* Past the CSI parameters starting at j; 0 while incomplete, the offending
 * byte's index (negated, minus one) when the sequence is broken. */
static long read_csi(const uint8_t *s, size_t len, size_t j, struct seq *q)
{
    long param = -1;
    q->kind = '[';
    q->nparams = 0;
    q->prefix = 0;
    if (j < len && s[j] >= '<' && s[j] <= '?')
        q->prefix = s[j++];
    for (; j < len; j++) {
        uint8_t c = s[j];
        if (c >= '0' && c <= '9') {
            param = param < 0 ? c - '0' : param * 10 + (c - '0');
            if (param > 99999)
                param = 99999;
        } else if (c == ';' || (c >= 0x40 && c <= 0x7e)) {
            if (q->nparams < MAX_PARAMS)
                q->params[q->nparams++] = param < 0 ? 0 : param;
            param = -1;
            if (c != ';') {
                q->final = c;
                return (long)j + 1;
            }
        } else if (c < 0x20 || c > 0x2f) {
            return -(long)j - 1;
        }
    }
    return 0;
}

/* Past a control string body starting at j (up to ST, or BEL), with final
 * set; without it when an ESC of another sequence broke it off (returns that
 * ESC's index); 0 while incomplete. */
static size_t read_string(const uint8_t *s, size_t len, size_t j, struct seq *q)
{
    q->body = s + j;
    for (; j < len; j++) {
        if (s[j] == BEL || s[j] == 0x9c) {
            q->body_len = (size_t)(s + j - q->body);
            q->final = 1;
            return j + 1;
        }
        if (s[j] == ESC && j + 1 < len) {
            if (s[j + 1] != '\\')
                return j; /* broken: the ESC starts something else */
            q->body_len = (size_t)(s + j - q->body);
            q->final = 1;
            return j + 2;
        }
    }
    return 0;
}

static void apply(const struct seq *q, struct term_reply *r)
{
    if (q->kind == '[') {
        if (q->prefix == '?' && q->final == 'c') {
            r->answered = true;
            for (int i = 0; i < q->nparams; i++)
                if (q->params[i] == 4)
                    r->da1_sixel = true;
        } else if (q->prefix == '?' && q->final == 'S' && q->nparams >= 3 && q->params[0] == 1 &&
                   q->params[1] == 0) {
            r->sixel_colors = (int)q->params[2];
        } else if (q->prefix == 0 && q->final == 't' && q->nparams >= 3) {
            int h = (int)q->params[1], w = (int)q->params[2];
            if (q->params[0] == 6 && w > 0 && h > 0 && w < 1000 && h < 1000) {
                r->cell_w = w;
                r->cell_h = h;
            } else if (q->params[0] == 4 && w > 0 && h > 0) {
                r->win_w = w;
                r->win_h = h;
            }
        }
    } else if (q->kind == '_') {
        /* "Gi=31;OK": our query's id, and OK (anything else is an error). */
        static const char ok[] = "Gi=" TERM_KITTY_QUERY_ID ";OK";
        if (q->body_len == sizeof(ok) - 1 && memcmp(q->body, ok, sizeof(ok) - 1) == 0)
            r->kitty = true;
    } else if (q->kind == 'P') {
        /* XTVERSION: DCS > | text ST */
        if (q->body_len >= 2 && q->body[0] == '>' && q->body[1] == '|') {
            struct buf b = BUF_INIT;
            term_sanitize((const char *)q->body + 2, q->body_len - 2, false, &b);
            snprintf(r->version, sizeof(r->version), "%.*s", (int)b.len,
                     b.data ? (char *)b.data : "");
            buf_release(&b);
        }
    }
}

void term_reply_parse(const char *text, size_t len, struct term_reply *r)
{
    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0;

    while (s && i < len) {
        struct seq q;
        size_t j = 0;
        memset(&q, 0, sizeof(q));
        if (s[i] == ESC && i + 1 < len) {
            q.kind = s[i + 1];
            j = i + 2;
        } else if (s[i] == 0x9b || s[i] == 0x9f || s[i] == 0x90) {
            q.kind = s[i] == 0x9b ? '[' : s[i] == 0x9f ? '_' : 'P';
            j = i + 1;
        } else {
            i++;
            continue;
        }
        if (q.kind == '[') {
            long next = read_csi(s, len, j, &q);
            if (next == 0)
                return; /* still arriving */
            if (next < 0) {
                i = (size_t)(-next - 1); /* look at the offending byte again */
                continue;
            }
            apply(&q, r);
            if (r->answered)
                return; /* DA1 comes last: the rest is not ours */
            i = (size_t)next;
        } else if (q.kind == '_' || q.kind == 'P') {
            size_t next = read_string(s, len, j, &q);
            if (next == 0)
                return;
            if (q.final) /* else broken: look at the ESC again */
                apply(&q, r);
            i = next;
        } else {
            i++;
        }
    }
}

bool term_da1_has_sixel(const char *reply, size_t len)
{
    struct term_reply r;
    memset(&r, 0, sizeof(r));
    term_reply_parse(reply, len, &r);
    return r.answered && r.da1_sixel;
}

/* The kitty query transmits a 1x1 RGB image (t=d, "AAAA") and asks (a=q)
 * whether it would be accepted: kitty answers "OK" and stores nothing. */
#define Q_KITTY "\033_Gi=" TERM_KITTY_QUERY_ID ",s=1,v=1,a=q,t=d,f=24;AAAA\033\\"
#define Q_REST  "\033[>0q\033[?1;1;0S\033[16t\033[14t\033[c"

const char *term_query_string(bool kitty)
{
    return kitty ? Q_KITTY Q_REST : Q_REST;
}

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes query to out_fd with in_fd raw, and reads replies into r until DA1's
 * arrived or timeout_ms passed; restores in_fd. 0 when DA1 was answered. */
static int exchange(int in_fd, int out_fd, const char *query, int timeout_ms, struct term_reply *r)
{
    struct termios saved, raw;
    bool restore = false;
    uint8_t reply[1024];
    size_t len = 0;

    memset(r, 0, sizeof(*r));
    if (timeout_ms <= 0)
        timeout_ms = TERM_DETECT_TIMEOUT_MS;
    if (tcgetattr(in_fd, &saved) < 0)
        goto out;
    /* No echo (the reply must not appear on screen), no line editing (it
     * has no newline), no signals (^C must not kill us while raw). */
    raw = saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ECHONL | ISIG | IEXTEN);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(in_fd, TCSANOW, &raw) < 0)
        goto out;
    restore = true;
    if (write_all(out_fd, query, strlen(query)) < 0)
        goto out;

    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        memset(r, 0, sizeof(*r));
        term_reply_parse((const char *)reply, len, r);
        if (r->answered)
            break;
        long long left = deadline - now_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = in_fd, .events = POLLIN};
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (len == sizeof(reply)) {
            /* Typed-ahead noise filled the buffer: keep a reply's start. */
            uint8_t *esc = memrchr(reply, ESC, len);
            size_t keep = esc && esc != reply ? len - (size_t)(esc - reply) : 0;
            memmove(reply, reply + len - keep, keep);
            len = keep;
        }
        ssize_t got = read(in_fd, reply + len, sizeof(reply) - len);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }
out:
    if (restore) {
        /* Time ran out in the middle of the replies: drop the rest from the
         * input queue rather than let the shell read it as keystrokes. */
        if (!r->answered && memchr(reply, ESC, len))
            tcflush(in_fd, TCIFLUSH);
        tcsetattr(in_fd, TCSANOW, &saved);
    }
    return r->answered ? 0 : -1;
}

int term_query_on(int in_fd, int out_fd, int timeout_ms, bool kitty, struct term_reply *r)
{
    return exchange(in_fd, out_fd, term_query_string(kitty), timeout_ms, r);
}

/* ---- the decision ------------------------------------------------------ */

static bool version_is(const char *version, const char *name)
{
    return strncmp(version, name, strlen(name)) == 0;
}

void term_decide(const struct term_env *e, const struct term_reply *reply, enum term_display want,
                 struct term_caps *caps)
{
    bool truecolor = false;
    const char *why = NULL;
    enum term_display env = term_env_display(e, &truecolor, &why);
    bool passthrough = e->tmux && e->tmux_passthrough;

    if (reply && (version_is(reply->version, "kitty") || version_is(reply->version, "WezTerm") ||
                  version_is(reply->version, "iTerm2") || version_is(reply->version, "ghostty")))
        truecolor = true;
    caps->truecolor = truecolor;
    caps->tmux = false;
    if (want != TERM_DISPLAY_AUTO) {
        caps->mode = want;
        caps->why = "asked for";
        if ((want == TERM_DISPLAY_KITTY || want == TERM_DISPLAY_ITERM2) && e->tmux &&
            !passthrough) {
            caps->mode = TERM_DISPLAY_BLOCKS;
            caps->why = "tmux does not pass graphics through (allow-passthrough is off)";
        }
    } else if (env != TERM_DISPLAY_AUTO) {
        caps->mode = env;
        caps->why = why;
    } else if (reply && reply->kitty) {
        caps->mode = TERM_DISPLAY_KITTY;
        caps->why = "the terminal answered the kitty graphics query";
    } else if (reply &&
               (version_is(reply->version, "iTerm2") || version_is(reply->version, "WezTerm"))) {
        caps->mode = TERM_DISPLAY_ITERM2;
        caps->why = "the terminal named itself (XTVERSION) iTerm2 or WezTerm";
    } else if (reply && (reply->da1_sixel || reply->sixel_colors > 0)) {
        caps->mode = TERM_DISPLAY_SIXEL;
        caps->why = reply->da1_sixel ? "DA1 lists sixel" : "XTSMGRAPHICS answered";
    } else {
        caps->mode = TERM_DISPLAY_BLOCKS;
        caps->why = e->tmux && !passthrough ? why
                    : reply                 ? "the terminal has no graphics"
                                            : "the terminal did not answer";
    }
    caps->tmux =
        passthrough && (caps->mode == TERM_DISPLAY_KITTY || caps->mode == TERM_DISPLAY_ITERM2);
    if (reply && reply->cell_w > 0 && reply->cell_h > 0 && caps->cell_w <= 0) {
        caps->cell_w = reply->cell_w;
        caps->cell_h = reply->cell_h;
    } else if (reply && reply->win_w > 0 && caps->cell_w <= 0 && caps->cols > 0 && caps->rows > 0 &&
               reply->win_w >= caps->cols && reply->win_h >= caps->rows) {
        caps->cell_w = reply->win_w / caps->cols;
        caps->cell_h = reply->win_h / caps->rows;
    }
}

void term_detect(int fd, enum term_display want, int timeout_ms, struct term_caps *caps)
{
    struct term_env e;
    struct winsize ws;

    memset(caps, 0, sizeof(*caps));
    caps->cols = TERM_COLS;
    caps->rows = TERM_ROWS;
    memset(&ws, 0, sizeof(ws));
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
        caps->cols = ws.ws_col;
        caps->rows = ws.ws_row;
        if (ws.ws_xpixel >= ws.ws_col && ws.ws_ypixel >= ws.ws_row) {
            caps->cell_w = ws.ws_xpixel / ws.ws_col;
            caps->cell_h = ws.ws_ypixel / ws.ws_row;
        }
    }
    term_env_read(&e);
    caps->mode = TERM_DISPLAY_NONE;
    caps->why = "not a terminal";
    if (!isatty(fd)) {
        /* Graphics never go into a pipe or a file. */
        bool tc = false;
        term_env_display(&e, &tc, NULL);
        caps->truecolor = tc;
        if (want == TERM_DISPLAY_BLOCKS) {
            caps->mode = TERM_DISPLAY_BLOCKS;
            caps->why = "asked for (coloured text)";
        }
        goto out;
    }
    caps->why = "asked for";
    if (want == TERM_DISPLAY_NONE)
        goto out;
    if (want == TERM_DISPLAY_AUTO && eq(e.term, "dumb")) {
        caps->why = "TERM=dumb";
        goto out;
    }
    /* Only kitty and iTerm2 images go through tmux's passthrough. */
    if (e.tmux &&
        (want == TERM_DISPLAY_AUTO || want == TERM_DISPLAY_KITTY || want == TERM_DISPLAY_ITERM2))
        term_tmux_probe(&e, 500);

    /* Ask the terminal when the environment did not say, or for the cell
     * size that graphics are measured in when the kernel does not know it. */
    bool tc;
    bool ask = want == TERM_DISPLAY_AUTO
                   ? term_env_display(&e, &tc, NULL) == TERM_DISPLAY_AUTO || caps->cell_w <= 0
                   : want != TERM_DISPLAY_BLOCKS && caps->cell_w <= 0;
    struct term_reply reply;
    bool answered = false;
    if (ask) {
        int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
        /* A background job that touched the terminal's settings would be
         * stopped by SIGTTOU, and its queries answered to someone else. tmux
         * would take the kitty query (an APC) for a pane title. */
        if (tty >= 0 && tcgetpgrp(tty) == getpgrp())
            answered =
                term_query_on(tty, tty, timeout_ms, !e.tmux && !eq(e.term, "linux"), &reply) == 0;
        if (tty >= 0)
            close(tty);
    }
    term_decide(&e, answered ? &reply : NULL, want, caps);
out:
    if (caps->cell_w <= 0 || caps->cell_h <= 0) {
        caps->cell_w = TERM_CELL_W;
        caps->cell_h = TERM_CELL_H;
    }
}

int term_tmux_sync(int timeout_ms)
{
    struct term_reply r;
    int rc = -1, tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty >= 0 && tcgetpgrp(tty) == getpgrp())
        rc = exchange(tty, tty, "\033[c", timeout_ms, &r);
    if (tty >= 0)
        close(tty);
    return rc;
}

void term_geometry(int fd, struct term_geometry *g)
{
    struct winsize ws;

    g->cols = TERM_COLS;
    g->rows = TERM_ROWS;
    g->cell_w = TERM_CELL_W;
    g->cell_h = TERM_CELL_H;
    memset(&ws, 0, sizeof(ws));
    if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0 || ws.ws_row == 0)
        return;
    g->cols = ws.ws_col;
    g->rows = ws.ws_row;
    if (ws.ws_xpixel >= ws.ws_col && ws.ws_ypixel >= ws.ws_row) {
        g->cell_w = ws.ws_xpixel / ws.ws_col;
        g->cell_h = ws.ws_ypixel / ws.ws_row;
    }
}

/* The largest w x h with the aspect of iw x ih inside bw x bh (itself cut
 * to what image_new() accepts), at least 1x1. Rounding cannot leave the box:
 * iw*bh <= ih*bw bounds the rounded width. */
static void fit_box(int iw, int ih, int bw, int bh, int *w, int *h)
{
    if (bw > IMAGE_MAX_DIM)
        bw = IMAGE_MAX_DIM;
    if (bh > IMAGE_MAX_DIM)
        bh = IMAGE_MAX_DIM;
    if ((int64_t)iw * bh <= (int64_t)ih * bw) {
        *h = bh;
        *w = (int)(((int64_t)iw * bh + ih / 2) / ih);
    } else {
        *w = bw;
        *h = (int)(((int64_t)ih * bw + iw / 2) / iw);
    }
    if (*w < 1)
        *w = 1;
    if (*h < 1)
        *h = 1;
}

static bool image_ok(const struct meme_image *img)
{
    return img && img->rgb && img->width > 0 && img->height > 0;
}

static int append_sixel(char *data, int size, void *priv)
{
    buf_append(priv, data, (size_t)size);
    return size;
}

int term_encode_sixel(const struct meme_image *img, int max_w, int max_h, struct buf *out,
                      struct meme_err *err)
{
    int rc = 0, w, h;
    size_t start = out->len;
    struct meme_image *scaled = NULL;
    uint8_t *pixels = NULL;
    sixel_output_t *output = NULL;
    sixel_dither_t *dither = NULL;
    SIXELSTATUS st;

    if (!image_ok(img) || max_w < 1 || max_h < 1) {
        rc = meme_err_set(err, MEME_E_IMAGE, "cannot draw an empty image or into an empty box");
        goto out;
    }
    fit_box(img->width, img->height, max_w, max_h, &w, &h);
    /* Error diffusion writes into the pixels, so libsixel gets our own copy:
     * the scaled image, or a duplicate of the caller's. */
    if (w != img->width || h != img->height) {
        scaled = image_scale(img, w, h);
        if (!scaled) {
            rc = meme_err_set(err, MEME_E_IMAGE, "cannot scale the image to %dx%d", w, h);
            goto out;
        }
        pixels = scaled->rgb;
    } else {
        pixels = xmalloc((size_t)w * (size_t)h * 3);
        memcpy(pixels, img->rgb, (size_t)w * (size_t)h * 3);
    }

    /* An adaptive 256-colour palette built from the scaled pixels, Floyd-
     * Steinberg diffusion (set before the palette so that libsixel can still
     * turn it off for images with few colours), and the encoder policy that
     * makes the smallest output at no cost in time: docs/terminal.md has the
     * measurements behind each choice. */
    st = sixel_dither_new(&dither, 256, NULL);
    if (SIXEL_SUCCEEDED(st)) {
        sixel_dither_set_diffusion_type(dither, SIXEL_DIFFUSE_FS);
        st = sixel_dither_initialize(dither, pixels, w, h, SIXEL_PIXELFORMAT_RGB888,
                                     SIXEL_LARGE_AUTO, SIXEL_REP_AUTO, SIXEL_QUALITY_AUTO);
    }
    if (SIXEL_SUCCEEDED(st))
        st = sixel_output_new(&output, append_sixel, out, NULL);
    if (SIXEL_SUCCEEDED(st)) {
        sixel_output_set_encode_policy(output, SIXEL_ENCODEPOLICY_SIZE);
        st = sixel_encode(pixels, w, h, 3, dither, output);
    }
    if (SIXEL_FAILED(st))
        rc = meme_err_set(err, MEME_E_IMAGE, "cannot encode the image as sixel: %s",
                          sixel_helper_format_error(st));
out:
    if (rc < 0 && out->len > start) {
        out->len = start;
        out->data[start] = '\0';
    }
    if (output)
        sixel_output_unref(output);
    if (dither)
        sixel_dither_unref(dither);
    if (!scaled)
        free(pixels);
    image_free(scaled);
    return rc;
}

/* The nearest of the cube's levels 0, 95, 135, 175, 215, 255 to v. */
static int cube_step(int v)
{
    if (v < 48)
        return 0;
    if (v < 115)
        return 1;
    return (v - 35) / 40;
}

/* Nearest xterm-256 colour among the 6x6x6 cube (16-231) and the grey ramp
 * (232-255); 0-15 are left alone because every theme redefines them. */
static int xterm256(int r, int g, int b)
{
    static const int level[6] = {0, 95, 135, 175, 215, 255};
    int cr = cube_step(r), cg = cube_step(g), cb = cube_step(b);
    int dr = r - level[cr], dg = g - level[cg], db = b - level[cb];
    int cube_d = dr * dr + dg * dg + db * db;

    int avg = (r + g + b) / 3;
    int gi = avg < 8 ? 0 : (avg - 3) / 10;
    if (gi > 23)
        gi = 23;
    int gv = 8 + 10 * gi;
    int grey_d = (r - gv) * (r - gv) + (g - gv) * (g - gv) + (b - gv) * (b - gv);

    if (grey_d < cube_d)
        return 232 + gi;
    return 16 + 36 * cr + 6 * cg + cb;
}

/* The colour key of a pixel: its 24-bit value or its xterm-256 index. */
static int colour_key(const uint8_t *p, bool truecolor)
{
    if (truecolor)
        return p[0] << 16 | p[1] << 8 | p[2];
    return xterm256(p[0], p[1], p[2]);
}

static void put_colour(struct buf *out, int layer, int key, bool truecolor)
{
    if (truecolor)
        buf_printf(out, "\033[%d;2;%d;%d;%dm", layer, key >> 16 & 0xff, key >> 8 & 0xff,
                   key & 0xff);
    else
        buf_printf(out, "\033[%d;5;%dm", layer, key);
}

int term_encode_blocks(const struct meme_image *img, int cols, int rows, bool truecolor,
                       struct buf *out)
{
    static const char upper_half[] = "\xe2\x96\x80";
    struct meme_image *scaled = NULL;
    const struct meme_image *src = img;
    int rc = 0, w, h;

    if (!image_ok(img) || cols < 1 || rows < 1) {
        rc = MEME_E_IMAGE;
        goto out;
    }
    /* A cell is about twice as tall as wide, so each half is near square. */
    fit_box(img->width, img->height, cols, rows > IMAGE_MAX_DIM ? IMAGE_MAX_DIM : 2 * rows, &w, &h);
    if (w != img->width || h != img->height) {
        scaled = image_scale(img, w, h);
        if (!scaled) {
            rc = MEME_E_IMAGE;
            goto out;
        }
        src = scaled;
    }
    for (int y = 0; y < h; y += 2) {
        const uint8_t *top = src->rgb + (size_t)y * (size_t)w * 3;
        const uint8_t *bottom = y + 1 < h ? top + (size_t)w * 3 : NULL;
        int fg = -1, bg = -1;
        for (int x = 0; x < w; x++) {
            int k = colour_key(top + x * 3, truecolor);
            if (k != fg)
                put_colour(out, 38, fg = k, truecolor);
            /* An odd last row keeps the terminal's own background. */
            if (bottom) {
                k = colour_key(bottom + x * 3, truecolor);
                if (k != bg)
                    put_colour(out, 48, bg = k, truecolor);
            }
            buf_append(out, upper_half, sizeof(upper_half) - 1);
        }
        buf_puts(out, "\033[0m\n");
    }
out:
    image_free(scaled);
    return rc;
}

bool term_has_truecolor(void)
{
    const char *c = getenv("COLORTERM");
    return c && (strcmp(c, "truecolor") == 0 || strcmp(c, "24bit") == 0);
}

/* Past the CSI body starting at j: parameters and intermediates up to a
 * final byte. Any other byte aborts the sequence (as terminals do) and is
 * looked at again by the caller. */
static size_t skip_csi(const uint8_t *s, size_t len, size_t j)
{
    for (; j < len; j++) {
        if (s[j] >= 0x40 && s[j] <= 0x7e)
            return j + 1;
        if (s[j] < 0x20 || s[j] > 0x3f)
            return j;
    }
    return len;
}

/* Past the control string (OSC, DCS, SOS, PM, APC) body starting at j: up to
 * ST (ESC \ or U+009C), BEL, or CAN/SUB which cancel it. An ESC of another
 * sequence ends it too and is looked at again. Unterminated strings run to
 * the end of the text, as they would on a terminal. */
static size_t skip_string(const uint8_t *s, size_t len, size_t j)
{
    for (; j < len; j++) {
        uint8_t c = s[j];
        if (c == BEL || c == CAN || c == SUB)
            return j + 1;
        if (c == ESC)
            return j + 1 < len && s[j + 1] == '\\' ? j + 2 : j;
        if (c == 0xc2 && j + 1 < len && s[j + 1] == 0x9c)
            return j + 2;
    }
    return len;
}

/* Past the escape sequence whose ESC is at i. */
static size_t skip_escape(const uint8_t *s, size_t len, size_t i)
{
    size_t j = i + 1;

    if (j >= len)
        return len;
    switch (s[j]) {
    case '[':
        return skip_csi(s, len, j + 1);
    case ']':
    case 'P':
    case 'X':
    case '^':
    case '_':
        return skip_string(s, len, j + 1);
    }
    /* nF (ESC ( B, ESC # 8...): intermediates then one final byte. */
    while (j < len && s[j] >= 0x20 && s[j] <= 0x2f)
        j++;
    if (j < len && s[j] >= 0x30 && s[j] <= 0x7e)
        return j + 1;
    /* ESC before a control or non-ASCII byte: drop the ESC alone. */
    return j;
}

/* Past the C1 control cp (UTF-8, n bytes at i) and the body it introduces. */
static size_t skip_c1(const uint8_t *s, size_t len, size_t i, size_t n, uint32_t cp)
{
    switch (cp) {
    case 0x9b: /* CSI */
        return skip_csi(s, len, i + n);
    case 0x90: /* DCS */
    case 0x98: /* SOS */
    case 0x9d: /* OSC */
    case 0x9e: /* PM */
    case 0x9f: /* APC */
        return skip_string(s, len, i + n);
    }
    return i + n;
}

void term_sanitize(const char *text, size_t len, bool keep_newlines, struct buf *out)
{
    static const char replacement[] = "\xef\xbf\xbd";
    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        if (c >= 0x20 && c < DEL) {
            size_t j = i + 1;
            while (j < len && s[j] >= 0x20 && s[j] < DEL)
                j++;
            buf_append(out, s + i, j - i);
            i = j;
        } else if (c == ESC) {
            i = skip_escape(s, len, i);
        } else if (c < 0x80) {
            if (c == '\n')
                buf_putc(out, keep_newlines ? '\n' : ' ');
            else if (c == '\t')
                buf_putc(out, ' ');
            i++;
        } else {
            uint32_t cp;
            size_t n = utf8_char(s + i, len - i, &cp);
            if (n == 0) {
                /* A stray 0x80-0x9f would be a C1 control to an 8-bit
                 * terminal: drop it; other bad bytes show as U+FFFD. */
                if (c > 0x9f)
                    buf_append(out, replacement, sizeof(replacement) - 1);
                i++;
            } else if (cp <= 0x9f) {
                i = skip_c1(s, len, i, n, cp);
            } else {
                buf_append(out, s + i, n);
                i += n;
            }
        }
    }
}

char *term_sanitize_dup(const char *s)
{
    struct buf b = BUF_INIT;

    if (s)
        term_sanitize(s, strlen(s), false, &b);
    if (!b.data)
        return xstrdup("");
    return (char *)buf_detach(&b, NULL);
}
