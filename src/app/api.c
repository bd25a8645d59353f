/*
 * app/api.c - the JSON API for scripts and mobile clients (jansson).
 * Owns: GET|POST /api/tasks, GET|DELETE /api/tasks/<int:id>; JSON bodies in
 *   and out, JSON errors ({"error": "..."}), the same validation as the form;
 *   the list in keyset pages (?limit=, ?after=, Link: <...>; rel="next").
 * Invariants: POST needs Content-Type application/json (a cross-site HTML
 *   form cannot send that); reads share the memoized query.
 * Context: worker only.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../base/log.h"
#include "internal.h"

static enum tl_err api_send(struct req *r, struct resp *w, int status, json_t *doc);
static enum tl_err api_error(struct req *r, struct resp *w, int status, const char *msg);
static enum tl_err api_failure(struct req *r, struct resp *w, enum tl_err e);
static json_t *api_task_json(long long id, struct str name);
static json_t *api_list_json(const struct task_list *tl);
static bool api_list_query(const struct req *r, struct task_page_query *q);

enum tl_err api_tasks(struct req *r, struct resp *w)
{
    if (r->method == HTTP_POST) {
        struct str ct = r->content_type;
        if (!(ct.len >= 16 && str_eq_nocase((struct str){ ct.p, 16 }, STR("application/json"))))
            return api_error(r, w, 415, "Content-Type must be application/json.");
        json_error_t jerr;
        json_t *doc = json_loadb(r->body.p, r->body.len, JSON_REJECT_DUPLICATES, &jerr);
        json_t *jname = doc ? json_object_get(doc, "name") : NULL;
        if (!doc || !json_is_object(doc) || (jname && !json_is_string(jname))) {
            json_decref(doc);
            return api_error(r, w, 400, "Body must be a JSON object like {\"name\": \"...\"}.");
        }
        struct str name = STR_NULL;
        if (jname) {
            name.len = json_string_length(jname);
            name.p = arena_strndup(r->arena, json_string_value(jname), name.len);
        }
        json_decref(doc);
        if (jname && !name.p)
            return TL_ENOMEM;
        const char *problem = app_task_name_problem(r, name);
        if (problem || !str_is_valid_utf8(name))
            return api_error(r, w, 400, problem ? problem : "Task name must be UTF-8 text.");
        long long id;
        uint64_t before = app_tasks_will_change(r);
        enum tl_err e = task_create(app_worker_of(r)->db, name, &id);
        if (e != TL_OK)
            return api_failure(r, w, e);
        app_tasks_changed(r, before);
        char loc[40];   /* no allocation: the task exists now, its Location must be right */
        snprintf(loc, sizeof loc, "/api/tasks/%lld", id);
        resp_header(w, "Location", str_c(loc));
        return api_send(r, w, 201, api_task_json(id, name));
    }
    struct task_page_query q;
    if (!api_list_query(r, &q))
        return api_error(r, w, 400, "Use ?limit=N (1..1000) and ?after=ID (a task id).");
    struct task_page page;
    enum tl_err e = app_task_page(r, &q, &page);
    if (e != TL_OK)
        return api_failure(r, w, e);
    const struct task_list tl = page.list;
    json_t *arr = api_list_json(&tl);
    if (!arr)
        return TL_ENOMEM;   /* never a shorter list with a 200 */
    if (page.has_more && tl.n) {
        /* No allocation: a page without its Link would read as the last one. */
        char link[96];
        snprintf(link, sizeof link, "</api/tasks?limit=%u&after=%lld>; rel=\"next\"", q.limit,
                 tl.items[tl.n - 1].id);
        resp_header(w, "Link", str_c(link));
    }
    return api_send(r, w, 200, arr);
}

