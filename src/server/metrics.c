/*
 * server/metrics.c - GET /metrics: counters of every worker, in Prometheus
 *   text format (version 0.0.4).
 * Owns: recording after each request (route x status cell, latency
 *   histogram, the app's cache and database counters as deltas), the
 *   document, and the monitor_allow check shared with the status endpoint.
 * Invariants: everything counted lives in the scoreboard's shared memory
 *   (struct srv_metrics_board), added with relaxed atomics, so counters sum
 *   over all workers and survive a worker's exit or recycling; the only
 *   per-process state is the last sample (to turn totals into deltas) and
 *   the request's start time. Counters never go down.
 * Context: workers (record, render); the master only counts kills.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "allow.h"
#include "internal.h"
#include "router.h"

/* Status codes with a cell of their own; anything else is "other". */
static const int srv_metrics_statuses[SRV_METRICS_STATUSES - 1] = {
    200, 201, 204, 301, 302, 303, 304, 400, 401, 403, 404, 405,
    408, 409, 413, 415, 422, 429, 500, 501, 502, 503, 504,
};
#define SRV_METRICS_OTHER (SRV_METRICS_STATUSES - 1)

/* Upper bounds of the latency buckets, in microseconds and as printed. */
static const struct { uint64_t us; const char *le; } srv_metrics_buckets[SRV_METRICS_BUCKETS] = {
    { 500, "0.0005" },     { 1000, "0.001" },     { 2500, "0.0025" },   { 5000, "0.005" },
    { 10000, "0.01" },     { 25000, "0.025" },    { 50000, "0.05" },    { 100000, "0.1" },
    { 250000, "0.25" },    { 500000, "0.5" },     { 1000000, "1" },     { 2500000, "2.5" },
    { 5000000, "5" },      { 10000000, "10" },
};

static const char *const srv_metrics_tiers[SRV_CACHE_TIER__MAX] = {
#define SRV_TIER_LABEL(id, label) [id] = label,
    SRV_CACHE_TIERS(SRV_TIER_LABEL)
#undef SRV_TIER_LABEL
};

/* This process's previous sample: totals -> deltas. A fresh worker starts
 * from zero, and so do its counters in the app. */
static struct srv_metrics_sample srv_metrics_last;
static int64_t srv_metrics_start_us;

static const char *srv_metrics_label(const struct srv_worker *w, const struct req *r);
static struct srv_metrics_route *srv_metrics_route(struct srv_metrics_board *m, const char *name);
static bool srv_metrics_named_before(const struct srv_metrics_board *m, unsigned i,
                                     const char *name);
static unsigned srv_metrics_status_index(int status);
static void srv_metrics_render_routes(const struct srv_metrics_board *m, struct strbuf *out);
static void srv_metrics_render_pool(const struct srv_board *b, struct strbuf *out);
static void srv_metrics_render_workers(const struct srv_board *b, struct strbuf *out);
static void srv_metrics_app(struct srv_worker *w);
static void srv_metrics_add(uint64_t *counter, uint64_t n);
static void srv_metrics_max(uint64_t *counter, uint64_t v);
static uint64_t srv_metrics_get(const uint64_t *counter);
static void srv_metrics_head(struct strbuf *out, const char *name, const char *type,
                             const char *help);
static void srv_metrics_label_value(struct strbuf *out, const char *v);

void srv_metrics_begin(int64_t now_us)
{
    srv_metrics_start_us = now_us;
}

int64_t srv_metrics_record(struct srv_worker *w, const struct req *r, int status)
{
    struct srv_metrics_board *m = &w->board->metrics;
    struct srv_metrics_route *rt = srv_metrics_route(m, srv_metrics_label(w, r));
    if (rt)
        srv_metrics_add(&rt->count[srv_metrics_status_index(status)], 1);
    int64_t us = tl_clock_us() - srv_metrics_start_us;
    if (us < 0)
        us = 0;
    for (unsigned i = 0; i < SRV_METRICS_BUCKETS; i++) {
        if ((uint64_t)us <= srv_metrics_buckets[i].us) {
            srv_metrics_add(&m->le[i], 1);
            break;
        }
    }
    srv_metrics_add(&m->duration_us, (uint64_t)us);
    srv_metrics_add(&m->requests, 1);
    srv_metrics_app(w);
    return us;
}

