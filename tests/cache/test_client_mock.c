/*
 * tests/cache/test_client_mock.c - the cache client against mock_memcached.
 * Owns: exact command and round-trip counts per operation, key rules, TTL
 *   encoding, item size, every fault mode (refuse_auth, wrong password,
 *   delay, hang, drop, dead server), the breaker and its backoff.
 * usage: test_client_mock PATH_TO_mock_memcached   (meson passes it)
 * The breakers run on a clock the tests step (cache_set_clock), so their
 * intervals are checked to the millisecond without sleeping. What
 * libmemcached times itself (a poll timeout on a hung server, its dead
 * timeout in the ring tests) is real: those bounds are loose (shared 2-core
 * machines, sanitizers), and the measured figures are printed.
 */
#include <sodium.h>

#include "cache/client.h"
#include "cache/client_internal.h"
#include "base/arena.h"
#include "base/log.h"
#include "test_util.h"

static const char *mock_path;
static char log_path[256];

/* The breakers' clock (cache_set_clock): the tests step it instead of
 * sleeping through retry intervals, so an interval is checked to the
 * millisecond and costs no wall time. libmemcached's own timers (poll
 * timeout, its retry and dead timeouts) still run on real time. */
static int64_t t_clock_ms = 1000000;

static int64_t t_clock(void *ctx)
{
    (void)ctx;
    return t_clock_ms;
}

static void t_advance_ms(int64_t ms)
{
    t_clock_ms += ms;
}

/* A fresh mock with user "mcuser"/"mcpass", and a client for it. */
static struct cache *t_client(struct tmock *m, const char *pass, unsigned poll_ms, unsigned retry_s,
                              unsigned dead_s)
{
    struct cache_settings c;
    char servers[64];
    snprintf(servers, sizeof servers, "127.0.0.1:%u", m->port);
    t_cfg(&c, servers, "mcuser", pass);
    c.poll_timeout_ms = poll_ms;
    c.recv_timeout_ms = poll_ms;
    c.send_timeout_ms = poll_ms;
    c.connect_timeout_ms = poll_ms;
    c.retry_timeout_s = retry_s;
    c.dead_timeout_s = dead_s;
    struct cache *cc = cache_new(&c);
    cache_set_clock(cc, t_clock, NULL);
    return cc;
}

static void test_first_use(void)
{
    struct tmock m;
    if (t_mock_start(&m, mock_path, 0, "mcuser", "mcpass", NULL) < 0) {
        failures++;
        return;
    }
    struct cache *cc = t_client(&m, "mcpass", 2000, 2, 30);
    struct arena *a = arena_new(0);
    struct str v;
    CHECK(t_mock_stat(&m, "connections") == 0, "cache_new must not connect");
    CHECK(cache_get(cc, STR("nothing"), a, &v) == TL_ENOTFOUND, "miss");
    /* SASL LIST MECHS + AUTH, the VERSION check, then GETK */
    CHECK(t_mock_stat(&m, "op_sasl_list_mechs") == 1, "list mechs");
    CHECK(t_mock_stat(&m, "op_sasl_auth") == 1, "auth");
    CHECK(t_mock_stat(&m, "op_version") == 1, "version");
    CHECK(t_mock_stat(&m, "op_getk") == 1, "getk");
    CHECK(t_mock_stat(&m, "round_trips") == 4, "round trips %llu", t_mock_stat(&m, "round_trips"));
    CHECK(cache_get(cc, STR("nothing"), a, &v) == TL_ENOTFOUND, "miss");
    CHECK(t_mock_stat(&m, "op_version") == 1, "VERSION only after (re)connecting");
    CHECK(t_mock_stat(&m, "connections") == 1, "one connection");
    cache_free(cc);
    arena_free(a);
    t_mock_kill(&m);
}

enum t_op { T_SET, T_ADD, T_GET, T_DELETE, T_INCR, T_TOUCH, T_MULTI };

