// bare_uring_echo: the second limit row of the echo workload, what io_uring's completion
// path allows with nothing on top. Multishot accept, a multishot recv per connection into
// one shared provided-buffer ring, and each reply sent straight from the buffer the kernel
// filled: the buffer goes back to the ring when its send completes. Everything goes to the
// kernel in one io_uring_enter per loop iteration. It speaks the protocol of
// examples/echo_server (--port, the "listening on" line, exit 0 on SIGTERM), like
// bare_epoll_echo, and needs Linux 6.0 (multishot recv).
//
//   bare_uring_echo --port 0        (BARE_URING_STATS=1: enters and messages on stderr at exit)
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "echo_server_common.hpp"
#include "poller/unique_fd.hpp"

namespace {

using iomux::UniqueFd;

[[noreturn]] void fail(int err, const char* what) { throw std::system_error(err, std::generic_category(), what); }

// 4096 buffers of 2 KiB (8 MiB). A buffer is held from its recv's CQE until its send's CQE
// is seen, the next iteration at the earliest. With 11000 connections in a closed loop
// nearly every connection can have a request waiting at once, so a pool that never runs dry
// needs a buffer per connection (16384 x 1 KiB: 21 MiB RSS against 13); this one serves up
// to 4096 messages an iteration, plenty to amortise an enter, and when it runs dry the
// recvs that got -ENOBUFS wait in line for returned buffers (0-32 % of a run's receives;
// the two pools tied on messages/s, two runs each on a busy machine). 2 KiB holds the
// benchmark's 64 bytes with room to spare and a bulk transfer in few CQEs; the pool's
// pages all get touched as it cycles.
constexpr unsigned kBuffers = 4096, kBufferSize = 2048, kGroup = 0;
constexpr unsigned kSqEntries = 4096, kCqEntries = 32768;
// A connection whose peer does not read holds the buffers of its queued replies: past this
// many its recv is cancelled until the queue drains, so one client cannot empty the pool
// (256 such clients still could: a real server would copy stuck replies out of the ring).
constexpr std::size_t kMaxQueued = 16;

enum Op : std::uint64_t { kIgnore, kAccept, kRecv, kSend, kSignal };
std::uint64_t tag(Op op, int fd) { return std::uint64_t{op} << 32 | static_cast<std::uint32_t>(fd); }

class Ring {
public:
    Ring() {
        // DEFER_TASKRUN (6.1) runs completions only inside our own enter, in batches, with no
        // interrupt; COOP_TASKRUN (5.19) at least avoids the interrupt.
        for (const unsigned mode : {IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER, IORING_SETUP_COOP_TASKRUN, 0u}) {
            io_uring_params p{};
            p.flags = mode | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
            p.cq_entries = kCqEntries;
            const int r = io_uring_queue_init_params(kSqEntries, &ring_, &p);
            if (r == 0) return;
            if (r != -EINVAL || mode == 0) fail(-r, "io_uring_queue_init");
        }
    }
    ~Ring() { io_uring_queue_exit(&ring_); }
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;
    io_uring* get() { return &ring_; }
    std::uint64_t early_enters = 0;
    // A full SQ is submitted early: one more enter, never a lost request.
    io_uring_sqe* sqe(std::uint64_t user_data) {
        io_uring_sqe* s = io_uring_get_sqe(&ring_);
        if (!s) {
            if (const int r = io_uring_submit(&ring_); r < 0) fail(-r, "io_uring_submit");
            ++early_enters;
            s = io_uring_get_sqe(&ring_);
        }
        io_uring_sqe_set_data64(s, user_data);
        return s;
    }

private:
    io_uring ring_{};
};

class Mapping {
public:
    explicit Mapping(std::size_t size) : size_(size), p_(::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) {
        if (p_ == MAP_FAILED) fail(errno, "mmap");
    }
    ~Mapping() { ::munmap(p_, size_); }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    char* get() const { return static_cast<char*>(p_); }

private:
    std::size_t size_;
    void* p_;
};

// The provided-buffer ring (liburing 2.3 has no io_uring_setup_buf_ring). Declared after the
// Ring it registers with, so it is unregistered while the ring still exists. Unmapping the
// buffers then is safe: recvs pick and fill them in task work on this thread, never while
// it runs a destructor, and none can pick one once the group is gone.
class BufferRing {
public:
    explicit BufferRing(Ring& ring) : ring_(ring), entries_(kBuffers * sizeof(io_uring_buf)), data_(std::size_t{kBuffers} * kBufferSize) {
        br_ = reinterpret_cast<io_uring_buf_ring*>(entries_.get());
        io_uring_buf_ring_init(br_);
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<std::uintptr_t>(br_);
        reg.ring_entries = kBuffers;
        reg.bgid = kGroup;
        if (const int r = io_uring_register_buf_ring(ring_.get(), &reg, 0); r < 0) fail(-r, "io_uring_register_buf_ring");
        for (unsigned bid = 0; bid < kBuffers; ++bid) give_back(static_cast<std::uint16_t>(bid));
        publish();
    }
    ~BufferRing() { io_uring_unregister_buf_ring(ring_.get(), kGroup); }
    BufferRing(const BufferRing&) = delete;
    BufferRing& operator=(const BufferRing&) = delete;
    char* data(std::uint16_t bid) const { return data_.get() + std::size_t{bid} * kBufferSize; }
    void give_back(std::uint16_t bid) {
        io_uring_buf_ring_add(br_, data(bid), kBufferSize, bid, io_uring_buf_ring_mask(kBuffers), pending_++);
    }
    // One store-release per iteration makes every returned buffer visible to the kernel;
    // returns how many that was.
    int publish() {
        io_uring_buf_ring_advance(br_, pending_);
        return std::exchange(pending_, 0);
    }

private:
    Ring& ring_;
    Mapping entries_, data_;
    io_uring_buf_ring* br_;
    int pending_ = 0;
};

struct Chunk {
    std::uint16_t bid;
    std::uint32_t offset, len;
};

// The front chunk is the one send in flight; the rest wait behind it, so bytes leave in
// the order they came. The socket itself is closed only when no request of ours can still
// name it, so a reused fd number never receives a stale CQE.
struct Conn {
    std::vector<Chunk> queue;
    bool recv_armed = false, cancelling = false, sending = false, done = false, starved = false;
};

class Server {
public:
    Server(UniqueFd listener, UniqueFd signals) : listener_(std::move(listener)), signals_(std::move(signals)), buffers_(ring_) {
        arm_accept();
        io_uring_prep_read(ring_.sqe(tag(kSignal, 0)), signals_.get(), &siginfo_, sizeof siginfo_, 0);
    }

