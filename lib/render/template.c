/*
 * Meme backgrounds; see template.h. The generated ones are drawn per pixel
 * in floating point (a few milliseconds at 512x512, once per size), with
 * anti-aliased edges, so they look deliberate at any size.
 */
#include "render/template.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct rgb {
    double r, g, b;
};

static struct rgb hex(uint32_t v)
{
    return (struct rgb){(double)((v >> 16) & 255), (double)((v >> 8) & 255), (double)(v & 255)};
}

static struct rgb mix(struct rgb a, struct rgb b, double t)
{
    if (t < 0)
        t = 0;
    if (t > 1)
        t = 1;
    return (struct rgb){a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t};
}

static struct rgb scale(struct rgb a, double k)
{
    return (struct rgb){a.r * k, a.g * k, a.b * k};
}

static struct rgb add(struct rgb a, struct rgb b)
{
    return (struct rgb){a.r + b.r, a.g + b.g, a.b + b.b};
}

static double clamp01(double v)
{
    return v < 0 ? 0 : v > 1 ? 1 : v;
}

static double smoothstep(double e0, double e1, double x)
{
    double t = clamp01((x - e0) / (e1 - e0));
    return t * t * (3 - 2 * t);
}

static void put(struct meme_image *img, int x, int y, struct rgb c)
{
    uint8_t *p = img->rgb + ((size_t)y * (size_t)img->width + (size_t)x) * 3;
    double v[3] = {c.r, c.g, c.b};
    for (int i = 0; i < 3; i++)
        p[i] = (uint8_t)(v[i] <= 0 ? 0 : v[i] >= 255 ? 255 : v[i] + 0.5);
}

/* Darkens towards the corners; r is 0 at the centre and ~1 at a corner. */
static double vignette(double r, double strength)
{
    return 1.0 - strength * r * r;
}

/* A stable pseudo-random number in [0, 1) for integer coordinates. */
static double hash01(uint32_t a, uint32_t b)
{
    uint32_t h = a * 0x8da6b343u ^ b * 0xd8163841u;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    h *= 0x297a2d39u;
    h ^= h >> 15;
    return (h & 0xFFFFFF) / (double)0x1000000;
}

/* ---- the classic "advice" colour wheel ---- */

struct wheel {
    int wedges;
    int ncolours;
    uint32_t colours[6];
    double twist; /* rotation in wedges */
};

static void draw_wheel(struct meme_image *img, const void *param)
{
    const struct wheel *wh = param;
    int w = img->width, h = img->height;
    double cx = w / 2.0, cy = h / 2.0;
    double rmax = sqrt(cx * cx + cy * cy);
    double sector = 2 * M_PI / wh->wedges;
    struct rgb pal[6];
    for (int i = 0; i < wh->ncolours; i++)
        pal[i] = hex(wh->colours[i]);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
            double r = sqrt(dx * dx + dy * dy);
            double a = atan2(dy, dx) + M_PI + wh->twist * sector;
            double pos = a / sector;
            int k = (int)floor(pos);
            double frac = pos - k;
            int own = ((k % wh->wedges) + wh->wedges) % wh->wedges;
            int other = frac < 0.5 ? own - 1 : own + 1;
            other = ((other % wh->wedges) + wh->wedges) % wh->wedges;
            /* Distance in pixels to the nearer wedge edge, for anti-aliasing. */
            double edge = (frac < 0.5 ? frac : 1 - frac) * sector * r;
            double cover = clamp01(edge + 0.5);
            struct rgb c = mix(pal[other % wh->ncolours], pal[own % wh->ncolours], cover);
            double rn = r / rmax;
            c = scale(c, vignette(rn, 0.45) * (1.0 + 0.12 * (1 - rn)));
            put(img, x, y, c);
        }
    }
}

static const struct wheel wheel_classic = {
    12, 6, {0xd8433a, 0xf08c2c, 0xf2d33c, 0x5cb85c, 0x3a7bd5, 0x8e44ad}, 0.5};
static const struct wheel wheel_blue = {12, 3, {0x1f6fb2, 0x5fb0e8, 0x0d4f8b}, 0.5};
static const struct wheel wheel_fire = {12, 3, {0xc0392b, 0xf39c12, 0x8e1b10}, 0.5};
static const struct wheel wheel_lime = {12, 3, {0x27ae60, 0xb5e655, 0x1e8449}, 0.5};
static const struct wheel wheel_violet = {12, 3, {0x6c3483, 0xb07cc6, 0x4a235a}, 0.5};

