/*
 * app/app.c - the task list as a srv_app: route table, master state
 * (compiled templates and router, rebuilt on SIGHUP), per-worker context
 * (database, cache client, session store opened after fork, each handed its
 * own settings struct out of struct cfg), the per-request
 * before/after hooks (lazy session in, session commit out) and the helpers
 * every view shares (render, flash, name validation).
 * Context: master (load/unload) and workers (the rest).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../web/cached.h"
#include "../cache/client.h"
#include "../cache/fragment.h"
#include "../cache/tier.h"
#include "../base/log.h"
#include "../server/server.h"
#include "app.h"
#include "internal.h"

static const struct route app_routes[] = {
    { HTTP_GET | HTTP_POST, "/", "task_list.index", view_index },
    { HTTP_POST, "/<int:id>/delete", "task_list.delete", view_delete },
    { HTTP_GET | HTTP_POST, "/api/tasks", "api.tasks", api_tasks },
    { HTTP_GET | HTTP_DELETE, "/api/tasks/<int:id>", "api.task", api_task },
};

/* The same-host tier lives as long as the master: a reload keeps it when
 * its size is unchanged, and otherwise maps a new one for the new workers
 * (the old ones keep their own mapping until they exit). */
static struct tier *app_tier;

static struct tier *app_tier_for(const struct cfg *c)
{
    unsigned mb = c->cache.servers[0] ? c->cache.local_size_mb : 0;
    if (app_tier && tier_size_mb(app_tier) == mb)
        return app_tier;
    tier_free(app_tier);
    app_tier = NULL;
    if (mb == 0)
        return NULL;
    struct tl_diag d = { 0 };
    app_tier = tier_new(mb, c->cache.item_size_max, &d);
    if (!app_tier)
        log_warn("%s; serving without it (memcached only)", d.msg);
    else
        log_info("cache: same-host tier of %u MiB (memfd tasklist-cache)", mb);
    return app_tier;
}

static void app_status_json(void *ctx, struct strbuf *out)
{
    const struct app_worker *aw = ctx;
    if (!aw || !aw->state->tier) {
        strbuf_puts(out, ",\"cache_tier\":null");
        return;
    }
    struct tier_stats s;
    tier_stats_of(aw->state->tier, &s);
    strbuf_printf(out,
                  ",\"cache_tier\":{\"size\":%llu,\"hits\":%llu,\"misses\":%llu,\"stores\":%llu,"
                  "\"evictions\":%llu,\"bytes_used\":%llu,\"entries\":%llu}",
                  (unsigned long long)s.size, (unsigned long long)s.hits, (unsigned long long)s.misses,
                  (unsigned long long)s.stores, (unsigned long long)s.evictions,
                  (unsigned long long)s.bytes_used, (unsigned long long)s.entries);
}

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
    st->tier = app_tier_for(c);   /* last: a failed load keeps the old state and its tier */
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

/* The cache layer's version source (cache_bind): one primary-key read on
 * this worker's connection, skipped while nothing was committed since the
 * last one (task_data_version_memo). */
static enum tl_err app_data_version(void *worker, uint64_t *out)
{
    struct app_worker *aw = worker;
    return task_data_version_memo(aw->db, &aw->version, out);
}

static void *app_worker_init(const struct cfg *c, void *state)
{
    struct app_worker *aw = calloc(1, sizeof *aw);
    struct tl_diag d = { 0 };
    if (!aw)
        return NULL;
    aw->cfg = c;
    aw->state = state;
    aw->db = db_open(c->db.url, c->db.timeout_ms, &d);
    if (!aw->db) {
        log_error("database: %s", d.msg);
        free(aw);
        return NULL;
    }
    db_spread(aw->db, srv_worker_index());     /* several hosts: workers start on different ones */
    aw->cache = cache_new(&c->cache);
    if (!aw->cache) {
        db_close(aw->db);
        free(aw);
        return NULL;
    }
    cache_bind(aw->cache, c->cache.default_timeout_s, app_data_version, aw);
    if (aw->state->tier && cache_enabled(aw->cache))
        tier_attach(aw->state->tier, (unsigned)getpid());
    cache_bind_tier(cache_enabled(aw->cache) ? aw->state->tier : NULL);
    cache_honor_no_cache(c->debug);
    if (cache_enabled(aw->cache)) {
        aw->sessions = sess_store_new(&c->session, aw->cache);
        aw->frags = frag_store_new(aw->cache, aw->state->tier, c->cache.default_timeout_s);
    }
    return aw;
}

