/*
 * web/cached.c - runtime of the CACHED_VIEW / MEMOIZE / CACHED macros, over
 *   the cache client (cache/client.h, cache/tier.h) and the request and
 *   response of server/.
 * Owns: view and memo entry formats, the request's data version, stampede
 *   locks, ETag/304, invalidation helpers.
 * Why entries cannot be stale (docs/consistency.md): a request reads the
 *   data version from the database before any data; every entry it looks up
 *   or stores is keyed by that version and stamped with it. Every write
 *   moves the version in its own transaction (database triggers), so a
 *   request that starts after a write completed reads a newer version than
 *   any entry built before the write: those keys are never asked for again,
 *   whatever memcached did or missed. An entry built from data newer than
 *   its key's version only serves requests that overlapped that write.
 * Context: worker only.
 */
#include "cached.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base/log.h"
#include "../cache/client.h"
#include "../cache/tier.h"

#define CACHE_LOCK_TTL_S 10
#define CACHE_LOCK_WAIT_MS 500
#define CACHE_LOCK_POLL_MS 5

static struct cache *cached_client;
static struct tier *cached_tier;
static unsigned cached_default_timeout_s = 300;
static cache_version_fn cached_version_fn;
static void *cached_version_ctx;
/* The version the current request read (one request at a time per worker);
 * forgotten when the request's arena is reset. */
static bool cached_version_known;
static uint64_t cached_version;
static bool cached_honor_no_cache;
/* Set by cache_view_run for the duration of one request with no-cache. */
static bool cached_skip_lookups;

static unsigned cached_ttl(int timeout_s);
static bool cached_parse_u64(struct str s, uint64_t *out);
static struct str cached_view_key(const struct cache_view_spec *spec, const struct req *r,
                                  uint64_t version);
static struct str cached_with_version(struct arena *a, struct str key, uint64_t version);
static bool cached_arg_in_key(const struct cache_view_spec *spec, struct str name);
static bool cached_lookup_view(struct str key, uint64_t version, unsigned ttl, struct arena *a,
                               struct cache_view_entry *e, bool *reachable);
static enum tl_err cached_get(struct str key, unsigned ttl, struct arena *a, struct str *value);
static void cached_put(struct str key, struct str value, unsigned ttl);
static enum tl_err cached_serve_entry(const struct cache_view_entry *e, struct req *r, struct resp *w);
static struct str cached_etag(struct arena *a, struct str body);
static bool cached_etag_matches(const struct req *r, struct str etag);
static bool cached_wait_for_entry(struct str key, uint64_t version, unsigned ttl, struct arena *a,
                                  struct cache_view_entry *e);
static void cached_version_forget(void *unused);
static bool cached_view_storable(const struct cache_view_spec *spec, const struct resp *w);
static void cached_sleep_ms(unsigned ms);

void cache_bind(struct cache *cc, unsigned default_timeout_s, cache_version_fn version,
                void *version_ctx)
{
    cached_client = cc;
    cached_default_timeout_s = default_timeout_s;   /* 0 = never expire, as configured */
    cached_version_fn = version;
    cached_version_ctx = version_ctx;
    cached_version_known = false;
}

enum tl_err cache_data_version(struct arena *a, uint64_t *out)
{
    if (cached_version_known) {
        *out = cached_version;
        return TL_OK;
    }
    if (!cached_version_fn)
        return TL_EINVAL;
    uint64_t v;
    enum tl_err e = cached_version_fn(cached_version_ctx, &v);
    if (e != TL_OK)
        return e;
    /* Remembered only while the forget is registered: out of memory, the
     * next call simply reads again. */
    if (arena_on_reset(a, cached_version_forget, NULL) == 0) {
        cached_version = v;
        cached_version_known = true;
    }
    *out = v;
    return TL_OK;
}

static void cached_version_forget(void *unused)
{
    (void)unused;
    cached_version_known = false;
}

void cache_honor_no_cache(bool on)
{
    cached_honor_no_cache = on;
}

