/*
 * tests/server/test_request.c - req_parse and friends: paths, query strings,
 *   urlencoded forms, cookies, UTF-8, limits, the same-origin check; and
 *   resp_serialize / header injection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/request.h"
#include "req_env.h"
#include "server/response.h"

#include "../lib/check.h"



static const struct req_limits lim = { 1000, 8, 100 };

/* A request line: method, REQUEST_URI, content type, body; expected status
 * and, when 0, the decoded path and "name=value;" dumps of args and form. */
static const struct {
    const char *method, *uri, *ctype, *body;
    int status;
    const char *path, *args, *form;
} cases[] = {
    { "GET", "/", NULL, NULL, 0, "/", "", "" },
    { "GET", "/a%20b/c?x=1&y=%C3%A9&z", NULL, NULL, 0, "/a b/c", "x=1;y=\xc3\xa9;z=;", "" },
    { "GET", "/?q=a+b&q=c%2Bd&&e=", NULL, NULL, 0, "/", "q=a b;q=c+d;e=;", "" },
    { "GET", "/plus+stays", NULL, NULL, 0, "/plus+stays", "", "" },
    { "POST", "/echo", "application/x-www-form-urlencoded", "name=Buy+milk&x=%E2%9C%93", 0,
      "/echo", "", "name=Buy milk;x=\xe2\x9c\x93;" },
    { "POST", "/echo", "Application/X-WWW-Form-Urlencoded; charset=UTF-8", "a=1", 0, "/echo", "",
      "a=1;" },
    { "POST", "/echo", "text/plain", "a=1", 0, "/echo", "", "" },
    { "GET", "/%zz", NULL, NULL, 400, NULL, NULL, NULL },
    { "GET", "/%4", NULL, NULL, 400, NULL, NULL, NULL },
    { "GET", "/%00", NULL, NULL, 400, NULL, NULL, NULL },
    { "GET", "/%C3%28", NULL, NULL, 400, NULL, NULL, NULL },
    { "GET", "/%ED%A0%80", NULL, NULL, 400, NULL, NULL, NULL },         /* surrogate */
    { "GET", "/%C0%AF", NULL, NULL, 400, NULL, NULL, NULL },            /* overlong */
    { "GET", "/?x=%FF", NULL, NULL, 400, NULL, NULL, NULL },
    { "GET", "/?x=%", NULL, NULL, 400, NULL, NULL, NULL },
    { "GET", "/?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8", NULL, NULL, 0, "/", "a=1;b=2;c=3;d=4;e=5;f=6;g=7;h=8;", "" },
    { "GET", "/?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9", NULL, NULL, 400, NULL, NULL, NULL },
    { "POST", "/?a=1&b=2&c=3&d=4", "application/x-www-form-urlencoded", "e=5&f=6&g=7&h=8&i=9",
      400, NULL, NULL, NULL },
    { "POST", "/", "application/x-www-form-urlencoded", "name=%FF", 400, NULL, NULL, NULL },
    { "POST", "/", "application/x-www-form-urlencoded",
      "v=0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789x",
      400, NULL, NULL, NULL },
    { "POST", "/", "application/x-www-form-urlencoded",
      "v=0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789",
      0, "/", "", "v=0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789;" },
    { "GET", "relative", NULL, NULL, 400, NULL, NULL, NULL },
};

static void dump(const struct req_kvs *kvs, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < kvs->n; i++)
        n += (size_t)snprintf(out + n, cap - n, "%.*s=%.*s;", STR_FMT(kvs->v[i].name),
                              STR_FMT(kvs->v[i].value));
}

static void test_parse_table(struct arena *a)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char m[64], u[512], ct[128], cl[64];
        snprintf(m, sizeof m, "REQUEST_METHOD=%s", cases[i].method);
        snprintf(u, sizeof u, "REQUEST_URI=%s", cases[i].uri);
        const char *q = strchr(cases[i].uri, '?');
        char qs[512];
        snprintf(qs, sizeof qs, "QUERY_STRING=%s", q ? q + 1 : "");
        snprintf(ct, sizeof ct, "CONTENT_TYPE=%s", cases[i].ctype ? cases[i].ctype : "");
        size_t blen = cases[i].body ? strlen(cases[i].body) : 0;
        snprintf(cl, sizeof cl, "CONTENT_LENGTH=%zu", blen);
        char *envp[] = { m, u, qs, ct, cl, NULL };
        struct req r;
        const char *why;
        int st = req_parse(&r, a, req_env(a, envp), cases[i].body, blen, &lim, &why);
        CHECK(st == cases[i].status, "case %zu %s %s: status %d (%s), want %d", i, cases[i].method,
              cases[i].uri, st, why ? why : "", cases[i].status);
        if (st == 0 && cases[i].status == 0) {
            char got[1024];
            CHECK(str_eq_c(r.path, cases[i].path), "case %zu %s: path \"%.*s\"", i, cases[i].uri,
                  STR_FMT(r.path));
            dump(&r.args, got, sizeof got);
            CHECK(strcmp(got, cases[i].args) == 0, "case %zu %s: args \"%s\"", i, cases[i].uri, got);
            dump(&r.form, got, sizeof got);
            CHECK(strcmp(got, cases[i].form) == 0, "case %zu %s: form \"%s\"", i, cases[i].uri, got);
        }
        CHECK(st != 0 || why == NULL, "case %zu: why set on success", i);
        arena_reset(a);
    }
}

