/*
 * app/task_dao.c - the task table: all, get, create, delete, and its data
 *   version (task_dao.h).
 * Owns: the SQL for tasks. The same text serves both backends ("?"
 *   placeholders, no dialect-specific syntax); values are always bound.
 * Invariants: names are returned byte for byte as stored, copied into the
 *   caller's arena; ids come from the database (never reused: see
 *   migrations/0001_create_task.*).
 * Context: workers.
 */
#include <string.h>

#include "task_dao.h"

static const char task_sql_all[] = "SELECT id, name, rev FROM task ORDER BY id";
static const char task_sql_get[] = "SELECT id, name, rev FROM task WHERE id = ?";
static const char task_sql_last[] = "SELECT id, name, rev FROM task ORDER BY id DESC LIMIT ?";
static const char task_sql_before[] = "SELECT id, name, rev FROM task WHERE id < ? ORDER BY id DESC LIMIT ?";
static const char task_sql_after[] = "SELECT id, name, rev FROM task WHERE id > ? ORDER BY id LIMIT ?";
static const char task_sql_version[] = "SELECT version FROM data_version WHERE name = 'task'";
static const char task_sql_create[] = "INSERT INTO task (name) VALUES (?)";
static const char task_sql_delete[] = "DELETE FROM task WHERE id = ?";

struct task_collect {
    struct arena *a;
    struct task_list *list;
    size_t cap;
    bool oom;
};

static int task_collect_row(void *arg, const struct db_val *cols, size_t n_cols);
static bool task_from_row(struct arena *a, const struct db_val *cols, size_t n_cols, struct task *out);

enum tl_err task_all(struct db *db, struct arena *a, struct task_list *out)
{
    *out = (struct task_list){ NULL, 0 };
    struct task_collect c = { a, out, 0, false };
    enum tl_err e = db_query(db, task_sql_all, NULL, 0, task_collect_row, &c);
    if (e == TL_OK && c.oom)
        e = TL_ENOMEM;
    if (e != TL_OK)
        *out = (struct task_list){ NULL, 0 };
    return e;
}

/* One more row than the page is asked for: its presence is has_more. The
 * descending queries are reversed into ascending order. */
enum tl_err task_page(struct db *db, const struct task_page_query *q, struct arena *a, struct task_page *out)
{
    *out = (struct task_page){ { NULL, 0 }, false };
    if (q->limit < 1 || q->limit > TASK_PAGE_LIMIT_MAX)
        return TL_EINVAL;
    struct db_val p[2];
    size_t n_p = 0;
    const char *sql = q->dir == TASK_PAGE_LAST ? task_sql_last
                      : q->dir == TASK_PAGE_BEFORE ? task_sql_before : task_sql_after;
    if (q->dir != TASK_PAGE_LAST)
        p[n_p++] = db_int(q->anchor);
    p[n_p++] = db_int((long long)q->limit + 1);
    struct task_collect c = { a, &out->list, 0, false };
    enum tl_err e = db_query(db, sql, p, n_p, task_collect_row, &c);
    if (e == TL_OK && c.oom)
        e = TL_ENOMEM;
    if (e != TL_OK) {
        *out = (struct task_page){ { NULL, 0 }, false };
        return e;
    }
    struct task_list *l = &out->list;
    if (l->n > q->limit) {
        out->has_more = true;
        l->n = q->limit;   /* the extra row is the farthest one in either order */
    }
    if (q->dir != TASK_PAGE_AFTER) {
        for (size_t i = 0, j = l->n ? l->n - 1 : 0; i < j; i++, j--) {
            struct task t = l->items[i];
            l->items[i] = l->items[j];
            l->items[j] = t;
        }
    }
    return TL_OK;
}

struct task_version {
    uint64_t v;
    bool found;
};

struct task_one {
    struct arena *a;
    struct task *out;
    bool found;
    bool oom;
};

static int task_one_row(void *arg, const struct db_val *cols, size_t n_cols)
{
    struct task_one *o = arg;
    if (!task_from_row(o->a, cols, n_cols, o->out)) {
        o->oom = true;
        return 1;
    }
    o->found = true;
    return 1;   /* the id is unique: one row is all there is */
}

