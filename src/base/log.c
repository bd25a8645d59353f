/*
 * base/log.c - the event log of log.h. Lines are formatted into a stack
 * buffer and written with one write(2); long messages are truncated.
 * Also the rate limit of refused-request lines and the escaping of client
 * bytes (log_refused, log_client).
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "utf8.h"

static int log_fd = STDERR_FILENO;
/* log_refused's window: the current monotonic second, lines written in it,
 * lines left out since the last one written (per process). */
static int64_t log_refused_second;
static unsigned log_refused_in_second;
static uint64_t log_refused_suppressed;

static void log_vmsg(enum log_level level, const char *suffix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
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
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, NULL, fmt, ap);
    va_end(ap);
}

void log_refused(const char *fmt, ...)
{
    if (LOG_INFO < log_threshold)
        return;
    int64_t second = tl_clock_ms() / 1000;
    if (second != log_refused_second) {
        log_refused_second = second;
        log_refused_in_second = 0;
    }
    if (log_refused_in_second >= LOG_REFUSED_PER_S) {
        log_refused_suppressed++;
        return;
    }
    log_refused_in_second++;
    char note[96] = "";
    if (log_refused_suppressed)
        snprintf(note, sizeof note, "; %llu more refused requests not logged",
                 (unsigned long long)log_refused_suppressed);
    log_refused_suppressed = 0;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_INFO, note, fmt, ap);
    va_end(ap);
}

bool log_refused_pending(void)
{
    return log_refused_suppressed > 0;
}

void log_refused_flush(void)
{
    if (!log_refused_suppressed)
        return;
    if (tl_clock_ms() / 1000 == log_refused_second)
        return;
    log_info("%llu more refused requests not logged",
             (unsigned long long)log_refused_suppressed);
    log_refused_suppressed = 0;
}

const char *log_client(struct str s, char *buf, size_t buf_len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, shown = s.len > LOG_CLIENT_MAX ? LOG_CLIENT_MAX : s.len;
    struct str head = { s.p, shown };
    size_t pos = 0;
    if (buf_len == 0)
        return buf;
    while (pos < shown) {
        size_t at = pos;
        int32_t cp = utf8_next(head, &pos);
        bool plain = cp >= 0x20 && cp != 0x7F && cp != '"' && cp != '\\' &&
                     !utf8_is_control(cp) && !utf8_is_bidi_control(cp);
        size_t need = plain ? pos - at : 4 * (pos - at);
        if (o + need + 1 > buf_len)
            break;
        for (size_t k = at; k < pos; k++) {
            unsigned char c = (unsigned char)s.p[k];
            if (plain) {
                buf[o++] = (char)c;
            } else {
                buf[o++] = '\\';
                buf[o++] = 'x';
                buf[o++] = hex[c >> 4];
                buf[o++] = hex[c & 15];
            }
        }
    }
    buf[o] = '\0';
    if (s.len > shown || pos < shown)
        snprintf(buf + o, buf_len - o, "...(%zu bytes)", s.len);
    return buf;
}

static void log_vmsg(enum log_level level, const char *suffix, const char *fmt, va_list ap)
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
    int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    if (m < 0)
        m = 0;
    n += (size_t)m;
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    if (suffix && suffix[0]) {
        m = snprintf(line + n, sizeof line - n - 1, "%s", suffix);
        n += m > 0 ? (size_t)m : 0;
        if (n > sizeof line - 2)
            n = sizeof line - 2;
    }
    line[n++] = '\n';
    ssize_t w = write(log_fd, line, n);
    (void)w;
    errno = saved_errno;
}
