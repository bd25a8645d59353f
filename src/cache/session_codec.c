/*
 * cache/session_codec.c - the stored form of a session ("TLS1").
 * Owns: encoding struct sess_data to bytes and validating bytes read back
 *   from memcached. Nothing read from the cache is trusted: decoding checks
 *   every length against the buffer and the limits, UTF-8 of keys, flash
 *   categories and messages, unique keys, and that nothing trails.
 *
 * Format (all integers unsigned big-endian, fixed width):
 *   magic      4 bytes  "TLS1" (T-L-S-ession, version 1)
 *   expires_s  u64      absolute unix time after which the entry is dead, 0 = none
 *   n_vals     u16      0..SESS_VALS_MAX
 *     key_len  u16      1..SESS_KEY_MAX,     then the key (UTF-8, no NUL)
 *     val_len  u32      0..SESS_VALUE_MAX,   then the value (any bytes)
 *   n_flashes  u16      0..SESS_FLASH_MAX
 *     cat_len  u16      0..SESS_CATEGORY_MAX, then the category (UTF-8, no NUL)
 *     msg_len  u32      0..SESS_MESSAGE_MAX,  then the message (UTF-8, no NUL)
 *   end of buffer (trailing bytes are an error)
 * Rejected alternatives: JSON (jansson) would need escaping, a parser
 *   allocation per node and gives nothing over counted fields here; pickle-like
 *   formats are what the issue forbids. A new layout gets a new magic
 *   ("TLS2"); an old worker then sees an unknown magic and treats it as no
 *   session, which only logs the user out.
 * Context: worker only; pure functions.
 */
#include "session_internal.h"

#include <string.h>

#define SESS_MAGIC "TLS1"
#define SESS_MAGIC_LEN 4

struct sess_reader {
    const unsigned char *p;
    size_t left;
};

static bool sess_read_uint(struct sess_reader *r, size_t width, uint64_t *out);
static bool sess_read_bytes(struct sess_reader *r, size_t width, size_t max, struct str *out);
static unsigned char *sess_put_uint(unsigned char *p, size_t width, uint64_t v);
static unsigned char *sess_put_str(unsigned char *p, size_t width, struct str s);
static bool sess_is_utf8_text(struct str s);
static bool sess_data_ok(const struct sess_data *d);

bool sess_codec_key_ok(struct str key)
{
    return key.len >= 1 && key.len <= SESS_KEY_MAX && sess_is_utf8_text(key);
}

bool sess_codec_value_ok(struct str value)
{
    return value.len <= SESS_VALUE_MAX;
}

bool sess_codec_flash_ok(struct str category, struct str message)
{
    return category.len <= SESS_CATEGORY_MAX && sess_is_utf8_text(category) &&
           message.len <= SESS_MESSAGE_MAX && sess_is_utf8_text(message);
}

enum tl_err sess_codec_encode(const struct sess_data *d, struct arena *a, struct str *out)
{
    if (!sess_data_ok(d))
        return TL_EINVAL;
    /* Bounded by the limits (64 * (2 + 256 + 4 + 64 KiB) + ...), so no overflow. */
    size_t size = SESS_MAGIC_LEN + 8 + 2 + 2;
    for (size_t i = 0; i < d->n_vals; i++)
        size += 2 + d->keys[i].len + 4 + d->vals[i].len;
    for (size_t i = 0; i < d->n_flashes; i++)
        size += 2 + d->categories[i].len + 4 + d->messages[i].len;
    unsigned char *buf = arena_alloc(a, size), *p = buf;
    if (!buf)
        return TL_ENOMEM;
    memcpy(p, SESS_MAGIC, SESS_MAGIC_LEN);
    p = sess_put_uint(p + SESS_MAGIC_LEN, 8, d->expires_s);
    p = sess_put_uint(p, 2, d->n_vals);
    for (size_t i = 0; i < d->n_vals; i++) {
        p = sess_put_str(p, 2, d->keys[i]);
        p = sess_put_str(p, 4, d->vals[i]);
    }
    p = sess_put_uint(p, 2, d->n_flashes);
    for (size_t i = 0; i < d->n_flashes; i++) {
        p = sess_put_str(p, 2, d->categories[i]);
        p = sess_put_str(p, 4, d->messages[i]);
    }
    *out = (struct str){ (const char *)buf, (size_t)(p - buf) };
    return TL_OK;
}

