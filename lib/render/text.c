/*
 * FreeType captions: see text.h. Measuring uses each glyph's unscaled
 * advance (font units / units per em), and glyphs are loaded without
 * hinting, so what is measured at any size is what is drawn.
 *
 * Two paths. Text whose every character the primary font draws on its own
 * (Latin, Greek and Cyrillic without combining marks: nearly every meme)
 * is laid out from cached advances, as fast as before shaping existed.
 * Anything else is split into runs of one font, one script and one
 * direction (bidi levels from FriBidi, runs put in visual order by rule L2
 * of the Unicode bidi algorithm), each run shaped by HarfBuzz in font units,
 * and drawn glyph by glyph: outlines from FreeType for the text fonts,
 * colour bitmaps (CBDT, FT_LOAD_COLOR) scaled down for emoji.
 */
#include "render/text.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fribidi.h>
#include <hb.h>

#include <ft2build.h>
#include FT_FREETYPE_H
#include FT_GLYPH_H
#include FT_STROKER_H
#include FT_TRUETYPE_TABLES_H

#include "utf8.h"
#include "xalloc.h"

static const char *const font_candidates[] = {
    "/usr/share/fonts/opentype/bebas-neue/BebasNeue-Regular.otf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSansNarrow-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
};

/*
 * The fallback chain after the primary font, in order: for each character
 * the first font that has it draws it (emoji go to a colour font first).
 * Script fonts come before the broad DejaVu so Arabic and Hebrew get a face
 * made for them; Debian packages in the comments. A missing file is skipped.
 */
static const char *const fallback_candidates[] = {
    "/usr/share/fonts/truetype/noto/NotoSansArabic-Bold.ttf", /* fonts-noto-core */
    "/usr/share/fonts/truetype/noto/NotoSansHebrew-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf", /* fonts-dejavu-extra */
    "/usr/share/fonts/truetype/noto/NotoSansDevanagari-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansBengali-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansTamil-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansThai-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansGeorgian-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansArmenian-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansEthiopic-Bold.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", /* fonts-noto-cjk; face 0 is JP */
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansSymbols-Bold.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansSymbols2-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf", /* fonts-noto-color-emoji */
};

#define MAX_FACES 32

/* One font of the chain, opened when a character first needs it. */
struct face_slot {
    char *path;
    bool tried; /* opening was attempted (ft is NULL when it failed) */
    bool color; /* colour bitmaps (CBDT/sbix): drawn without an outline */
    FT_Face ft;
    hb_font_t *hb; /* at the font's own units: positions come back in units */
    double upem;
    double scale;      /* drawn size relative to the primary's em: matches cap heights */
    FT_F26Dot6 cur_sz; /* char size FreeType is set to, 0 = none */
    int strike_ppem;   /* colour fonts: pixels per em of the selected strike */
};

/* Where a code point comes from: which face, which glyph, its advance. */
struct glyph_ref {
    uint32_t cp;
    uint16_t face; /* slot in the chain; 0 is the primary */
    uint8_t used;
    uint8_t simple;  /* the primary draws it without shaping */
    uint8_t missing; /* no font has it: drawn as '?' */
    FT_UInt index;
    double advance_em; /* advance / units per em (of the primary: simple path) */
};

#define REF_SLOTS 1024 /* open addressing; a caption has far fewer distinct code points */

struct bitmap {
    int left, top; /* offset of the top-left pixel from the pen on the baseline */
    int width, rows;
    uint8_t *alpha; /* width * rows coverage, or 4 * width * rows premultiplied RGBA */
};

struct cached_glyph {
    uint32_t face, gid;
    int px, stroke;
    bool color;
    struct bitmap fill, outline;
    struct cached_glyph *next;
};

#define CACHE_BUCKETS 1024
#define CACHE_LIMIT   4096 /* glyph renderings kept before the cache is emptied */

/* A shaped glyph: x from the start of the line and y up from the baseline,
 * both in ems of the requested size (multiply by px for pixels). */
struct shaped {
    uint16_t face;
    uint32_t gid;
    double x, y;
};

