#include "reactor/socket_transport.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <limits>
#include <stdexcept>

#include "poller/errors.hpp"
#include "reactor/reactor.hpp"
#include "reactor/server.hpp"

namespace iomux {
namespace {

// Bytes one read callback takes before the loop serves other fds (fairness); also the
// size of one recv() for a plain Protocol, into a buffer on the stack (muduo's extrabuf):
// an idle connection owns no receive buffer at all.
constexpr std::size_t kReadBudget = 64 * 1024;

}  // namespace

SocketTransport::SocketTransport(Reactor& loop, UniqueFd sock, std::unique_ptr<Protocol> protocol,
                                 Server* server) noexcept
    : loop_(&loop), protocol_(std::move(protocol)), server_(server), sock_(std::move(sock)) {
    if (dynamic_cast<BufferedProtocol*>(protocol_.get()) != nullptr) flags_ |= kBuffered;
    if (loop.edge_triggered()) flags_ |= kEdge;
}

SocketTransport::~SocketTransport() {
    // Normally connection_lost() has run and the loop has forgotten the fd; not when the
    // loop is being destroyed with the connection open.
    try {
        if (flags_ & kReaderOn) loop_->remove_reader(fd());
        if (flags_ & kWriterOn) loop_->remove_writer(fd());
    } catch (...) {  // the loop refuses a removal only for an fd it does not know
    }
    if (!(flags_ & kLostDelivered) && (flags_ & kStarted)) {
        // Whatever connection_lost() calls now is a no-op: the transport is ending here.
        flags_ |= kLostDelivered | kLostQueued | kClosing;
        flags_ &= ~(kReaderOn | kWriterOn);
        try {
            protocol_->connection_lost(std::error_code(ECANCELED, std::system_category()));
        } catch (...) {  // a destructor cannot throw, and the loop may be going away: dropped
        }
    }
    if (server_ != nullptr) server_->connection_ended(*this);
}

void SocketTransport::start() {
    loop_->add_reader(fd(), [this] { on_readable(); });
    flags_ |= kReaderOn | kStarted;
    call_protocol([&] { protocol_->connection_made(*this); });
}

template <typename F>
bool SocketTransport::call_protocol(F&& f) {
    try {
        f();
        return true;
    } catch (...) {
        force_close(ECONNABORTED);
        loop_->call_exception_handler(fd(), std::current_exception());
        return false;
    }
}

void SocketTransport::on_readable() {
    std::array<char, kReadBudget> stack_buffer;  // uninitialised: recv fills what is used
    std::size_t budget = kReadBudget;
    while (!(flags_ & (kClosing | kReadPaused))) {
        std::span<char> buffer(stack_buffer.data(), budget);
        if (flags_ & kBuffered) {
            auto* buffered = static_cast<BufferedProtocol*>(protocol_.get());
            if (!call_protocol([&] { buffer = buffered->get_buffer(budget); })) return;
            if (buffer.empty()) {
                call_protocol([] { throw std::length_error("BufferedProtocol::get_buffer() returned an empty buffer"); });
                return;
            }
        }
        const std::size_t want = std::min(buffer.size(), budget);
        const ssize_t n = ::recv(fd(), buffer.data(), want, 0);
        if (n > 0) {
            const auto got = static_cast<std::size_t>(n);
            budget -= got;
            const bool ok = (flags_ & kBuffered)
                ? call_protocol([&] { static_cast<BufferedProtocol*>(protocol_.get())->buffer_updated(got); })
                : call_protocol([&] { protocol_->data_received(std::string_view(buffer.data(), got)); });
            if (!ok) return;
            // A short read emptied the socket: on a level-triggered backend the next recv
            // would only say EAGAIN. Edge-triggered must read on: a FIN that came with the
            // data makes no new edge.
            if (got < want && !(flags_ & kEdge)) return;
            if (budget == 0) break;
            continue;
        }
        if (n == 0) return on_eof();
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) force_close(errno);  // ECONNRESET...
        return;
    }
    // Budget spent (or paused and resumed by a callback) with data possibly left: another
    // turn in the next iteration, after the other fds; an edge would not come again.
    if (!(flags_ & (kClosing | kReadPaused))) loop_->keep_ready(fd(), EVENT_READ);
}

void SocketTransport::on_eof() {
    stop_reading();
    bool keep_open = false;
    if (!call_protocol([&] { keep_open = protocol_->eof_received(); })) return;
    if (!keep_open) close();
}

void SocketTransport::stop_reading() {
    if (!(flags_ & kReaderOn)) return;
    flags_ &= ~kReaderOn;
    loop_->remove_reader(fd());
}

void SocketTransport::write(std::string_view data) {
    if (flags_ & kEofQueued) throw std::logic_error("Transport::write() after write_eof()");
    if ((flags_ & kClosing) || data.empty()) return;
    if (out_.write(fd(), data) == WriteBuffer::Status::failed) return force_close(errno);
    if (!out_.empty()) after_buffering();
}

void SocketTransport::writev(std::span<const std::string_view> parts) {
    if (flags_ & kEofQueued) throw std::logic_error("Transport::writev() after write_eof()");
    if (flags_ & kClosing) return;
    if (out_.write(fd(), parts) == WriteBuffer::Status::failed) return force_close(errno);
    if (!out_.empty()) after_buffering();
}

