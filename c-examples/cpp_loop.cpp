// cpp_loop.cpp: connman from C++17 on the application's own poll() loop, with
// what version 2 of bindings/cpp/connman.hpp adds:
//
//  - connman::Loop: embedded mode; watch loop.fd(), call loop.dispatch(); every
//    callback runs on this thread (no locks below). Its destructor shuts the
//    library down, running the remaining on_close there.
//  - connman::configure: refused (Error, CONNMAN_ERR_STATE) while the library
//    runs, accepted after.
//  - Connection::unix_socket and Pool::add_unix next to TCP: one TCP and one
//    Unix single connection, and a pool with a member of each kind.
//  - connman::set_log with a lambda: the library's log (connects, resets with
//    their reason, reconnects, failed attempts) arrives here.
//  - connman::Error: what() is connman_last_error_message ("which argument, which
//    value, why").
//
//   usage: cpp_loop PORT UNIX_PATH [SECONDS]   (echo servers on both)
#include <poll.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "connman.hpp"
#include "examples.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A connection's handler: counts what happens and the echoed lines, and checks
// that every callback runs on the loop's thread.
class Peer : public connman::Handler {
public:
    explicit Peer(std::string name) : name(std::move(name)) {}
    void on_connect(connman::ConnRef, int fd) override {
        check_thread();
        say(name, " connected (fd ", fd, ")");
    }
    void on_reset(connman::ConnRef) override {
        check_thread();
        partial.clear();
        resets++;
    }
    void on_reconnect(connman::ConnRef, int) override {
        check_thread();
        reconnects++;
    }
    void on_data(connman::ConnRef, std::string_view data) override {
        check_thread();
        partial.append(data);
        for (auto nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n')) {
            echoed += partial.compare(0, 4, "line") == 0; // not the greeting
            partial.erase(0, nl + 1);
        }
    }
    void on_close(connman::ConnRef) override {
        check_thread();
        closes++;
    }
    void check_thread() { off_thread += std::this_thread::get_id() != loop_thread; }

    std::string name;
    std::thread::id loop_thread = std::this_thread::get_id();
    std::string partial;
    unsigned sent = 0, echoed = 0, resets = 0, reconnects = 0, closes = 0, off_thread = 0;
};

static const char *level_name(connman::LogLevel level) {
    switch (level) {
    case connman::LogLevel::Error: return "ERROR";
    case connman::LogLevel::Warn: return "WARN";
    case connman::LogLevel::Info: return "INFO";
    default: return "DEBUG";
    }
}

int main(int argc, char **argv) {
    if (argc < 3 || std::atoi(argv[1]) < 1 || std::atoi(argv[1]) > 65535) {
        std::cerr << "usage: " << argv[0] << " PORT UNIX_PATH [SECONDS]\n";
        return 2;
    }
    auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    std::string path = argv[2];
    int seconds = argc > 3 ? std::atoi(argv[3]) : 3;
    unsigned problems = 0;
    std::map<connman::LogLevel, unsigned> logged;
    auto tcp = std::make_shared<Peer>("tcp");
    auto unix_peer = std::make_shared<Peer>("unix");
    std::vector<std::shared_ptr<Peer>> members;

    // The log hook: every message, with the connection it is about. Shows the
    // warnings, and each connection's first reset (with its reason) and
    // reconnect; counts the rest.
    std::map<std::uint64_t, unsigned> shown;
    connman::set_log(
        [&](connman::LogLevel level, connman::ConnRef conn, std::string_view message) {
            logged[level]++;
            if (level != connman::LogLevel::Info ||
                (message.find("connected") != 0 && shown[conn.id()]++ < 2))
                say("log ", level_name(level), " conn ", conn.id(), ": ", message);
        },
        connman::LogLevel::Info);

    // Errors say which argument was wrong, and why.
    try {
        connman::Options bad = connman::default_options();
        bad.backoff_initial_ms = 0;
        connman::Connection oops(port, "127.0.0.1", connman::Callbacks{}, bad);
        problems++;
    } catch (const connman::Error &e) {
        say("expected error: ", e.what());
        problems += e.code() != CONNMAN_ERR_INVALID_ARGUMENT ||
                    std::strstr(e.what(), "backoff_initial_ms") == nullptr;
    }

    try {
        connman::Loop loop; // embedded mode from here to its destructor
        try {
            connman::configure(2); // the library runs: refused
            problems++;
        } catch (const connman::Error &e) {
            say("expected error: ", e.what());
            problems += e.code() != CONNMAN_ERR_STATE;
        }
        connman::Options opts = connman::default_options();
        opts.backoff_max_ms = 500;
        connman::Connection tcp_conn(port, "127.0.0.1", tcp, opts);
        connman::Connection unix_conn = connman::Connection::unix_socket(path, unix_peer, opts);
        connman::Pool pool("cpp-loop", [&members](std::size_t index) {
            members.push_back(std::make_shared<Peer>("pool[" + std::to_string(index) + "]"));
            return members.back();
        });
        pool.add(port, "127.0.0.1", opts);
        pool.add_unix(path, opts);

        // The loop: poll the event fd, sleeping until the next line is due.
        auto end = Clock::now() + std::chrono::seconds(seconds), next = Clock::now();
        for (unsigned i = 0; Clock::now() < end + 1s; i++) {
            auto now = Clock::now();
            if (now >= next && now < end) {
                std::string line = "line " + std::to_string(i) + "\n";
                tcp->sent += tcp_conn.try_send(line) == CONNMAN_OK;
                unix_peer->sent += unix_conn.try_send(line) == CONNMAN_OK;
                connman::ConnRef member;
                if (pool.try_next(member) == CONNMAN_OK && member.try_send(line) == CONNMAN_OK)
                    members[member == pool.conn(0) ? 0 : 1]->sent++;
                next = now + 100ms;
            }
            auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now);
            pollfd p{loop.fd(), POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(std::max<long long>(wait.count(), 1))) > 0)
                loop.dispatch(); // the callbacks run in here
        }
        say("done; disconnecting (Connection and Pool destructors), then the Loop's "
            "destructor runs the on_close callbacks");
    } catch (const connman::Error &e) {
        std::cerr << "unexpected error: " << e.what() << "\n";
        problems++;
    }
    connman::set_log(nullptr, connman::LogLevel::Error); // the default: errors on stderr

    // After the Loop: configure works again (two I/O threads from the next start).
    try {
        connman::configure(2);
        connman::configure(connman::default_config());
        say("after the Loop: configure(2) accepted");
    } catch (const connman::Error &e) {
        std::cerr << "unexpected error: " << e.what() << "\n";
        problems++;
    }

    std::cout << "\nsummary:";
    std::vector<std::shared_ptr<Peer>> peers{tcp, unix_peer};
    peers.insert(peers.end(), members.begin(), members.end());
    for (auto &p : peers) {
        std::cout << " " << p->name << " " << p->echoed << "/" << p->sent << " echoed ("
                  << p->resets << " resets);";
        // (the last reset may have had no reconnect before the disconnect)
        if (p->closes != 1 || p->off_thread != 0 || p->echoed == 0 ||
            p->reconnects > p->resets || p->reconnects + 1 < p->resets) {
            std::cout << " PROBLEM;";
            problems++;
        }
    }
    std::cout << " log: " << logged[connman::LogLevel::Info] << " INFO, "
              << logged[connman::LogLevel::Warn] << " WARN" << std::endl;
    if (members.size() != 2 || logged[connman::LogLevel::Info] < 4)
        problems++;
    std::cout << "result: " << (problems ? "FAILED" : "ok") << std::endl;
    return problems ? 1 : 0;
}
