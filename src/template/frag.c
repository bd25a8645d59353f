/*
 * template/frag.c - the {% cache timeout, name, vary... %} protocol of a render.
 * Owns: the fragment key (Flask-Caching's format, written only here), the
 *   prefetch of a loop's fragments with one frags.get_multi, the fragments
 *   a render had to build (its misses) and their one frags.store call at the
 *   end of the render.
 * Invariants: a key asked for once in a render is never asked for again: a
 *   repeated key in a loop is fetched once, and a key the render already
 *   built is served from its misses (as Flask-Caching would, having stored
 *   it). Everything lives in the render arena.
 * Context: workers (and tests, benchmarks, the fuzzer).
 */
#include "internal.h"

#include <string.h>

#define TPL_FRAG_KEY_PREFIX "_template_fragment_cache_"

static enum tl_err tpl_frag_eval_key(struct tpl_render *st, const struct tpl_node *n,
                                     struct str *key, long *timeout_s);
static enum tl_err tpl_frag_eval_timeout(struct tpl_render *st, const struct tpl_expr *e,
                                         long *timeout_s);
static void tpl_frag_prefetch_keys(struct tpl_render *st, const struct tpl_node *n,
                                   const struct tpl_value *items, size_t n_items,
                                   struct tpl_binding *var, struct tpl_loop *loop,
                                   struct tpl_prefetch *pf);
static size_t tpl_frag_dedupe(struct arena *a, struct tpl_prefetch *pf, size_t total,
                              struct str *fetch, size_t *slot);
static enum tl_err tpl_frag_fetch(struct tpl_render *st, struct tpl_prefetch *pf,
                                  struct str *fetch, size_t *slot, size_t m);
static const struct str *tpl_frag_missed(const struct tpl_render *st, struct str key);
static bool tpl_frag_reserve(struct tpl_render *st, size_t extra);
static enum tl_err tpl_frag_lookup(struct tpl_render *st, const struct tpl_node *n,
                                   struct str *key, long *timeout_s, struct str *value,
                                   bool *found);
static bool tpl_frag_record(struct tpl_render *st, struct str key, struct str value,
                            long timeout_s);

struct str tpl_frag_key(struct arena *a, struct str name, const struct str *vary, size_t n_vary)
{
    struct strbuf sb;
    size_t len = sizeof TPL_FRAG_KEY_PREFIX + name.len;
    for (size_t i = 0; i < n_vary; i++)
        len += 1 + vary[i].len;
    strbuf_init(&sb, a, len);
    strbuf_append(&sb, TPL_FRAG_KEY_PREFIX, sizeof TPL_FRAG_KEY_PREFIX - 1);
    strbuf_append_str(&sb, name);
    for (size_t i = 0; i < n_vary; i++) {
        strbuf_putc(&sb, '_');
        strbuf_append_str(&sb, vary[i]);
    }
    return sb.oom ? STR_NULL : strbuf_str(&sb);
}

enum tl_err tpl_frag_prefetch(struct tpl_render *st, const struct tpl_node *n,
                              const struct tpl_value *items, size_t n_items, struct tpl_frame *f,
                              struct tpl_binding *var, struct tpl_loop *loop,
                              struct tpl_prefetch *pf)
{
    struct arena *a = st->r.a;
    size_t total = n_items * n->n_frags;
    *pf = (struct tpl_prefetch){ .loop = n };
    pf->keys = arena_alloc(a, total * sizeof *pf->keys);
    pf->values = arena_calloc(a, total, sizeof *pf->values);
    pf->found = arena_calloc(a, total, sizeof *pf->found);
    pf->valid = arena_calloc(a, total, sizeof *pf->valid);
    pf->timeouts = arena_alloc(a, total * sizeof *pf->timeouts);
    struct str *fetch = arena_alloc(a, total * sizeof *fetch);
    size_t *slot = arena_alloc(a, total * sizeof *slot);
    if (!pf->keys || !pf->values || !pf->found || !pf->valid || !pf->timeouts || !fetch || !slot)
        return TL_ENOMEM;
    struct tpl_frame *saved = st->frame;
    st->frame = f;
    tpl_frag_prefetch_keys(st, n, items, n_items, var, loop, pf);
    st->frame = saved;
    size_t m = tpl_frag_dedupe(a, pf, total, fetch, slot);
    if (m == (size_t)-1)
        return TL_ENOMEM;
    return tpl_frag_fetch(st, pf, fetch, slot, m);
}

/* Every item's keys, evaluated quietly: a key that fails here (it may depend
 * on a {% set %} in the body) is not prefetched, and its error, if real,
 * comes when the tag runs. */
static void tpl_frag_prefetch_keys(struct tpl_render *st, const struct tpl_node *n,
                                   const struct tpl_value *items, size_t n_items,
                                   struct tpl_binding *var, struct tpl_loop *loop,
                                   struct tpl_prefetch *pf)
{
    bool quiet = st->r.quiet;
    st->r.quiet = true;
    for (size_t i = 0; i < n_items; i++) {
        var->v = items[i];
        loop->index0 = i;
        for (size_t t = 0; t < n->n_frags; t++) {
            size_t k = i * n->n_frags + t;
            pf->valid[k] =
                tpl_frag_eval_key(st, n->frags[t], &pf->keys[k], &pf->timeouts[k]) == TL_OK;
        }
    }
    st->r.quiet = quiet;
}

