/*
 * demo_client.c: the original connman test script, in C.
 *
 * Two single connections (one to "localhost", one to "127.0.0.1") and a pool of
 * two connections whose handlers come from a factory all talk to an echo server
 * that greets every client with "hello\r\n", echoes what it receives and drops
 * connections now and then; with UNIX_PATH, a fifth connection talks to the same
 * kind of server on a Unix socket (whose file disappears while the server is
 * down: the same handler, the same reconnects). Each client writes a numbered
 * message on its own interval (450, 550, 450, 675 and 600 ms) straight to its
 * socket, prints every echo, stops writing when its connection resets and starts
 * again when connman has reconnected it, first resending the messages the drop
 * swallowed. At the end connman_disconnect_all() closes everything and a summary
 * checks that the numbers add up: every message echoed, every reset followed by
 * a reconnect, every connection closed exactly once.
 *
 *   usage: demo_client PORT [SECONDS [MIN_RESETS [UNIX_PATH]]]
 *
 * Threads: connman runs every callback on its own thread; the writers run in
 * main's loop. Each client's state is shared by both, so it has a mutex.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "connman.h"
#include "examples.h"

#define MAX_PENDING 256

struct client {
    const char *name;      /* "localhost", "127.0.0.1", "pool[0]", "pool[1]", "unix" */
    long interval_ms;      /* how often main writes a message */
    long long next_write;  /* main thread only */

    pthread_mutex_t lock;  /* guards everything below */
    connman_conn conn;
    int fd;                /* the descriptor from on_connect; stable */
    bool up;               /* connected: the writer runs */
    bool disconnecting;    /* we called connman_disconnect_all() */
    bool closed;           /* on_close ran */
    unsigned connects, resets, reconnects, closes, greetings;
    unsigned late_resets;  /* resets that raced our disconnect (allowed) */
    unsigned sent, echoed, resent, write_failures;
    unsigned next_seq;
    unsigned pending[MAX_PENDING];  /* messages written, echo not seen yet */
    long long pending_at[MAX_PENDING]; /* when each was written, in us */
    size_t npending;
    struct line_reader reader; /* the echo line being received */
    uint64_t attempts_at_reset; /* connman_stats.attempts when the connection dropped */
    unsigned problems;     /* anything that must never happen */
    connman_stats final;   /* the library's counters, read inside on_close */
};

#define MAX_CLIENTS 5
static struct client clients[MAX_CLIENTS];
static int nclients = 4; /* 5 with a Unix socket */

/* Record something that breaks the contract or the protocol. Lock held. */
static void problem(struct client *c, const char *what)
{
    c->problems++;
    say("%-9s PROBLEM: %s", c->name, what);
}

static int format_msg(const struct client *c, unsigned seq, char *buf, size_t size)
{
    return snprintf(buf, size, "%s says hello #%u\r\n", c->name, seq);
}

/*
 * Writes message `seq` straight to the socket (no copy, no queue). MSG_NOSIGNAL:
 * a write on a connection the server just dropped must not raise SIGPIPE. A
 * failed write is not lost: the message stays pending and is resent after the
 * reconnect. Lock held.
 */
static void write_msg(struct client *c, unsigned seq)
{
    char msg[128];
    int len = format_msg(c, seq, msg, sizeof msg);
    ssize_t n = send(c->fd, msg, (size_t)len, MSG_NOSIGNAL);
    if (n != len) {
        c->write_failures++;
        if (n >= 0)
            problem(c, "short write"); /* a tiny message on an idle socket: never */
    }
}

/* ---- callbacks: they run on connman's thread --------------------------- */

static void on_connect(void *ctx, connman_conn conn, int fd)
{
    struct client *c = ctx;
    pthread_mutex_lock(&c->lock);
    if (c->connects || c->resets || c->reconnects || c->closes)
        problem(c, "on_connect was not the first callback");
    c->conn = conn; /* may run before connman_connect() has returned the handle */
    c->fd = fd;
    c->connects++;
    c->up = true;
    pthread_mutex_unlock(&c->lock);
    say("%-9s connected (fd %d): writing every %ld ms", c->name, fd, c->interval_ms);
}

