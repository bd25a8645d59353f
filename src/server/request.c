/*
 * server/request.c - FastCGI params + body -> struct req.
 * Owns: percent-decoding, query/form/cookie parsing, the request limits
 *   (400/413 with a short static reason), and the same-origin check of
 *   DESIGN.md section 9.
 * Invariants: everything lands in the request arena; decoded names and
 *   values are valid UTF-8 without NUL, else the request is refused (400)
 *   (cookies excepted: a pair that is not UTF-8 is dropped, never refused).
 *   No allocation outside the arena, no syscalls.
 * Context: worker only (and the fuzzer).
 */
#include "request.h"

#include <stdlib.h>
#include <string.h>

/* Parameter names longer than this are refused whatever value_max says:
 * no form of ours has long field names. */
#define REQ_NAME_MAX 256

static const struct {
    const char *name;
    enum http_method m;
} req_methods[] = {
    { "GET", HTTP_GET },       { "HEAD", HTTP_HEAD },     { "POST", HTTP_POST },
    { "PUT", HTTP_PUT },       { "DELETE", HTTP_DELETE }, { "PATCH", HTTP_PATCH },
    { "OPTIONS", HTTP_OPTIONS },
};

static int req_decode(struct arena *a, struct str in, bool plus_is_space, struct str *out);
static bool req_kvs_push(struct arena *a, struct req_kvs *kvs, size_t *cap, struct str name,
                         struct str value);
static struct str req_trim(struct str s);
static struct str req_host_name(struct str host);

int req_parse(struct req *r, struct arena *a, const struct req_kvs *params, const char *body,
              size_t body_len, const struct req_limits *lim, const char **why)
{
    memset(r, 0, sizeof *r);
    r->arena = a;
    *why = NULL;
    r->params = *params;

    r->method_name = req_param(r, "REQUEST_METHOD");
    r->method = HTTP_OTHER;
    for (size_t i = 0; i < sizeof req_methods / sizeof *req_methods; i++)
        if (str_eq_c(r->method_name, req_methods[i].name))
            r->method = req_methods[i].m;
    r->content_type = req_param(r, "CONTENT_TYPE");
    r->is_https = str_eq_nocase(req_param(r, "HTTPS"), STR("on"));

    /* The path from REQUEST_URI (what the client sent) when present; else
     * from the script name + path info a plain CGI-ish server gives. */
    struct str uri = req_param(r, "REQUEST_URI"), raw_path = uri;
    if (uri.len) {
        const char *q = memchr(uri.p, '?', uri.len);
        if (q) {
            raw_path.len = (size_t)(q - uri.p);
            r->query = (struct str){ q + 1, uri.len - raw_path.len - 1 };
        }
    } else {
        raw_path = req_param(r, "DOCUMENT_URI");
        if (!raw_path.len)
            raw_path = req_param(r, "SCRIPT_NAME");
    }
    struct str qs = req_param(r, "QUERY_STRING");
    if (qs.len || !uri.len)
        r->query = qs;

    int st = req_decode(a, raw_path, false, &r->path);
    if (st) {
        *why = st == 413 ? "out of memory" : "bad percent-encoding in path";
        return st == 413 ? 500 : st;
    }
    if (!r->path.len || r->path.p[0] != '/') {
        if (r->path.len) {
            *why = "path does not start with '/'";
            return 400;
        }
        r->path = STR("/");
    }
    if (!str_is_valid_utf8(r->path)) {
        *why = "invalid UTF-8 in path";
        return 400;
    }

    if (body_len > lim->body_max) {
        *why = "body too large";
        return 413;
    }
    r->body = (struct str){ body ? body : "", body_len };

    unsigned left = lim->params_max;
    if ((st = req_parse_urlencoded(a, r->query, lim, &left, &r->args, why)) != 0)
        return st;
    struct str ct = r->content_type;
    const char *semi = ct.len ? memchr(ct.p, ';', ct.len) : NULL;
    if (semi)
        ct.len = (size_t)(semi - ct.p);
    if (str_eq_nocase(req_trim(ct), STR("application/x-www-form-urlencoded")) &&
        (st = req_parse_urlencoded(a, r->body, lim, &left, &r->form, why)) != 0)
        return st;

    /* Cookies are never a reason to refuse: other applications on the same
     * host set theirs, whatever bytes they like. Pairs that are not UTF-8
     * are dropped; the session cookie is checked strictly where it is used
     * (its exact format and MAC, cache/session_cookie.c). */
    req_parse_cookies(a, req_param(r, "HTTP_COOKIE"), &r->cookies);
    return 0;
}

