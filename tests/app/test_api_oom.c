/*
 * tests/app/test_api_oom.c - the JSON API (api.c) and the name check when
 * memory runs out, on a real SQLite database (migrated from migrations/).
 * Owns: for every point at which the request arena can fail
 *   (arena_fail_after) and every jansson allocation (json_set_alloc_funcs),
 *   the handler returns TL_ENOMEM or a complete answer, never a crash, a
 *   partial list with 200, a page without its Link, an empty Location, or
 *   an over-long name stored
 *   because its message could not be formatted.
 * usage: test_api_oom MIGRATIONS_DIR   (meson passes it)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/internal.h"
#include "db/migrate.h"
#include "base/arena.h"
#include "base/log.h"

#include "../lib/check.h"

static struct cfg t_cfg;
static struct app_worker t_aw;
/* jansson's allocator: the allocation numbered t_json_fail_at (0 = the
 * next) fails, once; the others succeed, so a handler that ignores one
 * failure goes on and shows it (a shorter list). -1 = never fail. */
static long t_json_fail_at = -1;

static void *t_json_malloc(size_t n)
{
    if (t_json_fail_at >= 0 && t_json_fail_at-- == 0)
        return NULL;
    return malloc(n);
}

/* A fresh request of method for /api/tasks in a (reset), and its response. */
static void t_request(struct req *r, struct resp *w, struct arena *a, enum http_method method, const char *body)
{
    arena_fail_after(a, -1);
    arena_reset(a);
    memset(r, 0, sizeof *r);
    r->arena = a;
    r->method = method;
    r->method_name = method == HTTP_POST ? STR("POST") : STR("GET");
    r->path = STR("/api/tasks");
    r->content_type = STR("application/json");
    r->body = str_c(body);
    r->app = &t_aw;
    resp_init(w, a);
}

/* The number of tasks the API lists (no fault injected). */
static int t_count_tasks(struct arena *a)
{
    struct req r;
    struct resp w;
    t_request(&r, &w, a, HTTP_GET, "");
    if (api_tasks(&r, &w) != TL_OK || w.status != 200)
        return -1;
    json_t *doc = json_loadb(w.body.p, w.body.len, 0, NULL);
    int n = json_is_array(doc) ? (int)json_array_size(doc) : -1;
    json_decref(doc);
    return n;
}

/* A name one character over name_max, with the arena failing at every
 * allocation in turn: refused (400) or TL_ENOMEM, never stored. Before the
 * fix, a failed arena_printf of the length message read as "no problem". */
static void test_long_name(struct arena *a)
{
    char body[512];
    char name[256];
    memset(name, 'x', t_cfg.app.name_max + 1);
    name[t_cfg.app.name_max + 1] = '\0';
    snprintf(body, sizeof body, "{\"name\": \"%s\"}", name);
    int before = t_count_tasks(a);
    for (long n = 0; n < 20; n++) {
        struct req r;
        struct resp w;
        t_request(&r, &w, a, HTTP_POST, body);
        arena_fail_after(a, n);
        enum tl_err e = api_tasks(&r, &w);
        arena_fail_after(a, -1);
        CHECK(e == TL_ENOMEM || (e == TL_OK && w.status == 400), "fail after %ld: %s, status %d", n,
              tl_strerror(e), w.status);
    }
    CHECK(t_count_tasks(a) == before, "no over-long name stored: %d tasks, %d before", t_count_tasks(a), before);
}

/* A good name, the arena failing at every point: TL_ENOMEM or 201 with the
 * task's own Location. */
