// cpp_example.cpp: connman from C++17 with the header-only wrapper
// bindings/cpp/connman.hpp.
//
// One connection with lambda callbacks and a pool of two whose handlers are
// objects made by a factory. Main sends lines for a few seconds (to the single
// connection and round robin to the pool), counting echoes; connections are
// closed by their destructors (RAII), errors arrive as connman::Error.
//
//   usage: cpp_example PORT [SECONDS]
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include "connman.hpp"
#include "examples.hpp"

using namespace std::chrono_literals;

// Counts the lines echoed back; shared by main and the library thread.
struct Echoes {
    std::atomic<unsigned> lines{0}, resets{0}, reconnects{0}, closes{0};
    std::mutex mutex;
    std::string partial; // guarded by mutex
    void feed(std::string_view data) {
        std::lock_guard<std::mutex> lock(mutex);
        partial.append(data);
        for (auto nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n')) {
            if (partial.compare(0, 4, "line") == 0) // skip a greeting
                lines++;
            partial.erase(0, nl + 1);
        }
    }
    void reset() {
        std::lock_guard<std::mutex> lock(mutex);
        partial.clear();
        resets++;
    }
};

// A pool member's handler: a class overriding the callbacks it needs.
class Member : public connman::Handler {
public:
    explicit Member(std::size_t index) : index_(index) {}
    void on_connect(connman::ConnRef, int fd) override {
        say("pool member ", index_, " connected (fd ", fd, ")");
    }
    void on_reset(connman::ConnRef) override {
        echoes.reset();
        say("pool member ", index_, " RESET");
    }
    void on_reconnect(connman::ConnRef, int fd) override {
        echoes.reconnects++;
        say("pool member ", index_, " RECONNECTED (fd ", fd, ")");
    }
    void on_data(connman::ConnRef, std::string_view data) override { echoes.feed(data); }
    void on_close(connman::ConnRef) override {
        echoes.closes++;
        say("pool member ", index_, " closed");
    }
    Echoes echoes;

private:
    std::size_t index_;
};

int main(int argc, char **argv) {
    int port = argc > 1 ? std::atoi(argv[1]) : 0;
    int seconds = argc > 2 ? std::atoi(argv[2]) : 4;
    unsigned problems = 0, sent_single = 0, sent_pool = 0;
    auto single = std::make_shared<Echoes>();
    std::shared_ptr<Member> members[2];

    // Errors are exceptions carrying the C code.
    try {
        connman::Connection bad(0, "127.0.0.1", connman::Callbacks{});
        problems++;
    } catch (const connman::Error &e) {
        say("expected error: ", e.what(), " (code ", e.code(), ")");
        problems += e.code() != CONNMAN_ERR_INVALID_ARGUMENT;
    }
    if (port < 1 || port > 65535) {
        std::cerr << "usage: " << argv[0] << " PORT [SECONDS]\n";
        return 2;
    }

    try {
        connman::Options opts = connman::default_options();
        opts.backoff_max_ms = 500;

        // A single connection with lambdas. The handler lives until on_close.
        connman::Connection conn(
            static_cast<std::uint16_t>(port), "127.0.0.1",
            connman::Callbacks{
                [](connman::ConnRef, int fd) { say("single connected (fd ", fd, ")"); },
                [single](connman::ConnRef) {
                    single->reset();
                    say("single RESET");
                },
                [single](connman::ConnRef, int fd) {
                    single->reconnects++;
                    say("single RECONNECTED (fd ", fd, ")");
                },
                [single](connman::ConnRef, std::string_view d) { single->feed(d); },
                [single](connman::ConnRef) {
                    single->closes++;
                    say("single closed");
                }},
            opts);

        // A pool whose factory makes a Member per index.
        connman::Pool pool("cpp-pool", [&members](std::size_t index) {
            auto m = std::make_shared<Member>(index);
            if (index < 2)
                members[index] = m;
            return m;
        });
        pool.add(static_cast<std::uint16_t>(port), "127.0.0.1", opts);
        pool.add(static_cast<std::uint16_t>(port), "127.0.0.1", opts);
        if (pool.handler_as<Member>(1) != members[1])
            problems++;

        auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        for (unsigned i = 0; std::chrono::steady_clock::now() < end; i++) {
            std::string line = "line " + std::to_string(i) + "\n";
            // connman_send through the wrapper: NOT_CONNECTED while reconnecting.
            if (conn.try_send(line) == CONNMAN_OK)
                sent_single++;
            // Round robin over the pool's connected members, raw descriptor.
            connman::ConnRef member;
            if (pool.try_next(member) == CONNMAN_OK &&
                ::send(member.fd(), line.data(), line.size(), MSG_NOSIGNAL) ==
                    static_cast<ssize_t>(line.size()))
                sent_pool++;
            std::this_thread::sleep_for(50ms);
        }
        say("sent ", sent_single, " lines to the single connection, ", sent_pool,
            " round robin to the pool; waiting for the last echoes");
        // Lines in flight when a connection dropped are lost: wait for the rest.
        auto deadline = std::chrono::steady_clock::now() + 2s;
        auto echoed = [&] {
            return single->lines + members[0]->echoes.lines + members[1]->echoes.lines;
        };
        while (echoed() < sent_single + sent_pool && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(5ms);
    } catch (const connman::Error &e) {
        std::cerr << "unexpected error: " << e.what() << "\n";
        problems++;
    }
    // conn and pool went out of scope: both disconnected. shutdown() waits for
    // every on_close.
    connman::shutdown();

    unsigned pool_lines = 0, pool_closes = 0;
    for (auto &m : members) {
        if (m) {
            pool_lines += m->echoes.lines;
            pool_closes += m->echoes.closes;
        }
    }
    std::cout << "\nsummary: echoed " << single->lines << " of " << sent_single
              << " lines on the single connection (" << single->resets << " resets), "
              << pool_lines << " of " << sent_pool << " on the pool" << std::endl;
    if (single->closes != 1 || pool_closes != 2) {
        std::cout << "  problem: on_close ran " << single->closes << " + " << pool_closes
                  << " times, expected 1 + 2" << std::endl;
        problems++;
    }
    if (sent_single == 0 || single->lines == 0 || pool_lines == 0)
        problems++;
    std::cout << "result: " << (problems ? "FAILED" : "ok") << std::endl;
    return problems ? 1 : 0;
}
