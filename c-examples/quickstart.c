/*
 * quickstart.c: the README's C quick start. One connection to an echo server: it
 * says hello on connect (writing to the raw descriptor), prints the echo, and when
 * the server goes away and comes back, prints the reset and the reconnect (same
 * descriptor) and says hello again (with connman_send). Then it disconnects.
 *
 *   usage: quickstart [PORT]   (default 7000; the server runs on 127.0.0.1)
 *
 * Build in the tree: make -C c-examples build/quickstart, or by hand:
 *   cc -std=c99 c-examples/quickstart.c -Iinclude -Ltarget/release \
 *      -Wl,-rpath,$PWD/target/release -lconnman -lpthread -o quickstart
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "connman.h"

/* What the callbacks (on the library's thread) tell main. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int reconnected, done;

static void on_connect(void *ctx, connman_conn conn, int fd) {
    (void)ctx;
    (void)conn;
    printf("on_connect: fd %d\n", fd);
    /* The descriptor is yours: write to it directly (MSG_NOSIGNAL: no SIGPIPE). */
    send(fd, "hello\n", 6, MSG_NOSIGNAL);
}

static void on_data(void *ctx, connman_conn conn, const uint8_t *data, size_t len) {
    (void)ctx;
    (void)conn;
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    printf("echo: %.*s\n", (int)len, (const char *)data);
    pthread_mutex_lock(&lock);
    if (reconnected)
        done = 1;
    pthread_cond_signal(&changed);
    pthread_mutex_unlock(&lock);
}

static void on_reset(void *ctx, connman_conn conn) {
    (void)ctx;
    (void)conn;
    printf("on_reset: the connection dropped; connman reconnects by itself\n");
}

static void on_reconnect(void *ctx, connman_conn conn, int fd) {
    (void)ctx;
    printf("on_reconnect: fd %d (the same descriptor)\n", fd);
    pthread_mutex_lock(&lock);
    reconnected = 1;
    pthread_mutex_unlock(&lock);
    /* Or let connman write it: queued, never blocks, never raises SIGPIPE. */
    connman_send(conn, (const uint8_t *)"hello again\n", 12);
}

static void on_close(void *ctx, connman_conn conn) {
    (void)ctx;
    (void)conn;
    printf("on_close\n");
}

int main(int argc, char **argv) {
    unsigned port = argc > 1 ? (unsigned)atoi(argv[1]) : 7000;
    setvbuf(stdout, NULL, _IOLBF, 0);

    connman_handler handler = {NULL, on_connect, on_reset, on_reconnect, on_data, on_close};
    connman_options options = connman_options_default();
    options.backoff_max_ms = 1000; /* retry at least every second while the server is away */

    printf("connecting to 127.0.0.1:%u; stop and start the server to see a reconnect\n", port);
    connman_conn conn;
    connman_result rc = connman_connect((uint16_t)port, "127.0.0.1", &handler, &options, &conn);
    if (rc != CONNMAN_OK) {
        fprintf(stderr, "connman_connect: %s\n", connman_strerror(rc));
        return 1;
    }

    /* Wait (at most two minutes) for the echo that follows a reconnect. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 120;
    pthread_mutex_lock(&lock);
    while (!done && pthread_cond_timedwait(&changed, &lock, &deadline) == 0) {
    }
    int ok = done;
    pthread_mutex_unlock(&lock);

    connman_disconnect(conn); /* on_close follows */
    connman_shutdown();       /* returns once every on_close has run */
    printf(ok ? "done\n" : "timed out\n");
    return ok ? 0 : 1;
}
