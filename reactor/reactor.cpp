#include "reactor/reactor.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "poller/errors.hpp"
#include "reactor/errors.hpp"
#include "poller/unique_fd.hpp"
#include "reactor/completion_io.hpp"
#include "reactor/fd_table.hpp"

namespace iomux {
namespace {

// The write end of the signal self-pipe, and which reactor owns it. A signal handler can
// reach only globals; these two are the only mutable globals in iomux.
std::atomic<int> g_signal_pipe{-1};
std::atomic<const void*> g_signal_owner{nullptr};

extern "C" void on_signal(int signo) {
    const int saved = errno;
    const int fd = g_signal_pipe.load(std::memory_order_relaxed);
    if (fd >= 0) {
        const auto byte = static_cast<unsigned char>(signo);
        [[maybe_unused]] auto n = ::write(fd, &byte, 1);  // a full pipe already wakes the loop
    }
    errno = saved;
}

[[noreturn]] void throw_errno(const char* what) {
    throw std::system_error(errno, std::generic_category(), what);
}

void drain(int fd) {
    std::array<char, 256> buf;
    while (::read(fd, buf.data(), buf.size()) > 0) {
    }
}

}  // namespace

std::string describe_exception(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "unknown exception";
    }
}

struct TimerHandle::State {
    Reactor::Clock::time_point when;
    std::uint64_t seq;  // ties broken by scheduling order
    Reactor::Callback cb;
    bool cancelled = false;
};

void TimerHandle::cancel() noexcept {
    if (state_) {
        state_->cancelled = true;
        state_->cb = nullptr;  // release what the callback captured now, not when it is popped
    }
}

bool TimerHandle::cancelled() const noexcept {
    return state_ && state_->cancelled;
}

namespace {

// What pausing, resuming and the change list touch of an fd: 16 bytes, in a table of their
// own. A loop that re-arms thousands of fds an iteration walks 16 bytes an fd, not the
// callbacks: at 9000 fds, re-arming from a cold cache took 2.8 times libev's time while
// these lived beside the callbacks (tools/compare/README.md, dispatch).
struct FdState {
    // Given anew (from a counter that never wraps) when the fd may name another file: an
    // id given after the wait means the wait's events for the fd are stale.
    std::uint64_t id = 0;
    std::uint8_t callbacks = 0;  // directions with a callback (which may be running)
    std::uint8_t paused = 0;     // pause_reading / pause_writing bits
    std::uint8_t kept = 0;       // keep_ready() bits not yet dispatched
    std::uint8_t applied = 0;    // what the backend watches; 0: the fd is not in it
    bool queued = false;         // in the change list
    bool rearm = false;          // wanted again after nothing was: see set_callback
    bool readd = false;          // rearm with another wakeup: remove and add
    bool exclusive = false;      // the Wakeup chosen by the first callback: see add_reader
    std::uint8_t interest() const { return callbacks & ~paused; }  // what the backend should watch
    // Has callbacks, or is in the backend until the next apply_changes.
    bool known() const { return callbacks != 0 || applied != 0; }
    Wakeup wakeup() const { return exclusive ? Wakeup::exclusive : Wakeup::all; }
};

// An fd's callbacks, read when it is dispatched: aligned so that the two share one cache
// line where std::function is 32 bytes (libstdc++).
struct alignas(64) Handlers {
    Reactor::Callback reader, writer;
    Reactor::Callback& of(std::uint32_t direction) { return direction == EVENT_READ ? reader : writer; }
};

// $IOMUX_IO_PATH: "readiness" keeps an io_uring loop's transports on readiness, to compare.
bool completion_io_wanted() {
    const char* env = std::getenv("IOMUX_IO_PATH");
    if (env == nullptr || *env == '\0' || std::string_view(env) == "completion") return true;
    if (std::string_view(env) == "readiness") return false;
    throw ValueError(fmt::format("IOMUX_IO_PATH='{}': expected completion or readiness", env));
}

}  // namespace

struct Reactor::Impl {
    Impl(std::unique_ptr<Poller> backend, Stats& stats) : poller(std::move(backend)), stats(stats) {}

