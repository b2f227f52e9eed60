/*
 * line_client.h: the application that loop_poll.c and loop_libuv.c run on their
 * own event loops (header only; each of those files is the loop around it).
 *
 * A line client of an echo server: every line read from stdin is sent with
 * connman_send and its echo printed. A line typed while the connection is down
 * waits, and one whose echo had not come back when the connection dropped (data
 * in flight at a reset is lost) is sent again: both in on_connect/on_reconnect.
 *
 * No locks anywhere: in embedded mode (connman_config.threads = 0) every
 * callback runs inside connman_dispatch, on the loop's thread, the same thread
 * that reads stdin. Each callback checks that it does.
 */
#ifndef CONNMAN_LINE_CLIENT_H
#define CONNMAN_LINE_CLIENT_H

#include <pthread.h>

#include "connman.h"
#include "examples.h"

#define LC_MAX_LINES 64
#define LC_EOF_GRACE_MS 5000 /* after EOF on stdin: how long to wait for the echoes */

struct line_client {
    pthread_t loop_thread;     /* where every callback must run */
    connman_conn conn;
    bool up;                   /* between on_connect/on_reconnect and on_reset */
    unsigned connects, resets, reconnects, closes;
    unsigned typed, echoed, resent, problems;
    char lines[LC_MAX_LINES][512]; /* typed, echo not seen yet: oldest first */
    size_t nlines;             /* while up, every one of them was sent on this connection */
    size_t lost;               /* of them, sent before the last reset: lost in flight */
    struct line_reader from_server, from_stdin;
    bool stdin_open;
    long long eof_at;          /* when stdin ended */
};

static inline void lc_problem(struct line_client *lc, const char *what)
{
    lc->problems++;
    say("PROBLEM: %s", what);
}

static inline void lc_on_loop_thread(struct line_client *lc, const char *callback)
{
    if (!pthread_equal(pthread_self(), lc->loop_thread)) {
        lc->problems++;
        say("PROBLEM: %s ran off the loop's thread", callback);
    }
}

static inline void lc_send(struct line_client *lc, const char *line)
{
    char buf[520];
    int n = snprintf(buf, sizeof buf, "%s\n", line);
    connman_result rc = connman_send(lc->conn, (const uint8_t *)buf, (size_t)n);
    /* NOT_CONNECTED: it just dropped (on_reset follows); the line waits. */
    if (rc != CONNMAN_OK && rc != CONNMAN_ERR_NOT_CONNECTED)
        say("PROBLEM: connman_send: %s", connman_last_error_message());
}

/* Up (again): every line waiting goes out, oldest first. */
static inline size_t lc_send_waiting(struct line_client *lc)
{
    size_t i;
    lc->up = true;
    for (i = 0; i < lc->nlines; i++)
        lc_send(lc, lc->lines[i]);
    return lc->nlines;
}

static inline void lc_connected(void *ctx, connman_conn conn, int fd)
{
    struct line_client *lc = ctx;
    lc_on_loop_thread(lc, "on_connect");
    lc->conn = conn;
    lc->connects++;
    say("on_connect: fd %d; %zu line(s) typed meanwhile sent", fd, lc_send_waiting(lc));
}

static inline void lc_reset(void *ctx, connman_conn conn)
{
    struct line_client *lc = ctx;
    (void)conn;
    lc_on_loop_thread(lc, "on_reset");
    lc->up = false;
    lc->resets++;
    line_clear(&lc->from_server);
    lc->lost = lc->nlines;
    say("on_reset: the connection dropped, %zu line(s) not echoed; connman reconnects",
        lc->lost);
}

static inline void lc_reconnected(void *ctx, connman_conn conn, int fd)
{
    struct line_client *lc = ctx;
    size_t n;
    (void)conn;
    lc_on_loop_thread(lc, "on_reconnect");
    lc->reconnects++;
    n = lc_send_waiting(lc);
    lc->resent += (unsigned)lc->lost;
    say("on_reconnect: fd %d (the same); %zu line(s) lost in the drop sent again, "
        "%zu typed meanwhile sent", fd, lc->lost, n - lc->lost);
}

static inline void lc_server_line(void *ctx, const char *line)
{
    struct line_client *lc = ctx;
    if (lc->nlines == 0 || strcmp(line, lc->lines[0]) != 0) {
        say("server says: \"%s\"", line); /* its greeting */
        return;
    }
    say("echo: \"%s\"", line);
    lc->echoed++;
    lc->nlines--;
    memmove(lc->lines[0], lc->lines[1], lc->nlines * sizeof lc->lines[0]);
}

