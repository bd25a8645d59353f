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

static struct tpl_node *tpl_ps_body(struct tpl_parser *p, const struct tpl_ends *ends,
                                    struct str *which);
static bool tpl_ps_body_ends(struct tpl_parser *p, const struct tpl_ends *ends, struct str *which);
static struct tpl_node *tpl_ps_output(struct tpl_parser *p, const struct tpl_token *t);
static struct tpl_node *tpl_ps_statement(struct tpl_parser *p, const struct tpl_token *begin);
static struct tpl_node *tpl_ps_if(struct tpl_parser *p, const struct tpl_token *tag);
static struct tpl_node *tpl_ps_for(struct tpl_parser *p, const struct tpl_token *tag);
static bool tpl_ps_for_head(struct tpl_parser *p, struct tpl_node *n);
static struct tpl_node *tpl_ps_set(struct tpl_parser *p, const struct tpl_token *tag);
static bool tpl_ps_sets_in_scope(const struct tpl_node *n);
static struct tpl_node *tpl_ps_block(struct tpl_parser *p, const struct tpl_token *tag);
static bool tpl_ps_block_register(struct tpl_parser *p, struct tpl_node *n,
                                  const struct tpl_token *name);
static bool tpl_ps_block_body(struct tpl_parser *p, struct tpl_node *n,
                              const struct tpl_token *tag);
static struct tpl_node *tpl_ps_include(struct tpl_parser *p, const struct tpl_token *tag, bool ext);
static struct tpl_node *tpl_ps_cache(struct tpl_parser *p, const struct tpl_token *tag);
static bool tpl_ps_cache_register(struct tpl_parser *p, struct tpl_node *n,
                                  const struct tpl_token *tag);
static struct tpl_expr *tpl_ps_expr(struct tpl_parser *p, bool with_cond);
static struct tpl_expr *tpl_ps_or(struct tpl_parser *p);
static struct tpl_expr *tpl_ps_and(struct tpl_parser *p);
static struct tpl_expr *tpl_ps_not(struct tpl_parser *p);
static struct tpl_expr *tpl_ps_compare(struct tpl_parser *p);
static bool tpl_ps_compare_op(struct tpl_parser *p, enum tpl_op *op);
static struct tpl_expr *tpl_ps_math1(struct tpl_parser *p);
static struct tpl_expr *tpl_ps_concat(struct tpl_parser *p);
static struct tpl_expr *tpl_ps_math2(struct tpl_parser *p);
static struct tpl_expr *tpl_ps_pow(struct tpl_parser *p);
static struct tpl_expr *tpl_ps_unary(struct tpl_parser *p, bool with_filter);
static struct tpl_expr *tpl_ps_primary(struct tpl_parser *p);
static struct tpl_expr *tpl_ps_name(struct tpl_parser *p, const struct tpl_token *t);
static struct tpl_expr *tpl_ps_strings(struct tpl_parser *p, const struct tpl_token *t);
static struct tpl_expr *tpl_ps_postfix(struct tpl_parser *p, struct tpl_expr *e);
static struct tpl_expr *tpl_ps_dot(struct tpl_parser *p, struct tpl_expr *e);
static struct tpl_expr *tpl_ps_filters(struct tpl_parser *p, struct tpl_expr *e);
static struct tpl_expr *tpl_ps_filter(struct tpl_parser *p, struct tpl_expr *e);
static struct tpl_expr *tpl_ps_test(struct tpl_parser *p, struct tpl_expr *e,
                                    const struct tpl_token *is);
static bool tpl_ps_test_arg(struct tpl_parser *p, struct tpl_expr *x);
static struct tpl_expr *tpl_ps_call(struct tpl_parser *p, struct tpl_expr *callee);
static bool tpl_ps_call_kind(struct tpl_parser *p, const struct tpl_expr *callee,
                             struct tpl_expr *e, const struct tpl_token *at);
static bool tpl_ps_args(struct tpl_parser *p, struct tpl_expr *e, bool allow_kw);
static struct tpl_expr *tpl_ps_seq(struct tpl_parser *p, struct tpl_expr *e, enum tpl_tok close,
                                   bool pairs);
static struct tpl_expr *tpl_ps_expr_new(struct tpl_parser *p, enum tpl_ex kind,
                                        const struct tpl_token *at);
static struct tpl_node *tpl_ps_node_new(struct tpl_parser *p, enum tpl_nd kind,
                                        const struct tpl_token *at);
static bool tpl_ps_push_arg(struct tpl_parser *p, struct tpl_expr *e, struct tpl_expr *arg,
                            struct str kw, size_t *cap);
static bool tpl_ps_filter_slots(struct tpl_parser *p, struct tpl_expr *x,
                                const struct tpl_token *name);
static const struct tpl_token *tpl_ps_tok(const struct tpl_parser *p);
static const struct tpl_token *tpl_ps_next(struct tpl_parser *p);
static bool tpl_ps_is_name(const struct tpl_token *t, const char *s);
static bool tpl_ps_expect(struct tpl_parser *p, enum tpl_tok type, const char *what);
static bool tpl_ps_expect_end(struct tpl_parser *p, const char *tag);
static void *tpl_ps_fail(struct tpl_parser *p, const struct tpl_token *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *tpl_ps_tok_desc(const struct tpl_token *t, char *buf, size_t len);

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
        return tpl_ps_fail(&p, NULL, "out of memory");
    t->autoescape = p.autoescape;
    p.tpl = t;
    t->body = tpl_ps_body(&p, NULL, NULL);
    return p.failed ? NULL : t;
}

/* Nodes up to EOF (ends == NULL) or up to a {% tag %} named in ends; on return
 * *which is that tag's name and the parser stands just after it. */
