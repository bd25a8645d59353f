/*
 * server/log.c - the event log of log.h. Lines are formatted into a stack
 * buffer and written with one write(2); long messages are truncated.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = STDERR_FILENO;
static char log_path[4096];
static enum log_level log_threshold = LOG_INFO;

static const char *const log_level_names[] = {
    [LOG_DEBUG] = "debug", [LOG_INFO] = "info", [LOG_WARN] = "warn", [LOG_ERROR] = "error",
};

int log_open(const char *path)
{
    if (!path || !*path) {
        log_path[0] = '\0';
        if (log_fd != STDERR_FILENO)
            close(log_fd);
        log_fd = STDERR_FILENO;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = fd;
    snprintf(log_path, sizeof log_path, "%s", path);
    return 0;
}

int log_reopen(void)
{
    if (!log_path[0])
        return 0;
    char path[sizeof log_path];
    memcpy(path, log_path, sizeof path);
    return log_open(path);
}

void log_set_level(enum log_level level)
{
    log_threshold = level;
}

bool log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < sizeof log_level_names / sizeof *log_level_names; i++) {
        if (strcmp(s, log_level_names[i]) == 0) {
            *out = (enum log_level)i;
            return true;
        }
    }
    return false;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < log_threshold)
        return;
    int saved_errno = errno;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%SZ", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, " %s %d ", log_level_names[level], (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += (size_t)m;
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(log_fd, line, n);
    (void)w;
    errno = saved_errno;
}
