/*
 * template/eval.c - evaluating expressions while rendering.
 * Owns: Python's semantics for the expression nodes the parser builds:
 *   lookups (a.b, a[b], the loop object), arithmetic with overflow checks,
 *   markupsafe's rules for joining text, comparisons and `in`, filters and
 *   tests, and the built-in calls (url_for, get_flashed_messages, super,
 *   range, loop.cycle).
 * Invariants: a value is never copied on its way through (strings and lists
 *   are referenced); new text or lists come from the render arena; errors
 *   are the ones Jinja2 raises, at the expression's line and column.
 * Context: workers (and tests, benchmarks, the fuzzer).
 */
#include "internal.h"

#include "../base/utf8.h"

#include <string.h>

#define TPL_REPEAT_MAX (16u << 20) /* bytes a "*" may produce */

static enum tl_err tpl_eval_lookup(struct tpl_render *st, const struct tpl_expr *e,
                                   struct tpl_value *out);
static enum tl_err tpl_eval_logic(struct tpl_render *st, const struct tpl_expr *e,
                                  struct tpl_value *out);
static enum tl_err tpl_eval_list(struct tpl_render *st, const struct tpl_expr *e,
                                 struct tpl_value *out);
static enum tl_err tpl_eval_dict(struct tpl_render *st, const struct tpl_expr *e,
                                 struct tpl_value *out);
static enum tl_err tpl_eval_sign(struct tpl_render *st, const struct tpl_expr *e,
                                 struct tpl_value *out);
static enum tl_err tpl_eval_concat(struct tpl_render *st, const struct tpl_expr *e,
                                   struct tpl_value *out);
static enum tl_err tpl_eval_filter(struct tpl_render *st, const struct tpl_expr *e,
                                   struct tpl_value *out);
static enum tl_err tpl_eval_attr(struct tpl_render *st, const struct tpl_expr *e,
                                 const struct tpl_value *obj, const struct tpl_value *key,
                                 struct tpl_value *out);
static struct tpl_value tpl_eval_index(const struct tpl_value *obj, long long i);
static struct tpl_value tpl_eval_loop_attr(const struct tpl_loop *l, struct str k);
static enum tl_err tpl_eval_binop(struct tpl_render *st, const struct tpl_expr *e,
                                  struct tpl_value *out);
static enum tl_err tpl_eval_operands(struct tpl_render *st, const struct tpl_expr *e,
                                     const struct tpl_value *x, const struct tpl_value *y,
                                     struct tpl_value *out);
static enum tl_err tpl_eval_arith(struct tpl_render *st, const struct tpl_expr *e, long long a,
                                  long long b, struct tpl_value *out);
static enum tl_err tpl_eval_join(struct tpl_render *st, const struct tpl_value *x, struct str xs,
                                 const struct tpl_value *y, struct str ys, bool markup,
                                 struct tpl_value *out);
static enum tl_err tpl_eval_add_lists(struct tpl_render *st, const struct tpl_value *x,
                                      const struct tpl_value *y, struct tpl_value *out);
static enum tl_err tpl_eval_repeat(struct tpl_render *st, const struct tpl_expr *e,
                                   const struct tpl_value *seq, long long times,
                                   struct tpl_value *out);
static enum tl_err tpl_eval_compare(struct tpl_render *st, const struct tpl_expr *e,
                                    struct tpl_value *out);
static enum tl_err tpl_eval_compare_pair(struct tpl_render *st, const struct tpl_expr *e,
                                         size_t i, const struct tpl_value *x,
                                         const struct tpl_value *y, bool *r);
static enum tl_err tpl_eval_contains(struct tpl_render *st, const struct tpl_expr *e,
                                     const struct tpl_value *x, const struct tpl_value *y,
                                     bool *r);
static enum tl_err tpl_eval_call(struct tpl_render *st, const struct tpl_expr *e,
                                 struct tpl_value *out);
static enum tl_err tpl_eval_range(struct tpl_render *st, const struct tpl_expr *e,
                                  struct tpl_value *out);