    void run() {
        bool busy = false;
        while (!stopping_) {
            rearm_starved(buffers_.publish());
            __kernel_timespec zero{};
            io_uring_cqe* cqe = nullptr;
            // After a busy iteration: don't block, but ask for every completion there is; a
            // wait for one runs at most 20 deferred completions per enter (Linux 6.13 on).
            const int r = busy ? io_uring_submit_and_wait_timeout(ring_.get(), &cqe, kCqEntries, &zero, nullptr)
                               : io_uring_submit_and_wait(ring_.get(), 1);
            if (r < 0 && r != -ETIME && r != -EINTR) fail(-r, "io_uring_enter");
            ++enters_;
            unsigned head = 0, seen = 0;
            io_uring_for_each_cqe(ring_.get(), head, cqe) {
                on_cqe(*cqe);
                ++seen;
            }
            io_uring_cq_advance(ring_.get(), seen);
            busy = seen > 0;
        }
        if (std::getenv("BARE_URING_STATS"))
            fmt::print(stderr, "bare_uring_echo: {} enters, {} messages received, {} recvs that found the buffer ring empty\n",
                       enters_ + ring_.early_enters, messages_, nobufs_);
    }

private:
    void arm_accept() { io_uring_prep_multishot_accept(ring_.sqe(tag(kAccept, 0)), listener_.get(), nullptr, nullptr, SOCK_CLOEXEC); }

    void arm_recv(int fd, Conn& c) {
        io_uring_sqe* s = ring_.sqe(tag(kRecv, fd));
        io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
        s->flags |= IOSQE_BUFFER_SELECT;
        s->buf_group = kGroup;
        c.recv_armed = true;
        c.cancelling = false;
    }

    void send_front(int fd, Conn& c) {
        const Chunk& k = c.queue.front();
        io_uring_prep_send(ring_.sqe(tag(kSend, fd)), fd, buffers_.data(k.bid) + k.offset, k.len, MSG_NOSIGNAL);
        c.sending = true;
    }

