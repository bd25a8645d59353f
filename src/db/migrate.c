/*
 * db/migrate.c - versioned migrations (migrate.h): reading migrations/,
 *   the schema_version table, upgrade and downgrade.
 * Owns: the file naming rules and the version table:
 *   schema_version (version INTEGER PRIMARY KEY, name, applied_at), one row
 *   per applied version, so `history` can show what is applied and when.
 * Invariants:
 *   - versions are 1..N without gaps; each has an up and a down file, plain
 *     (.up.sql) or per dialect (.up.sqlite.sql / .up.mariadb.sql, preferred).
 *   - each step runs as BEGIN; re-read the version; script; record; COMMIT.
 *     SQLite DDL is transactional, so a failed step leaves nothing behind;
 *     MariaDB commits DDL implicitly (a failed step may be half applied,
 *     and the message says so). Re-reading the version inside the
 *     transaction (SQLite: BEGIN IMMEDIATE holds the write lock; MariaDB: a
 *     GET_LOCK around the whole run) makes concurrent upgrades harmless.
 *   - a database at a version the code does not know is never touched.
 * Context: one-shot command (tasklist db ...) and tests.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "migrate.h"

#define MIG_VERSION_MAX 100000
#define MIG_FILE_MAX (1024 * 1024)
#define MIG_LOCK_WAIT_MS 15000

static const char *const mig_dir_name[MIG_DIR__MAX] = { "up", "down" };
static const char *const mig_dialect_name[MIG_DIALECT__MAX] = { "", "sqlite", "mariadb" };

static const char mig_sql_create[] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER NOT NULL PRIMARY KEY, "
    "name VARCHAR(128) NOT NULL, "
    "applied_at VARCHAR(32) NOT NULL)";
static const char mig_sql_exists_sqlite[] =
    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'";
static const char mig_sql_exists_maria[] =
    "SELECT COUNT(*) FROM information_schema.tables "
    "WHERE table_schema = DATABASE() AND table_name = 'schema_version'";
static const char mig_sql_max[] = "SELECT MAX(version) FROM schema_version";
static const char mig_sql_list[] = "SELECT version, name, applied_at FROM schema_version ORDER BY version";
static const char mig_sql_insert[] =
    "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)";
static const char mig_sql_delete[] = "DELETE FROM schema_version WHERE version = ?";

struct mig_list {
    struct mig_applied *a;
    size_t n, cap;
    bool oom;
};

struct mig_name {
    unsigned version;
    enum mig_dir dir;
    enum mig_dialect dialect;
    char name[128];
};

static int mig_parse_name(const char *file, struct mig_name *out);
static enum tl_err mig_step(struct db *db, const char *dir, const struct mig_set *set,
                            enum mig_dir way, unsigned target, bool *done, struct tl_diag *d);
static enum tl_err mig_read(const char *dir, const struct mig_step *s, enum mig_dir way,
                            enum db_kind kind, char **out, char *path, size_t path_len,
                            struct tl_diag *d);
static enum tl_err mig_lock(struct db *db, bool take, struct tl_diag *d);
static enum tl_err mig_refuse_newer(unsigned cur, unsigned latest, struct tl_diag *d);
static int mig_count_row(void *arg, const struct db_val *cols, size_t n);
static int mig_list_row(void *arg, const struct db_val *cols, size_t n);

enum tl_err mig_scan(const char *dir, struct mig_set *out, struct tl_diag *d)
{
    memset(out, 0, sizeof *out);
    DIR *dh = opendir(dir);
    if (!dh) {
        tl_diag_set(d, dir, 0, 0, "cannot read the migrations folder: %s", strerror(errno));
        return errno == ENOENT ? TL_ENOTFOUND : TL_EIO;
    }
    struct dirent *de;
    enum tl_err e = TL_OK;
    while ((de = readdir(dh))) {
        struct mig_name mn;
        int r = mig_parse_name(de->d_name, &mn);
        if (r == 0)
            continue;
        if (r < 0) {
            tl_diag_set(d, dir, 0, 0,
                        "\"%s\": bad migration file name (want NNNN_name.up.sql, NNNN_name.down.sql, "
                        "optionally .up.sqlite.sql / .up.mariadb.sql)", de->d_name);
            e = TL_EPARSE;
            break;
        }
        if (mn.version > out->n) {
            struct mig_step *grown = realloc(out->steps, mn.version * sizeof *grown);
            if (!grown) {
                e = TL_ENOMEM;
                break;
            }
            memset(grown + out->n, 0, (mn.version - out->n) * sizeof *grown);
            out->steps = grown;
            out->n = mn.version;
        }
        struct mig_step *s = &out->steps[mn.version - 1];
        if (s->name[0] && strcmp(s->name, mn.name) != 0) {
            tl_diag_set(d, dir, 0, 0, "version %u is named both \"%s\" and \"%s\"", mn.version, s->name,
                        mn.name);
            e = TL_EPARSE;
            break;
        }
        char *slot = s->file[mn.dir][mn.dialect];
        if (slot[0]) {
            tl_diag_set(d, dir, 0, 0, "\"%s\" and \"%s\" are the same migration", slot, de->d_name);
            e = TL_EPARSE;
            break;
        }
        s->version = mn.version;
        snprintf(s->name, sizeof s->name, "%s", mn.name);
        if (snprintf(slot, sizeof s->file[0][0], "%s", de->d_name) >= (int)sizeof s->file[0][0]) {
            tl_diag_set(d, dir, 0, 0, "migration file name \"%.64s...\" is too long", de->d_name);
            e = TL_EPARSE;
            break;
        }
    }
    closedir(dh);
    for (unsigned v = 1; e == TL_OK && v <= out->n; v++) {
        const struct mig_step *s = &out->steps[v - 1];
        if (!s->version) {
            tl_diag_set(d, dir, 0, 0, "version %u is missing (versions run 1..%u without gaps)", v, out->n);
            e = TL_EPARSE;
        }
        for (int w = 0; e == TL_OK && w < MIG_DIR__MAX; w++) {
            if (!s->file[w][MIG_ANY][0] && !s->file[w][MIG_SQLITE][0] && !s->file[w][MIG_MARIADB][0]) {
                tl_diag_set(d, dir, 0, 0, "version %u (%s) has no %s file", v, s->name, mig_dir_name[w]);
                e = TL_EPARSE;
            }
        }
    }
    if (e != TL_OK)
        mig_set_fini(out);
    return e;
}

void mig_set_fini(struct mig_set *s)
{
    free(s->steps);
    s->steps = NULL;
    s->n = 0;
}

enum tl_err migrate_latest(const char *dir, unsigned *out, struct tl_diag *d)
{
    struct mig_set set;
    enum tl_err e = mig_scan(dir, &set, d);
    if (e != TL_OK)
        return e;
    *out = set.n;
    mig_set_fini(&set);
    return TL_OK;
}

enum tl_err migrate_current(struct db *db, unsigned *out)
{
    long long n = 0;
    *out = 0;
    enum tl_err e = db_query(db, db_kind(db) == DB_SQLITE ? mig_sql_exists_sqlite : mig_sql_exists_maria,
                             NULL, 0, mig_count_row, &n);
    if (e != TL_OK || n == 0)
        return e;
    n = 0;
    if ((e = db_query(db, mig_sql_max, NULL, 0, mig_count_row, &n)) != TL_OK)
        return e;
    *out = (unsigned)n;
    return TL_OK;
}

enum tl_err migrate_upgrade(struct db *db, const char *dir, unsigned target, struct tl_diag *d)
{
    struct mig_set set;
    enum tl_err e = mig_scan(dir, &set, d);
    if (e != TL_OK)
        return e;
    if (target == 0)
        target = set.n;
    if (target > set.n) {
        tl_diag_set(d, dir, 0, 0, "no migration %u here (latest is %u)", target, set.n);
        mig_set_fini(&set);
        return TL_EINVAL;
    }
    if ((e = mig_lock(db, true, d)) != TL_OK) {
        mig_set_fini(&set);
        return e;
    }
    unsigned cur;
    if ((e = migrate_current(db, &cur)) == TL_OK && cur > set.n)
        e = mig_refuse_newer(cur, set.n, d);
    else if (e == TL_OK && cur > target) {
        tl_diag_set(d, NULL, 0, 0, "database is at version %u, above %u: use downgrade", cur, target);
        e = TL_EINVAL;
    }
    if (e == TL_OK && cur < target && db_exec_script(db, mig_sql_create) != TL_OK) {
        tl_diag_set(d, NULL, 0, 0, "cannot create schema_version: %s", db->last_error);
        e = TL_EIO;
    }
    for (bool done = cur >= target; e == TL_OK && !done;)
        e = mig_step(db, dir, &set, MIG_UP, target, &done, d);
    mig_lock(db, false, NULL);
    mig_set_fini(&set);
    return e;
}

/* target is where to end (0 = before the first migration); `tasklist db
 * downgrade` without a version passes current - 1. */
