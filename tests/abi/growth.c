/* A program written against an OLDER connman.h: tests/abi_growth.rs compiles it
 * against a copy of the header whose structs lack their newest fields (the space is
 * still reserved), then runs it, unrebuilt, against the current libconnman (under
 * valgrind when it is installed). It must work and read correct values: the growth
 * scheme of the header ("Structs that grow") at work.
 *
 * Usage: growth PORT. Exits 0 when everything checked out. */
#include <connman.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile int connected, received, closed;

static void on_connect(void *ctx, connman_conn c, int fd) {
    (void)ctx; (void)fd;
    connected = 1;
    connman_send(c, (const uint8_t *)"hello", 5);
}

static void on_data(void *ctx, connman_conn c, const uint8_t *data, size_t len) {
    (void)ctx; (void)c; (void)data;
    received += (int)len;
}

static void on_close(void *ctx, connman_conn c) {
    (void)ctx; (void)c;
    closed = 1;
}

static int wait_for(volatile int *flag, int want) {
    for (int i = 0; i < 500 && *flag < want; i++)
        poll(NULL, 0, 10);
    return *flag >= want;
}

#define CHECK(cond) do { if (!(cond)) { fprintf(stderr, "growth.c:%d: %s\n", __LINE__, #cond); return 1; } } while (0)

int main(int argc, char **argv) {
    CHECK(argc == 2);
    uint16_t port = (uint16_t)atoi(argv[1]);

    /* Options exactly as the header says: from the defaults, fields by name. */
    connman_options o = connman_options_default();
    CHECK(o.backoff_initial_ms == 10 && o.connect_timeout_ms == 10000);
    for (size_t i = 0; i < sizeof o.reserved / sizeof o.reserved[0]; i++)
        CHECK(o.reserved[i] == 0); /* the newer library's newest fields default to 0 */
    o.idle_timeout_ms = 60000;

    connman_config cfg = connman_config_default();
    CHECK(cfg.threads == 1);
    CHECK(connman_configure(&cfg) == CONNMAN_OK);

    connman_handler h;
    memset(&h, 0, sizeof h);
    h.on_connect = on_connect;
    h.on_data = on_data;
    h.on_close = on_close;
    connman_conn c;
    CHECK(connman_connect(port, "127.0.0.1", &h, &o, &c) == CONNMAN_OK);
    CHECK(wait_for(&connected, 1));
    CHECK(wait_for(&received, 5));

    /* Stats out-parameter, not initialised: the library writes all of it. */
    connman_stats st;
    CHECK(connman_get_stats(c, &st) == CONNMAN_OK);
    CHECK(st.state == CONNMAN_STATE_CONNECTED);
    CHECK(st.connects == 1 && st.resets == 0 && st.attempts == 1);
    CHECK(st.bytes_sent == 5 && st.bytes_received == 5);
    CHECK(st.last_error == 0);

    /* A nonzero word reserved in the library too is a field of a version later
     * than both: refused. */
    o.reserved[sizeof o.reserved / sizeof o.reserved[0] - 1] = 1;
    connman_conn c2;
    CHECK(connman_connect(port, "127.0.0.1", &h, &o, &c2) == CONNMAN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(connman_last_error_message(), "reserved") != NULL);

    CHECK(connman_disconnect(c) == CONNMAN_OK);
    CHECK(wait_for(&closed, 1));
    CHECK(connman_shutdown() == CONNMAN_OK);
    printf("growth: ok\n");
    return 0;
}