static void test_counts(void)
{
    static const struct {
        enum t_op op;
        const char *key;
        const char *value;
        enum tl_err want;
        const char *want_value;
        const char *counter;     /* mock counter that must grow by exactly 1 (or n) */
        unsigned long long n;
        unsigned long long round_trips;
    } cases[] = {
        { T_SET, "a", "1", TL_OK, NULL, "op_set", 1, 1 },
        { T_GET, "a", NULL, TL_OK, "1", "op_getk", 1, 1 },
        { T_GET, "zz", NULL, TL_ENOTFOUND, NULL, "op_getk", 1, 1 },
        { T_ADD, "b", "2", TL_OK, NULL, "op_add", 1, 1 },
        { T_ADD, "b", "3", TL_EEXIST, NULL, "op_add", 1, 1 },
        { T_GET, "b", NULL, TL_OK, "2", "op_getk", 1, 1 },
        { T_SET, "empty", "", TL_OK, NULL, "op_set", 1, 1 },
        { T_GET, "empty", NULL, TL_OK, "", "op_getk", 1, 1 },
        { T_INCR, "n", NULL, TL_OK, "10", "op_incr", 1, 1 },   /* created with initial 10 */
        { T_INCR, "n", NULL, TL_OK, "13", "op_incr", 1, 1 },   /* +3 */
        { T_TOUCH, "a", NULL, TL_OK, NULL, "op_touch", 1, 1 },
        { T_TOUCH, "zz", NULL, TL_ENOTFOUND, NULL, "op_touch", 1, 1 },
        { T_DELETE, "a", NULL, TL_OK, NULL, "op_delete", 1, 1 },
        { T_DELETE, "a", NULL, TL_ENOTFOUND, NULL, "op_delete", 1, 1 },
        { T_MULTI, NULL, NULL, TL_OK, NULL, "op_getkq", 5, 1 }, /* + one NOOP */
    };
    struct tmock m;
    if (t_mock_start(&m, mock_path, 0, "mcuser", "mcpass", NULL) < 0) {
        failures++;
        return;
    }
    struct cache *cc = t_client(&m, "mcpass", 2000, 2, 30);
    struct arena *a = arena_new(0);
    struct str v;
    cache_get(cc, STR("warm-up"), a, &v);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        t_mock_cmd(&m, "reset", (char[64]){ 0 }, 64);
        struct str key = str_c(cases[i].key);
        enum tl_err e = TL_OK;
        uint64_t num = 0;
        char numbuf[32];
        v = STR_NULL;
        switch (cases[i].op) {
        case T_SET: e = cache_set(cc, key, str_c(cases[i].value), 60); break;
        case T_ADD: e = cache_add(cc, key, str_c(cases[i].value), 60); break;
        case T_GET: e = cache_get(cc, key, a, &v); break;
        case T_DELETE: e = cache_delete(cc, key); break;
        case T_INCR:
            e = cache_incr(cc, key, 3, 10, 0, &num);
            snprintf(numbuf, sizeof numbuf, "%llu", (unsigned long long)num);
            v = str_c(numbuf);
            break;
        case T_TOUCH: e = cache_touch(cc, key, 120); break;
        case T_MULTI: {
            struct str keys[5] = { STR("b"), STR("m1"), STR("empty"), STR("m2"), STR("n") };
            struct str vals[5];
            bool found[5];
            e = cache_get_multi(cc, keys, 5, a, vals, found);
            CHECK(found[0] && !found[1] && found[2] && !found[3] && found[4],
                  "case %zu: found %d%d%d%d%d", i, found[0], found[1], found[2], found[3], found[4]);
            CHECK(found[0] && str_eq_c(vals[0], "2"), "case %zu: b", i);
            CHECK(found[2] && vals[2].len == 0, "case %zu: empty value", i);
            CHECK(found[4] && str_eq_c(vals[4], "13"), "case %zu: n", i);
            CHECK(t_mock_stat(&m, "op_noop") == 1, "case %zu: one NOOP ends the multi-get", i);
            break;
        }
        }
        CHECK(e == cases[i].want, "case %zu (key \"%s\"): got %s, want %s", i, cases[i].key ? cases[i].key : "",
              tl_strerror(e), tl_strerror(cases[i].want));
        if (cases[i].want_value)
            CHECK(str_eq_c(v, cases[i].want_value), "case %zu (key \"%s\"): value \"%.*s\", want \"%s\"", i,
                  cases[i].key, STR_FMT(v), cases[i].want_value);
        unsigned long long got = t_mock_stat(&m, cases[i].counter);
        CHECK(got == cases[i].n, "case %zu: %s = %llu, want %llu", i, cases[i].counter, got, cases[i].n);
        got = t_mock_stat(&m, "round_trips");
        CHECK(got == cases[i].round_trips, "case %zu: round_trips = %llu, want %llu", i, got,
              cases[i].round_trips);
    }
    const struct cache_stats *st = cache_stats_of(cc);
    CHECK(st->errors == 0 && st->skipped == 0, "errors %llu skipped %llu", (unsigned long long)st->errors,
          (unsigned long long)st->skipped);
    CHECK(st->hits == 3 + 3, "client hits %llu", (unsigned long long)st->hits);
    cache_free(cc);
    arena_free(a);
    t_mock_kill(&m);
}

static void test_keys(void)
{
    char long241[242], long242[243], long300[301];
    memset(long241, 'k', 241), long241[241] = '\0';
    memset(long242, 'k', 242), long242[242] = '\0';
    memset(long300, 'x', 300), long300[300] = '\0';
    static const char hello_digest[] = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
    const struct {
        struct str key;
        bool is_hashed;
        const char *want; /* full key when known exactly */
    } cases[] = {
        { STR("view//"), false, "tasklist:view//" },
        { STR("hello world"), true, NULL },            /* space */
        { STR("a\nb"), true, NULL },                   /* control byte */
        { STR("tab\there"), true, NULL },
        { STR("del\x7f"), true, NULL },
        { STR("caf\xc3\xa9"), false, "tasklist:caf\xc3\xa9" }, /* UTF-8 is fine */
        { { long241, 241 }, false, NULL },              /* 9 + 241 = 250: kept */
        { { long242, 242 }, true, NULL },               /* 251: hashed */
        { { long300, 300 }, true, NULL },
        { STR(""), false, "tasklist:" },
    };
    struct tmock m;
    if (t_mock_start(&m, mock_path, 0, "mcuser", "mcpass", NULL) < 0) {
        failures++;
        return;
    }
    struct cache *cc = t_client(&m, "mcpass", 2000, 2, 30);
    struct arena *a = arena_new(0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct str fk = cache_full_key(cc, cases[i].key, a);
        CHECK(fk.len <= 250, "case %zu: %zu bytes", i, fk.len);
        if (cases[i].is_hashed) {
            unsigned char d[32];
            char hex[65];
            crypto_hash_sha256(d, (const unsigned char *)cases[i].key.p, cases[i].key.len);
            sodium_bin2hex(hex, sizeof hex, d, sizeof d);
            char want[128];
            snprintf(want, sizeof want, "tasklist:%s", hex);
            CHECK(str_eq_c(fk, want), "case %zu: \"%.*s\" want \"%s\"", i, STR_FMT(fk), want);
        } else if (cases[i].want) {
            CHECK(str_eq_c(fk, cases[i].want), "case %zu: \"%.*s\"", i, STR_FMT(fk));
        } else {
            CHECK(fk.len == 9 + cases[i].key.len, "case %zu: kept as is", i);
        }
        for (size_t j = 0; j < fk.len; j++)
            CHECK((unsigned char)fk.p[j] > 0x20 && fk.p[j] != 0x7f, "case %zu: unsafe byte at %zu", i, j);
        /* And the server sees exactly that key. */
        t_mock_cmd(&m, "flush", (char[64]){ 0 }, 64);
        CHECK(cache_set(cc, cases[i].key, STR("v"), 60) == TL_OK, "case %zu: set", i);
        char keys[1024];
        t_mock_cmd(&m, "keys", keys, sizeof keys);
        CHECK(strlen(keys) == fk.len + 1 && strncmp(keys, fk.p, fk.len) == 0, "case %zu: server has \"%s\"", i,
              keys);
        struct str v;
        CHECK(cache_get(cc, cases[i].key, a, &v) == TL_OK && str_eq_c(v, "v"), "case %zu: get back", i);
    }
    struct str fk = cache_full_key(cc, STR("hello world"), a);
    CHECK(fk.len == 9 + 64 && memcmp(fk.p + 9, hello_digest, 64) == 0, "known SHA-256 vector: %.*s",
          STR_FMT(fk));
    CHECK(str_eq_c(cache_full_key(cc, STR("gen"), a), "tasklist:gen"), "prefix applied");
    cache_free(cc);
    arena_free(a);
    t_mock_kill(&m);
}

