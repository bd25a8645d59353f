/*
 * template/parser.c - tokens to the statement and expression tree of one template.
 * Owns: Jinja2's grammar for the supported subset (statements if/for/set/block/
 *   extends/include/cache, expressions with Jinja2's precedence), compile-time
 *   checks (unknown tags, filters, tests and functions; argument counts;
 *   duplicate blocks; super() outside a block) and the list of {% cache %} tags
 *   each {% for %} prefetches.
 * Invariants: every error names template:line:col of the offending token and
 *   says what was expected; nodes live in the set's arena.
 * Context: master, at load time.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

struct tpl_frags {
    struct tpl_node **v;
    size_t n, cap;
};

struct tpl_parser {
    const char *name;
    const struct tpl_token *t;
    size_t pos, n;
    struct arena *a;
    struct tl_diag *d;
    bool autoescape;
    unsigned nest;
    bool in_block;
    struct tpl_template *tpl;
    size_t blocks_cap;
    struct tpl_frags *frags;   /* cache tags of the innermost enclosing for, or NULL */
    bool failed;
};

/* Tags ending a body, and the one that did. */
struct tpl_ends {
    const char *const *names;
    const struct tpl_token *opener;
    const char *opener_name;
};

static struct tpl_node *ps_body(struct tpl_parser *p, const struct tpl_ends *ends,
                                struct str *which);
static struct tpl_node *ps_statement(struct tpl_parser *p, const struct tpl_token *begin);
static struct tpl_node *ps_if(struct tpl_parser *p, const struct tpl_token *tag);
static struct tpl_node *ps_for(struct tpl_parser *p, const struct tpl_token *tag);
static struct tpl_node *ps_set(struct tpl_parser *p, const struct tpl_token *tag);
static bool sets_in_scope(const struct tpl_node *n);
static struct tpl_node *ps_block(struct tpl_parser *p, const struct tpl_token *tag);
static struct tpl_node *ps_include(struct tpl_parser *p, const struct tpl_token *tag, bool ext);
static struct tpl_node *ps_cache(struct tpl_parser *p, const struct tpl_token *tag);
static struct tpl_expr *ps_expr(struct tpl_parser *p, bool with_cond);
static struct tpl_expr *ps_or(struct tpl_parser *p);
static struct tpl_expr *ps_and(struct tpl_parser *p);
static struct tpl_expr *ps_not(struct tpl_parser *p);
static struct tpl_expr *ps_compare(struct tpl_parser *p);
static struct tpl_expr *ps_math1(struct tpl_parser *p);
static struct tpl_expr *ps_concat(struct tpl_parser *p);
static struct tpl_expr *ps_math2(struct tpl_parser *p);
static struct tpl_expr *ps_pow(struct tpl_parser *p);
static struct tpl_expr *ps_unary(struct tpl_parser *p, bool with_filter);
static struct tpl_expr *ps_primary(struct tpl_parser *p);
static struct tpl_expr *ps_postfix(struct tpl_parser *p, struct tpl_expr *e);
static struct tpl_expr *ps_filters(struct tpl_parser *p, struct tpl_expr *e);
static struct tpl_expr *ps_call(struct tpl_parser *p, struct tpl_expr *callee);
static bool ps_args(struct tpl_parser *p, struct tpl_expr *e, bool allow_kw);
static struct tpl_expr *ps_seq(struct tpl_parser *p, struct tpl_expr *e, enum tpl_tok close,
                               bool pairs);
static struct tpl_expr *ex_new(struct tpl_parser *p, enum tpl_ex kind, const struct tpl_token *at);
static struct tpl_node *nd_new(struct tpl_parser *p, enum tpl_nd kind, const struct tpl_token *at);
static bool push_arg(struct tpl_parser *p, struct tpl_expr *e, struct tpl_expr *arg,
                     struct str kw, size_t *cap);
static bool ps_filter_slots(struct tpl_parser *p, struct tpl_expr *x, const struct tpl_token *name);
static const struct tpl_token *tk(const struct tpl_parser *p);
static const struct tpl_token *next(struct tpl_parser *p);
static bool is_name(const struct tpl_token *t, const char *s);
static bool expect(struct tpl_parser *p, enum tpl_tok type, const char *what);
static bool expect_block_end(struct tpl_parser *p, const char *tag);
static void *fail(struct tpl_parser *p, const struct tpl_token *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *tok_desc(const struct tpl_token *t, char *buf, size_t len);

bool tpl_name_autoescapes(const char *name)
{
    static const char *const exts[] = { ".html", ".htm", ".xml", ".xhtml", ".svg" };
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t e = strlen(exts[i]);
        if (n >= e && memcmp(name + n - e, exts[i], e) == 0)
            return true;
    }
    return false;
}

struct tpl_template *tpl_parse(const char *name, const struct tpl_tokens *toks, struct arena *a,
                               struct tl_diag *d)
{
    struct tpl_parser p = { .name = name, .t = toks->v, .n = toks->n, .a = a, .d = d,
                            .autoescape = tpl_name_autoescapes(name) };
    struct tpl_template *t = arena_calloc(a, 1, sizeof *t);
    if (!t || !(t->name = arena_strdup(a, name)))
        return fail(&p, NULL, "out of memory");
    t->autoescape = p.autoescape;
    p.tpl = t;
    t->body = ps_body(&p, NULL, NULL);
    return p.failed ? NULL : t;
}

