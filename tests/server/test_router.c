/*
 * tests/server/test_router.c - router_new/match/allow/url_for: literal and
 *   typed segments, 404 vs 405 with Allow, HEAD as GET, bad patterns.
 */
#include <stdio.h>
#include <string.h>

#include "server/router.h"

#include "../lib/check.h"



static enum tl_err h(struct req *r, struct resp *w)
{
    return TL_OK;
}

static const struct route routes[] = {
    { HTTP_GET, "/", "task_list.index", h },
    { HTTP_POST, "/add", "task_list.add", h },
    { HTTP_GET | HTTP_POST, "/<int:id>/delete", "task_list.delete", h },
    { HTTP_GET, "/api/tasks", "api.list", h },
    { HTTP_POST, "/api/tasks", "api.create", h },
    { HTTP_GET | HTTP_PUT | HTTP_DELETE, "/api/tasks/<int:id>", "api.task", h },
    { HTTP_GET, "/users/<name>/posts/<int:post>", "user.post", h },
    { HTTP_GET, "/files/<path:p>", "files", h },
    { HTTP_GET, "/dir/", "dir", h },
    { HTTP_GET, "/s/<string:slug>", "slug", h },
};

static const struct {
    enum http_method method;
    const char *path;
    enum router_match want;
    const char *endpoint;   /* FOUND */
    const char *args;       /* FOUND: "name=value;" */
    long long id;
    const char *allow;      /* 405 */
} cases[] = {
    { HTTP_GET, "/", ROUTER_FOUND, "task_list.index", "", 0, NULL },
    { HTTP_HEAD, "/", ROUTER_FOUND, "task_list.index", "", 0, NULL },
    { HTTP_POST, "/", ROUTER_METHOD_NOT_ALLOWED, NULL, NULL, 0, "GET, HEAD" },
    { HTTP_GET, "/add", ROUTER_METHOD_NOT_ALLOWED, NULL, NULL, 0, "POST" },
    { HTTP_POST, "/add", ROUTER_FOUND, "task_list.add", "", 0, NULL },
    { HTTP_GET, "/42/delete", ROUTER_FOUND, "task_list.delete", "id=42;", 42, NULL },
    { HTTP_POST, "/7/delete", ROUTER_FOUND, "task_list.delete", "id=7;", 7, NULL },
    { HTTP_PUT, "/7/delete", ROUTER_METHOD_NOT_ALLOWED, NULL, NULL, 0, "GET, HEAD, POST" },
    { HTTP_GET, "/0/delete", ROUTER_NOT_FOUND, NULL, NULL, 0, NULL },
    { HTTP_GET, "/007/delete", ROUTER_NOT_FOUND, NULL, NULL, 0, NULL },
    { HTTP_GET, "/-1/delete", ROUTER_NOT_FOUND, NULL, NULL, 0, NULL },
    { HTTP_GET, "/1x/delete", ROUTER_NOT_FOUND, NULL, NULL, 0, NULL },
    { HTTP_GET, "/99999999999999999999/delete", ROUTER_NOT_FOUND, NULL, NULL, 0, NULL },
    { HTTP_GET, "/42/delete/", ROUTER_NOT_FOUND, NULL, NULL, 0, NULL },
    { HTTP_GET, "/42", ROUTER_NOT_FOUND, NULL, NULL, 0, NULL },
    { HTTP_GET, "/api/tasks", ROUTER_FOUND, "api.list", "", 0, NULL },
    { HTTP_POST, "/api/tasks", ROUTER_FOUND, "api.create", "", 0, NULL },
    { HTTP_DELETE, "/api/tasks", ROUTER_METHOD_NOT_ALLOWED, NULL, NULL, 0, "GET, HEAD, POST" },
    { HTTP_DELETE, "/api/tasks/3", ROUTER_FOUND, "api.task", "id=3;", 3, NULL },
    { HTTP_PATCH, "/api/tasks/3", ROUTER_METHOD_NOT_ALLOWED, NULL, NULL, 0, "GET, HEAD, PUT, DELETE" },
    { HTTP_GET, "/users/ann/posts/5", ROUTER_FOUND, "user.post", "name=ann;post=5;", 5, NULL },
    { HTTP_GET, "/users//posts/5", ROUTER_NOT_FOUND, NULL, NULL, 0, NULL },
    { HTTP_GET, "/files/a/b/c.txt", ROUTER_FOUND, "files", "p=a/b/c.txt;", 0, NULL },
    { HTTP_GET, "/files/", ROUTER_NOT_FOUND, NULL, NULL, 0, NULL },
    { HTTP_GET, "/dir/", ROUTER_FOUND, "dir", "", 0, NULL },
    { HTTP_GET, "/dir", ROUTER_NOT_FOUND, NULL, NULL, 0, NULL },
    { HTTP_GET, "/s/hello-world", ROUTER_FOUND, "slug", "slug=hello-world;", 0, NULL },
    { HTTP_GET, "/nope", ROUTER_NOT_FOUND, NULL, NULL, 0, NULL },
    { HTTP_OPTIONS, "/", ROUTER_METHOD_NOT_ALLOWED, NULL, NULL, 0, "GET, HEAD" },
};

