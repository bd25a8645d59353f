/*
 * cache/client_internal.h - declarations shared by client.c and
 *   client_keys.c only (never included from outside src/cache/client*).
 * Owns: the key-building helper, the server-list parser, the checked handle
 *   cache_server_stats uses, and the breaker clock's test seam.
 */
#ifndef TASKLIST_CACHE_CLIENT_INTERNAL_H
#define TASKLIST_CACHE_CLIENT_INTERNAL_H

#include <libmemcached/memcached.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/hostport.h"
#include "../base/str.h"
#include "client.h"

/* memcached's own key limit (ASCII and binary alike). */
#define CACHE_KEY_MAX 250
/* Relative expiries above this many seconds must be sent as unix time. */
#define CACHE_RELATIVE_TTL_MAX 2592000u
/* memcached stores item header (56 bytes with CAS) + key + NUL + value + CRLF
 * in one item: keep that much room below item_size_max. */
#define CACHE_ITEM_OVERHEAD 64u
#define CACHE_SERVERS_MAX 32

#define CACHE_DEFAULT_PORT 11211

struct cache_server {
    char host[HOSTPORT_HOST_MAX];
    unsigned port;
};

/* Build the full key for key with prefix into out (CACHE_KEY_MAX + 1 bytes,
 * NUL-terminated): prefix + key, or prefix + hex(sha256(key)) when that is
 * longer than CACHE_KEY_MAX or key holds a space, control byte or DEL.
 * Returns the length. prefix_len must be <= 64 (config guarantees it). */
size_t cache_key_build(struct str prefix, struct str key, char out[CACHE_KEY_MAX + 1]);

/* True when key would be sent as is (no hashing needed) after prefix. */
bool cache_key_is_safe(struct str prefix, struct str key);

/* Parse "host:port,host:port" (spaces allowed around items, "[v6]:port",
 * port defaults to 11211). Returns the number of servers (0 for an empty
 * list) or -1 with a message in err (err_len bytes) on a bad entry. */
int cache_servers_parse(const char *spec, struct cache_server *out, size_t out_cap, char *err,
                        size_t err_len);

/* The key prefix of cc (borrowed, lives as long as cc). */
struct str cache_prefix_of(const struct cache *cc);

/* The connected, checked libmemcached handle of cc for the CLI: creates it
 * and runs the VERSION check. NULL (with a logged reason) when caching is off
 * or no server answers; *is_auth_failure tells why. */
memcached_st *cache_handle_for_cli(struct cache *cc, bool *is_auth_failure);

/* Test seam: the clock of the breakers (when an interval after a failure
 * ends; the main and the batch breaker alike), in milliseconds,
 * monotonic. now_ms NULL restores CLOCK_MONOTONIC. Only the breakers use
 * it: how long an attempt took (the fast retry after SERVER_MARKED_DEAD)
 * and everything libmemcached times itself (poll timeouts, dead_timeout)
 * stay on real time. */
void cache_set_clock(struct cache *cc, int64_t (*now_ms)(void *ctx), void *ctx);

#endif
