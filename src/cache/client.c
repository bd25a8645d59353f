/*
 * cache/client.c - the per-worker memcached client of client.h.
 * Owns: the libmemcached handle (binary protocol, SASL PLAIN, ketama, the
 *   tutorial's timeouts from struct cache_settings), the breaker and the counters of
 *   struct cache_stats.
 * Invariants:
 *   - The handle is created on first use, in the process that uses it (so a
 *     client made before fork never shares a socket), then checked with one
 *     VERSION per server, which is what surfaces a wrong password
 *     (libmemcached otherwise reports only "SERVER HAS FAILED" later).
 *   - Breaker: any failed or timed-out operation closes every connection (a
 *     late reply must never answer the next request) and skips all cache I/O
 *     until open_until_ms. The first operation after that is the probe.
 *     Consecutive failures double the interval (retry_timeout, 2x, 4x, ...)
 *     up to dead_timeout: with N workers taking requests in turn, a fixed
 *     interval shorter than N timeouts would let every request pay one.
 *   - Bounded wait: one operation waits at most one poll timeout. The only
 *     retry (after SERVER_MARKED_DEAD) happens when the first attempt failed
 *     without waiting, i.e. on libmemcached's lazy ejection.
 *   - Every operation of the main connection goes through cache_op_run,
 *     which owns that contract (gate, full key, counters, retry, breaker);
 *     an operation only supplies its attempt and what its replies mean.
 *     flush (no retry) and the batch path are apart on purpose.
 *   - The breakers read cache_now_ms (a test may step it: cache_set_clock);
 *     attempt durations use the real monotonic clock.
 *   - The fire-and-forget batch (cache_set_many) has a breaker of its own:
 *     its failure never turns off the gets and sets of the worker.
 *   - Nothing here decides whether a cached value is current: callers key
 *     entries by the data version read from the database (web/cached.c), so a
 *     failed or skipped delete costs memory, not correctness.
 *   - The password is only handed to libmemcached and never logged.
 * Context: one client per worker (after fork) or per one-shot command;
 *   single-threaded.
 */
#include <libmemcached/memcached.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../base/clock.h"
#include "../base/log.h"
#include "client_internal.h"

/* Batches sent on one batch connection before it is reopened (see cache_set_many). */
#define CACHE_BATCH_RECYCLE 1024
/* A first attempt that failed faster than this did no network wait (the
 * lazy ejection's SERVER_MARKED_DEAD), so one retry keeps the bound. */
#define CACHE_RETRY_FAST_MS 20

struct cache {
    bool is_enabled;
    bool is_checked;        /* VERSION check passed since the last (re)connect */
    bool is_open;           /* breaker open (or half-open once open_until_ms passed) */
    bool has_logged_auth;   /* the wrong-credentials message is said once */
    memcached_st *mc;       /* NULL until first use */
    memcached_st *batch;    /* clone with buffered requests, for cache_set_many; lazy */
    unsigned n_batches;     /* since the batch connection was (re)opened */
    int64_t open_until_ms;  /* CLOCK_MONOTONIC */
    int64_t batch_open_until_ms; /* the batch's own breaker (cache_set_many) */
    unsigned n_failures;    /* consecutive failures, for the backoff */
    struct cache_server servers[CACHE_SERVERS_MAX];
    size_t n_servers;
    char username[256];
    char password[256];
    char prefix[65];
    size_t prefix_len;
    unsigned connect_timeout_ms, send_timeout_ms, recv_timeout_ms, poll_timeout_ms;
    unsigned retry_timeout_s, dead_timeout_s;
    bool tcp_nodelay, tcp_keepalive, remove_failed;
    unsigned long item_size_max;
    struct cache_stats stats;
    int64_t (*clock_ms)(void *ctx); /* the breaker's clock (cache_set_clock); NULL = monotonic */
    void *clock_ctx;
};

/* One operation of the main connection, as cache_op_run runs it. */
struct cache_op {
    const char *name;             /* "get", "set", ...: logs */
    struct str key;               /* the caller's key (logs; a multi-get's first key) */
    bool is_write;                /* counted in stats.sets */
    bool has_full_key;            /* fk was built by the caller (cache_store) */
    char fk[CACHE_KEY_MAX + 1];   /* the full key sent */
    size_t fk_len;
    /* Optional, after the gate, instead of building fk: what the attempt
     * needs (a multi-get's keys); anything but TL_OK ends the operation. */
    enum tl_err (*prepare)(struct cache *cc, struct cache_op *op);
    /* One request and its reply; called again once after a fast
     * SERVER_MARKED_DEAD (cache_should_retry). */
    memcached_return_t (*attempt)(struct cache *cc, struct cache_op *op);
    /* The server answered: true with *result (preset TL_OK). false: rc is a
     * failure, and the breaker opens. */
    bool (*classify)(struct cache *cc, struct cache_op *op, memcached_return_t rc, enum tl_err *result);
    void *arg;                    /* the operation's own data, below */
};

struct cache_get_arg {
    struct arena *a;
    struct str *value;
    char *v;                      /* libmemcached's malloc'd reply, freed by classify */
    size_t len;
};

