/*
 * template/set.c - loading a directory of templates into one immutable set.
 * Owns: walking the template directory, reading files, compiling each
 *   (normalize -> lex -> parse), resolving literal extends/include targets and
 *   refusing extends cycles, name lookup (sorted array, binary search).
 * Invariants: a set is all-or-nothing: on any error nothing is returned and
 *   the caller keeps whatever set it had (a SIGHUP reload keeps the old one).
 *   All memory of a set is one arena, released by tpl_set_free.
 * Context: master, at start-up and on SIGHUP, before forking workers.
 */
#include "internal.h"

#include "../base/utf8.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define TPL_FILE_MAX (4u << 20) /* a template larger than this is a mistake */

struct tpl_files {
    char **names;
    char **sources;
    size_t *lens;
    size_t n, cap;
};

static struct tpl_set *tpl_set_build(const char *const *names, const char *const *sources,
                                 const size_t *lens, size_t n, struct tl_diag *d);
static bool tpl_set_compile_one(struct tpl_set *set, const char *name, struct str src,
                        struct tl_diag *d);
static bool tpl_set_link_nodes(struct tpl_set *set, const struct tpl_template *t, struct tpl_node *n,
                       struct tl_diag *d);
static bool tpl_set_check_cycles(const struct tpl_set *set, struct tl_diag *d);
static bool tpl_set_utf8_check(const char *name, struct str s, struct tl_diag *d);
static int tpl_set_walk_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw);
static bool tpl_set_read_file(const char *path, char **out, size_t *len);
static int tpl_set_cmp_tpl(const void *a, const void *b);
static int tpl_set_cmp_name(const void *key, const void *elem);

/* nftw has no user pointer: the walk's state, used only inside tpl_set_load. */
static struct tpl_files *walk_files;
static size_t walk_root_len;
static bool walk_failed;

struct tpl_set *tpl_set_load(const char *dir, struct tl_diag *d)
{
    struct tpl_files files = { 0 };
    struct tpl_set *set = NULL;
    walk_files = &files;
    walk_root_len = strlen(dir);
    while (walk_root_len > 1 && dir[walk_root_len - 1] == '/')
        walk_root_len--;
    walk_failed = false;
    if (nftw(dir, tpl_set_walk_cb, 16, FTW_PHYS) != 0 || walk_failed) {
        tl_diag_set(d, dir, 0, 0, "cannot read templates: %s",
                    walk_failed ? "unreadable or oversized file" : strerror(errno));
        goto out;
    }
    set = tpl_set_build((const char *const *)files.names, (const char *const *)files.sources,
                    files.lens, files.n, d);
out:
    for (size_t i = 0; i < files.n; i++) {
        free(files.names[i]);
        free(files.sources[i]);
    }
    free(files.names);
    free(files.sources);
    free(files.lens);
    walk_files = NULL;
    return set;
}

