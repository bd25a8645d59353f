/*
 * base/pid.c - tl_pid (pid.h).
 */
#include "pid.h"

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

static pid_t tl_pid_cached;   /* 0: not read yet in this process */

static void tl_pid_refresh(void)
{
    tl_pid_cached = getpid();
}

pid_t tl_pid(void)
{
    static bool tracking;   /* the atfork handler is registered (inherited by children) */
    if (!tracking)
        tracking = pthread_atfork(NULL, NULL, tl_pid_refresh) == 0;
    if (!tracking)
        return getpid();    /* cannot follow forks: ask every time */
    if (!tl_pid_cached)
        tl_pid_cached = getpid();
    return tl_pid_cached;
}
