/*
 * app/app.c - the task list as a srv_app: route table, master state
 * (compiled templates and router, rebuilt on SIGHUP), per-worker context
 * (database, cache client, session store opened after fork), the per-request
 * before/after hooks (lazy session in, session commit out) and the helpers
 * every view shares (render, flash, name validation).
 * Context: master (load/unload) and workers (the rest).
 */
#include <stdio.h>
#include <stdlib.h>

#include "../cache/cached.h"
#include "../cache/client.h"
#include "../cache/fragment.h"
#include "../server/log.h"
#include "../server/server.h"
#include "app.h"
#include "internal.h"

static const struct route app_routes[] = {
    { HTTP_GET | HTTP_POST, "/", "task_list.index", view_index },
    { HTTP_POST, "/<int:id>/delete", "task_list.delete", view_delete },
    { HTTP_GET | HTTP_POST, "/api/tasks", "api.tasks", api_tasks },
    { HTTP_GET | HTTP_DELETE, "/api/tasks/<int:id>", "api.task", api_task },
};

static void *app_master_load(const struct cfg *c, struct tl_diag *d)
{
    struct app_state *st = calloc(1, sizeof *st);
    if (!st) {
        tl_diag_set(d, NULL, 0, 0, "out of memory");
        return NULL;
    }
    st->router = router_new(app_routes, sizeof app_routes / sizeof *app_routes, d);
    if (!st->router)
        goto fail;
    st->templates = tpl_set_load(c->templates, d);
    if (!st->templates)
        goto fail;
    if (!tpl_set_has(st->templates, "task_list/index.html")) {
        tl_diag_set(d, c->templates, 0, 0, "template task_list/index.html not found");
        goto fail;
    }
    return st;
fail:
    router_free(st->router);
    tpl_set_free(st->templates);
    free(st);
    return NULL;
}

static void app_master_unload(void *state)
{
    struct app_state *st = state;
    if (!st)
        return;
    router_free(st->router);
    tpl_set_free(st->templates);
    free(st);
}

static const struct router *app_router_of(void *state)
{
    return ((struct app_state *)state)->router;
}

/* The cache layer's version source: one primary-key read on this worker's
 * connection (cache_bind). */
static enum tl_err app_data_version(void *db, uint64_t *out)
{
    return task_data_version(db, out);
}

static void *app_worker_init(const struct cfg *c, void *state)
{
    struct app_worker *aw = calloc(1, sizeof *aw);
    struct tl_diag d = { 0 };
    if (!aw)
        return NULL;
    aw->cfg = c;
    aw->state = state;
    aw->db = db_open(c->database_url, c->db_timeout_ms, &d);
    if (!aw->db) {
        log_error("database: %s", d.msg);
        free(aw);
        return NULL;
    }
    db_spread(aw->db, srv_worker_index());     /* several hosts: workers start on different ones */
    aw->cache = cache_new(c);
    if (!aw->cache) {
        db_close(aw->db);
        free(aw);
        return NULL;
    }
    cache_bind(aw->cache, c->cache_default_timeout_s, app_data_version, aw->db);
    cache_honor_no_cache(c->debug);
    if (cache_enabled(aw->cache))
        aw->sessions = sess_store_new(c, aw->cache);
    return aw;
}

static void app_worker_fini(void *ctx)
{
    struct app_worker *aw = ctx;
    if (!aw)
        return;
    sess_store_free(aw->sessions);
    cache_bind(NULL, 0, NULL, NULL);
    cache_free(aw->cache);
    db_close(aw->db);
    free(aw);
}

static enum tl_err app_before(struct req *r, struct resp *w)
{
    (void)w;
    struct app_worker *aw = app_worker_of(r);
    struct app_request *ar = arena_calloc(r->arena, 1, sizeof *ar);
    if (!ar)
        return TL_ENOMEM;
    if (aw->sessions)
        ar->sess = sess_begin(aw->sessions, req_cookie(r, "session"), r->arena);
    if (aw->cfg->debug) {
        ar->db_queries_at_start = db_query_count(aw->db);
        ar->cache_round_trips_at_start = cache_stats_of(aw->cache)->round_trips;
    }
    r->app_req = ar;
    return TL_OK;
}

static void app_after(struct req *r, struct resp *w)
{
    struct app_request *ar = app_request_of(r);
    struct app_worker *aw = app_worker_of(r);
    if (!ar)
        return;
    if (ar->sess) {
        struct str cookie = STR_NULL;
        sess_commit(ar->sess, r->is_https || aw->cfg->session_cookie_secure, &cookie);
        if (cookie.len)
            resp_set_cookie(w, cookie);
    }
    if (aw->cfg->debug) {
        /* What this request cost: tests and benchmarks read it (debug only). */
        char *v = arena_printf(r->arena, "db=%llu; cache_rt=%llu",
                               (unsigned long long)(db_query_count(aw->db) - ar->db_queries_at_start),
                               (unsigned long long)(cache_stats_of(aw->cache)->round_trips -
                                                    ar->cache_round_trips_at_start));
        resp_header(w, "X-Debug-Counters", str_c(v));
    }
}