struct text_font {
    FT_Library lib;
    struct face_slot slot[MAX_FACES];
    int nslots;
    FT_Stroker stroker;
    double cap_em; /* cap height / units per em of the primary face */
    struct glyph_ref refs[REF_SLOTS];
    size_t nrefs;
    struct cached_glyph *cache[CACHE_BUCKETS];
    size_t ncached;
    int cur_px; /* size the primary is set to, 0 = none */
    const char *ellipsis;
    FT_UInt question; /* the primary's '?' */
    /* Shaping state, reused between calls; the last shaped text is kept so
     * measuring a line and then drawing it shapes it once. */
    hb_buffer_t *buf;
    uint32_t *cps;
    uint16_t *faces;
    hb_script_t *scripts;
    FriBidiCharType *types;
    FriBidiBracketType *brackets;
    FriBidiLevel *levels;
    size_t cap;
    struct shaped *out;
    size_t nout, out_cap;
    double width_em;
    char *last;
    size_t last_len;
};

static bool readable(const char *path)
{
    return path && *path && access(path, R_OK) == 0;
}

/* A face FreeType can draw at any size, or a colour bitmap font (whose
 * strike is scaled by hand). */
static FT_Face open_face(FT_Library lib, const char *path, bool allow_color)
{
    FT_Face face = NULL;
    if (FT_New_Face(lib, path, 0, &face) != 0)
        return NULL;
    bool color_bitmaps = FT_HAS_COLOR(face) && FT_HAS_FIXED_SIZES(face);
    /* A bitmap-only face has no units per em in FreeType (HarfBuzz reads
     * them from its head table). */
    if (FT_IS_SCALABLE(face) ? face->units_per_EM == 0 : !(allow_color && color_bitmaps)) {
        FT_Done_Face(face);
        return NULL;
    }
    return face;
}

static double cap_height_em(FT_Face face)
{
    TT_OS2 *os2 = FT_Get_Sfnt_Table(face, FT_SFNT_OS2);
    if (os2 && os2->version >= 2 && os2->sCapHeight > 0)
        return (double)os2->sCapHeight / face->units_per_EM;
    /* No OS/2 cap height: measure the H. */
    FT_UInt gi = FT_Get_Char_Index(face, 'H');
    if (gi && FT_Load_Glyph(face, gi, FT_LOAD_NO_SCALE) == 0 && face->glyph->metrics.height > 0)
        return (double)face->glyph->metrics.height / face->units_per_EM;
    return 0.7;
}

/* Opens slot i on first use; false when its file cannot be used. */
static bool slot_ready(struct text_font *f, int i)
{
    struct face_slot *s = &f->slot[i];
    if (s->tried)
        return s->ft != NULL;
    s->tried = true;
    FT_Face face = open_face(f->lib, s->path, i > 0);
    if (!face)
        return false;
    hb_blob_t *blob = hb_blob_create_from_file_or_fail(s->path);
    if (!blob) {
        FT_Done_Face(face);
        return false;
    }
    hb_face_t *hf = hb_face_create(blob, 0);
    hb_blob_destroy(blob);
    s->upem = hb_face_get_upem(hf);
    s->hb = hb_font_create(hf);
    hb_face_destroy(hf);
    hb_font_set_scale(s->hb, (int)s->upem, (int)s->upem);
    s->color = !FT_IS_SCALABLE(face);
    if (s->color) {
        /* The strike nearest 128 pixels per em (Noto Color Emoji has one, 109). */
        int best = 0;
        for (int k = 1; k < face->num_fixed_sizes; k++)
            if (labs(face->available_sizes[k].y_ppem / 64 - 128) <
                labs(face->available_sizes[best].y_ppem / 64 - 128))
                best = k;
        if (FT_Select_Size(face, best) != 0) {
            hb_font_destroy(s->hb);
            s->hb = NULL;
            FT_Done_Face(face);
            return false;
        }
        s->strike_ppem = face->available_sizes[best].y_ppem / 64;
        if (s->strike_ppem < 1)
            s->strike_ppem = 1;
        /* An emoji a little taller than a capital letter. */
        s->scale = f->cap_em * 1.3 / 0.95;
    } else if (i == 0) {
        s->scale = 1;
    } else {
        s->scale = f->cap_em / cap_height_em(face);
        s->scale = s->scale < 0.75 ? 0.75 : s->scale > 1.5 ? 1.5 : s->scale;
    }
    s->ft = face;
    return true;
}

static void add_slot(struct text_font *f, const char *path)
{
    if (f->nslots >= MAX_FACES || !readable(path))
        return;
    for (int i = 0; i < f->nslots; i++)
        if (strcmp(f->slot[i].path, path) == 0)
            return;
    f->slot[f->nslots++].path = xstrdup(path);
}

