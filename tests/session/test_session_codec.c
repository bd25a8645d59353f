/*
 * tests/session/test_session_codec.c - unit tests of the "TLS1" session codec
 * (session_codec.c): a table of valid and invalid stored values, canonical
 * round trips, every truncation of a valid value, limits, expiry.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/session_internal.h"

#include "../lib/check.h"



#define BYTES(lit) { lit, sizeof(lit) - 1 }
#define NOW 1000u

/* expires_s big-endian: 0 or 2000 (0x7d0) */
#define EXP0 "\0\0\0\0\0\0\0\0"
#define EXP2000 "\0\0\0\0\0\0\x07\xd0"

static const struct {
    struct { const char *p; size_t len; } in;
    enum tl_err want;
    size_t n_vals, n_flashes;
} cases[] = {
    /* valid */
    { BYTES("TLS1" EXP0 "\0\0" "\0\0"), TL_OK, 0, 0 },
    { BYTES("TLS1" EXP2000 "\0\0" "\0\0"), TL_OK, 0, 0 },
    { BYTES("TLS1" EXP0 "\0\1" "\0\1k" "\0\0\0\1v" "\0\0"), TL_OK, 1, 0 },
    { BYTES("TLS1" EXP0 "\0\1" "\0\1k" "\0\0\0\0" "\0\0"), TL_OK, 1, 0 },          /* empty value */
    { BYTES("TLS1" EXP0 "\0\1" "\0\1k" "\0\0\0\2\xff\0" "\0\0"), TL_OK, 1, 0 },    /* binary value */
    { BYTES("TLS1" EXP0 "\0\0" "\0\1" "\0\7message" "\0\0\0\2hi"), TL_OK, 0, 1 },
    { BYTES("TLS1" EXP0 "\0\0" "\0\1" "\0\0" "\0\0\0\0"), TL_OK, 0, 1 },           /* empty flash */
    { BYTES("TLS1" EXP0 "\0\2" "\0\1a" "\0\0\0\1x" "\0\2\xc3\xa9" "\0\0\0\0"
            "\0\2" "\0\1e" "\0\0\0\3\xe2\x82\xac" "\0\1i" "\0\0\0\1!"), TL_OK, 2, 2 },
    /* expired: no session */
    { BYTES("TLS1" "\0\0\0\0\0\0\0\1" "\0\0" "\0\0"), TL_ENOTFOUND, 0, 0 },
    { BYTES("TLS1" "\0\0\0\0\0\0\x03\xe8" "\0\0" "\0\0"), TL_ENOTFOUND, 0, 0 },    /* == now */
    /* malformed */
    { BYTES(""), TL_EPARSE, 0, 0 },
    { BYTES("TLS"), TL_EPARSE, 0, 0 },
    { BYTES("TLS2" EXP0 "\0\0" "\0\0"), TL_EPARSE, 0, 0 },                         /* unknown version */
    { BYTES("tls1" EXP0 "\0\0" "\0\0"), TL_EPARSE, 0, 0 },
    { BYTES("\x80\x04\x95" "pickle"), TL_EPARSE, 0, 0 },
    { BYTES("TLS1" EXP0 "\0\0" "\0\0" "x"), TL_EPARSE, 0, 0 },                     /* trailing byte */
    { BYTES("TLS1" EXP0 "\0\0" "\0"), TL_EPARSE, 0, 0 },                           /* short count */
    { BYTES("TLS1" EXP0 "\0\1" "\0\0" "\0\0\0\0" "\0\0"), TL_EPARSE, 0, 0 },       /* empty key */
    { BYTES("TLS1" EXP0 "\0\1" "\0\2k" "\0\0\0\0" "\0\0"), TL_EPARSE, 0, 0 },      /* key past end */
    { BYTES("TLS1" EXP0 "\0\1" "\0\1k" "\xff\xff\xff\xff" "\0\0"), TL_EPARSE, 0, 0 },  /* huge value */
    { BYTES("TLS1" EXP0 "\0\1" "\0\1k" "\0\1\0\1x" "\0\0"), TL_EPARSE, 0, 0 },     /* value > max */
    { BYTES("TLS1" EXP0 "\0\2" "\0\1k" "\0\0\0\0" "\0\1k" "\0\0\0\0" "\0\0"), TL_EPARSE, 0, 0 },  /* dup key */
    { BYTES("TLS1" EXP0 "\0\1" "\0\1\xff" "\0\0\0\0" "\0\0"), TL_EPARSE, 0, 0 },   /* key not UTF-8 */
    { BYTES("TLS1" EXP0 "\0\1" "\0\1\0" "\0\0\0\0" "\0\0"), TL_EPARSE, 0, 0 },     /* NUL in key */
    { BYTES("TLS1" EXP0 "\0\1" "\0\2\xc0\xaf" "\0\0\0\0" "\0\0"), TL_EPARSE, 0, 0 },  /* overlong */
    { BYTES("TLS1" EXP0 "\0\x41" "\0\0"), TL_EPARSE, 0, 0 },                       /* 65 values */
    { BYTES("TLS1" EXP0 "\xff\xff" "\0\0"), TL_EPARSE, 0, 0 },
    { BYTES("TLS1" EXP0 "\0\0" "\0\x21"), TL_EPARSE, 0, 0 },                       /* 33 flashes */
    { BYTES("TLS1" EXP0 "\0\0" "\0\1" "\0\1\xfe" "\0\0\0\0"), TL_EPARSE, 0, 0 },   /* category not UTF-8 */
    { BYTES("TLS1" EXP0 "\0\0" "\0\1" "\0\0" "\0\0\0\2\xed\xa0"), TL_EPARSE, 0, 0 },  /* bad message */
    { BYTES("TLS1" EXP0 "\0\0" "\0\1" "\0\0" "\0\0\0\1\0"), TL_EPARSE, 0, 0 },     /* NUL in message */
    { BYTES("TLS1" EXP0 "\0\0" "\0\1" "\0\x41" "x"), TL_EPARSE, 0, 0 },            /* category > 64 */
    { BYTES("TLS1" EXP0 "\0\0" "\0\1" "\0\0" "\0\0\x10\x01" "x"), TL_EPARSE, 0, 0 },  /* message > 4096 */
    { BYTES("TLS1" EXP0 "\0\0" "\0\1" "\0\0" "\0\0\0\5abc"), TL_EPARSE, 0, 0 },    /* message past end */
};