struct cache_mget_arg {
    const struct str *keys;
    size_t n;
    struct arena *a;
    struct str *values;
    bool *found;
    const char **fks;             /* full keys, built by prepare */
    size_t *fk_lens;
    bool is_oom;
};

struct cache_incr_arg {
    uint64_t delta, initial;
    unsigned ttl_s;
    uint64_t value;               /* the new value */
};

struct cache_store_arg {
    bool is_add;
    struct str value;
    unsigned ttl_s;
};

static int64_t cache_now_ms(const struct cache *cc);
static int64_t cache_real_ms(void);
static bool cache_should_retry(memcached_return_t rc, int *attempt, int64_t t0_ms);
static memcached_return_t cache_mget_once(struct cache *cc, const char **fks, const size_t *fk_lens,
                                          size_t n, struct arena *a, struct str *values, bool *found,
                                          bool *is_oom);
static enum tl_err cache_begin(struct cache *cc);
static void cache_ok(struct cache *cc);
static enum tl_err cache_fail(struct cache *cc, const char *op, struct str key, memcached_return_t rc);
static enum tl_err cache_batch_fail(struct cache *cc, struct str key, memcached_return_t rc);
static enum tl_err cache_handle_create(struct cache *cc);
static void cache_batch_close(struct cache *cc);
static enum tl_err cache_batch_create(struct cache *cc);
static bool cache_sasl(const struct cache *cc, memcached_st *mc);
static const char *cache_log_key(struct str key);
static enum tl_err cache_check(struct cache *cc);
static time_t cache_expiry(unsigned ttl_s);
static enum tl_err cache_store(struct cache *cc, bool is_add, struct str key, struct str value,
                               unsigned ttl_s);
static enum tl_err cache_op_run(struct cache *cc, struct cache_op *op);
static memcached_return_t cache_get_attempt(struct cache *cc, struct cache_op *op);
static bool cache_get_classify(struct cache *cc, struct cache_op *op, memcached_return_t rc,
                               enum tl_err *result);
static enum tl_err cache_mget_prepare(struct cache *cc, struct cache_op *op);
static memcached_return_t cache_mget_attempt(struct cache *cc, struct cache_op *op);
static bool cache_mget_classify(struct cache *cc, struct cache_op *op, memcached_return_t rc,
                                enum tl_err *result);
static memcached_return_t cache_delete_attempt(struct cache *cc, struct cache_op *op);
static memcached_return_t cache_touch_attempt(struct cache *cc, struct cache_op *op);
static bool cache_found_classify(struct cache *cc, struct cache_op *op, memcached_return_t rc,
                                 enum tl_err *result);
static memcached_return_t cache_incr_attempt(struct cache *cc, struct cache_op *op);
static bool cache_incr_classify(struct cache *cc, struct cache_op *op, memcached_return_t rc,
                                enum tl_err *result);
static memcached_return_t cache_store_attempt(struct cache *cc, struct cache_op *op);
static bool cache_store_classify(struct cache *cc, struct cache_op *op, memcached_return_t rc,
                                 enum tl_err *result);

struct cache *cache_new(const struct cache_settings *s)
{
    struct cache *cc = calloc(1, sizeof *cc);
    if (!cc)
        return NULL;
    snprintf(cc->username, sizeof cc->username, "%s", s->username);
    snprintf(cc->password, sizeof cc->password, "%s", s->password);
    cc->prefix_len = strnlen(s->key_prefix, sizeof s->key_prefix);
    memcpy(cc->prefix, s->key_prefix, cc->prefix_len);
    cc->connect_timeout_ms = s->connect_timeout_ms;
    cc->send_timeout_ms = s->send_timeout_ms;
    cc->recv_timeout_ms = s->recv_timeout_ms;
    cc->poll_timeout_ms = s->poll_timeout_ms;
    cc->retry_timeout_s = s->retry_timeout_s;
    cc->dead_timeout_s = s->dead_timeout_s;
    cc->tcp_nodelay = s->tcp_nodelay;
    cc->tcp_keepalive = s->tcp_keepalive;
    cc->remove_failed = s->remove_failed;
    cc->item_size_max = s->item_size_max;

    char err[256];
    int n = cache_servers_parse(s->servers, cc->servers, CACHE_SERVERS_MAX, err, sizeof err);
    if (n < 0) {
        log_error("cache: cache_servers \"%s\": %s; caching is off", s->servers, err);
        return cc;
    }
    if (n == 0) {
        log_info("cache: no cache servers configured; caching is off (every lookup misses)");
        return cc;
    }
    cc->n_servers = (size_t)n;
    cc->is_enabled = true;
    return cc;
}

void cache_free(struct cache *cc)
{
    if (!cc)
        return;
    if (cc->batch) {
        cache_batch_close(cc);
        memcached_free(cc->batch);
    }
    if (cc->mc)
        memcached_free(cc->mc);
    sodium_memzero(cc->password, sizeof cc->password);
    free(cc);
}

bool cache_enabled(const struct cache *cc)
{
    return cc && cc->is_enabled;
}