struct text_font *text_font_open(const char *path, struct meme_err *err)
{
    const char *chosen = NULL;
    if (path && *path) {
        if (!readable(path)) {
            meme_err_set(err, MEME_E_FONT, "cannot read font %s", path);
            return NULL;
        }
        chosen = path;
    } else if (getenv("MEME_FONT") && *getenv("MEME_FONT")) {
        chosen = getenv("MEME_FONT");
        if (!readable(chosen)) {
            meme_err_set(err, MEME_E_FONT, "cannot read font %s (from MEME_FONT)", chosen);
            return NULL;
        }
    } else {
        for (size_t i = 0; i < sizeof(font_candidates) / sizeof(font_candidates[0]); i++)
            if (readable(font_candidates[i])) {
                chosen = font_candidates[i];
                break;
            }
        if (!chosen) {
            meme_err_set(err, MEME_E_FONT,
                         "no caption font found: install fonts-bebas-neue or fonts-dejavu-core, "
                         "or set MEME_FONT to a TrueType/OpenType file");
            return NULL;
        }
    }

    struct text_font *f = xcalloc(1, sizeof(*f));
    if (FT_Init_FreeType(&f->lib) != 0) {
        free(f);
        meme_err_set(err, MEME_E_FONT, "cannot initialise FreeType");
        return NULL;
    }
    add_slot(f, chosen);
    /* MEME_FONT_FALLBACK: more fonts, colon-separated, tried before the
     * built-in chain. */
    const char *extra = getenv("MEME_FONT_FALLBACK");
    if (extra && *extra) {
        char *copy = xstrdup(extra), *save = NULL;
        for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save))
            add_slot(f, p);
        free(copy);
    }
    for (size_t i = 0; i < sizeof(fallback_candidates) / sizeof(fallback_candidates[0]); i++)
        add_slot(f, fallback_candidates[i]);
    /* The primary's cap height sizes the fallbacks: measure it first. */
    FT_Face probe = open_face(f->lib, chosen, false);
    if (!probe) {
        text_font_free(f);
        meme_err_set(err, MEME_E_FONT, "%s is not a scalable font FreeType can read", chosen);
        return NULL;
    }
    f->cap_em = cap_height_em(probe);
    FT_Done_Face(probe);
    if (!slot_ready(f, 0)) {
        text_font_free(f);
        meme_err_set(err, MEME_E_FONT, "%s is not a font HarfBuzz can read", chosen);
        return NULL;
    }
    if (FT_Stroker_New(f->lib, &f->stroker) != 0) {
        text_font_free(f);
        meme_err_set(err, MEME_E_FONT, "cannot create the FreeType stroker");
        return NULL;
    }
    FT_Face primary = f->slot[0].ft;
    f->ellipsis = FT_Get_Char_Index(primary, 0x2026) ? "\u2026" : "...";
    f->question = FT_Get_Char_Index(primary, '?');
    f->buf = hb_buffer_create();
    return f;
}

static void cache_clear(struct text_font *f)
{
    for (size_t b = 0; b < CACHE_BUCKETS; b++) {
        struct cached_glyph *g = f->cache[b];
        while (g) {
            struct cached_glyph *next = g->next;
            free(g->fill.alpha);
            free(g->outline.alpha);
            free(g);
            g = next;
        }
        f->cache[b] = NULL;
    }
    f->ncached = 0;
}

void text_font_free(struct text_font *f)
{
    if (!f)
        return;
    cache_clear(f);
    if (f->stroker)
        FT_Stroker_Done(f->stroker);
    for (int i = 0; i < f->nslots; i++) {
        if (f->slot[i].hb)
            hb_font_destroy(f->slot[i].hb);
        if (f->slot[i].ft)
            FT_Done_Face(f->slot[i].ft);
        free(f->slot[i].path);
    }
    FT_Done_FreeType(f->lib);
    hb_buffer_destroy(f->buf);
    free(f->cps);
    free(f->faces);
    free(f->scripts);
    free(f->types);
    free(f->brackets);
    free(f->levels);
    free(f->out);
    free(f->last);
    free(f);
}

const char *text_font_path(const struct text_font *f)
{
    return f->slot[0].path;
}

double text_cap_height(const struct text_font *f, int px)
{
    double h = f->cap_em * px;
    return h < 1 ? 1 : h;
}

const char *text_ellipsis(struct text_font *f)
{
    return f->ellipsis;
}

/* Emoji that should come from a colour font even when a text font has a
 * black-and-white glyph for them. */
