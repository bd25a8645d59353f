/*
 * tests/template/test_template_cases.c - renders every case of
 *   tests/template/cases with our engine and compares with the expected text
 *   (which jinja_ref.py checks against real Jinja2) or the expected error.
 * Owns: the test hooks shared with jinja_ref.py: url_for (task_list.index,
 *   task_list.delete(id), static(filename), extra arguments as a query string),
 *   get_flashed_messages from the case's flashes, and a fake fragment cache
 *   preset from the case's cache section that logs every call.
 * Usage: test_template_cases CASES_FILE [CASE_NAME]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases_file.h"

#define STORE_MAX 4096

struct fake {
    struct arena *a;
    struct tpl_value flashes;
    struct str keys[STORE_MAX], values[STORE_MAX];
    size_t n;
    struct strbuf log;
};

/* Test copy of the tutorial's routes; jinja_ref.py has the same function. */
static enum tl_err fake_url_for(void *ctx, struct str endpoint, const struct tpl_kv *kw, size_t n,
                                struct strbuf *out)
{
    (void)ctx;
    const char *used = NULL;
    if (str_eq_c(endpoint, "task_list.index")) {
        strbuf_putc(out, '/');
    } else if (str_eq_c(endpoint, "task_list.delete") || str_eq_c(endpoint, "static")) {
        bool del = endpoint.len == 16;
        used = del ? "id" : "filename";
        size_t i = 0;
        while (i < n && !str_eq_c(kw[i].key, used))
            i++;
        if (i == n)
            return TL_EINVAL;
        struct strbuf v;
        strbuf_init(&v, out->arena, 16);
        if (kw[i].value.type == TPL_INT)
            strbuf_put_int(&v, kw[i].value.u.i);
        else if (kw[i].value.type == TPL_STR || kw[i].value.type == TPL_SAFE)
            strbuf_append_str(&v, kw[i].value.u.s);
        else
            return TL_EINVAL;
        strbuf_puts(out, del ? "/" : "/static/");
        strbuf_append_str(out, strbuf_str(&v));
        if (del)
            strbuf_puts(out, "/delete");
    } else {
        return TL_ENOTFOUND;
    }
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (used && str_eq_c(kw[i].key, used))
            continue;
        strbuf_putc(out, first ? '?' : '&');
        first = false;
        strbuf_append_str(out, kw[i].key);
        strbuf_putc(out, '=');
        const struct tpl_value *v = &kw[i].value;
        if (v->type == TPL_INT)
            strbuf_put_int(out, v->u.i);
        else if (v->type == TPL_STR || v->type == TPL_SAFE)
            strbuf_append_str(out, v->u.s);
        else if (v->type == TPL_BOOL)
            strbuf_puts(out, v->u.b ? "True" : "False");
        else if (v->type == TPL_NONE)
            strbuf_puts(out, "None");
    }
    return TL_OK;
}

/* The case's flashes: strings (category "message", as Flask's flash()) or
 * [category, message] pairs; jinja_ref.py reads them the same way. */
static struct tpl_value fake_flashes(void *ctx, bool with_categories)
{
    struct fake *f = ctx;
    size_t n = f->flashes.type == TPL_LIST ? f->flashes.u.list.n : 0;
    struct tpl_value *out = arena_alloc(f->a, (n + 1) * sizeof *out);
    for (size_t i = 0; out && i < n; i++) {
        struct tpl_value m = f->flashes.u.list.items[i], cat = tpl_str(STR("message"));
        if (m.type == TPL_LIST && m.u.list.n == 2) {
            cat = m.u.list.items[0];
            m = m.u.list.items[1];
        }
        if (with_categories) {
            struct tpl_value *pair = arena_alloc(f->a, 2 * sizeof *pair);
            if (!pair)
                return tpl_list(NULL, 0);
            pair[0] = cat;
            pair[1] = m;
            out[i] = tpl_list(pair, 2);
        } else {
            out[i] = m;
        }
    }
    return out ? tpl_list(out, n) : tpl_list(NULL, 0);
}

static enum tl_err fake_get_multi(void *ctx, const struct str *keys, size_t n, struct arena *a,
                                  struct str *values, bool *found)
{
    struct fake *f = ctx;
    (void)a;
    strbuf_puts(&f->log, "get");
    for (size_t i = 0; i < n; i++) {
        strbuf_putc(&f->log, ' ');
        strbuf_append_str(&f->log, keys[i]);
        found[i] = false;
        for (size_t k = 0; k < f->n; k++) {
            if (str_eq(f->keys[k], keys[i])) {
                found[i] = true;
                values[i] = f->values[k];
            }
        }
    }
    strbuf_putc(&f->log, '\n');
    return TL_OK;
}

/* The one store call of a render: "store" then one indented line per
 * fragment (key and timeout), so the log shows exactly the misses. */
