/*
 * tests/app/test_codecs.c - the codecs of everything the app reads back from
 * memcached: view entries and the memoized task list. Round trips, and a
 * table of forged or truncated values that must be refused, never trusted.
 */
#include <stdio.h>
#include <string.h>

#include "app/task_cache.h"
#include "web/cached.h"

#include "../lib/check.h"



static void test_view_roundtrip(struct arena *a)
{
    struct cache_view_entry e = {
        .version = 1764201600123456ULL, .status = 200,
        .content_type = STR("text/html; charset=utf-8"),
        .headers = STR("X-Extra: 1\r\nVary: Cookie\r\n"), .etag = STR("\"abc\""),
        .body = STR("<p>caf\xc3\xa9</p>\n"),
    };
    struct strbuf sb;
    strbuf_init(&sb, a, 64);
    cache_view_entry_encode(&e, &sb);
    struct cache_view_entry d;
    CHECK(cache_view_entry_decode(strbuf_str(&sb), &d) == TL_OK, "decode of an encoded entry");
    CHECK(d.version == e.version && d.status == 200, "version/status");
    CHECK(str_eq(d.content_type, e.content_type) && str_eq(d.headers, e.headers) &&
              str_eq(d.etag, e.etag) && str_eq(d.body, e.body), "fields");
}

static void test_view_forged(struct arena *a)
{
    static const struct { const char *name, *value; } cases[] = {
        { "empty", "" },
        { "no tag", "X1 1 200 0 0 0 0\n" },
        { "old format", "V1 1 200 0 0 0 0\n" },
        { "short header", "V2 1 200 0 0 0\n" },
        { "length too long", "V2 1 200 0 0 0 5\nabc" },
        { "length too short", "V2 1 200 0 0 0 1\nabc" },
        { "bad status", "V2 1 99 0 0 0 0\n" },
        { "status 600", "V2 1 600 0 0 0 0\n" },
        { "header injection", "V2 1 200 0 8 0 0\nA: b\nc\r\n" },
        { "header without colon", "V2 1 200 0 4 0 0\nab\r\n" },
        { "header unterminated", "V2 1 200 0 4 0 0\nA: b" },
        { "ctype with newline", "V2 1 200 3 0 0 0\na\nb" },
        { "negative", "V2 -1 200 0 0 0 0\n" },
        { "overflow", "V2 99999999999999999999999 200 0 0 0 0\n" },
        { "spaces", "V2  1 200 0 0 0 0\n" },
        { "plus sign", "V2 +1 200 0 0 0 0\n" },
        { "leading zero", "V2 01 200 0 0 0 0\n" },
        { "huge lengths", "V2 1 200 0 0 0 18446744073709551615\n" },
        /* 4 + (2^64 - 1) wraps to 3 = what is left: the sum check alone passed it */
        { "lengths that wrap around", "V2 1 200 4 0 0 18446744073709551615\nabc" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct cache_view_entry d;
        struct str v = str_c(cases[i].value);
        CHECK(cache_view_entry_decode(v, &d) != TL_OK, "case %zu (%s) accepted", i, cases[i].name);
    }
    (void)a;
}

static void test_task_list_codec(struct arena *a)
{
    struct task items[] = {
        { 1, STR("Buy milk"), 1796033366282008ULL }, { 7, STR(""), 0 },
        { 42, STR("x'); DROP TABLE task; --"), 3 },
        { 43, STR("<script>alert(1)</script>"), 4 }, { 44, STR("line\nbreak 12 34\n"), 5 },
        { 9007199254740993LL, STR("\xe2\x9c\x93 done"), 9007199254740993ULL },
    };
    struct task_list tl = { items, sizeof items / sizeof *items }, back;
    struct strbuf sb;
    strbuf_init(&sb, a, 64);
    CHECK(task_list_codec.encode(&tl, &sb) == TL_OK, "encode");
    CHECK(task_list_codec.decode(strbuf_str(&sb), a, &back) == TL_OK, "decode");
    CHECK(back.n == tl.n, "count %zu", back.n);
    for (size_t i = 0; i < tl.n && i < back.n; i++)
        CHECK(back.items[i].id == items[i].id && back.items[i].rev == items[i].rev &&
                  str_eq(back.items[i].name, items[i].name),
              "task %zu differs", i);

    struct task_list empty = { NULL, 0 };
    strbuf_reset(&sb);
    CHECK(task_list_codec.encode(&empty, &sb) == TL_OK, "encode empty");
    CHECK(task_list_codec.decode(strbuf_str(&sb), a, &back) == TL_OK && back.n == 0, "decode empty");

    static const char *const bad[] = {
        "", "T2", "T2 \n", "T3 0\n", "T1 0\n", "T1 1\n1 1\na\n", "T2 1\n", "T2 1\n1 9 3\nabc",
        "T2 1\n1 9 3\nabcd\n", "T2 1\n0 9 1\na\n", "T2 1\n-1 9 1\na\n", "T2 1\n1 -9 1\na\n",
        "T2 1\n1 1\na\n", "T2 1\n1 9 1\n\xff\n", "T2 2\n1 9 1\na\n", "T2 0\nextra",
        "T2 1\n1 9 2\na\n", "T2 99999999\n", "T2 1\n1 9 99999999999999999999\na\n",
        "T2 1\n1 99999999999999999999 1\na\n", "T2 1\n07 9 1\na\n", "T2 01\n1 9 1\na\n",
        "T2 1\n1 9 1\na\nT", "T2 1\n1 9 1\na\x00",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct str v = str_c(bad[i]);
        if (i == sizeof bad / sizeof *bad - 1)
            v.len = 13; /* embedded NUL where the newline should be */
        CHECK(task_list_codec.decode(v, a, &back) != TL_OK, "bad task list %zu accepted: %s", i, bad[i]);
    }
}

static void test_task_page_codec(struct arena *a)
{
    struct task items[] = { { 3, STR("a"), 11 }, { 5, STR("b\nc"), 12 } };
    for (int more = 0; more < 2; more++) {
        struct task_page p = { { items, 2 }, more }, back;
        struct strbuf sb;
        strbuf_init(&sb, a, 64);
        CHECK(task_page_codec.encode(&p, &sb) == TL_OK, "encode page");
        CHECK(task_page_codec.decode(strbuf_str(&sb), a, &back) == TL_OK && back.has_more == (bool)more &&
                  back.list.n == 2 && back.list.items[1].id == 5 && str_eq_c(back.list.items[1].name, "b\nc"),
              "page round trip (more %d)", more);
    }
    static const char *const bad[] = { "", "P1", "P1 2\nT2 0\n", "P1 1T2 0\n", "P2 0\nT2 0\n",
                                       "P1 0\nT2 1\n", "P1 0\n", "P1 01\nT2 0\n" };
    struct task_page back;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(task_page_codec.decode(str_c(bad[i]), a, &back) != TL_OK, "bad page %zu accepted", i);
}

int main(void)
{
    struct arena *a = arena_new(0);
    test_view_roundtrip(a);
    test_view_forged(a);
    test_task_list_codec(a);
    test_task_page_codec(a);
    arena_free(a);
    if (failures) {
        printf("%d failure(s)\n", failures);
        return 1;
    }
    printf("codecs: all cases pass\n");
    return 0;
}