enum tl_err sess_codec_decode(struct str in, uint64_t now_s, struct arena *a, struct sess_data *d)
{
    struct sess_reader r = { (const unsigned char *)in.p, in.len };
    uint64_t n;
    memset(d, 0, sizeof *d);
    if (in.len < SESS_MAGIC_LEN || memcmp(in.p, SESS_MAGIC, SESS_MAGIC_LEN) != 0)
        return TL_EPARSE;
    r.p += SESS_MAGIC_LEN;
    r.left -= SESS_MAGIC_LEN;
    if (!sess_read_uint(&r, 8, &d->expires_s) || !sess_read_uint(&r, 2, &n) || n > SESS_VALS_MAX)
        return TL_EPARSE;
    d->n_vals = d->vals_cap = n;
    d->keys = arena_alloc(a, (n ? n : 1) * sizeof *d->keys);
    d->vals = arena_alloc(a, (n ? n : 1) * sizeof *d->vals);
    if (!d->keys || !d->vals)
        return TL_ENOMEM;
    for (size_t i = 0; i < d->n_vals; i++) {
        if (!sess_read_bytes(&r, 2, SESS_KEY_MAX, &d->keys[i]) ||
            !sess_read_bytes(&r, 4, SESS_VALUE_MAX, &d->vals[i]))
            return TL_EPARSE;
    }
    if (!sess_read_uint(&r, 2, &n) || n > SESS_FLASH_MAX)
        return TL_EPARSE;
    d->n_flashes = d->flashes_cap = n;
    d->categories = arena_alloc(a, (n ? n : 1) * sizeof *d->categories);
    d->messages = arena_alloc(a, (n ? n : 1) * sizeof *d->messages);
    if (!d->categories || !d->messages)
        return TL_ENOMEM;
    for (size_t i = 0; i < d->n_flashes; i++) {
        if (!sess_read_bytes(&r, 2, SESS_CATEGORY_MAX, &d->categories[i]) ||
            !sess_read_bytes(&r, 4, SESS_MESSAGE_MAX, &d->messages[i]))
            return TL_EPARSE;
    }
    if (r.left != 0 || !sess_data_ok(d))
        return TL_EPARSE;
    if (d->expires_s != 0 && d->expires_s <= now_s)
        return TL_ENOTFOUND;
    return TL_OK;
}

/* Limits, UTF-8 and unique keys: what both directions insist on. Keys are
 * compared pairwise; with at most SESS_VALS_MAX keys that is cheap. */
static bool sess_data_ok(const struct sess_data *d)
{
    if (d->n_vals > SESS_VALS_MAX || d->n_flashes > SESS_FLASH_MAX)
        return false;
    for (size_t i = 0; i < d->n_vals; i++) {
        if (!sess_codec_key_ok(d->keys[i]) || !sess_codec_value_ok(d->vals[i]))
            return false;
        for (size_t k = 0; k < i; k++)
            if (str_eq(d->keys[i], d->keys[k]))
                return false;
    }
    for (size_t i = 0; i < d->n_flashes; i++)
        if (!sess_codec_flash_ok(d->categories[i], d->messages[i]))
            return false;
    return true;
}

static bool sess_is_utf8_text(struct str s)
{
    return s.len == 0 || str_is_valid_utf8(s);
}

static bool sess_read_uint(struct sess_reader *r, size_t width, uint64_t *out)
{
    if (r->left < width)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < width; i++)
        v = (v << 8) | r->p[i];
    r->p += width;
    r->left -= width;
    *out = v;
    return true;
}

/* A length of width bytes, at most max, then that many bytes (borrowed). */
static bool sess_read_bytes(struct sess_reader *r, size_t width, size_t max, struct str *out)
{
    uint64_t len;
    if (!sess_read_uint(r, width, &len) || len > max || len > r->left)
        return false;
    *out = (struct str){ (const char *)r->p, (size_t)len };
    r->p += len;
    r->left -= len;
    return true;
}

static unsigned char *sess_put_uint(unsigned char *p, size_t width, uint64_t v)
{
    for (size_t i = width; i-- > 0; v >>= 8)
        p[i] = (unsigned char)(v & 0xff);
    return p + width;
}

static unsigned char *sess_put_str(unsigned char *p, size_t width, struct str s)
{
    p = sess_put_uint(p, width, s.len);
    if (s.len)
        memcpy(p, s.p, s.len);
    return p + s.len;
}
