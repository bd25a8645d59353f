/*
 * db/url.c - DATABASE_URL parsing (db_url_parse of db.h).
 * Owns: the URL grammar, read as SQLAlchemy reads it:
 *   sqlite://                      in-memory database
 *   sqlite:///relative/path        relative to the working directory
 *   sqlite:////absolute/path
 *   mysql|mariadb[+driver]://[user[:password]@][host|[v6]][:port][,host2[:port]...]/dbname[?unix_socket=/path]
 *   (several hosts: a Galera cluster; db_url.hosts in the given order)
 *   User, password, database name and query values are percent-decoded; the
 *   user info ends at the last '@'. Each host[:port] is read by base/hostport.h.
 * Invariants: no message ever contains the password (nor any part of the
 *   URL that might be one when the URL is malformed).
 * Context: any process; pure function.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../base/hostport.h"
#include "db.h"

_Static_assert(sizeof ((struct db_url_host *)0)->name == HOSTPORT_HOST_MAX,
               "a URL host holds what the host:port parser gives");

static enum tl_err db_url_sqlite(const char *rest, struct db_url *out, struct tl_diag *d);
static enum tl_err db_url_mariadb(const char *rest, struct db_url *out, struct tl_diag *d);
static enum tl_err db_url_query(const char *q, struct db_url *out, struct tl_diag *d);
static enum tl_err db_url_host(const char **restp, struct db_url_host *out, struct tl_diag *d);
static bool db_url_decode(const char *s, size_t len, char *dst, size_t dst_len);
static bool db_url_scheme_is(struct str scheme, const char *base);

enum tl_err db_url_parse(const char *url, struct db_url *out, struct tl_diag *d)
{
    memset(out, 0, sizeof *out);
    if (!url || !*url) {
        tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: empty");
        return TL_EPARSE;
    }
    const char *sep = strstr(url, "://");
    if (!sep) {
        tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: missing \"://\" (want sqlite:///path or mysql://...)");
        return TL_EPARSE;
    }
    struct str scheme = { url, (size_t)(sep - url) };
    for (size_t i = 0; i < scheme.len; i++) {
        unsigned char c = (unsigned char)scheme.p[i];
        if (!isalnum(c) && c != '+' && c != '_' && c != '-') {
            tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: bad scheme");
            return TL_EPARSE;
        }
    }
    if (db_url_scheme_is(scheme, "sqlite")) {
        out->kind = DB_SQLITE;
        return db_url_sqlite(sep + 3, out, d);
    }
    if (db_url_scheme_is(scheme, "mysql") || db_url_scheme_is(scheme, "mariadb")) {
        out->kind = DB_MARIADB;
        return db_url_mariadb(sep + 3, out, d);
    }
    tl_diag_set(d, NULL, 0, 0,
                "DATABASE_URL: unsupported scheme \"%.*s\" (want sqlite, mysql, mariadb or mysql+<driver>)",
                (int)(scheme.len > 40 ? 40 : scheme.len), scheme.p);
    return TL_EPARSE;
}

/* "base" or "base+driver", case-insensitively. */
static bool db_url_scheme_is(struct str scheme, const char *base)
{
    size_t n = strlen(base);
    if (scheme.len < n || strncasecmp(scheme.p, base, n) != 0)
        return false;
    return scheme.len == n || (scheme.p[n] == '+' && scheme.len > n + 1);
}

static enum tl_err db_url_sqlite(const char *rest, struct db_url *out, struct tl_diag *d)
{
    if (*rest == '\0') {    /* sqlite:// : SQLAlchemy's in-memory database */
        snprintf(out->path, sizeof out->path, ":memory:");
        return TL_OK;
    }
    if (*rest != '/') {
        tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: sqlite URLs take no host (want sqlite:///relative or sqlite:////absolute)");
        return TL_EPARSE;
    }
    rest++;   /* what follows the third slash is the path, relative unless it starts with '/' */
    if (strchr(rest, '?')) {
        tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: sqlite URLs take no ?parameters");
        return TL_EPARSE;
    }
    size_t len = strlen(rest);
    if (len == 0) {
        tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: empty sqlite path");
        return TL_EPARSE;
    }
    if (len >= sizeof out->path) {
        tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: sqlite path longer than %zu bytes", sizeof out->path - 1);
        return TL_EPARSE;
    }
    if (rest[len - 1] == '/') {
        tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: sqlite path \"%s\" names a directory", rest);
        return TL_EPARSE;
    }
    memcpy(out->path, rest, len + 1);
    return TL_OK;
}

/* Authority as SQLAlchemy (1.4+) splits it: the user info ends at the LAST
 * '@' (a password may hold '@', encoded as %40 or not: "p@ss" would otherwise
 * make "ss@host" the host, and show it in every message); the user runs to
 * its first ':' and holds no '/' (else there is no user info at all); the
 * password is the rest. Both are percent-decoded. */