struct str cache_prefix_of(const struct cache *cc)
{
    return (struct str){ cc->prefix, cc->prefix_len };
}

enum tl_err cache_get(struct cache *cc, struct str key, struct arena *a, struct str *value)
{
    *value = STR_NULL;
    struct cache_get_arg g = { .a = a, .value = value };
    struct cache_op op = { .name = "get", .key = key, .attempt = cache_get_attempt,
                           .classify = cache_get_classify, .arg = &g };
    return cache_op_run(cc, &op);
}

enum tl_err cache_get_multi(struct cache *cc, const struct str *keys, size_t n, struct arena *a,
                            struct str *values, bool *found)
{
    for (size_t i = 0; i < n; i++) {
        found[i] = false;
        values[i] = STR_NULL;
    }
    if (n == 0)
        return cc->is_enabled ? TL_OK : TL_EUNAVAIL;
    struct cache_mget_arg m = { .keys = keys, .n = n, .a = a, .values = values, .found = found };
    struct cache_op op = { .name = "get_multi", .key = keys[0], .prepare = cache_mget_prepare,
                           .attempt = cache_mget_attempt, .classify = cache_mget_classify, .arg = &m };
    return cache_op_run(cc, &op);
}

enum tl_err cache_set(struct cache *cc, struct str key, struct str value, unsigned ttl_s)
{
    return cache_store(cc, false, key, value, ttl_s);
}

enum tl_err cache_set_many(struct cache *cc, const struct str *keys, const struct str *values,
                           size_t n, unsigned ttl_s)
{
    if (!cc->is_enabled || n == 0)
        return TL_OK;
    if (cc->batch_open_until_ms && cache_now_ms(cc) < cc->batch_open_until_ms) {
        cc->stats.skipped++;
        return TL_EUNAVAIL;
    }
    enum tl_err e = cache_begin(cc);
    if (e != TL_OK)
        return e;
    if (!cc->batch && (e = cache_batch_create(cc)) != TL_OK)
        return e;
    memcached_return_t rc = MEMCACHED_SUCCESS;
    size_t i;
    for (i = 0; i < n; i++) {
        char fk[CACHE_KEY_MAX + 1];
        size_t fk_len = cache_key_build(cache_prefix_of(cc), keys[i], fk);
        if (values[i].len + fk_len + CACHE_ITEM_OVERHEAD > cc->item_size_max) {
            log_warn("cache: set \"%s\": value of %zu bytes is over the item size limit; not stored",
                     cache_log_key(keys[i]), values[i].len);
            continue;
        }
        rc = memcached_set(cc->batch, fk, fk_len, values[i].p ? values[i].p : "", values[i].len,
                           cache_expiry(ttl_s), 0);
        if (rc != MEMCACHED_BUFFERED && rc != MEMCACHED_SUCCESS)
            break;
        cc->stats.sets++;
    }
    if (i == n)
        rc = memcached_flush_buffers(cc->batch);
    /* Fire and forget: quiet sets have no reply on success, so nothing is
     * waited for and no round trip is counted. (libmemcached's VERSION is no
     * barrier: it asks each server once per handle.) The rare error reply to
     * a quiet set is never read: reconnecting now and then drops any. */
    if (++cc->n_batches >= CACHE_BATCH_RECYCLE)
        cache_batch_close(cc);
    if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_BUFFERED)
        return cache_batch_fail(cc, keys[i < n ? i : 0], rc);
    cc->batch_open_until_ms = 0;
    return TL_OK;
}

enum tl_err cache_add(struct cache *cc, struct str key, struct str value, unsigned ttl_s)
{
    return cache_store(cc, true, key, value, ttl_s);
}

enum tl_err cache_delete(struct cache *cc, struct str key)
{
    if (!cc->is_enabled)
        return TL_OK;
    struct cache_op op = { .name = "delete", .key = key, .is_write = true,
                           .attempt = cache_delete_attempt, .classify = cache_found_classify };
    return cache_op_run(cc, &op);
}

enum tl_err cache_incr(struct cache *cc, struct str key, uint64_t delta, uint64_t initial,
                       unsigned ttl_s, uint64_t *out)
{
    if (!cc->is_enabled) {
        if (out)
            *out = initial;
        return TL_OK;
    }
    struct cache_incr_arg n = { .delta = delta, .initial = initial, .ttl_s = ttl_s };
    struct cache_op op = { .name = "incr", .key = key, .is_write = true, .attempt = cache_incr_attempt,
                           .classify = cache_incr_classify, .arg = &n };
    enum tl_err e = cache_op_run(cc, &op);
    if (e == TL_OK && out)
        *out = n.value;
    return e;
}

enum tl_err cache_touch(struct cache *cc, struct str key, unsigned ttl_s)
{
    if (!cc->is_enabled)
        return TL_OK;
    struct cache_op op = { .name = "touch", .key = key, .is_write = true, .attempt = cache_touch_attempt,
                           .classify = cache_found_classify, .arg = &ttl_s };
    return cache_op_run(cc, &op);
}