/* Nodes up to EOF (ends == NULL) or up to a {% tag %} named in ends; on return
 * *which is that tag's name and the parser stands just after it. */
static struct tpl_node *ps_body(struct tpl_parser *p, const struct tpl_ends *ends,
                                struct str *which)
{
    struct tpl_node *head = NULL, **tail = &head;
    if (++p->nest > TPL_NEST_MAX)
        return fail(p, tk(p), "statements nested too deeply");
    for (;;) {
        const struct tpl_token *t = tk(p);
        struct tpl_node *n = NULL;
        if (t->type == TK_EOF) {
            if (ends)
                return fail(p, ends->opener, "unclosed {%% %s %%}, expected \"{%% %s %%}\"",
                            ends->opener_name, ends->names[0]);
            break;
        } else if (t->type == TK_TEXT) {
            n = nd_new(p, ND_TEXT, t);
            if (n)
                n->text = t->s;
            next(p);
        } else if (t->type == TK_VAR_BEGIN) {
            next(p);
            n = nd_new(p, ND_OUTPUT, t);
            if (n && !(n->expr = ps_expr(p, true)))
                return NULL;
            if (!expect(p, TK_VAR_END, "end of print statement \"}}\""))
                return NULL;
        } else if (t->type == TK_BLOCK_BEGIN) {
            const struct tpl_token *name = next(p);
            if (name->type == TK_NAME && ends) {
                for (size_t i = 0; ends->names[i]; i++) {
                    if (str_eq_c(name->s, ends->names[i])) {
                        next(p);
                        *which = name->s;
                        p->nest--;
                        return head;
                    }
                }
            }
            n = ps_statement(p, t);
            if (!n)
                return NULL;
        } else {
            return fail(p, t, "unexpected token");
        }
        if (!n)
            return NULL;
        *tail = n;
        tail = &n->next;
    }
    p->nest--;
    return head;
}

static struct tpl_node *ps_statement(struct tpl_parser *p, const struct tpl_token *begin)
{
    const struct tpl_token *tag = tk(p);
    char buf[64];
    if (tag->type != TK_NAME)
        return fail(p, tag, "expected a tag name, got %s", tok_desc(tag, buf, sizeof buf));
    next(p);
    if (str_eq_c(tag->s, "if"))
        return ps_if(p, tag);
    if (str_eq_c(tag->s, "for"))
        return ps_for(p, tag);
    if (str_eq_c(tag->s, "set"))
        return ps_set(p, tag);
    if (str_eq_c(tag->s, "block"))
        return ps_block(p, tag);
    if (str_eq_c(tag->s, "extends"))
        return ps_include(p, tag, true);
    if (str_eq_c(tag->s, "include"))
        return ps_include(p, tag, false);
    if (str_eq_c(tag->s, "cache"))
        return ps_cache(p, tag);
    (void)begin;
    return fail(p, tag, "unknown tag \"%.*s\"", STR_FMT(tag->s));
}

static struct tpl_node *ps_if(struct tpl_parser *p, const struct tpl_token *tag)
{
    static const char *const ends[] = { "endif", "elif", "else", NULL };
    static const char *const ends_else[] = { "endif", NULL };
    struct tpl_node *n = nd_new(p, ND_IF, tag);
    if (!n || !(n->expr = ps_expr(p, true)) || !expect_block_end(p, "if"))
        return NULL;
    struct tpl_ends e = { ends, tag, "if" };
    struct str which;
    if (!(n->body = ps_body(p, &e, &which)) && p->failed)
        return NULL;
    if (str_eq_c(which, "elif")) {
        n->orelse = ps_if(p, &p->t[p->pos - 1]);
        return n->orelse ? n : NULL;
    }
    if (str_eq_c(which, "else")) {
        struct tpl_ends e2 = { ends_else, tag, "if" };
        if (!expect_block_end(p, "else"))
            return NULL;
        if (!(n->orelse = ps_body(p, &e2, &which)) && p->failed)
            return NULL;
    }
    return expect_block_end(p, "endif") ? n : NULL;
}

static struct tpl_node *ps_for(struct tpl_parser *p, const struct tpl_token *tag)
{
    static const char *const ends[] = { "endfor", "else", NULL };
    static const char *const ends_else[] = { "endfor", NULL };
    struct tpl_node *n = nd_new(p, ND_FOR, tag);
    char buf[64];
    if (!n)
        return NULL;
    const struct tpl_token *target = tk(p);
    if (target->type != TK_NAME)
        return fail(p, target, "expected a loop variable name, got %s",
                    tok_desc(target, buf, sizeof buf));
    n->name = target->s;
    if (next(p)->type == TK_COMMA)
        return fail(p, tk(p), "tuple unpacking in {%% for %%} is not supported");
    if (!is_name(tk(p), "in"))
        return fail(p, tk(p), "expected \"in\", got %s", tok_desc(tk(p), buf, sizeof buf));
    next(p);
    if (!(n->expr = ps_or(p)))
        return NULL;
    if (is_name(tk(p), "if")) {
        next(p);
        if (!(n->cond = ps_or(p)))
            return NULL;
    }
    if (is_name(tk(p), "recursive"))
        return fail(p, tk(p), "recursive loops are not supported");
    if (!expect_block_end(p, "for"))
        return NULL;
    struct tpl_frags frags = { 0 }, *saved = p->frags;
    p->frags = &frags;
    struct tpl_ends e = { ends, tag, "for" };
    struct str which;
    n->body = ps_body(p, &e, &which);
    p->frags = saved;
    if (p->failed)
        return NULL;
    n->frags = frags.v;
    n->n_frags = frags.n;
    n->frag_keys_stable = !sets_in_scope(n->body);
    if (str_eq_c(which, "else")) {
        struct tpl_ends e2 = { ends_else, tag, "for" };
        if (!expect_block_end(p, "else"))
            return NULL;
        if (!(n->orelse = ps_body(p, &e2, &which)) && p->failed)
            return NULL;
    }
    return expect_block_end(p, "endfor") ? n : NULL;
}

