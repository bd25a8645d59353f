/*
 * base/strbuf.c - the arena-backed growable buffer of strbuf.h.
 * Growth doubles the capacity and, when the buffer is the arena's latest
 * allocation, extends it in place (arena_realloc), so streaming a page into
 * one buffer does not copy it again and again.
 */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>

void strbuf_init(struct strbuf *sb, struct arena *a, size_t cap)
{
    sb->p = NULL;
    sb->len = 0;
    sb->cap = 0;
    sb->arena = a;
    sb->oom = false;
    if (cap)
        strbuf_reserve(sb, cap);
}

bool strbuf_reserve(struct strbuf *sb, size_t extra)
{
    if (sb->oom)
        return false;
    if (sb->cap && sb->len + extra + 1 <= sb->cap)
        return true;
    size_t want = sb->len + extra + 1;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < want)
        cap *= 2;
    /* cap == 0 with len > 0: the bytes are borrowed (e.g. a cached body), so
     * copy len of them rather than assuming we own a block. */
    size_t old = sb->cap ? sb->cap : sb->len;
    char *p = arena_realloc(sb->arena, sb->cap ? sb->p : NULL, sb->cap, cap);
    if (p && !sb->cap && sb->len)
        memcpy(p, sb->p, old);
    if (!p) {
        sb->oom = true;
        return false;
    }
    sb->p = p;
    sb->cap = cap;
    sb->p[sb->len] = '\0';
    return true;
}

void strbuf_append(struct strbuf *sb, const void *p, size_t len)
{
    if (!strbuf_reserve(sb, len))
        return;
    if (len)
        memcpy(sb->p + sb->len, p, len);
    sb->len += len;
    sb->p[sb->len] = '\0';
}

void strbuf_append_str(struct strbuf *sb, struct str s)
{
    strbuf_append(sb, s.p, s.len);
}

void strbuf_puts(struct strbuf *sb, const char *s)
{
    strbuf_append(sb, s, strlen(s));
}

void strbuf_putc(struct strbuf *sb, char c)
{
    if (!strbuf_reserve(sb, 1))
        return;
    sb->p[sb->len++] = c;
    sb->p[sb->len] = '\0';
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !strbuf_reserve(sb, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(sb->p + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

void strbuf_put_int(struct strbuf *sb, long long v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    strbuf_append(sb, tmp + i, sizeof tmp - i);
}

void strbuf_append_html(struct strbuf *sb, const char *p, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        const char *rep;
        switch (p[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&#34;"; break;
        case '\'': rep = "&#39;"; break;
        default: continue;
        }
        strbuf_append(sb, p + start, i - start);
        strbuf_puts(sb, rep);
        start = i + 1;
    }
    strbuf_append(sb, p + start, len - start);
}

void strbuf_reset(struct strbuf *sb)
{
    sb->len = 0;
    if (sb->cap)
        sb->p[0] = '\0';
}
