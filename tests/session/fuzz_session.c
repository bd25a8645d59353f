/*
 * tests/session/fuzz_session.c - libFuzzer target for what a session reads
 * from outside: the stored value (codec) and the cookie (parser/verifier).
 * First input byte picks the target; the rest is the input. Besides "no
 * crash, no sanitizer report" it asserts:
 *   - codec: whatever decodes re-encodes to exactly the same bytes;
 *   - cookie: whatever parses is 129 bytes of lowercase hex around a dot and
 *     prints back identically; nothing verifies without a key's real MAC.
 * Built only when meson's `fuzzing` is true (clang, -Dfuzz=true).
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/session.h"
#include "cache/session_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_codec(struct arena *a, struct str in)
{
    struct sess_data d;
    if (sess_codec_decode(in, 1000, a, &d) != TL_OK)
        return;
    struct str out;
    if (sess_codec_encode(&d, a, &out) != TL_OK || !str_eq(in, out))
        abort();
}

static void fuzz_cookie(struct arena *a, struct str in)
{
    unsigned char id[32], mac[32];
    if (sess_cookie_parse(in, id, mac)) {
        char hex[SESS_COOKIE_LEN];
        sess_id_hex(id, hex);
        hex[SESS_HEX_LEN] = '.';
        sess_id_hex(mac, hex + SESS_HEX_LEN + 1);
        if (in.len != SESS_COOKIE_LEN || memcmp(hex, in.p, SESS_COOKIE_LEN) != 0)
            abort();
    }
    int which = sess_cookie_verify_which(in, "fuzz-key", " old , ,fuzz-old,", id);
    if (which >= 0) {
        /* only possible if the input is the true cookie for that key */
        const char *key = which == 0 ? "fuzz-key" : which == 1 ? "old" : "fuzz-old";
        if (!str_eq(sess_cookie_sign(a, id, key), in))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct arena *a;
    if (!a) {
        if (sodium_init() < 0)
            abort();
        a = arena_new(0);
    }
    if (size == 0)
        return 0;
    /* a private copy, so reads past the end are caught by ASan */
    char *copy = malloc(size - 1 ? size - 1 : 1);
    memcpy(copy, data + 1, size - 1);
    struct str in = { copy, size - 1 };
    if (data[0] & 1)
        fuzz_cookie(a, in);
    else
        fuzz_codec(a, in);
    free(copy);
    arena_reset(a);
    return 0;
}
