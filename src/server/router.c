/*
 * server/router.c - compiled route patterns, matching, Allow, url_for().
 * Owns: struct router (heap, built once in the master, read-only after).
 *   A pattern is a list of segments, each a literal or a typed parameter:
 *   <name> / <string:name> (one segment), <int:name> (strict positive id),
 *   <path:name> (the rest, slashes included; last segment only).
 * Invariants: matching never allocates except the route_args array from the
 *   request arena; routes are tried in table order, first match wins.
 * Context: compiled in the master, matched in workers.
 */
#include "router.h"

#include <stdlib.h>
#include <string.h>

enum router_seg_kind { SEG_LITERAL, SEG_STRING, SEG_INT, SEG_PATH };

struct router_seg {
    enum router_seg_kind kind;
    struct str text;     /* literal text, or the parameter name */
};

struct router_route {
    const struct route *route;
    struct router_seg *segs;
    size_t n_segs;
    size_t n_params;
};

struct router {
    struct router_route *routes;
    size_t n;
};

#define ROUTER_SEGS_MAX 32

static enum tl_err router_compile(struct router_route *rr, const struct route *r,
                                  struct tl_diag *d);
static bool router_try(const struct router_route *rr, struct str path, struct str *vals);
static void router_put_encoded(struct strbuf *out, struct str s, bool keep_slash);

struct router *router_new(const struct route *routes, size_t n, struct tl_diag *d)
{
    struct router *rt = calloc(1, sizeof *rt);
    if (!rt || !(rt->routes = calloc(n ? n : 1, sizeof *rt->routes))) {
        free(rt);
        tl_diag_set(d, NULL, 0, 0, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        rt->n = i + 1;
        if (router_compile(&rt->routes[i], &routes[i], d) != TL_OK)
            goto fail;
        for (size_t j = 0; j < i; j++) {
            if (routes[i].endpoint && routes[j].endpoint &&
                strcmp(routes[i].endpoint, routes[j].endpoint) == 0) {
                tl_diag_set(d, NULL, 0, 0, "duplicate endpoint \"%s\"", routes[i].endpoint);
                goto fail;
            }
        }
    }
    return rt;
fail:
    router_free(rt);
    return NULL;
}

void router_free(struct router *rt)
{
    if (!rt)
        return;
    for (size_t i = 0; i < rt->n; i++)
        free(rt->routes[i].segs);
    free(rt->routes);
    free(rt);
}

enum router_match router_match(const struct router *rt, struct req *r, unsigned *allow)
{
    unsigned want = r->method == HTTP_HEAD ? (HTTP_GET | HTTP_HEAD) : r->method;
    unsigned allowed = 0;
    struct str vals[ROUTER_SEGS_MAX];
    for (size_t i = 0; i < rt->n; i++) {
        const struct router_route *rr = &rt->routes[i];
        if (!router_try(rr, r->path, vals))
            continue;
        if (!(rr->route->methods & want)) {
            allowed |= rr->route->methods;
            continue;
        }
        r->route = rr->route;
        r->route_id = 0;
        r->route_args = (struct req_kvs){ NULL, 0 };
        if (rr->n_params) {
            struct req_kv *kv = arena_alloc(r->arena, rr->n_params * sizeof *kv);
            if (!kv)
                return ROUTER_NOT_FOUND;
            size_t k = 0;
            for (size_t s = 0; s < rr->n_segs; s++) {
                if (rr->segs[s].kind == SEG_LITERAL)
                    continue;
                kv[k++] = (struct req_kv){ rr->segs[s].text, vals[s] };
                if (rr->segs[s].kind == SEG_INT && r->route_id == 0)
                    str_parse_id(vals[s], &r->route_id);
            }
            r->route_args = (struct req_kvs){ kv, k };
        }
        return ROUTER_FOUND;
    }
    if (allowed) {
        if (allowed & HTTP_GET)
            allowed |= HTTP_HEAD;
        if (allow)
            *allow = allowed;
        return ROUTER_METHOD_NOT_ALLOWED;
    }
    return ROUTER_NOT_FOUND;
}

void router_allow_header(unsigned methods, struct strbuf *out)
{
    static const struct { unsigned m; const char *name; } names[] = {
        { HTTP_GET, "GET" },       { HTTP_HEAD, "HEAD" },   { HTTP_POST, "POST" },
        { HTTP_PUT, "PUT" },       { HTTP_DELETE, "DELETE" }, { HTTP_PATCH, "PATCH" },
        { HTTP_OPTIONS, "OPTIONS" },
    };
    bool first = true;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (!(methods & names[i].m))
            continue;
        if (!first)
            strbuf_append(out, ", ", 2);
        strbuf_puts(out, names[i].name);
        first = false;
    }
}

