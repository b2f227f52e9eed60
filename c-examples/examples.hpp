// examples.hpp: what the C++ examples share (header only): say(), a timestamped
// line in the C examples' format ("12:34:56.789 ..."), from any thread.
#ifndef CONNMAN_EXAMPLES_HPP
#define CONNMAN_EXAMPLES_HPP

#include <chrono>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <mutex>

inline std::mutex &say_mutex() {
    static std::mutex m;
    return m;
}

template <typename... Args> void say(Args &&...args) {
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
    std::tm tm;
    char stamp[32];
    localtime_r(&t, &tm);
    std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
    std::lock_guard<std::mutex> lock(say_mutex());
    std::cout << stamp << '.' << std::setfill('0') << std::setw(3) << ms.count() << ' ';
    (std::cout << ... << std::forward<Args>(args)) << std::endl;
}

#endif
