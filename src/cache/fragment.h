/*
 * cache/fragment.h - the fragment store behind the template engine's
 *   {% cache %}: the same-host tier, then memcached.
 * Owns: struct frag_store (one per worker: the cache client and tier it
 *   uses, and the default timeout), fragment values' codec ("F1\n" + UTF-8
 *   markup), and the struct tpl_frag_hooks that hand the store to the
 *   engine as its ctx. The key is the engine's (tpl_frag_key).
 * Invariants: a fragment read back is used only after its codec validated
 *   it; no process globals: everything comes from the store passed as ctx.
 * Context: worker only, made after fork.
 */
#ifndef TASKLIST_CACHE_FRAGMENT_H
#define TASKLIST_CACHE_FRAGMENT_H

#include "../template/template.h"

struct cache;
struct frag_store;
struct tier;

/* A store over cc (borrowed; enabled, see cache_enabled) and t (borrowed;
 * NULL: memcached only). default_ttl_s replaces a template's None timeout
 * (0 = never expire). NULL when out of memory. */
struct frag_store *frag_store_new(struct cache *cc, struct tier *t, unsigned default_ttl_s);
void frag_store_free(struct frag_store *fs);

/* The hooks to put in struct tpl_hooks.frags, with fs as their ctx:
 * - get_multi asks the tier first and memcached, with one multi-get, for
 *   the rest; what memcached returns is put in the tier;
 * - store puts every fragment in the tier and sends them all to memcached
 *   in one pipelined write (cache_set_many per run of equal timeouts).
 * With fs NULL: no hooks (the engine renders every {% cache %} body). */
struct tpl_frag_hooks frag_store_hooks(struct frag_store *fs);

#endif
