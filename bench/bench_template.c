/*
 * bench/bench_template.c - render time of the tutorial's task list page.
 * Owns: nothing reusable; prints figures, never fails on them.
 * Renders tests/template/tutorial/task_list/index.html (the tutorial's
 * base.html + index.html) with 20 and 1,000 tasks: without cache hooks,
 * with an in-memory fragment cache that misses every key (cold: render and
 * store), and with the same cache holding every fragment (all hits). Reports
 * microseconds per render, output bytes and arena bytes per render.
 * Usage: bench_template [TEMPLATE_DIR] [SECONDS_PER_ROW]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "template/template.h"

#ifndef TL_SOURCE_ROOT
#define TL_SOURCE_ROOT "."
#endif

struct bench_frag_store {
    struct str *values;      /* by task id; heap copies */
    size_t n;
    bool hits;               /* false: always miss (cold), true: serve what was stored */
    unsigned long gets, keys;
};

static enum tl_err bench_url_for(void *ctx, struct str endpoint, const struct tpl_kv *kw,
                                 size_t n, struct strbuf *out)
{
    (void)ctx;
    (void)endpoint;
    strbuf_putc(out, '/');
    for (size_t i = 0; i < n; i++)
        if (kw[i].value.type == TPL_INT)
            strbuf_put_int(out, kw[i].value.u.i);
    strbuf_append(out, "/delete", 7);
    return TL_OK;
}

static size_t key_id(struct str key)
{
    size_t i = key.len, id = 0, mul = 1;
    while (i > 0 && key.p[i - 1] >= '0' && key.p[i - 1] <= '9') {
        id += (size_t)(key.p[--i] - '0') * mul;
        mul *= 10;
    }
    return id;
}

static enum tl_err store_get_multi(void *ctx, const struct str *keys, size_t n, struct arena *a,
                                   struct str *values, bool *found)
{
    struct bench_frag_store *s = ctx;
    (void)a;
    s->gets++;
    s->keys += n;
    for (size_t i = 0; i < n; i++) {
        size_t id = key_id(keys[i]);
        found[i] = s->hits && id < s->n && s->values[id].p;
        if (found[i])
            values[i] = s->values[id];
    }
    return TL_OK;
}

static void store_put(void *ctx, const struct tpl_frag *frags, size_t n, struct arena *a)
{
    struct bench_frag_store *s = ctx;
    (void)a;
    for (size_t i = 0; i < n && !s->hits; i++) {
        size_t id = key_id(frags[i].key);
        if (id >= s->n || s->values[id].p)
            continue;
        char *p = malloc(frags[i].value.len);
        memcpy(p, frags[i].value.p, frags[i].value.len);
        s->values[id] = (struct str){ p, frags[i].value.len };
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Returns the number of renders done (warm-up included). */
static unsigned long run(const struct tpl_set *set, size_t n_tasks, const char *mode,
                         const struct tpl_hooks *hooks, double seconds)
{
    struct tpl_kv *kv = calloc(n_tasks * 2, sizeof *kv);
    struct tpl_value *tasks = calloc(n_tasks, sizeof *tasks);
    char (*names)[48] = calloc(n_tasks, sizeof *names);
    for (size_t i = 0; i < n_tasks; i++) {
        int len = snprintf(names[i], sizeof names[i], "Task %zu: buy <milk> & eggs", i + 1);
        kv[2 * i] = (struct tpl_kv){ STR("id"), tpl_int((long long)i + 1) };
        kv[2 * i + 1] = (struct tpl_kv){ STR("name"), tpl_str((struct str){ names[i], (size_t)len }) };
        tasks[i] = tpl_map(&kv[2 * i], 2);
    }
    struct tpl_kv vars_kv = { STR("tasks"), tpl_list(tasks, n_tasks) };
    struct tpl_value vars = tpl_map(&vars_kv, 1);
    struct arena *a = arena_new(4u << 20);
    struct tl_diag d;
    size_t bytes = 0, used = 0;
    unsigned long iters = 0;
    double start = 0, elapsed = 0;
    for (int warm = 0; warm < 3; warm++) {       /* size the arena, warm caches */
        struct strbuf out;
        strbuf_init(&out, a, 0);
        if (tpl_render(set, "task_list/index.html", &vars, hooks, a, &out, &d) != TL_OK) {
            fprintf(stderr, "render failed: %s:%u:%u: %s\n", d.file, d.line, d.col, d.msg);
            exit(1);
        }
        arena_reset(a);
    }
    start = now_s();
    do {
        for (int k = 0; k < 16; k++) {
            struct strbuf out;
            strbuf_init(&out, a, 0);
            tpl_render(set, "task_list/index.html", &vars, hooks, a, &out, &d);
            bytes = out.len;
            used = arena_used(a);
            arena_reset(a);
            iters++;
        }
        elapsed = now_s() - start;
    } while (elapsed < seconds);
    printf("%-6zu %-22s %10.1f %10zu %10zu %8lu\n", n_tasks, mode, elapsed / (double)iters * 1e6,
           bytes, used, iters);
    arena_free(a);
    free(kv);
    free(tasks);
    free(names);
    return iters + 3;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : TL_SOURCE_ROOT "/tests/template/tutorial";
    double seconds = argc > 2 ? atof(argv[2]) : 1.0;
    struct tl_diag d;
    struct tpl_set *set = tpl_set_load(dir, &d);
    if (!set) {
        fprintf(stderr, "%s:%u:%u: %s\n", d.file, d.line, d.col, d.msg);
        return 1;
    }
    printf("template render benchmark: %s, tutorial index page\n", dir);
    printf("%-6s %-22s %10s %10s %10s %8s\n", "tasks", "mode", "us/render", "bytes", "arena",
           "renders");
    static const size_t sizes[] = { 20, 1000 };
    for (size_t s = 0; s < 2; s++) {
        size_t n = sizes[s];
        struct bench_frag_store store = { .values = calloc(n + 2, sizeof(struct str)), .n = n + 2 };
        struct tpl_hooks plain = { .url_for = bench_url_for };
        struct tpl_hooks cached = { .url_for = bench_url_for,
                                    .frags = { .ctx = &store, .get_multi = store_get_multi,
                                               .store = store_put } };
        run(set, n, "no cache hooks", &plain, seconds);
        run(set, n, "fragments: all miss", &cached, seconds); /* also fills the store */
        store.hits = true;
        store.gets = store.keys = 0;
        unsigned long renders = run(set, n, "fragments: all hit", &cached, seconds);
        printf("       all hit: %.2f frag_get_multi call(s) with %.0f keys per render\n",
               (double)store.gets / (double)renders, (double)store.keys / (double)renders);
        for (size_t i = 0; i < store.n; i++)
            free((void *)store.values[i].p);
        free(store.values);
    }
    tpl_set_free(set);
    return 0;
}
