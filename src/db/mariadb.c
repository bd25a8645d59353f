/*
 * db/mariadb.c - the MariaDB backend of db.h (mariadb-connector-c).
 * Owns: one MYSQL connection per handle, opened on first use in the process
 *   that uses it; its prepared statements (mysql_stmt_*) and their result
 *   buffers; the reconnect policy; the connect back-off.
 * Invariants:
 *   - Deadline: every call runs to db->deadline_ms, which db.c sets from
 *     the request's budget (db_begin_request: timeout_ms of database time
 *     for the whole request) or, outside a request, timeout_ms per call
 *     (per statement of a script). Everything that waits on the network -
 *     connect, node check, prepare, execute, buffering the result, script
 *     statements - uses the connector's non-blocking API
 *     (MYSQL_OPT_NONBLOCK) driven by poll() with the milliseconds left
 *     (db_maria_drive), so no call overruns it by more than a poll
 *     wake-up. The library's connect/read/write timeouts (timeout_ms
 *     rounded up to whole seconds) remain as a backstop; they never fire
 *     first. Given up mid-call, a connection is shut down at once
 *     (mariadb_cancel) and dropped: its close sends nothing that could wait.
 *     Nothing is sent once the deadline has passed (inside a transaction the
 *     connection is dropped, so the transaction ends with it). Fetching from
 *     a buffered result and COM_STMT_CLOSE (no answer) never wait. Host
 *     names are resolved by getaddrinfo(), which the deadline does not
 *     bound: give addresses (or /etc/hosts names).
 *   - A statement that fails with a lost connection (2006, 2013, 5013,
 *     5014, killed, shutdown) is retried once on a new connection, within
 *     the same deadline, unless the deadline passed, it ran inside a
 *     transaction (its earlier statements are gone with the connection) or
 *     it was a write (below).
 *   - Any client-side error drops the connection: it is never reused in an
 *     unknown state. Statements die with their connection.
 *   - Several hosts (a Galera cluster): the handle connects to its home host
 *     (db_spread) first, else to the next ones in URL order before the
 *     deadline; while another host remains to be tried a connect gets at
 *     most half the time left (a hung host costs half, and the next one
 *     still has time; a refused one costs nothing). A host whose connect
 *     failed, or that is not a Synced Galera node, is skipped for
 *     DB_RETRY_MS (not one whose connect was cut short by a deadline that
 *     left it less than a quarter of the timeout: it was not shown hung). Away from home it tries the home host again every
 *     DB_HOME_RETRY_MS, with at most half the time left.
 *   - After a failed connect no new attempt is made to that host for
 *     DB_RETRY_MS; when every host is in that state calls get TL_EUNAVAIL at
 *     once.
 *   - Before each statement a poll(0) on the socket checks that the server
 *     has not closed the connection (killed, restarted, shut down): such a
 *     connection is replaced before anything is sent. A write whose
 *     connection is lost after it was sent is never retried (it may have
 *     committed: a retry could apply it twice); reads are retried once.
 *     The same holds for a write cut by the deadline (TL_EUNAVAIL) and for
 *     Galera's transient errors at a view change (1180 "error during
 *     COMMIT", 1317 interrupted, 1158-1161 the server's network): 503, the
 *     connection dropped, the node backed off, a write never sent again.
 *   - Certification conflicts and deadlocks (1213, rolled back by the
 *     server) of an autocommit statement are retried after a short random
 *     pause, up to DB_MARIA_CONFLICT_TRIES times, for at most half the
 *     timeout and never past the deadline.
 *   - Causal reads on Galera: a db_query_causal, and the first read on every
 *     new connection (the request may have read its version on another
 *     node), run as "SET STATEMENT wsrep_sync_wait = 1 FOR ..." and so wait
 *     until this node has applied every write committed before they began.
 *   - Results are buffered (mysql_stmt_store_result) before the row callback
 *     runs, so a network error never strikes after rows were delivered.
 *   - A connection inherited across fork is abandoned, never used or closed
 *     (COM_QUIT would end the parent's session).
 * Context: workers and one-shot commands; single-threaded.
 */
#include <errmsg.h>
#include <errno.h>
#include <limits.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../base/log.h"
#include "../base/pid.h"
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
    unsigned cur;           /* index into url.hosts of h */
    bool is_galera;         /* h is a Galera node: causal reads wait for it to catch up */
    bool causal_next;       /* h is new: its first read is a causal one */
    int64_t home_at_ms;     /* connected away from home: next attempt to go back */
    int64_t retry_at_ms[DB_URL_HOSTS_MAX];  /* per host: no connect attempt before this */
    struct db_maria_stmt *cache[DB_STMT_CACHE_MAX];
    size_t n_cache;
};

