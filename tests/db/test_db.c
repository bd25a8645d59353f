/*
 * tests/db/test_db.c - the data layer against a real database: DAO,
 *   migrations, the `tasklist db` CLI, transactions, failure paths.
 * Usage: test_db sqlite            (temp dir; no server needed)
 *        test_db mariadb           (TL_MARIADB_URL; optional TL_MARIADB_SOCK,
 *                                   TL_MARIADB_PID for the hung-server test,
 *                                   TL_MARIADB_RESTART = command restarting it)
 * Each case prints what failed with its index and input.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app/task_dao.h"
#include "db/db.h"
#include "cli/cli.h"
#include "db/migrate.h"
#include "base/arena.h"

#include "../lib/check.h"

static bool is_maria;
static char tmp[256];
static char mig_dir[1024];
static unsigned n_db;


static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sqlite_url(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "sqlite:///%s/%s", tmp, name);   /* tmp is absolute: four slashes */
}

/* A handle on an empty database: a new SQLite file, or the MariaDB test
 * database with every table dropped (which also resets AUTO_INCREMENT). */
static struct db *fresh_db(void)
{
    char url[1024];
    struct tl_diag d = { 0 };
    if (is_maria) {
        snprintf(url, sizeof url, "%s", getenv("TL_MARIADB_URL"));
    } else {
        char name[32];
        snprintf(name, sizeof name, "t%u.sqlite", ++n_db);
        sqlite_url(url, sizeof url, name);
    }
    struct db *db = db_open(url, 1000, &d);
    if (!db) {
        fprintf(stderr, "db_open(%s): %s\n", url, d.msg);
        exit(1);
    }
    if (is_maria) {
        enum tl_err e = db_exec_script(db, "DROP TABLE IF EXISTS task, data_version, schema_version, t1, t2, t3");
        if (e != TL_OK) {
            fprintf(stderr, "cannot reset the MariaDB test database: %s\n", tl_strerror(e));
            exit(1);
        }
    }
    return db;
}

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* A migrations folder under tmp with files given as name, text, ..., NULL. */
static const char *make_mig_dir(const char *sub, ...)
{
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", tmp, sub);
    mkdir(dir, 0755);
    va_list ap;
    va_start(ap, sub);
    const char *name;
    while ((name = va_arg(ap, const char *))) {
        const char *text = va_arg(ap, const char *);
        if (write_file(dir, name, text) != 0) {
            fprintf(stderr, "cannot write %s/%s\n", dir, name);
            exit(1);
        }
    }
    va_end(ap);
    return dir;
}

static int count_row(void *arg, const struct db_val *cols, size_t n)
{
    long long *out = arg;
    if (n && cols[0].type == DB_INT)
        *out = cols[0].i;
    return 0;
}

static long long scalar(struct db *db, const char *sql, enum tl_err *e_out)
{
    long long v = -1;
    enum tl_err e = db_query(db, sql, NULL, 0, count_row, &v);
    if (e_out)
        *e_out = e;
    return v;
}

static unsigned current(struct db *db)
{
    unsigned v = 12345;
    enum tl_err e = migrate_current(db, &v);
    CHECK(e == TL_OK, "migrate_current: %s", tl_strerror(e));
    return v;
}

/* ---- migrations ---- */

static void t_upgrade_idempotent(void)
{
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    unsigned latest = 0;
    CHECK(migrate_latest(mig_dir, &latest, &d) == TL_OK && latest >= 1, "latest %u: %s", latest, d.msg);
    CHECK(current(db) == 0, "fresh database should be at 0");
    enum tl_err e = migrate_upgrade(db, mig_dir, 0, &d);
    CHECK(e == TL_OK, "upgrade: %s %s", tl_strerror(e), d.msg);
    CHECK(current(db) == latest, "after upgrade at %u, want %u", current(db), latest);
    long long id;
    CHECK(task_create(db, STR("kept"), &id) == TL_OK, "create");
    e = migrate_upgrade(db, mig_dir, 0, &d);
    CHECK(e == TL_OK, "second upgrade: %s %s", tl_strerror(e), d.msg);
    CHECK(current(db) == latest, "second upgrade moved the version");
    struct arena *a = arena_new(0);
    struct task t;
    CHECK(task_get(db, id, a, &t) == TL_OK && str_eq_c(t.name, "kept"), "second upgrade lost data");
    /* upgrade to an unknown version and to a lower one are refused */
    CHECK(migrate_upgrade(db, mig_dir, latest + 1, &d) == TL_EINVAL, "upgrade past latest");
    arena_free(a);
    db_close(db);
}

