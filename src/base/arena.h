/*
 * base/arena.h - per-request bump allocator.
 * Owns: memory handed out until arena_reset(); cleanups registered with
 *   arena_on_reset() (database statements, results) run at reset, newest first.
 * Invariants: nothing allocated from an arena is ever free()d individually.
 *   Each worker owns one arena and resets it after every request.
 * Context: any process; not thread-safe (workers are single-threaded).
 */
#ifndef TASKLIST_SERVER_ARENA_H
#define TASKLIST_SERVER_ARENA_H

#include <stddef.h>

struct arena;

/* New arena whose first block holds block_size bytes (0 = 64 KiB).
 * Returns NULL when out of memory. */
struct arena *arena_new(size_t block_size);

/* Run cleanups, then release all memory. NULL is allowed. */
void arena_free(struct arena *a);

/* Aligned (16 bytes) memory valid until the next reset; NULL only when the
 * system is out of memory. Allocations larger than a quarter block get a
 * malloc of their own, freed at reset. */
void *arena_alloc(struct arena *a, size_t size);

/* Zero-filled arena_alloc. */
void *arena_calloc(struct arena *a, size_t n, size_t size);

/* Copy of len bytes plus a NUL terminator; NULL when out of memory. */
char *arena_strndup(struct arena *a, const char *s, size_t len);
char *arena_strdup(struct arena *a, const char *s);

/* printf into the arena; NULL on out of memory. */
char *arena_printf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Grow the most recent allocation p (of old_size) to new_size in place when
 * it is the last thing allocated and fits; otherwise allocate and copy.
 * Returns NULL when out of memory (p stays valid). */
void *arena_realloc(struct arena *a, void *p, size_t old_size, size_t new_size);

/* Register fn(arg) to run at the next reset (or free). Returns 0, or -1 when
 * out of memory (in which case fn is called at once, so nothing leaks). */
int arena_on_reset(struct arena *a, void (*fn)(void *), void *arg);

/* Run cleanups (newest first), release large allocations and extra blocks,
 * keep the first block for the next request. */
void arena_reset(struct arena *a);

/* Bytes handed out since the last reset (for debug logs and benchmarks). */
size_t arena_used(const struct arena *a);

/* For tests of out-of-memory paths only: the next n allocations succeed,
 * then every one fails (returns NULL, as when malloc fails) until the hook
 * is disarmed with n < 0. Counted: each arena_alloc (and what calls it:
 * calloc, strndup, printf, a copying realloc, a cleanup's node) and each
 * in-place arena_realloc. It survives arena_reset. Never used in production
 * code. */
void arena_fail_after(struct arena *a, long n);
/* For tests too: only the allocation numbered n (0 = the next) fails; the
 * ones before and after succeed, so code that ignores one failure goes on
 * and shows it. n < 0 disarms. Counted as arena_fail_after counts. */
void arena_fail_once(struct arena *a, long n);

#endif
