/*
 * cache/tier.h - the same-host cache tier: one shared-memory segment that
 * every worker of a pool reads and writes, in front of memcached.
 * Owns: the segment (a memfd named "tasklist-cache", mapped by the master
 *   before it forks, so workers inherit it and it outlives any of them), its
 *   layout, lookups, stores, eviction and counters.
 * Invariants:
 *   - Only entries whose key names everything they depend on (the data
 *     version, or a row's version) go in: nothing is ever invalidated here,
 *     old entries age out. So a copy here is exactly as correct as the one in
 *     memcached (docs/consistency.md).
 *   - No lock anywhere: a lookup never blocks, a store never waits for a
 *     reader, and a process SIGKILLed at any instant leaves nothing to
 *     recover (see tier.c for why).
 *   - No allocation and no system call on a hit: the value is copied into
 *     the request's arena (a bump in its kept block).
 * Context: created in the master; used by workers and one-shot commands.
 */
#ifndef TASKLIST_CACHE_TIER_H
#define TASKLIST_CACHE_TIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../base/err.h"
#include "../base/arena.h"
#include "../base/str.h"

struct tier;

struct tier_stats {
    uint64_t hits, misses, stores, evictions;
    uint64_t bytes_used;    /* of the log, up to its size */
    uint64_t entries;       /* index slots that point at a live record */
    uint64_t size;          /* the whole segment, bytes */
};

/* Map a new segment of size_mb MiB (at least 1) holding values of at most
 * max_value bytes. NULL with d filled on failure (memfd, ftruncate, mmap). */
struct tier *tier_new(unsigned size_mb, size_t max_value, struct tl_diag *d);
/* Unmap (other processes keep their own mapping until they exit). */
void tier_free(struct tier *t);
/* Size the segment was made with, MiB. */
unsigned tier_size_mb(const struct tier *t);
/* Once in each worker after fork: picks this process's counter stripe. */
void tier_attach(struct tier *t, unsigned stripe_hint);

/* The value stored under key, copied into a: true with *value set, false on
 * a miss (absent, expired, evicted, or overwritten while being read). */
bool tier_get(struct tier *t, struct str key, struct arena *a, struct str *value);
/* Store value under key for ttl_s seconds (0 = until evicted). Values over
 * the limit, or over a quarter of the log, are not stored. */
void tier_put(struct tier *t, struct str key, struct str value, unsigned ttl_s);

/* Pool-wide counters, bytes used and live entries: sums every stripe and
 * scans the whole index (a millisecond for 64 MiB): for /status and the
 * command line, never per request. */
void tier_stats_of(const struct tier *t, struct tier_stats *out);
/* This process's own hits and misses since fork: two loads, for per-request
 * metrics. */
void tier_own_counts(const struct tier *t, uint64_t *hits, uint64_t *misses);

/* `tasklist cache stats`: the segments of running pools, found through
 * /proc (readable for the same user or root); prints one block per segment.
 * Returns how many were found. */
int tier_print_running(FILE *out);

/* What tier_record_check found: where the value is, and the record's own
 * checksum and expiry (from one copy of its header). */
struct tier_record_view {
    uint64_t value_off;
    uint32_t value_len;
    uint64_t checksum;      /* tier_checksum(key, value) when it was written */
    int64_t expires;
};

/* For lookups, the fuzzer and tests: check the record at byte `off` of a log
 * of log_size bytes (any content) for key/hash, without reading outside it.
 * True with *out filled when it is a record of that key whose value fits in
 * the log and is not longer than max_value. The bytes may still be torn: the
 * caller checks the checksum on its copy of the value. */
bool tier_record_check(const unsigned char *log, uint64_t log_size, uint64_t off, struct str key,
                       uint64_t hash, size_t max_value, struct tier_record_view *out);
/* A fast 64-bit checksum of key and value (not cryptographic: it detects a
 * record torn by a writer that was lapped by the log, not an attacker). */
uint64_t tier_checksum(struct str key, struct str value);

#endif
