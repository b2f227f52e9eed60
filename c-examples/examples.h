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
#include <stdbool.h>
#include <stdint.h>
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

/*
 * Splits a byte stream (what on_data receives, in pieces of any size) into lines:
 * line_feed calls fn(ctx, line) for every complete line, without its "\r\n" or
 * "\n", and returns how many lines were longer than the buffer (those come cut
 * in pieces). line_clear forgets a half-received line (at a reset: what was in
 * flight is lost, and comes again whole if it is resent).
 */
struct line_reader {
    char line[512];
    size_t len;
};

typedef void (*line_fn)(void *ctx, const char *line);

static inline void line_clear(struct line_reader *r) { r->len = 0; }

static inline unsigned line_feed(struct line_reader *r, const uint8_t *data, size_t len,
                                 line_fn fn, void *ctx)
{
    unsigned too_long = 0;
    size_t i;
    for (i = 0; i < len; i++) {
        bool newline = data[i] == '\n';
        if (!newline && r->len + 1 < sizeof r->line) {
            r->line[r->len++] = (char)data[i];
            continue;
        }
        if (r->len > 0 && r->line[r->len - 1] == '\r')
            r->len--;
        r->line[r->len] = '\0';
        r->len = 0;
        fn(ctx, r->line);
        if (!newline) {
            too_long++;
            r->line[r->len++] = (char)data[i];
        }
    }
    return too_long;
}

/* The text of an errno value, with its name for the common connect failures. */
static inline const char *errno_name(int e)
{
    switch (e) {
    case 0: return "none";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENOENT: return "ENOENT";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    default: return strerror(e);
    }
}

#endif