/* What went wrong in one attempt: the library's code and message. */
struct db_maria_fail {
    unsigned code;          /* 0 = local failure (e.g. out of memory) */
    bool maybe_applied;     /* a write was sent: it may have committed */
    bool expired;           /* the deadline passed before the server answered */
    char msg[256];
};

/* One call of the connector's non-blocking API (MYSQL_OPT_NONBLOCK):
 * db_maria_step starts it (the call's _start) or continues it (_cont) with
 * the events that occurred; db_maria_drive runs it to its end or to the
 * deadline. Only calls that may wait on the network go through here;
 * fetching from a buffered result and closing a statement (COM_STMT_CLOSE
 * expects no answer) never wait. */
enum db_maria_op_kind {
    DB_OP_CONNECT,      /* mysql_real_connect */
    DB_OP_QUERY,        /* mysql_real_query (text protocol) */
    DB_OP_STORE,        /* mysql_store_result */
    DB_OP_PREPARE,      /* mysql_stmt_prepare */
    DB_OP_EXECUTE,      /* mysql_stmt_execute */
    DB_OP_STMT_STORE,   /* mysql_stmt_store_result */
};

struct db_maria_op {
    enum db_maria_op_kind kind;
    MYSQL *h;               /* the connection waited on */
    MYSQL_STMT *st;         /* PREPARE, EXECUTE, STMT_STORE */
    const char *sql;        /* QUERY, PREPARE */
    unsigned long len;
    const char *host, *user, *password, *dbname, *sock;   /* CONNECT: must outlive the call */
    unsigned port;
    int ret;                /* the blocking call's int result: 0 = success */
    MYSQL *ret_h;           /* CONNECT: NULL = failed */
    MYSQL_RES *res;         /* STORE: NULL = failed or no result set */
};

/* Tries of an autocommit statement refused by a deadlock or a Galera
 * certification conflict (the server rolled it back: it is safe to repeat;
 * the server itself has already retried it wsrep_retry_autocommit times). */
#define DB_MARIA_CONFLICT_TRIES 8

/* Prefix of a causal read on a Galera node (1 = wait before reads). */
#define DB_MARIA_CAUSAL "SET STATEMENT wsrep_sync_wait = 1 FOR "

static enum tl_err db_maria_run(struct db *db, const char *sql, const struct db_val *params,
                                size_t n_params, db_row_fn row, void *arg, uint64_t *affected,
                                long long *last_id);
static enum tl_err db_maria_script(struct db *db, const char *sql);
static void db_maria_close(struct db *db);
static int db_maria_current_host(const struct db *db);
static enum tl_err db_maria_connect(struct db *db);
static enum tl_err db_maria_connect_hosts(struct db *db);
static unsigned db_maria_random(void);
static MYSQL *db_maria_open(struct db *db, unsigned i, int64_t end);
static bool db_maria_check_node(struct db *db, MYSQL *h, const char *where, int64_t end);
static void db_maria_go_home(struct db *db);
static bool db_maria_alive(struct db_maria *m);
static void db_maria_where(const struct db *db, unsigned i, char *buf, size_t len);
static enum tl_err db_maria_attempt(struct db *db, const char *sql, const struct db_val *params,
                                    size_t n_params, db_row_fn row, void *arg, uint64_t *affected,
                                    long long *last_id, struct db_maria_fail *f);
static enum tl_err db_maria_rows(struct db *db, struct db_maria_stmt *ms, db_row_fn row, void *arg,
                                 struct db_maria_fail *f);
static enum tl_err db_maria_prepare(struct db *db, const char *sql, struct db_maria_stmt **out,
                                    struct db_maria_fail *f);
static enum tl_err db_maria_failed(struct db *db, const char *sql, const struct db_maria_fail *f,
                                   bool *retry);
static bool db_maria_is_lost(unsigned code);
static bool db_maria_is_client(unsigned code);
static bool db_maria_is_select(const char *sql);
static bool db_maria_grow(struct db_maria_col *c, unsigned long need);
static void db_maria_evict(struct db_maria *m, const char *sql);
static void db_maria_stmt_free(struct db_maria_stmt *ms);
static void db_maria_drop(struct db *db);
static unsigned db_maria_timeout_s(const struct db *db);
static void db_maria_fail_from(struct db_maria_fail *f, unsigned code, const char *msg);
static void db_maria_fail_expired(const struct db *db, struct db_maria_fail *f);
static int db_maria_step(struct db_maria_op *op, bool start, int events);
static bool db_maria_drive(struct db_maria_op *op, int64_t end);
static enum tl_err db_maria_expired(struct db *db, const char *sql);

