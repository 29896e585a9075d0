// SocketTransport: the Transport of a connected socket on a readiness loop (every backend:
// the loop reports the socket readable or writable, and the transport does recv / send).
// Not installed: Server and create_connection make them; protocols see a Transport&.
#pragma once

#include <cstdint>
#include <memory>

#include "poller/unique_fd.hpp"
#include "reactor/protocol.hpp"
#include "reactor/transport.hpp"
#include "reactor/write_buffer.hpp"

namespace iomux {

class Server;

class SocketTransport final : public Transport {
public:
    // sock: connected, non-blocking. server: the one that accepted it, told when it ends.
    SocketTransport(Reactor& loop, UniqueFd sock, std::unique_ptr<Protocol> protocol, Server* server) noexcept;
    // A transport destroyed before connection_lost() (its loop or server went first)
    // delivers it, with ECANCELED.
    ~SocketTransport() override;

    // Watches the socket and calls connection_made(). Throws std::system_error when the
    // loop refuses the socket; then the protocol was told nothing.
    void start();

    void write(std::string_view data) override;
    void writev(std::span<const std::string_view> parts) override;
    void write_eof() override;
    bool can_write_eof() const noexcept override { return true; }
    void close() override;
    void abort() override;
    bool is_closing() const noexcept override { return flags_ & kClosing; }
    void pause_reading() override;
    void resume_reading() override;
    bool is_reading() const noexcept override { return !(flags_ & (kReadPaused | kClosing)); }
    void set_write_buffer_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) override;
    std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept override { return {low_, high_}; }
    std::size_t write_buffer_size() const noexcept override { return out_.size(); }
    SocketAddress peername() const override;
    SocketAddress sockname() const override;
    int fd() const noexcept override { return sock_.get(); }
    Reactor& loop() const noexcept override { return *loop_; }

    Server* server() const noexcept { return server_; }
    void detach_server() noexcept { server_ = nullptr; }

private:
    enum : std::uint16_t {
        kReaderOn = 1 << 0,        // the loop has our read callback (maybe paused)
        kWriterOn = 1 << 1,        // the loop has our write callback
        kReadPaused = 1 << 2,      // pause_reading()
        kClosing = 1 << 3,         // close(), abort() or a failure: no more reading or writing
        kLostQueued = 1 << 4,      // connection_lost() is queued: nothing more to do
        kEofQueued = 1 << 5,       // write_eof(): shut down the sending side once flushed
        kWritePaused = 1 << 6,     // the protocol was told pause_writing()
        kBuffered = 1 << 7,        // the protocol is a BufferedProtocol
        kLostDelivered = 1 << 8,   // connection_lost() was called
        kStarted = 1 << 9,         // connection_made() was called
        kEdge = 1 << 10,           // the loop is edge-triggered (asked once: a virtual call)
    };

    void on_readable();
    void on_writable();
    void on_eof();
    void after_buffering();
    void stop_reading();
    void maybe_resume_protocol();
    void shutdown_write();
    // Ends the connection now, dropping the buffer; connection_lost(error) comes from the loop.
    void force_close(int error) noexcept;
    void queue_connection_lost(int error) noexcept;
    void deliver_connection_lost() noexcept;
    // Runs a protocol callback; one that throws aborts the connection (ECONNABORTED) and
    // goes to the loop's exception handler. False when it threw.
    template <typename F>
    bool call_protocol(F&& f);

    Reactor* loop_;
    std::unique_ptr<Protocol> protocol_;
    Server* server_;
    WriteBuffer out_;
    UniqueFd sock_;
    std::uint16_t flags_ = 0;
    std::uint16_t lost_errno_ = 0;  // connection_lost()'s error, once queued
    std::uint32_t high_ = kDefaultHighWater;
    std::uint32_t low_ = kDefaultHighWater / 4;
};

}  // namespace iomux
