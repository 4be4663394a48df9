/*
 * The dashboard's views; see tui_view.h. Layout (80x24 at the least): a
 * header line; on the left the Scalers, Queue, Workers and Memes panels; on
 * the right the meme preview; at the bottom the keys, a status message or
 * the prompt line.
 */
#include "tui/tui_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "kube/kube_summary.h"
#include "table.h"
#include "utf8.h"
#include "xalloc.h"

void canvas_init(struct canvas *c, int w, int h)
{
    c->w = w > 0 ? w : 1;
    c->h = h > 0 ? h : 1;
    c->cells = xcalloc((size_t)c->w * (size_t)c->h, sizeof(*c->cells));
    canvas_clear(c);
}

void canvas_free(struct canvas *c)
{
    free(c->cells);
    c->cells = NULL;
}

void canvas_clear(struct canvas *c)
{
    for (int i = 0; i < c->w * c->h; i++) {
        c->cells[i].ch[0] = ' ';
        c->cells[i].ch[1] = '\0';
        c->cells[i].attr = 0;
        c->cells[i].color = 0;
    }
}

static struct cell *at(struct canvas *c, int x, int y)
{
    return (x >= 0 && y >= 0 && x < c->w && y < c->h) ? &c->cells[y * c->w + x] : NULL;
}

int canvas_text(struct canvas *c, int x, int y, int maxw, const char *text, uint8_t attr,
                uint8_t color)
{
    const uint8_t *s = (const uint8_t *)(text ? text : "");
    size_t len = strlen((const char *)s), i = 0;
    int col = 0;
    while (i < len && col < maxw) {
        uint32_t cp;
        size_t n = utf8_char(s + i, len - i, &cp);
        if (n == 0) {
            cp = '?';
            n = 1;
        }
        int w = (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) ? -1 : utf8_cp_width(cp);
        char enc[4];
        size_t el;
        if (w < 0) {
            /* Not printable here: a visible stand-in, never the raw byte. */
            cp = '?';
            w = 1;
        }
        if (w == 0) {
            i += n;
            continue; /* combining marks are dropped rather than misplaced */
        }
        if (col + w > maxw)
            break;
        el = utf8_encode(cp, enc);
        struct cell *cl = at(c, x + col, y);
        if (cl) {
            memcpy(cl->ch, enc, el);
            cl->ch[el] = '\0';
            cl->attr = attr;
            cl->color = color;
        }
        if (w == 2) {
            struct cell *r = at(c, x + col + 1, y);
            if (r) {
                r->ch[0] = '\0';
                r->attr = attr;
                r->color = color;
            }
        }
        col += w;
        i += n;
    }
    return col;
}

void canvas_box(struct canvas *c, int x, int y, int w, int h, const char *title, bool focused)
{
    if (w < 2 || h < 2)
        return;
    uint8_t attr = focused ? TUI_BOLD : 0;
    uint8_t color = focused ? TUI_CYAN : TUI_DEFAULT;
    for (int i = 1; i < w - 1; i++) {
        canvas_text(c, x + i, y, 1, "\u2500", attr, color);
        canvas_text(c, x + i, y + h - 1, 1, "\u2500", attr, color);
    }
    for (int j = 1; j < h - 1; j++) {
        canvas_text(c, x, y + j, 1, "\u2502", attr, color);
        canvas_text(c, x + w - 1, y + j, 1, "\u2502", attr, color);
    }
    canvas_text(c, x, y, 1, "\u250c", attr, color);
    canvas_text(c, x + w - 1, y, 1, "\u2510", attr, color);
    canvas_text(c, x, y + h - 1, 1, "\u2514", attr, color);
    canvas_text(c, x + w - 1, y + h - 1, 1, "\u2518", attr, color);
    if (title && w > 6) {
        char t[160];
        snprintf(t, sizeof(t), " %s ", title);
        canvas_text(c, x + 2, y, w - 4, t, TUI_BOLD, color);
    }
}

