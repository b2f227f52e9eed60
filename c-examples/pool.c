/*
 * pool.c: a pool of connections used as a small load balancer.
 *
 * A named pool gets three members; a handler factory allocates each member's
 * state (freed again in its on_close). Main looks members up by index
 * (connman_pool_get_connection, connman_pool_get_handler), then hands out jobs
 * round robin with connman_pool_next, which skips members that are down. A job
 * whose member drops before the echo comes back is handed out again. At the end
 * connman_pool_disconnect closes every member and the pool's name is released.
 *
 *   usage: pool PORT [SECONDS]
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>

#include "connman.h"
#include "examples.h"

#define MEMBERS 3
#define MAX_JOBS 1024

/* What all members share: jobs to hand out again, and the totals. */
struct farm {
    pthread_mutex_t lock;
    unsigned redo[MAX_JOBS];      /* jobs lost in a reset, to send again */
    size_t nredo;
    unsigned echoed[MAX_JOBS];    /* how many echoes each job got (must be 1) */
    unsigned done_by[MEMBERS];    /* echoes per member */
    unsigned closed;              /* members whose on_close ran */
    unsigned problems;
};

/* One member's state: made by the factory, freed by on_close. */
struct worker {
    size_t index;
    struct farm *farm;
    pthread_mutex_t lock;
    int fd;
    bool up;
    unsigned pending[MAX_JOBS];   /* sent, echo not seen yet, oldest first */
    size_t npending;
    char line[64];
    size_t line_len;
};

static void farm_problem(struct farm *f, const char *what)
{
    pthread_mutex_lock(&f->lock);
    f->problems++;
    pthread_mutex_unlock(&f->lock);
    say("PROBLEM: %s", what);
}

static void on_connect(void *ctx, connman_conn conn, int fd)
{
    struct worker *w = ctx;
    (void)conn;
    pthread_mutex_lock(&w->lock);
    w->fd = fd;
    w->up = true;
    pthread_mutex_unlock(&w->lock);
    say("member %zu connected (fd %d)", w->index, fd);
}

/* The member dropped: its unanswered jobs go back to the farm. */
static void on_reset(void *ctx, connman_conn conn)
{
    struct worker *w = ctx;
    size_t n, i;
    (void)conn;
    pthread_mutex_lock(&w->lock);
    w->up = false;
    w->line_len = 0;
    n = w->npending;
    pthread_mutex_lock(&w->farm->lock);
    for (i = 0; i < n; i++)
        w->farm->redo[w->farm->nredo++] = w->pending[i];
    pthread_mutex_unlock(&w->farm->lock);
    w->npending = 0;
    pthread_mutex_unlock(&w->lock);
    say("member %zu RESET: %zu job(s) to hand out again", w->index, n);
}

static void on_reconnect(void *ctx, connman_conn conn, int fd)
{
    struct worker *w = ctx;
    (void)conn;
    pthread_mutex_lock(&w->lock);
    w->up = true;
    pthread_mutex_unlock(&w->lock);
    say("member %zu RECONNECTED (fd %d)", w->index, fd);
}

/* Lines are "job N"; the server may also greet with "hello". */
static void on_data(void *ctx, connman_conn conn, const uint8_t *data, size_t len)
{
    struct worker *w = ctx;
    size_t i;
    (void)conn;
    pthread_mutex_lock(&w->lock);
    for (i = 0; i < len; i++) {
        unsigned job;
        if (data[i] != '\n') {
            if (w->line_len + 1 < sizeof w->line)
                w->line[w->line_len++] = (char)data[i];
            continue;
        }
        w->line[w->line_len] = '\0';
        w->line_len = 0;
        if (sscanf(w->line, "job %u", &job) != 1)
            continue; /* the greeting */
        if (w->npending == 0 || w->pending[0] != job || job >= MAX_JOBS) {
            farm_problem(w->farm, "an echo out of order");
            continue;
        }
        w->npending--;
        memmove(w->pending, w->pending + 1, w->npending * sizeof w->pending[0]);
        pthread_mutex_lock(&w->farm->lock);
        w->farm->echoed[job]++;
        w->farm->done_by[w->index]++;
        pthread_mutex_unlock(&w->farm->lock);
        say("member %zu: job %u done", w->index, job);
    }
    pthread_mutex_unlock(&w->lock);
}

