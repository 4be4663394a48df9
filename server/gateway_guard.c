/*
 * The gateway's accept-side guard. It owns the listening sockets, accepts
 * each connection itself and keeps it (a descriptor and a few bytes of
 * state, no thread) until the whole request head has arrived, reading it
 * with MSG_PEEK so that libmicrohttpd later reads the same bytes as if
 * nobody had looked. A head that is too slow (the header timeout, counted
 * from the accept), too large, or not strict HTTP/1.1 gets one clean error
 * response here and the connection is closed; a good one is handed to the
 * libmicrohttpd daemon of its listener with MHD_add_connection().
 *
 * Why not libmicrohttpd alone (Debian's 0.9.75): its connection timeout is
 * an idle timeout, reset by every byte, so a client sending one header line
 * every 2 s holds a connection slot and its thread forever; it takes the
 * first of two Content-Length headers, lets Transfer-Encoding win over a
 * Content-Length next to it, sends its own error response for a malformed
 * Content-Length with the status line and headers twice, and decodes %00 in
 * the path into a string the handler sees cut short. Each of these is
 * refused here, before libmicrohttpd parses anything.
 *
 * Waiting sockets cost no thread, so slow clients cannot take the slots
 * that complete requests need; when the table of waiting sockets is full
 * the oldest is dropped, so a new client always gets its turn.
 */
#include "clock.h"
#include "gateway.h"
#include "log.h"
#include "mq/proto.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GUARD_LINGER_S   2.0 /* after an error response, drain the input this long */
#define GUARD_ACCEPT_MAX 256 /* accepts per wake-up, so waiting sockets are served too */

