/*
 * cache/fragment.c - {% cache %} fragments stored in the same-host tier and
 * memcached.
 * A fragment is markup the engine rendered; stored as "F1\n" + bytes and
 * accepted back only with that tag and valid UTF-8, so a corrupt or foreign
 * value is re-rendered rather than sent to a browser. Lookups ask the tier
 * first and memcached (one multi-get) for the rest; what memcached returns
 * is copied into the tier. The engine hands over a render's misses in one
 * call, so a page whose N fragments all missed costs one pipelined write.
 */
#include "fragment.h"

#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "tier.h"

#define FRAG_TAG "F1\n"
#define FRAG_TAG_LEN 3

struct frag_store {
    struct cache *cc;
    struct tier *tier;              /* NULL: memcached only */
    unsigned default_ttl_s;
};

static enum tl_err frag_store_get_multi(void *ctx, const struct str *keys, size_t n,
                                        struct arena *a, struct str *values, bool *found);
static void frag_store_put(void *ctx, const struct tpl_frag *frags, size_t n, struct arena *a);
static bool frag_decode(struct str *v);
static struct str frag_encode(struct arena *a, struct str value);
static unsigned frag_ttl(const struct frag_store *fs, long timeout_s);

struct frag_store *frag_store_new(struct cache *cc, struct tier *t, unsigned default_ttl_s)
{
    struct frag_store *fs = malloc(sizeof *fs);
    if (fs)
        *fs = (struct frag_store){ cc, t, default_ttl_s };
    return fs;
}

void frag_store_free(struct frag_store *fs)
{
    free(fs);
}

struct tpl_frag_hooks frag_store_hooks(struct frag_store *fs)
{
    if (!fs)
        return (struct tpl_frag_hooks){ 0 };
    return (struct tpl_frag_hooks){ .ctx = fs, .get_multi = frag_store_get_multi,
                                    .store = frag_store_put };
}

/* tpl_frag_hooks.get_multi: the tier, then one memcached multi-get for the
 * keys it did not have (all of them without a tier). */
static enum tl_err frag_store_get_multi(void *ctx, const struct str *keys, size_t n,
                                        struct arena *a, struct str *values, bool *found)
{
    struct frag_store *fs = ctx;
    size_t n_miss = 0;
    size_t *miss = arena_alloc(a, n * sizeof *miss);
    struct str *mkeys = arena_alloc(a, n * sizeof *mkeys), *mvals = arena_alloc(a, n * sizeof *mvals);
    bool *mfound = arena_alloc(a, n * sizeof *mfound);
    if (!miss || !mkeys || !mvals || !mfound)
        return TL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        found[i] = fs->tier && tier_get(fs->tier, keys[i], a, &values[i]) && frag_decode(&values[i]);
        if (!found[i]) {
            miss[n_miss] = i;
            mkeys[n_miss++] = keys[i];
        }
    }
    if (n_miss == 0)
        return TL_OK;
    enum tl_err e = cache_get_multi(fs->cc, mkeys, n_miss, a, mvals, mfound);
    if (e != TL_OK)
        return e;
    for (size_t k = 0; k < n_miss; k++) {
        struct str v = mvals[k];
        if (!mfound[k] || !frag_decode(&v))
            continue;
        if (fs->tier)
            tier_put(fs->tier, mkeys[k], mvals[k], fs->default_ttl_s);
        values[miss[k]] = v;
        found[miss[k]] = true;
    }
    return TL_OK;
}

/* tpl_frag_hooks.store: encode each fragment once, put it in the tier, and
 * send one pipelined write per run of equal timeouts (normally one run). */
static void frag_store_put(void *ctx, const struct tpl_frag *frags, size_t n, struct arena *a)
{
    struct frag_store *fs = ctx;
    struct str *keys = arena_alloc(a, n * sizeof *keys), *encs = arena_alloc(a, n * sizeof *encs);
    unsigned *ttls = arena_alloc(a, n * sizeof *ttls);
    if (!keys || !encs || !ttls)
        return;   /* out of memory: the fragments are simply not cached */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        struct str enc = frag_encode(a, frags[i].value);
        if (!enc.p)
            continue;
        keys[m] = frags[i].key;
        encs[m] = enc;
        ttls[m] = frag_ttl(fs, frags[i].timeout_s);
        if (fs->tier)
            tier_put(fs->tier, keys[m], enc, ttls[m]);
        m++;
    }
    for (size_t start = 0, i = 1; start < m; i++) {
        if (i < m && ttls[i] == ttls[start])
            continue;
        cache_set_many(fs->cc, keys + start, encs + start, i - start, ttls[start]);
        start = i;
    }
}

/* "F1\n" + valid UTF-8: *v becomes the markup. False for anything else. */
static bool frag_decode(struct str *v)
{
    if (v->len < FRAG_TAG_LEN || memcmp(v->p, FRAG_TAG, FRAG_TAG_LEN) != 0 ||
        !str_is_valid_utf8((struct str){ v->p + FRAG_TAG_LEN, v->len - FRAG_TAG_LEN }))
        return false;
    *v = (struct str){ v->p + FRAG_TAG_LEN, v->len - FRAG_TAG_LEN };
    return true;
}

/* "F1\n" + value in arena a; STR_NULL when out of memory. */
static struct str frag_encode(struct arena *a, struct str value)
{
    char *buf = arena_alloc(a, FRAG_TAG_LEN + value.len);
    if (!buf)
        return STR_NULL;
    memcpy(buf, FRAG_TAG, FRAG_TAG_LEN);
    memcpy(buf + FRAG_TAG_LEN, value.p, value.len);
    return (struct str){ buf, FRAG_TAG_LEN + value.len };
}

static unsigned frag_ttl(const struct frag_store *fs, long timeout_s)
{
    return timeout_s < 0 ? fs->default_ttl_s : (unsigned)timeout_s;
}
