// Transport: one connection, as a protocol sees it (asyncio's Transport).
//
// The transport owns the socket and does all its I/O; the protocol (protocol.hpp) sees bytes
// and events, never how they moved. Transports are made by a Server (server.hpp) for each
// connection it accepts, or by create_connection() (connect.hpp), and owned by their loop:
// the Transport& handed to connection_made() is valid until connection_lost() returns.
// One thread, the loop's, makes every call.
//
// Writing never blocks and never drops: write() sends at once what the kernel takes and
// buffers the rest, which goes out as the socket becomes writable. The buffer has no bound;
// the high / low water marks tell the protocol (pause_writing / resume_writing) when to
// stop and start producing, and pausing reading is how a server holds a client that sends
// faster than it reads (echo_server does).
//
// After close() or abort(), and after connection_lost(), write() and writev() do nothing
// (the bytes are dropped, as asyncio's are once the connection is lost); write after
// write_eof() throws std::logic_error (asyncio's RuntimeError). Every other call is
// harmless at any time.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "reactor/owned.hpp"
#include "reactor/socket_address.hpp"

namespace iomux {

class Reactor;

class Transport : public Owned {
public:
    // Defaults of the water marks (asyncio's).
    static constexpr std::size_t kDefaultHighWater = 64 * 1024;

    // Sends data, or buffers what the kernel does not take now. A peer that reset or is
    // gone ends the connection: connection_lost() with ECONNRESET or EPIPE, from the loop.
    virtual void write(std::string_view data) = 0;
    // Writes the parts in order, in one system call when nothing is buffered (sendmsg).
    virtual void writev(std::span<const std::string_view> parts) = 0;
    // Shuts down the sending side once the buffer is flushed; reading goes on.
    virtual void write_eof() = 0;
    virtual bool can_write_eof() const noexcept = 0;
    // Stops reading, flushes the buffer, then closes: connection_lost() with no error.
    virtual void close() = 0;
    // Closes now, dropping the buffer: connection_lost() with no error.
    virtual void abort() = 0;
    // True from close(), abort() or a failure on.
    virtual bool is_closing() const noexcept = 0;

    // data_received() stops until resume_reading(); nothing is lost (the kernel holds the
    // bytes, and TCP slows the peer). No-ops when closing, or already paused / reading.
    virtual void pause_reading() = 0;
    virtual void resume_reading() = 0;
    virtual bool is_reading() const noexcept = 0;

    // asyncio's rules: with neither, 64 KiB / 16 KiB; with one, the other is derived (low =
    // high / 4, high = 4 * low). iomux::ValueError unless high >= low, and for marks past
    // 4 GiB. Applying them may call pause_writing() or resume_writing() at once.
    virtual void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                                         std::optional<std::size_t> low = std::nullopt) = 0;
    // (low, high), as asyncio's get_write_buffer_limits().
    virtual std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept = 0;
    // Bytes buffered and not yet taken by the kernel.
    virtual std::size_t write_buffer_size() const noexcept = 0;

    // get_extra_info('peername' / 'sockname' / 'socket'). The addresses throw
    // std::system_error when the socket cannot say (ENOTCONN after a reset, say).
    virtual SocketAddress peername() const = 0;
    virtual SocketAddress sockname() const = 0;
    virtual int fd() const noexcept = 0;
    virtual Reactor& loop() const noexcept = 0;
};

}  // namespace iomux