struct guard_conn {
    int fd;
    int listener;
    bool lingering; /* answered; reading what the client still sends, then close */
    double accepted;
    double deadline;
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

struct gateway_guard {
    int listen_fd[GATEWAY_GUARD_LISTENERS];
    struct MHD_Daemon *daemon[GATEWAY_GUARD_LISTENERS];
    unsigned max_conns[GATEWAY_GUARD_LISTENERS];
    int nlisten;
    int wake[2];
    pthread_t thread;
    bool running;
    atomic_bool stop;
    atomic_bool quiesce;
    bool quiesced;
    double header_timeout_s;
    size_t body_max;
    struct guard_conn *conns;
    size_t nconns, cap;
    struct pollfd *pfds;
    double paused_until; /* out of descriptors: stop accepting for a moment */
};

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t gateway_guard_head_end(const char *buf, size_t len)
{
    size_t i = 0;
    /* Empty lines before the request line are allowed (RFC 9112 2.2). */
    while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
        i++;
    for (; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* The request target: visible ASCII only, and no percent-escape that
 * decodes to a control byte (libmicrohttpd would decode %00 and hand the
 * handler a path cut short there). */
static int check_target(const char *t, size_t len, const char **why)
{
    if (len == 0) {
        *why = "the request line has no path";
        return 400;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c >= 0x7f) {
            *why = "the path holds a control, space or non-ASCII byte";
            return 400;
        }
        if (c != '%')
            continue;
        int hi = i + 2 < len ? hexval((unsigned char)t[i + 1]) : -1;
        int lo = i + 2 < len ? hexval((unsigned char)t[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            *why = "the path holds a '%' that is not followed by two hex digits";
            return 400;
        }
        int v = hi * 16 + lo;
        if (v < 0x20 || v == 0x7f) {
            *why = "the path holds an escaped control byte (such as %00)";
            return 400;
        }
        i += 2;
    }
    return 0;
}

static int check_request_line(const char *line, size_t len, const char **why)
{
    const char *sp1 = memchr(line, ' ', len);
    if (!sp1 || sp1 == line) {
        *why = "the request line is not METHOD PATH HTTP/1.1";
        return 400;
    }
    for (const char *p = line; p < sp1; p++)
        if (!is_tchar((unsigned char)*p)) {
            *why = "the method is not a token";
            return 400;
        }
    const char *rest = sp1 + 1;
    size_t rlen = len - (size_t)(rest - line);
    const char *sp2 = memchr(rest, ' ', rlen);
    if (!sp2) {
        *why = "the request line has no HTTP version";
        return 400;
    }
    int st = check_target(rest, (size_t)(sp2 - rest), why);
    if (st)
        return st;
    size_t vlen = len - (size_t)(sp2 + 1 - line);
    if (vlen != 8 || (memcmp(sp2 + 1, "HTTP/1.1", 8) != 0 && memcmp(sp2 + 1, "HTTP/1.0", 8) != 0)) {
        *why = "the HTTP version is not HTTP/1.1 or HTTP/1.0";
        return 400;
    }
    return 0;
}

int gateway_guard_check(const char *head, size_t len, size_t body_max, const char **why)
{
    static char msg[160];
    int content_lengths = 0, transfer_encodings = 0;
    size_t i = 0;
    while (i < len && (head[i] == '\r' || head[i] == '\n'))
        i++;
    bool first = true;
    while (i < len) {
        const char *nl = memchr(head + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - head) : len;
        const char *line = head + i;
        size_t ll = end - i;
        if (ll && line[ll - 1] == '\r')
            ll--;
        i = end + 1;
        if (ll == 0)
            break; /* the empty line that ends the head */
        if (memchr(line, '\r', ll) || memchr(line, '\0', ll)) {
            *why = "a line of the request head holds a CR or NUL byte";
            return 400;
        }
        if (first) {
            first = false;
            int st = check_request_line(line, ll, why);
            if (st)
                return st;
            continue;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            *why = "a header line is folded (starts with white space)";
            return 400;
        }
        const char *colon = memchr(line, ':', ll);
        if (!colon || colon == line) {
            *why = "a header line has no name and colon";
            return 400;
        }
        for (const char *p = line; p < colon; p++)
            if (!is_tchar((unsigned char)*p)) {
                *why = "a header name holds a space or another byte that is not allowed "
                       "(no white space before the colon)";
                return 400;
            }
        size_t nlen = (size_t)(colon - line);
        const char *v = colon + 1, *vend = line + ll;
        while (v < vend && (*v == ' ' || *v == '\t'))
            v++;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        for (const char *p = v; p < vend; p++) {
            unsigned char c = (unsigned char)*p;
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                snprintf(msg, sizeof(msg), "the %.*s header holds a control byte",
                         (int)(nlen < 40 ? nlen : 40), line);
                *why = msg;
                return 400;
            }
        }
        size_t vl = (size_t)(vend - v);
        if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
            if (++content_lengths > 1) {
                *why = "the request has more than one Content-Length header";
                return 400;
            }
            bool digits = vl > 0;
            for (size_t k = 0; k < vl; k++)
                digits = digits && v[k] >= '0' && v[k] <= '9';
            if (!digits) {
                *why = "Content-Length is not a number of bytes";
                return 400;
            }
            size_t k = 0;
            while (k + 1 < vl && v[k] == '0')
                k++;
            unsigned long long n = 0;
            bool huge = vl - k > 19;
            for (; !huge && k < vl; k++)
                n = n * 10 + (unsigned)(v[k] - '0');
            if (huge || n > body_max) {
                snprintf(msg, sizeof(msg), "the request body is over %zu bytes", body_max);
                *why = msg;
                return 413;
            }
        } else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
            if (++transfer_encodings > 1) {
                *why = "the request has more than one Transfer-Encoding header";
                return 400;
            }
            if (vl != 7 || strncasecmp(v, "chunked", 7) != 0) {
                *why = "the only Transfer-Encoding accepted is chunked";
                return 400;
            }
        }
    }
    if (first) {
        *why = "the request has no request line";
        return 400;
    }
    if (content_lengths && transfer_encodings) {
        *why = "the request has both Content-Length and Transfer-Encoding";
        return 400;
    }
    return 0;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 408:
        return "Request Timeout";
    case 413:
        return "Content Too Large";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return "Service Unavailable";
    }
}

static void conn_close(struct guard_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static void set_lowat(int fd, int bytes)
{
    /* poll() then wakes only when more than what was already seen has
     * arrived (Linux honours SO_RCVLOWAT in poll for TCP). */
    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof(bytes));
}

/* Answers with the protocol's error JSON, closes the sending side and keeps
 * reading what the client still sends for a moment, so the answer is not
 * lost to a reset from unread input. */
static void conn_reject(struct guard_conn *c, int status, const char *why, const char *reason)
{
    char scratch[GATEWAY_GUARD_HEAD_MAX];
    while (recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT) > 0)
        ;
    int code = status == 408   ? MEME_E_TIMEOUT
               : status == 503 ? MEME_E_UNREACHABLE
                               : MEME_E_BAD_REQUEST;
    char *json = proto_error_json(NULL, code, why, (int64_t)time(NULL));
    char *resp = xasprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                           "Cache-Control: no-store\r\nConnection: close\r\n%s"
                           "Content-Length: %zu\r\n\r\n%s\n",
                           status, reason_phrase(status), status == 503 ? "Retry-After: 5\r\n" : "",
                           strlen(json) + 1, json);
    ssize_t w = send(c->fd, resp, strlen(resp), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    free(resp);
    free(json);
    shutdown(c->fd, SHUT_WR);
    set_lowat(c->fd, 1);
    c->lingering = true;
    c->deadline = clock_now_s() + GUARD_LINGER_S;
    gateway_metrics_refused(reason);
}