/* True when a {% set %} in list (outside nested loops and blocks, which have
 * scopes of their own) may rebind a name of the loop body's scope. */
static bool sets_in_scope(const struct tpl_node *n)
{
    for (; n; n = n->next) {
        if (n->kind == ND_SET || n->kind == ND_SET_BLOCK)
            return true;
        if (n->kind != ND_FOR && n->kind != ND_BLOCK &&
            (sets_in_scope(n->body) || sets_in_scope(n->orelse)))
            return true;
    }
    return false;
}

static struct tpl_node *ps_set(struct tpl_parser *p, const struct tpl_token *tag)
{
    static const char *const ends[] = { "endset", NULL };
    char buf[64];
    const struct tpl_token *target = tk(p);
    if (target->type != TK_NAME)
        return fail(p, target, "expected a variable name, got %s",
                    tok_desc(target, buf, sizeof buf));
    next(p);
    if (tk(p)->type == TK_COMMA || tk(p)->type == TK_DOT)
        return fail(p, tk(p), "only {%% set name = ... %%} is supported");
    if (tk(p)->type == TK_BLOCK_END) {
        struct tpl_node *n = nd_new(p, ND_SET_BLOCK, tag);
        if (!n)
            return NULL;
        n->name = target->s;
        next(p);
        struct tpl_ends e = { ends, tag, "set" };
        struct str which;
        if (!(n->body = ps_body(p, &e, &which)) && p->failed)
            return NULL;
        return expect_block_end(p, "endset") ? n : NULL;
    }
    if (!expect(p, TK_ASSIGN, "\"=\""))
        return NULL;
    struct tpl_node *n = nd_new(p, ND_SET, tag);
    if (!n || !(n->expr = ps_expr(p, true)))
        return NULL;
    n->name = target->s;
    if (tk(p)->type == TK_COMMA)
        return fail(p, tk(p), "tuples are not supported");
    return expect_block_end(p, "set") ? n : NULL;
}

static struct tpl_node *ps_block(struct tpl_parser *p, const struct tpl_token *tag)
{
    static const char *const ends[] = { "endblock", NULL };
    char buf[64];
    const struct tpl_token *name = tk(p);
    if (name->type != TK_NAME)
        return fail(p, name, "expected a block name, got %s", tok_desc(name, buf, sizeof buf));
    struct tpl_template *t = p->tpl;
    for (size_t i = 0; i < t->n_blocks; i++)
        if (str_eq(t->blocks[i]->name, name->s))
            return fail(p, name, "block \"%.*s\" defined twice", STR_FMT(name->s));
    struct tpl_node *n = nd_new(p, ND_BLOCK, tag);
    if (!n)
        return NULL;
    n->name = name->s;
    n->owner = t;
    if (t->n_blocks == p->blocks_cap) {
        size_t cap = p->blocks_cap ? p->blocks_cap * 2 : 8;
        struct tpl_node **v = arena_realloc(p->a, t->blocks, p->blocks_cap * sizeof *v,
                                            cap * sizeof *v);
        if (!v)
            return fail(p, name, "out of memory");
        t->blocks = v;
        p->blocks_cap = cap;
    }
    t->blocks[t->n_blocks++] = n;
    next(p);
    for (;;) {
        if (is_name(tk(p), "scoped"))
            n->scoped = true;
        else if (!is_name(tk(p), "required"))
            break;
        next(p);
    }
    if (!expect_block_end(p, "block"))
        return NULL;
    bool saved_in = p->in_block;
    struct tpl_frags *saved_frags = p->frags;
    p->in_block = true;
    p->frags = NULL; /* the block may be overridden: its tags are not the loop's */
    struct tpl_ends e = { ends, tag, "block" };
    struct str which;
    n->body = ps_body(p, &e, &which);
    p->in_block = saved_in;
    p->frags = saved_frags;
    if (p->failed)
        return NULL;
    if (tk(p)->type == TK_NAME) {
        if (!str_eq(tk(p)->s, n->name))
            return fail(p, tk(p), "mismatched block name: \"%.*s\" closes \"%.*s\"",
                        STR_FMT(tk(p)->s), STR_FMT(n->name));
        next(p);
    }
    return expect_block_end(p, "endblock") ? n : NULL;
}