enum tl_err task_get(struct db *db, long long id, struct arena *a, struct task *out)
{
    struct db_val p[] = { db_int(id) };
    struct task_one o = { a, out, false, false };
    enum tl_err e = db_query(db, task_sql_get, p, 1, task_one_row, &o);
    if (e != TL_OK)
        return e;
    if (o.oom)
        return TL_ENOMEM;
    return o.found ? TL_OK : TL_ENOTFOUND;
}

static int task_version_row(void *arg, const struct db_val *cols, size_t n_cols)
{
    struct task_version *tv = arg;
    if (n_cols >= 1 && cols[0].type == DB_INT && cols[0].i >= 0) {
        tv->v = (uint64_t)cols[0].i;
        tv->found = true;
    }
    return 1;
}

enum tl_err task_data_version(struct db *db, uint64_t *out)
{
    struct task_version tv = { 0, false };
    /* causal: on a Galera node, wait until it has applied every write
     * committed anywhere before this read (docs/consistency.md) */
    enum tl_err e = db_query_causal(db, task_sql_version, NULL, 0, task_version_row, &tv);
    if (e != TL_OK)
        return e;
    if (!tv.found) {
        /* No row: the schema is older than migration 0002, or someone
         * deleted it. Nothing cached can be validated: say so loudly. */
        return TL_EIO;
    }
    *out = tv.v;
    return TL_OK;
}

enum tl_err task_data_version_memo(struct db *db, struct task_version_memo *memo, uint64_t *out)
{
    struct db_stamp now;
    bool stamped = db_change_stamp(db, &now) == TL_OK;     /* before the read: see db.h */
    if (stamped && memo->valid && db_stamp_equal(&now, &memo->stamp)) {
        *out = memo->version;
        return TL_OK;
    }
    memo->valid = false;
    enum tl_err e = task_data_version(db, out);
    if (e == TL_OK && stamped) {
        memo->stamp = now;
        memo->version = *out;
        memo->valid = true;
    }
    return e;
}

enum tl_err task_create(struct db *db, struct str name, long long *id_out)
{
    struct db_val p[] = { db_text(name) };
    long long id = 0;
    enum tl_err e = db_exec(db, task_sql_create, p, 1, NULL, &id);
    if (e == TL_OK && id_out)
        *id_out = id;
    return e;
}

enum tl_err task_delete(struct db *db, long long id)
{
    struct db_val p[] = { db_int(id) };
    uint64_t affected = 0;
    enum tl_err e = db_exec(db, task_sql_delete, p, 1, &affected, NULL);
    if (e != TL_OK)
        return e;
    return affected ? TL_OK : TL_ENOTFOUND;
}

/* Append one row, doubling the array (it lives in the arena, so the old
 * copy is simply left behind until reset). */
static int task_collect_row(void *arg, const struct db_val *cols, size_t n_cols)
{
    struct task_collect *c = arg;
    struct task_list *l = c->list;
    if (l->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct task *items = arena_realloc(c->a, l->items, c->cap * sizeof *items, cap * sizeof *items);
        if (!items) {
            c->oom = true;
            return 1;
        }
        l->items = items;
        c->cap = cap;
    }
    if (!task_from_row(c->a, cols, n_cols, &l->items[l->n])) {
        c->oom = true;
        return 1;
    }
    l->n++;
    return 0;
}

static bool task_from_row(struct arena *a, const struct db_val *cols, size_t n_cols, struct task *out)
{
    if (n_cols < 3 || cols[0].type != DB_INT || cols[2].type != DB_INT || cols[2].i < 0)
        return false;
    const struct str s = cols[1].type == DB_TEXT ? cols[1].s : STR("");
    char *copy = arena_strndup(a, s.p ? s.p : "", s.len);
    if (!copy)
        return false;
    out->id = cols[0].i;
    out->name = (struct str){ copy, s.len };
    out->rev = (uint64_t)cols[2].i;
    return true;
}
