#include "common/out_buffer.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace examples {
namespace {

// What a drained buffer may keep for the next response; more is given back.
constexpr std::size_t kKeepCapacity = 4096;

// MSG_NOSIGNAL: a peer that reset the connection makes send() fail with EPIPE instead of
// killing the process with SIGPIPE. Returns bytes sent, 0 when the kernel is full, -1 on error.
long send_some(int fd, std::string_view bytes) {
    for (;;) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -1;
    }
}

}  // namespace

void OutBuffer::append(std::string_view bytes) {
    if (!queue_) queue_ = std::make_unique<Queue>();
    Queue& q = *queue_;
    // Drop the sent prefix once it is at least half the buffer: amortised O(1) per byte.
    if (q.head > 0 && q.head * 2 >= q.bytes.size()) {
        q.bytes.erase(0, q.head);
        q.head = 0;
    }
    q.bytes.append(bytes);
}

OutBuffer::Status OutBuffer::flush(int fd) {
    while (!empty()) {
        Queue& q = *queue_;
        const long n = send_some(fd, std::string_view(q.bytes).substr(q.head));
        if (n < 0) return Status::failed;
        if (n == 0) return Status::blocked;
        q.head += static_cast<std::size_t>(n);
    }
    if (queue_) {
        queue_->bytes.clear();
        queue_->head = 0;
        if (queue_->bytes.capacity() > kKeepCapacity) queue_.reset();
    }
    return Status::drained;
}

OutBuffer::Status OutBuffer::write(int fd, std::string_view bytes) {
    if (empty()) {
        const long n = send_some(fd, bytes);
        if (n < 0) return Status::failed;
        bytes.remove_prefix(static_cast<std::size_t>(n));
        if (bytes.empty()) return Status::drained;
    }
    // A partial send means the kernel is full; what was queued already waits for writability.
    append(bytes);
    return Status::blocked;
}

}  // namespace examples
