// io_uring(7) readiness: one multishot IORING_OP_POLL_ADD per registered fd. Adds and
// modifies are queued and go to the kernel in the one io_uring_enter of the next wait, with
// the wait; remove() submits at once, since the poll request keeps the file open.
//
// Multishot poll posts a CQE when the fd is woken (an edge), with the mask of that wake-up.
// Level-triggered semantics, as epoll gives them, are rebuilt on top:
//  - every fd reported by a wait is re-checked by the next one, all of them in one poll(2)
//    with a zero timeout (epoll re-checks its ready list the same way); one still ready is
//    reported again and the wait does not block. The multishot polls stay armed meanwhile,
//    so a wake-up after the re-check still ends the wait. (A poll update per fd re-checks
//    too, but each looks its request up in a kernel table of 256 buckets: at 11000 fds that
//    halved the echo server's throughput.)
//  - CQEs that arrived between two waits are re-checked the same way instead of reported,
//    since the caller may have drained the fd after its wake-up; a wait reports only what
//    was ready at its own submission or became ready during it, as epoll does;
//  - a CQE without IORING_CQE_F_MORE ended the multishot poll: the fd is armed again.
// Each registration tags its CQEs with a fresh generation, so CQEs of a poll that was
// removed, modified or re-added are recognised as stale and dropped.
//
// Where wake-ups are processed decides the speed. A socket's wake-up does not post the CQE
// itself: it queues task work on our thread, which polls the file again and posts it. By
// default the kernel interrupts our thread for that (an IPI when it is running), thousands
// of times a second under load: the 11000-connection echo then served half of epoll's
// messages at twice its CPU per message. So the ring is set up, by what the kernel allows:
//  - DEFER_TASKRUN (Linux 6.1, with SINGLE_ISSUER): wake-ups wait, without interrupting
//    us, until our io_uring_enter asks for events, and run there in batches: at parity
//    with epoll on that echo (0.99-1.03 of its messages/s, 0.98-1.04 of its CPU per
//    message). The price: the ring serves one thread. It starts disabled (R_DISABLED) and
//    the first thread that waits claims it, because a Reactor may be built on one thread
//    and run on another; a wait from any other thread then fails with EEXIST. Destroyed
//    on another thread, the Poller cannot cancel its polls, and the files they hold close
//    when the kernel tears the ring down, a few ms later: remove() fds on the thread that
//    waits. Since deferred wake-ups are only CQEs once asked for, every io_uring_enter
//    asks for all of them (flush()), or a drained fd's old wake-up would be reported or a
//    cancelled poll would keep its file;
//  - else COOP_TASKRUN (5.19): run at our next syscall's return, no interrupt, any thread
//    (0.87-1.05 of epoll);
//  - else the default (5.18).
// The ring also carries completion I/O (completion_ring.hpp): requests whose user_data has
// CompletionRing::kTag are not polls; their CQEs are kept for the caller, and our tags keep
// that bit clear. Offered only with DEFER_TASKRUN (6.1), the kernels that have multishot recv.
// Not used: a registered ring fd (io_uring_register_ring_fd). It saves one fd lookup per
// io_uring_enter, and that echo makes about 2,400 of them a second beside 80,000 recv(2):
// nothing to measure, for one more tie to a thread.
#include <liburing.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "poller/backends.hpp"
#include "poller/completion_ring.hpp"