static struct tpl_node *ps_include(struct tpl_parser *p, const struct tpl_token *tag, bool ext)
{
    struct tpl_node *n = nd_new(p, ext ? ND_EXTENDS : ND_INCLUDE, tag);
    if (!n || !(n->expr = ps_expr(p, true)))
        return NULL;
    if (!ext) {
        if (is_name(tk(p), "ignore")) {
            if (!is_name(next(p), "missing"))
                return fail(p, tk(p), "expected \"missing\" after \"ignore\"");
            next(p);
            n->ignore_missing = true;
        }
        if (is_name(tk(p), "with") || is_name(tk(p), "without")) {
            if (!is_name(next(p), "context"))
                return fail(p, tk(p), "expected \"context\"");
            next(p);
        }
    }
    return expect_block_end(p, ext ? "extends" : "include") ? n : NULL;
}

/* {% cache timeout, name, vary... %}: as Flask-Caching, the name is optional
 * in the grammar but we require it: a key made from the template position
 * would change whenever the template is edited. */
static struct tpl_node *ps_cache(struct tpl_parser *p, const struct tpl_token *tag)
{
    static const char *const ends[] = { "endcache", NULL };
    struct tpl_node *n = nd_new(p, ND_CACHE, tag);
    if (!n)
        return NULL;
    struct tpl_expr holder = { 0 };
    size_t cap = 0;
    for (;;) {
        struct tpl_expr *e = ps_expr(p, true);
        if (!e || !push_arg(p, &holder, e, STR_NULL, &cap))
            return NULL;
        if (tk(p)->type != TK_COMMA)
            break;
        next(p);
    }
    if (holder.n_args < 2)
        return fail(p, tk(p), "expected \",\" and a fragment name after the cache timeout");
    n->args = holder.args;
    n->n_args = holder.n_args;
    if (!expect_block_end(p, "cache"))
        return NULL;
    if (p->frags) {
        struct tpl_frags *f = p->frags;
        if (f->n == f->cap) {
            size_t c = f->cap ? f->cap * 2 : 4;
            struct tpl_node **v = arena_realloc(p->a, f->v, f->cap * sizeof *v, c * sizeof *v);
            if (!v)
                return fail(p, tag, "out of memory");
            f->v = v;
            f->cap = c;
        }
        f->v[f->n++] = n;
    }
    struct tpl_ends e = { ends, tag, "cache" };
    struct str which;
    if (!(n->body = ps_body(p, &e, &which)) && p->failed)
        return NULL;
    return expect_block_end(p, "endcache") ? n : NULL;
}

/* ---- expressions, in Jinja2's precedence order ---- */

static struct tpl_expr *ps_expr(struct tpl_parser *p, bool with_cond)
{
    if (++p->nest > TPL_NEST_MAX)
        return fail(p, tk(p), "expression nested too deeply");
    struct tpl_expr *e = ps_or(p);
    while (e && with_cond && is_name(tk(p), "if")) {
        struct tpl_expr *c = ex_new(p, EX_COND, tk(p));
        next(p);
        if (!c || !(c->a = ps_or(p)))
            return NULL;
        c->b = e;
        if (is_name(tk(p), "else")) {
            next(p);
            if (!(c->c = ps_expr(p, true)))
                return NULL;
        }
        e = c;
    }
    p->nest--;
    return e;
}

static struct tpl_expr *ps_binary(struct tpl_parser *p, struct tpl_expr *left, enum tpl_ex kind,
                                  enum tpl_op op, struct tpl_expr *(*sub)(struct tpl_parser *))
{
    const struct tpl_token *at = tk(p);
    next(p);
    struct tpl_expr *e = ex_new(p, kind, at);
    if (!e || !(e->b = sub(p)))
        return NULL;
    e->a = left;
    e->op = op;
    return e;
}

static struct tpl_expr *ps_or(struct tpl_parser *p)
{
    struct tpl_expr *e = ps_and(p);
    while (e && is_name(tk(p), "or"))
        e = ps_binary(p, e, EX_OR, OP_EQ, ps_and);
    return e;
}

static struct tpl_expr *ps_and(struct tpl_parser *p)
{
    struct tpl_expr *e = ps_not(p);
    while (e && is_name(tk(p), "and"))
        e = ps_binary(p, e, EX_AND, OP_EQ, ps_not);
    return e;
}

static struct tpl_expr *ps_not(struct tpl_parser *p)
{
    if (!is_name(tk(p), "not"))
        return ps_compare(p);
    if (++p->nest > TPL_NEST_MAX)
        return fail(p, tk(p), "expression nested too deeply");
    struct tpl_expr *e = ex_new(p, EX_NOT, tk(p));
    next(p);
    if (!e || !(e->a = ps_not(p)))
        return NULL;
    p->nest--;
    return e;
}

