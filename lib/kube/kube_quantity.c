/*
 * Kubernetes quantities: parsing into exact nano-units and the few
 * conversions the status views and the autoscaler arithmetic need. Part of
 * libmeme's Kubernetes client; no I/O.
 */
#include "kube/kube_quantity.h"

#include <stdio.h>
#include <string.h>

#define NANO_LIMIT ((__int128)1000000000000000000 * (__int128)1000000000000000000)

static int bad(struct meme_err *err, const char *s, const char *why)
{
    return meme_err_set(err, MEME_E_BAD_REQUEST, "bad quantity \"%.64s\": %s", s, why);
}

/* The decimal exponent or binary power of a suffix; 0 when it is not one. */
static int suffix_of(const char *sfx, int *exp10, int *pow2)
{
    static const struct {
        const char *name;
        int exp10, pow2;
    } table[] = {
        {"", 0, 0},    {"n", -9, 0},  {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
        {"G", 9, 0},   {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
        {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(sfx, table[i].name) == 0) {
            *exp10 = table[i].exp10;
            *pow2 = table[i].pow2;
            return 1;
        }
    if ((sfx[0] == 'e' || sfx[0] == 'E') && sfx[1]) {
        const char *p = sfx + 1;
        int sign = 1, v = 0;
        if (*p == '+' || *p == '-')
            sign = *p++ == '-' ? -1 : 1;
        if (!*p)
            return 0;
        for (; *p; p++) {
            if (*p < '0' || *p > '9' || v > 1000)
                return 0;
            v = v * 10 + (*p - '0');
        }
        *exp10 = sign * v;
        *pow2 = 0;
        return 1;
    }
    return 0;
}

int kube_quantity_parse(const char *s, struct kube_quantity *q, struct meme_err *err)
{
    q->nano = 0;
    if (!s || !*s)
        return bad(err, s ? s : "", "empty");
    const char *p = s;
    int neg = 0;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    __int128 m = 0;
    int digits = 0, frac = 0, seen_dot = 0;
    for (; *p; p++) {
        if (*p == '.') {
            if (seen_dot)
                return bad(err, s, "two decimal points");
            seen_dot = 1;
            continue;
        }
        if (*p < '0' || *p > '9')
            break;
        if (m == 0 && *p == '0' && !seen_dot) {
            digits++;
            continue;
        }
        if (digits > 36)
            return bad(err, s, "too many digits");
        m = m * 10 + (*p - '0');
        digits++;
        if (seen_dot)
            frac++;
    }
    if (digits == 0)
        return bad(err, s, "no number");
    int exp10 = 0, pow2 = 0;
    if (!suffix_of(p, &exp10, &pow2))
        return bad(err, s, "unknown suffix (want n, u, m, k, M, G, T, P, E, Ki..Ei or eN)");
    int e = 9 + exp10 - frac;
    for (int i = 0; i < pow2; i++) {
        if (m > NANO_LIMIT)
            return bad(err, s, "too large");
        m *= 2;
    }
    for (; e > 0; e--) {
        if (m > NANO_LIMIT)
            return bad(err, s, "too large");
        m *= 10;
    }
    for (; e < 0 && m != 0; e++) {
        /* Finer than a nano-unit: round away from zero, as the API does. */
        __int128 r = m % 10;
        m = m / 10 + (r != 0);
    }
    q->nano = neg ? -m : m;
    return 0;
}

static int64_t saturate(__int128 v)
{
    if (v > INT64_MAX)
        return INT64_MAX;
    if (v < INT64_MIN)
        return INT64_MIN;
    return (int64_t)v;
}

/* q / div rounded toward positive infinity. */
static __int128 div_up(__int128 v, __int128 div)
{
    __int128 d = v / div;
    if (v % div != 0 && v > 0)
        d++;
    return d;
}

int64_t kube_quantity_milli(const struct kube_quantity *q)
{
    return saturate(div_up(q->nano, 1000000));
}

int64_t kube_quantity_value(const struct kube_quantity *q)
{
    return saturate(div_up(q->nano, 1000000000));
}

double kube_quantity_double(const struct kube_quantity *q)
{
    return (double)q->nano / 1e9;
}

int kube_quantity_cmp(const struct kube_quantity *a, const struct kube_quantity *b)
{
    return a->nano < b->nano ? -1 : a->nano > b->nano;
}

const char *kube_quantity_format(const struct kube_quantity *q, bool binary, char *out,
                                 size_t outsz)
{
    double v = kube_quantity_double(q);
    if (binary) {
        static const char *const sfx[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
        int i = 0;
        while ((v >= 1024 || v <= -1024) && i < 6) {
            v /= 1024;
            i++;
        }
        if (v == (double)(int64_t)v)
            snprintf(out, outsz, "%lld%s", (long long)v, sfx[i]);
        else
            snprintf(out, outsz, "%.1f%s", v, sfx[i]);
        return out;
    }
    int64_t milli = kube_quantity_milli(q);
    if (milli % 1000 == 0)
        snprintf(out, outsz, "%lld", (long long)(milli / 1000));
    else if (milli < 1000 && milli > -1000)
        snprintf(out, outsz, "%lldm", (long long)milli);
    else
        snprintf(out, outsz, "%.3g", (double)milli / 1000);
    return out;
}
