/*
 * db/mariadb.c - the MariaDB backend of db.h (mariadb-connector-c).
 * Owns: one MYSQL connection per handle, opened on first use in the process
 *   that uses it; its prepared statements (mysql_stmt_*) and their result
 *   buffers; the reconnect policy; the connect back-off.
 * Invariants:
 *   - connect/read/write timeouts = db_timeout_ms rounded up to whole
 *     seconds (the C API's unit), at least 1 s: no call blocks longer.
 *   - A statement that fails with a lost connection (2006, 2013, killed,
 *     shutdown) is retried once on a new connection, unless it timed out
 *     (a hung server would cost a second timeout) or ran inside a
 *     transaction (its earlier statements are gone with the connection).
 *   - Any client-side error drops the connection: it is never reused in an
 *     unknown state. Statements die with their connection.
 *   - After a failed connect no new attempt is made for DB_RETRY_MS; calls
 *     meanwhile get TL_EUNAVAIL at once.
 *   - Results are buffered (mysql_stmt_store_result) before the row callback
 *     runs, so a network error never strikes after rows were delivered.
 *   - A connection inherited across fork is abandoned, never used or closed
 *     (COM_QUIT would end the parent's session).
 * Context: workers and one-shot commands; single-threaded.
 */
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../server/log.h"
#include "internal.h"

#define DB_MARIA_INLINE 16
#define DB_MARIA_COL_CAP 256

struct db_maria_col {
    char *buf;
    unsigned long cap;
    unsigned long len;
    long long i;
    my_bool is_null;
    my_bool error;
    bool is_int;
};

struct db_maria_stmt {
    char *sql;              /* owned copy: the cache key */
    MYSQL_STMT *st;
    unsigned n_cols;
    struct db_maria_col *cols;
    MYSQL_BIND *res;
};

struct db_maria {
    MYSQL *h;
    pid_t pid;
    int64_t retry_at_ms;    /* no connect attempt before this */
    struct db_maria_stmt *cache[DB_STMT_CACHE_MAX];
    size_t n_cache;
};

/* What went wrong in one attempt: the library's code and message. */
struct db_maria_fail {
    unsigned code;          /* 0 = local failure (e.g. out of memory) */
    char msg[256];
};

static enum tl_err db_maria_connect(struct db *db);
static enum tl_err db_maria_attempt(struct db *db, const char *sql, const struct db_val *params,
                                    size_t n_params, db_row_fn row, void *arg, uint64_t *affected,
                                    long long *last_id, struct db_maria_fail *f);
static enum tl_err db_maria_rows(struct db_maria_stmt *ms, db_row_fn row, void *arg,
                                 struct db_maria_fail *f);
static enum tl_err db_maria_prepare(struct db *db, const char *sql, struct db_maria_stmt **out,
                                    struct db_maria_fail *f);
static enum tl_err db_maria_failed(struct db *db, const char *sql, const struct db_maria_fail *f,
                                   int64_t t0, bool *retry);
static bool db_maria_is_lost(unsigned code);
static bool db_maria_grow(struct db_maria_col *c, unsigned long need);
static void db_maria_evict(struct db_maria *m, const char *sql);
static void db_maria_stmt_free(struct db_maria_stmt *ms);
static void db_maria_drop(struct db *db);
static unsigned db_maria_timeout_s(const struct db *db);
static void db_maria_fail_from(struct db_maria_fail *f, unsigned code, const char *msg);

enum tl_err db_maria_run(struct db *db, const char *sql, const struct db_val *params,
                         size_t n_params, db_row_fn row, void *arg, uint64_t *affected,
                         long long *last_id)
{
    for (int attempt = 0;; attempt++) {
        if (db->in_tx && db->tx_lost)
            return TL_EUNAVAIL;
        enum tl_err e = db_maria_connect(db);
        if (e != TL_OK)
            return e;
        struct db_maria_fail f = { 0 };
        int64_t t0 = db_now_ms();
        e = db_maria_attempt(db, sql, params, n_params, row, arg, affected, last_id, &f);
        if (e == TL_OK || f.code == 0)
            return e;
        bool retry = false;
        e = db_maria_failed(db, sql, &f, t0, &retry);
        if (!retry || attempt > 0)
            return e;
    }
}

/* Split on ';' outside quotes and comments; run each statement with the
 * text protocol (DDL cannot always be prepared). No retry: a script is not
 * idempotent in general. */
