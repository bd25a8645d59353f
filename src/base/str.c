/*
 * base/str.c - the out-of-line helpers of str.h: case-insensitive compare,
 * UTF-8 validation (utf8_invalid_at of utf8.c), strict id parsing. Pure
 * functions, any process.
 */
#include "str.h"
#include "utf8.h"

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
    return utf8_invalid_at(s) == s.len;   /* one decoder for the whole tree (utf8.c) */
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
