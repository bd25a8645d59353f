/*
 * app/task_dao.h - the task table: all, get, create, delete.
 * Owns: the SQL for tasks (prepared, "?" placeholders, both dialects).
 * Invariants: names are stored and returned verbatim (UTF-8, validated by
 *   the caller); ids are never reused (AUTOINCREMENT / InnoDB auto_increment).
 * Context: workers.
 */
#ifndef TASKLIST_APP_TASK_DAO_H
#define TASKLIST_APP_TASK_DAO_H

#include <stddef.h>
#include <stdint.h>

#include "../db/db.h"
#include "../err.h"
#include "../server/arena.h"

struct task {
    long long id;
    struct str name;
    uint64_t rev;     /* the data version of the row's last write (fragment key) */
};

struct task_list {
    struct task *items;
    size_t n;
};

/* All tasks ordered by id, names copied into a. */
enum tl_err task_all(struct db *db, struct arena *a, struct task_list *out);
/* One task; TL_ENOTFOUND when absent. */
enum tl_err task_get(struct db *db, long long id, struct arena *a, struct task *out);
/* The data version of the task table: moved by triggers in the same
 * transaction as every insert, update and delete, whoever writes
 * (migrations/0002). One primary-key read of a prepared statement. */
enum tl_err task_data_version(struct db *db, uint64_t *out);
/* Insert; *id_out gets the new id. */
enum tl_err task_create(struct db *db, struct str name, long long *id_out);
/* Delete; TL_ENOTFOUND when no such task. */
enum tl_err task_delete(struct db *db, long long id);

#endif
