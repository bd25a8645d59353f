/*
 * server/allow.c - address lists for the monitoring endpoints.
 * Owns: parsing "ADDR[/BITS]" entries and matching a client address.
 * Invariants: an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is compared as
 *   the IPv4 address it carries, so "127.0.0.0/8" matches it too.
 * Context: master and workers; no allocation, no state.
 */
#include "allow.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One parsed address: 16 bytes, IPv4 mapped into ::ffff:0:0/96. */
struct srv_allow_addr {
    uint8_t b[16];
    unsigned bits;   /* prefix length in the 128-bit space */
};

static bool srv_allow_parse(const char *s, size_t len, bool with_prefix,
                            struct srv_allow_addr *out);
static bool srv_allow_next(const char **p, const char **start, size_t *len);
static bool srv_allow_in(const struct srv_allow_addr *net, const struct srv_allow_addr *a);

const char *srv_allow_check(const char *list)
{
    static char bad[80];
    const char *p = list, *s;
    size_t n;
    struct srv_allow_addr a;
    while (srv_allow_next(&p, &s, &n)) {
        if (!srv_allow_parse(s, n, true, &a)) {
            snprintf(bad, sizeof bad, "%.*s", (int)n, s);
            return bad;
        }
    }
    return NULL;
}

bool srv_allow_match(const char *list, struct str addr)
{
    struct srv_allow_addr a, net;
    if (!srv_allow_parse(addr.p, addr.len, false, &a))
        return false;
    const char *p = list, *s;
    size_t n;
    while (srv_allow_next(&p, &s, &n))
        if (srv_allow_parse(s, n, true, &net) && srv_allow_in(&net, &a))
            return true;
    return false;
}

/* ---- helpers ---- */

/* The next entry of a comma/space separated list; false at the end. */
static bool srv_allow_next(const char **p, const char **start, size_t *len)
{
    const char *s = *p;
    while (*s == ',' || *s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return false;
    const char *e = s;
    while (*e && *e != ',' && *e != ' ' && *e != '\t')
        e++;
    *start = s;
    *len = (size_t)(e - s);
    *p = e;
    return true;
}

static bool srv_allow_parse(const char *s, size_t len, bool with_prefix,
                            struct srv_allow_addr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (!s || len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strlen(buf) != len)
        return false;
    long bits = -1;
    char *slash = strchr(buf, '/');
    if (slash) {
        char *end;
        if (!with_prefix || slash[1] < '0' || slash[1] > '9')
            return false;
        bits = strtol(slash + 1, &end, 10);
        if (*end || bits > 128)
            return false;
        *slash = '\0';
    }
    memset(out, 0, sizeof *out);
    struct in_addr v4;
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        if (bits > 32)
            return false;
        out->b[10] = out->b[11] = 0xff;
        memcpy(out->b + 12, &v4, 4);
        out->bits = bits < 0 ? 128 : 96 + (unsigned)bits;
        return true;
    }
    if (inet_pton(AF_INET6, buf, out->b) != 1)
        return false;
    out->bits = bits < 0 ? 128 : (unsigned)bits;
    return true;
}

static bool srv_allow_in(const struct srv_allow_addr *net, const struct srv_allow_addr *a)
{
    unsigned full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(net->b, a->b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (net->b[full] & mask) == (a->b[full] & mask);
}