enum tl_err migrate_downgrade(struct db *db, const char *dir, unsigned target, struct tl_diag *d)
{
    struct mig_set set;
    enum tl_err e = mig_scan(dir, &set, d);
    if (e != TL_OK)
        return e;
    if ((e = mig_lock(db, true, d)) != TL_OK) {
        mig_set_fini(&set);
        return e;
    }
    unsigned cur;
    if ((e = migrate_current(db, &cur)) == TL_OK && cur > set.n)
        e = mig_refuse_newer(cur, set.n, d);
    else if (e == TL_OK && target > cur) {
        tl_diag_set(d, NULL, 0, 0, "database is at version %u, below %u: use upgrade", cur, target);
        e = TL_EINVAL;
    }
    for (bool done = cur <= target; e == TL_OK && !done;)
        e = mig_step(db, dir, &set, MIG_DOWN, target, &done, d);
    mig_lock(db, false, NULL);
    mig_set_fini(&set);
    return e;
}

enum tl_err mig_applied_list(struct db *db, struct mig_applied **out, size_t *n)
{
    struct mig_list l = { 0 };
    *out = NULL;
    *n = 0;
    long long exists = 0;
    enum tl_err e = db_query(db, db_kind(db) == DB_SQLITE ? mig_sql_exists_sqlite : mig_sql_exists_maria,
                             NULL, 0, mig_count_row, &exists);
    if (e != TL_OK || !exists)
        return e;
    e = db_query(db, mig_sql_list, NULL, 0, mig_list_row, &l);
    if (e == TL_OK && l.oom)
        e = TL_ENOMEM;
    if (e != TL_OK) {
        free(l.a);
        return e;
    }
    *out = l.a;
    *n = l.n;
    return TL_OK;
}