int req_parse_urlencoded(struct arena *a, struct str text, const struct req_limits *lim,
                         unsigned *n_params_left, struct req_kvs *out, const char **why)
{
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    if (text.len == 0)
        return 0;   /* text.p may be NULL: no pointer arithmetic on it */
    const char *p = text.p, *end = text.p + text.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop == p) {       /* "a=1&&b=2": empty pair, skipped like browsers */
            p = stop + 1;
            continue;
        }
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        struct str rn = { p, (size_t)((eq ? eq : stop) - p) };
        struct str rv = eq ? (struct str){ eq + 1, (size_t)(stop - eq - 1) } : STR("");
        p = amp ? amp + 1 : end;
        if (*n_params_left == 0) {
            *why = "too many parameters";
            return 400;
        }
        (*n_params_left)--;
        struct str name, value;
        int st = req_decode(a, rn, true, &name);
        if (!st)
            st = req_decode(a, rv, true, &value);
        if (st == 413) {
            *why = "out of memory";
            return 500;
        }
        if (st) {
            *why = "bad percent-encoding";
            return 400;
        }
        if (name.len > REQ_NAME_MAX || (lim->value_max && name.len > lim->value_max)) {
            *why = "parameter name too long";
            return 400;
        }
        if (lim->value_max && value.len > lim->value_max) {
            *why = "parameter value too long";
            return 400;
        }
        if (!str_is_valid_utf8(name) || !str_is_valid_utf8(value)) {
            *why = "invalid UTF-8 in a parameter";
            return 400;
        }
        if (!req_kvs_push(a, out, &cap, name, value)) {
            *why = "out of memory";
            return 500;
        }
    }
    return 0;
}

void req_parse_cookies(struct arena *a, struct str header, struct req_kvs *out)
{
    size_t cap = 0;
    const char *p = header.p, *end = header.p + header.len;
    memset(out, 0, sizeof *out);
    while (p && p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *stop = semi ? semi : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        if (eq) {
            struct str name = req_trim((struct str){ p, (size_t)(eq - p) });
            struct str value = req_trim((struct str){ eq + 1, (size_t)(stop - eq - 1) });
            if (value.len >= 2 && value.p[0] == '"' && value.p[value.len - 1] == '"')
                value = (struct str){ value.p + 1, value.len - 2 };
            bool is_text = str_is_valid_utf8(name) && str_is_valid_utf8(value);
            if (name.len && is_text && !req_kvs_push(a, out, &cap, name, value))
                return;
        }
        p = semi ? semi + 1 : end;
    }
}

bool req_kvs_get(const struct req_kvs *kvs, struct str name, struct str *out)
{
    for (size_t i = 0; i < kvs->n; i++) {
        if (str_eq(kvs->v[i].name, name)) {
            *out = kvs->v[i].value;
            return true;
        }
    }
    *out = STR("");
    return false;
}

struct str req_param(const struct req *r, const char *name)
{
    struct str v;
    req_kvs_get(&r->params, str_c(name), &v);
    return v;
}

struct str req_cookie(const struct req *r, const char *name)
{
    struct str v;
    req_kvs_get(&r->cookies, str_c(name), &v);
    return v;
}

bool req_is_cross_origin(const struct req *r, const char *public_origin)
{
    if (r->method & (HTTP_GET | HTTP_HEAD | HTTP_OPTIONS))
        return false;
    struct str site = req_param(r, "HTTP_SEC_FETCH_SITE");
    if (str_eq_nocase(site, STR("cross-site")) || str_eq_nocase(site, STR("same-site")))
        return true;
    struct str origin;
    if (!req_kvs_get(&r->params, STR("HTTP_ORIGIN"), &origin))
        return false;
    if (public_origin && public_origin[0]) {
        /* Pinned: never built from the request, whose Host a DNS-rebinding
         * page controls together with its Origin. */
        size_t pos = 0;
        struct str item;
        while (req_origin_next(public_origin, &pos, &item))
            if (str_eq_nocase(origin, item))
                return false;
        return true;
    }
    return !str_eq_nocase(origin, req_own_origin(r, public_origin));
}

