#include "reactor/transport_core.hpp"

#include <sys/socket.h>

#include <limits>
#include <stdexcept>

#include "poller/errors.hpp"
#include "reactor/reactor.hpp"
#include "reactor/server.hpp"
#include "reactor/socket_transport.hpp"
#ifdef IOMUX_HAVE_IO_URING
#include "reactor/uring_transport.hpp"
#endif

namespace iomux {

TransportCore::TransportCore(Reactor& loop, UniqueFd sock, std::unique_ptr<Protocol> protocol, Server* server) noexcept
    : loop_(&loop), protocol_(std::move(protocol)), server_(server), sock_(std::move(sock)) {
    if (dynamic_cast<BufferedProtocol*>(protocol_.get()) != nullptr) flags_ |= kBuffered;
}

TransportCore::~TransportCore() {
    if (server_ != nullptr) server_->connection_ended(*this);
}

void TransportCore::lose_on_destruction() noexcept {
    if ((flags_ & kLostDelivered) || !(flags_ & kStarted)) return;
    // Whatever connection_lost() calls now is a no-op: the transport is ending here.
    flags_ |= kLostDelivered | kLostQueued | kClosing;
    try {
        protocol_->connection_lost(std::error_code(ECANCELED, std::system_category()));
    } catch (...) {  // a destructor cannot throw, and the loop may be going away: dropped
    }
}

void TransportCore::start() {
    start_reading();
    flags_ |= kStarted;
    call_protocol([&] { protocol_->connection_made(*this); });
}

void TransportCore::protocol_failed() noexcept {
    force_close(ECONNABORTED);
    loop_->call_exception_handler(fd(), std::current_exception());
}

void TransportCore::on_eof() {
    stop_reading();
    bool keep_open = false;
    if (!call_protocol([&] { keep_open = protocol_->eof_received(); })) return;
    if (!keep_open) close();
}

void TransportCore::check_high_water() {
    if (!(flags_ & (kWritePaused | kLostQueued)) && write_buffer_size() > high_) {
        flags_ |= kWritePaused;
        call_protocol([&] { protocol_->pause_writing(); });
    }
}

void TransportCore::after_flush() {
    maybe_resume_protocol();
    if (write_pending() || (flags_ & kLostQueued)) return;
    if (flags_ & kClosing) return queue_connection_lost(0);  // close(): flushed, now close
    if (flags_ & kEofQueued) shutdown_write();
}

void TransportCore::maybe_resume_protocol() {
    // Not once the connection is over (abort(), a failure, a callback that threw, the loop
    // going away): connection_lost() is the only callback left then.
    if ((flags_ & kWritePaused) && !(flags_ & kLostQueued) && write_buffer_size() <= low_) {
        flags_ &= ~kWritePaused;
        call_protocol([&] { protocol_->resume_writing(); });
    }
}

void TransportCore::shutdown_write() noexcept {
    // ENOTCONN when the peer is gone already; the read side will say so.
    ::shutdown(fd(), SHUT_WR);
}

void TransportCore::write_eof() {
    if (flags_ & (kClosing | kEofQueued)) return;
    flags_ |= kEofQueued;
    if (!write_pending()) shutdown_write();
}

void TransportCore::close() {
    if (flags_ & kClosing) return;
    flags_ |= kClosing;
    stop_reading();
    if (!write_pending()) queue_connection_lost(0);
}

void TransportCore::abort() { force_close(0); }

void TransportCore::force_close(int error) noexcept {
    if (flags_ & kLostQueued) return;
    drop_writes();
    stop_reading();
    flags_ |= kClosing;
    queue_connection_lost(error);
}

void TransportCore::queue_connection_lost(int error) noexcept {
    flags_ |= kLostQueued;
    lost_errno_ = static_cast<std::uint16_t>(error);
    // From the loop, never from inside the call that ended the connection: the protocol
    // may be in the middle of a callback, and its caller may use the transport after
    // close(). The loop owns this transport, so the pointer outlives the queued call.
    loop_->call_soon([this] { deliver_connection_lost(); });
}

void TransportCore::deliver_connection_lost() noexcept {
    flags_ |= kLostDelivered;
    std::exception_ptr thrown;
    try {
        protocol_->connection_lost(lost_errno_ ? std::error_code(lost_errno_, std::system_category()) : std::error_code());
    } catch (...) {
        thrown = std::current_exception();
    }
    const int fd_number = fd();
    Reactor& loop = *loop_;
    release();
    if (thrown) loop.call_exception_handler(fd_number, thrown);
}

void TransportCore::pause_reading() {
    if (flags_ & (kClosing | kReadPaused)) return;
    flags_ |= kReadPaused;
    pause_io_reading();
}

void TransportCore::resume_reading() {
    if ((flags_ & kClosing) || !(flags_ & kReadPaused)) return;
    flags_ &= ~kReadPaused;
    start_reading();
}

void TransportCore::set_write_buffer_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) {
    if (!high) high = low ? 4 * *low : kDefaultHighWater;
    if (!low) low = *high / 4;
    if (*high < *low) throw ValueError("write buffer limits: high must be >= low");
    if (*high > std::numeric_limits<std::uint32_t>::max()) throw ValueError("write buffer limits: past 4 GiB");
    high_ = static_cast<std::uint32_t>(*high);
    low_ = static_cast<std::uint32_t>(*low);
    check_high_water();
    maybe_resume_protocol();
}

SocketAddress TransportCore::peername() const { return peer_address(fd()); }
SocketAddress TransportCore::sockname() const { return local_address(fd()); }

TransportCore& adopt_transport(Reactor& loop, UniqueFd sock, std::unique_ptr<Protocol> protocol, Server* server) {
    std::unique_ptr<TransportCore> t;
#ifdef IOMUX_HAVE_IO_URING
    if (CompletionIo* io = loop.completion_io())
        t = std::make_unique<UringTransport>(loop, *io, std::move(sock), std::move(protocol), server);
#endif
    if (!t) t = std::make_unique<SocketTransport>(loop, std::move(sock), std::move(protocol), server);
    return static_cast<TransportCore&>(loop.owned().adopt(std::move(t)));
}

}  // namespace iomux
