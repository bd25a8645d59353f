/*
 * tests/app/test_cache_layer.c - the caching layer against a real memcached
 * (address in TL_TEST_MEMCACHED, started by test_cache_layer.sh):
 *  - view hit/miss, X-Cache, ETag and 304; query_string keys; response_filter;
 *  - data versions: the "database" is a shared counter that is both the data
 *    and its version (as the triggers keep them together); writes delete
 *    nothing, like a write whose invalidations were all lost, and the next
 *    request still sees them; the version is read once per request;
 *  - the stale-write race: a GET that read the old version renders slowly
 *    and stores its old page after the write; later GETs must not serve it;
 *  - stampede: 32 processes missing the same cold key recompute it once;
 *  - memoize: keys per version, delete_memoized of one version's entry,
 *    CACHED's fixed key;
 *  - a forged entry in memcached is refused, not served.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "web/cached.h"
#include "cache/client.h"

#include "../lib/check.h"


/* State shared by forked processes: the "database" and counters. */
struct shared {
    atomic_int version;        /* the data a render reads */
    atomic_int renders;        /* how many times the view body ran */
    atomic_int render_delay_ms;
    atomic_int in_render;      /* set by the view body when it has read the data */
    atomic_int version_reads;  /* calls of the version source */
};
static struct shared *sh;
static struct cache_settings test_cfg = CACHE_SETTINGS_DEFAULT;

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The version source: the "database" counter, offset so it is never 0. */
static enum tl_err test_data_version(void *ctx, uint64_t *out)
{
    (void)ctx;
    atomic_fetch_add(&sh->version_reads, 1);
    *out = 1000 + (uint64_t)atomic_load(&sh->version);
    return TL_OK;
}

static uint64_t current_version(void)
{
    return 1000 + (uint64_t)atomic_load(&sh->version);
}

static struct cache *connect_cache(void)
{
    struct cache *cc = cache_new(&test_cfg);
    if (!cc || !cache_enabled(cc)) {
        printf("no cache client for %s\n", test_cfg.servers);
        exit(1);
    }
    cache_bind(cc, 300, test_data_version, NULL);
    return cc;
}

/* A fake request for "/" (what the router and parser would have built). */
static void fake_get(struct req *r, struct arena *a, const char *if_none_match)
{
    arena_reset(a);   /* a new request: what the worker does between requests */
    memset(r, 0, sizeof *r);
    r->arena = a;
    r->method = HTTP_GET;
    r->method_name = STR("GET");
    r->path = STR("/");
    if (if_none_match) {
        struct req_kv *kv = arena_alloc(a, sizeof *kv);
        kv->name = STR("HTTP_IF_NONE_MATCH");
        kv->value = str_c(if_none_match);
        r->params = (struct req_kvs){ kv, 1 };
    }
}

CACHED_VIEW(test_view, .timeout_s = 60)
{
    int v = atomic_load(&sh->version);
    atomic_store(&sh->in_render, 1);
    atomic_fetch_add(&sh->renders, 1);
    int d = atomic_load(&sh->render_delay_ms);
    if (d)
        sleep_ms(d);   /* a slow render: the window of the race */
    strbuf_printf(&w->body, "<p>version %d</p>", v);
    (void)r;
    return TL_OK;
}

/* .query_string: the key holds a digest of the sorted args; .response_filter vetoes stores. */
static bool no_teapots(const struct resp *w)
{
    return !(w->body.p && strstr(w->body.p, "teapot"));
}

CACHED_VIEW(test_search, .query_string = true, .response_filter = no_teapots)
{
    struct str q = STR("");
    req_kvs_get(&r->args, STR("q"), &q);
    atomic_fetch_add(&sh->renders, 1);
    strbuf_printf(&w->body, "results for %.*s", STR_FMT(q));
    return TL_OK;
}

static bool header_has(const struct resp *w, const char *line)
{
    return w->headers.p && strstr(w->headers.p, line) != NULL;
}

