/*
 * template/render.c - executing a compiled template's statements into a strbuf.
 * Owns: tpl_render, scopes (frames of bindings), template inheritance at
 *   render time (the block chain, output suppressed after {% extends %}),
 *   includes, loops and the loop object, {% set %}, autoescaped output, and
 *   output capture (tpl_capture). Expressions are eval.c's, the {% cache %}
 *   protocol frag.c's.
 * Invariants: allocates only from the caller's arena (frames and bindings of
 *   loops live on the C stack; {% set %} bindings and computed strings in the
 *   arena); a plain string value is never copied on its way to the output.
 * Context: workers (and tests, benchmarks, the fuzzer).
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

#define TPL_CHAIN_MAX 16

/* One template invocation (tpl_render or an include): its inheritance chain. */
struct tpl_inst {
    const struct tpl_template *chain[TPL_CHAIN_MAX];
    size_t n_chain;
    struct tpl_frame *ctx;         /* the context frame blocks see */
    bool extended;                 /* an {% extends %} ran: top-level output is off */
};

static enum tl_err tpl_render_template(struct tpl_render *st, const struct tpl_template *t);
static enum tl_err tpl_exec_node(struct tpl_render *st, const struct tpl_node *n);
static enum tl_err tpl_exec_block_ref(struct tpl_render *st, const struct tpl_node *n);
static enum tl_err tpl_exec_if(struct tpl_render *st, const struct tpl_node *n);
static enum tl_err tpl_exec_set_block(struct tpl_render *st, const struct tpl_node *n);
static enum tl_err tpl_exec_for(struct tpl_render *st, const struct tpl_node *n);
static enum tl_err tpl_for_filter(struct tpl_render *st, const struct tpl_node *n,
                                  struct tpl_frame *f, struct tpl_binding *var,
                                  const struct tpl_value **items, size_t *n_items);
static enum tl_err tpl_for_body(struct tpl_render *st, const struct tpl_node *n,
                                struct tpl_frame *f, struct tpl_binding *var,
                                struct tpl_loop *loop);
static enum tl_err tpl_exec_include(struct tpl_render *st, const struct tpl_node *n);
static enum tl_err tpl_exec_extends(struct tpl_render *st, const struct tpl_node *n);
static enum tl_err tpl_emit(struct tpl_render *st, const struct tpl_value *v, bool autoescape);
static enum tl_err tpl_iterate(struct tpl_render *st, const struct tpl_expr *e,
                               const struct tpl_value *v, const struct tpl_value **items,
                               size_t *n);
static enum tl_err tpl_scope_bind(struct tpl_render *st, struct str name,
                                  const struct tpl_value *v);

enum tl_err tpl_render(const struct tpl_set *set, const char *name, const struct tpl_value *vars,
                       const struct tpl_hooks *hooks, struct arena *a, struct strbuf *out,
                       struct tl_diag *d)
{
    struct tpl_frag_misses misses = { 0 };
    struct tpl_render st = { .r = { .set = set, .hooks = hooks, .a = a, .d = d, .tname = name },
                             .out = out, .misses = &misses };
    const struct tpl_template *t = set ? tpl_set_find(set, str_c(name)) : NULL;
    if (!t) {
        tl_diag_set(d, name, 0, 0, "template \"%s\" not found", name ? name : "(null)");
        return TL_EINVAL;
    }
    struct tpl_frame root = { .vars = vars };
    struct tpl_inst inst = { .ctx = &root };
    st.frame = &root;
    st.inst = &inst;
    enum tl_err err = tpl_render_template(&st, t);
    tpl_frag_store_misses(&st);   /* what completed is good, even after an error */
    if (err == TL_OK && out->oom)
        err = TL_ENOMEM;
    return err;
}

/* The body of t, then (after an {% extends %}) the bodies of its ancestors. */
static enum tl_err tpl_render_template(struct tpl_render *st, const struct tpl_template *t)
{
    struct tpl_inst *inst = st->inst;
    inst->chain[0] = t;
    inst->n_chain = 1;
    for (;;) {
        inst->extended = false;
        st->toplevel = true;
        st->r.tname = t->name;
        enum tl_err err = tpl_exec_list(st, t->body);
        if (err)
            return err;
        if (!inst->extended)
            return TL_OK;
        t = inst->chain[inst->n_chain - 1];
    }
}

enum tl_err tpl_exec_list(struct tpl_render *st, const struct tpl_node *n)
{
    for (; n; n = n->next) {
        enum tl_err err = tpl_exec_node(st, n);
        if (err)
            return err;
    }
    return st->out->oom ? TL_ENOMEM : TL_OK;
}

