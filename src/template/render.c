/*
 * template/render.c - executing a compiled template into a strbuf.
 * Owns: scopes (frames of bindings), template inheritance at render time
 *   (the block chain, super(), output suppressed after {% extends %}),
 *   includes, loops and the loop object, expression evaluation with Python
 *   semantics, autoescaped output, and the fragment-cache protocol: one
 *   frag_get_multi per loop for all the {% cache %} tags of its body.
 * Invariants: allocates only from the caller's arena (frames and bindings of
 *   loops live on the C stack; {% set %} bindings and computed strings in the
 *   arena); a plain string value is never copied on its way to the output.
 * Context: workers (and tests, benchmarks, the fuzzer).
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

#define TPL_CHAIN_MAX 16
#define TPL_REPEAT_MAX (16u << 20) /* bytes a "*" may produce */

struct tpl_binding {
    struct tpl_binding *next;
    struct str name;
    struct tpl_value v;
    bool live;
};

struct tpl_frame {
    struct tpl_frame *parent;
    struct tpl_binding *b;
    const struct tpl_value *vars;  /* the caller's variables, on the outermost frame */
};

/* One template invocation (tpl_render or an include): its inheritance chain. */
struct tpl_inst {
    const struct tpl_template *chain[TPL_CHAIN_MAX];
    size_t n_chain;
    struct tpl_frame *ctx;         /* the context frame blocks see */
    bool extended;                 /* an {% extends %} ran: top-level output is off */
};

/* Fragments fetched for a loop before it runs: n_tags per item. */
struct tpl_prefetch {
    const struct tpl_node *loop;
    size_t iter;
    struct str *keys, *values;
    bool *found, *valid;
    size_t *root;                  /* first entry with the same key (itself if none) */
    long *timeouts;
};

struct tpl_render {
    struct tpl_rctx r;
    struct strbuf *out;
    struct tpl_frame *frame;
    struct tpl_inst *inst;
    bool toplevel;                 /* running a template's body, not a block */
    const struct tpl_node *block;  /* block definition being rendered, for super() */
    struct tpl_prefetch *pf;
};

static enum tl_err render_template(struct tpl_render *st, const struct tpl_template *t);
static enum tl_err exec_list(struct tpl_render *st, const struct tpl_node *n);
static enum tl_err exec_node(struct tpl_render *st, const struct tpl_node *n);
static enum tl_err exec_for(struct tpl_render *st, const struct tpl_node *n);
static enum tl_err exec_block(struct tpl_render *st, const struct tpl_node *def);
static enum tl_err exec_include(struct tpl_render *st, const struct tpl_node *n);
static enum tl_err exec_extends(struct tpl_render *st, const struct tpl_node *n);
static enum tl_err exec_cache(struct tpl_render *st, const struct tpl_node *n);
static enum tl_err frag_key(struct tpl_render *st, const struct tpl_node *n, struct str *key,
                            long *timeout_s);
static enum tl_err prefetch(struct tpl_render *st, const struct tpl_node *n,
                            const struct tpl_value *items, size_t n_items,
                            struct tpl_frame *f, struct tpl_binding *var, struct tpl_binding *lb,
                            struct tpl_loop *loop, struct tpl_prefetch *pf);
static size_t dedupe(struct arena *a, struct tpl_prefetch *pf, size_t total, struct str *fetch,
                     size_t *slot);
static const struct tpl_node *find_block(const struct tpl_inst *inst, struct str name,
                                         size_t from, size_t *level);
static enum tl_err emit(struct tpl_render *st, const struct tpl_value *v, bool autoescape);
static enum tl_err eval(struct tpl_render *st, const struct tpl_expr *e, struct tpl_value *out);
static enum tl_err eval_attr(struct tpl_render *st, const struct tpl_expr *e,
                             const struct tpl_value *obj, const struct tpl_value *key,
                             struct tpl_value *out);
static enum tl_err eval_binop(struct tpl_render *st, const struct tpl_expr *e,
                              const struct tpl_value *x, const struct tpl_value *y,
                              struct tpl_value *out);
static enum tl_err eval_compare(struct tpl_render *st, const struct tpl_expr *e,
                                struct tpl_value *out);
static enum tl_err eval_call(struct tpl_render *st, const struct tpl_expr *e,
                             struct tpl_value *out);
static enum tl_err eval_url_for(struct tpl_render *st, const struct tpl_expr *e,
                                struct tpl_value *out);
static enum tl_err eval_super(struct tpl_render *st, const struct tpl_expr *e,
                              struct tpl_value *out);
static enum tl_err iterate(struct tpl_render *st, const struct tpl_expr *e,
                           const struct tpl_value *v, const struct tpl_value **items, size_t *n);
static const struct tpl_value *lookup(const struct tpl_render *st, struct str name);
static enum tl_err bind(struct tpl_render *st, struct str name, const struct tpl_value *v);
static enum tl_err undefined_error(struct tpl_render *st, const struct tpl_expr *e,
                                   const struct tpl_value *v);
static bool is_text(const struct tpl_value *v);
static bool is_num(const struct tpl_value *v);
static long long num(const struct tpl_value *v);

