// CompletionIo: a loop's completion I/O, on the ring of its io_uring backend.
//
// When the loop runs on io_uring (and the kernel has multishot recv and deferred task
// work: Linux 6.1), transports do their I/O as requests on the poller's ring instead of
// waiting for readiness: a multishot recv per connection into one ring of provided buffers,
// one send in flight per connection, multishot accept on listeners. Their SQEs go to the
// kernel in the one io_uring_enter of the loop's next wait, and the wait hands their
// completions back to the loop, which calls dispatch() after the readiness callbacks.
// Only the loop's thread uses it (see poller/completion_ring.hpp). Internal: not installed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "poller/completion_ring.hpp"

struct io_uring_buf_ring;

namespace iomux {

// What a request reports to when it completes. A target must outlive its requests: it
// counts those in flight and ends only when the last has completed (a cancelled request
// completes too, with -ECANCELED). Targets are 8-byte aligned: the low bits of user_data
// carry op, the target's own numbering of its kinds of request.
class CompletionTarget {
public:
    virtual void complete(unsigned op, const Completion& c) noexcept = 0;

protected:
    ~CompletionTarget() = default;
};

class CompletionIo {
public:
    // Provided buffers, 1 MiB in all: the kernel takes them in ring order, so every page of
    // the ring is touched as it turns, and its size is resident memory. Where the kernel
    // consumes buffers incrementally (Linux 6.12), 32 of 32 KiB: a receive takes only the
    // bytes it needs, so small messages of thousands of connections share a buffer and a
    // bulk transfer fills 32 KiB per completion. Before, 512 of 2 KiB, one per receive. A
    // receive that finds the ring empty ends (-ENOBUFS) and is armed again, losing nothing:
    // the size bounds the bytes one wait receives before that costs a re-arm, not what the
    // loop can serve.
    static constexpr std::size_t kRingBytes = 1 << 20;
    static constexpr unsigned kMaxOp = 7;

    // Registers the buffer ring. std::system_error when the kernel refuses it.
    explicit CompletionIo(CompletionRing& ring);
    ~CompletionIo();
    CompletionIo(const CompletionIo&) = delete;
    CompletionIo& operator=(const CompletionIo&) = delete;

    // A free SQE whose completion goes to target.complete(op, ...); std::system_error when
    // the queue was full and submitting it failed.
    io_uring_sqe& sqe(CompletionTarget& target, unsigned op);
    // An SQE whose completion nobody hears of unless it fails (cancels).
    io_uring_sqe& quiet_sqe();
    // Submits what is queued now (see CompletionRing::submit).
    void submit() noexcept;

    // The buffer group of the provided buffers, for IOSQE_BUFFER_SELECT.
    static constexpr std::uint16_t kBufferGroup = 0;
    // The bytes of a completion that selected a buffer (IORING_CQE_F_BUFFER), valid until
    // release(c).
    std::string_view received(const Completion& c) const noexcept;
    // Done with them: a buffer the kernel has finished goes back to the ring.
    void release(const Completion& c) noexcept;
    // Buffers consumed incrementally (IOU_PBUF_RING_INC)?
    bool incremental() const noexcept { return incremental_; }
    // The size of one buffer: the most one completion carries.
    std::size_t buffer_size() const noexcept { return size_; }

    // Calls the targets of the completions the last wait gathered, in order.
    void dispatch();

    struct Stats {
        std::uint64_t completions = 0;     // dispatched
        std::uint64_t out_of_buffers = 0;  // receives that found the buffer ring empty (-ENOBUFS)
        std::uint64_t rearmed = 0;         // multishot receives armed again after they ended
    };
    Stats& stats() noexcept { return stats_; }

private:
    struct Mapping {
        void* addr = nullptr;
        std::size_t size = 0;
        ~Mapping();
    };
    CompletionRing& ring_;
    Mapping ring_memory_, buffer_memory_;
    void register_ring(bool incremental);
    void add(unsigned id) noexcept;

    io_uring_buf_ring* buffers_ = nullptr;
    char* base_ = nullptr;
    bool incremental_ = false;
    unsigned count_ = 0;              // buffers in the ring, a power of two
    std::size_t size_ = 0;            // bytes each
    std::vector<std::uint32_t> used_;  // by buffer id: bytes the kernel consumed (incremental)
    std::vector<Completion> running_;
    Stats stats_;
};

}  // namespace iomux
