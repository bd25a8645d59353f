/*
 * template/filters.c - the filters and tests templates may use, with Jinja2's
 *   semantics (Markup-preservation, Undefined handling, Python's int()).
 * Owns: the filter and test tables the parser checks names against, and their
 *   implementations.
 * Invariants: a filter never modifies its input; results that need new text are
 *   allocated from the render arena; errors are those Jinja2 raises.
 * Context: tables read by the master (compile), functions run in workers.
 */
#include "internal.h"

#include "../base/utf8.h"

#include <errno.h>
#include <stdlib.h>

#define FILTER(n) static enum tl_err f_##n(struct tpl_rctx *r, const struct tpl_expr *e, \
    const struct tpl_value *in, const struct tpl_value *args, struct tpl_value *out)
#define TEST(n) static enum tl_err t_##n(struct tpl_rctx *r, const struct tpl_expr *e, \
    const struct tpl_value *in, const struct tpl_value *args, bool *out)

FILTER(string); FILTER(escape); FILTER(safe); FILTER(length); FILTER(default);
FILTER(lower); FILTER(upper); FILTER(trim); FILTER(int); FILTER(join); FILTER(first);
FILTER(last); FILTER(capitalize); FILTER(replace); FILTER(list);
TEST(defined); TEST(undefined); TEST(none); TEST(boolean); TEST(true); TEST(false);
TEST(integer); TEST(number); TEST(string); TEST(mapping); TEST(iterable); TEST(sequence);
TEST(even); TEST(odd); TEST(divisibleby); TEST(in); TEST(eq); TEST(ne); TEST(lt); TEST(le);
TEST(gt); TEST(ge);

static struct tpl_value tpl_filter_same_kind(const struct tpl_value *like, struct str s);
static struct str tpl_filter_case_map(struct arena *a, struct str s, bool upper, bool capitalize);
static bool tpl_filter_items_of(struct tpl_rctx *r, const struct tpl_expr *e, const struct tpl_value *v,
                     struct tpl_value **items, size_t *n);
static bool tpl_filter_parse_py_int(struct str s, int base, long long *out);
static enum tl_err tpl_filter_order_test(struct tpl_rctx *r, const struct tpl_expr *e,
                              const struct tpl_value *x, const struct tpl_value *y, int *cmp);

static const char *const p_none[] = { NULL };
static const char *const p_default[] = { "default_value", "boolean" };
static const char *const p_trim[] = { "chars" };
static const char *const p_int[] = { "default", "base" };
static const char *const p_join[] = { "d", "attribute" };
static const char *const p_replace[] = { "old", "new", "count" };

static const struct tpl_filter tpl_filters[] = {
    { "string", f_string, 0, 0, p_none },
    { "e", f_escape, 0, 0, p_none },
    { "escape", f_escape, 0, 0, p_none },
    { "safe", f_safe, 0, 0, p_none },
    { "length", f_length, 0, 0, p_none },
    { "count", f_length, 0, 0, p_none },
    { "default", f_default, 0, 2, p_default },
    { "d", f_default, 0, 2, p_default },
    { "lower", f_lower, 0, 0, p_none },
    { "upper", f_upper, 0, 0, p_none },
    { "trim", f_trim, 0, 1, p_trim },
    { "int", f_int, 0, 2, p_int },
    { "join", f_join, 0, 2, p_join },
    { "first", f_first, 0, 0, p_none },
    { "last", f_last, 0, 0, p_none },
    { "capitalize", f_capitalize, 0, 0, p_none },
    { "replace", f_replace, 2, 3, p_replace },
    { "list", f_list, 0, 0, p_none },
};

static const struct tpl_test tpl_tests[] = {
    { "defined", t_defined, 0 }, { "undefined", t_undefined, 0 }, { "none", t_none, 0 },
    { "boolean", t_boolean, 0 }, { "true", t_true, 0 }, { "false", t_false, 0 },
    { "integer", t_integer, 0 }, { "number", t_number, 0 }, { "string", t_string, 0 },
    { "mapping", t_mapping, 0 }, { "iterable", t_iterable, 0 }, { "sequence", t_sequence, 0 },
    { "even", t_even, 0 }, { "odd", t_odd, 0 }, { "divisibleby", t_divisibleby, 1 },
    { "in", t_in, 1 }, { "eq", t_eq, 1 }, { "ne", t_ne, 1 }, { "lt", t_lt, 1 },
    { "le", t_le, 1 }, { "gt", t_gt, 1 }, { "ge", t_ge, 1 },
};