static bool emoji_first(uint32_t cp)
{
    return (cp >= 0x1F000 && cp <= 0x1FAFF) || (cp >= 0x2600 && cp <= 0x27BF) ||
           (cp >= 0x2B00 && cp <= 0x2BFF) || (cp >= 0x2300 && cp <= 0x23FF);
}

/* Characters that need no shaping when the primary has them: Latin, Greek,
 * Cyrillic and common punctuation, without combining marks or format and
 * bidi controls. */
static bool plain_cp(uint32_t cp)
{
    if (cp < 0x300)
        return true;
    if (cp < 0x370)
        return false; /* combining diacritics */
    if (cp < 0x483)
        return true;
    if (cp < 0x48A)
        return false;
    if (cp < 0x530)
        return true;
    if (cp >= 0x1E00 && cp < 0x2000)
        return true;
    if (cp >= 0x2000 && cp < 0x2070)
        return !(cp >= 0x200B && cp <= 0x200F) && !(cp >= 0x2028 && cp <= 0x202E) && cp < 0x2060;
    return cp >= 0x20A0 && cp < 0x2150;
}

static int face_for(struct text_font *f, uint32_t cp, FT_UInt *index)
{
    if (emoji_first(cp))
        for (int i = 1; i < f->nslots; i++)
            if (slot_ready(f, i) && f->slot[i].color &&
                (*index = FT_Get_Char_Index(f->slot[i].ft, cp)))
                return i;
    for (int i = 0; i < f->nslots; i++)
        if (slot_ready(f, i) && (*index = FT_Get_Char_Index(f->slot[i].ft, cp)))
            return i;
    *index = 0;
    return -1;
}

static void resolve(struct text_font *f, struct glyph_ref *r, uint32_t cp)
{
    r->cp = cp;
    r->used = 1;
    FT_UInt gi = 0;
    int face = face_for(f, cp, &gi);
    r->missing = face < 0;
    if (face < 0) {
        face = 0;
        gi = f->question;
    }
    r->face = (uint16_t)face;
    r->index = gi;
    r->simple = face == 0 && !r->missing && plain_cp(cp);
    const struct face_slot *slot = &f->slot[face];
    hb_position_t adv = hb_font_get_glyph_h_advance(slot->hb, r->index);
    r->advance_em = adv / slot->upem * slot->scale;
}

/* The face, glyph and advance for cp; characters no face has become '?'. */
static const struct glyph_ref *lookup(struct text_font *f, uint32_t cp)
{
    size_t slot = (cp * 2654435761u) % REF_SLOTS;
    for (size_t n = 0; n < REF_SLOTS; n++, slot = (slot + 1) % REF_SLOTS) {
        struct glyph_ref *r = &f->refs[slot];
        if (r->used && r->cp == cp)
            return r;
        if (r->used)
            continue;
        if (f->nrefs >= REF_SLOTS * 3 / 4)
            break; /* full enough: resolve without remembering */
        resolve(f, r, cp);
        f->nrefs++;
        return r;
    }
    /* Table full: a throwaway answer for this call. */
    static __thread struct glyph_ref tmp;
    resolve(f, &tmp, cp);
    return &tmp;
}

/* The code point at s[*i] (U+FFFD for a byte that is not UTF-8); advances *i. */
static uint32_t next_cp(const char *s, size_t len, size_t *i)
{
    uint32_t cp;
    size_t n = utf8_char((const uint8_t *)s + *i, len - *i, &cp);
    if (n == 0) {
        cp = 0xFFFD;
        n = 1;
    }
    *i += n;
    return cp;
}

/* True when every character of s takes the simple path; its width in ems
 * then goes to *em. */
static bool simple_width(struct text_font *f, const char *s, size_t len, double *em)
{
    double w = 0;
    size_t i = 0;
    while (i < len) {
        const struct glyph_ref *r = lookup(f, next_cp(s, len, &i));
        if (!r->simple)
            return false;
        w += r->advance_em;
    }
    *em = w;
    return true;
}

/* Characters that belong to the cluster before them and take its font:
 * combining marks, joiners, variation selectors, emoji modifiers and tags. */
static bool extends_cluster(uint32_t cp, uint32_t prev)
{
    if (prev == 0x200D || cp == 0x200D || cp == 0x200C || (cp >= 0xFE00 && cp <= 0xFE0F) ||
        (cp >= 0x1F3FB && cp <= 0x1F3FF) || (cp >= 0xE0020 && cp <= 0xE007F) || cp == 0x20E3)
        return true;
    hb_unicode_general_category_t gc =
        hb_unicode_general_category(hb_unicode_funcs_get_default(), cp);
    return gc == HB_UNICODE_GENERAL_CATEGORY_NON_SPACING_MARK ||
           gc == HB_UNICODE_GENERAL_CATEGORY_SPACING_MARK ||
           gc == HB_UNICODE_GENERAL_CATEGORY_ENCLOSING_MARK;
}