static void on_reset(void *ctx, connman_conn conn)
{
    struct client *c = ctx;
    connman_stats st;
    size_t lost;
    pthread_mutex_lock(&c->lock);
    if (connman_get_stats(conn, &st) == CONNMAN_OK)
        c->attempts_at_reset = st.attempts;
    if (!c->up || c->closed)
        problem(c, "on_reset while not connected");
    c->up = false; /* stops the writer */
    if (c->disconnecting)
        c->late_resets++;
    else
        c->resets++;
    line_clear(&c->reader); /* a half-received echo will be resent whole */
    lost = c->npending;
    pthread_mutex_unlock(&c->lock);
    say("%-9s RESET: writer stopped, %zu message(s) in flight to resend", c->name, lost);
}

static void on_reconnect(void *ctx, connman_conn conn, int fd)
{
    struct client *c = ctx;
    connman_stats st;
    char why[96] = "";
    size_t i, n;
    pthread_mutex_lock(&c->lock);
    if (c->up || c->closed)
        problem(c, "on_reconnect without a reset before it");
    /* Attempts that failed while it was down, and why the last one did. */
    if (connman_get_stats(conn, &st) == CONNMAN_OK && st.attempts > c->attempts_at_reset + 1)
        snprintf(why, sizeof why, " after %llu failed attempt(s), the last %s",
                 (unsigned long long)(st.attempts - c->attempts_at_reset - 1),
                 errno_name(st.last_error));
    if (fd != c->fd)
        problem(c, "on_reconnect gave a different descriptor");
    c->reconnects++;
    c->up = true;
    /* The data in flight at the reset is lost: resending it is our job. */
    n = c->npending;
    for (i = 0; i < n; i++) {
        write_msg(c, c->pending[i]);
        c->resent++;
    }
    pthread_mutex_unlock(&c->lock);
    say("%-9s RECONNECTED (same fd %d)%s: writer restarted, %zu message(s) resent", c->name,
        fd, why, n);
}

/* One complete line from the server (without "\r\n"). Lock held. */
static void on_line(void *ctx, const char *line)
{
    struct client *c = ctx;
    char expect[128];
    if (strcmp(line, "hello") == 0) {
        c->greetings++;
        say("%-9s greeting: \"%s\"", c->name, line);
        return;
    }
    if (c->npending == 0) {
        problem(c, "an echo of a message never sent");
        return;
    }
    format_msg(c, c->pending[0], expect, sizeof expect);
    expect[strlen(expect) - 2] = '\0'; /* drop "\r\n" */
    if (strcmp(line, expect) != 0) {
        problem(c, "an echo out of order or corrupted");
        return;
    }
    say("%-9s echo: \"%s\" (round trip %lld us)", c->name, line, now_us() - c->pending_at[0]);
    c->npending--;
    memmove(c->pending, c->pending + 1, c->npending * sizeof c->pending[0]);
    memmove(c->pending_at, c->pending_at + 1, c->npending * sizeof c->pending_at[0]);
    c->echoed++;
}

static void on_data(void *ctx, connman_conn conn, const uint8_t *data, size_t len)
{
    struct client *c = ctx;
    (void)conn;
    pthread_mutex_lock(&c->lock);
    if (!c->up || c->closed)
        problem(c, "on_data while not connected");
    if (line_feed(&c->reader, data, len, on_line, c))
        problem(c, "a line too long");
    pthread_mutex_unlock(&c->lock);
}

static void on_close(void *ctx, connman_conn conn)
{
    struct client *c = ctx;
    pthread_mutex_lock(&c->lock);
    if (c->closed)
        problem(c, "on_close ran twice");
    c->closes++;
    c->closed = true;
    c->up = false;
    /* Any connman call works inside a callback: read the final counters. */
    if (connman_get_stats(conn, &c->final) != CONNMAN_OK)
        problem(c, "connman_get_stats failed inside on_close");
    pthread_mutex_unlock(&c->lock);
    say("%-9s closed", c->name);
}

static connman_handler handler_for(struct client *c)
{
    connman_handler h;
    h.ctx = c;
    h.on_connect = on_connect;
    h.on_reset = on_reset;
    h.on_reconnect = on_reconnect;
    h.on_data = on_data;
    h.on_close = on_close;
    return h;
}

