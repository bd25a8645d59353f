/*
 * cache/client_keys.c - the key rules of DESIGN.md section 5 and the server list.
 * Owns: full-key building (prefix, 250-byte limit, unsafe keys replaced by
 *   prefix + hex SHA-256 of the key) and splitting cache_servers into items
 *   (each item is parsed by base/hostport.h).
 * Invariants: a full key is never longer than CACHE_KEY_MAX and never holds a
 *   space, control byte or DEL, whatever the caller passed; no key is ever
 *   rejected. Pure functions, any process.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

static bool cache_key_byte_is_unsafe(unsigned char c)
{
    /* The ASCII protocol splits on these; MemCachier's proxy does too. Bytes
     * >= 0x80 (UTF-8) are allowed by memcached and kept. */
    return c <= 0x20 || c == 0x7f;
}

bool cache_key_is_safe(struct str prefix, struct str key)
{
    if (prefix.len + key.len > CACHE_KEY_MAX)
        return false;
    for (size_t i = 0; i < key.len; i++)
        if (cache_key_byte_is_unsafe((unsigned char)key.p[i]))
            return false;
    for (size_t i = 0; i < prefix.len; i++)
        if (cache_key_byte_is_unsafe((unsigned char)prefix.p[i]))
            return false;
    return true;
}

size_t cache_key_build(struct str prefix, struct str key, char out[CACHE_KEY_MAX + 1])
{
    static const char hex[] = "0123456789abcdef";
    if (prefix.len > 64)
        prefix.len = 64; /* config keeps it shorter; never overflow out */
    memcpy(out, prefix.p, prefix.len);
    if (cache_key_is_safe(prefix, key)) {
        if (key.len)
            memcpy(out + prefix.len, key.p, key.len);
        out[prefix.len + key.len] = '\0';
        return prefix.len + key.len;
    }
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)(key.p ? key.p : ""), key.len);
    size_t n = prefix.len;
    for (size_t i = 0; i < sizeof digest; i++) {
        out[n++] = hex[digest[i] >> 4];
        out[n++] = hex[digest[i] & 15];
    }
    out[n] = '\0';
    return n;
}

struct str cache_full_key(const struct cache *cc, struct str key, struct arena *a)
{
    char buf[CACHE_KEY_MAX + 1];
    size_t n = cache_key_build(cache_prefix_of(cc), key, buf);
    char *p = arena_strndup(a, buf, n);
    return p ? (struct str){ p, n } : STR_NULL;
}

/* One "host[:port]" or "[v6][:port]" item of the server list (base/hostport.h;
 * port 11211 when absent). 0, or -1 with err naming the problem and the item. */
static int cache_server_parse_one(const char *item, size_t len, struct cache_server *out, char *err,
                                  size_t err_len)
{
    struct hostport hp;
    enum hostport_problem p = hostport_parse(item, len, CACHE_DEFAULT_PORT, 0, &hp);
    if (p != HOSTPORT_OK) {
        snprintf(err, err_len, "%s in \"%.*s\"", hostport_problem_text(p), (int)len, item);
        return -1;
    }
    memcpy(out->host, hp.host, sizeof out->host);
    out->port = hp.port;
    return 0;
}

int cache_servers_parse(const char *spec, struct cache_server *out, size_t out_cap, char *err,
                        size_t err_len)
{
    int n = 0;
    const char *p = spec;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        if (last > p) {
            if ((size_t)n == out_cap) {
                snprintf(err, err_len, "more than %zu servers", out_cap);
                return -1;
            }
            if (cache_server_parse_one(p, (size_t)(last - p), &out[n], err, err_len) < 0)
                return -1;
            n++;
        }
        p = *end ? end + 1 : end;
    }
    return n;
}