static struct tpl_node *tpl_ps_body(struct tpl_parser *p, const struct tpl_ends *ends,
                                    struct str *which)
{
    struct tpl_node *head = NULL, **tail = &head;
    if (++p->nest > TPL_NEST_MAX)
        return tpl_ps_fail(p, tpl_ps_tok(p), "statements nested too deeply");
    for (;;) {
        const struct tpl_token *t = tpl_ps_tok(p);
        struct tpl_node *n = NULL;
        if (t->type == TK_EOF) {
            if (ends)
                return tpl_ps_fail(p, ends->opener, "unclosed {%% %s %%}, expected \"{%% %s %%}\"",
                            ends->opener_name, ends->names[0]);
            break;
        } else if (t->type == TK_TEXT) {
            if ((n = tpl_ps_node_new(p, ND_TEXT, t)))
                n->text = t->s;
            tpl_ps_next(p);
        } else if (t->type == TK_VAR_BEGIN) {
            n = tpl_ps_output(p, t);
        } else if (t->type == TK_BLOCK_BEGIN) {
            if (tpl_ps_body_ends(p, ends, which)) {
                p->nest--;
                return head;
            }
            n = tpl_ps_statement(p, t);
        } else {
            return tpl_ps_fail(p, t, "unexpected token");
        }
        if (!n)
            return NULL;
        *tail = n;
        tail = &n->next;
    }
    p->nest--;
    return head;
}

/* At "{%": true, past the tag's name, when it is one of ends (its name in
 * *which); false, just after the "{%", otherwise. */
static bool tpl_ps_body_ends(struct tpl_parser *p, const struct tpl_ends *ends, struct str *which)
{
    const struct tpl_token *name = tpl_ps_next(p);
    if (name->type != TK_NAME || !ends)
        return false;
    for (size_t i = 0; ends->names[i]; i++) {
        if (str_eq_c(name->s, ends->names[i])) {
            tpl_ps_next(p);
            *which = name->s;
            return true;
        }
    }
    return false;
}

/* {{ expr }} from its "{{" (t). */
static struct tpl_node *tpl_ps_output(struct tpl_parser *p, const struct tpl_token *t)
{
    tpl_ps_next(p);
    struct tpl_node *n = tpl_ps_node_new(p, ND_OUTPUT, t);
    if (!n || !(n->expr = tpl_ps_expr(p, true)))
        return NULL;
    return tpl_ps_expect(p, TK_VAR_END, "end of print statement \"}}\"") ? n : NULL;
}

static struct tpl_node *tpl_ps_statement(struct tpl_parser *p, const struct tpl_token *begin)
{
    const struct tpl_token *tag = tpl_ps_tok(p);
    char buf[64];
    if (tag->type != TK_NAME)
        return tpl_ps_fail(p, tag, "expected a tag name, got %s",
                           tpl_ps_tok_desc(tag, buf, sizeof buf));
    tpl_ps_next(p);
    if (str_eq_c(tag->s, "if"))
        return tpl_ps_if(p, tag);
    if (str_eq_c(tag->s, "for"))
        return tpl_ps_for(p, tag);
    if (str_eq_c(tag->s, "set"))
        return tpl_ps_set(p, tag);
    if (str_eq_c(tag->s, "block"))
        return tpl_ps_block(p, tag);
    if (str_eq_c(tag->s, "extends"))
        return tpl_ps_include(p, tag, true);
    if (str_eq_c(tag->s, "include"))
        return tpl_ps_include(p, tag, false);
    if (str_eq_c(tag->s, "cache"))
        return tpl_ps_cache(p, tag);
    (void)begin;
    return tpl_ps_fail(p, tag, "unknown tag \"%.*s\"", STR_FMT(tag->s));
}

static struct tpl_node *tpl_ps_if(struct tpl_parser *p, const struct tpl_token *tag)
{
    static const char *const ends[] = { "endif", "elif", "else", NULL };
    static const char *const ends_else[] = { "endif", NULL };
    struct tpl_node *n = tpl_ps_node_new(p, ND_IF, tag);
    if (!n || !(n->expr = tpl_ps_expr(p, true)) || !tpl_ps_expect_end(p, "if"))
        return NULL;
    struct tpl_ends e = { ends, tag, "if" };
    struct str which;
    if (!(n->body = tpl_ps_body(p, &e, &which)) && p->failed)
        return NULL;
    if (str_eq_c(which, "elif")) {
        n->orelse = tpl_ps_if(p, &p->t[p->pos - 1]);
        return n->orelse ? n : NULL;
    }
    if (str_eq_c(which, "else")) {
        struct tpl_ends e2 = { ends_else, tag, "if" };
        if (!tpl_ps_expect_end(p, "else"))
            return NULL;
        if (!(n->orelse = tpl_ps_body(p, &e2, &which)) && p->failed)
            return NULL;
    }
    return tpl_ps_expect_end(p, "endif") ? n : NULL;
}

static struct tpl_node *tpl_ps_for(struct tpl_parser *p, const struct tpl_token *tag)
{
    static const char *const ends[] = { "endfor", "else", NULL };
    static const char *const ends_else[] = { "endfor", NULL };
    struct tpl_node *n = tpl_ps_node_new(p, ND_FOR, tag);
    if (!n || !tpl_ps_for_head(p, n) || !tpl_ps_expect_end(p, "for"))
        return NULL;
    struct tpl_frags frags = { 0 }, *saved = p->frags;
    p->frags = &frags;   /* the body's cache tags, for the prefetch */
    struct tpl_ends e = { ends, tag, "for" };
    struct str which;
    n->body = tpl_ps_body(p, &e, &which);
    p->frags = saved;
    if (p->failed)
        return NULL;
    n->frags = frags.v;
    n->n_frags = frags.n;
    n->frag_keys_stable = !tpl_ps_sets_in_scope(n->body);
    if (str_eq_c(which, "else")) {
        struct tpl_ends e2 = { ends_else, tag, "for" };
        if (!tpl_ps_expect_end(p, "else"))
            return NULL;
        if (!(n->orelse = tpl_ps_body(p, &e2, &which)) && p->failed)
            return NULL;
    }
    return tpl_ps_expect_end(p, "endfor") ? n : NULL;
}