enum tl_err api_task(struct req *r, struct resp *w)
{
    struct app_worker *aw = app_worker_of(r);
    if (r->method == HTTP_DELETE) {
        uint64_t before = app_tasks_will_change(r);
        enum tl_err e = task_delete(aw->db, r->route_id);
        if (e != TL_OK)
            return api_failure(r, w, e);
        app_tasks_changed(r, before);
        w->status = 204;
        w->content_type = "application/json";
        return TL_OK;
    }
    struct task t;
    enum tl_err e = task_get(aw->db, r->route_id, r->arena, &t);
    if (e != TL_OK)
        return api_failure(r, w, e);
    return api_send(r, w, 200, api_task_json(t.id, t.name));
}

static json_t *api_task_json(long long id, struct str name)
{
    return json_pack("{s:I, s:s%}", "id", (json_int_t)id, "name", name.p ? name.p : "", name.len);
}

/* The JSON array of every task of tl; NULL when out of memory (never a
 * partial list). */
static json_t *api_list_json(const struct task_list *tl)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < tl->n; i++) {
        if (json_array_append_new(arr, api_task_json(tl->items[i].id, tl->items[i].name)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* Send doc (its reference is taken, NULL allowed) as the body; TL_ENOMEM
 * when doc is NULL or cannot be written. json_dumpb into the arena rather
 * than json_dumps: jansson 2.14's json_dumps ignores a failed allocation
 * while writing an object's key and returns the JSON with that key missing
 * (seen under app_api_oom), while json_dumpb's writer never allocates. */
static enum tl_err api_send(struct req *r, struct resp *w, int status, json_t *doc)
{
    const size_t flags = JSON_COMPACT | JSON_ENSURE_ASCII;
    size_t len = doc ? json_dumpb(doc, NULL, 0, flags) : 0;
    bool is_written = len > 0 && strbuf_reserve(&w->body, len + 1) &&
                      json_dumpb(doc, w->body.p + w->body.len, len, flags) == len;
    json_decref(doc);
    (void)r;
    if (!is_written)
        return TL_ENOMEM;
    w->body.len += len;
    strbuf_putc(&w->body, '\n');
    w->status = status;
    w->content_type = "application/json";
    return w->body.oom ? TL_ENOMEM : TL_OK;
}

static enum tl_err api_error(struct req *r, struct resp *w, int status, const char *msg)
{
    return api_send(r, w, status, json_pack("{s:s}", "error", msg));
}

static enum tl_err api_failure(struct req *r, struct resp *w, enum tl_err e)
{
    switch (e) {
    case TL_ENOTFOUND:
        return api_error(r, w, 404, "No such task.");
    case TL_EUNAVAIL:
    case TL_ETIMEOUT:
        resp_header(w, "Retry-After", STR("1"));
        return api_error(r, w, 503, "The database is unavailable; try again shortly.");
    default: {
        char mb[LOG_CLIENT_BUF], pb[LOG_CLIENT_BUF];
        log_error("api: %s \"%s\": %s", log_client(r->method_name, mb, sizeof mb),
                  log_client(r->path, pb, sizeof pb), tl_strerror(e));
        return api_error(r, w, 500, "Internal error.");
    }
    }
}

/* The list is ascending by id: ?after=ID (default: from the start) and
 * ?limit=N (default [app] page_size, at most 1000). False for anything
 * else (a non-canonical number, 0, a limit over 1000). */
static bool api_list_query(const struct req *r, struct task_page_query *q)
{
    struct str after = STR_NULL, limit = STR_NULL;
    long long lim = app_worker_of(r)->cfg->app.page_size;
    *q = (struct task_page_query){ TASK_PAGE_AFTER, 0, 0 };
    if (req_kvs_get(&r->args, STR("after"), &after) && !str_parse_id(after, &q->anchor))
        return false;
    if (req_kvs_get(&r->args, STR("limit"), &limit) &&
        (!str_parse_id(limit, &lim) || lim > TASK_PAGE_LIMIT_MAX))
        return false;
    q->limit = (unsigned)lim;
    return true;
}
