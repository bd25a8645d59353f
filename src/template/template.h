/*
 * template/template.h - a Jinja2 subset: compile a directory once, render many times.
 * Owns: compiled template sets (lexer, parser, AST), the value model the app
 *   fills from database rows, rendering into a strbuf with autoescaping, and
 *   the {% cache %} protocol the fragment store hooks serve (its key format,
 *   tpl_frag_key, is written only in frag.c).
 * Invariants: a tpl_set is immutable after tpl_set_load (shared copy-on-write
 *   by forked workers); rendering allocates only from the given arena.
 * Context: compiled in the master, rendered in workers.
 */
#ifndef TASKLIST_TEMPLATE_TEMPLATE_H
#define TASKLIST_TEMPLATE_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "../base/err.h"
#include "../base/arena.h"
#include "../base/str.h"
#include "../base/strbuf.h"

enum tpl_type {
    TPL_NONE,
    TPL_BOOL,
    TPL_INT,
    TPL_STR,      /* text; escaped on output in autoescaped templates */
    TPL_SAFE,     /* markup; never escaped (|safe, fragments, {% set %} blocks) */
    TPL_LIST,
    TPL_MAP,
};

struct tpl_kv;

struct tpl_value {
    enum tpl_type type;
    union {
        bool b;
        long long i;
        struct str s;                                    /* TPL_STR, TPL_SAFE */
        struct { struct tpl_value *items; size_t n; } list;
        struct { struct tpl_kv *items; size_t n; } map; /* lookups are linear: maps are small */
    } u;
};

struct tpl_kv {
    struct str key;
    struct tpl_value value;
};

/* Cheap constructors (no allocation). */
static inline struct tpl_value tpl_none(void) { return (struct tpl_value){ .type = TPL_NONE }; }
static inline struct tpl_value tpl_bool(bool b) { return (struct tpl_value){ .type = TPL_BOOL, .u.b = b }; }
static inline struct tpl_value tpl_int(long long i) { return (struct tpl_value){ .type = TPL_INT, .u.i = i }; }
static inline struct tpl_value tpl_str(struct str s) { return (struct tpl_value){ .type = TPL_STR, .u.s = s }; }
static inline struct tpl_value tpl_safe(struct str s) { return (struct tpl_value){ .type = TPL_SAFE, .u.s = s }; }
static inline struct tpl_value tpl_list(struct tpl_value *items, size_t n)
{
    return (struct tpl_value){ .type = TPL_LIST, .u.list = { items, n } };
}
static inline struct tpl_value tpl_map(struct tpl_kv *items, size_t n)
{
    return (struct tpl_value){ .type = TPL_MAP, .u.map = { items, n } };
}

/* Map lookup by key; NULL when absent or when m is not a map. */
const struct tpl_value *tpl_map_get(const struct tpl_value *m, struct str key);

/* One fragment a render built because the store did not have it. */
struct tpl_frag {
    struct str key;      /* Flask-Caching's key (tpl_frag_key) */
    struct str value;    /* the rendered markup, in the render's arena */
    long timeout_s;      /* < 0: the store's default (None in the template); 0: never expire */
};

/* The fragment store behind {% cache %}: its own ctx (the cache layer's
 * store, not the request). The engine builds every key, fetches a loop's
 * fragments with one get_multi before the loop, and hands what it had to
 * render to one store call when the render ends. A NULL get_multi means no
 * cache: {% cache %} simply renders its body. */
struct tpl_frag_hooks {
    void *ctx;
    /* Fill found[i] (and values[i], in arena a) for n keys in one round trip.
     * Anything but TL_OK: the engine treats every key as a miss. */
    enum tl_err (*get_multi)(void *ctx, const struct str *keys, size_t n, struct arena *a,
                             struct str *values, bool *found);
    /* Called once per render (not at all when nothing missed) with every
     * fragment rendered in it, in the order they completed (inner ones
     * first); frags and a are valid for the call only. */
    void (*store)(void *ctx, const struct tpl_frag *frags, size_t n, struct arena *a);
};

/* Hooks the app provides; any may be NULL. */
struct tpl_hooks {
    void *ctx;           /* for url_for and flashed_messages (the request) */
    /* url_for(endpoint, name=value...): append the URL to out. The URL is a
     * plain string, escaped on output as Flask's is ("&" -> "&amp;"). */
    enum tl_err (*url_for)(void *ctx, struct str endpoint, const struct tpl_kv *kwargs, size_t n,
                           struct strbuf *out);
    /* get_flashed_messages(): a TPL_LIST of TPL_STR (empty list when NULL);
     * with_categories (Flask's get_flashed_messages(with_categories=true)):
     * a TPL_LIST of two-item lists [category, message]. */
    struct tpl_value (*flashed_messages)(void *ctx, bool with_categories);
    struct tpl_frag_hooks frags;
};

/* Flask-Caching's make_template_fragment_key(name, vary_on) in arena a:
 * "_template_fragment_cache_" + name, then "_" + the vary values joined by
 * "_" when there are any. The only place that writes the format; the engine
 * uses it for {% cache %}, and anyone deleting a fragment calls it. */
struct str tpl_frag_key(struct arena *a, struct str name, const struct str *vary, size_t n_vary);

struct tpl_set;

/* Compile every *.html / *.txt file under dir (names relative to dir, e.g.
 * "task_list/index.html"). Resolves extends/include targets at load time.
 * NULL with d = "template:line:col: what was expected" on the first error. */
struct tpl_set *tpl_set_load(const char *dir, struct tl_diag *d);

/* Compile templates given as (name, source) pairs, for tests and fuzzing. */
struct tpl_set *tpl_set_from_strings(const char *const *names, const char *const *sources,
                                     size_t n, struct tl_diag *d);

void tpl_set_free(struct tpl_set *set);

bool tpl_set_has(const struct tpl_set *set, const char *name);

/* Render template name with variables vars (a TPL_MAP; may be NULL) into out.
 * Loops containing {% cache %} tags fetch all their fragments with one
 * frags.get_multi call before rendering the loop; the fragments that missed
 * go to one frags.store call at the end (also after a runtime error, for
 * those that completed). Runtime errors (unknown
 * template, bad types where Jinja2 raises) give TL_EINVAL with d filled;
 * out may then hold partial output. Undefined variables render as empty, as
 * Jinja2's default Undefined does. */
enum tl_err tpl_render(const struct tpl_set *set, const char *name, const struct tpl_value *vars,
                       const struct tpl_hooks *hooks, struct arena *a, struct strbuf *out,
                       struct tl_diag *d);

#endif