static struct tpl_expr *ps_compare(struct tpl_parser *p)
{
    struct tpl_expr *first = ps_math1(p);
    if (!first)
        return NULL;
    struct tpl_expr *cmp = NULL;
    size_t cap = 0, ops_cap = 0;
    for (;;) {
        const struct tpl_token *t = tk(p);
        enum tpl_op op;
        switch (t->type) {
        case TK_EQ: op = OP_EQ; break;
        case TK_NE: op = OP_NE; break;
        case TK_LT: op = OP_LT; break;
        case TK_LE: op = OP_LE; break;
        case TK_GT: op = OP_GT; break;
        case TK_GE: op = OP_GE; break;
        default:
            if (is_name(t, "in")) {
                op = OP_IN;
            } else if (is_name(t, "not") && p->pos + 1 < p->n && is_name(&p->t[p->pos + 1], "in")) {
                op = OP_NOTIN;
                next(p);
            } else {
                return cmp ? cmp : first;
            }
        }
        next(p);
        if (!cmp) {
            if (!(cmp = ex_new(p, EX_COMPARE, t)) || !push_arg(p, cmp, first, STR_NULL, &cap))
                return NULL;
        }
        struct tpl_expr *rhs = ps_math1(p);
        if (!rhs || !push_arg(p, cmp, rhs, STR_NULL, &cap))
            return NULL;
        if (cmp->n_args - 1 > ops_cap) {
            size_t c = ops_cap ? ops_cap * 2 : 2;
            enum tpl_op *v = arena_realloc(p->a, cmp->ops, ops_cap * sizeof *v, c * sizeof *v);
            if (!v)
                return fail(p, t, "out of memory");
            cmp->ops = v;
            ops_cap = c;
        }
        cmp->ops[cmp->n_args - 2] = op;
    }
}

static struct tpl_expr *ps_math1(struct tpl_parser *p)
{
    struct tpl_expr *e = ps_concat(p);
    while (e && (tk(p)->type == TK_ADD || tk(p)->type == TK_SUB))
        e = ps_binary(p, e, EX_BINOP, tk(p)->type == TK_ADD ? OP_ADD : OP_SUB, ps_concat);
    return e;
}

/* Jinja2's optimizer evaluates constant expressions at compile time, and its
 * constant "~" joins with str(), dropping Markup: '<' ~ '<b>'|safe is the
 * plain string "<<b>" (escaped on output), while with variables the result
 * is Markup. Mark such concatenations so rendering can do the same. */
static bool is_static(const struct tpl_expr *e)
{
    switch (e->kind) {
    case EX_CONST: return true;
    case EX_NOT: case EX_NEG: case EX_POS: return is_static(e->a);
    case EX_CONCAT: case EX_BINOP: case EX_AND: case EX_OR:
        return is_static(e->a) && is_static(e->b);
    case EX_LIST: case EX_FILTER:
        if (e->kind == EX_FILTER && !is_static(e->a))
            return false;
        for (size_t i = 0; i < e->n_args; i++)
            if (e->args[i] && !is_static(e->args[i]))
                return false;
        return true;
    default: return false;
    }
}

static struct tpl_expr *ps_concat(struct tpl_parser *p)
{
    struct tpl_expr *e = ps_math2(p);
    while (e && tk(p)->type == TK_TILDE) {
        e = ps_binary(p, e, EX_CONCAT, OP_EQ, ps_math2);
        if (e)
            e->folds = is_static(e);
    }
    return e;
}

static struct tpl_expr *ps_math2(struct tpl_parser *p)
{
    struct tpl_expr *e = ps_pow(p);
    for (;;) {
        if (!e)
            return NULL;
        enum tpl_tok t = tk(p)->type;
        if (t == TK_MUL)
            e = ps_binary(p, e, EX_BINOP, OP_MUL, ps_pow);
        else if (t == TK_FLOORDIV)
            e = ps_binary(p, e, EX_BINOP, OP_FLOORDIV, ps_pow);
        else if (t == TK_MOD)
            e = ps_binary(p, e, EX_BINOP, OP_MOD, ps_pow);
        else if (t == TK_DIV)
            return fail(p, tk(p), "\"/\" (true division) is not supported, use \"//\"");
        else
            return e;
    }
}

static struct tpl_expr *ps_pow(struct tpl_parser *p)
{
    struct tpl_expr *e = ps_unary(p, true);
    if (e && tk(p)->type == TK_POW)
        return fail(p, tk(p), "\"**\" is not supported");
    return e;
}

static struct tpl_expr *ps_unary(struct tpl_parser *p, bool with_filter)
{
    const struct tpl_token *t = tk(p);
    struct tpl_expr *e;
    if (t->type == TK_SUB || t->type == TK_ADD) {
        if (++p->nest > TPL_NEST_MAX)
            return fail(p, t, "expression nested too deeply");
        next(p);
        e = ex_new(p, t->type == TK_SUB ? EX_NEG : EX_POS, t);
        if (!e || !(e->a = ps_unary(p, false)))
            return NULL;
        p->nest--;
    } else if (!(e = ps_primary(p))) {
        return NULL;
    }
    if (!(e = ps_postfix(p, e)))
        return NULL;
    return with_filter ? ps_filters(p, e) : e;
}

