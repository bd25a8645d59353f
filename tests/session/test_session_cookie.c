/*
 * tests/session/test_session_cookie.c - unit tests of the signed session cookie
 * (session_cookie.c): signing, strict parsing, tampering, truncation, wrong
 * key, fallback (old) keys, and the Set-Cookie values.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/session.h"
#include "cache/session_internal.h"

#include "../lib/check.h"



static const unsigned char test_id[32] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5, 0x16, 0x27, 0x38, 0x49, 0x5a, 0x6b, 0x7c, 0x8d, 0x9e, 0xff,
};

/* Known answer: HMAC-SHA256("k1", "session:" + hex(test_id)), computed with
 * Python's hmac module (independent of libsodium). */
static const char *const kat_cookie =
    "000102030405060708090a0b0c0d0e0fa0b1c2d3e4f5162738495a6b7c8d9eff."
    "b6d9dc52035ebf76872948b49fa9608aa0092525caa815502e442d0e4264b65a";

static void test_known_answer(struct arena *a)
{
    struct str c = sess_cookie_sign(a, test_id, "k1");
    CHECK(c.len == 129, "len %zu", c.len);
    CHECK(strlen(kat_cookie) == 129 && str_eq(c, str_c(kat_cookie)), "got %.*s", STR_FMT(c));
}

/* Mutations of a valid cookie, each must fail to verify. */
enum mut { MUT_NONE, MUT_FLIP_ID, MUT_FLIP_MAC, MUT_UPPER, MUT_TRUNC, MUT_EXTEND, MUT_DOT,
           MUT_SWAP_HALVES, MUT_NUL, MUT_SPACE, MUT_EMPTY };

static void test_verify_table(struct arena *a)
{
    static const struct {
        const char *sign_key;       /* key the cookie is made with */
        enum mut mut;
        const char *key, *fallbacks;    /* verification keys */
        int want;                   /* -1 invalid, 0 current, i fallback i */
    } cases[] = {
        { "k1", MUT_NONE, "k1", NULL, 0 },
        { "k1", MUT_NONE, "k1", "", 0 },
        { "k1", MUT_NONE, "k1", "old1,old2", 0 },
        { "k1", MUT_NONE, "k2", NULL, -1 },                 /* wrong key */
        { "k1", MUT_NONE, "k2", "k1", 1 },                  /* old key */
        { "k1", MUT_NONE, "k2", "old,k1", 2 },
        { "k1", MUT_NONE, "k2", " old , k1 ", 2 },          /* blanks trimmed */
        { "k1", MUT_NONE, "k2", ",,k1,", 3 },               /* empty entries skipped */
        { "k1", MUT_NONE, "k2", "old,k", -1 },              /* prefix of the key */
        { "k1", MUT_NONE, "k2", "k11", -1 },
        { "k1", MUT_NONE, "", NULL, -1 },
        { "k1", MUT_NONE, NULL, "k1", 1 },
        { "", MUT_NONE, "", "", -1 },                       /* empty key never verifies */
        { "", MUT_NONE, "k1", ",", -1 },
        { "k1", MUT_FLIP_ID, "k1", "k1", -1 },              /* tampered id */
        { "k1", MUT_FLIP_MAC, "k1", "k1", -1 },             /* tampered mac */
        { "k1", MUT_UPPER, "k1", NULL, -1 },                /* 'a' -> 'A' */
        { "k1", MUT_TRUNC, "k1", NULL, -1 },                /* truncated */
        { "k1", MUT_EXTEND, "k1", NULL, -1 },
        { "k1", MUT_DOT, "k1", NULL, -1 },
        { "k1", MUT_SWAP_HALVES, "k1", NULL, -1 },
        { "k1", MUT_NUL, "k1", NULL, -1 },
        { "k1", MUT_SPACE, "k1", NULL, -1 },
        { "k1", MUT_EMPTY, "k1", NULL, -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct str c = sess_cookie_sign(a, test_id, cases[i].sign_key);
        char buf[256];
        memcpy(buf, c.p, c.len);
        size_t len = c.len;
        switch (cases[i].mut) {
        case MUT_NONE: break;
        case MUT_FLIP_ID: buf[10] = buf[10] == '0' ? '1' : '0'; break;
        case MUT_FLIP_MAC: buf[128] = buf[128] == '0' ? '1' : '0'; break;
        case MUT_UPPER: buf[21] = 'A'; break;          /* test_id hex has 'a' at 21 */
        case MUT_TRUNC: len--; break;
        case MUT_EXTEND: buf[len++] = '0'; break;
        case MUT_DOT: buf[64] = ':'; break;
        case MUT_SWAP_HALVES:
            memmove(buf, c.p + 65, 64);
            memmove(buf + 65, c.p, 64);
            break;
        case MUT_NUL: buf[100] = '\0'; break;
        case MUT_SPACE: buf[0] = ' '; break;
        case MUT_EMPTY: len = 0; break;
        }
        unsigned char id[32] = { 0 };
        int got = sess_cookie_verify_which((struct str){ buf, len }, cases[i].key, cases[i].fallbacks, id);
        CHECK(got == cases[i].want, "case %zu (mut %d, key \"%s\", fallbacks \"%s\"): got %d want %d", i,
              (int)cases[i].mut, cases[i].key ? cases[i].key : "(null)",
              cases[i].fallbacks ? cases[i].fallbacks : "(null)", got, cases[i].want);
        bool ok = sess_cookie_verify((struct str){ buf, len }, cases[i].key, cases[i].fallbacks, id);
        CHECK(ok == (cases[i].want >= 0), "case %zu: bool form disagrees", i);
        if (cases[i].want >= 0)
            CHECK(memcmp(id, test_id, 32) == 0, "case %zu: id not returned", i);
    }
}

/* Every single-character change of a valid cookie is refused. */
static void test_every_byte_tamper(struct arena *a)
{
    struct str c = sess_cookie_sign(a, test_id, "secret");
    char buf[129];
    static const char repl[] = "0fFA.g :";
    for (size_t pos = 0; pos < c.len; pos++) {
        for (size_t r = 0; r < sizeof repl - 1; r++) {
            if (c.p[pos] == repl[r])
                continue;
            memcpy(buf, c.p, c.len);
            buf[pos] = repl[r];
            unsigned char id[32];
            CHECK(!sess_cookie_verify((struct str){ buf, c.len }, "secret", NULL, id),
                  "pos %zu replaced by '%c' verified", pos, repl[r]);
        }
    }
}

/* Strict parser: lengths and characters. */
static void test_parse_table(void)
{
    char good[130];
    memset(good, 'a', 64);
    good[64] = '.';
    memset(good + 65, '9', 64);
    good[129] = '\0';
    static const struct { int pos; char c; bool want; } cases[] = {
        { -1, 0, true }, { 0, 'g', false }, { 0, 'A', false }, { 63, 'F', false },
        { 64, 'a', false }, { 65, 'x', false }, { 128, '-', false }, { 128, 'f', true },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[130];
        memcpy(buf, good, sizeof buf);
        if (cases[i].pos >= 0)
            buf[cases[i].pos] = cases[i].c;
        unsigned char id[32], mac[32];
        bool got = sess_cookie_parse((struct str){ buf, 129 }, id, mac);
        CHECK(got == cases[i].want, "parse case %zu (%s)", i, buf);
    }
    static const size_t lens[] = { 0, 1, 64, 65, 128, 130, 200 };
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        char buf[256];
        memset(buf, 'a', sizeof buf);
        if (lens[i] > 64)
            buf[64] = '.';
        unsigned char id[32], mac[32];
        CHECK(!sess_cookie_parse((struct str){ buf, lens[i] }, id, mac), "length %zu accepted", lens[i]);
    }
}

