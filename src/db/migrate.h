/*
 * db/migrate.h - versioned migrations from migrations/ and `tasklist db`.
 * Owns: the schema_version table, applying up/down steps (each in a
 *   transaction where the database allows), refusing a database newer than
 *   the code, and the history of versions (the front-end, `tasklist db`,
 *   lives in src/cli/).
 * Files: migrations/NNNN_name.up.sql, NNNN_name.down.sql, with optional
 *   dialect variants NNNN_name.up.sqlite.sql / NNNN_name.up.mariadb.sql that
 *   take precedence for that backend.
 * Context: one-shot command (tasklist db ...), tests.
 */
#ifndef TASKLIST_DB_MIGRATE_H
#define TASKLIST_DB_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

#include "../base/err.h"
#include "db.h"

/* Latest version found in dir (0 when none). */
enum tl_err migrate_latest(const char *dir, unsigned *out, struct tl_diag *d);
/* Current version of the database (0 when no version table). */
enum tl_err migrate_current(struct db *db, unsigned *out);
/* Upgrade to target (0 = latest). Idempotent. TL_EINVAL when the database is
 * newer than the code. */
enum tl_err migrate_upgrade(struct db *db, const char *dir, unsigned target, struct tl_diag *d);
/* Downgrade to target (0 = undo every migration). The CLI's default, one
 * step down, passes current - 1. TL_EINVAL when the database is newer than
 * the code or below target. */
enum tl_err migrate_downgrade(struct db *db, const char *dir, unsigned target, struct tl_diag *d);

/* One version as `tasklist db history` shows it. */
struct migrate_entry {
    unsigned version;
    char name[128];         /* "?" when neither this code nor the database names it */
    bool applied;
    char applied_at[32];    /* when applied (ISO 8601) */
    bool known;             /* this code has its files */
};

/* Every version from 1 to the highest this code or the database knows, in
 * *out (malloc'd; the caller frees it) and *n; *latest gets this code's
 * latest version. On failure nothing is allocated and d says why. */
enum tl_err migrate_history(struct db *db, const char *dir, struct migrate_entry **out, size_t *n,
                            unsigned *latest, struct tl_diag *d);

#endif