static int get_page(struct arena *a, struct resp *w, const char *inm)
{
    struct req r;
    fake_get(&r, a, inm);
    resp_init(w, a);
    enum tl_err e = test_view(&r, w);
    return e == TL_OK ? w->status : -1;
}

/* A committed write moves data and version together; no cache call at all
 * (as if every invalidation were lost). */
static void write_data(int new_version)
{
    atomic_store(&sh->version, new_version);
}

static void test_hit_miss_etag(void)
{
    struct arena *a = arena_new(0);
    struct resp w;
    atomic_store(&sh->renders, 0);
    CHECK(get_page(a, &w, NULL) == 200 && header_has(&w, "X-Cache: MISS"), "first GET is a miss");
    CHECK(get_page(a, &w, NULL) == 200 && header_has(&w, "X-Cache: HIT"), "second GET is a hit");
    CHECK(atomic_load(&sh->renders) == 1, "rendered %d times, want 1", atomic_load(&sh->renders));
    const char *et = strstr(w.headers.p, "ETag: ");
    CHECK(et != NULL, "hit has an ETag");
    if (et) {
        char tag[64] = { 0 };
        sscanf(et + 6, "%63[^\r]", tag);
        struct resp w2;
        CHECK(get_page(a, &w2, tag) == 304 && w2.body.len == 0, "If-None-Match gives 304 without body");
    }
    write_data(2);
    int reads = atomic_load(&sh->version_reads);
    CHECK(get_page(a, &w, NULL) == 200 && strstr(w.body.p, "version 2"),
          "a write with no invalidation shows at once");
    CHECK(atomic_load(&sh->version_reads) == reads + 1, "one version read per request (%d)",
          atomic_load(&sh->version_reads) - reads);
    /* explicit delete of the version it replaced frees that entry */
    struct str old;
    arena_reset(a);
    CHECK(cache_get(cache_bound(), str_c(arena_printf(a, "view//@%d", 1000)), a, &old) == TL_OK,
          "the old version's entry is still there");
    CHECK(cache_delete_view(STR("/"), 1000) == TL_OK, "delete_view");
    CHECK(cache_get(cache_bound(), str_c(arena_printf(a, "view//@%d", 1000)), a, &old) == TL_ENOTFOUND,
          "delete_view removed the old version's entry");
    arena_free(a);
}

/* The race: A misses and renders slowly from version 3; B commits version 4
 * and invalidates while A renders; A then stores its version-3 page. */
static int search(struct arena *a, struct resp *w, const char *const *kv, size_t n)
{
    struct req r;
    fake_get(&r, a, NULL);
    r.path = STR("/search");
    struct req_kv *args = arena_alloc(a, (n / 2 + 1) * sizeof *args);
    for (size_t i = 0; i + 1 < n; i += 2)
        args[i / 2] = (struct req_kv){ str_c(kv[i]), str_c(kv[i + 1]) };
    r.args = (struct req_kvs){ args, n / 2 };
    resp_init(w, a);
    return test_search(&r, w) == TL_OK ? w->status : -1;
}

static void test_query_string_and_filter(void)
{
    struct arena *a = arena_new(0);
    struct resp w;
    atomic_store(&sh->renders, 0);
    const char *ab[] = { "q", "tea", "page", "2" }, *ba[] = { "page", "2", "q", "tea" };
    const char *other[] = { "q", "tea", "page", "3" }, *pot[] = { "q", "teapot" };
    search(a, &w, ab, 4);
    CHECK(header_has(&w, "X-Cache: MISS"), "first search is a miss");
    search(a, &w, ba, 4);
    CHECK(header_has(&w, "X-Cache: HIT") && atomic_load(&sh->renders) == 1,
          "the same args in another order share the entry (renders %d)", atomic_load(&sh->renders));
    search(a, &w, other, 4);
    CHECK(header_has(&w, "X-Cache: MISS") && atomic_load(&sh->renders) == 2, "other args, other entry");
    search(a, &w, pot, 2);
    search(a, &w, pot, 2);
    CHECK(header_has(&w, "X-Cache: MISS") && atomic_load(&sh->renders) == 4,
          "the response filter vetoed the store (renders %d)", atomic_load(&sh->renders));
    arena_free(a);
}

