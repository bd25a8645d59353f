/*
 * server/log.h - one-line event log: "2026-11-26T23:59:01Z info 1234 message".
 * Owns: the log fd (stderr or a configured file), the level threshold.
 * Invariants: one write(2) per line, so lines from several workers sharing
 *   the file never interleave. Secrets are never passed to these functions.
 * Context: master and workers; log_reopen() is called on SIGUSR1.
 */
#ifndef TASKLIST_SERVER_LOG_H
#define TASKLIST_SERVER_LOG_H

#include <stdbool.h>

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

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
