/*
 * base/clock.h - the one clock every layer reads for timeouts and intervals.
 * Owns: milliseconds on CLOCK_MONOTONIC (never jumps with the wall clock).
 * Context: any process; no allocation, no system call (vDSO).
 */
#ifndef TASKLIST_BASE_CLOCK_H
#define TASKLIST_BASE_CLOCK_H

#include <stdint.h>

/* Milliseconds since an arbitrary start, monotonic. */
int64_t tl_clock_ms(void);
/* The same clock in microseconds (latency histograms). */
int64_t tl_clock_us(void);

#endif
