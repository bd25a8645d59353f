/*
 * tests/server/test_arena.c - the per-request bump allocator (arena.h).
 * Owns: alignment, growth into new blocks, large allocations, realloc in
 *   place and by copy, cleanups (newest first, at reset and at free), reset
 *   keeping the first block, the out-of-memory paths through the test hook
 *   arena_fail_after and arena_fail_once (arena_on_reset then calls fn at
 *   once).
 * Leaks (blocks, large allocations) are caught by the ASan build's LSan.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"

#include "../lib/check.h"

static bool t_aligned(const void *p)
{
    return ((uintptr_t)p & 15) == 0;
}

static void test_alignment(void)
{
    struct arena *a = arena_new(4096);
    for (size_t size = 0; size <= 100; size++) {
        void *p = arena_alloc(a, size);
        CHECK(p && t_aligned(p), "size %zu: %p not 16-byte aligned", size, p);
    }
    void *big = arena_alloc(a, 10000);   /* over a quarter block: malloc'd */
    CHECK(big && t_aligned(big), "large allocation %p aligned", big);
    char *s = arena_strndup(a, "x", 1);
    CHECK(s && t_aligned(s), "strndup %p aligned", (void *)s);
    arena_free(a);
}

/* Many allocations over several blocks: each keeps its own bytes, and
 * arena_used counts each rounded to 16. */
static void test_growth(void)
{
    enum { N = 300, SIZE = 100 };
    struct arena *a = arena_new(1024);
    unsigned char *ps[N];
    for (int i = 0; i < N; i++) {
        ps[i] = arena_alloc(a, SIZE);
        CHECK(ps[i] != NULL, "alloc %d", i);
        if (ps[i])
            memset(ps[i], i & 0xff, SIZE);
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; ps[i] && j < SIZE; j++)
            if (ps[i][j] != (i & 0xff)) {
                CHECK(false, "alloc %d byte %d overwritten: %u", i, j, ps[i][j]);
                break;
            }
    CHECK(arena_used(a) == (size_t)N * 112, "used %zu, want %d", arena_used(a), N * 112);
    arena_free(a);
}

static void test_large(void)
{
    struct arena *a = arena_new(1024);
    char *small = arena_alloc(a, 16);
    char *big = arena_alloc(a, 257);      /* a quarter of 1024 is 256 */
    char *big2 = arena_alloc(a, 1 << 20);
    CHECK(small && big && big2, "allocations");
    if (big && big2) {
        memset(big, 'b', 257);
        memset(big2, 'c', 1 << 20);
        CHECK(big[256] == 'b' && big2[(1 << 20) - 1] == 'c', "large allocations usable");
    }
    CHECK(arena_used(a) >= 16 + 257 + (1 << 20), "used %zu counts large allocations", arena_used(a));
    arena_reset(a);   /* frees both (LSan would report them otherwise) */
    CHECK(arena_used(a) == 0, "used %zu after reset", arena_used(a));
    CHECK(arena_alloc(a, 5000) != NULL, "large after reset");
    arena_free(a);
}

static void test_realloc(void)
{
    struct arena *a = arena_new(1024);
    char *p = arena_alloc(a, 32);
    memcpy(p, "0123456789", 10);
    char *q = arena_realloc(a, p, 32, 64);
    CHECK(q == p, "the latest allocation grows in place");
    CHECK(arena_realloc(a, p, 64, 16) == p, "shrinking returns p");
    char *other = arena_alloc(a, 16);
    CHECK(other != NULL, "other");
    q = arena_realloc(a, p, 64, 128);
    CHECK(q && q != p && memcmp(q, "0123456789", 10) == 0, "not the latest: copied");
    /* The latest, but no room left in its block: copied to a new block. */
    arena_reset(a);
    for (int i = 0; i < 4; i++)
        arena_alloc(a, 240);                 /* 960 of 1024 bytes */
    char *r = arena_alloc(a, 48);            /* 960..1008 */
    memcpy(r, "abc", 3);
    size_t used = arena_used(a);
    char *r2 = arena_realloc(a, r, 48, 100);
    CHECK(r2 != NULL && r2 != r && memcmp(r2, "abc", 3) == 0, "no room at the block's end: copied");
    CHECK(arena_used(a) == used + 112, "used %zu, want %zu", arena_used(a), used + 112);
    /* Over a quarter block: copied into a large allocation. */
    char *r3 = arena_realloc(a, r2, 256, 4000);
    CHECK(r3 && r3 != r2 && memcmp(r3, "abc", 3) == 0, "grown into a large allocation");
    (void)q;
    CHECK(arena_realloc(a, NULL, 0, 8) != NULL, "realloc of NULL allocates");
    arena_free(a);
}

