/*
 * server/response.c - struct resp: headers, error pages, serialisation.
 * Owns: the security header block, reason phrases, header-injection checks.
 * Invariants: no header value containing CR, LF or NUL is ever emitted;
 *   everything is allocated from the request arena.
 * Context: worker only.
 */
#include "response.h"

#include <string.h>

#include "../base/log.h"

#define RESP_SECURITY_HEADERS                                                  \
    "X-Content-Type-Options: nosniff\r\n"                                      \
    "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'; "    \
    "form-action 'self'; base-uri 'none'; object-src 'none'\r\n"                \
    "Referrer-Policy: same-origin\r\n"                                         \
    "X-Frame-Options: DENY\r\n"

const struct str resp_security_headers = { RESP_SECURITY_HEADERS,
                                           sizeof RESP_SECURITY_HEADERS - 1 };

static const struct {
    int status;
    const char *reason;
} resp_reasons[] = {
    { 200, "OK" },
    { 201, "Created" },
    { 204, "No Content" },
    { 301, "Moved Permanently" },
    { 302, "Found" },
    { 303, "See Other" },
    { 304, "Not Modified" },
    { 307, "Temporary Redirect" },
    { 308, "Permanent Redirect" },
    { 400, "Bad Request" },
    { 401, "Unauthorized" },
    { 403, "Forbidden" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 421, "Misdirected Request" },
    { 409, "Conflict" },
    { 413, "Payload Too Large" },
    { 415, "Unsupported Media Type" },
    { 422, "Unprocessable Entity" },
    { 429, "Too Many Requests" },
    { 500, "Internal Server Error" },
    { 502, "Bad Gateway" },
    { 503, "Service Unavailable" },
    { 504, "Gateway Timeout" },
};

static bool resp_value_ok(struct str v);
static bool resp_name_ok(const char *name);

void resp_init(struct resp *w, struct arena *a)
{
    w->status = 200;
    w->content_type = "text/html; charset=utf-8";
    strbuf_init(&w->headers, a, 256);
    strbuf_init(&w->body, a, 4096);
    w->sets_cookie = false;
    w->head_only = false;
}

void resp_header(struct resp *w, const char *name, struct str value)
{
    if (!resp_name_ok(name) || !resp_value_ok(value)) {
        log_warn("response header \"%s\" dropped: invalid name or CR/LF/NUL in the value", name);
        return;
    }
    strbuf_puts(&w->headers, name);
    strbuf_append(&w->headers, ": ", 2);
    strbuf_append_str(&w->headers, value);
    strbuf_append(&w->headers, "\r\n", 2);
}

void resp_set_cookie(struct resp *w, struct str cookie)
{
    size_t before = w->headers.len;
    resp_header(w, "Set-Cookie", cookie);
    if (w->headers.len != before)
        w->sets_cookie = true;
}

void resp_redirect(struct resp *w, int status, struct str location)
{
    w->status = status ? status : 303;
    resp_header(w, "Location", location);
}

void resp_error_page(struct resp *w, int status, const char *message)
{
    const char *reason = resp_reason(status);
    w->status = status;
    w->content_type = "text/html; charset=utf-8";
    strbuf_reset(&w->body);
    strbuf_puts(&w->body, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    strbuf_put_int(&w->body, status);
    strbuf_putc(&w->body, ' ');
    strbuf_puts(&w->body, reason);
    strbuf_puts(&w->body, "</title></head>\n<body><h1>");
    strbuf_puts(&w->body, reason);
    strbuf_puts(&w->body, "</h1>\n");
    if (message && *message) {
        strbuf_puts(&w->body, "<p>");
        strbuf_append_html(&w->body, message, strlen(message));
        strbuf_puts(&w->body, "</p>\n");
    }
    strbuf_puts(&w->body, "</body></html>\n");
}

const char *resp_reason(int status)
{
    for (size_t i = 0; i < sizeof resp_reasons / sizeof *resp_reasons; i++)
        if (resp_reasons[i].status == status)
            return resp_reasons[i].reason;
    return "Unknown";
}

void resp_serialize(const struct resp *w, struct strbuf *out)
{
    strbuf_reserve(out, 256 + w->headers.len + (w->head_only ? 0 : w->body.len));
    strbuf_puts(out, "Status: ");
    strbuf_put_int(out, w->status);
    strbuf_putc(out, ' ');
    strbuf_puts(out, resp_reason(w->status));
    strbuf_puts(out, "\r\nContent-Type: ");
    strbuf_puts(out, w->content_type ? w->content_type : "text/html; charset=utf-8");
    strbuf_puts(out, "\r\nContent-Length: ");
    strbuf_put_int(out, (long long)w->body.len);
    strbuf_append(out, "\r\n", 2);
    strbuf_append_str(out, resp_security_headers);
    strbuf_append(out, w->headers.p ? w->headers.p : "", w->headers.len);
    strbuf_append(out, "\r\n", 2);
    if (!w->head_only)
        strbuf_append(out, w->body.p ? w->body.p : "", w->body.len);
}

/* ---- helpers ---- */

static bool resp_value_ok(struct str v)
{
    for (size_t i = 0; i < v.len; i++)
        if (v.p[i] == '\r' || v.p[i] == '\n' || v.p[i] == '\0')
            return false;
    return true;
}

/* RFC 9110 token characters only. */
static bool resp_name_ok(const char *name)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 32 || c >= 127 || strchr("()<>@,;:\\\"/[]?={}", c))
            return false;
    }
    return true;
}
