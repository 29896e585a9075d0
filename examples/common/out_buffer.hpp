// OutBuffer: the bytes a connection owes its peer that the kernel has not taken yet.
//
// A non-blocking send() may take only part of what it is given. The rest waits here until
// the socket is writable again; the caller watches for writability only while the buffer is
// not empty. An empty buffer gives its memory back, so 10,000 idle connections cost nothing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace examples {

class OutBuffer {
public:
    enum class Status {
        drained,  // everything was sent
        blocked,  // the kernel is full: wait for writability and call flush() again
        failed,   // the peer is gone (EPIPE, ECONNRESET, ...): close the connection
    };

    bool empty() const noexcept { return head_ == bytes_.size(); }
    std::size_t size() const noexcept { return bytes_.size() - head_; }

    // Queues bytes behind what is already queued, without sending.
    void append(std::string_view bytes);
    // Sends what is queued, as much as the kernel takes.
    Status flush(int fd);
    // Sends bytes after what is queued; what the kernel does not take is queued. Sends
    // straight from `bytes` when nothing is queued, saving a copy in the common case; when
    // something is queued it only appends (the caller is already waiting for writability).
    Status write(int fd, std::string_view bytes);

private:
    std::string bytes_;
    std::size_t head_ = 0;  // bytes_[0, head_) are sent
};

}  // namespace examples
