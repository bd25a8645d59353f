/*
 * tests/cache/test_fragment.c - the fragment store (src/cache/fragment.c)
 *   under the template engine, against fakes of the memcached client and the
 *   same-host tier linked in place of client.c and tier.c.
 * Owns: the fakes (a key/value table each, and a log of every call) and the
 *   scenarios: a loop's fragments cost one tier lookup per key and one
 *   memcached multi-get for the tier's misses; the misses are stored with
 *   one pipelined write at the end of the render, and only they; every key
 *   is built once; memcached trouble renders everything; timeouts split the
 *   write into runs.
 * Context: unit test, no servers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/client.h"
#include "cache/fragment.h"
#include "cache/tier.h"

#include "../lib/check.h"

#define FAKE_MAX 64

/* A fake server: its entries and how it was called. */
struct fake_kv {
    struct str keys[FAKE_MAX], values[FAKE_MAX];
    size_t n;
};

struct cache {
    struct fake_kv kv;
    bool is_down;
    unsigned get_multis, set_manys;
    char log[4096];             /* "get k1 k2\n", "set_many 300 k1 k2\n" */
};

struct tier {
    struct fake_kv kv;
    unsigned gets, puts;
};

static unsigned test_url_fors;

static void fake_put(struct fake_kv *kv, struct str key, struct str value)
{
    size_t k = 0;
    while (k < kv->n && !str_eq(kv->keys[k], key))
        k++;
    if (k == FAKE_MAX)
        return;
    if (k < kv->n) {
        free((void *)kv->keys[k].p);
        free((void *)kv->values[k].p);
    }
    /* the render arena is reset between renders: keep copies */
    kv->keys[k] = (struct str){ strndup(key.p, key.len), key.len };
    kv->values[k] = (struct str){ strndup(value.p, value.len), value.len };
    kv->n += k == kv->n;
}

static const struct str *fake_find(const struct fake_kv *kv, struct str key)
{
    for (size_t k = 0; k < kv->n; k++)
        if (str_eq(kv->keys[k], key))
            return &kv->values[k];
    return NULL;
}

static void fake_free(struct fake_kv *kv)
{
    for (size_t k = 0; k < kv->n; k++) {
        free((void *)kv->keys[k].p);
        free((void *)kv->values[k].p);
    }
    kv->n = 0;
}

static void fake_log(struct cache *cc, const char *what, const struct str *keys, size_t n)
{
    size_t len = strlen(cc->log);
    len += (size_t)snprintf(cc->log + len, sizeof cc->log - len, "%s", what);
    for (size_t i = 0; i < n && len < sizeof cc->log; i++)
        len += (size_t)snprintf(cc->log + len, sizeof cc->log - len, " %.*s", STR_FMT(keys[i]));
    if (len < sizeof cc->log)
        snprintf(cc->log + len, sizeof cc->log - len, "\n");
}

/* ---- the fakes fragment.c links against ---- */

enum tl_err cache_get_multi(struct cache *cc, const struct str *keys, size_t n, struct arena *a,
                            struct str *values, bool *found)
{
    (void)a;
    cc->get_multis++;
    fake_log(cc, "get", keys, n);
    for (size_t i = 0; i < n; i++) {
        const struct str *v = cc->is_down ? NULL : fake_find(&cc->kv, keys[i]);
        found[i] = v != NULL;
        if (v)
            values[i] = *v;
    }
    return cc->is_down ? TL_EUNAVAIL : TL_OK;
}

enum tl_err cache_set_many(struct cache *cc, const struct str *keys, const struct str *values,
                           size_t n, unsigned ttl_s)
{
    char what[32];
    snprintf(what, sizeof what, "set_many %u", ttl_s);
    cc->set_manys++;
    fake_log(cc, what, keys, n);
    for (size_t i = 0; i < n; i++)
        fake_put(&cc->kv, keys[i], values[i]);
    return TL_OK;
}

bool tier_get(struct tier *t, struct str key, struct arena *a, struct str *value)
{
    (void)a;
    t->gets++;
    const struct str *v = fake_find(&t->kv, key);
    if (v)
        *value = *v;
    return v != NULL;
}

void tier_put(struct tier *t, struct str key, struct str value, unsigned ttl_s)
{
    (void)ttl_s;
    t->puts++;
    fake_put(&t->kv, key, value);
}

/* ---- the render ---- */

static enum tl_err test_url_for(void *ctx, struct str endpoint, const struct tpl_kv *kw, size_t n,
                                struct strbuf *out)
{
    (void)ctx, (void)endpoint;
    test_url_fors++;
    strbuf_putc(out, 'u');
    for (size_t i = 0; i < n; i++)
        strbuf_put_int(out, kw[i].value.u.i);
    return TL_OK;
}

/* Render src with tasks 1..n_tasks through store fs; the output. */
static const char *test_render(struct frag_store *fs, const char *src, size_t n_tasks,
                               struct arena *a)
{
    static const char *const names[] = { "t.html" };
    struct tpl_kv kv[8];
    struct tpl_value tasks[8];
    static struct tl_diag d;   /* its message may be the result */
    struct tpl_set *set = tpl_set_from_strings(names, &src, 1, &d);
    if (!set)
        return d.msg;
    for (size_t i = 0; i < n_tasks && i < 8; i++) {
        kv[i] = (struct tpl_kv){ STR("id"), tpl_int((long long)i + 1) };
        tasks[i] = tpl_map(&kv[i], 1);
    }
    struct tpl_kv vars_kv = { STR("tasks"), tpl_list(tasks, n_tasks) };
    struct tpl_value vars = tpl_map(&vars_kv, 1);
    struct tpl_hooks hooks = { .url_for = test_url_for, .frags = frag_store_hooks(fs) };
    struct strbuf out;
    strbuf_init(&out, a, 256);
    enum tl_err e = tpl_render(set, "t.html", &vars, &hooks, a, &out, &d);
    tpl_set_free(set);
    return e == TL_OK ? out.p : d.msg;
}