    void on_cqe(const io_uring_cqe& cqe) {
        const auto op = static_cast<Op>(cqe.user_data >> 32);
        const int fd = static_cast<int>(cqe.user_data & 0xffffffff);
        const bool more = cqe.flags & IORING_CQE_F_MORE;
        if (op == kSignal) stopping_ = true;
        if (op == kAccept) {
            if (cqe.res >= 0) {
                if (static_cast<std::size_t>(cqe.res) >= conns_.size()) conns_.resize(static_cast<std::size_t>(cqe.res) + 1024);
                arm_recv(cqe.res, conns_[static_cast<std::size_t>(cqe.res)] = Conn{});
            }
            if (!more) arm_accept();  // ended by an error (EMFILE...) or a full CQ: accept again
        }
        if (op != kRecv && op != kSend) return;
        Conn& c = conns_[static_cast<std::size_t>(fd)];
        if (op == kRecv) {
            if (cqe.flags & IORING_CQE_F_BUFFER) {
                const auto bid = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
                if (cqe.res <= 0 || c.done) {
                    buffers_.give_back(bid);
                } else {
                    ++messages_;
                    c.queue.push_back({bid, 0, static_cast<std::uint32_t>(cqe.res)});
                    if (!c.sending) send_front(fd, c);
                }
            }
            if (cqe.res == -ENOBUFS) starve(fd, c);
            else if (cqe.res <= 0 && cqe.res != -ECANCELED) c.done = true;  // EOF or error: read no more
            if (!more) c.recv_armed = false;
        } else {
            c.sending = false;
            Chunk& k = c.queue.front();
            if (cqe.res < 0) {  // the peer is gone: drop what is queued
                for (const Chunk& q : c.queue) buffers_.give_back(q.bid);
                c.queue.clear();
                c.done = true;
            } else if (static_cast<std::uint32_t>(cqe.res) < k.len) {
                k.offset += static_cast<std::uint32_t>(cqe.res);  // short send: the rest goes first
                k.len -= static_cast<std::uint32_t>(cqe.res);
            } else {
                buffers_.give_back(k.bid);
                c.queue.erase(c.queue.begin());
            }
            if (!c.queue.empty()) send_front(fd, c);
        }
        settle(fd, c);
    }

    // The ring ran dry. Re-arming at once would only fail again until sends give buffers
    // back (with 11000 connections in a closed loop, thousands of times per iteration): wait
    // in line for a returned buffer instead.
    void starve(int fd, Conn& c) {
        ++nobufs_;
        c.starved = true;
        starved_.push_back(fd);
    }

    // One starved connection re-armed per buffer returned, longest waiting first. An entry of
    // a connection closed since (starved is false then, also if its fd was reused) is skipped.
    void rearm_starved(int returned) {
        while (returned > 0 && !starved_.empty()) {
            const int fd = starved_.front();
            starved_.pop_front();
            Conn& c = conns_[static_cast<std::size_t>(fd)];
            if (!c.starved) continue;
            c.starved = false;
            settle(fd, c);
            --returned;
        }
    }

    // What a connection needs next: reading again, reading paused, or closing once idle.
    void settle(int fd, Conn& c) {
        const bool stop_reading = c.done || c.starved || c.queue.size() >= kMaxQueued;
        if (c.recv_armed && stop_reading && !c.cancelling) {
            io_uring_prep_cancel64(ring_.sqe(tag(kIgnore, fd)), tag(kRecv, fd), 0);
            c.cancelling = true;
        } else if (!c.recv_armed && !stop_reading) {
            arm_recv(fd, c);  // ended by a full CQ, its turn after -ENOBUFS, or a pause is over
        } else if (c.done && !c.recv_armed && !c.sending) {
            // An EOF after a half-close lands here once the last reply is out.
            io_uring_sqe* s = ring_.sqe(tag(kIgnore, fd));
            io_uring_prep_close(s, fd);
            s->flags |= IOSQE_CQE_SKIP_SUCCESS;
            c = Conn{};
        }
    }

    Ring ring_;  // first: destroyed last, after every request's fd and buffer owner
    UniqueFd listener_, signals_;
    BufferRing buffers_;
    std::vector<Conn> conns_;
    std::deque<int> starved_;  // fds waiting for a buffer, in the order they ran dry
    signalfd_siginfo siginfo_{};
    bool stopping_ = false;
    std::uint64_t enters_ = 0, messages_ = 0, nobufs_ = 0;
};

// SIGTERM and SIGINT arrive on an fd the ring reads: no handler, no global flag.
UniqueFd signal_fd() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) fail(errno, "sigprocmask");
    UniqueFd fd(::signalfd(-1, &set, SFD_CLOEXEC));
    if (!fd) fail(errno, "signalfd");
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    int status = 0;
    const auto port = iomux::compare::parse_echo_args(
        argc, argv, "bare_uring_echo",
        "An echo server on 127.0.0.1 over bare io_uring completions: the second limit row of iomux_compare.", "io_uring",
        status);
    if (!port) return status;
    try {
        UniqueFd signals = signal_fd();
        UniqueFd listener = iomux::compare::listen_loopback(*port);
        // Accepted sockets inherit TCP_NODELAY from the listener (Linux copies it when it
        // clones the socket): one setsockopt here instead of one per connection.
        const int on = 1;
        if (::setsockopt(listener.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0) fail(errno, "TCP_NODELAY");
        const int fd = listener.get();
        Server server(std::move(listener), std::move(signals));
        iomux::compare::announce(fd);
        server.run();
    } catch (const std::exception& e) {
        fmt::print(stderr, "bare_uring_echo: {}\n", e.what());
        return 1;
    }
    return 0;
}
