// WriteBuffer: the bytes a socket owes its peer that the kernel has not taken yet.
//
// A non-blocking send() may take only part of what it is given; the rest waits here until
// the socket is writable again. Sends use MSG_NOSIGNAL: a peer that is gone makes send()
// fail with EPIPE instead of killing the process with SIGPIPE. A buffer that never had to
// queue anything is one null pointer, and a drained one gives its memory back past a few
// KiB: an idle connection's buffer costs 8 bytes.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace iomux {

class WriteBuffer {
public:
    enum class Status {
        drained,  // everything was sent
        blocked,  // the kernel is full: wait for writability and flush() again
        failed,   // send failed (EPIPE, ECONNRESET...): errno says why; the buffer is kept
    };

    bool empty() const noexcept { return size() == 0; }
    std::size_t size() const noexcept { return queue_ ? queue_->bytes.size() - queue_->head : 0; }

    // Queues bytes behind what is queued, without sending.
    void append(std::string_view bytes);
    // Drops what is queued and frees the memory.
    void clear() noexcept { queue_.reset(); }
    // Sends what is queued, as much as the kernel takes.
    Status flush(int fd);
    // Sends bytes after what is queued, straight from `bytes` (no copy) when nothing is
    // queued; what the kernel does not take is queued. When something is queued already it
    // only appends: the caller is waiting for writability then.
    Status write(int fd, std::string_view bytes);
    // The same for several pieces, sent with one sendmsg() when nothing is queued.
    Status write(int fd, std::span<const std::string_view> parts);

private:
    struct Queue {
        std::string bytes;
        std::size_t head = 0;  // bytes[0, head) are sent
    };
    std::unique_ptr<Queue> queue_;  // made by the first append
};

}  // namespace iomux
