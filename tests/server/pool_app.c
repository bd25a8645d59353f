/*
 * tests/server/pool_app.c - a small app on srv_serve() for the end-to-end tests
 *   and the benchmark of the pool (the full tasklist binary needs every layer).
 * Usage: pool_app serve [--config FILE] [--set section.key=value]...
 * Routes: GET / (hello), POST /echo (form echo), GET /sleep?ms=N,
 *   GET /items/<int:id>, GET /fail (503), GET /boom (500), GET /gen (the
 *   [server] templates value of the generation serving), GET /pid,
 *   GET /url (url_for), GET /bench (an 11 KB page, like the libfcgi hello).
 * Env: POOL_APP_INIT_FAIL_FILE - while that file exists worker_init fails
 *   (crash-loop brake test).
 * Context: test helper; master and workers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"
#include "base/log.h"
#include "server/server.h"

struct pool_state {
    struct router *router;
    char tag[CFG_PATH_MAX];
    char bench[11 * 1024];
};

static const char *pool_config;
static const char *pool_sets[32];
static int pool_n_sets;

static enum tl_err pool_index(struct req *r, struct resp *w)
{
    strbuf_puts(&w->body, "hello\n");
    return TL_OK;
}

static enum tl_err pool_echo(struct req *r, struct resp *w)
{
    w->content_type = "text/plain; charset=utf-8";
    for (size_t i = 0; i < r->form.n; i++)
        strbuf_printf(&w->body, "%.*s=%.*s\n", STR_FMT(r->form.v[i].name), STR_FMT(r->form.v[i].value));
    return TL_OK;
}

static enum tl_err pool_sleep(struct req *r, struct resp *w)
{
    struct str ms;
    req_kvs_get(&r->args, STR("ms"), &ms);
    long n = ms.len ? strtol(ms.p, NULL, 10) : 100;
    usleep((useconds_t)n * 1000);
    strbuf_printf(&w->body, "slept %ld\n", n);
    return TL_OK;
}

static enum tl_err pool_item(struct req *r, struct resp *w)
{
    strbuf_printf(&w->body, "item %lld\n", r->route_id);
    return TL_OK;
}

static enum tl_err pool_fail(struct req *r, struct resp *w)
{
    return TL_EUNAVAIL;
}

static enum tl_err pool_boom(struct req *r, struct resp *w)
{
    strbuf_puts(&w->body, "half-built");
    return TL_EIO;
}

static struct pool_state *pool_state_of_worker;

static enum tl_err pool_gen(struct req *r, struct resp *w)
{
    strbuf_printf(&w->body, "%s\n", pool_state_of_worker->tag);
    return TL_OK;
}

static enum tl_err pool_pid(struct req *r, struct resp *w)
{
    strbuf_printf(&w->body, "%d\n", (int)getpid());
    return TL_OK;
}

static enum tl_err pool_url(struct req *r, struct resp *w)
{
    struct str names[] = { STR("id"), STR("q") }, values[] = { STR("7"), STR("a b&c") };
    enum tl_err e = router_url_for(pool_state_of_worker->router, STR("item"), names, values, 2,
                                   &w->body);
    strbuf_putc(&w->body, '\n');
    return e;
}

static enum tl_err pool_bench(struct req *r, struct resp *w)
{
    strbuf_append(&w->body, pool_state_of_worker->bench, sizeof pool_state_of_worker->bench);
    return TL_OK;
}

static const struct route pool_routes[] = {
    { HTTP_GET, "/", "index", pool_index },
    { HTTP_POST, "/echo", "echo", pool_echo },
    { HTTP_GET, "/sleep", "sleep", pool_sleep },
    { HTTP_GET, "/items/<int:id>", "item", pool_item },
    { HTTP_GET, "/fail", "fail", pool_fail },
    { HTTP_GET, "/boom", "boom", pool_boom },
    { HTTP_GET, "/gen", "gen", pool_gen },
    { HTTP_GET, "/pid", "pid", pool_pid },
    { HTTP_GET, "/url", "url", pool_url },
    { HTTP_GET, "/bench", "bench", pool_bench },
};

static void *pool_master_load(const struct cfg *c, struct tl_diag *d)
{
    struct pool_state *s = calloc(1, sizeof *s);
    if (!s) {
        tl_diag_set(d, NULL, 0, 0, "out of memory");
        return NULL;
    }
    s->router = router_new(pool_routes, sizeof pool_routes / sizeof *pool_routes, d);
    if (!s->router) {
        free(s);
        return NULL;
    }
    snprintf(s->tag, sizeof s->tag, "%s", c->templates);
    for (size_t i = 0; i < sizeof s->bench; i++)
        s->bench[i] = (char)('a' + i % 26);
    memcpy(s->bench, "<html>", 6);
    return s;
}

static void pool_master_unload(void *state)
{
    struct pool_state *s = state;
    router_free(s->router);
    free(s);
}

static const struct router *pool_router_of(void *state)
{
    return ((struct pool_state *)state)->router;
}

static void *pool_worker_init(const struct cfg *c, void *state)
{
    const char *f = getenv("POOL_APP_INIT_FAIL_FILE");
    if (f && access(f, F_OK) == 0)
        return NULL;
    pool_state_of_worker = state;
    return state;
}

static enum tl_err pool_before(struct req *r, struct resp *w)
{
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    resp_header(w, "X-Worker-Pid", str_c(pid));
    return TL_OK;
}

static const struct srv_app pool_app = {
    .master_load = pool_master_load,
    .master_unload = pool_master_unload,
    .router_of = pool_router_of,
    .worker_init = pool_worker_init,
    .before = pool_before,
};

static enum tl_err pool_load(struct cfg *c, struct tl_diag *d, void *arg)
{
    enum tl_err e = cfg_build(c, pool_config, d);
    for (int i = 0; e == TL_OK && i < pool_n_sets; i++) {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", pool_sets[i]);
        char *dot = strchr(buf, '.'), *eq = strchr(buf, '=');
        if (!dot || !eq || dot > eq) {
            tl_diag_set(d, NULL, 0, 0, "--set %s: expected section.key=value", pool_sets[i]);
            return TL_EINVAL;
        }
        *dot = *eq = '\0';
        e = cfg_set(c, buf, dot + 1, eq + 1, d);
    }
    return e;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "serve") != 0) {
        fprintf(stderr, "usage: pool_app serve [--config FILE] [--set section.key=value]...\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            pool_config = argv[++i];
        else if (!strcmp(argv[i], "--set") && i + 1 < argc && pool_n_sets < 32)
            pool_sets[pool_n_sets++] = argv[++i];
        else {
            fprintf(stderr, "pool_app: bad argument \"%s\"\n", argv[i]);
            return 2;
        }
    }
    struct cfg c;
    struct tl_diag d = { 0 };
    if (pool_load(&c, &d, NULL) != TL_OK || cfg_validate(&c, &d) != TL_OK) {
        char buf[700];
        tl_diag_format(&d, buf, sizeof buf);
        fprintf(stderr, "pool_app: %s\n", buf);
        return 2;
    }
    return srv_serve(&c, &pool_app, pool_load, NULL);
}