namespace iomux {
namespace {

// The CQ holds one CQE per ready fd for the 11000-connection case with room to spare; when
// more pile up the kernel keeps them (IORING_FEAT_NODROP) or ends a multishot poll, which is
// then re-armed. The SQ is submitted whenever it fills, so its size only sets the batch.
constexpr unsigned kSqEntries = 1024;
constexpr unsigned kCqEntries = 16384;
// The most deferred wake-ups Linux (6.13 on) runs in an io_uring_enter that waits for one
// CQE; the rest stay queued (IO_LOCAL_TW_DEFAULT_MAX).
constexpr unsigned kTaskRunBatch = 20;
// user_data of cancels and updates: their CQEs (errors only, see quiet()) carry nothing.
constexpr std::uint64_t kControl = 0;

// gen < 2^31: the top bit is CompletionRing::kTag.
std::uint64_t tag(int fd, std::uint32_t gen) { return std::uint64_t{gen} << 32 | static_cast<std::uint32_t>(fd); }

unsigned to_poll(std::uint32_t events) {
    return (events & EVENT_READ ? POLLIN : 0u) | (events & EVENT_WRITE ? POLLOUT : 0u);
}

// Why the kernel refused a ring, in words an operator can act on.
std::string refusal(int err) {
    if (err == ENOSYS) return "io_uring_setup: this kernel has no io_uring (or a seccomp filter hides it)";
    if (err == EPERM || err == EACCES) {
        int disabled = -1;
        if (std::FILE* f = std::fopen("/proc/sys/kernel/io_uring_disabled", "re")) {
            if (std::fscanf(f, "%d", &disabled) != 1) disabled = -1;
            std::fclose(f);
        }
        return fmt::format("io_uring_setup: refused by sysctl kernel.io_uring_disabled (= {}; 0 allows it), "
                           "kernel.io_uring_group, or a seccomp filter", disabled);
    }
    if (err == EINVAL) return "io_uring_setup: kernel too old (the io_uring backend needs Linux 5.18)";
    if (err == ENOMEM) return "io_uring_setup: out of memory for the rings (RLIMIT_MEMLOCK on kernels before 5.12)";
    return "io_uring_setup";
}

// Where the kernel runs a poll's wake-up (its task work), best first; the first mode the
// kernel accepts is used (see the header comment).
constexpr unsigned kTaskRunModes[] = {
    // Linux 6.1: only inside our io_uring_enter(GETEVENTS), in batches. The ring is bound to
    // one thread, so it starts disabled and the first thread that waits claims it.
    IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_R_DISABLED | IORING_SETUP_TASKRUN_FLAG,
    // Linux 5.19: at our next syscall's return, without an interrupt.
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
    // Linux 5.18: at once, interrupting us (an IPI when we are running).
    0,
};

// Owns the ring; liburing's io_uring_queue_exit unmaps it and closes its fd.
class Ring {
public:
    Ring() {
        unsigned features = 0;
        for (const unsigned mode : kTaskRunModes) {
            io_uring_params p{};
            p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | mode;  // SUBMIT_ALL: one bad fd must not stop a batch
            p.cq_entries = kCqEntries;
            const int r = io_uring_queue_init_params(kSqEntries, &ring_, &p);
            if (r == 0) {
                features = p.features;
                disabled_ = mode & IORING_SETUP_R_DISABLED;
                break;
            }
            if (r != -EINVAL || mode == 0) throw std::system_error(-r, std::generic_category(), refusal(-r));
        }
        constexpr unsigned kNeeded = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG | IORING_FEAT_CQE_SKIP;
        if ((features & kNeeded) != kNeeded) {
            io_uring_queue_exit(&ring_);
            throw std::system_error(ENOSYS, std::generic_category(), refusal(EINVAL));
        }
    }
    ~Ring() { io_uring_queue_exit(&ring_); }
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;

    io_uring* get() noexcept { return &ring_; }

    // True when wake-ups wait for our io_uring_enter(GETEVENTS) (DEFER_TASKRUN).
    bool deferred() const noexcept { return ring_.flags & IORING_SETUP_DEFER_TASKRUN; }

    // Makes the calling thread the ring's one submitter at the first wait, since a Poller
    // may be built on one thread and run on another (changes before it only queue); at
    // later waits, checks that it is that thread. (The kernel would refuse another thread's
    // io_uring_enter with EEXIST too, but only a wait that happens to enter.)
    void claim() {
        if (!deferred()) return;
        const std::thread::id self = std::this_thread::get_id();
        if (disabled_) {
            // liburing 2.3 declares io_uring_enable_rings but does not export it.
            if (::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) < 0)
                throw std::system_error(errno, std::generic_category(), "io_uring_register(ENABLE_RINGS)");
            disabled_ = false;
            owner_ = self;
        } else if (self != owner_) {
            throw std::system_error(EEXIST, std::generic_category(),
                                    "io_uring wait: the ring serves only the thread that first waited on it");
        }
    }