void srv_metrics_render(const struct srv_board *b, struct strbuf *out)
{
    const struct srv_metrics_board *m = &b->metrics;
    srv_metrics_render_routes(m, out);
    srv_metrics_head(out, "tasklist_http_request_duration_seconds", "histogram",
                     "Time from accepting a request to having answered it.");
    uint64_t cum = 0;
    for (unsigned i = 0; i < SRV_METRICS_BUCKETS; i++) {
        cum += srv_metrics_get(&m->le[i]);
        strbuf_printf(out, "tasklist_http_request_duration_seconds_bucket{le=\"%s\"} %" PRIu64 "\n",
                      srv_metrics_buckets[i].le, cum);
    }
    uint64_t count = srv_metrics_get(&m->requests), sum_us = srv_metrics_get(&m->duration_us);
    if (count < cum)   /* torn read: a request counted in a bucket, not yet in the total */
        count = cum;
    strbuf_printf(out,
                  "tasklist_http_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
                  "tasklist_http_request_duration_seconds_sum %" PRIu64 ".%06" PRIu64 "\n"
                  "tasklist_http_request_duration_seconds_count %" PRIu64 "\n",
                  count, sum_us / 1000000, sum_us % 1000000, count);
    srv_metrics_render_pool(b, out);
}

bool srv_metrics_allowed(const struct cfg *c, const struct req *r)
{
    return srv_allow_match(c->monitor_allow, req_param(r, "REMOTE_ADDR"));
}

/* ---- helpers ---- */

/* Requests by route and status: one series per name (rows claimed twice
 * for one name are summed), cells that never counted are left out. */
static void srv_metrics_render_routes(const struct srv_metrics_board *m, struct strbuf *out)
{
    srv_metrics_head(out, "tasklist_http_requests_total", "counter",
                     "Requests answered, by route (endpoint name) and status.");
    unsigned n_routes = __atomic_load_n(&m->n_routes, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n_routes && i < SRV_METRICS_ROUTES; i++) {
        const struct srv_metrics_route *rt = &m->routes[i];
        if (!__atomic_load_n(&rt->is_named, __ATOMIC_ACQUIRE) ||
            srv_metrics_named_before(m, i, rt->name))
            continue;
        for (unsigned s = 0; s < SRV_METRICS_STATUSES; s++) {
            uint64_t n = 0;
            for (unsigned k = i; k < n_routes && k < SRV_METRICS_ROUTES; k++)
                if (__atomic_load_n(&m->routes[k].is_named, __ATOMIC_ACQUIRE) &&
                    strcmp(m->routes[k].name, rt->name) == 0)
                    n += srv_metrics_get(&m->routes[k].count[s]);
            if (!n)
                continue;
            strbuf_puts(out, "tasklist_http_requests_total{route=");
            srv_metrics_label_value(out, rt->name);
            if (s == SRV_METRICS_OTHER)
                strbuf_printf(out, ",status=\"other\"} %" PRIu64 "\n", n);
            else
                strbuf_printf(out, ",status=\"%d\"} %" PRIu64 "\n", srv_metrics_statuses[s], n);
        }
    }
}

/* The cache tiers' counters, then the workers'. */
static void srv_metrics_render_pool(const struct srv_board *b, struct strbuf *out)
{
    const struct srv_metrics_board *m = &b->metrics;
    static const struct { const char *name, *help; size_t off; } per_tier[] = {
        { "tasklist_cache_hits_total", "Cache keys found, per tier.",
          offsetof(struct srv_metrics_board, cache_hits) },
        { "tasklist_cache_misses_total", "Cache keys not found, per tier.",
          offsetof(struct srv_metrics_board, cache_misses) },
        { "tasklist_cache_round_trips_total", "Network exchanges with the cache servers, per tier.",
          offsetof(struct srv_metrics_board, cache_round_trips) },
    };
    for (size_t k = 0; k < sizeof per_tier / sizeof *per_tier; k++) {
        const uint64_t *v = (const uint64_t *)(const void *)((const char *)m + per_tier[k].off);
        srv_metrics_head(out, per_tier[k].name, "counter", per_tier[k].help);
        for (unsigned t = 0; t < SRV_CACHE_TIER__MAX; t++)
            strbuf_printf(out, "%s{tier=\"%s\"} %" PRIu64 "\n", per_tier[k].name,
                          srv_metrics_tiers[t], srv_metrics_get(&v[t]));
    }
    srv_metrics_render_workers(b, out);
}

