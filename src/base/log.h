/*
 * base/log.h - one-line event log: "2026-11-26T23:59:01Z info 1234 message".
 * Owns: the log fd (stderr or a configured file), the level threshold, the
 *   rate limit of refused-request lines, the escaping of client bytes.
 * Invariants: one write(2) per line, so lines from several workers sharing
 *   the file never interleave. Secrets are never passed to these functions;
 *   bytes from a client only through log_client() (escaped, bounded).
 * Context: master and workers; log_reopen() is called on SIGUSR1.
 */
#ifndef TASKLIST_SERVER_LOG_H
#define TASKLIST_SERVER_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "str.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Log to path (appending), or to stderr when path is NULL or empty.
 * Returns 0, or -1 with errno set (logging stays on stderr). */
int log_open(const char *path);
/* Reopen the same file (after logrotate moved it). */
int log_reopen(void);
void log_set_level(enum log_level level);
/* Parse "debug", "info", "warn", "error"; false when unknown. */
bool log_level_parse(const char *s, enum log_level *out);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A refused request (cross-origin, wrong Host, bad request, unknown FastCGI
 * client, idle connection), at info level and at a bounded rate: at most
 * LOG_REFUSED_PER_S lines a second per process; the next line written says
 * how many were left out ("; 1234 more refused requests not logged"), so a
 * flood costs a few lines, not one per request. */
#define LOG_REFUSED_PER_S 10
void log_refused(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* True when refused requests were left out and not yet counted in a line. */
bool log_refused_pending(void);
/* Once the second they were left out in is over, write their count as a
 * line of its own ("1234 more refused requests not logged"); a worker calls
 * it after each request and when idle for a second, so a flood that stops
 * is still accounted for. */
void log_refused_flush(void);

/* Bytes that came from a client (path, header values), made safe for a log
 * line: control bytes (C0, DEL), '"' and '\\', bytes that are not UTF-8,
 * and the C1 and bidi control code points are written as \\xHH (per byte), so
 * nothing can end the line, reach the terminal as an escape sequence or
 * reorder the text; at most LOG_CLIENT_MAX input bytes are shown, then
 * "...(N bytes)". Returns buf, always NUL-terminated; buf_len >= LOG_CLIENT_BUF
 * never truncates mid-escape. Print it between double quotes. */
#define LOG_CLIENT_MAX 160
#define LOG_CLIENT_BUF (LOG_CLIENT_MAX * 4 + 32)
const char *log_client(struct str s, char *buf, size_t buf_len);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