static void test_table(struct arena *a)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct str in = { cases[i].in.p, cases[i].in.len };
        struct sess_data d;
        enum tl_err e = sess_codec_decode(in, NOW, a, &d);
        CHECK(e == cases[i].want, "case %zu (%zu bytes): got %s want %s", i, in.len, tl_strerror(e),
              tl_strerror(cases[i].want));
        if (e != TL_OK)
            continue;
        CHECK(d.n_vals == cases[i].n_vals && d.n_flashes == cases[i].n_flashes,
              "case %zu: %zu vals %zu flashes", i, d.n_vals, d.n_flashes);
        /* canonical: re-encoding gives the same bytes */
        struct str out;
        CHECK(sess_codec_encode(&d, a, &out) == TL_OK && str_eq(in, out), "case %zu: re-encode differs", i);
        /* every strict prefix is refused */
        for (size_t n = 0; n < in.len; n++) {
            struct sess_data d2;
            CHECK(sess_codec_decode((struct str){ in.p, n }, NOW, a, &d2) == TL_EPARSE,
                  "case %zu: prefix of %zu bytes accepted", i, n);
        }
    }
}

static void test_roundtrip(struct arena *a)
{
    struct str keys[3] = { STR("user_id"), STR("theme"), STR("\xc3\xa9t\xc3\xa9") };
    struct str vals[3] = { STR("42"), { "\0\1\2", 3 }, STR("") };
    struct str cats[2] = { STR("message"), STR("error") };
    struct str msgs[2] = { STR("Task added"), STR("<b>&amp;</b> \xe2\x9c\x93") };
    struct sess_data d = { .expires_s = 5000, .n_vals = 3, .vals_cap = 3, .keys = keys, .vals = vals,
                           .n_flashes = 2, .flashes_cap = 2, .categories = cats, .messages = msgs };
    struct str enc;
    CHECK(sess_codec_encode(&d, a, &enc) == TL_OK, "encode");
    struct sess_data g;
    CHECK(sess_codec_decode(enc, NOW, a, &g) == TL_OK, "decode");
    CHECK(g.expires_s == 5000 && g.n_vals == 3 && g.n_flashes == 2, "shape");
    for (size_t i = 0; i < 3 && g.n_vals == 3; i++)
        CHECK(str_eq(g.keys[i], keys[i]) && str_eq(g.vals[i], vals[i]), "value %zu", i);
    for (size_t i = 0; i < 2 && g.n_flashes == 2; i++)
        CHECK(str_eq(g.categories[i], cats[i]) && str_eq(g.messages[i], msgs[i]), "flash %zu", i);
    /* expiry in the past of a later clock */
    CHECK(sess_codec_decode(enc, 5000, a, &g) == TL_ENOTFOUND, "expired at 5000");
    /* single-byte corruption never crashes and never yields a different valid session silently
     * with broken UTF-8; here we only require no crash and a defined code */
    for (size_t pos = 0; pos < enc.len; pos++) {
        char *buf = arena_strndup(a, enc.p, enc.len);
        buf[pos] ^= 0x80;
        enum tl_err e = sess_codec_decode((struct str){ buf, enc.len }, NOW, a, &g);
        CHECK(e == TL_OK || e == TL_EPARSE || e == TL_ENOTFOUND, "pos %zu: %s", pos, tl_strerror(e));
        if (e == TL_OK) {   /* then it must still be canonical */
            struct str re;
            CHECK(sess_codec_encode(&g, a, &re) == TL_OK && str_eq(re, (struct str){ buf, enc.len }),
                  "pos %zu: accepted but not canonical", pos);
        }
    }
}

