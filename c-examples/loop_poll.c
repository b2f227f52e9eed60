/*
 * loop_poll.c: connman inside the application's own poll() loop (embedded mode).
 *
 * connman starts no thread of its own: connman_event_fd() is one descriptor that
 * becomes readable whenever the library has work (I/O on a connection, a due
 * backoff or timeout timer, a call made from another thread), and
 * connman_dispatch() does that work, running every callback, on this thread,
 * without blocking. The loop watches it next to stdin: each line typed goes to
 * the echo server, its echo is printed; when the server drops the connection or
 * goes away, on_reset and on_reconnect (the same fd) show it, and the lines lost
 * in the drop are sent again (line_client.h, shared with loop_libuv.c). The loop
 * has no timeout of its own: connman's timers are in the event fd, so when
 * nothing happens the program sleeps in poll().
 *
 *   usage: loop_poll PORT [MIN_RESETS]     (an echo server on 127.0.0.1:PORT)
 *   try:   bash run-with-server.sh --drop-after-ms 5000 -- build/loop_poll @PORT@
 *
 * It ends at the end of stdin (Ctrl-D) once every line is echoed (at most 5 s
 * later), then prints a summary; MIN_RESETS: fail with fewer resets than that.
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <unistd.h>

#include "connman.h"
#include "examples.h"
#include "line_client.h"

int main(int argc, char **argv)
{
    unsigned short port = parse_port(argc > 1 ? argv[1] : NULL, argv[0]);
    unsigned min_resets = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
    unsigned long wakeups = 0;
    struct line_client app;
    connman_config cfg = connman_config_default();
    int efd;

    /* Embedded mode: before the first connection. */
    cfg.threads = 0;
    CHECK(connman_configure(&cfg));
    efd = connman_event_fd(); /* the same descriptor until connman_shutdown() */
    if (efd < 0) {
        fprintf(stderr, "connman_event_fd: %s\n", connman_last_error_message());
        return 1;
    }
    lc_init(&app);
    say("connman %s on a poll() loop: event fd %d; type lines (Ctrl-D ends)",
        connman_version(), efd);
    lc_connect(&app, port); /* returns at once: on_connect runs in a later dispatch */

    while (!lc_done(&app)) {
        struct pollfd p[2];
        p[0].fd = efd;
        p[0].events = POLLIN;
        p[1].fd = app.stdin_open ? STDIN_FILENO : -1; /* poll skips a negative fd */
        p[1].events = POLLIN;
        p[0].revents = p[1].revents = 0;
        if (poll(p, 2, lc_timeout_ms(&app)) < 0) {
            if (errno == EINTR)
                continue;
            perror("poll");
            return 1;
        }
        if (p[0].revents & POLLIN) {
            wakeups++;
            CHECK(connman_dispatch()); /* the callbacks run in here */
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[4096];
            ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
            lc_input(&app, buf, (long)n);
        }
    }

    /* connman_shutdown (never from inside dispatch) runs the remaining on_close
     * here, on this thread, and closes the event fd. */
    CHECK(connman_disconnect(app.conn));
    CHECK(connman_shutdown());
    return lc_summary(&app, min_resets, wakeups);
}