/* Link entries with equal keys to the first one (root[]) and list each key
 * once in fetch[] (slot[] = its entry): a key repeated in a loop is fetched
 * once, and once rendered it is a hit for the later iterations, as it is with
 * Flask-Caching. Returns the number of keys to fetch, -1 when out of memory. */
static size_t tpl_frag_dedupe(struct arena *a, struct tpl_prefetch *pf, size_t total,
                              struct str *fetch, size_t *slot)
{
    size_t cap = 16;
    while (cap < total * 2)
        cap *= 2;
    size_t *table = arena_alloc(a, cap * sizeof *table);
    pf->root = arena_alloc(a, total * sizeof *pf->root);
    if (!table || !pf->root)
        return (size_t)-1;
    memset(table, 0xff, cap * sizeof *table);
    size_t m = 0;
    for (size_t k = 0; k < total; k++) {
        pf->root[k] = k;
        if (!pf->valid[k])
            continue;
        uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
        for (size_t i = 0; i < pf->keys[k].len; i++)
            h = (h ^ (unsigned char)pf->keys[k].p[i]) * 1099511628211ULL;
        size_t pos = (size_t)h & (cap - 1);
        while (table[pos] != (size_t)-1 && !str_eq(pf->keys[table[pos]], pf->keys[k]))
            pos = (pos + 1) & (cap - 1);
        if (table[pos] != (size_t)-1) {
            pf->root[k] = table[pos];
            continue;
        }
        table[pos] = k;
        fetch[m] = pf->keys[k];
        slot[m++] = k;
    }
    return m;
}

/* One get_multi for the m distinct keys (fetch[j] of entry slot[j]), less
 * those this render built already (a second loop over the same rows);
 * fetch and slot are compacted in place to what is asked for. */
static enum tl_err tpl_frag_fetch(struct tpl_render *st, struct tpl_prefetch *pf,
                                  struct str *fetch, size_t *slot, size_t m)
{
    size_t n_ask = 0;
    for (size_t j = 0; j < m; j++) {
        const struct str *built = tpl_frag_missed(st, fetch[j]);
        pf->found[slot[j]] = built != NULL;
        pf->values[slot[j]] = built ? *built : STR_NULL;
        if (!built) {
            fetch[n_ask] = fetch[j];
            slot[n_ask++] = slot[j];
        }
    }
    if (n_ask == 0)
        return TL_OK;
    struct str *values = arena_calloc(st->r.a, n_ask, sizeof *values);
    bool *found = arena_calloc(st->r.a, n_ask, sizeof *found);
    if (!values || !found)
        return TL_ENOMEM;
    const struct tpl_frag_hooks *h = &st->r.hooks->frags;
    size_t n_missed = n_ask;
    if (h->get_multi(h->ctx, fetch, n_ask, st->r.a, values, found) == TL_OK) {
        for (size_t j = 0; j < n_ask; j++) {
            pf->found[slot[j]] = found[j];
            pf->values[slot[j]] = values[j];
            n_missed -= found[j];
        }
    } /* else cache trouble: render everything */
    return tpl_frag_reserve(st, n_missed) ? TL_OK : TL_ENOMEM;
}

enum tl_err tpl_exec_cache(struct tpl_render *st, const struct tpl_node *n)
{
    const struct tpl_hooks *h = st->r.hooks;
    if (!h || !h->frags.get_multi)
        return tpl_exec_list(st, n->body);
    struct str key, value;
    long timeout_s;
    bool found;
    enum tl_err err = tpl_frag_lookup(st, n, &key, &timeout_s, &value, &found);
    if (err)
        return err;
    if (!found) {
        if ((err = tpl_capture(st, tpl_exec_list, n->body, 256, &value)))
            return err;
        if (!tpl_frag_record(st, key, value, timeout_s))
            return TL_ENOMEM;
    }
    strbuf_append_str(st->out, value);
    return TL_OK;
}

/* The key of tag n and its value if the cache (or this render) has it: from
 * the loop's prefetch when the tag's key was prefetched, else one
 * get_multi of n = 1. A miss of a prefetched key is linked to its prefetch
 * entry so that the loop's later iterations see the built value. */
