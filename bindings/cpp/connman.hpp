// connman.hpp: a header-only C++17 wrapper over the connman C API (connman.h).
//
//   #include "connman.hpp"        // and link with -lconnman (pkg-config connman)
//
//   auto conn = connman::Connection(7000, "127.0.0.1", connman::Callbacks{
//       /* on_connect */ [](connman::ConnRef c, int) { c.send("hello\n"); },
//       /* on_reset */ nullptr, /* on_reconnect */ nullptr,
//       /* on_data */ [](connman::ConnRef, std::string_view d) { std::cout << d; }});
//   ...                               // conn disconnects when it goes out of scope
//   connman::shutdown();              // at the end of main
//
// - Connection and Pool own what they open (move-only; the destructor disconnects).
//   ConnRef is a plain, copyable reference to a connection: what callbacks get.
// - Handlers are either a class derived from connman::Handler (override what you
//   need) held by std::shared_ptr, or a connman::Callbacks of std::function's.
//   The wrapper keeps the handler alive until its on_close has run, so it may
//   outlive the Connection that opened it: after the destructor has returned,
//   no callback but on_close starts (it runs on the library thread, soon after).
// - Callbacks run on the library's thread (or threads, or, in embedded mode, the
//   thread calling connman::Loop::dispatch; see connman.h); an exception escaping
//   one is caught, logged (connman's log, ERROR) and the connection goes on.
// - Errors are thrown as connman::Error, which carries the connman_result code
//   and connman_last_error_message's text (which argument, which value, why).
//   try_send / try_next return the code instead, for the expected failures of a
//   hot path (NOT_CONNECTED, WOULD_BLOCK).
// - Running on your own loop: connman::Loop (embedded mode: fd() to watch,
//   dispatch() when it is readable); more threads: connman::configure({threads}).
// - Logging: connman::set_log(std::function<void(LogLevel, ConnRef, string_view)>).
#ifndef CONNMAN_HPP
#define CONNMAN_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connman.h"

namespace connman {

using Options = connman_options;
using Stats = connman_stats;
using PoolStats = connman_pool_stats;
using Config = connman_config;

/// A failed connman call: code() is the connman_result; what() is
/// connman_last_error_message() ("connman_connect: options.backoff_initial_ms must
/// be at least 1, got 0"), or the call's name and connman_strerror's text.
class Error : public std::runtime_error {
public:
    Error(connman_result code, const std::string &message)
        : std::runtime_error(message), code_(code) {}
    connman_result code() const noexcept { return code_; }

private:
    connman_result code_;
};

namespace detail {
/// The Error for a failed call, read right after it on the same thread.
inline Error error(connman_result rc, const char *call) {
    std::string msg = connman_last_error_message();
    if (msg.rfind(call, 0) != 0) // not about this call: name it and the code
        msg = std::string(call) + ": " + connman_strerror(rc);
    return Error(rc, msg);
}
inline void check(connman_result rc, const char *call) {
    if (rc != CONNMAN_OK)
        throw error(rc, call);
}
} // namespace detail

/// The library's defaults; change fields and pass the struct to a constructor.
inline Options default_options() { return connman_options_default(); }
inline std::string version() { return connman_version(); }

/// A non-owning reference to a connection (a copy of its handle). Once the
/// connection's on_close has run, calls throw Error(CONNMAN_ERR_NOT_FOUND).
class ConnRef {
public:
    ConnRef() noexcept : conn_{0} {}
    explicit ConnRef(connman_conn conn) noexcept : conn_(conn) {}

    connman_conn handle() const noexcept { return conn_; }
    std::uint64_t id() const noexcept { return conn_.id; }
    explicit operator bool() const noexcept { return conn_.id != 0; }
    friend bool operator==(ConnRef a, ConnRef b) noexcept { return a.conn_.id == b.conn_.id; }
    friend bool operator!=(ConnRef a, ConnRef b) noexcept { return !(a == b); }

    /// The stable descriptor, -1 once closed. Write to it with
    /// send(fd, ..., MSG_NOSIGNAL); it is non-blocking.
    int fd() const noexcept { return connman_fd(conn_); }

    /// connman_send: all or nothing; throws on any error.
    void send(std::string_view data) const { detail::check(try_send(data), "connman_send"); }
    /// connman_send returning the code (CONNMAN_ERR_NOT_CONNECTED, _WOULD_BLOCK, ...).
    connman_result try_send(std::string_view data) const noexcept {
        return connman_send(conn_, reinterpret_cast<const std::uint8_t *>(data.data()),
                            data.size());
    }

