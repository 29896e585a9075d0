// Reactor: an event loop that calls your callbacks when fds are ready, when timers are due,
// when another thread hands it work, and when a signal arrives. The names are asyncio's.
//
//   iomux::Reactor loop;                       // default backend, or Reactor("poll")
//   loop.add_reader(listener, [&] { accept_all(); });
//   loop.call_later(5s, [&] { loop.stop(); });
//   loop.add_signal_handler(SIGINT, [&] { loop.stop(); });
//   loop.run();
//
// Threading: one thread runs the loop and makes every call, except call_soon_threadsafe()
// and stop(), which any thread may call; they wake a blocked loop (eventfd).
//
// Dispatch safety. The reactor drives its Poller directly, not through a Selector, and
// keeps each fd's callbacks in a table by fd. Before each callback it re-checks that the fd
// is still registered, by the same registration, for that event. So a callback may remove
// or close any fd, including one whose event is later in the same batch (that event is
// dropped), add fds, and reuse a just-closed fd number: the stale event never reaches the
// new fd's callbacks. Remove an fd's callbacks before you close it (remove_reader /
// remove_writer): the reactor does not own fds.
//
// Exceptions. An exception escaping a callback is caught, handed to the exception handler
// (default: one line on stderr, "iomux: callback for fd 7 threw: ...", or for "a timer or
// call_soon", or for "signal N"), and the loop carries on with the next callback. The
// failed callback stays registered. An exception thrown by the exception handler itself
// leaves run_once() / run().
//
// Edge-triggered backends (epoll-et). The kernel reports an fd once per edge. A callback
// that stops before EAGAIN (to be fair to other fds, or because its buffer is full) calls
// keep_ready(fd, events): the reactor calls it again in the next iteration without
// waiting for a new edge. On level-triggered backends keep_ready() does the same, so a
// program behaves alike on every backend. A callback that returns without EAGAIN and
// without keep_ready() on epoll-et is not called again until new data arrives.
//
// Timers use the monotonic clock; a timer never fires early and, once due, runs in the
// next iteration; the wait timeout is derived from the next timer and rounded up.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "poller/poller.hpp"
#include "reactor/owned.hpp"

namespace iomux {

class Reactor;
class CompletionIo;  // completion_io.hpp (internal)

// The what() of an exception, or "unknown exception": for exception handlers, which are
// handed a std::exception_ptr.
std::string describe_exception(const std::exception_ptr& e);

// Returned by call_later / call_at; cancel() is idempotent and safe after the timer ran.
class TimerHandle {
public:
    TimerHandle() = default;
    void cancel() noexcept;
    bool cancelled() const noexcept;

private:
    friend class Reactor;
    struct State;
    explicit TimerHandle(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
};

class Reactor {
public:
    using Callback = std::function<void()>;
    using Clock = std::chrono::steady_clock;
    // Called with the fd (or -1 for timers and call_soon callbacks, -signo for signal
    // handlers) and the exception a callback let escape.
    using ExceptionHandler = std::function<void(int fd, std::exception_ptr)>;