static void grow(struct text_font *f, size_t n)
{
    if (n <= f->cap)
        return;
    size_t cap = f->cap ? f->cap : 64;
    while (cap < n)
        cap *= 2;
    f->cps = xrealloc(f->cps, cap * sizeof(*f->cps));
    f->faces = xrealloc(f->faces, cap * sizeof(*f->faces));
    f->scripts = xrealloc(f->scripts, cap * sizeof(*f->scripts));
    f->types = xrealloc(f->types, cap * sizeof(*f->types));
    f->brackets = xrealloc(f->brackets, cap * sizeof(*f->brackets));
    f->levels = xrealloc(f->levels, cap * sizeof(*f->levels));
    f->cap = cap;
}

static void push_glyph(struct text_font *f, uint16_t face, uint32_t gid, double x, double y)
{
    if (f->nout == f->out_cap) {
        f->out_cap = f->out_cap ? f->out_cap * 2 : 64;
        f->out = xrealloc(f->out, f->out_cap * sizeof(*f->out));
    }
    f->out[f->nout++] = (struct shaped){.face = face, .gid = gid, .x = x, .y = y};
}

struct run {
    size_t start, len;
    uint16_t face;
    FriBidiLevel level;
    hb_script_t script;
};

/* Shapes s into f->out (glyphs in visual order) and f->width_em. */
static void shape(struct text_font *f, const char *s, size_t len)
{
    if (f->last && f->last_len == len && memcmp(f->last, s, len) == 0)
        return;
    f->nout = 0;
    f->width_em = 0;
    grow(f, len + 1);
    size_t n = 0, i = 0;
    while (i < len)
        f->cps[n++] = next_cp(s, len, &i);

    /* Fonts: each character's first font, a cluster's marks with their base. */
    hb_unicode_funcs_t *uf = hb_unicode_funcs_get_default();
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && extends_cluster(f->cps[k], f->cps[k - 1])) {
            f->faces[k] = f->faces[k - 1];
            continue;
        }
        const struct glyph_ref *r = lookup(f, f->cps[k]);
        f->faces[k] = r->face;
        if (r->missing)
            f->cps[k] = '?';
    }
    /* Scripts: common and inherited characters join the script around them. */
    hb_script_t cur = HB_SCRIPT_COMMON;
    for (size_t k = 0; k < n; k++) {
        hb_script_t sc = hb_unicode_script(uf, f->cps[k]);
        if (sc == HB_SCRIPT_COMMON || sc == HB_SCRIPT_INHERITED || sc == HB_SCRIPT_UNKNOWN)
            sc = cur;
        f->scripts[k] = cur = sc;
    }
    for (size_t k = n; k-- > 0;)
        if (f->scripts[k] == HB_SCRIPT_COMMON && k + 1 < n)
            f->scripts[k] = f->scripts[k + 1];
    /* Bidi levels, the paragraph's direction from its first strong character. */
    FriBidiParType base = FRIBIDI_PAR_ON;
    fribidi_get_bidi_types(f->cps, (FriBidiStrIndex)n, f->types);
    fribidi_get_bracket_types(f->cps, (FriBidiStrIndex)n, f->types, f->brackets);
    if (n == 0 || !fribidi_get_par_embedding_levels_ex(f->types, f->brackets, (FriBidiStrIndex)n,
                                                       &base, f->levels))
        memset(f->levels, 0, n * sizeof(*f->levels));

    /* Runs of one font, script and level. */
    struct run *runs = xmalloc((n ? n : 1) * sizeof(*runs));
    size_t nruns = 0;
    for (size_t k = 0; k < n; k++) {
        if (nruns && f->faces[k] == runs[nruns - 1].face && f->levels[k] == runs[nruns - 1].level &&
            f->scripts[k] == runs[nruns - 1].script) {
            runs[nruns - 1].len++;
            continue;
        }
        runs[nruns++] = (struct run){k, 1, f->faces[k], f->levels[k], f->scripts[k]};
    }
    /* Rule L2: from the highest level down to the lowest odd one, reverse
     * every sequence of runs at that level or higher. */
    int hi = 0, lo_odd = 1000;
    for (size_t k = 0; k < nruns; k++) {
        if (runs[k].level > hi)
            hi = runs[k].level;
        if ((runs[k].level & 1) && runs[k].level < lo_odd)
            lo_odd = runs[k].level;
    }
    for (int lev = hi; lev >= lo_odd && lev > 0; lev--)
        for (size_t k = 0; k < nruns;) {
            if (runs[k].level < lev) {
                k++;
                continue;
            }
            size_t e = k;
            while (e < nruns && runs[e].level >= lev)
                e++;
            for (size_t a = k, b = e - 1; a < b; a++, b--) {
                struct run t = runs[a];
                runs[a] = runs[b];
                runs[b] = t;
            }
            k = e;
        }

    double pen = 0;
    for (size_t k = 0; k < nruns; k++) {
        struct run *r = &runs[k];
        struct face_slot *slot = &f->slot[r->face];
        hb_buffer_clear_contents(f->buf);
        hb_buffer_add_utf32(f->buf, f->cps, (int)n, (unsigned)r->start, (int)r->len);
        hb_buffer_set_direction(f->buf, (r->level & 1) ? HB_DIRECTION_RTL : HB_DIRECTION_LTR);
        hb_buffer_set_script(f->buf, r->script);
        hb_buffer_set_language(f->buf, hb_language_get_default());
        hb_shape(slot->hb, f->buf, NULL, 0);
        unsigned count = 0;
        hb_glyph_info_t *info = hb_buffer_get_glyph_infos(f->buf, &count);
        hb_glyph_position_t *pos = hb_buffer_get_glyph_positions(f->buf, &count);
        double to_em = slot->scale / slot->upem;
        for (unsigned g = 0; g < count; g++) {
            push_glyph(f, r->face, info[g].codepoint, pen + pos[g].x_offset * to_em,
                       pos[g].y_offset * to_em);
            pen += pos[g].x_advance * to_em;
        }
    }
    free(runs);
    f->width_em = pen;
    free(f->last);
    f->last = xmalloc(len + 1);
    memcpy(f->last, s, len);
    f->last[len] = '\0';
    f->last_len = len;
}

