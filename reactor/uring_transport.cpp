#include "reactor/uring_transport.hpp"

#include <liburing.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "reactor/reactor.hpp"

namespace iomux {
namespace {

// What a drained send buffer may keep for the next burst; more is given back, so an idle
// connection holds no large buffer.
constexpr std::size_t kKeepCapacity = 4096;

void trim(std::string& s) {
    s.clear();
    if (s.capacity() > kKeepCapacity) std::string().swap(s);
}

}  // namespace

UringTransport::UringTransport(Reactor& loop, CompletionIo& io, UniqueFd sock, std::unique_ptr<Protocol> protocol,
                               Server* server) noexcept
    : TransportCore(loop, std::move(sock), std::move(protocol), server), io_(io) {}

UringTransport::~UringTransport() {
    // Normally the last request completed long ago. Not when the loop is being destroyed
    // with the connection open: cancel what is in flight now, before the buffers go (a send
    // waiting for room in the socket is cancelled at once, inside this submit).
    if (in_flight_ > 0) {
        try {
            io_uring_sqe& sqe = io_.quiet_sqe();
            io_uring_prep_cancel_fd(&sqe, fd(), IORING_ASYNC_CANCEL_ALL);
            io_.submit();
        } catch (...) {  // no SQE: the ring's teardown cancels them
        }
    }
    lose_on_destruction();
}

void UringTransport::start_reading() {
    if (!(flags_ & kStarted)) return arm_recv();
    if ((!parked_.empty() || (flags_ & kEofParked)) && !(flags_ & kDeliverQueued)) {
        // From the loop: resume_reading() must not call the protocol back inside itself.
        flags_ |= kDeliverQueued;
        loop_->call_soon([this] { deliver_parked(); });
    }
    // A recv being cancelled is armed again when its cancel completes (on_recv); none is
    // armed while bytes are parked, or each pause would park another ring's worth.
    if (!(flags_ & (kRecvArmed | kEofSeen)) && parked_.empty()) arm_recv();
}

void UringTransport::arm_recv() {
    io_uring_sqe& sqe = io_.sqe(*this, kOpRecv);
    io_uring_prep_recv_multishot(&sqe, fd(), nullptr, 0, 0);
    sqe.flags |= IOSQE_BUFFER_SELECT;
    sqe.buf_group = CompletionIo::kBufferGroup;
    flags_ = (flags_ | kRecvArmed) & ~kRecvCancelling;
    ++in_flight_;
}

void UringTransport::cancel(unsigned op) {
    io_uring_sqe& sqe = io_.quiet_sqe();
    io_uring_prep_cancel64(&sqe, CompletionRing::kTag | reinterpret_cast<std::uintptr_t>(static_cast<CompletionTarget*>(this)) | op, 0);
}

void UringTransport::pause_io_reading() {
    if ((flags_ & kRecvArmed) && !(flags_ & kRecvCancelling)) {
        flags_ |= kRecvCancelling;
        cancel(kOpRecv);
    }
}

void UringTransport::stop_reading() {
    parked_.clear();
    flags_ &= ~kEofParked;
    pause_io_reading();
}

void UringTransport::complete(unsigned op, const Completion& c) noexcept {
    if (op == kOpRecv) on_recv(c);
    else on_send(c);
    if ((flags_ & kReleased) && in_flight_ == 0)
        loop_->call_soon([this] { loop_->owned().destroy(*this); });  // closes the socket, tells the server
}

void UringTransport::on_recv(const Completion& c) {
    const bool last = !(c.flags & IORING_CQE_F_MORE);
    if (last) {
        --in_flight_;
        flags_ &= ~(kRecvArmed | kRecvCancelling);
    }
    if (c.res > 0) {
        const std::string_view data = io_.received(c);
        if (!(flags_ & kClosing)) received(data);
        io_.release(c);  // every byte delivered or copied
    } else if (c.res == 0) {
        if (c.flags & IORING_CQE_F_BUFFER) io_.release(c);
        flags_ |= kEofSeen;
        if (!(flags_ & kClosing)) {
            if ((flags_ & kReadPaused) || !parked_.empty()) flags_ |= kEofParked;
            else on_eof();
        }
    } else if (c.res == -ENOBUFS) {
        ++io_.stats().out_of_buffers;  // the bytes wait in the socket for the recv armed below
    } else if (c.res != -ECANCELED) {
        force_close(-c.res);  // ECONNRESET...
    }
    if (last && !(flags_ & (kClosing | kReadPaused | kEofSeen | kRecvArmed)) && parked_.empty()) {
        ++io_.stats().rearmed;
        arm_recv();
    }
}

void UringTransport::received(std::string_view data) {
    // Bytes parked earlier go first: they wait for deliver_parked(), and so do these.
    if ((flags_ & kReadPaused) || !parked_.empty()) {
        parked_.append(data);
        return;
    }
    const std::size_t taken = deliver(data);
    if (taken < data.size() && !(flags_ & kClosing)) parked_.append(data.substr(taken));
}

std::size_t UringTransport::deliver(std::string_view data) {
    if (!(flags_ & kBuffered)) {
        call_protocol([&] { protocol_->data_received(data); });
        return data.size();
    }
    auto* buffered = static_cast<BufferedProtocol*>(protocol_.get());
    std::size_t taken = 0;
    while (taken < data.size() && !(flags_ & (kClosing | kReadPaused))) {
        std::span<char> buffer;
        if (!call_protocol([&] { buffer = buffered->get_buffer(data.size() - taken); })) break;
        if (buffer.empty()) {
            call_protocol([] { throw std::length_error("BufferedProtocol::get_buffer() returned an empty buffer"); });
            break;
        }
        const std::size_t n = std::min(buffer.size(), data.size() - taken);
        std::memcpy(buffer.data(), data.data() + taken, n);
        taken += n;
        if (!call_protocol([&] { buffered->buffer_updated(n); })) break;
    }
    return taken;
}

void UringTransport::deliver_parked() {
    flags_ &= ~kDeliverQueued;
    // No completion is dispatched during this: nothing is parked meanwhile. Delivered a
    // buffer's worth at a time, as it came, so a protocol that pauses in data_received sees
    // the same sizes as when nothing was parked.
    std::string batch = std::move(parked_);
    parked_.clear();
    std::size_t done = 0;
    while (done < batch.size() && !(flags_ & (kClosing | kReadPaused))) {
        const std::size_t size = std::min(batch.size() - done, io_.buffer_size());
        const std::size_t taken = deliver(std::string_view(batch).substr(done, size));
        done += taken;
        if (taken < size) break;
    }
    if (done < batch.size() && !(flags_ & kClosing)) {
        batch.erase(0, done);
        parked_ = std::move(batch);
    }
    if (!parked_.empty() || (flags_ & (kClosing | kReadPaused))) return;
    if (flags_ & kEofParked) {
        flags_ &= ~kEofParked;
        on_eof();
    } else if (!(flags_ & (kRecvArmed | kEofSeen))) {
        arm_recv();  // drained: the socket's turn again
    }
}

void UringTransport::write(std::string_view data) {
    if (flags_ & kEofQueued) throw std::logic_error("Transport::write() after write_eof()");
    if ((flags_ & kClosing) || data.empty()) return;
    append(data);
}

void UringTransport::writev(std::span<const std::string_view> parts) {
    if (flags_ & kEofQueued) throw std::logic_error("Transport::writev() after write_eof()");
    if (flags_ & kClosing) return;
    for (std::string_view part : parts) append(part);
}

void UringTransport::append(std::string_view data) {
    if (data.empty()) return;
    if (flags_ & kSending) {
        pending_.append(data);
    } else {
        sending_.assign(data);
        submit_send();
    }
    check_high_water();
}

void UringTransport::submit_send() {
    io_uring_sqe& sqe = io_.sqe(*this, kOpSend);
    io_uring_prep_send(&sqe, fd(), sending_.data() + sent_, sending_.size() - sent_, MSG_NOSIGNAL);
    flags_ |= kSending;
    ++in_flight_;
}

void UringTransport::on_send(const Completion& c) {
    --in_flight_;
    flags_ &= ~kSending;
    if (flags_ & kDropped) {
        trim(sending_);
        sent_ = 0;
        return;
    }
    if (c.res < 0) {
        if (c.res == -EINTR || c.res == -EAGAIN) return submit_send();
        return force_close(-c.res);  // EPIPE, ECONNRESET...
    }
    sent_ += static_cast<std::uint32_t>(c.res);
    if (sent_ < sending_.size()) return submit_send();  // the kernel took part: send the rest
    sent_ = 0;
    sending_.swap(pending_);
    trim(pending_);
    if (!sending_.empty()) submit_send();
    after_flush();
}

std::size_t UringTransport::write_buffer_size() const noexcept {
    if (flags_ & kDropped) return 0;
    return sending_.size() - sent_ + pending_.size();
}

bool UringTransport::write_pending() const noexcept {
    return !(flags_ & kDropped) && ((flags_ & kSending) || !pending_.empty());
}

void UringTransport::drop_writes() {
    flags_ |= kDropped;
    trim(pending_);
    if (flags_ & kSending) cancel(kOpSend);  // sending_ stays until the cancel completes
    else trim(sending_);
}

void UringTransport::release() noexcept {
    flags_ |= kReleased;
    if (in_flight_ == 0) loop_->call_soon([this] { loop_->owned().destroy(*this); });
}

}  // namespace iomux