/* ---- a sunburst ---- */

static void draw_sunburst(struct meme_image *img, const void *param)
{
    (void)param;
    int w = img->width, h = img->height;
    double cx = w / 2.0, cy = h * 0.56;
    double rmax = sqrt(cx * cx + (h - cy) * (h - cy));
    int rays = 18;
    double sector = 2 * M_PI / rays;
    struct rgb a = hex(0xffb300), b = hex(0xffd54f), glow = hex(0xfff8e1);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
            double r = sqrt(dx * dx + dy * dy);
            double pos = (atan2(dy, dx) + M_PI) / sector;
            int k = (int)floor(pos);
            double frac = pos - k;
            double edge = (frac < 0.5 ? frac : 1 - frac) * sector * r;
            double cover = clamp01(edge + 0.5);
            struct rgb own = (k & 1) ? a : b, other = (k & 1) ? b : a;
            struct rgb c = mix(other, own, cover);
            double rn = r / rmax;
            c = mix(glow, c, smoothstep(0.0, 0.45, rn));
            c = scale(c, vignette(rn, 0.35));
            put(img, x, y, c);
        }
    }
}

/* ---- a sunset over water ---- */

static void draw_sunset(struct meme_image *img, const void *param)
{
    (void)param;
    int w = img->width, h = img->height;
    double horizon = h * 0.64;
    double cx = w / 2.0, sr = w * 0.2, sy = horizon;
    struct rgb top = hex(0x2b1055), mid = hex(0xd53369), low = hex(0xf8a13f);
    struct rgb sun_top = hex(0xfff1a8), sun_low = hex(0xff7e5f);
    struct rgb sea_top = hex(0x3a1c5c), sea_low = hex(0x0f0826);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            double fx = x + 0.5, fy = y + 0.5;
            struct rgb c;
            if (fy < horizon) {
                double t = fy / horizon;
                c = t < 0.6 ? mix(top, mid, t / 0.6) : mix(mid, low, (t - 0.6) / 0.4);
                double d = sqrt((fx - cx) * (fx - cx) + (fy - sy) * (fy - sy));
                double in = clamp01(sr - d + 0.5);
                struct rgb sun = mix(sun_top, sun_low, (fy - (sy - sr)) / sr);
                /* A soft halo around the sun. */
                c = add(
                    c, scale(hex(0xff9a5a), 0.35 * exp(-(d - sr) / (w * 0.08)) * (d > sr ? 1 : 0)));
                c = mix(c, sun, in);
            } else {
                double t = (fy - horizon) / (h - horizon);
                c = mix(sea_top, sea_low, t);
                /* The sun's reflection: broken horizontal streaks. */
                double spread = sr * (0.7 + 0.8 * t);
                double across = fabs(fx - cx) / spread;
                int band = (int)((fy - horizon) / (h * 0.018 + 1));
                double wobble = hash01((uint32_t)band, 7) * 0.5 + 0.5;
                double streak = clamp01(1 - across / wobble) * (band % 2 == 0 ? 1 : 0.35);
                c = mix(c, hex(0xffb36b), streak * (1 - t) * 0.9);
            }
            put(img, x, y, c);
        }
    }
}

/* ---- a night sky with stars and a moon ---- */

