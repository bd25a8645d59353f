/*
 * tests/web/test_cached_view.c - the cached-view runner (cache_view_run,
 *   web/cached.c) against mock_memcached, which counts every command.
 * Owns: miss then hit (X-Cache, ETag, 304 on If-None-Match, hit and miss
 *   alike), the exact commands of each path, .unless, .response_filter,
 *   non-GET requests, the data version read once per request (also when the
 *   view reads it again), a version-read failure returned as is, an entry of
 *   another version refused, the stampede lock (held by another worker:
 *   wait, then compute; the entry appearing while waiting: served), and
 *   out of memory at every allocation of a request (arena_fail_once): a
 *   correct page or TL_ENOMEM, and never a key other than the right one.
 * usage: test_cached_view PATH_TO_mock_memcached   (meson passes it)
 * No seam in cached.c: the real client talks to the mock.
 */
#include <sys/wait.h>

#include "web/cached.h"
#include "cache/client.h"
#include "base/arena.h"
#include "base/log.h"
#include "../cache/test_util.h"

static struct tmock t_m;
static struct cache_settings t_c;
static uint64_t t_version = 7;
static enum tl_err t_version_err = TL_OK;
static int t_version_reads;
static int t_renders;

static enum tl_err t_read_version(void *ctx, uint64_t *out)
{
    (void)ctx;
    t_version_reads++;
    if (t_version_err != TL_OK)
        return t_version_err;
    *out = t_version;
    return TL_OK;
}

/* The view reads the version again, as a memoized query inside it would. */
CACHED_VIEW(t_page, .timeout_s = 60)
{
    uint64_t v = 0;
    enum tl_err e = cache_data_version(r->arena, &v);
    t_renders++;
    strbuf_printf(&w->body, "<p>page of version %llu</p>", (unsigned long long)v);
    return e;
}

static bool t_skip_all(struct req *r)
{
    (void)r;
    return true;
}

CACHED_VIEW(t_unless, .unless = t_skip_all)
{
    (void)r;
    t_renders++;
    strbuf_puts(&w->body, "never cached");
    return TL_OK;
}

static bool t_no_teapots(const struct resp *w)
{
    return !(w->body.p && strstr(w->body.p, "teapot"));
}

CACHED_VIEW(t_search, .query_string = true, .response_filter = t_no_teapots)
{
    struct str q = STR(""), p = STR("");
    req_kvs_get(&r->args, STR("q"), &q);
    req_kvs_get(&r->args, STR("page"), &p);
    t_renders++;
    strbuf_printf(&w->body, "results for %.*s page %.*s", STR_FMT(q), STR_FMT(p));
    return TL_OK;
}

/* A new request in a (reset: the end of the previous one). */
static void t_req(struct req *r, struct resp *w, struct arena *a, enum http_method m, const char *path,
                  const char *inm)
{
    arena_fail_once(a, -1);
    arena_reset(a);
    memset(r, 0, sizeof *r);
    r->arena = a;
    r->method = m;
    r->method_name = m == HTTP_POST ? STR("POST") : STR("GET");
    r->path = str_c(path);
    if (inm) {
        struct req_kv *kv = arena_alloc(a, sizeof *kv);
        kv->name = STR("HTTP_IF_NONE_MATCH");
        kv->value = str_c(inm);
        r->params = (struct req_kvs){ kv, 1 };
    }
    resp_init(w, a);
}

