/*
 * send.c: the two ways to write to a connman connection.
 *
 *  - connman_send(conn, data, len): all or nothing, never raises SIGPIPE; what
 *    the kernel does not take at once is queued (up to send_queue_limit) and
 *    written by the library thread. Errors tell you what to do: NOT_CONNECTED
 *    (wait for on_reconnect), WOULD_BLOCK (queue full: retry later), TOO_LARGE.
 *  - send(fd, data, len, MSG_NOSIGNAL) on the descriptor on_connect gave: no
 *    copy, no queue. The descriptor is non-blocking, so a big write can be
 *    partial or fail with EAGAIN: wait for POLLOUT and go on. EPIPE/ECONNRESET
 *    mean the connection just dropped: on_reset follows.
 *
 * Main sends messages of different sizes, alternating the two ways, and waits
 * for each echo (a condition variable signalled from on_data). A message whose
 * connection drops before its echo is complete is sent again after on_reconnect.
 *
 *   usage: send PORT [SECONDS]
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "connman.h"
#include "examples.h"

#define BIG (192 * 1024) /* bigger than a socket buffer: partial writes happen */

struct app {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* signalled on every callback */
    int fd;
    bool up, closed;
    unsigned resets;
    unsigned char *echo;    /* the echo received so far of the current message */
    size_t echo_len;
    bool in_greeting;       /* skipping a line the server sent on its own */
};

static struct app app = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, -1, false,
                         false, 0, NULL, 0, false};

static void on_connect(void *ctx, connman_conn conn, int fd)
{
    (void)ctx;
    (void)conn;
    pthread_mutex_lock(&app.lock);
    app.fd = fd;
    app.up = true;
    pthread_cond_broadcast(&app.changed);
    pthread_mutex_unlock(&app.lock);
    say("connected (fd %d, %s)", fd,
        (fcntl(fd, F_GETFL) & O_NONBLOCK) ? "non-blocking" : "blocking");
}

static void on_reset(void *ctx, connman_conn conn)
{
    (void)ctx;
    (void)conn;
    pthread_mutex_lock(&app.lock);
    app.up = false;
    app.resets++;
    app.echo_len = 0; /* a partial echo is useless: the message is sent again */
    app.in_greeting = false;
    pthread_cond_broadcast(&app.changed);
    pthread_mutex_unlock(&app.lock);
    say("RESET");
}

static void on_reconnect(void *ctx, connman_conn conn, int fd)
{
    (void)ctx;
    (void)conn;
    pthread_mutex_lock(&app.lock);
    app.up = true;
    pthread_cond_broadcast(&app.changed);
    pthread_mutex_unlock(&app.lock);
    say("RECONNECTED (fd %d)", fd);
}

static void on_data(void *ctx, connman_conn conn, const uint8_t *data, size_t len)
{
    (void)ctx;
    (void)conn;
    pthread_mutex_lock(&app.lock);
    /* Our messages start with '#': skip any other line the server sends on its
     * own before an echo (a greeting such as "hello\r\n"). */
    while (len > 0 && app.echo_len == 0 && (app.in_greeting || data[0] != '#')) {
        app.in_greeting = data[0] != '\n';
        data++;
        len--;
    }
    if (app.echo_len + len <= BIG + 64) {
        memcpy(app.echo + app.echo_len, data, len);
        app.echo_len += len;
    } /* else: more than we sent: the check in main fails */
    pthread_cond_broadcast(&app.changed);
    pthread_mutex_unlock(&app.lock);
}

static void on_close(void *ctx, connman_conn conn)
{
    (void)ctx;
    (void)conn;
    pthread_mutex_lock(&app.lock);
    app.closed = true;
    app.up = false;
    pthread_cond_broadcast(&app.changed);
    pthread_mutex_unlock(&app.lock);
    say("closed");
}

/* Blocks until a callback signals or `ms` pass. Lock held. */
static void wait_change(long long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&app.changed, &app.lock, &until);
}

/* Waits until `*flag` is true, at most `ms`. Lock held. */
static bool wait_for(const bool *flag, long ms)
{
    long long deadline = now_ms() + ms;
    while (!*flag && now_ms() < deadline)
        wait_change(deadline - now_ms());
    return *flag;
}

/* connman_send: false if the connection is down (try again after reconnect). */
static bool write_with_connman_send(connman_conn conn, const unsigned char *msg, size_t len)
{
    for (;;) {
        connman_result rc = connman_send(conn, msg, len);
        if (rc == CONNMAN_OK)
            return true;
        if (rc == CONNMAN_ERR_NOT_CONNECTED)
            return false;
        if (rc != CONNMAN_ERR_WOULD_BLOCK)
            CHECK(rc); /* TOO_LARGE, CLOSED, ...: a bug in this program */
        sleep_ms(1); /* the queue is full: let the library thread drain it */
    }
}