enum tl_err db_maria_script(struct db *db, const char *sql)
{
    const char *p = sql;
    while (*p) {
        const char *start = p;
        bool has_code = false;
        char q = 0;
        for (; *p && (q || *p != ';'); p++) {
            if (q) {
                if (*p == '\\' && q != '`' && p[1])
                    p++;
                else if (*p == q)
                    q = 0;
            } else if (*p == '\'' || *p == '"' || *p == '`') {
                q = *p;
                has_code = true;
            } else if ((*p == '-' && p[1] == '-' && (p[2] == ' ' || p[2] == '\t' || p[2] == '\n' ||
                                                     p[2] == '\r' || !p[2])) || *p == '#') {
                p += strcspn(p, "\n");
                if (!*p)
                    break;
            } else if (*p == '/' && p[1] == '*') {
                const char *end = strstr(p + 2, "*/");
                p = end ? end + 1 : p + strlen(p) - 1;
            } else if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                has_code = true;
            }
        }
        size_t len = (size_t)(p - start);
        if (*p == ';')
            p++;
        if (!has_code)
            continue;
        if (db->in_tx && db->tx_lost)
            return TL_EUNAVAIL;
        enum tl_err e = db_maria_connect(db);
        if (e != TL_OK)
            return e;
        struct db_maria_fail f = { 0 };
        MYSQL *h = db->maria->h;
        int64_t t0 = db_now_ms();
        db->n_queries++;
        if (mysql_real_query(h, start, len) == 0) {
            MYSQL_RES *res = mysql_store_result(h);
            if (res || mysql_field_count(h) == 0) {
                mysql_free_result(res);
                continue;
            }
        }
        db_maria_fail_from(&f, mysql_errno(h), mysql_error(h));
        const char *stmt = start + strspn(start, " \t\r\n");
        bool retry;
        return db_maria_failed(db, stmt, &f, t0, &retry);
    }
    return TL_OK;
}

void db_maria_close(struct db *db)
{
    if (!db->maria)
        return;
    db_maria_drop(db);
    free(db->maria);
    db->maria = NULL;
}