static void t_downgrade_upgrade(void)
{
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    struct arena *a = arena_new(0);
    struct task_list l;
    CHECK(migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    CHECK(task_create(db, STR("x"), NULL) == TL_OK, "create");
    enum tl_err e = migrate_downgrade(db, mig_dir, 0, &d);
    CHECK(e == TL_OK, "downgrade: %s %s", tl_strerror(e), d.msg);
    CHECK(current(db) == 0, "after downgrade at %u", current(db));
    CHECK(task_all(db, a, &l) == TL_EIO, "task table should be gone");
    CHECK(migrate_downgrade(db, mig_dir, 0, &d) == TL_OK, "downgrade at 0 is a no-op");
    CHECK(migrate_downgrade(db, mig_dir, 1, &d) == TL_EINVAL, "downgrade to above current");
    CHECK(migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "re-upgrade: %s", d.msg);
    CHECK(task_all(db, a, &l) == TL_OK && l.n == 0, "after re-upgrade: %zu tasks", l.n);
    arena_free(a);
    db_close(db);
}

static void t_newer_refused(void)
{
    /* one version more than the project's migrations (which end at 2) */
    const char *two = make_mig_dir("mig-two",
        "0001_a.up.sql", "CREATE TABLE t1 (x INTEGER);",
        "0001_a.down.sql", "DROP TABLE t1;",
        "0002_b.up.sql", "CREATE TABLE t2 (x INTEGER);\n-- comment; with a semicolon\nINSERT INTO t2 VALUES (1);",
        "0002_b.down.sql", "DROP TABLE t2;",
        "0003_c.up.sql", "CREATE TABLE t3 (x INTEGER);",
        "0003_c.down.sql", "DROP TABLE t3;",
        "README.md", "not a migration", (char *)NULL);
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    CHECK(migrate_upgrade(db, two, 0, &d) == TL_OK, "upgrade two: %s", d.msg);
    CHECK(current(db) == 3, "at %u", current(db));
    CHECK(scalar(db, "SELECT x FROM t2", NULL) == 1, "step 2 script did not run whole");
    memset(&d, 0, sizeof d);
    enum tl_err e = migrate_upgrade(db, mig_dir, 0, &d);
    CHECK(e == TL_EINVAL, "upgrade of a newer database: %s", tl_strerror(e));
    CHECK(strstr(d.msg, "database is at version 3 but this code knows only up to 2: refusing"),
          "message: \"%s\"", d.msg);
    CHECK(migrate_downgrade(db, mig_dir, 0, &d) == TL_EINVAL, "downgrade of a newer database");
    CHECK(current(db) == 3, "refusal changed the version");
    CHECK(migrate_upgrade(db, two, 1, &d) == TL_EINVAL, "upgrade to below current");
    CHECK(migrate_downgrade(db, two, 1, &d) == TL_OK, "one step down: %s", d.msg);
    CHECK(current(db) == 1, "at %u", current(db));
    CHECK(migrate_downgrade(db, two, 0, &d) == TL_OK && current(db) == 0, "down to 0: %s", d.msg);
    enum tl_err e2;
    scalar(db, "SELECT COUNT(*) FROM t1", &e2);
    CHECK(e2 == TL_EIO, "t1 should be gone");
    db_close(db);
}

static void t_bad_dirs(void)
{
    static const struct {
        const char *files[8];
        enum tl_err want;
        unsigned latest;
        const char *msg_has;
    } cases[] = {
        { { NULL }, TL_OK, 0, NULL },
        { { "0001_a.up.sql", "0001_a.down.sql", "notes.txt", NULL }, TL_OK, 1, NULL },
        { { "0001_a.up.sql", "0001_a.down.sql", "0003_c.up.sql", "0003_c.down.sql", NULL }, TL_EPARSE, 0,
          "version 2 is missing" },
        { { "0001_a.up.sql", NULL }, TL_EPARSE, 0, "has no down file" },
        { { "0001_a.down.sqlite.sql", "0001_a.down.mariadb.sql", NULL }, TL_EPARSE, 0, "has no up file" },
        { { "0001_a.up.sql", "0001_b.down.sql", NULL }, TL_EPARSE, 0, "named both" },
        { { "0001_a.up.sql", "1_a.up.sql", NULL }, TL_EPARSE, 0, "same migration" },
        { { "01-a.up.sql", NULL }, TL_EPARSE, 0, "bad migration file name" },
        { { "0001_a.sideways.sql", NULL }, TL_EPARSE, 0, "bad migration file name" },
        { { "0001_a.up.postgres.sql", NULL }, TL_EPARSE, 0, "bad migration file name" },
        { { "0000_a.up.sql", NULL }, TL_EPARSE, 0, "bad migration file name" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char sub[32];
        snprintf(sub, sizeof sub, "bad%zu", i);
        const char *dir = make_mig_dir(sub, (char *)NULL);
        for (size_t f = 0; cases[i].files[f]; f++)
            write_file(dir, cases[i].files[f], "SELECT 1;");
        struct tl_diag d = { 0 };
        unsigned latest = 999;
        enum tl_err e = migrate_latest(dir, &latest, &d);
        CHECK(e == cases[i].want, "case %zu (%s...): got %s (%s)", i,
              cases[i].files[0] ? cases[i].files[0] : "empty", tl_strerror(e), d.msg);
        if (e == TL_OK && cases[i].want == TL_OK)
            CHECK(latest == cases[i].latest, "case %zu: latest %u", i, latest);
        if (cases[i].msg_has)
            CHECK(strstr(d.msg, cases[i].msg_has), "case %zu: message \"%s\" lacks \"%s\"", i, d.msg,
                  cases[i].msg_has);
    }
    struct tl_diag d = { 0 };
    unsigned latest;
    char missing[512];
    snprintf(missing, sizeof missing, "%s/no-such-dir", tmp);
    CHECK(migrate_latest(missing, &latest, &d) == TL_ENOTFOUND, "missing folder");
}

/* A failing step leaves the version where it was; on SQLite nothing of the
 * step remains (transactional DDL). */
static void t_failed_step(void)
{
    const char *dir = make_mig_dir("mig-fail",
        "0001_a.up.sql", "CREATE TABLE t1 (x INTEGER);",
        "0001_a.down.sql", "DROP TABLE t1;",
        "0002_b.up.sql", "CREATE TABLE t2 (x INTEGER);\nINSERT INTO no_such_table VALUES (1);",
        "0002_b.down.sql", "DROP TABLE t2;", (char *)NULL);
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    enum tl_err e = migrate_upgrade(db, dir, 0, &d);
    CHECK(e != TL_OK, "a failing step should fail the upgrade");
    CHECK(strstr(d.file, "0002_b.up.sql") && strstr(d.msg, "no_such_table"), "diag: %s: %s", d.file, d.msg);
    CHECK(current(db) == 1, "after a failed step 2: at %u, want 1", current(db));
    enum tl_err e2;
    scalar(db, "SELECT COUNT(*) FROM t2", &e2);
    if (!is_maria)
        CHECK(e2 == TL_EIO, "SQLite: the failed step's table t2 should have been rolled back");
    else
        CHECK(strstr(d.msg, "partly applied"), "MariaDB: message should warn of DDL: %s", d.msg);
    db_close(db);
}

static void t_dialect_variant(void)
{
    const char *dir = make_mig_dir("mig-dialect",
        "0001_v.up.sql", "CREATE TABLE t1 (plain INTEGER);",
        "0001_v.up.sqlite.sql", "CREATE TABLE t1 (only_sqlite INTEGER);",
        "0001_v.up.mariadb.sql", "CREATE TABLE t1 (only_mariadb INTEGER) ENGINE=InnoDB;",
        "0001_v.down.sql", "DROP TABLE t1;", (char *)NULL);
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    CHECK(migrate_upgrade(db, dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    enum tl_err e;
    scalar(db, is_maria ? "SELECT COUNT(only_mariadb) FROM t1" : "SELECT COUNT(only_sqlite) FROM t1", &e);
    CHECK(e == TL_OK, "the dialect variant was not used");
    CHECK(migrate_downgrade(db, dir, 0, &d) == TL_OK, "downgrade: %s", d.msg);
    db_close(db);
}

/* ---- the DAO ---- */

static void t_names_roundtrip(void)
{
    static char long_name[201];
    memset(long_name, 'n', 200);
    static const char *const names[] = {
        "Buy milk",
        "x'); DROP TABLE task; --",
        "Robert'); DELETE FROM task WHERE ('1'='1",
        "\" OR 1=1 -- ",
        "`backticks` and \\backslash\\ and %s %n %% _ wildcards",
        "<script>alert(1)</script>",
        "naïve café — ☕ 日本語 кириллица",
        "emoji outside the BMP: 😀🚀 𝄞",
        "  leading and trailing spaces  ",
        "tab\tand\nnewline",
        "?",
        "",
        long_name,
    };
    size_t n = sizeof names / sizeof *names;
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    struct arena *a = arena_new(0);
    CHECK(migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    long long ids[16];
    for (size_t i = 0; i < n; i++) {
        enum tl_err e = task_create(db, str_c(names[i]), &ids[i]);
        CHECK(e == TL_OK && ids[i] > 0, "case %zu \"%s\": create %s", i, names[i], tl_strerror(e));
        struct task t = { 0 };
        e = task_get(db, ids[i], a, &t);
        CHECK(e == TL_OK && t.id == ids[i] && str_eq_c(t.name, names[i]) && t.name.p[t.name.len] == '\0',
              "case %zu \"%s\": got %s \"%.*s\"", i, names[i], tl_strerror(e), STR_FMT(t.name));
    }
    struct task_list l;
    CHECK(task_all(db, a, &l) == TL_OK && l.n == n, "task_all: %zu rows, want %zu", l.n, n);
    for (size_t i = 0; i < l.n && i < n; i++)
        CHECK(l.items[i].id == ids[i] && str_eq_c(l.items[i].name, names[i]),
              "task_all row %zu: %lld \"%.*s\", want %lld \"%s\"", i, l.items[i].id, STR_FMT(l.items[i].name),
              ids[i], names[i]);
    CHECK(scalar(db, "SELECT COUNT(*) FROM task", NULL) == (long long)n, "the SQL-looking names did something");
    /* many rows: the list grows past its first allocation */
    for (int i = 0; i < 100; i++)
        CHECK(task_create(db, STR("bulk"), NULL) == TL_OK, "bulk %d", i);
    CHECK(task_all(db, a, &l) == TL_OK && l.n == n + 100, "bulk task_all: %zu", l.n);
    for (size_t i = 1; i < l.n; i++)
        CHECK(l.items[i].id > l.items[i - 1].id, "not ordered by id at %zu", i);
    arena_free(a);
    db_close(db);
}

static void t_ids_never_reused(void)
{
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    CHECK(migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    long long a = 0, b = 0, c = 0, x = 0, y = 0;
    CHECK(task_create(db, STR("a"), &a) == TL_OK && task_create(db, STR("b"), &b) == TL_OK &&
          task_create(db, STR("c"), &c) == TL_OK, "create");
    CHECK(a < b && b < c, "ids %lld %lld %lld", a, b, c);
    CHECK(task_delete(db, c) == TL_OK, "delete the highest");
    CHECK(task_create(db, STR("x"), &x) == TL_OK && x > c, "id %lld reused after delete of %lld", x, c);
    CHECK(task_delete(db, a) == TL_OK && task_delete(db, b) == TL_OK && task_delete(db, x) == TL_OK,
          "delete all");
    CHECK(task_create(db, STR("y"), &y) == TL_OK && y > x, "id %lld reused on an empty table (max was %lld)", y, x);
    db_close(db);
}

/* The data version (migrations/0002): moved by triggers in the transaction
 * of every write, the app's or anyone's (plain SQL here stands for the
 * sqlite3 / mariadb command line); not moved by reads or by a rolled-back
 * write; rows carry the version of their last write; a database created
 * anew starts above every version the old one handed out. */
static void t_data_version(void)
{
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    struct arena *a = arena_new(0);
    CHECK(migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    uint64_t v0 = 0, v1 = 0, v2 = 0, v3 = 0, v4 = 0, v5 = 0, v6 = 0;
    CHECK(task_data_version(db, &v0) == TL_OK && v0 > 1700000000000000ULL, "starts at the clock: %llu",
          (unsigned long long)v0);
    long long id = 0;
    CHECK(task_create(db, STR("app write"), &id) == TL_OK, "create");
    CHECK(task_data_version(db, &v1) == TL_OK && v1 > v0, "insert moved it: %llu -> %llu",
          (unsigned long long)v0, (unsigned long long)v1);
    struct task t;
    CHECK(task_get(db, id, a, &t) == TL_OK && t.rev == v1, "row rev %llu = version of its write %llu",
          (unsigned long long)t.rev, (unsigned long long)v1);
    struct task_list l;
    CHECK(task_all(db, a, &l) == TL_OK && task_data_version(db, &v2) == TL_OK && v2 == v1, "reads do not move it");
    CHECK(db_exec_script(db, "INSERT INTO task (name) VALUES ('outside')") == TL_OK &&
              task_data_version(db, &v3) == TL_OK && v3 > v2, "an outside insert moves it");
    CHECK(db_exec_script(db, "UPDATE task SET name = 'renamed outside' WHERE name = 'app write'") == TL_OK &&
              task_data_version(db, &v4) == TL_OK && v4 > v3, "an outside update moves it");
    CHECK(task_get(db, id, a, &t) == TL_OK && t.rev == v4 && str_eq_c(t.name, "renamed outside"),
          "an updated row carries the new version (rev %llu, version %llu)", (unsigned long long)t.rev,
          (unsigned long long)v4);
    CHECK(db_exec_script(db, "DELETE FROM task WHERE name = 'outside'") == TL_OK &&
              task_data_version(db, &v5) == TL_OK && v5 > v4, "an outside delete moves it");
    CHECK(db_begin(db) == TL_OK && task_create(db, STR("rolled back"), NULL) == TL_OK &&
              db_rollback(db) == TL_OK && task_data_version(db, &v6) == TL_OK && v6 == v5,
          "a rolled-back write leaves it (%llu -> %llu)", (unsigned long long)v5, (unsigned long long)v6);
    CHECK(task_delete(db, id) == TL_OK && task_data_version(db, &v6) == TL_OK && v6 > v5, "app delete");
    /* a database created anew: down to 0 and up again */
    CHECK(migrate_downgrade(db, mig_dir, 0, &d) == TL_OK && migrate_upgrade(db, mig_dir, 0, &d) == TL_OK,
          "recreate: %s", d.msg);
    uint64_t v7 = 0;
    CHECK(task_data_version(db, &v7) == TL_OK && v7 > v6, "a recreated database starts above the old "
          "versions: %llu after %llu", (unsigned long long)v7, (unsigned long long)v6);
    /* without the row nothing can be validated: an error, not a made-up version */
    CHECK(db_exec_script(db, "DELETE FROM data_version") == TL_OK && task_data_version(db, &v7) == TL_EIO,
          "missing version row");
    arena_free(a);
    db_close(db);
}

/* A write of another process: a child with its own connection. */
static bool write_from_child(const char *url, const char *sql)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct tl_diag d = { 0 };
        struct db *other = db_open(url, 1000, &d);
        _exit(other && db_exec_script(other, sql) == TL_OK ? 0 : 1);
    }
    int st = 0;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* The memoized version read (task_data_version_memo): on SQLite it skips the
 * SQL while nothing was committed, and sees every commit at once, whoever
 * made it: this connection, a second connection of the process, another
 * process, the sqlite3 command line. On MariaDB it reads every time. */
static void t_version_memo(void)
{
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    CHECK(migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    char url[1024];
    if (is_maria)
        snprintf(url, sizeof url, "%s", getenv("TL_MARIADB_URL"));
    else
        sqlite_url(url, sizeof url, "");
    if (!is_maria)      /* fresh_db named the file t<n_db>.sqlite */
        snprintf(url + strlen(url), sizeof url - strlen(url), "t%u.sqlite", n_db);
    struct task_version_memo m = { 0 };
    uint64_t v0 = 0, v = 0, truth = 0;
    CHECK(task_data_version_memo(db, &m, &v0) == TL_OK, "first read");
    uint64_t q0 = db_query_count(db);
    for (int i = 0; i < 100; i++)
        CHECK(task_data_version_memo(db, &m, &v) == TL_OK && v == v0, "unchanged: %llu",
              (unsigned long long)v);
    uint64_t reads = db_query_count(db) - q0;
    if (is_maria)
        CHECK(reads == 100, "MariaDB: every version read goes to the server (%llu of 100)",
              (unsigned long long)reads);
    else
        CHECK(reads <= 1, "SQLite: no read while nothing is committed (%llu of 100)", (unsigned long long)reads);

    /* this connection writes */
    CHECK(task_create(db, STR("here"), NULL) == TL_OK, "create");
    CHECK(task_data_version_memo(db, &m, &v) == TL_OK && task_data_version(db, &truth) == TL_OK &&
              v == truth && v > v0, "own write seen: %llu (truth %llu, before %llu)", (unsigned long long)v,
          (unsigned long long)truth, (unsigned long long)v0);
    /* a second connection of this process */
    struct db *second = db_open(url, 1000, &d);
    CHECK(second && db_exec_script(second, "INSERT INTO task (name) VALUES ('second')") == TL_OK,
          "second connection writes");
    uint64_t before = v;
    CHECK(task_data_version_memo(db, &m, &v) == TL_OK && task_data_version(db, &truth) == TL_OK &&
              v == truth && v > before, "second connection's write seen: %llu (truth %llu)",
          (unsigned long long)v, (unsigned long long)truth);
    if (second)
        db_close(second);
    /* another process, many times in a row: every commit is seen by the next read */
    for (int i = 0; i < 20; i++) {
        before = v;
        CHECK(write_from_child(url, "INSERT INTO task (name) VALUES ('child')"), "child %d writes", i);
        CHECK(task_data_version_memo(db, &m, &v) == TL_OK && v > before, "child %d's write seen: %llu after %llu",
              i, (unsigned long long)v, (unsigned long long)before);
    }
    /* the sqlite3 command line, a writer outside the app */
    if (!is_maria && system("command -v sqlite3 >/dev/null 2>&1") == 0) {
        char cmd[1400];
        snprintf(cmd, sizeof cmd, "sqlite3 '%s/t%u.sqlite' \"DELETE FROM task WHERE name = 'child'\"", tmp, n_db);
        before = v;
        CHECK(system(cmd) == 0, "sqlite3 CLI writes");
        CHECK(task_data_version_memo(db, &m, &v) == TL_OK && v > before, "CLI write seen: %llu after %llu",
              (unsigned long long)v, (unsigned long long)before);
        /* a checkpoint that truncates the WAL is not a commit, and the next
         * write after it (a new WAL, new salts) is seen */
        snprintf(cmd, sizeof cmd, "sqlite3 '%s/t%u.sqlite' 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null", tmp, n_db);
        CHECK(system(cmd) == 0, "checkpoint");
        before = v;
        CHECK(task_data_version_memo(db, &m, &v) == TL_OK && v == before, "checkpoint moved nothing");
        CHECK(write_from_child(url, "DELETE FROM task"), "write after the checkpoint");
        CHECK(task_data_version_memo(db, &m, &v) == TL_OK && v > before, "write after a WAL restart seen");
    }
    db_close(db);
}

/* Keyset pages: the newest page, older and newer pages around an anchor,
 * has_more at both ends, ascending order, limits, deleted anchors. */
static void t_task_page(void)
{
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    struct arena *a = arena_new(0);
    CHECK(migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    long long ids[12];
    for (int i = 0; i < 12; i++)
        CHECK(task_create(db, STR("t"), &ids[i]) == TL_OK, "create %d", i);
    static const struct {
        enum task_page_dir dir;
        int anchor;          /* index into ids, -1 = none, 99 = past the newest */
        unsigned limit;
        int first, n;        /* expected: index of the first id, count */
        bool more;
    } cases[] = {
        { TASK_PAGE_LAST, -1, 5, 7, 5, true },      /* the newest 5 */
        { TASK_PAGE_LAST, -1, 12, 0, 12, false },   /* exactly all */
        { TASK_PAGE_LAST, -1, 50, 0, 12, false },   /* fewer than a page: all, ascending */
        { TASK_PAGE_BEFORE, 7, 5, 2, 5, true },     /* the 5 before ids[7] */
        { TASK_PAGE_BEFORE, 2, 5, 0, 2, false },    /* the oldest 2 */
        { TASK_PAGE_BEFORE, 0, 5, 0, 0, false },    /* nothing older */
        { TASK_PAGE_AFTER, 1, 5, 2, 5, true },
        { TASK_PAGE_AFTER, 6, 5, 7, 5, false },     /* the newest 5, nothing beyond */
        { TASK_PAGE_AFTER, 11, 5, 0, 0, false },
        { TASK_PAGE_BEFORE, 99, 3, 9, 3, true },    /* an anchor past the end */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct task_page_query q = { cases[i].dir, 0, cases[i].limit };
        if (cases[i].anchor == 99)
            q.anchor = ids[11] + 1000;
        else if (cases[i].anchor >= 0)
            q.anchor = ids[cases[i].anchor];
        struct task_page p;
        CHECK(task_page(db, &q, a, &p) == TL_OK, "case %zu: query", i);
        CHECK(p.list.n == (size_t)cases[i].n && p.has_more == cases[i].more, "case %zu: %zu tasks, more %d",
              i, p.list.n, p.has_more);
        for (size_t k = 0; k < p.list.n && k < (size_t)cases[i].n; k++)
            CHECK(p.list.items[k].id == ids[cases[i].first + (int)k], "case %zu: item %zu is %lld", i, k,
                  p.list.items[k].id);
    }
    struct task_page p;
    struct task_page_query bad0 = { TASK_PAGE_LAST, 0, 0 }, bad1 = { TASK_PAGE_LAST, 0, TASK_PAGE_LIMIT_MAX + 1 };
    CHECK(task_page(db, &bad0, a, &p) == TL_EINVAL && task_page(db, &bad1, a, &p) == TL_EINVAL, "limits");
    /* a deleted anchor still pages */
    CHECK(task_delete(db, ids[7]) == TL_OK, "delete");
    struct task_page_query q = { TASK_PAGE_BEFORE, ids[7], 2 };
    CHECK(task_page(db, &q, a, &p) == TL_OK && p.list.n == 2 && p.list.items[1].id == ids[6], "deleted anchor");
    /* one statement per page, whatever the table */
    uint64_t q0 = db_query_count(db);
    CHECK(task_page(db, &q, a, &p) == TL_OK && db_query_count(db) == q0 + 1, "one statement");
    arena_free(a);
    db_close(db);
}

static void t_dao_errors(void)
{
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    struct arena *a = arena_new(0);
    CHECK(migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    struct task t;
    static const long long missing[] = { 999999, 0, -1, 9223372036854775807LL };
    for (size_t i = 0; i < sizeof missing / sizeof *missing; i++) {
        CHECK(task_get(db, missing[i], a, &t) == TL_ENOTFOUND, "case %zu: get %lld", i, missing[i]);
        CHECK(task_delete(db, missing[i]) == TL_ENOTFOUND, "case %zu: delete %lld", i, missing[i]);
    }
    long long id;
    CHECK(task_create(db, STR("once"), &id) == TL_OK, "create");
    CHECK(task_delete(db, id) == TL_OK, "delete");
    CHECK(task_delete(db, id) == TL_ENOTFOUND, "second delete");
    CHECK(task_get(db, id, a, &t) == TL_ENOTFOUND, "get deleted");
    /* counting: one statement per DAO call, nothing else */
    uint64_t q0 = db_query_count(db);
    struct task_list l;
    CHECK(task_all(db, a, &l) == TL_OK, "all");
    CHECK(db_query_count(db) == q0 + 1, "task_all sent %llu statements", (unsigned long long)(db_query_count(db) - q0));
    CHECK(task_create(db, STR("c"), &id) == TL_OK && task_get(db, id, a, &t) == TL_OK, "create+get");
    CHECK(db_query_count(db) == q0 + 3, "3 calls sent %llu statements", (unsigned long long)(db_query_count(db) - q0));
    /* a wrong parameter count is refused, not sent */
    CHECK(db_exec(db, "DELETE FROM task WHERE id = ?", NULL, 0, NULL, NULL) == TL_EINVAL, "missing param");
    /* a syntax error is TL_EIO and the handle stays usable */
    CHECK(db_exec(db, "SELEKT 1", NULL, 0, NULL, NULL) == TL_EIO, "syntax error");
    CHECK(task_get(db, id, a, &t) == TL_OK, "handle unusable after an error");
    arena_free(a);
    db_close(db);
}

static void t_transactions(void)
{
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    struct arena *a = arena_new(0);
    struct task t;
    CHECK(migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    long long id;
    CHECK(db_begin(db) == TL_OK, "begin");
    CHECK(db_begin(db) == TL_EINVAL, "nested begin");
    CHECK(task_create(db, STR("rolled back"), &id) == TL_OK, "create in tx");
    CHECK(db_rollback(db) == TL_OK, "rollback");
    CHECK(task_get(db, id, a, &t) == TL_ENOTFOUND, "rolled-back row is visible");
    CHECK(db_begin(db) == TL_OK && task_create(db, STR("committed"), &id) == TL_OK && db_commit(db) == TL_OK,
          "commit");
    CHECK(task_get(db, id, a, &t) == TL_OK, "committed row missing");
    CHECK(db_commit(db) == TL_EINVAL && db_rollback(db) == TL_EINVAL, "commit/rollback outside a tx");
    arena_free(a);
    db_close(db);
}

/* A handle used before fork and then in the child: the child gets its own
 * connection, the parent's keeps working (on MariaDB: the same session,
 * so the child did not close it). */
static void t_fork(void)
{
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    struct arena *a = arena_new(0);
    CHECK(migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    long long id;
    CHECK(task_create(db, STR("before fork"), &id) == TL_OK, "create");
    long long conn = is_maria ? scalar(db, "SELECT CONNECTION_ID()", NULL) : 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct task_list l;
        bool ok = task_all(db, a, &l) == TL_OK && l.n == 1 && task_create(db, STR("child"), NULL) == TL_OK;
        db_close(db);
        _exit(ok ? 0 : 1);   /* _exit: the abandoned connection is not a leak worth reporting */
    }
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child could not use the handle (status %d)", status);
    struct task_list l;
    CHECK(task_all(db, a, &l) == TL_OK && l.n == 2, "parent after fork: %zu rows", l.n);
    if (is_maria)
        CHECK(scalar(db, "SELECT CONNECTION_ID()", NULL) == conn, "the child ended the parent's session");
    arena_free(a);
    db_close(db);
}

/* ---- the CLI ---- */

/* cli_db (src/cli/db_cmd.c) with stdout captured into out. */
static int run_cli(const char *url, char *out, size_t out_len, int argc, ...)
{
    struct db_settings c = { .timeout_ms = 1000 };
    snprintf(c.url, sizeof c.url, "%s", url);
    char *argv[4] = { 0 };
    va_list ap;
    va_start(ap, argc);
    for (int i = 0; i < argc && i < 3; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    char path[512];
    snprintf(path, sizeof path, "%s/cli.out", tmp);
    fflush(stdout);
    int saved = dup(1), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    close(fd);
    int rc = cli_db(&c, mig_dir, argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out, 1, out_len - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    return rc;
}

static void t_cli(void)
{
    char url[1024];
    struct db *db = fresh_db();   /* resets MariaDB; names a new SQLite file */
    if (is_maria) {
        snprintf(url, sizeof url, "%s", getenv("TL_MARIADB_URL"));
    } else {
        char name[32];
        snprintf(name, sizeof name, "t%u.sqlite", n_db);
        sqlite_url(url, sizeof url, name);
    }
    static const struct {
        int argc;
        const char *argv[3];
        int want_rc;
        const char *out_has;
    } cases[] = {
        { 1, { "current" }, 0, "0 (upgrade pending)" },
        { 1, { "upgrade" }, 0, "from 0 to 2" },
        { 1, { "upgrade" }, 0, "already at version 2 (latest)" },
        { 1, { "current" }, 0, "2 (latest)" },
        { 1, { "history" }, 0, "data_version" },
        { 1, { "downgrade" }, 0, "from 2 to 1" },
        { 1, { "downgrade" }, 0, "from 1 to 0" },
        { 1, { "downgrade" }, 0, "already at version 0" },
        { 1, { "history" }, 0, "pending" },
        { 2, { "upgrade", "1" }, 0, "from 0 to 1" },
        { 2, { "downgrade", "0" }, 0, "from 1 to 0" },
        { 2, { "upgrade", "7" }, 1, "" },
        { 2, { "upgrade", "0" }, 2, "" },
        { 2, { "upgrade", "x1" }, 2, "" },
        { 2, { "current", "1" }, 2, "" },
        { 3, { "upgrade", "1", "2" }, 2, "" },
        { 1, { "sideways" }, 2, "" },
        { 0, { NULL }, 2, "" },
        { 1, { "upgrade" }, 0, "from 0 to 2" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[4096];
        int rc = run_cli(url, out, sizeof out, cases[i].argc, cases[i].argv[0], cases[i].argv[1],
                         cases[i].argv[2]);
        CHECK(rc == cases[i].want_rc && strstr(out, cases[i].out_has), "case %zu (db %s %s): rc %d, output \"%s\"",
              i, cases[i].argv[0] ? cases[i].argv[0] : "", cases[i].argv[1] ? cases[i].argv[1] : "", rc, out);
    }
    /* a database newer than the code: refused with status 1 */
    struct tl_diag d = { 0 };
    CHECK(db_exec_script(db, "INSERT INTO schema_version (version, name, applied_at) "
                             "VALUES (3, 'future', '2099-01-01T00:00:00Z')") == TL_OK, "fake version 3");
    char out[4096];
    CHECK(run_cli(url, out, sizeof out, 1, "upgrade") == 1, "upgrade of a newer database should exit 1");
    CHECK(run_cli(url, out, sizeof out, 1, "current") == 1 && strstr(out, "3 (newer than this code)"),
          "current of a newer database: \"%s\"", out);
    CHECK(run_cli(url, out, sizeof out, 1, "history") == 1 && strstr(out, "unknown to this code"),
          "history of a newer database: \"%s\"", out);
    CHECK(run_cli("mysql://u:p@h", out, sizeof out, 1, "current") == 1, "bad URL should exit 1");
    (void)d;
    db_close(db);
}

/* ---- SQLite only ---- */

static int journal_row(void *arg, const struct db_val *cols, size_t n)
{
    if (n && cols[0].type == DB_TEXT)
        snprintf(arg, 16, "%.*s", STR_FMT(cols[0].s));
    return 0;
}


static void t_sqlite_files(void)
{
    char dir[512], cwd[1024];
    snprintf(dir, sizeof dir, "%s/rel", tmp);
    mkdir(dir, 0755);
    if (!getcwd(cwd, sizeof cwd) || chdir(dir) != 0) {
        CHECK(0, "chdir %s", dir);
        return;
    }
    struct tl_diag d = { 0 };
    /* the default URL is relative to the working directory; instance/ is created */
    struct db *db = db_open("sqlite:///instance/task-list.sqlite", 1000, &d);
    CHECK(db && migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "default URL: %s", d.msg);
    struct stat st;
    CHECK(stat("instance/task-list.sqlite", &st) == 0, "instance/task-list.sqlite not created");
    char mode[16] = "";
    CHECK(db_query(db, "PRAGMA journal_mode", NULL, 0, journal_row, mode) == TL_OK && !strcmp(mode, "wal"),
          "journal mode \"%s\", want wal", mode);
    /* private whatever the umask: the database, -wal and -shm 0600, the
     * folder tasklist created 0700 (the test runs under umask 022) */
    static const char *const files[] = { "instance/task-list.sqlite", "instance/task-list.sqlite-wal",
                                         "instance/task-list.sqlite-shm" };
    for (size_t i = 0; i < 3; i++)
        CHECK(stat(files[i], &st) == 0 && (st.st_mode & 0777) == 0600, "%s: mode %o, want 600", files[i],
              (unsigned)(st.st_mode & 0777));
    CHECK(stat("instance", &st) == 0 && (st.st_mode & 0777) == 0700, "instance/: mode %o, want 700",
          (unsigned)(st.st_mode & 0777));
    db_close(db);
    /* an existing database keeps the mode its operator gave it */
    int fd = open("shared.sqlite", O_WRONLY | O_CREAT, 0644);
    CHECK(fd >= 0 && fchmod(fd, 0640) == 0, "shared.sqlite");
    close(fd);
    db = db_open("sqlite:///shared.sqlite", 1000, &d);
    CHECK(db && migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "existing file: %s", d.msg);
    CHECK(stat("shared.sqlite", &st) == 0 && (st.st_mode & 0777) == 0640, "existing file's mode changed: %o",
          (unsigned)(st.st_mode & 0777));
    db_close(db);
    CHECK(chdir(cwd) == 0, "chdir back");
    /* nested folders */
    char url[1024];
    sqlite_url(url, sizeof url, "a/b/c/deep.sqlite");
    db = db_open(url, 1000, &d);
    CHECK(db && migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "nested folders: %s", d.msg);
    db_close(db);
    /* a folder that cannot be created: TL_EUNAVAIL at once, no crash */
    db = db_open("sqlite:////proc/no-such-dir/x.sqlite", 1000, &d);
    struct arena *a = arena_new(0);
    struct task_list l;
    int64_t t0 = now_ms();
    CHECK(task_all(db, a, &l) == TL_EUNAVAIL && now_ms() - t0 < 500, "unopenable database");
    arena_free(a);
    db_close(db);
}

/* Two handles on one file stand for two workers: each sees the other's
 * writes; a writer blocked by another's transaction gives up after the
 * busy timeout with TL_EUNAVAIL instead of hanging. */
static void t_sqlite_two_workers(void)
{
    char url[1024];
    sqlite_url(url, sizeof url, "shared.sqlite");
    struct tl_diag d = { 0 };
    struct db *w1 = db_open(url, 1000, &d), *w2 = db_open(url, 1000, &d);
    struct arena *a = arena_new(0);
    struct task t;
    CHECK(migrate_upgrade(w1, mig_dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    long long id;
    CHECK(task_create(w1, STR("from w1"), &id) == TL_OK, "w1 create");
    CHECK(task_get(w2, id, a, &t) == TL_OK && str_eq_c(t.name, "from w1"), "w2 does not see w1's write");
    CHECK(db_begin(w1) == TL_OK, "w1 begin");
    int64_t t0 = now_ms();
    enum tl_err e = task_create(w2, STR("blocked"), NULL);
    int64_t dt = now_ms() - t0;
    CHECK(e == TL_EUNAVAIL && dt >= 900 && dt < 2500, "blocked writer: %s after %lld ms", tl_strerror(e),
          (long long)dt);
    CHECK(task_get(w2, id, a, &t) == TL_OK, "readers are not blocked by a writer (WAL)");
    CHECK(db_rollback(w1) == TL_OK, "w1 rollback");
    CHECK(task_create(w2, STR("after"), NULL) == TL_OK, "w2 write after the lock is gone");
    arena_free(a);
    db_close(w1);
    db_close(w2);
}

/* ---- MariaDB only ---- */

static void t_maria_connect_paths(void)
{
    struct tl_diag d = { 0 };
    struct db *db;
    const char *sock = getenv("TL_MARIADB_SOCK");
    if (sock) {
        char url[1200];
        snprintf(url, sizeof url, "mysql://tl:tlpass@localhost/task_list?unix_socket=%s", sock);
        db = db_open(url, 1000, &d);
        enum tl_err e;
        CHECK(scalar(db, "SELECT 1", &e) == 1 && e == TL_OK, "unix socket: %s", tl_strerror(e));
        db_close(db);
    }
    /* wrong password: TL_EUNAVAIL, then the back-off answers at once */
    char url[1200];
    snprintf(url, sizeof url, "%s", getenv("TL_MARIADB_URL"));
    char *at = strstr(url, ":tlpass@");
    if (at)
        memcpy(at, ":wrongp@", 8);
    db = db_open(url, 1000, &d);
    enum tl_err e;
    scalar(db, "SELECT 1", &e);
    CHECK(e == TL_EUNAVAIL, "wrong password: %s", tl_strerror(e));
    int64_t t0 = now_ms();
    scalar(db, "SELECT 1", &e);
    CHECK(e == TL_EUNAVAIL && now_ms() - t0 < 50, "back-off: %s after %lld ms", tl_strerror(e),
          (long long)(now_ms() - t0));
    CHECK(db_query_count(db) == 0, "nothing was sent, yet %llu counted", (unsigned long long)db_query_count(db));
    db_close(db);
    /* nobody listening: quick TL_EUNAVAIL */
    db = db_open("mysql://tl:tlpass@127.0.0.1:1/task_list", 1000, &d);
    t0 = now_ms();
    scalar(db, "SELECT 1", &e);
    CHECK(e == TL_EUNAVAIL && now_ms() - t0 < 1500, "closed port: %s after %lld ms", tl_strerror(e),
          (long long)(now_ms() - t0));
    db_close(db);
}

/* KILL the connection from another session: the next statement reconnects
 * once and succeeds, on a new connection. */
static void t_maria_killed(void)
{
    struct db *db = fresh_db(), *admin = fresh_db();
    struct tl_diag d = { 0 };
    struct arena *a = arena_new(0);
    CHECK(migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    long long id;
    CHECK(task_create(db, STR("survives"), &id) == TL_OK, "create");
    long long conn = scalar(db, "SELECT CONNECTION_ID()", NULL);
    char kill_sql[64];
    snprintf(kill_sql, sizeof kill_sql, "KILL %lld", conn);
    CHECK(db_exec_script(admin, kill_sql) == TL_OK, "KILL %lld", conn);
    struct task t;
    enum tl_err e = task_get(db, id, a, &t);
    CHECK(e == TL_OK && str_eq_c(t.name, "survives"), "after KILL: %s", tl_strerror(e));
    long long conn2 = scalar(db, "SELECT CONNECTION_ID()", NULL);
    CHECK(conn2 > 0 && conn2 != conn, "connection id %lld -> %lld: no reconnect?", conn, conn2);
    /* inside a transaction a lost connection is not papered over */
    CHECK(db_begin(db) == TL_OK, "begin");
    snprintf(kill_sql, sizeof kill_sql, "KILL %lld", conn2);
    CHECK(db_exec_script(admin, kill_sql) == TL_OK, "KILL %lld", conn2);
    e = task_create(db, STR("in lost tx"), NULL);
    CHECK(e == TL_EUNAVAIL, "statement in a killed transaction: %s", tl_strerror(e));
    CHECK(db_commit(db) == TL_EUNAVAIL, "commit of a lost transaction");
    CHECK(task_get(db, id, a, &t) == TL_OK, "usable after the lost transaction");
    arena_free(a);
    db_close(db);
    db_close(admin);
}

/* What a deadline may overrun by (the poll wake-up, closing the connection,
 * a loaded machine's scheduling). */
#define SLACK_MS 100

/* SIGSTOP the server: a query fails with TL_EUNAVAIL after the 1 s timeout,
 * to the millisecond plus SLACK_MS (never hangs); after SIGCONT the next
 * query reconnects and succeeds. */
/* True once /proc/PID/stat says the process is stopped (T), within ms. */
static bool wait_stopped(pid_t pid, int ms)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (int waited = 0; waited <= ms; waited += 5) {
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        const char *rp = strrchr(buf, ')');   /* the state follows the command name */
        if (rp && rp[1] == ' ' && (rp[2] == 'T' || rp[2] == 't'))
            return true;
        struct timespec ts = { 0, 5000000 };
        nanosleep(&ts, NULL);
    }
    return false;
}

static void t_maria_hung(void)
{
    const char *pid_s = getenv("TL_MARIADB_PID");
    if (!pid_s) {
        fprintf(stderr, "hung-server test skipped: TL_MARIADB_PID not set\n");
        return;
    }
    pid_t pid = (pid_t)atoi(pid_s);
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    struct arena *a = arena_new(0);
    struct task_list l;
    CHECK(migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    CHECK(task_create(db, STR("still here"), NULL) == TL_OK, "create");
    CHECK(kill(pid, SIGSTOP) == 0, "SIGSTOP %d: %s", (int)pid, strerror(errno));
    /* kill() returns before the target has stopped: on a loaded machine the
     * server answered one more query (seen once). Wait for its state T. */
    CHECK(wait_stopped(pid, 2000), "mariadbd %d did not stop", (int)pid);
    int64_t t0 = now_ms();
    enum tl_err e1 = task_all(db, a, &l);
    int64_t dt1 = now_ms() - t0;
    t0 = now_ms();
    enum tl_err e2 = task_create(db, STR("during the hang"), NULL);  /* a fresh connect this time */
    int64_t dt2 = now_ms() - t0;
    kill(pid, SIGCONT);
    CHECK(e1 == TL_EUNAVAIL && dt1 >= 990 && dt1 < 1000 + SLACK_MS, "query on a hung server: %s after %lld ms",
          tl_strerror(e1), (long long)dt1);
    CHECK(e2 == TL_EUNAVAIL && dt2 >= 990 && dt2 < 1000 + SLACK_MS, "connect to a hung server: %s after %lld ms",
          tl_strerror(e2), (long long)dt2);
    /* back after at most the connect back-off */
    enum tl_err e3 = TL_EUNAVAIL;
    t0 = now_ms();
    while (e3 != TL_OK && now_ms() - t0 < 3000) {
        e3 = task_all(db, a, &l);
        if (e3 != TL_OK)
            usleep(50 * 1000);
    }
    CHECK(e3 == TL_OK && l.n == 1, "no recovery after SIGCONT: %s, %zu rows", tl_strerror(e3), l.n);
    printf("hung server: TL_EUNAVAIL after %lld ms (query) and %lld ms (connect); recovered in %lld ms\n",
           (long long)dt1, (long long)dt2, (long long)(now_ms() - t0));
    arena_free(a);
    db_close(db);
}

/* A request's database budget (db_begin_request), with a 300 ms timeout:
 * its statements share it (two SLEEP(0.2): the second fails at 300 ms, not
 * 400); outside a request each statement has its own. A write cut by the
 * deadline is TL_EUNAVAIL and never sent again (the server finishes it
 * once). A hung server: TL_EUNAVAIL at 300 ms, not the connector's whole
 * second, and the request's next statement fails at once. */
static void t_maria_deadline(void)
{
    const char *pid_s = getenv("TL_MARIADB_PID");
    struct tl_diag d = { 0 };
    struct db *setup = fresh_db();
    CHECK(migrate_upgrade(setup, mig_dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    db_close(setup);
    struct db *db = db_open(getenv("TL_MARIADB_URL"), 300, &d);
    enum tl_err e;
    CHECK(scalar(db, "SELECT 1", &e) == 1, "connect: %s", tl_strerror(e));
    /* one budget for the request's statements */
    db_begin_request(db);
    int64_t t0 = now_ms();
    CHECK(scalar(db, "SELECT SLEEP(0.2)", &e) == 0 && e == TL_OK, "first statement: %s", tl_strerror(e));
    scalar(db, "SELECT SLEEP(0.2) + 1", &e);
    int64_t dt = now_ms() - t0;
    CHECK(e == TL_EUNAVAIL && dt >= 295 && dt < 300 + SLACK_MS, "second statement: %s after %lld ms in all",
          tl_strerror(e), (long long)dt);
    t0 = now_ms();
    scalar(db, "SELECT 2", &e);
    CHECK(e == TL_EUNAVAIL && now_ms() - t0 < 20, "budget spent: %s after %lld ms", tl_strerror(e),
          (long long)(now_ms() - t0));
    db_end_request(db);
    /* a new request has the whole budget again; outside one, each statement */
    db_begin_request(db);
    CHECK(scalar(db, "SELECT SLEEP(0.2) + 3", &e) == 3 && e == TL_OK, "next request: %s", tl_strerror(e));
    db_end_request(db);
    CHECK(scalar(db, "SELECT SLEEP(0.2) + 4", &e) == 4 && scalar(db, "SELECT SLEEP(0.2) + 5", &e) == 5,
          "statements outside a request: %s", tl_strerror(e));
    /* a write cut by the deadline: 503, not sent again; the server ends it once */
    db_begin_request(db);
    t0 = now_ms();
    e = db_exec(db, "INSERT INTO task (name) VALUES (CONCAT('slow', SLEEP(0.5)))", NULL, 0, NULL, NULL);
    dt = now_ms() - t0;
    db_end_request(db);
    CHECK(e == TL_EUNAVAIL && dt >= 295 && dt < 300 + SLACK_MS, "slow write: %s after %lld ms",
          tl_strerror(e), (long long)dt);
    usleep(600 * 1000);
    CHECK(scalar(db, "SELECT COUNT(*) FROM task WHERE name = 'slow0'", &e) == 1, "the slow write ran %s once",
          e == TL_OK ? "not exactly" : tl_strerror(e));
    if (!pid_s) {
        fprintf(stderr, "hung-server part skipped: TL_MARIADB_PID not set\n");
        db_close(db);
        return;
    }
    pid_t pid = (pid_t)atoi(pid_s);
    CHECK(scalar(db, "SELECT 6", &e) == 6, "before the hang: %s", tl_strerror(e));
    struct db *fresh = db_open(getenv("TL_MARIADB_URL"), 300, &d);   /* connects during the hang */
    CHECK(kill(pid, SIGSTOP) == 0 && wait_stopped(pid, 2000), "mariadbd %d did not stop", (int)pid);
    db_begin_request(db);
    t0 = now_ms();
    scalar(db, "SELECT 7", &e);
    int64_t dt1 = now_ms() - t0;
    t0 = now_ms();
    scalar(db, "SELECT 8", &e);
    int64_t dt2 = now_ms() - t0;
    db_end_request(db);
    db_begin_request(fresh);
    enum tl_err e3;
    t0 = now_ms();
    scalar(fresh, "SELECT 9", &e3);
    int64_t dt3 = now_ms() - t0;
    db_end_request(fresh);
    kill(pid, SIGCONT);
    CHECK(e == TL_EUNAVAIL && dt1 >= 295 && dt1 < 300 + SLACK_MS && dt2 < 20,
          "hung server: %s after %lld ms, then %lld ms", tl_strerror(e), (long long)dt1, (long long)dt2);
    CHECK(e3 == TL_EUNAVAIL && dt3 >= 295 && dt3 < 300 + SLACK_MS, "connect to a hung server: %s after %lld ms",
          tl_strerror(e3), (long long)dt3);
    printf("deadline 300 ms: hung server %lld ms (query), %lld ms (connect)\n", (long long)dt1, (long long)dt3);
    db_close(fresh);
    db_close(db);
}

/* A TCP port that accepts connections (the kernel's backlog) and never
 * says a word: a hung host. -1 on failure. */
static int hung_listener(unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* Several hosts, 300 ms: the home host refuses and the next one is hung
 * (SIGSTOP): TL_EUNAVAIL at 300 ms. The home host hung (it accepts and
 * never answers) and the next one alive: the hung one gets half the time,
 * the request is served by the other within the 300 ms. */
static void t_maria_deadline_hosts(void)
{
    const char *port = getenv("TL_MARIADB_PORT"), *pid_s = getenv("TL_MARIADB_PID");
    if (!port || !pid_s) {
        fprintf(stderr, "deadline hosts test skipped: TL_MARIADB_PORT / TL_MARIADB_PID not set\n");
        return;
    }
    struct tl_diag d = { 0 };
    char url[256];
    enum tl_err e;
    unsigned hport = 0;
    int hfd = hung_listener(&hport);
    CHECK(hfd >= 0, "listener: %s", strerror(errno));
    snprintf(url, sizeof url, "mysql://tl:tlpass@127.0.0.1:%u,127.0.0.1:%s/task_list", hport, port);
    struct db *db = db_open(url, 300, &d);
    db_begin_request(db);
    int64_t t0 = now_ms();
    CHECK(scalar(db, "SELECT 11", &e) == 11 && e == TL_OK, "hung home host, live second: %s", tl_strerror(e));
    int64_t dt = now_ms() - t0;
    db_end_request(db);
    CHECK(db_current_host(db) == 1 && dt >= 145 && dt < 300, "host %d after %lld ms, want 1 after ~150",
          db_current_host(db), (long long)dt);
    printf("deadline 300 ms: hung home host given up after %lld ms, served by the next\n", (long long)dt);
    db_close(db);
    close(hfd);
    /* refused home host, hung second host */
    pid_t pid = (pid_t)atoi(pid_s);
    snprintf(url, sizeof url, "mysql://tl:tlpass@127.0.0.1:1,127.0.0.1:%s/task_list", port);
    db = db_open(url, 300, &d);
    CHECK(kill(pid, SIGSTOP) == 0 && wait_stopped(pid, 2000), "mariadbd %d did not stop", (int)pid);
    db_begin_request(db);
    t0 = now_ms();
    scalar(db, "SELECT 12", &e);
    dt = now_ms() - t0;
    db_end_request(db);
    kill(pid, SIGCONT);
    CHECK(e == TL_EUNAVAIL && dt >= 295 && dt < 300 + SLACK_MS, "refused + hung: %s after %lld ms",
          tl_strerror(e), (long long)dt);
    db_close(db);
    /* the server answers again (the restart test after this one needs it) */
    struct db *check = fresh_db();
    e = TL_EUNAVAIL;
    for (t0 = now_ms(); e != TL_OK && now_ms() - t0 < 5000;) {
        scalar(check, "SELECT 1", &e);
        if (e != TL_OK)
            usleep(50 * 1000);
    }
    CHECK(e == TL_OK, "server not back after SIGCONT: %s", tl_strerror(e));
    db_close(check);
}

/* Restart the server under an open handle: the next statement reconnects;
 * AUTO_INCREMENT survives the restart, so ids are still never reused. */
static void t_maria_restart(void)
{
    const char *cmd = getenv("TL_MARIADB_RESTART");
    if (!cmd) {
        fprintf(stderr, "restart test skipped: TL_MARIADB_RESTART not set\n");
        return;
    }
    struct db *db = fresh_db();
    struct tl_diag d = { 0 };
    struct arena *a = arena_new(0);
    CHECK(migrate_upgrade(db, mig_dir, 0, &d) == TL_OK, "upgrade: %s", d.msg);
    long long id1 = 0, id2 = 0, id3 = 0, id4 = 0;
    CHECK(task_create(db, STR("one"), &id1) == TL_OK && task_create(db, STR("two"), &id2) == TL_OK &&
          task_create(db, STR("three"), &id3) == TL_OK, "create");
    CHECK(task_delete(db, id3) == TL_OK && task_delete(db, id2) == TL_OK, "delete the highest two");
    int rc = system(cmd);
    CHECK(rc == 0, "restart command failed (%d)", rc);
    struct task t;
    enum tl_err e = task_get(db, id1, a, &t);
    CHECK(e == TL_OK, "first query after restart: %s", tl_strerror(e));
    CHECK(task_create(db, STR("four"), &id4) == TL_OK && id4 > id3,
          "id %lld after restart reuses a deleted id (max was %lld)", id4, id3);
    arena_free(a);
    db_close(db);
}

/* Several hosts: the first down -> the next one serves at once; db_spread
 * picks the home host; away from home the handle goes back once the home
 * host answers (within DB_HOME_RETRY_MS); the home host going away under
 * an open connection fails over inside the same call. The second "host" is
 * a TCP forwarder to the same server (test_db_mariadb.sh). */
static void t_maria_hosts(void)
{
    const char *port = getenv("TL_MARIADB_PORT"), *pport = getenv("TL_MARIADB_PROXY_PORT");
    const char *start = getenv("TL_MARIADB_PROXY_START"), *stop = getenv("TL_MARIADB_PROXY_STOP");
    if (!port || !pport || !start || !stop) {
        fprintf(stderr, "hosts test skipped: TL_MARIADB_PORT / TL_MARIADB_PROXY_* not set\n");
        return;
    }
    struct tl_diag d = { 0 };
    char url[256];
    enum tl_err e;
    /* the proxy is not running yet: its port refuses connections */
    snprintf(url, sizeof url, "mysql://tl:tlpass@127.0.0.1:%s,127.0.0.1:%s/task_list", pport, port);
    struct db *db = db_open(url, 1000, &d);
    CHECK(db != NULL, "open %s: %s", url, d.msg);
    CHECK(db_current_host(db) == -1, "connected before the first query");
    int64_t t0 = now_ms();
    CHECK(scalar(db, "SELECT 7", &e) == 7 && e == TL_OK, "first host down: %s", tl_strerror(e));
    CHECK(db_current_host(db) == 1 && now_ms() - t0 < 500, "host %d after %lld ms, want 1 at once",
          db_current_host(db), (long long)(now_ms() - t0));
    /* db_spread: index 1 makes the second host home (no failover needed) */
    struct db *db2 = db_open(url, 1000, &d);
    db_spread(db2, 3);      /* 3 % 2 = 1 */
    CHECK(scalar(db2, "SELECT 1", &e) == 1 && db_current_host(db2) == 1, "spread: host %d",
          db_current_host(db2));
    db_close(db2);
    /* the home host comes up: the handle returns to it */
    CHECK(system(start) == 0, "proxy did not start");
    t0 = now_ms();
    while (db_current_host(db) != 0 && now_ms() - t0 < 8000) {   /* DB_HOME_RETRY_MS = 5 s */
        CHECK(scalar(db, "SELECT 1", &e) == 1, "query while going home: %s", tl_strerror(e));
        usleep(100 * 1000);
    }
    CHECK(db_current_host(db) == 0, "never went back home (host %d after %lld ms)", db_current_host(db),
          (long long)(now_ms() - t0));
    printf("back on the home host after %lld ms\n", (long long)(now_ms() - t0));
    /* the home host goes away under the open connection: the next call
     * notices before sending, fails over, and succeeds, reads and writes */
    CHECK(system(stop) == 0, "proxy did not stop");
    usleep(200 * 1000);
    uint64_t n0 = db_query_count(db);
    CHECK(scalar(db, "SELECT 8", &e) == 8 && e == TL_OK, "after the home host died: %s", tl_strerror(e));
    CHECK(db_current_host(db) == 1, "host %d after the home host died", db_current_host(db));
    CHECK(db_query_count(db) == n0 + 1, "one statement sent, %llu counted",
          (unsigned long long)(db_query_count(db) - n0));
    CHECK(db_exec_script(db, "DO 1") == TL_OK, "write path after failover");
    db_close(db);
    /* every host down: TL_EUNAVAIL fast, then at once during the back-off */
    db = db_open("mysql://tl:tlpass@127.0.0.1:1,127.0.0.1:2/task_list", 1000, &d);
    t0 = now_ms();
    scalar(db, "SELECT 1", &e);
    CHECK(e == TL_EUNAVAIL && now_ms() - t0 < 1000, "all hosts down: %s after %lld ms", tl_strerror(e),
          (long long)(now_ms() - t0));
    t0 = now_ms();
    scalar(db, "SELECT 1", &e);
    CHECK(e == TL_EUNAVAIL && now_ms() - t0 < 50, "all hosts in back-off: %s after %lld ms",
          tl_strerror(e), (long long)(now_ms() - t0));
    db_close(db);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "sqlite";
    is_maria = !strcmp(mode, "mariadb");
    if (is_maria && !getenv("TL_MARIADB_URL")) {
        fprintf(stderr, "test_db mariadb: TL_MARIADB_URL not set (run tests/db/test_db_mariadb.sh)\n");
        return 77;
    }
    umask(022);   /* t_sqlite_files checks the modes tasklist sets itself */
    const char *root = getenv("TL_SOURCE_ROOT");
    snprintf(mig_dir, sizeof mig_dir, "%s/migrations", root ? root : ".");
    snprintf(tmp, sizeof tmp, "/tmp/tl-test-db-%s.XXXXXX", mode);
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    static const struct { const char *name; void (*fn)(void); bool sqlite, maria; } tests[] = {
        { "upgrade_idempotent", t_upgrade_idempotent, true, true },
        { "downgrade_upgrade", t_downgrade_upgrade, true, true },
        { "newer_refused", t_newer_refused, true, true },
        { "bad_dirs", t_bad_dirs, true, false },
        { "failed_step", t_failed_step, true, true },
        { "dialect_variant", t_dialect_variant, true, true },
        { "names_roundtrip", t_names_roundtrip, true, true },
        { "ids_never_reused", t_ids_never_reused, true, true },
        { "dao_errors", t_dao_errors, true, true },
        { "data_version", t_data_version, true, true },
        { "version_memo", t_version_memo, true, true },
        { "task_page", t_task_page, true, true },
        { "transactions", t_transactions, true, true },
        { "fork", t_fork, true, true },
        { "cli", t_cli, true, true },
        { "sqlite_files", t_sqlite_files, true, false },
        { "sqlite_two_workers", t_sqlite_two_workers, true, false },
        { "maria_connect_paths", t_maria_connect_paths, false, true },
        { "maria_killed", t_maria_killed, false, true },
        { "maria_hung", t_maria_hung, false, true },
        { "maria_deadline", t_maria_deadline, false, true },
        { "maria_deadline_hosts", t_maria_deadline_hosts, false, true },
        { "maria_restart", t_maria_restart, false, true },
        { "maria_hosts", t_maria_hosts, false, true },
    };
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
        if (is_maria ? !tests[i].maria : !tests[i].sqlite)
            continue;
        int before = failures;
        int64_t t0 = now_ms();
        tests[i].fn();
        printf("%s %s/%s (%lld ms)\n", failures == before ? "ok  " : "FAIL", mode, tests[i].name,
               (long long)(now_ms() - t0));
        fflush(stdout);
    }
    if (!getenv("TL_KEEP_TMP"))
        nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