/* "x in xs [if cond]" of a {% for %}. */
static bool tpl_ps_for_head(struct tpl_parser *p, struct tpl_node *n)
{
    char buf[64];
    const struct tpl_token *target = tpl_ps_tok(p);
    if (target->type != TK_NAME)
        return tpl_ps_fail(p, target, "expected a loop variable name, got %s",
                    tpl_ps_tok_desc(target, buf, sizeof buf));
    n->name = target->s;
    if (tpl_ps_next(p)->type == TK_COMMA)
        return tpl_ps_fail(p, tpl_ps_tok(p), "tuple unpacking in {%% for %%} is not supported");
    if (!tpl_ps_is_name(tpl_ps_tok(p), "in"))
        return tpl_ps_fail(p, tpl_ps_tok(p), "expected \"in\", got %s",
                           tpl_ps_tok_desc(tpl_ps_tok(p), buf, sizeof buf));
    tpl_ps_next(p);
    if (!(n->expr = tpl_ps_or(p)))
        return false;
    if (tpl_ps_is_name(tpl_ps_tok(p), "if")) {
        tpl_ps_next(p);
        if (!(n->cond = tpl_ps_or(p)))
            return false;
    }
    if (tpl_ps_is_name(tpl_ps_tok(p), "recursive"))
        return tpl_ps_fail(p, tpl_ps_tok(p), "recursive loops are not supported");
    return true;
}

/* True when a {% set %} in list (outside nested loops and blocks, which have
 * scopes of their own) may rebind a name of the loop body's scope. */
static bool tpl_ps_sets_in_scope(const struct tpl_node *n)
{
    for (; n; n = n->next) {
        if (n->kind == ND_SET || n->kind == ND_SET_BLOCK)
            return true;
        if (n->kind != ND_FOR && n->kind != ND_BLOCK &&
            (tpl_ps_sets_in_scope(n->body) || tpl_ps_sets_in_scope(n->orelse)))
            return true;
    }
    return false;
}

static struct tpl_node *tpl_ps_set(struct tpl_parser *p, const struct tpl_token *tag)
{
    static const char *const ends[] = { "endset", NULL };
    char buf[64];
    const struct tpl_token *target = tpl_ps_tok(p);
    if (target->type != TK_NAME)
        return tpl_ps_fail(p, target, "expected a variable name, got %s",
                    tpl_ps_tok_desc(target, buf, sizeof buf));
    tpl_ps_next(p);
    if (tpl_ps_tok(p)->type == TK_COMMA || tpl_ps_tok(p)->type == TK_DOT)
        return tpl_ps_fail(p, tpl_ps_tok(p), "only {%% set name = ... %%} is supported");
    if (tpl_ps_tok(p)->type == TK_BLOCK_END) {
        struct tpl_node *n = tpl_ps_node_new(p, ND_SET_BLOCK, tag);
        if (!n)
            return NULL;
        n->name = target->s;
        tpl_ps_next(p);
        struct tpl_ends e = { ends, tag, "set" };
        struct str which;
        if (!(n->body = tpl_ps_body(p, &e, &which)) && p->failed)
            return NULL;
        return tpl_ps_expect_end(p, "endset") ? n : NULL;
    }
    if (!tpl_ps_expect(p, TK_ASSIGN, "\"=\""))
        return NULL;
    struct tpl_node *n = tpl_ps_node_new(p, ND_SET, tag);
    if (!n || !(n->expr = tpl_ps_expr(p, true)))
        return NULL;
    n->name = target->s;
    if (tpl_ps_tok(p)->type == TK_COMMA)
        return tpl_ps_fail(p, tpl_ps_tok(p), "tuples are not supported");
    return tpl_ps_expect_end(p, "set") ? n : NULL;
}

static struct tpl_node *tpl_ps_block(struct tpl_parser *p, const struct tpl_token *tag)
{
    char buf[64];
    const struct tpl_token *name = tpl_ps_tok(p);
    if (name->type != TK_NAME)
        return tpl_ps_fail(p, name, "expected a block name, got %s",
                           tpl_ps_tok_desc(name, buf, sizeof buf));
    struct tpl_node *n = tpl_ps_node_new(p, ND_BLOCK, tag);
    if (!n || !tpl_ps_block_register(p, n, name))
        return NULL;
    tpl_ps_next(p);
    for (;;) {
        if (tpl_ps_is_name(tpl_ps_tok(p), "scoped"))
            n->scoped = true;
        else if (!tpl_ps_is_name(tpl_ps_tok(p), "required"))
            break;
        tpl_ps_next(p);
    }
    if (!tpl_ps_expect_end(p, "block") || !tpl_ps_block_body(p, n, tag))
        return NULL;
    if (tpl_ps_tok(p)->type == TK_NAME) {
        if (!str_eq(tpl_ps_tok(p)->s, n->name))
            return tpl_ps_fail(p, tpl_ps_tok(p), "mismatched block name: \"%.*s\" closes \"%.*s\"",
                        STR_FMT(tpl_ps_tok(p)->s), STR_FMT(n->name));
        tpl_ps_next(p);
    }
    return tpl_ps_expect_end(p, "endblock") ? n : NULL;
}

/* Add block n (named by token name) to the template's blocks: a name may be
 * defined once per template. */
static bool tpl_ps_block_register(struct tpl_parser *p, struct tpl_node *n,
                                  const struct tpl_token *name)
{
    struct tpl_template *t = p->tpl;
    for (size_t i = 0; i < t->n_blocks; i++)
        if (str_eq(t->blocks[i]->name, name->s))
            return tpl_ps_fail(p, name, "block \"%.*s\" defined twice", STR_FMT(name->s));
    n->name = name->s;
    n->owner = t;
    if (t->n_blocks == p->blocks_cap) {
        size_t cap = p->blocks_cap ? p->blocks_cap * 2 : 8;
        struct tpl_node **v = arena_realloc(p->a, t->blocks, p->blocks_cap * sizeof *v,
                                            cap * sizeof *v);
        if (!v)
            return tpl_ps_fail(p, name, "out of memory");
        t->blocks = v;
        p->blocks_cap = cap;
    }
    t->blocks[t->n_blocks++] = n;
    return true;
}

/* A block's body up to {% endblock %}: super() is allowed in it, and its
 * cache tags are not the enclosing loop's (the block may be overridden). */
static bool tpl_ps_block_body(struct tpl_parser *p, struct tpl_node *n, const struct tpl_token *tag)
{
    static const char *const ends[] = { "endblock", NULL };
    bool saved_in = p->in_block;
    struct tpl_frags *saved_frags = p->frags;
    p->in_block = true;
    p->frags = NULL;
    struct tpl_ends e = { ends, tag, "block" };
    struct str which;
    n->body = tpl_ps_body(p, &e, &which);
    p->in_block = saved_in;
    p->frags = saved_frags;
    return !p->failed;
}

