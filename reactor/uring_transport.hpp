// UringTransport: the Transport of a connected socket on the completion path (io_uring;
// Reactor::io_path() == "completion"). Not installed: Server and create_connection make
// them when the loop has completion I/O; protocols see a Transport& and cannot tell.
//
// Receiving: one multishot recv, armed once, into the loop's provided buffers; the protocol
// sees a view into the buffer, which goes back to the ring when data_received() returns (a
// BufferedProtocol gets the bytes copied into its buffer). A recv that ends (-ENOBUFS when
// the ring ran dry, or the kernel ending it) is armed again: the bytes wait in the socket,
// none lost or reordered. pause_reading() cancels it; bytes that were already on their way
// are kept, in order, for resume_reading().
// Sending: write() copies into the transport and costs no syscall: one send in flight per
// socket, carrying everything written before it was submitted; what is written meanwhile
// goes in the next, so bytes leave in order. Its SQE goes with the loop's next wait.
// Ending: close() and abort() cancel what is in flight; the transport, and the memory a
// request may still use, lives until the kernel has completed the last of them, and the
// socket closes after that.
#pragma once

#include <string>

#include "reactor/completion_io.hpp"
#include "reactor/transport_core.hpp"

namespace iomux {

class UringTransport final : public TransportCore, public CompletionTarget {
public:
    UringTransport(Reactor& loop, CompletionIo& io, UniqueFd sock, std::unique_ptr<Protocol> protocol,
                   Server* server) noexcept;
    ~UringTransport() override;

    void write(std::string_view data) override;
    void writev(std::span<const std::string_view> parts) override;
    std::size_t write_buffer_size() const noexcept override;

    void complete(unsigned op, const Completion& c) noexcept override;

private:
    enum : unsigned { kOpRecv = 1, kOpSend = 2 };
    enum : std::uint16_t {
        kRecvArmed = kFirstOwnFlag << 0,       // the multishot recv is in the kernel
        kRecvCancelling = kFirstOwnFlag << 1,  // and a cancel of it was submitted
        kSending = kFirstOwnFlag << 2,         // a send is in the kernel
        kDropped = kFirstOwnFlag << 3,         // abort or failure: unsent bytes are forgotten
        kEofSeen = kFirstOwnFlag << 4,         // the peer's FIN came in
        kEofParked = kFirstOwnFlag << 5,       // and waits for resume_reading()
        kDeliverQueued = kFirstOwnFlag << 6,   // deliver_parked() is queued
        kReleased = kFirstOwnFlag << 7,        // connection_lost() done: go with the last request
    };

    void start_reading() override;
    void pause_io_reading() override;
    void stop_reading() override;
    void drop_writes() override;
    bool write_pending() const noexcept override;
    void release() noexcept override;

    void arm_recv();
    void cancel(unsigned op);
    void on_recv(const Completion& c);
    void on_send(const Completion& c);
    void received(std::string_view data);
    // Hands bytes to the protocol; returns how many it took (less only when a
    // BufferedProtocol paused reading or closed part-way).
    std::size_t deliver(std::string_view data);
    void deliver_parked();
    void submit_send();
    void append(std::string_view data);

    CompletionIo& io_;
    std::uint32_t in_flight_ = 0;  // requests whose last completion has not come
    std::uint32_t sent_ = 0;       // bytes of sending_ the kernel took
    std::string sending_;          // the send in flight: stable until it completes
    std::string pending_;          // written since: the next send
    std::string parked_;           // received while paused, for resume_reading()
};

}  // namespace iomux
