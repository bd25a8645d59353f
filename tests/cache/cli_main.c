/*
 * tests/cache/cli_main.c - drives the cache client against real servers for
 *   test_client_real.sh, with a hand-filled struct cache_settings (no config.c needed).
 * Owns: nothing reusable. Settings come from the environment:
 *   CACHE_SERVERS, CACHE_USER, CACHE_PASS, CACHE_RETRY_S (default 2).
 * usage: cli_main stats | flush              -> cli_cache (its exit status)
 *        cli_main setget N                   -> set and read back keys k0..k(N-1)
 *        cli_main count N                    -> how many of k0..k(N-1) are cached
 *        cli_main failover N PID             -> set N keys, SIGKILL PID (one of the
 *                                               servers), then two rounds of set+get
 *        cli_main hung W R PID               -> W clients (one per "worker"), each
 *                                               warmed up; SIGSTOP PID; R sequential
 *                                               multi-gets taken by the clients in
 *                                               turn; SIGCONT; median < 0.1 s expected
 * Prints one line "name value ..." per result; exit 0 when the result is the
 * one the verb expects (all ok; at most one failure for failover).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/client.h"
#include "cli/cli.h"
#include "base/arena.h"
#include "test_util.h"

static int cli_cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* The acceptance scenario of a hung server, with W clients standing for W
 * workers that nginx hands requests to in turn (the worst case for a
 * per-worker breaker). */
static int cli_hung(const struct cache_settings *c, int n_workers, int n_requests, pid_t pid)
{
    struct cache *cc[16];
    struct arena *a = arena_new(0);
    double lat[1000];
    if (n_workers > 16 || n_requests > 1000)
        return 2;
    struct str keys[3] = { STR("view//"), STR("gen"), STR("frag") };
    struct str vals[3];
    bool found[3];
    for (int w = 0; w < n_workers; w++) {
        cc[w] = cache_new(c);
        cache_get_multi(cc[w], keys, 3, a, vals, found);
    }
    kill(pid, SIGSTOP);
    double t0 = t_now();
    int n_slow = 0;
    for (int r = 0; r < n_requests; r++) {
        double t = t_now();
        cache_get_multi(cc[r % n_workers], keys, 3, a, vals, found);
        lat[r] = t_now() - t;
        n_slow += lat[r] >= 0.1;
    }
    double total = t_now() - t0;
    kill(pid, SIGCONT);
    qsort(lat, (size_t)n_requests, sizeof *lat, cli_cmp_double);
    double median = lat[(n_requests - 1) / 2];
    printf("median %.4f max %.3f slow %d of %d total %.2f\n", median, lat[n_requests - 1], n_slow, n_requests,
           total);
    for (int w = 0; w < n_workers; w++)
        cache_free(cc[w]);
    arena_free(a);
    return median < 0.1 ? 0 : 1;
}

static unsigned cli_setget(struct cache *cc, struct arena *a, int n, const char *value)
{
    unsigned n_ok = 0;
    for (int k = 0; k < n; k++) {
        char key[32];
        snprintf(key, sizeof key, "k%d", k);
        struct str v;
        if (cache_set(cc, str_c(key), str_c(value), 300) == TL_OK &&
            cache_get(cc, str_c(key), a, &v) == TL_OK && str_eq_c(v, value))
            n_ok++;
    }
    return n_ok;
}

int main(int argc, char **argv)
{
    struct cache_settings c;
    const char *retry = getenv("CACHE_RETRY_S");
    t_cfg(&c, getenv("CACHE_SERVERS") ? getenv("CACHE_SERVERS") : "", getenv("CACHE_USER"),
          getenv("CACHE_PASS"));
    if (retry)
        c.retry_timeout_s = (unsigned)atoi(retry);
    if (argc < 2) {
        fprintf(stderr, "usage: cli_main stats|flush|setget N|count N|failover N PID\n");
        return 2;
    }
    if (strcmp(argv[1], "stats") == 0 || strcmp(argv[1], "flush") == 0 || argc == 2)
        return cli_cache(&c, argc - 1, argv + 1);

    if (strcmp(argv[1], "hung") == 0 && argc == 5)
        return cli_hung(&c, atoi(argv[2]), atoi(argv[3]), (pid_t)atoi(argv[4]));
    struct cache *cc = cache_new(&c);
    struct arena *a = arena_new(0);
    int n = atoi(argv[2]), status = 0;
    double t0 = t_now();
    if (strcmp(argv[1], "setget") == 0) {
        unsigned n_ok = cli_setget(cc, a, n, "value");
        const struct cache_stats *st = cache_stats_of(cc);
        printf("ok %u errors %llu skipped %llu hits %llu seconds %.3f\n", n_ok, (unsigned long long)st->errors,
               (unsigned long long)st->skipped, (unsigned long long)st->hits, t_now() - t0);
        status = n_ok == (unsigned)n ? 0 : 1;
    } else if (strcmp(argv[1], "count") == 0) {
        unsigned n_hit = 0;
        for (int k = 0; k < n; k++) {
            char key[32];
            snprintf(key, sizeof key, "k%d", k);
            struct str v;
            n_hit += cache_get(cc, str_c(key), a, &v) == TL_OK;
        }
        printf("hits %u errors %llu\n", n_hit, (unsigned long long)cache_stats_of(cc)->errors);
    } else if (strcmp(argv[1], "failover") == 0 && argc == 4) {
        unsigned before = cli_setget(cc, a, n, "before");
        kill((pid_t)atoi(argv[3]), SIGKILL);
        t_sleep(0.2);
        unsigned round1 = cli_setget(cc, a, n, "after");
        t_sleep(c.retry_timeout_s + 0.2);
        unsigned round2 = cli_setget(cc, a, n, "again");
        const struct cache_stats *st = cache_stats_of(cc);
        printf("before %u round1 %u round2 %u errors %llu skipped %llu seconds %.3f\n", before, round1, round2,
               (unsigned long long)st->errors, (unsigned long long)st->skipped, t_now() - t0);
        status = before == (unsigned)n && round2 == (unsigned)n && st->errors <= 1 ? 0 : 1;
    } else {
        fprintf(stderr, "cli_main: unknown verb \"%s\"\n", argv[1]);
        status = 2;
    }
    cache_free(cc);
    arena_free(a);
    return status;
}