    // Wake-ups the kernel holds as task work, not yet CQEs (IORING_SETUP_TASKRUN_FLAG).
    bool work_pending() const noexcept { return IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_TASKRUN; }

    // Sends the queued SQEs and, without waiting, turns every wake-up the kernel holds into a
    // CQE; a cancelled poll has let go of its file when it returns. Every io_uring_enter goes
    // through here or wait(), so work_pending() stays true to its word: a partial run of
    // deferred work would clear the flag and leave the rest hidden.
    int flush() noexcept {
        if (!deferred()) return io_uring_submit(&ring_);  // enters when SQEs or wake-ups wait
        if (io_uring_sq_ready(&ring_) == 0 && !work_pending() && !io_uring_cq_has_overflow(&ring_)) return 0;
        // The kernel runs at most max(kTaskRunBatch, min_complete) deferred wake-ups per
        // io_uring_enter: ask for as many CQEs as the ring holds, with a zero timeout.
        __kernel_timespec zero{};
        io_uring_cqe* cqe = nullptr;
        return io_uring_submit_and_wait_timeout(&ring_, &cqe, kCqEntries, &zero, nullptr);
    }

    // Sends the queued SQEs and waits for a CQE, at most ms (< 0: no limit; 0: no wait).
    int wait(int ms) noexcept {
        if (ms == 0) return flush();
        __kernel_timespec ts{.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1'000'000L};
        io_uring_cqe* cqe = nullptr;
        const int r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, ms < 0 ? nullptr : &ts, nullptr);
        // A full batch: the wait may have left wake-ups behind, and cleared the flag that
        // would tell of them.
        if (deferred() && io_uring_cq_ready(&ring_) >= kTaskRunBatch) flush();
        return r;
    }

    // The next free SQE, submitting the queue when it is full; nullptr (errno set) when the
    // submission fails.
    io_uring_sqe* next_sqe() noexcept {
        if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
        if (const int r = flush(); r < 0 && r != -ETIME) {
            errno = -r;
            return nullptr;
        }
        return io_uring_get_sqe(&ring_);
    }

private:
    io_uring ring_{};
    bool disabled_ = false;  // IORING_SETUP_R_DISABLED, until claim()
    std::thread::id owner_;  // the thread that claimed it
};

class IoUringPoller final : public Poller, public CompletionRing {
public:
    ~IoUringPoller() override {
        // A closed ring is torn down later, by a kernel worker, and until then its polls keep
        // their files open: cancel them now, so that a close() after the poller is gone really
        // closes. One cancel each: IORING_ASYNC_CANCEL_ANY rescans the whole table per request.
        // (Nothing can do this for a killed process, nor on a thread other than the one that
        // waited, when the ring has DEFER_TASKRUN: those sockets close a few ms later.)
        for (std::size_t fd = 0; fd < watches_.size(); ++fd)
            if (watches_[fd].live)
                if (io_uring_sqe* sqe = ring_.next_sqe()) prep_cancel(sqe, tag(static_cast<int>(fd), watches_[fd].gen));
        ring_.flush();
    }

    std::string_view name() const noexcept override { return "io_uring"; }

    CompletionRing* completion_ring() noexcept override { return ring_.deferred() ? this : nullptr; }
    io_uring& ring() noexcept override { return *ring_.get(); }
    io_uring_sqe& sqe() override { return *sqe_or_throw(); }
    void submit() noexcept override { ring_.flush(); }

    void remove(int fd) noexcept override {
        if (!registered(fd)) return;
        Watch& w = watches_[fd];
        w.interest = 0;
        // The poll request holds a reference to the open file: until it is cancelled, a close()
        // does not close the socket. Cancel now; the request completes in task work that
        // flush() runs before it returns, so the caller's close() right after is the last one.
        // A modify() since the last wait already queued a cancel of the old request: submit
        // it too. If the submission fails, the cancel waits in the SQ for the next one.
        if (w.live) {
            w.live = false;
            if (io_uring_sqe* sqe = ring_.next_sqe()) prep_cancel(sqe, tag(fd, w.gen));
        }
        if (io_uring_sq_ready(ring_.get()) > 0) ring_.flush();
    }

protected:
    void do_add(int fd, std::uint32_t events) override {
        if (registered(fd)) throw std::system_error(EEXIST, std::generic_category(), fmt::format("io_uring add fd {}", fd));
        if (static_cast<std::size_t>(fd) >= watches_.size()) watches_.resize(static_cast<std::size_t>(fd) + 1);
        watch(fd, events);
    }