static struct tpl_node *tpl_ps_include(struct tpl_parser *p, const struct tpl_token *tag, bool ext)
{
    struct tpl_node *n = tpl_ps_node_new(p, ext ? ND_EXTENDS : ND_INCLUDE, tag);
    if (!n || !(n->expr = tpl_ps_expr(p, true)))
        return NULL;
    if (!ext) {
        if (tpl_ps_is_name(tpl_ps_tok(p), "ignore")) {
            if (!tpl_ps_is_name(tpl_ps_next(p), "missing"))
                return tpl_ps_fail(p, tpl_ps_tok(p), "expected \"missing\" after \"ignore\"");
            tpl_ps_next(p);
            n->ignore_missing = true;
        }
        if (tpl_ps_is_name(tpl_ps_tok(p), "with") || tpl_ps_is_name(tpl_ps_tok(p), "without")) {
            if (!tpl_ps_is_name(tpl_ps_next(p), "context"))
                return tpl_ps_fail(p, tpl_ps_tok(p), "expected \"context\"");
            tpl_ps_next(p);
        }
    }
    return tpl_ps_expect_end(p, ext ? "extends" : "include") ? n : NULL;
}

/* {% cache timeout, name, vary... %}: as Flask-Caching, the name is optional
 * in the grammar but we require it: a key made from the template position
 * would change whenever the template is edited. */
static struct tpl_node *tpl_ps_cache(struct tpl_parser *p, const struct tpl_token *tag)
{
    static const char *const ends[] = { "endcache", NULL };
    struct tpl_node *n = tpl_ps_node_new(p, ND_CACHE, tag);
    if (!n)
        return NULL;
    struct tpl_expr holder = { 0 };
    size_t cap = 0;
    for (;;) {
        struct tpl_expr *e = tpl_ps_expr(p, true);
        if (!e || !tpl_ps_push_arg(p, &holder, e, STR_NULL, &cap))
            return NULL;
        if (tpl_ps_tok(p)->type != TK_COMMA)
            break;
        tpl_ps_next(p);
    }
    if (holder.n_args < 2)
        return tpl_ps_fail(p, tpl_ps_tok(p),
                           "expected \",\" and a fragment name after the cache timeout");
    n->args = holder.args;
    n->n_args = holder.n_args;
    if (!tpl_ps_expect_end(p, "cache") || (p->frags && !tpl_ps_cache_register(p, n, tag)))
        return NULL;
    struct tpl_ends e = { ends, tag, "cache" };
    struct str which;
    if (!(n->body = tpl_ps_body(p, &e, &which)) && p->failed)
        return NULL;
    return tpl_ps_expect_end(p, "endcache") ? n : NULL;
}

/* Add cache tag n to the enclosing loop's list, which it prefetches. */
static bool tpl_ps_cache_register(struct tpl_parser *p, struct tpl_node *n,
                                  const struct tpl_token *tag)
{
    struct tpl_frags *f = p->frags;
    if (f->n == f->cap) {
        size_t c = f->cap ? f->cap * 2 : 4;
        struct tpl_node **v = arena_realloc(p->a, f->v, f->cap * sizeof *v, c * sizeof *v);
        if (!v)
            return tpl_ps_fail(p, tag, "out of memory");
        f->v = v;
        f->cap = c;
    }
    f->v[f->n++] = n;
    return true;
}

/* ---- expressions, in Jinja2's precedence order ---- */

static struct tpl_expr *tpl_ps_expr(struct tpl_parser *p, bool with_cond)
{
    if (++p->nest > TPL_NEST_MAX)
        return tpl_ps_fail(p, tpl_ps_tok(p), "expression nested too deeply");
    struct tpl_expr *e = tpl_ps_or(p);
    while (e && with_cond && tpl_ps_is_name(tpl_ps_tok(p), "if")) {
        struct tpl_expr *c = tpl_ps_expr_new(p, EX_COND, tpl_ps_tok(p));
        tpl_ps_next(p);
        if (!c || !(c->a = tpl_ps_or(p)))
            return NULL;
        c->b = e;
        if (tpl_ps_is_name(tpl_ps_tok(p), "else")) {
            tpl_ps_next(p);
            if (!(c->c = tpl_ps_expr(p, true)))
                return NULL;
        }
        e = c;
    }
    p->nest--;
    return e;
}

static struct tpl_expr *tpl_ps_binary(struct tpl_parser *p, struct tpl_expr *left, enum tpl_ex kind,
                                      enum tpl_op op, struct tpl_expr *(*sub)(struct tpl_parser *))
{
    const struct tpl_token *at = tpl_ps_tok(p);
    tpl_ps_next(p);
    struct tpl_expr *e = tpl_ps_expr_new(p, kind, at);
    if (!e || !(e->b = sub(p)))
        return NULL;
    e->a = left;
    e->op = op;
    return e;
}

static struct tpl_expr *tpl_ps_or(struct tpl_parser *p)
{
    struct tpl_expr *e = tpl_ps_and(p);
    while (e && tpl_ps_is_name(tpl_ps_tok(p), "or"))
        e = tpl_ps_binary(p, e, EX_OR, OP_EQ, tpl_ps_and);
    return e;
}

static struct tpl_expr *tpl_ps_and(struct tpl_parser *p)
{
    struct tpl_expr *e = tpl_ps_not(p);
    while (e && tpl_ps_is_name(tpl_ps_tok(p), "and"))
        e = tpl_ps_binary(p, e, EX_AND, OP_EQ, tpl_ps_not);
    return e;
}

static struct tpl_expr *tpl_ps_not(struct tpl_parser *p)
{
    if (!tpl_ps_is_name(tpl_ps_tok(p), "not"))
        return tpl_ps_compare(p);
    if (++p->nest > TPL_NEST_MAX)
        return tpl_ps_fail(p, tpl_ps_tok(p), "expression nested too deeply");
    struct tpl_expr *e = tpl_ps_expr_new(p, EX_NOT, tpl_ps_tok(p));
    tpl_ps_next(p);
    if (!e || !(e->a = tpl_ps_not(p)))
        return NULL;
    p->nest--;
    return e;
}