static void draw_night(struct meme_image *img, const void *param)
{
    (void)param;
    int w = img->width, h = img->height;
    struct rgb top = hex(0x02010f), mid = hex(0x0b1e4a), low = hex(0x1f4e79);
    double mx = w * 0.74, my = h * 0.3, mr = w * 0.09;
    for (int y = 0; y < h; y++) {
        double t = (y + 0.5) / h;
        struct rgb base = t < 0.6 ? mix(top, mid, t / 0.6) : mix(mid, low, (t - 0.6) / 0.4);
        for (int x = 0; x < w; x++) {
            double fx = x + 0.5, fy = y + 0.5;
            struct rgb c = base;
            double d = sqrt((fx - mx) * (fx - mx) + (fy - my) * (fy - my));
            c = add(c, scale(hex(0x8fb3ff), 0.25 * exp(-(d > mr ? d - mr : 0) / (w * 0.05))));
            /* Crescent: the moon disc minus an offset disc. */
            double d2 = sqrt((fx - mx - mr * 0.45) * (fx - mx - mr * 0.45) +
                             (fy - my + mr * 0.2) * (fy - my + mr * 0.2));
            double moon = clamp01(mr - d + 0.5) * (1 - clamp01(mr * 0.85 - d2 + 0.5));
            c = mix(c, hex(0xfdf6d8), moon);
            put(img, x, y, c);
        }
    }
    /* Stars at positions that scale with the image, so every size looks alike. */
    int stars = w * h / 900;
    for (int i = 0; i < stars; i++) {
        double sx = hash01((uint32_t)i, 1) * w, sy = hash01((uint32_t)i, 2) * h * 0.85;
        double bright = hash01((uint32_t)i, 3);
        double size = 0.6 + 1.6 * bright * bright * (w / 512.0);
        int r = (int)ceil(size * 2);
        for (int y = (int)sy - r; y <= (int)sy + r; y++)
            for (int x = (int)sx - r; x <= (int)sx + r; x++) {
                if (x < 0 || y < 0 || x >= w || y >= h)
                    continue;
                double dd = sqrt((x + 0.5 - sx) * (x + 0.5 - sx) + (y + 0.5 - sy) * (y + 0.5 - sy));
                double a = clamp01(1 - dd / size) * (0.5 + 0.5 * bright);
                if (a <= 0)
                    continue;
                uint8_t *p = img->rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;
                struct rgb cur = {p[0], p[1], p[2]};
                put(img, x, y, mix(cur, hex(0xffffff), a));
            }
    }
}

/* ---- a retro grid: striped sun over a perspective floor ---- */

static void draw_retro(struct meme_image *img, const void *param)
{
    (void)param;
    int w = img->width, h = img->height;
    double hz = h * 0.6;
    double cx = w / 2.0, sr = w * 0.24, sy = hz - h * 0.04;
    struct rgb sky0 = hex(0x0b0033), sky1 = hex(0x3b0a5e), sky2 = hex(0xb3135e);
    struct rgb floor0 = hex(0x1a0030), floor1 = hex(0x07000f), line = hex(0xff3cac);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            double fx = x + 0.5, fy = y + 0.5;
            struct rgb c;
            if (fy < hz) {
                double t = fy / hz;
                c = t < 0.65 ? mix(sky0, sky1, t / 0.65) : mix(sky1, sky2, (t - 0.65) / 0.35);
                double d = sqrt((fx - cx) * (fx - cx) + (fy - sy) * (fy - sy));
                double in = clamp01(sr - d + 0.5);
                double v = (fy - (sy - sr)) / (2 * sr); /* 0 at the sun's top */
                /* Gaps widen towards the bottom of the sun. */
                double period = sr * 0.16;
                double ph = fmod(fy - (sy - sr), period) / period;
                double gap = v > 0.3 ? (v - 0.3) * 1.3 : 0;
                double cut = (ph < gap) ? 1 : 0;
                struct rgb sun = mix(hex(0xffe66d), hex(0xff2a6d), v);
                c = mix(c, sun, in * (1 - cut));
                c = add(c, scale(hex(0xff2a6d),
                                 0.25 * exp(-fabs(d - sr) / (w * 0.06)) * (d > sr ? 1 : 0)));
            } else {
                double v = (fy - hz) / (h - hz); /* 0 at the horizon, 1 at the bottom */
                c = mix(floor0, floor1, v);
                double z = 1.0 / (v + 1e-3);
                double wx = (fx - cx) / (w / 2.0) * z;
                /* Grid lines every unit in depth and every half unit across. */
                double dz = fabs(z - floor(z + 0.5));
                double px_z = dz * v * v * (h - hz);
                double dxw = fabs(wx * 2 - floor(wx * 2 + 0.5)) / 2;
                double px_x = dxw * (w / 2.0) / z;
                double lw = 0.8 + 1.2 * v * (w / 512.0);
                double a = fmax(clamp01(lw - px_z), clamp01(lw - px_x));
                a *= smoothstep(0.0, 0.25, v);
                c = mix(c, line, a);
                c = add(c, scale(hex(0xff2a6d), 0.35 * exp(-v * 12)));
            }
            put(img, x, y, c);
        }
    }
}

/* ---- the deep sea: light from above ---- */