int text_measure(struct text_font *f, int px, const char *s, size_t len)
{
    double em;
    if (!simple_width(f, s, len, &em)) {
        shape(f, s, len);
        em = f->width_em;
    }
    return (int)(em * px + 0.5);
}

static void copy_bitmap(struct bitmap *dst, FT_BitmapGlyph bg)
{
    FT_Bitmap *b = &bg->bitmap;
    dst->left = bg->left;
    dst->top = bg->top;
    dst->width = (int)b->width;
    dst->rows = (int)b->rows;
    size_t n = (size_t)dst->width * (size_t)dst->rows;
    dst->alpha = n ? xmalloc(n) : NULL;
    for (int y = 0; y < dst->rows; y++) {
        const uint8_t *src = b->buffer + (ptrdiff_t)y * b->pitch;
        memcpy(dst->alpha + (size_t)y * (size_t)dst->width, src, (size_t)dst->width);
    }
}

/* A colour glyph: the strike's premultiplied BGRA bitmap, scaled by s with
 * an area average into premultiplied RGBA. */
static bool rasterise_color(struct face_slot *slot, uint32_t gid, double s, struct bitmap *out)
{
    FT_Face face = slot->ft;
    if (FT_Load_Glyph(face, gid, FT_LOAD_COLOR) != 0 ||
        face->glyph->bitmap.pixel_mode != FT_PIXEL_MODE_BGRA)
        return false;
    const FT_Bitmap *b = &face->glyph->bitmap;
    int sw = (int)b->width, sh = (int)b->rows;
    int w = (int)ceil(sw * s), h = (int)ceil(sh * s);
    if (w < 1 || h < 1)
        return false;
    out->width = w;
    out->rows = h;
    out->left = (int)lround(face->glyph->bitmap_left * s);
    out->top = (int)lround(face->glyph->bitmap_top * s);
    out->alpha = xcalloc((size_t)w * (size_t)h, 4);
    double inv = 1.0 / s; /* source pixels per target pixel */
    for (int y = 0; y < h; y++) {
        double y0 = y * inv, y1 = y0 + inv;
        for (int x = 0; x < w; x++) {
            double x0 = x * inv, x1 = x0 + inv;
            double acc[4] = {0, 0, 0, 0};
            for (int sy = (int)y0; sy < sh && sy < y1; sy++) {
                double wy = fmin(sy + 1, y1) - fmax(sy, y0);
                const uint8_t *row = b->buffer + (ptrdiff_t)sy * b->pitch;
                for (int sx = (int)x0; sx < sw && sx < x1; sx++) {
                    double wgt = wy * (fmin(sx + 1, x1) - fmax(sx, x0));
                    const uint8_t *p = row + (size_t)sx * 4;
                    acc[0] += p[2] * wgt; /* BGRA -> RGBA */
                    acc[1] += p[1] * wgt;
                    acc[2] += p[0] * wgt;
                    acc[3] += p[3] * wgt;
                }
            }
            /* Outside the source counts as transparent: divide by the full cell. */
            double cell = inv * inv;
            uint8_t *o = out->alpha + ((size_t)y * (size_t)w + (size_t)x) * 4;
            for (int c = 0; c < 4; c++) {
                double v = acc[c] / cell + 0.5;
                o[c] = (uint8_t)(v > 255 ? 255 : v);
            }
        }
    }
    return true;
}