static void test_ttl_and_size(void)
{
    struct tmock m;
    if (t_mock_start(&m, mock_path, 0, "mcuser", "mcpass", NULL) < 0) {
        failures++;
        return;
    }
    struct cache *cc = t_client(&m, "mcpass", 2000, 2, 30);
    static const struct {
        unsigned ttl;
        bool is_absolute;
    } ttls[] = { { 0, false }, { 300, false }, { 2592000, false }, { 2592001, true }, { 31 * 86400, true } };
    char buf[256];
    for (size_t i = 0; i < sizeof ttls / sizeof *ttls; i++) {
        CHECK(cache_set(cc, STR("ttl"), STR("x"), ttls[i].ttl) == TL_OK, "case %zu: set", i);
        t_mock_cmd(&m, "item tasklist:ttl", buf, sizeof buf);
        size_t len;
        unsigned flags, exptime;
        CHECK(sscanf(buf, "VALUE %zu %u %u", &len, &flags, &exptime) == 3, "case %zu: \"%s\"", i, buf);
        long long want = ttls[i].is_absolute ? (long long)time(NULL) + ttls[i].ttl : ttls[i].ttl;
        CHECK(llabs((long long)exptime - want) <= 5, "case %zu: ttl %u sent as %u, want about %lld", i,
              ttls[i].ttl, exptime, want);
        CHECK(cache_touch(cc, STR("ttl"), ttls[i].ttl) == TL_OK, "case %zu: touch", i);
        t_mock_cmd(&m, "item tasklist:ttl", buf, sizeof buf);
        CHECK(sscanf(buf, "VALUE %zu %u %u", &len, &flags, &exptime) == 3 && llabs((long long)exptime - want) <= 5,
              "case %zu: touch ttl %u sent as %u", i, ttls[i].ttl, exptime);
    }

    /* Over the configured item size: refused before any I/O, logged, no crash. */
    size_t big_len = 1024 * 1024;
    char *big = malloc(big_len + 1);
    memset(big, 'B', big_len);
    t_mock_cmd(&m, "reset", buf, sizeof buf);
    CHECK(cache_set(cc, STR("big"), (struct str){ big, big_len }, 60) == TL_ETOOBIG, "1 MiB value refused");
    CHECK(cache_add(cc, STR("big"), (struct str){ big, big_len + 1 }, 60) == TL_ETOOBIG, "add too");
    CHECK(t_mock_stat(&m, "op_set") == 0 && t_mock_stat(&m, "op_add") == 0, "nothing sent");
    /* Just under the limit (key + overhead included): stored and read back. */
    size_t ok_len = 1024 * 1024 - 64 - strlen("tasklist:big");
    CHECK(cache_set(cc, STR("big"), (struct str){ big, ok_len }, 60) == TL_OK, "%zu bytes stored", ok_len);
    struct arena *a = arena_new(0);
    struct str v;
    CHECK(cache_get(cc, STR("big"), a, &v) == TL_OK && v.len == ok_len, "big value read back (%zu)", v.len);
    CHECK(cache_stats_of(cc)->errors == 0, "no error counted");
    char *log = t_read_file(log_path);
    CHECK(strstr(log, "over the item size limit"), "the refusal is logged");
    free(log);
    cache_free(cc);
    t_mock_kill(&m);

    /* A server with a smaller item size than configured: its E2BIG is
     * TL_ETOOBIG too, and the breaker stays closed (the server answered). */
    if (t_mock_start(&m, mock_path, 0, "mcuser", "mcpass", "1000") < 0) {
        failures++;
        free(big);
        arena_free(a);
        return;
    }
    cc = t_client(&m, "mcpass", 2000, 2, 30);
    CHECK(cache_set(cc, STR("big"), (struct str){ big, 5000 }, 60) == TL_ETOOBIG, "server E2BIG");
    CHECK(cache_set(cc, STR("small"), STR("s"), 60) == TL_OK, "next set works");
    CHECK(cache_stats_of(cc)->errors == 0 && cache_stats_of(cc)->skipped == 0, "breaker stayed closed");
    cache_free(cc);
    t_mock_kill(&m);
    free(big);
    arena_free(a);
}

