/*
 * cache/fragment.h - the template engine's {% cache %} hooks over memcached.
 * Owns: fragment values' codec ("F1\n" + UTF-8 markup), the hook
 *   functions the app puts into struct tpl_hooks, and the per-render batch
 *   of stores.
 * Invariants: a fragment read back is used only after its codec validated
 *   it; with no cache bound every lookup misses and stores are no-ops.
 * Context: worker only.
 */
#ifndef TASKLIST_CACHE_FRAGMENT_H
#define TASKLIST_CACHE_FRAGMENT_H

#include <stdbool.h>
#include <stddef.h>

#include "../err.h"
#include "../server/arena.h"
#include "../server/str.h"
#include "../template/template.h"

/* tpl_hooks.frag_get_multi: one multi-get for n fragment keys (ctx unused). */
enum tl_err frag_get_multi(void *ctx, const struct str *keys, size_t n, struct arena *a,
                           struct str *values, bool *found);
/* tpl_hooks.frag_set: store markup under key; timeout_s < 0 = default. */
void frag_set(void *ctx, struct str key, struct str value, long timeout_s);
/* Flask-Caching's make_template_fragment_key(name, vary_on) into a. */
struct str frag_key(struct arena *a, struct str name, const struct str *vary, size_t n_vary);
/* Batch the stores of one render: between frag_batch_begin and
 * frag_batch_flush, frag_set queues (in arena a) instead of storing, and the
 * flush sends everything queued in one pipelined write (cache_set_many), so
 * a page whose N fragments all missed costs one store round trip, not N.
 * Without a begin, frag_set stores at once. */
void frag_batch_begin(struct arena *a);
void frag_batch_flush(void);
/* Delete one fragment (e.g. the row of a deleted task). */
enum tl_err frag_delete(struct str key);

#endif
