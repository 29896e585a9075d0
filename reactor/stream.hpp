// Streams: a connection as a Task (task.hpp) sees it, on the transports layer.
//
//   iomux::Task<> echo(iomux::Stream stream) {
//       std::array<char, 4096> buffer;
//       while (std::size_t n = co_await stream.read(buffer))
//           co_await stream.write({buffer.data(), n});
//   }                                                 // the Stream's destructor closes it
//   iomux::Task<> serve(iomux::Acceptor& acceptor) {
//       for (;;) iomux::spawn(acceptor.loop(), echo(co_await acceptor.accept()));
//   }
//   Stream s = co_await iomux::connect("127.0.0.1", 8000);
//
// A Stream sits on a Transport (transport.hpp) with a protocol of its own, so everything the
// layer does for a connection it does for a stream: partial writes, TCP_NODELAY, resets,
// EMFILE (Server), the completion path on io_uring. What the protocol is told becomes the
// result of an await:
//  - read(buffer): the bytes received (at least 1), 0 once the peer shut down its side and
//    everything before was read, std::system_error with the errno (ECONNRESET...) when the
//    connection failed. The stream reads ahead one chunk while no read() is pending, then
//    stops reading (TCP holds the peer) until one is.
//  - write(data): hands data to the transport at once (it sends what the kernel takes and
//    buffers the rest), then resumes as soon as the buffer is under the high-water mark
//    (64 KiB unless set on transport()): backpressure with no extra code. Cancelled while
//    waiting, the data is still sent. std::system_error once the connection failed.
//  - close(): flushes, then closes. abort(): closes now. Either resumes the stream's pending
//    awaits with operation_canceled. Destroying a Stream closes it.
// A task resumed by its connection runs inside the transport's callback (no extra loop
// iteration per message). Reads and writes each allow one pending await at a time (one
// task reading, another writing is fine); don't move a Stream while one is pending.
// Loop destruction: a task suspended on a stream is destroyed with the loop, not resumed.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "poller/unique_fd.hpp"
#include "reactor/awaitables.hpp"
#include "reactor/connect.hpp"
#include "reactor/reactor.hpp"
#include "reactor/server.hpp"
#include "reactor/task.hpp"
#include "reactor/transport.hpp"

namespace iomux {

class Stream;
class Acceptor;
namespace detail {
class StreamProtocol;
class ConnectState;
}

class StreamRead : private detail::Suspension {
public:
    StreamRead(Stream& stream, std::span<char> buffer) noexcept : stream_(&stream), buffer_(buffer) {}
    StreamRead(Stream& stream, std::string& grow) noexcept : stream_(&stream), grow_(&grow) {}
    StreamRead(StreamRead&& other) noexcept
        : Suspension(other), stream_(other.stream_), buffer_(other.buffer_), grow_(other.grow_) {}
    ~StreamRead();
    bool await_ready();
    template <detail::TaskPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (!begin(h)) return false;
        suspend();
        return true;
    }
    std::size_t await_resume() const {
        check();
        return size_;
    }

private:
    friend class Stream;
    friend class detail::StreamProtocol;
    void suspend();
    void complete(std::size_t n, std::error_code error);
    static void on_cancel(void* self) noexcept;
    std::size_t fill(std::string_view data);  // into buffer_ or grow_; returns what it took
    Stream* stream_;
    std::span<char> buffer_;
    std::string* grow_ = nullptr;
    std::size_t size_ = 0;
    bool waiting_ = false;
};

class StreamWrite : private detail::Suspension {
public:
    StreamWrite(Stream& stream, std::string_view data) noexcept : stream_(&stream), data_(data) {}
    StreamWrite(StreamWrite&& other) noexcept : Suspension(other), stream_(other.stream_), data_(other.data_) {}
    ~StreamWrite();
    // Writes; std::logic_error after write_eof(), as Transport::write.
    bool await_ready();
    template <detail::TaskPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (!begin(h)) return false;
        suspend();
        return true;
    }
    void await_resume() const { check(); }

private:
    friend class Stream;
    friend class detail::StreamProtocol;
    void suspend();
    void complete(std::error_code error);
    static void on_cancel(void* self) noexcept;
    Stream* stream_;
    std::string_view data_;
    bool waiting_ = false;
};

class Stream {
public:
    Stream() noexcept = default;  // no connection: reads and writes throw operation_canceled
    Stream(Stream&& other) noexcept;
    Stream& operator=(Stream&& other) noexcept;
    ~Stream() { close(); }