/* Wrong credentials and refuse_auth: logged once, naming user and server,
 * never the password; the cache is skipped. */
static void test_auth_failures(void)
{
    static const struct {
        const char *name, *pass, *fault;
    } cases[] = {
        { "wrong password", "pw-Zq81x-notright", "fault none" },
        { "refuse_auth", "mcpass", "fault refuse_auth" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tmock m;
        if (t_mock_start(&m, mock_path, 0, "mcuser", "mcpass", NULL) < 0) {
            failures++;
            return;
        }
        char buf[256];
        t_mock_cmd(&m, cases[i].fault, buf, sizeof buf);
        CHECK(truncate(log_path, 0) == 0, "truncate %s", log_path);
        struct cache *cc = t_client(&m, cases[i].pass, 500, 1, 2);
        struct arena *a = arena_new(0);
        struct str v;
        double t0 = t_now();
        CHECK(cache_get(cc, STR("k"), a, &v) == TL_EUNAVAIL, "case %zu (%s): first get", i, cases[i].name);
        double t1 = t_now();
        CHECK(cache_set(cc, STR("k"), STR("v"), 60) == TL_EUNAVAIL, "case %zu: set skipped", i);
        double t2 = t_now();
        CHECK(t2 - t1 < 0.001, "case %zu: skipped op took %.6f s", i, t2 - t1);
        CHECK(cache_stats_of(cc)->skipped == 1, "case %zu: skipped %llu", i,
              (unsigned long long)cache_stats_of(cc)->skipped);
        /* The breaker interval (retry_timeout 1 s) on its clock: skipped up to
         * its last millisecond, then a second probe, still refused. */
        t_advance_ms(999);
        CHECK(cache_get(cc, STR("k"), a, &v) == TL_EUNAVAIL && cache_stats_of(cc)->skipped == 2 &&
              cache_stats_of(cc)->errors == 1, "case %zu: skipped 1 ms before the interval ends", i);
        t_advance_ms(1);
        CHECK(cache_get(cc, STR("k"), a, &v) == TL_EUNAVAIL, "case %zu: probe", i);
        CHECK(cache_stats_of(cc)->errors == 2, "case %zu: the probe failed: errors %llu", i,
              (unsigned long long)cache_stats_of(cc)->errors);
        /* libmemcached marks the server dead after the first refusal, so
         * the probe may fail without asking again: at most two attempts. */
        unsigned long long n_auth = t_mock_stat(&m, "auth_fail");
        CHECK(n_auth >= 1 && n_auth <= 2, "case %zu: %llu attempts", i, n_auth);
        char *log = t_read_file(log_path);
        char want[128];
        snprintf(want, sizeof want, "cache: authentication failed for user \"mcuser\" on 127.0.0.1:%u", m.port);
        CHECK(t_count(log, want) == 1, "case %zu: logged once: ---\n%s---", i, log);
        CHECK(!strstr(log, cases[i].pass), "case %zu: the password is in the log", i);
        printf("# %s: first op %.3f s, skipped op %.6f s\n", cases[i].name, t1 - t0, t2 - t1);
        free(log);
        cache_free(cc);
        arena_free(a);
        t_mock_kill(&m);
    }
}

static void test_delay(void)
{
    struct tmock m;
    if (t_mock_start(&m, mock_path, 0, "mcuser", "mcpass", NULL) < 0) {
        failures++;
        return;
    }
    struct cache *cc = t_client(&m, "mcpass", 400, 1, 2);
    struct arena *a = arena_new(0);
    struct str v;
    char buf[128];
    cache_set(cc, STR("d"), STR("slow"), 60);
    /* A delay under the poll timeout: the op succeeds, late. */
    t_mock_cmd(&m, "fault delay 100", buf, sizeof buf);
    double t0 = t_now();
    enum tl_err e = cache_get(cc, STR("d"), a, &v);
    double t1 = t_now();
    CHECK(e == TL_OK && str_eq_c(v, "slow"), "delayed get: %s", tl_strerror(e));
    CHECK(t1 - t0 >= 0.09 && t1 - t0 < 0.4, "delayed get took %.3f s", t1 - t0);
    printf("# delay 100 ms, poll timeout 400 ms: get answered in %.3f s\n", t1 - t0);
    /* A delay over it: the op times out within about one poll timeout. */
    t_mock_cmd(&m, "fault delay 1500", buf, sizeof buf);
    t0 = t_now();
    e = cache_get(cc, STR("d"), a, &v);
    t1 = t_now();
    CHECK(e == TL_EUNAVAIL, "timed-out get: %s", tl_strerror(e));
    CHECK(t1 - t0 >= 0.35 && t1 - t0 < 1.2, "timed-out get took %.3f s", t1 - t0);
    CHECK(cache_stats_of(cc)->errors == 1, "one error");
    printf("# delay 1500 ms, poll timeout 400 ms: get gave up after %.3f s\n", t1 - t0);
    /* A late reply must not answer a later request: after recovery the value is right. */
    t_mock_cmd(&m, "fault none", buf, sizeof buf);
    cache_set(cc, STR("d"), STR("other"), 60); /* skipped: breaker open */
    t_advance_ms(1600);
    e = cache_get(cc, STR("d"), a, &v);
    CHECK(e == TL_OK && str_eq_c(v, "slow"), "after recovery: %s \"%.*s\"", tl_strerror(e), STR_FMT(v));
    cache_free(cc);
    arena_free(a);
    t_mock_kill(&m);
}

static void test_hang(void)
{
    struct tmock m;
    if (t_mock_start(&m, mock_path, 0, "mcuser", "mcpass", NULL) < 0) {
        failures++;
        return;
    }
    CHECK(truncate(log_path, 0) == 0, "truncate %s", log_path);
    struct cache *cc = t_client(&m, "mcpass", 300, 1, 2);
    struct arena *a = arena_new(0);
    struct str v;
    char buf[128];
    CHECK(cache_set(cc, STR("h"), STR("1"), 60) == TL_OK, "warm");
    t_mock_cmd(&m, "fault hang", buf, sizeof buf);
    double t0 = t_now();
    enum tl_err e = cache_get(cc, STR("h"), a, &v);
    double t1 = t_now();
    CHECK(e == TL_EUNAVAIL, "hung get: %s", tl_strerror(e));
    CHECK(t1 - t0 >= 0.25 && t1 - t0 < 1.0, "first op bounded by the timeout: %.3f s", t1 - t0);
    /* Breaker open: 100 operations of every kind, no I/O. */
    double t2 = t_now();
    for (int i = 0; i < 20; i++) {
        struct str keys[2] = { STR("h"), STR("x") };
        struct str vals[2];
        bool found[2];
        CHECK(cache_get(cc, STR("h"), a, &v) == TL_EUNAVAIL, "skipped get %d", i);
        CHECK(cache_get_multi(cc, keys, 2, a, vals, found) == TL_EUNAVAIL && !found[0], "skipped multi %d", i);
        CHECK(cache_set(cc, STR("h"), STR("2"), 60) == TL_EUNAVAIL, "skipped set %d", i);
        CHECK(cache_touch(cc, STR("h"), 60) == TL_EUNAVAIL, "skipped touch %d", i);
        CHECK(cache_add(cc, STR("h2"), STR("2"), 60) == TL_EUNAVAIL, "skipped add %d", i);
    }
    double t3 = t_now();
    CHECK((t3 - t2) / 100 < 0.001, "skipped ops: %.6f s each", (t3 - t2) / 100);
    CHECK(cache_stats_of(cc)->skipped == 100, "skipped %llu", (unsigned long long)cache_stats_of(cc)->skipped);
    printf("# hang: first op %.3f s (poll timeout 0.3 s), then %.2f us per skipped op\n", t1 - t0,
           (t3 - t2) / 100 * 1e6);
    /* The interval (retry_timeout 1 s) to the millisecond, on the breaker's
     * clock: skipped 1 ms before it ends, then one probe, still hung,
     * bounded again. */
    t_advance_ms(999);
    CHECK(cache_get(cc, STR("h"), a, &v) == TL_EUNAVAIL && cache_stats_of(cc)->skipped == 101,
          "skipped 1 ms before the interval ends");
    t_advance_ms(1);
    t0 = t_now();
    e = cache_get(cc, STR("h"), a, &v);
    t1 = t_now();
    CHECK(e == TL_EUNAVAIL && t1 - t0 < 1.0, "probe while hung: %s in %.3f s", tl_strerror(e), t1 - t0);
    CHECK(cache_stats_of(cc)->errors == 2, "errors %llu", (unsigned long long)cache_stats_of(cc)->errors);
    /* Backoff: the interval doubled (2 s, capped by dead_timeout 2 s). */
    t_advance_ms(1100);
    CHECK(cache_get(cc, STR("h"), a, &v) == TL_EUNAVAIL && cache_stats_of(cc)->errors == 2,
          "still skipped 1.1 s after the second failure");
    t_advance_ms(899);
    CHECK(cache_get(cc, STR("h"), a, &v) == TL_EUNAVAIL && cache_stats_of(cc)->errors == 2,
          "still skipped 1.999 s after the second failure");
    t_mock_cmd(&m, "fault none", buf, sizeof buf);
    /* Recovery: the breaker lets a probe through at every step of its clock;
     * what takes wall time is libmemcached's dead_timeout (2 s, whole
     * seconds) before it asks the server again. */
    t0 = t_now();
    int n_probes = 0;
    for (;;) {
        t_advance_ms(2000);
        n_probes++;
        if ((e = cache_get(cc, STR("h"), a, &v)) == TL_OK || t_now() - t0 >= 6)
            break;
        t_sleep(0.1);
    }
    CHECK(e == TL_OK && str_eq_c(v, "1"), "probe recovers: %s", tl_strerror(e));
    printf("# hang: cache back %.2f s after the server answered again, %d probe(s) (libmemcached dead 2 s)\n",
           t_now() - t0, n_probes);
    CHECK(cache_set(cc, STR("h"), STR("3"), 60) == TL_OK, "writes again");
    char *log = t_read_file(log_path);
    CHECK(t_count(log, "skipping the cache") == 1, "breaker open logged once:\n%s", log);
    CHECK(t_count(log, "back in use") == 1, "breaker close logged once:\n%s", log);
    free(log);
    cache_free(cc);
    arena_free(a);
    t_mock_kill(&m);
}

/* The breaker's backoff, exactly, on its own clock: with the server gone
 * every probe fails at once, and the intervals double from retry_timeout up
 * to dead_timeout (1, 2, 4, 8, 8, 8 s). Each interval ends to the
 * millisecond, operations inside it are skipped without I/O, each probe
 * counts one error, and only the first failure is a warning. */
static void test_backoff(void)
{
    static const int64_t intervals_s[] = { 1, 2, 4, 8, 8, 8 };
    struct tmock m;
    if (t_mock_start(&m, mock_path, 0, "mcuser", "mcpass", NULL) < 0) {
        failures++;
        return;
    }
    truncate(log_path, 0);
    struct cache *cc = t_client(&m, "mcpass", 300, 1, 8);
    const struct cache_stats *st = cache_stats_of(cc);
    struct arena *a = arena_new(0);
    struct str v;
    CHECK(cache_set(cc, STR("b"), STR("1"), 60) == TL_OK, "warm");
    t_mock_kill(&m);
    double t0 = t_now();
    CHECK(cache_get(cc, STR("b"), a, &v) == TL_EUNAVAIL && st->errors == 1, "first failure");
    for (size_t i = 0; i < sizeof intervals_s / sizeof *intervals_s; i++) {
        uint64_t errors = st->errors, skipped = st->skipped;
        t_advance_ms(intervals_s[i] * 1000 - 1);
        CHECK(cache_get(cc, STR("b"), a, &v) == TL_EUNAVAIL && st->errors == errors &&
              st->skipped == skipped + 1,
              "interval %zu (%lld s): skipped 1 ms before its end (errors %llu, skipped %llu)", i,
              (long long)intervals_s[i], (unsigned long long)st->errors, (unsigned long long)st->skipped);
        t_advance_ms(1);
        CHECK(cache_set(cc, STR("b"), STR("2"), 60) == TL_EUNAVAIL && st->errors == errors + 1 &&
              st->skipped == skipped + 1,
              "interval %zu (%lld s): the probe at its end fails (errors %llu)", i,
              (long long)intervals_s[i], (unsigned long long)st->errors);
    }
    CHECK(t_now() - t0 < 2.0, "31 s of breaker intervals took %.3f s of wall time", t_now() - t0);
    char *log = t_read_file(log_path);
    CHECK(t_count(log, "skipping the cache for 1 s") == 1, "first failure warned once:\n%s", log);
    CHECK(t_count(log, "next try in 2 s") == 1 && t_count(log, "next try in 4 s") == 1 &&
              t_count(log, "next try in 8 s") == 4,
          "backoff 2, 4, 8, 8, 8, 8 s in the debug log:\n%s", log);
    free(log);
    cache_free(cc);
    arena_free(a);
}

static void test_drop_and_dead(void)
{
    struct tmock m;
    if (t_mock_start(&m, mock_path, 0, "mcuser", "mcpass", NULL) < 0) {
        failures++;
        return;
    }
    struct cache *cc = t_client(&m, "mcpass", 2000, 1, 2);
    struct arena *a = arena_new(0);
    struct str v;
    char buf[128];
    CHECK(cache_set(cc, STR("k"), STR("1"), 60) == TL_OK, "warm");
    t_mock_cmd(&m, "fault drop", buf, sizeof buf);
    double t0 = t_now();
    enum tl_err e = cache_get(cc, STR("k"), a, &v);
    double t1 = t_now();
    CHECK(e == TL_EUNAVAIL && t1 - t0 < 0.5, "dropped: %s in %.3f s", tl_strerror(e), t1 - t0);
    CHECK(t_mock_stat(&m, "drops") >= 1, "mock dropped the connection");
    printf("# drop: failed in %.3f s\n", t1 - t0);
    t_mock_cmd(&m, "fault none", buf, sizeof buf);
    t_advance_ms(999);
    CHECK(cache_get(cc, STR("k"), a, &v) == TL_EUNAVAIL, "skipped until retry_timeout has passed");
    t_advance_ms(1);
    CHECK(cache_get(cc, STR("k"), a, &v) == TL_OK, "recovers after drop");

    /* Dead server (connection refused): fast failure, then skipped. */
    t_mock_kill(&m);
    t0 = t_now();
    e = cache_get(cc, STR("k"), a, &v);
    t1 = t_now();
    CHECK(e == TL_EUNAVAIL && t1 - t0 < 0.5, "dead: %s in %.3f s", tl_strerror(e), t1 - t0);
    double t2 = t_now();
    CHECK(cache_get(cc, STR("k"), a, &v) == TL_EUNAVAIL, "skipped");
    CHECK(t_now() - t2 < 0.001, "skip is free");
    printf("# dead server: failed in %.3f s\n", t1 - t0);
    cache_free(cc);
    arena_free(a);
}

/* A failed fire-and-forget batch skips batches for retry_timeout but leaves
 * the main breaker closed: gets and sets go on (before, one lost batch
 * turned the whole cache off and let faults cascade). Then flush. */
static void test_batch_isolation_and_flush(void)
{
    struct tmock m;
    if (t_mock_start(&m, mock_path, 0, "mcuser", "mcpass", NULL) < 0) {
        failures++;
        return;
    }
    struct cache *cc = t_client(&m, "mcpass", 300, 1, 1);
    struct arena *a = arena_new(0);
    struct str v;
    char buf[128];
    struct str keys[2] = { STR("f1"), STR("f2") }, vals[2] = { STR("a"), STR("b") };
    CHECK(cache_set(cc, STR("page"), STR("p"), 60) == TL_OK, "warm main connection");
    CHECK(cache_set_many(cc, keys, vals, 2, 60) == TL_OK, "warm batch connection");
    t_mock_cmd(&m, "fault drop", buf, sizeof buf);
    enum tl_err e = TL_OK;
    for (int i = 0; i < 5 && e == TL_OK; i++) {
        e = cache_set_many(cc, keys, vals, 2, 60);
        t_sleep(0.05);   /* let the drop reach us: the next write sees the reset */
    }
    CHECK(e == TL_EUNAVAIL, "batch on a dropped connection fails: %s", tl_strerror(e));
    t_mock_cmd(&m, "fault none", buf, sizeof buf);
    CHECK(cache_get(cc, STR("page"), a, &v) == TL_OK && str_eq_c(v, "p"),
          "gets go on after a failed batch");
    CHECK(cache_set(cc, STR("page"), STR("q"), 60) == TL_OK, "sets go on after a failed batch");
    CHECK(cache_set_many(cc, keys, vals, 2, 60) == TL_EUNAVAIL, "batches skipped for retry_timeout");
    t_advance_ms(999);
    CHECK(cache_set_many(cc, keys, vals, 2, 60) == TL_EUNAVAIL, "batches skipped 1 ms before retry_timeout");
    t_advance_ms(1);
    CHECK(cache_set_many(cc, keys, vals, 2, 60) == TL_OK, "batches again after retry_timeout");
    double t0 = t_now();
    while (cache_get(cc, STR("f1"), a, &v) != TL_OK && t_now() - t0 < 2)
        t_sleep(0.02);
    CHECK(str_eq_c(v, "a"), "batched value stored after recovery");

    t_mock_cmd(&m, "reset", buf, sizeof buf);
    CHECK(cache_flush(cc) == TL_OK, "flush");
    CHECK(t_mock_stat(&m, "op_flush") == 1 && t_mock_stat(&m, "op_incr") == 0, "one flush, nothing else");
    CHECK(t_mock_stat(&m, "curr_items") == 0, "empty after flush");
    cache_free(cc);
    arena_free(a);
    t_mock_kill(&m);
}

/* Two servers, one hung: every kind of operation on a key of the hung server
 * waits at most one poll timeout (a retry after SERVER_MARKED_DEAD used to
 * double it), and keys of the other server keep working after ejection. */
static void test_hang_one_of_two(void)
{
    struct tmock m[2];
    char servers[128] = "";
    for (int i = 0; i < 2; i++) {
        if (t_mock_start(&m[i], mock_path, 0, "mcuser", "mcpass", NULL) < 0) {
            failures++;
            return;
        }
        snprintf(servers + strlen(servers), sizeof servers - strlen(servers), "%s127.0.0.1:%u",
                 i ? "," : "", m[i].port);
    }
    struct cache_settings c;
    t_cfg(&c, servers, "mcuser", "mcpass");
    c.poll_timeout_ms = c.recv_timeout_ms = c.send_timeout_ms = 400;
    c.connect_timeout_ms = 400;
    c.retry_timeout_s = 1;
    c.dead_timeout_s = 1;
    struct cache *cc = cache_new(&c);
    struct arena *a = arena_new(0);
    char key[32], buf[128];
    struct str bkeys[40], bvals[40];
    for (int k = 0; k < 40; k++) {
        snprintf(key, sizeof key, "key%d", k);
        CHECK(cache_set(cc, str_c(key), STR("v"), 60) == TL_OK, "set %s", key);
        bkeys[k] = str_c(arena_printf(a, "frag%d", k));
        bvals[k] = STR("f");
    }
    /* the batch connection is open to both servers too (fragments were
     * stored): closing it must not wait for the hung one */
    CHECK(cache_set_many(cc, bkeys, bvals, 40, 60) == TL_OK, "batch");
    t_mock_cmd(&m[0], "fault hang", buf, sizeof buf);
    double worst = 0;
    int n_fail = 0;
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 40; k++) {
            snprintf(key, sizeof key, "key%d", k);
            struct str v, ks[2] = { str_c(key), STR("other") }, vs[2];
            bool found[2];
            double t0 = t_now();
            enum tl_err e;
            switch (k % 4) {
            case 0: e = cache_get(cc, str_c(key), a, &v); break;
            case 1: e = cache_get_multi(cc, ks, 2, a, vs, found); break;
            case 2: e = cache_set(cc, str_c(key), STR("w"), 60); break;
            default: e = cache_set_many(cc, bkeys, bvals, 40, 60); break;
            }
            double dt = t_now() - t0;
            if (dt > worst)
                worst = dt;
            if (e == TL_EUNAVAIL)
                n_fail++;
        }
        t_sleep(1.1);   /* past retry_timeout: the next failure is a fresh probe */
    }
    CHECK(worst < 0.4 * 1.5, "worst operation %.3f s with a poll timeout of 0.4 s", worst);
    CHECK(n_fail >= 1, "the hang was noticed (%d failures)", n_fail);
    printf("# one of two servers hung: worst operation %.3f s (poll timeout 0.4 s), %d of 120 failed\n",
           worst, n_fail);
    t_mock_cmd(&m[0], "fault none", buf, sizeof buf);
    cache_free(cc);
    arena_free(a);
    t_mock_kill(&m[0]);
    t_mock_kill(&m[1]);
}

