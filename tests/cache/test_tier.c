/*
 * tests/cache/test_tier.c - the same-host tier (src/cache/tier.c):
 *  - put/get, misses, TTL, the value limit, replacing a key, eviction by
 *    wrap-around with lazy promotion of an entry in use, stats;
 *  - the segment is a memfd named tasklist-cache, shared across fork;
 *  - the hammer: several processes put and get random keys on a small tier
 *    (so the log wraps constantly) while the parent SIGKILLs them at random
 *    instants and starts new ones; every value read back must be one that was
 *    put, whole (each value carries the hash of its key and of its own bytes),
 *    and no process may get stuck (all stop within a bound when asked).
 */
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/tier.h"

#include "../lib/check.h"

static double t_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_basics(void)
{
    struct tl_diag d = { 0 };
    struct tier *t = tier_new(1, 4096, &d);
    CHECK(t != NULL, "tier_new: %s", d.msg);
    if (!t)
        return;
    struct arena *a = arena_new(0);
    struct str v;
    CHECK(!tier_get(t, STR("k"), a, &v), "empty tier misses");
    tier_put(t, STR("k"), STR("value one"), 0);
    CHECK(tier_get(t, STR("k"), a, &v) && str_eq_c(v, "value one"), "put then get");
    tier_put(t, STR("k"), STR("value two"), 0);
    CHECK(tier_get(t, STR("k"), a, &v) && str_eq_c(v, "value two"), "a second put replaces");
    CHECK(!tier_get(t, STR("K"), a, &v) && !tier_get(t, STR("k "), a, &v), "other keys miss");
    tier_put(t, STR(""), STR(""), 0);
    CHECK(tier_get(t, STR(""), a, &v) && v.len == 0, "empty key and value");
    char big[5000];
    memset(big, 'x', sizeof big);
    tier_put(t, STR("big"), (struct str){ big, sizeof big }, 0);
    CHECK(!tier_get(t, STR("big"), a, &v), "a value over the limit is not stored");
    tier_put(t, STR("ttl"), STR("soon gone"), 1);
    CHECK(tier_get(t, STR("ttl"), a, &v), "ttl entry readable at once");
    struct timespec ts = { 2, 100000000 };
    nanosleep(&ts, NULL);
    CHECK(!tier_get(t, STR("ttl"), a, &v), "ttl entry expired");

    /* wrap-around: 1 MiB log, 3,000 values of 1 KiB; "hot" is read all along */
    tier_put(t, STR("hot"), STR("kept by promotion"), 0);
    char key[32], val[1024];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "cold%d", i);
        tier_put(t, str_c(key), (struct str){ val, sizeof val }, 0);
        if (i % 50 == 0) {
            arena_reset(a);
            CHECK(tier_get(t, STR("hot"), a, &v) && str_eq_c(v, "kept by promotion"), "hot entry at %d", i);
        }
    }
    arena_reset(a);
    CHECK(!tier_get(t, STR("cold0"), a, &v), "the oldest cold entry aged out");
    CHECK(tier_get(t, STR("cold2999"), a, &v) && v.len == sizeof val, "the newest is there");
    struct tier_stats s;
    tier_stats_of(t, &s);
    CHECK(s.hits > 0 && s.misses > 0 && s.stores >= 3000 && s.bytes_used == (1u << 20) && s.entries > 100 &&
              s.entries < 1100, "stats: hits %llu misses %llu stores %llu evictions %llu used %llu entries %llu",
          (unsigned long long)s.hits, (unsigned long long)s.misses, (unsigned long long)s.stores,
          (unsigned long long)s.evictions, (unsigned long long)s.bytes_used, (unsigned long long)s.entries);
    arena_free(a);
    tier_free(t);
}

static void test_shared_memfd(void)
{
    struct tl_diag d = { 0 };
    struct tier *t = tier_new(1, 4096, &d);
    if (!t) {
        CHECK(0, "tier_new: %s", d.msg);
        return;
    }
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    bool named = false;
    while (maps && fgets(line, sizeof line, maps))
        named = named || strstr(line, "memfd:tasklist-cache") != NULL;
    if (maps)
        fclose(maps);
    CHECK(named, "the segment shows as memfd:tasklist-cache in /proc/self/maps");
    pid_t p = fork();
    if (p == 0) {
        tier_attach(t, 1);
        tier_put(t, STR("from the child"), STR("seen by the parent"), 0);
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    struct arena *a = arena_new(0);
    struct str v;
    CHECK(tier_get(t, STR("from the child"), a, &v) && str_eq_c(v, "seen by the parent"),
          "a value stored by another process");
    CHECK(tier_print_running(stdout) >= 1, "tasklist cache stats finds the segment through /proc");
    arena_free(a);
    tier_free(t);
}

/* A value: "<key hash:16 hex> <content hash:16 hex> <filler>" so a reader can
 * check it is whole and belongs to the key it asked for. */
static uint64_t t_hash(const void *p, size_t n)
{
    unsigned char k[crypto_shorthash_KEYBYTES] = { 7 }, out[crypto_shorthash_BYTES];
    crypto_shorthash(out, p, n, k);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h;
}

static size_t t_make_value(char *buf, const char *key, unsigned seed)
{
    size_t filler = 16 + (seed * 2654435761u) % 3000;
    int n = snprintf(buf, 40, "%016llx ", (unsigned long long)t_hash(key, strlen(key)));
    for (size_t i = 0; i < filler; i++)
        buf[n + 17 + i] = (char)('a' + (seed + i) % 26);
    uint64_t ch = t_hash(buf + n + 17, filler);
    char tmp[18];
    snprintf(tmp, sizeof tmp, "%016llx ", (unsigned long long)ch);
    memcpy(buf + n, tmp, 17);
    return (size_t)n + 17 + filler;
}

static bool t_value_ok(const char *key, struct str v)
{
    if (v.len < 34)
        return false;
    char want[17];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)t_hash(key, strlen(key)));
    if (memcmp(v.p, want, 16) != 0)
        return false;
    snprintf(want, sizeof want, "%016llx", (unsigned long long)t_hash(v.p + 34, v.len - 34));
    return memcmp(v.p + 17, want, 16) == 0;
}