void SocketTransport::after_buffering() {
    if (!(flags_ & kWriterOn)) {
        loop_->add_writer(fd(), [this] { on_writable(); });
        flags_ |= kWriterOn;
    }
    if (!(flags_ & kWritePaused) && out_.size() > high_) {
        flags_ |= kWritePaused;
        call_protocol([&] { protocol_->pause_writing(); });
    }
}

void SocketTransport::on_writable() {
    if (out_.flush(fd()) == WriteBuffer::Status::failed) return force_close(errno);
    if (out_.empty()) {
        flags_ &= ~kWriterOn;
        loop_->remove_writer(fd());
    }
    maybe_resume_protocol();
    if (!out_.empty() || (flags_ & kLostQueued)) return;
    if (flags_ & kClosing) return queue_connection_lost(0);  // close(): flushed, now close
    if (flags_ & kEofQueued) shutdown_write();
}

void SocketTransport::maybe_resume_protocol() {
    // Not once the connection is over (abort(), a failure, a callback that threw, the loop
    // going away): connection_lost() is the only callback left then.
    if ((flags_ & kWritePaused) && !(flags_ & kLostQueued) && out_.size() <= low_) {
        flags_ &= ~kWritePaused;
        call_protocol([&] { protocol_->resume_writing(); });
    }
}

void SocketTransport::shutdown_write() {
    // ENOTCONN when the peer is gone already; the read side will say so.
    ::shutdown(fd(), SHUT_WR);
}

void SocketTransport::write_eof() {
    if (flags_ & (kClosing | kEofQueued)) return;
    flags_ |= kEofQueued;
    if (out_.empty()) shutdown_write();
}

void SocketTransport::close() {
    if (flags_ & kClosing) return;
    flags_ |= kClosing;
    stop_reading();
    if (out_.empty()) queue_connection_lost(0);
}

void SocketTransport::abort() { force_close(0); }

void SocketTransport::force_close(int error) noexcept {
    if (flags_ & kLostQueued) return;
    out_.clear();
    // Removals do not fail for an fd the loop has: these are ours.
    if (flags_ & kWriterOn) loop_->remove_writer(fd());
    flags_ &= ~kWriterOn;
    stop_reading();
    flags_ |= kClosing;
    queue_connection_lost(error);
}

void SocketTransport::queue_connection_lost(int error) noexcept {
    flags_ |= kLostQueued;
    lost_errno_ = static_cast<std::uint16_t>(error);
    // From the loop, never from inside the call that ended the connection: the protocol
    // may be in the middle of a callback, and its caller may use the transport after
    // close(). The loop owns this transport, so the pointer outlives the queued call.
    loop_->call_soon([this] { deliver_connection_lost(); });
}

void SocketTransport::deliver_connection_lost() noexcept {
    flags_ |= kLostDelivered;
    std::exception_ptr thrown;
    try {
        protocol_->connection_lost(lost_errno_ ? std::error_code(lost_errno_, std::system_category()) : std::error_code());
    } catch (...) {
        thrown = std::current_exception();
    }
    // The socket closes one iteration later, once the loop has taken it out of its backend:
    // closed now, its number could be reused (by another loop's accept, say) before the loop
    // applies the removal it queued for the old one.
    Reactor& loop = *loop_;
    loop.call_soon([this] { loop_->owned().destroy(*this); });  // closes the socket, tells the server
    if (thrown) loop.call_exception_handler(fd(), thrown);
}

void SocketTransport::pause_reading() {
    if (flags_ & (kClosing | kReadPaused)) return;
    flags_ |= kReadPaused;
    if (flags_ & kReaderOn) loop_->pause_reading(fd());
}

void SocketTransport::resume_reading() {
    if ((flags_ & kClosing) || !(flags_ & kReadPaused)) return;
    flags_ &= ~kReadPaused;
    if (!(flags_ & kReaderOn)) return;  // after end of input: nothing more to read
    loop_->resume_reading(fd());
    // Bytes may have waited all along; an edge-triggered backend would not report them again.
    loop_->keep_ready(fd(), EVENT_READ);
}

void SocketTransport::set_write_buffer_limits(std::optional<std::size_t> high, std::optional<std::size_t> low) {
    if (!high) high = low ? 4 * *low : kDefaultHighWater;
    if (!low) low = *high / 4;
    if (*high < *low) throw ValueError("write buffer limits: high must be >= low");
    if (*high > std::numeric_limits<std::uint32_t>::max()) throw ValueError("write buffer limits: past 4 GiB");
    high_ = static_cast<std::uint32_t>(*high);
    low_ = static_cast<std::uint32_t>(*low);
    if (!(flags_ & (kWritePaused | kLostQueued)) && out_.size() > high_) {
        flags_ |= kWritePaused;
        call_protocol([&] { protocol_->pause_writing(); });
    }
    maybe_resume_protocol();
}

SocketAddress SocketTransport::peername() const { return peer_address(fd()); }
SocketAddress SocketTransport::sockname() const { return local_address(fd()); }

}  // namespace iomux