struct tpl_set *tpl_set_from_strings(const char *const *names, const char *const *sources,
                                     size_t n, struct tl_diag *d)
{
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    if (!lens) {
        tl_diag_set(d, NULL, 0, 0, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(sources[i]);
    struct tpl_set *set = tpl_set_build(names, sources, lens, n, d);
    free(lens);
    return set;
}

void tpl_set_free(struct tpl_set *set)
{
    if (set)
        arena_free(set->arena);
}

bool tpl_set_has(const struct tpl_set *set, const char *name)
{
    return set && name && tpl_set_find(set, str_c(name)) != NULL;
}

const struct tpl_template *tpl_set_find(const struct tpl_set *set, struct str name)
{
    if (!set->n)
        return NULL;
    struct tpl_template **t = bsearch(&name, set->t, set->n, sizeof *set->t, tpl_set_cmp_name);
    return t ? *t : NULL;
}

static struct tpl_set *tpl_set_build(const char *const *names, const char *const *sources,
                                 const size_t *lens, size_t n, struct tl_diag *d)
{
    struct arena *a = arena_new(0);
    struct tpl_set *set = a ? arena_calloc(a, 1, sizeof *set) : NULL;
    if (!set)
        goto fail;
    set->arena = a;
    set->t = arena_calloc(a, n ? n : 1, sizeof *set->t);
    if (!set->t)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (!tpl_set_compile_one(set, names[i], (struct str){ sources[i], lens[i] }, d)) {
            arena_free(a);
            return NULL;
        }
    }
    qsort(set->t, set->n, sizeof *set->t, tpl_set_cmp_tpl);
    for (size_t i = 1; i < set->n; i++) {
        if (strcmp(set->t[i - 1]->name, set->t[i]->name) == 0) {
            tl_diag_set(d, set->t[i]->name, 0, 0, "template defined twice");
            arena_free(a);
            return NULL;
        }
    }
    for (size_t i = 0; i < set->n; i++) {
        if (!tpl_set_link_nodes(set, set->t[i], set->t[i]->body, d)) {
            arena_free(a);
            return NULL;
        }
    }
    if (!tpl_set_check_cycles(set, d)) {
        arena_free(a);
        return NULL;
    }
    return set;
fail:
    tl_diag_set(d, NULL, 0, 0, "out of memory");
    arena_free(a);
    return NULL;
}

static bool tpl_set_compile_one(struct tpl_set *set, const char *name, struct str src,
                        struct tl_diag *d)
{
    if (!tpl_set_utf8_check(name, src, d))
        return false;
    struct str norm = tpl_normalize_source(set->arena, src);
    struct tpl_tokens toks = { 0 };
    if (!norm.p) {
        tl_diag_set(d, name, 0, 0, "out of memory");
        return false;
    }
    if (!tpl_lex(name, norm, set->arena, &toks, d))
        return false;
    struct tpl_template *t = tpl_parse(name, &toks, set->arena, d);
    if (!t)
        return false;
    set->t[set->n++] = t;
    return true;
}

/* Resolve literal extends/include targets now, so that a typo refuses
 * start-up instead of failing the first request. */
static bool tpl_set_link_nodes(struct tpl_set *set, const struct tpl_template *t, struct tpl_node *n,
                       struct tl_diag *d)
{
    for (; n; n = n->next) {
        if ((n->kind == ND_EXTENDS || n->kind == ND_INCLUDE) && n->expr->kind == EX_CONST &&
            n->expr->cval.type == TPL_STR) {
            n->target = tpl_set_find(set, n->expr->cval.u.s);
            if (!n->target && !n->ignore_missing) {
                tl_diag_set(d, t->name, n->expr->line, n->expr->col, "template \"%.*s\" not found",
                            STR_FMT(n->expr->cval.u.s));
                return false;
            }
        }
        if (!tpl_set_link_nodes(set, t, n->body, d) || !tpl_set_link_nodes(set, t, n->orelse, d))
            return false;
    }
    return true;
}

/* a extends b extends a would loop at render time: refuse it at load. */
static bool tpl_set_check_cycles(const struct tpl_set *set, struct tl_diag *d)
{
    for (size_t i = 0; i < set->n; i++) {
        const struct tpl_template *t = set->t[i];
        for (size_t step = 0; t && step <= set->n; step++) {
            const struct tpl_node *n = t->body;
            while (n && !(n->kind == ND_EXTENDS && n->target))
                n = n->next;
            t = n ? n->target : NULL;
            if (t == set->t[i]) {
                tl_diag_set(d, t->name, 0, 0, "templates extend each other in a cycle");
                return false;
            }
        }
    }
    return true;
}

/* Jinja2 reads templates as UTF-8 and fails on anything else; so do we, with
 * the line and column of the first bad byte (base/utf8.h finds it). */
static bool tpl_set_utf8_check(const char *name, struct str s, struct tl_diag *d)
{
    size_t bad = utf8_invalid_at(s);
    if (bad == s.len)
        return true;
    unsigned line = 1, col = 1;   /* col counts code points, as editors do */
    for (size_t i = 0; i < bad; i++) {
        if (s.p[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)s.p[i] & 0xC0) != 0x80) {
            col++;
        }
    }
    tl_diag_set(d, name, line, col, s.p[bad] ? "invalid UTF-8" : "NUL byte in template");
    return false;
}

static int tpl_set_walk_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    const char *base = path + ftw->base;
    if (ftw->level > 0 && base[0] == '.')
        return 0; /* editor swap files, .git */
    if (type != FTW_F)
        return 0;
    size_t len = strlen(path);
    bool wanted = (len > 5 && strcmp(path + len - 5, ".html") == 0) ||
                  (len > 4 && strcmp(path + len - 4, ".txt") == 0);
    if (!wanted)
        return 0;
    struct tpl_files *f = walk_files;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        char **names = realloc(f->names, cap * sizeof *names);
        if (names)
            f->names = names;
        char **sources = realloc(f->sources, cap * sizeof *sources);
        if (sources)
            f->sources = sources;
        size_t *lens = realloc(f->lens, cap * sizeof *lens);
        if (lens)
            f->lens = lens;
        if (!names || !sources || !lens) {
            walk_failed = true;
            return 1;
        }
        f->cap = cap;
    }
    const char *rel = path + walk_root_len;
    while (*rel == '/')
        rel++;
    char *name = strdup(rel), *src = NULL;
    size_t src_len = 0;
    if (!name || sb->st_size > (off_t)TPL_FILE_MAX || !tpl_set_read_file(path, &src, &src_len)) {
        free(name);
        walk_failed = true;
        return 1;
    }
    f->names[f->n] = name;
    f->sources[f->n] = src;
    f->lens[f->n++] = src_len;
    return 0;
}

static bool tpl_set_read_file(const char *path, char **out, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (n < cap)
            break;
        if (cap >= TPL_FILE_MAX) {
            free(buf);
            buf = NULL;
            break;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool ok = buf && !ferror(fp);
    fclose(fp);
    if (!ok) {
        free(buf);
        return false;
    }
    *out = buf;
    *len = n;
    return true;
}

static int tpl_set_cmp_tpl(const void *a, const void *b)
{
    const struct tpl_template *x = *(const struct tpl_template *const *)a;
    const struct tpl_template *y = *(const struct tpl_template *const *)b;
    return strcmp(x->name, y->name);
}

static int tpl_set_cmp_name(const void *key, const void *elem)
{
    const struct str *k = key;
    const struct tpl_template *t = *(const struct tpl_template *const *)elem;
    size_t tl = strlen(t->name), n = k->len < tl ? k->len : tl;
    int c = n ? memcmp(k->p, t->name, n) : 0;
    if (c)
        return c;
    return k->len < tl ? -1 : k->len > tl;
}