static void test_match(const struct router *rt, struct arena *a)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct req r;
        memset(&r, 0, sizeof r);
        r.arena = a;
        r.method = cases[i].method;
        r.path = str_c(cases[i].path);
        unsigned allow = 0;
        enum router_match m = router_match(rt, &r, &allow);
        CHECK(m == cases[i].want, "case %zu %s: got %d want %d", i, cases[i].path, m, cases[i].want);
        if (m == ROUTER_FOUND && cases[i].want == ROUTER_FOUND) {
            char got[256] = "";
            size_t n = 0;
            for (size_t k = 0; k < r.route_args.n; k++)
                n += (size_t)snprintf(got + n, sizeof got - n, "%.*s=%.*s;",
                                      STR_FMT(r.route_args.v[k].name), STR_FMT(r.route_args.v[k].value));
            CHECK(strcmp(r.route->endpoint, cases[i].endpoint) == 0, "case %zu %s: endpoint %s", i,
                  cases[i].path, r.route->endpoint);
            CHECK(strcmp(got, cases[i].args) == 0, "case %zu %s: args %s", i, cases[i].path, got);
            CHECK(r.route_id == cases[i].id, "case %zu %s: id %lld", i, cases[i].path, r.route_id);
        }
        if (m == ROUTER_METHOD_NOT_ALLOWED && cases[i].allow) {
            struct strbuf sb;
            strbuf_init(&sb, a, 0);
            router_allow_header(allow, &sb);
            CHECK(sb.p && strcmp(sb.p, cases[i].allow) == 0, "case %zu %s: Allow \"%s\" want \"%s\"",
                  i, cases[i].path, sb.p ? sb.p : "", cases[i].allow);
        }
        arena_reset(a);
    }
}

static void test_url_for(const struct router *rt, struct arena *a)
{
    static const struct {
        const char *endpoint;
        const char *n1, *v1, *n2, *v2;
        enum tl_err want;
        const char *url;
    } cases2[] = {
        { "task_list.index", NULL, NULL, NULL, NULL, TL_OK, "/" },
        { "task_list.delete", "id", "42", NULL, NULL, TL_OK, "/42/delete" },
        { "task_list.delete", "id", "x", NULL, NULL, TL_EINVAL, NULL },
        { "task_list.delete", NULL, NULL, NULL, NULL, TL_EINVAL, NULL },
        { "api.task", "id", "5", "fmt", "a b&c=d", TL_OK, "/api/tasks/5?fmt=a%20b%26c%3Dd" },
        { "task_list.index", "page", "2", "q", "\xc3\xa9", TL_OK, "/?page=2&q=%C3%A9" },
        { "user.post", "name", "a b", "post", "1", TL_OK, "/users/a%20b/posts/1" },
        { "user.post", "name", "a/b", "post", "1", TL_EINVAL, NULL },
        { "files", "p", "x/y z", NULL, NULL, TL_OK, "/files/x/y%20z" },
        { "dir", NULL, NULL, NULL, NULL, TL_OK, "/dir/" },
        { "nope", NULL, NULL, NULL, NULL, TL_ENOTFOUND, NULL },
    };
    for (size_t i = 0; i < sizeof cases2 / sizeof *cases2; i++) {
        struct str names[2], values[2];
        size_t n = 0;
        if (cases2[i].n1) {
            names[n] = str_c(cases2[i].n1);
            values[n++] = str_c(cases2[i].v1);
        }
        if (cases2[i].n2) {
            names[n] = str_c(cases2[i].n2);
            values[n++] = str_c(cases2[i].v2);
        }
        struct strbuf sb;
        strbuf_init(&sb, a, 0);
        enum tl_err e = router_url_for(rt, str_c(cases2[i].endpoint), names, values, n, &sb);
        CHECK(e == cases2[i].want, "url_for case %zu %s: got %d", i, cases2[i].endpoint, e);
        if (e == TL_OK && cases2[i].url)
            CHECK(sb.p && strcmp(sb.p, cases2[i].url) == 0, "url_for case %zu: \"%s\" want \"%s\"", i,
                  sb.p ? sb.p : "", cases2[i].url);
        arena_reset(a);
    }
}

static void test_bad_patterns(void)
{
    static const struct { const char *pattern; const char *msg; } bad[] = {
        { "nope", "must start with '/'" },
        { "/<int:>", "bad parameter" },
        { "/<float:x>", "bad parameter" },
        { "/<path:p>/x", "bad parameter" },
        { "/a<int:id>", "whole segment" },
        { "/<id", "bad parameter" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct route r = { HTTP_GET, bad[i].pattern, "e", h };
        struct tl_diag d = { 0 };
        struct router *rt = router_new(&r, 1, &d);
        CHECK(!rt && strstr(d.msg, bad[i].msg), "bad pattern %zu %s: %s", i, bad[i].pattern, d.msg);
        router_free(rt);
    }
    struct route dup[] = { { HTTP_GET, "/a", "same", h }, { HTTP_GET, "/b", "same", h } };
    struct tl_diag d = { 0 };
    struct router *rt = router_new(dup, 2, &d);
    CHECK(!rt && strstr(d.msg, "duplicate endpoint \"same\""), "duplicate endpoint: %s", d.msg);
}

int main(void)
{
    struct tl_diag d = { 0 };
    struct router *rt = router_new(routes, sizeof routes / sizeof *routes, &d);
    if (!rt) {
        fprintf(stderr, "router_new: %s\n", d.msg);
        return 1;
    }
    struct arena *a = arena_new(0);
    test_match(rt, a);
    test_url_for(rt, a);
    test_bad_patterns();
    router_free(rt);
    arena_free(a);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
