// ReactorThreads: one Reactor per thread, N threads (muduo's EventLoopThreadPool).
//
// A Reactor is single-threaded: one thread runs it and makes every call on it. To use more
// cores, run several, each on its own thread, and give each its own fds (its own listener
// with SO_REUSEPORT, or connections handed to it). Work crosses threads only through
// call_soon_threadsafe(), which queues a callable and wakes the loop it is meant for.
//
//   iomux::Reactor main;                                   // this thread's loop: signals
//   iomux::ReactorThreads loops(2, "epoll", [](std::size_t i, iomux::Reactor& loop) {
//       Server server(loop, listeners[i]);                 // built and destroyed on thread i
//       loop.run();
//   });
//   loops.call_soon_threadsafe(1, [] { /* runs on thread 1 */ });
//   main.run();                                            // until SIGINT, say
//   loops.stop();
//   loops.join();                                          // rethrows a loop's failure
//
// As in muduo, the caller's thread keeps a loop of its own (signals, the accept loop): with
// zero threads everything runs there, as in a single-threaded program.
//
// Lifetimes. The Reactors are made by the constructor, on the caller's thread, and
// destroyed by the destructor after every thread ended: loop(i) may be used until then, from
// any thread, for its thread-safe calls (call_soon_threadsafe, stop). What a thread builds on
// its loop lives in that thread's body and is destroyed there, before the thread ends.
//
// Failures. An exception that leaves a body ends that thread and stops every loop, so
// join() returns: join() rethrows the first such exception. A body that returns ends only
// its own thread. The destructor, which cannot
// throw, writes one that join() never rethrew on stderr. (An exception that a callback lets
// escape does not leave run(): the loop's exception handler gets it, see reactor.hpp.)
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "reactor/reactor.hpp"

namespace iomux {

class ReactorThreads {
public:
    // Runs on thread `index`, with that thread's loop, until the thread is to end.
    using Body = std::function<void(std::size_t index, Reactor& loop)>;

    // Makes n Reactors on `backend` and starts a thread for each, running body (default:
    // loop.run()). Throws what Reactor's constructor throws (ValueError for an unknown
    // backend, std::system_error), or std::system_error when a thread cannot start; threads
    // already started are then stopped and joined before the exception leaves.
    explicit ReactorThreads(std::size_t n, std::string_view backend = default_backend(), Body body = {});
    // stop() and join(); a failure join() did not rethrow is written on stderr.
    ~ReactorThreads();
    ReactorThreads(const ReactorThreads&) = delete;
    ReactorThreads& operator=(const ReactorThreads&) = delete;

    std::size_t size() const noexcept { return loops_.size(); }
    // The loop of thread i (i < size(); std::out_of_range otherwise). From another thread,
    // only its thread-safe calls may be used.
    Reactor& loop(std::size_t i) { return *loops_.at(i); }
    // Runs cb on thread i, in the order of the calls (Reactor::call_soon_threadsafe).
    void call_soon_threadsafe(std::size_t i, Reactor::Callback cb) { loop(i).call_soon_threadsafe(std::move(cb)); }

    // Makes every loop's run() return after its current iteration; any thread may call it,
    // any number of times, also before a body reached run().
    void stop() noexcept;
    // Waits until every thread ended. Rethrows the first exception that left a body (once).
    // Call it from the thread that made this object, not from one of its loops.
    void join();

private:
    void run_thread(std::size_t index, const Body& body) noexcept;

    std::vector<std::unique_ptr<Reactor>> loops_;
    std::vector<std::thread> threads_;
    std::mutex failure_mutex_;
    std::exception_ptr failure_;         // the first one
    std::size_t failed_index_ = 0;
};

}  // namespace iomux
