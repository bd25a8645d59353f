/*
 * server/clients.c - [server] allowed_clients: parse and match (clients.h).
 */
#include "clients.h"

#include <arpa/inet.h>
#include <string.h>

enum tl_err srv_clients_parse(const char *spec, struct srv_clients *out, struct tl_diag *d)
{
    memset(out, 0, sizeof *out);
    const char *p = spec;
    unsigned n = 0;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *next = p + len + (p[len] == ',');
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        char item[INET6_ADDRSTRLEN + 1];
        if (len == 0 || len >= sizeof item) {
            tl_diag_set(d, NULL, 0, 0, "[server] allowed_clients: empty or overlong item \"%.*s\"",
                        (int)(len > 60 ? 60 : len), p);
            return TL_EINVAL;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (!strcmp(item, "any")) {
            out->is_any = true;
        } else if (out->n4 < SRV_CLIENTS_MAX && inet_pton(AF_INET, item, &out->v4[out->n4]) == 1) {
            out->n4++;
        } else if (out->n6 < SRV_CLIENTS_MAX && inet_pton(AF_INET6, item, &out->v6[out->n6]) == 1) {
            out->n6++;
        } else {
            tl_diag_set(d, NULL, 0, 0,
                        "[server] allowed_clients: \"%s\" is not an IPv4 or IPv6 address (or \"any\"; "
                        "at most %d of each)", item, SRV_CLIENTS_MAX);
            return TL_EINVAL;
        }
        n++;
        p = next;
    }
    if (n == 0) {
        tl_diag_set(d, NULL, 0, 0, "[server] allowed_clients is empty (list addresses, or \"any\")");
        return TL_EINVAL;
    }
    return TL_OK;
}

bool srv_clients_allow(const struct srv_clients *c, const struct sockaddr *peer)
{
    if (c->is_any)
        return true;
    struct in_addr v4;
    if (peer->sa_family == AF_INET) {
        v4 = ((const struct sockaddr_in *)(const void *)peer)->sin_addr;
    } else if (peer->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr;
        if (!IN6_IS_ADDR_V4MAPPED(a)) {
            for (unsigned i = 0; i < c->n6; i++)
                if (!memcmp(&c->v6[i], a, sizeof *a))
                    return true;
            return false;
        }
        memcpy(&v4, &a->s6_addr[12], sizeof v4);
    } else {
        return true;    /* AF_UNIX: the socket file's mode and owner decide */
    }
    for (unsigned i = 0; i < c->n4; i++)
        if (c->v4[i].s_addr == v4.s_addr)
            return true;
    return false;
}