static struct tpl_expr *tpl_ps_compare(struct tpl_parser *p)
{
    struct tpl_expr *first = tpl_ps_math1(p);
    if (!first)
        return NULL;
    struct tpl_expr *cmp = NULL;
    size_t cap = 0, ops_cap = 0;
    enum tpl_op op;
    for (;;) {
        const struct tpl_token *t = tpl_ps_tok(p);
        if (!tpl_ps_compare_op(p, &op))
            return cmp ? cmp : first;
        if (!cmp) {
            if (!(cmp = tpl_ps_expr_new(p, EX_COMPARE, t)) ||
                !tpl_ps_push_arg(p, cmp, first, STR_NULL, &cap))
                return NULL;
        }
        struct tpl_expr *rhs = tpl_ps_math1(p);
        if (!rhs || !tpl_ps_push_arg(p, cmp, rhs, STR_NULL, &cap))
            return NULL;
        if (cmp->n_args - 1 > ops_cap) {
            size_t c = ops_cap ? ops_cap * 2 : 2;
            enum tpl_op *v = arena_realloc(p->a, cmp->ops, ops_cap * sizeof *v, c * sizeof *v);
            if (!v)
                return tpl_ps_fail(p, t, "out of memory");
            cmp->ops = v;
            ops_cap = c;
        }
        cmp->ops[cmp->n_args - 2] = op;
    }
}

/* A comparison operator (==, ..., in, not in): true, past it, with *op. */
static bool tpl_ps_compare_op(struct tpl_parser *p, enum tpl_op *op)
{
    const struct tpl_token *t = tpl_ps_tok(p);
    switch (t->type) {
    case TK_EQ: *op = OP_EQ; break;
    case TK_NE: *op = OP_NE; break;
    case TK_LT: *op = OP_LT; break;
    case TK_LE: *op = OP_LE; break;
    case TK_GT: *op = OP_GT; break;
    case TK_GE: *op = OP_GE; break;
    default:
        if (tpl_ps_is_name(t, "in")) {
            *op = OP_IN;
        } else if (tpl_ps_is_name(t, "not") && p->pos + 1 < p->n &&
                   tpl_ps_is_name(&p->t[p->pos + 1], "in")) {
            *op = OP_NOTIN;
            tpl_ps_next(p);
        } else {
            return false;
        }
    }
    tpl_ps_next(p);
    return true;
}

static struct tpl_expr *tpl_ps_math1(struct tpl_parser *p)
{
    struct tpl_expr *e = tpl_ps_concat(p);
    while (e && (tpl_ps_tok(p)->type == TK_ADD || tpl_ps_tok(p)->type == TK_SUB))
        e = tpl_ps_binary(p, e, EX_BINOP, tpl_ps_tok(p)->type == TK_ADD ? OP_ADD : OP_SUB,
                          tpl_ps_concat);
    return e;
}

/* Jinja2's optimizer evaluates constant expressions at compile time, and its
 * constant "~" joins with str(), dropping Markup: '<' ~ '<b>'|safe is the
 * plain string "<<b>" (escaped on output), while with variables the result
 * is Markup. Mark such concatenations so rendering can do the same. */
static bool tpl_ps_is_static(const struct tpl_expr *e)
{
    switch (e->kind) {
    case EX_CONST: return true;
    case EX_NOT: case EX_NEG: case EX_POS: return tpl_ps_is_static(e->a);
    case EX_CONCAT: case EX_BINOP: case EX_AND: case EX_OR:
        return tpl_ps_is_static(e->a) && tpl_ps_is_static(e->b);
    case EX_LIST: case EX_FILTER:
        if (e->kind == EX_FILTER && !tpl_ps_is_static(e->a))
            return false;
        for (size_t i = 0; i < e->n_args; i++)
            if (e->args[i] && !tpl_ps_is_static(e->args[i]))
                return false;
        return true;
    default: return false;
    }
}

static struct tpl_expr *tpl_ps_concat(struct tpl_parser *p)
{
    struct tpl_expr *e = tpl_ps_math2(p);
    while (e && tpl_ps_tok(p)->type == TK_TILDE) {
        e = tpl_ps_binary(p, e, EX_CONCAT, OP_EQ, tpl_ps_math2);
        if (e)
            e->folds = tpl_ps_is_static(e);
    }
    return e;
}

static struct tpl_expr *tpl_ps_math2(struct tpl_parser *p)
{
    struct tpl_expr *e = tpl_ps_pow(p);
    for (;;) {
        if (!e)
            return NULL;
        enum tpl_tok t = tpl_ps_tok(p)->type;
        if (t == TK_MUL)
            e = tpl_ps_binary(p, e, EX_BINOP, OP_MUL, tpl_ps_pow);
        else if (t == TK_FLOORDIV)
            e = tpl_ps_binary(p, e, EX_BINOP, OP_FLOORDIV, tpl_ps_pow);
        else if (t == TK_MOD)
            e = tpl_ps_binary(p, e, EX_BINOP, OP_MOD, tpl_ps_pow);
        else if (t == TK_DIV)
            return tpl_ps_fail(p, tpl_ps_tok(p),
                               "\"/\" (true division) is not supported, use \"//\"");
        else
            return e;
    }
}

static struct tpl_expr *tpl_ps_pow(struct tpl_parser *p)
{
    struct tpl_expr *e = tpl_ps_unary(p, true);
    if (e && tpl_ps_tok(p)->type == TK_POW)
        return tpl_ps_fail(p, tpl_ps_tok(p), "\"**\" is not supported");
    return e;
}

static struct tpl_expr *tpl_ps_unary(struct tpl_parser *p, bool with_filter)
{
    const struct tpl_token *t = tpl_ps_tok(p);
    struct tpl_expr *e;
    if (t->type == TK_SUB || t->type == TK_ADD) {
        if (++p->nest > TPL_NEST_MAX)
            return tpl_ps_fail(p, t, "expression nested too deeply");
        tpl_ps_next(p);
        e = tpl_ps_expr_new(p, t->type == TK_SUB ? EX_NEG : EX_POS, t);
        if (!e || !(e->a = tpl_ps_unary(p, false)))
            return NULL;
        p->nest--;
    } else if (!(e = tpl_ps_primary(p))) {
        return NULL;
    }
    if (!(e = tpl_ps_postfix(p, e)))
        return NULL;
    return with_filter ? tpl_ps_filters(p, e) : e;
}