static struct tpl_expr *ps_primary(struct tpl_parser *p)
{
    const struct tpl_token *t = tk(p);
    char buf[64];
    struct tpl_expr *e;
    switch (t->type) {
    case TK_NAME:
        next(p);
        if (!(e = ex_new(p, EX_CONST, t)))
            return NULL;
        if (str_eq_c(t->s, "true") || str_eq_c(t->s, "True"))
            e->cval = tpl_bool(true);
        else if (str_eq_c(t->s, "false") || str_eq_c(t->s, "False"))
            e->cval = tpl_bool(false);
        else if (str_eq_c(t->s, "none") || str_eq_c(t->s, "None"))
            e->cval = tpl_none();
        else
            e->kind = EX_NAME, e->name = t->s;
        return e;
    case TK_STRING: {
        struct str s = t->s;
        while (next(p)->type == TK_STRING) {  /* 'a' 'b' is 'ab', as in Python */
            char *c = arena_alloc(p->a, s.len + tk(p)->s.len + 1);
            if (!c)
                return fail(p, t, "out of memory");
            memcpy(c, s.p, s.len);
            memcpy(c + s.len, tk(p)->s.p, tk(p)->s.len);
            s = (struct str){ c, s.len + tk(p)->s.len };
        }
        if ((e = ex_new(p, EX_CONST, t)))
            e->cval = tpl_str(s);
        return e;
    }
    case TK_INT:
        next(p);
        if ((e = ex_new(p, EX_CONST, t)))
            e->cval = tpl_int(t->i);
        return e;
    case TK_LPAREN:
        next(p);
        if (!(e = ps_expr(p, true)))
            return NULL;
        if (tk(p)->type == TK_COMMA)
            return fail(p, tk(p), "tuples are not supported, use a list");
        return expect(p, TK_RPAREN, "\")\"") ? e : NULL;
    case TK_LBRACKET:
        next(p);
        return (e = ex_new(p, EX_LIST, t)) ? ps_seq(p, e, TK_RBRACKET, false) : NULL;
    case TK_LBRACE:
        next(p);
        return (e = ex_new(p, EX_DICT, t)) ? ps_seq(p, e, TK_RBRACE, true) : NULL;
    default:
        return fail(p, t, "expected an expression, got %s", tok_desc(t, buf, sizeof buf));
    }
}

/* [a, b, ...] or {k: v, ...} after the opening bracket. */
static struct tpl_expr *ps_seq(struct tpl_parser *p, struct tpl_expr *e, enum tpl_tok close,
                               bool pairs)
{
    size_t cap = 0;
    while (tk(p)->type != close) {
        if (e->n_args && !expect(p, TK_COMMA, "\",\""))
            return NULL;
        if (tk(p)->type == close)
            break;
        struct tpl_expr *item = ps_expr(p, true);
        if (!item || !push_arg(p, e, item, STR_NULL, &cap))
            return NULL;
        if (pairs) {
            if (!expect(p, TK_COLON, "\":\""))
                return NULL;
            if (!(item = ps_expr(p, true)) || !push_arg(p, e, item, STR_NULL, &cap))
                return NULL;
        }
    }
    next(p);
    e->n_pos = e->n_args;
    return e;
}

static struct tpl_expr *ps_postfix(struct tpl_parser *p, struct tpl_expr *e)
{
    char buf[64];
    for (;;) {
        const struct tpl_token *t = tk(p);
        if (t->type == TK_DOT) {
            const struct tpl_token *attr = next(p);
            struct tpl_expr *x;
            if (attr->type == TK_NAME) {
                if (!(x = ex_new(p, EX_ATTR, attr)))
                    return NULL;
                x->name = attr->s;
            } else if (attr->type == TK_INT) {
                if (!(x = ex_new(p, EX_ITEM, attr)) || !(x->b = ex_new(p, EX_CONST, attr)))
                    return NULL;
                x->b->cval = tpl_int(attr->i);
            } else {
                return fail(p, attr, "expected an attribute name after \".\", got %s",
                            tok_desc(attr, buf, sizeof buf));
            }
            next(p);
            x->a = e;
            e = x;
        } else if (t->type == TK_LBRACKET) {
            next(p);
            struct tpl_expr *x = ex_new(p, EX_ITEM, t);
            if (!x || !(x->b = ps_expr(p, true)))
                return NULL;
            if (tk(p)->type == TK_COLON)
                return fail(p, tk(p), "slices are not supported");
            if (!expect(p, TK_RBRACKET, "\"]\""))
                return NULL;
            x->a = e;
            e = x;
        } else if (t->type == TK_LPAREN) {
            if (!(e = ps_call(p, e)))
                return NULL;
        } else {
            return e;
        }
    }
}