/* The last callback: the library never touches ctx again, so free it here. */
static void on_close(void *ctx, connman_conn conn)
{
    struct worker *w = ctx;
    (void)conn;
    say("member %zu closed", w->index);
    pthread_mutex_lock(&w->farm->lock);
    w->farm->closed++;
    pthread_mutex_unlock(&w->farm->lock);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* The factory: called by connman_pool_add, on its thread, for each new member. */
static connman_result make_worker(void *factory_ctx, size_t index, connman_handler *out)
{
    struct worker *w = calloc(1, sizeof *w);
    if (!w)
        return CONNMAN_ERR_FACTORY; /* refusing adds nothing to the pool */
    w->index = index;
    w->farm = factory_ctx;
    w->fd = -1;
    pthread_mutex_init(&w->lock, NULL);
    out->ctx = w;
    out->on_connect = on_connect;
    out->on_reset = on_reset;
    out->on_reconnect = on_reconnect;
    out->on_data = on_data;
    out->on_close = on_close;
    return CONNMAN_OK;
}

/* Which member has this connection? Looks the pool up by index. */
static struct worker *worker_of(connman_pool pool, connman_conn conn)
{
    size_t i, n = 0;
    connman_pool_size(pool, &n);
    for (i = 0; i < n; i++) {
        int fd;
        void *ctx;
        if (connman_pool_get_connection(pool, i, &fd) == CONNMAN_OK &&
            fd == connman_fd(conn) && connman_pool_get_handler(pool, i, &ctx) == CONNMAN_OK)
            return ctx;
    }
    return NULL;
}

/* Sends job `job` to the next connected member, round robin. */
static bool hand_out(connman_pool pool, unsigned job)
{
    char msg[32];
    int len = snprintf(msg, sizeof msg, "job %u\n", job);
    int tries;
    for (tries = 0; tries < MEMBERS; tries++) {
        connman_conn conn;
        struct worker *w;
        connman_result rc = connman_pool_next(pool, &conn);
        if (rc == CONNMAN_ERR_NOT_CONNECTED)
            return false; /* every member is down right now */
        CHECK(rc);
        w = worker_of(pool, conn);
        if (!w)
            continue; /* closed in the meantime */
        pthread_mutex_lock(&w->lock);
        w->pending[w->npending++] = job; /* before sending: the echo may be quick */
        rc = connman_send(conn, (const uint8_t *)msg, (size_t)len);
        if (rc != CONNMAN_OK)
            w->npending--; /* it dropped since pool_next: try the next member */
        pthread_mutex_unlock(&w->lock);
        if (rc == CONNMAN_OK) {
            say("job %u -> member %zu", job, w->index);
            return true;
        }
    }
    return false;
}

static bool all_echoed(struct farm *f, unsigned jobs)
{
    unsigned j;
    bool ok = true;
    pthread_mutex_lock(&f->lock);
    for (j = 1; j <= jobs; j++)
        ok = ok && f->echoed[j] == 1;
    pthread_mutex_unlock(&f->lock);
    return ok;
}

int main(int argc, char **argv)
{
    static struct farm farm;
    unsigned short port = parse_port(argc > 1 ? argv[1] : NULL, argv[0]);
    int seconds = argc > 2 ? atoi(argv[2]) : 5;
    connman_options opts = connman_options_default();
    connman_pool pool, found;
    connman_pool_stats ps;
    unsigned jobs = 0, redone = 0, j;
    size_t i, index;
    long long end, deadline;
    connman_result rc;

    pthread_mutex_init(&farm.lock, NULL);
    opts.backoff_max_ms = 500;

    CHECK(connman_pool_create("workers", make_worker, &farm, &pool));
    for (i = 0; i < MEMBERS; i++) {
        CHECK(connman_pool_add(pool, port, "127.0.0.1", &opts, &index));
        say("added member %zu", index);
    }

    /* Wait (with a deadline) until every member is up. */
    deadline = now_ms() + 5000;
    do {
        CHECK(connman_pool_get_stats(pool, &ps));
        if (ps.connected == MEMBERS)
            break;
        sleep_ms(5);
    } while (now_ms() < deadline);
    say("%zu of %zu members connected", ps.connected, ps.members);

    /* Members by index: the descriptor their on_connect got, the factory's ctx. */
    for (i = 0; i < MEMBERS; i++) {
        int fd;
        void *ctx;
        struct worker *w;
        if (connman_pool_get_connection(pool, i, &fd) != CONNMAN_OK ||
            connman_pool_get_handler(pool, i, &ctx) != CONNMAN_OK)
            continue;
        w = ctx;
        pthread_mutex_lock(&w->lock);
        say("member %zu: fd %d, handler %p (the factory's worker #%zu, fd %d)", i, fd, ctx,
            w->index, w->fd);
        if (w->index != i || w->fd != fd)
            farm.problems++;
        pthread_mutex_unlock(&w->lock);
    }

    /* Hand out a job every 100 ms; first the jobs a reset sent back. */
    end = now_ms() + seconds * 1000LL;
    while (now_ms() < end && jobs + 1 < MAX_JOBS) {
        unsigned job = 0;
        pthread_mutex_lock(&farm.lock);
        if (farm.nredo > 0) {
            job = farm.redo[0];
            farm.nredo--;
            memmove(farm.redo, farm.redo + 1, farm.nredo * sizeof farm.redo[0]);
        }
        pthread_mutex_unlock(&farm.lock);
        if (job)
            redone++;
        else
            job = ++jobs;
        if (!hand_out(pool, job)) {
            say("job %u: no member connected, waiting", job);
            pthread_mutex_lock(&farm.lock);
            farm.redo[farm.nredo++] = job;
            pthread_mutex_unlock(&farm.lock);
        }
        sleep_ms(100);
    }

    /* Let the last jobs finish (still handing out those a reset sends back). */
    deadline = now_ms() + 10000;
    while (!all_echoed(&farm, jobs) && now_ms() < deadline) {
        unsigned job = 0;
        pthread_mutex_lock(&farm.lock);
        if (farm.nredo > 0)
            job = farm.redo[--farm.nredo];
        pthread_mutex_unlock(&farm.lock);
        if (job && !hand_out(pool, job)) {
            pthread_mutex_lock(&farm.lock);
            farm.redo[farm.nredo++] = job;
            pthread_mutex_unlock(&farm.lock);
        } else if (job) {
            redone++;
        }
        sleep_ms(5);
    }

    /* Close every member; the pool is found by name until the last on_close. */
    CHECK(connman_pool_disconnect(pool));
    /* CLOSED while members are closing, NOT_FOUND once all have closed. */
    rc = connman_pool_disconnect(pool);
    say("pool disconnected (a second disconnect says: %s)", connman_strerror(rc));
    deadline = now_ms() + 5000;
    while (connman_pool_find("workers", &found) == CONNMAN_OK && now_ms() < deadline)
        sleep_ms(5);
    say("name \"workers\" released: %s",
        connman_pool_find("workers", &found) == CONNMAN_ERR_NOT_FOUND ? "yes" : "NO");
    CHECK(connman_shutdown());

    printf("\nsummary: %u jobs, %u hand-outs retried (after a reset or while all were down);"
           " done by member:", jobs, redone);
    for (i = 0; i < MEMBERS; i++)
        printf(" %zu:%u", i, farm.done_by[i]);
    printf("\n");
    for (j = 1; j <= jobs; j++) {
        if (farm.echoed[j] != 1) {
            printf("  problem: job %u echoed %u times\n", j, farm.echoed[j]);
            farm.problems++;
        }
    }
    if (farm.closed != MEMBERS) {
        printf("  problem: %u members closed, expected %d\n", farm.closed, MEMBERS);
        farm.problems++;
    }
    if ((rc != CONNMAN_ERR_CLOSED && rc != CONNMAN_ERR_NOT_FOUND) || jobs == 0) {
        printf("  problem: no jobs, or a second pool disconnect did not fail\n");
        farm.problems++;
    }
    printf("result: %s\n", farm.problems ? "FAILED" : "ok");
    pthread_mutex_destroy(&farm.lock);
    return farm.problems ? 1 : 0;
}