/* The raw descriptor: false if the connection dropped (EPIPE, ECONNRESET...). */
static bool write_with_fd(connman_conn conn, int fd, const unsigned char *msg, size_t len)
{
    connman_stats st;
    size_t done = 0;
    /* Never interleave raw writes with bytes connman_send still has queued. */
    while (connman_get_stats(conn, &st) == CONNMAN_OK && st.send_queue_bytes > 0)
        sleep_ms(1);
    while (done < len) {
        ssize_t n = send(fd, msg + done, len - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p;
            p.fd = fd;
            p.events = POLLOUT;
            if (poll(&p, 1, 100) >= 0 && (p.revents & (POLLERR | POLLHUP)))
                return false;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return false; /* EPIPE, ECONNRESET, ENOTCONN: it dropped */
        }
    }
    return true;
}

int main(int argc, char **argv)
{
    unsigned short port = parse_port(argc > 1 ? argv[1] : NULL, argv[0]);
    int seconds = argc > 2 ? atoi(argv[2]) : 5;
    connman_options opts = connman_options_default();
    connman_handler h = {NULL, on_connect, on_reset, on_reconnect, on_data, on_close};
    connman_conn conn;
    connman_stats st;
    unsigned char *msg = malloc(BIG);
    unsigned rounds = 0, via_send = 0, via_fd = 0, resent = 0, bad = 0;
    long long end;
    connman_result rc;

    app.echo = malloc(BIG + 64);
    if (!msg || !app.echo)
        return 1;
    opts.backoff_max_ms = 500;
    opts.send_queue_limit = 256 * 1024;
    CHECK(connman_connect(port, "127.0.0.1", &h, &opts, &conn));
    pthread_mutex_lock(&app.lock);
    wait_for(&app.up, 5000);
    pthread_mutex_unlock(&app.lock);

    /* connman_send refuses a message larger than the whole queue. */
    rc = connman_send(conn, msg, 300 * 1024);
    say("connman_send of 300 KiB with a 256 KiB queue limit: %s", connman_strerror(rc));
    if (rc != CONNMAN_ERR_TOO_LARGE && rc != CONNMAN_ERR_NOT_CONNECTED)
        bad++;

    end = now_ms() + seconds * 1000LL;
    while (now_ms() < end) {
        /* Every third message is big; odd rounds use the raw descriptor. */
        size_t len = rounds % 3 == 2 ? BIG : 40 + rounds % 17;
        bool raw = rounds % 2 == 1, sent, echoed;
        size_t i;
        int fd;
        msg[0] = '#';
        for (i = 1; i < len; i++)
            msg[i] = (unsigned char)('a' + (rounds + i) % 26);
        msg[len - 1] = '\n';
        for (;;) {
            pthread_mutex_lock(&app.lock);
            if (!wait_for(&app.up, 5000)) {
                pthread_mutex_unlock(&app.lock);
                say("PROBLEM: not connected for 5 s");
                bad++;
                goto done;
            }
            app.echo_len = 0;
            fd = app.fd;
            pthread_mutex_unlock(&app.lock);

            sent = raw ? write_with_fd(conn, fd, msg, len) : write_with_connman_send(conn, msg, len);
            if (sent) {
                /* Wait for the whole echo (or a reset). */
                long long deadline = now_ms() + 5000;
                unsigned resets;
                pthread_mutex_lock(&app.lock);
                resets = app.resets;
                while (app.echo_len < len && app.resets == resets && now_ms() < deadline)
                    wait_change(deadline - now_ms());
                echoed = app.echo_len == len && memcmp(app.echo, msg, len) == 0;
                if (app.resets == resets && !echoed) {
                    say("PROBLEM: round %u: echo incomplete or wrong (%zu of %zu bytes)",
                        rounds, app.echo_len, len);
                    bad++;
                }
                pthread_mutex_unlock(&app.lock);
                if (echoed)
                    break;
            }
            resent++;
            say("round %u: the connection dropped before the echo; sending again", rounds);
        }
        if (raw)
            via_fd++;
        else
            via_send++;
        say("round %u: %zu bytes via %s, echoed intact", rounds, len,
            raw ? "send(fd, MSG_NOSIGNAL)" : "connman_send");
        rounds++;
        sleep_ms(100);
    }
done:
    CHECK(connman_get_stats(conn, &st));
    say("stats: connects %llu, resets %llu, bytes_sent (connman_send) %llu, received %llu",
        (unsigned long long)st.connects, (unsigned long long)st.resets,
        (unsigned long long)st.bytes_sent, (unsigned long long)st.bytes_received);

    CHECK(connman_disconnect(conn));
    pthread_mutex_lock(&app.lock);
    if (!wait_for(&app.closed, 5000))
        bad++;
    pthread_mutex_unlock(&app.lock);
    /* Once on_close has returned (our flag is set just before), the handle is stale. */
    {
        long long deadline = now_ms() + 5000;
        while ((rc = connman_send(conn, msg, 1)) == CONNMAN_ERR_CLOSED && now_ms() < deadline)
            sleep_ms(1);
    }
    say("connman_send after on_close: %s", connman_strerror(rc));
    if (rc != CONNMAN_ERR_NOT_FOUND)
        bad++;
    CHECK(connman_shutdown());

    printf("\nsummary: %u messages echoed intact (%u via connman_send, %u via the fd), "
           "%u sent again after a drop\n",
           rounds, via_send, via_fd, resent);
    if (rounds < 4)
        bad++;
    printf("result: %s\n", bad ? "FAILED" : "ok");
    free(msg);
    free(app.echo);
    return bad ? 1 : 0;
}
