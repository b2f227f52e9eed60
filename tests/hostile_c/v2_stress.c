/*
 * Hostile C program for version 2, meant to run under valgrind and ASan
 * (tests/hostile_c/run.sh): embedded mode with a second thread calling connman
 * while the main thread dispatches, TCP and Unix members, send_while_reconnecting,
 * a log hook that re-installs itself and calls connman, per-connection ctx freed
 * in on_close (any later touch is a use-after-free), stale handles after
 * shutdown, then the same with threads = 4. Exit status 0 when every check held.
 */
#define _GNU_SOURCE
#include "connman.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define N 6
#define CHECK(c)                                                                \
    do {                                                                        \
        if (!(c)) {                                                             \
            fprintf(stderr, "CHECK failed at %s:%d: %s (%s)\n", __FILE__,       \
                    __LINE__, #c, connman_last_error_message());                \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

typedef struct {
    int index;
    atomic_int *closed;
    char *buf; /* heap memory valgrind watches */
} conn_ctx;

static atomic_int hook_calls;
static atomic_int closed_count;
static atomic_int worker_done;

static void hook(void *ctx, connman_log_level level, connman_conn conn, const char *msg) {
    (void)conn;
    CHECK(msg != NULL && strlen(msg) > 0);
    CHECK(level >= 1 && level <= 4);
    int n = atomic_fetch_add(&hook_calls, 1);
    if (n % 7 == 0)
        CHECK(connman_set_log(hook, ctx, CONNMAN_LOG_DEBUG) == CONNMAN_OK);
    if (n % 11 == 0)
        CHECK(connman_shutdown() == CONNMAN_ERR_IN_CALLBACK ||
              connman_shutdown() == CONNMAN_OK /* on an application thread */);
}

static void on_connect(void *ctx, connman_conn c, int fd) {
    conn_ctx *x = ctx;
    CHECK(fd == connman_fd(c));
    snprintf(x->buf, 64, "hello %d\n", x->index);
    (void)connman_send(c, (const uint8_t *)x->buf, strlen(x->buf));
    CHECK(connman_dispatch() == CONNMAN_ERR_IN_CALLBACK);
}
static void on_reset(void *ctx, connman_conn c) {
    conn_ctx *x = ctx;
    /* held while reconnecting */
    connman_result r = connman_send(c, (const uint8_t *)"held\n", 5);
    CHECK(r == CONNMAN_OK || r == CONNMAN_ERR_WOULD_BLOCK || r == CONNMAN_ERR_CLOSED);
    x->buf[0] = 'r';
}
static void on_reconnect(void *ctx, connman_conn c, int fd) {
    conn_ctx *x = ctx;
    CHECK(fd == connman_fd(c));
    (void)connman_send(c, (const uint8_t *)"hs\n", 3);
    x->buf[1] = 'R';
}
static void on_data(void *ctx, connman_conn c, const uint8_t *d, size_t len) {
    conn_ctx *x = ctx;
    (void)c;
    memcpy(x->buf + 2, d, len < 32 ? len : 32);
}
static void on_close(void *ctx, connman_conn c) {
    conn_ctx *x = ctx;
    connman_stats st;
    CHECK(connman_get_stats(c, &st) == CONNMAN_OK && st.state == CONNMAN_STATE_CLOSED);
    atomic_fetch_add(x->closed, 1);
    free(x->buf);
    memset(x, 0xAB, sizeof *x);
    free(x);
}

static connman_handler make_handler(int i) {
    conn_ctx *x = calloc(1, sizeof *x);
    x->index = i;
    x->closed = &closed_count;
    x->buf = calloc(1, 64);
    connman_handler h = {x, on_connect, on_reset, on_reconnect, on_data, on_close};
    return h;
}

static connman_result factory(void *fctx, size_t index, connman_handler *out) {
    (void)fctx;
    *out = make_handler(100 + (int)index);
    return CONNMAN_OK;
}

/* The server: a TCP and a Unix listener, echoing, dropping a connection now and then. */
static int tcp_l, unix_l;
static int peers[256];
static int npeers;
static char unix_path[108];

static void server_setup(uint16_t *port) {
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    tcp_l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK(bind(tcp_l, (struct sockaddr *)&a, sizeof a) == 0 && listen(tcp_l, 128) == 0);
    socklen_t len = sizeof a;
    getsockname(tcp_l, (struct sockaddr *)&a, &len);
    *port = ntohs(a.sin_port);
    struct sockaddr_un u = {0};
    u.sun_family = AF_UNIX;
    snprintf(unix_path, sizeof unix_path, "/tmp/connman-hostile-c-%d.sock", (int)getpid());
    unlink(unix_path);
    strcpy(u.sun_path, unix_path);
    unix_l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK(bind(unix_l, (struct sockaddr *)&u, sizeof u) == 0 && listen(unix_l, 128) == 0);
}

static void server_turn(int drop) {
    int s;
    while ((s = accept4(tcp_l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0 ||
           (s = accept4(unix_l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        if (npeers < 256) peers[npeers++] = s; else close(s);
    }
    char buf[4096];
    for (int i = 0; i < npeers; i++) {
        ssize_t n = recv(peers[i], buf, sizeof buf, 0);
        if (n > 0) (void)send(peers[i], buf, (size_t)n, MSG_NOSIGNAL);
        if (n == 0 || (drop && i == 0)) {
            close(peers[i]);
            peers[i] = peers[--npeers];
            i--;
            drop = 0;
        }
    }
}

static connman_conn conns[N];
static connman_pool pool;
static uint16_t port;

static void *worker(void *arg) {
    (void)arg;
    for (int k = 0; k < 300; k++) {
        connman_conn c = conns[k % N];
        (void)connman_send(c, (const uint8_t *)"w\n", 2);
        connman_stats st;
        connman_result r = connman_get_stats(c, &st);
        CHECK(r == CONNMAN_OK);
        connman_conn n;
        r = connman_pool_next(pool, &n);
        CHECK(r == CONNMAN_OK || r == CONNMAN_ERR_NOT_CONNECTED);
        /* bad arguments: error codes with a message, on this thread */
        CHECK(connman_connect(0, "127.0.0.1", NULL, NULL, &n) == CONNMAN_ERR_INVALID_ARGUMENT);
        CHECK(strstr(connman_last_error_message(), "connman_connect") != NULL);
        CHECK(connman_connect_unix(NULL, NULL, NULL, &n) == CONNMAN_ERR_INVALID_ARGUMENT);
        CHECK(connman_dispatch() == CONNMAN_OK || connman_dispatch() == CONNMAN_ERR_STATE);
        /* a short-lived connection to a refused port */
        connman_handler h = make_handler(1000 + k);
        connman_options o = connman_options_default();
        o.backoff_initial_ms = 1;
        connman_conn d;
        CHECK(connman_connect(1, "127.0.0.1", &h, &o, &d) == CONNMAN_OK);
        CHECK(connman_disconnect(d) == CONNMAN_OK);
        CHECK(connman_disconnect(d) == CONNMAN_ERR_CLOSED || connman_disconnect(d) == CONNMAN_ERR_NOT_FOUND);
    }
    atomic_store(&worker_done, 1);
    return NULL;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void run(uint32_t threads) {
    connman_config cfg = connman_config_default();
    cfg.threads = threads;
    CHECK(connman_configure(&cfg) == CONNMAN_OK);
    int efd = connman_event_fd();
    CHECK(threads == 0 ? efd >= 0 : efd == -1);
    atomic_store(&closed_count, 0);
    atomic_store(&worker_done, 0);
    connman_options o = connman_options_default();
    o.send_while_reconnecting = 64;
    o.healthy_after_ms = 1;
    o.backoff_initial_ms = 5;
    o.backoff_max_ms = 50;
    for (int i = 0; i < N; i++) {
        connman_handler h = make_handler(i);
        if (i % 2)
            CHECK(connman_connect(port, "127.0.0.1", &h, &o, &conns[i]) == CONNMAN_OK);
        else
            CHECK(connman_connect_unix(unix_path, &h, &o, &conns[i]) == CONNMAN_OK);
    }
    char name[32];
    snprintf(name, sizeof name, "pool-%u", threads);
    CHECK(connman_pool_create(name, factory, NULL, &pool) == CONNMAN_OK);
    size_t idx;
    CHECK(connman_pool_add(pool, port, "127.0.0.1", &o, &idx) == CONNMAN_OK);
    CHECK(connman_pool_add_unix(pool, unix_path, &o, &idx) == CONNMAN_OK);
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    double end = now_s() + 3.0;
    int turns = 0;
    while (!atomic_load(&worker_done) && now_s() < end) {
        struct pollfd p[1] = {{efd, POLLIN, 0}};
        if (threads == 0 && poll(p, 1, 5) == 1) CHECK(connman_dispatch() == CONNMAN_OK);
        if (threads != 0) usleep(2000);
        server_turn(++turns % 50 == 0);
    }
    pthread_join(t, NULL);
    CHECK(connman_disconnect_all() == CONNMAN_OK);
    /* 300 worker connections + N + 2 pool members */
    int want = 300 + N + 2;
    end = now_s() + 5.0;
    while (atomic_load(&closed_count) < want && now_s() < end) {
        struct pollfd p[1] = {{efd, POLLIN, 0}};
        if (threads == 0 && poll(p, 1, 5) == 1) CHECK(connman_dispatch() == CONNMAN_OK);
        if (threads != 0) usleep(2000);
        server_turn(0);
    }
    CHECK(atomic_load(&closed_count) == want);
    CHECK(connman_shutdown() == CONNMAN_OK);
    if (threads == 0) CHECK(fcntl(efd, F_GETFD) == -1 && errno == EBADF);
    /* stale handles */
    CHECK(connman_send(conns[0], (const uint8_t *)"x", 1) == CONNMAN_ERR_NOT_FOUND);
    CHECK(connman_fd(conns[1]) == -1);
    connman_conn n;
    CHECK(connman_pool_next(pool, &n) == CONNMAN_ERR_NOT_FOUND);
}

int main(void) {
    CHECK(connman_set_log(hook, NULL, CONNMAN_LOG_DEBUG) == CONNMAN_OK);
    server_setup(&port);
    run(0);
    run(4);
    run(0);
    CHECK(connman_set_log(NULL, NULL, CONNMAN_LOG_ERROR) == CONNMAN_OK);
    for (int i = 0; i < npeers; i++) close(peers[i]);
    close(tcp_l);
    close(unix_l);
    unlink(unix_path);
    printf("ok: %d log messages\n", atomic_load(&hook_calls));
    return 0;
}
