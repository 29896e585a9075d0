// Poller: the one interface every readiness backend implements.
//
// A Poller watches file descriptors for readability and writability and reports which are
// ready. It knows nothing of callbacks or user data: that is reactor/'s job. It does not
// own the fds it watches. Backends, chosen by name at run time (make_poller):
//
//   select    select(2) over bitmaps sized to the highest fd; no FD_SETSIZE limit.
//             Each wait costs O(highest fd) in the kernel and in user space.
//   poll      poll(2) over a dense pollfd array; O(1) add/remove; O(n) per wait.
//   epoll     epoll(7), level-triggered: O(ready) per wait.
//   epoll-et  epoll(7), edge-triggered (EPOLLET). An fd is reported once per edge: when it
//             becomes ready, not while it stays ready. The caller must read (or write,
//             or accept) until EAGAIN, or it may never hear of that fd again.
//   io_uring  io_uring(7), level-triggered like epoll; only in builds with liburing, and
//             only where the kernel allows io_uring (see available_backends()). One
//             multishot poll request per fd; adds and modifies are batched into the one
//             io_uring_enter of the next wait, which also re-checks (one poll(2) for all)
//             every fd the previous wait reported or that was woken since, because
//             multishot polls report wake-ups, not levels. O(ready) per wait. remove()
//             costs one io_uring_enter, as epoll's costs one epoll_ctl. On Linux 6.1 and
//             later the ring runs wake-ups only when we wait (DEFER_TASKRUN), which makes
//             it as fast as epoll, and binds it to one thread: the first that waits. A
//             wait on any other thread afterwards throws std::system_error (EEXIST), and
//             remove() or destruction there cannot cancel polls at once (see below).
//
// Semantics common to every backend (the conformance suite in tests/ holds them to it):
//  - wait() reports at most one PollEvent per fd, carrying every ready bit, and only bits
//    the fd was registered for. Error and hang-up conditions (a closed or reset peer) are
//    reported as readiness on the registered events, as Python's selectors do, so a
//    closed peer is never missed: the next read or write returns the error. One limit of
//    select(2), which has no hang-up set: it shows a hang-up only as readable, so an fd
//    registered for EVENT_WRITE alone, whose peer shut down while our send buffer is
//    full, is not reported on select until the buffer drains or an error is raised (the
//    other backends report it). Register EVENT_READ too to see hang-ups on every backend;
//    watching write-only fds for readability would make select spin on unread data.
//  - timeout < 0 blocks, 0 polls, > 0 waits at least that long: it is rounded UP to the
//    backend's resolution (1 ms for poll, epoll and io_uring, 1 us for select), so a short
//    timeout never turns into a busy loop.
//  - A signal does not end a wait early: EINTR is retried with the remaining time (PEP 475).
//  - An fd must be removed before it is closed. A closed fd left registered is dropped
//    silently by epoll once its open file is really closed (while a dup, a forked child or
//    io_uring holds the file, epoll goes on reporting it under the old number), reported
//    ready by poll (POLLNVAL) and select (EBADF), and never
//    affects an fd that later reuses its number once remove() was called. io_uring's poll
//    request holds a reference to the open file: the file is not closed (a socket's peer
//    sees no EOF) and stays watched, reported as what it is, until remove() cancels the
//    request; a close() right after remove(), or after the Poller is destroyed, does close
//    it, when done on the thread that waits. A process killed with fds registered on
//    io_uring, or a Poller destroyed on another thread, has them closed a few ms later
//    (the kernel tears the ring down in a worker), not at once.
//
// Errors: ValueError for a negative fd or an event mask that is 0 or has unknown bits, and
// for wait() with an empty buffer; std::system_error (errno) from the kernel, and EEXIST /
// ENOENT for adding an fd twice or modifying one that was never added, on every backend
// (epoll says EBADF instead when the fd number is not open at all; poll, select and io_uring
// accept it and report it ready, so its owner finds out). remove() never fails.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace iomux {

class CompletionRing;  // completion_ring.hpp

// Interest and readiness bits; the values of Python's selectors.EVENT_READ / EVENT_WRITE.
inline constexpr std::uint32_t EVENT_READ = 1u << 0;
inline constexpr std::uint32_t EVENT_WRITE = 1u << 1;

struct PollEvent {
    int fd;
    std::uint32_t events;  // never 0, never more than the fd's interest
};

