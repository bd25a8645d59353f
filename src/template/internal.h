/*
 * template/internal.h - declarations shared by the files of src/template only.
 * Owns: the token, expression and statement node types, the compiled template
 *   and set structs, and the helpers each file exports to the others.
 * Invariants: every node of a set lives in the set's arena, which is created by
 *   tpl_set_load/tpl_set_from_strings and released by tpl_set_free; nothing in a
 *   compiled set is written after loading (workers share it copy-on-write).
 * Never include this from outside src/template.
 */
#ifndef TASKLIST_TEMPLATE_INTERNAL_H
#define TASKLIST_TEMPLATE_INTERNAL_H

#include <stdint.h>

#include "template.h"

/* Values that only exist while rendering; never handed to hooks. */
#define TPL_UNDEF ((enum tpl_type)(TPL_MAP + 1)) /* u.s = the missing name, for messages */
#define TPL_LOOP ((enum tpl_type)(TPL_MAP + 2))  /* u.list.items = (struct tpl_loop *) */
#define TPL_MISSING ((enum tpl_type)(TPL_MAP + 3)) /* a filter argument not given */

/* The loop object of {% for %} (a TPL_LOOP value points at it). */
struct tpl_loop {
    size_t index0, length;
    const struct tpl_value *items;  /* the (filtered) items, for previtem/nextitem */
};

/* Limits that keep hostile templates (and the fuzzer) off the C stack. */
#define TPL_NEST_MAX 96     /* statement and expression nesting while parsing */
#define TPL_DEPTH_MAX 48    /* extends/include/block/super depth while rendering */

/* ---- tokens ---- */
enum tpl_tok {
    TK_EOF,
    TK_TEXT,
    TK_VAR_BEGIN, TK_VAR_END, TK_BLOCK_BEGIN, TK_BLOCK_END,
    TK_NAME, TK_STRING, TK_INT,
    TK_DOT, TK_COMMA, TK_COLON, TK_PIPE, TK_TILDE, TK_ASSIGN,
    TK_LPAREN, TK_RPAREN, TK_LBRACKET, TK_RBRACKET, TK_LBRACE, TK_RBRACE,
    TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE,
    TK_ADD, TK_SUB, TK_MUL, TK_DIV, TK_FLOORDIV, TK_MOD, TK_POW,
    TK__MAX
};

struct tpl_token {
    enum tpl_tok type;
    unsigned line, col;
    struct str s;      /* TK_TEXT: text; TK_NAME: name; TK_STRING: decoded value */
    long long i;       /* TK_INT */
};

struct tpl_tokens {
    struct tpl_token *v;
    size_t n, cap;
};

/* ---- expressions ---- */
enum tpl_ex {
    EX_CONST, EX_NAME, EX_ATTR, EX_ITEM, EX_LIST, EX_DICT,
    EX_NOT, EX_NEG, EX_POS, EX_AND, EX_OR, EX_BINOP, EX_CONCAT, EX_COMPARE,
    EX_COND, EX_FILTER, EX_TEST,
    EX_URL_FOR, EX_FLASHES, EX_SUPER, EX_RANGE, EX_CYCLE,
};

/* Comparison operators of EX_COMPARE (ops[]) and arithmetic of EX_BINOP (op). */
enum tpl_op {
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN,
    OP_ADD, OP_SUB, OP_MUL, OP_FLOORDIV, OP_MOD,
};

struct tpl_filter;
struct tpl_test;

struct tpl_expr {
    enum tpl_ex kind;
    enum tpl_op op;
    bool autoescape;            /* of the template the expression is in */
    unsigned line, col;
    struct tpl_value cval;      /* EX_CONST */
    struct str name;            /* EX_NAME, EX_ATTR, filter/test name */
    struct tpl_expr *a, *b, *c; /* operands: a.b / a[b] / b if a else c ... */
    struct tpl_expr **args;     /* list items, dict k,v pairs, filter/call args, compare operands */
    struct str *kw;             /* kw[i] names args[n_pos + i] */
    enum tpl_op *ops;           /* EX_COMPARE: n_args - 1 operators */
    size_t n_args, n_pos;
    const struct tpl_filter *filter;
    const struct tpl_test *test;
    bool negate;                /* "is not" */
    bool folds;                 /* EX_CONCAT of constants: Jinja2 folds it to a plain str */
};

