/*
 * base/arena.c - the per-request bump allocator of arena.h.
 * A chain of blocks; the first is kept across resets so a steady-state
 * request costs no malloc at all. Big allocations and cleanups are lists
 * whose nodes live in the arena itself. A test hook (arena_fail_after)
 * makes allocations fail on demand, so out-of-memory paths can be run.
 */
#include "arena.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_DEFAULT_BLOCK (64 * 1024)

struct arena_block {
    struct arena_block *next;
    size_t cap;
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena_big {
    struct arena_big *next;
    void *p;
};

struct arena_cleanup {
    struct arena_cleanup *next;
    void (*fn)(void *);
    void *arg;
};

struct arena {
    struct arena_block *head;   /* current block; first block is last in chain */
    struct arena_block *first;
    struct arena_big *bigs;
    struct arena_cleanup *cleanups;
    size_t block_size;
    size_t used_total;
    void *last;                 /* most recent small allocation, for realloc */
    size_t last_size;
    long fail_after;            /* test hook (arena_fail_after); -1 = never fail */
    long fail_once;             /* test hook (arena_fail_once); -1 = none */
};

static bool arena_should_fail(struct arena *a);

static struct arena_block *arena_block_new(size_t cap)
{
    struct arena_block *b = malloc(sizeof *b + cap);
    if (!b)
        return NULL;
    b->next = NULL;
    b->cap = cap;
    b->used = 0;
    return b;
}

struct arena *arena_new(size_t block_size)
{
    struct arena *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->block_size = block_size ? block_size : ARENA_DEFAULT_BLOCK;
    a->fail_after = -1;
    a->fail_once = -1;
    a->first = a->head = arena_block_new(a->block_size);
    if (!a->first) {
        free(a);
        return NULL;
    }
    return a;
}

void arena_free(struct arena *a)
{
    if (!a)
        return;
    arena_reset(a);
    free(a->first);
    free(a);
}

static void *arena_alloc_big(struct arena *a, size_t size)
{
    struct arena_big *node = arena_alloc(a, sizeof *node);
    if (!node)
        return NULL;
    node->p = malloc(size);
    if (!node->p)
        return NULL;
    node->next = a->bigs;
    a->bigs = node;
    a->used_total += size;
    return node->p;
}

void *arena_alloc(struct arena *a, size_t size)
{
    if (arena_should_fail(a))
        return NULL;
    if (size == 0)
        size = 1;
    if (size > a->block_size / 4)
        return arena_alloc_big(a, size);
    size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    struct arena_block *b = a->head;
    if (b->cap - b->used < rounded) {
        b = arena_block_new(a->block_size);
        if (!b)
            return NULL;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += rounded;
    a->used_total += rounded;
    a->last = p;
    a->last_size = rounded;
    return p;
}

void *arena_calloc(struct arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = arena_alloc(a, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void *arena_realloc(struct arena *a, void *p, size_t old_size, size_t new_size)
{
    if (new_size <= old_size)
        return p;
    struct arena_block *b = a->head;
    if (p && p == a->last && new_size <= a->block_size / 4) {
        if (arena_should_fail(a))
            return NULL;
        size_t rounded = (new_size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
        size_t start = (size_t)((unsigned char *)p - b->data);
        if (start + rounded <= b->cap) {
            a->used_total += rounded - a->last_size;
            b->used = start + rounded;
            a->last_size = rounded;
            return p;
        }
    }
    void *q = arena_alloc(a, new_size);
    if (!q)
        return NULL;
    if (p && old_size)
        memcpy(q, p, old_size);
    return q;
}

int arena_on_reset(struct arena *a, void (*fn)(void *), void *arg)
{
    struct arena_cleanup *c = arena_alloc(a, sizeof *c);
    if (!c) {
        fn(arg);
        return -1;
    }
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}

void arena_reset(struct arena *a)
{
    while (a->cleanups) {
        struct arena_cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->arg);
    }
    for (struct arena_big *g = a->bigs; g; g = g->next)
        free(g->p);
    a->bigs = NULL;
    while (a->head != a->first) {
        struct arena_block *b = a->head;
        a->head = b->next;
        free(b);
    }
    a->first->used = 0;
    a->used_total = 0;
    a->last = NULL;
    a->last_size = 0;
}

size_t arena_used(const struct arena *a)
{
    return a->used_total;
}

void arena_fail_after(struct arena *a, long n)
{
    a->fail_after = n < 0 ? -1 : n;
}

void arena_fail_once(struct arena *a, long n)
{
    a->fail_once = n < 0 ? -1 : n;
}

/* The test hooks' countdowns: false while allocations may succeed. */
static bool arena_should_fail(struct arena *a)
{
    if (a->fail_once >= 0 && a->fail_once-- == 0)
        return true;
    if (a->fail_after < 0)
        return false;
    if (a->fail_after == 0)
        return true;
    a->fail_after--;
    return false;
}