static enum tl_err tpl_exec_node(struct tpl_render *st, const struct tpl_node *n)
{
    bool muted = st->inst->extended && st->toplevel;
    struct tpl_value v;
    enum tl_err err;
    switch (n->kind) {
    case ND_TEXT:
        if (!muted)
            strbuf_append_str(st->out, n->text);
        return TL_OK;
    case ND_OUTPUT:
        if (muted)
            return TL_OK;
        if ((err = tpl_eval(st, n->expr, &v)))
            return err;
        return tpl_emit(st, &v, n->autoescape);
    case ND_IF:
        return tpl_exec_if(st, n);
    case ND_FOR:
        return tpl_exec_for(st, n);
    case ND_SET:
        if ((err = tpl_eval(st, n->expr, &v)))
            return err;
        return tpl_scope_bind(st, n->name, &v);
    case ND_SET_BLOCK:
        return tpl_exec_set_block(st, n);
    case ND_BLOCK:
        return muted ? TL_OK : tpl_exec_block_ref(st, n);
    case ND_EXTENDS:
        return tpl_exec_extends(st, n);
    case ND_INCLUDE:
        return muted ? TL_OK : tpl_exec_include(st, n);
    case ND_CACHE:
        return muted ? TL_OK : tpl_exec_cache(st, n);
    }
    return TL_OK;
}

/* {% block %} where it stands: the most derived template's definition runs. */
static enum tl_err tpl_exec_block_ref(struct tpl_render *st, const struct tpl_node *n)
{
    const struct tpl_node *def = tpl_find_block(st, n->name, 0);
    return tpl_exec_block(st, def ? def : n);
}

/* if/elif/else: the elifs are a chain of ND_IF on orelse. */
static enum tl_err tpl_exec_if(struct tpl_render *st, const struct tpl_node *n)
{
    struct tpl_value v;
    enum tl_err err;
    for (; n && n->kind == ND_IF; n = n->orelse) {
        if ((err = tpl_eval(st, n->expr, &v)))
            return err;
        if (tpl_truthy(&v))
            return tpl_exec_list(st, n->body);
        if (n->orelse && n->orelse->kind != ND_IF)
            return tpl_exec_list(st, n->orelse);
    }
    return TL_OK;
}

/* {% set x %}...{% endset %}: Markup in autoescaped templates, as Jinja2. */
static enum tl_err tpl_exec_set_block(struct tpl_render *st, const struct tpl_node *n)
{
    struct str text;
    enum tl_err err = tpl_capture(st, tpl_exec_list, n->body, 64, &text);
    if (err)
        return err;
    struct tpl_value v = n->autoescape ? tpl_safe(text) : tpl_str(text);
    return tpl_scope_bind(st, n->name, &v);
}

enum tl_err tpl_capture(struct tpl_render *st, tpl_exec_fn exec, const struct tpl_node *n,
                        size_t size_hint, struct str *text)
{
    struct strbuf *saved = st->out, sb;
    strbuf_init(&sb, st->r.a, size_hint);
    st->out = &sb;
    enum tl_err err = exec(st, n);
    st->out = saved;
    if (err)
        return err;
    if (sb.oom)
        return TL_ENOMEM;
    *text = strbuf_str(&sb);
    return TL_OK;
}

/* {% for x in xs [if cond] %}: the loop variable and "loop" live in a frame
 * on this stack; a loop whose body has cache tags prefetches them first. */
static enum tl_err tpl_exec_for(struct tpl_render *st, const struct tpl_node *n)
{
    struct tpl_value it;
    const struct tpl_value *items = NULL;
    size_t n_items = 0;
    enum tl_err err;
    if ((err = tpl_eval(st, n->expr, &it)) ||
        (err = tpl_iterate(st, n->expr, &it, &items, &n_items)))
        return err;
    struct tpl_loop loop = { 0 };
    struct tpl_binding var = { .name = n->name, .live = true };
    struct tpl_binding lb = { .next = &var, .name = STR("loop"), .live = true };
    struct tpl_frame f = { .parent = st->frame, .b = &var };
    lb.v.type = TPL_LOOP;
    lb.v.u.list.items = (struct tpl_value *)(void *)&loop;
    if (n->cond && (err = tpl_for_filter(st, n, &f, &var, &items, &n_items)))
        return err;
    if (n_items == 0)
        return tpl_exec_list(st, n->orelse);
    f.b = &lb;
    loop.length = n_items;
    loop.items = items;
    return tpl_for_body(st, n, &f, &var, &loop);
}