char *canvas_to_text(const struct canvas *c)
{
    struct buf b = BUF_INIT;
    for (int y = 0; y < c->h; y++) {
        size_t line_start = b.len, keep = b.len;
        for (int x = 0; x < c->w; x++) {
            const char *ch = c->cells[y * c->w + x].ch;
            buf_puts(&b, ch);
            if (!(ch[0] == ' ' && ch[1] == '\0') && ch[0] != '\0')
                keep = b.len;
        }
        (void)line_start;
        b.len = keep;
        buf_putc(&b, '\n');
    }
    buf_putc(&b, '\0');
    return (char *)buf_detach(&b, NULL);
}

/* ---- panels ---- */

static void sparkline(struct canvas *c, int x, int y, int w, const double *v, size_t n,
                      uint8_t color)
{
    static const char *const bars[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                       "\u2585", "\u2586", "\u2587", "\u2588"};
    size_t first = n > (size_t)w ? n - (size_t)w : 0;
    double max = 0;
    for (size_t i = first; i < n; i++)
        if (v[i] > max)
            max = v[i];
    for (size_t i = first; i < n; i++) {
        int level = max > 0 ? (int)(v[i] / max * 7.0 + 0.5) : 0;
        if (level < 0)
            level = 0;
        if (level > 7)
            level = 7;
        canvas_text(c, x + (int)(i - first), y, 1, v[i] > 0 || max == 0 ? bars[level] : " ", 0,
                    color);
    }
}

/* The scaler table, laid out for the panel's width with the rule status and
 * watch use (lib/table.h); the selected row is kept in view. */
static void draw_scalers(const struct tui_model *m, struct tui_view_state *v, struct canvas *c,
                         struct rect r)
{
    canvas_box(c, r.x, r.y, r.w, r.h, "Scalers", v->focus == FOCUS_SCALERS);
    int x = r.x + 2, w = r.w - 4, y = r.y + 1;
    if (!m->cluster && !m->has_local) {
        canvas_text(c, x, y, w, m->cluster_note[0] ? m->cluster_note : "no cluster", TUI_DIM, 0);
        return;
    }
    if ((!m->cluster || m->nscalers == 0) && !m->has_local) {
        canvas_text(c, x, y, w, "no autoscalers found", TUI_DIM, 0);
        return;
    }
    /* the cluster's scalers, then the local autoscaler's row (selection
     * index nscalers) */
    struct kube_scaler_row rows[TUI_SCALERS + 1];
    int n = 0;
    for (size_t i = 0; m->cluster && i < m->nscalers; i++)
        rows[n++] = m->scalers[i];
    if (m->has_local)
        rows[n++] = m->local;
    struct table t;
    kube_summary_table(&t, rows, n, 0);
    table_layout(&t, w);
    struct buf line = BUF_INIT;
    table_line(&t, -1, &line);
    buf_putc(&line, 0);
    canvas_text(c, x, y++, w, (const char *)line.data, TUI_BOLD, 0);
    int visible = r.y + r.h - 1 - y, sel_line = 0;
    for (int i = 0; i < t.nrows; i++)
        if (!t.rows[i].group && t.rows[i].tag == v->sel[FOCUS_SCALERS])
            sel_line = i;
    int first = sel_line >= visible ? sel_line - visible + 1 : 0;
    for (int i = first; i < t.nrows && y < r.y + r.h - 1; i++, y++) {
        line.len = 0;
        table_line(&t, i, &line);
        buf_putc(&line, 0);
        const struct table_row *tr = &t.rows[i];
        if (tr->group) {
            canvas_text(c, x, y, w, (const char *)line.data, TUI_DIM, 0);
            continue;
        }
        const struct kube_scaler_row *s = &rows[tr->tag];
        bool sel = v->focus == FOCUS_SCALERS && v->sel[FOCUS_SCALERS] == tr->tag;
        uint8_t color = s->has_replicas && s->current != s->desired ? TUI_YELLOW : 0;
        canvas_text(c, x, y, w, (const char *)line.data, sel ? TUI_REVERSE : 0, color);
    }
    buf_release(&line);
    table_release(&t);
}

