/*
 * server/clients.h - which FastCGI clients may connect over TCP
 *   ([server] allowed_clients, PHP-FPM's listen.allowed_clients).
 * Owns: parsing the comma-separated address list and matching a peer
 *   address against it.
 * Invariants: addresses are exact (no masks, no names: a name would need DNS
 *   at accept time); an IPv4 peer seen through an IPv6 socket
 *   (::ffff:127.0.0.1) matches its IPv4 entry. "any" allows everyone.
 *   Unix-socket peers are never checked (the socket's mode decides).
 * Context: master (validation) and workers (at accept).
 */
#ifndef TASKLIST_SERVER_CLIENTS_H
#define TASKLIST_SERVER_CLIENTS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "../base/err.h"

#define SRV_CLIENTS_MAX 32

struct srv_clients {
    bool is_any;
    unsigned n4, n6;
    struct in_addr v4[SRV_CLIENTS_MAX];
    struct in6_addr v6[SRV_CLIENTS_MAX];
};

/* Parse "127.0.0.1, ::1" (or "any") into out. TL_EINVAL with d->msg naming
 * the bad item (an empty list, a name, a mask, more than SRV_CLIENTS_MAX). */
enum tl_err srv_clients_parse(const char *spec, struct srv_clients *out, struct tl_diag *d);

/* True when the peer may talk to us: not an IP peer (unix socket), "any", or
 * its address is listed. */
bool srv_clients_allow(const struct srv_clients *c, const struct sockaddr *peer);

#endif
