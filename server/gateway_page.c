/*
 * The web page's files and the pages made for each meme. The page itself
 * (server/page/: index.html, app.js, i18n.js, style.css) is compiled into the
 * binary by scripts/embed-assets, so the gateway reads no files at run time
 * and works in a cluster without internet access; the HPA demo points `hey`
 * at it, so serving it costs no more than a memcpy. A meme's permalink
 * (/m/{id}) is HTML made here from its stored metadata, every value from
 * the bucket escaped; the page's script puts text in with textContent only.
 */
#include "buf.h"
#include "gateway.h"
#include "mq/proto.h"
#include "mq/results.h"
#include "utf8.h"
#include "xalloc.h"

#include <ctype.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const struct gateway_asset *gateway_asset_find(const char *name)
{
    for (const struct gateway_asset *a = gateway_assets; a->name; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

void gateway_page_headers(struct MHD_Response *resp, const char *type)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; "
                            "form-action 'self'; frame-ancestors 'none'");
}

bool gateway_json_body_type(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (strncasecmp(ct, want, sizeof(want) - 1) != 0)
        return false;
    char c = ct[sizeof(want) - 1];
    return c == '\0' || c == ';' || c == ' ' || c == '\t';
}

void gateway_origin(const char *host, const char *forwarded_proto, char *out, size_t outsz)
{
    out[0] = '\0';
    if (!host || !*host || strlen(host) > 255)
        return;
    for (const char *p = host; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(".-:[]", *p))
            return;
    snprintf(out, outsz, "%s://%s",
             forwarded_proto && strcmp(forwarded_proto, "https") == 0 ? "https" : "http", host);
}

/* Appends s with & < > " ' as character references. */
static void esc(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            buf_puts(b, "&amp;");
            break;
        case '<':
            buf_puts(b, "&lt;");
            break;
        case '>':
            buf_puts(b, "&gt;");
            break;
        case '"':
            buf_puts(b, "&quot;");
            break;
        case '\'':
            buf_puts(b, "&#39;");
            break;
        default:
            buf_putc(b, *s);
        }
    }
}

