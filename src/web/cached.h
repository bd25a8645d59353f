/*
 * web/cached.h - the decorator-like macro layer: cached views and memoized
 * functions (Flask-Caching's @cache.cached and @cache.memoize, done in C).
 * Sits above both the cache client (cache/) and the server (server/): a
 *   cached view wraps a request handler, so this is the one place that
 *   names both; cache/ itself never sees a request.
 * Owns: the wrappers' runtime (cache_view_run, cache_memo_run), entry
 *   formats, the request's data version, invalidation helpers
 *   (cache_delete_view, cache_delete_memoized), stampede locks.
 * Invariants: every view and memoized entry is keyed AND stamped with the
 *   data version read from the database (through the hook given to
 *   cache_bind) before the data it was built from; a lookup accepts only an
 *   entry of the version it has just read. So memcached holds no state that
 *   decides correctness: a lost, late or misrouted message costs speed only
 *   (docs/consistency.md). Macros only declare and wire; all logic is in
 *   plain functions you can step through in gdb. Nothing read from memcached
 *   is used before its codec validated it. A cache that is off or down means
 *   every wrapper simply calls the wrapped function.
 * Context: worker only; cache_bind() once after fork.
 */
#ifndef TASKLIST_WEB_CACHED_H
#define TASKLIST_WEB_CACHED_H

#include <stdbool.h>
#include <stdint.h>

#include "../base/arena.h"
#include "../base/err.h"
#include "../base/str.h"
#include "../base/strbuf.h"
#include "../server/request.h"
#include "../server/response.h"

struct cache;
struct tier;

/* Timeout values in specs: 0 = the configured default ([cache] default_timeout_s,
 * 300 s as Flask-Caching's CACHE_DEFAULT_TIMEOUT; 0 there = never expire),
 * CACHE_FOREVER = never expire, N = N seconds. */
#define CACHE_FOREVER (-1)

/* Reads the current data version from the database into *out: TL_OK, or the
 * database's error (TL_EUNAVAIL when it is down or timed out). */
typedef enum tl_err (*cache_version_fn)(void *ctx, uint64_t *out);

/* Bind the layer to this worker's client (borrowed), default timeout and
 * data-version source (version(version_ctx, &v); may be NULL only in tests
 * that never use a view or a memoized function with the cache on). */
void cache_bind(struct cache *cc, unsigned default_timeout_s, cache_version_fn version,
                void *version_ctx);

/* The same-host tier (tier.h) in front of memcached, or NULL. Lookups of
 * views, memoized values and fragments go tier -> memcached -> build; what
 * is fetched from memcached or built is put in the tier too. */
void cache_bind_tier(struct tier *t);
struct tier *cache_bound_tier(void);

/* The data version this request's cached things are keyed by: read from the
 * database at the request's first call, then the same value until arena a is
 * reset (the end of the request). Read it BEFORE reading the data a cached
 * thing is built from. TL_OK, or the database's error. */
enum tl_err cache_data_version(struct arena *a, uint64_t *out);
/* Debug and benchmarks only: a request with "Cache-Control: no-cache" skips
 * the view and memo lookups (recomputes and stores; fragments still used),
 * which measures "cold with fragments cached". Off by default: in production
 * a client must not be able to force re-renders. */
void cache_honor_no_cache(bool on);
struct cache *cache_bound(void);

/* ---- cached views ---------------------------------------------------- */

typedef enum tl_err (*cache_view_fn)(struct req *r, struct resp *w);

struct cache_view_spec {
    const char *name;             /* function name, for logs (#name) */
    const char *file;             /* __FILE__:__LINE__ of the declaration */
    unsigned line;
    int timeout_s;                /* see CACHE_FOREVER */
    const char *key_prefix;       /* default "view/%s": %s = request path */
    bool query_string;            /* key includes a digest of the sorted query args */
    const char *const *query_args; /* NULL-terminated: only these args go into that
                                    * digest (implies query_string); others do not
                                    * split the cache */
    bool (*unless)(struct req *r);           /* true: skip lookup and store */
    bool (*response_filter)(const struct resp *w); /* false: do not store */
};

/* Serve r from the view cache when an entry of the request's data version
 * exists (X-Cache: HIT), otherwise run fn and store its response when
 * cacheable (status 200, no Set-Cookie, passes response_filter) under that
 * version (X-Cache: MISS). Adds ETag; answers 304 to a matching
 * If-None-Match. A cold key is computed once across workers (a short
 * add-lock; the others wait briefly for the result, then compute
 * themselves). The version read failing (database down) is returned as is:
 * nothing cached can be validated without it. */
enum tl_err cache_view_run(const struct cache_view_spec *spec, struct req *r, struct resp *w,
                           cache_view_fn fn);