static void t_args(struct req *r, const char *const *kv, size_t n)
{
    struct req_kv *v = arena_alloc(r->arena, n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (struct req_kv){ str_c(kv[2 * i]), str_c(kv[2 * i + 1]) };
    r->args = (struct req_kvs){ v, n };
}

static bool t_has_header(const struct resp *w, const char *line)
{
    return w->headers.p && strstr(w->headers.p, line);
}

static bool t_body_is(const struct resp *w, const char *want)
{
    return w->body.len == strlen(want) && memcmp(w->body.p, want, w->body.len) == 0;
}

static unsigned long long t_stat(const char *name)
{
    return t_mock_stat(&t_m, name);
}

static void t_reset_counts(void)
{
    char buf[64];
    t_mock_cmd(&t_m, "reset", buf, sizeof buf);
    t_version_reads = 0;
    t_renders = 0;
}

/* The ETag header's value (quoted), copied into out. */
static void t_etag_of(const struct resp *w, char *out, size_t out_len)
{
    const char *p = w->headers.p ? strstr(w->headers.p, "ETag: ") : NULL;
    out[0] = '\0';
    if (p)
        snprintf(out, out_len, "%.*s", (int)strcspn(p + 6, "\r\n"), p + 6);
}

static void test_miss_hit_etag(struct arena *a)
{
    struct req r;
    struct resp w;
    char etag[64];
    t_reset_counts();
    t_req(&r, &w, a, HTTP_GET, "/", NULL);
    CHECK(t_page(&r, &w) == TL_OK && w.status == 200, "miss: status %d", w.status);
    CHECK(t_has_header(&w, "X-Cache: MISS\r\n") && t_body_is(&w, "<p>page of version 7</p>"), "miss page");
    CHECK(t_renders == 1 && t_version_reads == 1, "rendered once, version read once (%d)", t_version_reads);
    /* get, the lock (add), the entry (set), the lock's delete */
    CHECK(t_stat("op_getk") == 1 && t_stat("op_add") == 1 && t_stat("op_set") == 1 && t_stat("op_delete") == 1 &&
              t_stat("round_trips") == 4,
          "miss commands: getk %llu add %llu set %llu delete %llu", t_stat("op_getk"), t_stat("op_add"),
          t_stat("op_set"), t_stat("op_delete"));
    char keys[512];
    t_mock_cmd(&t_m, "keys", keys, sizeof keys);
    CHECK(strcmp(keys, "tasklist:view//@7\n") == 0, "stored under the version's key only: \"%s\"", keys);
    t_etag_of(&w, etag, sizeof etag);
    CHECK(etag[0] == '"' && strlen(etag) == 26, "ETag \"%s\"", etag);

    t_reset_counts();
    t_req(&r, &w, a, HTTP_GET, "/", NULL);
    CHECK(t_page(&r, &w) == TL_OK && w.status == 200 && t_has_header(&w, "X-Cache: HIT\r\n"), "hit");
    CHECK(t_body_is(&w, "<p>page of version 7</p>") && t_renders == 0 && t_version_reads == 1, "hit page");
    CHECK(t_stat("commands") == 1 && t_stat("op_getk") == 1, "a hit is one get (%llu commands)", t_stat("commands"));
    char hit_etag[64];
    t_etag_of(&w, hit_etag, sizeof hit_etag);
    CHECK(strcmp(etag, hit_etag) == 0, "same ETag on hit: %s vs %s", etag, hit_etag);

    t_req(&r, &w, a, HTTP_GET, "/", etag);
    CHECK(t_page(&r, &w) == TL_OK && w.status == 304 && t_has_header(&w, "X-Cache: HIT\r\n"), "304 on a hit");
    t_req(&r, &w, a, HTTP_GET, "/", "\"other\"");
    CHECK(t_page(&r, &w) == TL_OK && w.status == 200 && w.body.len > 0, "another ETag: 200");
    /* A new version: a miss whose freshly computed ETag may still match. */
    t_version = 8;
    t_req(&r, &w, a, HTTP_GET, "/", NULL);
    CHECK(t_page(&r, &w) == TL_OK && t_has_header(&w, "X-Cache: MISS\r\n"), "new version misses");
    t_etag_of(&w, etag, sizeof etag);
    t_version = 9;
    t_mock_cmd(&t_m, "flush", keys, sizeof keys);
    t_req(&r, &w, a, HTTP_GET, "/", etag);   /* version 9's page differs: no match */
    CHECK(t_page(&r, &w) == TL_OK && w.status == 200, "stale ETag: 200 (%d)", w.status);
    t_version = 8;
    t_req(&r, &w, a, HTTP_GET, "/", etag);
    CHECK(t_page(&r, &w) == TL_OK && w.status == 304 && w.body.len == 0 && t_has_header(&w, "X-Cache: MISS"),
          "304 on a miss whose page matches (%d)", w.status);
}

static void test_unless_filter_method(struct arena *a)
{
    struct req r;
    struct resp w;
    t_reset_counts();
    t_req(&r, &w, a, HTTP_GET, "/u", NULL);
    CHECK(t_unless(&r, &w) == TL_OK && t_renders == 1 && !t_has_header(&w, "X-Cache"), "unless: plain call");
    t_req(&r, &w, a, HTTP_POST, "/", NULL);
    CHECK(t_page(&r, &w) == TL_OK && t_renders == 2 && !t_has_header(&w, "X-Cache"), "POST: plain call");
    CHECK(t_stat("commands") == 0 && t_version_reads == 1, "no cache I/O, no version read but the view's own (%llu, %d)",
          t_stat("commands"), t_version_reads);
    /* response_filter vetoes the store; the args are in the key. */
    static const char *const tea[] = { "q", "teapot" };
    for (int i = 0; i < 2; i++) {
        t_req(&r, &w, a, HTTP_GET, "/search", NULL);
        t_args(&r, tea, 1);
        CHECK(t_search(&r, &w) == TL_OK && t_has_header(&w, "X-Cache: MISS"), "teapot %d: miss", i);
    }
    CHECK(t_renders == 4 && t_stat("op_set") == 0, "vetoed: never stored (%llu sets)", t_stat("op_set"));
    static const char *const ab[] = { "q", "tea", "page", "2" }, *const ba[] = { "page", "2", "q", "tea" };
    t_req(&r, &w, a, HTTP_GET, "/search", NULL);
    t_args(&r, ab, 2);
    CHECK(t_search(&r, &w) == TL_OK && t_has_header(&w, "X-Cache: MISS"), "q=tea&page=2: miss");
    t_req(&r, &w, a, HTTP_GET, "/search", NULL);
    t_args(&r, ba, 2);
    CHECK(t_search(&r, &w) == TL_OK && t_has_header(&w, "X-Cache: HIT") &&
              t_body_is(&w, "results for tea page 2"),
          "page=2&q=tea: the same entry");
}

static void test_versions(struct arena *a)
{
    struct req r;
    struct resp w;
    /* A failed version read is returned as is: nothing can be validated. */
    t_reset_counts();
    t_version_err = TL_EUNAVAIL;
    t_req(&r, &w, a, HTTP_GET, "/", NULL);
    CHECK(t_page(&r, &w) == TL_EUNAVAIL && t_renders == 0 && t_stat("commands") == 0,
          "version read failed: TL_EUNAVAIL, no render, no cache I/O");
    t_version_err = TL_OK;
    /* An entry stamped with another version under this version's key
     * (forged, or a bug) is refused and replaced. */
    t_version = 20;
    struct cache_view_entry old = { .version = 19, .status = 200, .content_type = STR("text/html"),
                                    .headers = STR(""), .etag = STR("\"x\""), .body = STR("old page") };
    struct strbuf sb;
    t_req(&r, &w, a, HTTP_GET, "/", NULL);
    strbuf_init(&sb, a, 256);
    cache_view_entry_encode(&old, &sb);
    CHECK(cache_set(cache_bound(), STR("view//@20"), strbuf_str(&sb), 60) == TL_OK, "plant");
    t_req(&r, &w, a, HTTP_GET, "/", NULL);
    CHECK(t_page(&r, &w) == TL_OK && t_has_header(&w, "X-Cache: MISS") &&
              t_body_is(&w, "<p>page of version 20</p>"),
          "an entry of version 19 is not served for 20");
    t_req(&r, &w, a, HTTP_GET, "/", NULL);
    CHECK(t_page(&r, &w) == TL_OK && t_has_header(&w, "X-Cache: HIT") && t_body_is(&w, "<p>page of version 20</p>"),
          "replaced by version 20's page");
}

/* Another worker holds the lock: wait (polling), then compute; or the
 * entry appears while waiting and is served. */
static void test_stampede(struct arena *a)
{
    struct req r;
    struct resp w;
    t_version = 30;
    t_reset_counts();
    CHECK(cache_add(cache_bound(), STR("view//@30/lock"), STR("1"), 10) == TL_OK, "take the lock");
    double t0 = t_now();
    t_req(&r, &w, a, HTTP_GET, "/", NULL);
    CHECK(t_page(&r, &w) == TL_OK && t_renders == 1 && t_has_header(&w, "X-Cache: MISS"), "computed after waiting");
    double waited = t_now() - t0;
    CHECK(waited >= 0.45 && waited < 3, "waited %.3f s (up to 500 ms of polling)", waited);
    CHECK(t_stat("op_getk") >= 20 && t_stat("op_delete") == 0, "polled %llu times; the lock is not ours to delete",
          t_stat("op_getk"));

    t_version = 31;
    t_reset_counts();
    CHECK(cache_add(cache_bound(), STR("view//@31/lock"), STR("1"), 10) == TL_OK, "take the lock");
    pid_t pid = fork();
    if (pid == 0) {   /* the worker holding the lock: stores its page a little later */
        struct cache *cc = cache_new(&t_c);
        struct arena *ca = arena_new(0);
        struct strbuf sb;
        strbuf_init(&sb, ca, 256);
        struct cache_view_entry e = { .version = 31, .status = 200, .content_type = STR("text/html"),
                                      .headers = STR(""), .etag = STR("\"e31\""), .body = STR("their page") };
        cache_view_entry_encode(&e, &sb);
        t_sleep(0.05);
        _exit(cache_set(cc, STR("view//@31"), strbuf_str(&sb), 60) == TL_OK ? 0 : 1);
    }
    t_req(&r, &w, a, HTTP_GET, "/", NULL);
    CHECK(t_page(&r, &w) == TL_OK && t_renders == 0 && t_has_header(&w, "X-Cache: HIT") &&
              t_body_is(&w, "their page"),
          "the entry stored while waiting is served (renders %d)", t_renders);
    int st = -1;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the other worker stored its page");
}

/* Out of memory at each allocation of a request in turn: TL_ENOMEM or the
 * right page, and nothing stored or asked for under a wrong key (a key cut
 * short by a failed append would be another path's or query's). */
static void test_oom(struct arena *a)
{
    static const char *const args[] = { "q", "milk", "page", "3" };
    const char *want = "results for milk page 3";
    t_version = 40;
    int n_ok = 0, n_oom = 0;
    for (long i = 0; i < 120; i++) {
        long n = i % 60;   /* 0..59 on the miss path (flushed), then on the hit path */
        char buf[1024];
        struct req r;
        struct resp w;
        if (i < 60) {
            t_mock_cmd(&t_m, "flush", buf, sizeof buf);
        } else if (n == 0) {
            t_req(&r, &w, a, HTTP_GET, "/search", NULL);
            t_args(&r, args, 2);
            CHECK(t_search(&r, &w) == TL_OK, "store the entry for the hit path");
        }
        t_req(&r, &w, a, HTTP_GET, "/search", NULL);
        t_args(&r, args, 2);
        arena_fail_once(a, n);
        enum tl_err e = t_search(&r, &w);
        arena_fail_once(a, -1);
        if (e == TL_OK && w.status == 200 && !w.body.oom) {
            n_ok++;
            CHECK(t_body_is(&w, want), "fail at %ld: body \"%.*s\"", n, (int)w.body.len, w.body.p);
        } else {
            n_oom++;
            CHECK(e == TL_ENOMEM || (e == TL_OK && w.body.oom), "fail at %ld: %s", n, tl_strerror(e));
        }
        t_mock_cmd(&t_m, "keys", buf, sizeof buf);
        for (char *k = buf; *k; k = strchr(k, '\n') + 1) {
            bool good = strncmp(k, "tasklist:view//search?", 22) == 0 && strchr(k, '@') &&
                        strncmp(strchr(k, '@'), "@40\n", 4) == 0;
            CHECK(good, "fail at %ld: stored under \"%.*s\"", n, (int)strcspn(k, "\n"), k);
            if (!strchr(k, '\n'))
                break;
        }
    }
    CHECK(n_ok > 0 && n_oom > 0, "both outcomes seen: %d pages, %d out of memory", n_ok, n_oom);
    printf("# out of memory at each of 60 allocations, miss and hit: %d pages, %d TL_ENOMEM\n", n_ok, n_oom);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH_TO_mock_memcached\n", argv[0]);
        return 2;
    }
    char log_path[128];
    snprintf(log_path, sizeof log_path, "/tmp/tl-test-cached-view-%d.log", (int)getpid());
    log_open(log_path);
    if (t_mock_start(&t_m, argv[1], 0, "mcuser", "mcpass", NULL) < 0)
        return 1;
    char servers[64];
    snprintf(servers, sizeof servers, "127.0.0.1:%u", t_m.port);
    t_cfg(&t_c, servers, "mcuser", "mcpass");
    struct cache *cc = cache_new(&t_c);
    cache_bind(cc, 300, t_read_version, NULL);
    cache_delete(cc, STR("warm-up"));   /* connect (SASL, VERSION) before counting */
    struct arena *a = arena_new(0);
    static const struct {
        const char *name;
        void (*fn)(struct arena *);
    } tests[] = {
        { "miss_hit_etag", test_miss_hit_etag },
        { "unless_filter_method", test_unless_filter_method },
        { "versions", test_versions },
        { "stampede", test_stampede },
        { "oom", test_oom },
    };
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
        int before = failures;
        double t0 = t_now();
        tests[i].fn(a);
        printf("%s %s (%.2f s)\n", failures == before ? "ok" : "FAIL", tests[i].name, t_now() - t0);
    }
    arena_free(a);
    cache_bind(NULL, 0, NULL, NULL);
    cache_free(cc);
    t_mock_kill(&t_m);
    log_open(NULL);
    if (failures == 0)
        unlink(log_path);
    else
        fprintf(stderr, "log kept in %s\n", log_path);
    return check_exit();
}
