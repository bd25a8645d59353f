/*
 * server/metrics.h - what the app reports to GET /metrics (Prometheus text).
 * Owns: the cache tiers (an X-macro: adding a tier is one line here and its
 *   numbers in the app's sample) and the sample an app hands the pool after
 *   each request (struct srv_metrics_sample).
 * Invariants: samples are a worker's cumulative totals; the pool turns them
 *   into deltas and adds them to the shared scoreboard, so the endpoint
 *   shows the sum over every worker, past and present. A tier whose counters
 *   are already pool-wide says so (is_total).
 * Context: workers.
 */
#ifndef TASKLIST_SERVER_METRICS_H
#define TASKLIST_SERVER_METRICS_H

#include <stdbool.h>
#include <stdint.h>

/* X(enum id, label value), in lookup order */
#define SRV_CACHE_TIERS(X)            \
    X(SRV_TIER_LOCAL, "local")        \
    X(SRV_TIER_MEMCACHED, "memcached")

enum srv_cache_tier {
#define SRV_TIER_ENUM(id, label) id,
    SRV_CACHE_TIERS(SRV_TIER_ENUM)
#undef SRV_TIER_ENUM
    SRV_CACHE_TIER__MAX
};

struct srv_tier_sample {
    uint64_t hits;          /* keys found */
    uint64_t misses;        /* keys not found */
    uint64_t round_trips;   /* network exchanges (0 for a same-host tier) */
    bool is_open;           /* breaker open: the tier is being skipped */
    bool is_total;          /* hits/misses/round_trips already sum every process (a shared
                               segment's counters): the board keeps the largest seen, no deltas */
};

/* A worker's cumulative counters since it started (zeroed by the pool
 * before the app fills it). */
struct srv_metrics_sample {
    struct srv_tier_sample tier[SRV_CACHE_TIER__MAX];
    uint64_t db_errors;     /* failed database statements */
};

#endif