/* What is read from the slots (breakers, busy and idle workers), the
 * database and the workers' lifecycle counters. */
static void srv_metrics_render_workers(const struct srv_board *b, struct strbuf *out)
{
    const struct srv_metrics_board *m = &b->metrics;
    unsigned open[SRV_CACHE_TIER__MAX] = { 0 }, busy = 0, idle = 0;
    for (unsigned i = 0; i < b->n_slots; i++) {
        const struct srv_slot *s = &b->slots[i];
        unsigned st = __atomic_load_n(&s->state, __ATOMIC_RELAXED);
        if (st == SRV_SLOT_FREE)
            continue;
        busy += st == SRV_SLOT_BUSY;
        idle += st == SRV_SLOT_IDLE;
        uint32_t bits = __atomic_load_n(&s->tiers_open, __ATOMIC_RELAXED);
        for (unsigned t = 0; t < SRV_CACHE_TIER__MAX; t++)
            open[t] += (bits >> t) & 1;
    }
    srv_metrics_head(out, "tasklist_cache_breaker_open", "gauge",
                     "Workers whose breaker for the tier is open (the tier is skipped).");
    for (unsigned t = 0; t < SRV_CACHE_TIER__MAX; t++)
        strbuf_printf(out, "tasklist_cache_breaker_open{tier=\"%s\"} %u\n", srv_metrics_tiers[t],
                      open[t]);
    srv_metrics_head(out, "tasklist_db_errors_total", "counter", "Failed database statements.");
    strbuf_printf(out, "tasklist_db_errors_total %" PRIu64 "\n", srv_metrics_get(&m->db_errors));
    srv_metrics_head(out, "tasklist_workers", "gauge", "Worker processes by state.");
    strbuf_printf(out, "tasklist_workers{state=\"busy\"} %u\ntasklist_workers{state=\"idle\"} %u\n",
                  busy, idle);
    srv_metrics_head(out, "tasklist_workers_recycled_total", "counter",
                     "Workers that exited after max_requests.");
    strbuf_printf(out, "tasklist_workers_recycled_total %" PRIu64 "\n", srv_metrics_get(&m->recycled));
    srv_metrics_head(out, "tasklist_workers_killed_total", "counter",
                     "Workers killed for exceeding request_timeout_s.");
    strbuf_printf(out, "tasklist_workers_killed_total %" PRIu64 "\n", srv_metrics_get(&m->killed));
    srv_metrics_head(out, "tasklist_workers_restarted_total", "counter",
                     "Workers of the current generation replaced after exiting.");
    strbuf_printf(out, "tasklist_workers_restarted_total %" PRIu64 "\n",
                  srv_metrics_get(&b->restarts));
}


/* The route label: the endpoint name, the pool's own endpoints by their
 * config key, "none" for what no route answered (404, 405, 403, 400). */
static const char *srv_metrics_label(const struct srv_worker *w, const struct req *r)
{
    if (r->route && r->route->endpoint)
        return r->route->endpoint;
    const struct cfg *c = w->cfg;
    if (c->ping_path[0] && str_eq_c(r->path, c->ping_path))
        return "ping";
    if (c->status_path[0] && str_eq_c(r->path, c->status_path))
        return "status";
    if (c->metrics_path[0] && str_eq_c(r->path, c->metrics_path))
        return "metrics";
    return "none";
}

/* The row of name, claimed if new; NULL when the table is full (that
 * route's requests still count in the histogram). Two workers claiming the
 * same new name at once get two rows; lookups then find the first, and the
 * document sums rows of one name into one series (srv_metrics_render). */