static enum tl_err db_maria_run(struct db *db, const char *sql, const struct db_val *params,
                         size_t n_params, db_row_fn row, void *arg, uint64_t *affected,
                         long long *last_id)
{
    for (int attempt = 0, conflicts = 0;; attempt++) {
        if (db->in_tx && db->tx_lost)
            return TL_EUNAVAIL;
        if (tl_clock_ms() >= db->deadline_ms)
            return db_maria_expired(db, sql);
        enum tl_err e = db_maria_connect(db);
        if (e != TL_OK)
            return e;
        struct db_maria_fail f = { 0 };
        e = db_maria_attempt(db, sql, params, n_params, row, arg, affected, last_id, &f);
        if (e == TL_OK || f.code == 0)
            return e;
        bool retry = false;
        e = db_maria_failed(db, sql, &f, &retry);
        if (!retry)
            return e;
        if (f.code == ER_LOCK_DEADLOCK) {
            /* a rolled-back statement (a Galera certification conflict): try
             * again after a short random pause, for at most half the timeout,
             * and never pausing past the deadline */
            unsigned pause_us = 500 + db_maria_random() % (1000u << conflicts);
            int64_t now = tl_clock_ms();
            if (++conflicts >= DB_MARIA_CONFLICT_TRIES ||
                now - db->call_start_ms >= (int64_t)db->timeout_ms / 2 ||
                now + (int64_t)(pause_us / 1000) + 1 >= db->deadline_ms) {
                log_warn("db: mariadb: \"%.*s\": %s (%u), %d times; giving up", DB_LOG_SQL_MAX, sql,
                         f.msg, f.code, conflicts);
                return e;
            }
            usleep((useconds_t)pause_us);
            attempt--;
        } else if (attempt > 0) {
            return e;
        }
    }
}

/* The deadline passed before anything was sent: TL_EUNAVAIL. Inside a
 * transaction the connection goes too (it holds the transaction open, and
 * the ROLLBACK that would end it has no time left either). */
static enum tl_err db_maria_expired(struct db *db, const char *sql)
{
    snprintf(db->last_error, sizeof db->last_error, "no time left of the database timeout (%u ms)",
             db->timeout_ms);
    log_error("db: mariadb: \"%.*s\": not sent: no time left of the database timeout (%u ms)",
              DB_LOG_SQL_MAX, sql, db->timeout_ms);
    if (db->in_tx)
        db_maria_drop(db);
    return TL_EUNAVAIL;
}

/* Split on ';' outside quotes and comments; run each statement with the
 * text protocol (DDL cannot always be prepared). No retry: a script is not
 * idempotent in general. */
static enum tl_err db_maria_script(struct db *db, const char *sql)
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
        const char *stmt = start + strspn(start, " \t\r\n");
        if (!db->in_request)    /* a migration: each statement has the whole timeout */
            db->deadline_ms = tl_clock_ms() + db->timeout_ms;
        if (tl_clock_ms() >= db->deadline_ms)
            return db_maria_expired(db, stmt);
        enum tl_err e = db_maria_connect(db);
        if (e != TL_OK)
            return e;
        struct db_maria_fail f = { 0 };
        MYSQL *h = db->maria->h;
        db->n_queries++;
        struct db_maria_op run = { .kind = DB_OP_QUERY, .h = h, .sql = start, .len = len };
        struct db_maria_op store = { .kind = DB_OP_STORE, .h = h };
        bool in_time = db_maria_drive(&run, db->deadline_ms);
        if (in_time && run.ret == 0) {
            in_time = db_maria_drive(&store, db->deadline_ms);
            if (in_time && (store.res || mysql_field_count(h) == 0)) {
                mysql_free_result(store.res);
                continue;
            }
        }
        if (!in_time)
            db_maria_fail_expired(db, &f);
        else
            db_maria_fail_from(&f, mysql_errno(h), mysql_error(h));
        bool retry;
        return db_maria_failed(db, stmt, &f, &retry);
    }
    return TL_OK;
}

static void db_maria_close(struct db *db)
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
    if (m->h && m->pid != tl_pid()) {     /* forked with it: forget it without a word to the server */
        log_warn("db: mariadb connection used across fork; opening a new one");
        m->h = NULL;
        m->n_cache = 0;     /* statements leaked on purpose, once */
    }
    if (m->h && !db_maria_alive(m)) {
        char where[300];
        db_maria_where(db, m->cur, where, sizeof where);
        log_warn("db: mariadb: %s closed the connection; %s", where,
                 db->in_tx ? "the transaction is lost" : "reconnecting");
        db_maria_drop(db);
        if (db->in_tx)
            return TL_EUNAVAIL;
    }
    if (m->h && m->cur != db->home && !db->in_tx && tl_clock_ms() >= m->home_at_ms)
        db_maria_go_home(db);
    if (m->h)
        return TL_OK;
    return db_maria_connect_hosts(db);
}