static struct tpl_expr *tpl_ps_primary(struct tpl_parser *p)
{
    const struct tpl_token *t = tpl_ps_tok(p);
    char buf[64];
    struct tpl_expr *e;
    switch (t->type) {
    case TK_NAME:
        return tpl_ps_name(p, t);
    case TK_STRING:
        return tpl_ps_strings(p, t);
    case TK_INT:
        tpl_ps_next(p);
        if ((e = tpl_ps_expr_new(p, EX_CONST, t)))
            e->cval = tpl_int(t->i);
        return e;
    case TK_LPAREN:
        tpl_ps_next(p);
        if (!(e = tpl_ps_expr(p, true)))
            return NULL;
        if (tpl_ps_tok(p)->type == TK_COMMA)
            return tpl_ps_fail(p, tpl_ps_tok(p), "tuples are not supported, use a list");
        return tpl_ps_expect(p, TK_RPAREN, "\")\"") ? e : NULL;
    case TK_LBRACKET:
        tpl_ps_next(p);
        return (e = tpl_ps_expr_new(p, EX_LIST, t)) ? tpl_ps_seq(p, e, TK_RBRACKET, false) : NULL;
    case TK_LBRACE:
        tpl_ps_next(p);
        return (e = tpl_ps_expr_new(p, EX_DICT, t)) ? tpl_ps_seq(p, e, TK_RBRACE, true) : NULL;
    default:
        return tpl_ps_fail(p, t, "expected an expression, got %s",
                           tpl_ps_tok_desc(t, buf, sizeof buf));
    }
}

/* A name: true/false/none in any of Jinja2's spellings, else a variable. */
static struct tpl_expr *tpl_ps_name(struct tpl_parser *p, const struct tpl_token *t)
{
    struct tpl_expr *e;
    tpl_ps_next(p);
    if (!(e = tpl_ps_expr_new(p, EX_CONST, t)))
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
}

/* One or more adjacent string literals: 'a' 'b' is 'ab', as in Python. */
static struct tpl_expr *tpl_ps_strings(struct tpl_parser *p, const struct tpl_token *t)
{
    struct str s = t->s;
    while (tpl_ps_next(p)->type == TK_STRING) {
        char *c = arena_alloc(p->a, s.len + tpl_ps_tok(p)->s.len + 1);
        if (!c)
            return tpl_ps_fail(p, t, "out of memory");
        memcpy(c, s.p, s.len);
        memcpy(c + s.len, tpl_ps_tok(p)->s.p, tpl_ps_tok(p)->s.len);
        s = (struct str){ c, s.len + tpl_ps_tok(p)->s.len };
    }
    struct tpl_expr *e = tpl_ps_expr_new(p, EX_CONST, t);
    if (e)
        e->cval = tpl_str(s);
    return e;
}

/* [a, b, ...] or {k: v, ...} after the opening bracket. */
static struct tpl_expr *tpl_ps_seq(struct tpl_parser *p, struct tpl_expr *e, enum tpl_tok close,
                                   bool pairs)
{
    size_t cap = 0;
    while (tpl_ps_tok(p)->type != close) {
        if (e->n_args && !tpl_ps_expect(p, TK_COMMA, "\",\""))
            return NULL;
        if (tpl_ps_tok(p)->type == close)
            break;
        struct tpl_expr *item = tpl_ps_expr(p, true);
        if (!item || !tpl_ps_push_arg(p, e, item, STR_NULL, &cap))
            return NULL;
        if (pairs) {
            if (!tpl_ps_expect(p, TK_COLON, "\":\""))
                return NULL;
            if (!(item = tpl_ps_expr(p, true)) || !tpl_ps_push_arg(p, e, item, STR_NULL, &cap))
                return NULL;
        }
    }
    tpl_ps_next(p);
    e->n_pos = e->n_args;
    return e;
}

static struct tpl_expr *tpl_ps_postfix(struct tpl_parser *p, struct tpl_expr *e)
{
    for (;;) {
        const struct tpl_token *t = tpl_ps_tok(p);
        if (t->type == TK_DOT) {
            if (!(e = tpl_ps_dot(p, e)))
                return NULL;
        } else if (t->type == TK_LBRACKET) {
            tpl_ps_next(p);
            struct tpl_expr *x = tpl_ps_expr_new(p, EX_ITEM, t);
            if (!x || !(x->b = tpl_ps_expr(p, true)))
                return NULL;
            if (tpl_ps_tok(p)->type == TK_COLON)
                return tpl_ps_fail(p, tpl_ps_tok(p), "slices are not supported");
            if (!tpl_ps_expect(p, TK_RBRACKET, "\"]\""))
                return NULL;
            x->a = e;
            e = x;
        } else if (t->type == TK_LPAREN) {
            if (!(e = tpl_ps_call(p, e)))
                return NULL;
        } else {
            return e;
        }
    }
}

/* e.name, or e.0 (an item, as Jinja2 reads it). */
static struct tpl_expr *tpl_ps_dot(struct tpl_parser *p, struct tpl_expr *e)
{
    char buf[64];
    const struct tpl_token *attr = tpl_ps_next(p);
    struct tpl_expr *x;
    if (attr->type == TK_NAME) {
        if (!(x = tpl_ps_expr_new(p, EX_ATTR, attr)))
            return NULL;
        x->name = attr->s;
    } else if (attr->type == TK_INT) {
        if (!(x = tpl_ps_expr_new(p, EX_ITEM, attr)) ||
            !(x->b = tpl_ps_expr_new(p, EX_CONST, attr)))
            return NULL;
        x->b->cval = tpl_int(attr->i);
    } else {
        return tpl_ps_fail(p, attr, "expected an attribute name after \".\", got %s",
                    tpl_ps_tok_desc(attr, buf, sizeof buf));
    }
    tpl_ps_next(p);
    x->a = e;
    return x;
}

