/*
 * examples.h: small helpers shared by the connman C examples (header only).
 *
 * Nothing here is connman-specific except CHECK(), which turns a connman_result
 * into a readable message. Copy what you need into your own program.
 */
#ifndef CONNMAN_EXAMPLES_H
#define CONNMAN_EXAMPLES_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connman.h"

/* Milliseconds on a clock that never jumps (for intervals and deadlines). */
static inline long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Microseconds on the same clock (for round-trip times). */
static inline long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/*
 * printf with a wall-clock timestamp ("12:34:56.789 "), one whole line per call.
 * Safe from any thread, callbacks included (stdio locks the stream).
 */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
static inline void say(const char *fmt, ...)
{
    struct timespec ts;
    struct tm tm;
    char stamp[16];
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
    flockfile(stdout);
    printf("%s.%03ld ", stamp, ts.tv_nsec / 1000000L);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    funlockfile(stdout);
}

/* Evaluate a connman call; on failure print where and why, and exit. */
#define CHECK(call)                                                             \
    do {                                                                        \
        connman_result check_rc_ = (call);                                      \
        if (check_rc_ != CONNMAN_OK) {                                          \
            fprintf(stderr, "%s:%d: %s failed: %s (%d)\n", __FILE__, __LINE__,  \
                    #call, connman_strerror(check_rc_), (int)check_rc_);        \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

/* The port argument: 1..65535, or exit with a usage message. */
static inline unsigned short parse_port(const char *s, const char *prog)
{
    char *end = NULL;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || *end != '\0' || v < 1 || v > 65535) {
        fprintf(stderr, "usage: %s PORT [...]  (PORT of a running echo server)\n", prog);
        exit(2);
    }
    return (unsigned short)v;
}

#endif