static enum tl_err tpl_eval_cycle(struct tpl_render *st, const struct tpl_expr *e,
                                  struct tpl_value *out);
static enum tl_err tpl_eval_url_for(struct tpl_render *st, const struct tpl_expr *e,
                                    struct tpl_value *out);
static enum tl_err tpl_eval_super(struct tpl_render *st, const struct tpl_expr *e,
                                  struct tpl_value *out);
static enum tl_err tpl_eval_undefined(struct tpl_render *st, const struct tpl_expr *e,
                                      const struct tpl_value *v);

enum tl_err tpl_eval(struct tpl_render *st, const struct tpl_expr *e, struct tpl_value *out)
{
    switch (e->kind) {
    case EX_CONST:
        *out = e->cval;
        return TL_OK;
    case EX_NAME: {
        const struct tpl_value *v = tpl_scope_lookup(st, e->name);
        *out = v ? *v : (struct tpl_value){ .type = TPL_UNDEF, .u.s = e->name };
        return TL_OK;
    }
    case EX_ATTR:
    case EX_ITEM:
        return tpl_eval_lookup(st, e, out);
    case EX_LIST:
        return tpl_eval_list(st, e, out);
    case EX_DICT:
        return tpl_eval_dict(st, e, out);
    case EX_NOT:
    case EX_AND:
    case EX_OR:
    case EX_COND:
        return tpl_eval_logic(st, e, out);
    case EX_NEG:
    case EX_POS:
        return tpl_eval_sign(st, e, out);
    case EX_BINOP:
        return tpl_eval_binop(st, e, out);
    case EX_CONCAT:
        return tpl_eval_concat(st, e, out);
    case EX_COMPARE:
        return tpl_eval_compare(st, e, out);
    case EX_FILTER:
    case EX_TEST:
        return tpl_eval_filter(st, e, out);
    default:
        return tpl_eval_call(st, e, out);
    }
}

/* a.name and a[b]. */
static enum tl_err tpl_eval_lookup(struct tpl_render *st, const struct tpl_expr *e,
                                   struct tpl_value *out)
{
    struct tpl_value x, y;
    enum tl_err err;
    if ((err = tpl_eval(st, e->a, &x)))
        return err;
    if (e->kind == EX_ATTR)
        y = tpl_str(e->name);
    else if ((err = tpl_eval(st, e->b, &y)))
        return err;
    return tpl_eval_attr(st, e, &x, &y, out);
}

/* not a, a and b, a or b (Python's: the deciding operand itself), and
 * b if a else c (Undefined without an else). */
static enum tl_err tpl_eval_logic(struct tpl_render *st, const struct tpl_expr *e,
                                  struct tpl_value *out)
{
    struct tpl_value x;
    enum tl_err err;
    if ((err = tpl_eval(st, e->a, &x)))
        return err;
    bool truthy = tpl_truthy(&x);
    switch (e->kind) {
    case EX_NOT:
        *out = tpl_bool(!truthy);
        return TL_OK;
    case EX_COND:
        if (truthy)
            return tpl_eval(st, e->b, out);
        if (e->c)
            return tpl_eval(st, e->c, out);
        *out = (struct tpl_value){ .type = TPL_UNDEF, .u.s = STR("conditional expression") };
        return TL_OK;
    default:
        if (truthy == (e->kind == EX_OR)) {
            *out = x;
            return TL_OK;
        }
        return tpl_eval(st, e->b, out);
    }
}

static enum tl_err tpl_eval_list(struct tpl_render *st, const struct tpl_expr *e,
                                 struct tpl_value *out)
{
    enum tl_err err;
    struct tpl_value *items = e->n_args ? arena_alloc(st->r.a, e->n_args * sizeof *items) : NULL;
    if (e->n_args && !items)
        return TL_ENOMEM;
    for (size_t i = 0; i < e->n_args; i++)
        if ((err = tpl_eval(st, e->args[i], &items[i])))
            return err;
    *out = tpl_list(items, e->n_args);
    return TL_OK;
}