static void app_worker_fini(void *ctx)
{
    struct app_worker *aw = ctx;
    if (!aw)
        return;
    sess_store_free(aw->sessions);
    frag_store_free(aw->frags);
    cache_bind(NULL, 0, NULL, NULL);
    cache_bind_tier(NULL);
    cache_free(aw->cache);
    db_close(aw->db);
    free(aw);
}

/* The value of our "session" cookie. Another application on the same host
 * (Flask's default cookie name is "session" too) may have one of its own, and
 * the browser sends both: with several, the first whose MAC verifies wins
 * (an HMAC each, only then), else the first. */
static struct str app_session_cookie(const struct req *r)
{
    struct str first = STR_NULL;
    size_t n = 0;
    for (size_t i = 0; i < r->cookies.n; i++) {
        if (str_eq(r->cookies.v[i].name, STR("session")) && n++ == 0)
            first = r->cookies.v[i].value;
    }
    if (n < 2)
        return first;
    const struct cfg *c = app_worker_of(r)->cfg;
    unsigned char id[32];
    for (size_t i = 0; i < r->cookies.n; i++) {
        struct str v = r->cookies.v[i].value;
        if (str_eq(r->cookies.v[i].name, STR("session")) &&
            sess_cookie_verify(v, c->session.secret_key, c->session.secret_key_fallbacks, id))
            return v;
    }
    return first;
}

static enum tl_err app_before(struct req *r, struct resp *w)
{
    (void)w;
    struct app_worker *aw = app_worker_of(r);
    db_begin_request(aw->db);   /* the request's database time: [database] timeout_ms in all */
    struct app_request *ar = arena_calloc(r->arena, 1, sizeof *ar);
    if (!ar)
        return TL_ENOMEM;
    if (aw->sessions)
        ar->sess = sess_begin(aw->sessions, app_session_cookie(r), r->arena);
    if (aw->cfg->debug) {
        ar->db_queries_at_start = db_query_count(aw->db);
        ar->cache_round_trips_at_start = cache_stats_of(aw->cache)->round_trips;
    }
    r->app_req = ar;
    return TL_OK;
}

/* GET /metrics, sampled after every request: this worker's memcached, tier
 * and database totals (the board sums the deltas over workers). Cheap by
 * contract: a few loads. */
static void app_metrics(void *ctx, struct srv_metrics_sample *out)
{
    const struct app_worker *aw = ctx;
    if (aw->state->tier && cache_bound_tier()) {
        /* this worker's own counts, as deltas like memcached's: tier_stats_of
         * scans the whole index and cost 75% of a cached page's throughput
         * when it ran after every request */
        uint64_t hits, misses;
        tier_own_counts(aw->state->tier, &hits, &misses);
        out->tier[SRV_TIER_LOCAL] = (struct srv_tier_sample){ .hits = hits, .misses = misses };
    }
    const struct cache_stats *cs = cache_stats_of(aw->cache);
    out->tier[SRV_TIER_MEMCACHED] = (struct srv_tier_sample){
        .hits = cs->hits,
        .misses = cs->misses,
        .round_trips = cs->round_trips,
        .is_open = cache_breaker_is_open(aw->cache),
    };
    out->db_errors = db_error_count(aw->db);
}

