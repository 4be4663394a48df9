/*
 * The monotonic clock every part of the project measures intervals with, and
 * the wall clock for timestamps.
 */
#ifndef MEME_CLOCK_H
#define MEME_CLOCK_H

#include <stdint.h>

/* Seconds and milliseconds on CLOCK_MONOTONIC (not wall time). */
double clock_now_s(void);
double clock_now_ms(void);
/* Wall-clock time in milliseconds since the Unix epoch (for timestamps that
 * leave the process, never for intervals). */
int64_t clock_wall_ms(void);

#endif