static enum tl_err tpl_eval_dict(struct tpl_render *st, const struct tpl_expr *e,
                                 struct tpl_value *out)
{
    size_t n = e->n_args / 2, m = 0;
    struct tpl_kv *kv = n ? arena_alloc(st->r.a, n * sizeof *kv) : NULL;
    struct tpl_value x;
    enum tl_err err;
    if (n && !kv)
        return TL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if ((err = tpl_eval(st, e->args[2 * i], &x)))
            return err;
        if (!tpl_is_text(&x))
            return tpl_rt_error(&st->r, e->args[2 * i]->line, e->args[2 * i]->col,
                                "dict keys must be strings");
        size_t j = 0;
        while (j < m && !str_eq(kv[j].key, x.u.s))
            j++;   /* a repeated key replaces the value but keeps its place */
        kv[j].key = x.u.s;
        if ((err = tpl_eval(st, e->args[2 * i + 1], &kv[j].value)))
            return err;
        m += j == m;
    }
    *out = tpl_map(kv, m);
    return TL_OK;
}

/* Unary - and +. */
static enum tl_err tpl_eval_sign(struct tpl_render *st, const struct tpl_expr *e,
                                 struct tpl_value *out)
{
    struct tpl_value x;
    enum tl_err err;
    if ((err = tpl_eval(st, e->a, &x)))
        return err;
    if (x.type == TPL_UNDEF)
        return tpl_eval_undefined(st, e->a, &x);
    if (!tpl_is_num(&x))
        return tpl_rt_error(&st->r, e->line, e->col, "bad operand type for unary %c: '%s'",
                            e->kind == EX_NEG ? '-' : '+', tpl_type_name(&x));
    if (e->kind == EX_NEG && tpl_num(&x) == INT64_MIN)
        return tpl_rt_error(&st->r, e->line, e->col, "integer overflow");
    *out = tpl_int(e->kind == EX_NEG ? -tpl_num(&x) : tpl_num(&x));
    return TL_OK;
}

/* a ~ b: str() of both. Markup wins (the other side is escaped) unless the
 * parser folded constants, which Jinja2's optimizer turns into a plain str. */
static enum tl_err tpl_eval_concat(struct tpl_render *st, const struct tpl_expr *e,
                                   struct tpl_value *out)
{
    struct tpl_value x, y;
    enum tl_err err;
    if ((err = tpl_eval(st, e->a, &x)) || (err = tpl_eval(st, e->b, &y)))
        return err;
    bool markup = e->autoescape && !e->folds && (x.type == TPL_SAFE || y.type == TPL_SAFE);
    return tpl_eval_join(st, &x, tpl_to_str(st->r.a, &x), &y, tpl_to_str(st->r.a, &y), markup,
                         out);
}

/* x|filter(args) and x is test(args): missing optional arguments are
 * TPL_MISSING for the filter to default. */
static enum tl_err tpl_eval_filter(struct tpl_render *st, const struct tpl_expr *e,
                                   struct tpl_value *out)
{
    struct tpl_value x, args[4];
    enum tl_err err;
    if ((err = tpl_eval(st, e->a, &x)))
        return err;
    for (size_t i = 0; i < e->n_args && i < 4; i++) {
        if (!e->args[i])
            args[i].type = TPL_MISSING;
        else if ((err = tpl_eval(st, e->args[i], &args[i])))
            return err;
    }
    if (e->kind == EX_FILTER)
        return e->filter->fn(&st->r, e, &x, args, out);
    bool b = false;
    if (e->test->fn != NULL && (err = e->test->fn(&st->r, e, &x, args, &b)))
        return err;
    *out = tpl_bool(b != e->negate);
    return TL_OK;
}

/* obj.key and obj[key]: Jinja2 tries the item, then the attribute; a miss is
 * Undefined, but anything looked up on Undefined is an error. */