static inline void lc_data(void *ctx, connman_conn conn, const uint8_t *data, size_t len)
{
    struct line_client *lc = ctx;
    (void)conn;
    lc_on_loop_thread(lc, "on_data");
    if (line_feed(&lc->from_server, data, len, lc_server_line, lc))
        lc_problem(lc, "a line too long from the server");
}

static inline void lc_closed(void *ctx, connman_conn conn)
{
    struct line_client *lc = ctx;
    (void)conn;
    lc_on_loop_thread(lc, "on_close");
    lc->closes++; /* (up stays as it was: the summary wants to know) */
    say("on_close");
}

/* A line read from stdin: sent now if the connection is up, else it waits. */
static inline void lc_typed_line(void *ctx, const char *line)
{
    struct line_client *lc = ctx;
    if (lc->nlines == LC_MAX_LINES) {
        lc_problem(lc, "too many lines waiting for their echo; this one is dropped");
        return;
    }
    snprintf(lc->lines[lc->nlines++], sizeof lc->lines[0], "%s", line);
    lc->typed++;
    if (lc->up)
        lc_send(lc, line);
    else
        say("typed while the connection is down: \"%s\" waits", line);
}

/* What read(0, ...) returned: n bytes, 0 (end of input) or -1 (errno). */
static inline void lc_input(struct line_client *lc, const char *data, long n)
{
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return; /* nothing yet */
    if (n > 0) {
        line_feed(&lc->from_stdin, (const uint8_t *)data, (size_t)n, lc_typed_line, lc);
    } else if (lc->stdin_open) {
        lc->stdin_open = false;
        lc->eof_at = now_ms();
        say("end of input: waiting for %zu echo(es), then disconnecting", lc->nlines);
    }
}

/* Milliseconds the loop may sleep: forever (-1) until stdin ends, then until the
 * grace period for the last echoes is over; 0: done. */
static inline int lc_timeout_ms(const struct line_client *lc)
{
    long long left;
    if (lc->stdin_open)
        return -1;
    left = lc->nlines == 0 ? 0 : lc->eof_at + LC_EOF_GRACE_MS - now_ms();
    return left > 0 ? (int)left : 0;
}

static inline bool lc_done(const struct line_client *lc) { return lc_timeout_ms(lc) == 0; }

static inline void lc_init(struct line_client *lc)
{
    memset(lc, 0, sizeof *lc);
    lc->loop_thread = pthread_self();
    lc->stdin_open = true;
}

/* Opens the connection to 127.0.0.1:port. A numeric host: connman_connect never
 * waits for DNS on the loop's thread (for names, options.resolve_in_background). */
static inline void lc_connect(struct line_client *lc, unsigned short port)
{
    connman_handler h = {NULL, lc_connected, lc_reset, lc_reconnected, lc_data, lc_closed};
    connman_options opts = connman_options_default();
    h.ctx = lc;
    opts.backoff_max_ms = 1000; /* retry at least every second while the server is away */
    if (connman_connect(port, "127.0.0.1", &h, &opts, &lc->conn) != CONNMAN_OK) {
        fprintf(stderr, "connman_connect: %s\n", connman_last_error_message());
        exit(1);
    }
}

/* Prints the summary and checks it; returns the exit status. */
static inline int lc_summary(const struct line_client *lc, unsigned min_resets,
                             unsigned long wakeups)
{
    unsigned problems = lc->problems;
    printf("\nsummary: %u line(s) typed, %u echoed, %u sent again after a drop; "
           "%u reset(s), %u reconnect(s); the event fd woke the loop %lu time(s)\n",
           lc->typed, lc->echoed, lc->resent, lc->resets, lc->reconnects, wakeups);
#define LC_EXPECT(cond, what)                                                   \
    do {                                                                        \
        if (!(cond)) {                                                          \
            printf("  problem: %s\n", what);                                    \
            problems++;                                                         \
        }                                                                       \
    } while (0)
    LC_EXPECT(lc->connects == 1 && lc->closes == 1, "on_connect or on_close not exactly once");
    /* (the input may end while the connection is down: then the last reset had
     * no reconnect before the disconnect) */
    LC_EXPECT(lc->reconnects + (lc->up || !lc->resets ? 0 : 1) == lc->resets,
              "a reset was not followed by a reconnect");
    LC_EXPECT(lc->typed > 0 && lc->echoed == lc->typed, "a line was not echoed");
    LC_EXPECT(lc->resets >= min_resets, "fewer resets than expected: did the server drop?");
#undef LC_EXPECT
    printf("  every callback on the loop's thread, every line echoed: %s\n",
           problems ? "NO" : "yes");
    printf("result: %s\n", problems ? "FAILED" : "ok");
    return problems ? 1 : 0;
}

#endif