// Who is woken when several Pollers (on other threads, or in other processes) watch one
// open file, such as a listening socket that every loop of a server accepts from.
enum class Wakeup {
    // Every waiting Poller: each new connection wakes every loop, and all but one find
    // nothing to accept (the thundering herd).
    all,
    // One of them, or a few (epoll's EPOLLEXCLUSIVE, Linux 4.5). Only epoll and epoll-et
    // have it; the other backends treat it as `all`. The kernel refuses to change such a
    // registration, so modify() and rearm() of it remove it and add it again: two calls.
    exclusive,
};

// A wait's timeout; negative blocks. Use kBlock for clarity.
using Timeout = std::chrono::nanoseconds;
inline constexpr Timeout kBlock{-1};

// Runs when a wait was cut short with nothing to report (EINTR: a signal, or for io_uring a
// wake-up that brought no event), before the wait goes on with the time left. It may throw,
// and the wait ends with that exception: how a runtime with signal handlers of its own runs
// them during a long wait and lets their exceptions out (Python's PyErr_CheckSignals, PEP 475).
using OnInterrupt = std::function<void()>;

class Poller {
public:
    virtual ~Poller() = default;
    Poller(const Poller&) = delete;
    Poller& operator=(const Poller&) = delete;

    // The name make_poller() knows this backend by.
    virtual std::string_view name() const noexcept = 0;
    // True when readiness is reported once per edge (see epoll-et above).
    virtual bool edge_triggered() const noexcept { return false; }
    // The kernel object's fd (epoll), or -1 when the backend has none or, like io_uring's
    // ring, it is not meant to be waited on by others.
    virtual int fileno() const noexcept { return -1; }
    // The ring this Poller waits on, for completion I/O beside the readiness events
    // (completion_ring.hpp); nullptr on backends that have none.
    virtual CompletionRing* completion_ring() noexcept { return nullptr; }

    // Starts watching fd for events; EEXIST if it is watched already.
    void add(int fd, std::uint32_t events, Wakeup wakeup = Wakeup::all);
    void modify(int fd, std::uint32_t events);
    // Like modify, for an fd whose number may have been closed and reused since it was
    // added: the backend re-learns which open file the number means. epoll keys its
    // registrations by open file, so it tries MOD and falls back to ADD; backends that look
    // fds up by number at each wait (poll, select) just modify.
    void rearm(int fd, std::uint32_t events);
    // Stops watching fd. Tolerates an fd that was never added or is already closed.
    virtual void remove(int fd) noexcept = 0;

    // Waits until an fd is ready or the timeout passes, and writes up to out.size() events
    // into out; returns how many. Fds that did not fit are reported by the next wait
    // (backends rotate where they start, so none starves). Does not allocate once the
    // backend has seen the largest out.size() and fd.
    std::size_t wait(std::span<PollEvent> out, Timeout timeout);
    // The same, calling on_interrupt (if set) each time the wait is interrupted.
    std::size_t wait(std::span<PollEvent> out, Timeout timeout, const OnInterrupt& on_interrupt);

protected:
    Poller() = default;
    // Backends implement these; the public wrappers above validate arguments first.
    virtual void do_add(int fd, std::uint32_t events) = 0;
    virtual void do_add_exclusive(int fd, std::uint32_t events) { do_add(fd, events); }
    virtual void do_modify(int fd, std::uint32_t events) = 0;
    virtual void do_rearm(int fd, std::uint32_t events) { do_modify(fd, events); }
    // One wait: returns the count, or -1 with errno set. EINTR is retried by wait().
    // timeout is kBlock or >= 0.
    virtual int wait_once(std::span<PollEvent> out, Timeout timeout) = 0;

    // Rounds a timeout up to whole milliseconds for poll(2) / epoll_wait(2): -1 blocks.
    static int timeout_ms(Timeout timeout) noexcept;
};

// Creates the backend with that name; ValueError for a name this build does not have,
// std::system_error when the kernel refuses it (e.g. epoll_create1 failing, or io_uring
// disabled by the sysctl kernel.io_uring_disabled or a seccomp filter: the message says which).
std::unique_ptr<Poller> make_poller(std::string_view name);

// The backends this build has, in order of preference (best first).
std::vector<std::string> backend_names();

// The backends of backend_names() that this kernel lets us create, in the same order. It
// creates one Poller of each to find out.
std::vector<std::string> available_backends();

// The default: $IOMUX_BACKEND when set (ValueError if it names no backend), else "epoll".
std::string default_backend();

}  // namespace iomux