    Stats stats() const {
        Stats s;
        detail::check(connman_get_stats(conn_, &s), "connman_get_stats");
        return s;
    }

    /// Asks the connection to close (on_close follows); throws if it was already
    /// asked (CONNMAN_ERR_CLOSED) or is gone (CONNMAN_ERR_NOT_FOUND).
    void disconnect() const { detail::check(connman_disconnect(conn_), "connman_disconnect"); }

private:
    connman_conn conn_;
};

/// A connection's callbacks, as virtual methods: override those you need.
class Handler {
public:
    virtual ~Handler() = default;
    virtual void on_connect(ConnRef, int /*fd*/) {}
    virtual void on_reset(ConnRef) {}
    virtual void on_reconnect(ConnRef, int /*fd*/) {}
    virtual void on_data(ConnRef, std::string_view /*data*/) {}
    virtual void on_close(ConnRef) {}
};

/// A connection's callbacks, as std::function's; empty ones are no-ops.
struct Callbacks {
    std::function<void(ConnRef, int)> on_connect;
    std::function<void(ConnRef)> on_reset;
    std::function<void(ConnRef, int)> on_reconnect;
    std::function<void(ConnRef, std::string_view)> on_data;
    std::function<void(ConnRef)> on_close;
};

namespace detail {

class CallbackHandler final : public Handler {
public:
    explicit CallbackHandler(Callbacks cb) : cb_(std::move(cb)) {}
    void on_connect(ConnRef c, int fd) override {
        if (cb_.on_connect)
            cb_.on_connect(c, fd);
    }
    void on_reset(ConnRef c) override {
        if (cb_.on_reset)
            cb_.on_reset(c);
    }
    void on_reconnect(ConnRef c, int fd) override {
        if (cb_.on_reconnect)
            cb_.on_reconnect(c, fd);
    }
    void on_data(ConnRef c, std::string_view d) override {
        if (cb_.on_data)
            cb_.on_data(c, d);
    }
    void on_close(ConnRef c) override {
        if (cb_.on_close)
            cb_.on_close(c);
    }

private:
    Callbacks cb_;
};

// What the C handler's ctx points to: it keeps the handler alive until on_close,
// the last callback, deletes it.
struct Binding {
    std::shared_ptr<Handler> handler;
};

// No exception may unwind into the library: report it and go on.
template <typename F> void guarded(const char *name, F &&f) noexcept {
    try {
        f();
    } catch (const std::exception &e) {
        std::cerr << "connman: exception in handler " << name << ": " << e.what()
                  << "; the connection keeps being managed" << std::endl;
    } catch (...) {
        std::cerr << "connman: unknown exception in handler " << name
                  << "; the connection keeps being managed" << std::endl;
    }
}

inline Handler &handler_of(void *ctx) { return *static_cast<Binding *>(ctx)->handler; }

inline void on_connect(void *ctx, connman_conn c, int fd) {
    guarded("on_connect", [&] { handler_of(ctx).on_connect(ConnRef(c), fd); });
}
inline void on_reset(void *ctx, connman_conn c) {
    guarded("on_reset", [&] { handler_of(ctx).on_reset(ConnRef(c)); });
}
inline void on_reconnect(void *ctx, connman_conn c, int fd) {
    guarded("on_reconnect", [&] { handler_of(ctx).on_reconnect(ConnRef(c), fd); });
}
inline void on_data(void *ctx, connman_conn c, const std::uint8_t *data, std::size_t len) {
    guarded("on_data", [&] {
        handler_of(ctx).on_data(ConnRef(c),
                                std::string_view(reinterpret_cast<const char *>(data), len));
    });
}
inline void on_close(void *ctx, connman_conn c) {
    guarded("on_close", [&] { handler_of(ctx).on_close(ConnRef(c)); });
    delete static_cast<Binding *>(ctx); // the library never touches ctx again
}

// A C handler whose ctx owns a reference to `h`; delete_binding() if the call
// that takes it fails (then no callback, on_close included, will ever run).
inline connman_handler bind(std::shared_ptr<Handler> h) {
    if (!h)
        throw Error(CONNMAN_ERR_INVALID_ARGUMENT, "connman: null handler");
    connman_handler c;
    c.ctx = new Binding{std::move(h)};
    c.on_connect = on_connect;
    c.on_reset = on_reset;
    c.on_reconnect = on_reconnect;
    c.on_data = on_data;
    c.on_close = on_close;
    return c;
}

inline void delete_binding(const connman_handler &c) { delete static_cast<Binding *>(c.ctx); }

} // namespace detail

/// An open connection, owned: move-only; the destructor disconnects it.
class Connection {
public:
    Connection() noexcept = default;

