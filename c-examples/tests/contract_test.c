/*
 * contract_test.c: checks the guarantees of SPEC.md and connman.h from C, against
 * the flaky echo server, which it starts and drives itself through its stdin
 * commands (drop, rst, stop, start).
 *
 *   usage: contract_test [PATH-TO-flaky-echo]   (default: $FLAKY_ECHO, then
 *          ../target/release/flaky-echo)
 *
 * Every wait is a condition polled every 2 ms up to a deadline, never a fixed
 * sleep. Each test ends with connman_shutdown(), so the next starts afresh. The
 * last line is "N passed, N failed"; the exit status is 0 only if none failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "connman.h"
#include "examples.h"
#include "flaky_server.h"

#define WAIT_MS 5000

/* ---- the test harness --------------------------------------------------- */

static int tests_passed, tests_failed, cur_failures;
static const char *cur_test;
static const char *cur_mode = "";
/* How the library runs in the current test (connman_config.threads): 1, N, or 0
 * (embedded: the waits below run connman_dispatch on this thread). */
static uint32_t mode_threads = 1;
static pthread_t main_thread;

static void expect_(bool ok, const char *what, int line)
{
    if (ok)
        return;
    if (cur_failures++ == 0)
        printf("FAIL %s%s\n", cur_test, cur_mode);
    printf("     line %d: %s\n", line, what);
    fflush(stdout);
}

static void expect_rc_(connman_result got, connman_result want, const char *what, int line)
{
    char msg[512];
    if (got == want)
        return;
    snprintf(msg, sizeof msg, "%s: got %d (%s), want %d (%s)", what, (int)got,
             connman_strerror(got), (int)want, connman_strerror(want));
    expect_(false, msg, line);
}

#define EXPECT(cond) expect_((cond), #cond, __LINE__)
#define EXPECT_RC(call, want) expect_rc_((call), (want), #call, __LINE__)
/* Polls `cond` every 2 ms until it holds or WAIT_MS pass; in embedded mode each
 * wait is a poll of the event fd and a dispatch (pump). */
#define EXPECT_SOON(cond)                                                   \
    do {                                                                    \
        long long deadline_ = now_ms() + WAIT_MS;                           \
        bool ok_;                                                           \
        while (!(ok_ = (cond)) && now_ms() < deadline_)                     \
            pump(2);                                                        \
        expect_(ok_, "within 5 s: " #cond, __LINE__);                       \
    } while (0)

/*
 * Waits up to `ms` for the library's work: in embedded mode by polling the event
 * fd and dispatching when it is readable (the test is the application's loop),
 * otherwise by sleeping (the library's threads do the work). Returns whether the
 * event fd was readable.
 */
static bool pump(int ms)
{
    struct pollfd p;
    if (mode_threads != 0) {
        sleep_ms(ms);
        return false;
    }
    p.fd = connman_event_fd(); /* the current one (shutdown closes it) */
    p.events = POLLIN;
    p.revents = 0;
    if (p.fd < 0 || poll(&p, 1, ms) <= 0)
        return false;
    connman_dispatch();
    return true;
}

static void set_mode(uint32_t threads)
{
    connman_config cfg = connman_config_default();
    cfg.threads = threads;
    mode_threads = threads;
    cur_mode = threads == 0 ? " [embedded]" : threads == 1 ? "" : " [2 threads]";
    EXPECT_RC(connman_configure(&cfg), CONNMAN_OK);
}

/* Runs a test with the library in `threads` mode (each test ends with
 * connman_shutdown, so it can be configured afresh), then back to the default. */
static void run_in(uint32_t threads, const char *name, void (*test)(void))
{
    long long t0 = now_ms();
    cur_test = name;
    cur_failures = 0;
    set_mode(threads);
    test();
    if (cur_failures) {
        tests_failed++;
    } else {
        tests_passed++;
        printf("ok   %s%s (%lld ms)\n", name, cur_mode, now_ms() - t0);
    }
    set_mode(1);
    fflush(stdout);
}

static void run(const char *name, void (*test)(void)) { run_in(1, name, test); }

/* ---- the flaky echo servers (flaky_server.h) ---------------------------- */

static struct server srv;  /* TCP on 127.0.0.1:srv.port */
static struct server usrv; /* on the Unix socket unix_path */
static struct server asrv; /* on the abstract Unix socket abstract_name */
static char unix_path[64], abstract_name[64];

/* A port where nothing listens (bound, then closed). */
static unsigned short dead_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

/* ---- a handler that records every callback ------------------------------ */

/* Events: C on_connect, R on_reset, r on_reconnect, D on_data (runs collapsed), X on_close. */
struct rec {
    pthread_mutex_t lock;
    char ev[256];
    size_t nev;
    connman_conn conn;          /* as the callbacks got it */
    int fd;                     /* from on_connect */
    int fd_mismatch;            /* on_reconnect with another fd */
    int busy, overlap;          /* callbacks of one connection running at once */
    char data[1024];
    size_t data_len;
    /* Actions to take inside a callback: */
    char disconnect_in;         /* disconnect twice inside the first callback of this kind */
    connman_result in_rc1, in_rc2;
    bool shutdown_in_connect;   /* try connman_shutdown inside on_connect */
    connman_result shutdown_rc;
    bool disconnect_all_in_data;
    bool gate_close;            /* on_close waits for the gate (see gate_open) */
    bool loop_calls_in_connect; /* try connman_configure and connman_dispatch there */
    connman_result configure_rc, dispatch_rc, handshake_rc;
    const char *handshake;      /* written in on_reconnect: with connman_send, or */
    bool handshake_raw;         /* straight to the fd */
    /* What on_close saw: */
    connman_result close_disconnect_rc, close_stats_rc;
    connman_stats close_stats;
    int close_fd;
    /* Where the callbacks ran: */
    pthread_t thread, close_thread; /* of the first callback; of on_close */
    unsigned thread_changes;    /* callbacks on another thread than the first's */
    unsigned on_main, off_main; /* callbacks on the test's main thread, elsewhere */
};

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_is_open = true;

static void gate_set(bool open)
{
    pthread_mutex_lock(&gate_lock);
    gate_is_open = open;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* Holds the library thread in on_close until the gate opens (at most 10 s). In
 * embedded mode on_close runs inside the test's own dispatch, so it cannot
 * overlap the test's checks anyway: no wait (it would wait for itself). */
static void gate_wait(void)
{
    long long deadline = now_ms() + 10000;
    if (mode_threads == 0)
        return;
    pthread_mutex_lock(&gate_lock);
    while (!gate_is_open && now_ms() < deadline) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += 10000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&gate_cond, &gate_lock, &t);
    }
    pthread_mutex_unlock(&gate_lock);
}

static void rec_init(struct rec *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->fd = -1;
    r->close_fd = -2;
}

static size_t count_in(struct rec *r, char e)
{
    size_t i, n = 0;
    for (i = 0; i < r->nev; i++)
        n += r->ev[i] == e;
    return n;
}

static void record(struct rec *r, char e, connman_conn conn, int fd, const uint8_t *d, size_t n)
{
    bool wait_gate = false;
    pthread_mutex_lock(&r->lock);
    if (r->busy++)
        r->overlap++;
    if (r->nev == 0)
        r->thread = pthread_self();
    else if (!pthread_equal(r->thread, pthread_self()))
        r->thread_changes++;
    if (pthread_equal(pthread_self(), main_thread))
        r->on_main++;
    else
        r->off_main++;
    if (r->nev + 1 < sizeof r->ev && !(e == 'D' && r->nev && r->ev[r->nev - 1] == 'D'))
        r->ev[r->nev++] = e;
    if (e == 'C') {
        r->conn = conn;
        r->fd = fd;
    }
    if (e == 'r' && fd != r->fd)
        r->fd_mismatch++;
    if (e == 'D' && r->data_len + n <= sizeof r->data) {
        memcpy(r->data + r->data_len, d, n);
        r->data_len += n;
    }
    if (e == r->disconnect_in && count_in(r, e) == 1) {
        r->in_rc1 = connman_disconnect(conn);
        r->in_rc2 = connman_disconnect(conn);
    }
    if (e == 'C' && r->shutdown_in_connect)
        r->shutdown_rc = connman_shutdown();
    if (e == 'C' && r->loop_calls_in_connect) {
        connman_config cfg = connman_config_default();
        r->configure_rc = connman_configure(&cfg);
        r->dispatch_rc = connman_dispatch();
    }
    if (e == 'r' && r->handshake) {
        size_t l = strlen(r->handshake);
        if (r->handshake_raw)
            r->handshake_rc = send(fd, r->handshake, l, MSG_NOSIGNAL) == (ssize_t)l ? 0 : -1;
        else
            r->handshake_rc = connman_send(conn, (const uint8_t *)r->handshake, l);
    }
    if (e == 'D' && r->disconnect_all_in_data)
        connman_disconnect_all();
    if (e == 'X') {
        r->close_disconnect_rc = connman_disconnect(conn);
        r->close_stats_rc = connman_get_stats(conn, &r->close_stats);
        r->close_fd = connman_fd(conn);
        r->close_thread = pthread_self();
        wait_gate = r->gate_close;
    }
    r->busy--;
    pthread_mutex_unlock(&r->lock);
    if (wait_gate)
        gate_wait();
}

static void cb_connect(void *ctx, connman_conn c, int fd) { record(ctx, 'C', c, fd, NULL, 0); }
static void cb_reset(void *ctx, connman_conn c) { record(ctx, 'R', c, -1, NULL, 0); }
static void cb_reconnect(void *ctx, connman_conn c, int fd) { record(ctx, 'r', c, fd, NULL, 0); }
static void cb_data(void *ctx, connman_conn c, const uint8_t *d, size_t n) { record(ctx, 'D', c, -1, d, n); }
static void cb_close(void *ctx, connman_conn c) { record(ctx, 'X', c, -1, NULL, 0); }

static connman_handler H(struct rec *r)
{
    connman_handler h = {NULL, cb_connect, cb_reset, cb_reconnect, cb_data, cb_close};
    h.ctx = r;
    return h;
}

/* Thread-safe readers for the waits. */
static size_t count(struct rec *r, char e)
{
    size_t n;
    pthread_mutex_lock(&r->lock);
    n = count_in(r, e);
    pthread_mutex_unlock(&r->lock);
    return n;
}