/* {% for x in xs if cond %}: filter first, so loop.length counts what is shown. */
static enum tl_err tpl_for_filter(struct tpl_render *st, const struct tpl_node *n,
                                  struct tpl_frame *f, struct tpl_binding *var,
                                  const struct tpl_value **items, size_t *n_items)
{
    struct tpl_value *kept = *n_items ? arena_alloc(st->r.a, *n_items * sizeof *kept) : NULL;
    if (*n_items && !kept)
        return TL_ENOMEM;
    size_t k = 0;
    enum tl_err err = TL_OK;
    struct tpl_frame *saved = st->frame;
    st->frame = f;
    for (size_t i = 0; i < *n_items && !err; i++) {
        struct tpl_value c;
        var->v = (*items)[i];
        if (!(err = tpl_eval(st, n->cond, &c)) && tpl_truthy(&c))
            kept[k++] = (*items)[i];
    }
    st->frame = saved;
    *items = kept;
    *n_items = k;
    return err;
}

/* The iterations, after the prefetch of the body's fragments. */
static enum tl_err tpl_for_body(struct tpl_render *st, const struct tpl_node *n,
                                struct tpl_frame *f, struct tpl_binding *var,
                                struct tpl_loop *loop)
{
    enum tl_err err = TL_OK;
    struct tpl_prefetch pf, *saved_pf = st->pf;
    st->pf = NULL;
    if (n->n_frags && st->r.hooks && st->r.hooks->frags.get_multi &&
        !(st->inst->extended && st->toplevel)) {
        if ((err = tpl_frag_prefetch(st, n, loop->items, loop->length, f, var, loop, &pf)))
            return err;
        st->pf = &pf;
    }
    struct tpl_frame *saved = st->frame;
    st->frame = f;
    for (size_t i = 0; i < loop->length && !err; i++) {
        for (struct tpl_binding *b = var->next; b; b = b->next)
            b->live = false; /* each iteration starts without the last one's {% set %}s */
        loop->index0 = i;
        var->v = loop->items[i];
        pf.iter = i;
        err = tpl_exec_list(st, n->body);
    }
    st->frame = saved;
    st->pf = saved_pf;
    return err;
}

/* Render block definition def in a fresh scope: blocks see the template's
 * context (variables and top-level {% set %}s), not the caller's loop
 * variables, unless the block is "scoped". */
enum tl_err tpl_exec_block(struct tpl_render *st, const struct tpl_node *def)
{
    if (st->r.depth >= TPL_DEPTH_MAX)
        return tpl_rt_error(&st->r, def->line, def->col, "blocks nested too deeply");
    struct tpl_frame f = { .parent = def->scoped ? st->frame : st->inst->ctx };
    struct tpl_frame *frame = st->frame;
    bool toplevel = st->toplevel;
    const struct tpl_node *block = st->block;
    struct tpl_prefetch *pf = st->pf;
    const char *tname = st->r.tname;
    st->r.depth++;
    st->frame = &f;
    st->toplevel = false;
    st->block = def;
    st->pf = NULL;
    st->r.tname = def->owner->name;
    enum tl_err err = tpl_exec_list(st, def->body);
    st->r.depth--;
    st->frame = frame;
    st->toplevel = toplevel;
    st->block = block;
    st->pf = pf;
    if (err == TL_OK)
        st->r.tname = tname; /* on error, keep the name the message refers to */
    return err;
}

const struct tpl_node *tpl_find_block(const struct tpl_render *st, struct str name, size_t from)
{
    const struct tpl_inst *inst = st->inst;
    for (size_t i = from; i < inst->n_chain; i++) {
        const struct tpl_template *t = inst->chain[i];
        for (size_t b = 0; b < t->n_blocks; b++)
            if (str_eq(t->blocks[b]->name, name))
                return t->blocks[b];
    }
    return NULL;
}

size_t tpl_chain_level(const struct tpl_render *st, const struct tpl_template *t)
{
    size_t level = 0;
    while (level < st->inst->n_chain && st->inst->chain[level] != t)
        level++;
    return level;
}

static enum tl_err tpl_exec_extends(struct tpl_render *st, const struct tpl_node *n)
{
    struct tpl_inst *inst = st->inst;
    if (inst->extended)
        return tpl_rt_error(&st->r, n->line, n->col, "extended multiple times");
    const struct tpl_template *t = n->target;
    if (!t) {
        struct tpl_value v;
        enum tl_err err = tpl_eval(st, n->expr, &v);
        if (err)
            return err;
        if (!tpl_is_text(&v) || !(t = tpl_set_find(st->r.set, v.u.s)))
            return tpl_rt_error(&st->r, n->expr->line, n->expr->col, "template \"%.*s\" not found",
                                STR_FMT(tpl_to_str(st->r.a, &v)));
    }
    if (inst->n_chain >= TPL_CHAIN_MAX)
        return tpl_rt_error(&st->r, n->line, n->col, "templates extend too deeply (a cycle?)");
    inst->chain[inst->n_chain++] = t;
    inst->extended = true;
    return TL_OK;
}