    /// connman_connect with a Handler object (kept alive until on_close).
    Connection(std::uint16_t port, const std::string &host, std::shared_ptr<Handler> handler,
               const Options &options = default_options()) {
        ref_ = open(std::move(handler), "connman_connect",
                    [&](connman_handler *c, connman_conn *out) {
                        return connman_connect(port, host.c_str(), c, &options, out);
                    });
    }

    /// connman_connect_unix: a Unix socket path, or "@name" (abstract namespace).
    static Connection unix_socket(const std::string &path, std::shared_ptr<Handler> handler,
                                  const Options &options = default_options()) {
        Connection out;
        out.ref_ = open(std::move(handler), "connman_connect_unix",
                        [&](connman_handler *c, connman_conn *conn) {
                            return connman_connect_unix(path.c_str(), c, &options, conn);
                        });
        return out;
    }
    static Connection unix_socket(const std::string &path, Callbacks callbacks,
                                  const Options &options = default_options()) {
        return unix_socket(path, std::make_shared<detail::CallbackHandler>(std::move(callbacks)),
                           options);
    }

    /// connman_connect with std::function callbacks.
    Connection(std::uint16_t port, const std::string &host, Callbacks callbacks,
               const Options &options = default_options())
        : Connection(port, host, std::make_shared<detail::CallbackHandler>(std::move(callbacks)),
                     options) {}

    ~Connection() { disconnect(); }

    Connection(const Connection &) = delete;
    Connection &operator=(const Connection &) = delete;
    Connection(Connection &&other) noexcept : ref_(std::exchange(other.ref_, ConnRef())) {}
    Connection &operator=(Connection &&other) noexcept {
        if (this != &other) {
            disconnect();
            ref_ = std::exchange(other.ref_, ConnRef());
        }
        return *this;
    }

    /// Disconnects (if still owned) and lets go. A connection already
    /// disconnected elsewhere or already closed is fine: no error.
    void disconnect() noexcept {
        if (ref_)
            connman_disconnect(ref_.handle()); // CLOSED / NOT_FOUND: nothing to do
        ref_ = ConnRef();
    }

    /// Gives up ownership without disconnecting.
    ConnRef release() noexcept { return std::exchange(ref_, ConnRef()); }

    ConnRef ref() const noexcept { return ref_; }
    explicit operator bool() const noexcept { return static_cast<bool>(ref_); }
    int fd() const noexcept { return ref_.fd(); }
    void send(std::string_view data) const { ref_.send(data); }
    connman_result try_send(std::string_view data) const noexcept { return ref_.try_send(data); }
    Stats stats() const { return ref_.stats(); }

private:
    // Binds `handler`, calls `connect(&c_handler, &conn)`; on failure releases the
    // binding (no callback will run) and throws.
    template <typename F>
    static ConnRef open(std::shared_ptr<Handler> handler, const char *call, F connect) {
        connman_handler c = detail::bind(std::move(handler));
        connman_conn conn;
        connman_result rc = connect(&c, &conn);
        if (rc != CONNMAN_OK) {
            Error e = detail::error(rc, call);
            detail::delete_binding(c);
            throw e;
        }
        return ConnRef(conn);
    }

    ConnRef ref_;
};

/// A named pool, owned: move-only; the destructor disconnects every member.
class Pool {
public:
    /// Makes member `index`'s handler; return nullptr (or throw) to refuse.
    using Factory = std::function<std::shared_ptr<Handler>(std::size_t index)>;

    Pool() noexcept = default;

    Pool(const std::string &name, Factory factory) : state_(std::make_unique<State>()) {
        state_->factory = std::move(factory);
        detail::check(connman_pool_create(name.c_str(), &Pool::make, state_.get(), &pool_),
                      "connman_pool_create");
    }

    ~Pool() { disconnect(); }

    Pool(const Pool &) = delete;
    Pool &operator=(const Pool &) = delete;
    Pool(Pool &&other) noexcept
        : pool_(std::exchange(other.pool_, connman_pool{0})), state_(std::move(other.state_)) {}
    Pool &operator=(Pool &&other) noexcept {
        if (this != &other) {
            disconnect();
            pool_ = std::exchange(other.pool_, connman_pool{0});
            state_ = std::move(other.state_);
        }
        return *this;
    }

    /// Adds a member (connman_pool_add); returns its index. An exception thrown
    /// by the factory comes out of here; a nullptr from it gives
    /// Error(CONNMAN_ERR_FACTORY).
    std::size_t add(std::uint16_t port, const std::string &host,
                    const Options &options = default_options()) {
        std::size_t index = 0;
        added(connman_pool_add(pool_, port, host.c_str(), &options, &index), "connman_pool_add");
        return index;
    }