/* The pool's handler factory: member `index` gets clients[2 + index]. */
static connman_result make_handler(void *factory_ctx, size_t index, connman_handler *out)
{
    struct client *members = factory_ctx;
    if (index >= 2)
        return CONNMAN_ERR_FACTORY; /* refuse: this pool has two members */
    *out = handler_for(&members[index]);
    return CONNMAN_OK;
}

/* ---- main: the writers, then the clean-up and the summary --------------- */

static void write_next(struct client *c)
{
    pthread_mutex_lock(&c->lock);
    if (c->up && c->npending < MAX_PENDING) {
        unsigned seq = ++c->next_seq;
        c->pending[c->npending] = seq;
        c->pending_at[c->npending++] = now_us();
        c->sent++;
        write_msg(c, seq);
    }
    pthread_mutex_unlock(&c->lock);
}

static void lock_all(void)
{
    int i;
    for (i = 0; i < nclients; i++)
        pthread_mutex_lock(&clients[i].lock);
}

static void unlock_all(void)
{
    int i;
    for (i = nclients - 1; i >= 0; i--)
        pthread_mutex_unlock(&clients[i].lock);
}

/* Waits up to `ms` until every client is connected with no echo outstanding,
 * then, with every client locked (so no reset can slip in between the check
 * and the call), disconnects everything. */
static bool disconnect_when_quiet(long ms)
{
    long long deadline = now_ms() + ms;
    for (;;) {
        bool quiet = true;
        int i;
        lock_all();
        for (i = 0; i < nclients; i++)
            if (!clients[i].up || clients[i].npending > 0)
                quiet = false;
        if (quiet || now_ms() > deadline) {
            CHECK(connman_disconnect_all());
            for (i = 0; i < nclients; i++)
                clients[i].disconnecting = true;
            unlock_all();
            return quiet;
        }
        unlock_all();
        sleep_ms(5);
    }
}

static bool all_closed(void)
{
    bool closed = true;
    int i;
    for (i = 0; i < nclients; i++) {
        pthread_mutex_lock(&clients[i].lock);
        closed = closed && clients[i].closed;
        pthread_mutex_unlock(&clients[i].lock);
    }
    return closed;
}

/* Prints the summary table and checks it; returns the number of problems. */
static unsigned summary(double seconds, unsigned min_resets)
{
    unsigned problems = 0, total_resets = 0;
    int i;
    printf("\nsummary after %.1f s\n", seconds);
    printf("  %-9s %8s %6s %10s %9s %7s %6s %6s %6s\n", "client", "connects", "resets",
           "reconnects", "greetings", "written", "echoed", "resent", "closes");
    for (i = 0; i < nclients; i++) {
        struct client *c = &clients[i];
        printf("  %-9s %8u %6u %10u %9u %7u %6u %6u %6u\n", c->name, c->connects,
               c->resets + c->late_resets, c->reconnects, c->greetings, c->sent, c->echoed,
               c->resent, c->closes);
    }
    for (i = 0; i < nclients; i++) {
        struct client *c = &clients[i];
        problems += c->problems;
        total_resets += c->resets;
#define EXPECT(cond, what)                                          \
    do {                                                            \
        if (!(cond)) {                                              \
            printf("  problem: %s: %s\n", c->name, what);           \
            problems++;                                             \
        }                                                           \
    } while (0)
        EXPECT(c->connects == 1, "on_connect did not run exactly once");
        EXPECT(c->reconnects == c->resets, "a reset was not followed by a reconnect");
        EXPECT(c->closes == 1, "on_close did not run exactly once");
        EXPECT(c->sent > 0, "no message was written");
        EXPECT(c->echoed == c->sent && c->npending == 0, "a message was not echoed");
        EXPECT(c->final.resets == c->resets + c->late_resets,
               "connman_stats.resets disagrees with the on_reset calls");
        EXPECT(c->final.connects == c->connects + c->reconnects,
               "connman_stats.connects disagrees with on_connect + on_reconnect");
#undef EXPECT
    }
    if (total_resets < min_resets) {
        printf("  problem: %u reset(s), expected at least %u: did the server drop?\n",
               total_resets, min_resets);
        problems++;
    }
    printf("  every message echoed, every reset followed by a reconnect, every "
           "connection closed once: %s\n",
           problems ? "NO" : "yes");
    printf("result: %s\n", problems ? "FAILED" : "ok");
    return problems;
}

