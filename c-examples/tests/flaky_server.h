/*
 * flaky_server.h: starts the flaky echo server (tools/flaky-echo) as a child and
 * drives it through its stdin commands (drop, rst, stop, start, quit), for
 * contract_test.c and known_bugs.c. Header only.
 *
 *   struct server s;
 *   server_start(&s, binary, NULL)         TCP on 127.0.0.1, a free port: s.port
 *   server_start(&s, binary, "/tmp/x.sock")  a Unix socket (or "@name": abstract)
 *   server_cmd(&s, "stop")                 sends a command, waits for "OK stop"
 *   server_quit(&s)
 */
#ifndef CONNMAN_FLAKY_SERVER_H
#define CONNMAN_FLAKY_SERVER_H

#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "examples.h"

#define SERVER_WAIT_MS 5000

struct server {
    pid_t pid;
    int in, out;           /* its stdin (we write), its stdout (we read) */
    unsigned short port;   /* TCP; 0 for a Unix socket */
    char buf[4096];
    size_t len;
};

/* One line of the server's stdout, within `ms`. */
static inline bool server_line(struct server *s, char *line, size_t size, long ms)
{
    long long deadline = now_ms() + ms;
    for (;;) {
        char *nl = memchr(s->buf, '\n', s->len);
        struct pollfd p;
        ssize_t n;
        if (nl) {
            size_t l = (size_t)(nl - s->buf);
            snprintf(line, size, "%.*s", (int)l, s->buf);
            s->len -= l + 1;
            memmove(s->buf, nl + 1, s->len);
            return true;
        }
        p.fd = s->out;
        p.events = POLLIN;
        if (now_ms() >= deadline || poll(&p, 1, (int)(deadline - now_ms())) <= 0)
            return false;
        n = read(s->out, s->buf + s->len, sizeof s->buf - s->len);
        if (n <= 0)
            return false;
        s->len += (size_t)n;
    }
}

/* Sends a command and waits for its "OK <command>" answer. */
static inline bool server_cmd(struct server *s, const char *cmd)
{
    char line[256];
    size_t l = strlen(cmd);
    if (write(s->in, cmd, l) != (ssize_t)l || write(s->in, "\n", 1) != 1)
        return false;
    while (server_line(s, line, sizeof line, SERVER_WAIT_MS))
        if (strncmp(line, "OK ", 3) == 0 && strncmp(line + 3, cmd, l) == 0)
            return true;
    return false;
}

/* Starts `binary` quietly on TCP (unix_path NULL) or on a Unix socket path. */
static inline bool server_start(struct server *s, const char *binary, const char *unix_path)
{
    int to[2], from[2];
    char line[256];
    memset(s, 0, sizeof *s);
    s->pid = -1;
    if (pipe(to) != 0 || pipe(from) != 0)
        return false;
    s->pid = fork();
    if (s->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        if (unix_path)
            execl(binary, binary, "--unix", unix_path, "--quiet", (char *)NULL);
        else
            execl(binary, binary, "--port", "0", "--quiet", (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    s->in = to[1];
    s->out = from[0];
    fcntl(s->in, F_SETFD, FD_CLOEXEC);
    fcntl(s->out, F_SETFD, FD_CLOEXEC);
    return s->pid > 0 && server_line(s, line, sizeof line, 20000) &&
           sscanf(line, "LISTENING %hu", &s->port) == 1;
}

static inline void server_quit(struct server *s)
{
    if (s->pid > 0) {
        server_cmd(s, "quit");
        close(s->in);
        close(s->out);
        waitpid(s->pid, NULL, 0);
        s->pid = -1;
    }
}

#endif
