/*
 * app/views.c - the task_list blueprint: GET|POST / and POST /<int:id>/delete.
 * Owns: the HTML views. GET / is a cached view (X-Cache, ETag) over the
 *   memoized query, rendered with per-task fragments (Russian doll); POST
 *   validates, writes, invalidates after the commit and redirects (303).
 * Context: worker only.
 */
#include "../cache/cached.h"
#include "../server/log.h"
#include "internal.h"

static bool view_index_uncacheable(struct req *r);
static enum tl_err view_index_post(struct req *r, struct resp *w);
static enum tl_err view_render_index(struct req *r, struct resp *w);
static void view_redirect_home(struct req *r, struct resp *w);

/* Flask-Caching: @cache.cached(unless=...) with key "view/" + path. A page
 * with flashes pending is personal: rendered, never served from or stored in
 * the view cache (everyone else still gets the cached page). */
CACHED_VIEW(view_index_cached, .unless = view_index_uncacheable)
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
    enum tl_err e = task_delete(app_worker_of(r)->db, r->route_id);
    if (e != TL_OK)
        return e;   /* TL_ENOTFOUND -> 404 page, TL_EUNAVAIL -> 503 page */
    app_tasks_changed(r, r->route_id);
    app_flash(r, STR("Task deleted."));
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
            app_flash(r, str_c(problem));
            view_redirect_home(r, w);
            return TL_OK;
        }
        /* No session (or no store): the page with the message, 400. Never a
         * new session just to carry an error: one memcached item per
         * cookieless POST would be free for anyone to pile up. */
        app_show_message(r, str_c(problem));
        w->status = 400;
        return view_render_index(r, w);
    }
    long long id;
    enum tl_err e = task_create(app_worker_of(r)->db, name, &id);
    if (e != TL_OK)
        return e;
    app_tasks_changed(r, 0);
    app_flash(r, STR("Task added."));
    view_redirect_home(r, w);
    return TL_OK;
}

static enum tl_err view_render_index(struct req *r, struct resp *w)
{
    struct task_list tl;
    enum tl_err e = app_all_tasks(r, &tl);
    if (e != TL_OK)
        return e;
    struct tpl_value *rows = arena_alloc(r->arena, (tl.n ? tl.n : 1) * sizeof *rows);
    struct tpl_kv *kvs = arena_alloc(r->arena, (tl.n ? tl.n : 1) * 2 * sizeof *kvs);
    if (!rows || !kvs)
        return TL_ENOMEM;
    for (size_t i = 0; i < tl.n; i++) {
        kvs[2 * i] = (struct tpl_kv){ STR("id"), tpl_int(tl.items[i].id) };
        kvs[2 * i + 1] = (struct tpl_kv){ STR("name"), tpl_str(tl.items[i].name) };
        rows[i] = tpl_map(&kvs[2 * i], 2);
    }
    struct tpl_kv top[] = { { STR("tasks"), tpl_list(rows, tl.n) } };
    struct tpl_value vars = tpl_map(top, 1);
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