int main(int argc, char **argv)
{
    static const char *names[MAX_CLIENTS] = {"localhost", "127.0.0.1", "pool[0]", "pool[1]",
                                             "unix"};
    static const long intervals[MAX_CLIENTS] = {450, 550, 450, 675, 600};
    unsigned short port = parse_port(argc > 1 ? argv[1] : NULL, argv[0]);
    int seconds = argc > 2 ? atoi(argv[2]) : 15;
    unsigned min_resets = argc > 3 ? (unsigned)atoi(argv[3]) : 0;
    const char *unix_path = argc > 4 ? argv[4] : NULL;
    nclients = unix_path ? 5 : 4;
    connman_options opts = connman_options_default();
    connman_handler h;
    connman_pool pool;
    size_t index;
    long long start, end;
    int i;

    for (i = 0; i < nclients; i++) {
        clients[i].name = names[i];
        clients[i].interval_ms = intervals[i];
        clients[i].fd = -1;
        pthread_mutex_init(&clients[i].lock, NULL);
    }
    /* Retry at most 1 s apart so the clients come back soon after an outage
     * (the default ceiling, 128 s, suits servers you should not hammer). */
    opts.backoff_max_ms = 1000;

    say("connman %s demo client: echo server at port %u%s%s, running %d s", connman_version(),
        (unsigned)port, unix_path ? " and on " : "", unix_path ? unix_path : "", seconds);

    /* Two single connections: the same server under two names. */
    h = handler_for(&clients[0]);
    CHECK(connman_connect(port, "localhost", &h, &opts, &clients[0].conn));
    h = handler_for(&clients[1]);
    CHECK(connman_connect(port, "127.0.0.1", &h, &opts, &clients[1].conn));

    /* A pool of two: the factory gives each member its handler. */
    CHECK(connman_pool_create("demo-pool", make_handler, &clients[2], &pool));
    CHECK(connman_pool_add(pool, port, "127.0.0.1", &opts, &index));
    CHECK(connman_pool_add(pool, port, "127.0.0.1", &opts, &index));

    /* A Unix-socket connection: everything else is as for TCP. */
    if (unix_path) {
        h = handler_for(&clients[4]);
        CHECK(connman_connect_unix(unix_path, &h, &opts, &clients[4].conn));
    }

    /* The writers: each client writes when its interval is due. */
    start = now_ms();
    end = start + seconds * 1000LL;
    for (i = 0; i < nclients; i++)
        clients[i].next_write = start + clients[i].interval_ms;
    for (;;) {
        long long now = now_ms(), next = end;
        for (i = 0; i < nclients; i++)
            if (clients[i].next_write < next)
                next = clients[i].next_write;
        if (next > now)
            sleep_ms((long)(next - now));
        now = now_ms();
        if (now >= end)
            break;
        for (i = 0; i < nclients; i++) {
            if (clients[i].next_write <= now) {
                clients[i].next_write += clients[i].interval_ms;
                write_next(&clients[i]);
            }
        }
    }

    say("time is up: writers stopped; waiting for the last echoes, then disconnecting all");
    if (!disconnect_when_quiet(10000)) {
        say("PROBLEM: still not all connected and echoed after 10 s; disconnected anyway");
        clients[0].problems++;
    }
    {
        long long deadline = now_ms() + 5000;
        while (!all_closed() && now_ms() < deadline)
            sleep_ms(5);
    }
    /* Waits for every on_close and for connman's threads: nothing runs after it. */
    CHECK(connman_shutdown());

    {
        unsigned problems = summary((double)(now_ms() - start) / 1000.0, min_resets);
        for (i = 0; i < nclients; i++)
            pthread_mutex_destroy(&clients[i].lock);
        return problems ? 1 : 0;
    }
}