static void draw_deep_sea(struct meme_image *img, const void *param)
{
    (void)param;
    int w = img->width, h = img->height;
    struct rgb top = hex(0x1fa2c8), mid = hex(0x0b4f8a), low = hex(0x03132e);
    double lx = w * 0.3, ly = -h * 0.4;
    for (int y = 0; y < h; y++) {
        double t = (y + 0.5) / h;
        struct rgb base = t < 0.45 ? mix(top, mid, t / 0.45) : mix(mid, low, (t - 0.45) / 0.55);
        for (int x = 0; x < w; x++) {
            double a = atan2(x + 0.5 - lx, y + 0.5 - ly);
            double ray = 0.5 + 0.5 * sin(a * 23) * sin(a * 7 + 1.3);
            ray = pow(clamp01(ray), 3) * (1 - t) * 0.35;
            put(img, x, y, add(base, scale(hex(0xbff3ff), ray)));
        }
    }
    /* Bubbles rising on the right. */
    int n = 14;
    for (int i = 0; i < n; i++) {
        double bx = w * (0.72 + 0.18 * hash01((uint32_t)i, 11));
        double by = h * (0.25 + 0.7 * hash01((uint32_t)i, 12));
        double br = w * (0.006 + 0.018 * hash01((uint32_t)i, 13));
        int r = (int)ceil(br + 2);
        for (int y = (int)by - r; y <= (int)by + r; y++)
            for (int x = (int)bx - r; x <= (int)bx + r; x++) {
                if (x < 0 || y < 0 || x >= w || y >= h)
                    continue;
                double d = sqrt((x + 0.5 - bx) * (x + 0.5 - bx) + (y + 0.5 - by) * (y + 0.5 - by));
                double ring = clamp01(1 - fabs(d - br) / 1.2) * 0.6 + clamp01(br - d) * 0.08;
                uint8_t *p = img->rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;
                struct rgb cur = {p[0], p[1], p[2]};
                put(img, x, y, mix(cur, hex(0xe0fbff), ring));
            }
    }
}

struct builtin {
    const char *name;
    const char *description;
    void (*draw)(struct meme_image *img, const void *param);
    const void *param;
    const char *keywords; /* space separated; a trailing '*' matches a prefix */
};

static const struct builtin builtins[] = {
    {"advice-wheel", "the classic advice colour wheel", draw_wheel, &wheel_classic,
     "advice tip tips pro protip always never should"},
    {"advice-blue", "advice wheel in blues (awkward moments)", draw_wheel, &wheel_blue,
     "sad awkward* cry monday alone cold blue sorry forgot* oops"},
    {"advice-fire", "advice wheel in reds (insanity)", draw_wheel, &wheel_fire,
     "fire burn* prod production outage* incident* rage angry hot panic crash* error* bug bugs "
     "yolo friday"},
    {"advice-lime", "advice wheel in greens (courage)", draw_wheel, &wheel_lime,
     "scal* grow* success* win wins money brave courage ship* deploy* autoscal* replica* pod pods "
     "kubernetes k8s"},
    {"advice-violet", "advice wheel in violets (philosophy)", draw_wheel, &wheel_violet,
     "think* wonder* philosoph* why what-if maybe question* consider* really"},
    {"sunburst", "golden sunburst", draw_sunburst, NULL,
     "yay happy celebrat* party sun shine victory finally great awesome green passed passing"},
    {"sunset", "sunset over the sea", draw_sunset, NULL,
     "evening sunset weekend vacation holiday relax* chill coffee home"},
    {"night-sky", "night sky with a crescent moon", draw_night, NULL,
     "night sleep* 3am dream* star stars moon late insomnia dark on-call oncall pager* midnight"},
    {"retro-grid", "retro grid under a striped sun", draw_retro, NULL,
     "retro 80s synth* future* cyber* neon hack* matrix vapor* legacy cobol mainframe"},
    {"deep-sea", "deep sea with light from above", draw_deep_sea, NULL,
     "ocean sea water deep queue* drown* flood* sink* wave* backlog* lag depth jetstream nats"},
};

#define NBUILTIN (sizeof(builtins) / sizeof(builtins[0]))

struct entry {
    char name[TEMPLATE_NAME_MAX + 1];
    char *description;
    const struct builtin *builtin; /* NULL for a user file */
    char *path;
    struct meme_image *source; /* decoded user file, once used */
};

struct cached {
    size_t index;
    struct meme_image *img;
    uint64_t used;
};

#define CACHE_SLOTS 12

struct template_set {
    struct entry *e;
    size_t n;
    struct cached cache[CACHE_SLOTS];
    uint64_t clock;
};