/* Encoding refuses what decoding would reject, at the exact limits. */
static void test_limits(struct arena *a)
{
    static char big[SESS_VALUE_MAX + 2];
    memset(big, 'x', sizeof big);
    static const struct { size_t key_len, val_len, cat_len, msg_len; enum tl_err want; } lim[] = {
        { SESS_KEY_MAX, SESS_VALUE_MAX, SESS_CATEGORY_MAX, SESS_MESSAGE_MAX, TL_OK },
        { SESS_KEY_MAX + 1, 1, 1, 1, TL_EINVAL },
        { 1, SESS_VALUE_MAX + 1, 1, 1, TL_EINVAL },
        { 1, 1, SESS_CATEGORY_MAX + 1, 1, TL_EINVAL },
        { 1, 1, 1, SESS_MESSAGE_MAX + 1, TL_EINVAL },
        { 0, 1, 1, 1, TL_EINVAL },
    };
    for (size_t i = 0; i < sizeof lim / sizeof *lim; i++) {
        struct str k = { big, lim[i].key_len }, v = { big, lim[i].val_len };
        struct str c = { big, lim[i].cat_len }, m = { big, lim[i].msg_len };
        struct sess_data d = { 0, 1, 1, &k, &v, 1, 1, &c, &m };
        struct str out;
        enum tl_err e = sess_codec_encode(&d, a, &out);
        CHECK(e == lim[i].want, "limit case %zu: %s", i, tl_strerror(e));
        if (e == TL_OK) {
            struct sess_data g;
            CHECK(sess_codec_decode(out, NOW, a, &g) == TL_OK, "limit case %zu: decode", i);
        }
    }
    /* counts */
    struct str keys[SESS_VALS_MAX + 1], vals[SESS_VALS_MAX + 1];
    char names[SESS_VALS_MAX + 1][8];
    for (size_t i = 0; i <= SESS_VALS_MAX; i++) {
        snprintf(names[i], sizeof names[i], "k%zu", i);
        keys[i] = str_c(names[i]);
        vals[i] = STR("v");
    }
    struct sess_data d = { .n_vals = SESS_VALS_MAX, .keys = keys, .vals = vals };
    struct str out;
    CHECK(sess_codec_encode(&d, a, &out) == TL_OK, "64 values");
    d.n_vals = SESS_VALS_MAX + 1;
    CHECK(sess_codec_encode(&d, a, &out) == TL_EINVAL, "65 values");
    keys[1] = keys[0];
    d.n_vals = 2;
    CHECK(sess_codec_encode(&d, a, &out) == TL_EINVAL, "duplicate key");
}

int main(void)
{
    struct arena *a = arena_new(0);
    test_table(a);
    test_roundtrip(a);
    test_limits(a);
    arena_free(a);
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