static void app_after(struct req *r, struct resp *w)
{
    struct app_request *ar = app_request_of(r);
    struct app_worker *aw = app_worker_of(r);
    db_end_request(aw->db);
    if (!ar)
        return;
    if (ar->sess) {
        struct str cookie = STR_NULL;
        sess_commit(ar->sess, r->is_https || aw->cfg->session.cookie_secure, &cookie);
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
    .status_json = app_status_json,
    .metrics = app_metrics,
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

/* get_flashed_messages([with_categories]): the session's flashes, then the
 * ones of this request when there is no session store; with categories,
 * [category, message] pairs (Flask's tuples). */
static struct tpl_value app_hook_flashes(void *ctx, bool with_categories)
{
    struct req *r = ctx;
    struct app_request *ar = app_request_of(r);
    struct str *cats = NULL, *msgs = NULL;
    size_t n = 0;
    if (ar && ar->sess)
        n = sess_pop_flashes(ar->sess, &cats, &msgs);
    size_t extra = ar ? ar->n_messages : 0;
    struct tpl_value *items = arena_alloc(r->arena, (n + extra + 1) * sizeof *items);
    struct tpl_value *pairs = with_categories ? arena_alloc(r->arena, 2 * (n + extra + 1) * sizeof *pairs)
                                              : NULL;
    if (!items || (with_categories && !pairs))
        return tpl_list(NULL, 0);
    for (size_t i = 0; i < n + extra; i++) {
        struct str cat = i < n ? cats[i] : ar->categories[i - n];
        struct str msg = i < n ? msgs[i] : ar->messages[i - n];
        if (!with_categories) {
            items[i] = tpl_str(msg);
            continue;
        }
        pairs[2 * i] = tpl_str(cat);
        pairs[2 * i + 1] = tpl_str(msg);
        items[i] = tpl_list(&pairs[2 * i], 2);
    }
    return tpl_list(items, n + extra);
}

enum tl_err app_render(struct req *r, struct resp *w, const char *name, const struct tpl_value *vars)
{
    const struct app_worker *aw = app_worker_of(r);
    struct tpl_hooks hooks = {
        .ctx = r,
        .url_for = app_hook_url_for,
        .flashed_messages = app_hook_flashes,
        .frags = frag_store_hooks(aw->frags),   /* the worker's store is their ctx */
    };
    struct tl_diag d = { 0 };
    enum tl_err e = tpl_render(aw->state->templates, name, vars, &hooks, r->arena, &w->body, &d);
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

bool app_has_session(const struct req *r)
{
    const struct app_request *ar = app_request_of(r);
    return app_sessions_usable(r) && sess_exists(ar->sess);
}

void app_flash(struct req *r, struct str category, struct str msg)
{
    struct app_request *ar = app_request_of(r);
    if (app_sessions_usable(r)) {
        sess_flash(ar->sess, category, msg);
        return;
    }
    app_show_message(r, category, msg);
}

void app_show_message(struct req *r, struct str category, struct str msg)
{
    struct app_request *ar = app_request_of(r);
    if (!ar)
        return;
    size_t n = ar->n_messages;
    struct str *m = arena_realloc(r->arena, ar->messages, n * sizeof *m, (n + 1) * sizeof *m);
    struct str *c = m ? arena_realloc(r->arena, ar->categories, n * sizeof *c, (n + 1) * sizeof *c)
                      : NULL;
    if (!m || !c)
        return;
    m[n] = msg;
    c[n] = category;
    ar->messages = m;
    ar->categories = c;
    ar->n_messages = n + 1;
}

const char *app_task_name_problem(const struct req *r, struct str name)
{
    unsigned max = app_worker_of(r)->cfg->app.name_max;
    enum app_name_verdict v = app_task_name_check(name, max);
    if (v == APP_NAME_TOO_LONG) {
        /* Out of memory, the plain message: NULL would accept the name. */
        const char *msg = arena_printf(r->arena, "Task name must be at most %u characters.", max);
        return msg ? msg : app_task_name_message(v);
    }
    return app_task_name_message(v);
}