enum tl_err tpl_render(const struct tpl_set *set, const char *name, const struct tpl_value *vars,
                       const struct tpl_hooks *hooks, struct arena *a, struct strbuf *out,
                       struct tl_diag *d)
{
    struct tpl_render st = { .r = { .set = set, .hooks = hooks, .a = a, .d = d, .tname = name },
                             .out = out };
    const struct tpl_template *t = set ? tpl_set_find(set, str_c(name)) : NULL;
    if (!t) {
        tl_diag_set(d, name, 0, 0, "template \"%s\" not found", name ? name : "(null)");
        return TL_EINVAL;
    }
    struct tpl_frame root = { .vars = vars };
    struct tpl_inst inst = { .ctx = &root };
    st.frame = &root;
    st.inst = &inst;
    enum tl_err err = render_template(&st, t);
    if (err == TL_OK && out->oom)
        err = TL_ENOMEM;
    return err;
}

/* The body of t, then (after an {% extends %}) the bodies of its ancestors. */
static enum tl_err render_template(struct tpl_render *st, const struct tpl_template *t)
{
    struct tpl_inst *inst = st->inst;
    inst->chain[0] = t;
    inst->n_chain = 1;
    for (;;) {
        inst->extended = false;
        st->toplevel = true;
        st->r.tname = t->name;
        enum tl_err err = exec_list(st, t->body);
        if (err)
            return err;
        if (!inst->extended)
            return TL_OK;
        t = inst->chain[inst->n_chain - 1];
    }
}

static enum tl_err exec_list(struct tpl_render *st, const struct tpl_node *n)
{
    for (; n; n = n->next) {
        enum tl_err err = exec_node(st, n);
        if (err)
            return err;
    }
    return st->out->oom ? TL_ENOMEM : TL_OK;
}

static enum tl_err exec_node(struct tpl_render *st, const struct tpl_node *n)
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
        if ((err = eval(st, n->expr, &v)))
            return err;
        return emit(st, &v, n->autoescape);
    case ND_IF:
        for (; n && n->kind == ND_IF; n = n->orelse) {
            if ((err = eval(st, n->expr, &v)))
                return err;
            if (tpl_truthy(&v))
                return exec_list(st, n->body);
            if (n->orelse && n->orelse->kind != ND_IF)
                return exec_list(st, n->orelse);
        }
        return TL_OK;
    case ND_FOR:
        return exec_for(st, n);
    case ND_SET:
        if ((err = eval(st, n->expr, &v)))
            return err;
        return bind(st, n->name, &v);
    case ND_SET_BLOCK: {
        struct strbuf *saved = st->out, sb;
        strbuf_init(&sb, st->r.a, 64);
        st->out = &sb;
        err = exec_list(st, n->body);
        st->out = saved;
        if (err)
            return err;
        v = n->autoescape ? tpl_safe(strbuf_str(&sb)) : tpl_str(strbuf_str(&sb));
        return bind(st, n->name, &v);
    }
    case ND_BLOCK: {
        if (muted)
            return TL_OK;
        size_t level;
        const struct tpl_node *def = find_block(st->inst, n->name, 0, &level);
        (void)level;
        return exec_block(st, def ? def : n);
    }
    case ND_EXTENDS:
        return exec_extends(st, n);
    case ND_INCLUDE:
        return muted ? TL_OK : exec_include(st, n);
    case ND_CACHE:
        return muted ? TL_OK : exec_cache(st, n);
    }
    return TL_OK;
}

static enum tl_err exec_for(struct tpl_render *st, const struct tpl_node *n)
{
    struct tpl_value it;
    const struct tpl_value *items = NULL;
    size_t n_items = 0;
    enum tl_err err;
    if ((err = eval(st, n->expr, &it)) || (err = iterate(st, n->expr, &it, &items, &n_items)))
        return err;
    struct tpl_loop loop = { 0 };
    struct tpl_binding var = { .name = n->name, .live = true };
    struct tpl_binding lb = { .next = &var, .name = STR("loop"), .live = true };
    struct tpl_frame f = { .parent = st->frame, .b = &var };
    lb.v.type = TPL_LOOP;
    lb.v.u.list.items = (struct tpl_value *)(void *)&loop;
    if (n->cond) {
        /* {% for x in xs if cond %}: filter first, so loop.length counts what is shown. */
        struct tpl_value *kept = n_items ? arena_alloc(st->r.a, n_items * sizeof *kept) : NULL;
        if (n_items && !kept)
            return TL_ENOMEM;
        size_t k = 0;
        struct tpl_frame *saved = st->frame;
        st->frame = &f;
        for (size_t i = 0; i < n_items; i++) {
            struct tpl_value c;
            var.v = items[i];
            if ((err = eval(st, n->cond, &c))) {
                st->frame = saved;
                return err;
            }
            if (tpl_truthy(&c))
                kept[k++] = items[i];
        }
        st->frame = saved;
        items = kept;
        n_items = k;
    }
    if (n_items == 0)
        return exec_list(st, n->orelse);
    f.b = &lb;
    loop.length = n_items;
    loop.items = items;
    struct tpl_prefetch pf, *saved_pf = st->pf;
    st->pf = NULL;
    if (n->n_frags && st->r.hooks && st->r.hooks->frag_get_multi &&
        !(st->inst->extended && st->toplevel)) {
        if ((err = prefetch(st, n, items, n_items, &f, &var, &lb, &loop, &pf)))
            return err;
        st->pf = &pf;
    }
    struct tpl_frame *saved = st->frame;
    st->frame = &f;
    for (size_t i = 0; i < n_items && !err; i++) {
        for (struct tpl_binding *b = var.next; b; b = b->next)
            b->live = false; /* each iteration starts without the last one's {% set %}s */
        loop.index0 = i;
        var.v = items[i];
        pf.iter = i;
        err = exec_list(st, n->body);
    }
    st->frame = saved;
    st->pf = saved_pf;
    return err;
}