static const char *const test_loop =
    "{% for t in tasks %}{% cache None, 'task', url_for('x', id=t.id) %}<{{ t.id }}>"
    "{% endcache %}{% endfor %}";

static struct str test_key(struct arena *a, const char *vary)
{
    struct str v = str_c(vary);
    return tpl_frag_key(a, STR("task"), &v, 1);
}

/* Tier has 1, memcached 2 (good) and 3 (not a fragment); 4 and 5 are new. */
static void test_loop_round_trips(struct arena *a)
{
    struct cache cc = { 0 };
    struct tier t = { 0 };
    fake_put(&t.kv, test_key(a, "u1"), STR("F1\n[1]"));
    fake_put(&cc.kv, test_key(a, "u2"), STR("F1\n[2]"));
    fake_put(&cc.kv, test_key(a, "u3"), STR("garbage"));
    struct frag_store *fs = frag_store_new(&cc, &t, 300);
    test_url_fors = 0;
    const char *out = test_render(fs, test_loop, 5, a);
    CHECK(strcmp(out, "[1][2]<3><4><5>") == 0, "output %s", out);
    CHECK(test_url_fors == 5, "each key built once: %u url_for calls for 5 items", test_url_fors);
    CHECK(t.gets == 5, "one tier lookup per key: %u", t.gets);
    CHECK(cc.get_multis == 1 && cc.set_manys == 1, "get_multis %u set_manys %u", cc.get_multis,
          cc.set_manys);
    const char *want = "get _template_fragment_cache_task_u2 _template_fragment_cache_task_u3 "
                       "_template_fragment_cache_task_u4 _template_fragment_cache_task_u5\n"
                       "set_many 300 _template_fragment_cache_task_u3 "
                       "_template_fragment_cache_task_u4 _template_fragment_cache_task_u5\n";
    CHECK(strcmp(cc.log, want) == 0, "memcached calls:\n%s", cc.log);
    CHECK(t.puts == 4, "the tier gets the memcached hit and the 3 misses: %u", t.puts);
    const struct str *v4 = fake_find(&cc.kv, test_key(a, "u4"));
    CHECK(v4 && str_eq(*v4, STR("F1\n<4>")), "stored with the codec's tag");

    /* Everything is in the tier now: no memcached traffic at all. */
    memset(cc.log, 0, sizeof cc.log);
    cc.get_multis = cc.set_manys = 0;
    out = test_render(fs, test_loop, 5, a);
    CHECK(strcmp(out, "[1][2]<3><4><5>") == 0, "second render %s", out);
    CHECK(cc.get_multis == 0 && cc.set_manys == 0, "warm tier: %s", cc.log);
    frag_store_free(fs);
    fake_free(&cc.kv);
    fake_free(&t.kv);
}

/* No tier, memcached down: one failed multi-get, everything renders and is
 * offered back in one write. */
static void test_memcached_down(struct arena *a)
{
    struct cache cc = { .is_down = true };
    struct frag_store *fs = frag_store_new(&cc, NULL, 300);
    const char *out = test_render(fs, test_loop, 3, a);
    CHECK(strcmp(out, "<1><2><3>") == 0, "output %s", out);
    CHECK(cc.get_multis == 1 && cc.set_manys == 1, "get_multis %u set_manys %u\n%s",
          cc.get_multis, cc.set_manys, cc.log);
    frag_store_free(fs);
    fake_free(&cc.kv);
}

/* One pipelined write per run of equal timeouts, in the order they completed. */
static void test_timeouts(struct arena *a)
{
    static const char *const src =
        "{% cache 60, 'a' %}A{% endcache %}{% cache 60, 'b' %}B{% endcache %}"
        "{% cache None, 'c' %}{% cache 0, 'd' %}D{% endcache %}C{% endcache %}";
    struct cache cc = { 0 };
    struct frag_store *fs = frag_store_new(&cc, NULL, 300);
    const char *out = test_render(fs, src, 0, a);
    CHECK(strcmp(out, "ABDC") == 0, "output %s", out);
    const char *want = "get _template_fragment_cache_a\nget _template_fragment_cache_b\n"
                       "get _template_fragment_cache_c\nget _template_fragment_cache_d\n"
                       "set_many 60 _template_fragment_cache_a _template_fragment_cache_b\n"
                       "set_many 0 _template_fragment_cache_d\n"
                       "set_many 300 _template_fragment_cache_c\n";
    CHECK(strcmp(cc.log, want) == 0, "memcached calls:\n%s", cc.log);
    frag_store_free(fs);
    fake_free(&cc.kv);
}

static void test_no_store(struct arena *a)
{
    struct tpl_frag_hooks h = frag_store_hooks(NULL);
    CHECK(!h.get_multi && !h.store && !h.ctx, "no store, no hooks");
    const char *out = test_render(NULL, test_loop, 2, a);
    CHECK(strcmp(out, "<1><2>") == 0, "no cache renders the bodies: %s", out);
}

int main(void)
{
    struct arena *a = arena_new(0);
    test_loop_round_trips(a);
    arena_reset(a);
    test_memcached_down(a);
    arena_reset(a);
    test_timeouts(a);
    arena_reset(a);
    test_no_store(a);
    arena_free(a);
    if (!failures)
        printf("ok\n");
    return check_exit();
}