const struct tpl_filter *tpl_filter_find(struct str name)
{
    for (size_t i = 0; i < sizeof tpl_filters / sizeof tpl_filters[0]; i++)
        if (str_eq_c(name, tpl_filters[i].name))
            return &tpl_filters[i];
    return NULL;
}

const struct tpl_test *tpl_test_find(struct str name)
{
    for (size_t i = 0; i < sizeof tpl_tests / sizeof tpl_tests[0]; i++)
        if (str_eq_c(name, tpl_tests[i].name))
            return &tpl_tests[i];
    return NULL;
}

struct str tpl_escape(struct arena *a, struct str s)
{
    size_t i = 0;
    while (i < s.len && !strchr("&<>\"'", s.p[i]))
        i++;
    if (i == s.len)
        return s;
    struct strbuf sb;
    strbuf_init(&sb, a, s.len + 16);
    strbuf_append_html(&sb, s.p, s.len);
    return sb.oom ? STR_NULL : strbuf_str(&sb);
}

/* ---- filters ---- */

FILTER(string)
{
    *out = in->type == TPL_SAFE ? *in : tpl_str(tpl_to_str(r->a, in));
    return TL_OK;
}

FILTER(escape)
{
    *out = in->type == TPL_SAFE ? *in : tpl_safe(tpl_escape(r->a, tpl_to_str(r->a, in)));
    return TL_OK;
}

FILTER(safe)
{
    *out = tpl_safe(tpl_to_str(r->a, in));
    return TL_OK;
}

FILTER(length)
{
    switch (in->type) {
    case TPL_STR:
    case TPL_SAFE: *out = tpl_int((long long)utf8_len(in->u.s)); return TL_OK;
    case TPL_LIST: *out = tpl_int((long long)in->u.list.n); return TL_OK;
    case TPL_MAP: *out = tpl_int((long long)in->u.map.n); return TL_OK;
    default:
        if (in->type == TPL_UNDEF) {
            *out = tpl_int(0);
            return TL_OK;
        }
        return tpl_rt_error(r, e->line, e->col, "object of type '%s' has no len()",
                            tpl_type_name(in));
    }
}

FILTER(default)
{
    bool boolean = args[1].type != TPL_MISSING && tpl_truthy(&args[1]);
    if (in->type == TPL_UNDEF || (boolean && !tpl_truthy(in)))
        *out = args[0].type == TPL_MISSING ? tpl_str(STR("")) : args[0];
    else
        *out = *in;
    return TL_OK;
}

FILTER(lower)
{
    *out = tpl_filter_same_kind(in, tpl_filter_case_map(r->a, tpl_to_str(r->a, in), false, false));
    return TL_OK;
}

FILTER(upper)
{
    *out = tpl_filter_same_kind(in, tpl_filter_case_map(r->a, tpl_to_str(r->a, in), true, false));
    return TL_OK;
}

FILTER(capitalize)
{
    *out = tpl_filter_same_kind(in, tpl_filter_case_map(r->a, tpl_to_str(r->a, in), false, true));
    return TL_OK;
}

FILTER(trim)
{
    struct str s = tpl_to_str(r->a, in);
    size_t b = 0, end = s.len, n;
    if (args[0].type == TPL_MISSING || args[0].type == TPL_NONE) {
        while (b < end && tpl_is_space_at(s, b, &n))
            b += n;
        while (end > b && tpl_is_space_before(s, end, &n))
            end -= n;
    } else {
        if (!tpl_is_text(&args[0]))
            return tpl_rt_error(r, e->line, e->col, "strip arg must be None or str");
        struct str chars = args[0].u.s;
        /* Byte-wise is exact for ASCII sets, which is what templates pass. */
        while (b < end && chars.len && memchr(chars.p, s.p[b], chars.len))
            b++;
        while (end > b && chars.len && memchr(chars.p, s.p[end - 1], chars.len))
            end--;
    }
    *out = tpl_filter_same_kind(in, (struct str){ s.p + b, end - b });
    return TL_OK;
}