/* The client sent something: more of its head, or (lingering) what is left. */
static void conn_readable(struct gateway_guard *g, struct guard_conn *c, short revents)
{
    char head[GATEWAY_GUARD_HEAD_MAX];
    if (c->lingering) {
        ssize_t n;
        while ((n = recv(c->fd, head, sizeof(head), MSG_DONTWAIT)) > 0)
            ;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            conn_close(c);
        return;
    }
    ssize_t got = recv(c->fd, head, sizeof(head), MSG_PEEK | MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (got <= 0) {
        conn_close(c); /* gone before it finished its request */
        return;
    }
    size_t end = gateway_guard_head_end(head, (size_t)got);
    if (!end) {
        if ((size_t)got >= sizeof(head)) {
            char why[80];
            snprintf(why, sizeof(why), "the request head is over %d bytes", GATEWAY_GUARD_HEAD_MAX);
            conn_reject(c, 431, why, "too_large");
        } else if (revents & (POLLRDHUP | POLLHUP | POLLERR)) {
            conn_close(c);
        } else {
            set_lowat(c->fd, (int)got + 1);
        }
        return;
    }
    const char *why = NULL;
    int status = gateway_guard_check(head, end, g->body_max, &why);
    if (status) {
        conn_reject(c, status, why, status == 413 ? "too_large" : "bad_request");
        return;
    }
    struct MHD_Daemon *d = g->daemon[c->listener];
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    if (info && info->num_connections >= g->max_conns[c->listener]) {
        char msg[120];
        snprintf(msg, sizeof(msg),
                 "the gateway has %u connections open, its limit; retry in a few seconds",
                 g->max_conns[c->listener]);
        conn_reject(c, 503, msg, "limit");
        return;
    }
    set_lowat(c->fd, 1);
    int fd = c->fd;
    c->fd = -1; /* libmicrohttpd owns it now, and closes it even on failure */
    if (MHD_add_connection(d, fd, (struct sockaddr *)&c->addr, c->addrlen) != MHD_YES)
        gateway_metrics_refused("limit");
}

static void conn_expired(struct guard_conn *c, double header_timeout_s)
{
    if (c->lingering) {
        conn_close(c);
        return;
    }
    char why[120];
    snprintf(why, sizeof(why), "no complete request head within %g s", header_timeout_s);
    conn_reject(c, 408, why, "header_timeout");
}

/* The waiting socket accepted first: dropped when the table is full. */
static void evict_oldest(struct gateway_guard *g)
{
    size_t oldest = 0;
    for (size_t i = 1; i < g->nconns; i++)
        if (g->conns[i].accepted < g->conns[oldest].accepted)
            oldest = i;
    conn_close(&g->conns[oldest]);
    g->conns[oldest] = g->conns[--g->nconns];
    gateway_metrics_refused("evicted");
}

static void accept_all(struct gateway_guard *g, int l, double now)
{
    for (int k = 0; k < GUARD_ACCEPT_MAX; k++) {
        struct guard_conn c = {.fd = -1, .listener = l, .accepted = now};
        c.addrlen = sizeof(c.addr);
        c.fd = accept4(g->listen_fd[l], (struct sockaddr *)&c.addr, &c.addrlen,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c.fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: make room, and give the others a moment. */
                if (g->nconns)
                    evict_oldest(g);
                g->paused_until = now + 0.1;
            }
            return;
        }
        if (g->nconns == g->cap)
            evict_oldest(g);
        c.deadline = now + g->header_timeout_s;
        g->conns[g->nconns++] = c;
    }
}

