/*
 * tests/server/test_allow.c - srv_allow_*: the monitor_allow lists (addresses
 *   and CIDRs, IPv4, IPv6, IPv4-mapped) and what they let in.
 */
#include <stdio.h>
#include <string.h>

#include "server/allow.h"

#include "../lib/check.h"

static const struct {
    const char *list, *addr;
    bool want;
} match_cases[] = {
    { "127.0.0.0/8, ::1", "127.0.0.1", true },
    { "127.0.0.0/8, ::1", "127.1.2.3", true },
    { "127.0.0.0/8, ::1", "::1", true },
    { "127.0.0.0/8, ::1", "::ffff:127.0.0.1", true },
    { "127.0.0.0/8, ::1", "10.0.0.1", false },
    { "127.0.0.0/8, ::1", "::2", false },
    { "127.0.0.0/8, ::1", "", false },
    { "127.0.0.0/8, ::1", "not-an-address", false },
    { "127.0.0.0/8, ::1", "127.0.0.1/8", false },
    { "", "127.0.0.1", false },
    { "10.1.2.3", "10.1.2.3", true },
    { "10.1.2.3", "10.1.2.4", false },
    { "10.1.2.0/23", "10.1.3.200", true },
    { "10.1.2.0/23", "10.1.4.1", false },
    { "0.0.0.0/0", "203.0.113.9", true },
    { "fd00::/8 192.168.0.0/16", "fd12:3456::1", true },
    { "fd00::/8 192.168.0.0/16", "fe80::1", false },
    { "fd00::/8,192.168.0.0/16", "192.168.44.1", true },
    { "garbage, 10.0.0.1", "10.0.0.1", true },
};

static const struct {
    const char *list, *bad;
} check_cases[] = {
    { "127.0.0.0/8, ::1", NULL },
    { "", NULL },
    { " , ,", NULL },
    { "10.0.0.0/8 ::/0", NULL },
    { "localhost", "localhost" },
    { "10.0.0.1, 10.0.0.0/33", "10.0.0.0/33" },
    { "::1/129", "::1/129" },
    { "10.0.0.1/", "10.0.0.1/" },
    { "10.0.0.1/x", "10.0.0.1/x" },
    { "1.2.3.4.5", "1.2.3.4.5" },
};

int main(void)
{
    for (size_t i = 0; i < sizeof match_cases / sizeof *match_cases; i++) {
        bool got = srv_allow_match(match_cases[i].list, str_c(match_cases[i].addr));
        CHECK(got == match_cases[i].want, "match case %zu: \"%s\" in \"%s\": got %d", i,
              match_cases[i].addr, match_cases[i].list, got);
    }
    for (size_t i = 0; i < sizeof check_cases / sizeof *check_cases; i++) {
        const char *bad = srv_allow_check(check_cases[i].list);
        bool ok = check_cases[i].bad ? bad && strcmp(bad, check_cases[i].bad) == 0 : bad == NULL;
        CHECK(ok, "check case %zu: \"%s\": got \"%s\"", i, check_cases[i].list, bad ? bad : "(ok)");
    }
    return check_exit();
}