static enum tl_err db_url_mariadb(const char *rest, struct db_url *out, struct tl_diag *d)
{
    const char *at = strrchr(rest, '@');
    const char *user_end = at ? rest + strcspn(rest, ":/") : NULL;
    if (at && (user_end >= at || *user_end == ':')) {
        const char *colon = user_end < at ? user_end : NULL;
        const char *uend = colon ? colon : at;
        if (!db_url_decode(rest, (size_t)(uend - rest), out->user, sizeof out->user)) {
            tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: bad or too long user name");
            return TL_EPARSE;
        }
        if (colon && !db_url_decode(colon + 1, (size_t)(at - colon - 1), out->password,
                                    sizeof out->password)) {
            tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: bad percent-encoding or too long password");
            return TL_EPARSE;
        }
        rest = at + 1;
    }
    /* host[:port], or several separated by ',' (a Galera cluster) */
    for (;;) {
        if (out->n_hosts == DB_URL_HOSTS_MAX) {
            tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: more than %d hosts", DB_URL_HOSTS_MAX);
            return TL_EPARSE;
        }
        struct db_url_host *hp = &out->hosts[out->n_hosts++];
        if (db_url_host(&rest, hp, d) != TL_OK)
            return TL_EPARSE;
        if (*rest != ',')
            break;
        rest++;
        if (!*rest || *rest == ',' || *rest == '/' || *rest == '?') {
            tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: empty host in the host list");
            return TL_EPARSE;
        }
    }
    memcpy(out->host, out->hosts[0].name, sizeof out->host);
    out->port = out->hosts[0].port;
    if (*rest == '/') {
        rest++;
        size_t n = strcspn(rest, "?");
        if (!db_url_decode(rest, n, out->dbname, sizeof out->dbname)) {
            tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: bad or too long database name");
            return TL_EPARSE;
        }
        rest += n;
    }
    if (!out->dbname[0]) {
        tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: missing database name (mysql://user:pass@host/DBNAME)");
        return TL_EPARSE;
    }
    if (*rest == '?' && db_url_query(rest + 1, out, d) != TL_OK)
        return TL_EPARSE;
    if (out->unix_socket[0] && out->n_hosts > 1) {
        tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: unix_socket names one server; it cannot go with several hosts");
        return TL_EPARSE;
    }
    return TL_OK;
}

/* One host[:port] or [v6][:port] at *rest (base/hostport.h), up to the next
 * '/', '?' or ','; advances *rest past it. The host may be empty
 * (mysql://u:p@/db: the default socket); port 0 = the default. */
static enum tl_err db_url_host(const char **restp, struct db_url_host *out, struct tl_diag *d)
{
    static const char *const problems[HOSTPORT__MAX] = {
        [HOSTPORT_UNCLOSED] = "DATABASE_URL: unclosed '[' in host",
        [HOSTPORT_AFTER_BRACKET] = "DATABASE_URL: unexpected text after the host",
        [HOSTPORT_BAD_HOST] = "DATABASE_URL: host name too long",
        [HOSTPORT_BAD_PORT] = "DATABASE_URL: port is not a number 1-65535",
    };
    size_t len = strcspn(*restp, "/?,");
    struct hostport hp;
    enum hostport_problem p = hostport_parse(*restp, len, 0, HOSTPORT_EMPTY_HOST_OK, &hp);
    if (p != HOSTPORT_OK) {
        tl_diag_set(d, NULL, 0, 0, "%s", problems[p]);
        return TL_EPARSE;
    }
    memcpy(out->name, hp.host, sizeof out->name);
    out->port = hp.port;
    *restp += len;
    return TL_OK;
}

/* key=value&...: unix_socket=/path; charset=utf8mb4|utf8 accepted (we always
 * talk utf8mb4). Unknown keys are errors, not silently ignored. */
static enum tl_err db_url_query(const char *q, struct db_url *out, struct tl_diag *d)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        size_t klen = eq ? (size_t)(eq - q) : n;
        const char *v = eq ? eq + 1 : q + n;
        size_t vlen = (size_t)(q + n - v);
        char val[1024];
        if (!db_url_decode(v, vlen, val, sizeof val)) {
            tl_diag_set(d, NULL, 0, 0, "DATABASE_URL: bad or too long value for \"%.*s\"",
                        (int)(klen > 40 ? 40 : klen), q);
            return TL_EPARSE;
        }
        if (klen == 11 && !memcmp(q, "unix_socket", 11) && val[0]) {
            snprintf(out->unix_socket, sizeof out->unix_socket, "%s", val);
        } else if (klen == 7 && !memcmp(q, "charset", 7) &&
                   (!strcasecmp(val, "utf8mb4") || !strcasecmp(val, "utf8"))) {
            /* accepted for compatibility with SQLAlchemy URLs */
        } else if (klen == 0 && vlen == 0) {
            /* empty pair ("?" or "&&") */
        } else {
            tl_diag_set(d, NULL, 0, 0,
                        "DATABASE_URL: unknown or bad parameter \"%.*s\" (known: unix_socket=/path, charset=utf8mb4)",
                        (int)(klen > 40 ? 40 : klen), q);
            return TL_EPARSE;
        }
        q += n;
        if (*q == '&')
            q++;
    }
    return TL_OK;
}

/* Percent-decode s[0..len) into dst; false on a bad escape, a NUL byte or
 * when it does not fit (dst then holds garbage). */
static bool db_url_decode(const char *s, size_t len, char *dst, size_t dst_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = str_hex_value(s[i + 1])) < 0 || (lo = str_hex_value(s[i + 2])) < 0)
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0' || o + 1 >= dst_len)
            return false;
        dst[o++] = c;
    }
    dst[o] = '\0';
    return true;
}
