/*
 * unix_and_hold.c: a Unix-socket connection kept alive across server restarts,
 * and sends that wait while it is down (options.send_while_reconnecting).
 *
 * A telemetry client: every 100 ms it sends "sample #N" with connman_send to an
 * echo server listening on a Unix socket PATH. When the server goes away (its
 * socket file is removed: connect attempts fail with ENOENT) connman keeps
 * retrying; meanwhile connman_send does not fail with NOT_CONNECTED but holds
 * the samples, up to 64 bytes (beyond that CONNMAN_ERR_WOULD_BLOCK: the sample
 * is refused, nothing of it held). When the server is back, on_reconnect writes
 * a handshake straight to the descriptor, and the held samples follow it. The
 * echoes prove the order: the handshake first, then the held samples, in order,
 * once each. Samples in flight when the connection dropped are lost (a
 * telemetry client can live with that; it counts them).
 *
 *   usage: unix_and_hold PATH [SECONDS [MIN_RESETS]]   (PATH, or @name: abstract)
 *   try:   bash run-with-server.sh --up-ms 2000 --down-ms 1000 -- \
 *              build/unix_and_hold @SOCK@ 10
 *
 * Single-threaded, in embedded mode (as loop_poll.c): the samples are sent from
 * the same thread that runs the callbacks, so no send can slip in while
 * on_reconnect is writing the handshake. (With connman's own threads, a
 * connman_send made by another thread while on_reconnect runs is written at
 * once, ahead of the handshake and of the held bytes: a known library bug,
 * tests/known_bugs.c shows it.)
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <sys/socket.h>

#include "connman.h"
#include "examples.h"

#define HOLD_BYTES 64
#define SAMPLE_MS 100
#define HANDSHAKE "HELLO telemetry/1"
#define MAX_EXPECTED 1024

/* What the server should echo next, in order: seq 0 is the handshake. */
struct expected {
    unsigned seq;
    bool held; /* sent while reconnecting */
};

static struct {
    connman_conn conn;
    bool up;
    unsigned connects, resets, reconnects, closes, problems;
    unsigned sent, held, refused, lost, echoed, handshakes;
    unsigned outage_held, outage_refused, held_waiting; /* of the current outage */
    size_t outage_bytes;
    struct expected expect[MAX_EXPECTED];
    size_t nexpect;
    struct line_reader reader;
} app;

static void problem(const char *what)
{
    app.problems++;
    say("PROBLEM: %s", what);
}

static void expect_echo(unsigned seq, bool held, bool first)
{
    if (app.nexpect == MAX_EXPECTED) {
        problem("too many echoes outstanding");
        return;
    }
    if (first)
        memmove(app.expect + 1, app.expect, app.nexpect * sizeof app.expect[0]);
    app.expect[first ? 0 : app.nexpect] = (struct expected){seq, held};
    app.nexpect++;
}

/* The handshake, written straight to the descriptor: it goes before the held bytes. */
static void handshake(int fd)
{
    static const char hs[] = HANDSHAKE "\n";
    if (send(fd, hs, sizeof hs - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof hs - 1)) {
        problem("the handshake could not be written");
        return;
    }
    expect_echo(0, false, true); /* ahead of the held samples */
}

static void on_connect(void *ctx, connman_conn conn, int fd)
{
    (void)ctx;
    app.conn = conn;
    app.up = true;
    app.connects++;
    handshake(fd);
    say("connected (fd %d): handshake written, a sample every %d ms", fd, SAMPLE_MS);
}

static void on_reset(void *ctx, connman_conn conn)
{
    unsigned lost = 0;
    size_t i;
    (void)ctx;
    (void)conn;
    app.up = false;
    app.resets++;
    /* Every sample not echoed yet was in flight: lost, not resent. */
    for (i = 0; i < app.nexpect; i++)
        lost += app.expect[i].seq != 0;
    app.lost += lost;
    app.nexpect = 0;
    say("RESET: %u sample(s) in flight lost; holding the next ones (up to %d bytes)", lost,
        HOLD_BYTES);
    app.outage_held = app.outage_refused = 0;
    app.outage_bytes = 0;
    line_clear(&app.reader);
}

static void on_reconnect(void *ctx, connman_conn conn, int fd)
{
    (void)ctx;
    (void)conn;
    app.up = true;
    app.reconnects++;
    handshake(fd);
    app.held_waiting = app.outage_held;
    say("RECONNECTED (fd %d, the same): handshake written; the %u held sample(s) "
        "(%zu bytes) go after it, %u were refused (hold full)", fd, app.outage_held,
        app.outage_bytes, app.outage_refused);
}

static void on_line(void *ctx, const char *line)
{
    char want[64];
    struct expected e;
    (void)ctx;
    if (app.nexpect == 0) {
        problem("an echo of nothing sent");
        return;
    }
    e = app.expect[0];
    if (e.seq == 0)
        snprintf(want, sizeof want, "%s", HANDSHAKE);
    else
        snprintf(want, sizeof want, "sample #%u", e.seq);
    if (strcmp(line, want) != 0) {
        say("PROBLEM: echo \"%s\", expected \"%s\"", line, want);
        app.problems++;
        return;
    }
    app.nexpect--;
    memmove(app.expect, app.expect + 1, app.nexpect * sizeof app.expect[0]);
    if (e.seq == 0) {
        app.handshakes++;
        if (app.held_waiting)
            say("echo: the handshake first, then ...");
        return;
    }
    app.echoed++;
    if (e.held && --app.held_waiting == 0)
        say("echo: ... the %u held sample(s), in order, up to \"%s\"", app.outage_held, line);
}