static enum tl_err tpl_exec_include(struct tpl_render *st, const struct tpl_node *n)
{
    const struct tpl_template *t = n->target;
    if (!t) {
        struct tpl_value v;
        enum tl_err err = tpl_eval(st, n->expr, &v);
        if (err)
            return err;
        if (tpl_is_text(&v))
            t = tpl_set_find(st->r.set, v.u.s);
        if (!t) {
            if (n->ignore_missing)
                return TL_OK;
            return tpl_rt_error(&st->r, n->expr->line, n->expr->col, "template \"%.*s\" not found",
                                STR_FMT(tpl_to_str(st->r.a, &v)));
        }
    }
    if (st->r.depth >= TPL_DEPTH_MAX)
        return tpl_rt_error(&st->r, n->line, n->col, "templates included too deeply (a cycle?)");
    struct tpl_frame f = { .parent = st->frame };
    struct tpl_inst inst = { .ctx = &f };
    struct tpl_render saved = *st;
    st->r.depth++;
    st->frame = &f;
    st->inst = &inst;
    st->block = NULL;
    st->pf = NULL;
    enum tl_err err = tpl_render_template(st, t);
    if (err)
        saved.r.tname = st->r.tname;
    *st = saved;
    return err;
}

/* ---- output ---- */

static enum tl_err tpl_emit(struct tpl_render *st, const struct tpl_value *v, bool autoescape)
{
    struct strbuf *out = st->out;
    struct str s;
    switch (v->type) {
    case TPL_SAFE:
        strbuf_append_str(out, v->u.s);
        return TL_OK;
    case TPL_INT:
        strbuf_put_int(out, v->u.i);
        return TL_OK;
    case TPL_NONE:
    case TPL_BOOL:
        tpl_write_str(out, v);
        return TL_OK;
    default:
        if (v->type == TPL_UNDEF)
            return TL_OK;
        s = v->type == TPL_STR ? v->u.s : tpl_to_str(st->r.a, v);
        if (autoescape)
            strbuf_append_html(out, s.p, s.len);
        else
            strbuf_append_str(out, s);
        return TL_OK;
    }
}

/* ---- scopes ---- */

static enum tl_err tpl_iterate(struct tpl_render *st, const struct tpl_expr *e,
                               const struct tpl_value *v, const struct tpl_value **items,
                               size_t *n)
{
    if (v->type == TPL_LIST) {
        *items = v->u.list.items;
        *n = v->u.list.n;
        return TL_OK;
    }
    if (v->type == TPL_UNDEF) {
        *items = NULL;
        *n = 0;
        return TL_OK;
    }
    if (tpl_is_text(v) || v->type == TPL_MAP) {
        static const struct tpl_filter *list;
        if (!list)
            list = tpl_filter_find(STR("list"));
        struct tpl_value r;
        enum tl_err err = list->fn(&st->r, e, v, NULL, &r);
        *items = r.u.list.items;
        *n = r.u.list.n;
        return err;
    }
    return tpl_rt_error(&st->r, e->line, e->col, "'%s' object is not iterable", tpl_type_name(v));
}

const struct tpl_value *tpl_scope_lookup(const struct tpl_render *st, struct str name)
{
    for (const struct tpl_frame *f = st->frame; f; f = f->parent) {
        for (const struct tpl_binding *b = f->b; b; b = b->next)
            if (b->live && str_eq(b->name, name))
                return &b->v;
        if (f->vars) {
            const struct tpl_value *v = tpl_map_get(f->vars, name);
            if (v)
                return v;
        }
    }
    return NULL;
}

static enum tl_err tpl_scope_bind(struct tpl_render *st, struct str name,
                                  const struct tpl_value *v)
{
    struct tpl_frame *f = st->frame;
    for (struct tpl_binding *b = f->b; b; b = b->next) {
        if (str_eq(b->name, name)) {
            b->v = *v;
            b->live = true;
            return TL_OK;
        }
    }
    struct tpl_binding *b = arena_alloc(st->r.a, sizeof *b);
    if (!b)
        return TL_ENOMEM;
    *b = (struct tpl_binding){ .name = name, .v = *v, .live = true };
    /* Append after the loop's own bindings so that iteration resets find it. */
    struct tpl_binding **tail = &f->b;
    while (*tail)
        tail = &(*tail)->next;
    *tail = b;
    return TL_OK;
}

enum tl_err tpl_rt_error(struct tpl_rctx *r, unsigned line, unsigned col, const char *fmt, ...)
{
    if (r->quiet || !r->d)
        return TL_EINVAL;
    char msg[sizeof r->d->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tl_diag_set(r->d, r->tname, line, col, "%s", msg);
    return TL_EINVAL;
}