    // buffer must outlive the await; data only until the await starts (it is copied).
    StreamRead read(std::span<char> buffer) noexcept { return StreamRead(*this, buffer); }
    // Appends all that arrived to buffer and returns how much. A connection that waits for
    // data then holds no buffer of its own, only an empty string: how a server with
    // thousands of idle connections keeps its memory to what is in flight.
    StreamRead read(std::string& buffer) noexcept { return StreamRead(*this, buffer); }
    StreamWrite write(std::string_view data) noexcept { return StreamWrite(*this, data); }
    // Shuts down the sending side once the buffer is flushed; reading goes on.
    void write_eof();
    void close() noexcept;
    void abort() noexcept;
    // Until the connection ends (then null): for water marks, addresses, the fd.
    Transport* transport() const noexcept;
    bool is_open() const noexcept { return protocol_ != nullptr; }

private:
    friend class StreamRead;
    friend class StreamWrite;
    friend class AcceptAwait;
    friend class ConnectAwait;
    friend class detail::StreamProtocol;
    explicit Stream(detail::StreamProtocol* protocol) noexcept;
    void end(bool abort) noexcept;

    detail::StreamProtocol* protocol_ = nullptr;
    std::error_code error_;  // once the connection ended: its error, ECANCELED if ours
    bool eof_ = false;       // the peer's EOF was read
};

class AcceptAwait : private detail::Suspension {
public:
    explicit AcceptAwait(Acceptor& acceptor) noexcept : acceptor_(&acceptor) {}
    AcceptAwait(AcceptAwait&& other) noexcept : Suspension(other), acceptor_(other.acceptor_) {}
    ~AcceptAwait();
    bool await_ready() noexcept;
    template <detail::TaskPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (!begin(h)) return false;
        suspend();
        return true;
    }
    Stream await_resume();

private:
    friend class Acceptor;
    void suspend() noexcept;
    static void on_cancel(void* self) noexcept;
    Acceptor* acceptor_;
    detail::StreamProtocol* accepted_ = nullptr;
    AcceptAwait* next_ = nullptr;  // Acceptor's queue of waiting tasks
    bool waiting_ = false;
};

// A Server (server.hpp) whose connections are awaited as Streams. Connections that arrive
// while no task awaits accept() queue up, oldest first, each holding at most one chunk it
// read ahead (Server's max_connections bounds how many). Several tasks may await accept();
// they are served in turn.
class Acceptor {
public:
    // listen_tcp(host, port, options) + Server; throws std::system_error.
    Acceptor(Reactor& loop, std::string_view host, std::uint16_t port, ServerOptions options = {});
    Acceptor(Reactor& loop, UniqueFd listener, ServerOptions options = {});
    // close(); then, as destroying a Server does, aborts every connection it accepted,
    // streams handed out included (their reads and writes then see operation_canceled).
    ~Acceptor();
    Acceptor(const Acceptor&) = delete;
    Acceptor& operator=(const Acceptor&) = delete;

    AcceptAwait accept() noexcept { return AcceptAwait(*this); }
    // Stops listening, closes the queued connections and resumes pending accept() awaits
    // with operation_canceled. Idempotent.
    void close() noexcept;

    Server& server() noexcept { return *server_; }
    Reactor& loop() const noexcept { return server_->loop(); }

private:
    friend class AcceptAwait;
    friend class detail::StreamProtocol;
    void connection_made(detail::StreamProtocol& p);
    void forget(detail::StreamProtocol& p) noexcept;

    std::unique_ptr<Server> server_;
    detail::StreamProtocol* queued_head_ = nullptr;
    detail::StreamProtocol* queued_tail_ = nullptr;
    AcceptAwait* waiting_head_ = nullptr;
    AcceptAwait* waiting_tail_ = nullptr;
    bool closed_ = false;
};

class ConnectAwait : private detail::Suspension {
public:
    ConnectAwait(std::string host, std::uint16_t port, ConnectOptions options)
        : host_(std::move(host)), port_(port), options_(options) {}
    ConnectAwait(ConnectAwait&& other) noexcept
        : Suspension(other), host_(std::move(other.host_)), port_(other.port_), options_(other.options_) {}
    ~ConnectAwait();
    bool await_ready() const noexcept { return false; }
    template <detail::TaskPromise P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (!begin(h)) return false;
        suspend();
        return true;
    }
    // std::system_error: ECONNREFUSED, ETIMEDOUT (options.timeout), a resolve_category() error.
    Stream await_resume();

private:
    friend class detail::ConnectState;
    void suspend();
    static void on_cancel(void* self) noexcept;
    std::string host_;
    std::uint16_t port_;
    ConnectOptions options_;
    std::shared_ptr<detail::ConnectState> state_;  // create_connection's callbacks share it
    detail::StreamProtocol* connected_ = nullptr;
};

// create_connection() (connect.hpp) on the awaiting task's loop.
inline ConnectAwait connect(std::string host, std::uint16_t port, ConnectOptions options = {}) {
    return ConnectAwait(std::move(host), port, options);
}

}  // namespace iomux