static void test_limits_and_misc(struct arena *a)
{
    char big[1200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *envp[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/", NULL };
    struct req r;
    const char *why;
    CHECK(req_parse(&r, a, req_env(a, envp), big, strlen(big), &lim, &why) == 413, "body over body_max: 413");
    arena_reset(a);

    char *envp2[] = { "REQUEST_METHOD=BREW", "SCRIPT_NAME=/pot", "QUERY_STRING=a=1",
                      "HTTPS=on", "HTTP_COOKIE=session=abc.def; theme=\"dark\"; bad; =x; n=1",
                      "HTTP_X=first", "HTTP_X=second", NULL };
    CHECK(req_parse(&r, a, req_env(a, envp2), NULL, 0, &lim, &why) == 0, "no REQUEST_URI: %s", why);
    CHECK(r.method == HTTP_OTHER && str_eq_c(r.method_name, "BREW"), "other method");
    CHECK(str_eq_c(r.path, "/pot"), "SCRIPT_NAME path: %.*s", STR_FMT(r.path));
    CHECK(r.args.n == 1, "query from QUERY_STRING");
    CHECK(r.is_https, "HTTPS=on");
    CHECK(str_eq_c(req_cookie(&r, "session"), "abc.def"), "cookie session");
    CHECK(str_eq_c(req_cookie(&r, "theme"), "dark"), "quoted cookie");
    CHECK(str_eq_c(req_cookie(&r, "n"), "1"), "cookie after malformed pairs");
    CHECK(r.cookies.n == 3, "malformed cookies skipped: %zu", r.cookies.n);
    CHECK(str_eq_c(req_param(&r, "HTTP_X"), "first"), "first param wins");
    CHECK(req_param(&r, "NOPE").len == 0, "absent param empty");
    arena_reset(a);

    /* Another application's cookies on the same host are not ours to judge:
     * not UTF-8 (Latin-1 "caf\xe9"), a stray byte in the name: dropped, the
     * request goes on and the session cookie is still found. */
    char *envp3[] = { "REQUEST_METHOD=GET", "REQUEST_URI=/",
                      "HTTP_COOKIE=other=caf\xe9; \xff=1; session=s.m; a=\xc0\xaf", NULL };
    CHECK(req_parse(&r, a, req_env(a, envp3), NULL, 0, &lim, &why) == 0, "foreign non-UTF-8 cookies: %s", why);
    CHECK(str_eq_c(req_cookie(&r, "session"), "s.m"), "session cookie next to foreign ones");
    CHECK(r.cookies.n == 1, "non-UTF-8 pairs dropped: %zu left", r.cookies.n);
    arena_reset(a);

    char *envp4[] = { "REQUEST_METHOD=GET", "REQUEST_URI=", NULL };
    CHECK(req_parse(&r, a, req_env(a, envp4), NULL, 0, &lim, &why) == 0 && str_eq_c(r.path, "/"), "empty uri -> /");
    arena_reset(a);

    char longname[400];
    memset(longname, 'n', 300);
    strcpy(longname + 300, "=1");
    struct req_limits nolimit = { 100000, 100, 0 };
    unsigned left = 10;
    struct req_kvs out;
    CHECK(req_parse_urlencoded(a, str_c(longname), &nolimit, &left, &out, &why) == 400,
          "name over 256 bytes: 400");
    arena_reset(a);
}

/* method, Origin, Sec-Fetch-Site, HTTPS, Host, port, public_origin -> cross? */
static const struct {
    const char *method, *origin, *site, *https, *host, *port, *public_origin;
    bool cross;
} origin_cases[] = {
    { "GET", "http://evil.example", "cross-site", "", "127.0.0.1", "8080", "", false },
    { "POST", NULL, NULL, "", "127.0.0.1", "8080", "", false },
    { "POST", "http://127.0.0.1:8080", NULL, "", "127.0.0.1", "8080", "", false },
    { "POST", "http://127.0.0.1:8080", "same-origin", "", "127.0.0.1", "8080", "", false },
    { "POST", "http://127.0.0.1", NULL, "", "127.0.0.1", "8080", "", true },
    { "POST", "http://evil.example", NULL, "", "127.0.0.1", "8080", "", true },
    { "POST", NULL, "cross-site", "", "127.0.0.1", "8080", "", true },
    { "POST", NULL, "same-site", "", "127.0.0.1", "8080", "", true },
    { "POST", "null", NULL, "", "127.0.0.1", "8080", "", true },
    { "POST", "http://example.com", NULL, "", "example.com", "80", "", false },
    { "POST", "https://example.com", NULL, "on", "example.com", "443", "", false },
    { "POST", "http://example.com", NULL, "on", "example.com", "443", "", true },
    { "POST", "https://example.com:8443", NULL, "on", "example.com", "8443", "", false },
    { "POST", "http://Example.COM:8080", NULL, "", "example.com:8080", "8080", "", false },
    { "POST", "http://[::1]:8080", NULL, "", "[::1]", "8080", "", false },
    { "DELETE", "http://other:1", NULL, "", "127.0.0.1", "8080", "", true },
    { "POST", "https://tasks.example.com", NULL, "", "127.0.0.1", "8080", "https://tasks.example.com/", false },
    { "POST", "http://127.0.0.1:8080", NULL, "", "127.0.0.1", "8080", "https://tasks.example.com", true },
    { "OPTIONS", "http://evil.example", "cross-site", "", "x", "80", "", false },
    /* several public origins; DNS rebinding: Host and Origin both the attacker's */
    { "POST", "http://127.0.0.1:8080", NULL, "", "127.0.0.1", "8080",
      "https://tasks.example.com, http://127.0.0.1:8080/", false },
    { "POST", "http://LOCALHOST:8080", NULL, "", "localhost", "8080",
      "http://127.0.0.1:8080,http://localhost:8080", false },
    { "POST", "http://evil.example:8080", NULL, "", "evil.example", "8080",
      "http://127.0.0.1:8080,http://localhost:8080", true },
    { "POST", "http://127.0.0.1:8080.evil.example", NULL, "", "127.0.0.1", "8080",
      "http://127.0.0.1:8080", true },
    { "POST", "http://evil.example:8080", NULL, "", "evil.example", "8080", "", false },  /* unpinned: passes */
};

/* Host, public_origin -> allowed? */
static const struct {
    const char *host, *public_origin;
    bool ok;
} host_cases[] = {
    { "evil.example", "", true },                           /* not pinned: any Host */
    { "127.0.0.1", "http://127.0.0.1:18291", true },        /* Debian's $host: no port */
    { "127.0.0.1:18291", "http://127.0.0.1:18291", true },
    { "evil.example", "http://127.0.0.1:18291", false },
    { "evil.example:18291", "http://127.0.0.1:18291", false },
    { "Tasks.Example.COM", "https://tasks.example.com", true },
    { "tasks.example.com.", "https://tasks.example.com", true },
    { "tasks.example.com.evil.example", "https://tasks.example.com", false },
    { "evil.example", "https://tasks.example.com, http://evil.example.org", false },
    { "localhost", "http://127.0.0.1:8080,http://localhost:8080", true },
    { "[::1]", "http://[::1]:8080", true },
    { "[::1]:8080", "http://[::1]:8080", true },
    { "[::2]", "http://[::1]:8080", false },
    { "", "http://127.0.0.1:8080", false },
    { NULL, "http://127.0.0.1:8080", false },
};

static void test_host(struct arena *a)
{
    for (size_t i = 0; i < sizeof host_cases / sizeof *host_cases; i++) {
        char host[128];
        char *envp[4] = { "REQUEST_METHOD=GET", "REQUEST_URI=/", NULL, NULL };
        if (host_cases[i].host) {
            snprintf(host, sizeof host, "HTTP_HOST=%s", host_cases[i].host);
            envp[2] = host;
        }
        struct req r;
        const char *why;
        CHECK(req_parse(&r, a, req_env(a, envp), NULL, 0, &lim, &why) == 0, "host case %zu parse", i);
        bool got = req_host_allowed(&r, host_cases[i].public_origin);
        CHECK(got == host_cases[i].ok, "host case %zu: Host %s, public_origin \"%s\": got %d", i,
              host_cases[i].host ? host_cases[i].host : "(none)", host_cases[i].public_origin, got);
        arena_reset(a);
    }
}

static void test_origin(struct arena *a)
{
    for (size_t i = 0; i < sizeof origin_cases / sizeof *origin_cases; i++) {
        char m[64], o[256], s[64], h[64], host[128], port[32];
        char *envp[8];
        int n = 0;
        snprintf(m, sizeof m, "REQUEST_METHOD=%s", origin_cases[i].method);
        envp[n++] = m;
        envp[n++] = "REQUEST_URI=/x";
        if (origin_cases[i].origin) {
            snprintf(o, sizeof o, "HTTP_ORIGIN=%s", origin_cases[i].origin);
            envp[n++] = o;
        }
        if (origin_cases[i].site) {
            snprintf(s, sizeof s, "HTTP_SEC_FETCH_SITE=%s", origin_cases[i].site);
            envp[n++] = s;
        }
        snprintf(h, sizeof h, "HTTPS=%s", origin_cases[i].https);
        envp[n++] = h;
        snprintf(host, sizeof host, "HTTP_HOST=%s", origin_cases[i].host);
        envp[n++] = host;
        snprintf(port, sizeof port, "SERVER_PORT=%s", origin_cases[i].port);
        envp[n++] = port;
        envp[n] = NULL;
        struct req r;
        const char *why;
        CHECK(req_parse(&r, a, req_env(a, envp), NULL, 0, &lim, &why) == 0, "origin case %zu parse", i);
        bool got = req_is_cross_origin(&r, origin_cases[i].public_origin);
        CHECK(got == origin_cases[i].cross,
              "origin case %zu: %s Origin=%s Site=%s https=%s host=%s port=%s public=%s: got %d "
              "(own origin %.*s)", i, origin_cases[i].method,
              origin_cases[i].origin ? origin_cases[i].origin : "-",
              origin_cases[i].site ? origin_cases[i].site : "-", origin_cases[i].https,
              origin_cases[i].host, origin_cases[i].port, origin_cases[i].public_origin, got,
              STR_FMT(req_own_origin(&r, origin_cases[i].public_origin)));
        arena_reset(a);
    }
}

static void test_response(struct arena *a)
{
    struct resp w;
    resp_init(&w, a);
    strbuf_puts(&w.body, "hello");
    resp_header(&w, "X-Ok", STR("1"));
    resp_header(&w, "X-Bad", STR("a\r\nSet-Cookie: evil=1"));
    resp_header(&w, "Bad Name", STR("1"));
    resp_set_cookie(&w, STR("session=abc; HttpOnly"));
    struct strbuf out;
    strbuf_init(&out, a, 0);
    resp_serialize(&w, &out);
    const char *s = out.p;
    CHECK(strncmp(s, "Status: 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 5\r\n", 73) == 0,
          "head: %s", s);
    CHECK(strstr(s, "X-Content-Type-Options: nosniff\r\n") &&
          strstr(s, "Content-Security-Policy: default-src 'self'") &&
          strstr(s, "Referrer-Policy: same-origin\r\n") && strstr(s, "X-Frame-Options: DENY\r\n"),
          "security headers: %s", s);
    CHECK(strstr(s, "X-Ok: 1\r\n") && !strstr(s, "evil") && !strstr(s, "Bad Name"), "injection: %s", s);
    CHECK(w.sets_cookie && strstr(s, "Set-Cookie: session=abc; HttpOnly\r\n"), "cookie");
    CHECK(out.len >= 9 && strcmp(s + out.len - 9, "\r\n\r\nhello") == 0, "body last: %s", s);

    w.head_only = true;
    strbuf_reset(&out);
    resp_serialize(&w, &out);
    CHECK(strstr(out.p, "Content-Length: 5\r\n") && out.len >= 4 &&
          strcmp(out.p + out.len - 4, "\r\n\r\n") == 0, "HEAD: length kept, body dropped");

    resp_init(&w, a);
    resp_redirect(&w, 0, STR("/"));
    strbuf_reset(&out);
    resp_serialize(&w, &out);
    CHECK(strncmp(out.p, "Status: 303 See Other\r\n", 23) == 0 && strstr(out.p, "Location: /\r\n"),
          "redirect: %s", out.p);

    resp_error_page(&w, 404, "<script>");
    CHECK(w.status == 404 && strstr(w.body.p, "Not Found") && strstr(w.body.p, "&lt;script&gt;") &&
          !strstr(w.body.p, "<script>"), "error page escaped: %s", w.body.p);
    CHECK(strcmp(resp_reason(413), "Payload Too Large") == 0 && strcmp(resp_reason(299), "Unknown") == 0,
          "reasons");
    arena_reset(a);
}

int main(void)
{
    struct arena *a = arena_new(0);
    test_parse_table(a);
    test_limits_and_misc(a);
    test_origin(a);
    test_host(a);
    test_response(a);
    arena_free(a);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