static enum tl_err db_maria_connect(struct db *db)
{
    struct db_maria *m = db->maria;
    if (!m && !(m = db->maria = calloc(1, sizeof *m)))
        return TL_ENOMEM;
    if (m->h && m->pid == getpid())
        return TL_OK;
    if (m->h) {     /* forked with it: forget it without a word to the server */
        log_warn("db: mariadb connection used across fork; opening a new one");
        m->h = NULL;
        m->n_cache = 0;     /* statements leaked on purpose, once */
    }
    if (m->retry_at_ms && db_now_ms() < m->retry_at_ms)
        return TL_EUNAVAIL;
    const struct db_url *u = &db->url;
    MYSQL *h = mysql_init(NULL);
    if (!h)
        return TL_ENOMEM;
    unsigned timeout_s = db_maria_timeout_s(db), zero = 0;
    my_bool no = 0;
    mysql_options(h, MYSQL_OPT_CONNECT_TIMEOUT, &timeout_s);
    mysql_options(h, MYSQL_OPT_READ_TIMEOUT, &timeout_s);
    mysql_options(h, MYSQL_OPT_WRITE_TIMEOUT, &timeout_s);
    mysql_options(h, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(h, MYSQL_OPT_RECONNECT, &no);     /* we reconnect ourselves, statements and all */
    mysql_options(h, MYSQL_OPT_LOCAL_INFILE, &zero);
    /* The C API reads host "localhost" (or none) as the unix socket; a
     * unix_socket parameter therefore wins over any host given with it. */
    const char *sock = u->unix_socket[0] ? u->unix_socket : NULL;
    const char *host = sock ? "localhost" : (u->host[0] ? u->host : NULL);
    if (!mysql_real_connect(h, host, u->user[0] ? u->user : NULL,
                            u->password[0] ? u->password : NULL, u->dbname, u->port, sock, 0)) {
        char where[1100];
        if (sock)
            snprintf(where, sizeof where, "unix:%s", sock);
        else
            snprintf(where, sizeof where, "%s:%u", host ? host : "localhost", u->port ? u->port : 3306);
        snprintf(db->last_error, sizeof db->last_error, "cannot connect to %.200s: %.250s (%u)", where,
                 mysql_error(h), mysql_errno(h));
        log_error("db: mariadb: cannot connect to %s as \"%s\", database \"%s\": %s (%u)", where,
                  u->user, u->dbname, mysql_error(h), mysql_errno(h));
        mysql_close(h);
        m->retry_at_ms = db_now_ms() + DB_RETRY_MS;
        return TL_EUNAVAIL;
    }
    m->h = h;
    m->pid = getpid();
    m->retry_at_ms = 0;
    return TL_OK;
}

/* One try: prepare (cached), bind, execute, buffer, deliver rows. On a
 * library error f->code is set and the caller decides (retry, drop, map). */
static enum tl_err db_maria_attempt(struct db *db, const char *sql, const struct db_val *params,
                                    size_t n_params, db_row_fn row, void *arg, uint64_t *affected,
                                    long long *last_id, struct db_maria_fail *f)
{
    struct db_maria_stmt *ms;
    enum tl_err e = db_maria_prepare(db, sql, &ms, f);
    if (e != TL_OK)
        return e;
    MYSQL_STMT *st = ms->st;
    if (mysql_stmt_param_count(st) != n_params) {
        log_error("db: mariadb: \"%.*s\": %zu parameters given, %lu expected", DB_LOG_SQL_MAX, sql,
                  n_params, mysql_stmt_param_count(st));
        return TL_EINVAL;
    }
    MYSQL_BIND inline_bind[DB_MARIA_INLINE], *b = inline_bind;
    if (n_params > DB_MARIA_INLINE && !(b = calloc(n_params, sizeof *b)))
        return TL_ENOMEM;
    memset(b, 0, (n_params ? n_params : 1) * sizeof *b);
    for (size_t i = 0; i < n_params; i++) {
        const struct db_val *v = &params[i];
        if (v->type == DB_INT) {
            b[i].buffer_type = MYSQL_TYPE_LONGLONG;
            b[i].buffer = (void *)&v->i;
        } else if (v->type == DB_TEXT) {
            b[i].buffer_type = MYSQL_TYPE_STRING;
            b[i].buffer = (void *)(v->s.p ? v->s.p : "");
            b[i].buffer_length = v->s.len;
        } else {
            b[i].buffer_type = MYSQL_TYPE_NULL;
        }
    }
    bool ok = n_params == 0 || !mysql_stmt_bind_param(st, b);
    if (b != inline_bind)
        free(b);
    if (ok) {
        db->n_queries++;
        ok = !mysql_stmt_execute(st);
    }
    if (!ok) {
        db_maria_fail_from(f, mysql_stmt_errno(st), mysql_stmt_error(st));
        return TL_EIO;
    }
    if (ms->n_cols && (e = db_maria_rows(ms, row, arg, f)) != TL_OK)
        return e;
    if (affected)
        *affected = ms->n_cols ? 0 : (uint64_t)mysql_stmt_affected_rows(st);
    if (last_id)
        *last_id = (long long)mysql_stmt_insert_id(st);
    return TL_OK;
}

/* Buffer the whole result, then hand rows to the callback. Text columns
 * are sized from max_length; a longer value (should not happen) is fetched
 * again into a grown buffer. */
static enum tl_err db_maria_rows(struct db_maria_stmt *ms, db_row_fn row, void *arg,
                                 struct db_maria_fail *f)
{
    MYSQL_STMT *st = ms->st;
    if (mysql_stmt_store_result(st)) {
        db_maria_fail_from(f, mysql_stmt_errno(st), mysql_stmt_error(st));
        return TL_EIO;
    }
    enum tl_err e = TL_OK;
    struct db_val inline_vals[DB_MARIA_INLINE], *vals = inline_vals;
    if (ms->n_cols > DB_MARIA_INLINE && !(vals = calloc(ms->n_cols, sizeof *vals))) {
        e = TL_ENOMEM;
        goto done;
    }
    for (unsigned c = 0; c < ms->n_cols; c++) {
        if (!ms->cols[c].is_int && st->fields && !db_maria_grow(&ms->cols[c], st->fields[c].max_length)) {
            e = TL_ENOMEM;
            goto done;
        }
    }
    for (unsigned c = 0; c < ms->n_cols; c++) {
        if (!ms->cols[c].is_int) {
            ms->res[c].buffer = ms->cols[c].buf;
            ms->res[c].buffer_length = ms->cols[c].cap;
        }
    }
    if (mysql_stmt_bind_result(st, ms->res)) {
        db_maria_fail_from(f, mysql_stmt_errno(st), mysql_stmt_error(st));
        e = TL_EIO;
        goto done;
    }
    int rc;
    while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
        for (unsigned c = 0; c < ms->n_cols; c++) {
            struct db_maria_col *col = &ms->cols[c];
            if (col->is_null) {
                vals[c] = (struct db_val){ .type = DB_NULL };
            } else if (col->is_int) {
                vals[c] = db_int(col->i);
            } else {
                if (col->len >= col->cap) {
                    if (!db_maria_grow(col, col->len)) {
                        e = TL_ENOMEM;
                        goto done;
                    }
                    MYSQL_BIND one = ms->res[c];
                    one.buffer = col->buf;
                    one.buffer_length = col->cap;
                    if (mysql_stmt_fetch_column(st, &one, c, 0)) {
                        db_maria_fail_from(f, mysql_stmt_errno(st), mysql_stmt_error(st));
                        e = TL_EIO;
                        goto done;
                    }
                }
                vals[c] = db_text((struct str){ col->buf, col->len });
            }
        }
        if (row && row(arg, vals, ms->n_cols) != 0)
            break;
    }
    if (rc == 1) {
        db_maria_fail_from(f, mysql_stmt_errno(st), mysql_stmt_error(st));
        e = TL_EIO;
    }
done:
    if (vals != inline_vals)
        free(vals);
    mysql_stmt_free_result(st);
    return e;
}

