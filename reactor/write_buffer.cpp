#include "reactor/write_buffer.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cerrno>

namespace iomux {
namespace {

// What a drained buffer may keep for the next burst; more is given back.
constexpr std::size_t kKeepCapacity = 4096;
// Pieces per sendmsg: more are sent by the next call (the kernel's IOV_MAX is 1024).
constexpr std::size_t kMaxIov = 64;

// Bytes sent, 0 when the kernel is full, -1 on error (errno).
long send_some(int fd, std::string_view bytes) {
    for (;;) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -1;
    }
}

long send_parts(int fd, std::span<const std::string_view> parts) {
    std::array<iovec, kMaxIov> iov;
    const std::size_t count = std::min(parts.size(), kMaxIov);
    for (std::size_t i = 0; i < count; ++i)
        iov[i] = {const_cast<char*>(parts[i].data()), parts[i].size()};
    msghdr msg{};
    msg.msg_iov = iov.data();
    msg.msg_iovlen = count;
    for (;;) {
        const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -1;
    }
}

}  // namespace

void WriteBuffer::append(std::string_view bytes) {
    if (bytes.empty()) return;
    if (!queue_) queue_ = std::make_unique<Queue>();
    Queue& q = *queue_;
    // Drop the sent prefix once it is at least half the buffer: amortised O(1) per byte.
    if (q.head > 0 && q.head * 2 >= q.bytes.size()) {
        q.bytes.erase(0, q.head);
        q.head = 0;
    }
    q.bytes.append(bytes);
}

WriteBuffer::Status WriteBuffer::flush(int fd) {
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

WriteBuffer::Status WriteBuffer::write(int fd, std::string_view bytes) {
    if (empty()) {
        const long n = send_some(fd, bytes);
        if (n < 0) return Status::failed;
        bytes.remove_prefix(static_cast<std::size_t>(n));
        if (bytes.empty()) return Status::drained;
    }
    append(bytes);
    return Status::blocked;
}

WriteBuffer::Status WriteBuffer::write(int fd, std::span<const std::string_view> parts) {
    while (empty() && !parts.empty()) {
        long n = send_parts(fd, parts);
        if (n < 0) return Status::failed;
        const bool full = n == 0;
        while (!parts.empty() && static_cast<std::size_t>(n) >= parts.front().size()) {
            n -= static_cast<long>(parts.front().size());
            parts = parts.subspan(1);
        }
        if (!parts.empty() && n > 0) {  // the kernel took part of a piece: it is full
            append(parts.front().substr(static_cast<std::size_t>(n)));
            parts = parts.subspan(1);
            break;
        }
        if (full) break;
    }
    for (std::string_view part : parts) append(part);
    return empty() ? Status::drained : Status::blocked;
}

}  // namespace iomux
