// TransportCore: what a connected socket's transport does whichever way its bytes move.
//
// The two transports differ only in how they move bytes: SocketTransport on readiness (every
// backend: recv / send when the loop says the socket is ready), UringTransport on
// completions (io_uring: requests the kernel completes). Everything the protocol sees is
// here, once: the order of its callbacks, exceptions from them, the water marks, close and
// abort, and when connection_lost() comes. Not installed: Server and create_connection make
// transports; protocols see a Transport&.
#pragma once

#include <cstdint>
#include <memory>

#include "poller/unique_fd.hpp"
#include "reactor/protocol.hpp"
#include "reactor/transport.hpp"

namespace iomux {

class Server;

class TransportCore : public Transport {
public:
    ~TransportCore() override;

    // Starts the I/O and calls connection_made(). Throws std::system_error when the loop
    // refuses the socket; then the protocol was told nothing.
    void start();

    bool can_write_eof() const noexcept override { return true; }
    void close() override;
    void abort() override;
    bool is_closing() const noexcept override { return flags_ & kClosing; }
    void write_eof() override;
    void pause_reading() override;
    void resume_reading() override;
    bool is_reading() const noexcept override { return !(flags_ & (kReadPaused | kClosing)); }
    void set_write_buffer_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) override;
    std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept override { return {low_, high_}; }
    SocketAddress peername() const override;
    SocketAddress sockname() const override;
    int fd() const noexcept override { return sock_.get(); }
    Reactor& loop() const noexcept override { return *loop_; }

    Server* server() const noexcept { return server_; }
    void detach_server() noexcept { server_ = nullptr; }

protected:
    // sock: connected, non-blocking. server: the one that accepted it, told when it ends.
    TransportCore(Reactor& loop, UniqueFd sock, std::unique_ptr<Protocol> protocol, Server* server) noexcept;

    enum : std::uint16_t {
        kReadPaused = 1 << 0,      // pause_reading()
        kClosing = 1 << 1,         // close(), abort() or a failure: no more reading or writing
        kLostQueued = 1 << 2,      // connection_lost() is queued: nothing more to do
        kEofQueued = 1 << 3,       // write_eof(): shut down the sending side once flushed
        kWritePaused = 1 << 4,     // the protocol was told pause_writing()
        kBuffered = 1 << 5,        // the protocol is a BufferedProtocol
        kLostDelivered = 1 << 6,   // connection_lost() was called
        kStarted = 1 << 7,         // connection_made() was called
        kFirstOwnFlag = 1 << 8,    // the transports' own flags start here
    };

    // The ways of moving bytes. Each is called at most once per state change.
    virtual void start_reading() = 0;     // from start(), and resume_reading() after a pause
    virtual void pause_io_reading() = 0;  // pause_reading()
    virtual void stop_reading() = 0;      // for good: end of input, close, failure
    virtual void drop_writes() = 0;       // abort or failure: forget what is unsent
    virtual bool write_pending() const noexcept = 0;  // bytes the kernel has not taken
    // The socket's last iteration is over: the transport may go (see deliver_connection_lost).
    virtual void release() noexcept = 0;

    // Runs a protocol callback; one that throws aborts the connection (ECONNABORTED) and
    // goes to the loop's exception handler. False when it threw.
    template <typename F>
    bool call_protocol(F&& f) {
        try {
            f();
            return true;
        } catch (...) {
            protocol_failed();
            return false;
        }
    }
    void protocol_failed() noexcept;
    // The peer sent its last byte: eof_received(), then close() unless the protocol keeps
    // writing.
    void on_eof();
    // After bytes were buffered: pause_writing() past the high mark.
    void check_high_water();
    // After bytes were sent: resume_writing() under the low mark, then close or shut down
    // the sending side once everything is out.
    void after_flush();
    void shutdown_write() noexcept;
    // For the transports' destructors, first: a transport destroyed before connection_lost()
    // (its loop or server went first) delivers it, with ECANCELED, while still whole.
    void lose_on_destruction() noexcept;
    // Ends the connection now, dropping the buffer; connection_lost(error) comes from the loop.
    void force_close(int error) noexcept;

    Reactor* loop_;
    std::unique_ptr<Protocol> protocol_;
    Server* server_;
    UniqueFd sock_;
    std::uint16_t flags_ = 0;
    std::uint16_t lost_errno_ = 0;  // connection_lost()'s error, once queued

private:
    void maybe_resume_protocol();
    void queue_connection_lost(int error) noexcept;
    void deliver_connection_lost() noexcept;

    std::uint32_t high_ = kDefaultHighWater;
    std::uint32_t low_ = kDefaultHighWater / 4;
};

// Makes the transport of an accepted or connected socket, on the loop's path (Reactor::io_path),
// and gives it to the loop. start() it next.
TransportCore& adopt_transport(Reactor& loop, UniqueFd sock, std::unique_ptr<Protocol> protocol, Server* server);

}  // namespace iomux