static void test_headers(struct arena *a)
{
    struct str v = STR("VALUE");
    static const struct { bool secure; unsigned max_age; long long now; const char *want; } cases[] = {
        { false, 0, 0, "session=VALUE; Path=/; HttpOnly; SameSite=Lax" },
        { true, 0, 0, "session=VALUE; Path=/; HttpOnly; SameSite=Lax; Secure" },
        { false, 2678400, 1700000000,
          "session=VALUE; Path=/; HttpOnly; SameSite=Lax; Max-Age=2678400; Expires=Fri, 15 Dec 2023 22:13:20 GMT" },
        { true, 60, 0,
          "session=VALUE; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=60; Expires=Thu, 01 Jan 1970 00:01:00 GMT" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct str h = sess_cookie_header(a, v, cases[i].secure, cases[i].max_age, cases[i].now);
        CHECK(str_eq_c(h, cases[i].want), "header case %zu: got \"%.*s\"", i, STR_FMT(h));
    }
    CHECK(str_eq_c(sess_cookie_clear_header(false), "session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
          "clear header");
    CHECK(str_eq_c(sess_cookie_clear_header(true), "session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"),
          "clear header secure");
}

/* Random ids round-trip through sign and verify, and differ per key. */
static void test_random_roundtrip(struct arena *a)
{
    for (int i = 0; i < 200; i++) {
        unsigned char id[32], got[32];
        randombytes_buf(id, sizeof id);
        struct str c = sess_cookie_sign(a, id, "current");
        CHECK(sess_cookie_verify(c, "current", "a,b", got) && memcmp(id, got, 32) == 0, "round %d", i);
        struct str c2 = sess_cookie_sign(a, id, "other");
        CHECK(!str_eq(c, c2), "round %d: same mac for different keys", i);
        CHECK(sess_cookie_verify_which(c2, "current", "a,other", got) == 2, "round %d: fallback", i);
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    struct arena *a = arena_new(0);
    test_known_answer(a);
    test_verify_table(a);
    test_every_byte_tamper(a);
    test_parse_table();
    test_headers(a);
    test_random_roundtrip(a);
    arena_free(a);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