    // Driven directly, not through a Selector: the reactor keeps each fd's registration
    // in fds, and its dispatch re-checks ids, so a selector's keys would be a second copy.
    std::unique_ptr<Poller> poller;
    // Set when transports do completion I/O on the poller's ring (io_path() == "completion").
    // Declared after the poller: it is destroyed first.
#ifdef IOMUX_HAVE_IO_URING
    std::unique_ptr<CompletionIo> completion;
#else
    std::nullptr_t completion = nullptr;
#endif
    std::vector<PollEvent> events;  // one per fd in the backend: a wait drains all that are ready
    std::size_t in_backend = 0;     // fds with FdState::applied != 0
    // Indexed by fd. An fd whose every callback is paused is out of the backend (an idle
    // level-triggered fd would wake every wait) but keeps its state and callbacks, as the
    // caller's registration: resuming trusts the fd to name the same file still, and costs
    // one add, or nothing within the same iteration. Entries stay in place (FdTable), so a
    // Handlers& taken during dispatch stays valid while callbacks add fds.
    FdTable<FdState> fds;
    FdTable<Handlers> handlers;
    Stats& stats;
    std::uint64_t next_id = 0;
    std::uint64_t first_new_id = 0;  // next_id when the wait returned: see call_direction
    std::uint64_t next_seq = 0;
    bool running = false;

    // Timers: a min-heap on (when, seq); cancelled ones are dropped when they surface, or
    // all at once when they make up most of the heap.
    using TimerPtr = std::shared_ptr<TimerHandle::State>;
    std::vector<TimerPtr> timers;
    std::size_t timers_after_compaction = 0;
    static bool later(const TimerPtr& a, const TimerPtr& b) {
        return a->when != b->when ? a->when > b->when : a->seq > b->seq;
    }

    std::vector<Callback> soon, running_soon;
    std::vector<std::pair<int, std::uint64_t>> kept, running_kept;
    std::vector<int> changes, applying;  // fds whose wanted events changed since the last wait

    // Cross-thread hand-off.
    UniqueFd wake_fd;
    std::mutex incoming_mutex;
    std::vector<Callback> incoming;
    std::atomic<bool> wake_pending{false};
    std::atomic<bool> stopping{false};

    // Signals.
    UniqueFd signal_read, signal_write;
    std::array<Callback, NSIG> signal_handlers;

    ExceptionHandler on_exception = [](int fd, std::exception_ptr e) {
        const std::string where = fd >= 0 ? fmt::format("fd {}", fd) : fd == -1 ? "a timer or call_soon" : fmt::format("signal {}", -fd);
        fmt::print(stderr, "iomux: callback for {} threw: {}\n", where, describe_exception(e));
    };

    bool known(int fd) const {
        return fd >= 0 && static_cast<std::size_t>(fd) < fds.size() && fds[fd].known();
    }
    bool has_callback(int fd, std::uint32_t direction) const { return known(fd) && (fds[fd].callbacks & direction); }

    // Every change of FdState::applied between 0 and not 0 goes through here, to keep count.
    void set_applied(FdState& s, std::uint8_t events) {
        in_backend = in_backend + (events != 0) - (s.applied != 0);
        s.applied = events;
    }

    void queue_change(int fd, FdState& s) {
        if (!s.queued) {
            s.queued = true;
            changes.push_back(fd);
        }
    }

    void guarded(int where, Callback& cb) {
        try {
            cb();
        } catch (...) {
            on_exception(where, std::current_exception());
        }
    }

    // The fd callback running now. A callback that removes or replaces itself must not
    // destroy or overwrite the function object it is running in: set_callback parks the
    // change here, and call_direction applies it once the callback has returned.
    struct Running {
        Handlers* handlers = nullptr;
        std::uint32_t direction = 0;
        bool replaced = false;
        Callback replacement;
    } running_cb;

    // Calls the callbacks of fd for events, each while the fd still wants it (see call_direction).
    void dispatch(Handlers& h, int fd, std::uint32_t events) {
        if (events & EVENT_READ) call_direction(h, fd, EVENT_READ);
        if (events & EVENT_WRITE) call_direction(h, fd, EVENT_WRITE);
    }
    // An event of the last wait, or a keep_ready, still wanted? Not when the fd was given a
    // new id since the wait (a callback closed it and its number was registered again),
    // nor when the direction was removed or paused meanwhile.
    void call_direction(Handlers& h, int fd, std::uint32_t direction) {
        const FdState& s = fds[fd];
        if (s.id >= first_new_id || !(s.interest() & direction)) {
            ++stats.stale_dropped;
            return;
        }
        Callback& slot = h.of(direction);
        running_cb.handlers = &h;
        running_cb.direction = direction;
        struct Done {  // also when the exception handler throws out of guarded()
            Running& running;
            Callback& slot;
            ~Done() {
                running.handlers = nullptr;
                if (std::exchange(running.replaced, false)) slot = std::move(running.replacement);
            }
        } done{running_cb, slot};
        ++stats.callbacks;
        guarded(fd, slot);
    }

