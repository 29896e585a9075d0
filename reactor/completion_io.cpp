#include "reactor/completion_io.hpp"

#include <liburing.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace iomux {
namespace {

void* map(std::size_t size) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::system_error(errno, std::system_category(), "mmap (io_uring buffers)");
    return p;
}

// Linux 6.12's incremental consumption; liburing 2.3 predates it.
constexpr std::uint16_t kIncremental = 2;        // IOU_PBUF_RING_INC
constexpr std::uint32_t kBufferMore = 1u << 4;   // IORING_CQE_F_BUF_MORE: the kernel keeps filling it
constexpr unsigned kIncrementalBuffers = 32;
constexpr unsigned kWholeBuffers = 512;

}  // namespace

CompletionIo::Mapping::~Mapping() {
    if (addr != nullptr) ::munmap(addr, size);
}

CompletionIo::CompletionIo(CompletionRing& ring) : ring_(ring) {
    ring_memory_.size = std::max(kIncrementalBuffers, kWholeBuffers) * sizeof(io_uring_buf);
    ring_memory_.addr = map(ring_memory_.size);
    buffer_memory_.size = kRingBytes;
    buffer_memory_.addr = map(buffer_memory_.size);
    buffers_ = static_cast<io_uring_buf_ring*>(ring_memory_.addr);
    base_ = static_cast<char*>(buffer_memory_.addr);
    try {
        register_ring(true);
    } catch (const std::system_error& e) {
        if (e.code().value() != EINVAL) throw;
        register_ring(false);  // before 6.12
    }
}

void CompletionIo::register_ring(bool incremental) {
    incremental_ = incremental;
    count_ = incremental ? kIncrementalBuffers : kWholeBuffers;
    size_ = kRingBytes / count_;
    used_.assign(count_, 0);
    io_uring_buf_ring_init(buffers_);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(buffers_);
    reg.ring_entries = count_;
    reg.bgid = kBufferGroup;
    reg.pad = incremental ? kIncremental : 0;  // the kernel's `flags`
    if (const int r = io_uring_register_buf_ring(&ring_.ring(), &reg, 0); r != 0)
        throw std::system_error(-r, std::system_category(), "io_uring_register_buf_ring");
    for (unsigned id = 0; id < count_; ++id) add(id);
}

void CompletionIo::add(unsigned id) noexcept {
    used_[id] = 0;
    io_uring_buf_ring_add(buffers_, base_ + id * size_, static_cast<unsigned>(size_), static_cast<unsigned short>(id),
                          io_uring_buf_ring_mask(count_), 0);
    io_uring_buf_ring_advance(buffers_, 1);
}

CompletionIo::~CompletionIo() {
    // The transports, gone first, cancelled their receives; the kernel pinned the ring's
    // pages at registration, so unmapping after this is safe even for a straggler.
    io_uring_unregister_buf_ring(&ring_.ring(), kBufferGroup);
}

io_uring_sqe& CompletionIo::sqe(CompletionTarget& target, unsigned op) {
    io_uring_sqe& s = ring_.sqe();
    io_uring_sqe_set_data64(&s, CompletionRing::kTag | reinterpret_cast<std::uintptr_t>(&target) | op);
    return s;
}

io_uring_sqe& CompletionIo::quiet_sqe() {
    io_uring_sqe& s = ring_.sqe();
    io_uring_sqe_set_data64(&s, CompletionRing::kTag);
    s.flags |= IOSQE_CQE_SKIP_SUCCESS;
    return s;
}

void CompletionIo::submit() noexcept { ring_.submit(); }

std::string_view CompletionIo::received(const Completion& c) const noexcept {
    const unsigned id = c.flags >> IORING_CQE_BUFFER_SHIFT;
    return {base_ + id * size_ + used_[id], static_cast<std::size_t>(std::max(c.res, 0))};
}

void CompletionIo::release(const Completion& c) noexcept {
    const unsigned id = c.flags >> IORING_CQE_BUFFER_SHIFT;
    if (incremental_ && (c.flags & kBufferMore)) {
        used_[id] += static_cast<std::uint32_t>(std::max(c.res, 0));  // the kernel goes on from there
        return;
    }
    add(id);
}

void CompletionIo::dispatch() {
    std::vector<Completion>& done = ring_.completions();
    if (done.empty()) return;
    running_.swap(done);
    stats_.completions += running_.size();
    for (const Completion& c : running_) {
        const std::uint64_t bits = c.user_data & ~CompletionRing::kTag;
        auto* target = reinterpret_cast<CompletionTarget*>(bits & ~std::uint64_t{kMaxOp});
        if (target != nullptr) target->complete(static_cast<unsigned>(bits & kMaxOp), c);
    }
    running_.clear();
}

}  // namespace iomux
