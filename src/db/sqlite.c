/*
 * db/sqlite.c - the SQLite backend of db.h.
 * Owns: one sqlite3 connection per handle (opened on first use, in the
 *   process that uses it), its persistent prepared statements, the parent
 *   folder of the database file (created when missing, 0700), the database
 *   file's mode when it creates it (0600; -wal and -shm follow it).
 * Invariants: WAL journal, busy timeout max(db_timeout_ms, 1000) so several
 *   worker processes can write; foreign keys on. A statement is reset and
 *   its bindings cleared before db_sqlite_run returns, so bound text is never
 *   referenced after the call (SQLITE_STATIC is safe).
 *   A connection inherited across fork is abandoned, never used or closed.
 *   db_change_stamp: the WAL-index header read through SQLite's own mapping
 *   (see db_sqlite_stamp); no stamp before the connection's first statement
 *   or when the database is not in WAL mode.
 * Context: workers and one-shot commands; single-threaded (SQLITE_OPEN_NOMUTEX).
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/log.h"
#include "../base/pid.h"
#include "internal.h"

#define DB_SQLITE_COLS_INLINE 16

struct db_sqlite_stmt {
    char *sql;              /* owned copy: the key (a caller's pointer could be reused) */
    sqlite3_stmt *st;
};

struct db_sqlite {
    sqlite3 *h;
    pid_t pid;
    bool wal;                       /* journal_mode=WAL took effect */
    bool stamp_off;                 /* no WAL-index to read: db_change_stamp says TL_EAGAIN */
    bool has_run;                   /* a statement completed on this connection (WAL-index mapped) */
    const volatile uint32_t *shm;   /* SQLite's own mapping of the WAL-index (-shm), region 0 */
    struct db_sqlite_stmt cache[DB_STMT_CACHE_MAX];
    size_t n_cache;
};

static enum tl_err db_sqlite_run(struct db *db, const char *sql, const struct db_val *params,
                                 size_t n_params, db_row_fn row, void *arg, uint64_t *affected,
                                 long long *last_id);
static enum tl_err db_sqlite_script(struct db *db, const char *sql);
static void db_sqlite_close(struct db *db);
static enum tl_err db_sqlite_connect(struct db *db);
static enum tl_err db_sqlite_mkdirs(const char *path, char *last_error, size_t last_error_len);
static void db_sqlite_create_private(const char *path);
static enum tl_err db_sqlite_prepare(struct db *db, const char *sql, sqlite3_stmt **out);
static enum tl_err db_sqlite_fail(struct db *db, const char *sql, int rc);
static enum tl_err db_sqlite_err(int rc);
static void db_sqlite_drop(struct db *db);
static int db_sqlite_journal_row(void *arg, int n, char **vals, char **names);