/* Declare a cached view: `CACHED_VIEW(app_index, .unless = is_post) { body }`.
 * The body is an ordinary function named app_index_impl (tests call it to
 * bypass the cache); app_index is the wrapper that goes in the route table. */
#define CACHED_VIEW(fn, ...)                                                    \
    static enum tl_err fn##_impl(struct req *r, struct resp *w);               \
    static enum tl_err fn(struct req *r, struct resp *w)                        \
    {                                                                             \
        static const struct cache_view_spec fn##_spec = {                       \
            .name = #fn, .file = __FILE__, .line = __LINE__, __VA_ARGS__ };     \
        return cache_view_run(&fn##_spec, r, w, fn##_impl);                   \
    }                                                                             \
    static enum tl_err fn##_impl(struct req *r, struct resp *w)

/* Delete the cached view for path (key_prefix's default form) of data
 * version `version`. Frees memory early; correctness never depends on it. */
enum tl_err cache_delete_view(struct str path, uint64_t version);

/* ---- memoize and cached functions ------------------------------------ */

/* An explicit codec: nothing read back can execute, and decode validates. */
struct cache_codec {
    const char *name;
    /* Append the encoding of *value to out. */
    enum tl_err (*encode)(const void *value, struct strbuf *out);
    /* Decode bytes into *value (allocating from a); TL_EPARSE when invalid. */
    enum tl_err (*decode)(struct str bytes, struct arena *a, void *value);
};

/* The arguments of a memoized call: parts are what the key depends on (they
 * are joined and hashed into the key); ctx is passed through (a db handle). */
struct cache_args {
    const struct str *parts;
    size_t n_parts;
    void *ctx;
};

typedef enum tl_err (*cache_compute_fn)(struct arena *a, const struct cache_args *args, void *out);

struct cache_memo_spec {
    const char *name;             /* function name: memoize keys */
    const char *file;
    unsigned line;
    int timeout_s;
    const struct cache_codec *codec;
    const char *key_prefix;       /* set: Flask's cached(key_prefix=...): fixed key, no args hash */
    bool (*unless)(void);
};

/* Return the memoized result of compute(a, args, out): one get of the entry
 * for (args, the request's data version); on a miss, compute and store it
 * under that version. The version read failing is returned as is. */
enum tl_err cache_memo_run(const struct cache_memo_spec *spec, struct arena *a,
                           const struct cache_args *args, void *out, cache_compute_fn compute);

/* MEMOIZE(get_all_tasks, struct task_list, .codec = &task_list_codec) { body }
 * declares `enum tl_err get_all_tasks(struct arena *a, const struct cache_args *args,
 * struct task_list *out)` wrapping get_all_tasks_impl (same signature). */
#define MEMOIZE(fn, out_type, ...)                                                      \
    static enum tl_err fn##_impl(struct arena *a, const struct cache_args *args,         \
                                   out_type *out);                                          \
    static enum tl_err fn##_compute(struct arena *a, const struct cache_args *args,      \
                                      void *out)                                            \
    {                                                                                       \
        return fn##_impl(a, args, (out_type *)out);                                       \
    }                                                                                       \
    const struct cache_memo_spec fn##_memo = {                                            \
        .name = #fn, .file = __FILE__, .line = __LINE__, __VA_ARGS__ };                   \
    enum tl_err fn(struct arena *a, const struct cache_args *args, out_type *out)         \
    {                                                                                       \
        return cache_memo_run(&fn##_memo, a, args, out, fn##_compute);                  \
    }                                                                                       \
    static enum tl_err fn##_impl(struct arena *a, const struct cache_args *args,         \
                                   out_type *out)

/* CACHED(name, out_type, .key_prefix = "get_all_tasks", .codec = ...): the
 * same, with a fixed key (for zero-argument functions; slightly cheaper). */
#define CACHED(name, out_type, ...) MEMOIZE(name, out_type, __VA_ARGS__)

/* delete_memoized(fn, args): delete fn's entry for args (NULL: no args; for
 * a CACHED spec, its fixed key) of data version `version`. Entries of other
 * versions are never accepted anyway and age out; this frees memory early. */
enum tl_err cache_delete_memoized(const struct cache_memo_spec *spec, const struct cache_args *args,
                                  uint64_t version);

/* Entry codecs, exposed for tests and fuzzing. */
struct cache_view_entry {
    uint64_t version;     /* the data version it was built from */
    int status;
    struct str content_type;
    struct str headers;   /* "Name: value\r\n" lines */
    struct str etag;
    struct str body;
};
void cache_view_entry_encode(const struct cache_view_entry *e, struct strbuf *out);
enum tl_err cache_view_entry_decode(struct str bytes, struct cache_view_entry *e);

#endif