/* Evaluate the fragment keys of every item, then fetch them all at once. A
 * key that cannot be evaluated here (it may depend on a {% set %} in the body)
 * is simply not prefetched. */
static enum tl_err prefetch(struct tpl_render *st, const struct tpl_node *n,
                            const struct tpl_value *items, size_t n_items,
                            struct tpl_frame *f, struct tpl_binding *var, struct tpl_binding *lb,
                            struct tpl_loop *loop, struct tpl_prefetch *pf)
{
    size_t total = n_items * n->n_frags;
    pf->loop = n;
    pf->iter = 0;
    pf->keys = arena_alloc(st->r.a, total * sizeof *pf->keys);
    pf->values = arena_calloc(st->r.a, total, sizeof *pf->values);
    pf->found = arena_calloc(st->r.a, total, sizeof *pf->found);
    pf->valid = arena_calloc(st->r.a, total, sizeof *pf->valid);
    pf->timeouts = arena_alloc(st->r.a, total * sizeof *pf->timeouts);
    struct str *fetch = arena_alloc(st->r.a, total * sizeof *fetch);
    size_t *slot = arena_alloc(st->r.a, total * sizeof *slot);
    if (!pf->keys || !pf->values || !pf->found || !pf->valid || !pf->timeouts || !fetch || !slot)
        return TL_ENOMEM;
    struct tpl_frame *saved = st->frame;
    bool quiet = st->r.quiet;
    st->frame = f;
    st->r.quiet = true;
    for (size_t i = 0; i < n_items; i++) {
        var->v = items[i];
        loop->index0 = i;
        (void)lb;
        for (size_t t = 0; t < n->n_frags; t++) {
            size_t k = i * n->n_frags + t;
            pf->valid[k] = frag_key(st, n->frags[t], &pf->keys[k], &pf->timeouts[k]) == TL_OK;
        }
    }
    st->frame = saved;
    st->r.quiet = quiet;
    size_t m = dedupe(st->r.a, pf, total, fetch, slot);
    if (m == (size_t)-1)
        return TL_ENOMEM;
    if (m == 0)
        return TL_OK;
    struct str *values = arena_calloc(st->r.a, m, sizeof *values);
    bool *found = arena_calloc(st->r.a, m, sizeof *found);
    if (!values || !found)
        return TL_ENOMEM;
    const struct tpl_hooks *h = st->r.hooks;
    if (h->frag_get_multi(h->ctx, fetch, m, st->r.a, values, found) != TL_OK)
        memset(found, 0, m * sizeof *found); /* cache trouble: render everything */
    for (size_t j = 0; j < m; j++) {
        pf->found[slot[j]] = found[j];
        pf->values[slot[j]] = values[j];
    }
    return TL_OK;
}

/* Link entries with equal keys to the first one (root[]) and list each key
 * once in fetch[] (slot[] = its entry): a key repeated in a loop is fetched
 * once, and once rendered it is a hit for the later iterations, as it is with
 * Flask-Caching. Returns the number of keys to fetch, -1 when out of memory. */
static size_t dedupe(struct arena *a, struct tpl_prefetch *pf, size_t total, struct str *fetch,
                     size_t *slot)
{
    size_t cap = 16;
    while (cap < total * 2)
        cap *= 2;
    size_t *table = arena_alloc(a, cap * sizeof *table);
    pf->root = arena_alloc(a, total * sizeof *pf->root);
    if (!table || !pf->root)
        return (size_t)-1;
    memset(table, 0xff, cap * sizeof *table);
    size_t m = 0;
    for (size_t k = 0; k < total; k++) {
        pf->root[k] = k;
        if (!pf->valid[k])
            continue;
        uint64_t h = 1469598103934665603ULL;
        for (size_t i = 0; i < pf->keys[k].len; i++)
            h = (h ^ (unsigned char)pf->keys[k].p[i]) * 1099511628211ULL;
        size_t pos = (size_t)h & (cap - 1);
        while (table[pos] != (size_t)-1 && !str_eq(pf->keys[table[pos]], pf->keys[k]))
            pos = (pos + 1) & (cap - 1);
        if (table[pos] != (size_t)-1) {
            pf->root[k] = table[pos];
            continue;
        }
        table[pos] = k;
        fetch[m] = pf->keys[k];
        slot[m++] = k;
    }
    return m;
}