    /// Adds a member connected to a Unix socket (connman_pool_add_unix).
    std::size_t add_unix(const std::string &path, const Options &options = default_options()) {
        std::size_t index = 0;
        added(connman_pool_add_unix(pool_, path.c_str(), &options, &index),
              "connman_pool_add_unix");
        return index;
    }

    std::size_t size() const {
        std::size_t n = 0;
        detail::check(connman_pool_size(pool_, &n), "connman_pool_size");
        return n;
    }

    /// Member `index`'s descriptor (what its on_connect got).
    int connection(std::size_t index) const {
        int fd = -1;
        detail::check(connman_pool_get_connection(pool_, index, &fd),
                      "connman_pool_get_connection");
        return fd;
    }

    /// The handler the factory made for member `index`.
    std::shared_ptr<Handler> handler(std::size_t index) const {
        void *ctx = nullptr;
        detail::check(connman_pool_get_handler(pool_, index, &ctx), "connman_pool_get_handler");
        // Not through ctx: its on_close may be freeing it right now.
        std::lock_guard<std::mutex> lock(state_->mutex);
        return index < state_->handlers.size() ? state_->handlers[index] : nullptr;
    }

    /// The same, as the handler's own type (nullptr if it is another type).
    template <typename T> std::shared_ptr<T> handler_as(std::size_t index) const {
        return std::dynamic_pointer_cast<T>(handler(index));
    }

    ConnRef conn(std::size_t index) const {
        connman_conn c;
        detail::check(connman_pool_conn(pool_, index, &c), "connman_pool_conn");
        return ConnRef(c);
    }

    /// Round robin over the members connected now; throws
    /// Error(CONNMAN_ERR_NOT_CONNECTED) when none is.
    ConnRef next() const {
        ConnRef c;
        detail::check(try_next(c), "connman_pool_next");
        return c;
    }
    connman_result try_next(ConnRef &out) const noexcept {
        connman_conn c;
        connman_result rc = connman_pool_next(pool_, &c);
        if (rc == CONNMAN_OK)
            out = ConnRef(c);
        return rc;
    }

    PoolStats stats() const {
        PoolStats s;
        detail::check(connman_pool_get_stats(pool_, &s), "connman_pool_get_stats");
        return s;
    }

    /// Disconnects every member and lets go (the name is free once they closed).
    void disconnect() noexcept {
        if (pool_.id != 0)
            connman_pool_disconnect(pool_); // CLOSED / NOT_FOUND: nothing to do
        pool_ = connman_pool{0};
    }

    connman_pool handle() const noexcept { return pool_; }
    explicit operator bool() const noexcept { return pool_.id != 0; }

private:
    struct State {
        Factory factory;
        std::mutex mutex; // guards handlers and error
        std::vector<std::shared_ptr<Handler>> handlers;
        std::exception_ptr error;
    };

    // After an add: throws what the factory threw, else the call's Error.
    void added(connman_result rc, const char *call) {
        if (rc == CONNMAN_OK)
            return;
        std::exception_ptr e;
        if (state_) {
            std::lock_guard<std::mutex> lock(state_->mutex);
            e = std::exchange(state_->error, nullptr);
        }
        if (e)
            std::rethrow_exception(e);
        throw detail::error(rc, call);
    }

    // The C factory: runs on the thread that calls add().
    static connman_result make(void *ctx, std::size_t index, connman_handler *out) noexcept {
        State *st = static_cast<State *>(ctx);
        try {
            std::shared_ptr<Handler> h = st->factory ? st->factory(index) : nullptr;
            if (!h)
                return CONNMAN_ERR_FACTORY;
            *out = detail::bind(h);
            std::lock_guard<std::mutex> lock(st->mutex);
            if (st->handlers.size() <= index)
                st->handlers.resize(index + 1);
            st->handlers[index] = std::move(h);
            return CONNMAN_OK;
        } catch (...) {
            std::lock_guard<std::mutex> lock(st->mutex);
            st->error = std::current_exception();
            return CONNMAN_ERR_FACTORY;
        }
    }

