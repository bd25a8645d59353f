/*
 * tests/template/test_template_load.c - the engine's API around the cases:
 *   loading a directory (names, skipped files, errors with file:line:col,
 *   a failed reload leaving the old set usable), hooks left NULL, cache hooks
 *   that fail, and that a warm render calls malloc zero times (arena only).
 * Linked with -Wl,--wrap=malloc to count the engine's mallocs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cases_file.h"

#include "../lib/check.h"

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
static unsigned long n_mallocs;

void *__wrap_malloc(size_t n)
{
    n_mallocs++;
    return __real_malloc(n);
}



static void write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0700);
    *slash = '/';
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static const char *src_root(void)
{
    const char *r = getenv("TL_SOURCE_ROOT");
    return r ? r : ".";
}

/* The tutorial directory renders exactly what Jinja2 rendered for the
 * tutorial-three-tasks case. */
static void test_load_tutorial(struct arena *a)
{
    char dir[1024], cases_path[1024];
    snprintf(dir, sizeof dir, "%s/tests/template/tutorial", src_root());
    snprintf(cases_path, sizeof cases_path, "%s/tests/template/cases", src_root());
    struct tl_diag d = { 0 };
    struct tpl_set *set = tpl_set_load(dir, &d);
    CHECK(set, "%s:%u:%u: %s", d.file, d.line, d.col, d.msg);
    if (!set)
        return;
    CHECK(tpl_set_has(set, "base.html"), "base.html");
    CHECK(tpl_set_has(set, "task_list/index.html"), "nested name");
    CHECK(!tpl_set_has(set, "index.html"), "names are relative to the directory");
    struct tc_case *cases;
    long n = tc_read(cases_path, a, &cases);
    const struct tc_case *c = NULL;
    for (long i = 0; i < n; i++)
        if (strcmp(cases[i].name, "tutorial-three-tasks") == 0)
            c = &cases[i];
    CHECK(c, "case tutorial-three-tasks");
    if (c) {
        struct tpl_value vars;
        CHECK(tc_json_value(c->context, a, &vars), "context");
        struct strbuf out;
        strbuf_init(&out, a, 0);
        /* No hooks at all: the cache tag renders its body; url_for fails. */
        enum tl_err err = tpl_render(set, "task_list/index.html", &vars, NULL, a, &out, &d);
        CHECK(err == TL_EINVAL && strstr(d.msg, "url_for") != NULL, "%s", d.msg);
    }
    tpl_set_free(set);
}

static void test_load_errors(void)
{
    char dir[] = "/tmp/tl-test-template.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        failures++;
        return;
    }
    write_file(dir, "ok.html", "{{ 1 }}\n");
    write_file(dir, "sub/also.txt", "{% include 'ok.html' %}");
    write_file(dir, ".hidden.html", "{% broken");
    write_file(dir, "notes.md", "{% broken");
    write_file(dir, "ok.html.swp", "{% broken");
    struct tl_diag d = { 0 };
    struct tpl_set *good = tpl_set_load(dir, &d);
    CHECK(good, "%s", d.msg);
    CHECK(tpl_set_has(good, "sub/also.txt"), "subdirectory");
    CHECK(!tpl_set_has(good, ".hidden.html"), "hidden files are skipped");

    /* A broken template refuses the whole set; the old one stays usable (SIGHUP). */
    write_file(dir, "sub/bad.html", "<ul>\n  <li>{{ t|foo }}</li>\n");
    struct tpl_set *bad = tpl_set_load(dir, &d);
    char msg[600];
    tl_diag_format(&d, msg, sizeof msg);
    CHECK(!bad, "broken set loaded");
    CHECK(strcmp(msg, "sub/bad.html:2:12: unknown filter \"foo\"") == 0, "%s", msg);
    struct arena *a = arena_new(0);
    struct strbuf out;
    strbuf_init(&out, a, 0);
    CHECK(tpl_render(good, "sub/also.txt", NULL, NULL, a, &out, &d) == TL_OK, "%s", d.msg);
    CHECK(out.p && strcmp(out.p, "1") == 0, "%s", out.p);
    strbuf_reset(&out);
    CHECK(tpl_render(good, "missing.html", NULL, NULL, a, &out, &d) == TL_EINVAL &&
              strstr(d.msg, "not found"), "%s", d.msg);
    arena_free(a);
    tpl_set_free(good);

    write_file(dir, "sub/bad.html", "caf\xc3(\n");
    bad = tpl_set_load(dir, &d);
    CHECK(!bad && d.line == 1 && d.col == 4 && strstr(d.msg, "UTF-8"), "%u:%u %s", d.line, d.col,
          d.msg);

    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
    CHECK(!tpl_set_load("/nonexistent/templates", &d) && d.msg[0], "missing dir");

    const char *names[] = { "a.html", "b.html" };
    const char *cyc[] = { "{% extends 'b.html' %}", "{% extends 'a.html' %}" };
    CHECK(!tpl_set_from_strings(names, cyc, 2, &d) && strstr(d.msg, "cycle"), "%s", d.msg);
}