static enum tl_err tpl_eval_attr(struct tpl_render *st, const struct tpl_expr *e,
                                 const struct tpl_value *obj, const struct tpl_value *key,
                                 struct tpl_value *out)
{
    struct str missing = tpl_is_text(key) ? key->u.s : STR("item");
    *out = (struct tpl_value){ .type = TPL_UNDEF, .u.s = missing };
    if (obj->type == TPL_UNDEF)
        return tpl_eval_undefined(st, e->a, obj);
    if (obj->type == TPL_MAP && tpl_is_text(key)) {
        const struct tpl_value *v = tpl_map_get(obj, key->u.s);
        if (v)
            *out = *v;
    } else if ((obj->type == TPL_LIST || tpl_is_text(obj)) && tpl_is_num(key)) {
        struct tpl_value v = tpl_eval_index(obj, tpl_num(key));
        if (v.type != TPL_UNDEF)
            *out = v;
    } else if (obj->type == TPL_LOOP && tpl_is_text(key)) {
        struct tpl_value v =
            tpl_eval_loop_attr((const struct tpl_loop *)(const void *)obj->u.list.items, key->u.s);
        if (v.type != TPL_UNDEF)
            *out = v;
    }
    return TL_OK;
}

/* Item i of a list, or character i of a string (UTF-8), negative from the
 * end; TPL_UNDEF when out of range. */
static struct tpl_value tpl_eval_index(const struct tpl_value *obj, long long i)
{
    size_t n = obj->type == TPL_LIST ? obj->u.list.n : utf8_len(obj->u.s);
    if (i < 0)
        i += (long long)n;
    if (i < 0 || (size_t)i >= n)
        return (struct tpl_value){ .type = TPL_UNDEF };
    if (obj->type == TPL_LIST)
        return obj->u.list.items[i];
    size_t pos = 0;
    for (long long c = 0; c < i; c++)
        do pos++; while (((unsigned char)obj->u.s.p[pos] & 0xC0) == 0x80);
    size_t len = 1;
    while (pos + len < obj->u.s.len && ((unsigned char)obj->u.s.p[pos + len] & 0xC0) == 0x80)
        len++;
    struct str c = { obj->u.s.p + pos, len };
    return obj->type == TPL_SAFE ? tpl_safe(c) : tpl_str(c);
}

/* loop.index and friends; TPL_UNDEF for an unknown attribute. */
static struct tpl_value tpl_eval_loop_attr(const struct tpl_loop *l, struct str k)
{
    long long idx = (long long)l->index0, len = (long long)l->length;
    if (str_eq_c(k, "index"))
        return tpl_int(idx + 1);
    if (str_eq_c(k, "index0"))
        return tpl_int(idx);
    if (str_eq_c(k, "revindex"))
        return tpl_int(len - idx);
    if (str_eq_c(k, "revindex0"))
        return tpl_int(len - idx - 1);
    if (str_eq_c(k, "first"))
        return tpl_bool(idx == 0);
    if (str_eq_c(k, "last"))
        return tpl_bool(idx == len - 1);
    if (str_eq_c(k, "length"))
        return tpl_int(len);
    if (str_eq_c(k, "depth"))
        return tpl_int(1);
    if (str_eq_c(k, "depth0"))
        return tpl_int(0);
    if (str_eq_c(k, "previtem") && idx > 0)
        return l->items[idx - 1];
    if (str_eq_c(k, "nextitem") && idx + 1 < len)
        return l->items[idx + 1];
    return (struct tpl_value){ .type = TPL_UNDEF };
}

static enum tl_err tpl_eval_binop(struct tpl_render *st, const struct tpl_expr *e,
                                  struct tpl_value *out)
{
    struct tpl_value x, y;
    enum tl_err err;
    if ((err = tpl_eval(st, e->a, &x)) || (err = tpl_eval(st, e->b, &y)))
        return err;
    return tpl_eval_operands(st, e, &x, &y, out);
}

/* x + - * // % y with Python's rules: integers (bools count), text + text,
 * list + list, text or list * integer. */