static enum tl_err db_sqlite_run(struct db *db, const char *sql, const struct db_val *params,
                          size_t n_params, db_row_fn row, void *arg, uint64_t *affected,
                          long long *last_id)
{
    enum tl_err e = db_sqlite_connect(db);
    if (e != TL_OK)
        return e;
    sqlite3_stmt *st = NULL;
    if ((e = db_sqlite_prepare(db, sql, &st)) != TL_OK)
        return e;
    sqlite3 *h = db->sqlite->h;
    if ((size_t)sqlite3_bind_parameter_count(st) != n_params) {
        log_error("db: sqlite: \"%.*s\": %zu parameters given, %d expected", DB_LOG_SQL_MAX, sql,
                  n_params, sqlite3_bind_parameter_count(st));
        return TL_EINVAL;
    }
    int rc = SQLITE_OK;
    for (size_t i = 0; i < n_params && rc == SQLITE_OK; i++) {
        const struct db_val *v = &params[i];
        if (v->type == DB_INT)
            rc = sqlite3_bind_int64(st, (int)i + 1, v->i);
        else if (v->type == DB_TEXT)
            rc = sqlite3_bind_text64(st, (int)i + 1, v->s.p ? v->s.p : "", v->s.len, SQLITE_STATIC,
                                     SQLITE_UTF8);
        else
            rc = sqlite3_bind_null(st, (int)i + 1);
    }
    if (rc != SQLITE_OK) {
        e = db_sqlite_fail(db, sql, rc);
        sqlite3_clear_bindings(st);
        return e;
    }
    db->n_queries++;
    struct db_val inline_cols[DB_SQLITE_COLS_INLINE], *cols = inline_cols;
    int n_cols = sqlite3_column_count(st);
    if (row && n_cols > DB_SQLITE_COLS_INLINE && !(cols = calloc((size_t)n_cols, sizeof *cols))) {
        sqlite3_clear_bindings(st);
        return TL_ENOMEM;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!row)
            continue;
        for (int c = 0; c < n_cols; c++) {
            switch (sqlite3_column_type(st, c)) {
            case SQLITE_NULL:
                cols[c] = (struct db_val){ .type = DB_NULL };
                break;
            case SQLITE_INTEGER:
                cols[c] = db_int(sqlite3_column_int64(st, c));
                break;
            default: {  /* TEXT, BLOB, FLOAT: their text form */
                const char *p = (const char *)sqlite3_column_text(st, c);
                cols[c] = db_text((struct str){ p ? p : "", (size_t)sqlite3_column_bytes(st, c) });
            }
            }
        }
        if (row(arg, cols, (size_t)n_cols) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (cols != inline_cols)
        free(cols);
    if (rc == SQLITE_DONE) {
        db->sqlite->has_run = true;
        if (affected)
            *affected = (uint64_t)sqlite3_changes64(h);
        if (last_id)
            *last_id = sqlite3_last_insert_rowid(h);
        e = TL_OK;
    } else {
        e = db_sqlite_fail(db, sql, rc);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return e;
}

/* sqlite3_prepare_v2 walks the script statement by statement, so each one is
 * counted and an error names the statement that failed. */
static enum tl_err db_sqlite_script(struct db *db, const char *sql)
{
    enum tl_err e = db_sqlite_connect(db);
    if (e != TL_OK)
        return e;
    sqlite3 *h = db->sqlite->h;
    const char *tail = sql;
    while (*tail) {
        sqlite3_stmt *st = NULL;
        const char *start = tail;
        int rc = sqlite3_prepare_v2(h, start, -1, &st, &tail);
        if (rc != SQLITE_OK)
            return db_sqlite_fail(db, start + strspn(start, " \t\r\n"), rc);
        if (!st)        /* whitespace or a comment */
            continue;
        db->n_queries++;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            ;
        if (rc != SQLITE_DONE) {
            e = db_sqlite_fail(db, sqlite3_sql(st), rc);
            sqlite3_finalize(st);
            return e;
        }
        sqlite3_finalize(st);
    }
    return TL_OK;
}

static void db_sqlite_close(struct db *db)
{
    db_sqlite_drop(db);
}

/* Open on first use. A connection made in another process (we were forked
 * with it) is abandoned: closing it here could disturb the parent's locks. */
static enum tl_err db_sqlite_connect(struct db *db)
{
    struct db_sqlite *s = db->sqlite;
    if (s && s->pid == tl_pid())
        return TL_OK;
    if (s) {
        log_warn("db: sqlite connection used across fork; opening a new one");
        db->sqlite = NULL;      /* leaked on purpose, once */
    }
    const char *path = db->url.path;
    bool is_memory = !strcmp(path, ":memory:");
    if (!is_memory && db_sqlite_mkdirs(path, db->last_error, sizeof db->last_error) != TL_OK)
        return TL_EUNAVAIL;
    if (!is_memory)
        db_sqlite_create_private(path);
    if (!(s = calloc(1, sizeof *s)))
        return TL_ENOMEM;
    int rc = sqlite3_open_v2(path, &s->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(db->last_error, sizeof db->last_error, "cannot open \"%.200s\": %.250s", path,
                 s->h ? sqlite3_errmsg(s->h) : sqlite3_errstr(rc));
        log_error("db: sqlite: %s", db->last_error);
        goto fail;
    }
    sqlite3_extended_result_codes(s->h, 1);
    sqlite3_busy_timeout(s->h, db->timeout_ms > 1000 ? (int)db->timeout_ms : 1000);
    char *msg = NULL;
    rc = sqlite3_exec(s->h, is_memory ? "PRAGMA foreign_keys=ON"
                                      : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                                        "PRAGMA foreign_keys=ON",
                      db_sqlite_journal_row, s, &msg);
    if (rc != SQLITE_OK) {
        snprintf(db->last_error, sizeof db->last_error, "setting up \"%.200s\": %.250s", path,
                 msg ? msg : sqlite3_errstr(rc));
        log_error("db: sqlite: %s", db->last_error);
        sqlite3_free(msg);
        goto fail;
    }
    s->pid = tl_pid();
    db->sqlite = s;
    return TL_OK;
fail:
    sqlite3_close(s->h);
    free(s);
    return db_sqlite_err(rc) == TL_ENOMEM ? TL_ENOMEM : TL_EUNAVAIL;
}

/* Create the database file 0600 when it does not exist yet: SQLite would
 * create it 0644 less the umask (readable by every local user under the
 * usual 022), and it creates -wal and -shm with the database file's mode, so
 * this one file decides for all three. O_EXCL: an existing file (the
 * operator's, or one this process has open with POSIX locks, which any
 * close() of it would drop) is never opened here. Failure is left to
 * sqlite3_open_v2 to report. */
static void db_sqlite_create_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0)
        close(fd);
}