static void head(struct buf *b, const char *title)
{
    buf_puts(b, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<title>");
    esc(b, title);
    buf_puts(b, " \xc2\xb7 meme generator</title>\n"
                "<link rel=\"stylesheet\" href=\"/static/style.css\">\n");
}

static void meta_tag(struct buf *b, const char *attr, const char *name, const char *content)
{
    buf_printf(b, "<meta %s=\"%s\" content=\"", attr, name);
    esc(b, content);
    buf_puts(b, "\">\n");
}

char *gateway_permalink_html(const char *id, const struct results_meta *m, const char *origin)
{
    struct buf b = BUF_INIT;
    const char *prompt = m->prompt[0] ? m->prompt : "A meme";
    char desc[256], took[96] = "", size[64], when[64] = "", iso[32] = "";
    if (m->queue_ms >= 0 && m->gen_ms >= 0)
        snprintf(took, sizeof(took), "%.0f ms (%lld ms of it waiting in the queue)",
                 (double)m->queue_ms + m->gen_ms, (long long)m->queue_ms);
    snprintf(desc, sizeof(desc), "A meme made by %s%s%s.", m->worker[0] ? m->worker : "a worker",
             took[0] ? " in " : "", took[0] ? took : "");
    snprintf(size, sizeof(size), "%d \xc3\x97 %d %s", m->width, m->height,
             strcmp(m->content_type, "image/jpeg") == 0 ? "JPEG" : "PNG");
    time_t t = (time_t)m->created;
    struct tm tm;
    if (m->created > 0 && gmtime_r(&t, &tm)) {
        strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
    }
    char *image = xasprintf("%s/api/v1/memes/%s", origin, id);
    char *page = xasprintf("%s/m/%s", origin, id);

    head(&b, prompt);
    meta_tag(&b, "name", "description", desc);
    meta_tag(&b, "property", "og:type", "website");
    meta_tag(&b, "property", "og:site_name", "meme generator");
    meta_tag(&b, "property", "og:title", prompt);
    meta_tag(&b, "property", "og:description", desc);
    meta_tag(&b, "property", "og:url", page);
    meta_tag(&b, "property", "og:image", image);
    meta_tag(&b, "property", "og:image:type", m->content_type);
    char n[16];
    snprintf(n, sizeof(n), "%d", m->width);
    meta_tag(&b, "property", "og:image:width", n);
    snprintf(n, sizeof(n), "%d", m->height);
    meta_tag(&b, "property", "og:image:height", n);
    meta_tag(&b, "property", "og:image:alt", prompt);
    meta_tag(&b, "name", "twitter:card", "summary_large_image");
    meta_tag(&b, "name", "twitter:title", prompt);
    meta_tag(&b, "name", "twitter:image", image);
    buf_puts(&b, "<link rel=\"canonical\" href=\"");
    esc(&b, page);
    buf_puts(&b, "\">\n</head>\n<body>\n<header class=\"top\"><a href=\"/\">meme generator</a>"
                 "</header>\n<main class=\"permalink\">\n<h1 dir=\"auto\">");
    esc(&b, prompt);
    buf_printf(&b,
               "</h1>\n<figure class=\"meme\"><img src=\"/api/v1/memes/%s\" width=\"%d\" "
               "height=\"%d\" alt=\"",
               id, m->width, m->height);
    esc(&b, prompt);
    buf_puts(&b, "\"></figure>\n<dl class=\"details\">\n");
    buf_puts(&b, "<dt>Template</dt><dd>");
    esc(&b, m->template_name[0] ? m->template_name : "-");
    buf_puts(&b, "</dd>\n<dt>Size</dt><dd>");
    esc(&b, size);
    buf_puts(&b, "</dd>\n<dt>Made by</dt><dd>");
    esc(&b, m->worker[0] ? m->worker : "a worker");
    if (m->engine[0]) {
        buf_puts(&b, " (");
        esc(&b, m->engine);
        buf_puts(&b, " engine)");
    }
    buf_puts(&b, "</dd>\n");
    if (took[0]) {
        buf_puts(&b, "<dt>Took</dt><dd>");
        esc(&b, took);
        buf_puts(&b, "</dd>\n");
    }
    if (when[0])
        buf_printf(&b, "<dt>Made</dt><dd><time datetime=\"%s\">%s</time></dd>\n", iso, when);
    buf_printf(
        &b,
        "</dl>\n<p class=\"actions\"><a class=\"button\" href=\"/api/v1/memes/%s?download=1\" "
        "download>Download</a> <a class=\"button secondary\" href=\"/\">Make your own</a>"
        "</p>\n<p class=\"note\">Memes are kept for %d minutes after they are made.</p>\n"
        "</main>\n</body>\n</html>\n",
        id, PROTO_RESULTS_TTL_S / 60);
    free(image);
    free(page);
    buf_putc(&b, '\0');
    return (char *)buf_detach(&b, NULL);
}

char *gateway_missing_html(const char *title, const char *message)
{
    struct buf b = BUF_INIT;
    head(&b, title);
    buf_puts(&b,
             "</head>\n<body>\n<header class=\"top\"><a href=\"/\">meme generator</a></header>\n"
             "<main class=\"permalink\">\n<h1>");
    esc(&b, title);
    buf_puts(&b, "</h1>\n<p>");
    esc(&b, message);
    buf_puts(&b, "</p>\n<p class=\"actions\"><a class=\"button\" href=\"/\">Make a meme</a></p>\n"
                 "</main>\n</body>\n</html>\n");
    buf_putc(&b, '\0');
    return (char *)buf_detach(&b, NULL);
}

/* Characters that separate words in a file name: spaces, punctuation,
 * symbols and emoji; letters and digits of every script stay. */
static bool name_char(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
    if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7)
        return false;
    if ((cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) ||
        (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xFF00 && cp <= 0xFF0F) || cp >= 0x1F000 ||
        cp == 0xFEFF)
        return false;
    return true;
}

static void pct(struct buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_')
            buf_putc(b, (char)*p);
        else
            buf_printf(b, "%%%02X", *p);
    }
}

char *gateway_content_disposition(const char *prompt, const char *id, const char *ext,
                                  bool attachment)
{
    /* Two names: plain ASCII for every client, and the UTF-8 one (RFC 6266
     * filename*) when the prompt has letters beyond ASCII. */
    char ascii[64] = "", uni[128] = "";
    size_t al = 0, ul = 0;
    bool asep = false, usep = false;
    const char *s = prompt ? prompt : "";
    size_t len = strlen(s), i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_char((const uint8_t *)s + i, len - i, &cp);
        if (n == 0) {
            cp = '-';
            n = 1;
        }
        i += n;
        if (!name_char(cp)) {
            asep = al > 0;
            usep = ul > 0;
            continue;
        }
        if (cp < 0x80 && al + 2 < 48) {
            if (asep)
                ascii[al++] = '-';
            ascii[al++] = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
            ascii[al] = '\0';
            asep = false;
        }
        if (ul + n + 2 < 96) {
            if (usep)
                uni[ul++] = '-';
            char tmp[4];
            size_t k = utf8_encode(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp, tmp);
            memcpy(uni + ul, tmp, k);
            ul += k;
            uni[ul] = '\0';
            usep = false;
        }
    }
    char tail[16];
    size_t t = 0;
    for (const char *p = id; *p && t < 8; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9'))
            tail[t++] = *p;
    tail[t] = '\0';
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s; filename=\"%s%s%s.%s\"", attachment ? "attachment" : "inline",
               al ? ascii : "meme", t ? "-" : "", tail, ext);
    if (strcmp(ascii, uni) != 0 && ul) {
        buf_puts(&b, "; filename*=UTF-8''");
        pct(&b, uni);
        buf_printf(&b, "%s%s.%s", t ? "-" : "", tail, ext);
    }
    buf_putc(&b, '\0');
    return (char *)buf_detach(&b, NULL);
}