static enum tl_err tpl_eval_operands(struct tpl_render *st, const struct tpl_expr *e,
                                     const struct tpl_value *x, const struct tpl_value *y,
                                     struct tpl_value *out)
{
    static const char *const names[] = { [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*",
                                         [OP_FLOORDIV] = "//", [OP_MOD] = "%" };
    if (x->type == TPL_UNDEF)
        return tpl_eval_undefined(st, e->a, x);
    if (y->type == TPL_UNDEF)
        return tpl_eval_undefined(st, e->b, y);
    if (tpl_is_num(x) && tpl_is_num(y))
        return tpl_eval_arith(st, e, tpl_num(x), tpl_num(y), out);
    if (e->op == OP_ADD && tpl_is_text(x) && tpl_is_text(y)) {
        /* markupsafe: Markup + str escapes the str, whatever the autoescape setting. */
        bool markup = x->type == TPL_SAFE || y->type == TPL_SAFE;
        return tpl_eval_join(st, x, x->u.s, y, y->u.s, markup, out);
    }
    if (e->op == OP_ADD && x->type == TPL_LIST && y->type == TPL_LIST)
        return tpl_eval_add_lists(st, x, y, out);
    if (e->op == OP_MUL && (tpl_is_num(x) || tpl_is_num(y)) &&
        (tpl_is_text(x) || tpl_is_text(y) || x->type == TPL_LIST || y->type == TPL_LIST)) {
        const struct tpl_value *seq = tpl_is_num(x) ? y : x;
        return tpl_eval_repeat(st, e, seq, tpl_is_num(x) ? tpl_num(x) : tpl_num(y), out);
    }
    return tpl_rt_error(&st->r, e->line, e->col,
                        "unsupported operand type(s) for %s: '%s' and '%s'", names[e->op],
                        tpl_type_name(x), tpl_type_name(y));
}

/* Integer a op b with Python's floor division and modulo; overflow and
 * division by zero raise. */
static enum tl_err tpl_eval_arith(struct tpl_render *st, const struct tpl_expr *e, long long a,
                                  long long b, struct tpl_value *out)
{
    long long r = 0;
    bool overflow = false;
    switch (e->op) {
    case OP_ADD: overflow = __builtin_add_overflow(a, b, &r); break;
    case OP_SUB: overflow = __builtin_sub_overflow(a, b, &r); break;
    case OP_MUL: overflow = __builtin_mul_overflow(a, b, &r); break;
    default:
        if (b == 0)
            return tpl_rt_error(&st->r, e->line, e->col, "integer division or modulo by zero");
        if (a == INT64_MIN && b == -1) {
            overflow = e->op == OP_FLOORDIV;
            r = 0;
            break;
        }
        r = e->op == OP_FLOORDIV ? a / b : a % b;
        if (e->op == OP_FLOORDIV && (a % b != 0) && ((a < 0) != (b < 0)))
            r--;
        else if (e->op == OP_MOD && r != 0 && ((r < 0) != (b < 0)))
            r += b;
        break;
    }
    if (overflow)
        return tpl_rt_error(&st->r, e->line, e->col, "integer overflow");
    *out = tpl_int(r);
    return TL_OK;
}

/* xs + ys (the text of x and y) into the arena. With markup, a part that is
 * not Markup is escaped and the result is Markup. */
static enum tl_err tpl_eval_join(struct tpl_render *st, const struct tpl_value *x, struct str xs,
                                 const struct tpl_value *y, struct str ys, bool markup,
                                 struct tpl_value *out)
{
    struct strbuf sb;
    strbuf_init(&sb, st->r.a, xs.len + ys.len + 1);
    const struct tpl_value *parts[2] = { x, y };
    const struct str strs[2] = { xs, ys };
    for (int i = 0; i < 2; i++) {
        if (markup && parts[i]->type != TPL_SAFE)
            strbuf_append_html(&sb, strs[i].p, strs[i].len);
        else
            strbuf_append_str(&sb, strs[i]);
    }
    if (sb.oom)
        return TL_ENOMEM;
    *out = markup ? tpl_safe(strbuf_str(&sb)) : tpl_str(strbuf_str(&sb));
    return TL_OK;
}

static enum tl_err tpl_eval_add_lists(struct tpl_render *st, const struct tpl_value *x,
                                      const struct tpl_value *y, struct tpl_value *out)
{
    size_t n = x->u.list.n + y->u.list.n;
    struct tpl_value *items = n ? arena_alloc(st->r.a, n * sizeof *items) : NULL;
    if (n && !items)
        return TL_ENOMEM;
    if (x->u.list.n)
        memcpy(items, x->u.list.items, x->u.list.n * sizeof *items);
    if (y->u.list.n)
        memcpy(items + x->u.list.n, y->u.list.items, y->u.list.n * sizeof *items);
    *out = tpl_list(items, n);
    return TL_OK;
}

/* seq * times (text or list; times <= 0 gives an empty one), at most
 * TPL_REPEAT_MAX bytes. */
static enum tl_err tpl_eval_repeat(struct tpl_render *st, const struct tpl_expr *e,
                                   const struct tpl_value *seq, long long times,
                                   struct tpl_value *out)
{
    bool text = tpl_is_text(seq);
    if (times < 0)
        times = 0;
    size_t unit = text ? seq->u.s.len : seq->u.list.n * sizeof(struct tpl_value);
    if (unit && (unsigned long long)times > TPL_REPEAT_MAX / unit)
        return tpl_rt_error(&st->r, e->line, e->col, "repetition result too large");
    char *p = arena_alloc(st->r.a, unit * (size_t)times + 1);
    if (!p)
        return TL_ENOMEM;
    const void *src = text ? (const void *)seq->u.s.p : (const void *)seq->u.list.items;
    for (long long i = 0; i < times && unit; i++)
        memcpy(p + (size_t)i * unit, src, unit);
    if (!text) {
        *out = tpl_list((struct tpl_value *)(void *)p, seq->u.list.n * (size_t)times);
        return TL_OK;
    }
    p[unit * (size_t)times] = '\0';
    struct str s = { p, unit * (size_t)times };
    *out = seq->type == TPL_SAFE ? tpl_safe(s) : tpl_str(s);
    return TL_OK;
}

/* a op1 b op2 c ...: Python's chained comparison, short-circuiting. */
static enum tl_err tpl_eval_compare(struct tpl_render *st, const struct tpl_expr *e,
                                    struct tpl_value *out)
{
    struct tpl_value x, y;
    enum tl_err err;
    if ((err = tpl_eval(st, e->args[0], &x)))
        return err;
    for (size_t i = 1; i < e->n_args; i++) {
        bool r = false;
        if ((err = tpl_eval(st, e->args[i], &y)) ||
            (err = tpl_eval_compare_pair(st, e, i, &x, &y, &r)))
            return err;
        if (!r) {
            *out = tpl_bool(false);
            return TL_OK;
        }
        x = y;
    }
    *out = tpl_bool(true);
    return TL_OK;
}

/* args[i - 1] ops[i - 1] args[i], with x and y their values. */
static enum tl_err tpl_eval_compare_pair(struct tpl_render *st, const struct tpl_expr *e,
                                         size_t i, const struct tpl_value *x,
                                         const struct tpl_value *y, bool *r)
{
    static const char *const names[] = { "==", "!=", "<", "<=", ">", ">=", "in", "not in" };
    enum tpl_op op = e->ops[i - 1];
    enum tl_err err;
    int c = 0;
    switch (op) {
    case OP_EQ: *r = tpl_equal(x, y); return TL_OK;
    case OP_NE: *r = !tpl_equal(x, y); return TL_OK;
    case OP_IN:
    case OP_NOTIN:
        if ((err = tpl_eval_contains(st, e, x, y, r)))
            return err;
        *r = *r != (op == OP_NOTIN);
        return TL_OK;
    default:
        if (x->type == TPL_UNDEF)
            return tpl_eval_undefined(st, e->args[i - 1], x);
        if (y->type == TPL_UNDEF)
            return tpl_eval_undefined(st, e->args[i], y);
        if (!tpl_order(x, y, &c))
            return tpl_rt_error(&st->r, e->line, e->col,
                                "'%s' not supported between instances of '%s' and '%s'",
                                names[op], tpl_type_name(x), tpl_type_name(y));
        *r = op == OP_LT ? c < 0 : op == OP_LE ? c <= 0 : op == OP_GT ? c > 0 : c >= 0;
        return TL_OK;
    }
}

/* x in y: substring, map key or list item. */
static enum tl_err tpl_eval_contains(struct tpl_render *st, const struct tpl_expr *e,
                                     const struct tpl_value *x, const struct tpl_value *y,
                                     bool *r)
{
    *r = false;
    if (y->type == TPL_UNDEF)
        return TL_OK; /* Undefined iterates as empty */
    if (tpl_is_text(y)) {
        if (!tpl_is_text(x))
            return tpl_rt_error(&st->r, e->line, e->col,
                                "'in <string>' requires string as left operand, not %s",
                                tpl_type_name(x));
        *r = x->u.s.len == 0 || memmem(y->u.s.p, y->u.s.len, x->u.s.p, x->u.s.len);
    } else if (y->type == TPL_MAP) {
        *r = tpl_is_text(x) && tpl_map_get(y, x->u.s);
    } else if (y->type == TPL_LIST) {
        for (size_t k = 0; k < y->u.list.n && !*r; k++)
            *r = tpl_equal(x, &y->u.list.items[k]);
    } else {
        return tpl_rt_error(&st->r, e->line, e->col, "argument of type '%s' is not iterable",
                            tpl_type_name(y));
    }
    return TL_OK;
}

static enum tl_err tpl_eval_call(struct tpl_render *st, const struct tpl_expr *e,
                                 struct tpl_value *out)
{
    switch (e->kind) {
    case EX_URL_FOR:
        return tpl_eval_url_for(st, e, out);
    case EX_FLASHES: {
        bool with_categories = false;
        if (e->n_args) {
            struct tpl_value v;
            enum tl_err err = tpl_eval(st, e->args[0], &v);
            if (err)
                return err;
            with_categories = tpl_truthy(&v);
        }
        if (st->r.hooks && st->r.hooks->flashed_messages)
            *out = st->r.hooks->flashed_messages(st->r.hooks->ctx, with_categories);
        else
            *out = tpl_list(NULL, 0);
        return TL_OK;
    }
    case EX_SUPER:
        return tpl_eval_super(st, e, out);
    case EX_RANGE:
        return tpl_eval_range(st, e, out);
    default:
        return tpl_eval_cycle(st, e, out);
    }
}

/* range([start,] stop[, step]), at most 100,000 items. */
static enum tl_err tpl_eval_range(struct tpl_render *st, const struct tpl_expr *e,
                                  struct tpl_value *out)
{
    long long a[3] = { 0, 0, 1 };
    struct tpl_value v;
    enum tl_err err;
    for (size_t i = 0; i < e->n_args; i++) {
        if ((err = tpl_eval(st, e->args[i], &v)))
            return err;
        if (!tpl_is_num(&v))
            return tpl_rt_error(&st->r, e->line, e->col, "range() needs integers, got '%s'",
                                tpl_type_name(&v));
        a[e->n_args == 1 ? 1 : i] = tpl_num(&v);
    }
    if (a[2] == 0)
        return tpl_rt_error(&st->r, e->line, e->col, "range() arg 3 must not be zero");
    long double span = ((long double)a[1] - a[0]) / a[2];
    size_t n = span > 0 ? (size_t)(span + 0.999999L) : 0;
    if (n > 100000)
        return tpl_rt_error(&st->r, e->line, e->col, "range too big (more than 100000 items)");
    struct tpl_value *items = n ? arena_alloc(st->r.a, n * sizeof *items) : NULL;
    if (n && !items)
        return TL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        items[i] = tpl_int(a[0] + (long long)i * a[2]);
    *out = tpl_list(items, n);
    return TL_OK;
}

/* loop.cycle(a, b, ...): the argument for this iteration. */
static enum tl_err tpl_eval_cycle(struct tpl_render *st, const struct tpl_expr *e,
                                  struct tpl_value *out)
{
    struct tpl_value v;
    enum tl_err err;
    if ((err = tpl_eval(st, e->a, &v)))
        return err;
    if (v.type == TPL_UNDEF)
        return tpl_eval_undefined(st, e->a, &v);
    if (v.type != TPL_LOOP)
        return tpl_rt_error(&st->r, e->line, e->col, "loop.cycle() outside of a loop");
    const struct tpl_loop *l = (const struct tpl_loop *)(const void *)v.u.list.items;
    return tpl_eval(st, e->args[l->index0 % e->n_args], out);
}

/* url_for(endpoint, name=value...): the app's router builds the URL. The
 * result is a plain string, escaped on output like Flask's url_for. */
static enum tl_err tpl_eval_url_for(struct tpl_render *st, const struct tpl_expr *e,
                                    struct tpl_value *out)
{
    const struct tpl_hooks *h = st->r.hooks;
    struct tpl_value ep;
    enum tl_err err;
    if (!h || !h->url_for)
        return tpl_rt_error(&st->r, e->line, e->col, "url_for() is not available (no hook)");
    if ((err = tpl_eval(st, e->args[0], &ep)))
        return err;
    if (!tpl_is_text(&ep))
        return tpl_rt_error(&st->r, e->line, e->col, "url_for() endpoint must be a string");
    size_t n = e->n_args - 1;
    struct tpl_kv stack_kv[8];
    struct tpl_kv *kv = n <= 8 ? stack_kv : arena_alloc(st->r.a, n * sizeof *kv);
    if (!kv)
        return TL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        kv[i].key = e->kw[i + 1];
        if ((err = tpl_eval(st, e->args[i + 1], &kv[i].value)))
            return err;
        if ((unsigned)kv[i].value.type > TPL_MAP) /* Undefined, loop: as str() */
            kv[i].value = tpl_str(tpl_to_str(st->r.a, &kv[i].value));
    }
    struct strbuf sb;
    strbuf_init(&sb, st->r.a, 64);
    if ((err = h->url_for(h->ctx, ep.u.s, kv, n, &sb)))
        return tpl_rt_error(&st->r, e->line, e->col, "url_for(\"%.*s\"): %s", STR_FMT(ep.u.s),
                            tl_strerror(err));
    if (sb.oom)
        return TL_ENOMEM;
    *out = tpl_str(strbuf_str(&sb));
    return TL_OK;
}

/* super(): the parent template's definition of the current block. */
static enum tl_err tpl_eval_super(struct tpl_render *st, const struct tpl_expr *e,
                                  struct tpl_value *out)
{
    const struct tpl_node *cur = st->block;
    if (!cur)
        return tpl_rt_error(&st->r, e->line, e->col, "super() used outside of a block");
    size_t level = tpl_chain_level(st, cur->owner);
    const struct tpl_node *def = tpl_find_block(st, cur->name, level + 1);
    if (!def)
        return tpl_rt_error(&st->r, e->line, e->col, "no parent block called \"%.*s\"",
                            STR_FMT(cur->name));
    struct str text;
    enum tl_err err = tpl_capture(st, tpl_exec_block, def, 128, &text);
    if (err)
        return err;
    *out = e->autoescape ? tpl_safe(text) : tpl_str(text);
    return TL_OK;
}

static enum tl_err tpl_eval_undefined(struct tpl_render *st, const struct tpl_expr *e,
                                      const struct tpl_value *v)
{
    return tpl_rt_error(&st->r, e->line, e->col, "\"%.*s\" is undefined", STR_FMT(v->u.s));
}
