/*
 * cache/session_cookie.c - the signed session cookie.
 * Owns: the cookie value "<hex id>.<hex mac>" (64 + 1 + 64 lowercase hex
 *   chars), mac = HMAC-SHA256(key = SECRET_KEY, msg = "session:" + hex id)
 *   via libsodium, its strict parsing, constant-time verification against
 *   the current key and the fallback (old) keys, and the Set-Cookie values.
 * Invariants: a cookie is accepted only when every byte is as the signer
 *   would have written it (sodium_hex2bin ignores case, so characters are
 *   checked here: a tampered 'a' -> 'A' must not verify). The MAC covers the
 *   "session:" prefix so a MAC made for another purpose with the same key
 *   cannot be replayed as a session cookie.
 * Context: worker only; pure functions apart from libsodium.
 */
#include "session.h"
#include "session_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SESS_MAC_PREFIX "session:"

static bool sess_hex_decode(const char *p, unsigned char *out, size_t n);
static struct str sess_next_key(const char **cursor);
static bool sess_mac_matches(const unsigned char id[SESS_ID_LEN], const unsigned char mac[SESS_ID_LEN],
                             struct str key);

static const char sess_hex_digits[] = "0123456789abcdef";
static const char *const sess_wday[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const sess_month[12] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

void sess_id_hex(const unsigned char id[SESS_ID_LEN], char out[SESS_HEX_LEN])
{
    for (size_t i = 0; i < SESS_ID_LEN; i++) {
        out[2 * i] = sess_hex_digits[id[i] >> 4];
        out[2 * i + 1] = sess_hex_digits[id[i] & 15];
    }
}

void sess_cookie_mac(const unsigned char id[SESS_ID_LEN], struct str key,
                     unsigned char mac[SESS_ID_LEN])
{
    char msg[sizeof SESS_MAC_PREFIX - 1 + SESS_HEX_LEN];
    memcpy(msg, SESS_MAC_PREFIX, sizeof SESS_MAC_PREFIX - 1);
    sess_id_hex(id, msg + sizeof SESS_MAC_PREFIX - 1);
    crypto_auth_hmacsha256_state st;
    /* HMAC accepts keys of any length (long ones are hashed first). */
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)key.p, key.len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, sizeof msg);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
}

struct str sess_cookie_sign(struct arena *a, const unsigned char id[32], const char *key)
{
    char *p = arena_alloc(a, SESS_COOKIE_LEN + 1);
    if (!p)
        return STR_NULL;
    unsigned char mac[SESS_ID_LEN];
    sess_cookie_mac(id, str_c(key), mac);
    sess_id_hex(id, p);
    p[SESS_HEX_LEN] = '.';
    sess_id_hex(mac, p + SESS_HEX_LEN + 1);
    p[SESS_COOKIE_LEN] = '\0';
    return (struct str){ p, SESS_COOKIE_LEN };
}

bool sess_cookie_parse(struct str cookie, unsigned char id[SESS_ID_LEN],
                       unsigned char mac[SESS_ID_LEN])
{
    if (cookie.len != SESS_COOKIE_LEN || cookie.p[SESS_HEX_LEN] != '.')
        return false;
    return sess_hex_decode(cookie.p, id, SESS_ID_LEN) &&
           sess_hex_decode(cookie.p + SESS_HEX_LEN + 1, mac, SESS_ID_LEN);
}

int sess_cookie_verify_which(struct str cookie, const char *key, const char *fallbacks,
                             unsigned char id[SESS_ID_LEN])
{
    unsigned char got_id[SESS_ID_LEN], mac[SESS_ID_LEN];
    if (!sess_cookie_parse(cookie, got_id, mac))
        return -1;
    int which = -1;
    if (key && sess_mac_matches(got_id, mac, str_c(key)))
        which = 0;
    /* Every key is tried even after a match, so the time taken depends only
     * on the number of configured keys, never on which one matched. */
    const char *cursor = fallbacks;
    for (int i = 1; cursor && *cursor; i++) {
        struct str k = sess_next_key(&cursor);
        if (sess_mac_matches(got_id, mac, k) && which < 0)
            which = i;
    }
    if (which >= 0)
        memcpy(id, got_id, SESS_ID_LEN);
    return which;
}

bool sess_cookie_verify(struct str cookie, const char *key, const char *fallbacks,
                        unsigned char id[32])
{
    return sess_cookie_verify_which(cookie, key, fallbacks, id) >= 0;
}

struct str sess_cookie_header(struct arena *a, struct str cookie_value, bool is_secure,
                              unsigned max_age_s, int64_t now_s)
{
    char expires[64] = "";
    if (max_age_s > 0) {
        time_t t = (time_t)(now_s + (int64_t)max_age_s);
        struct tm tm;
        if (!gmtime_r(&t, &tm))
            return STR_NULL;
        /* Fixed English names: strftime's %a/%b follow the locale. */
        snprintf(expires, sizeof expires, "; Max-Age=%u; Expires=%s, %02d %s %04d %02d:%02d:%02d GMT",
                 max_age_s, sess_wday[tm.tm_wday], tm.tm_mday, sess_month[tm.tm_mon],
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
    char *p = arena_printf(a, "session=%.*s; Path=/; HttpOnly; SameSite=Lax%s%s",
                           STR_FMT(cookie_value), is_secure ? "; Secure" : "", expires);
    return p ? str_c(p) : STR_NULL;
}

struct str sess_cookie_clear_header(bool is_secure)
{
    return is_secure ? STR("session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure")
                     : STR("session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
}

/* Lowercase hex only, exactly 2n chars at p. */
static bool sess_hex_decode(const char *p, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (size_t k = 0; k < 2; k++) {
            char c = p[2 * i + k];
            if (c >= '0' && c <= '9')
                v = (v << 4) | (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v = (v << 4) | (unsigned)(c - 'a' + 10);
            else
                return false;
        }
        out[i] = (unsigned char)v;
    }
    return true;
}

/* Next comma-separated entry of a fallback list, blanks around it trimmed;
 * advances *cursor past the comma (to the NUL at the end). */
static struct str sess_next_key(const char **cursor)
{
    const char *p = *cursor, *end = strchr(p, ',');
    if (!end)
        end = p + strlen(p);
    *cursor = *end ? end + 1 : end;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    return (struct str){ p, (size_t)(end - p) };
}

/* An empty key never matches: it would make every cookie forgeable. */
static bool sess_mac_matches(const unsigned char id[SESS_ID_LEN], const unsigned char mac[SESS_ID_LEN],
                             struct str key)
{
    if (key.len == 0)
        return false;
    unsigned char want[SESS_ID_LEN];
    sess_cookie_mac(id, key, want);
    return crypto_verify_32(want, mac) == 0;
}