    // Sets or clears one direction's callback. A new fd is registered at once, so the
    // backend's refusal (a closed fd, a regular file on epoll) reaches the caller. Other
    // changes go to the change list and reach the backend once, before the next wait, as
    // libev's fd_reify does: toggling write interest, or pausing and resuming, within one
    // iteration costs no syscall; removing every callback of an fd and adding one back
    // costs one rearm (see below).
    bool set_callback(int fd, std::uint32_t direction, Callback cb, std::optional<Wakeup> wakeup = std::nullopt) {
        if (fd < 0) throw ValueError(fmt::format("Invalid file descriptor: {}", fd));
        if (!known(fd)) {
            if (!cb) return false;
            add_new(fd, direction, std::move(cb), wakeup.value_or(Wakeup::all));
            return true;
        }
        FdState& s = fds[fd];
        if (cb && s.callbacks == 0) {
            // Every callback was removed this iteration, so the fd may have been closed and
            // its number reused by now: a new id drops the old file's pending events, and
            // the backend is told again which file the number means (one MOD on epoll).
            s.id = next_id++;
            s.rearm = true;
            const bool exclusive = wakeup == Wakeup::exclusive;
            s.readd = s.readd || exclusive != s.exclusive;
            s.exclusive = exclusive;
        } else if (wakeup && *wakeup != s.wakeup()) {
            throw ValueError(fmt::format("fd {} has callbacks added with another Wakeup; remove them first", fd));
        }
        const bool had = s.callbacks & direction;
        if (cb) s.callbacks |= direction;
        else s.callbacks &= ~direction;
        s.paused &= ~direction;  // a new callback runs; a removed one is no longer paused
        if (!(s.callbacks & direction)) s.kept &= ~direction;
        queue_change(fd, s);
        store(handlers[fd], direction, std::move(cb));  // last: the old callback's destructor may call us
        return had;
    }

    // An fd with no callbacks gets its first: registered with the backend now.
    void add_new(int fd, std::uint32_t direction, Callback cb, Wakeup wakeup) {
        if (static_cast<std::size_t>(fd) >= fds.size()) {
            handlers.grow_to(static_cast<std::size_t>(fd) + 1);
            fds.grow_to(handlers.size());
        }
        poller->add(fd, direction, wakeup);  // may throw: then nothing changed
        FdState& s = fds[fd];
        // queued stays: the fd may be in the change list still, where it is now a no-op.
        s = FdState{.id = next_id++, .callbacks = static_cast<std::uint8_t>(direction), .queued = s.queued,
                    .exclusive = wakeup == Wakeup::exclusive};
        set_applied(s, direction);
        store(handlers[fd], direction, std::move(cb));
    }

    // A callback that removes or replaces itself is parked in running_cb (see Running).
    void store(Handlers& h, std::uint32_t direction, Callback cb) {
        if (running_cb.handlers == &h && running_cb.direction == direction) {
            running_cb.replacement = std::move(cb);
            running_cb.replaced = true;
        } else {
            h.of(direction) = std::move(cb);
        }
    }

    // Sets or clears one direction's paused bit; KeyError when it has no callback.
    void set_paused(int fd, std::uint32_t direction, bool pause) {
        if (!has_callback(fd, direction))
            throw KeyError(fmt::format("fd {} has no {} callback", fd, direction == EVENT_READ ? "reader" : "writer"));
        FdState& s = fds[fd];
        if (static_cast<bool>(s.paused & direction) == pause) return;
        s.paused ^= direction;
        s.kept &= ~s.paused;
        queue_change(fd, s);
    }

