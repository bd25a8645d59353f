/*
 * db/db.c - the backend-neutral half of db.h: handles, dispatch through the
 *   backend's operations table (struct db_backend), transactions, counters.
 * Owns: struct db allocation. Connections themselves belong to the backends
 *   and are opened lazily on first use (so after fork in a worker).
 * Context: workers and one-shot commands; single-threaded.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

struct db *db_open(const char *url, unsigned timeout_ms, struct tl_diag *d)
{
    struct db *db = calloc(1, sizeof *db);
    if (!db) {
        tl_diag_set(d, NULL, 0, 0, "out of memory");
        return NULL;
    }
    if (db_url_parse(url, &db->url, d) != TL_OK) {
        free(db);
        return NULL;
    }
    db->be = db->url.kind == DB_SQLITE ? &db_sqlite_backend : &db_maria_backend;
    db->timeout_ms = timeout_ms ? timeout_ms : 1000;
    return db;
}

void db_close(struct db *db)
{
    if (!db)
        return;
    db->be->close(db);
    /* the password should not outlive the handle in freed heap memory */
    explicit_bzero(db->url.password, sizeof db->url.password);
    free(db);
}

enum db_kind db_kind(const struct db *db)
{
    return db->url.kind;
}

static enum tl_err db_counted(struct db *db, enum tl_err e);

void db_spread(struct db *db, unsigned index)
{
    if (db->url.n_hosts > 1)
        db->home = index % db->url.n_hosts;
}

enum tl_err db_change_stamp(struct db *db, struct db_stamp *out)
{
    return db->be->stamp ? db->be->stamp(db, out) : TL_EAGAIN;
}

int db_current_host(const struct db *db)
{
    return db->be->current_host ? db->be->current_host(db) : -1;
}

void db_begin_request(struct db *db)
{
    db->in_request = true;
    db->budget_ms = db->timeout_ms;
}

void db_end_request(struct db *db)
{
    db->in_request = false;
}

/* A call into the backend: its deadline is what is left of the request's
 * budget, or timeout_ms outside a request. */
static void db_call_begin(struct db *db)
{
    db->call_start_ms = tl_clock_ms();
    db->deadline_ms = db->call_start_ms + (db->in_request ? db->budget_ms : db->timeout_ms);
}

static void db_call_end(struct db *db)
{
    if (!db->in_request)
        return;
    int64_t spent = tl_clock_ms() - db->call_start_ms;
    db->budget_ms = spent >= (int64_t)db->budget_ms ? 0 : db->budget_ms - (unsigned)spent;
}

static enum tl_err db_run(struct db *db, const char *sql, const struct db_val *params,
                          size_t n_params, db_row_fn row, void *arg, uint64_t *affected,
                          long long *last_id)
{
    if (affected)
        *affected = 0;
    if (last_id)
        *last_id = 0;
    if (!sql || (n_params && !params))
        return TL_EINVAL;
    db_call_begin(db);
    enum tl_err e = db->be->run(db, sql, params, n_params, row, arg, affected, last_id);
    db_call_end(db);
    return e;
}

enum tl_err db_query(struct db *db, const char *sql, const struct db_val *params, size_t n_params,
                     db_row_fn row, void *arg)
{
    return db_counted(db, db_run(db, sql, params, n_params, row, arg, NULL, NULL));
}

enum tl_err db_query_causal(struct db *db, const char *sql, const struct db_val *params,
                            size_t n_params, db_row_fn row, void *arg)
{
    db->causal = true;
    enum tl_err e = db_run(db, sql, params, n_params, row, arg, NULL, NULL);
    db->causal = false;
    return e;
}

enum tl_err db_exec(struct db *db, const char *sql, const struct db_val *params, size_t n_params,
                    uint64_t *affected, long long *last_id)
{
    return db_counted(db, db_run(db, sql, params, n_params, NULL, NULL, affected, last_id));
}

enum tl_err db_exec_script(struct db *db, const char *sql)
{
    if (!sql)
        return TL_EINVAL;
    db_call_begin(db);
    enum tl_err e = db->be->script(db, sql);
    db_call_end(db);
    return e;
}

/* SQLite: BEGIN IMMEDIATE takes the write lock up front (waiting up to the
 * busy timeout), so a transaction never fails half way on a lock upgrade. */
enum tl_err db_begin(struct db *db)
{
    if (db->in_tx)
        return TL_EINVAL;
    enum tl_err e = db_counted(db, db_run(db, db->be->begin_sql, NULL, 0, NULL, NULL, NULL, NULL));
    if (e == TL_OK) {
        db->in_tx = true;
        db->tx_lost = false;
    }
    return e;
}

/* A transaction whose connection died is gone (the server rolled it back):
 * COMMIT reports TL_EUNAVAIL without a round trip on a new connection. */
enum tl_err db_commit(struct db *db)
{
    if (!db->in_tx)
        return TL_EINVAL;
    if (db->tx_lost) {
        db->in_tx = db->tx_lost = false;
        return TL_EUNAVAIL;
    }
    enum tl_err e = db_counted(db, db_run(db, "COMMIT", NULL, 0, NULL, NULL, NULL, NULL));
    if (e != TL_OK && db->in_tx && !db->tx_lost) {
        /* SQLite keeps the transaction open after a failed (busy) COMMIT:
         * roll it back so the handle is usable again; the caller sees e. */
        (void)db_run(db, "ROLLBACK", NULL, 0, NULL, NULL, NULL, NULL);
    }
    db->in_tx = db->tx_lost = false;
    return e;
}

enum tl_err db_rollback(struct db *db)
{
    if (!db->in_tx)
        return TL_EINVAL;
    if (db->tx_lost) {
        db->in_tx = db->tx_lost = false;
        return TL_OK;
    }
    enum tl_err e = db_run(db, "ROLLBACK", NULL, 0, NULL, NULL, NULL, NULL);
    db->in_tx = db->tx_lost = false;
    return e == TL_EUNAVAIL ? TL_OK : e;
}

uint64_t db_query_count(const struct db *db)
{
    return db->n_queries;
}

uint64_t db_error_count(const struct db *db)
{
    return db->n_errors;
}

/* Count a failed statement for GET /metrics (TL_ENOTFOUND is an answer,
 * not a failure); returns e unchanged. */
static enum tl_err db_counted(struct db *db, enum tl_err e)
{
    if (e != TL_OK && e != TL_ENOTFOUND)
        db->n_errors++;
    return e;
}

const char *db_label(const struct db *db)
{
    return db->be->label(db);
}

const char *db_last_error(const struct db *db)
{
    return db->last_error;
}
