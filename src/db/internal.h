/*
 * db/internal.h - declarations shared inside src/db only (never included
 *   from outside the directory).
 * Owns: struct db (the handle behind db.h), struct db_backend (the
 *   operations table each backend fills and db.c dispatches through), and
 *   the migration helpers the CLI shares with migrate.c.
 * Context: workers and one-shot commands.
 */
#ifndef TASKLIST_DB_INTERNAL_H
#define TASKLIST_DB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../base/clock.h"
#include "db.h"

/* Prepared statements kept per connection; the least recently prepared one
 * is finalized when the cache is full (the app uses a handful). */
#define DB_STMT_CACHE_MAX 64
/* After a failed connect, answer TL_EUNAVAIL at once for this long, so a
 * dead database costs one connect attempt per interval, not one per call. */
#define DB_RETRY_MS 1000
/* Connected away from the home host (failover), try the home host again
 * this often: one connect (refused at once while it is down). */
#define DB_HOME_RETRY_MS 5000
/* Longest SQL prefix quoted in a log line. */
#define DB_LOG_SQL_MAX 80

struct db_sqlite;
struct db_maria;
struct db;

/* One backend's operations: db.c picks the table by URL scheme once, in
 * db_open, and never looks at the kind again. run = one statement with
 * params; rows go to row (may be NULL); affected/last_id may be NULL. Each
 * counts what it sends in db->n_queries and logs library errors itself. */
struct db_backend {
    const char *name;
    enum tl_err (*run)(struct db *db, const char *sql, const struct db_val *params, size_t n_params,
                       db_row_fn row, void *arg, uint64_t *affected, long long *last_id);
    /* several ;-separated statements without params (migrations) */
    enum tl_err (*script)(struct db *db, const char *sql);
    void (*close)(struct db *db);
    /* index into url.hosts of the open connection, -1 when none (NULL: -1) */
    int (*current_host)(const struct db *db);
    const char *begin_sql;   /* the statement that starts a write transaction */
    /* what logs and the CLI call this database (a path, a database name) */
    const char *(*label)(const struct db *db);
    /* db_change_stamp (NULL: TL_EAGAIN, no cheap stamp on this backend) */
    enum tl_err (*stamp)(struct db *db, struct db_stamp *out);
};

extern const struct db_backend db_sqlite_backend;
extern const struct db_backend db_maria_backend;

struct db {
    struct db_url url;
    const struct db_backend *be;   /* chosen by url.kind in db_open */
    unsigned timeout_ms;
    uint64_t n_queries;     /* statements sent, see db_query_count() */
    uint64_t n_errors;      /* statements that failed, see db_error_count() */
    bool in_tx;             /* between db_begin and db_commit/rollback */
    bool tx_lost;           /* the connection died inside that transaction */
    bool causal;            /* the statement running is a db_query_causal */
    bool in_request;        /* between db_begin_request and db_end_request */
    unsigned budget_ms;     /* in a request: database time left (of timeout_ms) */
    int64_t call_start_ms;  /* when the running call (db_run, script) began */
    int64_t deadline_ms;    /* the running call's: all its work ends by then */
    unsigned home;          /* index into url.hosts connected to first (db_spread) */
    char last_error[512];   /* the library's message for the last failure */
    struct db_sqlite *sqlite;
    struct db_maria *maria;
};



/* Migrations found in a directory: steps[i] is version i + 1. */
enum mig_dir { MIG_UP, MIG_DOWN, MIG_DIR__MAX };
enum mig_dialect { MIG_ANY, MIG_SQLITE, MIG_MARIADB, MIG_DIALECT__MAX };

struct mig_step {
    unsigned version;
    char name[128];
    char file[MIG_DIR__MAX][MIG_DIALECT__MAX][192]; /* "" = absent */
};

struct mig_set {
    struct mig_step *steps;
    unsigned n;
};

/* Scan dir. TL_ENOTFOUND/TL_EIO when it cannot be read, TL_EPARSE on a
 * gap, a duplicate or a version without up or down (d says which file).
 * On success free with mig_set_fini. */
enum tl_err mig_scan(const char *dir, struct mig_set *out, struct tl_diag *d);
void mig_set_fini(struct mig_set *s);

/* One applied version as recorded in schema_version. */
struct mig_applied {
    unsigned version;
    char name[128];
    char applied_at[32];
};

/* Rows of schema_version ordered by version (none when the table does not
 * exist). *out is malloc'd (free it); *n gets the count. */
enum tl_err mig_applied_list(struct db *db, struct mig_applied **out, size_t *n);


#endif