/* Lines the Scalers panel needs: the header, a line per namespace, a row
 * per scaler. */
static int scaler_lines(const struct tui_model *m)
{
    int n = 1;
    size_t shown = m->cluster ? m->nscalers : 0;
    for (size_t i = 0; i < shown; i++)
        n += 1 + (i == 0 || strcmp(m->scalers[i - 1].ns, m->scalers[i].ns) != 0);
    if (m->has_local)
        n += 2; /* its group line and its row */
    return n;
}

static void draw_queue(const struct tui_model *m, struct canvas *c, struct rect r)
{
    canvas_box(c, r.x, r.y, r.w, r.h, "Queue MEMES / meme-generator", false);
    int x = r.x + 2, w = r.w - 4, y = r.y + 1;
    char line[256];
    if (!m->queue_known) {
        canvas_text(c, x, y, w, m->nats_note[0] ? m->nats_note : "waiting for NATS", TUI_DIM, 0);
    } else {
        char thr[32] = "";
        if (m->lag_threshold > 0)
            snprintf(thr, sizeof(thr), " / threshold %d", m->lag_threshold);
        snprintf(line, sizeof(line), "lag %llu%s   ack pending %lld   waiting pulls %lld",
                 (unsigned long long)m->lag, thr, (long long)m->ack_pending, (long long)m->waiting);
        uint8_t color =
            m->lag_threshold > 0 && m->lag > (uint64_t)m->lag_threshold ? TUI_YELLOW : 0;
        canvas_text(c, x, y, w, line, TUI_BOLD, color);
        snprintf(line, sizeof(line), "in %.1f/s   out %.1f/s   redelivered %llu", m->rate_in,
                 m->rate_out, (unsigned long long)m->redelivered);
        canvas_text(c, x, y + 1, w, line, 0, 0);
    }
    if (r.h >= 6) {
        canvas_text(c, x, y + 2, 9, "lag", TUI_DIM, 0);
        sparkline(c, x + 9, y + 2, w - 9, m->lag_hist, m->hist_len, TUI_MAGENTA);
        canvas_text(c, x, y + 3, 9, "workers", TUI_DIM, 0);
        sparkline(c, x + 9, y + 3, w - 9, m->replicas_hist, m->hist_len, TUI_GREEN);
    }
}

static void draw_workers(const struct tui_model *m, struct tui_view_state *v, struct canvas *c,
                         struct rect r)
{
    char title[64];
    snprintf(title, sizeof(title), "Workers (%zu)", m->nworkers);
    canvas_box(c, r.x, r.y, r.w, r.h, title, v->focus == FOCUS_WORKERS);
    int x = r.x + 2, w = r.w - 4, y = r.y + 1;
    if (m->nworkers == 0) {
        canvas_text(c, x, y, w, "no heartbeats yet", TUI_DIM, 0);
        return;
    }
    char line[256];
    snprintf(line, sizeof(line), "%-16s %9s %8s %6s %5s %6s", "ID", "IN FLIGHT", "DONE", "FAILED",
             "HIT%", "SEEN");
    canvas_text(c, x, y++, w, line, TUI_BOLD, 0);
    for (size_t i = 0; i < m->nworkers && y < r.y + r.h - 1; i++, y++) {
        const struct tui_worker *wk = &m->workers[i];
        double ago = v->now - wk->last_seen;
        if (ago < 0)
            ago = 0;
        snprintf(line, sizeof(line), "%-16.16s %9d %8lld %6lld %4.0f%% %5.0fs", wk->id,
                 wk->in_flight, wk->done, wk->failed, wk->cache_hit_ratio * 100.0, ago);
        bool sel = v->focus == FOCUS_WORKERS && v->sel[FOCUS_WORKERS] == (int)i;
        /* A worker not heard from for a while fades before it is dropped. */
        canvas_text(c, x, y, w, line, (sel ? TUI_REVERSE : 0) | (ago > 6 ? TUI_DIM : 0), 0);
    }
}

