/*
 * server/allow.h - address lists for the monitoring endpoints.
 * Owns: "127.0.0.0/8, ::1, 10.1.2.3"-style lists (addresses or CIDRs, IPv4
 *   and IPv6, comma or space separated) and matching a client address.
 * Context: master (validation) and workers (matching, per request; no
 *   allocation).
 */
#ifndef TASKLIST_SERVER_ALLOW_H
#define TASKLIST_SERVER_ALLOW_H

#include <stdbool.h>

#include "../base/str.h"

/* NULL when every entry of list parses; otherwise the first bad entry (in a
 * static buffer, overwritten by the next call). An empty list is valid and
 * matches nothing. */
const char *srv_allow_check(const char *list);

/* Whether addr (as nginx sends REMOTE_ADDR: "127.0.0.1", "::1",
 * "::ffff:127.0.0.1") falls in one of list's entries. Bad entries and a bad
 * or empty addr never match. */
bool srv_allow_match(const char *list, struct str addr);

#endif