/* Not connected: the home host first, then the others in URL order, before
 * the deadline; hosts in back-off are skipped. A refused connect costs
 * nothing; a hung host costs at most half the time left while another
 * host remains to be tried, so that one still has time. */
static enum tl_err db_maria_connect_hosts(struct db *db)
{
    struct db_maria *m = db->maria;
    unsigned n = db->url.n_hosts ? db->url.n_hosts : 1, cand[DB_URL_HOSTS_MAX], n_cand = 0;
    int64_t now = tl_clock_ms();
    for (unsigned k = 0; k < n; k++) {
        unsigned i = (db->home + k) % n;
        if (!m->retry_at_ms[i] || now >= m->retry_at_ms[i])
            cand[n_cand++] = i;
    }
    for (unsigned k = 0; k < n_cand; k++) {
        unsigned i = cand[k];
        now = tl_clock_ms();
        if (now >= db->deadline_ms) {
            snprintf(db->last_error, sizeof db->last_error,
                     "no time left of the database timeout (%u ms) to connect", db->timeout_ms);
            log_error("db: mariadb: no time left of the database timeout (%u ms) to connect",
                      db->timeout_ms);
            break;
        }
        int64_t end = k + 1 < n_cand ? now + (db->deadline_ms - now) / 2 : db->deadline_ms;
        MYSQL *h = db_maria_open(db, i, end);
        if (!h) {
            /* a host that failed, or gave no answer in a fair share of the
             * timeout, is skipped for a while; one cut short only because
             * the request had little time left is not */
            int64_t t = tl_clock_ms();
            if (t < end || end - now >= (int64_t)db->timeout_ms / 4)
                m->retry_at_ms[i] = t + DB_RETRY_MS;
            continue;
        }
        m->h = h;
        m->cur = i;
        m->pid = tl_pid();
        m->retry_at_ms[i] = 0;
        m->causal_next = true;
        if (i != db->home) {
            char where[300];
            db_maria_where(db, i, where, sizeof where);
            log_warn("db: mariadb: failed over to %s", where);
            m->home_at_ms = tl_clock_ms() + DB_HOME_RETRY_MS;
        }
        return TL_OK;
    }
    return TL_EUNAVAIL;
}

/* A new connection to url.hosts[i] with the timeouts and options set and
 * the node checked, by end; NULL (logged, db->last_error set) when it
 * fails. */
static MYSQL *db_maria_open(struct db *db, unsigned i, int64_t end)
{
    const struct db_url *u = &db->url;
    MYSQL *h = mysql_init(NULL);
    if (!h)
        return NULL;
    /* non-blocking: our poll() with the time left bounds every wait; the
     * library's own timeouts (whole seconds, never shorter) stay as a
     * backstop */
    if (mysql_options(h, MYSQL_OPT_NONBLOCK, 0) != 0) {
        snprintf(db->last_error, sizeof db->last_error, "cannot set up a non-blocking connection");
        log_error("db: mariadb: cannot set up a non-blocking connection (out of memory?)");
        mysql_close(h);
        return NULL;
    }
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
    const char *name = u->n_hosts ? u->hosts[i].name : u->host;
    unsigned port = u->n_hosts ? u->hosts[i].port : u->port;
    const char *host = sock ? "localhost" : (name[0] ? name : NULL);
    char where[300];
    db_maria_where(db, i, where, sizeof where);
    struct db_maria_op c = {
        .kind = DB_OP_CONNECT, .h = h, .host = host, .user = u->user[0] ? u->user : NULL,
        .password = u->password[0] ? u->password : NULL, .dbname = u->dbname, .port = port, .sock = sock,
    };
    int64_t t0 = tl_clock_ms();
    bool in_time = db_maria_drive(&c, end);
    if (!in_time || !c.ret_h) {
        char msg[300];
        if (!in_time)
            snprintf(msg, sizeof msg, "no answer within %lld ms", (long long)(tl_clock_ms() - t0));
        else
            snprintf(msg, sizeof msg, "%.250s (%u)", mysql_error(h), mysql_errno(h));
        snprintf(db->last_error, sizeof db->last_error, "cannot connect to %.200s: %.280s", where, msg);
        log_error("db: mariadb: cannot connect to %s as \"%s\", database \"%s\": %s", where, u->user,
                  u->dbname, msg);
        mysql_close(h);
        return NULL;
    }
    if (!db_maria_check_node(db, h, where, end)) {
        mysql_close(h);
        return NULL;
    }
    return h;
}