enum tl_err cache_flush(struct cache *cc)
{
    if (!cc->is_enabled)
        return TL_OK;
    enum tl_err e = cache_begin(cc);
    if (e != TL_OK)
        return e;
    cc->stats.round_trips++;
    memcached_return_t rc = memcached_flush(cc->mc, 0);
    if (rc != MEMCACHED_SUCCESS)
        return cache_fail(cc, "flush", STR(""), rc);
    cache_ok(cc);
    return TL_OK;
}

void cache_set_clock(struct cache *cc, int64_t (*now_ms)(void *ctx), void *ctx)
{
    cc->clock_ms = now_ms;
    cc->clock_ctx = ctx;
}

const struct cache_stats *cache_stats_of(const struct cache *cc)
{
    return &cc->stats;
}

bool cache_breaker_is_open(const struct cache *cc)
{
    return cc->is_enabled && cc->is_open;
}

memcached_st *cache_handle_for_cli(struct cache *cc, bool *is_auth_failure)
{
    *is_auth_failure = false;
    if (!cc->is_enabled)
        return NULL;
    enum tl_err e = cache_begin(cc);
    if (e != TL_OK) {
        *is_auth_failure = cc->has_logged_auth;
        return NULL;
    }
    return cc->mc;
}

/* ---- helpers ---- */

/* libmemcached ejects a failed server lazily: the first operation mapped to
 * it after the failure gets SERVER_MARKED_DEAD without any I/O, and the ketama
 * ring has just been rebuilt without it. One immediate retry lands on a live
 * server, so a dead server among several costs one failure, not two. But
 * SERVER_MARKED_DEAD also ends an attempt that waited a whole poll timeout on
 * a hung server; retrying that one would wait a second timeout (measured:
 * 4.0 s for one request), so only a fast failure is retried. */
static bool cache_should_retry(memcached_return_t rc, int *attempt, int64_t t0_ms)
{
    return rc == MEMCACHED_SERVER_MARKED_DEAD && (*attempt)++ == 0 &&
           cache_real_ms() - t0_ms < CACHE_RETRY_FAST_MS;
}

/* One multi-get: GETKQ per key and a NOOP per server, then the replies.
 * MEMCACHED_SUCCESS when every involved server answered (found[] filled),
 * otherwise the error (a server that could not be reached counts: mget skips
 * it silently, the last-disconnect record is what tells us). */
static memcached_return_t cache_mget_once(struct cache *cc, const char **fks, const size_t *fk_lens,
                                          size_t n, struct arena *a, struct str *values, bool *found,
                                          bool *is_oom)
{
    for (size_t i = 0; i < n; i++)
        found[i] = false;
    memcached_reset_last_disconnected_server(cc->mc);
    memcached_return_t rc = memcached_mget(cc->mc, fks, fk_lens, n);
    if (rc != MEMCACHED_SUCCESS)
        return rc;
    memcached_result_st res;
    memcached_result_create(cc->mc, &res);
    /* Replies come back in request order per server, so the search for a
     * reply's key resumes after the previous match: linear for one server,
     * rather than n * n comparisons for a page of n fragments. */
    size_t cursor = 0;
    while (memcached_fetch_result(cc->mc, &res, &rc)) {
        const char *k = memcached_result_key_value(&res);
        size_t k_len = memcached_result_key_length(&res);
        for (size_t j = 0; j < n; j++) {
            size_t i = cursor + j < n ? cursor + j : cursor + j - n;
            if (found[i] || fk_lens[i] != k_len || memcmp(fks[i], k, k_len) != 0)
                continue;
            size_t v_len = memcached_result_length(&res);
            char *copy = arena_strndup(a, v_len ? memcached_result_value(&res) : "", v_len);
            if (!copy) {
                *is_oom = true;
                break;
            }
            values[i] = (struct str){ copy, v_len };
            found[i] = true;
            cursor = i + 1 < n ? i + 1 : 0;
            break;   /* a key asked for twice is found once (callers dedupe; the template does) */
        }
    }
    memcached_result_free(&res);
    if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND)
        return rc;
    const memcached_instance_st *lost = memcached_server_get_last_disconnect(cc->mc);
    if (lost) {
        rc = memcached_server_error_return(lost);
        return memcached_failed(rc) ? rc : MEMCACHED_CONNECTION_FAILURE;
    }
    return MEMCACHED_SUCCESS;
}

/* The breaker's clock: when an interval ends. Tests step it with
 * cache_set_clock instead of sleeping through retry_timeout. */
static int64_t cache_now_ms(const struct cache *cc)
{
    return cc->clock_ms ? cc->clock_ms(cc->clock_ctx) : cache_real_ms();
}

/* How long an attempt really took (cache_should_retry): always the monotonic
 * clock, since it measures libmemcached's own waits. */
static int64_t cache_real_ms(void)
{
    return tl_clock_ms();
}

/* Gate every operation: TL_OK when network I/O may happen now (the handle
 * exists and is checked), TL_EUNAVAIL when
 * caching is off, the breaker is open (counted as skipped), or the probe
 * failed (counted as an error, breaker reopened). */