    void do_modify(int fd, std::uint32_t events) override {
        if (!registered(fd)) throw std::system_error(ENOENT, std::generic_category(), fmt::format("io_uring modify fd {}", fd));
        // Cancel and add rather than a poll update: it also serves rearm(), since a new poll
        // looks the number up again and so watches the file it names now.
        if (watches_[fd].live) prep_cancel(sqe_or_throw(), tag(fd, watches_[fd].gen));
        watch(fd, events);
    }

    int wait_once(std::span<PollEvent> out, Timeout timeout) override {
        ring_.claim();
        // Wake-ups since the last wait are re-checked below, not reported; deferred ones must
        // become CQEs first, or this wait would take them for its own.
        if (ring_.work_pending()) ring_.flush();
        reap(false);
        submit_queued();
        recheck();
        // Something still ready, or completions to hand over: send the queued changes and
        // gather their CQEs, no waiting.
        const int ms = hits_.empty() && completions_.empty() ? timeout_ms(timeout) : 0;
        const int r = ring_.wait(ms);
        reap(true);
        const std::size_t n = report(out);
        if (n > 0 || r == -ETIME || ms == 0 || !completions_.empty()) return static_cast<int>(n);
        // Woken by an error, a signal, or CQEs with nothing to report (stale, or a poll that
        // ended and is re-armed next time): poller.cpp retries EINTR with the time that is left.
        errno = r < 0 ? -r : EINTR;
        return -1;
    }

private:
    struct Watch {
        std::uint32_t interest = 0;   // 0: not registered
        std::uint32_t gen = 0;        // tags the CQEs of this registration's poll request
        bool live = false;            // that request is in the kernel (submitted, not ended)
        bool queued = false;          // in queued_: to arm or re-check at the next wait
        std::uint32_t ready = 0;      // events gathered by the current wait
        std::uint64_t reported = 0;   // the wait that last reported it, for fair rotation
    };

    bool registered(int fd) const noexcept {
        return fd >= 0 && static_cast<std::size_t>(fd) < watches_.size() && watches_[fd].interest != 0;
    }

    void watch(int fd, std::uint32_t events) {
        Watch& w = watches_[fd];
        w.interest = events;
        gen_ = (gen_ + 1) & 0x7fff'ffff;
        if (gen_ == 0) gen_ = 1;  // 0 would make fd 0's tag kControl
        w.gen = gen_;
        w.live = false;
        queue(fd);
    }

    void queue(int fd) {
        if (!watches_[fd].queued) {
            watches_[fd].queued = true;
            queued_.push_back(fd);
        }
    }

    void prep_cancel(io_uring_sqe* sqe, std::uint64_t target) {
        // ASYNC_CANCEL rather than POLL_REMOVE: poll-remove gives up (EALREADY) when a wake-up
        // of the request is being processed, and the request would live on.
        io_uring_prep_cancel64(sqe, target, 0);
        quiet(sqe);
    }

    static void quiet(io_uring_sqe* sqe) {
        io_uring_sqe_set_data64(sqe, kControl);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    }

    io_uring_sqe* sqe_or_throw() {
        io_uring_sqe* sqe = ring_.next_sqe();
        if (sqe == nullptr) throw std::system_error(errno, std::generic_category(), "io_uring_submit");
        return sqe;
    }

    // Arms fds that have no live poll (a new poll checks readiness at once); lists the
    // others for recheck().
    void submit_queued() {
        rechecks_.clear();
        for (const int fd : queued_) {
            Watch& w = watches_[fd];
            w.queued = false;
            if (w.interest == 0) continue;
            if (w.live) {
                rechecks_.push_back({fd, static_cast<short>(to_poll(w.interest)), 0});
                continue;
            }
            io_uring_sqe* sqe = sqe_or_throw();
            io_uring_prep_poll_multishot(sqe, fd, to_poll(w.interest));
            io_uring_sqe_set_data64(sqe, tag(fd, w.gen));
            w.live = true;
        }
        queued_.clear();
    }