static void test_create(struct arena *a)
{
    int n_created = 0;
    for (long n = 0; n < 30; n++) {
        struct req r;
        struct resp w;
        t_request(&r, &w, a, HTTP_POST, "{\"name\": \"Buy milk\"}");
        arena_fail_after(a, n);
        enum tl_err e = api_tasks(&r, &w);
        arena_fail_after(a, -1);
        if (e == TL_OK && w.status == 201) {
            n_created++;
            json_t *doc = json_loadb(w.body.p, w.body.len, 0, NULL);
            char want[64];
            snprintf(want, sizeof want, "Location: /api/tasks/%lld\r\n",
                     (long long)json_integer_value(json_object_get(doc, "id")));
            json_decref(doc);
            CHECK(w.headers.p && strstr(w.headers.p, want), "fail after %ld: no \"%s\" in \"%.*s\"", n, want,
                  (int)w.headers.len, w.headers.p ? w.headers.p : "");
        } else {
            CHECK(e == TL_ENOMEM, "fail after %ld: %s, status %d", n, tl_strerror(e), w.status);
        }
    }
    CHECK(n_created > 0, "with enough memory the task is created");
}

/* The list with the arena failing from every point on, then each jansson
 * allocation failing once: TL_ENOMEM, a 5xx, or the whole list; never a
 * shorter list with 200. */
static void test_list(struct arena *a)
{
    int total = t_count_tasks(a);
    t_cfg.app.page_size = 10;   /* more tasks than a page: each 200 must carry its Link */
    int want = t_count_tasks(a);
    CHECK(total > 10 && want == 10, "%d tasks, %d on a page", total, want);
    int n_full = 0;
    for (long n = 0; n < 200; n++) {
        bool is_json = n >= 100;
        struct req r;
        struct resp w;
        t_request(&r, &w, a, HTTP_GET, "");
        if (is_json)
            t_json_fail_at = n - 100;
        else
            arena_fail_after(a, n);
        enum tl_err e = api_tasks(&r, &w);
        arena_fail_after(a, -1);
        t_json_fail_at = -1;
        const char *how = is_json ? "jansson fails at" : "arena fails after";
        if (e == TL_OK && w.status == 200 && !w.headers.oom && !w.body.oom) {
            json_t *doc = json_loadb(w.body.p, w.body.len, 0, NULL);
            int got = json_is_array(doc) ? (int)json_array_size(doc) : -1;
            json_decref(doc);
            CHECK(got == want, "%s %ld: 200 with %d of %d tasks: %.*s", how, n % 100, got, want, (int)w.body.len, w.body.p);
            CHECK(w.headers.p && strstr(w.headers.p, "Link: </api/tasks?limit=10&after="), "%s %ld: no Link",
                  how, n % 100);
            n_full++;
        } else {
            /* an overflowing response buffer is the worker's 500 */
            CHECK(e == TL_ENOMEM || (e == TL_OK && (w.status >= 500 || w.headers.oom || w.body.oom)),
                  "%s %ld: %s, status %d", how, n % 100, tl_strerror(e), w.status);
        }
    }
    CHECK(n_full > 0, "with enough memory the list is served");
    t_cfg.app.page_size = 50;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MIGRATIONS_DIR\n", argv[0]);
        return 2;
    }
    char path[128], url[160];
    snprintf(path, sizeof path, "/tmp/tl-test-api-oom-%d.db", (int)getpid());
    snprintf(url, sizeof url, "sqlite:///%s", path);   /* four slashes: absolute */
    unlink(path);
    char log_path[128];
    snprintf(log_path, sizeof log_path, "/tmp/tl-test-api-oom-%d.log", (int)getpid());
    log_open(log_path);   /* the handler logs each out-of-memory 500 */
    cfg_defaults(&t_cfg);
    t_cfg.app.name_max = 20;
    struct tl_diag d = { 0 };
    t_aw.cfg = &t_cfg;
    t_aw.db = db_open(url, 1000, &d);
    if (!t_aw.db || migrate_upgrade(t_aw.db, argv[1], 0, &d) != TL_OK) {
        fprintf(stderr, "database: %s\n", d.msg);
        return 1;
    }
    json_set_alloc_funcs(t_json_malloc, free);
    struct arena *a = arena_new(0);
    test_long_name(a);
    test_create(a);
    test_list(a);
    arena_free(a);
    db_close(t_aw.db);
    unlink(path);
    log_open(NULL);
    unlink(log_path);
    return check_exit();
}
