/*
 * server/router.h - method + path pattern -> handler, and url_for().
 * Owns: compiled route tables; typed params (<int:id>, <name>, <path:p>).
 * Invariants: routes are compiled once at start-up (master); matching
 *   allocates only from the request arena. HEAD matches routes that allow GET.
 * Context: compiled in the master, matched in workers.
 */
#ifndef TASKLIST_SERVER_ROUTER_H
#define TASKLIST_SERVER_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "../base/err.h"
#include "request.h"
#include "response.h"
#include "../base/strbuf.h"

typedef enum tl_err (*route_fn)(struct req *r, struct resp *w);

struct route {
    unsigned methods;        /* HTTP_GET | HTTP_POST ... */
    const char *pattern;     /* "/", "/<int:id>/delete", "/api/tasks/<int:id>" */
    const char *endpoint;    /* "task_list.index" */
    route_fn handler;
};

enum router_match {
    ROUTER_FOUND,
    ROUTER_NOT_FOUND,
    ROUTER_METHOD_NOT_ALLOWED,
};

struct router;

/* Compile n routes (the array must outlive the router). NULL with d filled
 * on a bad pattern or a duplicate endpoint. */
struct router *router_new(const struct route *routes, size_t n, struct tl_diag *d);
void router_free(struct router *rt);

/* Match r->method and r->path. On ROUTER_FOUND sets r->route, r->route_args,
 * r->route_id. On ROUTER_METHOD_NOT_ALLOWED sets *allow to the methods the
 * path accepts (for the Allow header). An <int:x> segment that is not a
 * strict positive integer does not match (404). */
enum router_match router_match(const struct router *rt, struct req *r, unsigned *allow);

/* Append "GET, HEAD, POST" for a method mask. */
void router_allow_header(unsigned methods, struct strbuf *out);

/* Build the URL of endpoint with params (name/value pairs): pattern params
 * are substituted (percent-encoded), the rest become a query string in the
 * order given, like Flask's url_for. TL_ENOTFOUND for an unknown endpoint,
 * TL_EINVAL for a missing or ill-typed pattern param. */
enum tl_err router_url_for(const struct router *rt, struct str endpoint,
                           const struct str *names, const struct str *values, size_t n,
                           struct strbuf *out);

#endif
