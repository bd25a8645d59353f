/*
 * base/hostport.c - the host:port parser of hostport.h.
 * Owns: the syntax (see hostport.h) and its problem texts.
 * Invariants: reads exactly len bytes, never past them; out->host is
 *   always NUL-terminated on HOSTPORT_OK.
 * Context: any process; pure.
 */
#include "hostport.h"

#include <string.h>

static const char *const hostport_texts[HOSTPORT__MAX] = {
    [HOSTPORT_OK] = "ok",
    [HOSTPORT_UNCLOSED] = "unclosed '['",
    [HOSTPORT_AFTER_BRACKET] = "expected ':' after ']'",
    [HOSTPORT_BAD_HOST] = "bad host",
    [HOSTPORT_BAD_PORT] = "bad port",
};

static bool hostport_port(const char *p, size_t len, unsigned *out);

enum hostport_problem hostport_parse(const char *item, size_t len, unsigned default_port,
                                     unsigned flags, struct hostport *out)
{
    const char *end = item + len, *host = item, *host_end, *rest;
    out->is_bracketed = len > 0 && item[0] == '[';
    if (out->is_bracketed) {
        host = item + 1;
        host_end = memchr(host, ']', (size_t)(end - host));
        if (!host_end)
            return HOSTPORT_UNCLOSED;
        rest = host_end + 1;
        if (rest < end && *rest != ':')
            return HOSTPORT_AFTER_BRACKET;
    } else {
        host_end = memchr(item, ':', len);
        if (!host_end)
            host_end = end;
        rest = host_end;
    }
    size_t host_len = (size_t)(host_end - host);
    if (host_len >= sizeof out->host || (host_len == 0 && !(flags & HOSTPORT_EMPTY_HOST_OK)))
        return HOSTPORT_BAD_HOST;
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    out->has_port = rest < end;
    out->port = default_port;
    if (out->has_port)
        return hostport_port(rest + 1, (size_t)(end - rest - 1), &out->port) ? HOSTPORT_OK
                                                                             : HOSTPORT_BAD_PORT;
    return flags & HOSTPORT_PORT_REQUIRED ? HOSTPORT_BAD_PORT : HOSTPORT_OK;
}

const char *hostport_problem_text(enum hostport_problem p)
{
    return (unsigned)p < HOSTPORT__MAX ? hostport_texts[p] : "unknown problem";
}

/* 1 to 5 digits, 1..65535. */
static bool hostport_port(const char *p, size_t len, unsigned *out)
{
    if (len == 0 || len > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return false;
    *out = v;
    return true;
}