FILTER(int)
{
    long long def = 0, base = 10;
    if (args[0].type != TPL_MISSING) {
        if (args[0].type != TPL_INT)
            return tpl_rt_error(r, e->line, e->col, "int() default must be an integer");
        def = args[0].u.i;
    }
    if (args[1].type != TPL_MISSING) {
        if (args[1].type != TPL_INT || args[1].u.i < 2 || args[1].u.i > 36)
            return tpl_rt_error(r, e->line, e->col, "int() base must be >= 2 and <= 36");
        base = args[1].u.i;
    }
    long long v = def;
    if (in->type == TPL_INT)
        v = in->u.i;
    else if (in->type == TPL_BOOL)
        v = in->u.b;
    else if (tpl_is_text(in) && !tpl_filter_parse_py_int(in->u.s, (int)base, &v))
        v = def;
    *out = tpl_int(v);
    return TL_OK;
}

FILTER(join)
{
    struct tpl_value *items;
    size_t n;
    if (!tpl_filter_items_of(r, e, in, &items, &n))
        return TL_EINVAL;
    struct tpl_value sep = args[0].type == TPL_MISSING ? tpl_str(STR("")) : args[0];
    bool markup = false;
    if (e->autoescape) {
        markup = sep.type == TPL_SAFE;
        for (size_t i = 0; i < n && !markup; i++)
            markup = items[i].type == TPL_SAFE;
    }
    struct strbuf sb;
    strbuf_init(&sb, r->a, 64);
    for (size_t i = 0; i < n; i++) {
        struct tpl_value item = items[i];
        if (args[1].type != TPL_MISSING) {
            struct str key = tpl_to_str(r->a, &args[1]);
            const struct tpl_value *v = tpl_map_get(&item, key);
            item = v ? *v : (struct tpl_value){ .type = TPL_UNDEF, .u.s = key };
        }
        for (int part = i ? 0 : 1; part < 2; part++) {
            const struct tpl_value *v = part ? &item : &sep;
            struct str s = tpl_to_str(r->a, v);
            if (markup && v->type != TPL_SAFE)
                strbuf_append_html(&sb, s.p, s.len);
            else
                strbuf_append_str(&sb, s);
        }
    }
    if (sb.oom)
        return TL_ENOMEM;
    *out = markup ? tpl_safe(strbuf_str(&sb)) : tpl_str(strbuf_str(&sb));
    return TL_OK;
}

FILTER(first)
{
    struct tpl_value *items;
    size_t n;
    if (!tpl_filter_items_of(r, e, in, &items, &n))
        return TL_EINVAL;
    *out = n ? items[0] : (struct tpl_value){ .type = TPL_UNDEF, .u.s = STR("first") };
    return TL_OK;
}

FILTER(last)
{
    struct tpl_value *items;
    size_t n;
    if (!tpl_filter_items_of(r, e, in, &items, &n))
        return TL_EINVAL;
    *out = n ? items[n - 1] : (struct tpl_value){ .type = TPL_UNDEF, .u.s = STR("last") };
    return TL_OK;
}

FILTER(list)
{
    struct tpl_value *items;
    size_t n;
    if (!tpl_filter_items_of(r, e, in, &items, &n))
        return TL_EINVAL;
    *out = tpl_list(items, n);
    return TL_OK;
}

/* Markup-aware like markupsafe: in autoescaped templates a Markup subject
 * escapes plain old/new; a plain subject is escaped first when old or new is
 * Markup. */