    // Brings the backend in line with the callbacks, one call per changed fd at most (two
    // for an exclusive wakeup that changes). An fd whose events are unchanged touches
    // nothing but its FdState.
    void apply_changes() {
        // Swapped out first: the exception handler below may queue changes, for the next wait.
        applying.swap(changes);
        for (const int fd : applying) {
            FdState& s = fds[fd];
            s.queued = false;
            const std::uint8_t wanted = s.interest();
            try {
                if (wanted == 0) {
                    // Paused (its callbacks stay) or removed (they are gone already).
                    s.rearm = s.readd = false;
                    if (s.applied != 0) {
                        set_applied(s, 0);
                        poller->remove(fd);
                    }
                } else if (s.applied == 0) {
                    // Paused until now: trusted to be the same file (see fds), so an add.
                    s.rearm = s.readd = false;
                    poller->add(fd, wanted, s.wakeup());
                    set_applied(s, wanted);
                } else if (std::exchange(s.readd, false)) {
                    // Renewed with another wakeup, which the backend cannot change in place.
                    s.rearm = false;
                    set_applied(s, 0);
                    poller->remove(fd);
                    poller->add(fd, wanted, s.wakeup());
                    set_applied(s, wanted);
                } else if (std::exchange(s.rearm, false)) {
                    poller->rearm(fd, wanted);
                    s.applied = wanted;
                } else if (wanted != s.applied) {
                    poller->modify(fd, wanted);
                    s.applied = wanted;
                }
            } catch (...) {
                // The backend refused (say, a closed fd given to add_reader): the fd is
                // dropped with its callbacks, as Python's selectors drop it (bpo-30014),
                // and reported like an exception from its callback.
                drop(fd);
                on_exception(fd, std::current_exception());
            }
        }
        applying.clear();
    }

    void drop(int fd) {
        poller->remove(fd);  // tolerates an fd it does not have
        FdState& s = fds[fd];
        set_applied(s, 0);
        s = FdState{.id = s.id, .queued = s.queued};
        // Destroyed last, and outside the table: their destructors may call us.
        Handlers gone{std::move(handlers[fd].reader), std::move(handlers[fd].writer)};
        handlers[fd].reader = handlers[fd].writer = nullptr;
    }

    void wake() {
        if (wake_pending.exchange(true)) return;
        const std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_fd.get(), &one, sizeof one);
    }
};

Reactor::Reactor(std::string_view backend) : Reactor(make_poller(backend)) {}

Reactor::Reactor(std::unique_ptr<Poller> poller) : impl_(std::make_unique<Impl>(std::move(poller), stats_)) {
    const bool completion_wanted = completion_io_wanted();  // checked on every backend
#ifdef IOMUX_HAVE_IO_URING
    if (CompletionRing* ring = impl_->poller->completion_ring(); ring != nullptr && completion_wanted) {
        try {
            impl_->completion = std::make_unique<CompletionIo>(*ring);
        } catch (const std::system_error&) {  // no buffer rings here: readiness it is
        }
    }
#else
    (void)completion_wanted;
#endif
    impl_->wake_fd.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!impl_->wake_fd) throw_errno("eventfd");
    add_reader(impl_->wake_fd.get(), [this] {
        Impl& m = *impl_;
        drain(m.wake_fd.get());
        m.wake_pending.store(false);  // before taking the queue, so no hand-off is missed
        std::vector<Callback> batch;
        {
            std::lock_guard lock(m.incoming_mutex);
            batch.swap(m.incoming);
        }
        for (Callback& cb : batch) m.soon.push_back(std::move(cb));
    });
}

Reactor::~Reactor() {
    owned_.clear();
    for (int signo = 1; signo < NSIG; ++signo)
        if (impl_->signal_handlers[signo]) remove_signal_handler(signo);
}

std::string_view Reactor::io_path() const noexcept {
    return impl_->completion ? "completion" : "readiness";
}

CompletionIo* Reactor::completion_io() noexcept {
#ifdef IOMUX_HAVE_IO_URING
    return impl_->completion.get();
#else
    return nullptr;
#endif
}

std::string_view Reactor::backend() const noexcept {
    return impl_->poller->name();
}

bool Reactor::edge_triggered() const noexcept {
    return impl_->poller->edge_triggered();
}

void Reactor::set_exception_handler(ExceptionHandler handler) {
    impl_->on_exception = std::move(handler);
}


void Reactor::call_exception_handler(int fd, std::exception_ptr e) {
    impl_->on_exception(fd, std::move(e));
}