const struct srv_app app_tasklist = {
    .master_load = app_master_load,
    .master_unload = app_master_unload,
    .router_of = app_router_of,
    .worker_init = app_worker_init,
    .worker_fini = app_worker_fini,
    .before = app_before,
    .after = app_after,
};

/* ---- helpers shared by the views ------------------------------------- */

/* url_for(endpoint, **params) from a template: called once per task row on
 * an uncached render, so small calls use stack arrays and ids are formatted
 * without printf. */
static enum tl_err app_hook_url_for(void *ctx, struct str endpoint, const struct tpl_kv *kwargs,
                                    size_t n, struct strbuf *out)
{
    enum { APP_URL_FOR_STACK = 8 };
    struct req *r = ctx;
    struct str names_stack[APP_URL_FOR_STACK], values_stack[APP_URL_FOR_STACK];
    struct str *names = names_stack, *values = values_stack;
    if (n > APP_URL_FOR_STACK) {
        names = arena_alloc(r->arena, n * sizeof *names);
        values = arena_alloc(r->arena, n * sizeof *values);
        if (!names || !values)
            return TL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        names[i] = kwargs[i].key;
        const struct tpl_value *v = &kwargs[i].value;
        if (v->type == TPL_INT) {
            struct strbuf num;
            strbuf_init(&num, r->arena, 24);
            strbuf_put_int(&num, v->u.i);
            if (num.oom)
                return TL_ENOMEM;
            values[i] = strbuf_str(&num);
        } else if (v->type == TPL_STR || v->type == TPL_SAFE) {
            values[i] = v->u.s;
        } else {
            return TL_EINVAL;
        }
    }
    return router_url_for(app_worker_of(r)->state->router, endpoint, names, values, n, out);
}

static struct tpl_value app_hook_flashes(void *ctx)
{
    struct req *r = ctx;
    struct app_request *ar = app_request_of(r);
    struct str *cats = NULL, *msgs = NULL;
    size_t n = 0;
    if (ar && ar->sess)
        n = sess_pop_flashes(ar->sess, &cats, &msgs);
    size_t extra = ar ? ar->n_messages : 0;
    struct tpl_value *items = arena_alloc(r->arena, (n + extra + 1) * sizeof *items);
    if (!items)
        return tpl_list(NULL, 0);
    for (size_t i = 0; i < n; i++)
        items[i] = tpl_str(msgs[i]);
    for (size_t i = 0; i < extra; i++)
        items[n + i] = tpl_str(ar->messages[i]);
    return tpl_list(items, n + extra);
}

enum tl_err app_render(struct req *r, struct resp *w, const char *name, const struct tpl_value *vars)
{
    const struct app_worker *aw = app_worker_of(r);
    struct tpl_hooks hooks = {
        .ctx = r,
        .url_for = app_hook_url_for,
        .flashed_messages = app_hook_flashes,
        .frag_get_multi = frag_get_multi,
        .frag_set = frag_set,
    };
    struct tl_diag d = { 0 };
    frag_batch_begin(r->arena);   /* fragments that missed are stored in one write */
    enum tl_err e = tpl_render(aw->state->templates, name, vars, &hooks, r->arena, &w->body, &d);
    frag_batch_flush();
    if (e != TL_OK) {
        char buf[512];
        tl_diag_format(&d, buf, sizeof buf);
        log_error("template: %s", buf);
        return e == TL_EUNAVAIL ? e : TL_EIO;
    }
    return w->body.oom ? TL_ENOMEM : TL_OK;
}

bool app_sessions_usable(const struct req *r)
{
    const struct app_request *ar = app_request_of(r);
    return ar && ar->sess && cache_enabled(app_worker_of(r)->cache);
}

void app_flash(struct req *r, struct str msg)
{
    struct app_request *ar = app_request_of(r);
    if (app_sessions_usable(r)) {
        sess_flash(ar->sess, STR("message"), msg);
        return;
    }
    struct str *m = arena_realloc(r->arena, ar->messages, ar->n_messages * sizeof *m,
                                  (ar->n_messages + 1) * sizeof *m);
    if (!m)
        return;
    m[ar->n_messages++] = msg;
    ar->messages = m;
}

const char *app_task_name_problem(const struct req *r, struct str name)
{
    size_t chars = 0;
    bool blank = true;
    for (size_t i = 0; i < name.len; i++) {
        unsigned char c = (unsigned char)name.p[i];
        if ((c & 0xC0) != 0x80)
            chars++;
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            blank = false;
        if (c < 0x20 && c != '\t')
            return "Task name must not contain control characters.";
    }
    if (blank)
        return "Task name is required.";
    unsigned max = app_worker_of(r)->cfg->name_max;
    if (max && chars > max)
        return arena_printf(r->arena, "Task name must be at most %u characters.", max);
    return NULL;
}