static void on_data(void *ctx, connman_conn conn, const uint8_t *data, size_t len)
{
    (void)ctx;
    (void)conn;
    if (line_feed(&app.reader, data, len, on_line, NULL))
        problem("a line too long");
}

static void on_close(void *ctx, connman_conn conn)
{
    (void)ctx;
    (void)conn;
    app.up = false;
    app.closes++;
    say("closed");
}

static void send_sample(void)
{
    char msg[32];
    int len = snprintf(msg, sizeof msg, "sample #%u\n", app.sent + app.refused + 1);
    connman_result rc = connman_send(app.conn, (const uint8_t *)msg, (size_t)len);
    if (rc == CONNMAN_ERR_NOT_CONNECTED) /* the first connect is not done yet */
        return;
    if (rc == CONNMAN_ERR_WOULD_BLOCK && !app.up) {
        app.refused++;
        app.outage_refused++;
        return;
    }
    if (rc != CONNMAN_OK) {
        say("PROBLEM: connman_send: %s", connman_last_error_message());
        app.problems++;
        return;
    }
    app.sent++;
    expect_echo(app.sent + app.refused, !app.up, false);
    if (app.up)
        return;
    app.held++;
    app.outage_bytes += (size_t)len;
    if (app.outage_held++ == 0) {
        connman_stats st;
        CHECK(connman_get_stats(app.conn, &st));
        say("reconnecting (last connect error: %s): samples are held", errno_name(st.last_error));
    }
}

/* Runs the loop until `end`, sending a sample every SAMPLE_MS while `sampling`;
 * returns early once nothing is outstanding when not sampling. */
static void run_loop(int efd, long long end, bool sampling)
{
    long long next = now_ms() + SAMPLE_MS;
    for (;;) {
        long long now = now_ms(), until = sampling && next < end ? next : end;
        struct pollfd p;
        if (now >= end || (!sampling && app.up && app.nexpect == 0))
            return;
        p.fd = efd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, until > now ? (int)(until - now) : 0) > 0)
            CHECK(connman_dispatch());
        if (sampling && now_ms() >= next) {
            next += SAMPLE_MS;
            send_sample();
        }
    }
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : NULL;
    int seconds = argc > 2 ? atoi(argv[2]) : 10;
    unsigned min_resets = argc > 3 ? (unsigned)atoi(argv[3]) : 0;
    connman_config cfg = connman_config_default();
    connman_options opts = connman_options_default();
    connman_handler h = {NULL, on_connect, on_reset, on_reconnect, on_data, on_close};
    connman_conn found;
    int efd;

    if (!path || !*path) {
        fprintf(stderr, "usage: %s PATH [SECONDS [MIN_RESETS]]  (an echo server's Unix socket)\n",
                argv[0]);
        return 2;
    }
    cfg.threads = 0;
    CHECK(connman_configure(&cfg));
    efd = connman_event_fd();
    opts.send_while_reconnecting = HOLD_BYTES;
    opts.backoff_max_ms = 500;
    say("connman %s: telemetry to %s for %d s", connman_version(), path, seconds);
    if (connman_connect_unix(path, &h, &opts, &app.conn) != CONNMAN_OK) {
        fprintf(stderr, "connman_connect_unix: %s\n", connman_last_error_message());
        return 1;
    }
    run_loop(efd, now_ms() + seconds * 1000LL, true);
    say("time is up: waiting for the last echoes");
    run_loop(efd, now_ms() + 5000, false);

    /* A Unix connection is found again by its path, like a TCP one by host and port. */
    CHECK(connman_get_connection_unix(path, &found));
    if (found.id != app.conn.id)
        problem("connman_get_connection_unix found another connection");
    CHECK(connman_disconnect(app.conn));
    CHECK(connman_shutdown()); /* on_close runs in here */

    printf("\nsummary: %u sample(s) sent (%u held while reconnecting, %u refused: hold "
           "full), %u echoed, %u lost in flight at a reset; %u reset(s), %u reconnect(s), "
           "%u handshake(s) echoed\n",
           app.sent, app.held, app.refused, app.echoed, app.lost, app.resets, app.reconnects,
           app.handshakes);
    if (app.connects != 1 || app.closes != 1 || app.reconnects != app.resets)
        problem("callbacks: on_connect, on_reset/on_reconnect or on_close out of step");
    if (app.echoed + app.lost != app.sent || app.nexpect != 0)
        problem("a sample neither echoed nor lost");
    if (app.resets < min_resets || (min_resets > 0 && app.held == 0))
        problem("fewer outages than expected: did the server go away?");
    printf("  after every reconnect the handshake first, then the held samples in order: %s\n",
           app.problems ? "NO" : "yes");
    printf("result: %s\n", app.problems ? "FAILED" : "ok");
    return app.problems ? 1 : 0;
}