static int order[8];
static int n_order;

static void t_record(void *arg)
{
    if (n_order < 8)
        order[n_order++] = (int)(intptr_t)arg;
}

static void test_cleanups(void)
{
    struct arena *a = arena_new(0);
    n_order = 0;
    for (intptr_t i = 1; i <= 3; i++)
        CHECK(arena_on_reset(a, t_record, (void *)i) == 0, "register %d", (int)i);
    CHECK(n_order == 0, "nothing runs before reset");
    arena_reset(a);
    CHECK(n_order == 3 && order[0] == 3 && order[1] == 2 && order[2] == 1, "newest first at reset: %d %d %d",
          order[0], order[1], order[2]);
    arena_reset(a);
    CHECK(n_order == 3, "each cleanup runs once");
    n_order = 0;
    arena_on_reset(a, t_record, (void *)7);
    arena_on_reset(a, t_record, (void *)8);
    arena_free(a);
    CHECK(n_order == 2 && order[0] == 8 && order[1] == 7, "newest first at free: %d %d", order[0], order[1]);
}

/* Reset keeps the first block (a steady request costs no malloc): the first
 * allocation after reset is where the first one was, even after growth. */
static void test_reset_keeps_first_block(void)
{
    struct arena *a = arena_new(1024);
    void *first = arena_alloc(a, 64);
    for (int i = 0; i < 50; i++)
        arena_alloc(a, 200);   /* several more blocks */
    arena_reset(a);
    CHECK(arena_used(a) == 0, "used 0 after reset");
    CHECK(arena_alloc(a, 64) == first, "first block reused");
    arena_free(a);
}

static void test_fail_after(void)
{
    struct arena *a = arena_new(1024);
    arena_fail_after(a, 2);
    CHECK(arena_alloc(a, 8) != NULL, "1st succeeds");
    CHECK(arena_strdup(a, "x") != NULL, "2nd succeeds");
    CHECK(arena_alloc(a, 8) == NULL, "3rd fails");
    CHECK(arena_alloc(a, 5000) == NULL, "large fails");
    CHECK(arena_calloc(a, 2, 8) == NULL, "calloc fails");
    CHECK(arena_strndup(a, "abc", 3) == NULL, "strndup fails");
    CHECK(arena_printf(a, "%d", 42) == NULL, "printf fails");
    arena_fail_after(a, -1);
    char *p = arena_alloc(a, 16);
    CHECK(p != NULL, "disarmed");
    arena_fail_after(a, 0);
    CHECK(arena_realloc(a, p, 16, 32) == NULL, "in-place growth fails too");
    arena_reset(a);
    CHECK(arena_alloc(a, 1) == NULL, "the hook survives reset");
    /* Out of memory, arena_on_reset runs fn at once, so nothing leaks. */
    n_order = 0;
    CHECK(arena_on_reset(a, t_record, (void *)5) == -1, "registration fails");
    CHECK(n_order == 1 && order[0] == 5, "fn called at once (%d calls)", n_order);
    arena_fail_after(a, -1);
    arena_reset(a);
    CHECK(n_order == 1, "and not again at reset");
    /* arena_fail_once: only the numbered allocation fails. */
    arena_fail_once(a, 1);
    CHECK(arena_alloc(a, 8) != NULL, "once: 0th succeeds");
    CHECK(arena_alloc(a, 8) == NULL, "once: 1st fails");
    CHECK(arena_alloc(a, 8) != NULL && arena_alloc(a, 8) != NULL, "once: the later ones succeed");
    arena_free(a);
}

static void test_strings(void)
{
    struct arena *a = arena_new(0);
    char *s = arena_strndup(a, "ab\0cd", 5);
    CHECK(s && memcmp(s, "ab\0cd", 5) == 0 && s[5] == '\0', "strndup copies len bytes and a NUL");
    char *p = arena_printf(a, "%s-%04d", "x", 7);
    CHECK(p && strcmp(p, "x-0007") == 0, "printf: \"%s\"", p ? p : "(null)");
    unsigned char *z = arena_calloc(a, 10, 10);
    int nonzero = 0;
    for (int i = 0; z && i < 100; i++)
        nonzero += z[i] != 0;
    CHECK(z && nonzero == 0, "calloc zeroes");
    CHECK(arena_calloc(a, SIZE_MAX / 2, 4) == NULL, "calloc overflow refused");
    arena_free(a);
    arena_free(NULL);
}

int main(void)
{
    test_alignment();
    test_growth();
    test_large();
    test_realloc();
    test_cleanups();
    test_reset_keeps_first_block();
    test_fail_after();
    test_strings();
    return check_exit();
}
