/*
 * base/pid.h - this process's id without a system call per question.
 * Owns: the cached pid, refreshed in the child after every fork
 *   (pthread_atfork), so a handle can tell cheaply that it was inherited.
 * Context: any process; single-threaded use.
 */
#ifndef TASKLIST_BASE_PID_H
#define TASKLIST_BASE_PID_H

#include <sys/types.h>

/* getpid(), read once per process (a database connection asks before every
 * statement whether it was opened in this process). */
pid_t tl_pid(void);

#endif