void Reactor::add_reader(int fd, Callback cb) {
    if (!cb) throw ValueError("add_reader needs a callback");
    impl_->set_callback(fd, EVENT_READ, std::move(cb));
}

void Reactor::add_reader(int fd, Callback cb, Wakeup wakeup) {
    if (!cb) throw ValueError("add_reader needs a callback");
    impl_->set_callback(fd, EVENT_READ, std::move(cb), wakeup);
}

void Reactor::add_writer(int fd, Callback cb) {
    if (!cb) throw ValueError("add_writer needs a callback");
    impl_->set_callback(fd, EVENT_WRITE, std::move(cb));
}

bool Reactor::remove_reader(int fd) {
    return fd >= 0 && impl_->set_callback(fd, EVENT_READ, nullptr);
}

bool Reactor::remove_writer(int fd) {
    return fd >= 0 && impl_->set_callback(fd, EVENT_WRITE, nullptr);
}

void Reactor::pause_reading(int fd) {
    impl_->set_paused(fd, EVENT_READ, true);
}

void Reactor::resume_reading(int fd) {
    impl_->set_paused(fd, EVENT_READ, false);
}

void Reactor::pause_writing(int fd) {
    impl_->set_paused(fd, EVENT_WRITE, true);
}

void Reactor::resume_writing(int fd) {
    impl_->set_paused(fd, EVENT_WRITE, false);
}

void Reactor::keep_ready(int fd, std::uint32_t events) {
    Impl& m = *impl_;
    if (!m.known(fd)) throw KeyError(fmt::format("fd {} is not registered", fd));
    FdState& s = m.fds[fd];
    const auto add = static_cast<std::uint8_t>(events & s.interest() & ~s.kept);
    if (add == 0) return;
    if (s.kept == 0) m.kept.emplace_back(fd, s.id);
    s.kept |= add;
}

TimerHandle Reactor::call_later(Clock::duration delay, Callback cb) {
    const auto now = Clock::now();
    delay = std::clamp(delay, Clock::duration::zero(), Clock::time_point::max() - now);  // max: never
    return call_at(now + delay, std::move(cb));
}

TimerHandle Reactor::call_at(Clock::time_point when, Callback cb) {
    if (!cb) throw ValueError("call_at needs a callback");
    auto state = std::make_shared<TimerHandle::State>(TimerHandle::State{when, impl_->next_seq++, std::move(cb)});
    impl_->timers.push_back(state);
    std::push_heap(impl_->timers.begin(), impl_->timers.end(), Impl::later);
    return TimerHandle(std::move(state));
}

void Reactor::call_soon(Callback cb) {
    if (!cb) throw ValueError("call_soon needs a callback");
    impl_->soon.push_back(std::move(cb));
}

void Reactor::call_soon_threadsafe(Callback cb) {
    if (!cb) throw ValueError("call_soon_threadsafe needs a callback");
    {
        std::lock_guard lock(impl_->incoming_mutex);
        impl_->incoming.push_back(std::move(cb));
    }
    impl_->wake();
}

void Reactor::stop() {
    impl_->stopping.store(true);
    impl_->wake();
}

void Reactor::add_signal_handler(int signo, Callback cb) {
    if (signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP)
        throw ValueError(fmt::format("cannot handle signal {}", signo));
    if (!cb) throw ValueError("add_signal_handler needs a callback");
    Impl& m = *impl_;
    const void* expected = nullptr;
    if (!g_signal_owner.compare_exchange_strong(expected, &m) && expected != &m)
        throw std::logic_error("another Reactor already handles signals in this process");
    if (!m.signal_read) {
        int p[2];
        if (::pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
            g_signal_owner.store(nullptr);
            throw_errno("pipe2");
        }
        m.signal_read.reset(p[0]);
        m.signal_write.reset(p[1]);
        g_signal_pipe.store(p[1]);
        add_reader(p[0], [this] {
            Impl& r = *impl_;
            std::array<unsigned char, 64> buf;
            ssize_t n;
            while ((n = ::read(r.signal_read.get(), buf.data(), buf.size())) > 0)
                for (ssize_t i = 0; i < n; ++i)
                    if (Callback& handler = r.signal_handlers[buf[i]]) {
                        Callback running = handler;  // the handler may remove itself
                        r.guarded(-static_cast<int>(buf[i]), running);
                    }
        });
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(signo, &sa, nullptr) != 0) throw_errno("sigaction");
    m.signal_handlers[signo] = std::move(cb);
}

