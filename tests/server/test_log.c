/*
 * tests/server/test_log.c - what a client can put into the log: log_client()
 * on a table of hostile inputs (line breaks forging a line, terminal escape
 * sequences, quotes, invalid UTF-8, C1 and bidi controls, 2 KB paths), and
 * log_refused()'s rate limit with its count of the lines left out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

#include "../lib/check.h"

static const struct {
    const char *in, *want;
} cases[] = {
    { "/", "/" },
    { "/caf\xc3\xa9 \xe6\x97\xa5", "/caf\xc3\xa9 \xe6\x97\xa5" },             /* UTF-8 text kept */
    { "/a\n2026-01-01T00:00:00Z error 1 forged", "/a\\x0a2026-01-01T00:00:00Z error 1 forged" },
    { "/a\r\nb", "/a\\x0d\\x0ab" },
    { "\x1b[2J\x1b]0;pwned\x07", "\\x1b[2J\\x1b]0;pwned\\x07" },
    { "say \"hi\" \\ bye", "say \\x22hi\\x22 \\x5c bye" },
    { "a\x7f" "b\tc", "a\\x7fb\\x09c" },
    { "a\xc2\x9b" "31m", "a\\xc2\\x9b31m" },                                   /* C1 CSI */
    { "a\xc2\x85" "b", "a\\xc2\\x85b" },                                       /* NEL */
    { "x\xe2\x80\xaey", "x\\xe2\\x80\\xaey" },                                 /* U+202E */
    { "caf\xe9", "caf\\xe9" },                                                  /* Latin-1 */
    { "\xc0\xaf\xff", "\\xc0\\xaf\\xff" },
};

static int count_lines(const char *path, const char *needle, unsigned long long *suppressed)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    *suppressed = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (!strstr(line, needle))
            continue;
        n++;
        const char *m = strstr(line, "; ");
        unsigned long long k;
        if (m && sscanf(m, "; %llu more refused requests not logged", &k) == 1)
            *suppressed += k;
    }
    if (f)
        fclose(f);
    return n;
}

int main(void)
{
    char buf[LOG_CLIENT_BUF];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        log_client(str_c(cases[i].in), buf, sizeof buf);
        CHECK(!strcmp(buf, cases[i].want), "case %zu: got \"%s\", want \"%s\"", i, buf, cases[i].want);
    }

    /* bounded: a 2 KB path shows LOG_CLIENT_MAX bytes and its length */
    char big[2049];
    memset(big, 'x', 2048);
    big[2048] = '\0';
    log_client(str_c(big), buf, sizeof buf);
    CHECK(strlen(buf) == LOG_CLIENT_MAX + strlen("...(2048 bytes)") &&
              !strcmp(buf + LOG_CLIENT_MAX, "...(2048 bytes)"),
          "2 KB input: \"%.40s...\" (%zu bytes)", buf, strlen(buf));
    /* all escaped: 4 output bytes per input byte still fits LOG_CLIENT_BUF */
    memset(big, '\n', 2048);
    log_client(str_c(big), buf, sizeof buf);
    CHECK(strlen(buf) < sizeof buf && !strchr(buf, '\n') && strstr(buf, "...(2048 bytes)"),
          "2 KB of newlines: %zu bytes out", strlen(buf));
    /* a small buffer never splits an escape */
    char small[10];
    log_client(STR("\n\n\n\n"), small, sizeof small);
    CHECK(!strncmp(small, "\\x0a\\x0a", 8), "small buffer: \"%s\"", small);

    /* rate limit: 100 refusals in a burst -> at most two seconds' worth of
     * lines, and every refusal is either a line or counted in a later one */
    char path[] = "/tmp/tl-test-log-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    CHECK(log_open(path) == 0, "log_open");
    log_set_level(LOG_INFO);
    for (int i = 0; i < 100; i++)
        log_refused("refused-%s", "probe");
    unsigned long long suppressed;
    int lines = count_lines(path, "refused-probe", &suppressed);
    CHECK(lines >= LOG_REFUSED_PER_S && lines <= 2 * LOG_REFUSED_PER_S, "burst of 100 gave %d lines", lines);
    sleep(1);
    log_refused("refused-%s", "probe");
    lines = count_lines(path, "refused-probe", &suppressed);
    CHECK((unsigned long long)lines + suppressed == 101,
          "%d lines + %llu counted as left out, want 101", lines, suppressed);
    log_open(NULL);
    unlink(path);
    return check_exit();
}
