/*
 * cache/client.h - memcached client for MemCachier-style (SASL) servers.
 * Owns: one libmemcached handle per worker (binary protocol, SASL PLAIN,
 *   ketama over several servers, the tutorial's timeouts), key rules
 *   (prefix, <= 250 bytes, unsafe keys replaced by prefix + hex digest),
 *   the per-worker breaker, and per-worker counters.
 * Invariants: created after fork, never shared across processes. With no
 *   servers configured every get is a miss and every write a no-op (TL_OK).
 *   While the breaker is open (for retry_timeout after a failure or timeout),
 *   no network I/O happens: gets miss (TL_EUNAVAIL), writes are skipped.
 * Context: workers and one-shot commands (tasklist cache ...).
 */
#ifndef TASKLIST_CACHE_CLIENT_H
#define TASKLIST_CACHE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"
#include "../base/arena.h"
#include "../base/str.h"

struct cache;

/* The [cache] settings (conf/tasklist.ini), owned by this layer: the config
 * loader fills one from CACHE_SETTINGS_DEFAULT and hands it to cache_new.
 * Fixed-size fields: it is copied by value and survives fork. */
struct cache_settings {
    char servers[1024];             /* "host:port,host:port"; "" = caching off */
    unsigned local_size_mb;         /* same-host tier in shared memory, MiB; 0 = off */
    char username[256];
    char password[256];             /* secret */
    char key_prefix[64];
    unsigned default_timeout_s;     /* 0 = never expire */
    unsigned connect_timeout_ms;
    unsigned send_timeout_ms;
    unsigned recv_timeout_ms;
    unsigned poll_timeout_ms;
    unsigned retry_timeout_s;       /* the breaker's first interval */
    unsigned dead_timeout_s;        /* the breaker's longest interval */
    bool tcp_nodelay;
    bool tcp_keepalive;
    bool remove_failed;
    unsigned long item_size_max;    /* bytes */
};

/* The defaults (the tutorial's MemCachier values), as an initializer:
 * `struct cache_settings s = CACHE_SETTINGS_DEFAULT;` (a macro, so the
 * config loader needs no link dependency on this library). */
#define CACHE_SETTINGS_DEFAULT {                                                  \
    .servers = "", .local_size_mb = 64, .key_prefix = "tasklist:",               \
    .default_timeout_s = 300, .connect_timeout_ms = 2000, .send_timeout_ms = 750, \
    .recv_timeout_ms = 750, .poll_timeout_ms = 2000, .retry_timeout_s = 2,       \
    .dead_timeout_s = 30, .tcp_nodelay = true, .tcp_keepalive = true,            \
    .remove_failed = true, .item_size_max = 1024UL * 1024 }
/* The largest local_size_mb the config accepts. */
#define CACHE_LOCAL_SIZE_MB_MAX 65536

struct cache_stats {
    uint64_t hits;          /* keys found */
    uint64_t misses;        /* keys not found */
    uint64_t sets;          /* set/add/incr/delete/touch sent */
    uint64_t round_trips;   /* network exchanges (a multi-get is one) */
    uint64_t errors;        /* failed operations (breaker opened) */
    uint64_t skipped;       /* operations skipped while the breaker was open */
};

/* Client for settings s (copied: s may go away). Never NULL unless out of
 * memory: with no servers it is a disabled client (cache_enabled() false).
 * Logs once, at creation, when caching is off. Does not connect until first use. */
struct cache *cache_new(const struct cache_settings *s);
void cache_free(struct cache *cc);
bool cache_enabled(const struct cache *cc);

/* Fetch one key. TL_OK with *value in arena a; TL_ENOTFOUND on a miss;
 * TL_EUNAVAIL when the cache is off, the breaker is open, or the call failed. */
enum tl_err cache_get(struct cache *cc, struct str key, struct arena *a, struct str *value);

/* Fetch n keys in one round trip. found[i] and values[i] (in a) for each key.
 * Returns TL_OK when the round trip succeeded (some keys may be missing),
 * TL_EUNAVAIL otherwise (all found[i] false). */
enum tl_err cache_get_multi(struct cache *cc, const struct str *keys, size_t n, struct arena *a,
                            struct str *values, bool *found);

/* ttl_s: 0 = never expire; values above 30 days are sent as absolute time.
 * Values larger than cache_item_size_max are refused with TL_ETOOBIG (logged). */
enum tl_err cache_set(struct cache *cc, struct str key, struct str value, unsigned ttl_s);
/* Store n values in one pipelined write of quiet sets (SETQ) on a second,
 * buffered connection, without waiting for anything: a page's worth of
 * fragments costs one write, not n round trips. Fire and forget: the values
 * become visible as the server processes them (a get on the main connection
 * right after may still miss); a value over the item size is skipped
 * (logged); a server-side refusal is not reported; a write failure drops
 * that connection and skips batches for retry_timeout (TL_EUNAVAIL), without
 * opening the breaker of the other operations. */
enum tl_err cache_set_many(struct cache *cc, const struct str *keys, const struct str *values,
                           size_t n, unsigned ttl_s);
/* Store only when absent: TL_EEXIST when present. */
enum tl_err cache_add(struct cache *cc, struct str key, struct str value, unsigned ttl_s);
/* TL_OK or TL_ENOTFOUND; TL_EUNAVAIL when it could not be delivered. */
enum tl_err cache_delete(struct cache *cc, struct str key);
/* Binary-protocol increment: creates the key with initial when absent.
 * *out (may be NULL) gets the new value. */
enum tl_err cache_incr(struct cache *cc, struct str key, uint64_t delta, uint64_t initial,
                       unsigned ttl_s, uint64_t *out);
enum tl_err cache_touch(struct cache *cc, struct str key, unsigned ttl_s);

/* Empty our namespace: flush every server
 * (a MemCachier cache is one tenant's namespace). */
enum tl_err cache_flush(struct cache *cc);

/* The full key sent to the server for key (prefix applied, hashed when too
 * long or unsafe), in arena a. */
struct str cache_full_key(const struct cache *cc, struct str key, struct arena *a);

/* Counters of this client since creation. */
const struct cache_stats *cache_stats_of(const struct cache *cc);
/* Whether the breaker is open (cache I/O skipped or about to be probed). */
bool cache_breaker_is_open(const struct cache *cc);

/* One server's own counters (memcached STATS), as the MemCachier dashboard
 * shows them. answered false: the server did not answer (error says why). */
struct cache_server_stat {
    char name[300];         /* host:port */
    bool answered;
    char error[200];
    unsigned long long get_hits, get_misses, cmd_get, cmd_set, curr_items, bytes, evictions;
};

/* STATS of every configured server, one entry each in *out (malloc'd; the
 * caller frees it) and *n. TL_EUNAVAIL when no server answers at all (then
 * cache_auth_failed() tells whether the credentials were refused), TL_EIO
 * when the STATS exchange failed. */
enum tl_err cache_server_stats(struct cache *cc, struct cache_server_stat **out, size_t *n);
/* Whether the servers refused our SASL credentials (logged once, without
 * the password). */
bool cache_auth_failed(const struct cache *cc);

#endif
