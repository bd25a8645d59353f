/*
 * app/views.c - the task_list blueprint: GET|POST / and POST /<int:id>/delete.
 * Owns: the HTML views. GET / is a cached view (X-Cache, ETag) over the
 *   memoized query, rendered with per-task fragments (Russian doll); POST
 *   validates, writes, frees the entries of the version it replaced and
 *   redirects (303). Correctness never rests on those deletes: every cached
 *   thing is keyed by the data version (src/web/cached.h).
 * Context: worker only.
 */
#include "../web/cached.h"
#include "../base/log.h"
#include "internal.h"

static const char *const view_index_page_args[] = { "after", "before", NULL };

static bool view_index_uncacheable(struct req *r);
static bool view_page_query(const struct req *r, struct task_page_query *q);
static struct tpl_value view_page_url(struct req *r, const char *arg, long long id);
static enum tl_err view_index_post(struct req *r, struct resp *w);
static enum tl_err view_render_index(struct req *r, struct resp *w);
static void view_redirect_home(struct req *r, struct resp *w);

/* Flask-Caching: @cache.cached(unless=...) with key "view/" + path, plus
 * the page arguments (?after=ID, ?before=ID; other arguments do not split
 * the cache). A page with flashes pending is personal: rendered, never
 * served from or stored in the view cache (everyone else still gets the
 * cached page). */
CACHED_VIEW(view_index_cached, .unless = view_index_uncacheable, .query_args = view_index_page_args)
{
    return view_render_index(r, w);
}

enum tl_err view_index(struct req *r, struct resp *w)
{
    if (r->method == HTTP_POST)
        return view_index_post(r, w);
    return view_index_cached(r, w);
}

enum tl_err view_delete(struct req *r, struct resp *w)
{
    uint64_t before = app_tasks_will_change(r);
    enum tl_err e = task_delete(app_worker_of(r)->db, r->route_id);
    if (e != TL_OK)
        return e;   /* TL_ENOTFOUND -> 404 page, TL_EUNAVAIL -> 503 page */
    app_tasks_changed(r, before);
    app_flash(r, STR("success"), STR("Task deleted."));
    view_redirect_home(r, w);
    return TL_OK;
}

static bool view_index_uncacheable(struct req *r)
{
    struct app_request *ar = app_request_of(r);
    return ar && ar->sess && sess_has_flashes(ar->sess);
}

static enum tl_err view_index_post(struct req *r, struct resp *w)
{
    struct str name = STR_NULL;
    req_kvs_get(&r->form, STR("name"), &name);
    const char *problem = app_task_name_problem(r, name);
    if (problem) {
        if (app_has_session(r)) {
            /* Post/redirect/get: the message rides on the client's session. */
            app_flash(r, STR("error"), str_c(problem));
            view_redirect_home(r, w);
            return TL_OK;
        }
        /* No session (or no store): the page with the message, 400. Never a
         * new session just to carry an error: one memcached item per
         * cookieless POST would be free for anyone to pile up. */
        app_show_message(r, STR("error"), str_c(problem));
        w->status = 400;
        return view_render_index(r, w);
    }
    long long id;
    uint64_t before = app_tasks_will_change(r);
    enum tl_err e = task_create(app_worker_of(r)->db, name, &id);
    if (e != TL_OK)
        return e;
    app_tasks_changed(r, before);
    app_flash(r, STR("success"), STR("Task added."));
    view_redirect_home(r, w);
    return TL_OK;
}

/* GET / is the newest page (ascending ids, so with fewer tasks than a page
 * it is the tutorial's page, and a task just added is on the page the POST
 * redirects to); ?before=ID is the page of older tasks, ?after=ID of newer.
 * False for anything else (both, a non-canonical or zero id): a 400. */