static void draw_memes(const struct tui_model *m, struct tui_view_state *v, struct canvas *c,
                       struct rect r)
{
    canvas_box(c, r.x, r.y, r.w, r.h, "Memes", v->focus == FOCUS_MEMES);
    int x = r.x + 2, w = r.w - 4, y = r.y + 1;
    if (m->nmemes == 0) {
        canvas_text(c, x, y, w, "none yet: press g to make one, b for a burst", TUI_DIM, 0);
        return;
    }
    char line[400];
    snprintf(line, sizeof(line), "%-6s %8s %5s %-12s %s", "STATE", "LATENCY", "CACHE", "WORKER",
             "PROMPT");
    canvas_text(c, x, y++, w, line, TUI_BOLD, 0);
    int rows = r.y + r.h - 1 - y;
    int sel = v->sel[FOCUS_MEMES];
    int first = sel >= rows ? sel - rows + 1 : 0;
    for (int i = first; i < (int)m->nmemes && y < r.y + r.h - 1; i++, y++) {
        const struct tui_meme *e = &m->memes[i];
        const char *state = e->state == MEME_QUEUED ? (e->waiting[0] ? e->waiting : "queued")
                            : e->state == MEME_DONE ? "done"
                                                    : "failed";
        char lat[24] = "";
        if (e->state != MEME_QUEUED && e->latency_ms > 0)
            snprintf(lat, sizeof(lat), "%.0f ms", e->latency_ms);
        const char *cache = e->state == MEME_DONE ? (e->cache_hit ? "hit" : "miss") : "";
        char who[80];
        snprintf(who, sizeof(who), "%s",
                 e->state == MEME_FAILED && e->code[0] ? e->code : e->worker);
        /* A meme still waiting says why before its prompt. */
        bool why = e->state == MEME_QUEUED && e->note[0];
        snprintf(line, sizeof(line), "%-6s %8s %5s %-12.12s %s%s%s%s", state, lat, cache, who,
                 e->mine ? "* " : "", why ? e->note : "", why ? " · " : "", e->prompt);
        uint8_t color = e->state == MEME_FAILED ? TUI_RED
                        : e->state == MEME_DONE ? TUI_GREEN
                                                : TUI_YELLOW;
        bool selected = v->focus == FOCUS_MEMES && sel == i;
        canvas_text(c, x, y, w, line, selected ? TUI_REVERSE : 0, color);
    }
}

static void draw_help(struct canvas *c)
{
    static const char *const lines[] = {
        "g        make a meme: type a prompt, Enter sends it, Esc cancels",
        "b        burst: send a batch of requests (wakes KEDA)",
        "Tab      move between Scalers, Workers and Memes",
        "Up/Down  select a row",
        "Enter    scaler: why this replica count; meme: preview it",
        "e        explain the selected scaler",
        "Esc      close this or an explanation",
        "?        this help",
        "q        quit",
    };
    int n = (int)(sizeof(lines) / sizeof(lines[0]));
    int w = 66 < c->w - 2 ? 66 : c->w - 2, h = n + 2;
    int x = (c->w - w) / 2, y = (c->h - h) / 2;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++)
            canvas_text(c, x + i, y + j, 1, " ", 0, 0);
    canvas_box(c, x, y, w, h, "Keys", true);
    for (int i = 0; i < n; i++)
        canvas_text(c, x + 2, y + 1 + i, w - 4, lines[i], 0, 0);
}

static void draw_overlay(struct canvas *c, const char *text)
{
    int lines = 1, longest = 0, cur = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            lines++;
            cur = 0;
        } else if (++cur > longest) {
            longest = cur;
        }
    }
    int w = longest + 4 < c->w - 2 ? longest + 4 : c->w - 2;
    int h = lines + 2 < c->h - 2 ? lines + 2 : c->h - 2;
    int x = (c->w - w) / 2, y = (c->h - h) / 2;
    for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++)
            canvas_text(c, x + i, y + j, 1, " ", 0, 0);
    canvas_box(c, x, y, w, h, "Explain (Esc closes)", true);
    const char *p = text;
    for (int i = 0; i < h - 2 && *p; i++) {
        size_t n = strcspn(p, "\n");
        char *line = xstrndup(p, n);
        canvas_text(c, x + 2, y + 1 + i, w - 4, line, 0, 0);
        free(line);
        p += n;
        if (*p == '\n')
            p++;
    }
}