/* Is this a Galera node, and may it serve? A node that is joining, a donor
 * or outside the primary component refuses or blocks statements (and a
 * donor's rsync state transfer locks it): only Synced counts. A server
 * without Galera passes. One round trip per connection, not counted. */
static bool db_maria_check_node(struct db *db, MYSQL *h, const char *where, int64_t end)
{
    static const char sql[] = "SHOW STATUS WHERE Variable_name IN "
                              "('wsrep_local_state_comment', 'wsrep_ready')";
    char state[64] = "", ready[16] = "";
    struct db_maria_op q = { .kind = DB_OP_QUERY, .h = h, .sql = sql, .len = sizeof sql - 1 };
    struct db_maria_op st = { .kind = DB_OP_STORE, .h = h };
    int64_t t0 = tl_clock_ms();
    bool in_time = db_maria_drive(&q, end);
    if (in_time && q.ret == 0)
        in_time = db_maria_drive(&st, end);
    if (!in_time || q.ret != 0) {
        char msg[300];
        if (!in_time)
            snprintf(msg, sizeof msg, "no answer within %lld ms", (long long)(tl_clock_ms() - t0));
        else
            snprintf(msg, sizeof msg, "%.250s (%u)", mysql_error(h), mysql_errno(h));
        snprintf(db->last_error, sizeof db->last_error, "%.200s: node check: %.280s", where, msg);
        log_error("db: mariadb: %s: node check: %s", where, msg);
        return false;
    }
    MYSQL_RES *res = st.res;
    MYSQL_ROW r;
    while (res && (r = mysql_fetch_row(res))) {
        if (r[0] && r[1] && !strcmp(r[0], "wsrep_local_state_comment"))
            snprintf(state, sizeof state, "%s", r[1]);
        else if (r[0] && r[1] && !strcmp(r[0], "wsrep_ready"))
            snprintf(ready, sizeof ready, "%s", r[1]);
    }
    mysql_free_result(res);
    struct db_maria *m = db->maria;
    m->is_galera = state[0] != '\0';
    if (!m->is_galera || (!strcmp(state, "Synced") && !strcmp(ready, "ON")))
        return true;
    snprintf(db->last_error, sizeof db->last_error, "%.200s: Galera node is %s (ready %s)", where,
             state, ready);
    log_warn("db: mariadb: %s: Galera node is %s (wsrep_ready %s); trying another", where, state, ready);
    return false;
}

/* Away from home: try the home host; on success it replaces the current
 * connection (whose statements go with it), else stay and try later. */
static void db_maria_go_home(struct db *db)
{
    struct db_maria *m = db->maria;
    int64_t now = tl_clock_ms();
    m->home_at_ms = now + DB_HOME_RETRY_MS;
    if (now >= db->deadline_ms)
        return;
    /* at most half the time left: the rest is for the statement */
    MYSQL *h = db_maria_open(db, db->home, now + (db->deadline_ms - now) / 2);
    if (!h)
        return;
    bool galera = m->is_galera;
    db_maria_drop(db);
    m->h = h;
    m->cur = db->home;
    m->pid = tl_pid();
    m->is_galera = galera;
    m->causal_next = true;
    m->retry_at_ms[db->home] = 0;
    char where[300];
    db_maria_where(db, db->home, where, sizeof where);
    log_info("db: mariadb: back on %s", where);
}

/* False when the server has closed the connection or sent something while
 * no statement was outstanding (an error packet before closing, as a
 * killed connection or a shutdown does). */
static bool db_maria_alive(struct db_maria *m)
{
    struct pollfd p = { .fd = (int)mysql_get_socket(m->h), .events = POLLIN };
    if (p.fd < 0)
        return false;
    int n;
    while ((n = poll(&p, 1, 0)) < 0 && errno == EINTR)
        ;   /* the worker's read-timeout alarm can land anywhere */
    return n == 0;
}

static void db_maria_where(const struct db *db, unsigned i, char *buf, size_t len)
{
    const struct db_url *u = &db->url;
    if (u->unix_socket[0]) {
        snprintf(buf, len, "unix:%.200s", u->unix_socket);
        return;
    }
    const char *name = u->n_hosts ? u->hosts[i].name : u->host;
    unsigned port = u->n_hosts ? u->hosts[i].port : u->port;
    snprintf(buf, len, "%.250s:%u", name[0] ? name : "localhost", port ? port : 3306);
}