static void fake_store(void *ctx, const struct tpl_frag *frags, size_t n, struct arena *a)
{
    struct fake *f = ctx;
    (void)a;
    strbuf_puts(&f->log, "store\n");
    for (size_t i = 0; i < n; i++) {
        strbuf_printf(&f->log, "  %.*s %ld\n", STR_FMT(frags[i].key), frags[i].timeout_s);
        size_t k = 0;
        while (k < f->n && !str_eq(f->keys[k], frags[i].key))
            k++;
        if (k == f->n && f->n == STORE_MAX)
            continue;
        f->keys[k] = frags[i].key;
        f->values[k] = frags[i].value;
        f->n += k == f->n;
    }
}

static void show(const char *label, const char *s)
{
    fprintf(stderr, "  %s: \"", label);
    for (; s && *s; s++) {
        if (*s == '\n')
            fputs("\\n", stderr);
        else if (*s == '\t')
            fputs("\\t", stderr);
        else
            fputc(*s, stderr);
    }
    fputs("\"\n", stderr);
}

/* Expected "name:line:col fragment" against what we produced. */
static bool error_matches(const char *want, const struct tl_diag *d)
{
    char loc[512];
    snprintf(loc, sizeof loc, "%s:%u:%u", d->file, d->line, d->col);
    const char *sp = strchr(want, ' ');
    size_t loc_len = sp ? (size_t)(sp - want) : strlen(want);
    if (strlen(loc) != loc_len || memcmp(loc, want, loc_len) != 0)
        return false;
    return !sp || strstr(d->msg, sp + 1) != NULL;
}

static bool run_case(size_t idx, const struct tc_case *c, struct arena *a)
{
    struct fake *f = calloc(1, sizeof *f);
    struct tl_diag d = { 0 };
    bool ok = false;
    f->a = a;
    strbuf_init(&f->log, a, 256);
    f->flashes = tpl_list(NULL, 0);
    struct tpl_value ctx = tpl_map(NULL, 0), preset;
    if ((c->context && !tc_json_value(c->context, a, &ctx)) ||
        (c->flashes && !tc_json_value(c->flashes, a, &f->flashes)) ||
        (c->cache && !tc_json_value(c->cache, a, &preset))) {
        fprintf(stderr, "FAIL case %zu \"%s\" (line %u): bad JSON\n", idx, c->name, c->line);
        free(f);
        return false;
    }
    if (c->cache) {
        for (size_t i = 0; i < preset.u.map.n && f->n < STORE_MAX; i++) {
            f->keys[f->n] = preset.u.map.items[i].key;
            f->values[f->n++] = preset.u.map.items[i].value.u.s;
        }
    }
    struct tpl_hooks hooks = { .ctx = f, .url_for = fake_url_for, .flashed_messages = fake_flashes,
                               .frags = { .ctx = f, .get_multi = fake_get_multi,
                                          .store = fake_store } };
    struct tpl_set *set = tpl_set_from_strings(c->tnames, c->tsources, c->n_templates, &d);
    struct strbuf out;
    strbuf_init(&out, a, 1024);
    enum tl_err err = set ? tpl_render(set, c->render ? c->render : c->tnames[0], &ctx, &hooks, a,
                                       &out, &d)
                          : TL_EPARSE;
    char msg[600];
    tl_diag_format(&d, msg, sizeof msg);
    if (c->error) {
        ok = err != TL_OK && error_matches(c->error, &d);
        if (!ok) {
            fprintf(stderr, "FAIL case %zu \"%s\" (line %u): wanted error\n", idx, c->name,
                    c->line);
            show("want", c->error);
            show("got ", err ? msg : out.p);
        }
    } else if (err != TL_OK) {
        fprintf(stderr, "FAIL case %zu \"%s\" (line %u): %s\n", idx, c->name, c->line, msg);
    } else if (strcmp(out.p ? out.p : "", c->expect ? c->expect : "") != 0) {
        fprintf(stderr, "FAIL case %zu \"%s\" (line %u): output differs\n", idx, c->name,
                c->line);
        show("want", c->expect);
        show("got ", out.p);
    } else if (c->calls && strcmp(f->log.p ? f->log.p : "", c->calls) != 0 &&
               !(f->log.len && f->log.p[f->log.len - 1] == '\n' &&
                 strlen(c->calls) == f->log.len - 1 &&
                 memcmp(c->calls, f->log.p, f->log.len - 1) == 0)) {
        fprintf(stderr, "FAIL case %zu \"%s\" (line %u): fragment cache calls differ\n", idx,
                c->name, c->line);
        show("want", c->calls);
        show("got ", f->log.p);
    } else {
        ok = true;
    }
    tpl_set_free(set);
    free(f);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CASES_FILE [CASE_NAME]\n", argv[0]);
        return 2;
    }
    struct arena *file_arena = arena_new(0), *a = arena_new(0);
    struct tc_case *cases;
    long n = tc_read(argv[1], file_arena, &cases);
    if (n < 0)
        return 1;
    long failed = 0, ran = 0;
    for (long i = 0; i < n; i++) {
        if (argc > 2 && strcmp(cases[i].name, argv[2]) != 0)
            continue;
        ran++;
        if (!run_case((size_t)i, &cases[i], a))
            failed++;
        arena_reset(a);
    }
    printf("%ld cases, %ld failed\n", ran, failed);
    arena_free(a);
    arena_free(file_arena);
    return failed ? 1 : 0;
}
