/*
 * base/strbuf.h - growable byte buffer backed by an arena.
 * Owns: nothing beyond its arena memory; valid until the arena is reset.
 * Invariants: p[len] == '\0' whenever cap > 0 (handy for C APIs);
 *   on out of memory the buffer stays as it was and sb->oom is set, so
 *   callers may append freely and check once at the end.
 *   cap == 0 with len > 0 means p borrows bytes someone else owns (a cached
 *   body): the first append copies them into the arena.
 */
#ifndef TASKLIST_SERVER_STRBUF_H
#define TASKLIST_SERVER_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "str.h"

struct strbuf {
    char *p;
    size_t len;
    size_t cap;
    struct arena *arena;
    bool oom;
};

/* Empty buffer drawing on arena a, with room for cap bytes reserved lazily. */
void strbuf_init(struct strbuf *sb, struct arena *a, size_t cap);

/* Make room for extra more bytes; false (and sb->oom) when out of memory. */
bool strbuf_reserve(struct strbuf *sb, size_t extra);

void strbuf_append(struct strbuf *sb, const void *p, size_t len);
void strbuf_append_str(struct strbuf *sb, struct str s);
void strbuf_puts(struct strbuf *sb, const char *s);
void strbuf_putc(struct strbuf *sb, char c);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Decimal integer, without printf. */
void strbuf_put_int(struct strbuf *sb, long long v);
/* HTML-escape & < > " ' (as Jinja2/markupsafe does: &amp; &lt; &gt; &#34; &#39;). */
void strbuf_append_html(struct strbuf *sb, const char *p, size_t len);

void strbuf_reset(struct strbuf *sb);

static inline struct str strbuf_str(const struct strbuf *sb)
{
    return (struct str){ sb->p, sb->len };
}

#endif