struct cache *cache_bound(void)
{
    return cached_client;
}

void cache_bind_tier(struct tier *t)
{
    cached_tier = t;
}

struct tier *cache_bound_tier(void)
{
    return cached_tier;
}

/* ---- view entries ------------------------------------------------------ */

void cache_view_entry_encode(const struct cache_view_entry *e, struct strbuf *out)
{
    strbuf_printf(out, "V2 %llu %d %zu %zu %zu %zu\n", (unsigned long long)e->version,
                  e->status, e->content_type.len, e->headers.len, e->etag.len, e->body.len);
    strbuf_append_str(out, e->content_type);
    strbuf_append_str(out, e->headers);
    strbuf_append_str(out, e->etag);
    strbuf_append_str(out, e->body);
}

/* Header lines must be "Name: value\r\n" with printable names and no bare
 * CR or LF, so a forged entry cannot split the response. */
static bool cached_headers_valid(struct str h)
{
    size_t i = 0;
    while (i < h.len) {
        size_t start = i;
        bool colon = false;
        for (; i < h.len && h.p[i] != '\r'; i++) {
            unsigned char c = (unsigned char)h.p[i];
            if (c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f)
                return false;
            if (c == ':' && i > start)
                colon = true;
        }
        if (!colon || i + 1 >= h.len || h.p[i + 1] != '\n')
            return false;
        i += 2;
    }
    return true;
}

static bool cached_printable(struct str s)
{
    for (size_t i = 0; i < s.len; i++)
        if ((unsigned char)s.p[i] < 0x20 || (unsigned char)s.p[i] >= 0x7f)
            return false;
    return true;
}

enum tl_err cache_view_entry_decode(struct str bytes, struct cache_view_entry *e)
{
    const char *nl = memchr(bytes.p, '\n', bytes.len < 128 ? bytes.len : 128);
    if (!nl || bytes.len < 3 || memcmp(bytes.p, "V2 ", 3) != 0)
        return TL_EPARSE;
    uint64_t f[6];
    struct str head = { bytes.p + 3, (size_t)(nl - bytes.p) - 3 };
    for (int k = 0; k < 6; k++) {
        const char *sp = memchr(head.p, ' ', head.len);
        struct str field = { head.p, sp ? (size_t)(sp - head.p) : head.len };
        if ((k < 5) != (sp != NULL) || !cached_parse_u64(field, &f[k]))
            return TL_EPARSE;
        if (sp) {
            head.len -= field.len + 1;
            head.p = sp + 1;
        }
    }
    size_t rest = bytes.len - (size_t)(nl + 1 - bytes.p);
    /* The small fields are bounded first, and the body length is compared
     * with what is left (not added): a forged length near 2^64 cannot wrap
     * the sum around to pass. */
    if (f[1] < 200 || f[1] > 599 || f[2] > 256 || f[3] > 8192 || f[4] > 128 || f[5] > rest ||
        f[2] + f[3] + f[4] != rest - f[5])
        return TL_EPARSE;
    const char *p = nl + 1;
    e->version = f[0];
    e->status = (int)f[1];
    e->content_type = (struct str){ p, f[2] };
    e->headers = (struct str){ p + f[2], f[3] };
    e->etag = (struct str){ p + f[2] + f[3], f[4] };
    e->body = (struct str){ p + f[2] + f[3] + f[4], f[5] };
    if (!cached_printable(e->content_type) || !cached_printable(e->etag) ||
        !cached_headers_valid(e->headers))
        return TL_EPARSE;
    return TL_OK;
}

/* ---- cached views ------------------------------------------------------ */