FILTER(replace)
{
    long long count = -1;
    if (args[2].type != TPL_MISSING) {
        if (args[2].type != TPL_INT)
            return tpl_rt_error(r, e->line, e->col, "replace() count must be an integer");
        count = args[2].u.i;
    }
    struct str s = tpl_to_str(r->a, in);
    struct str old = tpl_to_str(r->a, &args[0]), rep = tpl_to_str(r->a, &args[1]);
    bool markup = false;
    if (e->autoescape) {
        markup = in->type == TPL_SAFE;
        if (!markup && (args[0].type == TPL_SAFE || args[1].type == TPL_SAFE)) {
            s = tpl_escape(r->a, s);
            markup = true;
        }
        if (markup) {
            if (args[0].type != TPL_SAFE)
                old = tpl_escape(r->a, old);
            if (args[1].type != TPL_SAFE)
                rep = tpl_escape(r->a, rep);
        }
    }
    struct strbuf sb;
    strbuf_init(&sb, r->a, s.len + 16);
    size_t i = 0;
    long long done = 0;
    if (old.len == 0) {
        /* Python inserts new between every character (and at both ends). */
        for (size_t k = 0; k <= s.len; k++) {
            if ((k == s.len || ((unsigned char)s.p[k] & 0xC0) != 0x80) &&
                (count < 0 || done < count)) {
                strbuf_append_str(&sb, rep);
                done++;
            }
            if (k < s.len)
                strbuf_putc(&sb, s.p[k]);
        }
    } else {
        while (i < s.len) {
            if ((count < 0 || done < count) && s.len - i >= old.len &&
                memcmp(s.p + i, old.p, old.len) == 0) {
                strbuf_append_str(&sb, rep);
                i += old.len;
                done++;
            } else {
                strbuf_putc(&sb, s.p[i++]);
            }
        }
    }
    if (sb.oom)
        return TL_ENOMEM;
    *out = markup ? tpl_safe(strbuf_str(&sb)) : tpl_str(strbuf_str(&sb));
    return TL_OK;
}

/* ---- tests ---- */

TEST(defined) { *out = in->type != TPL_UNDEF; return TL_OK; }
TEST(undefined) { *out = in->type == TPL_UNDEF; return TL_OK; }
TEST(none) { *out = in->type == TPL_NONE; return TL_OK; }
TEST(boolean) { *out = in->type == TPL_BOOL; return TL_OK; }
TEST(true) { *out = in->type == TPL_BOOL && in->u.b; return TL_OK; }
TEST(false) { *out = in->type == TPL_BOOL && !in->u.b; return TL_OK; }
TEST(integer) { *out = in->type == TPL_INT; return TL_OK; }
TEST(number) { *out = in->type == TPL_INT || in->type == TPL_BOOL; return TL_OK; }
TEST(string) { *out = tpl_is_text(in); return TL_OK; }
TEST(mapping) { *out = in->type == TPL_MAP; return TL_OK; }

TEST(iterable)
{
    *out = tpl_is_text(in) || in->type == TPL_LIST || in->type == TPL_MAP || in->type == TPL_UNDEF;
    return TL_OK;
}

TEST(sequence)
{
    *out = tpl_is_text(in) || in->type == TPL_LIST || in->type == TPL_MAP || in->type == TPL_UNDEF;
    return TL_OK;
}

static enum tl_err tpl_filter_divisible(struct tpl_rctx *r, const struct tpl_expr *e,
                             const struct tpl_value *in, long long by, bool *out)
{
    if (in->type != TPL_INT && in->type != TPL_BOOL)
        return tpl_rt_error(r, e->line, e->col, "test \"%s\" needs a number, got '%s'",
                            e->test->name, tpl_type_name(in));
    if (by == 0)
        return tpl_rt_error(r, e->line, e->col, "integer division or modulo by zero");
    long long v = in->type == TPL_INT ? in->u.i : in->u.b;
    *out = by == -1 || v % by == 0;
    return TL_OK;
}

TEST(even) { return tpl_filter_divisible(r, e, in, 2, out); }

TEST(odd)
{
    enum tl_err err = tpl_filter_divisible(r, e, in, 2, out);
    *out = !*out;
    return err;
}

TEST(divisibleby)
{
    if (args[0].type != TPL_INT)
        return tpl_rt_error(r, e->line, e->col, "divisibleby needs an integer");
    return tpl_filter_divisible(r, e, in, args[0].u.i, out);
}

TEST(in)
{
    const struct tpl_value *seq = &args[0];
    if (tpl_is_text(seq)) {
        if (!tpl_is_text(in))
            return tpl_rt_error(r, e->line, e->col,
                                "'in <string>' requires string as left operand, not %s",
                                tpl_type_name(in));
        *out = in->u.s.len == 0 || memmem(seq->u.s.p, seq->u.s.len, in->u.s.p, in->u.s.len);
        return TL_OK;
    }
    if (seq->type == TPL_MAP) {
        *out = tpl_is_text(in) && tpl_map_get(seq, in->u.s) != NULL;
        return TL_OK;
    }
    if (seq->type != TPL_LIST)
        return tpl_rt_error(r, e->line, e->col, "argument of type '%s' is not iterable",
                            tpl_type_name(seq));
    *out = false;
    for (size_t i = 0; i < seq->u.list.n && !*out; i++)
        *out = tpl_equal(in, &seq->u.list.items[i]);
    return TL_OK;
}

