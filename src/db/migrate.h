/*
 * db/migrate.h - versioned migrations from migrations/ and `tasklist db`.
 * Owns: the schema_version table, applying up/down steps (each in a
 *   transaction where the database allows), refusing a database newer than
 *   the code.
 * Files: migrations/NNNN_name.up.sql, NNNN_name.down.sql, with optional
 *   dialect variants NNNN_name.up.sqlite.sql / NNNN_name.up.mariadb.sql that
 *   take precedence for that backend.
 * Context: one-shot command (tasklist db ...), tests.
 */
#ifndef TASKLIST_DB_MIGRATE_H
#define TASKLIST_DB_MIGRATE_H

#include "../err.h"
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

/* `tasklist db upgrade [V] | downgrade [V] | current | history`: argv[0] is
 * the verb. Uses database_url from c and migrations dir mig_dir. Returns the
 * process exit status (0 ok, 1 failure, 2 usage). */
struct cfg;
int migrate_cli(const struct cfg *c, const char *mig_dir, int argc, char **argv);

#endif
