/*
 * base/utf8.c - utf8_next, validation, lengths and the code-point classes of utf8.h.
 * The tables are Unicode 15.1's Zs and Cf, written out by hand (no ICU: the
 * app only needs to know what is invisible or reorders text).
 */
#include "utf8.h"

#include <string.h>

struct utf8_range {
    int32_t lo, hi;
};

/* General_Category Zs, the line/paragraph separators (Zl, Zp) and the
 * fillers that render as blank although they are letters (Hangul fillers,
 * Braille blank): a name made of them looks empty. */
static const struct utf8_range utf8_spaces[] = {
    { 0x0020, 0x0020 }, { 0x00A0, 0x00A0 }, { 0x115F, 0x1160 }, { 0x1680, 0x1680 },
    { 0x2000, 0x200A }, { 0x2028, 0x2029 }, { 0x202F, 0x202F }, { 0x205F, 0x205F },
    { 0x2800, 0x2800 }, { 0x3000, 0x3000 }, { 0x3164, 0x3164 }, { 0xFFA0, 0xFFA0 },
};

/* General_Category Cf (Unicode 15.1). */
static const struct utf8_range utf8_formats[] = {
    { 0x00AD, 0x00AD },   { 0x0600, 0x0605 },   { 0x061C, 0x061C },   { 0x06DD, 0x06DD },
    { 0x070F, 0x070F },   { 0x0890, 0x0891 },   { 0x08E2, 0x08E2 },   { 0x180E, 0x180E },
    { 0x200B, 0x200F },   { 0x202A, 0x202E },   { 0x2060, 0x2064 },   { 0x2066, 0x206F },
    { 0xFEFF, 0xFEFF },   { 0xFFF9, 0xFFFB },   { 0x110BD, 0x110BD }, { 0x110CD, 0x110CD },
    { 0x13430, 0x1343F }, { 0x1BCA0, 0x1BCA3 }, { 0x1D173, 0x1D17A }, { 0xE0001, 0xE0001 },
    { 0xE0020, 0xE007F },
};

static bool utf8_in(const struct utf8_range *t, size_t n, int32_t cp);

int32_t utf8_next(struct str s, size_t *pos)
{
    const unsigned char *p = (const unsigned char *)s.p;
    size_t i = *pos;
    unsigned c = p[i];
    *pos = i + 1;
    if (c < 0x80)
        return (int32_t)c;
    size_t need;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
        need = 1; cp = c & 0x1F; min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        need = 2; cp = c & 0x0F; min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        need = 3; cp = c & 0x07; min = 0x10000;
    } else {
        return -1;
    }
    if (s.len - i - 1 < need)
        return -1;
    for (size_t k = 1; k <= need; k++) {
        if ((p[i + k] & 0xC0) != 0x80)
            return -1;
        cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *pos = i + 1 + need;
    return (int32_t)cp;
}

int32_t utf8_next_or_byte(struct str s, size_t *pos)
{
    size_t i = *pos;
    int32_t cp = utf8_next(s, pos);
    return cp >= 0 ? cp : (int32_t)(unsigned char)s.p[i];
}

size_t utf8_invalid_at(struct str s)
{
    const unsigned char *p = (const unsigned char *)s.p;
    size_t i = 0, n = s.len;
    while (i < n) {
        /* ASCII fast path, 8 bytes at a time: no high bit and no zero byte
         * (pages and fragments are mostly ASCII; this is on the hot path). */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if ((w & 0x8080808080808080ULL) ||
                ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL))
                break;
            i += 8;
        }
        if (i >= n)
            break;
        if (p[i] == 0)
            return i;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t at = i;
        if (utf8_next(s, &i) < 0)
            return at;
    }
    return n;
}

size_t utf8_encode(int32_t cp, char *out)
{
    uint32_t c = (uint32_t)cp;
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

size_t utf8_len(struct str s)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++)
        n += ((unsigned char)s.p[i] & 0xC0) != 0x80;
    return n;
}

bool utf8_is_control(int32_t cp)
{
    return (cp >= 0 && cp < 0x20) || (cp >= 0x7F && cp <= 0x9F);
}

bool utf8_is_space(int32_t cp)
{
    return utf8_in(utf8_spaces, sizeof utf8_spaces / sizeof *utf8_spaces, cp);
}

bool utf8_is_format(int32_t cp)
{
    return utf8_in(utf8_formats, sizeof utf8_formats / sizeof *utf8_formats, cp);
}

bool utf8_is_bidi_control(int32_t cp)
{
    return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

static bool utf8_in(const struct utf8_range *t, size_t n, int32_t cp)
{
    for (size_t i = 0; i < n && t[i].lo <= cp; i++)
        if (cp <= t[i].hi)
            return true;
    return false;
}