/* Calls are resolved now: only the known functions exist. */
static struct tpl_expr *ps_call(struct tpl_parser *p, struct tpl_expr *callee)
{
    const struct tpl_token *at = tk(p);
    struct tpl_expr *e = ex_new(p, EX_URL_FOR, at);
    if (!e)
        return NULL;
    e->line = callee->line;
    e->col = callee->col;
    struct str fn = callee->name;
    if (callee->kind == EX_NAME && str_eq_c(fn, "url_for")) {
        e->kind = EX_URL_FOR;
    } else if (callee->kind == EX_NAME && str_eq_c(fn, "get_flashed_messages")) {
        e->kind = EX_FLASHES;
    } else if (callee->kind == EX_NAME && str_eq_c(fn, "super")) {
        if (!p->in_block) {
            struct tpl_token pos = { TK_NAME, callee->line, callee->col, fn, 0 };
            return fail(p, &pos, "super() used outside of a block");
        }
        e->kind = EX_SUPER;
    } else if (callee->kind == EX_NAME && str_eq_c(fn, "range")) {
        e->kind = EX_RANGE;
    } else if (callee->kind == EX_ATTR && str_eq_c(fn, "cycle") && callee->a->kind == EX_NAME &&
               str_eq_c(callee->a->name, "loop")) {
        e->kind = EX_CYCLE;
        e->a = callee->a;
    } else if (callee->kind == EX_NAME || callee->kind == EX_ATTR) {
        struct tpl_token pos = { TK_NAME, callee->line, callee->col, fn, 0 };
        return fail(p, &pos, "unknown function \"%.*s\"", STR_FMT(fn));
    } else {
        return fail(p, at, "only url_for, get_flashed_messages, super, range and loop.cycle "
                           "can be called");
    }
    next(p);
    if (!ps_args(p, e, e->kind == EX_URL_FOR))
        return NULL;
    size_t n_kw = e->n_args - e->n_pos;
    switch (e->kind) {
    case EX_URL_FOR:
        if (e->n_pos != 1)
            return fail(p, at, "url_for() takes the endpoint and keyword arguments");
        break;
    case EX_FLASHES:
        /* Flask's get_flashed_messages(with_categories=False, category_filter=()):
         * the filter is not supported. */
        if (e->n_args > 1 || (n_kw == 1 && !str_eq_c(e->kw[0], "with_categories")))
            return fail(p, at, "get_flashed_messages() takes only with_categories");
        break;
    case EX_SUPER:
        if (e->n_args)
            return fail(p, at, "%.*s() takes no arguments", STR_FMT(fn));
        break;
    case EX_RANGE:
        if (n_kw || e->n_pos < 1 || e->n_pos > 3)
            return fail(p, at, "range() takes 1 to 3 arguments");
        break;
    default:
        if (n_kw || e->n_pos < 1)
            return fail(p, at, "loop.cycle() takes at least one argument");
        break;
    }
    return e;
}

/* (arg, ..., name=value, ...) after the "("; positional before keywords. */
static bool ps_args(struct tpl_parser *p, struct tpl_expr *e, bool allow_kw)
{
    size_t cap = 0;
    (void)allow_kw;
    while (tk(p)->type != TK_RPAREN) {
        if (e->n_args && !expect(p, TK_COMMA, "\",\" or \")\""))
            return false;
        if (tk(p)->type == TK_RPAREN)
            break;
        struct str kw = STR_NULL;
        if (tk(p)->type == TK_NAME && p->pos + 1 < p->n && p->t[p->pos + 1].type == TK_ASSIGN) {
            kw = tk(p)->s;
            next(p);
            next(p);
        } else if (e->n_args > e->n_pos) {
            fail(p, tk(p), "positional argument after keyword argument");
            return false;
        }
        struct tpl_expr *arg = ps_expr(p, true);
        if (!arg || !push_arg(p, e, arg, kw, &cap))
            return false;
        if (!kw.p)
            e->n_pos = e->n_args;
    }
    next(p);
    return true;
}

static struct tpl_expr *ps_filters(struct tpl_parser *p, struct tpl_expr *e)
{
    char buf[64];
    for (;;) {
        const struct tpl_token *t = tk(p);
        if (t->type == TK_PIPE) {
            const struct tpl_token *name = next(p);
            if (name->type != TK_NAME)
                return fail(p, name, "expected a filter name, got %s",
                            tok_desc(name, buf, sizeof buf));
            const struct tpl_filter *f = tpl_filter_find(name->s);
            if (!f)
                return fail(p, name, "unknown filter \"%.*s\"", STR_FMT(name->s));
            struct tpl_expr *x = ex_new(p, EX_FILTER, name);
            if (!x)
                return NULL;
            x->a = e;
            x->name = name->s;
            x->filter = f;
            if (next(p)->type == TK_LPAREN) {
                next(p);
                if (!ps_args(p, x, true))
                    return NULL;
            }
            if (!ps_filter_slots(p, x, name))
                return NULL;
            e = x;
        } else if (is_name(t, "is")) {
            struct tpl_expr *x = ex_new(p, EX_TEST, t);
            if (!x)
                return NULL;
            if (is_name(next(p), "not")) {
                x->negate = true;
                next(p);
            }
            const struct tpl_token *name = tk(p);
            if (name->type != TK_NAME)
                return fail(p, name, "expected a test name, got %s",
                            tok_desc(name, buf, sizeof buf));
            const struct tpl_test *test = tpl_test_find(name->s);
            if (!test)
                return fail(p, name, "unknown test \"%.*s\"", STR_FMT(name->s));
            x->test = test;
            x->name = name->s;
            x->a = e;
            const struct tpl_token *arg = next(p);
            size_t cap = 0;
            if (arg->type == TK_LPAREN) {
                next(p);
                if (!ps_args(p, x, false))
                    return NULL;
            } else if (test->n_args && (arg->type == TK_INT || arg->type == TK_STRING ||
                                        arg->type == TK_LBRACKET ||
                                        (arg->type == TK_NAME && !is_name(arg, "else") &&
                                         !is_name(arg, "and") && !is_name(arg, "or")))) {
                struct tpl_expr *v = ps_primary(p);
                if (!v || !(v = ps_postfix(p, v)) || !push_arg(p, x, v, STR_NULL, &cap))
                    return NULL;
                x->n_pos = 1;
            }
            if (x->n_args != test->n_args || x->n_pos != x->n_args)
                return fail(p, name, "test \"%s\" takes %u argument%s", test->name,
                            test->n_args, test->n_args == 1 ? "" : "s");
            e = x;
        } else {
            return e;
        }
    }
}

/* ---- helpers ---- */