enum tl_err router_url_for(const struct router *rt, struct str endpoint,
                           const struct str *names, const struct str *values, size_t n,
                           struct strbuf *out)
{
    const struct router_route *rr = NULL;
    for (size_t i = 0; i < rt->n && !rr; i++)
        if (rt->routes[i].route->endpoint && str_eq_c(endpoint, rt->routes[i].route->endpoint))
            rr = &rt->routes[i];
    if (!rr)
        return TL_ENOTFOUND;
    /* Which given params the pattern consumes (at most 64 params tracked). */
    unsigned long long used = 0;
    size_t start = out->len;
    for (size_t s = 0; s < rr->n_segs; s++) {
        const struct router_seg *seg = &rr->segs[s];
        strbuf_putc(out, '/');
        if (seg->kind == SEG_LITERAL) {
            strbuf_append_str(out, seg->text);
            continue;
        }
        size_t k;
        for (k = 0; k < n && !str_eq(names[k], seg->text); k++)
            ;
        long long id;
        if (k == n || (seg->kind == SEG_INT && !str_parse_id(values[k], &id)) ||
            (seg->kind == SEG_STRING && (values[k].len == 0 || memchr(values[k].p, '/', values[k].len)))) {
            out->len = start;
            if (out->p)
                out->p[start] = '\0';
            return TL_EINVAL;
        }
        if (k < 64)
            used |= 1ULL << k;
        router_put_encoded(out, values[k], seg->kind == SEG_PATH);
    }
    if (rr->n_segs == 0)
        strbuf_putc(out, '/');
    bool first = true;
    for (size_t k = 0; k < n; k++) {
        if (k < 64 && (used & (1ULL << k)))
            continue;
        strbuf_putc(out, first ? '?' : '&');
        first = false;
        router_put_encoded(out, names[k], false);
        strbuf_putc(out, '=');
        router_put_encoded(out, values[k], false);
    }
    return out->oom ? TL_ENOMEM : TL_OK;
}

/* ---- helpers ---- */

/* Split r->pattern into segments. "/" is zero segments; a trailing slash
 * ("/tasks/") is kept as an empty literal last segment. */
static enum tl_err router_compile(struct router_route *rr, const struct route *r,
                                  struct tl_diag *d)
{
    const char *p = r->pattern;
    rr->route = r;
    if (!p || p[0] != '/') {
        tl_diag_set(d, NULL, 0, 0, "route \"%s\": pattern must start with '/'", p ? p : "(null)");
        return TL_EPARSE;
    }
    rr->segs = calloc(ROUTER_SEGS_MAX, sizeof *rr->segs);
    if (!rr->segs) {
        tl_diag_set(d, NULL, 0, 0, "out of memory");
        return TL_ENOMEM;
    }
    if (strcmp(p, "/") == 0)
        return TL_OK;
    p++;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (rr->n_segs == ROUTER_SEGS_MAX) {
            tl_diag_set(d, NULL, 0, 0, "route \"%s\": too many segments", r->pattern);
            return TL_EPARSE;
        }
        struct router_seg *seg = &rr->segs[rr->n_segs];
        seg->kind = SEG_LITERAL;
        seg->text = (struct str){ p, len };
        if (len && p[0] == '<') {
            if (p[len - 1] != '>' || len < 3) {
                tl_diag_set(d, NULL, 0, 0, "route \"%s\": bad parameter \"%.*s\"", r->pattern,
                            (int)len, p);
                return TL_EPARSE;
            }
            struct str inner = { p + 1, len - 2 };
            const char *colon = memchr(inner.p, ':', inner.len);
            struct str type = colon ? (struct str){ inner.p, (size_t)(colon - inner.p) } : STR("string");
            seg->text = colon ? (struct str){ colon + 1, inner.len - type.len - 1 } : inner;
            if (str_eq_c(type, "int"))
                seg->kind = SEG_INT;
            else if (str_eq_c(type, "string"))
                seg->kind = SEG_STRING;
            else if (str_eq_c(type, "path"))
                seg->kind = SEG_PATH;
            else
                seg->text.len = 0;
            if (seg->text.len == 0 || (seg->kind == SEG_PATH && slash)) {
                tl_diag_set(d, NULL, 0, 0, "route \"%s\": bad parameter \"%.*s\"", r->pattern,
                            (int)len, p);
                return TL_EPARSE;
            }
            rr->n_params++;
        } else if (memchr(p, '<', len) || memchr(p, '>', len)) {
            tl_diag_set(d, NULL, 0, 0, "route \"%s\": a parameter must be a whole segment",
                        r->pattern);
            return TL_EPARSE;
        }
        rr->n_segs++;
        if (!slash)
            break;
        p = slash + 1;
    }
    return TL_OK;
}

/* Match path against rr; vals[s] gets the text of parameter segment s. */
static bool router_try(const struct router_route *rr, struct str path, struct str *vals)
{
    const char *p = path.p + 1, *end = path.p + path.len;
    if (rr->n_segs == 0)
        return path.len == 1;
    for (size_t s = 0; s < rr->n_segs; s++) {
        const struct router_seg *seg = &rr->segs[s];
        if (p > end)
            return false;
        if (seg->kind == SEG_PATH) {
            vals[s] = (struct str){ p, (size_t)(end - p) };
            return vals[s].len > 0;
        }
        const char *slash = memchr(p, '/', (size_t)(end - p));
        struct str part = { p, (size_t)((slash ? slash : end) - p) };
        long long id;
        switch (seg->kind) {
        case SEG_LITERAL:
            if (!str_eq(part, seg->text))
                return false;
            break;
        case SEG_INT:
            if (!str_parse_id(part, &id))
                return false;
            break;
        case SEG_STRING:
            if (!part.len)
                return false;
            break;
        case SEG_PATH:
            break;
        }
        vals[s] = part;
        if (s + 1 == rr->n_segs)
            return slash == NULL;
        if (!slash)
            return false;
        p = slash + 1;
    }
    return false;
}

/* Percent-encode everything but RFC 3986 unreserved characters (and '/'
 * inside <path:...> values). */
static void router_put_encoded(struct strbuf *out, struct str s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
            strbuf_putc(out, (char)c);
        } else {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            strbuf_append(out, e, 3);
        }
    }
}
