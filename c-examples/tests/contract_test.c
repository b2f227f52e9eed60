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

#define WAIT_MS 5000

/* ---- the test harness --------------------------------------------------- */

static int tests_passed, tests_failed, cur_failures;
static const char *cur_test;

static void expect_(bool ok, const char *what, int line)
{
    if (ok)
        return;
    if (cur_failures++ == 0)
        printf("FAIL %s\n", cur_test);
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
/* Polls `cond` every 2 ms until it holds or WAIT_MS pass. */
#define EXPECT_SOON(cond)                                                   \
    do {                                                                    \
        long long deadline_ = now_ms() + WAIT_MS;                           \
        bool ok_;                                                           \
        while (!(ok_ = (cond)) && now_ms() < deadline_)                     \
            sleep_ms(2);                                                    \
        expect_(ok_, "within 5 s: " #cond, __LINE__);                       \
    } while (0)

static void run(const char *name, void (*test)(void))
{
    long long t0 = now_ms();
    cur_test = name;
    cur_failures = 0;
    test();
    if (cur_failures) {
        tests_failed++;
    } else {
        tests_passed++;
        printf("ok   %s (%lld ms)\n", name, now_ms() - t0);
    }
    fflush(stdout);
}

/* ---- the flaky echo server, driven through its stdin -------------------- */

static struct {
    pid_t pid;
    int in, out;           /* its stdin (we write), its stdout (we read) */
    unsigned short port;
    char buf[4096];
    size_t len;
} srv = {-1, -1, -1, 0, {0}, 0};

/* One line of the server's stdout, within `ms`. */
static bool srv_line(char *line, size_t size, long ms)
{
    long long deadline = now_ms() + ms;
    for (;;) {
        char *nl = memchr(srv.buf, '\n', srv.len);
        struct pollfd p;
        ssize_t n;
        if (nl) {
            size_t l = (size_t)(nl - srv.buf);
            snprintf(line, size, "%.*s", (int)l, srv.buf);
            srv.len -= l + 1;
            memmove(srv.buf, nl + 1, srv.len);
            return true;
        }
        p.fd = srv.out;
        p.events = POLLIN;
        if (now_ms() >= deadline || poll(&p, 1, (int)(deadline - now_ms())) <= 0)
            return false;
        n = read(srv.out, srv.buf + srv.len, sizeof srv.buf - srv.len);
        if (n <= 0)
            return false;
        srv.len += (size_t)n;
    }
}

/* Sends a command and waits for its "OK <command>" answer. */
static bool srv_cmd(const char *cmd)
{
    char line[256];
    size_t l = strlen(cmd);
    if (write(srv.in, cmd, l) != (ssize_t)l || write(srv.in, "\n", 1) != 1)
        return false;
    while (srv_line(line, sizeof line, WAIT_MS))
        if (strncmp(line, "OK ", 3) == 0 && strncmp(line + 3, cmd, l) == 0)
            return true;
    return false;
}

static bool srv_start(const char *path)
{
    int to[2], from[2];
    char line[256];
    if (pipe(to) != 0 || pipe(from) != 0)
        return false;
    srv.pid = fork();
    if (srv.pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        execl(path, path, "--port", "0", "--quiet", (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    srv.in = to[1];
    srv.out = from[0];
    fcntl(srv.in, F_SETFD, FD_CLOEXEC);
    fcntl(srv.out, F_SETFD, FD_CLOEXEC);
    if (srv.pid < 0 || !srv_line(line, sizeof line, 20000) ||
        sscanf(line, "LISTENING %hu", &srv.port) != 1)
        return false;
    return true;
}

static void srv_quit(void)
{
    if (srv.pid > 0) {
        srv_cmd("quit");
        close(srv.in);
        close(srv.out);
        waitpid(srv.pid, NULL, 0);
    }
}

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
    /* What on_close saw: */
    connman_result close_disconnect_rc, close_stats_rc;
    connman_stats close_stats;
    int close_fd;
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

/* Holds the library thread in on_close until the gate opens (at most 10 s). */
static void gate_wait(void)
{
    long long deadline = now_ms() + 10000;
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
    if (e == 'D' && r->disconnect_all_in_data)
        connman_disconnect_all();
    if (e == 'X') {
        r->close_disconnect_rc = connman_disconnect(conn);
        r->close_stats_rc = connman_get_stats(conn, &r->close_stats);
        r->close_fd = connman_fd(conn);
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
    bool ok = true;
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
    if (!ok)
        printf("     events of the connection: \"%.*s\"%s%s\n", (int)r->nev, r->ev,
               r->overlap ? ", callbacks overlapped" : "",
               r->fd_mismatch ? ", on_reconnect changed the fd" : "");
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

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;
}

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
    EXPECT(srv_cmd("drop"));
    EXPECT_SOON(count(&r, 'r') == 1);
    EXPECT(srv_cmd("rst"));
    EXPECT_SOON(count(&r, 'r') == 2);
    EXPECT(srv_cmd("drop"));
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
    EXPECT(srv_cmd("stop")); /* drops everything and stops listening */
    EXPECT_SOON(count(&r, 'R') == 1);
    EXPECT(state_of(c) == CONNMAN_STATE_RECONNECTING);
    EXPECT_RC(connman_send(c, (const uint8_t *)"x", 1), CONNMAN_ERR_NOT_CONNECTED);
    EXPECT_RC(connman_disconnect(c), CONNMAN_OK);
    st = state_of(c);
    EXPECT(st == CONNMAN_STATE_CLOSING || st == CONNMAN_STATE_CLOSED || st == -1);
    rc = connman_send(c, (const uint8_t *)"x", 1); /* NOT_FOUND once on_close ran */
    EXPECT(rc == CONNMAN_ERR_CLOSED || rc == CONNMAN_ERR_NOT_FOUND);
    EXPECT_SOON(count(&r, 'X') == 1);
    EXPECT(srv_cmd("start"));
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
                EXPECT(srv_cmd("drop"));
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

static void test_no_descriptor_leak(void)
{
    struct rec r;
    int fds = count_fds(), i;
    rec_init(&r);
    open_conn(&r, srv.port, "127.0.0.1");
    EXPECT_SOON(count(&r, 'C') == 1);
    for (i = 1; i <= 10; i++) {
        EXPECT(srv_cmd(i % 2 ? "drop" : "rst"));
        EXPECT_SOON(count(&r, 'r') == (size_t)i);
    }
    EXPECT(count_fds() == fds + 3); /* the connection, epoll, the wake-up eventfd */
    finish();
    EXPECT(count_fds() == fds);
    EXPECT(valid_order(&r, true));
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
    EXPECT(srv_cmd("stop"));
    EXPECT_SOON(pool_connected(p) == 0);
    EXPECT_RC(connman_pool_next(p, &c), CONNMAN_ERR_NOT_CONNECTED);
    EXPECT(count(&recs[0], 'R') == 1 && count(&recs[1], 'R') == 1 && count(&recs[2], 'R') == 1);
    EXPECT(srv_cmd("start"));
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

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : getenv("FLAKY_ECHO");
    if (!path)
        path = "../target/release/flaky-echo";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!srv_start(path)) {
        printf("cannot start the flaky echo server %s\n0 passed, 1 failed\n", path);
        return 1;
    }
    printf("connman %s contract test, flaky-echo on port %u\n", connman_version(),
           (unsigned)srv.port);

    run("strerror and version", test_strerror_version);
    run("default options", test_options_default);
    run("connect: bad arguments", test_connect_bad_arguments);
    run("stale handles and other bad arguments", test_other_bad_arguments);
    run("pools: bad arguments", test_pool_bad_arguments);
    run("lifecycle: connect, resets, reconnects, disconnect", test_lifecycle);
    run("get_connection: by host string and port", test_get_connection);
    run("disconnect while connecting", test_disconnect_while_connecting);
    run("disconnect while reconnecting", test_disconnect_while_reconnecting);
    run("disconnect inside each callback, twice", test_disconnect_inside_callbacks);
    run("disconnect from two threads at once", test_disconnect_from_threads);
    run("shutdown inside a callback, shutdown and restart", test_shutdown_in_callback_and_restart);
    run("no descriptor leak across reconnects", test_no_descriptor_leak);
    run("pool: index, handler, round robin, factory, disconnect", test_pool);
    run("disconnect_all, also from inside a callback", test_disconnect_all);

    srv_quit();
    printf("%d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed ? 1 : 0;
}