static int db_maria_current_host(const struct db *db)
{
    const struct db_maria *m = db->maria;
    return m && m->h && m->pid == tl_pid() ? (int)m->cur : -1;
}

/* One try: prepare (cached), bind, execute, buffer, deliver rows. On a
 * library error f->code is set and the caller decides (retry, drop, map). */
static enum tl_err db_maria_attempt(struct db *db, const char *sql, const struct db_val *params,
                                    size_t n_params, db_row_fn row, void *arg, uint64_t *affected,
                                    long long *last_id, struct db_maria_fail *f)
{
    struct db_maria *m = db->maria;
    char causal_buf[512];
    bool causal = m->is_galera && (db->causal || m->causal_next) && db_maria_is_select(sql);
    if (causal) {
        int n = snprintf(causal_buf, sizeof causal_buf, DB_MARIA_CAUSAL "%s", sql);
        if (n < 0 || (size_t)n >= sizeof causal_buf) {
            log_error("db: mariadb: \"%.*s\": too long for a causal read", DB_LOG_SQL_MAX, sql);
            return TL_EINVAL;
        }
    }
    struct db_maria_stmt *ms;
    enum tl_err e = db_maria_prepare(db, causal ? causal_buf : sql, &ms, f);
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
    bool in_time = true;
    if (ok) {
        db->n_queries++;
        struct db_maria_op x = { .kind = DB_OP_EXECUTE, .h = m->h, .st = st };
        in_time = db_maria_drive(&x, db->deadline_ms);
        ok = in_time && x.ret == 0;
    }
    if (!ok) {
        if (!in_time)
            db_maria_fail_expired(db, f);
        else
            db_maria_fail_from(f, mysql_stmt_errno(st), mysql_stmt_error(st));
        /* a write that reached the server may have committed before the
         * connection broke (BEGIN may be sent again: it changes nothing) */
        f->maybe_applied = ms->n_cols == 0 && strncasecmp(sql, "START TRANSACTION", 17) != 0;
        return TL_EIO;
    }
    if (ms->n_cols && (e = db_maria_rows(db, ms, row, arg, f)) != TL_OK)
        return e;
    if (causal)
        m->causal_next = false;
    if (affected)
        *affected = ms->n_cols ? 0 : (uint64_t)mysql_stmt_affected_rows(st);
    if (last_id)
        *last_id = (long long)mysql_stmt_insert_id(st);
    return TL_OK;
}

/* Buffer the whole result, then hand rows to the callback. Text columns
 * are sized from max_length; a longer value (should not happen) is fetched
 * again into a grown buffer. */