bool Reactor::remove_signal_handler(int signo) {
    Impl& m = *impl_;
    if (signo <= 0 || signo >= NSIG || !m.signal_handlers[signo]) return false;
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    ::sigaction(signo, &sa, nullptr);
    m.signal_handlers[signo] = nullptr;
    if (std::none_of(m.signal_handlers.begin(), m.signal_handlers.end(), [](const Callback& c) { return bool(c); })) {
        remove_reader(m.signal_read.get());
        g_signal_pipe.store(-1);
        m.signal_write.reset();
        m.signal_read.reset();
        g_signal_owner.store(nullptr);
    }
    return true;
}

void Reactor::run() {
    while (!impl_->stopping.load()) run_once();
    impl_->stopping.store(false);
}


void Reactor::run_once(std::optional<Clock::duration> timeout) {
    Impl& m = *impl_;
    if (m.running) throw std::logic_error("Reactor::run_once called from a callback");
    m.running = true;
    struct Reset {
        bool& flag;
        ~Reset() { flag = false; }
    } reset{m.running};
    ++stats_.iterations;

    // Compact the timer heap when cancelled timers make up most of it.
    if (m.timers.size() > 256 && m.timers.size() > 2 * m.timers_after_compaction) {
        std::erase_if(m.timers, [](const Impl::TimerPtr& t) { return t->cancelled; });
        std::make_heap(m.timers.begin(), m.timers.end(), Impl::later);
        m.timers_after_compaction = m.timers.size();
    }
    while (!m.timers.empty() && m.timers.front()->cancelled) {
        std::pop_heap(m.timers.begin(), m.timers.end(), Impl::later);
        m.timers.pop_back();
    }

    // How long may we sleep? Not at all when work is already waiting.
    Timeout wait = kBlock;
    if (!m.soon.empty() || !m.kept.empty() || m.stopping.load()) {
        wait = Timeout::zero();
    } else {
        std::optional<Clock::duration> limit = timeout;
        if (!m.timers.empty()) {
            const auto until = m.timers.front()->when - Clock::now();
            limit = limit ? std::min(*limit, until) : until;
        }
        if (limit) wait = std::chrono::ceil<Timeout>(std::max(*limit, Clock::duration::zero()));
    }

    m.apply_changes();
    m.running_kept.swap(m.kept);
    if (m.events.size() < m.in_backend || m.events.empty()) m.events.resize(std::max<std::size_t>(m.in_backend, 64));
    const std::size_t n = m.poller->wait(m.events, wait);
    // A callback may close an fd and register its number again: the new registration gets an
    // id from here on, so the wait's events for it are dropped (libev's generation counter).
    m.first_new_id = m.next_id;
    for (std::size_t i = 0; i < n; ++i) {
        const int fd = m.events[i].fd;
        if (static_cast<std::size_t>(fd) >= m.fds.size()) continue;  // never ours; a backend's slip
        FdState& s = m.fds[fd];
        // A report covers keep_ready (also one made by an earlier callback of this batch).
        m.dispatch(m.handlers[fd], fd, (m.events[i].events & s.applied) | std::exchange(s.kept, 0));
    }
    for (auto [fd, id] : m.running_kept) {
        FdState& s = m.fds[fd];
        if (s.applied == 0 || s.id != id || s.kept == 0) continue;  // gone, or served by a kernel report above
        m.dispatch(m.handlers[fd], fd, std::exchange(s.kept, 0));
    }
    m.running_kept.clear();
#ifdef IOMUX_HAVE_IO_URING
    if (m.completion) m.completion->dispatch();
#endif

    const auto now = Clock::now();
    while (!m.timers.empty() && m.timers.front()->when <= now) {
        std::pop_heap(m.timers.begin(), m.timers.end(), Impl::later);
        Impl::TimerPtr t = std::move(m.timers.back());
        m.timers.pop_back();
        if (t->cancelled) continue;
        Callback cb = std::move(t->cb);
        t->cancelled = true;  // it ran: cancel() is now a no-op and cancelled() says so
        m.guarded(-1, cb);
    }

    m.running_soon.swap(m.soon);  // what these callbacks schedule runs next iteration
    for (Callback& cb : m.running_soon) m.guarded(-1, cb);
    m.running_soon.clear();
}


}  // namespace iomux
