/*
 * server/response.h - the response a handler builds.
 * Owns: struct resp (status, extra header lines, body) in the request arena,
 *   the security headers every response carries, and serialisation to the
 *   FastCGI "Status:" + headers + body form.
 * Invariants: header lines never contain CR/LF from input (values are
 *   checked); Set-Cookie marks the response as not cacheable.
 * Context: worker only.
 */
#ifndef TASKLIST_SERVER_RESPONSE_H
#define TASKLIST_SERVER_RESPONSE_H

#include <stdbool.h>

#include "../base/arena.h"
#include "../base/str.h"
#include "../base/strbuf.h"

struct resp {
    int status;                 /* default 200 */
    const char *content_type;   /* default "text/html; charset=utf-8" */
    struct strbuf headers;      /* extra "Name: value\r\n" lines */
    struct strbuf body;
    bool sets_cookie;           /* a Set-Cookie header was added */
    bool head_only;             /* HEAD request: serialise without the body */
};

void resp_init(struct resp *w, struct arena *a);

/* Add a header line. Values with CR or LF are dropped (and logged). */
void resp_header(struct resp *w, const char *name, struct str value);
void resp_set_cookie(struct resp *w, struct str cookie);   /* value of Set-Cookie */
/* Status (303 by default when status is 0) and Location. */
void resp_redirect(struct resp *w, int status, struct str location);
/* Replace the body with a small HTML error page for status (escaped message). */
void resp_error_page(struct resp *w, int status, const char *message);
/* Reason phrase for a status code ("Not Found"); "Unknown" when not known. */
const char *resp_reason(int status);

/* Serialise status line, content type, content length, security headers,
 * extra headers, blank line, body (unless head_only) into out. */
void resp_serialize(const struct resp *w, struct strbuf *out);

/* The fixed security headers (nosniff, CSP self, Referrer-Policy, X-Frame-Options),
 * as "Name: value\r\n" lines. */
extern const struct str resp_security_headers;

#endif