static enum tl_err db_maria_rows(struct db *db, struct db_maria_stmt *ms, db_row_fn row, void *arg,
                                 struct db_maria_fail *f)
{
    MYSQL_STMT *st = ms->st;
    struct db_maria_op x = { .kind = DB_OP_STMT_STORE, .h = db->maria->h, .st = st };
    if (!db_maria_drive(&x, db->deadline_ms)) {
        db_maria_fail_expired(db, f);
        return TL_EIO;
    }
    if (x.ret != 0) {
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
    struct db_maria_op x = { .kind = DB_OP_PREPARE, .h = m->h, .st = ms->st, .sql = sql, .len = strlen(sql) };
    if (!db_maria_drive(&x, db->deadline_ms)) {
        /* the connection first: a statement in the middle of its prepare
         * would not close (the connection's close detaches it) */
        db_maria_fail_expired(db, f);
        db_maria_drop(db);
        db_maria_stmt_free(ms);
        return TL_EIO;
    }
    if (x.ret != 0) {
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
                                   bool *retry)
{
    *retry = false;
    snprintf(db->last_error, sizeof db->last_error, "%.400s (%u)", f->msg, f->code);
    if (f->expired) {
        /* the deadline passed while the server had not answered: the
         * connection is in an unknown state (and already shut down) */
        db_maria_drop(db);
        log_error("db: mariadb: \"%.*s\": %s%s", DB_LOG_SQL_MAX, sql, f->msg,
                  f->maybe_applied ? "; a write is not sent twice" : "");
        return TL_EUNAVAIL;
    }
    if ((f->code == ER_NEED_REPREPARE || f->code == ER_UNKNOWN_STMT_HANDLER) && db->maria->h) {
        db_maria_evict(db->maria, sql);     /* the table changed under a cached statement */
        *retry = true;
        return TL_EIO;
    }
    if (f->code == ER_UNKNOWN_COM_ERROR && db->maria->h) {
        /* Galera: "WSREP has not yet prepared node for application use" (the
         * node left the primary component or is not synced). Nothing ran:
         * try another node, and leave this one alone for a while. */
        db->maria->retry_at_ms[db->maria->cur] = tl_clock_ms() + DB_RETRY_MS;
        *retry = !db->in_tx;
        db_maria_drop(db);
        log_warn("db: mariadb: \"%.*s\": %s (%u); trying another node", DB_LOG_SQL_MAX, sql, f->msg,
                 f->code);
        return TL_EUNAVAIL;
    }
    if (db_maria_is_lost(f->code)) {
        /* (a retry is bounded by the same deadline) */
        *retry = !db->in_tx && !f->maybe_applied;
        db_maria_drop(db);
        if (*retry)
            log_warn("db: mariadb: \"%.*s\": %s (%u); reconnecting once", DB_LOG_SQL_MAX, sql,
                     f->msg, f->code);
        else
            log_error("db: mariadb: \"%.*s\": %s (%u)%s", DB_LOG_SQL_MAX, sql, f->msg, f->code,
                      f->maybe_applied ? "; a write is not sent twice" : "");
        return TL_EUNAVAIL;
    }
    if (db_maria_is_client(f->code)) {
        log_error("db: mariadb: \"%.*s\": %s (%u); dropping the connection", DB_LOG_SQL_MAX, sql,
                  f->msg, f->code);
        db_maria_drop(db);
        return f->code == CR_OUT_OF_MEMORY ? TL_ENOMEM : TL_EIO;
    }
    switch (f->code) {
    case ER_DUP_ENTRY:
        log_warn("db: mariadb: \"%.*s\": %s (%u)", DB_LOG_SQL_MAX, sql, f->msg, f->code);
        return TL_EEXIST;
    case ER_LOCK_DEADLOCK:
        /* certification conflicts are routine on Galera with several writers */
        *retry = !db->in_tx;
        if (!*retry)
            log_warn("db: mariadb: \"%.*s\": %s (%u)", DB_LOG_SQL_MAX, sql, f->msg, f->code);
        return TL_EUNAVAIL;
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_STATEMENT_TIMEOUT:
        log_warn("db: mariadb: \"%.*s\": %s (%u)", DB_LOG_SQL_MAX, sql, f->msg, f->code);
        return TL_EUNAVAIL;
    case ER_ERROR_DURING_COMMIT:
    case ER_QUERY_INTERRUPTED:
    case ER_LOCK_ABORTED:
    case ER_NET_READ_ERROR:
    case ER_NET_READ_INTERRUPTED:
    case ER_NET_ERROR_ON_WRITE:
    case ER_NET_WRITE_INTERRUPTED:
        /* Galera at a view change (a node died or left): "Got error 6 during
         * COMMIT" when replication of the write set failed, a statement
         * interrupted by the provider; or the server's side of the network
         * broke. Transient: 503. A write may have been applied (a commit
         * that failed on this node may still be delivered in the new view),
         * so it is not sent again; the node is left alone for a while and the
         * connection dropped. A read, outside a transaction, is retried
         * once on another connection. */
        db->maria->retry_at_ms[db->maria->cur] = tl_clock_ms() + DB_RETRY_MS;
        *retry = !db->in_tx && !f->maybe_applied;
        db_maria_drop(db);
        log_warn("db: mariadb: \"%.*s\": %s (%u); %s", DB_LOG_SQL_MAX, sql, f->msg, f->code,
                 *retry ? "trying another node" : "not sent again");
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
    case CR_ERR_NET_READ:           /* MariaDB Connector/C's own range (5000+) */
    case CR_ERR_NET_WRITE:
    case ER_CONNECTION_KILLED:
    case ER_SERVER_SHUTDOWN:
        return true;
    default:
        return false;
    }
}

/* An error of the client library (2000-2999, and Connector/C's own from
 * 5000): the connection's state is unknown. */
static bool db_maria_is_client(unsigned code)
{
    return (code >= CR_MIN_ERROR && code <= CR_MAX_ERROR) ||
           (code >= CR_EVENT_CREATE_FAILED && code <= CR_MARIADB_LAST_ERROR);
}

/* Per-process pseudo-random numbers for retry pauses: workers forked from
 * one master must not share rand()'s sequence, or pools that conflicted
 * once would pause alike and conflict again. */
static unsigned db_maria_random(void)
{
    static unsigned seed;
    static pid_t seed_pid;
    if (seed_pid != tl_pid()) {
        seed_pid = tl_pid();
        seed = (unsigned)seed_pid * 2654435761u ^ (unsigned)tl_clock_ms();
    }
    return (unsigned)rand_r(&seed);
}

static bool db_maria_is_select(const char *sql)
{
    sql += strspn(sql, " \t\r\n(");
    return strncasecmp(sql, "SELECT", 6) == 0;
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
    if (m->pid != tl_pid()) {   /* inherited across fork: not ours to close */
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

static void db_maria_fail_expired(const struct db *db, struct db_maria_fail *f)
{
    f->code = CR_SERVER_LOST;
    f->expired = true;
    snprintf(f->msg, sizeof f->msg, "no answer within the database timeout (%u ms)", db->timeout_ms);
}

static int db_maria_step(struct db_maria_op *op, bool start, int events)
{
    switch (op->kind) {
    case DB_OP_CONNECT:
        return start ? mysql_real_connect_start(&op->ret_h, op->h, op->host, op->user, op->password,
                                                op->dbname, op->port, op->sock, 0)
                     : mysql_real_connect_cont(&op->ret_h, op->h, events);
    case DB_OP_QUERY:
        return start ? mysql_real_query_start(&op->ret, op->h, op->sql, op->len)
                     : mysql_real_query_cont(&op->ret, op->h, events);
    case DB_OP_STORE:
        return start ? mysql_store_result_start(&op->res, op->h)
                     : mysql_store_result_cont(&op->res, op->h, events);
    case DB_OP_PREPARE:
        return start ? mysql_stmt_prepare_start(&op->ret, op->st, op->sql, op->len)
                     : mysql_stmt_prepare_cont(&op->ret, op->st, events);
    case DB_OP_EXECUTE:
        return start ? mysql_stmt_execute_start(&op->ret, op->st)
                     : mysql_stmt_execute_cont(&op->ret, op->st, events);
    case DB_OP_STMT_STORE:
        return start ? mysql_stmt_store_result_start(&op->ret, op->st)
                     : mysql_stmt_store_result_cont(&op->ret, op->st, events);
    }
    return 0;
}

/* Run op until it is done (true), or until end passes (false). Each wait is
 * a poll() on the connection's socket for the events the library asks for,
 * for the time left (or the library's own timeout when that is sooner: it
 * then fails the call itself). Giving up in the middle of a call leaves the
 * connection in an unknown state: it is shut down at once (mariadb_cancel:
 * shutdown(2), so that the COM_QUIT of the mysql_close that must follow
 * fails at once instead of waiting on a hung server), and the caller drops
 * it. */
static bool db_maria_drive(struct db_maria_op *op, int64_t end)
{
    int status = db_maria_step(op, true, 0);
    while (status) {
        int64_t left = end - tl_clock_ms();
        if (left <= 0)
            goto give_up;
        int wait = left > INT_MAX ? INT_MAX : (int)left;
        bool lib_timer = false;
        if (status & MYSQL_WAIT_TIMEOUT) {
            unsigned lib = mysql_get_timeout_value_ms(op->h);
            if (lib < (unsigned)wait) {
                wait = (int)lib;
                lib_timer = true;
            }
        }
        struct pollfd p = {
            .fd = (int)mysql_get_socket(op->h),
            .events = (short)((status & MYSQL_WAIT_READ ? POLLIN : 0) |
                              (status & MYSQL_WAIT_WRITE ? POLLOUT : 0) |
                              (status & MYSQL_WAIT_EXCEPT ? POLLPRI : 0)),
        };
        int n = poll(&p, 1, wait);
        if (n < 0 && errno != EINTR) {
            log_error("db: mariadb: poll: %s", strerror(errno));
            goto give_up;
        }
        int events = 0;
        if (n == 0 && lib_timer) {
            events = MYSQL_WAIT_TIMEOUT;
        } else if (n > 0) {
            if (p.revents & POLLNVAL)
                goto give_up;
            if (p.revents & (POLLIN | POLLHUP | POLLERR))
                events |= status & MYSQL_WAIT_READ;
            if (p.revents & (POLLOUT | POLLHUP | POLLERR))
                events |= status & MYSQL_WAIT_WRITE;
            if (p.revents & POLLPRI)
                events |= status & MYSQL_WAIT_EXCEPT;
        }
        if (events)
            status = db_maria_step(op, false, events);
    }
    return true;
give_up:
    mariadb_cancel(op->h);
    return false;
}

static const char *db_maria_label(const struct db *db)
{
    return db->url.dbname;
}

/* The operations table db.c dispatches through (internal.h). */
const struct db_backend db_maria_backend = {
    .name = "mariadb", .run = db_maria_run, .script = db_maria_script, .close = db_maria_close,
    .current_host = db_maria_current_host, .begin_sql = "START TRANSACTION", .label = db_maria_label,
};
