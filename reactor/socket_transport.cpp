#include "reactor/socket_transport.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <stdexcept>

#include "reactor/reactor.hpp"

namespace iomux {
namespace {

// Bytes one read callback takes before the loop serves other fds (fairness); also the
// size of one recv() for a plain Protocol, into a buffer on the stack (muduo's extrabuf):
// an idle connection owns no receive buffer at all.
constexpr std::size_t kReadBudget = 64 * 1024;

}  // namespace

SocketTransport::SocketTransport(Reactor& loop, UniqueFd sock, std::unique_ptr<Protocol> protocol,
                                 Server* server) noexcept
    : TransportCore(loop, std::move(sock), std::move(protocol), server) {
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
    flags_ &= ~(kReaderOn | kWriterOn);
    lose_on_destruction();
}

void SocketTransport::start_reading() {
    if (!(flags_ & kStarted)) {
        loop_->add_reader(fd(), [this] { on_readable(); });
        flags_ |= kReaderOn;
        return;
    }
    if (!(flags_ & kReaderOn)) return;  // after end of input: nothing more to read
    loop_->resume_reading(fd());
    // Bytes may have waited all along; an edge-triggered backend would not report them again.
    loop_->keep_ready(fd(), EVENT_READ);
}

void SocketTransport::pause_io_reading() {
    if (flags_ & kReaderOn) loop_->pause_reading(fd());
}

void SocketTransport::stop_reading() {
    if (!(flags_ & kReaderOn)) return;
    flags_ &= ~kReaderOn;
    loop_->remove_reader(fd());
}

void SocketTransport::drop_writes() {
    out_.clear();
    // Removals do not fail for an fd the loop has: these are ours.
    if (flags_ & kWriterOn) loop_->remove_writer(fd());
    flags_ &= ~kWriterOn;
}

void SocketTransport::release() noexcept {
    // The socket closes one iteration later, once the loop has taken it out of its backend:
    // closed now, its number could be reused (by another loop's accept, say) before the loop
    // applies the removal it queued for the old one.
    loop_->call_soon([this] { loop_->owned().destroy(*this); });  // closes the socket, tells the server
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
    check_high_water();
}

void SocketTransport::on_writable() {
    if (out_.flush(fd()) == WriteBuffer::Status::failed) return force_close(errno);
    if (out_.empty()) {
        flags_ &= ~kWriterOn;
        loop_->remove_writer(fd());
    }
    after_flush();
}

}  // namespace iomux