/* ---- helpers ---- */

/* 1 = a migration (out filled), 0 = not ours (ignored), -1 = malformed. */
static int mig_parse_name(const char *file, struct mig_name *out)
{
    size_t len = strlen(file);
    if (file[0] < '0' || file[0] > '9' || len < 4 || strcmp(file + len - 4, ".sql") != 0)
        return 0;
    memset(out, 0, sizeof *out);
    const char *p = file;
    unsigned long v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (unsigned long)(*p++ - '0');
        if (v > MIG_VERSION_MAX)
            return -1;
    }
    if (v == 0 || *p++ != '_')
        return -1;
    size_t n = strcspn(p, ".");
    if (n == 0 || n >= sizeof out->name || strspn(p, "abcdefghijklmnopqrstuvwxyz"
                                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n)
        return -1;
    memcpy(out->name, p, n);
    out->version = (unsigned)v;
    p += n;
    if (!strncmp(p, ".up.", 4))
        out->dir = MIG_UP, p += 4;
    else if (!strncmp(p, ".down.", 6))
        out->dir = MIG_DOWN, p += 6;
    else
        return -1;
    if (!strcmp(p, "sql"))
        out->dialect = MIG_ANY;
    else if (!strcmp(p, "sqlite.sql"))
        out->dialect = MIG_SQLITE;
    else if (!strcmp(p, "mariadb.sql") || !strcmp(p, "mysql.sql"))
        out->dialect = MIG_MARIADB;
    else
        return -1;
    return len < sizeof ((struct mig_step *)0)->file[0][0] ? 1 : -1;
}

/* One step toward target in its own transaction; *done when there is
 * nothing left to do (another process may have done it meanwhile). */