static int find(const struct template_set *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* The template name for a file name, or false if it is not a template. */
static bool file_template_name(const char *file, char name[TEMPLATE_NAME_MAX + 1])
{
    const char *dot = strrchr(file, '.');
    if (!dot || dot == file || file[0] == '.')
        return false;
    if (strcasecmp(dot, ".png") != 0 && strcasecmp(dot, ".jpg") != 0 &&
        strcasecmp(dot, ".jpeg") != 0)
        return false;
    size_t len = (size_t)(dot - file);
    if (len > TEMPLATE_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)file[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.')
            return false;
        name[i] = (char)tolower(c);
    }
    name[len] = '\0';
    return true;
}

static int add_dir(struct template_set *t, const char *dir, struct meme_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return meme_err_set(err, errno == ENOENT ? MEME_E_NOT_FOUND : MEME_E_IO,
                            "cannot read template directory %s: %s", dir, strerror(errno));
    struct dirent *de;
    char **files = NULL;
    size_t nfiles = 0;
    while ((de = readdir(d)) != NULL) {
        char name[TEMPLATE_NAME_MAX + 1];
        if (!file_template_name(de->d_name, name))
            continue;
        files = xrealloc(files, (nfiles + 1) * sizeof(*files));
        files[nfiles++] = xstrdup(de->d_name);
    }
    closedir(d);
    /* A stable order whatever the directory's. */
    for (size_t i = 1; i < nfiles; i++)
        for (size_t j = i; j > 0 && strcmp(files[j - 1], files[j]) > 0; j--) {
            char *tmp = files[j];
            files[j] = files[j - 1];
            files[j - 1] = tmp;
        }
    for (size_t i = 0; i < nfiles; i++) {
        char name[TEMPLATE_NAME_MAX + 1];
        file_template_name(files[i], name);
        int at = find(t, name);
        struct entry *e;
        if (at >= 0) {
            e = &t->e[at];
            free(e->description);
            free(e->path);
        } else {
            t->e = xrealloc(t->e, (t->n + 1) * sizeof(*t->e));
            e = &t->e[t->n++];
            memcpy(e->name, name, sizeof(e->name));
        }
        e->builtin = NULL;
        e->source = NULL;
        e->path = xasprintf("%s/%s", dir, files[i]);
        e->description = xasprintf("image %s", e->path);
        free(files[i]);
    }
    free(files);
    return 0;
}

struct template_set *template_set_new(const char *dir, struct meme_err *err)
{
    struct template_set *t = xcalloc(1, sizeof(*t));
    t->e = xcalloc(NBUILTIN, sizeof(*t->e));
    for (size_t i = 0; i < NBUILTIN; i++) {
        struct entry *e = &t->e[i];
        snprintf(e->name, sizeof(e->name), "%s", builtins[i].name);
        e->description = xstrdup(builtins[i].description);
        e->builtin = &builtins[i];
    }
    t->n = NBUILTIN;
    const char *from_env = getenv("MEME_TEMPLATE_DIR");
    if (dir && *dir) {
        if (add_dir(t, dir, err) < 0) {
            template_set_free(t);
            return NULL;
        }
    } else if (from_env && *from_env) {
        if (add_dir(t, from_env, err) < 0) {
            size_t len = strlen(err ? err->msg : "");
            if (err && len + 24 < sizeof(err->msg))
                snprintf(err->msg + len, sizeof(err->msg) - len, " (from MEME_TEMPLATE_DIR)");
            template_set_free(t);
            return NULL;
        }
    }
    return t;
}

void template_set_free(struct template_set *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->e[i].description);
        free(t->e[i].path);
        image_free(t->e[i].source);
    }
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        image_free(t->cache[i].img);
    free(t->e);
    free(t);
}

size_t template_count(const struct template_set *t)
{
    return t->n;
}

const char *template_name(const struct template_set *t, size_t i)
{
    return i < t->n ? t->e[i].name : NULL;
}

const char *template_description(const struct template_set *t, size_t i)
{
    return i < t->n ? t->e[i].description : NULL;
}

int template_is_builtin(const struct template_set *t, size_t i)
{
    return i < t->n && t->e[i].builtin != NULL;
}

int template_find(const struct template_set *t, const char *name)
{
    return name ? find(t, name) : -1;
}

/* True when word (lower case, len bytes) matches one of the keywords. */
static bool keyword_match(const char *keywords, const char *word, size_t len)
{
    const char *k = keywords;
    while (*k) {
        size_t kl = strcspn(k, " ");
        bool prefix = kl > 0 && k[kl - 1] == '*';
        size_t cmp = prefix ? kl - 1 : kl;
        if (prefix ? (len >= cmp && strncmp(word, k, cmp) == 0)
                   : (len == cmp && strncmp(word, k, cmp) == 0))
            return true;
        k += kl;
        while (*k == ' ')
            k++;
    }
    return false;
}