static enum tl_err cache_begin(struct cache *cc)
{
    if (!cc->is_enabled)
        return TL_EUNAVAIL;
    if (cc->is_open && cache_now_ms(cc) < cc->open_until_ms) {
        cc->stats.skipped++;
        return TL_EUNAVAIL;
    }
    if (!cc->mc && cache_handle_create(cc) != TL_OK)
        return cache_fail(cc, "connect", STR(""), MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    if (!cc->is_checked && cache_check(cc) != TL_OK)
        return TL_EUNAVAIL;
    return TL_OK;
}

/* The servers answered: close the breaker (once per transition). */
static void cache_ok(struct cache *cc)
{
    if (cc->is_open) {
        log_info("cache: servers answer again; cache back in use");
        cc->is_open = false;
    }
    cc->n_failures = 0;
}

/* Count the failure, drop every connection, open the breaker with backoff.
 * Always returns TL_EUNAVAIL. */
/* A key as a log shows it: a session key is a credential, so "session:...",
 * never the id; any other key may hold a client's path (view keys), so it is
 * escaped and bounded (log_client). One buffer: one key per log line. */
static const char *cache_log_key(struct str key)
{
    static char buf[LOG_CLIENT_BUF];
    if (str_starts_with(key, STR("session:")))
        return "session:...";
    return log_client(key, buf, sizeof buf);
}

static enum tl_err cache_fail(struct cache *cc, const char *op, struct str key, memcached_return_t rc)
{
    const char *shown = cache_log_key(key);
    cc->stats.errors++;
    unsigned shift = cc->n_failures < 5 ? cc->n_failures : 5;
    uint64_t interval_s = (uint64_t)cc->retry_timeout_s << shift;
    uint64_t cap_s = cc->dead_timeout_s > cc->retry_timeout_s ? cc->dead_timeout_s : cc->retry_timeout_s;
    if (interval_s > cap_s)
        interval_s = cap_s;
    cc->n_failures++;
    const char *why = cc->mc ? memcached_last_error_message(cc->mc) : "out of memory";
    if (!cc->is_open && key.len == 0)
        log_warn("cache: %s: %s (%s); skipping the cache for %llu s", op, memcached_strerror(cc->mc, rc), why,
                 (unsigned long long)interval_s);
    else if (!cc->is_open)
        log_warn("cache: %s \"%s\": %s (%s); skipping the cache for %llu s", op, shown,
                 memcached_strerror(cc->mc, rc), why, (unsigned long long)interval_s);
    else
        log_debug("cache: probe %s \"%s\" failed: %s; next try in %llu s", op, shown,
                  memcached_strerror(cc->mc, rc), (unsigned long long)interval_s);
    cc->is_open = true;
    cc->open_until_ms = cache_now_ms(cc) + (int64_t)interval_s * 1000;
    if (cc->mc)
        memcached_quit(cc->mc); /* a late reply must not answer the next request */
    if (cc->batch)
        cache_batch_close(cc);
    cc->is_checked = false;
    return TL_EUNAVAIL;
}

/* A fire-and-forget batch failed: drop the batch connection and skip
 * batches for retry_timeout, but leave the main breaker alone: the values
 * were optional, and the worker's gets and sets may well work (a failed
 * batch turning the whole cache off let other faults cascade). */
static enum tl_err cache_batch_fail(struct cache *cc, struct str key, memcached_return_t rc)
{
    cc->stats.errors++;
    cache_batch_close(cc);
    if (!cc->batch_open_until_ms)
        log_warn("cache: set_many \"%s\": %s; skipping batched stores for %u s", cache_log_key(key),
                 memcached_strerror(cc->batch, rc), cc->retry_timeout_s);
    cc->batch_open_until_ms = cache_now_ms(cc) + (int64_t)cc->retry_timeout_s * 1000;
    if (!cc->batch_open_until_ms)
        cc->batch_open_until_ms = 1;
    return TL_EUNAVAIL;
}

static enum tl_err cache_handle_create(struct cache *cc)
{
    memcached_st *mc = memcached_create(NULL);
    if (!mc)
        return TL_ENOMEM;
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, cc->tcp_nodelay);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_KEEPALIVE, cc->tcp_keepalive);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, cc->connect_timeout_ms);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, cc->poll_timeout_ms);
    /* SO_SNDTIMEO / SO_RCVTIMEO: libmemcached takes microseconds. */
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_SND_TIMEOUT, (uint64_t)cc->send_timeout_ms * 1000);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, (uint64_t)cc->recv_timeout_ms * 1000);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, cc->retry_timeout_s);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_DEAD_TIMEOUT, cc->dead_timeout_s);
    if (cc->remove_failed) {
        /* Eject a failed server from the ketama ring after one failure, so its
         * keys move to the others until dead_timeout. */
        memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS, 1);
        memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_SERVER_FAILURE_LIMIT, 1);
    }
    for (size_t i = 0; i < cc->n_servers; i++) {
        if (memcached_server_add(mc, cc->servers[i].host, (in_port_t)cc->servers[i].port) !=
            MEMCACHED_SUCCESS) {
            log_error("cache: cannot add server %s:%u: %s", cc->servers[i].host, cc->servers[i].port,
                      memcached_last_error_message(mc));
        }
    }
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_KETAMA, 1);
    if (!cache_sasl(cc, mc)) {
        memcached_free(mc);
        return TL_ENOMEM;
    }
    cc->mc = mc;
    return TL_OK;
}

