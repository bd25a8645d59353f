/*
 * tests/db/test_db_url.c - db_url_parse: a table of good and bad URLs.
 * Bad ones must fail with a message that never contains the password.
 */
#include <stdio.h>
#include <string.h>

#include "db/db.h"

struct url_case {
    const char *url;
    enum tl_err want;
    enum db_kind kind;
    const char *path, *host;
    unsigned port;
    const char *user, *password, *dbname, *sock;
    const char *msg_has;    /* for errors: a fragment of the message */
};

#define OK_SQLITE(u, p) { .url = (u), .want = TL_OK, .kind = DB_SQLITE, .path = (p) }
#define OK_MARIA(u, h, po, us, pw, db, so)                                                         \
    { .url = (u), .want = TL_OK, .kind = DB_MARIADB, .host = (h), .port = (po), .user = (us),       \
      .password = (pw), .dbname = (db), .sock = (so) }
#define BAD(u, m) { .url = (u), .want = TL_EPARSE, .msg_has = (m) }

static const struct url_case cases[] = {
    /* SQLite: three slashes = relative (as SQLAlchemy reads it), four = absolute */
    OK_SQLITE("sqlite:///instance/task-list.sqlite", "instance/task-list.sqlite"),
    OK_SQLITE("sqlite:////tmp/x/tasks.sqlite", "/tmp/x/tasks.sqlite"),
    OK_SQLITE("sqlite:///t.db", "t.db"),
    OK_SQLITE("sqlite://", ":memory:"),
    OK_SQLITE("sqlite+pysqlite:///a.sqlite", "a.sqlite"),
    OK_SQLITE("SQLITE:///a.sqlite", "a.sqlite"),
    /* MariaDB */
    OK_MARIA("mysql://tl:tlpass@127.0.0.1:3307/task_list", "127.0.0.1", 3307, "tl", "tlpass", "task_list", ""),
    OK_MARIA("mariadb://tl:tlpass@db.example/task_list", "db.example", 0, "tl", "tlpass", "task_list", ""),
    OK_MARIA("mysql+mysqldb://u:p@h/d", "h", 0, "u", "p", "d", ""),
    OK_MARIA("mysql+pymysql://u:p@h:1/d", "h", 1, "u", "p", "d", ""),
    OK_MARIA("mariadb+mariadbconnector://u@h/d", "h", 0, "u", "", "d", ""),
    OK_MARIA("mysql://tl:tlpass@localhost/task_list?unix_socket=/run/mysqld/mysqld.sock", "localhost", 0,
             "tl", "tlpass", "task_list", "/run/mysqld/mysqld.sock"),
    OK_MARIA("mysql://tl:tlpass@/task_list?unix_socket=/tmp/a%20b.sock", "", 0, "tl", "tlpass", "task_list", "/tmp/a b.sock"),
    OK_MARIA("mysql://u%40x:p%40ss%3Aw%2Fd@h:65535/d%2Db?charset=utf8mb4", "h", 65535, "u@x", "p@ss:w/d", "d-b", ""),
    OK_MARIA("mysql://u:pa:ss/w?rd@h/d", "h", 0, "u", "pa:ss/w?rd", "d", ""),
    OK_MARIA("mysql://u:@h/d", "h", 0, "u", "", "d", ""),
    /* '@' in a password, encoded or not: split at the last '@' (SQLAlchemy 1.4+) */
    OK_MARIA("mysql://u:pa@ssWORDTAIL@127.0.0.1:1/db", "127.0.0.1", 1, "u", "pa@ssWORDTAIL", "db", ""),
    OK_MARIA("mysql://u:pa%40ss@127.0.0.1:1/db", "127.0.0.1", 1, "u", "pa@ss", "db", ""),
    OK_MARIA("mysql://u:a@b:c/d@h/d", "h", 0, "u", "a@b:c/d", "d", ""),
    OK_MARIA("mysql://u%3Ax:p%25@h/d", "h", 0, "u:x", "p%", "d", ""),
    OK_MARIA("mysql://u@x@h/d", "h", 0, "u@x", "", "d", ""),
    OK_MARIA("mysql://h/d@x", "h", 0, "", "", "d@x", ""),         /* a "/" before it: no user info */
    OK_MARIA("mysql://h:3306/d", "h", 3306, "", "", "d", ""),
    OK_MARIA("mysql://[::1]:3306/d", "::1", 3306, "", "", "d", ""),
    OK_MARIA("mysql://u:p@h/d?charset=utf8mb4&unix_socket=/s", "h", 0, "u", "p", "d", "/s"),
    /* bad */
    BAD("", "empty"),
    BAD("instance/task-list.sqlite", "://"),
    BAD("postgres://u:secretpw@h/d", "unsupported scheme"),
    BAD("mysqlx://u:secretpw@h/d", "unsupported scheme"),
    BAD("mysql+://u:secretpw@h/d", "unsupported scheme"),
    BAD("sqlite://host/x.db", "no host"),
    BAD("sqlite:///", "empty sqlite path"),
    BAD("sqlite:///dir/", "directory"),
    BAD("sqlite:///x.db?mode=ro", "no ?parameters"),
    BAD("mysql://u:secretpw@h:0/d", "port"),
    BAD("mysql://u:secretpw@h:65536/d", "port"),
    BAD("mysql://u:secretpw@h:33a/d", "port"),
    BAD("mysql://u:secretpw@h:/d", "port"),
    BAD("mysql://u:secretpw@h", "missing database name"),
    BAD("mysql://u:secretpw@h/", "missing database name"),
    BAD("mysql://u:secret%zzpw@h/d", "percent"),
    BAD("mysql://u:secret%00pw@h/d", "password"),
    BAD("mysql://u:secretpw@h/d?ssl=1", "unknown or bad parameter \"ssl\""),
    BAD("mysql://u:secretpw@h/d?charset=latin1", "charset"),
    BAD("mysql://u:secretpw@h/d?unix_socket=", "unix_socket"),
    BAD("mysql://u:secretpw@[::1/d", "["),
    BAD("mysql://u:secretpw@[::1]x/d", "after the host"),
    BAD("mysql://u:secretpw@h1,,h2/d", "empty host"),
    BAD("mysql://u:secretpw@h1,h2/d?unix_socket=/s", "several hosts"),
    BAD("mysql://u:secretpw@h1,/d", "empty host"),
    BAD("mysql://u:secretpw@h1:3306,h2:0/d", "port"),
    BAD("mysql://u:secretpw@h1:33x,h2/d", "port"),
    BAD("mysql://u:secretpw@a,b,c,d,e,f,g,h,i,j/d", "more than 9 hosts"),
};

