/*
 * tests/server/test_str.c - str.h's validators: UTF-8 (every position of a bad
 * byte relative to the 8-byte ASCII fast path), strict ids, case-insensitive
 * compare. Table-driven; each failure names the case.
 */
#include <string.h>

#include "base/str.h"

#include "../lib/check.h"

static const struct { const char *name, *text; size_t len; bool ok; } utf8_cases[] = {
    { "empty", "", 0, true },
    { "ascii", "hello world", 11, true },
    { "2-byte", "caf\xc3\xa9", 5, true },
    { "3-byte", "\xe2\x9c\x93", 3, true },
    { "4-byte", "\xf0\x9f\x98\x80", 4, true },
    { "max scalar", "\xf4\x8f\xbf\xbf", 4, true },
    { "above max", "\xf4\x90\x80\x80", 4, false },
    { "lone continuation", "\x80", 1, false },
    { "overlong slash", "\xc0\xaf", 2, false },
    { "overlong 3", "\xe0\x80\xaf", 3, false },
    { "surrogate", "\xed\xa0\x80", 3, false },
    { "truncated 2", "\xc3", 1, false },
    { "truncated 4", "\xf0\x9f\x98", 3, false },
    { "ff", "\xff", 1, false },
    { "nul", "a\0b", 3, false },
};

int main(void)
{
    for (size_t i = 0; i < sizeof utf8_cases / sizeof *utf8_cases; i++)
        CHECK(str_is_valid_utf8((struct str){ utf8_cases[i].text, utf8_cases[i].len }) == utf8_cases[i].ok,
              "utf8 case %zu (%s)", i, utf8_cases[i].name);
    /* a bad byte (or NUL) at every offset of a long ASCII run: the fast path
     * must hand over to the slow one wherever it sits */
    char buf[40];
    for (size_t len = 1; len <= sizeof buf; len++) {
        for (size_t at = 0; at < len; at++) {
            memset(buf, 'a', sizeof buf);
            buf[at] = (char)0xff;
            CHECK(!str_is_valid_utf8((struct str){ buf, len }), "0xff at %zu of %zu accepted", at, len);
            buf[at] = '\0';
            CHECK(!str_is_valid_utf8((struct str){ buf, len }), "NUL at %zu of %zu accepted", at, len);
            buf[at] = 'a';
            CHECK(str_is_valid_utf8((struct str){ buf, len }), "ascii of %zu refused", len);
        }
        if (len >= 2) {
            memset(buf, 'a', sizeof buf);
            memcpy(buf + len - 2, "\xc3\xa9", 2);
            CHECK(str_is_valid_utf8((struct str){ buf, len }), "2-byte at the end of %zu refused", len);
        }
    }
    static const struct { const char *text; bool ok; long long want; } ids[] = {
        { "1", true, 1 }, { "42", true, 42 }, { "999999999999999999", true, 999999999999999999LL },
        { "0", false, 0 }, { "007", false, 0 }, { "-1", false, 0 }, { "+1", false, 0 }, { "1a", false, 0 },
        { "", false, 0 }, { " 1", false, 0 }, { "1000000000000000000", false, 0 },
    };
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        long long v = -5;
        bool ok = str_parse_id(str_c(ids[i].text), &v);
        CHECK(ok == ids[i].ok && (!ok || v == ids[i].want), "id case %zu (\"%s\")", i, ids[i].text);
        CHECK(ok || v == -5, "id case %zu changed the output on failure", i);
    }
    CHECK(str_eq_nocase(STR("Content-Type"), STR("content-type")), "nocase equal");
    CHECK(!str_eq_nocase(STR("Content-Type"), STR("content-typf")), "nocase differs");
    return check_exit();
}
