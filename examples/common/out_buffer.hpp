// OutBuffer: the bytes a connection owes its peer that the kernel has not taken yet.
//
// A non-blocking send() may take only part of what it is given. The rest waits here until
// the socket is writable again; the caller watches for writability only while the buffer is
// not empty. A buffer that never had to queue anything is one null pointer, and a drained
// one gives its memory back past a few KiB: idle connections cost 8 bytes each.
#pragma once

#include <cstddef>
#include <memory>
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

    bool empty() const noexcept { return size() == 0; }
    std::size_t size() const noexcept { return queue_ ? queue_->bytes.size() - queue_->head : 0; }

    // Queues bytes behind what is already queued, without sending.
    void append(std::string_view bytes);
    // Sends what is queued, as much as the kernel takes.
    Status flush(int fd);
    // Sends bytes after what is queued; what the kernel does not take is queued. Sends
    // straight from `bytes` when nothing is queued, saving a copy in the common case; when
    // something is queued it only appends (the caller is already waiting for writability).
    Status write(int fd, std::string_view bytes);

private:
    struct Queue {
        std::string bytes;
        std::size_t head = 0;  // bytes[0, head) are sent
    };
    std::unique_ptr<Queue> queue_;  // made by the first append
};

}  // namespace examples