    // Throws ValueError for an unknown backend, std::system_error if the kernel refuses.
    explicit Reactor(std::string_view backend = default_backend());
    // Runs on a backend you made (e.g. a Poller of your own, or one wrapped for tests).
    explicit Reactor(std::unique_ptr<Poller> poller);
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    // Calls cb whenever fd is readable / writable; replaces a previous reader / writer.
    // ValueError for fd < 0. For an fd with no callbacks yet the backend is asked at once,
    // so its refusal (EBADF for a closed fd, EPERM for a regular file on epoll) is thrown
    // here as std::system_error. Other changes are applied before the next wait; a refusal
    // then goes to the exception handler with the fd, and the fd's callbacks are dropped.
    void add_reader(int fd, Callback cb);
    void add_writer(int fd, Callback cb);
    // add_reader for an fd that other loops watch too, such as a listening socket every
    // loop of a server accepts from: with Wakeup::exclusive a new connection wakes one loop,
    // not all (see iomux::Wakeup). The wakeup is chosen by an fd's first callback and kept
    // while it has any: ValueError when fd has callbacks added with the other one.
    void add_reader(int fd, Callback cb, Wakeup wakeup);
    // Returns true when there was a callback to remove.
    bool remove_reader(int fd);
    bool remove_writer(int fd);
    // Flow control (asyncio's Transport.pause_reading): the callback stays, but is not
    // called until resumed; add_reader / remove_reader clear the pause. The fd stays the
    // caller's registration, so it must still be removed before it is closed; in return,
    // a pause and resume within one iteration cost no syscall (remove + add cost one,
    // because the fd may have been closed and its number reused in between), and an fd
    // whose every callback is paused is out of the backend. KeyError when fd has no such
    // callback. Idempotent.
    void pause_reading(int fd);
    void resume_reading(int fd);
    void pause_writing(int fd);
    void resume_writing(int fd);
    // See "Edge-triggered backends" above. events: EVENT_READ and/or EVENT_WRITE; a bit
    // for a direction that has no callback, or is paused, is ignored (call it after
    // add_reader, not before). Called for another fd whose turn in this iteration has not
    // come yet, its coming call covers it. KeyError when the loop does not know fd: never
    // added, or its last callback removed before this iteration (removed in this one, the
    // call is ignored, as for a paused direction).
    void keep_ready(int fd, std::uint32_t events);

    // A delay of zero or less makes the timer due at once; Clock::duration::max() (a delay past
    // the clock's range) or Clock::time_point::max() is a timer that never fires.
    TimerHandle call_later(Clock::duration delay, Callback cb);
    TimerHandle call_at(Clock::time_point when, Callback cb);
    // Runs cb in the next iteration, in the order of the calls.
    void call_soon(Callback cb);
    // Like call_soon, from any thread; wakes the loop.
    void call_soon_threadsafe(Callback cb);

    // Runs cb in the loop whenever signo arrives (self-pipe; SA_RESTART). Only one Reactor
    // in a process may handle signals at a time (std::logic_error otherwise); ValueError
    // for SIGKILL, SIGSTOP or a bad number. remove_signal_handler restores SIG_DFL.
    void add_signal_handler(int signo, Callback cb);
    bool remove_signal_handler(int signo);

    // Runs iterations until stop(). Returns at once if stop() was called before run().
    void run();
    // One iteration: waits at most timeout (nullopt: until something happens; the wait is
    // also bounded by the next timer, and is 0 when callbacks are already pending), then
    // runs what is ready.
    void run_once(std::optional<Clock::duration> timeout = std::nullopt);
    // Makes run() return after the current iteration; any thread may call it.
    void stop();

    Clock::time_point now() const { return Clock::now(); }
    std::string_view backend() const noexcept;
    // How transports (transport.hpp) do their I/O on this loop: "completion" when it runs on
    // io_uring and the kernel has multishot recv and buffer rings (Linux 6.1): requests on
    // the poller's ring, completed in the same wait as the readiness events. Else, and when
    // $IOMUX_IO_PATH=readiness (ValueError, from the constructor, for values other than
    // "completion" / "readiness"), "readiness": recv / send when the socket is ready.
    std::string_view io_path() const noexcept;
    // The completion I/O engine, nullptr on the readiness path (for transports; internal).
    CompletionIo* completion_io() noexcept;
    // True on epoll-et: see "Edge-triggered backends" above.
    bool edge_triggered() const noexcept;
    void set_exception_handler(ExceptionHandler handler);
    // Hands e to the exception handler, as for a callback of fd's (asyncio's
    // call_exception_handler): for code that catches a user callback's exception itself.
    void call_exception_handler(int fd, std::exception_ptr e);

    // What the loop owns: objects that end themselves, such as transports (transport.hpp),
    // live here until they destroy themselves through it. The destructor destroys those
    // left before anything else of the loop, so they may still call the loop then.
    OwnedList& owned() noexcept { return owned_; }

    // Counters for tests and benchmarks.
    struct Stats {
        std::uint64_t iterations = 0;     // run_once calls
        std::uint64_t callbacks = 0;      // fd callbacks invoked
        std::uint64_t stale_dropped = 0;  // ready events dropped because the fd changed
    };
    const Stats& stats() const noexcept { return stats_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    Stats stats_;
    OwnedList owned_;
};

}  // namespace iomux