static enum tl_err mig_step(struct db *db, const char *dir, const struct mig_set *set,
                            enum mig_dir way, unsigned target, bool *done, struct tl_diag *d)
{
    enum tl_err e = db_begin(db);
    unsigned cur = 0;
    if (e == TL_OK)
        e = migrate_current(db, &cur);
    if (e != TL_OK) {
        tl_diag_set(d, NULL, 0, 0, "%s", db->last_error[0] ? db->last_error : tl_strerror(e));
        if (db->in_tx)
            db_rollback(db);
        return e;
    }
    if (cur > set->n) {
        db_rollback(db);
        return mig_refuse_newer(cur, set->n, d);
    }
    if (way == MIG_UP ? cur >= target : cur <= target) {
        *done = true;
        return db_commit(db);
    }
    unsigned v = way == MIG_UP ? cur + 1 : cur;
    const struct mig_step *s = &set->steps[v - 1];
    char path[1280], *sql = NULL, now[32];
    if ((e = mig_read(dir, s, way, db_kind(db), &sql, path, sizeof path, d)) != TL_OK) {
        db_rollback(db);
        return e;
    }
    time_t t = time(NULL);
    struct tm tm;
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    e = db_exec_script(db, sql);
    free(sql);
    if (e != TL_OK) {
        tl_diag_set(d, path, 0, 0, "%s%s", db->last_error,
                    db_kind(db) == DB_MARIADB ? " (MariaDB commits DDL at once: this step may be "
                                                "partly applied; check the schema)" : "");
        if (db->in_tx)
            db_rollback(db);
        return e;
    }
    if (way == MIG_UP) {
        struct db_val p[] = { db_int(v), db_text(str_c(s->name)), db_text(str_c(now)) };
        e = db_exec(db, mig_sql_insert, p, 3, NULL, NULL);
    } else {
        struct db_val p[] = { db_int(v) };
        e = db_exec(db, mig_sql_delete, p, 1, NULL, NULL);
    }
    if (e == TL_OK)
        e = db_commit(db);
    else if (db->in_tx)
        db_rollback(db);
    if (e != TL_OK)
        tl_diag_set(d, path, 0, 0, "recording version %u: %s", v, db->last_error);
    return e;
}

/* The file for this step, direction and dialect (the dialect's own variant
 * wins), read whole into a malloc'd NUL-terminated buffer. */
static enum tl_err mig_read(const char *dir, const struct mig_step *s, enum mig_dir way,
                            enum db_kind kind, char **out, char *path, size_t path_len,
                            struct tl_diag *d)
{
    enum mig_dialect mine = kind == DB_SQLITE ? MIG_SQLITE : MIG_MARIADB;
    const char *file = s->file[way][mine][0] ? s->file[way][mine] : s->file[way][MIG_ANY];
    if (!file[0]) {
        tl_diag_set(d, dir, 0, 0, "version %u (%s) has no %s file for %s", s->version, s->name,
                    mig_dir_name[way], mig_dialect_name[mine]);
        return TL_ENOTFOUND;
    }
    snprintf(path, path_len, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f) {
        tl_diag_set(d, path, 0, 0, "%s", strerror(errno));
        return TL_EIO;
    }
    char *buf = malloc(MIG_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, MIG_FILE_MAX + 1, f) : 0;
    bool bad = ferror(f);
    fclose(f);
    if (!buf)
        return TL_ENOMEM;
    if (bad || n > MIG_FILE_MAX || memchr(buf, '\0', n)) {
        tl_diag_set(d, path, 0, 0, bad ? "read error" : n > MIG_FILE_MAX ? "larger than 1 MiB"
                                                                         : "contains a NUL byte");
        free(buf);
        return TL_EIO;
    }
    buf[n] = '\0';
    *out = buf;
    return TL_OK;
}

/* MariaDB: a named lock for the whole run, so two upgrades cannot
 * interleave (SQLite serializes on BEGIN IMMEDIATE instead). GET_LOCK is
 * polled with a zero wait: a blocking wait would outlast the read timeout. */
