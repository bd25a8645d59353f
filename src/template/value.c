/*
 * template/value.c - the value model's Python semantics.
 * Owns: map lookup, truthiness, str() and repr() of values exactly as Jinja2
 *   prints them, equality and ordering, and Python's notion of whitespace
 *   the lexer and filters share (decoding and code-point counts are
 *   base/utf8.h's).
 * Invariants: nothing here allocates except tpl_to_str for non-string values,
 *   and only from the arena it is given.
 * Context: master (lexer) and workers (rendering).
 */
#include "internal.h"

#include "../base/utf8.h"

static void tpl_value_write_repr(struct strbuf *sb, const struct tpl_value *v);
static void tpl_value_write_str_repr(struct strbuf *sb, struct str s);
static unsigned long tpl_value_decode(struct str s, size_t i, size_t *n);
static bool tpl_value_is_py_space(unsigned long cp);
static bool tpl_value_is_printable(unsigned long cp);

const struct tpl_value *tpl_map_get(const struct tpl_value *m, struct str key)
{
    if (!m || m->type != TPL_MAP)
        return NULL;
    for (size_t i = 0; i < m->u.map.n; i++) {
        if (str_eq(m->u.map.items[i].key, key))
            return &m->u.map.items[i].value;
    }
    return NULL;
}

bool tpl_truthy(const struct tpl_value *v)
{
    switch (v->type) {
    case TPL_BOOL: return v->u.b;
    case TPL_INT: return v->u.i != 0;
    case TPL_STR:
    case TPL_SAFE: return v->u.s.len != 0;
    case TPL_LIST: return v->u.list.n != 0;
    case TPL_MAP: return v->u.map.n != 0;
    case TPL_NONE: return false;
    default: return v->type == TPL_LOOP; /* Undefined is false */
    }
}

void tpl_write_str(struct strbuf *sb, const struct tpl_value *v)
{
    switch (v->type) {
    case TPL_NONE: strbuf_append(sb, "None", 4); break;
    case TPL_BOOL: strbuf_puts(sb, v->u.b ? "True" : "False"); break;
    case TPL_INT: strbuf_put_int(sb, v->u.i); break;
    case TPL_STR:
    case TPL_SAFE: strbuf_append_str(sb, v->u.s); break;
    default:
        if (v->type != TPL_UNDEF)
            tpl_value_write_repr(sb, v);
        break;
    }
}

struct str tpl_to_str(struct arena *a, const struct tpl_value *v)
{
    if (v->type == TPL_STR || v->type == TPL_SAFE)
        return v->u.s;
    if (v->type == TPL_UNDEF)
        return STR("");
    if (v->type == TPL_NONE)
        return STR("None");
    if (v->type == TPL_BOOL)
        return v->u.b ? STR("True") : STR("False");
    struct strbuf sb;
    strbuf_init(&sb, a, 24);
    tpl_write_str(&sb, v);
    return sb.oom ? STR_NULL : strbuf_str(&sb);
}

/* repr() of containers and their items, as Python prints them. */
static void tpl_value_write_repr(struct strbuf *sb, const struct tpl_value *v)
{
    switch (v->type) {
    case TPL_STR:
        tpl_value_write_str_repr(sb, v->u.s);
        break;
    case TPL_SAFE:
        strbuf_puts(sb, "Markup(");
        tpl_value_write_str_repr(sb, v->u.s);
        strbuf_putc(sb, ')');
        break;
    case TPL_LIST:
        strbuf_putc(sb, '[');
        for (size_t i = 0; i < v->u.list.n; i++) {
            if (i)
                strbuf_append(sb, ", ", 2);
            tpl_value_write_repr(sb, &v->u.list.items[i]);
        }
        strbuf_putc(sb, ']');
        break;
    case TPL_MAP:
        strbuf_putc(sb, '{');
        for (size_t i = 0; i < v->u.map.n; i++) {
            if (i)
                strbuf_append(sb, ", ", 2);
            tpl_value_write_str_repr(sb, v->u.map.items[i].key);
            strbuf_append(sb, ": ", 2);
            tpl_value_write_repr(sb, &v->u.map.items[i].value);
        }
        strbuf_putc(sb, '}');
        break;
    default:
        if (v->type == TPL_UNDEF) {
            strbuf_puts(sb, "Undefined");
        } else if (v->type == TPL_LOOP) {
            const struct tpl_loop *l = (const struct tpl_loop *)(const void *)v->u.list.items;
            strbuf_printf(sb, "<LoopContext %zu/%zu>", l->index0 + 1, l->length);
        } else {
            tpl_write_str(sb, v);
        }
        break;
    }
}

static void tpl_value_write_str_repr(struct strbuf *sb, struct str s)
{
    bool has_sq = memchr(s.p ? s.p : "", '\'', s.len) != NULL;
    bool has_dq = memchr(s.p ? s.p : "", '"', s.len) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    strbuf_putc(sb, q);
    for (size_t i = 0; i < s.len;) {
        size_t n;
        unsigned long cp = tpl_value_decode(s, i, &n);
        if (cp == (unsigned long)q || cp == '\\') {
            strbuf_putc(sb, '\\');
            strbuf_putc(sb, (char)cp);
        } else if (cp == '\n') {
            strbuf_append(sb, "\\n", 2);
        } else if (cp == '\r') {
            strbuf_append(sb, "\\r", 2);
        } else if (cp == '\t') {
            strbuf_append(sb, "\\t", 2);
        } else if (!tpl_value_is_printable(cp)) {
            if (cp <= 0xFF)
                strbuf_printf(sb, "\\x%02lx", cp);
            else if (cp <= 0xFFFF)
                strbuf_printf(sb, "\\u%04lx", cp);
            else
                strbuf_printf(sb, "\\U%08lx", cp);
        } else {
            strbuf_append(sb, s.p + i, n);
        }
        i += n;
    }
    strbuf_putc(sb, q);
}