TEST(eq) { *out = tpl_equal(in, &args[0]); return TL_OK; }
TEST(ne) { *out = !tpl_equal(in, &args[0]); return TL_OK; }

TEST(lt)
{
    int c;
    enum tl_err err = tpl_filter_order_test(r, e, in, &args[0], &c);
    *out = c < 0;
    return err;
}

TEST(le)
{
    int c;
    enum tl_err err = tpl_filter_order_test(r, e, in, &args[0], &c);
    *out = c <= 0;
    return err;
}

TEST(gt)
{
    int c;
    enum tl_err err = tpl_filter_order_test(r, e, in, &args[0], &c);
    *out = c > 0;
    return err;
}

TEST(ge)
{
    int c;
    enum tl_err err = tpl_filter_order_test(r, e, in, &args[0], &c);
    *out = c >= 0;
    return err;
}

/* ---- helpers ---- */

static enum tl_err tpl_filter_order_test(struct tpl_rctx *r, const struct tpl_expr *e,
                              const struct tpl_value *x, const struct tpl_value *y, int *cmp)
{
    *cmp = 0;
    if (!tpl_order(x, y, cmp))
        return tpl_rt_error(r, e->line, e->col, "comparison not supported between '%s' and '%s'",
                            tpl_type_name(x), tpl_type_name(y));
    return TL_OK;
}

/* Markup stays Markup through string methods, as markupsafe does. */
static struct tpl_value tpl_filter_same_kind(const struct tpl_value *like, struct str s)
{
    return like->type == TPL_SAFE ? tpl_safe(s) : tpl_str(s);
}

/* Items of an iterable as Python iterates them: list items, string
 * characters, map keys; Undefined is empty. */
static bool tpl_filter_items_of(struct tpl_rctx *r, const struct tpl_expr *e, const struct tpl_value *v,
                     struct tpl_value **items, size_t *n)
{
    if (v->type == TPL_LIST) {
        *items = v->u.list.items;
        *n = v->u.list.n;
        return true;
    }
    if (v->type == TPL_UNDEF) {
        *items = NULL;
        *n = 0;
        return true;
    }
    if (tpl_is_text(v) || v->type == TPL_MAP) {
        size_t cnt = tpl_is_text(v) ? utf8_len(v->u.s) : v->u.map.n;
        struct tpl_value *it = cnt ? arena_alloc(r->a, cnt * sizeof *it) : NULL;
        if (cnt && !it) {
            tpl_rt_error(r, e->line, e->col, "out of memory");
            return false;
        }
        if (v->type == TPL_MAP) {
            for (size_t i = 0; i < cnt; i++)
                it[i] = tpl_str(v->u.map.items[i].key);
        } else {
            size_t k = 0;
            for (size_t i = 0; i < v->u.s.len;) {
                size_t len = 1;
                while (i + len < v->u.s.len && ((unsigned char)v->u.s.p[i + len] & 0xC0) == 0x80)
                    len++;
                it[k++] = tpl_filter_same_kind(v, (struct str){ v->u.s.p + i, len });
                i += len;
            }
        }
        *items = it;
        *n = cnt;
        return true;
    }
    tpl_rt_error(r, e->line, e->col, "'%s' object is not iterable", tpl_type_name(v));
    return false;
}