/* Rasterises one glyph's fill and outline; false if FreeType fails. */
static bool rasterise(struct text_font *f, uint32_t face_i, uint32_t gid, int px, int stroke,
                      struct cached_glyph *out)
{
    struct face_slot *slot = &f->slot[face_i];
    FT_Face face = slot->ft;
    if (slot->color) {
        out->color = true;
        return rasterise_color(slot, gid, px * slot->scale / slot->strike_ppem, &out->fill);
    }
    if (face_i == 0) {
        if (f->cur_px != px) {
            FT_Set_Pixel_Sizes(face, 0, (FT_UInt)px);
            f->cur_px = px;
        }
    } else {
        FT_F26Dot6 sz = (FT_F26Dot6)(px * slot->scale * 64 + 0.5);
        if (slot->cur_sz != sz) {
            FT_Set_Char_Size(face, 0, sz, 72, 72);
            slot->cur_sz = sz;
        }
    }
    if (FT_Load_Glyph(face, gid, FT_LOAD_NO_HINTING | FT_LOAD_NO_BITMAP) != 0)
        return false;
    FT_Glyph glyph = NULL, border = NULL;
    if (FT_Get_Glyph(face->glyph, &glyph) != 0)
        return false;
    if (stroke > 0 && glyph->format == FT_GLYPH_FORMAT_OUTLINE) {
        if (FT_Glyph_Copy(glyph, &border) == 0) {
            FT_Stroker_Set(f->stroker, (FT_Fixed)stroke * 64, FT_STROKER_LINECAP_ROUND,
                           FT_STROKER_LINEJOIN_ROUND, 0);
            if (FT_Glyph_StrokeBorder(&border, f->stroker, 0, 1) != 0 ||
                FT_Glyph_To_Bitmap(&border, FT_RENDER_MODE_NORMAL, NULL, 1) != 0) {
                FT_Done_Glyph(border);
                border = NULL;
            }
        }
    }
    if (FT_Glyph_To_Bitmap(&glyph, FT_RENDER_MODE_NORMAL, NULL, 1) != 0) {
        FT_Done_Glyph(glyph);
        if (border)
            FT_Done_Glyph(border);
        return false;
    }
    copy_bitmap(&out->fill, (FT_BitmapGlyph)glyph);
    if (border)
        copy_bitmap(&out->outline, (FT_BitmapGlyph)border);
    FT_Done_Glyph(glyph);
    if (border)
        FT_Done_Glyph(border);
    return true;
}

static const struct cached_glyph *glyph_at(struct text_font *f, uint32_t face, uint32_t gid, int px,
                                           int stroke)
{
    uint64_t key = ((uint64_t)face << 32 | gid) * 0x9E3779B97F4A7C15ull ^
                   (uint64_t)px * 0xC2B2AE3D27D4EB4Full ^ (uint64_t)stroke * 0x165667B19E3779F9ull;
    size_t b = (size_t)(key >> 40) % CACHE_BUCKETS;
    for (struct cached_glyph *g = f->cache[b]; g; g = g->next)
        if (g->gid == gid && g->face == face && g->px == px && g->stroke == stroke)
            return g;
    if (f->ncached >= CACHE_LIMIT) {
        cache_clear(f);
    }
    struct cached_glyph *g = xcalloc(1, sizeof(*g));
    g->face = face;
    g->gid = gid;
    g->px = px;
    g->stroke = stroke;
    if (!rasterise(f, face, gid, px, stroke, g)) {
        free(g->fill.alpha);
        free(g->outline.alpha);
        free(g);
        return NULL;
    }
    g->next = f->cache[b];
    f->cache[b] = g;
    f->ncached++;
    return g;
}