static struct srv_metrics_route *srv_metrics_route(struct srv_metrics_board *m, const char *name)
{
    unsigned n = __atomic_load_n(&m->n_routes, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n && i < SRV_METRICS_ROUTES; i++) {
        struct srv_metrics_route *rt = &m->routes[i];
        if (__atomic_load_n(&rt->is_named, __ATOMIC_ACQUIRE) && strcmp(rt->name, name) == 0)
            return rt;
    }
    unsigned i = __atomic_fetch_add(&m->n_routes, 1, __ATOMIC_ACQ_REL);
    if (i >= SRV_METRICS_ROUTES) {
        __atomic_store_n(&m->n_routes, SRV_METRICS_ROUTES, __ATOMIC_RELEASE);
        return NULL;
    }
    struct srv_metrics_route *rt = &m->routes[i];
    snprintf(rt->name, sizeof rt->name, "%s", name);
    __atomic_store_n(&rt->is_named, 1, __ATOMIC_RELEASE);
    return rt;
}

static bool srv_metrics_named_before(const struct srv_metrics_board *m, unsigned i,
                                     const char *name)
{
    for (unsigned k = 0; k < i; k++)
        if (__atomic_load_n(&m->routes[k].is_named, __ATOMIC_ACQUIRE) &&
            strcmp(m->routes[k].name, name) == 0)
            return true;
    return false;
}

static unsigned srv_metrics_status_index(int status)
{
    for (unsigned i = 0; i < SRV_METRICS_OTHER; i++)
        if (srv_metrics_statuses[i] == status)
            return i;
    return SRV_METRICS_OTHER;
}

/* The app's totals since this worker started, as deltas into the board. */
static void srv_metrics_app(struct srv_worker *w)
{
    if (!w->app->metrics)
        return;
    struct srv_metrics_sample now;
    memset(&now, 0, sizeof now);
    w->app->metrics(w->ctx, &now);
    struct srv_metrics_board *m = &w->board->metrics;
    struct srv_metrics_sample *last = &srv_metrics_last;
    uint32_t open = 0;
    for (unsigned t = 0; t < SRV_CACHE_TIER__MAX; t++) {
        const struct srv_tier_sample *a = &now.tier[t], *b = &last->tier[t];
        if (a->is_total) {
            srv_metrics_max(&m->cache_hits[t], a->hits);
            srv_metrics_max(&m->cache_misses[t], a->misses);
            srv_metrics_max(&m->cache_round_trips[t], a->round_trips);
        } else {
            srv_metrics_add(&m->cache_hits[t], a->hits - b->hits);
            srv_metrics_add(&m->cache_misses[t], a->misses - b->misses);
            srv_metrics_add(&m->cache_round_trips[t], a->round_trips - b->round_trips);
        }
        open |= (uint32_t)a->is_open << t;
    }
    srv_metrics_add(&m->db_errors, now.db_errors - last->db_errors);
    __atomic_store_n(&w->slot->tiers_open, open, __ATOMIC_RELAXED);
    *last = now;
}

static void srv_metrics_add(uint64_t *counter, uint64_t n)
{
    if (n)
        __atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

/* Raise *counter to v (a pool-wide total read by several workers at
 * slightly different times: the largest is the newest). */
static void srv_metrics_max(uint64_t *counter, uint64_t v)
{
    uint64_t cur = __atomic_load_n(counter, __ATOMIC_RELAXED);
    while (v > cur &&
           !__atomic_compare_exchange_n(counter, &cur, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static uint64_t srv_metrics_get(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static void srv_metrics_head(struct strbuf *out, const char *name, const char *type,
                             const char *help)
{
    strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A quoted label value with \ " and newline escaped (the format's rule). */
static void srv_metrics_label_value(struct strbuf *out, const char *v)
{
    strbuf_puts(out, "\"");
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            strbuf_printf(out, "\\%c", *v);
        else if (*v == '\n')
            strbuf_puts(out, "\\n");
        else
            strbuf_append(out, v, 1);
    }
    strbuf_puts(out, "\"");
}