static void *guard_main(void *arg)
{
    struct gateway_guard *g = arg;
    while (!atomic_load(&g->stop)) {
        if (atomic_load(&g->quiesce) && !g->quiesced) {
            for (int l = 0; l < g->nlisten; l++) {
                close(g->listen_fd[l]);
                g->listen_fd[l] = -1;
            }
            g->quiesced = true;
        }
        double now = clock_now_s(), next = now + 1;
        size_t n = 0;
        g->pfds[n++] = (struct pollfd){.fd = g->wake[0], .events = POLLIN};
        bool listening = !g->quiesced && now >= g->paused_until;
        for (int l = 0; l < g->nlisten; l++)
            g->pfds[n++] =
                (struct pollfd){.fd = listening ? g->listen_fd[l] : -1, .events = POLLIN};
        size_t first = n;
        for (size_t i = 0; i < g->nconns; i++) {
            g->pfds[n++] = (struct pollfd){.fd = g->conns[i].fd, .events = POLLIN | POLLRDHUP};
            if (g->conns[i].deadline < next)
                next = g->conns[i].deadline;
        }
        if (!listening && !g->quiesced && g->paused_until < next)
            next = g->paused_until;
        int ms = next > now ? (int)((next - now) * 1000) + 1 : 0;
        int r = poll(g->pfds, n, ms);
        if (r < 0 && errno != EINTR) {
            log_error("msg=\"http guard: poll failed\" error=\"%s\"", strerror(errno));
            struct timespec t = {0, 50 * 1000 * 1000};
            nanosleep(&t, NULL);
            continue;
        }
        if (g->pfds[0].revents) {
            char b[64];
            while (read(g->wake[0], b, sizeof(b)) > 0)
                ;
        }
        now = clock_now_s();
        size_t before = g->nconns;
        for (size_t i = 0; i < before; i++) {
            struct guard_conn *c = &g->conns[i];
            short re = r > 0 ? g->pfds[first + i].revents : 0;
            if (re)
                conn_readable(g, c, re);
            if (c->fd >= 0 && now >= c->deadline)
                conn_expired(c, g->header_timeout_s);
        }
        size_t kept = 0;
        for (size_t i = 0; i < g->nconns; i++)
            if (g->conns[i].fd >= 0)
                g->conns[kept++] = g->conns[i];
        g->nconns = kept;
        for (int l = 0; l < g->nlisten && r > 0; l++)
            if (g->pfds[1 + l].revents & POLLIN)
                accept_all(g, l, now);
        gateway_metrics_reading((int)g->nconns);
    }
    for (size_t i = 0; i < g->nconns; i++)
        conn_close(&g->conns[i]);
    g->nconns = 0;
    return NULL;
}

struct gateway_guard *gateway_guard_new(double header_timeout_s, size_t body_max, size_t cap)
{
    struct gateway_guard *g = xcalloc(1, sizeof(*g));
    g->header_timeout_s = header_timeout_s;
    g->body_max = body_max;
    g->cap = cap < 16 ? 16 : cap;
    g->conns = xcalloc(g->cap, sizeof(*g->conns));
    g->pfds = xcalloc(g->cap + 1 + GATEWAY_GUARD_LISTENERS, sizeof(*g->pfds));
    for (int l = 0; l < GATEWAY_GUARD_LISTENERS; l++)
        g->listen_fd[l] = -1;
    g->wake[0] = g->wake[1] = -1;
    return g;
}

int gateway_guard_listen(struct gateway_guard *g, int listen_fd, struct MHD_Daemon *d,
                         unsigned max_conns)
{
    if (g->running || g->nlisten == GATEWAY_GUARD_LISTENERS)
        return -1;
    g->listen_fd[g->nlisten] = listen_fd;
    g->daemon[g->nlisten] = d;
    g->max_conns[g->nlisten] = max_conns;
    g->nlisten++;
    return 0;
}

int gateway_guard_start(struct gateway_guard *g)
{
    if (pipe2(g->wake, O_NONBLOCK | O_CLOEXEC) < 0)
        return -1;
    if (pthread_create(&g->thread, NULL, guard_main, g) != 0)
        return -1;
    g->running = true;
    return 0;
}

static void wake(struct gateway_guard *g)
{
    if (g->wake[1] >= 0) {
        ssize_t w = write(g->wake[1], "x", 1);
        (void)w;
    }
}

void gateway_guard_quiesce(struct gateway_guard *g)
{
    if (!g)
        return;
    atomic_store(&g->quiesce, true);
    wake(g);
}

void gateway_guard_free(struct gateway_guard *g)
{
    if (!g)
        return;
    if (g->running) {
        atomic_store(&g->stop, true);
        wake(g);
        pthread_join(g->thread, NULL);
    }
    for (int l = 0; l < g->nlisten; l++)
        if (g->listen_fd[l] >= 0)
            close(g->listen_fd[l]);
    for (int i = 0; i < 2; i++)
        if (g->wake[i] >= 0)
            close(g->wake[i]);
    free(g->conns);
    free(g->pfds);
    free(g);
}
