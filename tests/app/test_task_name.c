/*
 * tests/app/test_task_name.c - app_task_name_check: a table of names that
 * look empty, hide or reorder text, or carry controls (refused, each with its
 * verdict), and legitimate names in several scripts (accepted).
 */
#include <stdio.h>
#include <string.h>

#include "app/internal.h"

#include "../lib/check.h"

static const struct {
    const char *name;
    enum app_name_verdict want;
} cases[] = {
    { "", APP_NAME_EMPTY },
    { "   ", APP_NAME_EMPTY },
    { "\xe2\x80\x8b\xe2\x80\x8b", APP_NAME_INVISIBLE },            /* U+200B U+200B */
    { "\xe3\x80\x80", APP_NAME_INVISIBLE },                        /* U+3000 */
    { "\xc2\xa0\xc2\xa0", APP_NAME_INVISIBLE },                    /* NBSP NBSP */
    { " \xe2\x81\xa0\xef\xbb\xbf ", APP_NAME_INVISIBLE },          /* U+2060 U+FEFF */
    { "\xc2\xad", APP_NAME_INVISIBLE },                            /* soft hyphen */
    { "\xe3\x85\xa4", APP_NAME_INVISIBLE },                        /* Hangul filler U+3164 */
    { "\xf3\xa0\x80\x81\xf3\xa0\x81\xa1", APP_NAME_INVISIBLE },    /* tags U+E0001 U+E0061 */
    { "\xe2\x80\xa8", APP_NAME_INVISIBLE },                        /* U+2028 */
    { "abc\xe2\x80\xaegnp.exe", APP_NAME_BIDI },                   /* U+202E */
    { "x\xe2\x81\xa6y", APP_NAME_BIDI },                           /* U+2066 */
    { "\xe2\x80\xaa", APP_NAME_BIDI },                             /* U+202A alone */
    { "x\xe2\x81\xa9", APP_NAME_BIDI },                            /* U+2069 */
    { "a\x7f" "b", APP_NAME_CONTROL },                             /* DEL */
    { "a\xc2\x85" "b", APP_NAME_CONTROL },                         /* U+0085 NEL */
    { "a\xc2\x9b" "b", APP_NAME_CONTROL },                         /* U+009B CSI */
    { "a\tb", APP_NAME_CONTROL },
    { "a\nb", APP_NAME_CONTROL },
    { "a\rb", APP_NAME_CONTROL },
    { "\x1b[31mred", APP_NAME_CONTROL },
    { "\x01", APP_NAME_CONTROL },
    { "a\xff" "b", APP_NAME_BAD_UTF8 },
    { "a\xc0\xaf", APP_NAME_BAD_UTF8 },                            /* overlong '/' */
    { "a\xed\xa0\x80", APP_NAME_BAD_UTF8 },                        /* surrogate */
    { "a\xe2\x80", APP_NAME_BAD_UTF8 },                            /* truncated */
    { "0123456789a", APP_NAME_TOO_LONG },                          /* max 10 below */
    { "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5"
      "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5", APP_NAME_OK },  /* 10 chars, 30 bytes */
    /* legitimate */
    { "Buy milk", APP_NAME_OK },
    { "Gr\xc3\xbc\xc3\x9f" "e\xc2\xa0\xe6\x97\xa5\xe6\x9c\xac", APP_NAME_OK },  /* Grüße NBSP 日本 */
    { " x ", APP_NAME_OK },
    { "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", APP_NAME_OK },            /* Hebrew, RTL by itself */
    { "a\xe2\x80\x8d" "b", APP_NAME_OK },                          /* ZWJ between letters */
    { "\xf0\x9f\x91\x8d", APP_NAME_OK },                           /* emoji */
    { "\xe2\x80\x8b" "x", APP_NAME_OK },                           /* one visible char is enough */
};

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        enum app_name_verdict got = app_task_name_check(str_c(cases[i].name), 10);
        CHECK(got == cases[i].want, "case %zu \"%s\": verdict %d, want %d", i, cases[i].name, (int)got,
              (int)cases[i].want);
        const char *msg = app_task_name_message(got);
        CHECK((got == APP_NAME_OK) == (msg == NULL), "case %zu: a message iff refused", i);
    }
    /* each refusal has its own message, and the empty one is the tutorial's */
    CHECK(!strcmp(app_task_name_message(APP_NAME_EMPTY), "Task name is required."), "empty message");
    for (int a = 1; a < APP_NAME__MAX; a++)
        for (int b = a + 1; b < APP_NAME__MAX; b++)
            CHECK(strcmp(app_task_name_message((enum app_name_verdict)a),
                         app_task_name_message((enum app_name_verdict)b)) != 0,
                  "verdicts %d and %d share a message", a, b);
    CHECK(app_task_name_check(str_c("0123456789a"), 0) == APP_NAME_OK, "max 0 = no limit");
    /* Over the limit and something else wrong: refused whichever rule speaks
     * first (a NUL is a control character; the length is not counted in
     * bytes, so neither can let a long name through). */
    static const struct {
        struct str name;
        enum app_name_verdict want;
    } odd[] = {
        { { "0123456789\0a", 12 }, APP_NAME_CONTROL },
        { { "abc\0", 4 }, APP_NAME_CONTROL },
        { { "0123456789a\xff", 12 }, APP_NAME_BAD_UTF8 },
        { { "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5"
            "\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5", 33 }, APP_NAME_TOO_LONG },
    };
    for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) {
        enum app_name_verdict got = app_task_name_check(odd[i].name, 10);
        CHECK(got == odd[i].want, "odd case %zu: verdict %d, want %d", i, (int)got, (int)odd[i].want);
    }
    return check_exit();
}