/* ---- statements ---- */
enum tpl_nd {
    ND_TEXT, ND_OUTPUT, ND_IF, ND_FOR, ND_SET, ND_SET_BLOCK, ND_BLOCK, ND_EXTENDS,
    ND_INCLUDE, ND_CACHE,
};

struct tpl_template;

struct tpl_node {
    enum tpl_nd kind;
    bool autoescape;
    unsigned line, col;
    struct tpl_node *next;
    struct str text;              /* ND_TEXT */
    struct tpl_expr *expr;        /* OUTPUT value, IF/for-if condition, FOR iterable, SET value,
                                   * EXTENDS/INCLUDE target */
    struct tpl_expr *cond;        /* FOR ... if cond */
    struct tpl_node *body, *orelse;
    struct str name;              /* FOR target, SET name, BLOCK name */
    struct tpl_expr **args;       /* CACHE: timeout, name, vary... */
    size_t n_args;
    struct tpl_node **frags;      /* FOR: cache tags of the body (not in nested fors) */
    size_t n_frags;
    bool frag_keys_stable;        /* FOR: no {% set %} in the body can change a fragment key */
    bool ignore_missing;          /* INCLUDE */
    bool scoped;                  /* BLOCK */
    const struct tpl_template *target; /* EXTENDS/INCLUDE with a literal name, set at load */
    const struct tpl_template *owner; /* BLOCK: template it was defined in */
};

struct tpl_template {
    char *name;
    bool autoescape;
    struct tpl_node *body;
    struct tpl_node **blocks;     /* every block of the template, any depth */
    size_t n_blocks;
};

struct tpl_set {
    struct arena *arena;
    struct tpl_template **t;
    size_t n;
};

/* ---- filters and tests (filters.c) ---- */
struct tpl_rctx;
typedef enum tl_err (*tpl_filter_fn)(struct tpl_rctx *r, const struct tpl_expr *e,
                                     const struct tpl_value *in, const struct tpl_value *args,
                                     struct tpl_value *out);
struct tpl_filter {
    const char *name;
    tpl_filter_fn fn;
    unsigned min_args, max_args;
    const char *const *params;    /* names of the arguments, for keywords */
};
typedef enum tl_err (*tpl_test_fn)(struct tpl_rctx *r, const struct tpl_expr *e,
                                   const struct tpl_value *in, const struct tpl_value *args,
                                   bool *out);
struct tpl_test {
    const char *name;
    tpl_test_fn fn;
    unsigned n_args;
};

const struct tpl_filter *tpl_filter_find(struct str name);
const struct tpl_test *tpl_test_find(struct str name);

/* HTML-escaped copy of s in the arena (s itself when nothing needs escaping). */
struct str tpl_escape(struct arena *a, struct str s);

/* ---- lexer.c ---- */
/* Tokenize src (already newline-normalized) of template name; false with d. */
bool tpl_lex(const char *name, struct str src, struct arena *a, struct tpl_tokens *out,
             struct tl_diag *d);
/* Normalize \r\n and \r to \n and drop one trailing newline, as Jinja2 does.
 * Returns an arena copy. */
struct str tpl_normalize_source(struct arena *a, struct str src);

/* ---- parser.c ---- */
struct tpl_template *tpl_parse(const char *name, const struct tpl_tokens *toks, struct arena *a,
                               struct tl_diag *d);
/* Autoescaping by file name, as Flask selects it. */
bool tpl_name_autoescapes(const char *name);

/* ---- value.c ---- */
bool tpl_truthy(const struct tpl_value *v);
/* Python's str(v), written as text (no escaping). */
void tpl_write_str(struct strbuf *sb, const struct tpl_value *v);
/* str(v) as a struct str: no copy for strings, arena for the rest. */
struct str tpl_to_str(struct arena *a, const struct tpl_value *v);
bool tpl_equal(const struct tpl_value *x, const struct tpl_value *y);
/* Python ordering; false when the types do not order (Jinja2 raises TypeError). */
bool tpl_order(const struct tpl_value *x, const struct tpl_value *y, int *cmp);
const char *tpl_type_name(const struct tpl_value *v);
/* Python's str.isspace over UTF-8 text (code-point counts: utf8_len of base/utf8.h). */
bool tpl_is_space_at(struct str s, size_t i, size_t *n);
bool tpl_is_space_before(struct str s, size_t end, size_t *n);

/* ---- set.c ---- */
const struct tpl_template *tpl_set_find(const struct tpl_set *set, struct str name);

/* ---- rendering: render.c (statements, scopes), eval.c (expressions),
 * frag.c (the {% cache %} protocol) ---- */