enum tl_err cache_view_run(const struct cache_view_spec *spec, struct req *r, struct resp *w,
                           cache_view_fn fn)
{
    struct cache *cc = cached_client;
    if (!cc || !cache_enabled(cc) || !(r->method & (HTTP_GET | HTTP_HEAD)) ||
        (spec->unless && spec->unless(r)))
        return fn(r, w);

    uint64_t version;
    enum tl_err err = cache_data_version(r->arena, &version);
    if (err != TL_OK)
        return err;   /* no version, nothing can be validated: the database is the problem */
    struct str key = cached_view_key(spec, r, version);
    if (!key.p)
        return TL_ENOMEM;   /* never a shorter key: that would be another page's */
    struct cache_view_entry e;
    bool skip = false, reachable = true;
    if (cached_honor_no_cache) {
        struct str cc_hdr = req_param(r, "HTTP_CACHE_CONTROL");
        skip = cc_hdr.len && memmem(cc_hdr.p, cc_hdr.len, "no-cache", 8);
    }
    unsigned ttl = cached_ttl(spec->timeout_s);
    if (!skip && cached_lookup_view(key, version, ttl, r->arena, &e, &reachable))
        return cached_serve_entry(&e, r, w);
    if (!reachable) {
        err = fn(r, w);
        resp_header(w, "X-Cache", STR("MISS"));
        return err;
    }

    /* Stampede lock: the first worker to miss computes; the others wait a
     * little for its entry rather than all hitting the database at once. */
    struct str lock = str_c(arena_printf(r->arena, "%.*s/lock", STR_FMT(key)));
    if (!lock.p)
        return TL_ENOMEM;
    bool have_lock = !skip && cache_add(cc, lock, STR("1"), CACHE_LOCK_TTL_S) == TL_OK;
    if (!have_lock && !skip && cached_wait_for_entry(key, version, ttl, r->arena, &e))
        return cached_serve_entry(&e, r, w);

    cached_skip_lookups = skip;   /* memoized calls inside fn recompute too */
    err = fn(r, w);
    cached_skip_lookups = false;
    struct str etag = STR_NULL;
    if (err == TL_OK && w->status == 200) {
        etag = cached_etag(r->arena, strbuf_str(&w->body));
        if (!etag.p)
            err = TL_ENOMEM;
    }
    if (err == TL_OK && w->status == 200) {
        if (cached_view_storable(spec, w)) {
            struct cache_view_entry ne = {
                .version = version, .status = w->status,
                .content_type = str_c(w->content_type ? w->content_type : "text/html; charset=utf-8"),
                .headers = strbuf_str(&w->headers), .etag = etag, .body = strbuf_str(&w->body),
            };
            struct strbuf sb;
            strbuf_init(&sb, r->arena, w->body.len + 256);
            cache_view_entry_encode(&ne, &sb);
            if (!sb.oom)
                cached_put(key, strbuf_str(&sb), ttl);
        }
        resp_header(w, "ETag", etag);
        if (cached_etag_matches(r, etag)) {
            w->status = 304;
            strbuf_reset(&w->body);
        }
    }
    if (have_lock)
        cache_delete(cc, lock);
    resp_header(w, "X-Cache", STR("MISS"));
    return err;
}

/* The same-host tier, else one memcached round trip. True (and e filled)
 * when the entry exists, passes its codec and carries `version`;
 * *reachable false when memcached could not be asked (breaker open,
 * timeout). */
static bool cached_lookup_view(struct str key, uint64_t version, unsigned ttl, struct arena *a,
                               struct cache_view_entry *e, bool *reachable)
{
    struct str val;
    enum tl_err err = cached_get(key, ttl, a, &val);
    *reachable = err == TL_OK || err == TL_ENOTFOUND;
    if (err != TL_OK)
        return false;
    if (cache_view_entry_decode(val, e) != TL_OK) {
        char shown[LOG_CLIENT_BUF];
        log_warn("cache: view entry \"%s\" failed validation; ignored", log_client(key, shown, sizeof shown));
        return false;
    }
    return e->version == version;
}

static bool cached_wait_for_entry(struct str key, uint64_t version, unsigned ttl, struct arena *a,
                                  struct cache_view_entry *e)
{
    for (unsigned waited = 0; waited < CACHE_LOCK_WAIT_MS; waited += CACHE_LOCK_POLL_MS) {
        cached_sleep_ms(CACHE_LOCK_POLL_MS);
        bool reachable;
        if (cached_lookup_view(key, version, ttl, a, e, &reachable))
            return true;
        if (!reachable)
            return false;
    }
    return false;
}

