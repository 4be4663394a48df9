/*
 * The monotonic clock every part of the project measures intervals with.
 */
#ifndef MEME_CLOCK_H
#define MEME_CLOCK_H

/* Seconds and milliseconds on CLOCK_MONOTONIC (not wall time). */
double clock_now_s(void);
double clock_now_ms(void);

#endif