/* The cached statement for sql, preparing it on a miss. Column kinds come
 * from the prepare-time metadata: integers bind as LONGLONG, the rest as
 * text. */
static enum tl_err db_maria_prepare(struct db *db, const char *sql, struct db_maria_stmt **out,
                                    struct db_maria_fail *f)
{
    struct db_maria *m = db->maria;
    for (size_t i = 0; i < m->n_cache; i++) {
        if (!strcmp(m->cache[i]->sql, sql)) {
            *out = m->cache[i];
            return TL_OK;
        }
    }
    struct db_maria_stmt *ms = calloc(1, sizeof *ms);
    if (!ms || !(ms->sql = strdup(sql)) || !(ms->st = mysql_stmt_init(m->h)))
        goto nomem;
    my_bool yes = 1;
    mysql_stmt_attr_set(ms->st, STMT_ATTR_UPDATE_MAX_LENGTH, &yes);
    if (mysql_stmt_prepare(ms->st, sql, strlen(sql))) {
        db_maria_fail_from(f, mysql_stmt_errno(ms->st), mysql_stmt_error(ms->st));
        db_maria_stmt_free(ms);
        return TL_EIO;
    }
    ms->n_cols = mysql_stmt_field_count(ms->st);
    if (ms->n_cols) {
        MYSQL_RES *meta = mysql_stmt_result_metadata(ms->st);
        if (!meta || !(ms->cols = calloc(ms->n_cols, sizeof *ms->cols)) ||
            !(ms->res = calloc(ms->n_cols, sizeof *ms->res))) {
            mysql_free_result(meta);
            goto nomem;
        }
        MYSQL_FIELD *fields = mysql_fetch_fields(meta);
        for (unsigned c = 0; c < ms->n_cols; c++) {
            struct db_maria_col *col = &ms->cols[c];
            switch (fields[c].type) {
            case MYSQL_TYPE_TINY: case MYSQL_TYPE_SHORT: case MYSQL_TYPE_LONG:
            case MYSQL_TYPE_INT24: case MYSQL_TYPE_LONGLONG: case MYSQL_TYPE_YEAR:
                col->is_int = true;
                break;
            default:
                col->is_int = false;
            }
            MYSQL_BIND *r = &ms->res[c];
            r->is_null = &col->is_null;
            r->error = &col->error;
            r->length = &col->len;
            if (col->is_int) {
                r->buffer_type = MYSQL_TYPE_LONGLONG;
                r->buffer = &col->i;
            } else {
                r->buffer_type = MYSQL_TYPE_STRING;
                if (!db_maria_grow(col, DB_MARIA_COL_CAP)) {
                    mysql_free_result(meta);
                    goto nomem;
                }
            }
        }
        mysql_free_result(meta);
    }
    if (m->n_cache == DB_STMT_CACHE_MAX) {
        db_maria_stmt_free(m->cache[0]);
        memmove(&m->cache[0], &m->cache[1], (DB_STMT_CACHE_MAX - 1) * sizeof m->cache[0]);
        m->n_cache--;
    }
    m->cache[m->n_cache++] = ms;
    *out = ms;
    return TL_OK;
nomem:
    db_maria_stmt_free(ms);
    return TL_ENOMEM;
}

/* Decide what a failed attempt means; log it; drop the connection when its
 * state is unknown. *retry tells the caller one more attempt is worth it. */