static enum tl_err mig_lock(struct db *db, bool take, struct tl_diag *d)
{
    if (db_kind(db) != DB_MARIADB)
        return TL_OK;
    struct db_val name[] = { db_text(STR("tasklist.migrate")) };
    if (!take) {
        long long r = 0;
        return db_query(db, "SELECT RELEASE_LOCK(?)", name, 1, mig_count_row, &r);
    }
    int64_t until = tl_clock_ms() + MIG_LOCK_WAIT_MS;
    for (;;) {
        long long got = 0;
        enum tl_err e = db_query(db, "SELECT GET_LOCK(?, 0)", name, 1, mig_count_row, &got);
        if (e != TL_OK) {
            tl_diag_set(d, NULL, 0, 0, "%s", db->last_error);
            return e;
        }
        if (got == 1)
            return TL_OK;
        if (tl_clock_ms() > until) {
            tl_diag_set(d, NULL, 0, 0, "another migration holds the lock \"tasklist.migrate\"");
            return TL_EAGAIN;
        }
        usleep(100 * 1000);
    }
}

static enum tl_err mig_refuse_newer(unsigned cur, unsigned latest, struct tl_diag *d)
{
    tl_diag_set(d, NULL, 0, 0, "database is at version %u but this code knows only up to %u: refusing",
                cur, latest);
    return TL_EINVAL;
}

/* First column as an integer (NULL = 0). */
static int mig_count_row(void *arg, const struct db_val *cols, size_t n)
{
    long long *out = arg;
    if (n > 0 && cols[0].type == DB_INT)
        *out = cols[0].i;
    else if (n > 0 && cols[0].type == DB_TEXT) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.*s", STR_FMT(cols[0].s));
        *out = strtoll(buf, NULL, 10);
    }
    return 0;
}

static int mig_list_row(void *arg, const struct db_val *cols, size_t n)
{
    struct mig_list *l = arg;
    if (n < 3 || cols[0].type != DB_INT)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct mig_applied *a = realloc(l->a, cap * sizeof *a);
        if (!a) {
            l->oom = true;
            return 1;
        }
        l->a = a;
        l->cap = cap;
    }
    struct mig_applied *m = &l->a[l->n++];
    memset(m, 0, sizeof *m);
    m->version = (unsigned)cols[0].i;
    if (cols[1].type == DB_TEXT)
        snprintf(m->name, sizeof m->name, "%.*s", STR_FMT(cols[1].s));
    if (cols[2].type == DB_TEXT)
        snprintf(m->applied_at, sizeof m->applied_at, "%.*s", STR_FMT(cols[2].s));
    return 0;
}

enum tl_err migrate_history(struct db *db, const char *dir, struct migrate_entry **out, size_t *n,
                            unsigned *latest, struct tl_diag *d)
{
    *out = NULL;
    *n = 0;
    struct mig_set set;
    enum tl_err e = mig_scan(dir, &set, d);
    if (e != TL_OK)
        return e;
    struct mig_applied *applied = NULL;
    size_t n_applied = 0;
    if ((e = mig_applied_list(db, &applied, &n_applied)) != TL_OK) {
        mig_set_fini(&set);
        tl_diag_set(d, NULL, 0, 0, "%s", db->last_error);
        return e;
    }
    unsigned last = set.n;
    for (size_t i = 0; i < n_applied; i++)
        if (applied[i].version > last)
            last = applied[i].version;
    struct migrate_entry *list = calloc(last ? last : 1, sizeof *list);
    if (!list) {
        free(applied);
        mig_set_fini(&set);
        tl_diag_set(d, NULL, 0, 0, "out of memory");
        return TL_ENOMEM;
    }
    for (unsigned v = 1; v <= last; v++) {
        struct migrate_entry *m = &list[v - 1];
        const struct mig_applied *a = NULL;
        for (size_t i = 0; i < n_applied; i++)
            if (applied[i].version == v)
                a = &applied[i];
        m->version = v;
        m->known = v <= set.n;
        m->applied = a != NULL;
        snprintf(m->name, sizeof m->name, "%s", m->known ? set.steps[v - 1].name : a ? a->name : "?");
        if (a)
            snprintf(m->applied_at, sizeof m->applied_at, "%s", a->applied_at);
    }
    *latest = set.n;
    *out = list;
    *n = last;
    free(applied);
    mig_set_fini(&set);
    return TL_OK;
}