/* Calls are resolved now: only the known functions exist. */
static struct tpl_expr *tpl_ps_call(struct tpl_parser *p, struct tpl_expr *callee)
{
    const struct tpl_token *at = tpl_ps_tok(p);
    struct tpl_expr *e = tpl_ps_expr_new(p, EX_URL_FOR, at);
    if (!e || !tpl_ps_call_kind(p, callee, e, at))
        return NULL;
    e->line = callee->line;
    e->col = callee->col;
    tpl_ps_next(p);
    if (!tpl_ps_args(p, e, e->kind == EX_URL_FOR))
        return NULL;
    size_t n_kw = e->n_args - e->n_pos;
    switch (e->kind) {
    case EX_URL_FOR:
        if (e->n_pos != 1)
            return tpl_ps_fail(p, at, "url_for() takes the endpoint and keyword arguments");
        break;
    case EX_FLASHES:
        /* Flask's get_flashed_messages(with_categories=False, category_filter=()):
         * the filter is not supported. */
        if (e->n_args > 1 || (n_kw == 1 && !str_eq_c(e->kw[0], "with_categories")))
            return tpl_ps_fail(p, at, "get_flashed_messages() takes only with_categories");
        break;
    case EX_SUPER:
        if (e->n_args)
            return tpl_ps_fail(p, at, "%.*s() takes no arguments", STR_FMT(callee->name));
        break;
    case EX_RANGE:
        if (n_kw || e->n_pos < 1 || e->n_pos > 3)
            return tpl_ps_fail(p, at, "range() takes 1 to 3 arguments");
        break;
    default:
        if (n_kw || e->n_pos < 1)
            return tpl_ps_fail(p, at, "loop.cycle() takes at least one argument");
        break;
    }
    return e;
}

/* Which known function callee names: e->kind (and e->a for loop.cycle). */
static bool tpl_ps_call_kind(struct tpl_parser *p, const struct tpl_expr *callee,
                             struct tpl_expr *e, const struct tpl_token *at)
{
    struct str fn = callee->name;
    struct tpl_token pos = { TK_NAME, callee->line, callee->col, fn, 0 };
    bool named = callee->kind == EX_NAME;
    if (named && str_eq_c(fn, "url_for")) {
        e->kind = EX_URL_FOR;
    } else if (named && str_eq_c(fn, "get_flashed_messages")) {
        e->kind = EX_FLASHES;
    } else if (named && str_eq_c(fn, "super")) {
        if (!p->in_block)
            return tpl_ps_fail(p, &pos, "super() used outside of a block");
        e->kind = EX_SUPER;
    } else if (named && str_eq_c(fn, "range")) {
        e->kind = EX_RANGE;
    } else if (callee->kind == EX_ATTR && str_eq_c(fn, "cycle") && callee->a->kind == EX_NAME &&
               str_eq_c(callee->a->name, "loop")) {
        e->kind = EX_CYCLE;
        e->a = callee->a;
    } else if (named || callee->kind == EX_ATTR) {
        return tpl_ps_fail(p, &pos, "unknown function \"%.*s\"", STR_FMT(fn));
    } else {
        return tpl_ps_fail(p, at, "only url_for, get_flashed_messages, super, range and loop.cycle "
                           "can be called");
    }
    return true;
}

/* (arg, ..., name=value, ...) after the "("; positional before keywords. */
static bool tpl_ps_args(struct tpl_parser *p, struct tpl_expr *e, bool allow_kw)
{
    size_t cap = 0;
    (void)allow_kw;
    while (tpl_ps_tok(p)->type != TK_RPAREN) {
        if (e->n_args && !tpl_ps_expect(p, TK_COMMA, "\",\" or \")\""))
            return false;
        if (tpl_ps_tok(p)->type == TK_RPAREN)
            break;
        struct str kw = STR_NULL;
        if (tpl_ps_tok(p)->type == TK_NAME && p->pos + 1 < p->n &&
            p->t[p->pos + 1].type == TK_ASSIGN) {
            kw = tpl_ps_tok(p)->s;
            tpl_ps_next(p);
            tpl_ps_next(p);
        } else if (e->n_args > e->n_pos) {
            tpl_ps_fail(p, tpl_ps_tok(p), "positional argument after keyword argument");
            return false;
        }
        struct tpl_expr *arg = tpl_ps_expr(p, true);
        if (!arg || !tpl_ps_push_arg(p, e, arg, kw, &cap))
            return false;
        if (!kw.p)
            e->n_pos = e->n_args;
    }
    tpl_ps_next(p);
    return true;
}

/* Any number of "|filter(args)" and "is [not] test args" after e. */
static struct tpl_expr *tpl_ps_filters(struct tpl_parser *p, struct tpl_expr *e)
{
    while (e) {
        const struct tpl_token *t = tpl_ps_tok(p);
        if (t->type == TK_PIPE)
            e = tpl_ps_filter(p, e);
        else if (tpl_ps_is_name(t, "is"))
            e = tpl_ps_test(p, e, t);
        else
            return e;
    }
    return NULL;
}

static struct tpl_expr *tpl_ps_filter(struct tpl_parser *p, struct tpl_expr *e)
{
    char buf[64];
    const struct tpl_token *name = tpl_ps_next(p);
    if (name->type != TK_NAME)
        return tpl_ps_fail(p, name, "expected a filter name, got %s",
                           tpl_ps_tok_desc(name, buf, sizeof buf));
    const struct tpl_filter *f = tpl_filter_find(name->s);
    if (!f)
        return tpl_ps_fail(p, name, "unknown filter \"%.*s\"", STR_FMT(name->s));
    struct tpl_expr *x = tpl_ps_expr_new(p, EX_FILTER, name);
    if (!x)
        return NULL;
    x->a = e;
    x->name = name->s;
    x->filter = f;
    if (tpl_ps_next(p)->type == TK_LPAREN) {
        tpl_ps_next(p);
        if (!tpl_ps_args(p, x, true))
            return NULL;
    }
    return tpl_ps_filter_slots(p, x, name) ? x : NULL;
}

/* "is [not] name", then its argument: in parentheses, or one bare primary
 * ("is divisibleby 3"), as Jinja2 allows. */
static struct tpl_expr *tpl_ps_test(struct tpl_parser *p, struct tpl_expr *e,
                                    const struct tpl_token *is)
{
    char buf[64];
    struct tpl_expr *x = tpl_ps_expr_new(p, EX_TEST, is);
    if (!x)
        return NULL;
    if (tpl_ps_is_name(tpl_ps_next(p), "not")) {
        x->negate = true;
        tpl_ps_next(p);
    }
    const struct tpl_token *name = tpl_ps_tok(p);
    if (name->type != TK_NAME)
        return tpl_ps_fail(p, name, "expected a test name, got %s",
                           tpl_ps_tok_desc(name, buf, sizeof buf));
    const struct tpl_test *test = tpl_test_find(name->s);
    if (!test)
        return tpl_ps_fail(p, name, "unknown test \"%.*s\"", STR_FMT(name->s));
    x->test = test;
    x->name = name->s;
    x->a = e;
    if (!tpl_ps_test_arg(p, x))
        return NULL;
    if (x->n_args != test->n_args || x->n_pos != x->n_args)
        return tpl_ps_fail(p, name, "test \"%s\" takes %u argument%s", test->name, test->n_args,
                    test->n_args == 1 ? "" : "s");
    return x;
}

