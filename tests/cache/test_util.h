/*
 * tests/cache/test_util.h - helpers shared by the cache client tests.
 * Owns: a hand-filled struct cache_settings (config.c is not needed), spawning and
 *   driving mock_memcached through its control port, a monotonic clock, and
 *   reading the log file back.
 * Context: test programs only (static functions, one copy per test).
 */
#ifndef TASKLIST_TESTS_CACHE_TEST_UTIL_H
#define TASKLIST_TESTS_CACHE_TEST_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/client.h"

#include "../lib/check.h"

struct tmock {
    pid_t pid;
    unsigned port, control;
};


/* The built-in defaults (the tutorial's settings) pointed at servers. */
static inline void t_cfg(struct cache_settings *c, const char *servers, const char *user,
                         const char *pass)
{
    *c = (struct cache_settings)CACHE_SETTINGS_DEFAULT;
    snprintf(c->servers, sizeof c->servers, "%s", servers);
    snprintf(c->username, sizeof c->username, "%s", user ? user : "");
    snprintf(c->password, sizeof c->password, "%s", pass ? pass : "");
}

static inline double t_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void t_sleep(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Start mock_memcached (port 0 = any free port); extra args may be NULL. */
static inline int t_mock_start(struct tmock *m, const char *path, unsigned port, const char *user,
                               const char *pass, const char *item_size)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* A test that crashes must not leave its mock running (holding
         * meson's output pipe open). */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        char portbuf[16];
        snprintf(portbuf, sizeof portbuf, "%u", port);
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        const char *argv[12] = { path, "--port", portbuf };
        int n = 3;
        if (user) {
            argv[n++] = "--user";
            argv[n++] = user;
            argv[n++] = "--pass";
            argv[n++] = pass;
        }
        if (item_size) {
            argv[n++] = "--item-size";
            argv[n++] = item_size;
        }
        argv[n] = NULL;
        execv(path, (char **)argv);
        _exit(127);
    }
    close(pfd[1]);
    char line[128] = { 0 };
    size_t got = 0;
    while (got < sizeof line - 1) {
        ssize_t r = read(pfd[0], line + got, 1);
        if (r <= 0 || line[got] == '\n')
            break;
        got++;
    }
    close(pfd[0]);
    m->pid = pid;
    if (sscanf(line, "PORT %u CONTROL %u", &m->port, &m->control) != 2) {
        fprintf(stderr, "mock_memcached did not start: \"%s\"\n", line);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return 0;
}

static inline void t_mock_kill(struct tmock *m)
{
    if (m->pid > 0) {
        kill(m->pid, SIGKILL);
        waitpid(m->pid, NULL, 0);
        m->pid = 0;
    }
}

/* Send one control command; out gets the reply lines without "END". */
static inline int t_mock_cmd(const struct tmock *m, const char *cmd, char *out, size_t out_len)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)m->control) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof req, "%s\n", cmd);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t got = 0;
    out[0] = '\0';
    for (;;) {
        if (got + 1 >= out_len)
            break;
        ssize_t r = read(fd, out + got, out_len - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        out[got] = '\0';
        if (got >= 4 && (strcmp(out + got - 4, "END\n") == 0))
            break;
    }
    close(fd);
    if (got >= 4 && strcmp(out + got - 4, "END\n") == 0)
        out[got - 4] = '\0';
    return 0;
}

static inline unsigned long long t_mock_stat(const struct tmock *m, const char *name)
{
    char buf[8192];
    if (t_mock_cmd(m, "stats", buf, sizeof buf) < 0)
        return ~0ull;
    size_t nl = strlen(name);
    for (char *line = buf; *line;) {
        char *end = strchr(line, '\n');
        if (strncmp(line, name, nl) == 0 && line[nl] == ' ')
            return strtoull(line + nl + 1, NULL, 10);
        if (!end)
            break;
        line = end + 1;
    }
    return ~0ull;
}

/* Whole file as a NUL-terminated heap string ("" when missing). */
static inline char *t_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    size_t got = fread(p, 1, (size_t)n, f);
    p[got] = '\0';
    fclose(f);
    return p;
}

static inline int t_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

#endif
