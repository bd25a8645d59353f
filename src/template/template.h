/*
 * template/template.h - a Jinja2 subset: compile a directory once, render many times.
 * Owns: compiled template sets (lexer, parser, AST), the value model the app
 *   fills from database rows, and rendering into a strbuf with autoescaping.
 * Invariants: a tpl_set is immutable after tpl_set_load (shared copy-on-write
 *   by forked workers); rendering allocates only from the given arena.
 * Context: compiled in the master, rendered in workers.
 */
#ifndef TASKLIST_TEMPLATE_TEMPLATE_H
#define TASKLIST_TEMPLATE_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "../err.h"
#include "../server/arena.h"
#include "../server/str.h"
#include "../server/strbuf.h"

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

/* Hooks the app provides; any may be NULL. */
struct tpl_hooks {
    void *ctx;
    /* url_for(endpoint, name=value...): append the URL to out. The URL is a
     * plain string, escaped on output as Flask's is ("&" -> "&amp;"). */
    enum tl_err (*url_for)(void *ctx, struct str endpoint, const struct tpl_kv *kwargs, size_t n,
                           struct strbuf *out);
    /* get_flashed_messages(): a TPL_LIST of TPL_STR (empty list when NULL);
     * with_categories (Flask's get_flashed_messages(with_categories=true)):
     * a TPL_LIST of two-item lists [category, message]. */
    struct tpl_value (*flashed_messages)(void *ctx, bool with_categories);
    /* Fragment cache. key is Flask-Caching's: "_template_fragment_cache_" +
     * name + ("_" + vary values joined by "_" when there are any).
     * timeout_s < 0 means the default (None in the template), 0 = never expire.
     * frag_get_multi fills found[i]/values[i] for n keys in one round trip;
     * values live in the arena. A NULL hook means: no cache (always render). */
    enum tl_err (*frag_get_multi)(void *ctx, const struct str *keys, size_t n, struct arena *a,
                                  struct str *values, bool *found);
    void (*frag_set)(void *ctx, struct str key, struct str value, long timeout_s);
};

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
 * frag_get_multi call before rendering the loop. Runtime errors (unknown
 * template, bad types where Jinja2 raises) give TL_EINVAL with d filled;
 * out may then hold partial output. Undefined variables render as empty, as
 * Jinja2's default Undefined does. */
enum tl_err tpl_render(const struct tpl_set *set, const char *name, const struct tpl_value *vars,
                       const struct tpl_hooks *hooks, struct arena *a, struct strbuf *out,
                       struct tl_diag *d);

#endif
