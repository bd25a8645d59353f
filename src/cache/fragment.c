/*
 * cache/fragment.c - {% cache %} fragments stored in memcached.
 * A fragment is markup the engine rendered; stored as "F1\n" + bytes and
 * accepted back only with that tag and valid UTF-8, so a corrupt or foreign
 * value is re-rendered rather than sent to a browser.
 */
#include "fragment.h"

#include <stdio.h>
#include <string.h>

#include "cached.h"
#include "client.h"

#define FRAG_TAG "F1\n"
#define FRAG_TAG_LEN 3

enum tl_err frag_get_multi(void *ctx, const struct str *keys, size_t n, struct arena *a,
                           struct str *values, bool *found)
{
    (void)ctx;
    struct cache *cc = cache_bound();
    for (size_t i = 0; i < n; i++)
        found[i] = false;
    if (!cc || !cache_enabled(cc) || n == 0)
        return TL_ENOTFOUND;
    enum tl_err e = cache_get_multi(cc, keys, n, a, values, found);
    if (e != TL_OK)
        return e;
    for (size_t i = 0; i < n; i++) {
        if (!found[i])
            continue;
        struct str v = values[i];
        if (v.len < FRAG_TAG_LEN || memcmp(v.p, FRAG_TAG, FRAG_TAG_LEN) != 0 ||
            !str_is_valid_utf8((struct str){ v.p + FRAG_TAG_LEN, v.len - FRAG_TAG_LEN })) {
            found[i] = false;
            continue;
        }
        values[i] = (struct str){ v.p + FRAG_TAG_LEN, v.len - FRAG_TAG_LEN };
    }
    return TL_OK;
}

void frag_set(void *ctx, struct str key, struct str value, long timeout_s)
{
    (void)ctx;
    struct cache *cc = cache_bound();
    if (!cc || !cache_enabled(cc))
        return;
    struct arena *a = NULL;
    /* Small values go through a stack buffer; large ones through a scratch arena. */
    char stack[4096];
    char *buf = stack;
    size_t len = FRAG_TAG_LEN + value.len;
    if (len > sizeof stack) {
        a = arena_new(len + 64);
        if (!a)
            return;
        buf = arena_alloc(a, len);
        if (!buf) {
            arena_free(a);
            return;
        }
    }
    memcpy(buf, FRAG_TAG, FRAG_TAG_LEN);
    memcpy(buf + FRAG_TAG_LEN, value.p, value.len);
    unsigned ttl = timeout_s < 0 ? cache_default_timeout() : (unsigned)timeout_s;
    cache_set(cc, key, (struct str){ buf, len }, ttl);
    arena_free(a);
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
