/*
 * server/request.h - one parsed HTTP request, as FastCGI hands it over.
 * Owns: struct req and its parsing from FastCGI params + body into the
 *   request arena: method, path, query args, cookies, urlencoded form, headers.
 * Invariants: every str in a req points into the arena (or a literal) and
 *   is valid until arena_reset(); decoded names/values are valid UTF-8 with no
 *   NUL (anything else is refused with 400 before a handler runs).
 * Context: worker only.
 */
#ifndef TASKLIST_SERVER_REQUEST_H
#define TASKLIST_SERVER_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "../base/arena.h"
#include "../base/str.h"

/* Bit flags, so a route can allow several. */
enum http_method {
    HTTP_GET = 1 << 0,
    HTTP_HEAD = 1 << 1,
    HTTP_POST = 1 << 2,
    HTTP_PUT = 1 << 3,
    HTTP_DELETE = 1 << 4,
    HTTP_PATCH = 1 << 5,
    HTTP_OPTIONS = 1 << 6,
    HTTP_OTHER = 1 << 7,
};

struct req_kv {
    struct str name;
    struct str value;
};

struct req_kvs {
    struct req_kv *v;
    size_t n;
};

struct req_limits {
    unsigned long body_max;   /* bytes; larger -> 413 */
    unsigned params_max;      /* query args + form fields; more -> 400 */
    size_t value_max;         /* one decoded name or value, bytes; longer -> 400 */
};

struct route;

struct req {
    struct arena *arena;
    enum http_method method;
    struct str method_name;   /* as sent, e.g. "GET" */
    struct str path;          /* decoded path, "/" at least; no query */
    struct str query;         /* raw query string, without '?' */
    struct str content_type;
    bool is_https;            /* HTTPS param "on" (nginx: $https) */
    struct req_kvs params;    /* every FastCGI param, raw */
    struct req_kvs args;      /* decoded query args, in order */
    struct req_kvs form;      /* decoded application/x-www-form-urlencoded body */
    struct req_kvs cookies;   /* from HTTP_COOKIE, in order */
    struct str body;          /* raw body bytes */
    /* set by the router */
    const struct route *route;
    struct req_kvs route_args; /* typed params, e.g. id -> "42" */
    long long route_id;        /* value of the first <int:...> param, 0 if none */
    /* set by the server/app */
    void *app;                 /* the app's per-worker context */
    void *app_req;             /* the app's per-request state */
    double start_s;            /* monotonic start time */
};

/* Parse FastCGI params (the pairs fcgi_read_request decoded, kept by
 * reference: they must live in a too) and body into r, allocating from a.
 * Returns 0 when the request is acceptable, otherwise the HTTP status to
 * answer (400, 413) with *why set to a short static reason. r is zeroed
 * first. */
int req_parse(struct req *r, struct arena *a, const struct req_kvs *params, const char *body,
              size_t body_len, const struct req_limits *lim, const char **why);

/* Decode application/x-www-form-urlencoded text (also query strings) into
 * out. Same return convention as req_parse. */
int req_parse_urlencoded(struct arena *a, struct str text, const struct req_limits *lim,
                         unsigned *n_params_left, struct req_kvs *out, const char **why);

/* Parse a Cookie header ("a=1; b=2") into out; malformed pairs, and pairs
 * whose name or value is not UTF-8 (or holds NUL), are skipped: browsers send
 * every cookie of the host, other applications' included. Never an error. */
void req_parse_cookies(struct arena *a, struct str header, struct req_kvs *out);

/* Lookups; return false (and leave *out empty) when absent. First match wins. */
bool req_kvs_get(const struct req_kvs *kvs, struct str name, struct str *out);
/* FastCGI param, e.g. "HTTP_ORIGIN", "SERVER_PORT". */
struct str req_param(const struct req *r, const char *name);
struct str req_cookie(const struct req *r, const char *name);

/* public_origin below is [server] public_origin: "" (derive the origin from
 * the request), or one or more origins, comma-separated
 * ("https://tasks.example.com, http://127.0.0.1:8080"). */

/* True when an unsafe method (not GET/HEAD/OPTIONS) comes from another origin:
 * Sec-Fetch-Site "cross-site" (or "same-site"), or an Origin header that is
 * not the request's own origin: one of public_origin's when it is set (case-
 * insensitive, trailing '/' ignored), else the origin built from HTTPS,
 * HTTP_HOST and SERVER_PORT (default ports omitted). A missing Origin and
 * Sec-Fetch-Site (curl, old browsers) is allowed. */
bool req_is_cross_origin(const struct req *r, const char *public_origin);

/* True when public_origin is empty, or the request's Host names the host of
 * one of its origins (case-insensitive; the port is not compared: Debian's
 * fastcgi_params sends Host without it, and a proxy in front may change it).
 * False for a missing Host. The caller answers 421 (DNS rebinding: a page of
 * evil.example resolved to this server sends Host: evil.example). */
bool req_host_allowed(const struct req *r, const char *public_origin);

/* The next origin of a comma-separated list at list[*pos], trimmed, without
 * trailing '/'; items that are not scheme://authority are skipped. false at
 * the end. *item points into list. */
bool req_origin_next(const char *list, size_t *pos, struct str *item);

/* The request's own origin, e.g. "http://127.0.0.1:8080", into the arena
 * (the first of public_origin when set). */
struct str req_own_origin(const struct req *r, const char *public_origin);

#endif