static unsigned long tpl_filter_cp_map(unsigned long c, bool upper)
{
    if (upper) {
        if ((c >= 'a' && c <= 'z') || (c >= 0xE0 && c <= 0xFE && c != 0xF7) ||
            (c >= 0x3B1 && c <= 0x3C9 && c != 0x3C2) || (c >= 0x430 && c <= 0x44F))
            return c - 0x20;
        if (c >= 0x450 && c <= 0x45F)
            return c - 0x50;
        if (c == 0xFF) return 0x178;
        if (c == 0xB5) return 0x39C;
        if (c == 0x3C2) return 0x3A3;
        if (c == 0x131) return 'I';
        if (c == 0x17F) return 'S';
        if (((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) && (c & 1))
            return c - 1;
        if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && !(c & 1))
            return c - 1;
    } else {
        if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7) ||
            (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) || (c >= 0x410 && c <= 0x42F))
            return c + 0x20;
        if (c >= 0x400 && c <= 0x40F)
            return c + 0x50;
        if (c == 0x178) return 0xFF;
        if (((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) && !(c & 1))
            return c + 1;
        if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && (c & 1))
            return c + 1;
    }
    return c;
}

/* Case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
 * (the scripts task names use); other characters pass through. */
static struct str tpl_filter_case_map(struct arena *a, struct str s, bool upper, bool capitalize)
{
    char *p = arena_alloc(a, s.len * 2 + 1); /* "ß" -> "SS" is the only growth */
    if (!p)
        return STR_NULL;
    size_t n = 0;
    bool first = true;
    for (size_t i = 0; i < s.len;) {
        unsigned char c = (unsigned char)s.p[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
        if (len > s.len - i)
            len = s.len - i;
        bool up = capitalize ? first : upper;
        first = false;
        unsigned long cp = c;
        if (len == 2)
            cp = (unsigned long)(c & 0x1F) << 6 | ((unsigned char)s.p[i + 1] & 0x3F);
        if (len > 2 || (len == 2 && ((unsigned char)s.p[i + 1] & 0xC0) != 0x80)) {
            memcpy(p + n, s.p + i, len);
            n += len;
        } else if (cp == 0xDF && up) {
            p[n++] = 'S';
            p[n++] = capitalize ? 's' : 'S';
        } else {
            unsigned long m = tpl_filter_cp_map(cp, up);
            if (m < 0x80) {
                p[n++] = (char)m;
            } else {
                p[n++] = (char)(0xC0 | (m >> 6));
                p[n++] = (char)(0x80 | (m & 0x3F));
            }
        }
        i += len;
    }
    p[n] = '\0';
    return (struct str){ p, n };
}

/* Python's int(s, base), then int(float(s)) for base 10, as Jinja2's int
 * filter tries them: surrounding whitespace, a sign, "_" between digits, and
 * for base 16/8/2 the matching 0x/0o/0b prefix. False when neither parses. */
static bool tpl_filter_parse_py_int(struct str s, int base, long long *out)
{
    size_t b = 0, e = s.len, n;
    while (b < e && tpl_is_space_at(s, b, &n))
        b += n;
    while (e > b && tpl_is_space_before(s, e, &n))
        e -= n;
    char buf[128];
    if (e - b == 0 || e - b >= sizeof buf)
        return false;
    memcpy(buf, s.p + b, e - b);
    buf[e - b] = '\0';
    const char *p = buf;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (p[0] == '0' && p[1] && strchr("xXoObB", p[1])) {
        int pb = (p[1] | 0x20) == 'x' ? 16 : (p[1] | 0x20) == 'o' ? 8 : 2;
        if (pb == base)
            p += 2;
    }
    unsigned long long v = 0;
    bool any = false, ok = *p != '\0';
    for (const char *q = p; *q && ok; q++) {
        if (*q == '_' && any && q[1] && q[1] != '_')
            continue;
        int d = *q >= '0' && *q <= '9' ? *q - '0' : (*q | 0x20) >= 'a' && (*q | 0x20) <= 'z'
                ? (*q | 0x20) - 'a' + 10 : 99;
        if (d >= base || v > (unsigned long long)INT64_MAX / (unsigned)base) {
            ok = false;
            break;
        }
        v = v * (unsigned)base + (unsigned)d;
        any = true;
    }
    if (ok && any && v <= (unsigned long long)INT64_MAX) {
        *out = neg ? -(long long)v : (long long)v;
        return true;
    }
    if (base != 10)
        return false;
    errno = 0;
    char *end;
    double d = strtod(buf, &end);
    if (*end || errno || d != d || d > 9.2e18 || d < -9.2e18 || strchr(buf, 'x') ||
        strchr(buf, 'X') || strchr(buf, 'p') || strchr(buf, 'P'))
        return false;
    *out = (long long)d;
    return true;
}