/* Keywords are matched to parameters now, so that rendering is positional:
 * afterwards args[i] is parameter i, NULL when not given. */
static bool ps_filter_slots(struct tpl_parser *p, struct tpl_expr *x, const struct tpl_token *name)
{
    const struct tpl_filter *f = x->filter;
    if (x->n_pos > f->max_args) {
        fail(p, name, "filter \"%s\" takes at most %u argument%s", f->name, f->max_args,
             f->max_args == 1 ? "" : "s");
        return false;
    }
    struct tpl_expr **slots = f->max_args ? arena_calloc(p->a, f->max_args, sizeof *slots) : NULL;
    if (f->max_args && !slots) {
        fail(p, name, "out of memory");
        return false;
    }
    for (size_t i = 0; i < x->n_args; i++) {
        unsigned idx = (unsigned)i;
        if (i >= x->n_pos) {
            idx = 0;
            while (idx < f->max_args && !str_eq_c(x->kw[i], f->params[idx]))
                idx++;
            if (idx == f->max_args || slots[idx]) {
                fail(p, name, idx == f->max_args ? "filter \"%s\" has no argument \"%.*s\""
                                                 : "filter \"%s\" got argument \"%.*s\" twice",
                     f->name, STR_FMT(x->kw[i]));
                return false;
            }
        }
        slots[idx] = x->args[i];
    }
    for (unsigned i = 0; i < f->min_args; i++) {
        if (!slots[i]) {
            fail(p, name, "filter \"%s\" needs argument \"%s\"", f->name, f->params[i]);
            return false;
        }
    }
    x->args = slots;
    x->n_args = x->n_pos = f->max_args;
    return true;
}

static bool push_arg(struct tpl_parser *p, struct tpl_expr *e, struct tpl_expr *arg,
                     struct str kw, size_t *cap)
{
    if (e->n_args == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        struct tpl_expr **v = arena_realloc(p->a, e->args, *cap * sizeof *v, c * sizeof *v);
        struct str *k = arena_realloc(p->a, e->kw, *cap * sizeof *k, c * sizeof *k);
        if (!v || !k) {
            fail(p, tk(p), "out of memory");
            return false;
        }
        e->args = v;
        e->kw = k;
        *cap = c;
    }
    e->kw[e->n_args] = kw;
    e->args[e->n_args++] = arg;
    return true;
}

static struct tpl_expr *ex_new(struct tpl_parser *p, enum tpl_ex kind, const struct tpl_token *at)
{
    struct tpl_expr *e = arena_calloc(p->a, 1, sizeof *e);
    if (!e)
        return fail(p, at, "out of memory");
    e->kind = kind;
    e->line = at->line;
    e->col = at->col;
    e->autoescape = p->autoescape;
    return e;
}

static struct tpl_node *nd_new(struct tpl_parser *p, enum tpl_nd kind, const struct tpl_token *at)
{
    struct tpl_node *n = arena_calloc(p->a, 1, sizeof *n);
    if (!n)
        return fail(p, at, "out of memory");
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    n->autoescape = p->autoescape;
    return n;
}

static const struct tpl_token *tk(const struct tpl_parser *p)
{
    return &p->t[p->pos];
}

/* Advance (never past EOF) and return the new current token. */
static const struct tpl_token *next(struct tpl_parser *p)
{
    if (p->pos + 1 < p->n)
        p->pos++;
    return &p->t[p->pos];
}

static bool is_name(const struct tpl_token *t, const char *s)
{
    return t->type == TK_NAME && str_eq_c(t->s, s);
}

static bool expect(struct tpl_parser *p, enum tpl_tok type, const char *what)
{
    char buf[64];
    if (tk(p)->type != type) {
        fail(p, tk(p), "expected %s, got %s", what, tok_desc(tk(p), buf, sizeof buf));
        return false;
    }
    next(p);
    return true;
}

static bool expect_block_end(struct tpl_parser *p, const char *tag)
{
    char buf[64];
    if (tk(p)->type != TK_BLOCK_END) {
        fail(p, tk(p), "expected end of {%% %s %%} tag \"%%}\", got %s", tag,
             tok_desc(tk(p), buf, sizeof buf));
        return false;
    }
    next(p);
    return true;
}

static void *fail(struct tpl_parser *p, const struct tpl_token *at, const char *fmt, ...)
{
    if (p->failed)
        return NULL;
    p->failed = true;
    if (p->d) {
        char msg[sizeof p->d->msg];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        tl_diag_set(p->d, p->name, at ? at->line : 0, at ? at->col : 0, "%s", msg);
    }
    return NULL;
}

static const char *tok_desc(const struct tpl_token *t, char *buf, size_t len)
{
    switch (t->type) {
    case TK_EOF: return "end of template";
    case TK_TEXT: return "text";
    case TK_VAR_BEGIN: return "\"{{\"";
    case TK_VAR_END: return "end of print statement \"}}\"";
    case TK_BLOCK_BEGIN: return "\"{%\"";
    case TK_BLOCK_END: return "end of statement \"%}\"";
    case TK_STRING: return "a string";
    case TK_INT: return "an integer";
    default:
        snprintf(buf, len, "\"%.*s\"", (int)(t->s.len > 40 ? 40 : t->s.len), t->s.p);
        return buf;
    }
}