    // The level re-check: which listed fds are still ready, now.
    void recheck() {
        if (rechecks_.empty()) return;
        while (::poll(rechecks_.data(), rechecks_.size(), 0) < 0) {
            if (errno == EINTR) continue;  // a zero timeout: just ask again
            throw std::system_error(errno, std::generic_category(), "poll (io_uring level re-check)");
        }
        for (const pollfd& p : rechecks_)
            if (p.revents != 0) gather(p.fd, p.revents, watches_[p.fd].interest);
    }

    void gather(int fd, unsigned revents, std::uint32_t interest) {
        const std::uint32_t events =
            ready_events(revents & POLLIN, revents & POLLOUT, revents & ~(POLLIN | POLLOUT | POLLRDHUP), interest);
        if (events == 0) return;
        Watch& w = watches_[fd];
        if (w.ready == 0) hits_.push_back(fd);
        w.ready |= events;
    }

    // Reads every CQE. With `current`, they describe readiness at this wait and are gathered
    // for report(); otherwise their fds are queued for a re-check.
    void reap(bool current) {
        for (;;) {
            unsigned head = 0, seen = 0;
            io_uring_cqe* cqe = nullptr;
            io_uring_for_each_cqe(ring_.get(), head, cqe) {
                take(*cqe, current);
                ++seen;
            }
            io_uring_cq_advance(ring_.get(), seen);
            if (!io_uring_cq_has_overflow(ring_.get())) return;
            ring_.flush();  // moves the kernel's overflow list into the CQ
        }
    }

    void take(const io_uring_cqe& cqe, bool current) {
        if (cqe.user_data == kControl) return;
        if (cqe.user_data & kTag) {
            completions_.push_back({cqe.user_data, cqe.res, cqe.flags});
            return;
        }
        const auto fd = static_cast<int>(static_cast<std::uint32_t>(cqe.user_data));
        if (!registered(fd)) return;
        Watch& w = watches_[fd];
        if (w.gen != cqe.user_data >> 32) return;  // a poll removed or replaced since
        if (!(cqe.flags & IORING_CQE_F_MORE)) w.live = false;
        // A negative res is the poll's error: EBADF for a closed fd is reported as readiness,
        // as poll(2) reports POLLNVAL; ECANCELED (the kernel ended the poll) is not.
        const int res = cqe.res;
        if (res == -ECANCELED) {
            if (!w.live) queue(fd);
            return;
        }
        if (current)
            gather(fd, res < 0 ? POLLERR : static_cast<unsigned>(res), w.interest);
        if (!current || !w.live) queue(fd);
    }

    // Writes the gathered events; when they do not fit, those reported longest ago go first so
    // that none starves. Every fd gathered is re-checked at the next wait: reported ones for
    // level-triggered semantics, the others to be reported then.
    std::size_t report(std::span<PollEvent> out) {
        const std::size_t n = std::min(out.size(), hits_.size());
        if (hits_.size() > n)
            std::nth_element(hits_.begin(), hits_.begin() + static_cast<std::ptrdiff_t>(n), hits_.end(),
                             [&](int a, int b) { return watches_[a].reported < watches_[b].reported; });
        ++waits_;
        for (std::size_t i = 0; i < hits_.size(); ++i) {
            Watch& w = watches_[hits_[i]];
            if (i < n) {
                out[i] = {hits_[i], w.ready};
                w.reported = waits_;
            }
            w.ready = 0;
            queue(hits_[i]);
        }
        hits_.clear();
        return n;
    }

    Ring ring_;
    std::vector<Watch> watches_;  // indexed by fd
    std::vector<int> queued_;     // fds to arm or re-check at the next wait
    std::vector<pollfd> rechecks_;  // the live ones of them, for poll(2)
    std::vector<int> hits_;       // fds with events in the current wait
    std::uint32_t gen_ = 0;
    std::uint64_t waits_ = 0;
};

}  // namespace

std::unique_ptr<Poller> make_io_uring_poller() {
    return std::make_unique<IoUringPoller>();
}

}  // namespace iomux
