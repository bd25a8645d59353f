/*
 * db/db.h - one small database interface over SQLite and MariaDB.
 * Owns: DATABASE_URL parsing, connections (opened lazily, one per worker
 *   after fork), prepared-statement caches, one reconnect on a lost MariaDB
 *   connection, and the query counter tests and benchmarks read.
 * Invariants: SQL text uses "?" placeholders for both backends; values are
 *   always bound, never spliced into SQL. Every call is bounded in time by
 *   timeout_ms (struct db_settings), and so is every request's database work
 *   together (db_begin_request): a hung server gives TL_EUNAVAIL, never a hang.
 * Context: workers and one-shot commands; never across fork.
 */
#ifndef TASKLIST_DB_DB_H
#define TASKLIST_DB_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"
#include "../base/str.h"

enum db_kind { DB_SQLITE, DB_MARIADB };

/* Most hosts in one MariaDB URL (a Galera cluster has 3 to 9 nodes). */
#define DB_URL_HOSTS_MAX 9

struct db_url_host {
    char name[256];         /* "" = the default unix socket */
    unsigned port;          /* 0 = default 3306 */
};

struct db_url {
    enum db_kind kind;
    char path[1024];        /* SQLite file path */
    char host[256];         /* MariaDB: the first host (= hosts[0].name) */
    unsigned port;          /* 0 = default 3306 (= hosts[0].port) */
    struct db_url_host hosts[DB_URL_HOSTS_MAX];   /* MariaDB: every host, in URL order */
    unsigned n_hosts;       /* MariaDB: 1..DB_URL_HOSTS_MAX; SQLite: 0 */
    char user[128];
    char password[256];     /* secret: never logged */
    char dbname[128];
    char unix_socket[1024]; /* ?unix_socket=/path */
};

/* Parse sqlite:///relative/path, sqlite:////absolute/path, mysql://, mariadb://,
 * mysql+<driver>://user:pass@host:port[,host2:port...]/db[?unix_socket=/path]; percent-decoding
 * user and password. TL_EPARSE with d filled (password never in the message). */
enum tl_err db_url_parse(const char *url, struct db_url *out, struct tl_diag *d);

enum db_type { DB_NULL, DB_INT, DB_TEXT };

struct db_val {
    enum db_type type;
    long long i;
    struct str s;
};

static inline struct db_val db_int(long long i) { return (struct db_val){ .type = DB_INT, .i = i }; }
static inline struct db_val db_text(struct str s) { return (struct db_val){ .type = DB_TEXT, .s = s }; }

struct db;

/* The [database] settings (conf/tasklist.ini), owned by this layer; the
 * config loader fills one from DB_SETTINGS_DEFAULT. Fixed-size fields. */
struct db_settings {
    char url[1024];         /* DATABASE_URL (secret password inside) */
    unsigned timeout_ms;    /* connect/read/write bound of every call */
};
#define DB_SETTINGS_DEFAULT { .url = "sqlite:///instance/task-list.sqlite", .timeout_ms = 1000 }

/* Handle for url; connects lazily on first use (so it is cheap before fork,
 * though it must not be used across fork). NULL with d filled on a bad URL. */
struct db *db_open(const char *url, unsigned timeout_ms, struct tl_diag *d);
void db_close(struct db *db);
enum db_kind db_kind(const struct db *db);

/* Several MariaDB hosts (a Galera cluster): make hosts[index % n_hosts] this
 * handle's home, the host it connects to first and returns to after a
 * failover (workers pass their slot number, so a pool spreads over the
 * nodes starting from the URL's first host). No effect with one host or
 * on SQLite; call before the first query. */
void db_spread(struct db *db, unsigned index);

/* The host the handle is connected to (index into url.hosts), or -1 when
 * not connected (tests and logs). */
int db_current_host(const struct db *db);

/* One request's database budget. From db_begin_request to db_end_request
 * the database work of the request together (connects, node checks,
 * statements, retries, failovers) takes at most timeout_ms, counted in
 * milliseconds; what is left when the budget runs out fails with
 * TL_EUNAVAIL (a write that was already sent is never sent again). Only
 * time spent in the database counts: a slow cache or template does not eat
 * it. Outside a request (one-shot commands, migrations) each statement has
 * its own timeout_ms. MariaDB; SQLite statements are bounded by the busy
 * timeout, max(timeout_ms, 1000) each (a request writes once). */
void db_begin_request(struct db *db);
void db_end_request(struct db *db);

/* Called once per result row; cols valid only during the call. Return 0 to
 * go on, non-zero to stop early. */
typedef int (*db_row_fn)(void *arg, const struct db_val *cols, size_t n_cols);

/* Run a prepared statement (cached by SQL text) with params, calling row for
 * each row. TL_EUNAVAIL when the server is down or timed out (after one
 * reconnect attempt), TL_EIO for other failures (message logged). */
enum tl_err db_query(struct db *db, const char *sql, const struct db_val *params, size_t n_params,
                     db_row_fn row, void *arg);

/* db_query for a read that must see every write committed anywhere before
 * it started (the data version read). On a Galera node it waits until the
 * node has applied them (wsrep_sync_wait = 1 for this statement); on one
 * server, SQLite or MariaDB, it is db_query. */
enum tl_err db_query_causal(struct db *db, const char *sql, const struct db_val *params,
                            size_t n_params, db_row_fn row, void *arg);

/* A change stamp: a snapshot of the database's commit state, taken without
 * SQL and without a system call (SQLite in WAL mode: the header of the
 * WAL-index in the -shm file, the very bytes a SQLite read transaction
 * checks first). Contract: two stamps of the same handle compare equal
 * (db_stamp_equal) only if no transaction committed to the database, by any
 * process or program, between the two db_change_stamp calls. A caller that
 * read a value from the database right after a stamp may reuse the value
 * while later stamps equal that one. */
struct db_stamp {
    uint32_t w[12];
};
/* TL_OK with *out filled; TL_EAGAIN when no stamp can be taken now (MariaDB,
 * not yet connected in this process, not in WAL mode, a commit being written
 * at this instant): the caller reads the database. */
enum tl_err db_change_stamp(struct db *db, struct db_stamp *out);
static inline bool db_stamp_equal(const struct db_stamp *a, const struct db_stamp *b)
{
    for (int i = 0; i < 12; i++)
        if (a->w[i] != b->w[i])
            return false;
    return true;
}

/* Statement without rows. affected and last_id may be NULL. */
enum tl_err db_exec(struct db *db, const char *sql, const struct db_val *params, size_t n_params,
                    uint64_t *affected, long long *last_id);

/* Run several ;-separated statements without params (migrations). */
enum tl_err db_exec_script(struct db *db, const char *sql);

enum tl_err db_begin(struct db *db);
enum tl_err db_commit(struct db *db);
enum tl_err db_rollback(struct db *db);

/* What messages call this database: the SQLite path or the database name. */
const char *db_label(const struct db *db);
/* The library's message for the last failure ("" when none). */
const char *db_last_error(const struct db *db);

/* Statements sent to the server since open (for tests and benchmarks). */
uint64_t db_query_count(const struct db *db);
/* Statements (queries, BEGIN, COMMIT) that failed since db_open. */
uint64_t db_error_count(const struct db *db);

#endif