size_t template_pick(const struct template_set *t, const char *prompt)
{
    const char *p = prompt ? prompt : "";
    int score[NBUILTIN] = {0};
    char word[32];
    size_t wl = 0;
    uint32_t hash = 2166136261u;
    for (const char *s = p;; s++) {
        unsigned char c = (unsigned char)*s;
        if (c)
            hash = (hash ^ (uint32_t)tolower(c)) * 16777619u;
        if (c && (isalnum(c) || c == '-' || c >= 0x80)) {
            if (wl < sizeof(word) - 1)
                word[wl++] = (char)tolower(c);
            continue;
        }
        if (wl > 0) {
            word[wl] = '\0';
            for (size_t i = 0; i < NBUILTIN; i++)
                if (keyword_match(builtins[i].keywords, word, wl))
                    score[i]++;
            wl = 0;
        }
        if (!c)
            break;
    }
    int best = -1;
    for (size_t i = 0; i < NBUILTIN; i++)
        if (score[i] > 0 && (best < 0 || score[i] > score[best]))
            best = (int)i;
    if (best >= 0) {
        int at = find(t, builtins[best].name);
        if (at >= 0)
            return (size_t)at;
    }
    return t->n ? hash % t->n : 0;
}

/* src cropped to the aspect ratio of w x h around its centre, then scaled. */
static struct meme_image *cover(const struct meme_image *src, int w, int h)
{
    double sw = src->width, sh = src->height;
    int cw = src->width, ch = src->height;
    if (sw / sh > (double)w / h)
        cw = (int)(sh * w / h + 0.5);
    else
        ch = (int)(sw * h / w + 0.5);
    if (cw < 1)
        cw = 1;
    if (ch < 1)
        ch = 1;
    if (cw == src->width && ch == src->height)
        return image_scale(src, w, h);
    struct meme_image *crop = image_new(cw, ch);
    if (!crop)
        return NULL;
    int ox = (src->width - cw) / 2, oy = (src->height - ch) / 2;
    for (int y = 0; y < ch; y++)
        memcpy(crop->rgb + (size_t)y * (size_t)cw * 3,
               src->rgb + ((size_t)(y + oy) * (size_t)src->width + (size_t)ox) * 3, (size_t)cw * 3);
    struct meme_image *out = image_scale(crop, w, h);
    image_free(crop);
    return out;
}

bool template_source_size(struct template_set *t, size_t i, int *w, int *h)
{
    if (i >= t->n || t->e[i].builtin)
        return false;
    struct entry *e = &t->e[i];
    if (!e->source)
        e->source = image_load(e->path, NULL);
    if (!e->source)
        return false;
    *w = e->source->width;
    *h = e->source->height;
    return true;
}

const struct meme_image *template_background(struct template_set *t, size_t i, int w, int h,
                                             struct meme_err *err)
{
    if (i >= t->n) {
        meme_err_set(err, MEME_E_UNKNOWN_TEMPLATE, "no template number %zu", i);
        return NULL;
    }
    t->clock++;
    struct cached *slot = &t->cache[0];
    for (size_t k = 0; k < CACHE_SLOTS; k++) {
        struct cached *c = &t->cache[k];
        if (c->img && c->index == i && c->img->width == w && c->img->height == h) {
            c->used = t->clock;
            return c->img;
        }
        if (!c->img || c->used < slot->used)
            slot = c;
        if (!slot->img)
            break;
    }
    struct entry *e = &t->e[i];
    struct meme_image *img;
    if (e->builtin) {
        img = image_new(w, h);
        if (!img) {
            meme_err_set(err, MEME_E_BAD_REQUEST, "image size %dx%d is out of range", w, h);
            return NULL;
        }
        e->builtin->draw(img, e->builtin->param);
    } else {
        if (!e->source) {
            e->source = image_load(e->path, err);
            if (!e->source)
                return NULL;
        }
        img = cover(e->source, w, h);
        if (!img) {
            meme_err_set(err, MEME_E_IMAGE, "cannot scale template %s to %dx%d", e->name, w, h);
            return NULL;
        }
    }
    image_free(slot->img);
    slot->img = img;
    slot->index = i;
    slot->used = t->clock;
    return img;
}
