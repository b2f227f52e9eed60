// quickstart.cpp: the README's C++ quick start, with the header-only wrapper
// bindings/cpp/connman.hpp. One connection to an echo server: hello on connect,
// the echo printed, the reset and the reconnect (same descriptor) when the server
// goes away and comes back, hello again. The destructor disconnects.
//
//   usage: quickstart_cpp [PORT]   (default 7000; the server runs on 127.0.0.1)
//
// Build in the tree: make -C c-examples build/quickstart_cpp, or by hand:
//   c++ -std=c++17 c-examples/quickstart.cpp -Iinclude -Ibindings/cpp -o quickstart_cpp
//       -Ltarget/release -Wl,-rpath,$PWD/target/release -lconnman -lpthread
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>

#include "connman.hpp"

int main(int argc, char **argv) {
    std::uint16_t port = argc > 1 ? static_cast<std::uint16_t>(std::atoi(argv[1])) : 7000;
    std::mutex mutex;
    std::condition_variable changed;
    bool reconnected = false, done = false;

    connman::Callbacks callbacks;
    callbacks.on_connect = [](connman::ConnRef, int fd) {
        std::cout << "on_connect: fd " << fd << std::endl;
        send(fd, "hello\n", 6, MSG_NOSIGNAL); // the raw descriptor: write directly
    };
    callbacks.on_data = [&](connman::ConnRef, std::string_view data) {
        while (!data.empty() && (data.back() == '\n' || data.back() == '\r'))
            data.remove_suffix(1);
        std::cout << "echo: " << data << std::endl;
        std::lock_guard<std::mutex> g(mutex);
        done = reconnected;
        changed.notify_all();
    };
    callbacks.on_reset = [](connman::ConnRef) {
        std::cout << "on_reset: the connection dropped; connman reconnects by itself"
                  << std::endl;
    };
    callbacks.on_reconnect = [&](connman::ConnRef conn, int fd) {
        std::cout << "on_reconnect: fd " << fd << " (the same descriptor)" << std::endl;
        {
            std::lock_guard<std::mutex> g(mutex);
            reconnected = true;
        }
        conn.send("hello again\n"); // or let connman write it (queued, no SIGPIPE)
    };
    callbacks.on_close = [](connman::ConnRef) { std::cout << "on_close" << std::endl; };

    connman::Options options = connman::default_options();
    options.backoff_max_ms = 1000; // retry at least every second while the server is away
    bool ok;
    try {
        std::cout << "connecting to 127.0.0.1:" << port
                  << "; stop and start the server to see a reconnect" << std::endl;
        connman::Connection conn(port, "127.0.0.1", callbacks, options);
        std::unique_lock<std::mutex> g(mutex);
        ok = changed.wait_for(g, std::chrono::minutes(2), [&] { return done; });
    } catch (const connman::Error &e) { // connman_connect failed: e.code(), e.what()
        std::cerr << e.what() << std::endl;
        return 1;
    }
    // `conn` went out of scope: disconnected. Wait for its on_close.
    connman_shutdown();
    std::cout << (ok ? "done" : "timed out") << std::endl;
    return ok ? 0 : 1;
}