static bool view_page_query(const struct req *r, struct task_page_query *q)
{
    struct str after = STR_NULL, before = STR_NULL;
    bool has_after = req_kvs_get(&r->args, STR("after"), &after);
    bool has_before = req_kvs_get(&r->args, STR("before"), &before);
    *q = (struct task_page_query){ TASK_PAGE_LAST, 0, app_worker_of(r)->cfg->app.page_size };
    if (has_after && has_before)
        return false;
    if (has_after) {
        q->dir = TASK_PAGE_AFTER;
        return str_parse_id(after, &q->anchor);
    }
    if (has_before) {
        q->dir = TASK_PAGE_BEFORE;
        return str_parse_id(before, &q->anchor);
    }
    return true;
}

/* "/?before=ID" (the index's URL from the router, plus one page argument). */
static struct tpl_value view_page_url(struct req *r, const char *arg, long long id)
{
    struct strbuf url;
    strbuf_init(&url, r->arena, 32);
    if (router_url_for(app_worker_of(r)->state->router, STR("task_list.index"), NULL, NULL, 0, &url) != TL_OK)
        strbuf_puts(&url, "/");
    strbuf_putc(&url, '?');
    strbuf_puts(&url, arg);
    strbuf_putc(&url, '=');
    strbuf_put_int(&url, id);
    return url.oom ? tpl_none() : tpl_str(strbuf_str(&url));
}

static enum tl_err view_render_index(struct req *r, struct resp *w)
{
    struct task_page_query q;
    if (!view_page_query(r, &q)) {
        w->status = 400;
        app_show_message(r, STR("error"),
                         STR("That page does not exist: use ?after=ID or ?before=ID with a task id."));
        q = (struct task_page_query){ TASK_PAGE_LAST, 0, app_worker_of(r)->cfg->app.page_size };
    }
    struct task_page page;
    enum tl_err e = app_task_page(r, &q, &page);
    if (e != TL_OK)
        return e;
    const struct task_list tl = page.list;
    struct tpl_value *rows = arena_alloc(r->arena, (tl.n ? tl.n : 1) * sizeof *rows);
    struct tpl_kv *kvs = arena_alloc(r->arena, (tl.n ? tl.n : 1) * 3 * sizeof *kvs);
    if (!rows || !kvs)
        return TL_ENOMEM;
    for (size_t i = 0; i < tl.n; i++) {
        kvs[3 * i] = (struct tpl_kv){ STR("id"), tpl_int(tl.items[i].id) };
        kvs[3 * i + 1] = (struct tpl_kv){ STR("name"), tpl_str(tl.items[i].name) };
        /* the row's version: its fragment's key (templates/task_list/index.html) */
        kvs[3 * i + 2] = (struct tpl_kv){ STR("rev"), tpl_int((long long)tl.items[i].rev) };
        rows[i] = tpl_map(&kvs[3 * i], 3);
    }
    /* Older and newer pages: LAST and BEFORE pages know whether older tasks
     * exist (has_more); AFTER pages know it of newer ones. The other side is
     * offered whenever the page was reached from it. */
    bool older = q.dir == TASK_PAGE_AFTER ? tl.n > 0 : page.has_more;
    bool newer = q.dir == TASK_PAGE_AFTER ? page.has_more : q.dir == TASK_PAGE_BEFORE && tl.n > 0;
    struct tpl_kv top[] = {
        { STR("tasks"), tpl_list(rows, tl.n) },
        { STR("older_url"), older ? view_page_url(r, "before", tl.items[0].id) : tpl_none() },
        { STR("newer_url"), newer ? view_page_url(r, "after", tl.items[tl.n - 1].id) : tpl_none() },
        { STR("paged"), tpl_bool(q.dir != TASK_PAGE_LAST) },
    };
    struct tpl_value vars = tpl_map(top, 4);
    return app_render(r, w, "task_list/index.html", &vars);
}

static void view_redirect_home(struct req *r, struct resp *w)
{
    struct strbuf url;
    strbuf_init(&url, r->arena, 16);
    if (router_url_for(app_worker_of(r)->state->router, STR("task_list.index"), NULL, NULL, 0,
                       &url) != TL_OK)
        strbuf_puts(&url, "/");
    resp_redirect(w, 303, strbuf_str(&url));
}