static void test_stale_write_race(void)
{
    struct arena *a = arena_new(0);
    struct resp w;
    write_data(3);
    atomic_store(&sh->render_delay_ms, 300);
    atomic_store(&sh->in_render, 0);
    pid_t reader = fork();
    if (reader == 0) {
        struct cache *cc = connect_cache();
        struct arena *ca = arena_new(0);
        struct resp cw;
        get_page(ca, &cw, NULL);
        cache_free(cc);
        _exit(strstr(cw.body.p, "version 3") ? 0 : 1);
    }
    /* wait until the reader has read version 3 and is rendering (not a fixed
     * sleep: a loaded machine may start the child late) */
    for (int waited = 0; !atomic_load(&sh->in_render) && waited < 5000; waited++)
        sleep_ms(1);
    write_data(4);              /* B: commit + invalidate, mid-render */
    int st;
    waitpid(reader, &st, 0);
    atomic_store(&sh->render_delay_ms, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the reader rendered version 3 (race set up)");
    /* The race happened: the old page is in memcached, stored after the write. */
    struct str stored;
    arena_reset(a);
    CHECK(cache_get(cache_bound(), str_c(arena_printf(a, "view//@%d", 1003)), a, &stored) == TL_OK &&
              memmem(stored.p, stored.len, "version 3", 9), "the stale page was stored after the write");
    CHECK(get_page(a, &w, NULL) == 200 && strstr(w.body.p, "version 4"),
          "after the write a GET served: %s", w.body.p ? w.body.p : "(none)");
    CHECK(header_has(&w, "X-Cache: MISS"), "the stale entry was refused (MISS)");
    arena_free(a);
}

static void test_stampede(void)
{
    enum { N = 32 };
    write_data(5);
    atomic_store(&sh->renders, 0);
    atomic_store(&sh->render_delay_ms, 100);
    pid_t kids[N];
    for (int i = 0; i < N; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            struct cache *cc = connect_cache();
            struct arena *ca = arena_new(0);
            struct resp cw;
            int s = get_page(ca, &cw, NULL);
            bool ok = s == 200 && cw.body.p && strstr(cw.body.p, "version 5");
            cache_free(cc);
            _exit(ok ? 0 : 1);
        }
    }
    int bad = 0;
    for (int i = 0; i < N; i++) {
        int st;
        waitpid(kids[i], &st, 0);
        bad += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    atomic_store(&sh->render_delay_ms, 0);
    printf("stampede: %d concurrent cold requests, %d render(s), %d bad answers\n", N,
           atomic_load(&sh->renders), bad);
    CHECK(bad == 0, "%d of %d requests got a wrong page", bad, N);
    CHECK(atomic_load(&sh->renders) == 1, "stampede recomputed %d times, want 1", atomic_load(&sh->renders));
}

/* memoize */
struct counted { long long value; };
static atomic_int *memo_calls;

static enum tl_err counted_encode(const void *v, struct strbuf *out)
{
    strbuf_printf(out, "%lld", ((const struct counted *)v)->value);
    return TL_OK;
}
static enum tl_err counted_decode(struct str b, struct arena *a, void *v)
{
    (void)a;
    char buf[32];
    if (b.len == 0 || b.len >= sizeof buf)
        return TL_EPARSE;
    memcpy(buf, b.p, b.len);
    buf[b.len] = 0;
    char *end;
    ((struct counted *)v)->value = strtoll(buf, &end, 10);
    return *end ? TL_EPARSE : TL_OK;
}
static const struct cache_codec counted_codec = { "counted", counted_encode, counted_decode };

enum tl_err square(struct arena *a, const struct cache_args *args, struct counted *out);
enum tl_err fixed_answer(struct arena *a, const struct cache_args *args, struct counted *out);

MEMOIZE(square, struct counted, .codec = &counted_codec, .timeout_s = 60)
{
    (void)a;
    atomic_fetch_add(memo_calls, 1);
    long long x = atol(args->parts[0].p);
    out->value = x * x + atomic_load(&sh->version) * 1000;
    return TL_OK;
}

CACHED(fixed_answer, struct counted, .key_prefix = "get_all_tasks", .codec = &counted_codec)
{
    (void)a;
    (void)args;
    atomic_fetch_add(memo_calls, 1);
    out->value = 42 + atomic_load(&sh->version);
    return TL_OK;
}

static void test_memoize(void)
{
    struct arena *a = arena_new(0);
    memo_calls = &sh->renders;
    atomic_store(&sh->renders, 0);
    atomic_store(&sh->version, 0);
    struct str seven = STR("7"), eight = STR("8");
    struct cache_args a7 = { &seven, 1, NULL }, a8 = { &eight, 1, NULL };
    struct counted c;
    /* each call is a request of its own: the arena reset forgets the version */
#define REQ(call) (arena_reset(a), (call))
    CHECK(REQ(square(a, &a7, &c)) == TL_OK && c.value == 49, "square(7)");
    CHECK(REQ(square(a, &a7, &c)) == TL_OK && c.value == 49 && atomic_load(memo_calls) == 1, "memoized");
    CHECK(REQ(square(a, &a8, &c)) == TL_OK && c.value == 64 && atomic_load(memo_calls) == 2, "other args");
    atomic_store(&sh->version, 1);                      /* a write, nothing deleted */
    CHECK(REQ(square(a, &a7, &c)) == TL_OK && c.value == 1049 && atomic_load(memo_calls) == 3,
          "a write makes every entry of the old version unreachable");
    CHECK(REQ(square(a, &a8, &c)) == TL_OK && c.value == 1064 && atomic_load(memo_calls) == 4, "other args too");
    CHECK(REQ(square(a, &a8, &c)) == TL_OK && c.value == 1064 && atomic_load(memo_calls) == 4, "hit again");
    cache_delete_memoized(&square_memo, &a7, current_version());   /* one entry of this version */
    CHECK(REQ(square(a, &a7, &c)) == TL_OK && c.value == 1049 && atomic_load(memo_calls) == 5, "entry deleted");
    CHECK(REQ(square(a, &a8, &c)) == TL_OK && c.value == 1064 && atomic_load(memo_calls) == 5, "other entry kept");
    CHECK(REQ(fixed_answer(a, NULL, &c)) == TL_OK && c.value == 43 && atomic_load(memo_calls) == 6, "cached");
    CHECK(REQ(fixed_answer(a, NULL, &c)) == TL_OK && c.value == 43 && atomic_load(memo_calls) == 6, "cached hit");
    struct str raw;
    struct str fixed_key = str_c(arena_printf(a, "get_all_tasks@%llu", (unsigned long long)current_version()));
    CHECK(cache_get(cache_bound(), fixed_key, a, &raw) == TL_OK, "CACHED uses key_prefix@version as key");
    cache_delete_memoized(&fixed_answer_memo, NULL, current_version());
    CHECK(REQ(fixed_answer(a, NULL, &c)) == TL_OK && c.value == 43 && atomic_load(memo_calls) == 7,
          "delete_memoized of a CACHED key");
    atomic_store(&sh->version, 2);
    CHECK(REQ(fixed_answer(a, NULL, &c)) == TL_OK && c.value == 44, "CACHED follows the version");
    /* Forged values under the memo key are refused, not trusted: junk, and a
     * well-formed entry stamped with another version. */
    static const char *const forged[] = { "M2 1002\nnot-a-number", "M2 1001\n43", "M1 0 1\n44" };
    for (size_t i = 0; i < sizeof forged / sizeof *forged; i++) {
        arena_reset(a);
        fixed_key = str_c(arena_printf(a, "get_all_tasks@%llu", (unsigned long long)current_version()));
        cache_set(cache_bound(), fixed_key, str_c(forged[i]), 60);
        int before = atomic_load(memo_calls);
        CHECK(REQ(fixed_answer(a, NULL, &c)) == TL_OK && c.value == 44 && atomic_load(memo_calls) == before + 1,
              "forged memo entry %zu recomputed", i);
    }
#undef REQ
    arena_free(a);
}

/* cache_set_many: 2,000 values (~600 KB, far past libmemcached's 64 KB
 * purge watermark) in one pipelined write, all readable soon after. */
static void test_set_many(void)
{
    enum { N = 2000 };
    struct arena *a = arena_new(0);
    struct str keys[N], vals[N], got[N];
    bool found[N];
    for (int i = 0; i < N; i++) {
        keys[i] = str_c(arena_printf(a, "many/%d", i));
        vals[i] = str_c(arena_printf(a, "value %d %0*d", i, 200 + i % 200, 0));
    }
    struct cache *cc = cache_bound();
    uint64_t rt0 = cache_stats_of(cc)->round_trips;
    CHECK(cache_set_many(cc, keys, vals, N, 60) == TL_OK, "set_many");
    CHECK(cache_stats_of(cc)->round_trips - rt0 == 0, "set_many of %d waited %llu round trips", N,
          (unsigned long long)(cache_stats_of(cc)->round_trips - rt0));
    /* fire and forget: the values land as the server works through them */
    int ok = 0;
    for (int tries = 0; tries < 100 && ok < N; tries++) {
        if (tries)
            sleep_ms(10);
        CHECK(cache_get_multi(cc, keys, N, a, got, found) == TL_OK, "get_multi");
        ok = 0;
        for (int i = 0; i < N; i++)
            ok += found[i] && str_eq(got[i], vals[i]);
    }
    CHECK(ok == N, "%d of %d pipelined values read back within 1 s", ok, N);
    if (ok != N) {
        int first_missing = -1, last_found = -1;
        for (int i = 0; i < N; i++) {
            if (!(found[i] && str_eq(got[i], vals[i])) && first_missing < 0)
                first_missing = i;
            if (found[i])
                last_found = i;
        }
        fprintf(stderr, "first missing %d, last found %d\n", first_missing, last_found);
    }
    /* a second batch on the same connection drains the first one's replies */
    vals[3] = STR("changed");
    CHECK(cache_set_many(cc, keys, vals, 10, 60) == TL_OK, "second set_many");
    bool seen = false;
    for (int tries = 0; tries < 100 && !seen; tries++) {
        sleep_ms(tries ? 10 : 0);
        seen = cache_get(cc, keys[3], a, &got[3]) == TL_OK && str_eq(got[3], vals[3]);
    }
    CHECK(seen, "a second batch on the same connection lands too");
    arena_free(a);
}

static void test_forged_view_entry(void)
{
    struct arena *a = arena_new(0);
    struct resp w;
    get_page(a, &w, NULL);
    unsigned long long v = (unsigned long long)current_version();
    char forged[256], key[64];
    int n = snprintf(forged, sizeof forged, "V2 %llu 200 9 16 0 4\ntext/htmlX-Evil: 1\nboom\r\nevil", v);
    snprintf(key, sizeof key, "view//@%llu", v);
    cache_set(cache_bound(), str_c(key), (struct str){ forged, (size_t)n }, 60);
    CHECK(get_page(a, &w, NULL) == 200 && !header_has(&w, "X-Evil") && !strstr(w.body.p, "evil"),
          "forged view entry served");
    arena_free(a);
}

int main(void)
{
    const char *servers = getenv("TL_TEST_MEMCACHED");
    if (!servers) {
        printf("TL_TEST_MEMCACHED not set\n");
        return 77;
    }
    snprintf(test_cfg.servers, sizeof test_cfg.servers, "%s", servers);
    snprintf(test_cfg.key_prefix, sizeof test_cfg.key_prefix, "layertest:");

    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct cache *cc = connect_cache();
    test_hit_miss_etag();
    test_query_string_and_filter();
    test_stale_write_race();
    test_stampede();
    test_memoize();
    test_forged_view_entry();
    test_set_many();
    cache_free(cc);
    if (failures) {
        printf("%d failure(s)\n", failures);
        return 1;
    }
    printf("cache layer: hit/miss/etag, stale-write race, stampede, memoize, forged entries all hold\n");
    return 0;
}