/* Three mocks with ketama: keys spread; one killed -> at most one failure,
 * then every key works on the other two. */
static void test_three_servers(void)
{
    struct tmock m[3];
    char servers[128] = "";
    for (int i = 0; i < 3; i++) {
        if (t_mock_start(&m[i], mock_path, 0, "mcuser", "mcpass", NULL) < 0) {
            failures++;
            return;
        }
        snprintf(servers + strlen(servers), sizeof servers - strlen(servers), "%s127.0.0.1:%u",
                 i ? "," : "", m[i].port);
    }
    struct cache_settings c;
    t_cfg(&c, servers, "mcuser", "mcpass");
    c.retry_timeout_s = 1;
    struct cache *cc = cache_new(&c);
    struct arena *a = arena_new(0);
    char key[32];
    for (int k = 0; k < 60; k++) {
        snprintf(key, sizeof key, "key%d", k);
        CHECK(cache_set(cc, str_c(key), str_c(key), 60) == TL_OK, "set %s", key);
    }
    for (int i = 0; i < 3; i++) {
        unsigned long long n = t_mock_stat(&m[i], "curr_items");
        CHECK(n >= 5 && n <= 40, "server %d holds %llu of 60 keys", i, n);
    }
    t_mock_kill(&m[1]);
    unsigned n_ok = 0;
    double t0 = t_now();
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < 60; k++) {
            snprintf(key, sizeof key, "key%d", k);
            struct str v;
            if (cache_set(cc, str_c(key), STR("new"), 60) == TL_OK &&
                cache_get(cc, str_c(key), a, &v) == TL_OK && str_eq_c(v, "new"))
                n_ok++;
        }
        if (round == 0)
            t_sleep(1.1);
    }
    const struct cache_stats *st = cache_stats_of(cc);
    CHECK(st->errors <= 1, "errors after one server died: %llu", (unsigned long long)st->errors);
    CHECK(n_ok >= 60, "keys served in the second round: %u of 120 overall", n_ok);
    printf("# three servers, one killed: %llu error(s), %u of 120 set+get pairs ok, %.2f s\n",
           (unsigned long long)st->errors, n_ok, t_now() - t0);
    cache_free(cc);
    arena_free(a);
    t_mock_kill(&m[0]);
    t_mock_kill(&m[2]);
}