struct count_hooks {
    unsigned gets, stores, sets;   /* sets: fragments handed to the store calls */
    bool fail;
};

static enum tl_err failing_get(void *ctx, const struct str *keys, size_t n, struct arena *a,
                               struct str *values, bool *found)
{
    struct count_hooks *h = ctx;
    (void)keys, (void)a, (void)values;
    h->gets++;
    for (size_t i = 0; i < n; i++)
        found[i] = true; /* garbage that must be ignored on error */
    return h->fail ? TL_EUNAVAIL : TL_OK;
}

static void counting_store(void *ctx, const struct tpl_frag *frags, size_t n, struct arena *a)
{
    (void)frags, (void)a;
    ((struct count_hooks *)ctx)->stores++;
    ((struct count_hooks *)ctx)->sets += (unsigned)n;
}

static void test_cache_hooks(struct arena *a)
{
    const char *names[] = { "t.html" };
    const char *src[] = { "{% for i in [1, 2, 3] %}{% cache None, 'k', i %}<{{ i }}>{% endcache %}"
                          "{% endfor %}" };
    struct tl_diag d;
    struct tpl_set *set = tpl_set_from_strings(names, src, 1, &d);
    CHECK(set, "%s", d.msg);
    struct count_hooks ch = { .fail = true };
    struct tpl_hooks h = { .frags = { .ctx = &ch, .get_multi = failing_get,
                                      .store = counting_store } };
    struct strbuf out;
    strbuf_init(&out, a, 0);
    CHECK(tpl_render(set, "t.html", NULL, &h, a, &out, &d) == TL_OK, "%s", d.msg);
    CHECK(strcmp(out.p, "<1><2><3>") == 0, "cache errors render everything: %s", out.p);
    CHECK(ch.gets == 1 && ch.stores == 1 && ch.sets == 3, "gets %u stores %u of %u", ch.gets,
          ch.stores, ch.sets);

    struct tpl_hooks only_set = { .frags = { .ctx = &ch, .store = counting_store } };
    ch.sets = 0;
    strbuf_reset(&out);
    CHECK(tpl_render(set, "t.html", NULL, &only_set, a, &out, &d) == TL_OK, "%s", d.msg);
    CHECK(strcmp(out.p, "<1><2><3>") == 0 && ch.sets == 0, "no get hook: no cache: %s", out.p);
    tpl_set_free(set);
}

static enum tl_err url_for(void *ctx, struct str endpoint, const struct tpl_kv *kw, size_t n,
                           struct strbuf *out)
{
    (void)ctx;
    strbuf_putc(out, '/');
    for (size_t i = 0; i < n; i++)
        if (kw[i].value.type == TPL_INT)
            strbuf_put_int(out, kw[i].value.u.i);
    strbuf_puts(out, "/delete");
    (void)endpoint;
    return TL_OK;
}

/* After one render has sized the arena, rendering the tutorial page with
 * 200 tasks again must not call malloc at all. */
static void test_no_malloc_when_warm(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/template/tutorial", src_root());
    struct tl_diag d;
    struct tpl_set *set = tpl_set_load(dir, &d);
    CHECK(set, "%s", d.msg);
    if (!set)
        return;
    struct arena *a = arena_new(1 << 20);
    enum { N = 200 };
    static struct tpl_kv kv[N][2];
    static struct tpl_value tasks[N];
    for (int i = 0; i < N; i++) {
        kv[i][0] = (struct tpl_kv){ STR("id"), tpl_int(i + 1) };
        kv[i][1] = (struct tpl_kv){ STR("name"), tpl_str(STR("Task <name> & more")) };
        tasks[i] = tpl_map(kv[i], 2);
    }
    struct tpl_kv vkv = { STR("tasks"), tpl_list(tasks, N) };
    struct tpl_value vars = tpl_map(&vkv, 1);
    struct tpl_hooks h = { .url_for = url_for };
    size_t len = 0;
    unsigned long before = 0;
    for (int round = 0; round < 3; round++) {
        if (round == 2)
            before = n_mallocs;
        struct strbuf out;
        strbuf_init(&out, a, 0);
        CHECK(tpl_render(set, "task_list/index.html", &vars, &h, a, &out, &d) == TL_OK, "%s",
              d.msg);
        len = out.len;
        arena_reset(a);
    }
    CHECK(n_mallocs == before, "%lu mallocs in a warm render of %zu bytes", n_mallocs - before,
          len);
    CHECK(len > 80000, "page of %zu bytes", len);
    arena_free(a);
    tpl_set_free(set);
}

int main(void)
{
    struct arena *a = arena_new(0);
    test_load_tutorial(a);
    arena_reset(a);
    test_load_errors();
    test_cache_hooks(a);
    arena_free(a);
    test_no_malloc_when_warm();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