/* mkdir -p of path's parent folder; folders it creates are 0700 (they hold
 * the database and nothing anyone else needs). */
static enum tl_err db_sqlite_mkdirs(const char *path, char *last_error, size_t last_error_len)
{
    char dir[sizeof ((struct db_url *)0)->path];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return TL_OK;
    *slash = '\0';
    for (char *p = dir + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            log_error("db: sqlite: cannot create folder \"%s\": %s", dir, strerror(errno));
            snprintf(last_error, last_error_len, "cannot create folder \"%.200s\": %s", dir, strerror(errno));
            return TL_EIO;
        }
        *p = saved;
        if (saved == '\0')
            return TL_OK;
    }
}

/* The cached statement for sql, preparing it (persistent) on a miss. */
static enum tl_err db_sqlite_prepare(struct db *db, const char *sql, sqlite3_stmt **out)
{
    struct db_sqlite *s = db->sqlite;
    for (size_t i = 0; i < s->n_cache; i++) {
        if (!strcmp(s->cache[i].sql, sql)) {
            *out = s->cache[i].st;
            return TL_OK;
        }
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(s->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK)
        return db_sqlite_fail(db, sql, rc);
    if (!st) {
        log_error("db: sqlite: \"%.*s\": no statement", DB_LOG_SQL_MAX, sql);
        return TL_EINVAL;
    }
    char *copy = strdup(sql);
    if (!copy) {
        sqlite3_finalize(st);
        return TL_ENOMEM;
    }
    if (s->n_cache == DB_STMT_CACHE_MAX) {   /* evict the oldest */
        sqlite3_finalize(s->cache[0].st);
        free(s->cache[0].sql);
        memmove(&s->cache[0], &s->cache[1], (DB_STMT_CACHE_MAX - 1) * sizeof s->cache[0]);
        s->n_cache--;
    }
    s->cache[s->n_cache++] = (struct db_sqlite_stmt){ copy, st };
    *out = st;
    return TL_OK;
}

/* Log rc with the statement and convert it. Busy is a warning: it is load,
 * not a bug. */
static enum tl_err db_sqlite_fail(struct db *db, const char *sql, int rc)
{
    enum tl_err e = db_sqlite_err(rc);
    const char *msg = db->sqlite && db->sqlite->h ? sqlite3_errmsg(db->sqlite->h) : sqlite3_errstr(rc);
    snprintf(db->last_error, sizeof db->last_error, "%s", msg);
    if (e == TL_EUNAVAIL || e == TL_EEXIST)
        log_warn("db: sqlite: \"%.*s\": %s (%d)", DB_LOG_SQL_MAX, sql, msg, rc);
    else
        log_error("db: sqlite: \"%.*s\": %s (%d)", DB_LOG_SQL_MAX, sql, msg, rc);
    return e;
}

static enum tl_err db_sqlite_err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return TL_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
        return TL_EUNAVAIL;
    case SQLITE_NOMEM:
        return TL_ENOMEM;
    case SQLITE_TOOBIG:
        return TL_ETOOBIG;
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
        return TL_EINVAL;
    case SQLITE_CONSTRAINT:
        return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY ? TL_EEXIST
                                                                                     : TL_EINVAL;
    default:
        return TL_EIO;
    }
}

