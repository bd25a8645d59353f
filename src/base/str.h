/*
 * base/str.h - length-carrying string slices.
 * Owns: struct str and a few inline helpers. A str never owns its bytes:
 *   whoever made it (arena, config, a literal) keeps them alive.
 * Invariants: p may be NULL only when len == 0; bytes need not be NUL-terminated.
 */
#ifndef TASKLIST_SERVER_STR_H
#define TASKLIST_SERVER_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct str {
    const char *p;
    size_t len;
};

#define STR(lit) ((struct str){ (lit), sizeof(lit) - 1 })
#define STR_NULL ((struct str){ NULL, 0 })
/* printf helper: printf("%.*s", STR_FMT(s)) */
#define STR_FMT(s) (int)(s).len, (s).p

/* A str over a NUL-terminated C string (NULL gives the empty str). */
static inline struct str str_c(const char *s)
{
    return (struct str){ s, s ? strlen(s) : 0 };
}

static inline bool str_eq(struct str a, struct str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline bool str_eq_c(struct str a, const char *b)
{
    return str_eq(a, str_c(b));
}

static inline bool str_starts_with(struct str s, struct str prefix)
{
    return s.len >= prefix.len && memcmp(s.p, prefix.p, prefix.len) == 0;
}

/* Value of a hex digit (either case), or -1. */
static inline int str_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Case-insensitive ASCII equality (header names, tokens). */
bool str_eq_nocase(struct str a, struct str b);

/* True when s is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF)
 * and contains no NUL byte. */
bool str_is_valid_utf8(struct str s);

/* Strict decimal parse of a positive id: digits only, no sign, no leading
 * zero, fits in int64 and > 0. Returns false (and leaves *out alone) otherwise. */
bool str_parse_id(struct str s, long long *out);

#endif
