/*
 * regressions.c: minimal reproductions of library bugs found from C and fixed,
 * written from SPEC.md and connman.h, kept so they cannot come back. `make test`
 * runs it. Each prints "ok" or "REGRESSED"; the exit status is the number
 * regressed.
 *
 *   usage: regressions [PATH-TO-flaky-echo]   (default: $FLAKY_ECHO)
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdbool.h>

#include "connman.h"
#include "examples.h"
#include "flaky_server.h"

/*
 * 1. send_while_reconnecting: bytes held during an outage must reach the peer
 *    after what on_reconnect sends, and every connman_send is written in the
 *    order the calls were accepted (connman.h, connman_send and
 *    connman_options.send_while_reconnecting). A connman_send made by another
 *    thread while on_reconnect ran was written at once: ahead of the handshake
 *    on_reconnect was about to send, and ahead of the bytes held before it. Fixed:
 *    until on_reconnect returns, sends from elsewhere are held too.
 *
 *    Here: the server goes away; "A" is held; the server comes back; while
 *    on_reconnect takes 200 ms before sending "HS", the main thread sends "B".
 *    Expected at the server: HS A B. Received: B HS A.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char echo[64];
static size_t echo_len;
static volatile bool reset_seen, in_reconnect;

static void b1_reset(void *ctx, connman_conn conn)
{
    (void)ctx;
    (void)conn;
    reset_seen = true;
}

static void b1_reconnect(void *ctx, connman_conn conn, int fd)
{
    (void)ctx;
    (void)fd;
    in_reconnect = true;
    sleep_ms(200); /* preparing the handshake takes a moment */
    connman_send(conn, (const uint8_t *)"HS\n", 3);
}

static void b1_data(void *ctx, connman_conn conn, const uint8_t *data, size_t len)
{
    (void)ctx;
    (void)conn;
    pthread_mutex_lock(&lock);
    if (echo_len + len < sizeof echo) {
        memcpy(echo + echo_len, data, len);
        echo_len += len;
    }
    pthread_mutex_unlock(&lock);
}

static bool wait_for(volatile bool *flag)
{
    long long deadline = now_ms() + 5000;
    while (!*flag && now_ms() < deadline)
        sleep_ms(1);
    return *flag;
}

static bool bug_held_bytes_overtaken(const char *flaky)
{
    struct server s;
    char path[64];
    connman_handler h = {NULL, NULL, b1_reset, b1_reconnect, b1_data, NULL};
    connman_options o = connman_options_default();
    connman_conn c;
    connman_stats st;
    bool reproduced;
    long long deadline = now_ms() + 5000;

    snprintf(path, sizeof path, "/tmp/connman-kb-%d.sock", (int)getpid());
    if (!server_start(&s, flaky, path)) {
        printf("1. cannot start %s\n", flaky);
        return false;
    }
    o.send_while_reconnecting = 4096;
    o.backoff_max_ms = 50;
    CHECK(connman_connect_unix(path, &h, &o, &c));
    while ((connman_get_stats(c, &st) != CONNMAN_OK || st.state != CONNMAN_STATE_CONNECTED) &&
           now_ms() < deadline)
        sleep_ms(5);
    server_cmd(&s, "stop");
    wait_for(&reset_seen);
    CHECK(connman_send(c, (const uint8_t *)"A\n", 2)); /* held */
    server_cmd(&s, "start");
    wait_for(&in_reconnect);
    CHECK(connman_send(c, (const uint8_t *)"B\n", 2)); /* while on_reconnect runs */
    sleep_ms(600);
    connman_shutdown();
    server_quit(&s);
    unlink(path);
    pthread_mutex_lock(&lock);
    reproduced = !(echo_len == 7 && memcmp(echo, "HS\nA\nB\n", 7) == 0);
    printf("1. send_while_reconnecting: a send from another thread during on_reconnect "
           "follows the handshake and the held bytes: %s (the server got \"",
           reproduced ? "REGRESSED" : "ok");
    for (size_t i = 0; i < echo_len; i++) {
        if (echo[i] == '\n')
            fputs("\\n", stdout);
        else
            putchar(echo[i]);
    }
    printf("\", expected \"HS\\nA\\nB\\n\")\n");
    pthread_mutex_unlock(&lock);
    return reproduced;
}

int main(int argc, char **argv)
{
    const char *flaky = argc > 1 ? argv[1] : getenv("FLAKY_ECHO");
    int reproduced = 0;
    if (!flaky)
        flaky = "../target/release/flaky-echo";
    setvbuf(stdout, NULL, _IOLBF, 0);
    reproduced += bug_held_bytes_overtaken(flaky);
    printf("regressions: %d regressed\n", reproduced);
    return reproduced;
}