bool req_host_allowed(const struct req *r, const char *public_origin)
{
    if (!public_origin || !public_origin[0])
        return true;
    struct str host = req_host_name(req_param(r, "HTTP_HOST"));
    if (!host.len)
        return false;
    size_t pos = 0;
    struct str item;
    while (req_origin_next(public_origin, &pos, &item)) {
        const char *sep = memchr(item.p, ':', item.len);   /* "http:" */
        struct str authority = { sep + 3, item.len - (size_t)(sep + 3 - item.p) };
        if (str_eq_nocase(host, req_host_name(authority)))
            return true;
    }
    return false;
}

bool req_origin_next(const char *list, size_t *pos, struct str *item)
{
    for (;;) {
        const char *p = list + *pos;
        if (!*p)
            return false;
        size_t n = strcspn(p, ",");
        *pos += n + (p[n] == ',');
        struct str o = req_trim((struct str){ p, n });
        while (o.len && o.p[o.len - 1] == '/')
            o.len--;
        const char *sep = o.len ? memchr(o.p, ':', o.len) : NULL;
        if (sep && (size_t)(sep - o.p) + 3 < o.len && sep[1] == '/' && sep[2] == '/') {
            *item = o;
            return true;
        }
    }
}

struct str req_own_origin(const struct req *r, const char *public_origin)
{
    struct str first;
    size_t pos = 0;
    if (public_origin && req_origin_next(public_origin, &pos, &first))
        return first;
    struct str host = req_param(r, "HTTP_HOST");
    if (!host.len)
        host = req_param(r, "SERVER_NAME");
    struct str port = req_param(r, "SERVER_PORT");
    /* A Host that already carries a port ("h:8080", "[::1]:8080") is used
     * as is; Debian's fastcgi_params sends nginx's $host, which has none. */
    const char *colon = host.p && host.len ? memrchr(host.p, ':', host.len) : NULL;
    const char *bracket = host.p && host.len ? memrchr(host.p, ']', host.len) : NULL;
    bool has_port = colon && (!bracket || colon > bracket);
    bool default_port = r->is_https ? str_eq_c(port, "443") : str_eq_c(port, "80");
    const char *scheme = r->is_https ? "https://" : "http://";
    char *s;
    if (has_port || !port.len || default_port)
        s = arena_printf(r->arena, "%s%.*s", scheme, STR_FMT(host));
    else
        s = arena_printf(r->arena, "%s%.*s:%.*s", scheme, STR_FMT(host), STR_FMT(port));
    return s ? str_c(s) : STR("");
}

/* ---- helpers ---- */

/* Percent-decode in into the arena (or return in itself when there is
 * nothing to decode). 0, 400 on a bad escape, 413 on out of memory. */
static int req_decode(struct arena *a, struct str in, bool plus_is_space, struct str *out)
{
    bool needs = false;
    for (size_t i = 0; i < in.len && !needs; i++)
        needs = in.p[i] == '%' || (plus_is_space && in.p[i] == '+');
    if (!needs) {
        *out = in;
        return 0;
    }
    char *d = arena_alloc(a, in.len + 1);
    if (!d)
        return 413;
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.p[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= in.len)
                return 400;
            if ((hi = str_hex_value(in.p[i + 1])) < 0 || (lo = str_hex_value(in.p[i + 2])) < 0)
                return 400;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        d[n++] = c;
    }
    d[n] = '\0';
    *out = (struct str){ d, n };
    return 0;
}

static bool req_kvs_push(struct arena *a, struct req_kvs *kvs, size_t *cap, struct str name,
                         struct str value)
{
    if (kvs->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        void *v = arena_realloc(a, kvs->v, *cap * sizeof *kvs->v, ncap * sizeof *kvs->v);
        if (!v)
            return false;
        kvs->v = v;
        *cap = ncap;
    }
    kvs->v[kvs->n++] = (struct req_kv){ name, value };
    return true;
}

/* "Example.com:8080" -> "Example.com", "[::1]:8080" -> "[::1]"; a trailing
 * dot (the DNS root) is dropped: "example.com." names the same host. */
static struct str req_host_name(struct str host)
{
    if (host.len && host.p[0] == '[') {
        const char *close = memchr(host.p, ']', host.len);
        return close ? (struct str){ host.p, (size_t)(close - host.p) + 1 } : STR("");
    }
    const char *colon = host.len ? memchr(host.p, ':', host.len) : NULL;
    if (colon)
        host.len = (size_t)(colon - host.p);
    if (host.len && host.p[host.len - 1] == '.')
        host.len--;
    return host;
}

static struct str req_trim(struct str s)
{
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}