/* Host lists (a Galera cluster): every host in order; host/port = the first. */
static const struct {
    const char *url;
    const char *hosts;      /* "name:port name:port ..." (port 0 = default) */
} host_cases[] = {
    { "mysql://u:p@db1:3306,db2:3307,db3/tasks", "db1:3306 db2:3307 db3:0" },
    { "mysql://u:p@h/d", "h:0" },
    { "mysql://u:p@127.0.0.1:1,[::1]:2,[fe80::1]/d?charset=utf8", "127.0.0.1:1 ::1:2 fe80::1:0" },
    { "mariadb://a,b,c,d,e,f,g,h,i/d", "a:0 b:0 c:0 d:0 e:0 f:0 g:0 h:0 i:0" },
};

static int check_hosts(void)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof host_cases / sizeof *host_cases; i++) {
        struct db_url u;
        struct tl_diag d = { 0 };
        char got[512] = "";
        size_t o = 0;
        if (db_url_parse(host_cases[i].url, &u, &d) != TL_OK) {
            fprintf(stderr, "host case %zu \"%s\": %s\n", i, host_cases[i].url, d.msg);
            failed++;
            continue;
        }
        for (unsigned h = 0; h < u.n_hosts && o < sizeof got; h++)
            o += (size_t)snprintf(got + o, sizeof got - o, "%s%s:%u", h ? " " : "", u.hosts[h].name,
                                  u.hosts[h].port);
        if (strcmp(got, host_cases[i].hosts) || strcmp(u.host, u.hosts[0].name) || u.port != u.hosts[0].port) {
            fprintf(stderr, "host case %zu \"%s\": hosts \"%s\" (first %s:%u), want \"%s\"\n", i,
                    host_cases[i].url, got, u.host, u.port, host_cases[i].hosts);
            failed++;
        }
    }
    return failed;
}

static int check_str(size_t i, const char *url, const char *what, const char *got, const char *want)
{
    if (!want || !strcmp(got, want))
        return 0;
    fprintf(stderr, "case %zu \"%s\": %s = \"%s\", want \"%s\"\n", i, url, what, got, want);
    return 1;
}

int main(void)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct url_case *c = &cases[i];
        struct db_url u;
        struct tl_diag d = { 0 };
        enum tl_err e = db_url_parse(c->url, &u, &d);
        if (e != c->want) {
            fprintf(stderr, "case %zu \"%s\": got %s (%s), want %s\n", i, c->url, tl_strerror(e), d.msg,
                    tl_strerror(c->want));
            failed++;
            continue;
        }
        if (e != TL_OK) {
            if (c->msg_has && !strstr(d.msg, c->msg_has)) {
                fprintf(stderr, "case %zu \"%s\": message \"%s\" lacks \"%s\"\n", i, c->url, d.msg, c->msg_has);
                failed++;
            }
            if (strstr(d.msg, "secret")) {
                fprintf(stderr, "case %zu \"%s\": message \"%s\" leaks the password\n", i, c->url, d.msg);
                failed++;
            }
            continue;
        }
        int bad = 0;
        if (u.kind != c->kind) {
            fprintf(stderr, "case %zu \"%s\": kind %d, want %d\n", i, c->url, u.kind, c->kind);
            bad++;
        }
        bad += check_str(i, c->url, "path", u.path, c->path);
        bad += check_str(i, c->url, "host", u.host, c->host);
        bad += check_str(i, c->url, "user", u.user, c->user);
        bad += check_str(i, c->url, "password", u.password, c->password);
        bad += check_str(i, c->url, "dbname", u.dbname, c->dbname);
        bad += check_str(i, c->url, "unix_socket", u.unix_socket, c->sock);
        if (c->kind == DB_MARIADB && u.port != c->port) {
            fprintf(stderr, "case %zu \"%s\": port %u, want %u\n", i, c->url, u.port, c->port);
            bad++;
        }
        failed += bad != 0;
    }
    failed += check_hosts();
    /* db_open reports the same errors and never connects eagerly */
    struct tl_diag d = { 0 };
    if (db_open("nope://", 1000, &d) != NULL || !strstr(d.msg, "unsupported")) {
        fprintf(stderr, "db_open(\"nope://\") should fail with a message, got \"%s\"\n", d.msg);
        failed++;
    }
    struct db *db = db_open("mysql://u:p@127.0.0.1:1/d", 1000, &d);
    if (!db || db_kind(db) != DB_MARIADB || db_query_count(db) != 0) {
        fprintf(stderr, "db_open of a MariaDB URL should succeed lazily\n");
        failed++;
    }
    db_close(db);
    if (failed) {
        fprintf(stderr, "%d case(s) failed\n", failed);
        return 1;
    }
    printf("db_url: %zu cases ok\n", sizeof cases / sizeof *cases);
    return 0;
}