static enum tl_err db_maria_failed(struct db *db, const char *sql, const struct db_maria_fail *f,
                                   int64_t t0, bool *retry)
{
    *retry = false;
    snprintf(db->last_error, sizeof db->last_error, "%.400s (%u)", f->msg, f->code);
    if ((f->code == ER_NEED_REPREPARE || f->code == ER_UNKNOWN_STMT_HANDLER) && db->maria->h) {
        db_maria_evict(db->maria, sql);     /* the table changed under a cached statement */
        *retry = true;
        return TL_EIO;
    }
    if (db_maria_is_lost(f->code)) {
        bool timed_out = db_now_ms() - t0 >= (int64_t)db_maria_timeout_s(db) * 1000 - 100;
        *retry = !timed_out && !db->in_tx;
        db_maria_drop(db);
        if (*retry)
            log_warn("db: mariadb: \"%.*s\": %s (%u); reconnecting once", DB_LOG_SQL_MAX, sql,
                     f->msg, f->code);
        else
            log_error("db: mariadb: \"%.*s\": %s (%u)%s", DB_LOG_SQL_MAX, sql, f->msg, f->code,
                      timed_out ? "; server did not answer within the timeout" : "");
        return TL_EUNAVAIL;
    }
    if (f->code >= CR_MIN_ERROR && f->code <= CR_MAX_ERROR) {
        log_error("db: mariadb: \"%.*s\": %s (%u); dropping the connection", DB_LOG_SQL_MAX, sql,
                  f->msg, f->code);
        db_maria_drop(db);
        return f->code == CR_OUT_OF_MEMORY ? TL_ENOMEM : TL_EIO;
    }
    switch (f->code) {
    case ER_DUP_ENTRY:
        log_warn("db: mariadb: \"%.*s\": %s (%u)", DB_LOG_SQL_MAX, sql, f->msg, f->code);
        return TL_EEXIST;
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_LOCK_DEADLOCK:
    case ER_STATEMENT_TIMEOUT:
        log_warn("db: mariadb: \"%.*s\": %s (%u)", DB_LOG_SQL_MAX, sql, f->msg, f->code);
        return TL_EUNAVAIL;
    default:
        log_error("db: mariadb: \"%.*s\": %s (%u)", DB_LOG_SQL_MAX, sql, f->msg, f->code);
        return TL_EIO;
    }
}

static bool db_maria_is_lost(unsigned code)
{
    switch (code) {
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case ER_CONNECTION_KILLED:
    case ER_SERVER_SHUTDOWN:
        return true;
    default:
        return false;
    }
}

/* Make room for need bytes plus a NUL. */
static bool db_maria_grow(struct db_maria_col *c, unsigned long need)
{
    if (c->buf && need < c->cap)
        return true;
    unsigned long cap = c->cap ? c->cap : DB_MARIA_COL_CAP;
    while (cap <= need)
        cap *= 2;
    char *p = realloc(c->buf, cap);
    if (!p)
        return false;
    c->buf = p;
    c->cap = cap;
    return true;
}

static void db_maria_evict(struct db_maria *m, const char *sql)
{
    for (size_t i = 0; i < m->n_cache; i++) {
        if (!strcmp(m->cache[i]->sql, sql)) {
            db_maria_stmt_free(m->cache[i]);
            memmove(&m->cache[i], &m->cache[i + 1], (m->n_cache - i - 1) * sizeof m->cache[0]);
            m->n_cache--;
            return;
        }
    }
}

static void db_maria_stmt_free(struct db_maria_stmt *ms)
{
    if (!ms)
        return;
    if (ms->st)
        mysql_stmt_close(ms->st);
    for (unsigned c = 0; ms->cols && c < ms->n_cols; c++)
        free(ms->cols[c].buf);
    free(ms->cols);
    free(ms->res);
    free(ms->sql);
    free(ms);
}

/* Close the connection first: that invalidates its statements, so closing
 * them afterwards frees memory without a round trip to a possibly hung
 * server. A transaction in progress is lost with it. */
static void db_maria_drop(struct db *db)
{
    struct db_maria *m = db->maria;
    if (!m || !m->h)
        return;
    if (db->in_tx)
        db->tx_lost = true;
    if (m->pid != getpid()) {   /* inherited across fork: not ours to close */
        m->h = NULL;
        m->n_cache = 0;
        return;
    }
    mysql_close(m->h);
    m->h = NULL;
    for (size_t i = 0; i < m->n_cache; i++)
        db_maria_stmt_free(m->cache[i]);
    m->n_cache = 0;
}

static unsigned db_maria_timeout_s(const struct db *db)
{
    unsigned s = (db->timeout_ms + 999) / 1000;
    return s ? s : 1;
}

static void db_maria_fail_from(struct db_maria_fail *f, unsigned code, const char *msg)
{
    f->code = code ? code : CR_UNKNOWN_ERROR;
    snprintf(f->msg, sizeof f->msg, "%s", msg && *msg ? msg : "unknown error");
}