static enum tl_err tpl_frag_lookup(struct tpl_render *st, const struct tpl_node *n,
                                   struct str *key, long *timeout_s, struct str *value,
                                   bool *found)
{
    const struct tpl_prefetch *pf = st->pf;
    size_t t = 0, k = 0;
    while (pf && t < pf->loop->n_frags && pf->loop->frags[t] != n)
        t++;
    bool in_loop = pf && t < pf->loop->n_frags;
    if (in_loop)
        k = pf->iter * pf->loop->n_frags + t;
    enum tl_err err;
    if (in_loop && pf->valid[k] && pf->loop->frag_keys_stable) {
        *key = pf->keys[k];  /* nothing in the body can have changed it */
        *timeout_s = pf->timeouts[k];
    } else if ((err = tpl_frag_eval_key(st, n, key, timeout_s))) {
        return err;
    }
    if (in_loop && pf->valid[k] && str_eq(pf->keys[k], *key)) {
        size_t root = pf->root[k];
        *found = pf->found[root];
        *value = pf->values[root];
        return TL_OK;
    }
    const struct str *built = tpl_frag_missed(st, *key);
    const struct tpl_frag_hooks *h = &st->r.hooks->frags;
    *found = built != NULL;
    *value = built ? *built : STR_NULL;
    if (!built && h->get_multi(h->ctx, key, 1, st->r.a, value, found) != TL_OK)
        *found = false;
    return TL_OK;
}

/* Remember a built fragment for the store call and for later lookups of the
 * same key in this render (the prefetch of the current loop included). */
static bool tpl_frag_record(struct tpl_render *st, struct str key, struct str value,
                            long timeout_s)
{
    struct tpl_frag_misses *m = st->misses;
    if (m->n == m->cap && !tpl_frag_reserve(st, m->cap ? m->cap : 16))
        return false;
    m->v[m->n++] = (struct tpl_frag){ key, value, timeout_s };
    struct tpl_prefetch *pf = st->pf;
    for (size_t t = 0; pf && t < pf->loop->n_frags; t++) {
        size_t k = pf->iter * pf->loop->n_frags + t;
        if (pf->valid[k] && str_eq(pf->keys[k], key)) {
            pf->found[pf->root[k]] = true;
            pf->values[pf->root[k]] = value;
        }
    }
    return true;
}

/* Room for extra more misses (the arena does not free a grown array's old
 * block, so a loop reserves its expected misses at once). */
static bool tpl_frag_reserve(struct tpl_render *st, size_t extra)
{
    struct tpl_frag_misses *m = st->misses;
    if (m->cap - m->n >= extra)
        return true;
    size_t cap = m->n + extra;
    struct tpl_frag *v = arena_realloc(st->r.a, m->v, m->cap * sizeof *v, cap * sizeof *v);
    if (!v)
        return false;
    m->v = v;
    m->cap = cap;
    return true;
}

/* The value this render built for key, or NULL. Linear: a render builds a
 * handful of fragments outside its loops' prefetch, which already dedupes
 * the keys of each loop; a hash would cost more than it saves there. */
static const struct str *tpl_frag_missed(const struct tpl_render *st, struct str key)
{
    const struct tpl_frag_misses *m = st->misses;
    for (size_t i = 0; i < m->n; i++)
        if (str_eq(m->v[i].key, key))
            return &m->v[i].value;
    return NULL;
}

void tpl_frag_store_misses(struct tpl_render *st)
{
    const struct tpl_hooks *h = st->r.hooks;
    if (h && h->frags.store && st->misses->n)
        h->frags.store(h->frags.ctx, st->misses->v, st->misses->n, st->r.a);
}

/* Tag n's key (Flask-Caching's, from its name and vary values as str()) and
 * timeout (None = -1). */
static enum tl_err tpl_frag_eval_key(struct tpl_render *st, const struct tpl_node *n,
                                     struct str *key, long *timeout_s)
{
    enum { TPL_FRAG_VARY_STACK = 8 };
    struct str stack[TPL_FRAG_VARY_STACK], *parts = stack;
    struct tpl_value v;
    enum tl_err err;
    size_t n_parts = n->n_args - 1;   /* the name, then the vary values */
    if ((err = tpl_frag_eval_timeout(st, n->args[0], timeout_s)))
        return err;
    if (n_parts > TPL_FRAG_VARY_STACK && !(parts = arena_alloc(st->r.a, n_parts * sizeof *parts)))
        return TL_ENOMEM;
    for (size_t i = 0; i < n_parts; i++) {
        if ((err = tpl_eval(st, n->args[i + 1], &v)))
            return err;
        parts[i] = tpl_to_str(st->r.a, &v);
    }
    *key = tpl_frag_key(st->r.a, parts[0], parts + 1, n_parts - 1);
    return key->p ? TL_OK : TL_ENOMEM;
}

static enum tl_err tpl_frag_eval_timeout(struct tpl_render *st, const struct tpl_expr *e,
                                         long *timeout_s)
{
    struct tpl_value v;
    enum tl_err err;
    if ((err = tpl_eval(st, e, &v)))
        return err;
    if (v.type == TPL_NONE || v.type == TPL_UNDEF)
        *timeout_s = -1;
    else if (v.type == TPL_INT && v.u.i >= 0)
        *timeout_s = v.u.i > 0x7fffffffLL ? 0x7fffffffL : (long)v.u.i;
    else
        return tpl_rt_error(&st->r, e->line, e->col,
                            "cache timeout must be None or a non-negative integer");
    return TL_OK;
}
