// SocketTransport: the Transport of a connected socket on a readiness loop (every backend:
// the loop reports the socket readable or writable, and the transport does recv / send).
// Not installed: Server and create_connection make them; protocols see a Transport&.
#pragma once

#include "reactor/transport_core.hpp"
#include "reactor/write_buffer.hpp"

namespace iomux {

class SocketTransport final : public TransportCore {
public:
    SocketTransport(Reactor& loop, UniqueFd sock, std::unique_ptr<Protocol> protocol, Server* server) noexcept;
    ~SocketTransport() override;

    void write(std::string_view data) override;
    void writev(std::span<const std::string_view> parts) override;
    std::size_t write_buffer_size() const noexcept override { return out_.size(); }

private:
    enum : std::uint16_t {
        kReaderOn = kFirstOwnFlag << 0,  // the loop has our read callback (maybe paused)
        kWriterOn = kFirstOwnFlag << 1,  // the loop has our write callback
        kEdge = kFirstOwnFlag << 2,      // the loop is edge-triggered (asked once: a virtual call)
    };

    void start_reading() override;
    void pause_io_reading() override;
    void stop_reading() override;
    void drop_writes() override;
    bool write_pending() const noexcept override { return !out_.empty(); }
    void release() noexcept override;

    void on_readable();
    void on_writable();
    void after_buffering();

    WriteBuffer out_;
};

}  // namespace iomux