static void db_sqlite_drop(struct db *db)
{
    struct db_sqlite *s = db->sqlite;
    if (!s)
        return;
    db->sqlite = NULL;
    if (s->pid != tl_pid())
        return;     /* inherited across fork: not ours to close */
    for (size_t i = 0; i < s->n_cache; i++) {
        sqlite3_finalize(s->cache[i].st);
        free(s->cache[i].sql);
    }
    sqlite3_close(s->h);
    free(s);
}

/* The row of "PRAGMA journal_mode=WAL": the mode in effect ("wal", or the
 * old mode when WAL cannot be used, e.g. on a file system without shared
 * memory). The other pragmas of the script return no rows. */
static int db_sqlite_journal_row(void *arg, int n, char **vals, char **names)
{
    (void)names;
    struct db_sqlite *s = arg;
    if (n == 1 && vals[0] && !strcmp(vals[0], "wal"))
        s->wal = true;
    return 0;
}

/* The WAL-index header (https://www.sqlite.org/walformat.html, section 2.1):
 * two copies of 48 bytes at the start of region 0 of the -shm file. A
 * committing writer stores copy 2, a memory barrier, then copy 1; readers
 * read copy 1, a barrier, copy 2, and trust them only when equal. Every
 * commit changes the header (mxFrame, the frame checksums, or the salts when
 * the WAL restarts), so an unchanged header means no commit.
 * The header is read through SQLite's own mapping (the VFS's xShmMap on the
 * connection's file, which returns the region it already mapped): opening
 * the -shm file here would be wrong, since closing any descriptor of a file
 * drops every POSIX lock the process holds on it, SQLite's among them. */
#define DB_SQLITE_WALINDEX_VERSION 3007000u
#define DB_SQLITE_WALINDEX_WORDS 12
#define DB_SQLITE_SHM_REGION 32768
_Static_assert(sizeof(struct db_stamp) == DB_SQLITE_WALINDEX_WORDS * 4, "a stamp is one header copy");

static enum tl_err db_sqlite_stamp(struct db *db, struct db_stamp *out)
{
    struct db_sqlite *s = db->sqlite;
    if (!s || s->pid != tl_pid() || s->stamp_off || !s->wal)
        return TL_EAGAIN;       /* not connected in this process yet: the caller's read connects */
    if (!s->shm) {
        /* Region 0 exists once this connection has read in WAL mode; it then
         * stays mapped until the connection closes. */
        sqlite3_file *f = NULL;
        void volatile *p = NULL;
        if (sqlite3_file_control(s->h, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f ||
            !f->pMethods || f->pMethods->iVersion < 2 || !f->pMethods->xShmMap) {
            s->stamp_off = true;
            return TL_EAGAIN;
        }
        if (!s->has_run)
            return TL_EAGAIN;
        if (f->pMethods->xShmMap(f, 0, DB_SQLITE_SHM_REGION, 0, &p) != SQLITE_OK || !p)
            return TL_EAGAIN;
        s->shm = (const volatile uint32_t *)p;
    }
    uint32_t a[DB_SQLITE_WALINDEX_WORDS], b[DB_SQLITE_WALINDEX_WORDS];
    for (int i = 0; i < DB_SQLITE_WALINDEX_WORDS; i++)
        a[i] = __atomic_load_n(&s->shm[i], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (int i = 0; i < DB_SQLITE_WALINDEX_WORDS; i++)
        b[i] = __atomic_load_n(&s->shm[DB_SQLITE_WALINDEX_WORDS + i], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    const unsigned char *bytes = (const unsigned char *)a;
    if (memcmp(a, b, sizeof a) != 0 || a[0] != DB_SQLITE_WALINDEX_VERSION || bytes[12] == 0)
        return TL_EAGAIN;       /* a commit in progress, or a format this code does not know */
    memcpy(out->w, a, sizeof out->w);
    return TL_OK;
}

static const char *db_sqlite_label(const struct db *db)
{
    return db->url.path;
}

/* The operations table db.c dispatches through (internal.h). */
const struct db_backend db_sqlite_backend = {
    .name = "sqlite", .run = db_sqlite_run, .script = db_sqlite_script, .close = db_sqlite_close,
    .current_host = NULL, .begin_sql = "BEGIN IMMEDIATE", .label = db_sqlite_label,
    .stamp = db_sqlite_stamp,
};