/* TL_ENOMEM (w untouched) when the content type cannot be copied. */
static enum tl_err cached_serve_entry(const struct cache_view_entry *e, struct req *r, struct resp *w)
{
    char *content_type = arena_strndup(r->arena, e->content_type.p, e->content_type.len);
    if (!content_type)
        return TL_ENOMEM;
    w->status = e->status;
    w->content_type = content_type;
    strbuf_append_str(&w->headers, e->headers);
    resp_header(w, "ETag", e->etag);
    resp_header(w, "X-Cache", STR("HIT"));
    if (cached_etag_matches(r, e->etag)) {
        w->status = 304;
        return TL_OK;
    }
    /* The body lives in the arena already (the multi-get copied it there). */
    w->body.p = (char *)e->body.p;
    w->body.len = e->body.len;
    w->body.cap = 0;   /* not ours to grow in place */
    return TL_OK;
}

static bool cached_view_storable(const struct cache_view_spec *spec, const struct resp *w)
{
    if (w->status != 200 || w->sets_cookie || w->body.oom || w->headers.oom)
        return false;
    return !spec->response_filter || spec->response_filter(w);
}

/* The view's key for r at version, in r's arena; STR_NULL when out of
 * memory (never a partial key). */
static struct str cached_view_key(const struct cache_view_spec *spec, const struct req *r,
                                  uint64_t version)
{
    struct strbuf sb;
    strbuf_init(&sb, r->arena, 64 + r->path.len);
    const char *fmt = spec->key_prefix ? spec->key_prefix : "view/%s";
    const char *pct = strstr(fmt, "%s");
    if (pct) {
        strbuf_append(&sb, fmt, (size_t)(pct - fmt));
        strbuf_append_str(&sb, r->path);
        strbuf_puts(&sb, pct + 2);
    } else {
        strbuf_puts(&sb, fmt);
    }
    size_t n = 0;
    const struct req_kv **sorted = NULL;
    if ((spec->query_string || spec->query_args) && r->args.n) {
        /* Out of memory here must not drop the args from the key: the
         * entry of another query would be served. */
        if (!(sorted = arena_alloc(r->arena, r->args.n * sizeof *sorted)))
            return STR_NULL;
        for (size_t i = 0; i < r->args.n; i++)
            if (cached_arg_in_key(spec, r->args.v[i].name))
                sorted[n++] = &r->args.v[i];
    }
    if (n) {
        /* Flask-Caching: a digest of the sorted args, so ?a=1&b=2 == ?b=2&a=1. */
        for (size_t i = 1; i < n; i++) {
            for (size_t j = i; j > 0; j--) {
                const struct req_kv *x = sorted[j - 1], *y = sorted[j];
                size_t m = x->name.len < y->name.len ? x->name.len : y->name.len;
                int c = memcmp(x->name.p, y->name.p, m);
                if (c < 0 || (c == 0 && x->name.len <= y->name.len))
                    break;
                sorted[j - 1] = y;
                sorted[j] = x;
            }
        }
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, 16);
        for (size_t i = 0; i < n; i++) {
            uint64_t lens[2] = { sorted[i]->name.len, sorted[i]->value.len };
            crypto_generichash_update(&st, (const unsigned char *)lens, sizeof lens);
            crypto_generichash_update(&st, (const unsigned char *)sorted[i]->name.p, sorted[i]->name.len);
            crypto_generichash_update(&st, (const unsigned char *)sorted[i]->value.p, sorted[i]->value.len);
        }
        unsigned char h[16];
        char hex[33];
        crypto_generichash_final(&st, h, sizeof h);
        sodium_bin2hex(hex, sizeof hex, h, sizeof h);
        strbuf_putc(&sb, '?');
        strbuf_puts(&sb, hex);
    }
    if (sb.oom)
        return STR_NULL;   /* a cut key would name another path's entry */
    return cached_with_version(r->arena, strbuf_str(&sb), version);
}