struct tpl_rctx {
    const struct tpl_set *set;
    const struct tpl_hooks *hooks;
    struct arena *a;
    struct tl_diag *d;
    const char *tname;           /* template being rendered, for messages */
    unsigned depth;
    bool quiet;                  /* speculative evaluation: errors leave d alone */
};
enum tl_err tpl_rt_error(struct tpl_rctx *r, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static inline bool tpl_is_text(const struct tpl_value *v)
{
    return v->type == TPL_STR || v->type == TPL_SAFE;
}
static inline bool tpl_is_num(const struct tpl_value *v)
{
    return v->type == TPL_INT || v->type == TPL_BOOL;
}
static inline long long tpl_num(const struct tpl_value *v)
{
    return v->type == TPL_INT ? v->u.i : v->u.b;
}

struct tpl_binding {
    struct tpl_binding *next;
    struct str name;
    struct tpl_value v;
    bool live;
};

/* A scope: bindings of a loop iteration, a block or an include; the
 * outermost frame also holds the caller's variables. */
struct tpl_frame {
    struct tpl_frame *parent;
    struct tpl_binding *b;
    const struct tpl_value *vars;
};

struct tpl_inst;
struct tpl_prefetch;   /* frag.c's, below */

/* The fragments a render had to build, handed to frags.store at its end.
 * One per tpl_render call, shared by its includes. */
struct tpl_frag_misses {
    struct tpl_frag *v;
    size_t n, cap;
};

struct tpl_render {
    struct tpl_rctx r;
    struct strbuf *out;
    struct tpl_frame *frame;
    struct tpl_inst *inst;
    bool toplevel;                 /* running a template's body, not a block */
    const struct tpl_node *block;  /* block definition being rendered, for super() */
    struct tpl_prefetch *pf;       /* the innermost loop's prefetched fragments */
    struct tpl_frag_misses *misses;
};

typedef enum tl_err (*tpl_exec_fn)(struct tpl_render *st, const struct tpl_node *n);

/* render.c */
enum tl_err tpl_exec_list(struct tpl_render *st, const struct tpl_node *n);
/* Render block definition def in its own scope (blocks, super()). */
enum tl_err tpl_exec_block(struct tpl_render *st, const struct tpl_node *def);
/* First definition of block name at inheritance level >= from, or NULL. */
const struct tpl_node *tpl_find_block(const struct tpl_render *st, struct str name, size_t from);
/* Level of template t in the current inheritance chain. */
size_t tpl_chain_level(const struct tpl_render *st, const struct tpl_template *t);
/* Run exec(st, n) with its output captured in a new arena buffer (size_hint
 * bytes to start) instead of st->out; *text is what it wrote. exec's error,
 * or TL_ENOMEM when the buffer ran out; st->out is restored either way. */
enum tl_err tpl_capture(struct tpl_render *st, tpl_exec_fn exec, const struct tpl_node *n,
                        size_t size_hint, struct str *text);
/* The innermost binding of name, or NULL (Undefined). */
const struct tpl_value *tpl_scope_lookup(const struct tpl_render *st, struct str name);

/* eval.c */
enum tl_err tpl_eval(struct tpl_render *st, const struct tpl_expr *e, struct tpl_value *out);

/* frag.c */
/* Before a {% for %} with cache tags: evaluate every item's keys and fetch
 * them with one get_multi into *pf; st->pf is not changed. The loop's own
 * frame f (with var = the loop variable, loop = its loop object) is used to
 * evaluate the keys. */
enum tl_err tpl_frag_prefetch(struct tpl_render *st, const struct tpl_node *n,
                              const struct tpl_value *items, size_t n_items, struct tpl_frame *f,
                              struct tpl_binding *var, struct tpl_loop *loop,
                              struct tpl_prefetch *pf);
/* A loop's prefetched fragments (on the loop's C stack; arrays in the
 * arena): n_frags entries per item, entry k = item * n_frags + tag. */
struct tpl_prefetch {
    const struct tpl_node *loop;
    size_t iter;
    struct str *keys, *values;
    bool *found, *valid;
    size_t *root;                  /* first entry with the same key (itself if none) */
    long *timeouts;
};
/* {% cache %}: output the fragment, or render its body and record the miss. */
enum tl_err tpl_exec_cache(struct tpl_render *st, const struct tpl_node *n);
/* End of tpl_render: one frags.store call with the misses, if any. */
void tpl_frag_store_misses(struct tpl_render *st);

#endif