bool tpl_equal(const struct tpl_value *x, const struct tpl_value *y)
{
    bool xn = x->type == TPL_INT || x->type == TPL_BOOL;
    bool yn = y->type == TPL_INT || y->type == TPL_BOOL;
    if (xn && yn) {
        long long a = x->type == TPL_INT ? x->u.i : x->u.b;
        long long b = y->type == TPL_INT ? y->u.i : y->u.b;
        return a == b;
    }
    bool xs = x->type == TPL_STR || x->type == TPL_SAFE;
    bool ys = y->type == TPL_STR || y->type == TPL_SAFE;
    if (xs && ys)
        return str_eq(x->u.s, y->u.s);
    if (x->type != y->type)
        return false;
    switch (x->type) {
    case TPL_NONE: return true;
    case TPL_LIST:
        if (x->u.list.n != y->u.list.n)
            return false;
        for (size_t i = 0; i < x->u.list.n; i++)
            if (!tpl_equal(&x->u.list.items[i], &y->u.list.items[i]))
                return false;
        return true;
    case TPL_MAP:
        if (x->u.map.n != y->u.map.n)
            return false;
        for (size_t i = 0; i < x->u.map.n; i++) {
            const struct tpl_value *o = tpl_map_get(y, x->u.map.items[i].key);
            if (!o || !tpl_equal(&x->u.map.items[i].value, o))
                return false;
        }
        return true;
    default:
        if (x->type == TPL_UNDEF)
            return true;
        return x->type == TPL_LOOP && x->u.list.items == y->u.list.items;
    }
}

bool tpl_order(const struct tpl_value *x, const struct tpl_value *y, int *cmp)
{
    bool xn = x->type == TPL_INT || x->type == TPL_BOOL;
    bool yn = y->type == TPL_INT || y->type == TPL_BOOL;
    if (xn && yn) {
        long long a = x->type == TPL_INT ? x->u.i : x->u.b;
        long long b = y->type == TPL_INT ? y->u.i : y->u.b;
        *cmp = a < b ? -1 : a > b;
        return true;
    }
    bool xs = x->type == TPL_STR || x->type == TPL_SAFE;
    bool ys = y->type == TPL_STR || y->type == TPL_SAFE;
    if (xs && ys) {
        /* Byte order of UTF-8 is code-point order, which is Python's. */
        size_t n = x->u.s.len < y->u.s.len ? x->u.s.len : y->u.s.len;
        int c = n ? memcmp(x->u.s.p, y->u.s.p, n) : 0;
        *cmp = c ? (c < 0 ? -1 : 1) : (x->u.s.len < y->u.s.len ? -1 : x->u.s.len > y->u.s.len);
        return true;
    }
    if (x->type == TPL_LIST && y->type == TPL_LIST) {
        size_t n = x->u.list.n < y->u.list.n ? x->u.list.n : y->u.list.n;
        for (size_t i = 0; i < n; i++) {
            if (tpl_equal(&x->u.list.items[i], &y->u.list.items[i]))
                continue;
            return tpl_order(&x->u.list.items[i], &y->u.list.items[i], cmp);
        }
        *cmp = x->u.list.n < y->u.list.n ? -1 : x->u.list.n > y->u.list.n;
        return true;
    }
    return false;
}

const char *tpl_type_name(const struct tpl_value *v)
{
    switch (v->type) {
    case TPL_NONE: return "NoneType";
    case TPL_BOOL: return "bool";
    case TPL_INT: return "int";
    case TPL_STR: return "str";
    case TPL_SAFE: return "Markup";
    case TPL_LIST: return "list";
    case TPL_MAP: return "dict";
    default: return v->type == TPL_UNDEF ? "Undefined" : "LoopContext";
    }
}

bool tpl_is_space_at(struct str s, size_t i, size_t *n)
{
    unsigned char c = (unsigned char)s.p[i];
    if (c < 0x80) {
        *n = 1;
        return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
    }
    return tpl_value_is_py_space(tpl_value_decode(s, i, n));
}

bool tpl_is_space_before(struct str s, size_t end, size_t *n)
{
    size_t i = end - 1;
    while (i > 0 && end - i < 4 && ((unsigned char)s.p[i] & 0xC0) == 0x80)
        i--;
    size_t m;
    if (!tpl_is_space_at(s, i, &m) || i + m != end)
        return false;
    *n = m;
    return true;
}

static bool tpl_value_is_py_space(unsigned long cp)
{
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Python's str.isprintable for the code points templates meet in practice:
 * controls, separators other than space, format characters, private use. */
static bool tpl_value_is_printable(unsigned long cp)
{
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0xA0) || cp == 0xAD)
        return false;
    if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
        (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF)
        return false;
    if ((cp >= 0xD800 && cp <= 0xF8FF) || (cp >= 0xFFF9 && cp <= 0xFFFB) ||
        (cp >= 0x600 && cp <= 0x605) || cp == 0x61C || cp == 0x6DD || cp == 0x70F ||
        cp == 0x180E || cp >= 0xF0000)
        return false;
    return true;
}

/* The code point at s[i] and its length n in bytes (base/utf8.h's lenient
 * decoder: a malformed byte is itself, so printers always make progress). */
static unsigned long tpl_value_decode(struct str s, size_t i, size_t *n)
{
    size_t pos = i;
    unsigned long cp = (unsigned long)utf8_next_or_byte(s, &pos);
    *n = pos - i;
    return cp;
}