static enum tl_err exec_cache(struct tpl_render *st, const struct tpl_node *n)
{
    const struct tpl_hooks *h = st->r.hooks;
    if (!h || !h->frag_get_multi)
        return exec_list(st, n->body);
    struct str key = STR_NULL, value = STR_NULL;
    long timeout = -1;
    bool found = false, known = false;
    enum tl_err err;
    struct tpl_prefetch *pf = st->pf;
    size_t root = 0, t = 0, k = 0;
    while (pf && t < pf->loop->n_frags && pf->loop->frags[t] != n)
        t++;
    if (pf && t < pf->loop->n_frags)
        k = pf->iter * pf->loop->n_frags + t;
    if (pf && t < pf->loop->n_frags && pf->valid[k] && pf->loop->frag_keys_stable) {
        key = pf->keys[k];  /* nothing in the body can have changed it */
        timeout = pf->timeouts[k];
    } else if ((err = frag_key(st, n, &key, &timeout))) {
        return err;
    }
    if (pf && t < pf->loop->n_frags) {
        if (pf->valid[k] && str_eq(pf->keys[k], key)) {
            known = true;
            root = pf->root[k];
            found = pf->found[root];
            value = pf->values[root];
        }
    }
    if (!known && h->frag_get_multi(h->ctx, &key, 1, st->r.a, &value, &found) != TL_OK)
        found = false;
    if (found) {
        strbuf_append_str(st->out, value);
        return TL_OK;
    }
    struct strbuf *saved = st->out, sb;
    strbuf_init(&sb, st->r.a, 256);
    st->out = &sb;
    err = exec_list(st, n->body);
    st->out = saved;
    if (err)
        return err;
    if (sb.oom)
        return TL_ENOMEM;
    if (h->frag_set)
        h->frag_set(h->ctx, key, strbuf_str(&sb), timeout);
    if (known) {
        pf->found[root] = true;
        pf->values[root] = strbuf_str(&sb);
    }
    strbuf_append_str(st->out, strbuf_str(&sb));
    return TL_OK;
}

/* Flask-Caching's key: "_template_fragment_cache_" + name + ("_" + vary
 * values joined by "_" when there are any). */
static enum tl_err frag_key(struct tpl_render *st, const struct tpl_node *n, struct str *key,
                            long *timeout_s)
{
    struct tpl_value v;
    enum tl_err err;
    if ((err = eval(st, n->args[0], &v)))
        return err;
    if (v.type == TPL_NONE || v.type == TPL_UNDEF)
        *timeout_s = -1;
    else if (v.type == TPL_INT && v.u.i >= 0)
        *timeout_s = v.u.i > 0x7fffffffLL ? 0x7fffffffL : (long)v.u.i;
    else
        return tpl_rt_error(&st->r, n->args[0]->line, n->args[0]->col,
                            "cache timeout must be None or a non-negative integer");
    struct strbuf sb;
    strbuf_init(&sb, st->r.a, 64);
    strbuf_puts(&sb, "_template_fragment_cache_");
    for (size_t i = 1; i < n->n_args; i++) {
        if ((err = eval(st, n->args[i], &v)))
            return err;
        if (i >= 2)
            strbuf_putc(&sb, '_');
        tpl_write_str(&sb, &v);
    }
    if (sb.oom)
        return TL_ENOMEM;
    *key = strbuf_str(&sb);
    return TL_OK;
}

/* Render block definition def in a fresh scope: blocks see the template's
 * context (variables and top-level {% set %}s), not the caller's loop
 * variables, unless the block is "scoped". */
static enum tl_err exec_block(struct tpl_render *st, const struct tpl_node *def)
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
    enum tl_err err = exec_list(st, def->body);
    st->r.depth--;
    st->frame = frame;
    st->toplevel = toplevel;
    st->block = block;
    st->pf = pf;
    if (err == TL_OK)
        st->r.tname = tname; /* on error, keep the name the message refers to */
    return err;
}

/* First definition of block name at chain level >= from. */
static const struct tpl_node *find_block(const struct tpl_inst *inst, struct str name,
                                         size_t from, size_t *level)
{
    for (size_t i = from; i < inst->n_chain; i++) {
        const struct tpl_template *t = inst->chain[i];
        for (size_t b = 0; b < t->n_blocks; b++) {
            if (str_eq(t->blocks[b]->name, name)) {
                *level = i;
                return t->blocks[b];
            }
        }
    }
    return NULL;
}

static enum tl_err exec_extends(struct tpl_render *st, const struct tpl_node *n)
{
    struct tpl_inst *inst = st->inst;
    if (inst->extended)
        return tpl_rt_error(&st->r, n->line, n->col, "extended multiple times");
    const struct tpl_template *t = n->target;
    if (!t) {
        struct tpl_value v;
        enum tl_err err = eval(st, n->expr, &v);
        if (err)
            return err;
        if (!is_text(&v) || !(t = tpl_set_find(st->r.set, v.u.s)))
            return tpl_rt_error(&st->r, n->expr->line, n->expr->col, "template \"%.*s\" not found",
                                STR_FMT(tpl_to_str(st->r.a, &v)));
    }
    if (inst->n_chain >= TPL_CHAIN_MAX)
        return tpl_rt_error(&st->r, n->line, n->col, "templates extend too deeply (a cycle?)");
    inst->chain[inst->n_chain++] = t;
    inst->extended = true;
    return TL_OK;
}