void tui_draw(const struct tui_model *m, struct tui_view_state *v, struct canvas *c)
{
    canvas_clear(c);
    int W = c->w, H = c->h;
    /* Header. */
    char head[512];
    snprintf(head, sizeof(head), "memectl tui  %s  %s", m->server,
             m->nats_up ? "connected" : "reconnecting");
    canvas_text(c, 0, 0, W, head, TUI_BOLD, m->nats_up ? TUI_DEFAULT : TUI_RED);
    if (m->cluster_note[0] || m->cluster) {
        char cl[200];
        snprintf(cl, sizeof(cl), "cluster: %s", m->cluster ? m->cluster_note : "none");
        int len = (int)strlen(cl);
        if (len < W / 2)
            canvas_text(c, W - len, 0, len, cl, TUI_DIM, 0);
    }

    int body_y = 1, body_h = H - 2;
    /* The figures need about 62 columns; the preview takes what is left. */
    int left_w = W * 3 / 5 > 62 ? W * 3 / 5 : (W < 62 ? W : 62);
    int right_w = W - left_w;
    int scaler_rows = scaler_lines(m);
    if (scaler_rows > 8)
        scaler_rows = 8;
    int worker_rows = m->nworkers ? (int)m->nworkers + 1 : 1;
    if (worker_rows > 6)
        worker_rows = 6;
    struct rect rs = {0, body_y, left_w, scaler_rows + 2};
    struct rect rq = {0, rs.y + rs.h, left_w, 6};
    struct rect rw = {0, rq.y + rq.h, left_w, worker_rows + 2};
    struct rect rm = {0, rw.y + rw.h, left_w, body_y + body_h - (rw.y + rw.h)};
    if (rm.h < 3) {
        /* A short terminal: the workers panel gives way first. */
        rw.h = 3;
        rm.y = rw.y + rw.h;
        rm.h = body_y + body_h - rm.y;
    }
    draw_scalers(m, v, c, rs);
    draw_queue(m, c, rq);
    draw_workers(m, v, c, rw);
    if (rm.h >= 3)
        draw_memes(m, v, c, rm);

    v->preview = (struct rect){0, 0, 0, 0};
    if (right_w >= 12) {
        struct rect rp = {left_w, body_y, right_w, body_h};
        canvas_box(c, rp.x, rp.y, rp.w, rp.h, v->preview_title ? v->preview_title : "Preview",
                   false);
        v->preview = (struct rect){rp.x + 1, rp.y + 1, rp.w - 2, rp.h - 2};
        if (v->preview_note)
            canvas_text(c, rp.x + 2, rp.y + 1 + (rp.h - 2) / 2, rp.w - 4, v->preview_note, TUI_DIM,
                        0);
    }

    /* Bottom line: the prompt, else a status message, else the keys. */
    if (v->prompt_open) {
        char line[600];
        snprintf(line, sizeof(line), "meme> %s_", v->prompt);
        /* Keep the end of a long prompt in view. */
        int len = (int)strlen(line);
        const char *shown = len > W ? line + (len - W) : line;
        while ((*shown & 0xC0) == 0x80)
            shown++;
        canvas_text(c, 0, H - 1, W, shown, TUI_BOLD, TUI_CYAN);
    } else if (m->status[0]) {
        canvas_text(c, 0, H - 1, W, m->status, 0, TUI_YELLOW);
    } else {
        canvas_text(
            c, 0, H - 1, W,
            "g new meme  b burst  Tab focus  \u2191\u2193 select  e explain  ? help  q quit",
            TUI_DIM, 0);
    }
    if (v->overlay)
        draw_overlay(c, v->overlay);
    if (v->help)
        draw_help(c);
}
