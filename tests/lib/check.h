/*
 * tests/lib/check.h - the assertion every C test uses.
 * CHECK(cond, fmt, ...) records a failure with file:line, the condition and a
 * formatted explanation (case index, input), and carries on, so one run shows
 * every broken case. main() ends with `return check_exit();`.
 */
#ifndef TASKLIST_TESTS_CHECK_H
#define TASKLIST_TESTS_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            failures++;                                                       \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

/* Exit status for main: 0 when every CHECK held. */
static inline int check_exit(void)
{
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}

#endif
