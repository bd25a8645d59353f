/*
 * base/hostport.h - the one parser of "HOST", "HOST:PORT" and "[IPV6]:PORT".
 * Owns: the syntax every host:port setting shares: the cache server list
 *   (cache/client_keys.c), the hosts of DATABASE_URL (db/url.c) and the TCP
 *   listen address (server/config.c, server/listen.c). Each caller splits its
 *   own list and words its own messages from enum hostport_problem.
 * Syntax: HOST[:PORT] or [HOST][:PORT]. An IPv6 address must be bracketed:
 *   an unbracketed host ends at its first ':' and what follows must be a
 *   port ("::1:80" is refused, not guessed at). PORT is 1 to 5 decimal
 *   digits, 1..65535, nothing else (no sign, no spaces). HOST is at most
 *   HOSTPORT_HOST_MAX - 1 bytes; no name resolution, no check of the host's
 *   characters beyond that (getaddrinfo or the library judges them).
 * Context: any process; pure functions, libc only.
 */
#ifndef TASKLIST_BASE_HOSTPORT_H
#define TASKLIST_BASE_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>

#define HOSTPORT_HOST_MAX 256

/* What is wrong with an item. Callers turn it into their own message (the
 * table of hostport_problem_text is a neutral default). */
enum hostport_problem {
    HOSTPORT_OK = 0,
    HOSTPORT_UNCLOSED,      /* "[" without "]" */
    HOSTPORT_AFTER_BRACKET, /* "]" followed by something other than ":PORT" */
    HOSTPORT_BAD_HOST,      /* empty (unless allowed) or too long */
    HOSTPORT_BAD_PORT,      /* ':' then not 1..65535, or no port where one is required */
    HOSTPORT__MAX
};

/* Flags of hostport_parse. */
#define HOSTPORT_PORT_REQUIRED 1u   /* "HOST" alone is HOSTPORT_BAD_PORT */
#define HOSTPORT_EMPTY_HOST_OK 2u   /* ":PORT", "[]" and "" give host "" (a default) */

struct hostport {
    char host[HOSTPORT_HOST_MAX];   /* without the brackets, NUL-terminated */
    unsigned port;                  /* default_port when the item has none */
    bool has_port;                  /* the item named a port */
    bool is_bracketed;              /* the host was written as [HOST] */
};

/* Parse the len bytes at item (no NUL needed) into *out. HOSTPORT_OK, or the
 * first problem found; *out is unspecified then. */
enum hostport_problem hostport_parse(const char *item, size_t len, unsigned default_port,
                                     unsigned flags, struct hostport *out);

/* A short English text for p ("unclosed '['", ...); never NULL. */
const char *hostport_problem_text(enum hostport_problem p);

#endif
