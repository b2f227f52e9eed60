/*
 * loop_libuv.c: connman on a libuv loop (embedded mode), the same program as
 * loop_poll.c with libuv in place of poll().
 *
 * One uv_poll_t watches connman_event_fd() for readability and calls
 * connman_dispatch(), which runs every callback on the loop's thread; another
 * watches stdin (each line typed goes to the echo server, line_client.h). No
 * uv_timer is needed for connman: its backoff and timeouts make the event fd
 * readable when due. One uv_timer_t only bounds the wait for the last echoes
 * after the end of input.
 *
 *   usage: loop_libuv PORT [MIN_RESETS]    (an echo server on 127.0.0.1:PORT)
 *   build: cc -std=c99 loop_libuv.c $(pkg-config --cflags --libs libuv) -lconnman
 *          (Debian, Ubuntu: apt-get install libuv1-dev)
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include "connman.h"
#include "examples.h"
#include "line_client.h"

static struct line_client app;
static uv_poll_t events, input;
static uv_timer_t grace;
static unsigned long wakeups;

/* Leaves the loop: with no active handle left, uv_run returns. */
static void stop_if_done(void)
{
    static bool stopping;
    if (stopping || !lc_done(&app))
        return;
    stopping = true;
    /* Remove the event fd from the loop before connman_shutdown closes it. */
    uv_close((uv_handle_t *)&events, NULL);
    if (!uv_is_closing((uv_handle_t *)&input))
        uv_close((uv_handle_t *)&input, NULL);
    uv_close((uv_handle_t *)&grace, NULL);
}

static void on_grace(uv_timer_t *t)
{
    (void)t;
    stop_if_done();
}

/* Arms the timer for the wait after the end of input (lc_timeout_ms says how long). */
static void after_input(void)
{
    int ms = lc_timeout_ms(&app);
    if (ms > 0)
        uv_timer_start(&grace, on_grace, (uint64_t)ms, 0);
    stop_if_done();
}

static void on_events(uv_poll_t *h, int status, int revents)
{
    (void)h;
    (void)revents;
    if (status < 0) {
        fprintf(stderr, "uv_poll on the event fd: %s\n", uv_strerror(status));
        exit(1);
    }
    wakeups++;
    CHECK(connman_dispatch()); /* the callbacks run in here */
    if (!app.stdin_open)
        stop_if_done(); /* the last echo came */
}

static void on_input(uv_poll_t *h, int status, int revents)
{
    char buf[4096];
    ssize_t n;
    (void)revents;
    n = status < 0 ? 0 : read(STDIN_FILENO, buf, sizeof buf);
    lc_input(&app, buf, (long)n);
    if (!app.stdin_open) {
        uv_close((uv_handle_t *)h, NULL);
        after_input();
    }
}

int main(int argc, char **argv)
{
    unsigned short port = parse_port(argc > 1 ? argv[1] : NULL, argv[0]);
    unsigned min_resets = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
    uv_loop_t *loop = uv_default_loop();
    connman_config cfg = connman_config_default();
    int efd, rc, stdin_flags = fcntl(STDIN_FILENO, F_GETFL);

    cfg.threads = 0; /* embedded mode: before the first connection */
    CHECK(connman_configure(&cfg));
    efd = connman_event_fd();
    if (efd < 0) {
        fprintf(stderr, "connman_event_fd: %s\n", connman_last_error_message());
        return 1;
    }
    lc_init(&app);
    say("connman %s on libuv %s: event fd %d; type lines (Ctrl-D ends)", connman_version(),
        uv_version_string(), efd);

    uv_poll_init(loop, &events, efd);
    uv_poll_start(&events, UV_READABLE, on_events);
    /* uv_poll takes a pipe or a terminal (not a regular file: use < /dev/stdin | ...). */
    rc = uv_poll_init(loop, &input, STDIN_FILENO);
    if (rc < 0) {
        fprintf(stderr, "uv_poll_init on stdin: %s (pipe the input in)\n", uv_strerror(rc));
        return 1;
    }
    uv_poll_start(&input, UV_READABLE, on_input);
    uv_timer_init(loop, &grace);
    lc_connect(&app, port);

    uv_run(loop, UV_RUN_DEFAULT);

    /* Runs the remaining on_close here and closes the event fd. */
    CHECK(connman_disconnect(app.conn));
    CHECK(connman_shutdown());
    uv_loop_close(loop);
    if (stdin_flags >= 0)
        fcntl(STDIN_FILENO, F_SETFL, stdin_flags); /* uv_poll made it non-blocking */
    return lc_summary(&app, min_resets, wakeups);
}