/* Whether query arg `name` is part of the view's key. */
static bool cached_arg_in_key(const struct cache_view_spec *spec, struct str name)
{
    if (!spec->query_args)
        return true;
    for (const char *const *a = spec->query_args; *a; a++)
        if (str_eq_c(name, *a))
            return true;
    return false;
}

/* key + "@" + version: every data-dependent key names its version.
 * STR_NULL when out of memory. */
static struct str cached_with_version(struct arena *a, struct str key, uint64_t version)
{
    struct strbuf sb;
    strbuf_init(&sb, a, key.len + 24);
    strbuf_append_str(&sb, key);
    strbuf_putc(&sb, '@');
    strbuf_put_int(&sb, (long long)version);
    return sb.oom ? STR_NULL : strbuf_str(&sb);
}

/* A quoted digest of body; STR_NULL when out of memory. */
static struct str cached_etag(struct arena *a, struct str body)
{
    unsigned char h[12];
    crypto_generichash(h, sizeof h, (const unsigned char *)body.p, body.len, NULL, 0);
    char *s = arena_alloc(a, 2 * sizeof h + 3);
    if (!s)
        return STR_NULL;
    s[0] = '"';
    sodium_bin2hex(s + 1, 2 * sizeof h + 1, h, sizeof h);
    s[2 * sizeof h + 1] = '"';
    s[2 * sizeof h + 2] = '\0';
    return (struct str){ s, 2 * sizeof h + 2 };
}

static bool cached_etag_matches(const struct req *r, struct str etag)
{
    struct str inm = req_param(r, "HTTP_IF_NONE_MATCH");
    if (!inm.len)
        return false;
    if (inm.len == 1 && inm.p[0] == '*')
        return true;
    return etag.len && memmem(inm.p, inm.len, etag.p, etag.len) != NULL;
}

enum tl_err cache_delete_view(struct str path, uint64_t version)
{
    if (!cached_client || !cache_enabled(cached_client))
        return TL_OK;
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "view/%.*s@%llu", STR_FMT(path), (unsigned long long)version);
    if (n < 0 || (size_t)n >= sizeof buf)
        return TL_EINVAL;
    enum tl_err e = cache_delete(cached_client, (struct str){ buf, (size_t)n });
    return e == TL_ENOTFOUND ? TL_OK : e;
}

/* ---- memoize ----------------------------------------------------------- */

/* "memoize/<name>/<digest of args>@<version>", or "<key_prefix>@<version>". */
static struct str cached_memo_key(const struct cache_memo_spec *spec, const struct cache_args *args,
                                  struct arena *a, uint64_t version)
{
    if (spec->key_prefix)
        return cached_with_version(a, str_c(spec->key_prefix), version);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 16);
    size_t n = args ? args->n_parts : 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t len = args->parts[i].len;
        crypto_generichash_update(&st, (const unsigned char *)&len, sizeof len);
        crypto_generichash_update(&st, (const unsigned char *)args->parts[i].p, args->parts[i].len);
    }
    unsigned char h[16];
    char hex[33];
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    char *k = arena_printf(a, "memoize/%s/%s@%llu", spec->name, hex, (unsigned long long)version);
    return k ? str_c(k) : STR_NULL;
}

/* Memo entry: "M2 <version>\n" + codec bytes. True with *payload set when v
 * has that form and carries `version`. */
static bool cached_memo_entry_parse(struct str v, uint64_t version, struct str *payload)
{
    const char *nl = memchr(v.p, '\n', v.len < 32 ? v.len : 32);
    uint64_t stamped;
    if (!nl || v.len < 3 || memcmp(v.p, "M2 ", 3) != 0 ||
        !cached_parse_u64((struct str){ v.p + 3, (size_t)(nl - v.p) - 3 }, &stamped) ||
        stamped != version)
        return false;
    *payload = (struct str){ nl + 1, v.len - (size_t)(nl + 1 - v.p) };
    return true;
}

