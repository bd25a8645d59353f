/*
 * cache/fragment.c - {% cache %} fragments stored in the same-host tier and
 * memcached.
 * A fragment is markup the engine rendered; stored as "F1\n" + bytes and
 * accepted back only with that tag and valid UTF-8, so a corrupt or foreign
 * value is re-rendered rather than sent to a browser. Lookups ask the tier
 * first and memcached (one multi-get) for the rest; what memcached returns
 * is copied into the tier.
 */
#include "fragment.h"

#include <stdio.h>
#include <string.h>

#include "cached.h"
#include "client.h"
#include "tier.h"

#define FRAG_TAG "F1\n"
#define FRAG_TAG_LEN 3

/* "F1\n" + valid UTF-8: *v becomes the markup. False for anything else. */
static bool frag_decode(struct str *v)
{
    if (v->len < FRAG_TAG_LEN || memcmp(v->p, FRAG_TAG, FRAG_TAG_LEN) != 0 ||
        !str_is_valid_utf8((struct str){ v->p + FRAG_TAG_LEN, v->len - FRAG_TAG_LEN }))
        return false;
    *v = (struct str){ v->p + FRAG_TAG_LEN, v->len - FRAG_TAG_LEN };
    return true;
}

enum tl_err frag_get_multi(void *ctx, const struct str *keys, size_t n, struct arena *a,
                           struct str *values, bool *found)
{
    (void)ctx;
    struct cache *cc = cache_bound();
    for (size_t i = 0; i < n; i++)
        found[i] = false;
    if (!cc || !cache_enabled(cc) || n == 0)
        return TL_ENOTFOUND;
    struct tier *t = cache_bound_tier();
    /* the tier first; the misses (all of them without a tier) go to memcached */
    size_t n_miss = 0;
    size_t *miss = arena_alloc(a, n * sizeof *miss);
    struct str *mkeys = arena_alloc(a, n * sizeof *mkeys), *mvals = arena_alloc(a, n * sizeof *mvals);
    bool *mfound = arena_alloc(a, n * sizeof *mfound);
    if (!miss || !mkeys || !mvals || !mfound)
        return TL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (t && tier_get(t, keys[i], a, &values[i]) && frag_decode(&values[i])) {
            found[i] = true;
            continue;
        }
        miss[n_miss] = i;
        mkeys[n_miss++] = keys[i];
    }
    if (n_miss == 0)
        return TL_OK;
    enum tl_err e = cache_get_multi(cc, mkeys, n_miss, a, mvals, mfound);
    if (e != TL_OK)
        return e;
    for (size_t k = 0; k < n_miss; k++) {
        struct str v = mvals[k];
        if (!mfound[k] || !frag_decode(&v))
            continue;
        if (t)
            tier_put(t, mkeys[k], mvals[k], cache_default_timeout());
        values[miss[k]] = v;
        found[miss[k]] = true;
    }
    return TL_OK;
}

/* The stores queued during one render (worker-global: one render at a time). */
struct frag_pending {
    struct arena *arena;   /* NULL: no batch open, store at once */
    struct str *keys, *values;
    unsigned *ttls;
    size_t n, cap;
};
static struct frag_pending frag_pending;

static unsigned frag_ttl(long timeout_s)
{
    return timeout_s < 0 ? cache_default_timeout() : (unsigned)timeout_s;
}

/* "F1\n" + value, in arena a (or a scratch arena freed by the caller). */
static struct str frag_encode(struct arena *a, struct str value)
{
    char *buf = arena_alloc(a, FRAG_TAG_LEN + value.len);
    if (!buf)
        return STR_NULL;
    memcpy(buf, FRAG_TAG, FRAG_TAG_LEN);
    memcpy(buf + FRAG_TAG_LEN, value.p, value.len);
    return (struct str){ buf, FRAG_TAG_LEN + value.len };
}

static bool frag_queue(struct str key, struct str value, unsigned ttl)
{
    struct frag_pending *q = &frag_pending;
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 32;
        struct str *k = arena_realloc(q->arena, q->keys, q->cap * sizeof *k, cap * sizeof *k);
        struct str *v = arena_realloc(q->arena, q->values, q->cap * sizeof *v, cap * sizeof *v);
        unsigned *t = arena_realloc(q->arena, q->ttls, q->cap * sizeof *t, cap * sizeof *t);
        if (!k || !v || !t)
            return false;
        q->keys = k, q->values = v, q->ttls = t, q->cap = cap;
    }
    char *kc = arena_strndup(q->arena, key.p, key.len);
    struct str enc = value;   /* already encoded, in the batch's arena */
    if (!kc || !enc.p)
        return false;
    q->keys[q->n] = (struct str){ kc, key.len };
    q->values[q->n] = enc;
    q->ttls[q->n] = ttl;
    q->n++;
    return true;
}

void frag_set(void *ctx, struct str key, struct str value, long timeout_s)
{
    (void)ctx;
    struct cache *cc = cache_bound();
    if (!cc || !cache_enabled(cc))
        return;
    struct tier *t = cache_bound_tier();
    struct arena *a = NULL;
    struct str enc = frag_pending.arena ? frag_encode(frag_pending.arena, value) : STR_NULL;
    if (!enc.p && (a = arena_new(FRAG_TAG_LEN + value.len + 64)) != NULL)
        enc = frag_encode(a, value);
    if (enc.p && t)
        tier_put(t, key, enc, frag_ttl(timeout_s));
    if (!(frag_pending.arena && frag_queue(key, enc, frag_ttl(timeout_s))) && enc.p)
        cache_set(cc, key, enc, frag_ttl(timeout_s));
    arena_free(a);
}

void frag_batch_begin(struct arena *a)
{
    frag_pending = (struct frag_pending){ .arena = a };
}

void frag_batch_flush(void)
{
    struct frag_pending q = frag_pending;
    frag_pending = (struct frag_pending){ 0 };
    struct cache *cc = cache_bound();
    if (!cc || !cache_enabled(cc))
        return;
    /* One pipelined write per run of equal timeouts (normally one run). */
    for (size_t start = 0, i = 1; start < q.n; i++) {
        if (i < q.n && q.ttls[i] == q.ttls[start])
            continue;
        cache_set_many(cc, q.keys + start, q.values + start, i - start, q.ttls[start]);
        start = i;
    }
}

struct str frag_key(struct arena *a, struct str name, const struct str *vary, size_t n_vary)
{
    struct strbuf sb;
    strbuf_init(&sb, a, 64);
    strbuf_puts(&sb, "_template_fragment_cache_");
    strbuf_append_str(&sb, name);
    for (size_t i = 0; i < n_vary; i++) {
        strbuf_putc(&sb, '_');
        strbuf_append_str(&sb, vary[i]);
    }
    return strbuf_str(&sb);
}

enum tl_err frag_delete(struct str key)
{
    struct cache *cc = cache_bound();
    if (!cc || !cache_enabled(cc))
        return TL_OK;
    enum tl_err e = cache_delete(cc, key);
    return e == TL_ENOTFOUND ? TL_OK : e;
}
