/*
 * app/task_dao.h - the task table: all, get, create, delete.
 * Owns: the SQL for tasks (prepared, "?" placeholders, both dialects).
 * Invariants: names are stored and returned verbatim (UTF-8, validated by
 *   the caller); ids are never reused (AUTOINCREMENT / InnoDB auto_increment).
 * Context: workers.
 */
#ifndef TASKLIST_APP_TASK_DAO_H
#define TASKLIST_APP_TASK_DAO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../db/db.h"
#include "../base/err.h"
#include "../base/arena.h"

struct task {
    long long id;
    struct str name;
    uint64_t rev;     /* the data version of the row's last write (fragment key) */
};

struct task_list {
    struct task *items;
    size_t n;
};

/* A keyset page on the id (no OFFSET: its cost does not grow with the
 * table). LAST: the newest `limit` tasks; BEFORE: the `limit` tasks just
 * older than anchor; AFTER: the `limit` tasks just newer than anchor. */
enum task_page_dir { TASK_PAGE_LAST, TASK_PAGE_BEFORE, TASK_PAGE_AFTER };

struct task_page_query {
    enum task_page_dir dir;
    long long anchor;       /* an id; unused for LAST */
    unsigned limit;         /* 1..TASK_PAGE_LIMIT_MAX */
};

#define TASK_PAGE_LIMIT_MAX 1000

struct task_page {
    struct task_list list;  /* ascending ids, at most limit */
    bool has_more;          /* another task beyond the page in its direction
                             * (older for LAST/BEFORE, newer for AFTER) */
};

/* All tasks ordered by id, names copied into a. */
enum tl_err task_all(struct db *db, struct arena *a, struct task_list *out);
/* One page, names copied into a; TL_EINVAL for a limit outside 1..max. */
enum tl_err task_page(struct db *db, const struct task_page_query *q, struct arena *a, struct task_page *out);
/* One task; TL_ENOTFOUND when absent. */
enum tl_err task_get(struct db *db, long long id, struct arena *a, struct task *out);
/* The data version of the task table: moved by triggers in the same
 * transaction as every insert, update and delete, whoever writes
 * (migrations/0002). One primary-key read of a prepared statement. */
enum tl_err task_data_version(struct db *db, uint64_t *out);

/* The last data version this process read, with the database's change
 * stamp taken just before that read (db_change_stamp). */
struct task_version_memo {
    struct db_stamp stamp;
    uint64_t version;
    bool valid;
};
/* task_data_version that skips the read while the database's change stamp
 * equals the memo's: nothing committed since, so the version is the same
 * (on SQLite in WAL mode: no SQL, no system call). Where no stamp can be
 * taken (MariaDB, a commit being written) it reads, as task_data_version. */
enum tl_err task_data_version_memo(struct db *db, struct task_version_memo *memo, uint64_t *out);
/* Insert; *id_out gets the new id. */
enum tl_err task_create(struct db *db, struct str name, long long *id_out);
/* Delete; TL_ENOTFOUND when no such task. */
enum tl_err task_delete(struct db *db, long long id);

#endif
