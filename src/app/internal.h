/*
 * app/internal.h - what the files of src/app share, never included from
 * outside src/app.
 * Owns: the master state (templates, router), the per-worker context
 *   (db, cache, sessions) and the per-request state (session, messages
 *   shown without a session), plus helpers every view uses.
 */
#ifndef TASKLIST_APP_INTERNAL_H
#define TASKLIST_APP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "../cache/session.h"
#include "../db/db.h"
#include "task_dao.h"
#include "../server/config.h"
#include "../server/request.h"
#include "../server/response.h"
#include "../server/router.h"
#include "../template/template.h"
#include "task_dao.h"

/* Built in the master, shared copy-on-write by the workers. */
struct app_state {
    struct tpl_set *templates;
    struct router *router;
    struct tier *tier;            /* the same-host cache tier (borrowed), or NULL */
};

/* One per worker, created after fork. */
struct app_worker {
    const struct cfg *cfg;
    const struct app_state *state;
    struct db *db;
    struct cache *cache;
    struct sess_store *sessions;
    struct frag_store *frags;     /* {% cache %}'s store; NULL when the cache is off */
    struct task_version_memo version;   /* the data version, read again only after a commit */
};

/* One per request, in the arena. */
struct app_request {
    struct sess *sess;            /* NULL when sessions are off */
    struct str *messages;         /* flashed without a session: shown on this page */
    struct str *categories;       /* their categories, n_messages of them */
    size_t n_messages;
    /* counters at the start of the request (debug header X-Debug-Counters) */
    uint64_t db_queries_at_start;
    uint64_t cache_round_trips_at_start;
};

static inline struct app_worker *app_worker_of(const struct req *r)
{
    return (struct app_worker *)r->app;
}

static inline struct app_request *app_request_of(const struct req *r)
{
    return (struct app_request *)r->app_req;
}

/* Render template name with vars into w->body (200 unless w->status was set). */
enum tl_err app_render(struct req *r, struct resp *w, const char *name, const struct tpl_value *vars);

/* True when a flash can ride on a session to the next page (cache on). */
bool app_sessions_usable(const struct req *r);
/* True when the client already has a stored session (a valid cookie whose
 * session memcached holds): a flash may ride on it without creating one. */
bool app_has_session(const struct req *r);
/* Flash msg with its category ("success", "error": the CSS class alert-<category>,
 * Flask's flash(message, category)): into the session when usable, else onto
 * this request's page. */
void app_flash(struct req *r, struct str category, struct str msg);
/* Show msg (with its category) on this request's page only (never stored in
 * the session). */
void app_show_message(struct req *r, struct str category, struct str msg);

/* Validate a task name from a form or JSON: NULL when fine, else the
 * message to show ("Task name is required.", a length message). */
const char *app_task_name_problem(const struct req *r, struct str name);

/* The rules behind it (task_name.c), pure: see that file. */
enum app_name_verdict {
    APP_NAME_OK,
    APP_NAME_EMPTY,       /* nothing, or only ASCII spaces */
    APP_NAME_INVISIBLE,   /* only Unicode spaces and format characters */
    APP_NAME_CONTROL,     /* a C0/C1 control or DEL anywhere */
    APP_NAME_BIDI,        /* a bidi embedding, override or isolate anywhere */
    APP_NAME_BAD_UTF8,
    APP_NAME_TOO_LONG,    /* more than max_chars code points */
    APP_NAME__MAX
};
enum app_name_verdict app_task_name_check(struct str name, unsigned max_chars);
/* The message shown for v (static), NULL for APP_NAME_OK. */
const char *app_task_name_message(enum app_name_verdict v);

/* One page of tasks through the memoized query (MEMOIZE in task_cache.c),
 * keyed by the page and the data version. */
enum tl_err app_task_page(struct req *r, const struct task_page_query *q, struct task_page *out);
/* Around every write: app_tasks_will_change reads the data version before
 * it (0 when the cache is off or the read failed), app_tasks_changed deletes
 * the view and the memoized list of that version after the commit — the
 * tutorial's explicit invalidation, which now only frees memory early. */
uint64_t app_tasks_will_change(struct req *r);
void app_tasks_changed(struct req *r, uint64_t version_before);

/* Route handlers. */
enum tl_err view_index(struct req *r, struct resp *w);
enum tl_err view_delete(struct req *r, struct resp *w);
enum tl_err api_tasks(struct req *r, struct resp *w);
enum tl_err api_task(struct req *r, struct resp *w);

#endif
