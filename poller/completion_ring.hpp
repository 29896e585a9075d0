// CompletionRing: completion I/O on the ring an io_uring Poller waits on.
//
// The io_uring backend waits on a ring of its own. Code that does its I/O as io_uring
// requests (reactor/'s transports: recv, send, accept) puts them on that same ring, so the
// one io_uring_enter of each wait submits them and reaps their completions together with
// the readiness events. Poller::completion_ring() gives access: nullptr on the other
// backends, and on kernels before 6.1, where the ring cannot defer its work to our waits
// (DEFER_TASKRUN) and multishot recv is missing.
//
// Who may submit: the thread that waits, and only between waits (the ring is
// SINGLE_ISSUER; the first thread that waits claims it). Requests made before the first
// wait are queued and go with it. The ring's SQEs are shared with the poller's own
// requests: take them from sqe(), never io_uring_get_sqe(), so a full queue is submitted
// rather than lost. Set user_data with kTag: the poller keeps the completions that carry
// it, in the order the kernel posted them, in completions() for the caller, and a wait
// returns (with no readiness events if need be) as soon as one is there. The caller takes
// them after wait() and clears the vector; the poller only appends.
#pragma once

#include <cstdint>
#include <vector>

struct io_uring;
struct io_uring_sqe;

namespace iomux {

struct Completion {
    std::uint64_t user_data;  // as submitted, kTag included
    std::int32_t res;
    std::uint32_t flags;      // IORING_CQE_F_MORE, the buffer id of a provided buffer...
};

class CompletionRing {
public:
    static constexpr std::uint64_t kTag = std::uint64_t{1} << 63;

    virtual io_uring& ring() noexcept = 0;
    // A free SQE, the queue submitted first when it is full. std::system_error when that
    // submission fails.
    virtual io_uring_sqe& sqe() = 0;
    // Submits what is queued now, without waiting: for a cancel that must be done before
    // the caller goes on (before a close(), say).
    virtual void submit() noexcept = 0;
    std::vector<Completion>& completions() noexcept { return completions_; }

protected:
    CompletionRing() = default;
    ~CompletionRing() = default;
    std::vector<Completion> completions_;
};

}  // namespace iomux