/* SASL PLAIN credentials on handle mc (none configured: nothing to do). */
static bool cache_sasl(const struct cache *cc, memcached_st *mc)
{
    if (!cc->username[0] || memcached_get_sasl_callbacks(mc))
        return true;
    if (memcached_set_sasl_auth_data(mc, cc->username, cc->password) == MEMCACHED_SUCCESS)
        return true;
    log_error("cache: cannot set SASL credentials: %s", memcached_last_error_message(mc));
    return false;
}

/* The batch handle: a clone of the main one (same servers, timeouts, SASL)
 * that sends quiet, buffered sets (SETQ: the server answers only on error).
 * Switching those modes closes a handle's connections, so it is a handle of
 * its own rather than a mode of the main one; it costs one more connection
 * per worker, made on first use. Buffered sets that expect replies are no
 * good here: libmemcached then purges replies mid-batch (after 64 KB) and
 * reports a connection failure. The price of quiet sets: a server-side
 * refusal (out of memory with -M; too large is checked before sending) goes
 * unreported, and its reply is never read; a write failure is reported. */
static enum tl_err cache_batch_create(struct cache *cc)
{
    memcached_st *b = memcached_clone(NULL, cc->mc);
    if (!b)
        return TL_ENOMEM;
    memcached_behavior_set(b, MEMCACHED_BEHAVIOR_NOREPLY, 1);
    memcached_behavior_set(b, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
    if (!cache_sasl(cc, b)) {
        memcached_free(b);
        return TL_ENOMEM;
    }
    cc->batch = b;
    return TL_OK;
}

/* Close the batch connections without waiting. memcached_quit on a handle
 * with buffered requests first reads until each server closes
 * (libmemcached's drain, memcached_io_slurp): a whole poll timeout on a hung
 * server, paid on top of the timeout that made us close (measured: 0.8 s
 * for one operation with a 0.4 s poll timeout, 4.0 s with the default 2 s).
 * With buffering off, the quit only sends QUIT and closes; switching it back
 * on reconnects lazily. Nothing is lost: quiet sets wait for no reply. */
static void cache_batch_close(struct cache *cc)
{
    memcached_behavior_set(cc->batch, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 0);
    memcached_behavior_set(cc->batch, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
    cc->n_batches = 0;
}

/* One VERSION per server (connecting and authenticating each). Servers that
 * fail are logged and left to libmemcached's ejection; the check fails only
 * when no server answers. */
static enum tl_err cache_check(struct cache *cc)
{
    memcached_version(cc->mc);
    size_t n_ok = 0;
    memcached_return_t first_rc = MEMCACHED_SUCCESS;
    uint32_t n = memcached_server_count(cc->mc);
    for (uint32_t i = 0; i < n; i++) {
        const memcached_instance_st *inst = memcached_server_instance_by_position(cc->mc, i);
        if (memcached_server_major_version(inst) != UINT8_MAX) {
            n_ok++;
            continue;
        }
        memcached_return_t rc = memcached_server_error_return(inst);
        if (first_rc == MEMCACHED_SUCCESS)
            first_rc = rc;
        if (rc == MEMCACHED_AUTH_FAILURE || rc == MEMCACHED_AUTH_PROBLEM) {
            if (!cc->has_logged_auth)
                log_error("cache: authentication failed for user \"%s\" on %s:%u (check "
                          "MEMCACHIER_USERNAME / MEMCACHIER_PASSWORD); serving without the cache",
                          cc->username, memcached_server_name(inst), (unsigned)memcached_server_port(inst));
            cc->has_logged_auth = true;
        } else if (!cc->is_open) {
            log_warn("cache: server %s:%u does not answer: %s", memcached_server_name(inst),
                     (unsigned)memcached_server_port(inst), memcached_server_error(inst));
        }
    }
    if (n_ok == 0) {
        if (first_rc == MEMCACHED_SUCCESS)
            first_rc = MEMCACHED_CONNECTION_FAILURE;
        return cache_fail(cc, "version", STR(""), first_rc);
    }
    cc->is_checked = true;
    return TL_OK;
}

static time_t cache_expiry(unsigned ttl_s)
{
    /* memcached reads anything above 30 days as a unix time. */
    if (ttl_s > CACHE_RELATIVE_TTL_MAX)
        return time(NULL) + (time_t)ttl_s;
    return (time_t)ttl_s;
}


/* ---- operations of the main connection ---- */

/* The breaker contract, once for every operation of the main connection:
 * the gate (caching off, breaker open, first use), the full key, the
 * counters, the single fast retry after SERVER_MARKED_DEAD, then either a
 * reply (classify says what it means; the breaker closes) or a failure (the
 * breaker opens, TL_EUNAVAIL). Returns what classify or prepare decided. */
static enum tl_err cache_op_run(struct cache *cc, struct cache_op *op)
{
    enum tl_err e = cache_begin(cc);
    if (e != TL_OK)
        return e;
    if (op->prepare && (e = op->prepare(cc, op)) != TL_OK)
        return e;
    if (!op->prepare && !op->has_full_key)
        op->fk_len = cache_key_build(cache_prefix_of(cc), op->key, op->fk);
    if (op->is_write)
        cc->stats.sets++;
    cc->stats.round_trips++;
    memcached_return_t rc;
    int attempt = 0;
    int64_t t0 = cache_real_ms();
    do
        rc = op->attempt(cc, op);
    while (cache_should_retry(rc, &attempt, t0));
    enum tl_err result = TL_OK;
    if (!op->classify(cc, op, rc, &result))
        return cache_fail(cc, op->name, op->key, rc);
    cache_ok(cc);
    return result;
}

static memcached_return_t cache_get_attempt(struct cache *cc, struct cache_op *op)
{
    struct cache_get_arg *g = op->arg;
    memcached_return_t rc;
    uint32_t flags = 0;
    free(g->v);
    g->v = memcached_get(cc->mc, op->fk, op->fk_len, &g->len, &flags, &rc);
    return rc;
}

/* A hit is copied into the caller's arena (TL_ENOMEM when that fails, with
 * the breaker closed: the server answered). */
static bool cache_get_classify(struct cache *cc, struct cache_op *op, memcached_return_t rc,
                               enum tl_err *result)
{
    struct cache_get_arg *g = op->arg;
    char *v = g->v;
    g->v = NULL;
    if (rc == MEMCACHED_SUCCESS) {
        /* NULL with SUCCESS is an empty value (libmemcached's convention). */
        size_t v_len = v ? g->len : 0;
        char *copy = arena_strndup(g->a, v ? v : "", v_len);
        free(v);
        if (!copy) {
            *result = TL_ENOMEM;
            return true;
        }
        cc->stats.hits++;
        *g->value = (struct str){ copy, v_len };
        return true;
    }
    free(v);
    if (rc != MEMCACHED_NOTFOUND)
        return false;
    cc->stats.misses++;
    *result = TL_ENOTFOUND;
    return true;
}

/* The multi-get's full keys, in the arena (after the gate: a skipped
 * operation allocates nothing). */
static enum tl_err cache_mget_prepare(struct cache *cc, struct cache_op *op)
{
    struct cache_mget_arg *m = op->arg;
    m->fks = arena_alloc(m->a, m->n * sizeof *m->fks);
    m->fk_lens = arena_alloc(m->a, m->n * sizeof *m->fk_lens);
    if (!m->fks || !m->fk_lens)
        return TL_ENOMEM;
    for (size_t i = 0; i < m->n; i++) {
        char buf[CACHE_KEY_MAX + 1];
        m->fk_lens[i] = cache_key_build(cache_prefix_of(cc), m->keys[i], buf);
        if (!(m->fks[i] = arena_strndup(m->a, buf, m->fk_lens[i])))
            return TL_ENOMEM;
    }
    return TL_OK;
}

static memcached_return_t cache_mget_attempt(struct cache *cc, struct cache_op *op)
{
    struct cache_mget_arg *m = op->arg;
    return cache_mget_once(cc, m->fks, m->fk_lens, m->n, m->a, m->values, m->found, &m->is_oom);
}

/* Every server answered: count hits and misses (TL_ENOMEM when a value
 * could not be copied, the others are still there). A failure finds
 * nothing. */
static bool cache_mget_classify(struct cache *cc, struct cache_op *op, memcached_return_t rc,
                                enum tl_err *result)
{
    struct cache_mget_arg *m = op->arg;
    if (rc != MEMCACHED_SUCCESS) {
        for (size_t i = 0; i < m->n; i++)
            m->found[i] = false;
        return false;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (m->found[i])
            cc->stats.hits++;
        else
            cc->stats.misses++;
    }
    *result = m->is_oom ? TL_ENOMEM : TL_OK;
    return true;
}

static memcached_return_t cache_delete_attempt(struct cache *cc, struct cache_op *op)
{
    return memcached_delete(cc->mc, op->fk, op->fk_len, 0);
}

static memcached_return_t cache_touch_attempt(struct cache *cc, struct cache_op *op)
{
    const unsigned *ttl_s = op->arg;
    return memcached_touch(cc->mc, op->fk, op->fk_len, cache_expiry(*ttl_s));
}

/* delete and touch: TL_OK or TL_ENOTFOUND; anything else is a failure. */
static bool cache_found_classify(struct cache *cc, struct cache_op *op, memcached_return_t rc,
                                 enum tl_err *result)
{
    (void)cc, (void)op;
    if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND)
        return false;
    *result = rc == MEMCACHED_SUCCESS ? TL_OK : TL_ENOTFOUND;
    return true;
}

static memcached_return_t cache_incr_attempt(struct cache *cc, struct cache_op *op)
{
    struct cache_incr_arg *n = op->arg;
    return memcached_increment_with_initial(cc->mc, op->fk, op->fk_len, n->delta, n->initial,
                                            cache_expiry(n->ttl_s), &n->value);
}

static bool cache_incr_classify(struct cache *cc, struct cache_op *op, memcached_return_t rc,
                                enum tl_err *result)
{
    (void)cc;
    if (rc == MEMCACHED_SUCCESS)
        return true;
    if (rc != MEMCACHED_INVALID_ARGUMENTS && rc != MEMCACHED_CLIENT_ERROR)
        return false;
    /* The server answered: the stored value is not a number. */
    log_warn("cache: incr \"%s\": the stored value is not a number", cache_log_key(op->key));
    *result = TL_EINVAL;
    return true;
}

/* set and add: a value over the item size is refused before any I/O (and
 * before the gate: it is the caller's mistake, not the server's). */
static enum tl_err cache_store(struct cache *cc, bool is_add, struct str key, struct str value,
                               unsigned ttl_s)
{
    if (!cc->is_enabled)
        return TL_OK;
    struct cache_store_arg s = { .is_add = is_add, .value = value, .ttl_s = ttl_s };
    struct cache_op op = { .name = is_add ? "add" : "set", .key = key, .is_write = true,
                           .has_full_key = true, .attempt = cache_store_attempt,
                           .classify = cache_store_classify, .arg = &s };
    op.fk_len = cache_key_build(cache_prefix_of(cc), key, op.fk);
    if (value.len + op.fk_len + CACHE_ITEM_OVERHEAD > cc->item_size_max) {
        log_warn("cache: %s \"%s\": value of %zu bytes is over the item size limit (%lu bytes "
                 "with key and overhead); not stored",
                 op.name, cache_log_key(key), value.len, cc->item_size_max);
        return TL_ETOOBIG;
    }
    return cache_op_run(cc, &op);
}

static memcached_return_t cache_store_attempt(struct cache *cc, struct cache_op *op)
{
    const struct cache_store_arg *s = op->arg;
    const char *v = s->value.p ? s->value.p : "";
    time_t exp = cache_expiry(s->ttl_s);
    return s->is_add ? memcached_add(cc->mc, op->fk, op->fk_len, v, s->value.len, exp, 0)
                     : memcached_set(cc->mc, op->fk, op->fk_len, v, s->value.len, exp, 0);
}

/* Stored; present already (add); or refused as too large by a server with
 * a smaller item size: the server answered, so the breaker stays closed. */
static bool cache_store_classify(struct cache *cc, struct cache_op *op, memcached_return_t rc,
                                 enum tl_err *result)
{
    const struct cache_store_arg *s = op->arg;
    (void)cc;
    switch (rc) {
    case MEMCACHED_SUCCESS:
    case MEMCACHED_STORED:
        return true;
    case MEMCACHED_NOTSTORED:
    case MEMCACHED_DATA_EXISTS:
        *result = TL_EEXIST;
        return true;
    case MEMCACHED_E2BIG:
        log_warn("cache: %s \"%s\": the server refused a value of %zu bytes as too large; not stored",
                 op->name, cache_log_key(op->key), s->value.len);
        *result = TL_ETOOBIG;
        return true;
    default:
        return false;
    }
}

bool cache_auth_failed(const struct cache *cc)
{
    return cc->has_logged_auth;
}

enum tl_err cache_server_stats(struct cache *cc, struct cache_server_stat **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    bool is_auth_failure;
    memcached_st *mc = cache_handle_for_cli(cc, &is_auth_failure);
    if (!mc)
        return TL_EUNAVAIL;
    memcached_return_t rc;
    memcached_stat_st *st = memcached_stat(mc, NULL, &rc);
    if (!st) {
        log_warn("cache: stats failed: %s", memcached_last_error_message(mc));
        return TL_EIO;
    }
    uint32_t count = memcached_server_count(mc);
    struct cache_server_stat *list = calloc(count ? count : 1, sizeof *list);
    if (!list) {
        memcached_stat_free(mc, st);
        return TL_ENOMEM;
    }
    for (uint32_t i = 0; i < count; i++) {
        const memcached_instance_st *inst = memcached_server_instance_by_position(mc, i);
        struct cache_server_stat *s = &list[i];
        snprintf(s->name, sizeof s->name, "%s:%u", memcached_server_name(inst),
                 (unsigned)memcached_server_port(inst));
        /* No VERSION answer at the check, or no pid/version in the stats:
         * memcached always reports both, so this server did not answer. */
        s->answered = memcached_server_major_version(inst) != UINT8_MAX && st[i].pid > 0 && st[i].version[0];
        if (!s->answered) {
            snprintf(s->error, sizeof s->error, "%s", memcached_server_error(inst));
            continue;
        }
        s->get_hits = st[i].get_hits;
        s->get_misses = st[i].get_misses;
        s->cmd_get = st[i].cmd_get;
        s->cmd_set = st[i].cmd_set;
        s->curr_items = st[i].curr_items;
        s->bytes = st[i].bytes;
        s->evictions = st[i].evictions;
    }
    memcached_stat_free(mc, st);
    *out = list;
    *n = count;
    return TL_OK;
}
