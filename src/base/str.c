/*
 * base/str.c - the out-of-line helpers of str.h: case-insensitive compare,
 * UTF-8 validation, strict id parsing. Pure functions, any process.
 */
#include "str.h"
#include "utf8.h"

#include <stdint.h>

bool str_eq_nocase(struct str a, struct str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++) {
        unsigned char x = (unsigned char)a.p[i], y = (unsigned char)b.p[i];
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return false;
    }
    return true;
}

bool str_is_valid_utf8(struct str s)
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
            return false;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        if (utf8_next(s, &i) < 0)   /* one decoder for the whole tree (utf8.c) */
            return false;
    }
    return true;
}

bool str_parse_id(struct str s, long long *out)
{
    if (s.len == 0 || s.len > 18 || s.p[0] == '0')
        return false;
    long long v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        v = v * 10 + (s.p[i] - '0');
    }
    *out = v;
    return true;
}