static bool got_data(struct rec *r, const char *text)
{
    bool ok;
    pthread_mutex_lock(&r->lock);
    ok = r->data_len >= strlen(text) && memcmp(r->data, text, strlen(text)) == 0;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

/*
 * The callback order of SPEC guarantees 1-4: C first and once, then R and r
 * alternating (D only while up), X once and last; the same fd on every r; no
 * two callbacks of the connection at once.
 */
static bool valid_order(struct rec *r, bool closed)
{
    int state = 0; /* 0 before on_connect, 1 up, 2 down, 3 closed */
    bool ok = true, thread_ok;
    size_t i;
    pthread_mutex_lock(&r->lock);
    for (i = 0; i < r->nev; i++) {
        char e = r->ev[i];
        if (e == 'C' && state == 0)
            state = 1;
        else if (e == 'R' && state == 1)
            state = 2;
        else if (e == 'r' && state == 2)
            state = 1;
        else if (e == 'D' && state == 1)
            ;
        else if (e == 'X' && state != 3)
            state = 3;
        else
            ok = false;
    }
    ok = ok && r->overlap == 0 && r->fd_mismatch == 0 && (!closed || state == 3);
    /* All callbacks of a connection on one thread: the library's, or in embedded
     * mode the dispatching one (here: main). */
    thread_ok = r->thread_changes == 0 && (mode_threads == 0 ? r->off_main : r->on_main) == 0;
    if (!ok || !thread_ok)
        printf("     events of the connection: \"%.*s\"%s%s%s\n", (int)r->nev, r->ev,
               r->overlap ? ", callbacks overlapped" : "",
               r->fd_mismatch ? ", on_reconnect changed the fd" : "",
               thread_ok ? "" : mode_threads == 0 ? ", callbacks off the dispatching thread"
                                                  : ", callbacks on several threads or main's");
    ok = ok && thread_ok;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

static bool events_are(struct rec *r, const char *want)
{
    bool ok;
    pthread_mutex_lock(&r->lock);
    ok = r->nev == strlen(want) && memcmp(r->ev, want, r->nev) == 0;
    if (!ok)
        printf("     events: \"%.*s\", want \"%s\"\n", (int)r->nev, r->ev, want);
    pthread_mutex_unlock(&r->lock);
    return ok;
}

static connman_options fast_options(void)
{
    connman_options o = connman_options_default();
    o.backoff_initial_ms = 5;
    o.backoff_max_ms = 100;
    return o;
}

static connman_conn open_conn(struct rec *r, unsigned short port, const char *host)
{
    connman_options o = fast_options();
    connman_handler h = H(r);
    connman_conn c = {0};
    EXPECT_RC(connman_connect(port, host, &h, &o, &c), CONNMAN_OK);
    return c;
}

static int state_of(connman_conn c)
{
    connman_stats s;
    if (connman_get_stats(c, &s) != CONNMAN_OK)
        return -1;
    return s.state;
}

/* Entries of a /proc directory: -1 if it cannot be read. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Open descriptors, not counting the one reading them. */
static int count_fds(void) { return count_entries("/proc/self/fd") - 1; }

/* Threads of this process. */
static int count_threads(void) { return count_entries("/proc/self/task"); }

/* Each test ends here: everything closed, the library's threads gone. */
static void finish(void)
{
    EXPECT_RC(connman_shutdown(), CONNMAN_OK);
}

/* ---- the tests ---------------------------------------------------------- */

static void test_strerror_version(void)
{
    connman_result codes[] = {CONNMAN_OK, CONNMAN_ERR_INVALID_ARGUMENT, CONNMAN_ERR_NOT_FOUND,
                              CONNMAN_ERR_CLOSED, CONNMAN_ERR_NOT_CONNECTED,
                              CONNMAN_ERR_WOULD_BLOCK, CONNMAN_ERR_EXISTS, CONNMAN_ERR_PANIC,
                              CONNMAN_ERR_RESOLVE, CONNMAN_ERR_TOO_LARGE, CONNMAN_ERR_FACTORY,
                              CONNMAN_ERR_IN_CALLBACK, CONNMAN_ERR_OS, 9999, -1};
    size_t i, j, n = sizeof codes / sizeof codes[0];
    for (i = 0; i < n; i++) {
        const char *s = connman_strerror(codes[i]);
        EXPECT(s != NULL && s[0] != '\0');
        for (j = 0; j < i && i < n - 2; j++) /* the known codes: all different */
            EXPECT(strcmp(s, connman_strerror(codes[j])) != 0);
    }
    EXPECT(connman_version() != NULL && connman_version()[0] >= '0' &&
           connman_version()[0] <= '9');
}

static void test_options_default(void)
{
    connman_options o = connman_options_default();
    EXPECT(o.backoff_initial_ms == 10 && o.backoff_max_ms == 128000);
    EXPECT(o.connect_timeout_ms == 10000 && o.idle_timeout_ms == 0);
    EXPECT(o.healthy_after_ms == 1000 && o.send_queue_limit == 1048576);
    EXPECT(o.keepalive_idle_ms == 30000 && o.keepalive_interval_ms == 10000);
    EXPECT(o.keepalive_count == 3 && o.user_timeout_ms == 60000 && o.nodelay == 1);
}

static void test_connect_bad_arguments(void)
{
    struct rec r;
    connman_handler h;
    connman_options o;
    connman_conn c = {12345};
    char longhost[300];
    int i;
    rec_init(&r);
    h = H(&r);
    memset(longhost, 'a', 254);
    longhost[254] = '\0';
    EXPECT_RC(connman_connect(srv.port, NULL, &h, NULL, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_connect(srv.port, "", &h, NULL, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_connect(srv.port, longhost, &h, NULL, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_connect(srv.port, "\xff\xfe", &h, NULL, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_connect(0, "127.0.0.1", &h, NULL, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_connect(srv.port, "127.0.0.1", NULL, NULL, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_connect(srv.port, "127.0.0.1", &h, NULL, NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_connect(srv.port, "no-such-host.invalid", &h, NULL, &c), CONNMAN_ERR_RESOLVE);
    for (i = 0; i < 9; i++) {
        o = connman_options_default();
        switch (i) {
        case 0: o.backoff_initial_ms = 0; break;
        case 1: o.backoff_max_ms = 5; break; /* below backoff_initial_ms */
        case 2: o.connect_timeout_ms = 0; break;
        case 3: o.send_queue_limit = 0; break;
        case 4: o.send_queue_limit = 1073741825u; break;
        case 5: o.keepalive_count = 0; break;
        case 6: o.keepalive_count = 128; break;
        case 7: o.keepalive_idle_ms = 32767001u; break;
        case 8: o.nodelay = 2; break;
        }
        EXPECT_RC(connman_connect(srv.port, "127.0.0.1", &h, &o, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    }
    EXPECT(c.id == 12345); /* out-parameters are written only on success */
    EXPECT(count(&r, 'C') + count(&r, 'X') == 0);
    finish();
}

static void test_other_bad_arguments(void)
{
    connman_conn zero = {0}, c = {7};
    connman_pool pzero = {0}, p = {7};
    connman_stats st;
    connman_pool_stats ps;
    size_t n;
    int fd;
    void *ctx;
    char longname[300];
    memset(longname, 'p', 256);
    longname[256] = '\0';

    EXPECT(connman_fd(zero) == -1);
    EXPECT_RC(connman_disconnect(zero), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_send(zero, (const uint8_t *)"x", 1), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_get_stats(zero, &st), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_get_stats(zero, NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_conn_from_fd(-1, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_conn_from_fd(0, &c), CONNMAN_ERR_NOT_FOUND); /* stdin: not ours */
    EXPECT_RC(connman_conn_from_fd(0, NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_get_connection(srv.port, NULL, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_get_connection(0, "127.0.0.1", &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_get_connection(srv.port, "127.0.0.1", NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_get_connection(srv.port, "127.0.0.1", &c), CONNMAN_ERR_NOT_FOUND);
    EXPECT(c.id == 7);

    EXPECT_RC(connman_pool_create(NULL, NULL, NULL, &p), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_create("", NULL, NULL, &p), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_find(NULL, &p), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_find("", &p), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_find(longname, &p), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_find("no such pool", &p), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_find("no such pool", NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_add(pzero, srv.port, "127.0.0.1", NULL, &n), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_size(pzero, &n), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_get_connection(pzero, 0, &fd), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_get_handler(pzero, 0, &ctx), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_conn(pzero, 0, &c), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_next(pzero, &c), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_get_stats(pzero, &ps), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_disconnect(pzero), CONNMAN_ERR_NOT_FOUND);
    EXPECT(p.id == 7 && c.id == 7);
    finish();
}

static connman_result refuse_all(void *ctx, size_t index, connman_handler *out)
{
    (void)ctx;
    (void)index;
    (void)out;
    return 42; /* any value but CONNMAN_OK refuses */
}

static void test_pool_bad_arguments(void)
{
    connman_pool p, q = {7};
    connman_conn c;
    connman_pool_stats ps;
    size_t n = 99;
    int fd;
    void *ctx;
    char longname[300];
    memset(longname, 'p', 256);
    longname[256] = '\0';

    EXPECT_RC(connman_pool_create(longname, refuse_all, NULL, &q), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_create("ct-bad", NULL, NULL, &q), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_create("ct-bad", refuse_all, NULL, NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT(q.id == 7);
    EXPECT_RC(connman_pool_create("ct-bad", refuse_all, NULL, &p), CONNMAN_OK);
    EXPECT_RC(connman_pool_add(p, 0, "127.0.0.1", NULL, &n), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_add(p, srv.port, NULL, NULL, &n), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_add(p, srv.port, "", NULL, &n), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_add(p, srv.port, "127.0.0.1", NULL, NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_add(p, srv.port, "no-such-host.invalid", NULL, &n), CONNMAN_ERR_RESOLVE);
    EXPECT_RC(connman_pool_add(p, srv.port, "127.0.0.1", NULL, &n), CONNMAN_ERR_FACTORY);
    EXPECT(n == 99);
    EXPECT_RC(connman_pool_size(p, NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_size(p, &n), CONNMAN_OK);
    EXPECT(n == 0);
    EXPECT_RC(connman_pool_get_connection(p, 0, &fd), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_get_connection(p, 0, NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_get_handler(p, 0, &ctx), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_get_handler(p, 0, NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_conn(p, 0, &c), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_conn(p, 0, NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_next(p, &c), CONNMAN_ERR_NOT_CONNECTED);
    EXPECT_RC(connman_pool_next(p, NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_get_stats(p, NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_get_stats(p, &ps), CONNMAN_OK);
    EXPECT(ps.members == 0 && ps.connected == 0 && ps.closed == 0);
    /* An empty pool is released as soon as it is disconnected. */
    EXPECT_RC(connman_pool_disconnect(p), CONNMAN_OK);
    EXPECT_RC(connman_pool_size(p, &n), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_create("ct-bad", refuse_all, NULL, &p), CONNMAN_OK);
    finish();
    EXPECT_RC(connman_pool_find("ct-bad", &p), CONNMAN_ERR_NOT_FOUND); /* shutdown forgets pools */
}

static void test_lifecycle(void)
{
    struct rec r;
    connman_conn c, found;
    connman_stats st;
    int fd;
    rec_init(&r);
    c = open_conn(&r, srv.port, "127.0.0.1");
    EXPECT_SOON(count(&r, 'C') == 1);
    EXPECT(r.conn.id == c.id && c.id != 0);
    fd = connman_fd(c);
    EXPECT(fd >= 0 && fd == r.fd);
    EXPECT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    EXPECT_RC(connman_conn_from_fd(fd, &found), CONNMAN_OK);
    EXPECT(found.id == c.id);
    EXPECT_RC(connman_get_connection(srv.port, "127.0.0.1", &found), CONNMAN_OK);
    EXPECT(found.id == c.id);
    EXPECT(state_of(c) == CONNMAN_STATE_CONNECTED);
    EXPECT_RC(connman_send(c, NULL, 0), CONNMAN_OK);
    EXPECT_RC(connman_send(c, NULL, 3), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_send(c, (const uint8_t *)"one\n", 4), CONNMAN_OK);
    EXPECT_SOON(got_data(&r, "one\n"));

    /* Three drops, FIN and RST: each gives on_reset then on_reconnect, same fd. */
    EXPECT(server_cmd(&srv, "drop"));
    EXPECT_SOON(count(&r, 'r') == 1);
    EXPECT(server_cmd(&srv, "rst"));
    EXPECT_SOON(count(&r, 'r') == 2);
    EXPECT(server_cmd(&srv, "drop"));
    EXPECT_SOON(count(&r, 'r') == 3);
    EXPECT(connman_fd(c) == fd);
    EXPECT_RC(connman_get_stats(c, &st), CONNMAN_OK);
    EXPECT(st.state == CONNMAN_STATE_CONNECTED && st.resets == 3 && st.connects == 4);
    EXPECT_RC(connman_send(c, (const uint8_t *)"two\n", 4), CONNMAN_OK);
    EXPECT_SOON(got_data(&r, "one\ntwo\n"));
    EXPECT(valid_order(&r, false));

    /* Disconnect, then again: CLOSED (on_close is held at the gate so that it
     * cannot have finished); after on_close every call: NOT_FOUND. */
    r.gate_close = true;
    gate_set(false);
    EXPECT_RC(connman_disconnect(c), CONNMAN_OK);
    EXPECT_RC(connman_disconnect(c), CONNMAN_ERR_CLOSED);
    EXPECT_RC(connman_send(c, (const uint8_t *)"x", 1), CONNMAN_ERR_CLOSED);
    EXPECT_SOON(count(&r, 'X') == 1);
    gate_set(true);
    EXPECT(r.close_stats_rc == CONNMAN_OK && r.close_stats.state == CONNMAN_STATE_CLOSED);
    EXPECT(r.close_disconnect_rc == CONNMAN_ERR_CLOSED && r.close_fd == -1);
    EXPECT_SOON(connman_disconnect(c) == CONNMAN_ERR_NOT_FOUND);
    EXPECT(connman_fd(c) == -1);
    EXPECT_RC(connman_get_stats(c, &st), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_send(c, (const uint8_t *)"x", 1), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_conn_from_fd(fd, &found), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_get_connection(srv.port, "127.0.0.1", &found), CONNMAN_ERR_NOT_FOUND);
    finish();
    EXPECT(valid_order(&r, true));
    EXPECT(count(&r, 'X') == 1);
}

static void test_get_connection(void)
{
    struct rec a, b, l;
    connman_conn ca, cb, cl, found;
    rec_init(&a);
    rec_init(&b);
    rec_init(&l);
    ca = open_conn(&a, srv.port, "127.0.0.1");
    cb = open_conn(&b, srv.port, "127.0.0.1");
    cl = open_conn(&l, srv.port, "localhost");
    /* The most recent one of this exact host string and port. */
    EXPECT_RC(connman_get_connection(srv.port, "127.0.0.1", &found), CONNMAN_OK);
    EXPECT(found.id == cb.id);
    EXPECT_RC(connman_get_connection(srv.port, "localhost", &found), CONNMAN_OK);
    EXPECT(found.id == cl.id);
    EXPECT_RC(connman_disconnect(cb), CONNMAN_OK);
    EXPECT_SOON(count(&b, 'X') == 1);
    EXPECT_RC(connman_get_connection(srv.port, "127.0.0.1", &found), CONNMAN_OK);
    EXPECT(found.id == ca.id);
    finish();
    EXPECT(count(&a, 'X') == 1 && count(&l, 'X') == 1);
}

static void test_disconnect_while_connecting(void)
{
    struct rec r1, r2;
    connman_conn c;
    connman_stats st;
    unsigned short port = dead_port();
    rec_init(&r1);
    rec_init(&r2);
    /* Right after connect: the first attempt is in flight or failing. */
    r1.gate_close = true;
    gate_set(false);
    c = open_conn(&r1, port, "127.0.0.1");
    EXPECT_RC(connman_disconnect(c), CONNMAN_OK);
    EXPECT_RC(connman_disconnect(c), CONNMAN_ERR_CLOSED);
    gate_set(true);
    EXPECT_SOON(count(&r1, 'X') == 1);
    EXPECT(events_are(&r1, "X"));
    /* Backing off after refused attempts: stats say why. */
    c = open_conn(&r2, port, "127.0.0.1");
    EXPECT_SOON(connman_get_stats(c, &st) == CONNMAN_OK && st.consecutive_failures >= 3);
    EXPECT(st.state == CONNMAN_STATE_CONNECTING && st.connects == 0);
    EXPECT(st.last_error == ECONNREFUSED && st.attempts >= 3);
    EXPECT_RC(connman_send(c, (const uint8_t *)"x", 1), CONNMAN_ERR_NOT_CONNECTED);
    EXPECT_RC(connman_disconnect(c), CONNMAN_OK);
    EXPECT_SOON(count(&r2, 'X') == 1);
    EXPECT(events_are(&r2, "X"));
    finish();
}

static void test_disconnect_while_reconnecting(void)
{
    struct rec r;
    connman_conn c;
    connman_result rc;
    int st;
    rec_init(&r);
    c = open_conn(&r, srv.port, "127.0.0.1");
    EXPECT_SOON(count(&r, 'C') == 1);
    EXPECT(server_cmd(&srv, "stop")); /* drops everything and stops listening */
    EXPECT_SOON(count(&r, 'R') == 1);
    EXPECT(state_of(c) == CONNMAN_STATE_RECONNECTING);
    EXPECT_RC(connman_send(c, (const uint8_t *)"x", 1), CONNMAN_ERR_NOT_CONNECTED);
    EXPECT_RC(connman_disconnect(c), CONNMAN_OK);
    st = state_of(c);
    EXPECT(st == CONNMAN_STATE_CLOSING || st == CONNMAN_STATE_CLOSED || st == -1);
    rc = connman_send(c, (const uint8_t *)"x", 1); /* NOT_FOUND once on_close ran */
    EXPECT(rc == CONNMAN_ERR_CLOSED || rc == CONNMAN_ERR_NOT_FOUND);
    EXPECT_SOON(count(&r, 'X') == 1);
    EXPECT(server_cmd(&srv, "start"));
    finish();
    EXPECT(events_are(&r, "CRX"));
}

/* Disconnect inside each kind of callback, twice: OK then CLOSED. */
static void test_disconnect_inside_callbacks(void)
{
    static const char kinds[] = "CDRr";
    size_t k;
    for (k = 0; k < 4; k++) {
        struct rec r;
        connman_conn c;
        rec_init(&r);
        r.disconnect_in = kinds[k];
        c = open_conn(&r, srv.port, "127.0.0.1");
        if (kinds[k] != 'C') {
            EXPECT_SOON(count(&r, 'C') == 1);
            if (kinds[k] == 'D')
                EXPECT_RC(connman_send(c, (const uint8_t *)"data\n", 5), CONNMAN_OK);
            else
                EXPECT(server_cmd(&srv, "drop"));
            if (kinds[k] == 'r') {
                EXPECT_SOON(count(&r, 'r') == 1);
            }
        }
        EXPECT_SOON(count(&r, 'X') == 1);
        EXPECT(r.in_rc1 == CONNMAN_OK && r.in_rc2 == CONNMAN_ERR_CLOSED);
        finish();
        EXPECT(valid_order(&r, true));
        /* Nothing but on_close after the callback that disconnected. */
        pthread_mutex_lock(&r.lock);
        EXPECT(r.nev >= 2 && r.ev[r.nev - 2] == kinds[k]);
        pthread_mutex_unlock(&r.lock);
    }
}

struct racer {
    connman_conn conn;
    connman_result rc;
};

static void *disconnect_thread(void *arg)
{
    struct racer *t = arg;
    t->rc = connman_disconnect(t->conn);
    return NULL;
}

/* Disconnect from other threads, two at once: exactly one wins. */
static void test_disconnect_from_threads(void)
{
    struct rec r;
    struct racer a, b;
    pthread_t ta, tb;
    rec_init(&r);
    a.conn = b.conn = open_conn(&r, srv.port, "127.0.0.1");
    EXPECT_SOON(count(&r, 'C') == 1);
    r.gate_close = true; /* hold on_close: the loser sees CLOSED, not NOT_FOUND */
    gate_set(false);
    pthread_create(&ta, NULL, disconnect_thread, &a);
    pthread_create(&tb, NULL, disconnect_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    gate_set(true);
    EXPECT((a.rc == CONNMAN_OK && b.rc == CONNMAN_ERR_CLOSED) ||
           (b.rc == CONNMAN_OK && a.rc == CONNMAN_ERR_CLOSED));
    EXPECT_SOON(count(&r, 'X') == 1);
    finish();
    EXPECT(events_are(&r, "CX"));
}

static void test_shutdown_in_callback_and_restart(void)
{
    struct rec r1, r2;
    connman_conn c;
    int fds;
    rec_init(&r1);
    rec_init(&r2);
    EXPECT_RC(connman_shutdown(), CONNMAN_OK); /* nothing running: fine */
    fds = count_fds();
    r1.shutdown_in_connect = true;
    c = open_conn(&r1, srv.port, "127.0.0.1");
    EXPECT_SOON(count(&r1, 'C') == 1);
    EXPECT(r1.shutdown_rc == CONNMAN_ERR_IN_CALLBACK);
    EXPECT(state_of(c) == CONNMAN_STATE_CONNECTED);
    /* shutdown returns once every on_close has run: no wait needed. */
    EXPECT_RC(connman_shutdown(), CONNMAN_OK);
    EXPECT(count(&r1, 'X') == 1);
    EXPECT(connman_fd(c) == -1);
    EXPECT(count_fds() == fds);
    /* And the library starts afresh. */
    open_conn(&r2, srv.port, "127.0.0.1");
    EXPECT_SOON(count(&r2, 'C') == 1);
    finish();
    EXPECT(count(&r2, 'X') == 1 && count_fds() == fds);
    EXPECT(events_are(&r1, "CX") && events_are(&r2, "CX"));
}

/* Ten drops of a connection already up (to `s`): not one descriptor more. */
static void check_no_leak(struct rec *r, struct server *s, int fds_before)
{
    int fds_up, i;
    EXPECT_SOON(count(r, 'C') == 1);
    fds_up = count_fds(); /* the connection and the library's own (epoll, ...) */
    for (i = 1; i <= 10; i++) {
        EXPECT(server_cmd(s, i % 2 || s->port == 0 ? "drop" : "rst"));
        EXPECT_SOON(count(r, 'r') == (size_t)i);
    }
    EXPECT(count_fds() == fds_up);
    finish();
    EXPECT(count_fds() == fds_before);
    EXPECT(valid_order(r, true));
}

static void test_no_descriptor_leak(void)
{
    struct rec r;
    int fds = count_fds();
    rec_init(&r);
    open_conn(&r, srv.port, "127.0.0.1");
    check_no_leak(&r, &srv, fds);
}

/* ---- pools ---------------------------------------------------------------- */

struct factory {
    struct rec *recs;
    size_t max;
    unsigned calls;
    bool refuse;
    bool reenter;
    connman_pool pool;
    connman_result reenter_rc;
};

static connman_result make_handler(void *ctx, size_t index, connman_handler *out)
{
    struct factory *f = ctx;
    f->calls++;
    if (f->reenter) {
        size_t i;
        f->reenter_rc = connman_pool_add(f->pool, srv.port, "127.0.0.1", NULL, &i);
    }
    if (f->refuse || index >= f->max)
        return CONNMAN_ERR_FACTORY;
    *out = H(&f->recs[index]);
    return CONNMAN_OK;
}

static size_t index_of(connman_pool p, connman_conn c)
{
    size_t i;
    for (i = 0; i < 8; i++) {
        connman_conn m;
        if (connman_pool_conn(p, i, &m) == CONNMAN_OK && m.id == c.id)
            return i;
    }
    return 99;
}

static size_t pool_connected(connman_pool p)
{
    connman_pool_stats ps;
    if (connman_pool_get_stats(p, &ps) != CONNMAN_OK)
        return 99;
    return ps.connected;
}

static void test_pool(void)
{
    struct rec recs[4];
    struct factory f;
    connman_pool p, found;
    connman_pool_stats ps;
    connman_options o = fast_options();
    connman_conn c;
    size_t i, idx, n, prev = 99;
    int fd;
    void *ctx;

    for (i = 0; i < 4; i++)
        rec_init(&recs[i]);
    memset(&f, 0, sizeof f);
    f.recs = recs;
    f.max = 4;
    EXPECT_RC(connman_pool_create("ct-pool", make_handler, &f, &p), CONNMAN_OK);
    f.pool = p;
    EXPECT_RC(connman_pool_create("ct-pool", make_handler, &f, &found), CONNMAN_ERR_EXISTS);
    EXPECT_RC(connman_pool_find("ct-pool", &found), CONNMAN_OK);
    EXPECT(found.id == p.id);
    for (i = 0; i < 3; i++) {
        EXPECT_RC(connman_pool_add(p, srv.port, "127.0.0.1", &o, &idx), CONNMAN_OK);
        EXPECT(idx == i);
    }
    EXPECT(f.calls == 3);
    EXPECT_RC(connman_pool_size(p, &n), CONNMAN_OK);
    EXPECT(n == 3);
    EXPECT_SOON(count(&recs[0], 'C') + count(&recs[1], 'C') + count(&recs[2], 'C') == 3);
    EXPECT_SOON(pool_connected(p) == 3);

    /* By index: the fd member i's on_connect got, the ctx the factory gave. */
    for (i = 0; i < 3; i++) {
        EXPECT_RC(connman_pool_get_connection(p, i, &fd), CONNMAN_OK);
        EXPECT(fd == recs[i].fd);
        EXPECT_RC(connman_pool_get_handler(p, i, &ctx), CONNMAN_OK);
        EXPECT(ctx == &recs[i]);
        EXPECT_RC(connman_pool_conn(p, i, &c), CONNMAN_OK);
        EXPECT(connman_fd(c) == fd && c.id == recs[i].conn.id);
    }
    EXPECT_RC(connman_pool_get_connection(p, 3, &fd), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_get_handler(p, 3, &ctx), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_conn(p, 3, &c), CONNMAN_ERR_NOT_FOUND);
    /* Pool members are not single connections. */
    EXPECT_RC(connman_get_connection(srv.port, "127.0.0.1", &c), CONNMAN_ERR_NOT_FOUND);

    /* Round robin in index order. */
    for (i = 0; i < 9; i++) {
        EXPECT_RC(connman_pool_next(p, &c), CONNMAN_OK);
        idx = index_of(p, c);
        EXPECT(idx < 3);
        if (prev != 99)
            EXPECT(idx == (prev + 1) % 3);
        prev = idx;
    }

    /* All members down: NOT_CONNECTED; back up: OK. */
    EXPECT(server_cmd(&srv, "stop"));
    EXPECT_SOON(pool_connected(p) == 0);
    EXPECT_RC(connman_pool_next(p, &c), CONNMAN_ERR_NOT_CONNECTED);
    EXPECT(count(&recs[0], 'R') == 1 && count(&recs[1], 'R') == 1 && count(&recs[2], 'R') == 1);
    EXPECT(server_cmd(&srv, "start"));
    EXPECT_SOON(pool_connected(p) == 3);
    EXPECT_RC(connman_pool_next(p, &c), CONNMAN_OK);

    /* A member disconnected on its own: skipped by next, CLOSED by index. */
    EXPECT_RC(connman_pool_conn(p, 1, &c), CONNMAN_OK);
    EXPECT_RC(connman_disconnect(c), CONNMAN_OK);
    EXPECT_SOON(count(&recs[1], 'X') == 1);
    EXPECT_RC(connman_pool_get_connection(p, 1, &fd), CONNMAN_ERR_CLOSED);
    EXPECT_RC(connman_pool_get_handler(p, 1, &ctx), CONNMAN_ERR_CLOSED);
    for (i = 0; i < 6; i++) {
        EXPECT_RC(connman_pool_next(p, &c), CONNMAN_OK);
        EXPECT(index_of(p, c) != 1);
    }
    /* closed counts a member once its on_close has returned. */
    EXPECT_SOON(connman_pool_get_stats(p, &ps) == CONNMAN_OK && ps.closed == 1);
    EXPECT(ps.members == 3 && ps.connected == 2);

    /* The factory refuses: FACTORY, nothing added; re-entering it: IN_CALLBACK. */
    f.refuse = true;
    f.reenter = true;
    idx = 77;
    EXPECT_RC(connman_pool_add(p, srv.port, "127.0.0.1", &o, &idx), CONNMAN_ERR_FACTORY);
    EXPECT(idx == 77 && f.calls == 4);
    EXPECT(f.reenter_rc == CONNMAN_ERR_IN_CALLBACK);
    EXPECT_RC(connman_pool_size(p, &n), CONNMAN_OK);
    EXPECT(n == 3);
    f.refuse = false;
    f.reenter = false;
    EXPECT_RC(connman_pool_add(p, srv.port, "127.0.0.1", &o, &idx), CONNMAN_OK);
    EXPECT(idx == 3);
    EXPECT_SOON(count(&recs[3], 'C') == 1);

    /* Pool disconnect: while a member's on_close is held, the pool is closing:
     * found by name, the name taken, every call CLOSED. */
    for (i = 0; i < 4; i++)
        recs[i].gate_close = true;
    gate_set(false);
    EXPECT_RC(connman_pool_disconnect(p), CONNMAN_OK);
    EXPECT_RC(connman_pool_disconnect(p), CONNMAN_ERR_CLOSED);
    EXPECT_RC(connman_pool_add(p, srv.port, "127.0.0.1", &o, &idx), CONNMAN_ERR_CLOSED);
    EXPECT_RC(connman_pool_next(p, &c), CONNMAN_ERR_CLOSED);
    EXPECT_RC(connman_pool_find("ct-pool", &found), CONNMAN_OK);
    EXPECT_RC(connman_pool_create("ct-pool", make_handler, &f, &found), CONNMAN_ERR_EXISTS);
    gate_set(true);
    EXPECT_SOON(count(&recs[0], 'X') + count(&recs[2], 'X') + count(&recs[3], 'X') == 3);
    EXPECT_SOON(connman_pool_find("ct-pool", &found) == CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_size(p, &n), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_create("ct-pool", make_handler, &f, &found), CONNMAN_OK);
    finish();
    for (i = 0; i < 4; i++) {
        EXPECT(count(&recs[i], 'X') == 1);
        EXPECT(valid_order(&recs[i], true));
    }
}

static void test_disconnect_all(void)
{
    struct rec recs[5];
    struct factory f;
    connman_pool p, found;
    connman_conn c[3];
    size_t i, idx;
    for (i = 0; i < 5; i++)
        rec_init(&recs[i]);
    memset(&f, 0, sizeof f);
    f.recs = recs + 3;
    f.max = 2;
    c[0] = open_conn(&recs[0], srv.port, "127.0.0.1");
    c[1] = open_conn(&recs[1], srv.port, "localhost");
    c[2] = open_conn(&recs[2], dead_port(), "127.0.0.1"); /* never connects */
    EXPECT_RC(connman_pool_create("ct-all", make_handler, &f, &p), CONNMAN_OK);
    EXPECT_RC(connman_pool_add(p, srv.port, "127.0.0.1", NULL, &idx), CONNMAN_OK);
    EXPECT_RC(connman_pool_add(p, srv.port, "127.0.0.1", NULL, &idx), CONNMAN_OK);
    EXPECT_SOON(count(&recs[0], 'C') + count(&recs[1], 'C') + count(&recs[3], 'C') +
                    count(&recs[4], 'C') == 4);
    EXPECT_RC(connman_disconnect_all(), CONNMAN_OK);
    EXPECT_SOON(count(&recs[0], 'X') + count(&recs[1], 'X') + count(&recs[2], 'X') +
                    count(&recs[3], 'X') + count(&recs[4], 'X') == 5);
    EXPECT_SOON(connman_pool_find("ct-all", &found) == CONNMAN_ERR_NOT_FOUND);
    for (i = 0; i < 3; i++) /* stale once on_close has returned */
        EXPECT_SOON(connman_disconnect(c[i]) == CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_disconnect(p), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_disconnect_all(), CONNMAN_OK); /* nothing left: fine */

    /* And from inside a callback. */
    rec_init(&recs[0]);
    rec_init(&recs[1]);
    recs[0].disconnect_all_in_data = true;
    c[0] = open_conn(&recs[0], srv.port, "127.0.0.1");
    c[1] = open_conn(&recs[1], srv.port, "127.0.0.1");
    EXPECT_SOON(count(&recs[0], 'C') == 1);
    EXPECT_RC(connman_send(c[0], (const uint8_t *)"bye\n", 4), CONNMAN_OK);
    EXPECT_SOON(count(&recs[0], 'X') + count(&recs[1], 'X') == 2);
    finish();
    for (i = 0; i < 5; i++) {
        EXPECT(count(&recs[i], 'X') == 1);
        EXPECT(valid_order(&recs[i], true));
    }
}

/* ---- version 2: configure, embedded mode, N threads ---------------------- */

static bool message_has(const char *what)
{
    const char *m = connman_last_error_message();
    if (strstr(m, what))
        return true;
    printf("     last error message \"%s\" does not name \"%s\"\n", m, what);
    return false;
}

static void test_configure(void)
{
    connman_config cfg = connman_config_default();
    struct rec r;
    connman_conn c;
    int efd;
    size_t i;
    rec_init(&r);
    EXPECT(cfg.threads == 1);
    for (i = 0; i < sizeof cfg.reserved / sizeof cfg.reserved[0]; i++)
        EXPECT(cfg.reserved[i] == 0);
    EXPECT_RC(connman_configure(NULL), CONNMAN_OK);
    cfg.threads = CONNMAN_MAX_THREADS + 1;
    EXPECT_RC(connman_configure(&cfg), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT(message_has("threads"));
    cfg = connman_config_default();
    cfg.reserved[2] = 1;
    EXPECT_RC(connman_configure(&cfg), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT(message_has("reserved"));
    /* Not in embedded mode: no event fd, no dispatch. */
    EXPECT(connman_event_fd() == -1);
    EXPECT_RC(connman_dispatch(), CONNMAN_ERR_STATE);

    set_mode(0);
    efd = connman_event_fd(); /* starts the library */
    EXPECT(efd >= 0 && connman_event_fd() == efd);
    EXPECT(fcntl(efd, F_GETFD) & FD_CLOEXEC);
    /* Running now: configure is refused and changes nothing. */
    cfg = connman_config_default();
    EXPECT_RC(connman_configure(&cfg), CONNMAN_ERR_STATE);
    EXPECT(connman_last_error_message()[0] != '\0');
    EXPECT(connman_event_fd() == efd);
    EXPECT_RC(connman_dispatch(), CONNMAN_OK); /* nothing to do: harmless */
    /* Inside a callback: configure and dispatch refuse. */
    r.loop_calls_in_connect = true;
    c = open_conn(&r, srv.port, "127.0.0.1");
    EXPECT_SOON(count(&r, 'C') == 1);
    EXPECT(r.configure_rc == CONNMAN_ERR_IN_CALLBACK && r.dispatch_rc == CONNMAN_ERR_IN_CALLBACK);
    EXPECT(state_of(c) == CONNMAN_STATE_CONNECTED);
    finish();
    EXPECT(events_are(&r, "CX"));
    /* After shutdown configure works again: 2 threads, then the default. */
    cfg.threads = 2;
    EXPECT_RC(connman_configure(&cfg), CONNMAN_OK);
    EXPECT(connman_event_fd() == -1);
    EXPECT_RC(connman_configure(NULL), CONNMAN_OK);
}

/* Embedded: no library thread, callbacks inside dispatch only, and idle means
 * an event fd that stays unreadable. */
static void test_embedded_idle(void)
{
    struct rec r;
    connman_conn c;
    int threads = count_threads(), efd = connman_event_fd(), wakeups = 0, i;
    long long t;
    struct pollfd p;
    rec_init(&r);
    c = open_conn(&r, srv.port, "127.0.0.1");
    EXPECT_SOON(count(&r, 'C') == 1);
    EXPECT(count_threads() == threads); /* numeric host: no thread at all */
    EXPECT_RC(connman_send(c, (const uint8_t *)"ping\n", 5), CONNMAN_OK);
    EXPECT_SOON(got_data(&r, "ping\n"));

    /* Idle: past every timer a fresh connection may have (healthy_after_ms,
     * 1000 by default), then 1 s of polls with a timeout: none wakes up. */
    t = now_ms() + 1100;
    while (now_ms() < t)
        pump(50);
    p.fd = efd;
    p.events = POLLIN;
    for (i = 0; i < 10; i++) {
        p.revents = 0;
        if (poll(&p, 1, 100) > 0) {
            wakeups++;
            connman_dispatch();
        }
    }
    EXPECT(wakeups == 0);

    /* I/O makes it readable; the callbacks wait for the dispatch. */
    EXPECT(server_cmd(&srv, "drop"));
    p.revents = 0;
    EXPECT(poll(&p, 1, WAIT_MS) == 1 && (p.revents & POLLIN));
    EXPECT(count(&r, 'R') == 0);
    EXPECT_SOON(count(&r, 'r') == 1);
    finish();
    EXPECT(valid_order(&r, true) && events_are(&r, "CDRrX"));
}

/* A listener that never accepts, its queue full: connects to it hang (the SYN
 * is dropped) until connman's connect timeout. Returns its port. */
static unsigned short blackhole(int fds[4])
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int i;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bind(fds[0], (struct sockaddr *)&a, sizeof a);
    listen(fds[0], 0);
    getsockname(fds[0], (struct sockaddr *)&a, &len);
    for (i = 1; i < 4; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        connect(fds[i], (struct sockaddr *)&a, sizeof a);
    }
    sleep_ms(50);
    return ntohs(a.sin_port);
}

/* Polls the event fd (timeout 2 s) and dispatches until `done`; counts the polls
 * that timed out: a due timer must make the fd readable by itself. */
static int poll_until(bool (*done)(connman_conn), connman_conn c, long ms)
{
    struct pollfd p;
    int timeouts = 0;
    long long deadline = now_ms() + ms;
    p.fd = connman_event_fd();
    p.events = POLLIN;
    while (!done(c) && now_ms() < deadline) {
        p.revents = 0;
        if (poll(&p, 1, 2000) > 0)
            connman_dispatch();
        else
            timeouts++;
    }
    return timeouts;
}

static bool five_refused(connman_conn c)
{
    connman_stats st;
    return connman_get_stats(c, &st) == CONNMAN_OK && st.attempts >= 5 &&
           st.last_error == ECONNREFUSED;
}

static bool timed_out_twice(connman_conn c)
{
    connman_stats st;
    return connman_get_stats(c, &st) == CONNMAN_OK && st.consecutive_failures >= 2 &&
           st.last_error == ETIMEDOUT;
}

/* Embedded: backoff and connect-timeout timers fire through the event fd. */
static void test_embedded_timers(void)
{
    struct rec r1, r2;
    connman_options o = fast_options();
    connman_handler h;
    connman_conn c;
    connman_stats st;
    uint64_t a1;
    long long t0;
    int hole[4], i;
    rec_init(&r1);
    rec_init(&r2);
    /* Refused, with backoff: nothing happens without a dispatch ... */
    o.backoff_initial_ms = 20;
    o.backoff_max_ms = 40;
    h = H(&r1);
    EXPECT_RC(connman_connect(dead_port(), "127.0.0.1", &h, &o, &c), CONNMAN_OK);
    sleep_ms(100);
    EXPECT_RC(connman_get_stats(c, &st), CONNMAN_OK);
    a1 = st.attempts;
    sleep_ms(150);
    EXPECT_RC(connman_get_stats(c, &st), CONNMAN_OK);
    EXPECT(a1 <= 1 && st.attempts == a1);
    /* ... and every retry comes through the event fd. */
    EXPECT(poll_until(five_refused, c, WAIT_MS) == 0);
    EXPECT(five_refused(c));
    EXPECT_RC(connman_disconnect(c), CONNMAN_OK);
    EXPECT_SOON(count(&r1, 'X') == 1);

    /* A connect that hangs ends by connect_timeout_ms, through the event fd. */
    o.connect_timeout_ms = 100;
    h = H(&r2);
    t0 = now_ms();
    EXPECT_RC(connman_connect(blackhole(hole), "127.0.0.1", &h, &o, &c), CONNMAN_OK);
    EXPECT(poll_until(timed_out_twice, c, WAIT_MS) == 0);
    EXPECT(timed_out_twice(c) && now_ms() - t0 >= 200);
    finish();
    for (i = 0; i < 4; i++)
        close(hole[i]);
    EXPECT(events_are(&r1, "X") && events_are(&r2, "X"));
    EXPECT(valid_order(&r1, true) && valid_order(&r2, true));
}

struct from_thread {
    struct rec *rec;
    connman_conn conn;
    connman_result rc;
    char what; /* 'c' connect, 'd' disconnect, 's' shutdown */
};

static void *call_from_thread(void *arg)
{
    struct from_thread *t = arg;
    if (t->what == 'c') {
        connman_options o = fast_options();
        connman_handler h = H(t->rec);
        t->rc = connman_connect(srv.port, "127.0.0.1", &h, &o, &t->conn);
    } else if (t->what == 'd') {
        t->rc = connman_disconnect(t->conn);
    } else {
        t->rc = connman_shutdown();
    }
    return NULL;
}

static void in_thread(struct from_thread *t)
{
    pthread_t th;
    pthread_create(&th, NULL, call_from_thread, t);
    pthread_join(th, NULL);
}

static bool readable_within(int ms)
{
    struct pollfd p;
    p.fd = connman_event_fd();
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* Embedded: calls from another thread take effect at the next dispatch, and
 * the callbacks run on the dispatching thread. */
static void test_embedded_other_threads(void)
{
    struct rec r1, r2;
    struct from_thread t;
    rec_init(&r1);
    rec_init(&r2);
    t.rec = &r1;
    t.what = 'c';
    in_thread(&t);
    EXPECT_RC(t.rc, CONNMAN_OK);
    EXPECT(readable_within(WAIT_MS));
    sleep_ms(50);
    EXPECT(count(&r1, 'C') == 0); /* no dispatch yet */
    EXPECT_SOON(count(&r1, 'C') == 1);
    EXPECT(r1.on_main == 1 && r1.off_main == 0);

    t.what = 'd';
    in_thread(&t);
    EXPECT_RC(t.rc, CONNMAN_OK);
    EXPECT(readable_within(WAIT_MS));
    EXPECT(count(&r1, 'X') == 0);
    EXPECT_SOON(count(&r1, 'X') == 1);
    EXPECT(events_are(&r1, "CX") && valid_order(&r1, true));

    /* connman_shutdown from another thread, nobody dispatching: the remaining
     * on_close run on that thread. */
    open_conn(&r2, srv.port, "127.0.0.1");
    EXPECT_SOON(count(&r2, 'C') == 1);
    t.what = 's';
    in_thread(&t);
    EXPECT_RC(t.rc, CONNMAN_OK);
    EXPECT(events_are(&r2, "CX"));
    EXPECT(!pthread_equal(r2.close_thread, main_thread));
    finish();
}

/* Embedded: connman_shutdown, called outside dispatch with work pending, runs
 * every remaining on_close on this thread and closes the event fd. */
static void test_embedded_shutdown(void)
{
    struct rec r[4];
    connman_conn c;
    connman_pool p;
    size_t i, idx;
    int efd = connman_event_fd(), fds = count_fds();
    struct factory f;
    for (i = 0; i < 4; i++)
        rec_init(&r[i]);
    memset(&f, 0, sizeof f);
    f.recs = &r[3];
    f.max = 1;
    c = open_conn(&r[0], srv.port, "127.0.0.1");
    open_conn(&r[1], srv.port, "127.0.0.1");
    open_conn(&r[2], dead_port(), "127.0.0.1"); /* backing off */
    EXPECT_RC(connman_pool_create("ct-embedded", make_handler, &f, &p), CONNMAN_OK);
    EXPECT_RC(connman_pool_add(p, srv.port, "127.0.0.1", NULL, &idx), CONNMAN_OK);
    EXPECT_SOON(count(&r[0], 'C') + count(&r[1], 'C') + count(&r[3], 'C') == 3);
    EXPECT_RC(connman_disconnect(c), CONNMAN_OK); /* its on_close pending too */
    EXPECT(count(&r[0], 'X') == 0);
    EXPECT_RC(connman_shutdown(), CONNMAN_OK);
    for (i = 0; i < 4; i++) {
        EXPECT(count(&r[i], 'X') == 1);
        EXPECT(valid_order(&r[i], true)); /* on main, the caller */
    }
    EXPECT(fcntl(efd, F_GETFD) == -1 && errno == EBADF);
    EXPECT(count_fds() < fds);
}

/* threads = 2: connections spread over both, each connection on one. */
static void test_two_threads(void)
{
    struct rec r[8];
    pthread_t seen[8];
    size_t i, j, nseen = 0;
    int threads = count_threads();
    for (i = 0; i < 8; i++) {
        rec_init(&r[i]);
        open_conn(&r[i], srv.port, "127.0.0.1");
    }
    for (i = 0; i < 8; i++)
        EXPECT_SOON(count(&r[i], 'C') == 1);
    for (i = 0; i < 8; i++) {
        for (j = 0; j < nseen && !pthread_equal(seen[j], r[i].thread); j++) {
        }
        if (j == nseen)
            seen[nseen++] = r[i].thread;
    }
    EXPECT(nseen == 2);
    EXPECT(count_threads() >= threads + 2);
    EXPECT(server_cmd(&srv, "drop"));
    for (i = 0; i < 8; i++)
        EXPECT_SOON(count(&r[i], 'r') == 1);
    finish();
    for (i = 0; i < 8; i++)
        EXPECT(valid_order(&r[i], true)); /* one thread each, never main */
    EXPECT_SOON(count_threads() == threads);
}

/* ---- version 2: Unix sockets ---------------------------------------------- */

static connman_conn open_unix(struct rec *r, const char *path, const connman_options *o)
{
    connman_options fast = fast_options();
    connman_handler h = H(r);
    connman_conn c = {0};
    EXPECT_RC(connman_connect_unix(path, &h, o ? o : &fast, &c), CONNMAN_OK);
    return c;
}

static bool data_is(struct rec *r, const char *text)
{
    bool ok;
    pthread_mutex_lock(&r->lock);
    ok = r->data_len == strlen(text) && memcmp(r->data, text, r->data_len) == 0;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

/* Not connected yet, the last attempt failed with `err`. */
static bool first_error_is(connman_conn c, int err)
{
    connman_stats st;
    return connman_get_stats(c, &st) == CONNMAN_OK && st.last_error == err &&
           st.state == CONNMAN_STATE_CONNECTING;
}

static bool last_error_is(connman_conn c, int err)
{
    connman_stats st;
    return connman_get_stats(c, &st) == CONNMAN_OK && st.last_error == err &&
           st.state == CONNMAN_STATE_RECONNECTING;
}

/* Echo, drops, and the server's socket file removed and made again: the same fd. */
static void test_unix_lifecycle(void)
{
    struct rec r;
    connman_conn c, found;
    int fd, fds = count_fds();
    rec_init(&r);
    c = open_unix(&r, unix_path, NULL);
    EXPECT_SOON(count(&r, 'C') == 1);
    fd = connman_fd(c);
    EXPECT(fd >= 0 && fd == r.fd && (fcntl(fd, F_GETFD) & FD_CLOEXEC));
    EXPECT_RC(connman_get_connection_unix(unix_path, &found), CONNMAN_OK);
    EXPECT(found.id == c.id);
    EXPECT_RC(connman_conn_from_fd(fd, &found), CONNMAN_OK);
    EXPECT(found.id == c.id);
    EXPECT_RC(connman_send(c, (const uint8_t *)"u1\n", 3), CONNMAN_OK);
    EXPECT(send(fd, "u2\n", 3, MSG_NOSIGNAL) == 3);
    EXPECT_SOON(got_data(&r, "u1\nu2\n"));

    EXPECT(server_cmd(&usrv, "drop"));
    EXPECT_SOON(count(&r, 'r') == 1);
    /* The server goes away with its socket file: ENOENT while it is gone. */
    EXPECT(server_cmd(&usrv, "stop"));
    EXPECT(access(unix_path, F_OK) == -1 && errno == ENOENT);
    EXPECT_SOON(count(&r, 'R') == 2);
    EXPECT_SOON(last_error_is(c, ENOENT));
    EXPECT_RC(connman_send(c, (const uint8_t *)"x", 1), CONNMAN_ERR_NOT_CONNECTED);
    EXPECT(server_cmd(&usrv, "start"));
    EXPECT_SOON(count(&r, 'r') == 2);
    EXPECT(connman_fd(c) == fd);
    EXPECT_RC(connman_send(c, (const uint8_t *)"u3\n", 3), CONNMAN_OK);
    EXPECT_SOON(got_data(&r, "u1\nu2\nu3\n"));
    finish();
    EXPECT(valid_order(&r, true));
    rec_init(&r); /* and no descriptor leak over ten more drops */
    open_unix(&r, unix_path, NULL);
    check_no_leak(&r, &usrv, fds);
}

static void test_unix_abstract(void)
{
    struct rec r;
    connman_conn c, found;
    rec_init(&r);
    c = open_unix(&r, abstract_name, NULL);
    EXPECT_SOON(count(&r, 'C') == 1);
    EXPECT_RC(connman_send(c, (const uint8_t *)"abstract\n", 9), CONNMAN_OK);
    EXPECT_SOON(got_data(&r, "abstract\n"));
    EXPECT(server_cmd(&asrv, "drop"));
    EXPECT_SOON(count(&r, 'r') == 1);
    EXPECT_RC(connman_get_connection_unix(abstract_name, &found), CONNMAN_OK);
    EXPECT(found.id == c.id);
    /* Not the same as a file of that name. */
    EXPECT_RC(connman_get_connection_unix(abstract_name + 1, &found), CONNMAN_ERR_NOT_FOUND);
    finish();
    EXPECT(valid_order(&r, true));
}

static void test_unix_bad_paths(void)
{
    struct rec r;
    connman_handler h;
    connman_conn c = {12345}, ok1, ok2;
    connman_pool p;
    size_t idx = 99;
    char path[CONNMAN_MAX_UNIX_PATH_LEN + 3];
    rec_init(&r);
    h = H(&r);
    memset(path, 'p', sizeof path);
    path[0] = '/';
    path[CONNMAN_MAX_UNIX_PATH_LEN + 1] = '\0'; /* one byte too long */
    EXPECT_RC(connman_connect_unix(NULL, &h, NULL, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT(message_has("path"));
    EXPECT_RC(connman_connect_unix("", &h, NULL, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT(message_has("path"));
    EXPECT_RC(connman_connect_unix(path, &h, NULL, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT(message_has("path"));
    path[0] = '@'; /* an abstract name one byte too long after the @ */
    path[CONNMAN_MAX_UNIX_PATH_LEN + 1] = 'p';
    path[CONNMAN_MAX_UNIX_PATH_LEN + 2] = '\0';
    EXPECT_RC(connman_connect_unix(path, &h, NULL, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT(message_has("path"));
    EXPECT_RC(connman_connect_unix(unix_path, NULL, NULL, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_connect_unix(unix_path, &h, NULL, NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT(c.id == 12345);
    EXPECT_RC(connman_get_connection_unix(NULL, &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_get_connection_unix("", &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_get_connection_unix(unix_path, NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_get_connection_unix(unix_path, &c), CONNMAN_ERR_NOT_FOUND);
    EXPECT_RC(connman_pool_create("ct-unix-bad", refuse_all, NULL, &p), CONNMAN_OK);
    EXPECT_RC(connman_pool_add_unix(p, NULL, NULL, &idx), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_add_unix(p, "", NULL, &idx), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_pool_add_unix(p, path, NULL, &idx), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT(message_has("path"));
    EXPECT_RC(connman_pool_add_unix(p, unix_path, NULL, NULL), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT(idx == 99 && count(&r, 'C') + count(&r, 'X') == 0);
    /* The longest lengths are fine: nothing listens there, so ENOENT and retries. */
    path[0] = '/';
    path[CONNMAN_MAX_UNIX_PATH_LEN] = '\0';
    ok1 = open_unix(&r, path, NULL);
    EXPECT_SOON(first_error_is(ok1, ENOENT));
    path[0] = '@';
    path[CONNMAN_MAX_UNIX_PATH_LEN + 1] = '\0';
    {
        struct rec r2;
        rec_init(&r2);
        ok2 = open_unix(&r2, path, NULL);
        EXPECT_SOON(first_error_is(ok2, ECONNREFUSED)); /* nobody has that name */
        finish();
        EXPECT(events_are(&r, "X") && events_are(&r2, "X"));
    }
}

/* A pool of TCP and Unix members: round robin over those up. */
static void test_unix_mixed_pool(void)
{
    struct rec recs[3];
    struct factory f;
    connman_pool p;
    connman_options o = fast_options();
    connman_conn c;
    size_t i, idx, seen[3] = {0, 0, 0};
    int fd;
    for (i = 0; i < 3; i++)
        rec_init(&recs[i]);
    memset(&f, 0, sizeof f);
    f.recs = recs;
    f.max = 3;
    EXPECT_RC(connman_pool_create("ct-mixed", make_handler, &f, &p), CONNMAN_OK);
    EXPECT_RC(connman_pool_add(p, srv.port, "127.0.0.1", &o, &idx), CONNMAN_OK);
    EXPECT_RC(connman_pool_add_unix(p, unix_path, &o, &idx), CONNMAN_OK);
    EXPECT(idx == 1);
    EXPECT_RC(connman_pool_add_unix(p, abstract_name, &o, &idx), CONNMAN_OK);
    EXPECT(idx == 2);
    EXPECT_SOON(pool_connected(p) == 3);
    for (i = 0; i < 9; i++) {
        EXPECT_RC(connman_pool_next(p, &c), CONNMAN_OK);
        idx = index_of(p, c);
        EXPECT(idx < 3);
        if (idx < 3)
            seen[idx]++;
    }
    EXPECT(seen[0] == 3 && seen[1] == 3 && seen[2] == 3);
    EXPECT_RC(connman_pool_get_connection(p, 1, &fd), CONNMAN_OK);
    EXPECT(fd == recs[1].fd);
    /* Unix members are not single connections either. */
    EXPECT_RC(connman_get_connection_unix(unix_path, &c), CONNMAN_ERR_NOT_FOUND);
    EXPECT(server_cmd(&usrv, "stop"));
    EXPECT_SOON(pool_connected(p) == 2);
    for (i = 0; i < 6; i++) {
        EXPECT_RC(connman_pool_next(p, &c), CONNMAN_OK);
        EXPECT(index_of(p, c) != 1);
    }
    EXPECT(server_cmd(&usrv, "start"));
    EXPECT_SOON(pool_connected(p) == 3);
    EXPECT(connman_pool_get_connection(p, 1, &fd) == CONNMAN_OK && fd == recs[1].fd);
    finish();
    for (i = 0; i < 3; i++)
        EXPECT(valid_order(&recs[i], true));
}

/* ---- version 2: send while reconnecting ----------------------------------- */

static connman_options hold_options(uint32_t bytes)
{
    connman_options o = fast_options();
    o.send_while_reconnecting = bytes;
    return o;
}

static uint64_t queued(connman_conn c)
{
    connman_stats st;
    return connman_get_stats(c, &st) == CONNMAN_OK ? st.send_queue_bytes : 999;
}

/* Sent during an outage, received after what on_reconnect wrote, in order, once. */
static void test_hold_order(void)
{
    struct rec r;
    connman_options o = hold_options(64);
    connman_handler h;
    connman_conn c;
    connman_stats st;
    rec_init(&r);
    r.handshake = "HS\n";
    h = H(&r);
    EXPECT_RC(connman_connect(srv.port, "127.0.0.1", &h, &o, &c), CONNMAN_OK);
    EXPECT_SOON(count(&r, 'C') == 1);
    EXPECT(server_cmd(&srv, "stop"));
    EXPECT_SOON(count(&r, 'R') == 1);
    EXPECT_RC(connman_send(c, (const uint8_t *)"a\n", 2), CONNMAN_OK);
    EXPECT_RC(connman_send(c, (const uint8_t *)"bb\n", 3), CONNMAN_OK);
    EXPECT_RC(connman_send(c, (const uint8_t *)"ccc\n", 4), CONNMAN_OK);
    EXPECT(queued(c) == 9);
    EXPECT(server_cmd(&srv, "start"));
    EXPECT_SOON(count(&r, 'r') == 1);
    EXPECT_SOON(got_data(&r, "HS\na\nbb\nccc\n"));
    pump(100); /* nothing more comes: once each */
    EXPECT(data_is(&r, "HS\na\nbb\nccc\n"));
    EXPECT(r.handshake_rc == CONNMAN_OK);
    EXPECT_RC(connman_get_stats(c, &st), CONNMAN_OK);
    EXPECT(st.send_queue_bytes == 0 && st.bytes_sent == 12 && st.bytes_discarded == 0);

    /* Again, the handshake written straight to the descriptor. */
    r.handshake = "RAW\n";
    r.handshake_raw = true;
    EXPECT(server_cmd(&srv, "stop"));
    EXPECT_SOON(count(&r, 'R') == 2);
    EXPECT_RC(connman_send(c, (const uint8_t *)"d\n", 2), CONNMAN_OK);
    EXPECT(server_cmd(&srv, "start"));
    EXPECT_SOON(got_data(&r, "HS\na\nbb\nccc\nRAW\nd\n"));
    pump(100);
    EXPECT(data_is(&r, "HS\na\nbb\nccc\nRAW\nd\n"));
    finish();
    EXPECT(valid_order(&r, true));
}

/* The bound: beyond it WOULD_BLOCK and nothing of that call held; held bytes
 * at disconnect are discarded; off by default. */
static void test_hold_bound(void)
{
    struct rec r1, r2;
    connman_options o = hold_options(10);
    connman_handler h;
    connman_conn c1, c2;
    rec_init(&r1);
    rec_init(&r2);
    h = H(&r1);
    EXPECT_RC(connman_connect(srv.port, "127.0.0.1", &h, &o, &c1), CONNMAN_OK);
    c2 = open_conn(&r2, srv.port, "127.0.0.1"); /* default options: off */
    EXPECT_SOON(count(&r1, 'C') == 1 && count(&r2, 'C') == 1);
    EXPECT(connman_options_default().send_while_reconnecting == 0);
    EXPECT(server_cmd(&srv, "stop"));
    EXPECT_SOON(count(&r1, 'R') == 1 && count(&r2, 'R') == 1);
    EXPECT_RC(connman_send(c2, (const uint8_t *)"x", 1), CONNMAN_ERR_NOT_CONNECTED);
    EXPECT_RC(connman_send(c1, (const uint8_t *)"123456", 6), CONNMAN_OK);
    EXPECT_RC(connman_send(c1, (const uint8_t *)"12345", 5), CONNMAN_ERR_WOULD_BLOCK);
    EXPECT(message_has("send_while_reconnecting"));
    EXPECT(queued(c1) == 6);
    EXPECT_RC(connman_send(c1, (const uint8_t *)"1234", 4), CONNMAN_OK);
    EXPECT_RC(connman_send(c1, (const uint8_t *)"1", 1), CONNMAN_ERR_WOULD_BLOCK);
    EXPECT(queued(c1) == 10);
    EXPECT_RC(connman_disconnect(c1), CONNMAN_OK);
    EXPECT_SOON(count(&r1, 'X') == 1);
    EXPECT(r1.close_stats_rc == CONNMAN_OK && r1.close_stats.bytes_discarded == 10);
    EXPECT(server_cmd(&srv, "start"));
    EXPECT_SOON(count(&r2, 'r') == 1);
    o.send_while_reconnecting = 1073741825u;
    EXPECT_RC(connman_connect(srv.port, "127.0.0.1", &h, &o, &c1), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT(message_has("send_while_reconnecting"));
    finish();
    EXPECT(events_are(&r1, "CRX") && valid_order(&r2, true));
}

/* ---- version 2: saying why ------------------------------------------------ */

/* One bad call per row: its code, and what the message must name. */
static void test_last_error_message(void)
{
    static const struct {
        const char *function, *names;
        connman_result rc;
    } rows[] = {
        {"connman_connect", "backoff_initial_ms", CONNMAN_ERR_INVALID_ARGUMENT},
        {"connman_connect", "backoff_max_ms", CONNMAN_ERR_INVALID_ARGUMENT},
        {"connman_connect", "connect_timeout_ms", CONNMAN_ERR_INVALID_ARGUMENT},
        {"connman_connect", "send_queue_limit", CONNMAN_ERR_INVALID_ARGUMENT},
        {"connman_connect", "keepalive_count", CONNMAN_ERR_INVALID_ARGUMENT},
        {"connman_connect", "nodelay", CONNMAN_ERR_INVALID_ARGUMENT},
        {"connman_connect", "reserved", CONNMAN_ERR_INVALID_ARGUMENT},
        {"connman_connect", "options", CONNMAN_ERR_INVALID_ARGUMENT}, /* = {0} */
        {"connman_connect", "host", CONNMAN_ERR_INVALID_ARGUMENT},
        {"connman_connect", "port", CONNMAN_ERR_INVALID_ARGUMENT},
        {"connman_connect", "no-such-host.invalid", CONNMAN_ERR_RESOLVE},
        {"connman_connect_unix", "path", CONNMAN_ERR_INVALID_ARGUMENT},
        {"connman_pool_add", "backoff_initial_ms", CONNMAN_ERR_INVALID_ARGUMENT},
        {"connman_pool_create", "name", CONNMAN_ERR_INVALID_ARGUMENT},
        {"connman_configure", "threads", CONNMAN_ERR_INVALID_ARGUMENT},
        {"connman_set_log", "max_level", CONNMAN_ERR_INVALID_ARGUMENT},
    };
    struct rec r;
    connman_handler h;
    connman_conn c;
    connman_pool p, q;
    connman_config cfg = connman_config_default();
    size_t i, idx;
    rec_init(&r);
    h = H(&r);
    EXPECT_RC(connman_pool_create("ct-why", refuse_all, NULL, &p), CONNMAN_OK);
    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        connman_options o = connman_options_default();
        connman_result rc = CONNMAN_OK;
        const char *m;
        switch (i) {
        case 0: o.backoff_initial_ms = 0; break;
        case 1: o.backoff_max_ms = 5; break;
        case 2: o.connect_timeout_ms = 0; break;
        case 3: o.send_queue_limit = 0; break;
        case 4: o.keepalive_count = 128; break;
        case 5: o.nodelay = 2; break;
        case 6: o.reserved[3] = 1; break;
        case 7: memset(&o, 0, sizeof o); break;
        }
        if (i <= 7)
            rc = connman_connect(srv.port, "127.0.0.1", &h, &o, &c);
        else if (i == 8)
            rc = connman_connect(srv.port, NULL, &h, NULL, &c);
        else if (i == 9)
            rc = connman_connect(0, "127.0.0.1", &h, NULL, &c);
        else if (i == 10)
            rc = connman_connect(srv.port, "no-such-host.invalid", &h, NULL, &c);
        else if (i == 11)
            rc = connman_connect_unix("", &h, NULL, &c);
        else if (i == 12) {
            o.backoff_initial_ms = 0;
            rc = connman_pool_add(p, srv.port, "127.0.0.1", &o, &idx);
        } else if (i == 13)
            rc = connman_pool_create("", refuse_all, NULL, &q);
        else if (i == 14) {
            cfg.threads = CONNMAN_MAX_THREADS + 1;
            rc = connman_configure(&cfg);
        } else if (i == 15)
            rc = connman_set_log(NULL, NULL, 5);
        m = connman_last_error_message();
        if (rc != rows[i].rc || strncmp(m, rows[i].function, strlen(rows[i].function)) != 0 ||
            !strstr(m, rows[i].names)) {
            char what[400];
            snprintf(what, sizeof what, "row %zu: %s gave %d, \"%s\": want %d, naming %s", i,
                     rows[i].function, (int)rc, m, (int)rows[i].rc, rows[i].names);
            expect_(false, what, __LINE__);
        }
    }
    /* A successful call leaves the message as it was. */
    EXPECT_RC(connman_configure(NULL), CONNMAN_OK);
    EXPECT(message_has("max_level"));
    EXPECT(connman_strerror(CONNMAN_ERR_INVALID_ARGUMENT) != connman_last_error_message());
    EXPECT(count(&r, 'C') + count(&r, 'X') == 0);
    finish();
}

struct why_thread {
    uint16_t port;
    connman_result rc;
    char before[64], after[256];
};

static void *fail_in_thread(void *arg)
{
    struct why_thread *t = arg;
    connman_options o = connman_options_default();
    connman_handler h = {NULL, NULL, NULL, NULL, NULL, NULL};
    connman_conn c;
    snprintf(t->before, sizeof t->before, "%s", connman_last_error_message());
    o.connect_timeout_ms = 0;
    t->rc = connman_connect(t->port, "127.0.0.1", &h, t->port ? &o : NULL, &c);
    snprintf(t->after, sizeof t->after, "%s", connman_last_error_message());
    return NULL;
}

/* Messages are per thread: each sees its own; a new thread sees "". */
static void test_last_error_per_thread(void)
{
    struct why_thread a, b;
    pthread_t ta, tb;
    connman_conn c;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.port = srv.port; /* fails on connect_timeout_ms */
    b.port = 0;        /* fails on the port */
    EXPECT_RC(connman_get_connection(srv.port, "", &c), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT(message_has("host"));
    pthread_create(&ta, NULL, fail_in_thread, &a);
    pthread_create(&tb, NULL, fail_in_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    EXPECT(a.before[0] == '\0' && b.before[0] == '\0');
    EXPECT(a.rc == CONNMAN_ERR_INVALID_ARGUMENT && b.rc == CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT(strstr(a.after, "connect_timeout_ms") && !strstr(a.after, "port"));
    EXPECT(strstr(b.after, "port") && !strstr(b.after, "connect_timeout_ms"));
    EXPECT(message_has("host")); /* main's own, untouched */
    finish();
}

/* ---- version 2: the log hook ---------------------------------------------- */

struct logcap {
    pthread_mutex_t lock;
    unsigned n;
    struct {
        connman_log_level level;
        uint64_t id;
        char text[200];
    } e[256];
    bool call_in_hook; /* call connman_get_stats from inside the hook */
    unsigned hook_calls_ok;
};

static void log_hook(void *ctx, connman_log_level level, connman_conn conn, const char *message)
{
    struct logcap *cap = ctx;
    pthread_mutex_lock(&cap->lock);
    if (cap->n < sizeof cap->e / sizeof cap->e[0]) {
        cap->e[cap->n].level = level;
        cap->e[cap->n].id = conn.id;
        snprintf(cap->e[cap->n].text, sizeof cap->e[0].text, "%s", message ? message : "(null)");
        cap->n++;
    }
    pthread_mutex_unlock(&cap->lock);
    if (cap->call_in_hook && conn.id != 0) {
        connman_stats st;
        connman_result rc = connman_get_stats(conn, &st);
        pthread_mutex_lock(&cap->lock);
        cap->hook_calls_ok += rc == CONNMAN_OK || rc == CONNMAN_ERR_NOT_FOUND;
        pthread_mutex_unlock(&cap->lock);
    }
}

/* How many messages of `level` about `conn` name both `a` and `b` (NULL: any). */
static unsigned logged(struct logcap *cap, connman_log_level level, connman_conn conn,
                       const char *a, const char *b)
{
    unsigned i, n = 0;
    pthread_mutex_lock(&cap->lock);
    for (i = 0; i < cap->n; i++)
        n += cap->e[i].level == level && cap->e[i].id == conn.id &&
             (!a || strstr(cap->e[i].text, a)) && (!b || strstr(cap->e[i].text, b));
    pthread_mutex_unlock(&cap->lock);
    return n;
}

static unsigned logged_total(struct logcap *cap)
{
    unsigned n;
    pthread_mutex_lock(&cap->lock);
    n = cap->n;
    pthread_mutex_unlock(&cap->lock);
    return n;
}

static void dump_log(struct logcap *cap)
{
    unsigned i;
    pthread_mutex_lock(&cap->lock);
    for (i = 0; i < cap->n; i++)
        printf("     log: level %d, conn %llu: %s\n", (int)cap->e[i].level,
               (unsigned long long)cap->e[i].id, cap->e[i].text);
    pthread_mutex_unlock(&cap->lock);
}

/* The hook gets WARN for refused attempts (address, errno text), INFO for
 * connects, resets (with the reason) and reconnects, each with the right handle;
 * it can be replaced, filtered and removed while connections run. */
static void test_log_hook(void)
{
    static struct logcap cap1, cap2, cap3; /* static: valid until shutdown */
    struct rec r1, r2, r3;
    connman_conn dead, c, idle;
    connman_options o = fast_options();
    connman_handler h;
    char addr[32];
    unsigned short port = dead_port();
    unsigned n1;
    rec_init(&r1);
    rec_init(&r2);
    rec_init(&r3);
    memset(&cap1, 0, sizeof cap1);
    memset(&cap2, 0, sizeof cap2);
    memset(&cap3, 0, sizeof cap3);
    pthread_mutex_init(&cap1.lock, NULL);
    pthread_mutex_init(&cap2.lock, NULL);
    pthread_mutex_init(&cap3.lock, NULL);
    EXPECT_RC(connman_set_log(log_hook, &cap1, 5), CONNMAN_ERR_INVALID_ARGUMENT);
    EXPECT_RC(connman_set_log(log_hook, &cap1, -1), CONNMAN_ERR_INVALID_ARGUMENT);
    cap1.call_in_hook = true;
    EXPECT_RC(connman_set_log(log_hook, &cap1, CONNMAN_LOG_INFO), CONNMAN_OK);

    snprintf(addr, sizeof addr, "127.0.0.1:%u", (unsigned)port);
    dead = open_conn(&r1, port, "127.0.0.1");
    EXPECT_SOON(logged(&cap1, CONNMAN_LOG_WARN, dead, addr, strerror(ECONNREFUSED)) >= 2);
    c = open_conn(&r2, srv.port, "127.0.0.1");
    EXPECT_SOON(count(&r2, 'C') == 1);
    EXPECT_SOON(logged(&cap1, CONNMAN_LOG_INFO, c, NULL, NULL) >= 1);
    EXPECT(server_cmd(&srv, "drop"));
    EXPECT_SOON(count(&r2, 'r') == 1);
    EXPECT_SOON(logged(&cap1, CONNMAN_LOG_INFO, c, "EOF", NULL) == 1);
    EXPECT_SOON(logged(&cap1, CONNMAN_LOG_INFO, c, NULL, NULL) >= 3); /* + the reconnect */
    EXPECT(server_cmd(&srv, "rst"));
    EXPECT_SOON(count(&r2, 'r') == 2);
    EXPECT_SOON(logged(&cap1, CONNMAN_LOG_INFO, c, strerror(ECONNRESET), NULL) == 1);
    /* An idle timeout is a reset with its reason. */
    o.idle_timeout_ms = 150;
    h = H(&r3);
    EXPECT_RC(connman_connect(srv.port, "127.0.0.1", &h, &o, &idle), CONNMAN_OK);
    EXPECT_SOON(count(&r3, 'R') >= 1);
    EXPECT_SOON(logged(&cap1, CONNMAN_LOG_INFO, idle, "idle", NULL) >= 1);
    EXPECT_RC(connman_disconnect(idle), CONNMAN_OK);
    EXPECT(cap1.hook_calls_ok > 0);

    /* Replaced, and filtered at WARN: no INFO there, and the old hook hears nothing. */
    EXPECT_RC(connman_set_log(log_hook, &cap2, CONNMAN_LOG_WARN), CONNMAN_OK);
    pump(50); /* a call of the old hook under way at the switch may still finish */
    n1 = logged_total(&cap1);
    EXPECT(server_cmd(&srv, "drop"));
    EXPECT_SOON(count(&r2, 'r') == 3);
    EXPECT_SOON(logged(&cap2, CONNMAN_LOG_WARN, dead, addr, NULL) >= 1);
    EXPECT(logged(&cap2, CONNMAN_LOG_INFO, c, NULL, NULL) == 0);
    EXPECT(logged_total(&cap1) == n1);
    /* Replaced again, then removed (NULL: the default, level 0: nothing). */
    EXPECT_RC(connman_set_log(log_hook, &cap3, CONNMAN_LOG_INFO), CONNMAN_OK);
    EXPECT_SOON(logged(&cap3, CONNMAN_LOG_WARN, dead, addr, NULL) >= 1);
    EXPECT_RC(connman_set_log(NULL, NULL, 0), CONNMAN_OK);
    pump(50);
    n1 = logged_total(&cap3);
    pump(100);
    EXPECT(logged_total(&cap3) == n1);
    finish();
    EXPECT_RC(connman_set_log(NULL, NULL, CONNMAN_LOG_ERROR), CONNMAN_OK); /* as at start */
    if (cur_failures)
        dump_log(&cap1);
    EXPECT(valid_order(&r1, true) && valid_order(&r2, true) && valid_order(&r3, true));
}

/* The tests that hold in every mode: one library thread, embedded, two threads. */
static const struct {
    const char *name;
    void (*test)(void);
} every_mode[] = {
    {"lifecycle: connect, resets, reconnects, disconnect", test_lifecycle},
    {"disconnect while connecting", test_disconnect_while_connecting},
    {"disconnect while reconnecting", test_disconnect_while_reconnecting},
    {"disconnect inside each callback, twice", test_disconnect_inside_callbacks},
    {"disconnect from two threads at once", test_disconnect_from_threads},
    {"shutdown inside a callback, shutdown and restart", test_shutdown_in_callback_and_restart},
    {"no descriptor leak across reconnects", test_no_descriptor_leak},
    {"pool: index, handler, round robin, factory, disconnect", test_pool},
    {"disconnect_all, also from inside a callback", test_disconnect_all},
    {"unix: echo, drops, socket file removed and made again, same fd", test_unix_lifecycle},
    {"unix: abstract namespace", test_unix_abstract},
    {"unix: a pool of TCP and Unix members", test_unix_mixed_pool},
    {"send_while_reconnecting: after the on_reconnect handshake, in order, once",
     test_hold_order},
    {"send_while_reconnecting: the bound, discarded at disconnect, off by default",
     test_hold_bound},
};

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : getenv("FLAKY_ECHO");
    static const uint32_t modes[] = {1, 0, 2};
    size_t m, i;
    if (!path)
        path = "../target/release/flaky-echo";
    setvbuf(stdout, NULL, _IOLBF, 0);
    main_thread = pthread_self();
    snprintf(unix_path, sizeof unix_path, "/tmp/connman-ct-%d.sock", (int)getpid());
    snprintf(abstract_name, sizeof abstract_name, "@connman-ct-%d", (int)getpid());
    if (!server_start(&srv, path, NULL) || !server_start(&usrv, path, unix_path) ||
        !server_start(&asrv, path, abstract_name)) {
        printf("cannot start the flaky echo server %s\n0 passed, 1 failed\n", path);
        return 1;
    }
    printf("connman %s contract test, flaky-echo on port %u, %s and %s\n", connman_version(),
           (unsigned)srv.port, unix_path, abstract_name);

    run("strerror and version", test_strerror_version);
    run("default options", test_options_default);
    run("connect: bad arguments", test_connect_bad_arguments);
    run("stale handles and other bad arguments", test_other_bad_arguments);
    run("pools: bad arguments", test_pool_bad_arguments);
    run("unix: bad paths", test_unix_bad_paths);
    run("get_connection: by host string and port", test_get_connection);
    for (m = 0; m < sizeof modes / sizeof modes[0]; m++)
        for (i = 0; i < sizeof every_mode / sizeof every_mode[0]; i++)
            run_in(modes[m], every_mode[i].name, every_mode[i].test);
    run("configure: refused while running, allowed after shutdown", test_configure);
    run_in(0, "embedded: no thread, idle means an unreadable event fd", test_embedded_idle);
    run_in(0, "embedded: backoff and connect timeout through the event fd", test_embedded_timers);
    run_in(0, "embedded: calls from other threads at the next dispatch",
           test_embedded_other_threads);
    run_in(0, "embedded: shutdown outside dispatch runs the remaining on_close",
           test_embedded_shutdown);
    run_in(2, "two threads: connections spread, each on one thread", test_two_threads);
    run("last error message: names the culprit", test_last_error_message);
    run("last error message: per thread", test_last_error_per_thread);
    run("log hook: attempts, resets, reconnects; replaced, filtered, removed", test_log_hook);

    server_quit(&srv);
    server_quit(&usrv);
    server_quit(&asrv);
    unlink(unix_path);
    printf("%d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed ? 1 : 0;
}