struct hammer_shared {
    atomic_int stop;
    atomic_long gets, hits, puts, bad;
};

static void hammer_child(struct tier *t, struct hammer_shared *sh, unsigned seed)
{
    tier_attach(t, seed);
    struct arena *a = arena_new(0);
    char key[32], val[4096];
    srand(seed);
    while (!atomic_load(&sh->stop)) {
        snprintf(key, sizeof key, "k%d", rand() % 400);
        arena_reset(a);
        struct str v;
        if (rand() % 3 == 0) {
            size_t n = t_make_value(val, key, (unsigned)rand());
            tier_put(t, str_c(key), (struct str){ val, n }, 0);
            atomic_fetch_add(&sh->puts, 1);
        } else {
            atomic_fetch_add(&sh->gets, 1);
            if (tier_get(t, str_c(key), a, &v)) {
                atomic_fetch_add(&sh->hits, 1);
                if (!t_value_ok(key, v))
                    atomic_fetch_add(&sh->bad, 1);
            }
        }
    }
    _exit(0);
}

static void test_hammer_with_kills(void)
{
    enum { N = 4 };
    struct tl_diag d = { 0 };
    struct tier *t = tier_new(1, 4096, &d);   /* 1 MiB: the log wraps every few thousand puts */
    if (!t) {
        CHECK(0, "tier_new: %s", d.msg);
        return;
    }
    struct hammer_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(sh, 0, sizeof *sh);
    pid_t kids[N];
    unsigned seed = 1;
    for (int i = 0; i < N; i++)
        if ((kids[i] = fork()) == 0)
            hammer_child(t, sh, seed + (unsigned)i);
    seed += N;
    int kills = 0;
    srand(12345);
    double end = t_now() + 3.0;
    while (t_now() < end) {
        struct timespec ts = { 0, (long)(1 + rand() % 40) * 1000000L };
        nanosleep(&ts, NULL);
        int i = rand() % N;
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
        kills++;
        if ((kids[i] = fork()) == 0)
            hammer_child(t, sh, seed);
        seed++;
    }
    atomic_store(&sh->stop, 1);
    int stuck = 0;
    double deadline = t_now() + 5.0;
    for (int i = 0; i < N; i++) {
        int st;
        while (waitpid(kids[i], &st, WNOHANG) == 0 && t_now() < deadline) {
            struct timespec ts = { 0, 10000000 };
            nanosleep(&ts, NULL);
        }
        if (waitpid(kids[i], &st, WNOHANG) == 0) {
            stuck++;
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, 0);
        }
    }
    /* afterwards, from here: every key either misses or reads whole */
    struct arena *a = arena_new(0);
    int after_bad = 0, after_hits = 0;
    char key[32];
    for (int k = 0; k < 400; k++) {
        snprintf(key, sizeof key, "k%d", k);
        arena_reset(a);
        struct str v;
        if (tier_get(t, str_c(key), a, &v)) {
            after_hits++;
            after_bad += !t_value_ok(key, v);
        }
    }
    printf("# hammer: %d processes, %d SIGKILLs in 3 s, %ld puts, %ld gets, %ld hits, %ld bad; after: %d hits, "
           "%d bad; %d stuck\n", N, kills, atomic_load(&sh->puts), atomic_load(&sh->gets), atomic_load(&sh->hits),
           atomic_load(&sh->bad), after_hits, after_bad, stuck);
    CHECK(kills > 20, "only %d kills", kills);
    CHECK(atomic_load(&sh->hits) > 1000, "too few hits to mean anything: %ld", atomic_load(&sh->hits));
    CHECK(atomic_load(&sh->bad) == 0, "%ld values read back were not whole or not the key's", atomic_load(&sh->bad));
    CHECK(after_bad == 0 && after_hits > 0, "after the kills: %d bad of %d hits", after_bad, after_hits);
    CHECK(stuck == 0, "%d processes did not stop", stuck);
    arena_free(a);
    munmap(sh, sizeof *sh);
    tier_free(t);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    test_basics();
    test_shared_memfd();
    test_hammer_with_kills();
    if (failures) {
        printf("%d failure(s)\n", failures);
        return 1;
    }
    printf("tier: basics, shared memfd, hammer with SIGKILLs all hold\n");
    return 0;
}
