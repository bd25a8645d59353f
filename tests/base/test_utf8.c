/*
 * tests/base/test_utf8.c - base/utf8.h's decoding helpers, table-driven:
 *   utf8_invalid_at (the offset of the first bad byte, NUL included),
 *   utf8_len, utf8_next_or_byte (every byte shown, always progress) and
 *   utf8_encode (round trip through utf8_next at the boundaries of each length).
 *   The code-point classes are tested through the app's name rules (tests/app).
 */
#include <string.h>

#include "base/utf8.h"

#include "../lib/check.h"

static const struct {
    const char *name, *text;
    size_t len, bad;          /* bad == len: valid */
    size_t n_cp;              /* utf8_len, for valid texts */
} cases[] = {
    { "empty", "", 0, 0, 0 },
    { "ascii", "hello world", 11, 11, 11 },
    { "long ascii", "0123456789abcdefghij", 20, 20, 20 },
    { "2-byte", "caf\xc3\xa9", 5, 5, 4 },
    { "3-byte", "\xe2\x9c\x93", 3, 3, 1 },
    { "4-byte", "\xf0\x9f\x98\x80", 4, 4, 1 },
    { "max scalar", "\xf4\x8f\xbf\xbf", 4, 4, 1 },
    { "mixed", "a\xc3\xa9\xe2\x9c\x93\xf0\x9f\x98\x80z", 11, 11, 5 },
    { "above max", "ab\xf4\x90\x80\x80", 6, 2, 0 },
    { "lone continuation", "abc\x80", 4, 3, 0 },
    { "overlong slash", "\xc0\xaf", 2, 0, 0 },
    { "overlong 3", "x\xe0\x80\xaf", 4, 1, 0 },
    { "surrogate", "\xed\xa0\x80", 3, 0, 0 },
    { "truncated 2", "\xc3", 1, 0, 0 },
    { "truncated 4", "\xf0\x9f\x98", 3, 0, 0 },
    { "ff", "\xff", 1, 0, 0 },
    { "nul", "a\0b", 3, 1, 0 },
    { "nul after 8 ascii", "abcdefgh\0", 9, 8, 0 },
    { "bad after 16 ascii", "abcdefghijklmnop\xc3(", 18, 16, 0 },
};

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct str s = { cases[i].text, cases[i].len };
        size_t bad = utf8_invalid_at(s);
        CHECK(bad == cases[i].bad, "case %zu (%s): invalid at %zu, want %zu", i, cases[i].name, bad,
              cases[i].bad);
        CHECK(str_is_valid_utf8(s) == (cases[i].bad == cases[i].len), "case %zu (%s): str_is_valid_utf8",
              i, cases[i].name);
        if (cases[i].bad == cases[i].len)
            CHECK(utf8_len(s) == cases[i].n_cp, "case %zu (%s): %zu code points, want %zu", i,
                  cases[i].name, utf8_len(s), cases[i].n_cp);
    }

    /* the lenient decoder: valid sequences as utf8_next, bad bytes as themselves */
    static const struct { const char *text; size_t len; int32_t cps[4]; size_t n; } lenient[] = {
        { "a\xc3\xa9", 3, { 'a', 0xE9 }, 2 },
        { "\xc0\xaf", 2, { 0xC0, 0xAF }, 2 },
        { "\xe2\x9c", 2, { 0xE2, 0x9C }, 2 },
        { "\xff\xf0\x9f\x98\x80", 5, { 0xFF, 0x1F600 }, 2 },
    };
    for (size_t i = 0; i < sizeof lenient / sizeof *lenient; i++) {
        struct str s = { lenient[i].text, lenient[i].len };
        size_t pos = 0, k = 0;
        while (pos < s.len && k < 4) {
            int32_t cp = utf8_next_or_byte(s, &pos);
            CHECK(k < lenient[i].n && cp == lenient[i].cps[k], "lenient case %zu: code point %zu is U+%04X", i,
                  k, (unsigned)cp);
            k++;
        }
        CHECK(k == lenient[i].n && pos == s.len, "lenient case %zu: %zu code points", i, k);
    }

    /* encode, then decode, at each length's boundaries */
    static const int32_t cps[] = { 0, 0x41, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF };
    static const size_t lens[] = { 1, 1, 1, 2, 2, 3, 3, 4, 4, 4 };
    for (size_t i = 0; i < sizeof cps / sizeof *cps; i++) {
        char buf[4];
        size_t n = utf8_encode(cps[i], buf), pos = 0;
        CHECK(n == lens[i], "encode U+%04X: %zu bytes, want %zu", (unsigned)cps[i], n, lens[i]);
        int32_t back = utf8_next((struct str){ buf, n }, &pos);
        CHECK(back == cps[i] && pos == n, "encode U+%04X: decodes as U+%04X", (unsigned)cps[i], (unsigned)back);
    }
    return check_exit();
}
