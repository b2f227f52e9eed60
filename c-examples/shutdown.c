/*
 * shutdown.c: stopping the library cleanly, and starting it again.
 *
 * connman_shutdown() disconnects everything, returns only once every on_close
 * has run and the library's threads have exited, and closes every descriptor it
 * opened. Old handles are then stale (calls return CONNMAN_ERR_NOT_FOUND) and a
 * later connman_connect() starts the library afresh. Call it before unloading
 * the library or at the end of main; not from inside a callback (it refuses with
 * CONNMAN_ERR_IN_CALLBACK there).
 *
 * Three rounds: open two connections and a pool of two, wait until all four are
 * up and have echoed a message, shut down, and check that nothing is left:
 * every on_close ran once, the handles are stale, the pool's name is free, and
 * the process has the same descriptors and threads as before.
 *
 *   usage: shutdown PORT [ROUNDS]
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>

#include "connman.h"
#include "examples.h"

struct peer {
    pthread_mutex_t lock;
    bool up;
    unsigned closes;
    size_t echoed; /* bytes of "ping\n" echoed back */
    connman_result shutdown_in_callback;
};

static struct peer peers[4];

static void on_connect(void *ctx, connman_conn conn, int fd)
{
    struct peer *p = ctx;
    (void)fd;
    pthread_mutex_lock(&p->lock);
    p->up = true;
    /* Not allowed here: connman_shutdown would wait for this very callback. */
    p->shutdown_in_callback = connman_shutdown();
    pthread_mutex_unlock(&p->lock);
    connman_send(conn, (const uint8_t *)"ping\n", 5);
}

static void on_reset(void *ctx, connman_conn conn)
{
    struct peer *p = ctx;
    (void)conn;
    pthread_mutex_lock(&p->lock);
    p->up = false;
    pthread_mutex_unlock(&p->lock);
}

static void on_reconnect(void *ctx, connman_conn conn, int fd)
{
    struct peer *p = ctx;
    (void)fd;
    pthread_mutex_lock(&p->lock);
    p->up = true;
    if (p->echoed < 5) { /* the ping was lost in the drop: send it again */
        p->echoed = 0;
        connman_send(conn, (const uint8_t *)"ping\n", 5);
    }
    pthread_mutex_unlock(&p->lock);
}

static void on_data(void *ctx, connman_conn conn, const uint8_t *data, size_t len)
{
    struct peer *p = ctx;
    size_t i;
    (void)conn;
    pthread_mutex_lock(&p->lock);
    for (i = 0; i < len && p->echoed < 5; i++)
        if (data[i] == (uint8_t)"ping\n"[p->echoed])
            p->echoed++;
        else
            p->echoed = data[i] == 'p'; /* a greeting or a broken echo: start over */
    pthread_mutex_unlock(&p->lock);
}

static void on_close(void *ctx, connman_conn conn)
{
    struct peer *p = ctx;
    (void)conn;
    pthread_mutex_lock(&p->lock);
    p->closes++;
    p->up = false;
    pthread_mutex_unlock(&p->lock);
}

static connman_handler handler_for(struct peer *p)
{
    connman_handler h = {NULL, on_connect, on_reset, on_reconnect, on_data, on_close};
    h.ctx = p;
    return h;
}

static connman_result factory(void *factory_ctx, size_t index, connman_handler *out)
{
    struct peer *members = factory_ctx;
    *out = handler_for(&members[index]);
    return CONNMAN_OK;
}

/* Entries in a /proc directory: open descriptors, or threads. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - (strcmp(dir, "/proc/self/fd") == 0); /* opendir's own descriptor */
}

static bool all_echoed(void)
{
    bool ok = true;
    int i;
    for (i = 0; i < 4; i++) {
        pthread_mutex_lock(&peers[i].lock);
        ok = ok && peers[i].up && peers[i].echoed == 5;
        pthread_mutex_unlock(&peers[i].lock);
    }
    return ok;
}

int main(int argc, char **argv)
{
    unsigned short port = parse_port(argc > 1 ? argv[1] : NULL, argv[0]);
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    int fds_before, threads_before, round, i;
    connman_options opts = connman_options_default();
    unsigned bad = 0;

    opts.backoff_max_ms = 200;
    /* With nothing running, shutdown is a no-op that succeeds. */
    CHECK(connman_shutdown());
    fds_before = count_entries("/proc/self/fd");
    threads_before = count_entries("/proc/self/task");
    say("before: %d descriptors, %d thread(s)", fds_before, threads_before);

    for (round = 1; round <= rounds; round++) {
        connman_conn c0, c1, pc;
        connman_pool pool, found;
        connman_handler h;
        size_t index;
        long long deadline;

        for (i = 0; i < 4; i++) {
            memset(&peers[i], 0, sizeof peers[i]);
            pthread_mutex_init(&peers[i].lock, NULL);
        }
        h = handler_for(&peers[0]);
        CHECK(connman_connect(port, "127.0.0.1", &h, &opts, &c0));
        h = handler_for(&peers[1]);
        CHECK(connman_connect(port, "localhost", &h, &opts, &c1));
        /* The same pool name every round: shutdown releases it. */
        CHECK(connman_pool_create("shutdown-demo", factory, &peers[2], &pool));
        CHECK(connman_pool_add(pool, port, "127.0.0.1", &opts, &index));
        CHECK(connman_pool_add(pool, port, "127.0.0.1", &opts, &index));
        CHECK(connman_pool_conn(pool, 0, &pc));

        deadline = now_ms() + 5000;
        while (!all_echoed() && now_ms() < deadline)
            sleep_ms(5);
        say("round %d: 4 connections up and echoing: %s; %d descriptors, %d threads", round,
            all_echoed() ? "yes" : "NO", count_entries("/proc/self/fd"),
            count_entries("/proc/self/task"));
        bad += !all_echoed();

        /* Returns after every on_close: no waiting needed to check them. */
        CHECK(connman_shutdown());
        for (i = 0; i < 4; i++) {
            if (peers[i].closes != 1 || peers[i].shutdown_in_callback != CONNMAN_ERR_IN_CALLBACK) {
                say("PROBLEM: connection %d: %u on_close, shutdown in a callback said %s", i,
                    peers[i].closes, connman_strerror(peers[i].shutdown_in_callback));
                bad++;
            }
            pthread_mutex_destroy(&peers[i].lock);
        }
        if (connman_fd(c0) != -1 || connman_disconnect(c1) != CONNMAN_ERR_NOT_FOUND ||
            connman_send(pc, (const uint8_t *)"x", 1) != CONNMAN_ERR_NOT_FOUND ||
            connman_pool_find("shutdown-demo", &found) != CONNMAN_ERR_NOT_FOUND) {
            say("PROBLEM: a handle or the pool name survived the shutdown");
            bad++;
        }
        say("round %d: shut down: 4 on_close ran, handles stale; %d descriptors, %d thread(s)",
            round, count_entries("/proc/self/fd"), count_entries("/proc/self/task"));
        if (count_entries("/proc/self/fd") != fds_before ||
            count_entries("/proc/self/task") != threads_before) {
            say("PROBLEM: descriptors or threads left behind");
            bad++;
        }
    }
    printf("\nsummary: %d rounds of connect, echo, shutdown\nresult: %s\n", rounds,
           bad ? "FAILED" : "ok");
    return bad ? 1 : 0;
}