static bool tpl_ps_test_arg(struct tpl_parser *p, struct tpl_expr *x)
{
    const struct tpl_token *arg = tpl_ps_next(p);
    size_t cap = 0;
    if (arg->type == TK_LPAREN) {
        tpl_ps_next(p);
        return tpl_ps_args(p, x, false);
    }
    bool bare = arg->type == TK_INT || arg->type == TK_STRING || arg->type == TK_LBRACKET ||
                (arg->type == TK_NAME && !tpl_ps_is_name(arg, "else") &&
                 !tpl_ps_is_name(arg, "and") && !tpl_ps_is_name(arg, "or"));
    if (!x->test->n_args || !bare)
        return true;
    struct tpl_expr *v = tpl_ps_primary(p);
    if (!v || !(v = tpl_ps_postfix(p, v)) || !tpl_ps_push_arg(p, x, v, STR_NULL, &cap))
        return false;
    x->n_pos = 1;
    return true;
}

/* ---- helpers ---- */

/* Keywords are matched to parameters now, so that rendering is positional:
 * afterwards args[i] is parameter i, NULL when not given. */
static bool tpl_ps_filter_slots(struct tpl_parser *p, struct tpl_expr *x,
                                const struct tpl_token *name)
{
    const struct tpl_filter *f = x->filter;
    if (x->n_pos > f->max_args) {
        tpl_ps_fail(p, name, "filter \"%s\" takes at most %u argument%s", f->name, f->max_args,
             f->max_args == 1 ? "" : "s");
        return false;
    }
    struct tpl_expr **slots = f->max_args ? arena_calloc(p->a, f->max_args, sizeof *slots) : NULL;
    if (f->max_args && !slots) {
        tpl_ps_fail(p, name, "out of memory");
        return false;
    }
    for (size_t i = 0; i < x->n_args; i++) {
        unsigned idx = (unsigned)i;
        if (i >= x->n_pos) {
            idx = 0;
            while (idx < f->max_args && !str_eq_c(x->kw[i], f->params[idx]))
                idx++;
            if (idx == f->max_args || slots[idx]) {
                tpl_ps_fail(p, name, idx == f->max_args ? "filter \"%s\" has no argument \"%.*s\""
                                                 : "filter \"%s\" got argument \"%.*s\" twice",
                     f->name, STR_FMT(x->kw[i]));
                return false;
            }
        }
        slots[idx] = x->args[i];
    }
    for (unsigned i = 0; i < f->min_args; i++) {
        if (!slots[i]) {
            tpl_ps_fail(p, name, "filter \"%s\" needs argument \"%s\"", f->name, f->params[i]);
            return false;
        }
    }
    x->args = slots;
    x->n_args = x->n_pos = f->max_args;
    return true;
}

static bool tpl_ps_push_arg(struct tpl_parser *p, struct tpl_expr *e, struct tpl_expr *arg,
                            struct str kw, size_t *cap)
{
    if (e->n_args == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        struct tpl_expr **v = arena_realloc(p->a, e->args, *cap * sizeof *v, c * sizeof *v);
        struct str *k = arena_realloc(p->a, e->kw, *cap * sizeof *k, c * sizeof *k);
        if (!v || !k) {
            tpl_ps_fail(p, tpl_ps_tok(p), "out of memory");
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

static struct tpl_expr *tpl_ps_expr_new(struct tpl_parser *p, enum tpl_ex kind,
                                        const struct tpl_token *at)
{
    struct tpl_expr *e = arena_calloc(p->a, 1, sizeof *e);
    if (!e)
        return tpl_ps_fail(p, at, "out of memory");
    e->kind = kind;
    e->line = at->line;
    e->col = at->col;
    e->autoescape = p->autoescape;
    return e;
}

static struct tpl_node *tpl_ps_node_new(struct tpl_parser *p, enum tpl_nd kind,
                                        const struct tpl_token *at)
{
    struct tpl_node *n = arena_calloc(p->a, 1, sizeof *n);
    if (!n)
        return tpl_ps_fail(p, at, "out of memory");
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    n->autoescape = p->autoescape;
    return n;
}

static const struct tpl_token *tpl_ps_tok(const struct tpl_parser *p)
{
    return &p->t[p->pos];
}

/* Advance (never past EOF) and return the new current token. */
static const struct tpl_token *tpl_ps_next(struct tpl_parser *p)
{
    if (p->pos + 1 < p->n)
        p->pos++;
    return &p->t[p->pos];
}

static bool tpl_ps_is_name(const struct tpl_token *t, const char *s)
{
    return t->type == TK_NAME && str_eq_c(t->s, s);
}

static bool tpl_ps_expect(struct tpl_parser *p, enum tpl_tok type, const char *what)
{
    char buf[64];
    if (tpl_ps_tok(p)->type != type) {
        tpl_ps_fail(p, tpl_ps_tok(p), "expected %s, got %s", what,
                    tpl_ps_tok_desc(tpl_ps_tok(p), buf, sizeof buf));
        return false;
    }
    tpl_ps_next(p);
    return true;
}

static bool tpl_ps_expect_end(struct tpl_parser *p, const char *tag)
{
    char buf[64];
    if (tpl_ps_tok(p)->type != TK_BLOCK_END) {
        tpl_ps_fail(p, tpl_ps_tok(p), "expected end of {%% %s %%} tag \"%%}\", got %s", tag,
             tpl_ps_tok_desc(tpl_ps_tok(p), buf, sizeof buf));
        return false;
    }
    tpl_ps_next(p);
    return true;
}

static void *tpl_ps_fail(struct tpl_parser *p, const struct tpl_token *at, const char *fmt, ...)
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

static const char *tpl_ps_tok_desc(const struct tpl_token *t, char *buf, size_t len)
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