static enum tl_err exec_include(struct tpl_render *st, const struct tpl_node *n)
{
    const struct tpl_template *t = n->target;
    if (!t) {
        struct tpl_value v;
        enum tl_err err = eval(st, n->expr, &v);
        if (err)
            return err;
        if (is_text(&v))
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
    enum tl_err err = render_template(st, t);
    if (err)
        saved.r.tname = st->r.tname;
    *st = saved;
    return err;
}

/* ---- output ---- */

static enum tl_err emit(struct tpl_render *st, const struct tpl_value *v, bool autoescape)
{
    struct strbuf *out = st->out;
    switch (v->type) {
    case TPL_STR:
        if (autoescape)
            strbuf_append_html(out, v->u.s.p, v->u.s.len);
        else
            strbuf_append_str(out, v->u.s);
        return TL_OK;
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
    default: {
        if (v->type == TPL_UNDEF)
            return TL_OK;
        struct str s = tpl_to_str(st->r.a, v);
        if (autoescape)
            strbuf_append_html(out, s.p, s.len);
        else
            strbuf_append_str(out, s);
        return TL_OK;
    }
    }
}

/* ---- expressions ---- */

static enum tl_err eval(struct tpl_render *st, const struct tpl_expr *e, struct tpl_value *out)
{
    struct tpl_value x, y;
    enum tl_err err;
    switch (e->kind) {
    case EX_CONST:
        *out = e->cval;
        return TL_OK;
    case EX_NAME: {
        const struct tpl_value *v = lookup(st, e->name);
        *out = v ? *v : (struct tpl_value){ .type = TPL_UNDEF, .u.s = e->name };
        return TL_OK;
    }
    case EX_ATTR:
        if ((err = eval(st, e->a, &x)))
            return err;
        y = tpl_str(e->name);
        return eval_attr(st, e, &x, &y, out);
    case EX_ITEM:
        if ((err = eval(st, e->a, &x)) || (err = eval(st, e->b, &y)))
            return err;
        return eval_attr(st, e, &x, &y, out);
    case EX_LIST: {
        struct tpl_value *items = e->n_args ? arena_alloc(st->r.a, e->n_args * sizeof *items) : NULL;
        if (e->n_args && !items)
            return TL_ENOMEM;
        for (size_t i = 0; i < e->n_args; i++)
            if ((err = eval(st, e->args[i], &items[i])))
                return err;
        *out = tpl_list(items, e->n_args);
        return TL_OK;
    }
    case EX_DICT: {
        size_t n = e->n_args / 2;
        struct tpl_kv *kv = n ? arena_alloc(st->r.a, n * sizeof *kv) : NULL;
        if (n && !kv)
            return TL_ENOMEM;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if ((err = eval(st, e->args[2 * i], &x)))
                return err;
            if (!is_text(&x))
                return tpl_rt_error(&st->r, e->args[2 * i]->line, e->args[2 * i]->col,
                                    "dict keys must be strings");
            size_t j = 0;
            while (j < m && !str_eq(kv[j].key, x.u.s))
                j++;   /* a repeated key replaces the value but keeps its place */
            kv[j].key = x.u.s;
            if ((err = eval(st, e->args[2 * i + 1], &kv[j].value)))
                return err;
            m += j == m;
        }
        *out = tpl_map(kv, m);
        return TL_OK;
    }
    case EX_NOT:
        if ((err = eval(st, e->a, &x)))
            return err;
        *out = tpl_bool(!tpl_truthy(&x));
        return TL_OK;
    case EX_NEG:
    case EX_POS:
        if ((err = eval(st, e->a, &x)))
            return err;
        if (x.type == TPL_UNDEF)
            return undefined_error(st, e->a, &x);
        if (!is_num(&x))
            return tpl_rt_error(&st->r, e->line, e->col, "bad operand type for unary %c: '%s'",
                                e->kind == EX_NEG ? '-' : '+', tpl_type_name(&x));
        if (e->kind == EX_NEG && num(&x) == INT64_MIN)
            return tpl_rt_error(&st->r, e->line, e->col, "integer overflow");
        *out = tpl_int(e->kind == EX_NEG ? -num(&x) : num(&x));
        return TL_OK;
    case EX_AND:
    case EX_OR:
        if ((err = eval(st, e->a, &x)))
            return err;
        if (tpl_truthy(&x) == (e->kind == EX_OR)) {
            *out = x;
            return TL_OK;
        }
        return eval(st, e->b, out);
    case EX_BINOP:
        if ((err = eval(st, e->a, &x)) || (err = eval(st, e->b, &y)))
            return err;
        return eval_binop(st, e, &x, &y, out);
    case EX_CONCAT: {
        if ((err = eval(st, e->a, &x)) || (err = eval(st, e->b, &y)))
            return err;
        bool markup = e->autoescape && !e->folds && (x.type == TPL_SAFE || y.type == TPL_SAFE);
        struct strbuf sb;
        struct str xs = tpl_to_str(st->r.a, &x), ys = tpl_to_str(st->r.a, &y);
        strbuf_init(&sb, st->r.a, xs.len + ys.len + 1);
        const struct tpl_value *parts[2] = { &x, &y };
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
    case EX_COMPARE:
        return eval_compare(st, e, out);
    case EX_COND:
        if ((err = eval(st, e->a, &x)))
            return err;
        if (tpl_truthy(&x))
            return eval(st, e->b, out);
        if (e->c)
            return eval(st, e->c, out);
        *out = (struct tpl_value){ .type = TPL_UNDEF, .u.s = STR("conditional expression") };
        return TL_OK;
    case EX_FILTER:
    case EX_TEST: {
        struct tpl_value args[4];
        if ((err = eval(st, e->a, &x)))
            return err;
        for (size_t i = 0; i < e->n_args && i < 4; i++) {
            if (!e->args[i])
                args[i].type = TPL_MISSING;
            else if ((err = eval(st, e->args[i], &args[i])))
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
    default:
        return eval_call(st, e, out);
    }
}

/* obj.key and obj[key]: Jinja2 tries the item, then the attribute; a miss is
 * Undefined, but anything looked up on Undefined is an error. */
static enum tl_err eval_attr(struct tpl_render *st, const struct tpl_expr *e,
                             const struct tpl_value *obj, const struct tpl_value *key,
                             struct tpl_value *out)
{
    struct str missing = is_text(key) ? key->u.s : STR("item");
    *out = (struct tpl_value){ .type = TPL_UNDEF, .u.s = missing };
    if (obj->type == TPL_UNDEF)
        return undefined_error(st, e->a, obj);
    if (obj->type == TPL_MAP && is_text(key)) {
        const struct tpl_value *v = tpl_map_get(obj, key->u.s);
        if (v)
            *out = *v;
    } else if ((obj->type == TPL_LIST || is_text(obj)) && is_num(key)) {
        long long i = num(key);
        size_t n = obj->type == TPL_LIST ? obj->u.list.n : tpl_utf8_len(obj->u.s);
        if (i < 0)
            i += (long long)n;
        if (i >= 0 && (size_t)i < n) {
            if (obj->type == TPL_LIST) {
                *out = obj->u.list.items[i];
            } else {
                size_t pos = 0;
                for (long long c = 0; c < i; c++)
                    do pos++; while (((unsigned char)obj->u.s.p[pos] & 0xC0) == 0x80);
                size_t len = 1;
                while (pos + len < obj->u.s.len &&
                       ((unsigned char)obj->u.s.p[pos + len] & 0xC0) == 0x80)
                    len++;
                struct str c = { obj->u.s.p + pos, len };
                *out = obj->type == TPL_SAFE ? tpl_safe(c) : tpl_str(c);
            }
        }
    } else if (obj->type == TPL_LOOP && is_text(key)) {
        const struct tpl_loop *l = (const struct tpl_loop *)(const void *)obj->u.list.items;
        struct str k = key->u.s;
        long long idx = (long long)l->index0, len = (long long)l->length;
        if (str_eq_c(k, "index"))
            *out = tpl_int(idx + 1);
        else if (str_eq_c(k, "index0"))
            *out = tpl_int(idx);
        else if (str_eq_c(k, "revindex"))
            *out = tpl_int(len - idx);
        else if (str_eq_c(k, "revindex0"))
            *out = tpl_int(len - idx - 1);
        else if (str_eq_c(k, "first"))
            *out = tpl_bool(idx == 0);
        else if (str_eq_c(k, "last"))
            *out = tpl_bool(idx == len - 1);
        else if (str_eq_c(k, "length"))
            *out = tpl_int(len);
        else if (str_eq_c(k, "depth"))
            *out = tpl_int(1);
        else if (str_eq_c(k, "depth0"))
            *out = tpl_int(0);
        else if (str_eq_c(k, "previtem") && idx > 0)
            *out = l->items[idx - 1];
        else if (str_eq_c(k, "nextitem") && idx + 1 < len)
            *out = l->items[idx + 1];
    }
    return TL_OK;
}

static enum tl_err eval_binop(struct tpl_render *st, const struct tpl_expr *e,
                              const struct tpl_value *x, const struct tpl_value *y,
                              struct tpl_value *out)
{
    static const char *const names[] = { [OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*",
                                         [OP_FLOORDIV] = "//", [OP_MOD] = "%" };
    if (x->type == TPL_UNDEF)
        return undefined_error(st, e->a, x);
    if (y->type == TPL_UNDEF)
        return undefined_error(st, e->b, y);
    if (is_num(x) && is_num(y)) {
        long long a = num(x), b = num(y), r = 0;
        bool overflow = false;
        switch (e->op) {
        case OP_ADD: overflow = __builtin_add_overflow(a, b, &r); break;
        case OP_SUB: overflow = __builtin_sub_overflow(a, b, &r); break;
        case OP_MUL: overflow = __builtin_mul_overflow(a, b, &r); break;
        default:
            if (b == 0)
                return tpl_rt_error(&st->r, e->line, e->col,
                                    "integer division or modulo by zero");
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
    if (e->op == OP_ADD && is_text(x) && is_text(y)) {
        /* markupsafe: Markup + str escapes the str, whatever the autoescape setting. */
        bool markup = x->type == TPL_SAFE || y->type == TPL_SAFE;
        struct strbuf sb;
        strbuf_init(&sb, st->r.a, x->u.s.len + y->u.s.len + 1);
        const struct tpl_value *parts[2] = { x, y };
        for (int i = 0; i < 2; i++) {
            if (markup && parts[i]->type != TPL_SAFE)
                strbuf_append_html(&sb, parts[i]->u.s.p, parts[i]->u.s.len);
            else
                strbuf_append_str(&sb, parts[i]->u.s);
        }
        if (sb.oom)
            return TL_ENOMEM;
        *out = markup ? tpl_safe(strbuf_str(&sb)) : tpl_str(strbuf_str(&sb));
        return TL_OK;
    }
    if (e->op == OP_ADD && x->type == TPL_LIST && y->type == TPL_LIST) {
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
    if (e->op == OP_MUL && (is_num(x) || is_num(y)) &&
        (is_text(x) || is_text(y) || x->type == TPL_LIST || y->type == TPL_LIST)) {
        const struct tpl_value *seq = is_num(x) ? y : x;
        long long times = is_num(x) ? num(x) : num(y);
        if (times < 0)
            times = 0;
        size_t unit = is_text(seq) ? seq->u.s.len : seq->u.list.n * sizeof(struct tpl_value);
        if (unit && (unsigned long long)times > TPL_REPEAT_MAX / unit)
            return tpl_rt_error(&st->r, e->line, e->col, "repetition result too large");
        char *p = arena_alloc(st->r.a, unit * (size_t)times + 1);
        if (!p)
            return TL_ENOMEM;
        const void *src = is_text(seq) ? (const void *)seq->u.s.p : (const void *)seq->u.list.items;
        for (long long i = 0; i < times && unit; i++)
            memcpy(p + (size_t)i * unit, src, unit);
        if (is_text(seq)) {
            p[unit * (size_t)times] = '\0';
            struct str s = { p, unit * (size_t)times };
            *out = seq->type == TPL_SAFE ? tpl_safe(s) : tpl_str(s);
        } else {
            *out = tpl_list((struct tpl_value *)(void *)p, seq->u.list.n * (size_t)times);
        }
        return TL_OK;
    }
    return tpl_rt_error(&st->r, e->line, e->col,
                        "unsupported operand type(s) for %s: '%s' and '%s'", names[e->op],
                        tpl_type_name(x), tpl_type_name(y));
}

static enum tl_err eval_compare(struct tpl_render *st, const struct tpl_expr *e,
                                struct tpl_value *out)
{
    static const char *const names[] = { "==", "!=", "<", "<=", ">", ">=", "in", "not in" };
    struct tpl_value x, y;
    enum tl_err err;
    if ((err = eval(st, e->args[0], &x)))
        return err;
    for (size_t i = 1; i < e->n_args; i++) {
        if ((err = eval(st, e->args[i], &y)))
            return err;
        enum tpl_op op = e->ops[i - 1];
        bool r;
        int c = 0;
        switch (op) {
        case OP_EQ: r = tpl_equal(&x, &y); break;
        case OP_NE: r = !tpl_equal(&x, &y); break;
        case OP_IN:
        case OP_NOTIN:
            if (y.type == TPL_UNDEF) {
                r = false; /* Undefined iterates as empty */
            } else if (is_text(&y)) {
                if (!is_text(&x))
                    return tpl_rt_error(&st->r, e->line, e->col,
                                        "'in <string>' requires string as left operand, not %s",
                                        tpl_type_name(&x));
                r = x.u.s.len == 0 || memmem(y.u.s.p, y.u.s.len, x.u.s.p, x.u.s.len);
            } else if (y.type == TPL_MAP) {
                r = is_text(&x) && tpl_map_get(&y, x.u.s);
            } else if (y.type == TPL_LIST) {
                r = false;
                for (size_t k = 0; k < y.u.list.n && !r; k++)
                    r = tpl_equal(&x, &y.u.list.items[k]);
            } else {
                return tpl_rt_error(&st->r, e->line, e->col,
                                    "argument of type '%s' is not iterable", tpl_type_name(&y));
            }
            if (op == OP_NOTIN)
                r = !r;
            break;
        default:
            if (x.type == TPL_UNDEF)
                return undefined_error(st, e->args[i - 1], &x);
            if (y.type == TPL_UNDEF)
                return undefined_error(st, e->args[i], &y);
            if (!tpl_order(&x, &y, &c))
                return tpl_rt_error(&st->r, e->line, e->col,
                                    "'%s' not supported between instances of '%s' and '%s'",
                                    names[op], tpl_type_name(&x), tpl_type_name(&y));
            r = op == OP_LT ? c < 0 : op == OP_LE ? c <= 0 : op == OP_GT ? c > 0 : c >= 0;
            break;
        }
        if (!r) {
            *out = tpl_bool(false);
            return TL_OK;
        }
        x = y;
    }
    *out = tpl_bool(true);
    return TL_OK;
}

static enum tl_err eval_call(struct tpl_render *st, const struct tpl_expr *e,
                             struct tpl_value *out)
{
    enum tl_err err;
    struct tpl_value v;
    switch (e->kind) {
    case EX_URL_FOR:
        return eval_url_for(st, e, out);
    case EX_FLASHES: {
        bool with_categories = false;
        if (e->n_args) {
            if ((err = eval(st, e->args[0], &v)))
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
        return eval_super(st, e, out);
    case EX_RANGE: {
        long long a[3] = { 0, 0, 1 };
        for (size_t i = 0; i < e->n_args; i++) {
            if ((err = eval(st, e->args[i], &v)))
                return err;
            if (!is_num(&v))
                return tpl_rt_error(&st->r, e->line, e->col, "range() needs integers, got '%s'",
                                    tpl_type_name(&v));
            a[e->n_args == 1 ? 1 : i] = num(&v);
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
    default: { /* EX_CYCLE */
        if ((err = eval(st, e->a, &v)))
            return err;
        if (v.type == TPL_UNDEF)
            return undefined_error(st, e->a, &v);
        if (v.type != TPL_LOOP)
            return tpl_rt_error(&st->r, e->line, e->col, "loop.cycle() outside of a loop");
        const struct tpl_loop *l = (const struct tpl_loop *)(const void *)v.u.list.items;
        return eval(st, e->args[l->index0 % e->n_args], out);
    }
    }
}

/* url_for(endpoint, name=value...): the app's router builds the URL. The
 * result is a plain string, escaped on output like Flask's url_for. */
static enum tl_err eval_url_for(struct tpl_render *st, const struct tpl_expr *e,
                                struct tpl_value *out)
{
    const struct tpl_hooks *h = st->r.hooks;
    struct tpl_value ep;
    enum tl_err err;
    if (!h || !h->url_for)
        return tpl_rt_error(&st->r, e->line, e->col, "url_for() is not available (no hook)");
    if ((err = eval(st, e->args[0], &ep)))
        return err;
    if (!is_text(&ep))
        return tpl_rt_error(&st->r, e->line, e->col, "url_for() endpoint must be a string");
    size_t n = e->n_args - 1;
    struct tpl_kv stack_kv[8];
    struct tpl_kv *kv = n <= 8 ? stack_kv : arena_alloc(st->r.a, n * sizeof *kv);
    if (!kv)
        return TL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        kv[i].key = e->kw[i + 1];
        if ((err = eval(st, e->args[i + 1], &kv[i].value)))
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

static enum tl_err eval_super(struct tpl_render *st, const struct tpl_expr *e,
                              struct tpl_value *out)
{
    const struct tpl_node *cur = st->block;
    size_t level = 0, parent_level;
    if (!cur)
        return tpl_rt_error(&st->r, e->line, e->col, "super() used outside of a block");
    while (level < st->inst->n_chain && st->inst->chain[level] != cur->owner)
        level++;
    const struct tpl_node *def = find_block(st->inst, cur->name, level + 1, &parent_level);
    if (!def)
        return tpl_rt_error(&st->r, e->line, e->col, "no parent block called \"%.*s\"",
                            STR_FMT(cur->name));
    struct strbuf *saved = st->out, sb;
    strbuf_init(&sb, st->r.a, 128);
    st->out = &sb;
    (void)parent_level;
    enum tl_err err = exec_block(st, def);
    st->out = saved;
    if (err)
        return err;
    *out = e->autoescape ? tpl_safe(strbuf_str(&sb)) : tpl_str(strbuf_str(&sb));
    return TL_OK;
}

/* ---- scopes and helpers ---- */

static enum tl_err iterate(struct tpl_render *st, const struct tpl_expr *e,
                           const struct tpl_value *v, const struct tpl_value **items, size_t *n)
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
    if (is_text(v) || v->type == TPL_MAP) {
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

static const struct tpl_value *lookup(const struct tpl_render *st, struct str name)
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

static enum tl_err bind(struct tpl_render *st, struct str name, const struct tpl_value *v)
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

static enum tl_err undefined_error(struct tpl_render *st, const struct tpl_expr *e,
                                   const struct tpl_value *v)
{
    return tpl_rt_error(&st->r, e->line, e->col, "\"%.*s\" is undefined", STR_FMT(v->u.s));
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

static bool is_text(const struct tpl_value *v)
{
    return v->type == TPL_STR || v->type == TPL_SAFE;
}

static bool is_num(const struct tpl_value *v)
{
    return v->type == TPL_INT || v->type == TPL_BOOL;
}

static long long num(const struct tpl_value *v)
{
    return v->type == TPL_INT ? v->u.i : v->u.b;
}
