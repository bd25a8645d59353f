/*
 * cache/session_internal.h - declarations shared by session.c,
 *   session_cookie.c and session_codec.c (and their tests). Not included from
 *   outside src/cache and tests/session.
 * Owns: the limits of a stored session, struct sess_data (the decoded value),
 *   the codec and the cookie helpers below the public session.h API.
 * Context: worker only.
 */
#ifndef TASKLIST_CACHE_SESSION_INTERNAL_H
#define TASKLIST_CACHE_SESSION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"
#include "../base/arena.h"
#include "../base/str.h"

#define SESS_ID_LEN 32                          /* random bytes of an id */
#define SESS_HEX_LEN (2 * SESS_ID_LEN)          /* 64 lowercase hex chars */
#define SESS_COOKIE_LEN (2 * SESS_HEX_LEN + 1)  /* "<hex id>.<hex mac>" */

/* Bounds of one stored session. Encoding refuses and decoding rejects
 * anything outside them, so a stored value is always small and sane. */
#define SESS_VALS_MAX 64            /* key/value pairs */
#define SESS_KEY_MAX 256            /* bytes of a key: 1..256, UTF-8 */
#define SESS_VALUE_MAX 65536        /* bytes of a value: 0..64 KiB, any bytes */
#define SESS_FLASH_MAX 32           /* pending flash messages */
#define SESS_CATEGORY_MAX 64        /* bytes of a category: 0..64, UTF-8 */
#define SESS_MESSAGE_MAX 4096       /* bytes of a message: 0..4 KiB, UTF-8 */

/* The content of a session. Arrays and strings live in an arena (or point
 * into the buffer they were decoded from). */
struct sess_data {
    uint64_t expires_s;             /* absolute unix time; 0 = no expiry */
    size_t n_vals, vals_cap;
    struct str *keys, *vals;
    size_t n_flashes, flashes_cap;
    struct str *categories, *messages;
};

/* --- codec (session_codec.c) ------------------------------------------- */

/* Serialise d into the arena ("TLS1" format, see session_codec.c).
 * TL_EINVAL when d breaks a limit above (nothing is written then), TL_ENOMEM.
 * Encoding is canonical: decode(encode(d)) gives d back, and a buffer that
 * decodes re-encodes to the same bytes. */
enum tl_err sess_codec_encode(const struct sess_data *d, struct arena *a, struct str *out);

/* Parse and validate in. TL_OK with d filled (strings point into in, arrays in
 * a); TL_EPARSE for anything malformed (bad magic or version, a length past
 * the end, trailing bytes, counts or lengths over the limits, invalid UTF-8,
 * an empty or duplicate key); TL_ENOTFOUND when it has expired (expires_s <=
 * now_s); TL_ENOMEM. d is unspecified on failure. */
enum tl_err sess_codec_decode(struct str in, uint64_t now_s, struct arena *a, struct sess_data *d);

/* Validity checks the codec applies, used by sess_set/sess_flash to refuse
 * what could not be stored. */
bool sess_codec_key_ok(struct str key);
bool sess_codec_value_ok(struct str value);
bool sess_codec_flash_ok(struct str category, struct str message);

/* --- cookie (session_cookie.c) ------------------------------------------ */

/* Strict split of "<64 lowercase hex>.<64 lowercase hex>" into id and mac.
 * false for any other length or character (uppercase hex included). */
bool sess_cookie_parse(struct str cookie, unsigned char id[SESS_ID_LEN],
                       unsigned char mac[SESS_ID_LEN]);

/* mac = HMAC-SHA256(key, "session:" + hex(id)). */
void sess_cookie_mac(const unsigned char id[SESS_ID_LEN], struct str key,
                     unsigned char mac[SESS_ID_LEN]);

/* Like sess_cookie_verify, but tells which key matched: 0 = key, i >= 1 = the
 * i-th fallback; -1 = invalid. Empty keys (and empty list entries) never
 * match; fallback entries are trimmed of surrounding blanks. */
int sess_cookie_verify_which(struct str cookie, const char *key, const char *fallbacks,
                             unsigned char id[SESS_ID_LEN]);

/* Lowercase hex of the id into out[SESS_HEX_LEN] (no NUL). */
void sess_id_hex(const unsigned char id[SESS_ID_LEN], char out[SESS_HEX_LEN]);

/* The Set-Cookie value that stores cookie_value (in the arena):
 * "session=<v>; Path=/; HttpOnly; SameSite=Lax[; Secure][; Max-Age=N; Expires=<date>]"
 * where Max-Age/Expires appear when max_age_s > 0, computed from now_s. */
struct str sess_cookie_header(struct arena *a, struct str cookie_value, bool is_secure,
                              unsigned max_age_s, int64_t now_s);

/* The Set-Cookie value that clears the cookie. */
struct str sess_cookie_clear_header(bool is_secure);

#endif