enum tl_err cache_memo_run(const struct cache_memo_spec *spec, struct arena *a,
                           const struct cache_args *args, void *out, cache_compute_fn compute)
{
    struct cache *cc = cached_client;
    if (!cc || !cache_enabled(cc) || (spec->unless && spec->unless()))
        return compute(a, args, out);
    uint64_t version;
    enum tl_err err = cache_data_version(a, &version);
    if (err != TL_OK)
        return err;
    struct str key = cached_memo_key(spec, args, a, version);
    if (!key.p)
        return TL_ENOMEM;
    struct str val, payload;
    unsigned ttl = cached_ttl(spec->timeout_s);
    enum tl_err got = cached_skip_lookups ? TL_ENOTFOUND : cached_get(key, ttl, a, &val);
    if (got == TL_OK) {
        if (cached_memo_entry_parse(val, version, &payload) &&
            spec->codec->decode(payload, a, out) == TL_OK)
            return TL_OK;
        log_warn("cache: %s entry failed %s validation; recomputing", spec->name, spec->codec->name);
    }
    err = compute(a, args, out);
    if (err != TL_OK || (got != TL_OK && got != TL_ENOTFOUND))
        return err;   /* unreachable: the breaker would skip the store anyway */
    struct strbuf sb;
    strbuf_init(&sb, a, 1024);
    strbuf_puts(&sb, "M2 ");
    strbuf_put_int(&sb, (long long)version);
    strbuf_putc(&sb, '\n');
    if (spec->codec->encode(out, &sb) == TL_OK && !sb.oom)
        cached_put(key, strbuf_str(&sb), ttl);
    return TL_OK;
}

enum tl_err cache_delete_memoized(const struct cache_memo_spec *spec, const struct cache_args *args,
                                  uint64_t version)
{
    struct cache *cc = cached_client;
    if (!cc || !cache_enabled(cc))
        return TL_OK;
    struct arena *a = arena_new(4096);
    if (!a)
        return TL_ENOMEM;
    struct str key = cached_memo_key(spec, args, a, version);
    enum tl_err e = key.p ? cache_delete(cc, key) : TL_ENOMEM;
    arena_free(a);
    return e == TL_ENOTFOUND ? TL_OK : e;
}

/* ---- helpers ----------------------------------------------------------- */

/* Tier, then memcached; a memcached hit is copied into the tier. Entries are
 * validated by the caller whichever tier they came from (what memcached
 * holds may be forged; the tier only ever gets what passed through here).
 * TL_OK, TL_ENOTFOUND, or memcached's TL_EUNAVAIL. */
static enum tl_err cached_get(struct str key, unsigned ttl, struct arena *a, struct str *value)
{
    if (cached_tier && tier_get(cached_tier, key, a, value))
        return TL_OK;
    enum tl_err err = cache_get(cached_client, key, a, value);
    if (err == TL_OK && cached_tier)
        tier_put(cached_tier, key, *value, ttl);
    return err;
}

/* Store in both tiers. */
static void cached_put(struct str key, struct str value, unsigned ttl)
{
    if (cached_tier)
        tier_put(cached_tier, key, value, ttl);
    cache_set(cached_client, key, value, ttl);
}

static unsigned cached_ttl(int timeout_s)
{
    if (timeout_s == CACHE_FOREVER)
        return 0;
    if (timeout_s <= 0)
        return cached_default_timeout_s;
    return (unsigned)timeout_s;
}

static bool cached_parse_u64(struct str s, uint64_t *out)
{
    /* canonical only: no leading zero (an entry decodes to one meaning) */
    if (s.len == 0 || s.len > 20 || (s.len > 1 && s.p[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static void cached_sleep_ms(unsigned ms)
{
    struct timespec ts = { 0, (long)ms * 1000000L };
    nanosleep(&ts, NULL);
}