    connman_pool pool_{0};
    std::unique_ptr<State> state_;
};

/// The most recent single connection to exactly this host string and port.
inline ConnRef find_connection(std::uint16_t port, const std::string &host) {
    connman_conn c;
    detail::check(connman_get_connection(port, host.c_str(), &c), "connman_get_connection");
    return ConnRef(c);
}

/// The most recent single connection to exactly this Unix socket path.
inline ConnRef find_connection_unix(const std::string &path) {
    connman_conn c;
    detail::check(connman_get_connection_unix(path.c_str(), &c), "connman_get_connection_unix");
    return ConnRef(c);
}

/// The connection whose descriptor is `fd`.
inline ConnRef conn_from_fd(int fd) {
    connman_conn c;
    detail::check(connman_conn_from_fd(fd, &c), "connman_conn_from_fd");
    return ConnRef(c);
}

/// Disconnects every connection and pool; the on_close callbacks follow.
inline void disconnect_all() { detail::check(connman_disconnect_all(), "connman_disconnect_all"); }

/// Disconnects everything and returns once every on_close has run and the
/// library's threads are gone. Not from inside a callback (throws
/// Error(CONNMAN_ERR_IN_CALLBACK)). Connection and Pool objects still alive
/// afterwards are harmless: their destructors find nothing left to close.
inline void shutdown() { detail::check(connman_shutdown(), "connman_shutdown"); }

/// How the library runs from its next start on (connman_configure): before the
/// first connection or after shutdown(). threads = N I/O threads; 0 = embedded
/// (use connman::Loop).
inline Config default_config() { return connman_config_default(); }
inline void configure(const Config &config) {
    detail::check(connman_configure(&config), "connman_configure");
}
inline void configure(std::uint32_t threads) {
    Config c = default_config();
    c.threads = threads;
    configure(c);
}

/// Embedded mode on the application's own loop: constructing a Loop configures
/// threads = 0; watch fd() for readability (poll, epoll, uv_poll, ...) and call
/// dispatch() when it is readable: every callback runs inside dispatch(), on the
/// loop's thread. Destroying the Loop shuts the library down (the remaining
/// on_close run in the destructor) and restores the default configuration.
class Loop {
public:
    Loop() {
        configure(0);
        fd_ = connman_event_fd();
        if (fd_ < 0)
            throw detail::error(CONNMAN_ERR_STATE, "connman_event_fd");
    }
    ~Loop() {
        connman_shutdown();
        connman_configure(nullptr);
    }
    Loop(const Loop &) = delete;
    Loop &operator=(const Loop &) = delete;

    /// The descriptor to watch; the same until the Loop is destroyed.
    int fd() const noexcept { return fd_; }
    /// Does the ready work; never blocks. Not from inside a callback.
    void dispatch() { detail::check(connman_dispatch(), "connman_dispatch"); }

private:
    int fd_ = -1;
};

/// Log levels (connman_log_level).
enum class LogLevel : int {
    Error = CONNMAN_LOG_ERROR,
    Warn = CONNMAN_LOG_WARN,
    Info = CONNMAN_LOG_INFO,
    Debug = CONNMAN_LOG_DEBUG,
};

/// A log hook: the level, the connection it is about (a null ConnRef: the library
/// as a whole) and the message (valid during the call only).
using LogFn = std::function<void(LogLevel, ConnRef, std::string_view)>;

namespace detail {
struct LogState {
    std::mutex mutex;
    std::shared_ptr<LogFn> fn;
};
inline LogState &log_state() {
    static LogState *s = new LogState(); // never destroyed: a hook may run at exit
    return *s;
}
inline void log_trampoline(void *, connman_log_level level, connman_conn conn,
                           const char *message) {
    std::shared_ptr<LogFn> fn;
    {
        std::lock_guard<std::mutex> lock(log_state().mutex);
        fn = log_state().fn;
    }
    if (fn)
        guarded("log hook", [&] { (*fn)(static_cast<LogLevel>(level), ConnRef(conn), message); });
}
} // namespace detail

/// Sends connman's messages up to `max_level` to `fn` (connman_set_log); an empty
/// fn sends them to stderr instead. The hook may run on any library thread and
/// may call connman; an exception escaping it is reported and dropped.
inline void set_log(LogFn fn, LogLevel max_level = LogLevel::Info) {
    std::shared_ptr<LogFn> hook = fn ? std::make_shared<LogFn>(std::move(fn)) : nullptr;
    {
        std::lock_guard<std::mutex> lock(detail::log_state().mutex);
        detail::log_state().fn = hook;
    }
    detail::check(connman_set_log(hook ? detail::log_trampoline : nullptr, nullptr,
                                  static_cast<connman_log_level>(max_level)),
                  "connman_set_log");
}

/// The default again: errors only, on stderr (as when the library starts).
inline void set_log(std::nullptr_t) { set_log(LogFn(), LogLevel::Error); }

} // namespace connman

#endif // CONNMAN_HPP