/* Blends colour (0 black, 255 white) into img through bm placed at (x, y). */
static void blend(struct meme_image *img, const struct bitmap *bm, int x, int y, uint8_t colour)
{
    int x0 = x + bm->left, y0 = y - bm->top;
    for (int row = 0; row < bm->rows; row++) {
        int iy = y0 + row;
        if (iy < 0 || iy >= img->height)
            continue;
        const uint8_t *a = bm->alpha + (size_t)row * (size_t)bm->width;
        uint8_t *dst = img->rgb + (size_t)iy * (size_t)img->width * 3;
        int c0 = x0 < 0 ? -x0 : 0;
        int c1 = x0 + bm->width > img->width ? img->width - x0 : bm->width;
        for (int col = c0; col < c1; col++) {
            unsigned al = a[col];
            if (!al)
                continue;
            uint8_t *p = dst + (size_t)(x0 + col) * 3;
            if (al == 255) {
                p[0] = p[1] = p[2] = colour;
            } else {
                unsigned inv = 255 - al;
                unsigned add = colour * al;
                p[0] = (uint8_t)((p[0] * inv + add + 127) / 255);
                p[1] = (uint8_t)((p[1] * inv + add + 127) / 255);
                p[2] = (uint8_t)((p[2] * inv + add + 127) / 255);
            }
        }
    }
}

/* Composites a premultiplied RGBA bitmap (a colour glyph) at (x, y). */
static void blend_rgba(struct meme_image *img, const struct bitmap *bm, int x, int y)
{
    int x0 = x + bm->left, y0 = y - bm->top;
    for (int row = 0; row < bm->rows; row++) {
        int iy = y0 + row;
        if (iy < 0 || iy >= img->height)
            continue;
        const uint8_t *src = bm->alpha + (size_t)row * (size_t)bm->width * 4;
        uint8_t *dst = img->rgb + (size_t)iy * (size_t)img->width * 3;
        int c0 = x0 < 0 ? -x0 : 0;
        int c1 = x0 + bm->width > img->width ? img->width - x0 : bm->width;
        for (int col = c0; col < c1; col++) {
            const uint8_t *s = src + (size_t)col * 4;
            if (!s[3])
                continue;
            uint8_t *p = dst + (size_t)(x0 + col) * 3;
            unsigned inv = 255 - s[3];
            for (int c = 0; c < 3; c++) {
                unsigned v = s[c] + (p[c] * inv + 127) / 255;
                p[c] = (uint8_t)(v > 255 ? 255 : v);
            }
        }
    }
}

void text_draw(struct text_font *f, struct meme_image *img, int px, int stroke, int x, int y,
               const char *s, size_t len)
{
    double em;
    if (simple_width(f, s, len, &em)) {
        /* Outlines first, for the whole run, so no outline covers a neighbour's fill. */
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 0 && stroke <= 0)
                continue;
            double pen = x;
            size_t i = 0;
            while (i < len) {
                const struct glyph_ref *r = lookup(f, next_cp(s, len, &i));
                const struct cached_glyph *g = glyph_at(f, 0, r->index, px, stroke);
                if (g) {
                    int gx = (int)(pen + 0.5);
                    if (pass == 0)
                        blend(img, &g->outline, gx, y, 0);
                    else
                        blend(img, &g->fill, gx, y, 255);
                }
                pen += r->advance_em * px;
            }
        }
        return;
    }
    shape(f, s, len);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0 && stroke <= 0)
            continue;
        for (size_t k = 0; k < f->nout; k++) {
            const struct shaped *sg = &f->out[k];
            bool color = f->slot[sg->face].color;
            if (pass == 0 && color)
                continue; /* colour emoji have no outline */
            const struct cached_glyph *g = glyph_at(f, sg->face, sg->gid, px, color ? 0 : stroke);
            if (!g)
                continue;
            int gx = (int)(x + sg->x * px + 0.5);
            int gy = (int)(y - sg->y * px + 0.5);
            if (color)
                blend_rgba(img, &g->fill, gx, gy);
            else if (pass == 0)
                blend(img, &g->outline, gx, gy, 0);
            else
                blend(img, &g->fill, gx, gy, 255);
        }
    }
}