static void test_disabled_and_parse(void)
{
    struct cache_settings c;
    t_cfg(&c, "", NULL, NULL);
    struct cache *cc = cache_new(&c);
    struct arena *a = arena_new(0);
    struct str v;
    CHECK(!cache_enabled(cc), "no servers: disabled");
    CHECK(cache_get(cc, STR("k"), a, &v) == TL_EUNAVAIL, "get misses");
    CHECK(cache_set(cc, STR("k"), STR("v"), 0) == TL_OK, "set no-op");
    CHECK(cache_delete(cc, STR("k")) == TL_OK, "delete no-op");
    CHECK(cache_flush(cc) == TL_OK, "flush no-op");
    cache_free(cc);
    arena_free(a);

    static const struct {
        const char *spec;
        int n;
        const char *host0;
        unsigned port0;
    } cases[] = {
        { "", 0, NULL, 0 },
        { "127.0.0.1:11211", 1, "127.0.0.1", 11211 },
        { " a:1 , b:2,c:3 ", 3, "a", 1 },
        { "mc.example.com", 1, "mc.example.com", 11211 },
        { "[::1]:11311,127.0.0.1:5", 2, "::1", 11311 },
        { "a:0", -1, NULL, 0 },
        { "a:70000", -1, NULL, 0 },
        { "a:x1", -1, NULL, 0 },
        { ":11211", -1, NULL, 0 },
        { "[::1", -1, NULL, 0 },
        { ",,", 0, NULL, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct cache_server s[4];
        char err[128] = "";
        int n = cache_servers_parse(cases[i].spec, s, 4, err, sizeof err);
        CHECK(n == cases[i].n, "case %zu \"%s\": %d servers (%s)", i, cases[i].spec, n, err);
        if (n > 0 && cases[i].host0)
            CHECK(strcmp(s[0].host, cases[i].host0) == 0 && s[0].port == cases[i].port0, "case %zu: %s:%u", i,
                  s[0].host, s[0].port);
        if (n < 0)
            CHECK(err[0], "case %zu: an error message", i);
    }
    /* A bad list is caching off with a clear log line, not a crash. */
    t_cfg(&c, "a:0", NULL, NULL);
    cc = cache_new(&c);
    CHECK(!cache_enabled(cc), "bad list: disabled");
    cache_free(cc);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH_TO_mock_memcached\n", argv[0]);
        return 2;
    }
    mock_path = argv[1];
    if (sodium_init() < 0)
        return 1;
    snprintf(log_path, sizeof log_path, "/tmp/tl-test-cache-%d.log", (int)getpid());
    log_open(log_path);
    log_set_level(LOG_DEBUG);
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        { "first_use", test_first_use },
        { "counts", test_counts },
        { "keys", test_keys },
        { "ttl_and_size", test_ttl_and_size },
        { "auth_failures", test_auth_failures },
        { "delay", test_delay },
        { "hang", test_hang },
        { "backoff", test_backoff },
        { "drop_and_dead", test_drop_and_dead },
        { "batch_isolation_and_flush", test_batch_isolation_and_flush },
        { "hang_one_of_two", test_hang_one_of_two },
        { "three_servers", test_three_servers },
        { "disabled_and_parse", test_disabled_and_parse },
    };
    const char *only = getenv("TL_TEST_ONLY");
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
        if (only && strcmp(only, tests[i].name) != 0)
            continue;
        int before = failures;
        double t0 = t_now();
        tests[i].fn();
        printf("%s %s (%.2f s)\n", failures == before ? "ok" : "FAIL", tests[i].name, t_now() - t0);
        fflush(stdout);
    }
    log_open(NULL);
    if (failures == 0)
        unlink(log_path);
    else
        fprintf(stderr, "log kept in %s\n", log_path);
    return failures ? 1 : 0;
}
