/*
 * tests/base/test_hostport.c - base/hostport.h, table-driven: hosts with and
 *   without ports, bracketed IPv6, the default port, the port range
 *   1..65535, the flags, and every problem (each case names its input).
 */
#include <string.h>

#include "base/hostport.h"

#include "../lib/check.h"

#define REQ HOSTPORT_PORT_REQUIRED
#define EMPTY HOSTPORT_EMPTY_HOST_OK

static const struct {
    const char *in;
    unsigned flags;
    enum hostport_problem want;
    const char *host;       /* when HOSTPORT_OK */
    unsigned port;          /* when HOSTPORT_OK; the default is 7 */
    bool has_port, is_bracketed;
} cases[] = {
    { "127.0.0.1:11211", 0, HOSTPORT_OK, "127.0.0.1", 11211, true, false },
    { "mc.example.com", 0, HOSTPORT_OK, "mc.example.com", 7, false, false },
    { "h:1", 0, HOSTPORT_OK, "h", 1, true, false },
    { "h:65535", 0, HOSTPORT_OK, "h", 65535, true, false },
    { "h:08080", 0, HOSTPORT_OK, "h", 8080, true, false },
    { "[::1]:11311", 0, HOSTPORT_OK, "::1", 11311, true, true },
    { "[fe80::1]", 0, HOSTPORT_OK, "fe80::1", 7, false, true },
    { "*:80", REQ, HOSTPORT_OK, "*", 80, true, false },
    { "", EMPTY, HOSTPORT_OK, "", 7, false, false },
    { "[]", EMPTY, HOSTPORT_OK, "", 7, false, true },
    { ":3306", EMPTY, HOSTPORT_OK, "", 3306, true, false },
    /* problems */
    { "h:0", 0, HOSTPORT_BAD_PORT, NULL, 0, false, false },
    { "h:65536", 0, HOSTPORT_BAD_PORT, NULL, 0, false, false },
    { "h:123456", 0, HOSTPORT_BAD_PORT, NULL, 0, false, false },
    { "h:", 0, HOSTPORT_BAD_PORT, NULL, 0, false, false },
    { "h:x1", 0, HOSTPORT_BAD_PORT, NULL, 0, false, false },
    { "h:+80", 0, HOSTPORT_BAD_PORT, NULL, 0, false, false },
    { "h: 80", 0, HOSTPORT_BAD_PORT, NULL, 0, false, false },
    { "h:80 ", 0, HOSTPORT_BAD_PORT, NULL, 0, false, false },
    { "a:b:1", 0, HOSTPORT_BAD_PORT, NULL, 0, false, false },
    { "localhost", REQ, HOSTPORT_BAD_PORT, NULL, 0, false, false },
    { "[::1]", REQ, HOSTPORT_BAD_PORT, NULL, 0, false, false },
    { "[::1]:", 0, HOSTPORT_BAD_PORT, NULL, 0, false, false },
    { "::1:9000", 0, HOSTPORT_BAD_HOST, NULL, 0, false, false },
    { ":11211", 0, HOSTPORT_BAD_HOST, NULL, 0, false, false },
    { "", 0, HOSTPORT_BAD_HOST, NULL, 0, false, false },
    { "[]:80", 0, HOSTPORT_BAD_HOST, NULL, 0, false, false },
    { "[::1", 0, HOSTPORT_UNCLOSED, NULL, 0, false, false },
    { "[", EMPTY, HOSTPORT_UNCLOSED, NULL, 0, false, false },
    { "[::1]x", 0, HOSTPORT_AFTER_BRACKET, NULL, 0, false, false },
    { "[::1]9000", 0, HOSTPORT_AFTER_BRACKET, NULL, 0, false, false },
};

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct hostport hp;
        enum hostport_problem p = hostport_parse(cases[i].in, strlen(cases[i].in), 7, cases[i].flags, &hp);
        CHECK(p == cases[i].want, "case %zu \"%s\": %s, want %s", i, cases[i].in,
              hostport_problem_text(p), hostport_problem_text(cases[i].want));
        if (p != HOSTPORT_OK || cases[i].want != HOSTPORT_OK)
            continue;
        CHECK(strcmp(hp.host, cases[i].host) == 0 && hp.port == cases[i].port &&
                  hp.has_port == cases[i].has_port && hp.is_bracketed == cases[i].is_bracketed,
              "case %zu \"%s\": host \"%s\" port %u has_port %d bracketed %d", i, cases[i].in, hp.host,
              hp.port, hp.has_port, hp.is_bracketed);
    }

    /* only len bytes are read: the rest of a list is not part of the item */
    struct hostport hp;
    const char *list = "a:1,b:2";
    CHECK(hostport_parse(list, 3, 7, 0, &hp) == HOSTPORT_OK && !strcmp(hp.host, "a") && hp.port == 1,
          "first item of \"%s\": %s:%u", list, hp.host, hp.port);
    /* the longest host that fits, and one byte more */
    char big[HOSTPORT_HOST_MAX + 8];
    memset(big, 'x', HOSTPORT_HOST_MAX - 1);
    strcpy(big + HOSTPORT_HOST_MAX - 1, ":80");
    CHECK(hostport_parse(big, strlen(big), 7, 0, &hp) == HOSTPORT_OK && strlen(hp.host) == HOSTPORT_HOST_MAX - 1,
          "a %d-byte host fits", HOSTPORT_HOST_MAX - 1);
    memset(big, 'x', HOSTPORT_HOST_MAX);
    strcpy(big + HOSTPORT_HOST_MAX, ":80");
    CHECK(hostport_parse(big, strlen(big), 7, 0, &hp) == HOSTPORT_BAD_HOST, "a %d-byte host is too long",
          HOSTPORT_HOST_MAX);
    /* every problem has a text */
    for (int p = 0; p < HOSTPORT__MAX; p++)
        CHECK(hostport_problem_text((enum hostport_problem)p)[0], "problem %d has no text", p);
    return check_exit();
}
